// The console builds into selki-server's crate (`crates/selki-server/
// console/`), which embeds it: committed, with hashed names, so that
// building the server needs no Node. `cargo xtask console` rebuilds it;
// CI rebuilds it elsewhere (CONSOLE_OUT) and fails if the copy is stale.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { type Plugin, defineConfig } from "vite";

export default defineConfig({
  base: "/console/",
  plugins: [recipes()],
  build: {
    outDir: process.env.CONSOLE_OUT ?? "../crates/selki-server/console",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});

/** `virtual:recipes`: the READMEs' verification recipes, taken out of
 *  them at build time (the npm one is run verbatim by the package's
 *  tests), so the Documentation screen shows them and nothing else. */
function recipes(): Plugin {
  const id = "virtual:recipes";
  const read = (path: string) => readFileSync(fileURLToPath(new URL(path, import.meta.url)), "utf8");
  const block = (text: string, heading: string) => {
    const from = text.indexOf(heading);
    if (from < 0) throw new Error(`no "${heading}" in a README: the Documentation screen shows it`);
    const start = text.indexOf("\n", text.indexOf("```", from)) + 1;
    return text.slice(start, text.indexOf("```", start)).trimEnd();
  };
  return {
    name: "selki-recipes",
    resolveId: (source) => (source === id ? `\0${id}` : undefined),
    load(loaded) {
      if (loaded !== `\0${id}`) return undefined;
      const node = block(read("../sdk-wasm/README.md"), "### Express");
      const rust = block(read("../README.md"), "## Verify a delivery in Rust");
      return `export const node = ${JSON.stringify(node)};\nexport const rust = ${JSON.stringify(rust)};\n`;
    },
  };
}

// The packed tarball, installed into small projects the way a receiver's
// developer would use it: each runtime and bundler loads it with a plain
// import or require and no configuration, verifies every shared vector in
// place, and verifies one real signed delivery over HTTP (or, in a browser,
// fetched). A runtime that is missing fails the test: nothing is skipped.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { Webhook } from "@selki/webhooks";
import { reportFrom } from "./chromium.mjs";
import { vectorsPath } from "./fixtures.mjs";

const require = createRequire(import.meta.url);
const sdk = fileURLToPath(new URL("..", import.meta.url));
const repo = join(sdk, "..");
const bin = (name) => join(repo, "node_modules/.bin", name);
// Wrangler pins its own workers-types, so npm keeps it in the package's folder.
const sdkBin = (name) => join(sdk, "node_modules/.bin", name);
const fixtures = join(sdk, "test/everywhere");
const work = join(repo, "target/sdk-everywhere");
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const vectors = readFileSync(vectorsPath);
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NO_COLOR: "1", DO_NOT_TRACK: "1" };
let tarball;

before(() => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  // SELKI_WEBHOOKS_TARBALL: the matrix against another build (e.g. a
  // published version, to see what a user of it meets).
  if (process.env.SELKI_WEBHOOKS_TARBALL) {
    tarball = join(work, "selki-webhooks-under-test.tgz");
    cpSync(process.env.SELKI_WEBHOOKS_TARBALL, tarball);
    return;
  }
  const packed = execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: sdk, encoding: "utf8" });
  tarball = join(work, JSON.parse(packed)[0].filename);
});

/** A copy of one fixture with the tarball installed, as `npm install` would. */
function project(name, type = "module", as = name) {
  const dir = join(work, as);
  cpSync(join(fixtures, name), dir, { recursive: true });
  for (const shared of ["everywhere/check.mjs", "vectors.mjs"]) cpSync(join(sdk, "test", shared), join(dir, shared.split("/").pop()));
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: `fixture-${as.replace("/", "-")}`, private: true, type, dependencies: { "@selki/webhooks": `file:${tarball}` } }),
  );
  const installed = join(dir, "node_modules/@selki/webhooks");
  mkdirSync(installed, { recursive: true });
  execFileSync("tar", ["xzf", tarball, "--strip-components=1", "-C", installed]);
  return dir;
}

function run(command, args, cwd, extra = {}) {
  return execFileSync(command, args, { cwd, env: { ...env, ...extra }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a server process and waits until it answers on `port`. */
async function serve(t, command, args, cwd, port, extra = {}) {
  const child = spawn(command, args, { cwd, env: { ...env, PORT: String(port), ...extra }, detached: true });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  t.after(async () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    await exited;
  });
  let gone = false;
  exited.then(() => (gone = true));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !gone) {
    try {
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) });
      return;
    } catch {
      // Not listening yet: a connection refused comes back at once.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${command} ${args.join(" ")} did not start:\n${output}`);
}

function delivery(body) {
  const ts = Math.floor(Date.now() / 1000);
  return {
    body,
    headers: {
      "content-type": "application/json",
      "webhook-id": "evt_1",
      "webhook-timestamp": String(ts),
      "webhook-signature": new Webhook(SECRET).sign("evt_1", ts, body),
    },
  };
}

const CLICKED = JSON.stringify(
  { timestamp: "2025-08-07T10:01:42Z", subscription: "PHISHING_EMAIL_CLICKED", data: { campaignId: "c1", email: "e@x.io" } },
  null,
  2,
);

/** The vectors in place, a genuine delivery and a tampered one over HTTP. */
async function checkServer(send, { vectorsPath = "/vectors", webhookPath = "/webhook" } = {}) {
  const headers = { "content-type": "application/json" };
  const checked = await (await send(vectorsPath, { method: "POST", headers, body: vectors })).json();
  assert.deepEqual(checked, { failures: [], classes: [] });
  const good = delivery(CLICKED);
  const ok = await send(webhookPath, { method: "POST", ...good });
  assert.deepEqual([ok.status, await ok.json()], [200, { subscription: "PHISHING_EMAIL_CLICKED" }]);
  const tampered = await send(webhookPath, { method: "POST", headers: good.headers, body: CLICKED.replace("c1", "c2") });
  assert.deepEqual([tampered.status, await tampered.json()], [400, { error: "SIGNATURE_MISMATCH" }]);
}

const over = (port) => (path, init) => fetch(`http://127.0.0.1:${port}${path}`, init);

async function checkProcess(t, command, args, cwd, extra) {
  const port = await freePort();
  await serve(t, command, args.map((a) => (a === "$PORT" ? String(port) : a)), cwd, port, extra);
  await checkServer(over(port));
}

/** A copy of `file` in a folder of its own, far from any node_modules. */
function alone(file) {
  const dir = mkdtempSync(join(tmpdir(), "selki-bundle-"));
  const copy = join(dir, file.split("/").pop());
  cpSync(file, copy);
  return copy;
}

test("Node: the Express (ESM), Fastify (CommonJS) and Hono recipes", async (t) => {
  await t.test("express", (t) => checkProcess(t, "node", ["server.mjs"], project("express")));
  await t.test("fastify", (t) => checkProcess(t, "node", ["server.cjs"], project("fastify", "commonjs")));
  await t.test("hono", (t) => checkProcess(t, "node", ["server.mjs"], project("hono")));
});

test("esbuild --platform=node bundles (cjs and esm) run far from node_modules", async (t) => {
  const dir = project("esbuild-node");
  for (const [format, file] of [["cjs", "server.cjs"], ["esm", "server.mjs"]]) {
    await t.test(format, async (t) => {
      const out = join(dir, "out", file);
      run(bin("esbuild"), ["server.mjs", "--bundle", "--platform=node", `--format=${format}`, `--outfile=${out}`, "--log-level=warning"], dir);
      await checkProcess(t, "node", [alone(out)], tmpdir());
    });
  }
});

test("Bun runs it, bundles it and compiles it, with no build machine path inside", async (t) => {
  const dir = project("deno-bun", "module", "bun");
  await t.test("bun run", (t) => checkProcess(t, bin("bun"), ["server.mjs", "$PORT"], dir));
  await t.test("bun build", async (t) => {
    const out = join(dir, "out/server.js");
    run(bin("bun"), ["build", "server.mjs", "--target=bun", `--outfile=${out}`], dir);
    assert.ok(!readFileSync(out, "utf8").includes(dir), "the bundle holds the build machine's path");
    await checkProcess(t, bin("bun"), [alone(out), "$PORT"], tmpdir());
  });
  await t.test("bun build --compile", async (t) => {
    const out = join(dir, "out/server-bin");
    run(bin("bun"), ["build", "server.mjs", "--compile", `--outfile=${out}`], dir);
    assert.ok(!readFileSync(out).includes(dir), "the executable holds the build machine's path");
    await checkProcess(t, alone(out), ["$PORT"], tmpdir());
  });
});

test("Deno loads it with no permission but the server's own --allow-net", async (t) => {
  const dir = project("deno-bun", "module", "deno");
  const cache = { DENO_DIR: join(work, "deno-cache") };
  await t.test("npm: specifier, no flag", () => {
    const out = execFileSync(bin("deno"), ["run", "--no-prompt", "--no-lock", "npm-specifier.mjs"], {
      cwd: dir,
      env: { ...env, ...cache },
      input: vectors,
      encoding: "utf8",
    });
    assert.deepEqual(JSON.parse(out), { failures: [], classes: [] });
  });
  await t.test("Deno.serve recipe", (t) => {
    const deno = ["run", "--no-prompt", "--no-lock", "--allow-net=127.0.0.1"];
    return checkProcess(t, bin("deno"), [...deno, "server.mjs", "$PORT"], dir, cache);
  });
});

test("Next.js route handlers on the Node and Edge runtimes, built and in dev", async (t) => {
  const dir = project("next");
  const check = async (port) => {
    for (const runtime of ["node", "edge"]) {
      await checkServer(over(port), { vectorsPath: `/${runtime}/vectors`, webhookPath: `/${runtime}/webhook` });
    }
    await checkServer(over(port), { vectorsPath: "/node/vectors", webhookPath: "/webhook" });
  };
  await t.test("next build, next start", async (t) => {
    run(bin("next"), ["build"], dir);
    const port = await freePort();
    await serve(t, bin("next"), ["start", "-p", String(port), "-H", "127.0.0.1"], dir, port);
    await check(port);
  });
  await t.test("next dev", async (t) => {
    const port = await freePort();
    await serve(t, bin("next"), ["dev", "-p", String(port), "-H", "127.0.0.1"], dir, port);
    await check(port);
  });
});

test("Cloudflare Workers: wrangler's bundle of the default import runs in workerd", async (t) => {
  const dir = project("worker");
  // Wrangler reaches for the network at start: no network to reach.
  run("unshare", ["-n", sdkBin("wrangler"), "deploy", "--dry-run", "--outdir", "out"], dir, { WRANGLER_SEND_METRICS: "false" });
  const { Miniflare } = require("miniflare");
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(dir, "out/worker.js"),
    modulesRoot: join(dir, "out"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2025-09-01",
  });
  t.after(() => mf.dispose());
  await checkServer((path, init) => mf.dispatchFetch(`http://localhost${path}`, init));
});

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm" };

/** Serves a built page, the vectors and a signed delivery; takes its report. */
async function inChromium(t, root, page) {
  const { url, result } = await reportServer(t, root);
  check(await reportFrom(t, `${url}/${page}`, result));
}

function check(outcome) {
  assert.deepEqual(outcome.failures, []);
  assert.deepEqual(outcome.classes, []);
  assert.ok(outcome.cases >= 30, `only ${outcome.cases} cases ran`);
  assert.equal(outcome.webhook, "PHISHING_EMAIL_CLICKED");
}

/** The vectors, a signed delivery and /result (to any origin), and `root`'s files. */
async function reportServer(t, root) {
  let deliver;
  const result = new Promise((resolve) => (deliver = resolve));
  const server = createServer((req, res) => {
    // A page served elsewhere (Vite's dev server) reads and reports here.
    res.setHeader("access-control-allow-origin", "*");
    if (req.url === "/result") {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => res.end("ok", () => deliver(JSON.parse(body))));
    } else if (req.url === "/vectors.json") {
      res.end(vectors);
    } else if (req.url === "/delivery") {
      res.end(JSON.stringify(delivery(CLICKED)));
    } else {
      const path = join(root, new URL(req.url, "http://x").pathname);
      try {
        const content = readFileSync(path);
        res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" }).end(content);
      } catch {
        res.writeHead(404).end();
      }
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${server.address().port}`, result };
}

test("browser bundles verify in Chromium: esbuild (iife/es2020 and esm), Vite (build and dev server) and webpack", async (t) => {
  const dir = project("browser");
  const page = (out, type) =>
    writeFileSync(join(dir, out, "index.html"), `<!doctype html><meta charset="utf-8"><script src="page.js"${type}></script>`);
  const esbuild = (out, ...flags) => {
    run(bin("esbuild"), ["page.mjs", "--bundle", "--platform=browser", ...flags, `--outfile=${join(dir, out, "page.js")}`, "--log-level=warning"], dir);
  };
  await t.test("esbuild --format=iife --target=es2020", async (t) => {
    esbuild("out/iife", "--format=iife", "--target=es2020");
    page("out/iife", "");
    await inChromium(t, join(dir, "out/iife"), "index.html");
  });
  await t.test("esbuild --format=esm", async (t) => {
    esbuild("out/esm", "--format=esm");
    page("out/esm", ' type="module"');
    await inChromium(t, join(dir, "out/esm"), "index.html");
  });
  await t.test("vite build", async (t) => {
    run(bin("vite"), ["build", "--outDir", "out/vite", "--base", "./", "--logLevel", "warn"], dir);
    await inChromium(t, join(dir, "out/vite"), "index.html");
  });
  await t.test("vite dev server", async (t) => {
    const port = await freePort();
    await serve(t, bin("vite"), ["--port", String(port), "--strictPort", "--host", "127.0.0.1"], dir, port);
    const { url, result } = await reportServer(t, dir);
    check(await reportFrom(t, `http://127.0.0.1:${port}/index.html?report=${encodeURIComponent(url)}`, result));
  });
  await t.test("webpack", async (t) => {
    const webpack = require("webpack");
    const config = { mode: "production", entry: join(dir, "page.mjs"), output: { path: join(dir, "out/webpack"), filename: "page.js" } };
    const stats = await new Promise((resolve, reject) => webpack(config, (err, stats) => (err ? reject(err) : resolve(stats))));
    assert.deepEqual(stats.compilation.errors.map(String), []);
    page("out/webpack", "");
    await inChromium(t, join(dir, "out/webpack"), "index.html");
  });
});

test("types are right for CommonJS, ESM (nodenext) and bundler consumers; attw and publint agree", async (t) => {
  for (const [consumer, type] of [["cjs", "commonjs"], ["esm", "module"], ["bundler", "module"]]) {
    await t.test(consumer, () => {
      const dir = project(`types/${consumer}`, type, `types-${consumer}`);
      cpSync(join(fixtures, "types/consumer.ts"), join(dir, "consumer.ts"));
      run("node", [require.resolve("typescript/bin/tsc"), "-p", dir], dir);
    });
  }
  await t.test("attw", () => run(bin("attw"), [tarball, "--format", "ascii"], work));
  await t.test("publint", () => run(bin("publint"), ["--strict", join(work, "types-cjs/node_modules/@selki/webhooks")], work));
});

test("the tarball holds the license, the fields and each file once", () => {
  const listed = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json"], { cwd: sdk, encoding: "utf8" }))[0];
  const files = listed.files.map((f) => f.path).sort();
  assert.ok(files.includes("LICENSE"));
  assert.ok(readFileSync(join(sdk, "LICENSE"), "utf8").includes("Apache License"));
  const manifest = JSON.parse(readFileSync(join(sdk, "package.json"), "utf8"));
  for (const field of ["repository", "homepage", "bugs", "license"]) assert.ok(manifest[field], field);
  assert.deepEqual(files.filter((f) => f.endsWith(".wasm")), ["dist/selki_webhooks_wasm_bg.wasm"]);
  assert.ok(listed.size < 400_000, `${listed.size} bytes packed`);
});

test("every README recipe is, word for word, code that this matrix runs", () => {
  const readme = readFileSync(join(sdk, "README.md"), "utf8");
  const sources = ["express/server.mjs", "fastify/server.cjs", "hono/server.mjs", "next/app/webhook/route.js"]
    .concat(["worker/worker.mjs", "deno-bun/server.mjs", "browser/page.mjs"]);
  for (const source of sources) {
    const text = readFileSync(join(fixtures, source), "utf8");
    const [, indent, body] = /([ \t]*)\/\/ recipe:start\n([\s\S]*?)[ \t]*\/\/ recipe:end/.exec(text);
    const recipe = body.split("\n").map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line)).join("\n");
    assert.ok(readme.includes("```js\n" + recipe + "```"), `README.md lacks the recipe of ${source}, as it is there`);
  }
});

// ESM entry for Node: the CommonJS build, re-exported, so `import` and
// `require` share one WebAssembly instance.
import cjs from "./dist/node/selki_webhooks_wasm.js";

export const { Webhook } = cjs;

"use strict";
// "@selki/webhooks/web": the same API, initialised by the caller, for code
// written against earlier versions. `init()` with no argument uses the
// inlined module; pass a compiled WebAssembly.Module (from a `.wasm`
// import) where compiling bytes is not allowed.
const api = require("./lib/api.cjs");

function initSync(input) {
  api.initSync(input);
}

async function init(input) {
  const given = input?.module_or_path ?? input;
  if (given === undefined) api.initFromBase64(require("./dist/wasm.cjs"));
  else await api.init(input);
}

exports.default = init;
exports.init = init;
exports.initSync = initSync;
exports.Webhook = api.Webhook;
exports.WebhookVerificationError = api.WebhookVerificationError;
exports.WebhookSecretError = api.WebhookSecretError;

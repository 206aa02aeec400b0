"use strict";
// The default entry, for require() and (through index.mjs) import: the
// WebAssembly is inlined as base64 and compiled synchronously, so loading
// reads no file beside this one (server bundlers move it), fetches nothing
// (Deno needs no permission) and awaits nothing (es2020 and iife bundles).
const api = require("./lib/api.cjs");

api.initFromBase64(require("./dist/wasm.cjs"));

exports.Webhook = api.Webhook;
exports.WebhookVerificationError = api.WebhookVerificationError;
exports.WebhookSecretError = api.WebhookSecretError;

// Entry for Cloudflare Workers (workerd) and Vercel/Next.js Edge
// (edge-light): they refuse to compile WebAssembly from bytes at run time,
// so the module is imported and compiled by the platform's bundler.
import api from "./lib/api.cjs";
import wasm from "./dist/selki_webhooks_wasm_bg.wasm?module";

api.initSync({ module: wasm });

export const { Webhook, WebhookVerificationError, WebhookSecretError } = api;

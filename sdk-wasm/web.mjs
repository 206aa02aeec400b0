// Entry for browsers, bundlers and edge runtimes: instantiate the module
// once (fetched next to this file), then export the same API as on Node.
// Runtimes that cannot fetch it use "@selki/webhooks/web" and `initSync`.
import init, { Webhook } from "./dist/web/selki_webhooks_wasm.js";

await init();

export { Webhook };

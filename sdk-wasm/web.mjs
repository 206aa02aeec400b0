// ESM "/web": the CommonJS one re-exported (one instance for both).
import web from "./web.cjs";

export const { init, initSync, Webhook, WebhookVerificationError, WebhookSecretError } = web;
export default init;

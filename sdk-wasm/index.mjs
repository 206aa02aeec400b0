// ESM entry: the CommonJS one re-exported, so `import` and `require` share
// one WebAssembly instance and the same error classes.
import selki from "./index.cjs";

export const { Webhook, WebhookVerificationError, WebhookSecretError } = selki;

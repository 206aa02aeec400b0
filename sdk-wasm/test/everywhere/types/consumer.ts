// Type-checked as a CommonJS consumer, an ESM ("type": "module", nodenext)
// consumer and a bundler-resolution consumer: code ported from
// standardwebhooks/svix must compile unchanged in all three.
import { Webhook, WebhookSecretError, WebhookVerificationError, type VerificationErrorCode } from "@selki/webhooks";
import init, { initSync, Webhook as WebWebhook } from "@selki/webhooks/web";
import wasm from "@selki/webhooks/web.wasm";

export function receive(secret: string, body: Uint8Array, headers: Headers): string {
  try {
    return new Webhook(secret).verify(body, headers).subscription;
  } catch (err) {
    if (err instanceof WebhookVerificationError) {
      const code: VerificationErrorCode = err.code; // typed, no cast
      return code;
    }
    if (err instanceof WebhookSecretError && err.code === "SECRET_INVALID_LENGTH") return err.name;
    throw err;
  }
}

export async function viaWeb(secret: string): Promise<WebWebhook> {
  await init();
  return new WebWebhook(secret);
}

export function viaModule(secret: string): Webhook {
  const module: WebAssembly.Module = wasm;
  initSync({ module });
  return new Webhook(secret);
}

// @ts-expect-error: "NOT_A_CODE" is not a verification error code
export const wrong: VerificationErrorCode = "NOT_A_CODE";

// How a receiver writes against the types; type-checked by types.test.mjs.
// Each @ts-expect-error line must stay an error, or tsc fails the test.
import { Webhook, type RiskLevel, type UnknownWebhookEvent, type WebhookEvent } from "@selki/webhooks";

export function handle(event: WebhookEvent): string {
  switch (event.subscription) {
    case "PHISHING_EMAIL_CLICKED":
      // @ts-expect-error: a click has no riskLevel
      void event.data.riskLevel;
      return `${event.data.email} clicked in ${event.data.campaignId}`;
    case "PHISHING_EMAIL_ERROR":
      return event.data.error;
    case "THREATS_NEW_THREAT": {
      const level: RiskLevel = event.data.riskLevel;
      // @ts-expect-error: "SEVERE" is not a risk level
      const wrong: RiskLevel = "SEVERE";
      return `${level} ${event.data.category} ${wrong}`;
    }
    case "PHISHING_EMAIL_SENT":
    case "PHISHING_EMAIL_OPENED":
    case "PHISHING_EMAIL_REPORTED":
      return event.data.campaignId;
    default: {
      // Only events of newer types reach here, with untyped data.
      const unknown: UnknownWebhookEvent = event;
      // @ts-expect-error: unknown data must be checked before use
      void unknown.data.anything;
      return unknown.subscription;
    }
  }
}

export function receive(wh: Webhook, body: Uint8Array, headers: Headers): string {
  return handle(wh.verify(body, headers));
}

// @ts-expect-error: the secret is a string
new Webhook(42);

// The manual-init entry for runtimes that cannot fetch the module.
import init, { Webhook as WebWebhook } from "@selki/webhooks/web";

export async function viaWeb(secret: string): Promise<WebWebhook> {
  await init();
  return new WebWebhook(secret);
}

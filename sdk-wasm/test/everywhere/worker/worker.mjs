import * as selki from "@selki/webhooks";
import { respond, SECRET } from "./check.mjs";
// recipe:start
import { Webhook, WebhookVerificationError } from "@selki/webhooks";

async function webhook(request, env) {
  const wh = new Webhook(env.SELKI_WEBHOOK_SECRET); // `wrangler secret put SELKI_WEBHOOK_SECRET`
  try {
    const body = new Uint8Array(await request.arrayBuffer()); // the raw bytes
    const event = wh.verify(body, request.headers);
    return Response.json({ subscription: event.subscription }); // handle the event
  } catch (err) {
    if (!(err instanceof WebhookVerificationError)) throw err;
    return Response.json({ error: err.code }, { status: 400 });
  }
}
// recipe:end

export default {
  fetch(request, env) {
    if (new URL(request.url).pathname === "/vectors") return respond(selki, request);
    return webhook(request, { SELKI_WEBHOOK_SECRET: SECRET, ...env });
  },
};

import { SECRET } from "../../check.mjs";
// recipe:start
import { Webhook, WebhookVerificationError } from "@selki/webhooks";

const wh = new Webhook(SECRET); // "whsec_…" from the webhook's settings

// app/webhook/route.js; works as is with `export const runtime = "edge"` too.
export async function POST(request) {
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

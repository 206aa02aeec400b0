import * as selki from "@selki/webhooks";
import { respond, SECRET } from "./check.mjs";
// recipe:start
import { Webhook, WebhookVerificationError } from "@selki/webhooks";

const wh = new Webhook(SECRET); // "whsec_…" from the webhook's settings

async function webhook(request) {
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
const route = (request) => (new URL(request.url).pathname === "/webhook" ? webhook(request) : respond(selki, request));
// Deno and Bun both run this file; the port is the first argument (Deno
// reads arguments without a permission, the environment with one).
if (typeof Deno !== "undefined") {
  Deno.serve({ port: Number(Deno.args[0]), hostname: "127.0.0.1", onListen() {} }, route);
} else {
  Bun.serve({ port: Number(process.argv[2]), hostname: "127.0.0.1", fetch: route });
}

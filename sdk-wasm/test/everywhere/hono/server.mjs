import { serve } from "@hono/node-server";
import { Hono } from "hono";
import * as selki from "@selki/webhooks";
import { respond, SECRET } from "./check.mjs";

const app = new Hono();
app.post("/vectors", (c) => respond(selki, c.req.raw));
// recipe:start
import { Webhook, WebhookVerificationError } from "@selki/webhooks";

const wh = new Webhook(SECRET); // "whsec_…" from the webhook's settings

app.post("/webhook", async (c) => {
  try {
    const body = new Uint8Array(await c.req.arrayBuffer()); // the raw bytes
    const event = wh.verify(body, c.req.raw.headers);
    return c.json({ subscription: event.subscription }); // handle the event
  } catch (err) {
    if (!(err instanceof WebhookVerificationError)) throw err;
    return c.json({ error: err.code }, 400);
  }
});
// recipe:end
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" });

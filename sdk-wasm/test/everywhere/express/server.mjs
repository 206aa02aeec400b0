import express from "express";
import * as selki from "@selki/webhooks";
import { answer, SECRET } from "./check.mjs";

const app = express();
app.post("/vectors", express.raw({ type: "*/*", limit: "10mb" }), (req, res) => {
  const { status, json } = answer(selki, "/vectors", req.body, req.headers);
  res.status(status).json(json);
});
// recipe:start
import { Webhook, WebhookVerificationError } from "@selki/webhooks";

const wh = new Webhook(SECRET); // "whsec_…" from the webhook's settings

// express.raw(): the body exactly as received (a Buffer), not parsed JSON.
app.post("/webhook", express.raw({ type: "application/json" }), (req, res) => {
  try {
    const event = wh.verify(req.body, req.headers);
    res.json({ subscription: event.subscription }); // handle the event
  } catch (err) {
    if (!(err instanceof WebhookVerificationError)) throw err;
    res.status(400).json({ error: err.code });
  }
});
// recipe:end
app.listen(Number(process.env.PORT), "127.0.0.1");

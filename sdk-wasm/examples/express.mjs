// Receiving Selki webhooks with Express.
//
//   SELKI_WEBHOOK_SECRET=whsec_… node examples/express.mjs
//
// The one rule: verify the raw body bytes exactly as received. A body that
// went through express.json() and back through JSON.stringify() differs in
// spacing, key order or escapes, and its signature will not match.
import express from "express";
import { Webhook } from "@selki/webhooks";
import { pathToFileURL } from "node:url";

export function createApp(secret, onEvent = console.log) {
  const wh = new Webhook(secret);
  const app = express();

  // express.raw() leaves req.body a Buffer of the exact bytes. Mount it on
  // the webhook route only (or before any express.json()).
  app.post("/webhooks/selki", express.raw({ type: "application/json" }), (req, res) => {
    let event;
    try {
      event = wh.verify(req.body, req.headers);
    } catch (err) {
      // err.code says why: SIGNATURE_MISMATCH, TIMESTAMP_TOO_OLD, …
      return res.status(400).json({ error: err.code });
    }
    // The event id is the same on every retry: use it to skip duplicates.
    const eventId = req.get("selki-event-id") ?? req.get("webhook-id");
    switch (event.subscription) {
      case "PHISHING_EMAIL_CLICKED":
        onEvent({ eventId, text: `${event.data.email} clicked (campaign ${event.data.campaignId})` });
        break;
      case "THREATS_NEW_THREAT":
        onEvent({ eventId, text: `${event.data.riskLevel} threat ${event.data.id}` });
        break;
      default:
        onEvent({ eventId, text: event.subscription });
    }
    // Answer quickly with a 2xx; do slow work after responding.
    res.sendStatus(204);
  });
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000);
  createApp(process.env.SELKI_WEBHOOK_SECRET).listen(port, () =>
    console.log(`listening on http://localhost:${port}/webhooks/selki`),
  );
}

// The Express example, served on loopback and sent real signed deliveries.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Webhook } from "@selki/webhooks";
import { createApp } from "../examples/express.mjs";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const body = JSON.stringify({
  timestamp: "2025-08-07T10:01:42Z",
  subscription: "PHISHING_EMAIL_CLICKED",
  data: { campaignId: "abc123", email: "user@example.com" },
}, null, 2); // pretty-printed, so a re-serialised body would differ

async function withServer(fn) {
  const seen = [];
  const server = createApp(SECRET, (e) => seen.push(e)).listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    await fn(`http://127.0.0.1:${server.address().port}/webhooks/selki`, seen);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

function post(url, payload) {
  const ts = Math.floor(Date.now() / 1000);
  const signature = new Webhook(SECRET).sign("evt_1", ts, body);
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "selki-webhook-id": "wh_1",
      "selki-webhook-call-id": "call_1",
      "selki-event-id": "evt_1",
      "selki-timestamp": String(ts),
      "selki-signature": signature,
    },
    body: payload,
  });
}

test("the express example accepts a genuine delivery and hands over the typed event", async () => {
  await withServer(async (url, seen) => {
    const res = await post(url, body);
    assert.equal(res.status, 204);
    assert.deepEqual(seen, [{ eventId: "evt_1", text: "user@example.com clicked (campaign abc123)" }]);
  });
});

test("the express example refuses a re-serialised body with the reason", async () => {
  await withServer(async (url, seen) => {
    const res = await post(url, JSON.stringify(JSON.parse(body)));
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: "SIGNATURE_MISMATCH" });
    assert.deepEqual(seen, []);
  });
});

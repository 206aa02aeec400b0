// Both ways with the real `standardwebhooks` package: any Standard Webhooks
// library must verify what Selki sends, and we must verify what they sign.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Webhook } from "@selki/webhooks";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { cases } from "./fixtures.mjs";

const okCases = cases.filter((c) => c.expect.ok && c.body !== undefined);

function headersFor(id, ts, signature) {
  return { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": signature };
}

test("standardwebhooks verifies every delivery we sign", () => {
  const now = Math.floor(Date.now() / 1000);
  for (const c of okCases) {
    const ours = new Webhook(c.secret);
    const theirs = new StandardWebhook(c.secret);
    const signature = ours.sign("evt_interop", now, c.body);
    const parsed = theirs.verify(c.body, headersFor("evt_interop", now, signature));
    assert.deepEqual(parsed.subscription, c.expect.subscription, c.name);
  }
});

test("we verify every delivery standardwebhooks signs", () => {
  const now = new Date();
  for (const c of okCases) {
    const theirs = new StandardWebhook(c.secret);
    const signature = theirs.sign("msg_interop", now, c.body);
    const ts = Math.floor(now.getTime() / 1000);
    const event = new Webhook(c.secret).verify(
      Buffer.from(c.body),
      headersFor("msg_interop", ts, signature),
    );
    assert.equal(event.subscription, c.expect.subscription, c.name);
  }
});

test("both libraries refuse the same tampered delivery", () => {
  const c = okCases[0];
  const now = Math.floor(Date.now() / 1000);
  const signature = new Webhook(c.secret).sign("evt_1", now, c.body);
  const tampered = c.body.replace("}", ' }');
  const headers = headersFor("evt_1", now, signature);
  assert.throws(() => new StandardWebhook(c.secret).verify(tampered, headers));
  assert.throws(() => new Webhook(c.secret).verify(tampered, headers), { code: "SIGNATURE_MISMATCH" });
});

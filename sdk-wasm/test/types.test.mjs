// The hand-written TypeScript types against real payloads: every event that
// verify() returns for the shared vectors is written into a TypeScript file
// as a literal that must satisfy the declared union, then tsc checks it
// together with usage.ts (narrowing, and errors that must stay errors).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";

import { Webhook } from "@selki/webhooks";
import { cases } from "./fixtures.mjs";
import { bodyBytes } from "./vectors.mjs";

const require = createRequire(import.meta.url);
const tsc = require.resolve("typescript/bin/tsc");
const dir = new URL("./types/", import.meta.url);
const KNOWN = new Set([
  "PHISHING_EMAIL_SENT",
  "PHISHING_EMAIL_OPENED",
  "PHISHING_EMAIL_CLICKED",
  "PHISHING_EMAIL_REPORTED",
  "PHISHING_EMAIL_ERROR",
  "THREATS_NEW_THREAT",
  "WEBHOOK_DISABLED",
  "WEBHOOK_FAILING",
  "WEBHOOK_RECOVERED",
  "DELIVERY_EXHAUSTED",
]);

function typecheck(generated) {
  writeFileSync(new URL("generated.ts", dir), generated);
  try {
    execFileSync(process.execPath, [tsc, "-p", new URL("tsconfig.json", dir).pathname], {
      encoding: "utf8",
    });
    return "";
  } catch (e) {
    return e.stdout || String(e);
  }
}

function literals(events) {
  const lines = ['import type { KnownWebhookEvent } from "@selki/webhooks";'];
  events.forEach((e, i) => {
    lines.push(`export const e${i} = ${JSON.stringify(e)} as const satisfies KnownWebhookEvent;`);
  });
  return lines.join("\n") + "\n";
}

test("every known event verify() returns matches the declared union exactly", () => {
  const events = cases
    .filter((c) => c.expect.ok)
    .map((c) => new Webhook(c.secret).verifyAt(bodyBytes(c), c.headers, c.now));
  const known = events.filter((e) => KNOWN.has(e.subscription));
  assert.equal(new Set(known.map((e) => e.subscription)).size, KNOWN.size, "every type is covered");
  for (const e of events.filter((e) => !KNOWN.has(e.subscription))) {
    assert.deepEqual(Object.keys(e).sort(), ["data", "subscription", "timestamp"]);
  }
  assert.equal(typecheck(literals(known)), "");
});

test("the type check fails on a payload that does not match", () => {
  const wrong = {
    timestamp: "2025-08-07T10:01:42Z",
    subscription: "PHISHING_EMAIL_CLICKED",
    data: { campaignId: "c", mail: "typo@x.io" },
  };
  assert.match(typecheck(literals([wrong])), /error TS/);
});

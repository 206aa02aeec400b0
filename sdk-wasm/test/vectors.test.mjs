import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";

import { Webhook, WebhookSecretError, WebhookVerificationError } from "@selki/webhooks";
import { cases } from "./fixtures.mjs";
import { bodyBytes, runAll } from "./vectors.mjs";

const require = createRequire(import.meta.url);

test("every shared vector verifies or fails as expected, for every payload and headers form", () => {
  assert.ok(cases.length >= 30);
  assert.deepEqual(runAll(Webhook, cases), []);
});

test("sign reproduces every signature Python computed", () => {
  let checked = 0;
  for (const c of cases.filter((c) => c.sign)) {
    const wh = new Webhook(c.secret);
    assert.equal(wh.sign(c.sign.id, c.sign.timestamp, bodyBytes(c)), c.sign.signature, c.name);
    assert.equal(
      wh.sign(c.sign.id, new Date(c.sign.timestamp * 1000), bodyBytes(c)),
      c.sign.signature,
      c.name,
    );
    checked += 1;
  }
  assert.ok(checked >= 30, `only ${checked} signatures checked`);
});

test("require() and import give the same working class and error classes", () => {
  const cjs = require("@selki/webhooks");
  assert.equal(cjs.Webhook, Webhook);
  assert.equal(cjs.WebhookVerificationError, WebhookVerificationError);
  assert.equal(require("@selki/webhooks/web").Webhook, Webhook);
});

test("errors are instances of the exported classes, as code ported from svix expects", () => {
  const wh = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  assert.throws(
    () => wh.verifyAt("{}", { "webhook-id": "evt_1", "webhook-timestamp": "1" }, 1),
    (e) => e instanceof WebhookVerificationError && e instanceof Error && e.code === "MISSING_HEADER",
  );
  assert.throws(() => new Webhook("hunter2"), (e) => e instanceof WebhookSecretError && !(e instanceof WebhookVerificationError));
});

const MISUSE = [
  ["milliseconds as a signing time", (wh) => wh.sign("evt_1", Date.now(), "{}"), /milliseconds .*Math\.floor\(Date\.now\(\) \/ 1000\)/],
  ["milliseconds as the time to verify at", (wh) => wh.verifyAt("{}", {}, Date.now()), /milliseconds/],
  ["a parsed object as the payload", (wh) => wh.verify({ subscription: "X" }, {}), /parsed object.*before any JSON parser/],
  ["a Promise as the payload", (wh) => wh.verify(Promise.resolve("{}"), {}), /Promise: await it first/],
  ["a web stream as the payload", (wh) => wh.verify(new Response("{}").body, {}), /stream: read it to the end first/],
  ["a Node stream as the payload", (wh) => wh.verify(Readable.from(["{}"]), {}), /stream: read it to the end first/],
  ["no payload", (wh) => wh.verify(undefined, {}), /payload is missing/],
  ["a number as the payload", (wh) => wh.verify(42, {}), /payload is a number.*raw body/],
];

test("each misuse is refused with an error that names the mistake and the fix", () => {
  for (const [what, call, message] of MISUSE) {
    const wh = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert.throws(() => call(wh), { name: "TypeError", message }, what);
  }
});

test("an unknown option is refused, naming the one there is", () => {
  assert.throws(() => new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", { tolerance: 60 }), {
    name: "TypeError",
    message: /unknown option "tolerance".*toleranceSeconds/,
  });
});

test("a freed Webhook says so", () => {
  const wh = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  wh.free();
  assert.throws(() => wh.verify("{}", {}), { message: /was freed.*create a new Webhook/ });
  assert.doesNotThrow(() => wh.free(), "freeing twice is harmless");
});

test("the /web entry used before init() says to call it", () => {
  const script = 'const { Webhook } = require("@selki/webhooks/web"); new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")';
  const run = () => execFileSync(process.execPath, ["-e", script], { cwd: new URL("..", import.meta.url), stdio: "pipe" });
  assert.throws(run, (e) => /not initialised.*await init\(\)/.test(String(e.stderr)));
});

test("the /web entry's init() with no argument uses the inlined module", () => {
  const script =
    'import init, { Webhook } from "@selki/webhooks/web"; await init(); new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); console.log("ok")';
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: new URL("..", import.meta.url),
    encoding: "utf8",
  });
  assert.equal(out.trim(), "ok");
});

test("errors carry a stable name and code", () => {
  const wh = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  assert.throws(
    () => wh.verifyAt("{}", { "webhook-id": "evt_1", "webhook-timestamp": "1" }, 1),
    { name: "WebhookVerificationError", code: "MISSING_HEADER", message: /webhook-signature/ },
  );
  assert.throws(() => new Webhook("hunter2"), {
    name: "WebhookSecretError",
    code: "SECRET_MISSING_PREFIX",
  });
});

test("a secret never appears in an error message", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La";
  assert.throws(() => new Webhook(secret), (e) => !e.message.includes("MfKQ9r8G"));
});

test("wrong argument types are TypeErrors that say what is expected", () => {
  const wh = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  assert.throws(() => wh.verify(42, {}), { name: "TypeError", message: /raw body/ });
  assert.throws(() => wh.verify("{}", "webhook-id: x"), { name: "TypeError" });
  assert.throws(() => new Webhook(undefined), { name: "TypeError" });
  assert.throws(() => new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", { toleranceSeconds: -1 }), {
    name: "TypeError",
  });
});

test("verify uses the current time and the configured tolerance", () => {
  const wh = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", { toleranceSeconds: 60 });
  const body = JSON.stringify({
    timestamp: new Date().toISOString(),
    subscription: "PHISHING_EMAIL_SENT",
    data: { campaignId: "c", email: "e@x.io" },
  });
  const headersAt = (ts) => ({
    "webhook-id": "evt_1",
    "webhook-timestamp": String(ts),
    "webhook-signature": wh.sign("evt_1", ts, body),
  });
  const now = Math.floor(Date.now() / 1000);
  assert.equal(wh.verify(body, headersAt(now - 30)).subscription, "PHISHING_EMAIL_SENT");
  assert.throws(() => wh.verify(body, headersAt(now - 120)), { code: "TIMESTAMP_TOO_OLD" });
  assert.equal(wh.verifyIgnoringTimestamp(body, headersAt(now - 120)).data.campaignId, "c");
});

test("a repeated signature header given as an array is joined", () => {
  const wh = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  const body = new TextEncoder().encode(
    '{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_OPENED","data":{"campaignId":"c","email":"e"}}',
  );
  const good = wh.sign("evt_1", 100, body);
  const headers = { "webhook-id": "evt_1", "webhook-timestamp": "100", "webhook-signature": ["v1,AAAA", good] };
  assert.equal(wh.verifyAt(body.buffer, headers, 100).subscription, "PHISHING_EMAIL_OPENED");
});

test("a body too large for the kept scratch array verifies as a string, and a small one after it", () => {
  const wh = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  for (const size of [2_000_000, 1_000]) {
    const body = JSON.stringify({
      timestamp: "2025-08-07T10:01:42Z",
      subscription: "PHISHING_EMAIL_ERROR",
      data: { campaignId: "c", email: "é@x.io", error: "x".repeat(size) },
    });
    const headers = { "webhook-id": "evt_1", "webhook-timestamp": "100", "webhook-signature": wh.sign("evt_1", 100, body) };
    assert.equal(wh.verifyAt(body, headers, 100).data.error.length, size);
  }
});

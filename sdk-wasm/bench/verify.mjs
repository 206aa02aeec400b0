// `npm run bench -w @selki/webhooks` (or `cargo xtask bench-sdk`): time
// verify() of this package against the `standardwebhooks` package on the
// same deliveries. Prints the median of several rounds, and the spread.
import { Webhook } from "@selki/webhooks";
import { Webhook as StandardWebhook } from "standardwebhooks";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID = "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST";
const ROUNDS = 7;
const ROUND_MS = 300;

function body(size) {
  const head = '{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_ERROR","data":{"campaignId":"phish123","email":"staff@company.com","error":"';
  const tail = '"}}';
  return head + "x".repeat(size - head.length - tail.length) + tail;
}

/** Median and range of per-call nanoseconds over timed rounds. */
function measure(fn) {
  for (let i = 0; i < 2000; i++) fn(); // warm up the JIT
  const perCall = [];
  for (let r = 0; r < ROUNDS; r++) {
    let calls = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(ROUND_MS * 1e6);
    let now = start;
    while (now < end) {
      for (let i = 0; i < 100; i++) fn();
      calls += 100;
      now = process.hrtime.bigint();
    }
    perCall.push(Number(now - start) / calls);
  }
  perCall.sort((a, b) => a - b);
  return { median: perCall[ROUNDS >> 1], min: perCall[0], max: perCall[ROUNDS - 1] };
}

const ours = new Webhook(SECRET);
const theirs = new StandardWebhook(SECRET);
const rows = [];
for (const size of [1024, 16 * 1024]) {
  const text = body(size);
  const bytes = Buffer.from(text);
  const ts = Math.floor(Date.now() / 1000);
  const headers = {
    "webhook-id": ID,
    "webhook-timestamp": String(ts),
    "webhook-signature": ours.sign(ID, ts, bytes),
  };
  // Both must accept the delivery before their speed means anything.
  if (ours.verify(bytes, headers).subscription !== theirs.verify(text, headers).subscription) {
    throw new Error("the two libraries disagree");
  }
  const cases = [
    ["@selki/webhooks, Buffer", () => ours.verify(bytes, headers)],
    ["@selki/webhooks, string", () => ours.verify(text, headers)],
    ["standardwebhooks, string", () => theirs.verify(text, headers)],
    ["standardwebhooks, Buffer", () => theirs.verify(bytes, headers)],
  ];
  const results = cases.map(([name, fn]) => [name, measure(fn)]);
  // Like with like: each row against standardwebhooks given the same form.
  const baseline = (name) =>
    results.find(([other]) => other === `standardwebhooks, ${name.split(", ")[1]}`)[1].median;
  for (const [name, r] of results) {
    rows.push({
      size: `${size / 1024} KB`,
      library: name,
      "median µs": (r.median / 1000).toFixed(2),
      "min–max µs": `${(r.min / 1000).toFixed(2)}–${(r.max / 1000).toFixed(2)}`,
      "speed-up vs standardwebhooks": (baseline(name) / r.median).toFixed(1) + "x",
    });
  }
}
console.log(`node ${process.version}, ${ROUNDS} rounds of ${ROUND_MS} ms each`);
console.table(rows);

// `npm run bench -w @selki/webhooks` (or `cargo xtask bench-sdk`): verify()
// of this package against `standardwebhooks` and `svix` on the same
// deliveries, 1 KB and 16 KB, Buffer and string. The libraries take turns
// within each round (so a slow moment of the machine hits all of them), and
// several processes each give a median (JIT and memory layout differ per
// process); the table shows the median of those medians and their range.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import { Webhook } from "@selki/webhooks";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID = "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST";
const PROCESSES = 5;
const ROUNDS = 9;
const SLICE_MS = 100;

function body(size) {
  const head = '{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_ERROR","data":{"campaignId":"phish123","email":"staff@company.com","error":"';
  const tail = '"}}';
  return head + "x".repeat(size - head.length - tail.length) + tail;
}

/** Nanoseconds per call over one time slice. */
function slice(fn) {
  let calls = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(SLICE_MS * 1e6);
  let now = start;
  while (now < end) {
    for (let i = 0; i < 50; i++) fn();
    calls += 50;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / calls;
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** One process: the median ns per call of every case, interleaved. */
function child() {
  const ours = new Webhook(SECRET);
  const standard = new StandardWebhook(SECRET);
  const svix = new SvixWebhook(SECRET);
  const out = {};
  for (const size of [1024, 16 * 1024]) {
    const text = body(size);
    const bytes = Buffer.from(text);
    const ts = Math.floor(Date.now() / 1000);
    const headers = { "webhook-id": ID, "webhook-timestamp": String(ts), "webhook-signature": ours.sign(ID, ts, bytes) };
    const cases = {
      "@selki/webhooks": [() => ours.verify(bytes, headers), () => ours.verify(text, headers)],
      standardwebhooks: [() => standard.verify(bytes, headers), () => standard.verify(text, headers)],
      svix: [() => svix.verify(bytes, headers), () => svix.verify(text, headers)],
    };
    // Each must accept the delivery before its speed means anything.
    for (const [name, fns] of Object.entries(cases)) {
      for (const fn of fns) if (fn().subscription !== "PHISHING_EMAIL_ERROR") throw new Error(`${name} disagrees`);
    }
    const timed = Object.entries(cases).flatMap(([name, [b, s]]) => [[`${name}|Buffer`, b], [`${name}|string`, s]]);
    for (const [, fn] of timed) for (let i = 0; i < 3000; i++) fn(); // warm up the JIT
    const samples = Object.fromEntries(timed.map(([key]) => [key, []]));
    for (let r = 0; r < ROUNDS; r++) for (const [key, fn] of timed) samples[key].push(slice(fn));
    for (const [key, values] of Object.entries(samples)) out[`${size / 1024} KB|${key}`] = median(values);
  }
  return out;
}

if (process.argv[2] === "--child") {
  console.log(JSON.stringify(child()));
} else {
  const runs = [];
  for (let p = 0; p < PROCESSES; p++) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--child"], { encoding: "utf8" });
    runs.push(JSON.parse(out));
  }
  const rows = [];
  for (const key of Object.keys(runs[0])) {
    const [size, library, form] = key.split("|");
    const values = runs.map((run) => run[key]);
    const base = median(runs.map((run) => run[`${size}|standardwebhooks|${form}`]));
    rows.push({
      size,
      input: form,
      library,
      "median µs": (median(values) / 1000).toFixed(2),
      "process medians µs": `${(Math.min(...values) / 1000).toFixed(2)}–${(Math.max(...values) / 1000).toFixed(2)}`,
      "vs standardwebhooks": (base / median(values)).toFixed(2) + "x",
    });
  }
  console.log(`node ${process.version}; ${PROCESSES} processes × ${ROUNDS} interleaved rounds of ${SLICE_MS} ms per case`);
  console.table(rows);
}

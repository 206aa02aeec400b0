// A browser bundle (esbuild iife/es2020 and esm, Vite, webpack): verifies
// the shared vectors and one signed delivery, and posts the outcome back.
import * as selki from "@selki/webhooks";
import { classes, SECRET } from "./check.mjs";
import { runAll } from "./vectors.mjs";

// recipe:start
import { Webhook } from "@selki/webhooks"; // no plugin, no asset to copy, no await

function check(body, headers) {
  return new Webhook(SECRET).verify(body, headers).subscription;
}
// recipe:end

// The test's server: this page's own origin, or another one (Vite's dev
// server serves the page, the test serves the vectors).
const report = new URLSearchParams(location.search).get("report") ?? "";

async function run() {
  const { cases } = await (await fetch(`${report}/vectors.json`)).json();
  const delivery = await (await fetch(`${report}/delivery`)).json();
  let webhook;
  try {
    webhook = check(delivery.body, new Headers(delivery.headers));
  } catch (err) {
    webhook = `${err.name}: ${err.message}`;
  }
  return { cases: cases.length, failures: runAll(selki.Webhook, cases), classes: classes(selki), webhook };
}

run()
  .catch((err) => ({ failures: [`page error: ${(err && err.stack) || err}`] }))
  .then((result) => fetch(`${report}/result`, { method: "POST", body: JSON.stringify(result) }));

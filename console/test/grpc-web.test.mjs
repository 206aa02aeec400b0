// The console's typed client in headless Chromium, against a real
// selki-server: a page of a listed origin lists webhooks and watches calls
// live over gRPC-Web with a console session; a page of another origin is
// refused by the browser (CORS).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { before, test } from "node:test";

import { reportFrom } from "../../sdk-wasm/test/chromium.mjs";
import { ADMIN_KEY, repo, root, selkiServer, typedClient } from "./harness.mjs";

const out = join(repo, "target/console-test");
let client;

before(async () => {
  rmSync(out, { recursive: true, force: true });
  // The client itself, for the test's own calls (Node has fetch).
  client = await typedClient(out);
  execFileSync("node", [join(repo, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
  const esbuild = join(repo, "node_modules/.bin/esbuild");
  execFileSync(esbuild, ["test/page.ts", "--bundle", "--format=esm", "--target=es2020", `--outfile=${join(out, "page.js")}`, "--log-level=warning"], { cwd: root, stdio: "inherit" });
});

/** Serves the page; `onReady` runs when it says its stream is open. */
async function pageServer(t, onReady) {
  let deliver;
  const result = new Promise((resolve) => (deliver = resolve));
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/ready") return res.end("ok", onReady);
    if (path === "/result") {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      return req.on("end", () => res.end("ok", () => deliver(JSON.parse(body))));
    }
    if (path === "/page.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(join(out, "page.js")));
    res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  return { origin: `http://127.0.0.1:${server.address().port}`, result };
}

test("a listed origin's page lists webhooks and watches calls live with a console session; another origin's is refused", async (t) => {
  let submit = () => {};
  const listed = await pageServer(t, () => submit());
  const unlisted = await pageServer(t, () => {});
  const api = await selkiServer(t, ["--cors-allow-origin", listed.origin]);
  const admin = client(api, ADMIN_KEY);

  const receiver = createServer((req, res) => req.resume().on("end", () => res.end("ok")));
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  t.after(() => receiver.close());
  const { webhook } = await admin.webhooks.createWebhook({
    organizationId: "acme",
    name: "Console test",
    url: `http://127.0.0.1:${receiver.address().port}/`,
    eventTypes: [3], // PHISHING_EMAIL_CLICKED
  });
  const { token } = await admin.keys.createConsoleSession({ organizationId: "acme", readOnly: true, name: "console test" });
  // Events until one streams in: the page says when its stream is open,
  // but not when the server has it.
  let sent = 0;
  submit = async () => {
    while (sent < 10 && !done) {
      sent += 1;
      await admin.events.submitEvent({
        event: {
          organizationId: "acme",
          data: { data: { case: "phishingEmailClicked", value: { campaignId: "c1", email: "e@x.io" } } },
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  let done = false;
  const query = `?api=${encodeURIComponent(api)}&token=${encodeURIComponent(token)}&webhook=${webhook.id}`;
  const seen = await reportFrom(t, `${listed.origin}/${query}`, listed.result);
  done = true;
  assert.equal(seen.error, undefined, seen.error);
  assert.deepEqual(seen.listed, [webhook.id]);
  assert.equal(seen.call.webhookId, webhook.id);

  const refused = await reportFrom(t, `${unlisted.origin}/${query}`, unlisted.result);
  assert.match(refused.error ?? "", /fetch|network|Failed/i, JSON.stringify(refused));
});

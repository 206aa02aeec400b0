// The web build in headless Chromium (Debian's package): the page verifies
// every shared vector and posts the outcome back to this test's server.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { vectorsPath } from "./fixtures.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const TYPES = { ".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm" };
const CHROMIUM = process.env.CHROMIUM ?? "chromium";

function serve(onResult) {
  return createServer((req, res) => {
    if (req.method === "POST" && req.url === "/result") {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        res.end("ok");
        onResult(JSON.parse(body));
      });
      return;
    }
    const path = req.url === "/vectors.json" ? fileURLToPath(vectorsPath) : join(root, normalize(req.url));
    if (!path.startsWith(root) && req.url !== "/vectors.json") {
      res.writeHead(403).end();
      return;
    }
    try {
      const content = readFileSync(path);
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(content);
    } catch {
      res.writeHead(404).end();
    }
  });
}

test("the web build verifies every shared vector in headless Chromium", async (t) => {
  let deliver;
  const result = new Promise((resolve) => (deliver = resolve));
  const server = serve(deliver);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());

  const profile = mkdtempSync(join(tmpdir(), "selki-chromium-"));
  const browser = spawn(
    CHROMIUM,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      `http://127.0.0.1:${server.address().port}/test/browser/index.html`,
    ],
    // Its own process group, so that its helper processes die with it.
    { stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  let stderr = "";
  browser.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => browser.on("exit", resolve));
  t.after(async () => {
    try {
      process.kill(-browser.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    await exited;
    // Helpers may still be flushing into the profile for a moment.
    rmSync(profile, { recursive: true, force: true, maxRetries: 10 });
  });

  const outcome = await Promise.race([
    result,
    exited.then((code) => ({ failures: [`chromium exited (${code}) before reporting:\n${stderr}`] })),
    new Promise((resolve) =>
      setTimeout(() => resolve({ failures: [`no report within 60 s:\n${stderr}`] }), 60_000).unref(),
    ),
  ]);
  assert.deepEqual(outcome.failures, []);
  assert.ok(outcome.cases >= 30, `only ${outcome.cases} cases ran`);
  assert.match(outcome.userAgent, /Chrome/);
});

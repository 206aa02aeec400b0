// What the console's browser tests stand on: a real selki-server (debug
// build, fresh SQLite database) serving the console, a loopback receiver
// that records every call, the console's own typed client for the test's
// direct calls, and headless Chromium driven by Playwright.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { AxeBuilder } from "@axe-core/playwright";
import { chromium } from "playwright-core";

export const root = fileURLToPath(new URL("..", import.meta.url));
export const repo = join(root, "..");
export const ADMIN_KEY = "console-e2e-admin-key-0123456789";
export const SCREENSHOTS = join(repo, "target/console-screenshots");

/** The typed client, built for Node into `out` (one per test file: they
 *  run in parallel); the page uses the same source. */
export async function typedClient(out = join(repo, "target/console-e2e")) {
  mkdirSync(out, { recursive: true });
  execFileSync(join(repo, "node_modules/.bin/buf"), ["generate", "--template", "buf.gen.yaml"], { cwd: root, stdio: "inherit" });
  const file = join(out, "client.mjs");
  execFileSync(join(repo, "node_modules/.bin/esbuild"), ["src/client.ts", "--bundle", "--format=esm", "--platform=node", `--outfile=${file}`, "--log-level=warning"], { cwd: root, stdio: "inherit" });
  return (await import(file)).selkiClient;
}

/** selki-server on a fresh SQLite database, delivering to loopback;
 *  resolves with its base URL once it listens. */
export async function selkiServer(t, extra = []) {
  const db = mkdtempSync(join(tmpdir(), "selki-console-e2e-"));
  const args = ["--listen", "127.0.0.1:0", "--database-url", `sqlite://${db}/selki.db?mode=rwc`];
  args.push("--allow-http-endpoints", "true", "--allow-destinations", "127.0.0.0/8", "--poll-interval", "50ms", ...extra);
  const server = spawn(join(repo, "target/debug/selki-server"), args, {
    env: { PATH: process.env.PATH, SELKI_ADMIN_KEY: ADMIN_KEY, SELKI_LOG: "error" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => server.on("exit", resolve));
  t.after(async () => {
    server.kill("SIGKILL");
    await exited;
    rmSync(db, { recursive: true, force: true });
  });
  let printed = "";
  return new Promise((resolve, reject) => {
    server.stdout.on("data", (chunk) => {
      printed += chunk;
      const found = /listening on (\S+)/.exec(printed);
      if (found) resolve(`http://${found[1]}`);
    });
    exited.then((code) => reject(new Error(`selki-server exited (${code}) before listening:\n${printed}`)));
  });
}

/** A receiver on loopback: records each call, answers `status`. */
export async function receiver(t) {
  const calls = [];
  const waiting = [];
  const state = { status: 200, calls, url: "" };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(state.status, { "content-type": "text/plain" }).end(state.status === 200 ? "ok" : "receiver says no");
      calls.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      for (const w of waiting.splice(0)) w();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  state.url = `http://127.0.0.1:${server.address().port}/selki`;
  /** Resolves once `n` calls have arrived. */
  state.until = async (n) => {
    while (calls.length < n) await new Promise((resolve) => waiting.push(resolve));
    return calls;
  };
  return state;
}

/** Headless Chromium (Debian's; Playwright's own download is not used). */
export async function browser(t) {
  const executablePath = process.env.CHROMIUM ?? execFileSync("sh", ["-c", "command -v chromium"]).toString().trim();
  const launched = await chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  t.after(() => launched.close());
  return launched;
}

/** A fresh page (its own sessionStorage) with a desktop or phone viewport. */
export async function newPage(chrome, { width = 1280, height = 900 } = {}) {
  const context = await chrome.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (m) => {
    // A refused call is shown on the page, and also logged by the
    // browser; a policy violation or a script error is a defect.
    if (m.type() === "error" && /Content Security Policy|Uncaught/.test(m.text())) problems.push(m.text());
  });
  page.problems = problems;
  return page;
}

/** A screenshot of the screen, and no serious or critical axe violation. */
export async function screen(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const found = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = found.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `accessibility of ${name}`,
  );
  assert.deepEqual(page.problems, [], `errors on ${name}`);
  // Readable at 360 px: nothing wider than the viewport but scrolling tables.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name} is ${overflow} px wider than the window`);
}

/** The console's link for a session, as Selki's app would build it. */
export function link(api, created, extra = "") {
  return `${api}/console/#token=${encodeURIComponent(created.token)}&session=${created.session.id}${extra}`;
}

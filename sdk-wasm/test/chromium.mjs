// Headless Chromium (Debian's package) opening one page that reports back
// by POSTing JSON to /result on the test's own server.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CHROMIUM = process.env.CHROMIUM ?? "chromium";

/** Opens `url` and resolves with what the page reported (or a failure). */
export async function reportFrom(t, url, result) {
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
      url,
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
  return Promise.race([
    result,
    exited.then((code) => ({ failures: [`chromium exited (${code}) before reporting:\n${stderr}`] })),
    new Promise((resolve) =>
      setTimeout(() => resolve({ failures: [`no report within 60 s:\n${stderr}`] }), 60_000).unref(),
    ),
  ]);
}

// What every fixture answers, whatever its runtime or bundler: the fixture
// imports @selki/webhooks its own way and hands the module here.
//   POST /vectors  body: the shared vectors → { failures, classes }
//   POST /webhook  a real signed delivery    → 200 { subscription } | 400 { error }
import { runAll } from "./vectors.mjs";

export const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** Answers one request: path, raw body bytes and headers in, status and JSON out. */
export function answer(selki, path, body, headers) {
  if (path.endsWith("/vectors")) {
    const cases = JSON.parse(new TextDecoder().decode(body)).cases;
    return { status: 200, json: { failures: runAll(selki.Webhook, cases), classes: classes(selki) } };
  }
  const wh = new selki.Webhook(SECRET);
  try {
    return { status: 200, json: { subscription: wh.verify(body, headers).subscription } };
  } catch (err) {
    if (err instanceof selki.WebhookVerificationError) return { status: 400, json: { error: err.code } };
    throw err;
  }
}

/** For runtimes with fetch-style handlers (Next.js, Hono, Workers, Deno, Bun). */
export async function respond(selki, request) {
  const body = new Uint8Array(await request.arrayBuffer());
  const { status, json } = answer(selki, new URL(request.url).pathname, body, request.headers);
  return Response.json(json, { status });
}

/** The error classes work with instanceof and keep name and code. */
export function classes(selki) {
  const out = [];
  try {
    new selki.Webhook("hunter2");
    out.push("a bad secret was accepted");
  } catch (err) {
    if (!(err instanceof selki.WebhookSecretError)) out.push(`secret: not a WebhookSecretError: ${err}`);
    if (err.code !== "SECRET_MISSING_PREFIX" || err.name !== "WebhookSecretError") out.push("secret: name or code");
  }
  try {
    new selki.Webhook(SECRET).verifyAt("{}", { "webhook-id": "x", "webhook-timestamp": "1" }, 1);
    out.push("a delivery without signature passed");
  } catch (err) {
    if (!(err instanceof selki.WebhookVerificationError)) out.push(`verify: not a WebhookVerificationError: ${err}`);
    if (!(err instanceof Error) || err.code !== "MISSING_HEADER") out.push("verify: name or code");
  }
  return out;
}

"use strict";
// The JavaScript side of @selki/webhooks: error classes, and a Webhook that
// forwards to the WebAssembly one. Every entry point (CommonJS, ESM, edge,
// "/web") goes through this one module, so the classes are the same objects
// whichever way the package was loaded, and `instanceof` holds.

const glue = require("../dist/glue.cjs");

class WebhookVerificationError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "WebhookVerificationError";
    this.code = code;
  }
}

class WebhookSecretError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "WebhookSecretError";
    this.code = code;
  }
}

const NOT_READY =
  'the WebAssembly module is not initialised: with "@selki/webhooks/web", call `await init()` ' +
  '(or `initSync({ module })`) first, or import "@selki/webhooks", which initialises itself';
const FREED = "this Webhook was freed (free() was called): create a new Webhook";

let ready = false;

/** Instantiates the module from bytes or a compiled WebAssembly.Module. */
function initSync(input) {
  glue.initSync(input);
  ready = true;
}

/** As initSync, from anything wasm-bindgen's init takes (URL, Response, bytes). */
async function init(input) {
  await glue.default(input);
  ready = true;
}

/** Compiles the base64-inlined module: no file read and no fetch. */
function initFromBase64(base64) {
  if (ready) return;
  initSync({ module: decodeBase64(base64) });
}

function decodeBase64(base64) {
  if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(base64);
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** The WebAssembly side throws plain Errors named after these classes. */
function rethrow(error) {
  if (error instanceof Error && typeof error.code === "string") {
    if (error.name === "WebhookVerificationError") {
      throw new WebhookVerificationError(error.message, error.code);
    }
    if (error.name === "WebhookSecretError") throw new WebhookSecretError(error.message, error.code);
  }
  throw error;
}

class Webhook {
  #raw;

  constructor(secret, options) {
    if (!ready) throw new Error(NOT_READY);
    try {
      this.#raw = new glue.Webhook(secret, options);
    } catch (error) {
      rethrow(error);
    }
  }

  verify(payload, headers) {
    try {
      return this.#live().verify(payload, headers);
    } catch (error) {
      rethrow(error);
    }
  }

  verifyAt(payload, headers, now) {
    try {
      return this.#live().verifyAt(payload, headers, now);
    } catch (error) {
      rethrow(error);
    }
  }

  verifyIgnoringTimestamp(payload, headers) {
    try {
      return this.#live().verifyIgnoringTimestamp(payload, headers);
    } catch (error) {
      rethrow(error);
    }
  }

  sign(msgId, timestamp, payload) {
    return this.#live().sign(msgId, timestamp, payload);
  }

  free() {
    this.#raw?.free();
    this.#raw = undefined;
  }

  #live() {
    if (this.#raw === undefined) throw new Error(FREED);
    return this.#raw;
  }
}

if (typeof Symbol.dispose === "symbol") {
  Webhook.prototype[Symbol.dispose] = Webhook.prototype.free;
}

module.exports = {
  Webhook,
  WebhookVerificationError,
  WebhookSecretError,
  init,
  initSync,
  initFromBase64,
};

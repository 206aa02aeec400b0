// "@selki/webhooks/web": the same API, initialised by the caller.
//   import init, { Webhook } from "@selki/webhooks/web";
//   await init();                      // the inlined module
//   initSync({ module: wasmModule });  // or a compiled module (Workers)
export * from "./index.cjs";

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** Initialises the package; with no argument, from the module inlined in it. */
export { init as default };
export function init(input?: { module_or_path?: InitInput | Promise<InitInput> }): Promise<void>;

export function initSync(input: { module: BufferSource | WebAssembly.Module }): void;

// "@selki/webhooks/web": the same API, instantiated by the caller. Use it
// where the module cannot be fetched next to the script (edge runtimes):
//   import init, { initSync, Webhook } from "@selki/webhooks/web";
//   initSync({ module: wasmModule }); // or: await init();
export * from "./index";

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export default function init(
  input?: { module_or_path?: InitInput | Promise<InitInput> },
): Promise<unknown>;

export function initSync(input: { module: BufferSource | WebAssembly.Module }): unknown;

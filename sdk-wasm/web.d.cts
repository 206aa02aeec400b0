// "@selki/webhooks/web" for require(): see web.d.mts.
export * from "./index.cjs";

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** Initialises the package; with no argument, from the module inlined in it. */
export function init(input?: { module_or_path?: InitInput | Promise<InitInput> }): Promise<void>;
declare const _default: typeof init;
export default _default;

export function initSync(input: { module: BufferSource | WebAssembly.Module }): void;

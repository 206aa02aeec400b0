// "@selki/webhooks/web.wasm": the compiled module, for runtimes whose
// bundler turns a `.wasm` import into a WebAssembly.Module (Workers).
declare const module: WebAssembly.Module;
export default module;

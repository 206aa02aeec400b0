/// <reference types="vite/client" />

declare module "virtual:recipes" {
  /** The Express recipe of sdk-wasm/README.md. */
  export const node: string;
  /** The Rust recipe of README.md. */
  export const rust: string;
}

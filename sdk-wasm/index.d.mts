// Types for `import` (ESM): the same declarations as for require().
export * from "./index.cjs";

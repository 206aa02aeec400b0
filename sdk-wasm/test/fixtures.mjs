import { readFileSync } from "node:fs";

export const vectorsPath = new URL("../../tests/vectors/signatures.json", import.meta.url);
export const cases = JSON.parse(readFileSync(vectorsPath, "utf8")).cases;

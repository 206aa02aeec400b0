// Bundled by esbuild (--platform=node, cjs and esm) and by `bun build`,
// then run from a folder without node_modules.
import { createServer } from "node:http";
import * as selki from "@selki/webhooks";
import { answer } from "./check.mjs";

createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const { status, json } = answer(selki, req.url, Buffer.concat(chunks), req.headers);
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
}).listen(Number(process.env.PORT), "127.0.0.1");

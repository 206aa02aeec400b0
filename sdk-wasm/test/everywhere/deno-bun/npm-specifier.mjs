// Deno with the `npm:` specifier and no permission flag at all: the vectors
// come in on standard input, the outcome goes out on standard output.
import * as selki from "npm:@selki/webhooks";
import { classes } from "./check.mjs";
import { runAll } from "./vectors.mjs";

const { cases } = JSON.parse(await new Response(Deno.stdin.readable).text());
console.log(JSON.stringify({ failures: runAll(selki.Webhook, cases), classes: classes(selki) }));

// A page that uses the console's client as the console will: from its own
// origin, against selki-server's gRPC port, with a console session. It
// lists the webhooks, watches calls live and reports what it saw.
import { selkiClient } from "../src/client";

const params = new URLSearchParams(location.search);
const api = params.get("api") ?? "";
const token = params.get("token") ?? "";
const webhookId = params.get("webhook") ?? "";

async function run(): Promise<object> {
  const client = selkiClient(api, token);
  const listed = (await client.webhooks.listWebhooks({})).webhooks.map((w) => w.id);
  const calls = client.webhooks.watchCalls({ webhookId });
  const first = calls[Symbol.asyncIterator]().next();
  // The test sends events from now on, until a call streams in.
  await fetch("/ready", { method: "POST" });
  const message = await first;
  const call = message.done ? undefined : message.value.call;
  return { listed, call: call && { webhookId: call.webhookId, eventId: call.eventId } };
}

run()
  .catch((err: unknown) => ({ error: String(err) }))
  .then((result) => fetch("/result", { method: "POST", body: JSON.stringify(result) }));

// Webhook Documentation: exactly what Selki sends. Every example is
// generated (reference.json) from the sender's own header writer and the
// SDK's own serialization, each verified by the SDK when it is generated;
// the verification recipes are the READMEs' (see vite.config.ts). Nothing here is written twice, so nothing can drift.
import { useState } from "preact/hooks";

import { node, rust } from "virtual:recipes";

import { WebhookTabs, useConsole } from "../app";
import reference from "../reference.json";
import { SelectField, useLoad } from "../ui";
import { EVENT_KINDS } from "../words";

const HEADER_MEANING: Record<string, string> = {
  "content-type": "Always application/json.",
  "selki-webhook-id": "Unique per webhook: which webhook this is.",
  "selki-webhook-call-id": "Unique per call: a new one on every attempt.",
  "selki-event-id": "The event: the same on every retry, so use it to ignore duplicates.",
  "selki-timestamp": "Unix seconds of this attempt: reject old ones (replays).",
  "selki-signature": "If you use a secret: v1,<base64 HMAC SHA256>, one entry per live secret.",
  "webhook-id": "Standard Webhooks name of Selki-Event-ID.",
  "webhook-timestamp": "Standard Webhooks name of Selki-Timestamp.",
  "webhook-signature": "Standard Webhooks name of Selki-Signature.",
};

export function Documentation({ webhookId }: { webhookId?: string }) {
  const { api } = useConsole();
  const hook = useLoad(async () => (webhookId ? (await api.webhooks.getWebhook({ id: webhookId })).webhook : undefined), [webhookId]);
  const w = hook.data;
  const [shown, setShown] = useState(w?.eventTypes[0] ? EVENT_KINDS.find((k) => k.type === w.eventTypes[0])?.wire : "PHISHING_EMAIL_CLICKED");
  const kinds = EVENT_KINDS.filter((k) => !w || w.eventTypes.includes(k.type));
  const current = kinds.some((k) => k.wire === shown) ? shown : kinds[0]?.wire;
  const example = reference.examples.find((e) => e.subscription === current) ?? reference.examples[0];
  const headers = example.headers.map(([name, value]) => [name, name === "selki-webhook-id" && w ? w.id : value]);
  return (
    <section aria-labelledby="docs-title" class="docs">
      {webhookId && <WebhookTabs id={webhookId} name={w?.name} current="docs" />}
      <h1 id="docs-title">Webhook Documentation</h1>
      <p>
        Learn exactly what Selki sends in each webhook call: one HTTPS <code>POST</code> per attempt, a JSON body, and these headers. Deliveries are also <a href="https://www.standardwebhooks.com/">Standard Webhooks</a> messages.
        {w && !w.signingSecretSet && " This webhook is not signed: its calls carry no signature headers."}
      </p>
      <h2>Headers</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Header</th>
              <th scope="col">Meaning</th>
            </tr>
          </thead>
          <tbody>
            {example.headers.map(([name]) => (
              <tr key={name}>
                <th scope="row" class="mono">
                  {name}
                </th>
                <td>{HEADER_MEANING[name] ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Body Format and Payload Structures</h2>
      <p>
        <code>timestamp</code> is when the event happened, <code>subscription</code> its type, <code>data</code> its payload, which varies with the type. Each webhook follows strict typing: the SDKs parse every type below.
      </p>
      <SelectField label="Event type" value={current ?? ""} onChange={setShown} options={kinds.map((k) => ({ value: k.wire, label: `${k.label} (${k.wire})` }))} />
      <p class="hint">{EVENT_KINDS.find((k) => k.wire === current)?.description}</p>
      <h3>An example request</h3>
      <pre class="code" tabIndex={0} aria-label="Example request headers">
        {headers.map(([n, v]) => `${n}: ${v}`).join("\n")}
      </pre>
      <pre class="code" tabIndex={0} aria-label="Example request body">
        {JSON.stringify(JSON.parse(example.body), null, 2)}
      </pre>
      <p class="hint">
        Signed with the example secret <code>{reference.secret}</code> at that timestamp: your verification code should accept exactly this request (with the timestamp check relaxed) and refuse it with one byte changed.
      </p>
      <h2>Verify with @selki/webhooks (Node.js, Express)</h2>
      <pre class="code" tabIndex={0}>{node}</pre>
      <h2>Verify with the Rust crate selki-webhooks</h2>
      <pre class="code" tabIndex={0}>{rust}</pre>
    </section>
  );
}

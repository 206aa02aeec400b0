// One call: the request exactly as sent (headers, body), what came back,
// and a redelivery once the receiver is fixed.
import { useState } from "preact/hooks";

import { WebhookTabs, go, useConsole } from "../app";
import { type Problem, problem } from "../errors";
import { type Call, CallOutcome, type Header } from "../gen/selki/webhooks/v1/webhook_service_pb";
import { ms, span, when } from "../time";
import { Notice, useLoad } from "../ui";
import { eventLabel, outcomeLabel, triggerLabel } from "../words";

export function CallDetail({ webhookId, callId }: { webhookId: string; callId: string }) {
  const { api, readOnly } = useConsole();
  const loaded = useLoad(() => api.webhooks.getCall({ id: callId }), [callId]);
  const hook = useLoad(() => api.webhooks.getWebhook({ id: webhookId }), [webhookId]);
  const [trouble, setTrouble] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const [redelivered, setRedelivered] = useState<Call>();
  const call = loaded.data?.call;
  const redeliver = async () => {
    setBusy(true);
    try {
      setRedelivered((await api.webhooks.redeliverCall({ id: callId })).call);
      setTrouble(undefined);
    } catch (err) {
      setTrouble(problem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="call-title">
      <WebhookTabs id={webhookId} name={hook.data?.webhook?.name} current="calls" />
      <p>
        <a href={`#/webhooks/${webhookId}/calls`}>← Recent Calls</a>
      </p>
      <h1 id="call-title">Call {callId}</h1>
      <Notice problem={loaded.problem ?? trouble} />
      {call && (
        <>
          <dl class="facts">
            <dt>Status</dt>
            <dd class={call.outcome === CallOutcome.SUCCESS ? "status ok" : "status bad"}>
              {outcomeLabel(call.outcome)}
              {call.errorMessage && `: ${call.errorMessage}`}
            </dd>
            <dt>HTTP Code</dt>
            <dd>{call.httpStatus || "No response"}</dd>
            <dt>Response Time</dt>
            <dd>{span(ms(call.duration))}</dd>
            <dt>Event Type</dt>
            <dd>{eventLabel(call.eventType)}</dd>
            <dt>Attempt</dt>
            <dd>
              {call.attempt} ({triggerLabel(call.trigger)})
            </dd>
            <dt>Started</dt>
            <dd>{when(call.startTime)}</dd>
            <dt>Event</dt>
            <dd class="mono">{call.eventId || "— (test call)"}</dd>
            {call.traceId && (
              <>
                <dt>Trace</dt>
                <dd class="mono">{call.traceId}</dd>
              </>
            )}
          </dl>
          {!readOnly && call.deliveryId && (
            <div class="actions">
              <button type="button" class="primary" disabled={busy} onClick={redeliver}>
                Redeliver
              </button>
            </div>
          )}
          {redelivered && (
            <Notice tone={redelivered.outcome === CallOutcome.SUCCESS ? "ok" : "error"}>
              Redelivered: {outcomeLabel(redelivered.outcome)}
              {redelivered.httpStatus ? ` (HTTP ${redelivered.httpStatus})` : ""}.{" "}
              <button type="button" class="link" onClick={() => go(`/webhooks/${webhookId}/calls/${redelivered.id}`)}>
                Open the new call
              </button>
            </Notice>
          )}
          <h2>Request as sent</h2>
          <p class="mono">
            {call.request?.method ?? "POST"} {call.request?.url ?? call.url}
          </p>
          <Headers headers={call.request?.headers ?? []} label="Request headers" />
          <h3>Body</h3>
          <pre class="code" tabIndex={0}>{body(call.request?.body)}</pre>
          <h2>Response</h2>
          <Headers headers={call.responseHeaders} label="Response headers" />
          <h3>Body (first bytes)</h3>
          <pre class="code" tabIndex={0}>{call.responseExcerpt || "(empty)"}</pre>
        </>
      )}
    </section>
  );
}

function Headers({ headers, label }: { headers: Header[]; label: string }) {
  if (headers.length === 0) return <p class="sub">No {label.toLowerCase()} kept.</p>;
  return (
    <div class="table-wrap">
      <table class="headers">
        <caption class="sr-only">{label}</caption>
        <thead>
          <tr>
            <th scope="col">Header</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {headers.map((h, i) => (
            <tr key={i}>
              <th scope="row" class="mono">
                {h.name}
              </th>
              <td class="mono">{h.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The body pretty-printed when it is JSON, as text otherwise. */
function body(bytes?: Uint8Array): string {
  if (!bytes || bytes.length === 0) return "(not kept: the event was pruned)";
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// Create New Webhook: a guided wizard. The server checks everything at
// the end; its field violations send the wizard back to the step holding
// the first refused field and show each next to its field. Then the
// signing secret (shown once) and a test event, before finishing.
import { useEffect, useRef, useState } from "preact/hooks";

import { go, useConsole } from "../app";
import { type Problem, problem } from "../errors";
import type { EventType } from "../gen/selki/webhooks/v1/events_pb";
import type { CreateWebhookResponse, SendTestEventResponse } from "../gen/selki/webhooks/v1/webhook_service_pb";
import { ms, span } from "../time";
import { Copyable, Notice, TextField } from "../ui";
import { eventLabel, outcomeLabel } from "../words";
import { DestinationFields, type DestinationDraft, EventsPicker, HeadersEditor, type HeaderDraft, RetryFields, type RetryDraft, destinationDraft, retryDraft, toDestination, toFilter, toHeaders, toRetry } from "./parts";

const STEPS = [
  { title: "Basics", fields: ["name", "url", "organization_id"] },
  { title: "Events", fields: ["event_types"] },
  { title: "Destination", fields: ["destination", "filter"] },
  { title: "Advanced Settings", fields: ["signing_secret", "retry_policy", "headers", "timeout"] },
  { title: "Review", fields: [] as string[] },
];

type Signing = "generate" | "paste" | "none";

export function Wizard() {
  const { api, org, readOnly } = useConsole();
  const [step, setStep] = useState(0);
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<EventType[]>([]);
  const [destination, setDestination] = useState<DestinationDraft>(destinationDraft());
  const [signing, setSigning] = useState<Signing>("generate");
  const [secret, setSecret] = useState("");
  const [retry, setRetry] = useState<RetryDraft>(retryDraft());
  const [headers, setHeaders] = useState<HeaderDraft[]>([]);
  const [trouble, setTrouble] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<CreateWebhookResponse>();
  const [requestId] = useState(() => crypto.randomUUID());
  const heading = useRef<HTMLHeadingElement>(null);
  const errors = trouble?.fields ?? {};

  useEffect(() => heading.current?.focus(), [step, created]);

  if (created?.webhook) return <Finish created={created} />;

  const stepOf = (field: string) => STEPS.findIndex((s) => s.fields.some((f) => field === f || field.startsWith(`${f}.`) || field.startsWith(`${f}[`)));
  const create = async () => {
    setBusy(true);
    try {
      const answer = await api.webhooks.createWebhook({
        organizationId: org,
        name,
        url: url.trim(),
        eventTypes: events,
        signing: signing === "generate" ? { case: "generateSigningSecret", value: true } : signing === "paste" ? { case: "signingSecret", value: secret.trim() } : { case: undefined },
        retryPolicy: toRetry(retry),
        headers: toHeaders(headers),
        destination: toDestination(destination),
        filter: toFilter(destination),
        requestId,
      });
      setTrouble(undefined);
      setCreated(answer);
    } catch (err) {
      const p = problem(err);
      setTrouble(p);
      const steps = Object.keys(p.fields).map(stepOf).filter((s) => s >= 0);
      if (steps.length > 0) setStep(Math.min(...steps));
    } finally {
      setBusy(false);
    }
  };
  const missing = [name.trim() === "" && "a name", url.trim() === "" && "an endpoint URL", events.length === 0 && "at least one event"].filter(Boolean);
  const canNext = step === 0 ? name.trim() !== "" && url.trim() !== "" : step === 1 ? events.length > 0 : true;
  const elsewhere = Object.entries(errors).filter(([f]) => stepOf(f) !== step);

  return (
    <section class="wizard" aria-labelledby="wizard-title">
      <h1 id="wizard-title">Create New Webhook</h1>
      <ol class="steps">
        {STEPS.map((s, i) => (
          <li key={s.title} aria-current={i === step ? "step" : undefined} class={i < step ? "done" : undefined}>
            {s.title}
          </li>
        ))}
      </ol>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (step < STEPS.length - 1) {
            if (canNext) setStep(step + 1);
          } else void create();
        }}
      >
        <h2 tabIndex={-1} ref={heading}>
          Step {step + 1} of {STEPS.length}: {STEPS[step].title}
        </h2>
        {readOnly && <Notice>This session is read-only: it cannot create webhooks.</Notice>}
        {trouble && (
          <Notice problem={trouble}>
            {elsewhere.length > 0 ? ` On other steps: ${elsewhere.map(([f, d]) => `${f}: ${d}`).join("; ")}.` : ""}
          </Notice>
        )}
        {step === 0 && (
          <>
            <TextField label="Webhook Name" hint='A friendly name, e.g. "Notify Slack on Clicks".' field="name" errors={errors} value={name} onInput={setName} />
            <TextField label="Endpoint URL" hint="Where Selki sends event data (your server, or a Slack, Teams, PagerDuty or Splunk URL)." type="url" field="url" errors={errors} value={url} onInput={setUrl} placeholder="https://example.com/webhooks/selki" />
          </>
        )}
        {step === 1 && <EventsPicker value={events} onChange={setEvents} errors={errors} />}
        {step === 2 && <DestinationFields value={destination} onChange={setDestination} errors={errors} />}
        {step === 3 && (
          <>
            <fieldset class={errors.signing_secret ? "field invalid" : "field"} data-field="signing_secret">
              <legend>Signing Secret</legend>
              <p class="hint">If set, Selki signs each request with HMAC SHA256 so you can verify it is really us.</p>
              {(
                [
                  ["generate", "Generate one for me (shown once, after creating)"],
                  ["paste", "Use my own (whsec_…)"],
                  ["none", "Do not sign"],
                ] as const
              ).map(([value, label]) => (
                <div class="check" key={value}>
                  <input type="radio" id={`signing-${value}`} name="signing" checked={signing === value} onChange={() => setSigning(value)} />
                  <label for={`signing-${value}`}>{label}</label>
                </div>
              ))}
              {signing === "paste" && <TextField label="Your signing secret" type="password" field="signing_secret" errors={errors} value={secret} onInput={setSecret} placeholder="whsec_…" />}
              {signing !== "paste" && errors.signing_secret && <p class="error">{errors.signing_secret}</p>}
            </fieldset>
            <RetryFields value={retry} onChange={setRetry} errors={errors} />
            <HeadersEditor value={headers} onChange={setHeaders} errors={errors} />
          </>
        )}
        {step === 4 && <Review name={name} url={url} events={events} signing={signing} retry={retry} headers={headers.length} />}
        <div class="actions">
          {step > 0 && (
            <button type="button" onClick={() => setStep(step - 1)}>
              Back
            </button>
          )}
          {step < STEPS.length - 1 ? (
            <button type="submit" class="primary" disabled={!canNext}>
              Next
            </button>
          ) : (
            <button type="submit" class="primary" disabled={busy || readOnly || missing.length > 0}>
              Create webhook
            </button>
          )}
          <a href="#/">Cancel</a>
        </div>
        {step === STEPS.length - 1 && missing.length > 0 && <p class="hint">Still needed: {missing.join(", ")}.</p>}
      </form>
    </section>
  );
}

function Review(p: { name: string; url: string; events: EventType[]; signing: Signing; retry: RetryDraft; headers: number }) {
  return (
    <dl class="facts">
      <dt>Name</dt>
      <dd>{p.name}</dd>
      <dt>Endpoint URL</dt>
      <dd class="mono">{p.url}</dd>
      <dt>Events</dt>
      <dd>{p.events.map(eventLabel).join(", ") || "None"}</dd>
      <dt>Signing</dt>
      <dd>{p.signing === "none" ? "Not signed" : "Signed (HMAC SHA256)"}</dd>
      <dt>Retries</dt>
      <dd>
        {p.retry.attempts} after {p.retry.delaySeconds} s{p.retry.backoff ? ", doubling" : ""}
      </dd>
      <dt>Custom headers</dt>
      <dd>{p.headers}</dd>
    </dl>
  );
}

/** The secret, shown this once, and a test event before finishing. */
function Finish({ created }: { created: CreateWebhookResponse }) {
  const { api } = useConsole();
  const webhook = created.webhook!;
  const [tested, setTested] = useState<SendTestEventResponse>();
  const [trouble, setTrouble] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const test = async () => {
    setBusy(true);
    try {
      setTested(await api.webhooks.sendTestEvent({ webhookId: webhook.id }));
      setTrouble(undefined);
    } catch (err) {
      setTrouble(problem(err));
    } finally {
      setBusy(false);
    }
  };
  const call = tested?.call;
  return (
    <section class="wizard" aria-labelledby="finish-title">
      <h1 id="finish-title" tabIndex={-1} ref={heading}>
        Webhook created: {webhook.name}
      </h1>
      {created.signingSecret && (
        <div class="secret">
          <Copyable label="Signing secret" value={created.signingSecret} />
          <p class="hint">Copy it now: it is shown this once. Your server verifies each call with it (see Documentation).</p>
        </div>
      )}
      <h2>Send a test event</h2>
      <p>A sample {eventLabel(webhook.eventTypes[0])} event goes to {webhook.url} now, signed like a real one.</p>
      <button type="button" class="primary" disabled={busy} onClick={test}>
        Send test event
      </button>
      <Notice problem={trouble} />
      {call && (
        <Notice tone={call.outcome === 1 ? "ok" : "error"}>
          <span class="test-result">
            {outcomeLabel(call.outcome)}
            {call.httpStatus ? ` (HTTP ${call.httpStatus})` : ""} in {span(ms(call.duration))}
            {call.errorMessage ? `: ${call.errorMessage}` : ""}.
            {tested?.passesFilter === false ? " A real event like it would not pass the content filter." : ""}
          </span>
        </Notice>
      )}
      <div class="actions">
        <button type="button" onClick={() => go(`/webhooks/${webhook.id}`)}>
          Finish
        </button>
      </div>
    </section>
  );
}

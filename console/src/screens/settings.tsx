// Settings and the Danger Zone: what the webhook hears and how it is
// called, enable/disable, rotate the secret, delete (typed confirmation).
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "preact/hooks";

import { WebhookTabs, go, useConsole } from "../app";
import { type Problem, problem } from "../errors";
import type { EventType } from "../gen/selki/webhooks/v1/events_pb";
import { type Webhook, WebhookSchema } from "../gen/selki/webhooks/v1/webhook_service_pb";
import { date, duration, when } from "../time";
import { Copyable, Notice, SelectField, TextField, useLoad } from "../ui";
import { DestinationFields, type DestinationDraft, EventsPicker, HeadersEditor, type HeaderDraft, RetryFields, type RetryDraft, destinationDraft, headerDrafts, retryDraft, toDestination, toFilter, toHeaders, toRetry } from "./parts";

export function SettingsScreen({ webhookId }: { webhookId: string }) {
  const { api } = useConsole();
  const loaded = useLoad(() => api.webhooks.getWebhook({ id: webhookId }), [webhookId]);
  const [webhook, setWebhook] = useState<Webhook>();
  useEffect(() => setWebhook(loaded.data?.webhook), [loaded.data]);
  return (
    <section aria-labelledby="settings-title">
      <WebhookTabs id={webhookId} name={webhook?.name} current="settings" />
      <h1 id="settings-title">Settings</h1>
      <Notice problem={loaded.problem} />
      {webhook && (
        <>
          <Form key={webhook.id} webhook={webhook} onSaved={setWebhook} />
          <Signing webhook={webhook} onChanged={loaded.reload} />
          <DangerZone webhook={webhook} onChanged={setWebhook} />
        </>
      )}
    </section>
  );
}

function Form({ webhook, onSaved }: { webhook: Webhook; onSaved: (w: Webhook) => void }) {
  const { api, readOnly } = useConsole();
  const [name, setName] = useState(webhook.name);
  const [url, setUrl] = useState(webhook.url);
  const [events, setEvents] = useState<EventType[]>(webhook.eventTypes);
  const [retry, setRetry] = useState<RetryDraft>(retryDraft(webhook.retryPolicy));
  const [destination, setDestination] = useState<DestinationDraft>(destinationDraft(webhook.destination, webhook.filter));
  const [headers, setHeaders] = useState<HeaderDraft[]>(headerDrafts(webhook.headers));
  const [trouble, setTrouble] = useState<Problem>();
  const [saved, setSaved] = useState(false);
  const errors = trouble?.fields ?? {};
  // Field paths of UpdateWebhook's violations are `webhook.<field>`.
  const shown = Object.fromEntries(Object.entries(errors).map(([f, d]) => [f.replace(/^webhook\./, ""), d]));
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    try {
      const answer = await api.webhooks.updateWebhook({
        webhook: create(WebhookSchema, {
          id: webhook.id,
          name,
          url: url.trim(),
          eventTypes: events,
          retryPolicy: toRetry(retry),
          destination: toDestination(destination),
          filter: toFilter(destination),
          headers: toHeaders(headers),
        }),
        updateMask: create(FieldMaskSchema, { paths: ["name", "url", "event_types", "retry_policy", "destination", "filter", "headers"] }),
      });
      setTrouble(undefined);
      setSaved(true);
      if (answer.webhook) onSaved(answer.webhook);
    } catch (err) {
      setTrouble(problem(err));
    }
  };
  return (
    <form onSubmit={save} noValidate aria-labelledby="settings-form-title">
      <h2 id="settings-form-title">Webhook settings</h2>
      <Notice problem={trouble} />
      {saved && <Notice tone="ok">Saved.</Notice>}
      <TextField label="Webhook Name" field="name" errors={shown} value={name} onInput={setName} disabled={readOnly} />
      <TextField label="Endpoint URL" type="url" field="url" errors={shown} value={url} onInput={setUrl} disabled={readOnly} />
      <h3>Events</h3>
      <EventsPicker value={events} onChange={setEvents} errors={shown} disabled={readOnly} />
      <h3>Destination</h3>
      <DestinationFields value={destination} onChange={setDestination} errors={shown} disabled={readOnly} />
      <RetryFields value={retry} onChange={setRetry} errors={shown} disabled={readOnly} />
      <HeadersEditor value={headers} onChange={setHeaders} errors={shown} disabled={readOnly} />
      {!readOnly && (
        <div class="actions">
          <button type="submit" class="primary">
            Save changes
          </button>
        </div>
      )}
    </form>
  );
}

function Signing({ webhook, onChanged }: { webhook: Webhook; onChanged: () => void }) {
  const { api, readOnly } = useConsole();
  const [grace, setGrace] = useState(86_400_000);
  const [secret, setSecret] = useState<string>();
  const [until, setUntil] = useState<Date>();
  const [trouble, setTrouble] = useState<Problem>();
  const rotating = date(webhook.previousSecretExpireTime);
  const rotate = async () => {
    try {
      const answer = await api.webhooks.rotateSigningSecret({ id: webhook.id, gracePeriod: duration(grace) });
      setSecret(answer.signingSecret);
      setUntil(date(answer.previousSecretExpireTime));
      setTrouble(undefined);
      onChanged();
    } catch (err) {
      setTrouble(problem(err));
    }
  };
  return (
    <section aria-labelledby="signing-title">
      <h2 id="signing-title">Signing secret</h2>
      <p>{webhook.signingSecretSet ? "Calls are signed with HMAC SHA256." : "Calls are not signed. Rotating creates a secret and signs from now on."}</p>
      {rotating && rotating > new Date() && <p class="sub">Rotation in progress: the previous secret also signs until {when(rotating)}.</p>}
      <Notice problem={trouble} />
      {secret && (
        <div class="secret">
          <Copyable label="New signing secret" value={secret} />
          <p class="hint">Shown this once. {until && until > new Date() ? `The previous secret also signs until ${when(until)}: update your server before then.` : "The previous secret no longer signs."}</p>
        </div>
      )}
      {!readOnly && (
        <div class="row">
          <SelectField label="The previous secret keeps signing for" value={grace} onChange={setGrace} options={[{ value: 86_400_000, label: "24 hours" }, { value: 3_600_000, label: "1 hour" }, { value: 7 * 86_400_000, label: "7 days" }, { value: 0, label: "No time: stop at once" }]} />
          <button type="button" onClick={rotate}>
            Rotate secret
          </button>
        </div>
      )}
    </section>
  );
}

function DangerZone({ webhook, onChanged }: { webhook: Webhook; onChanged: (w: Webhook) => void }) {
  const { api, readOnly } = useConsole();
  const [typed, setTyped] = useState("");
  const [trouble, setTrouble] = useState<Problem>();
  const setEnabled = async (enabled: boolean) => {
    try {
      const answer = await api.webhooks.updateWebhook({
        webhook: create(WebhookSchema, { id: webhook.id, enabled }),
        updateMask: create(FieldMaskSchema, { paths: ["enabled"] }),
      });
      setTrouble(undefined);
      if (answer.webhook) onChanged(answer.webhook);
    } catch (err) {
      setTrouble(problem(err));
    }
  };
  const remove = async (e: Event) => {
    e.preventDefault();
    try {
      await api.webhooks.deleteWebhook({ id: webhook.id });
      go("/");
    } catch (err) {
      setTrouble(problem(err));
    }
  };
  return (
    <section class="danger" aria-labelledby="danger-title">
      <h2 id="danger-title">Danger Zone</h2>
      <Notice problem={trouble} />
      <div class="danger-item">
        <div>
          <h3>{webhook.enabled ? "Disable this webhook" : "Enable this webhook"}</h3>
          <p class="hint">{webhook.enabled ? "It then receives nothing; its events are kept and can be recovered from Recent Calls." : `Disabled${webhook.disabledReason ? `: ${webhook.disabledReason}` : ""}. Enabling it resumes deliveries.`}</p>
        </div>
        {!readOnly && (
          <button type="button" onClick={() => setEnabled(!webhook.enabled)}>
            {webhook.enabled ? "Disable webhook" : "Enable webhook"}
          </button>
        )}
      </div>
      {!readOnly && (
        <form class="danger-item" onSubmit={remove}>
          <div>
            <h3>Delete Webhook</h3>
            <p class="hint">Irreversible: the webhook, its pending deliveries and its call history go. Type its name to confirm.</p>
            <TextField label={`Type "${webhook.name}" to confirm`} value={typed} onInput={setTyped} />
          </div>
          <button type="submit" class="danger-button" disabled={typed !== webhook.name}>
            Delete webhook
          </button>
        </form>
      )}
    </section>
  );
}

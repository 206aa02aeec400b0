// Form sections the wizard and Settings share: events, destination and
// filter, retries, custom headers. Each shows its fields' violations.
import { create } from "@bufbuild/protobuf";

import { under } from "../errors";
import { EventType, RiskLevel } from "../gen/selki/webhooks/v1/events_pb";
import { type ContentFilter, ContentFilterSchema, type Destination, DestinationFormat, DestinationSchema, type Header, HeaderSchema, type RetryPolicy, RetryPolicySchema } from "../gen/selki/webhooks/v1/webhook_service_pb";
import { duration, ms } from "../time";
import { Check, NumberField, SelectField, TextField } from "../ui";
import { EVENT_KINDS, FORMATS, RISK_LEVELS, riskLabel } from "../words";

export type Errors = Record<string, string>;

export function EventsPicker(props: { value: EventType[]; onChange: (v: EventType[]) => void; errors: Errors; disabled?: boolean }) {
  const groups = [...new Set(EVENT_KINDS.map((k) => k.group))];
  const toggle = (t: EventType, on: boolean) => props.onChange(on ? [...props.value, t].sort((a, b) => a - b) : props.value.filter((x) => x !== t));
  const error = under(props.errors, "event_types")[0]?.[1];
  return (
    <div class={error ? "field invalid" : "field"} data-field="event_types">
      {groups.map((group) => (
        <fieldset key={group} aria-describedby={error ? "event-types-error" : undefined}>
          <legend>{group}</legend>
          {EVENT_KINDS.filter((k) => k.group === group).map((k) => (
            <Check key={k.type} label={<><strong>{k.label}</strong>: {k.description}</>} checked={props.value.includes(k.type)} disabled={props.disabled} onChange={(on) => toggle(k.type, on)} />
          ))}
        </fieldset>
      ))}
      {error && <p class="error" id="event-types-error">{error}</p>}
    </div>
  );
}

export interface DestinationDraft {
  format: DestinationFormat;
  /** Write-only; empty keeps the stored one (Settings). */
  credential: string;
  credentialSet: boolean;
  minRisk: RiskLevel;
  categories: string;
  campaigns: string;
}

export function destinationDraft(d?: Destination, f?: ContentFilter): DestinationDraft {
  return {
    format: d?.format || DestinationFormat.SELKI,
    credential: "",
    credentialSet: d?.credentialSet ?? false,
    minRisk: f?.minRiskLevel ?? RiskLevel.UNSPECIFIED,
    categories: (f?.threatCategories ?? []).join(", "),
    campaigns: (f?.campaignIds ?? []).join(", "),
  };
}

const list = (text: string) => text.split(",").map((s) => s.trim()).filter(Boolean);

export function toDestination(d: DestinationDraft): Destination {
  return create(DestinationSchema, { format: d.format, credential: d.credential.trim() });
}

export function toFilter(d: DestinationDraft): ContentFilter {
  return create(ContentFilterSchema, { minRiskLevel: d.minRisk, threatCategories: list(d.categories), campaignIds: list(d.campaigns) });
}

export function DestinationFields(props: { value: DestinationDraft; onChange: (v: DestinationDraft) => void; errors: Errors; disabled?: boolean }) {
  const d = props.value;
  const set = (part: Partial<DestinationDraft>) => props.onChange({ ...d, ...part });
  const format = FORMATS.find((f) => f.format === d.format) ?? FORMATS[0];
  return (
    <>
      <SelectField label="Destination format" field="destination.format" errors={props.errors} value={d.format} disabled={props.disabled} hint={format.hint} options={FORMATS.map((f) => ({ value: f.format, label: f.label }))} onChange={(format) => set({ format })} />
      {format.credential && (
        <TextField label={format.credential} type="password" field="destination.credential" errors={props.errors} value={d.credential} disabled={props.disabled} onInput={(credential) => set({ credential })} hint={d.credentialSet ? "One is stored (never shown). Leave empty to keep it." : "Stored sealed; never shown again."} />
      )}
      <fieldset>
        <legend>Content filter</legend>
        <p class="hint">Only matching events are delivered; events without the field (e.g. phishing emails for a risk level) pass.</p>
        <SelectField label="Threats of at least this risk level" field="filter.min_risk_level" errors={props.errors} value={d.minRisk} disabled={props.disabled} options={[{ value: RiskLevel.UNSPECIFIED, label: "Any risk level" }, ...RISK_LEVELS.map((r) => ({ value: r, label: riskLabel(r) }))]} onChange={(minRisk) => set({ minRisk })} />
        <TextField label="Threat categories (comma-separated)" field="filter.threat_categories" errors={props.errors} value={d.categories} disabled={props.disabled} placeholder="EMPLOYEES, DOMAINS" onInput={(categories) => set({ categories })} />
        <TextField label="Campaign ids (comma-separated)" field="filter.campaign_ids" errors={props.errors} value={d.campaigns} disabled={props.disabled} placeholder="phish123" onInput={(campaigns) => set({ campaigns })} />
      </fieldset>
    </>
  );
}

export interface RetryDraft {
  attempts: number;
  delaySeconds: number;
  backoff: boolean;
}

export const retryDraft = (r?: RetryPolicy): RetryDraft => ({
  attempts: r?.attempts ?? 5,
  delaySeconds: r?.delay ? ms(r.delay) / 1000 : 60,
  backoff: r?.exponentialBackoff ?? true,
});

export const toRetry = (r: RetryDraft): RetryPolicy => create(RetryPolicySchema, { attempts: r.attempts, delay: duration(r.delaySeconds * 1000), exponentialBackoff: r.backoff });

export function RetryFields(props: { value: RetryDraft; onChange: (v: RetryDraft) => void; errors: Errors; disabled?: boolean }) {
  const r = props.value;
  const set = (part: Partial<RetryDraft>) => props.onChange({ ...r, ...part });
  return (
    <fieldset>
      <legend>Retries</legend>
      <NumberField label="Retry Attempts" hint="If your server is down, how many times we retry (0 to 20)." field="retry_policy.attempts" errors={props.errors} min={0} max={20} value={r.attempts} disabled={props.disabled} onInput={(attempts) => set({ attempts })} />
      <NumberField label="Retry Delay (seconds)" hint="How long to wait before the first retry." field="retry_policy.delay" errors={props.errors} min={1} max={86400} value={r.delaySeconds} disabled={props.disabled} onInput={(delaySeconds) => set({ delaySeconds })} />
      <Check label="Double the delay after every retry (exponential backoff, up to an hour)" checked={r.backoff} disabled={props.disabled} onChange={(backoff) => set({ backoff })} />
    </fieldset>
  );
}

export interface HeaderDraft {
  name: string;
  value: string;
  sensitive: boolean;
}

export const headerDrafts = (hs: Header[]): HeaderDraft[] => hs.map((h) => ({ name: h.name, value: h.value, sensitive: h.sensitive }));
export const toHeaders = (hs: HeaderDraft[]): Header[] => hs.map((h) => create(HeaderSchema, { name: h.name.trim(), value: h.value, sensitive: h.sensitive }));

export function HeadersEditor(props: { value: HeaderDraft[]; onChange: (v: HeaderDraft[]) => void; errors: Errors; disabled?: boolean }) {
  const set = (i: number, part: Partial<HeaderDraft>) => props.onChange(props.value.map((h, j) => (i === j ? { ...h, ...part } : h)));
  const general = props.errors.headers;
  return (
    <fieldset>
      <legend>Custom Headers</legend>
      <p class="hint">Sent with every call, e.g. an Authorization token. Values are sealed at rest; sensitive ones are never shown again (`****`).</p>
      {props.value.map((h, i) => (
        <div class="header-row" key={i}>
          <TextField label={`Header ${i + 1} name`} field={`headers[${i}].name`} errors={props.errors} value={h.name} disabled={props.disabled} placeholder="Authorization" onInput={(name) => set(i, { name })} />
          <TextField label={`Header ${i + 1} value`} type={h.sensitive ? "password" : "text"} field={`headers[${i}].value`} errors={props.errors} value={h.value} disabled={props.disabled} onInput={(value) => set(i, { value })} />
          <Check label="Sensitive" checked={h.sensitive} disabled={props.disabled} onChange={(sensitive) => set(i, { sensitive })} />
          <button type="button" class="link" disabled={props.disabled} onClick={() => props.onChange(props.value.filter((_, j) => j !== i))}>
            Remove header {i + 1}
          </button>
        </div>
      ))}
      {general && <p class="error">{general}</p>}
      <button type="button" disabled={props.disabled} onClick={() => props.onChange([...props.value, { name: "", value: "", sensitive: false }])}>
        Add a header
      </button>
    </fieldset>
  );
}

// Webhook Overview: the webhook as it is configured (URL, subscribed
// events, security settings, headers being sent) and its health: success
// rate and call stats, with a chart over the chosen window.
import { useState } from "preact/hooks";

import { WebhookTabs, useConsole } from "../app";
import type { StatsBucket, Webhook, WebhookStats } from "../gen/selki/webhooks/v1/webhook_service_pb";
import { date, duration, ms, span, when } from "../time";
import { Notice, SelectField, useLoad } from "../ui";
import { eventLabel, formatLabel, riskLabel } from "../words";

const WINDOWS = [
  { value: 3_600_000, label: "Last hour" },
  { value: 86_400_000, label: "Last 24 hours" },
  { value: 7 * 86_400_000, label: "Last 7 days" },
  { value: 30 * 86_400_000, label: "Last 30 days" },
];

export function Overview({ webhookId }: { webhookId: string }) {
  const { api } = useConsole();
  const [window, setWindow] = useState(86_400_000);
  const hook = useLoad(() => api.webhooks.getWebhook({ id: webhookId }), [webhookId]);
  const stats = useLoad(() => api.webhooks.getWebhookStats({ webhookId, window: duration(window) }), [webhookId, window]);
  const w = hook.data?.webhook;
  return (
    <section aria-labelledby="overview-title">
      <WebhookTabs id={webhookId} name={w?.name} current="overview" />
      <h1 id="overview-title">Webhook Overview</h1>
      <Notice problem={hook.problem ?? stats.problem} />
      {w && <Configuration webhook={w} />}
      <h2>Success Rate &amp; Call Stats</h2>
      <div class="row">
        <SelectField label="Window" value={window} options={WINDOWS} onChange={setWindow} />
        <button type="button" onClick={stats.reload}>
          Refresh
        </button>
      </div>
      {stats.data?.stats && <Stats stats={stats.data.stats} />}
    </section>
  );
}

function Configuration({ webhook: w }: { webhook: Webhook }) {
  const rotating = date(w.previousSecretExpireTime);
  const f = w.filter;
  const filter = [
    f?.minRiskLevel ? `threats of risk ${riskLabel(f.minRiskLevel)} or higher` : "",
    f?.riskLevels.length ? `threats of risk ${f.riskLevels.map(riskLabel).join(", ")}` : "",
    f?.threatCategories.length ? `threat categories ${f.threatCategories.join(", ")}` : "",
    f?.campaignIds.length ? `campaigns ${f.campaignIds.join(", ")}` : "",
  ].filter(Boolean);
  return (
    <dl class="facts">
      <dt>Webhook URL</dt>
      <dd class="mono">{w.url}</dd>
      <dt>Status</dt>
      <dd>{w.enabled ? "Enabled" : `Disabled${w.disabledReason ? `: ${w.disabledReason}` : ""}`}</dd>
      <dt>Subscribed Events</dt>
      <dd>{w.eventTypes.map(eventLabel).join(", ")}</dd>
      <dt>Security Settings</dt>
      <dd>
        {w.signingSecretSet ? "Signed with HMAC SHA256 (Standard Webhooks)" : "Not signed"}
        {rotating && rotating > new Date() && <div class="sub">Secret rotation in progress: the previous secret also signs until {when(rotating)}.</div>}
        {w.destination?.credentialSet && <div class="sub">Destination credential stored (sealed).</div>}
      </dd>
      <dt>Headers being sent</dt>
      <dd>
        {w.headers.length === 0 ? (
          "No custom headers"
        ) : (
          <ul class="plain">
            {w.headers.map((h) => (
              <li key={h.name} class="mono">
                {h.name}: {h.value}
              </li>
            ))}
          </ul>
        )}
      </dd>
      <dt>Format</dt>
      <dd>{formatLabel(w.destination?.format ?? 0)}</dd>
      <dt>Content filter</dt>
      <dd>{filter.length ? filter.join("; ") : "Every event of the subscribed types"}</dd>
      <dt>Retries</dt>
      <dd>
        {w.retryPolicy?.attempts ?? 0} after {span(ms(w.retryPolicy?.delay))}
        {w.retryPolicy?.exponentialBackoff ? `, doubling up to ${span(ms(w.retryPolicy.maxDelay))}` : ""}
      </dd>
    </dl>
  );
}

function Stats({ stats: s }: { stats: WebhookStats }) {
  const total = Number(s.totalCalls);
  return (
    <>
      <div class="cards">
        <Card label="Success rate" value={total ? `${(100 * s.successRate).toFixed(1)}%` : "—"} />
        <Card label="Calls" value={String(total)} />
        <Card label="Failed calls" value={String(s.failedCalls)} />
        <Card label="Response time p50 / p95" value={total ? `${span(ms(s.p50Duration))} / ${span(ms(s.p95Duration))}` : "—"} />
        <Card label="Failures in a row" value={String(s.consecutiveFailures)} />
        <Card label="Pending deliveries" value={String(s.pendingDeliveries)} />
        <Card label="Failed deliveries (recoverable)" value={String(s.failedDeliveries)} />
      </div>
      <p class="sub">
        Last success: {when(s.lastSuccessTime)} · Last failure: {when(s.lastFailureTime)}
      </p>
      <Chart series={s.series} width={ms(s.bucketWidth)} />
    </>
  );
}

function Card(p: { label: string; value: string }) {
  return (
    <div class="card">
      <div class="card-label">{p.label}</div>
      <div class="card-value">{p.value}</div>
    </div>
  );
}

/** Calls per bucket, successes and failures stacked; the same numbers as
 *  a table for screen readers. Drawn with SVG attributes only: the
 *  page's policy allows no inline style. */
function Chart({ series, width }: { series: StatsBucket[]; width: number }) {
  if (series.length === 0) return null;
  const max = Math.max(1, ...series.map((b) => Number(b.totalCalls)));
  const w = 600;
  const h = 160;
  const bar = w / series.length;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`Calls per ${span(width)}: successes and failures`}>
        {series.map((b, i) => {
          const ok = Number(b.successfulCalls);
          const bad = Number(b.totalCalls) - ok;
          const okH = (ok / max) * (h - 10);
          const badH = (bad / max) * (h - 10);
          return (
            <g key={i}>
              <title>{`${when(b.startTime)}: ${ok} succeeded, ${bad} failed`}</title>
              <rect class="ok" x={i * bar + 1} width={Math.max(1, bar - 2)} y={h - okH} height={okH} />
              <rect class="bad" x={i * bar + 1} width={Math.max(1, bar - 2)} y={h - okH - badH} height={badH} />
            </g>
          );
        })}
      </svg>
      <figcaption>
        Calls per {span(width)} (<span class="key ok">succeeded</span>, <span class="key bad">failed</span>), oldest first.
      </figcaption>
      <details>
        <summary>Show as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">Calls</th>
              <th scope="col">Succeeded</th>
            </tr>
          </thead>
          <tbody>
            {series
              .filter((b) => b.totalCalls > 0n)
              .map((b, i) => (
                <tr key={i}>
                  <td>{when(b.startTime)}</td>
                  <td>{String(b.totalCalls)}</td>
                  <td>{String(b.successfulCalls)}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

// The webhooks, each with its health over the last 24 hours: success
// rate, failing streak, disabled and why.
import { useState } from "preact/hooks";

import { useConsole } from "../app";
import { type Problem, problem } from "../errors";
import type { Webhook } from "../gen/selki/webhooks/v1/webhook_service_pb";
import { Notice, useLoad } from "../ui";
import { formatLabel } from "../words";

export function WebhookList() {
  const { api, org, readOnly } = useConsole();
  const list = (pageToken: string) => api.webhooks.listWebhooks({ organizationId: org, includeHealth: true, pageSize: 100, pageToken });
  const first = useLoad(() => list(""), [api, org]);
  // Later pages are fetched once each, as asked for, and kept.
  const [more, setMore] = useState<{ webhooks: Webhook[]; next?: string }>({ webhooks: [] });
  const listed = first.data && {
    webhooks: [...first.data.webhooks, ...more.webhooks],
    next: more.next ?? first.data.nextPageToken,
  };
  const [trouble, setTrouble] = useState<Problem>();
  const showMore = (token: string) =>
    list(token).then(
      (page) => setMore({ webhooks: [...more.webhooks, ...page.webhooks], next: page.nextPageToken }),
      (err: unknown) => setTrouble(problem(err)),
    );
  return (
    <section aria-labelledby="webhooks-title">
      <div class="title-row">
        <h1 id="webhooks-title">Webhooks</h1>
        {!readOnly && (
          <a class="button primary" href="#/new">
            Create New Webhook
          </a>
        )}
      </div>
      <Notice problem={first.problem ?? trouble} />
      {listed && listed.webhooks.length === 0 && (
        <p class="empty">No webhooks yet. {readOnly ? "" : "Create one to hear about phishing simulations and threats as they happen."}</p>
      )}
      {listed && listed.webhooks.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Webhooks and their health over the last 24 hours</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Success rate (24 h)</th>
                <th scope="col">Failures in a row</th>
                <th scope="col">Format</th>
              </tr>
            </thead>
            <tbody>
              {listed.webhooks.map((w) => (
                <Row key={w.id} webhook={w} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {listed?.next && (
        <button type="button" onClick={() => showMore(listed.next)}>
          Show more
        </button>
      )}
    </section>
  );
}

function Row({ webhook: w }: { webhook: Webhook }) {
  const h = w.health;
  const calls = Number(h?.calls ?? 0n);
  const failures = Number(h?.consecutiveFailures ?? 0n);
  return (
    <tr>
      <th scope="row">
        <a href={`#/webhooks/${w.id}`}>{w.name}</a>
        <div class="sub mono">{w.url}</div>
      </th>
      <td>
        {w.enabled ? <span class="status ok">Enabled</span> : <span class="status bad">Disabled</span>}
        {!w.enabled && w.disabledReason && <div class="sub">{w.disabledReason}</div>}
      </td>
      <td>{calls === 0 ? "No calls" : `${(100 * (h?.successRate ?? 0)).toFixed(1)}% of ${calls}`}</td>
      <td>{failures > 0 ? <span class="status bad">{failures}</span> : "0"}</td>
      <td>{formatLabel(w.destination?.format ?? 0)}</td>
    </tr>
  );
}

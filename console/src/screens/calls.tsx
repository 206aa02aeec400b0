// Recent Calls: every call of a webhook, newest first, filtered; new ones
// arrive live (WatchCalls over gRPC-Web). Failed deliveries can be queued
// again from here.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "preact/hooks";

import { WebhookTabs, useConsole } from "../app";
import { type Problem, problem } from "../errors";
import { EventType } from "../gen/selki/webhooks/v1/events_pb";
import { type Call, CallOutcome, CallStatus, CallTrigger } from "../gen/selki/webhooks/v1/webhook_service_pb";
import { ms, span, when } from "../time";
import { Notice, SelectField, useLoad } from "../ui";
import { EVENT_KINDS, count, eventLabel, outcomeLabel, triggerLabel } from "../words";

interface Filters {
  status: CallStatus;
  eventType: EventType;
  trigger: CallTrigger;
}

export function RecentCalls({ webhookId }: { webhookId: string }) {
  const { api, readOnly } = useConsole();
  const [filters, setFilters] = useState<Filters>({ status: CallStatus.UNSPECIFIED, eventType: EventType.UNSPECIFIED, trigger: CallTrigger.UNSPECIFIED });
  const [live, setLive] = useState<Call[]>([]);
  const [more, setMore] = useState<{ calls: Call[]; next: string }>({ calls: [], next: "" });
  const hook = useLoad(() => api.webhooks.getWebhook({ id: webhookId }), [webhookId]);
  const first = useLoad(async () => {
    setLive([]);
    const page = await api.webhooks.listCalls({ webhookId, pageSize: 50, ...filters });
    setMore({ calls: [], next: page.nextPageToken });
    return page;
  }, [webhookId, filters.status, filters.eventType, filters.trigger]);
  const stream = useWatch(webhookId, filters, (call) => setLive((calls) => [call, ...calls.filter((c) => c.id !== call.id)].slice(0, 500)));
  const shown = dedupe([...live, ...(first.data?.calls ?? []), ...more.calls]);
  const loadMore = async () => {
    const page = await api.webhooks.listCalls({ webhookId, pageSize: 50, pageToken: more.next || first.data?.nextPageToken, ...filters });
    setMore({ calls: [...more.calls, ...page.calls], next: page.nextPageToken });
  };
  const next = more.calls.length ? more.next : first.data?.nextPageToken;
  return (
    <section aria-labelledby="calls-title">
      <WebhookTabs id={webhookId} name={hook.data?.webhook?.name} current="calls" />
      <h1 id="calls-title">Recent Calls</h1>
      <p class="hint">Every call is logged here. Open a call to see the request as sent and the answer; redeliver it once fixed.</p>
      <div class="filters">
        <SelectField label="Status" value={filters.status} onChange={(status) => setFilters({ ...filters, status })} options={[{ value: CallStatus.UNSPECIFIED, label: "All" }, { value: CallStatus.SUCCEEDED, label: "Success" }, { value: CallStatus.FAILED, label: "Failed" }]} />
        <SelectField label="Event type" value={filters.eventType} onChange={(eventType) => setFilters({ ...filters, eventType })} options={[{ value: EventType.UNSPECIFIED, label: "All" }, ...EVENT_KINDS.map((k) => ({ value: k.type, label: k.label }))]} />
        <SelectField label="Trigger" value={filters.trigger} onChange={(trigger) => setFilters({ ...filters, trigger })} options={[CallTrigger.UNSPECIFIED, CallTrigger.AUTOMATIC, CallTrigger.MANUAL, CallTrigger.TEST, CallTrigger.REPLAY].map((t) => ({ value: t, label: triggerLabel(t) || "All" }))} />
      </div>
      <p class="live" role="status">
        {stream.state === "open" ? "Live: new calls appear as they are made." : stream.state === "connecting" ? "Connecting for live updates…" : "Live updates stopped."}
        {stream.missed > 0 && ` ${count(stream.missed, "call was", "calls were")} not shown live: refresh to see them.`}
        {stream.state === "stopped" && (
          <button type="button" class="link" onClick={stream.restart}>
            Reconnect
          </button>
        )}
      </p>
      <Notice problem={first.problem ?? stream.problem} />
      {!readOnly && <SendAgain webhookId={webhookId} />}
      {first.data && shown.length === 0 && <p class="empty">No calls yet{filters.status || filters.eventType || filters.trigger ? " match these filters" : ""}.</p>}
      {shown.length > 0 && (
        <div class="table-wrap">
          <table class="calls">
            <caption class="sr-only">Calls, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">HTTP Code</th>
                <th scope="col">Response Time</th>
                <th scope="col">Event Type</th>
                <th scope="col">Attempt</th>
                <th scope="col">Trigger</th>
                <th scope="col">Time</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((c) => (
                <tr key={c.id} data-call={c.id}>
                  <th scope="row">
                    <a href={`#/webhooks/${webhookId}/calls/${c.id}`} class={c.outcome === CallOutcome.SUCCESS ? "status ok" : "status bad"}>
                      {c.outcome === CallOutcome.SUCCESS ? "Success" : `Failed: ${outcomeLabel(c.outcome)}`}
                    </a>
                  </th>
                  <td>{c.httpStatus || "—"}</td>
                  <td>{span(ms(c.duration))}</td>
                  <td>{eventLabel(c.eventType)}</td>
                  <td>{c.attempt}</td>
                  <td>{triggerLabel(c.trigger)}</td>
                  <td>{when(c.startTime)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <button type="button" onClick={loadMore}>
          Show older calls
        </button>
      )}
    </section>
  );
}

function dedupe(calls: Call[]): Call[] {
  const seen = new Set<string>();
  return calls.filter((c) => !seen.has(c.id) && seen.add(c.id));
}

function matches(c: Call, f: Filters): boolean {
  const ok = c.outcome === CallOutcome.SUCCESS;
  return (!f.status || (f.status === CallStatus.SUCCEEDED) === ok) && (!f.eventType || c.eventType === f.eventType) && (!f.trigger || c.trigger === f.trigger);
}

/** The webhook's calls as they are made, until the screen is left. */
function useWatch(webhookId: string, filters: Filters, onCall: (c: Call) => void) {
  const { api } = useConsole();
  const [state, setState] = useState<"connecting" | "open" | "stopped">("connecting");
  const [missed, setMissed] = useState(0);
  const [trouble, setTrouble] = useState<Problem>();
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    const abort = new AbortController();
    setState("connecting");
    (async () => {
      try {
        const stream = api.webhooks.watchCalls({ webhookId }, { signal: abort.signal, onHeader: () => setState("open") });
        for await (const message of stream) {
          setState("open");
          if (message.call && matches(message.call, filters)) onCall(message.call);
          if (message.missedCalls) setMissed((m) => m + Number(message.missedCalls));
        }
        setState("stopped");
      } catch (err) {
        if (abort.signal.aborted) return;
        setTrouble(problem(err));
        setState("stopped");
      }
    })();
    return () => abort.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [webhookId, filters.status, filters.eventType, filters.trigger, attempt]);
  return { state, missed, problem: trouble, restart: () => setAttempt((a) => a + 1) };
}

const WINDOWS = [
  { value: 3_600_000, label: "last hour" },
  { value: 86_400_000, label: "last 24 hours" },
  { value: 7 * 86_400_000, label: "last 7 days" },
  { value: 30 * 86_400_000, label: "last 30 days" },
];

/** Sends deliveries again: recover queues those that ran out of attempts
 *  (or were kept while the webhook was disabled); replay sends every
 *  event of the window again, delivered or not (e.g. after the receiver
 *  lost data). A replay id per screen makes a double click replay once. */
function SendAgain({ webhookId }: { webhookId: string }) {
  const { api } = useConsole();
  const [window, setWindow] = useState(86_400_000);
  const [said, setSaid] = useState<string>();
  const [trouble, setTrouble] = useState<Problem>();
  const [replayId, setReplayId] = useState(() => crypto.randomUUID());
  const act = async (what: "recover" | "replay") => {
    const since = new Date(Date.now() - window);
    try {
      if (what === "recover") {
        const answer = await api.webhooks.recoverFailed({ webhookId, since: timestampFromDate(since) });
        setSaid(`${count(answer.recoveredCount, "failed delivery", "failed deliveries")} queued again.`);
      } else {
        const answer = await api.webhooks.replayEvents({ webhookId, startTime: timestampFromDate(since), endTime: timestampFromDate(new Date()), replayId });
        setSaid(answer.duplicate ? "Already replayed: nothing queued this time." : `${count(answer.replayedCount, "event")} queued to be sent again.`);
        setReplayId(crypto.randomUUID());
      }
      setTrouble(undefined);
    } catch (err) {
      setTrouble(problem(err));
    }
  };
  return (
    <details class="recover">
      <summary>Send deliveries again</summary>
      <p class="hint">Recover sends again the deliveries that ran out of retries (or were kept while the webhook was disabled). Replay sends every event again, delivered or not. Both go oldest first.</p>
      <div class="row">
        <SelectField label="Events accepted in the" value={window} onChange={setWindow} options={WINDOWS} />
        <button type="button" onClick={() => act("recover")}>
          Recover failed deliveries
        </button>
        <button type="button" onClick={() => act("replay")}>
          Replay all events
        </button>
      </div>
      <Notice problem={trouble} />
      {said && <Notice tone="ok">{said}</Notice>}
    </details>
  );
}

// The help page's words for what the API names with enums: event types,
// outcomes, triggers, formats. One place, so every screen says the same.
import { EventType, RiskLevel } from "./gen/selki/webhooks/v1/events_pb";
import { CallOutcome, CallTrigger, DestinationFormat } from "./gen/selki/webhooks/v1/webhook_service_pb";

export interface EventKind {
  type: EventType;
  /** As written in the body's `subscription`. */
  wire: string;
  label: string;
  description: string;
  group: "Phishing simulations" | "Threats" | "About your webhooks";
}

export const EVENT_KINDS: EventKind[] = [
  kind(EventType.PHISHING_EMAIL_SENT, "Email Sent", "When Selki successfully sends a phishing test", "Phishing simulations"),
  kind(EventType.PHISHING_EMAIL_OPENED, "Email Opened", "A recipient opened the test", "Phishing simulations"),
  kind(EventType.PHISHING_EMAIL_CLICKED, "Email Clicked", "A recipient clicked a phishing link", "Phishing simulations"),
  kind(EventType.PHISHING_EMAIL_REPORTED, "Email Reported", "A recipient flagged the email as suspicious", "Phishing simulations"),
  kind(EventType.PHISHING_EMAIL_ERROR, "Email Error", "Something went wrong sending a phishing test", "Phishing simulations"),
  kind(EventType.THREATS_NEW_THREAT, "New Threat", "A real security threat was detected in Selki", "Threats"),
  kind(EventType.WEBHOOK_DISABLED, "Webhook Disabled", "One of your other webhooks was disabled: by a 410 answer, by failing too long, or by a person", "About your webhooks"),
  kind(EventType.WEBHOOK_FAILING, "Webhook Failing", "One of your other webhooks failed several calls in a row", "About your webhooks"),
  kind(EventType.WEBHOOK_RECOVERED, "Webhook Recovered", "A failing webhook succeeded again", "About your webhooks"),
  kind(EventType.DELIVERY_EXHAUSTED, "Delivery Exhausted", "A delivery ran out of retries", "About your webhooks"),
];

function kind(type: EventType, label: string, description: string, group: EventKind["group"]): EventKind {
  return { type, wire: EventType[type], label, description, group };
}

export function eventLabel(type: EventType): string {
  return EVENT_KINDS.find((k) => k.type === type)?.label ?? EventType[type] ?? "Unknown event";
}

export const FORMATS: { format: DestinationFormat; label: string; hint: string; credential?: string }[] = [
  { format: DestinationFormat.SELKI, label: "Selki (signed JSON)", hint: "The Selki envelope, for your own server and the SDKs." },
  { format: DestinationFormat.SLACK, label: "Slack", hint: "A Slack incoming-webhook message, written for people." },
  { format: DestinationFormat.MICROSOFT_TEAMS, label: "Microsoft Teams", hint: "An Adaptive Card for a Teams incoming or Workflows webhook." },
  { format: DestinationFormat.PAGERDUTY, label: "PagerDuty", hint: "A PagerDuty Events v2 trigger (URL https://events.pagerduty.com/v2/enqueue).", credential: "Routing key" },
  { format: DestinationFormat.SPLUNK_HEC, label: "Splunk HEC", hint: "A Splunk HTTP Event Collector event (URL ends in /services/collector/event).", credential: "HEC token" },
];

export function formatLabel(format: DestinationFormat): string {
  return FORMATS.find((f) => f.format === (format || DestinationFormat.SELKI))?.label ?? "Selki";
}

export const RISK_LEVELS = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL];
export const riskLabel = (r: RiskLevel) => RiskLevel[r].charAt(0) + RiskLevel[r].slice(1).toLowerCase();

const OUTCOMES: Record<CallOutcome, string> = {
  [CallOutcome.UNSPECIFIED]: "Unknown",
  [CallOutcome.SUCCESS]: "Success",
  [CallOutcome.HTTP_STATUS]: "HTTP error",
  [CallOutcome.TIMEOUT]: "Timed out",
  [CallOutcome.CONNECT_ERROR]: "Connection refused",
  [CallOutcome.DNS_ERROR]: "Host not found",
  [CallOutcome.TLS_ERROR]: "TLS error",
  [CallOutcome.BLOCKED_DESTINATION]: "Blocked destination",
  [CallOutcome.INVALID_RESPONSE]: "Invalid response",
  [CallOutcome.SIGNING_UNAVAILABLE]: "Signing unavailable",
};
export const outcomeLabel = (o: CallOutcome) => OUTCOMES[o] ?? "Unknown";

const TRIGGERS: Record<CallTrigger, string> = {
  [CallTrigger.UNSPECIFIED]: "",
  [CallTrigger.AUTOMATIC]: "Automatic",
  [CallTrigger.MANUAL]: "Redelivery",
  [CallTrigger.TEST]: "Test",
  [CallTrigger.REPLAY]: "Replay",
};
export const triggerLabel = (t: CallTrigger) => TRIGGERS[t] ?? "";

/** "1 event", "2 events". */
export const count = (n: number | bigint, noun: string, plural = `${noun}s`) => `${n} ${Number(n) === 1 ? noun : plural}`;

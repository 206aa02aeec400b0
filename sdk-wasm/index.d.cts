// Hand-written types for @selki/webhooks. The test suite type-checks every
// payload that verify() returns for the shared vectors against these types.

/** Data of PHISHING_EMAIL_SENT, _OPENED, _CLICKED and _REPORTED. */
export interface PhishingEmailData {
  campaignId: string;
  email: string;
}

/** Data of PHISHING_EMAIL_ERROR. */
export interface PhishingEmailErrorData {
  campaignId: string;
  email: string;
  /** What went wrong. */
  error: string;
}

export type RiskLevel = "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";

/** "EMPLOYEES", or a category this version does not know yet. */
export type ThreatCategory = "EMPLOYEES" | (string & {});

/** Data of THREATS_NEW_THREAT. */
export interface NewThreatData {
  id: string;
  category: ThreatCategory;
  riskLevel: RiskLevel;
  url: string;
  username: string;
  email: string;
}

/** Why a webhook was disabled, or a reason this version does not know yet. */
export type DisableReason = "GONE" | "FAILING" | "BY_PERSON" | (string & {});

/** Data of WEBHOOK_DISABLED (operational: Selki emits it). */
export interface WebhookDisabledData {
  webhookId: string;
  webhookName: string;
  url: string;
  reason: DisableReason;
  /** The API key's name, when a person disabled it. */
  disabledBy?: string;
  /** What happened, in words. */
  message: string;
}

/** Data of WEBHOOK_FAILING (operational). */
export interface WebhookFailingData {
  webhookId: string;
  webhookName: string;
  url: string;
  /** Failed calls in a row. */
  consecutiveFailures: number;
  /** When the first of them was made, RFC 3339. */
  failingSince: string;
  /** How the last one ended, e.g. "http_status" or "timeout". */
  lastOutcome: string;
  lastHttpStatus?: number;
}

/** Data of WEBHOOK_RECOVERED (operational). */
export interface WebhookRecoveredData {
  webhookId: string;
  webhookName: string;
  url: string;
  /** Failed calls in a row before this success. */
  failedCalls: number;
  failingSince: string;
}

/** Data of DELIVERY_EXHAUSTED (operational). */
export interface DeliveryExhaustedData {
  webhookId: string;
  webhookName: string;
  url: string;
  eventId: string;
  deliveryId: string;
  /** The undelivered event's type. */
  subscription: string;
  attempts: number;
  lastOutcome: string;
  lastHttpStatus?: number;
  lastError?: string;
}

interface EventOf<S extends string, D> {
  /** When the event happened, RFC 3339 in UTC. */
  timestamp: string;
  subscription: S;
  data: D;
}

export type PhishingEmailSentEvent = EventOf<"PHISHING_EMAIL_SENT", PhishingEmailData>;
export type PhishingEmailOpenedEvent = EventOf<"PHISHING_EMAIL_OPENED", PhishingEmailData>;
export type PhishingEmailClickedEvent = EventOf<"PHISHING_EMAIL_CLICKED", PhishingEmailData>;
export type PhishingEmailReportedEvent = EventOf<"PHISHING_EMAIL_REPORTED", PhishingEmailData>;
export type PhishingEmailErrorEvent = EventOf<"PHISHING_EMAIL_ERROR", PhishingEmailErrorData>;
export type ThreatsNewThreatEvent = EventOf<"THREATS_NEW_THREAT", NewThreatData>;
export type WebhookDisabledEvent = EventOf<"WEBHOOK_DISABLED", WebhookDisabledData>;
export type WebhookFailingEvent = EventOf<"WEBHOOK_FAILING", WebhookFailingData>;
export type WebhookRecoveredEvent = EventOf<"WEBHOOK_RECOVERED", WebhookRecoveredData>;
export type DeliveryExhaustedEvent = EventOf<"DELIVERY_EXHAUSTED", DeliveryExhaustedData>;

/** The events this version knows, discriminated on `subscription`. */
export type KnownWebhookEvent =
  | PhishingEmailSentEvent
  | PhishingEmailOpenedEvent
  | PhishingEmailClickedEvent
  | PhishingEmailReportedEvent
  | PhishingEmailErrorEvent
  | ThreatsNewThreatEvent
  | WebhookDisabledEvent
  | WebhookFailingEvent
  | WebhookRecoveredEvent
  | DeliveryExhaustedEvent;

/** Every `subscription` this version knows. */
export type EventType = KnownWebhookEvent["subscription"];

/**
 * What verify() returns: switch on `subscription` and `data` narrows to the
 * type's data.
 *
 * Events of a type newer than this package are returned too, with their
 * data as sent: keep a `default:` branch. TypeScript cannot type "any string
 * except the known ones" without spoiling the narrowing of the known cases,
 * so there the event is typed `never`; assign it to `UnknownWebhookEvent`:
 *
 *     default: { const unknown: UnknownWebhookEvent = event; log(unknown.subscription); }
 */
export type WebhookEvent = KnownWebhookEvent;

/** An event of a type newer than this package, with its raw data. */
export interface UnknownWebhookEvent {
  timestamp: string;
  subscription: string;
  data: unknown;
}

export type VerificationErrorCode =
  | "MISSING_HEADER"
  | "INVALID_TIMESTAMP"
  | "TIMESTAMP_TOO_OLD"
  | "TIMESTAMP_TOO_NEW"
  | "NO_SUPPORTED_SIGNATURE"
  | "EMPTY_SIGNATURE"
  | "INVALID_SIGNATURE_ENCODING"
  | "INVALID_SIGNATURE_LENGTH"
  | "SIGNATURE_MISMATCH"
  | "EMPTY_BODY"
  | "INVALID_JSON"
  | "INVALID_EVENT";

export type SecretErrorCode =
  | "SECRET_MISSING_PREFIX"
  | "SECRET_INVALID_BASE64"
  | "SECRET_INVALID_LENGTH";

/**
 * Thrown by verify*(): the signature, timestamp or body did not pass.
 * `catch (err) { if (err instanceof WebhookVerificationError) … err.code }`
 */
export class WebhookVerificationError extends Error {
  constructor(message: string, code: VerificationErrorCode);
  readonly name: "WebhookVerificationError";
  readonly code: VerificationErrorCode;
}

/** Thrown by the constructor for a malformed secret. */
export class WebhookSecretError extends Error {
  constructor(message: string, code: SecretErrorCode);
  readonly name: "WebhookSecretError";
  readonly code: SecretErrorCode;
}

/** The raw request body. Prefer bytes: a re-encoded string may differ. */
export type Payload = Uint8Array | ArrayBuffer | string;

/**
 * A WHATWG `Headers` (fetch, edge runtimes) or a plain object such as
 * Node's `req.headers`. Names match case-insensitively.
 */
export type WebhookHeaders =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

export interface WebhookOptions {
  /** How far the timestamp may be from now, either way. Default 300. Any other key is refused. */
  toleranceSeconds?: number;
}

export class Webhook {
  /** @throws {WebhookSecretError} unless `secret` is "whsec_" + base64 of 24..=64 bytes. */
  constructor(secret: string, options?: WebhookOptions);
  /**
   * Checks the signature and the timestamp (against `Date.now()`), then
   * returns the typed event.
   * @throws {WebhookVerificationError}
   */
  verify(payload: Payload, headers: WebhookHeaders): WebhookEvent;
  /** As verify(), as of `now` (a Date or Unix seconds). */
  verifyAt(payload: Payload, headers: WebhookHeaders, now: Date | number): WebhookEvent;
  /** Checks the signature only: for replaying stored deliveries, never for live traffic. */
  verifyIgnoringTimestamp(payload: Payload, headers: WebhookHeaders): WebhookEvent;
  /**
   * One "v1,<base64>" signature entry, for tests and senders. `timestamp` is
   * Unix seconds or a Date; milliseconds (`Date.now()`) are refused.
   */
  sign(msgId: string, timestamp: Date | number, payload: Payload): string;
  /** Releases the WebAssembly memory now rather than at garbage collection; the Webhook is unusable after. */
  free(): void;
}

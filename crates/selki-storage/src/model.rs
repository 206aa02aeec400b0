//! What the store takes and gives back.

use std::time::Duration;

use selki_domain::{
    ApiKeyId, CallRecord, ContentFilter, Credential, CustomHeaders, DeliveryId, DeliveryLimits,
    DeliveryStatus, Destination, EndpointUrl, EventFacts, EventId, EventTypes, KeyAccess,
    OrganizationId, RetryPolicy, TraceParent, UnixMs, Unopenable, WebhookId, WebhookName,
};

use selki_webhooks::{EventType, Secret};

/// Whose rows a call may see: an admin key sees all, an organization key
/// its own. Rows outside the scope behave exactly like missing rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Organization(OrganizationId),
}

impl Scope {
    pub(crate) fn organization(&self) -> Option<&str> {
        match self {
            Self::All => None,
            Self::Organization(org) => Some(org.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub organization: OrganizationId,
    pub name: WebhookName,
    pub url: EndpointUrl,
    pub event_types: EventTypes,
    pub enabled: bool,
    pub retry: RetryPolicy,
    pub headers: CustomHeaders,
    pub secret: Option<Secret>,
    /// The webhook's own call timeout; the server's default when `None`.
    pub timeout: Option<Duration>,
    /// The creator's id for this creation (a retry gets the same webhook),
    /// with the SHA-256 of what it asked for.
    pub request: Option<(String, [u8; 32])>,
    pub destination: Destination,
    /// The destination's routing key or token (sealed at rest).
    pub credential: Option<Credential>,
    pub filter: ContentFilter,
    pub limits: DeliveryLimits,
}

/// A webhook made by [`crate::Store::create_webhook`], or the one an
/// earlier request with the same request id made.
#[derive(Debug, Clone)]
pub struct Created {
    pub webhook: Webhook,
    /// The request id was seen (the new webhook's fields were not used).
    pub duplicate: bool,
    /// For a duplicate: whether the earlier request asked for the same.
    pub same_request: bool,
}

/// Whether deliveries are signed, never the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningState {
    pub secret_set: bool,
    /// While a rotated-out secret still signs: until when.
    pub previous_expires_at: Option<UnixMs>,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: WebhookId,
    pub organization: OrganizationId,
    pub name: WebhookName,
    pub url: EndpointUrl,
    pub event_types: EventTypes,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub retry: RetryPolicy,
    /// `Err` when this server's keys do not open them.
    pub headers: Result<CustomHeaders, Unopenable>,
    pub timeout: Option<Duration>,
    pub signing: SigningState,
    pub created_at: UnixMs,
    pub updated_at: UnixMs,
    /// The failing streak, as recorded calls move it.
    pub consecutive_failures: u64,
    pub last_success: Option<UnixMs>,
    pub last_failure: Option<UnixMs>,
    pub destination: Destination,
    /// Whether a credential is stored (it is never read back).
    pub credential_set: bool,
    pub filter: ContentFilter,
    pub limits: DeliveryLimits,
}

/// Changes to a webhook; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub name: Option<WebhookName>,
    pub url: Option<EndpointUrl>,
    pub event_types: Option<EventTypes>,
    pub enabled: Option<bool>,
    pub retry: Option<RetryPolicy>,
    pub headers: Option<CustomHeaders>,
    /// `Some(None)` goes back to the server's default.
    pub timeout: Option<Option<Duration>>,
    /// `Some(false)`: stop signing (the secrets are removed).
    pub signing: Option<bool>,
    pub destination: Option<Destination>,
    /// `Some(None)` removes the stored credential.
    pub credential: Option<Option<Credential>>,
    pub filter: Option<ContentFilter>,
    pub limits: Option<DeliveryLimits>,
    /// Who makes the change: named in the WEBHOOK_DISABLED it raises when
    /// it disables an enabled webhook.
    pub by: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookFilter {
    pub enabled: Option<bool>,
}

/// Keyset pagination by id (ids sort by creation time).
#[derive(Debug, Clone, Copy)]
pub struct Page<Id> {
    pub after: Option<Id>,
    pub limit: u32,
}

/// An event to store, with its delivery body already built.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub organization: OrganizationId,
    pub event_type: EventType,
    /// The submitter's id for idempotent retries.
    pub client_event_id: Option<String>,
    /// SHA-256 of what was submitted: a retry must match it.
    pub fingerprint: [u8; 32],
    /// Exactly the JSON that will be delivered.
    pub body: String,
    pub occurred_at: UnixMs,
    /// The submitter's trace context, kept for the deliveries' spans.
    pub traceparent: Option<TraceParent>,
    /// What webhooks' content filters look at.
    pub facts: EventFacts,
}

/// The outcome of one stored (or recognised) submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub event_id: EventId,
    /// Pending deliveries: one per enabled subscribed webhook.
    pub delivery_count: u32,
    /// The client event id had been seen: nothing new was stored.
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyScope {
    Admin,
    Organization(OrganizationId),
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub scope: ApiKeyScope,
    pub access: KeyAccess,
    pub name: String,
    /// SHA-256 of the whole key text; the key itself is never stored.
    pub secret_hash: [u8; 32],
    /// A console session's lifetime, counted from its creation; `None`: a
    /// key that lasts until revoked.
    pub lifetime: Option<std::time::Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub scope: ApiKeyScope,
    pub access: KeyAccess,
    pub name: String,
    pub created_at: UnixMs,
    pub revoked_at: Option<UnixMs>,
    /// Set for a console session: from then on it no longer works.
    pub expires_at: Option<UnixMs>,
}

/// An accepted event, as stored.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: EventId,
    pub organization: OrganizationId,
    pub event_type: EventType,
    pub client_event_id: Option<String>,
    pub occurred_at: UnixMs,
    pub created_at: UnixMs,
    /// Deliveries made at acceptance.
    pub delivery_count: u32,
    pub traceparent: Option<TraceParent>,
    /// The exact body delivered; read for one event only.
    pub body: Option<String>,
}

/// Which event: by id, or by its submitter's id within an organization.
#[derive(Debug, Clone)]
pub enum EventKey {
    Id(EventId),
    ClientId(OrganizationId, String),
}

/// Which events to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<EventType>,
    /// Accepted at or after.
    pub from: Option<UnixMs>,
    /// Accepted before.
    pub until: Option<UnixMs>,
    pub client_event_id: Option<String>,
}

/// Where a delivery stands, as the API shows it: a pending delivery whose
/// lease is live is being attempted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    Pending,
    InFlight,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

/// One event's delivery to one webhook, as stored now.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub state: DeliveryState,
    pub attempts_made: u32,
    /// Automatic attempts still to come.
    pub attempts_left: u32,
    /// Set while pending.
    pub next_attempt_at: Option<UnixMs>,
    pub last_call: Option<CallRecord>,
    pub created_at: UnixMs,
    pub updated_at: UnixMs,
}

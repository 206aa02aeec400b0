//! What the store takes and gives back.

use selki_domain::{
    ApiKeyId, CustomHeaders, EndpointUrl, EventId, EventTypes, OrganizationId, RetryPolicy, UnixMs,
    Unopenable, WebhookId, WebhookName,
};
use std::time::Duration;

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
    pub name: String,
    /// SHA-256 of the whole key text; the key itself is never stored.
    pub secret_hash: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub scope: ApiKeyScope,
    pub name: String,
    pub created_at: UnixMs,
    pub revoked_at: Option<UnixMs>,
}

//! The domain of Selki Webhooks: what a webhook, an event and an API key
//! are, as types that can only hold valid values.
//!
//! Untrusted input becomes one of these through a single `parse` at the
//! edge (the API); everything behind the edge trusts the type.

mod call;
mod id;
mod invalid;
mod webhook;

pub use call::{CallOutcome, CallTrigger};
pub use id::{ApiKeyId, CallId, DeliveryId, EventId, IdError, OrganizationId, WebhookId};
pub use invalid::Invalid;
pub use webhook::{
    CustomHeaders, EndpointUrl, EventTypes, Header, MASK, MAX_HEADER_BYTES, MAX_HEADERS,
    MAX_URL_LEN, RetryPolicy, UrlPolicy, WebhookName,
};

//! The domain of Selki Webhooks: what a webhook, an event, a delivery, a
//! call and an API key are, as types that can only hold valid values, and
//! the one time type with the clock that makes it.
//!
//! Untrusted input becomes one of these through a single `parse` at the
//! edge (the API); everything behind the edge trusts the type.

/// `as_str` and `parse` between an enum's variants and their stored names.
macro_rules! names {
    ($t:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $t {
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }

            pub fn parse(name: &str) -> Option<Self> {
                match name { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}
pub(crate) use names;

mod access;
mod alerting;
mod call;
mod delivery;
mod id;
mod invalid;
mod sample;
mod time;
mod trace;
mod webhook;

pub use access::{KeyAccess, Operation};
pub use alerting::{
    ContentFilter, Credential, DeliveryLimits, Destination, EventFacts, Format, MAX_FILTER_ENTRIES,
    MAX_IN_FLIGHT, MAX_PER_SECOND, PagerDutyOptions, Severity, SplunkOptions,
};
pub use call::{CallCapture, CallOutcome, CallRecord, CallTrigger, SentRequest};
pub use delivery::{
    Attempt, Claimed, DeliveryStatus, Health, LeaseToken, Next, Opened, Target, TargetState,
    Unopenable,
};
pub use id::{ApiKeyId, CallId, DeliveryId, EventId, IdError, OrganizationId, WebhookId};
pub use invalid::Invalid;
pub use sample::sample;
pub use time::{Clock, SyncedClock, SystemClock, UnixMs, millis};
pub use trace::TraceParent;
pub use webhook::{
    CustomHeaders, EndpointUrl, EventTypes, Header, HeaderError, HeaderInput, MASK,
    MAX_HEADER_BYTES, MAX_HEADERS, MAX_URL_LEN, RetryPolicy, UrlPolicy, WebhookName,
};

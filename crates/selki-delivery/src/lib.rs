//! The delivery engine: the guard that decides which addresses a delivery
//! may connect to, the `Sender` that makes one POST and reports how it went
//! as data, the `Dispatcher` that signs a delivery and sends it, the retry
//! schedule, and the `Worker` that claims due deliveries, delivers them
//! and records every call.
//!
//! The sender resolves a webhook's host, vets every address with
//! [`Destinations::check`], and connects to the vetted address itself, so a
//! DNS answer that changes between check and connect cannot slip through.

mod dispatch;
mod excerpt;
pub mod format;
mod metrics;
mod proxy;
mod retry;
mod sender;
mod ssrf;
pub mod trace;
mod worker;

pub use dispatch::{Delivery, Dispatcher, TIMEOUT_MAX, TIMEOUT_MIN};
pub use excerpt::{EXCERPT_BYTES, excerpt, excerpt_of};
pub use metrics::Metrics;
pub use proxy::{EgressProxy, EgressProxyError};
pub use retry::{RETRY_AFTER_MAX, RETRY_AFTER_MIN, next_delay, parse_retry_after};
pub use sender::{
    Answer, Egress, MAX_RESPONSE_HEADERS, Outgoing, RESPONSE_HEADER_BYTES, Sender, SenderError,
};
pub use ssrf::{AllowlistError, Blocked, Destinations};
pub use worker::{Worker, WorkerSettings};

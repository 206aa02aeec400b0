//! The delivery engine. So far: the guard that decides which addresses a
//! delivery may connect to, the `Sender` that makes one POST and reports
//! how it went as data, the retry schedule, and response excerpts. The worker (claim → deliver → record) builds on
//! it: it resolves a webhook's host, vets every address with
//! [`Destinations::check`], and connects to the vetted address itself, so a
//! DNS answer that changes between check and connect cannot slip through.

mod excerpt;
mod retry;
mod sender;
mod ssrf;

pub use excerpt::{EXCERPT_BYTES, excerpt};
pub use retry::{RETRY_AFTER_MAX, RETRY_AFTER_MIN, next_delay, parse_retry_after};
pub use sender::{Answer, Outgoing, Sender, SenderError};
pub use ssrf::{AllowlistError, Blocked, Destinations};

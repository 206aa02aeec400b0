//! The delivery engine. So far: the guard that decides which addresses a
//! delivery may connect to. The worker (claim → deliver → record) builds on
//! it: it resolves a webhook's host, vets every address with
//! [`Destinations::check`], and connects to the vetted address itself, so a
//! DNS answer that changes between check and connect cannot slip through.

mod ssrf;

pub use ssrf::{AllowlistError, Blocked, Destinations};

//! Verify and sign Selki webhook deliveries, and get typed events.
//!
//! Selki signs every delivery with the [Standard Webhooks] v1 scheme:
//! `v1,` + base64(HMAC-SHA256(key, "{event id}.{unix seconds}.{raw body}")).
//! [`Webhook::verify`] checks the signature and the timestamp's freshness,
//! and only then parses the body into an [`Event`].
//!
//! ```
//! use selki_webhooks::{EventData, Webhook};
//!
//! let wh = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let body = br#"{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_CLICKED","data":{"campaignId":"abc123","email":"user@example.com"}}"#;
//! let now = 1_754_560_902;
//! let headers = [
//!     ("webhook-id", "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST".to_owned()),
//!     ("webhook-timestamp", now.to_string()),
//!     ("webhook-signature", wh.sign("evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST", now, body)),
//! ];
//!
//! let event = wh.verify_at(body, &headers, now)?;
//! match event.data {
//!     EventData::PhishingEmailClicked(click) => assert_eq!(click.email, "user@example.com"),
//!     other => panic!("unexpected {}", other.subscription()),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate does no IO. It reads the clock only inside [`Webhook::verify`]
//! (the system clock natively, `Date.now()` on `wasm32-unknown-unknown`).
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

mod base64;
mod clock;
mod event;
mod headers;
mod secret;
mod signature;
mod verify;

pub use event::{
    DeliveryExhausted, DisableReason, Event, EventData, EventError, EventType, NewThreat,
    PhishingEmail, PhishingEmailError, RiskLevel, ThreatCategory, UnknownEvent, UnknownEventType,
    WebhookDisabled, WebhookFailing, WebhookRecovered,
};
pub use headers::{DeliveryHeaders, HeaderSource, VERIFY_HEADER_NAMES, name};
pub use secret::{MAX_SECRET_BYTES, MIN_SECRET_BYTES, SECRET_PREFIX, Secret, SecretError};
pub use time::OffsetDateTime;
pub use verify::{DEFAULT_TOLERANCE, VerifyError, Webhook};

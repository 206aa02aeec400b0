//! Checking that a delivery is genuine and fresh, then parsing it.

use std::time::Duration;

use crate::event::{Event, EventError};
use crate::headers::{HEADER_SETS, HeaderSet, HeaderSource};
use crate::secret::{Secret, SecretError};
use crate::{clock, signature};

/// How far a delivery's timestamp may be from now, either way, by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// A verifier (and signer) for one webhook's secret.
#[derive(Clone)]
pub struct Webhook {
    key: signature::Keyed,
    tolerance_secs: i64,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("secret", &"<redacted>")
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// Why a delivery was refused. Each kind has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("missing header `{name}` (send either the webhook-* or the Selki-* header set)")]
    MissingHeader { name: &'static str },
    #[error("the timestamp header is not a whole number of Unix seconds")]
    InvalidTimestamp,
    #[error(
        "the timestamp is {age_secs} s in the past, beyond the tolerance: a stale or replayed delivery, or a wrong clock"
    )]
    TimestampTooOld { age_secs: i64 },
    #[error(
        "the timestamp is {ahead_secs} s in the future, beyond the tolerance: check the receiver's clock"
    )]
    TimestampTooNew { ahead_secs: i64 },
    #[error("the signature header has no `v1,` entry")]
    NoSupportedSignature,
    #[error("a `v1,` signature entry is empty")]
    EmptySignature,
    #[error("a `v1,` signature entry is not valid base64")]
    InvalidSignatureEncoding,
    #[error("a `v1,` signature entry decodes to {len} bytes; HMAC-SHA256 gives 32")]
    InvalidSignatureLength { len: usize },
    #[error(
        "no signature matches: check the secret, and verify the raw body bytes as received, not a re-serialised JSON object"
    )]
    SignatureMismatch,
    #[error("the body is empty: read the raw body before any JSON body parser consumes it")]
    EmptyBody,
    #[error("the signature is valid but the body is not JSON: {0}")]
    InvalidJson(String),
    #[error("the signature is valid but the body is not a Selki event: {0}")]
    InvalidEvent(String),
}

impl VerifyError {
    /// A stable, machine-readable code, the same in Rust and JavaScript.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader { .. } => "MISSING_HEADER",
            Self::InvalidTimestamp => "INVALID_TIMESTAMP",
            Self::TimestampTooOld { .. } => "TIMESTAMP_TOO_OLD",
            Self::TimestampTooNew { .. } => "TIMESTAMP_TOO_NEW",
            Self::NoSupportedSignature => "NO_SUPPORTED_SIGNATURE",
            Self::EmptySignature => "EMPTY_SIGNATURE",
            Self::InvalidSignatureEncoding => "INVALID_SIGNATURE_ENCODING",
            Self::InvalidSignatureLength { .. } => "INVALID_SIGNATURE_LENGTH",
            Self::SignatureMismatch => "SIGNATURE_MISMATCH",
            Self::EmptyBody => "EMPTY_BODY",
            Self::InvalidJson(_) => "INVALID_JSON",
            Self::InvalidEvent(_) => "INVALID_EVENT",
        }
    }
}

impl From<EventError> for VerifyError {
    fn from(err: EventError) -> Self {
        match err {
            EventError::NotJson(msg) => Self::InvalidJson(msg),
            EventError::Shape(msg) | EventError::Unwritable(msg) => Self::InvalidEvent(msg),
        }
    }
}

/// The three header values of the set the sender used.
struct Received<'h> {
    id: &'h str,
    timestamp: &'h str,
    signature: &'h str,
}

impl Webhook {
    /// A verifier for a `whsec_…` secret.
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        Secret::parse(secret).map(Self::from_secret)
    }

    /// A verifier for an already parsed secret.
    pub fn from_secret(secret: Secret) -> Self {
        Self {
            key: signature::Keyed::new(secret.key()),
            tolerance_secs: DEFAULT_TOLERANCE.as_secs() as i64,
        }
    }

    /// Accept timestamps up to `tolerance` away from now, in either direction.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance_secs = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// One `v1,<base64>` signature entry for a message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        signature::encode(&signature::tag(&self.key, msg_id, timestamp, body))
    }

    /// Verifies a delivery against the system clock, then parses it.
    pub fn verify<H: HeaderSource + ?Sized>(
        &self,
        body: &[u8],
        headers: &H,
    ) -> Result<Event, VerifyError> {
        self.verify_at(body, headers, clock::now_unix())
    }

    /// Verifies a delivery as of `now` (Unix seconds), then parses it.
    pub fn verify_at<H: HeaderSource + ?Sized>(
        &self,
        body: &[u8],
        headers: &H,
        now: i64,
    ) -> Result<Event, VerifyError> {
        self.check(body, headers, Some(now))?;
        Ok(Event::from_json(body)?)
    }

    /// Verifies the signature only, for replaying stored deliveries whose
    /// timestamps are old on purpose. Do not use it on live traffic: the
    /// timestamp check is what stops replays.
    pub fn verify_ignoring_timestamp<H: HeaderSource + ?Sized>(
        &self,
        body: &[u8],
        headers: &H,
    ) -> Result<Event, VerifyError> {
        self.check(body, headers, None)?;
        Ok(Event::from_json(body)?)
    }

    fn check<H: HeaderSource + ?Sized>(
        &self,
        body: &[u8],
        headers: &H,
        now: Option<i64>,
    ) -> Result<(), VerifyError> {
        let received = read_headers(headers)?;
        let timestamp = parse_timestamp(received.timestamp)?;
        if let Some(now) = now {
            self.check_freshness(timestamp, now)?;
        }
        if body.is_empty() {
            return Err(VerifyError::EmptyBody);
        }
        let expected = signature::tag(&self.key, received.id, timestamp, body);
        signature::check_list(received.signature, &expected)
    }

    fn check_freshness(&self, timestamp: i64, now: i64) -> Result<(), VerifyError> {
        let age_secs = now.saturating_sub(timestamp);
        if age_secs > self.tolerance_secs {
            return Err(VerifyError::TimestampTooOld { age_secs });
        }
        if age_secs < -self.tolerance_secs {
            return Err(VerifyError::TimestampTooNew {
                ahead_secs: timestamp.saturating_sub(now),
            });
        }
        Ok(())
    }
}

fn read_headers<H: HeaderSource + ?Sized>(headers: &H) -> Result<Received<'_>, VerifyError> {
    let (set, id) = HEADER_SETS
        .iter()
        .find_map(|set| headers.header(set.id).map(|id| (set, id)))
        .ok_or(VerifyError::MissingHeader {
            name: HEADER_SETS[0].id,
        })?;
    let HeaderSet {
        timestamp,
        signature,
        ..
    } = *set;
    let missing = |name| VerifyError::MissingHeader { name };
    Ok(Received {
        id,
        timestamp: headers.header(timestamp).ok_or(missing(timestamp))?,
        signature: headers.header(signature).ok_or(missing(signature))?,
    })
}

/// Decimal digits only: no sign, no spaces, no fraction.
fn parse_timestamp(value: &str) -> Result<i64, VerifyError> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    value.parse().map_err(|_| VerifyError::InvalidTimestamp)
}

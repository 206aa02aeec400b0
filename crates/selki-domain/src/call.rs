//! One HTTP attempt, and how it went: data, not an error.

use std::time::Duration;

use selki_webhooks::EventType;

use crate::{CallId, DeliveryId, EventId, OrganizationId, UnixMs, WebhookId};

/// Why a call was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTrigger {
    Automatic,
    Manual,
    Test,
    /// A delivery sent again by a replay, first try or retry.
    Replay,
}

/// How a call ended. Only `Success` counts as delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Success,
    HttpStatus,
    Timeout,
    ConnectError,
    DnsError,
    TlsError,
    BlockedDestination,
    InvalidResponse,
    /// Not sent: the webhook's signing secret cannot be opened.
    SigningUnavailable,
}

crate::names!(CallTrigger {
    Automatic => "automatic",
    Manual => "manual",
    Test => "test",
    Replay => "replay",
});
crate::names!(CallOutcome {
    Success => "success",
    HttpStatus => "http_status",
    Timeout => "timeout",
    ConnectError => "connect_error",
    DnsError => "dns_error",
    TlsError => "tls_error",
    BlockedDestination => "blocked_destination",
    InvalidResponse => "invalid_response",
    SigningUnavailable => "signing_unavailable",
});

/// One HTTP attempt, as shown in Recent Calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub id: CallId,
    /// `None` for test calls, which deliver no stored event.
    pub delivery_id: Option<DeliveryId>,
    pub webhook_id: WebhookId,
    pub organization: OrganizationId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub attempt: u32,
    pub trigger: CallTrigger,
    pub outcome: CallOutcome,
    pub http_status: Option<u16>,
    pub url: String,
    pub started_at: UnixMs,
    /// Connect to last byte read (whole milliseconds are stored).
    pub duration: Duration,
    pub error_message: Option<String>,
    pub response_excerpt: Option<String>,
    /// The W3C trace id of the delivery's trace, when it has one.
    pub trace_id: Option<String>,
    /// The request as sent and the response's headers: recorded with every
    /// call, read back only for one call (listings leave it out).
    pub capture: Option<Box<CallCapture>>,
}

/// What a call sent and what headers came back, to reproduce it by hand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallCapture {
    /// The request as sent; `None` when nothing was sent.
    pub request: Option<SentRequest>,
    /// The response's headers (bounded by the sender; text made safe).
    pub response_headers: Vec<(String, String)>,
    /// The body. Written only for a test call (every other call's is its
    /// event's, stored once); read back for every call, from its event.
    pub body: Option<String>,
}

/// The request a call sent, kept as what cannot be made again from the
/// call itself: the wire format's headers follow from the call's ids, the
/// signing time and the signature, so each call stores ~100 bytes rather
/// than every header twice over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentRequest {
    /// The signing time, Unix seconds (`webhook-timestamp`).
    pub timestamp: i64,
    /// The signature header's value, when signed.
    pub signature: Option<String>,
    pub user_agent: String,
    /// The webhook's own headers as sent, in order: `(name, value,
    /// sensitive)`, a sensitive value already [`crate::MASK`].
    pub custom: Vec<(String, String, bool)>,
    /// The body's length in bytes.
    pub content_length: usize,
}

impl SentRequest {
    /// Every header `call` sent, in the order sent: `(name, value,
    /// sensitive)`.
    pub fn headers(&self, call: &CallRecord) -> Vec<(String, String, bool)> {
        let webhook_id = call.webhook_id.to_string();
        let call_id = call.id.to_string();
        let event_id = call.event_id.to_string();
        let wire = selki_webhooks::DeliveryHeaders {
            webhook_id: &webhook_id,
            call_id: &call_id,
            event_id: &event_id,
            timestamp: self.timestamp,
            signature: self.signature.as_deref(),
        };
        let plain = |(name, value): (&str, String)| (name.to_owned(), value, false);
        wire.to_pairs()
            .into_iter()
            .map(plain)
            .chain(self.custom.iter().cloned())
            .chain([
                plain(("user-agent", self.user_agent.clone())),
                plain(("content-length", self.content_length.to_string())),
            ])
            .collect()
    }
}

impl CallRecord {
    pub fn succeeded(&self) -> bool {
        self.outcome == CallOutcome::Success
    }

    /// The call without its capture, as listings and streams show it
    /// (copying the capture would be wasted work).
    #[must_use]
    pub fn summary(&self) -> Self {
        Self {
            id: self.id,
            delivery_id: self.delivery_id,
            webhook_id: self.webhook_id,
            organization: self.organization.clone(),
            event_id: self.event_id,
            event_type: self.event_type,
            attempt: self.attempt,
            trigger: self.trigger,
            outcome: self.outcome,
            http_status: self.http_status,
            url: self.url.clone(),
            started_at: self.started_at,
            duration: self.duration,
            error_message: self.error_message.clone(),
            response_excerpt: self.response_excerpt.clone(),
            trace_id: self.trace_id.clone(),
            capture: None,
        }
    }

    /// The same call with what the receiver controls (its response and
    /// the error text built from it) replaced by a note: what is stored
    /// when the database refused the call as it was.
    #[must_use]
    pub fn without_receiver_text(&self) -> Self {
        Self {
            response_excerpt: self
                .response_excerpt
                .as_ref()
                .map(|_| "[the response excerpt could not be stored]".to_owned()),
            error_message: self
                .error_message
                .as_ref()
                .map(|_| "[the error message could not be stored]".to_owned()),
            capture: self.capture.as_ref().map(|c| {
                Box::new(CallCapture {
                    response_headers: Vec::new(),
                    ..(**c).clone()
                })
            }),
            ..self.clone()
        }
    }
}

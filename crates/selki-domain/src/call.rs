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
    /// Every request header sent, in order: `(name, value, sensitive)`;
    /// a sensitive custom header's value is already [`crate::MASK`].
    pub request_headers: Vec<(String, String, bool)>,
    /// The response's headers (bounded by the sender; text made safe).
    pub response_headers: Vec<(String, String)>,
    /// The body. Written only for a test call (every other call's body is
    /// its event's, stored once); read back for every call, from its event.
    pub body: Option<String>,
}

impl CallRecord {
    pub fn succeeded(&self) -> bool {
        self.outcome == CallOutcome::Success
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

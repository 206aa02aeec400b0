//! The delivery vocabulary shared by the store, the worker and the API:
//! where a webhook's deliveries go ([`Target`]), a delivery a worker holds
//! ([`Claimed`]), what becomes of it ([`Next`], [`DeliveryStatus`]), and
//! when a failing webhook is given up on ([`Health`]).

use std::sync::Arc;
use std::time::Duration;

use selki_webhooks::{EventType, Webhook};

use crate::{
    CallRecord, Credential, CustomHeaders, DeliveryId, DeliveryLimits, Destination, EndpointUrl,
    EventId, OrganizationId, RetryPolicy, UnixMs, WebhookId,
};

/// Where a delivery stands. The database stores [`DeliveryStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt (or being attempted: leased).
    Pending,
    Succeeded,
    /// Out of attempts (or 410 Gone): kept, recoverable.
    Failed,
    /// Its webhook was disabled: kept, recoverable, never sent.
    Skipped,
    /// Its webhook was deleted.
    Cancelled,
}

crate::names!(DeliveryStatus {
    Pending => "pending",
    Succeeded => "succeeded",
    Failed => "failed",
    Skipped => "skipped",
    Cancelled => "cancelled",
});

impl DeliveryStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Succeeded,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
    ];
}

/// One claim's lease: `worker/ulid`, new for every claim. A result is
/// recorded only while its claim still holds the lease, so a worker that
/// lost it cannot undo another's progress; the worker's name comes first
/// so that a dead worker's claims can all be released at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(String);

impl LeaseToken {
    pub fn new(worker: &str, now: UnixMs) -> Self {
        Self(format!("{worker}/{}", crate::CallId::at(now)))
    }

    /// A token read back from the database.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// What every token of `worker` starts with.
    pub fn prefix_of(worker: &str) -> String {
        format!("{worker}/")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A value sealed at rest that this server's keys do not open: its key is
/// not configured, or the value was tampered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {what} of webhook {webhook} cannot be opened: it was sealed with key `{key_id}`, which this server does not have"
)]
pub struct Unopenable {
    pub webhook: String,
    /// What is sealed: "signing secret", "custom headers".
    pub what: &'static str,
    pub key_id: String,
}

/// Where and how a webhook's deliveries are sent, as stored right now.
#[derive(Debug)]
pub struct Target {
    pub webhook_id: WebhookId,
    pub url: EndpointUrl,
    pub retry: RetryPolicy,
    /// The webhook's own attempt timeout, if it set one.
    pub timeout: Option<Duration>,
    pub enabled: bool,
    /// The body's form: the Selki envelope, or a service's message.
    pub destination: Destination,
    /// How fast and how many at once, across every worker.
    pub limits: DeliveryLimits,
    /// What the webhook keeps sealed at rest, opened; `Err` when this
    /// server's keys do not open it. Then nothing is sent: the call is
    /// recorded as failed (signing unavailable) and retried, and other
    /// webhooks are not affected.
    pub sealed: Result<Opened, Unopenable>,
}

/// A webhook's sealed settings, opened.
#[derive(Debug, Default)]
pub struct Opened {
    /// Keyed once per claim, not per call: the current secret, then a
    /// rotated-out one still in its grace period. Empty: unsigned.
    pub signers: Vec<Webhook>,
    pub headers: CustomHeaders,
    /// The destination's routing key or token, when its format takes one.
    pub credential: Option<Credential>,
}

/// The webhook a claimed delivery goes to, as it is when claimed.
#[derive(Debug, Clone)]
pub enum TargetState {
    Live(Arc<Target>),
    /// Deleted since the delivery was made: nothing to send to.
    Deleted,
}

impl TargetState {
    /// The target, if there is one to send to now.
    pub fn sendable(&self) -> Option<&Arc<Target>> {
        match self {
            Self::Live(target) if target.enabled => Some(target),
            _ => None,
        }
    }
}

/// A stored delivery's next attempt, with what it needs to be sent.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub webhook_id: WebhookId,
    pub organization: OrganizationId,
    /// This attempt's number, from 1, counting every call ever made for
    /// it: a recovered or replayed delivery goes on from where it was.
    pub attempt: u32,
    /// This attempt's number within its current round of retries (from 1):
    /// what the retry policy counts. A recovery or replay starts a round.
    pub round_attempt: u32,
    /// Why this round's calls are made: automatic, or a replay.
    pub trigger: crate::CallTrigger,
    /// Exactly the JSON to POST.
    pub body: String,
    /// The trace its event belongs to, if it has one.
    pub traceparent: Option<crate::TraceParent>,
    /// The claim's lease; `None` for a delivery made again by hand, which
    /// no worker holds.
    pub lease: Option<LeaseToken>,
    /// The webhook as it is now: checked before every attempt.
    pub target: TargetState,
    /// How long after its claim the call may start: the webhook's next
    /// slot under its rate limit (zero without one).
    pub pace: Duration,
}

/// What becomes of a claimed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Try again at this time.
    RetryAt(UnixMs),
    /// Out of attempts: failed, recoverable.
    Failed,
    /// The webhook was disabled or deleted: kept, recoverable, not sent.
    Skipped,
    /// Not attempted: back in the queue as it was (e.g. it waited so long
    /// for its webhook that its lease could run out during the call).
    Released,
}

impl Next {
    /// The status it leaves the delivery in.
    pub fn status(self) -> DeliveryStatus {
        match self {
            Self::Succeeded => DeliveryStatus::Succeeded,
            Self::RetryAt(_) | Self::Released => DeliveryStatus::Pending,
            Self::Failed => DeliveryStatus::Failed,
            Self::Skipped => DeliveryStatus::Skipped,
        }
    }

    /// Whether the claimed attempt counts as made.
    pub fn attempted(self) -> bool {
        !matches!(self, Self::Skipped | Self::Released)
    }
}

/// A claimed delivery's attempt (or non-attempt) to record.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub claimed: Claimed,
    /// The HTTP call made, if one was.
    pub call: Option<CallRecord>,
    pub next: Next,
}

/// When the worker gives up on a webhook by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Disable after failing without a success for this long…
    pub disable_after: Duration,
    /// …and at least this many failed calls in a row.
    pub disable_min_failures: u32,
    /// Raise WEBHOOK_FAILING once a streak reaches this many failed calls.
    pub failing_alert_after: u32,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            disable_after: Duration::from_secs(5 * 24 * 3600),
            disable_min_failures: 10,
            failing_alert_after: 5,
        }
    }
}

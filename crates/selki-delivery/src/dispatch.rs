//! One signed call of one delivery, made and described: the worker's
//! automatic attempts, manual redeliveries and test events all go through
//! here, so they are signed, sent and counted alike.

use std::sync::Arc;
use std::time::Duration;

use selki_domain::{
    CallCapture, CallId, CallOutcome, CallRecord, CallTrigger, Claimed, Clock, DeliveryId, EventId,
    MASK, Opened, OrganizationId, SentRequest, Target, TraceParent, UnixMs,
};
use selki_webhooks::{DeliveryHeaders, EventType};
use tracing::Instrument as _;

use crate::{Answer, Metrics, Outgoing, Sender, format};

/// Bounds on a webhook's own attempt timeout.
pub const TIMEOUT_MIN: Duration = Duration::from_secs(1);
pub const TIMEOUT_MAX: Duration = Duration::from_secs(60);

/// Signs and sends.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    sender: Sender,
    clock: Arc<dyn Clock>,
    /// Per attempt, connect to last byte, when the webhook sets none.
    default_timeout: Duration,
    /// A webhook's own timeout is cut to this (it must stay within a lease).
    max_timeout: Duration,
    metrics: Metrics,
}

/// What to deliver, to whom, and why.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub target: &'a Target,
    pub organization: &'a OrganizationId,
    pub delivery_id: Option<DeliveryId>,
    pub event_id: EventId,
    pub event_type: EventType,
    pub body: &'a str,
    pub attempt: u32,
    pub trigger: CallTrigger,
    /// The event's trace, which the call's span joins.
    pub traceparent: Option<&'a TraceParent>,
}

impl<'a> Delivery<'a> {
    /// The next attempt of a stored delivery, to its webhook as it is now.
    pub fn of(claimed: &'a Claimed, target: &'a Target, trigger: CallTrigger) -> Self {
        Self {
            target,
            organization: &claimed.organization,
            delivery_id: Some(claimed.delivery_id),
            event_id: claimed.event_id,
            event_type: claimed.event_type,
            body: &claimed.body,
            attempt: claimed.attempt,
            trigger,
            traceparent: claimed.traceparent.as_ref(),
        }
    }
}

impl Dispatcher {
    pub fn new(
        sender: Sender,
        clock: Arc<dyn Clock>,
        default_timeout: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            sender,
            clock,
            default_timeout,
            max_timeout: TIMEOUT_MAX,
            metrics,
        }
    }

    /// Caps every webhook's own timeout (at most [`TIMEOUT_MAX`]).
    pub fn with_max_timeout(mut self, max: Duration) -> Self {
        self.max_timeout = max.clamp(TIMEOUT_MIN, TIMEOUT_MAX);
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn now(&self) -> UnixMs {
        self.clock.now()
    }

    /// How long a call to `target` may take, connect to last byte.
    pub fn timeout_of(&self, target: &Target) -> Duration {
        target.timeout.map_or(self.default_timeout, |t| {
            t.clamp(TIMEOUT_MIN, self.max_timeout)
        })
    }

    /// Makes the call, freshly signed with this attempt's time and id, in
    /// a span of the event's trace. Never fails: how it went is in the
    /// record (with the request as sent) and the answer.
    pub async fn call(&self, d: Delivery<'_>) -> (CallRecord, Answer) {
        let started_at = self.clock.now();
        let call_id = CallId::at(started_at);
        let span = tracing::info_span!(
            "webhook call",
            otel.kind = "client",
            call = %call_id,
            webhook = %d.target.webhook_id,
            event = %d.event_id,
            attempt = d.attempt,
            http.response.status_code = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        crate::trace::join(&span, d.traceparent);
        let mut sent = None;
        // A body of the call's own, unlike the event's: a test call's, or
        // a destination format's (its credential masked).
        let mut own_body = (d.trigger == CallTrigger::Test).then(|| d.body.to_owned());
        let mut answer = match &d.target.sealed {
            // Unsigned or without its headers would be a different request:
            // nothing is sent, and the failure says which key is missing.
            Err(unopenable) => {
                Answer::not_sent(CallOutcome::SigningUnavailable, unopenable.to_string())
            }
            Ok(opened) => {
                let rendered = format::render(
                    &d.target.destination,
                    opened.credential.as_ref(),
                    format::Message {
                        event_id: d.event_id,
                        body: d.body,
                    },
                );
                let body = rendered.as_ref().map_or(d.body, |r| r.body.as_str());
                let mut headers = self.headers(&d, opened, call_id, started_at.as_secs(), body);
                let mut request = self.as_sent(&headers, opened, started_at.as_secs(), body);
                if let Some(rendered) = &rendered {
                    // The destination's own headers carry its credential.
                    headers.extend(rendered.headers.iter().cloned());
                    request.custom.extend(
                        rendered
                            .headers
                            .iter()
                            .map(|(name, _)| (name.clone(), MASK.to_owned(), true)),
                    );
                    own_body = Some(rendered.kept.clone());
                }
                sent = Some(request);
                self.sender
                    .send(Outgoing {
                        url: d.target.url.as_url(),
                        organization: d.organization,
                        headers: &headers,
                        body: body.to_owned(),
                        timeout: self.timeout_of(d.target),
                    })
                    .instrument(span.clone())
                    .await
            }
        };
        if let Some(status) = answer.http_status {
            span.record("http.response.status_code", status);
        }
        span.record("outcome", answer.outcome.as_str());
        self.metrics.observe(&answer);
        let record = CallRecord {
            id: call_id,
            delivery_id: d.delivery_id,
            webhook_id: d.target.webhook_id,
            organization: d.organization.clone(),
            event_id: d.event_id,
            event_type: d.event_type,
            attempt: d.attempt,
            trigger: d.trigger,
            outcome: answer.outcome,
            http_status: answer.http_status,
            url: d.target.url.as_str().to_owned(),
            started_at,
            duration: answer.duration,
            error_message: answer.error.clone(),
            response_excerpt: answer.excerpt.clone(),
            trace_id: d.traceparent.map(|t| t.trace_id().to_owned()),
            capture: Some(Box::new(CallCapture {
                request: sent,
                // Kept with the call only: nothing else reads them.
                response_headers: std::mem::take(&mut answer.headers),
                // Every other call's body is its event's, stored once.
                body: own_body,
            })),
        };
        (record, answer)
    }

    /// The request as a call keeps it: what the call's ids do not say
    /// again (the signing time and signature, the webhook's own headers
    /// with sensitive values masked, the two the HTTP client adds).
    fn as_sent(
        &self,
        headers: &[(String, String)],
        opened: &Opened,
        timestamp: i64,
        body: &str,
    ) -> SentRequest {
        let custom = opened
            .headers
            .headers()
            .map(|h| {
                let value = match h.is_sensitive() {
                    true => MASK.to_owned(),
                    false => h.value().to_owned(),
                };
                (h.name().to_owned(), value, h.is_sensitive())
            })
            .collect();
        let signature = headers
            .iter()
            .find(|(name, _)| name == selki_webhooks::name::WEBHOOK_SIGNATURE)
            .map(|(_, value)| value.clone());
        SentRequest {
            timestamp,
            signature,
            user_agent: self.sender.user_agent().to_owned(),
            custom,
            content_length: body.len(),
        }
    }

    /// The wire format's headers, then the webhook's own.
    fn headers(
        &self,
        d: &Delivery<'_>,
        opened: &Opened,
        call_id: CallId,
        timestamp: i64,
        body: &str,
    ) -> Vec<(String, String)> {
        let event_id = d.event_id.to_string();
        // Every live secret signs: during a rotation receivers holding
        // either secret verify.
        let signature = (!opened.signers.is_empty()).then(|| {
            opened
                .signers
                .iter()
                .map(|signer| signer.sign(&event_id, timestamp, body.as_bytes()))
                .collect::<Vec<_>>()
                .join(" ")
        });
        let webhook_id = d.target.webhook_id.to_string();
        let call_id = call_id.to_string();
        let wire = DeliveryHeaders {
            webhook_id: &webhook_id,
            call_id: &call_id,
            event_id: &event_id,
            timestamp,
            signature: signature.as_deref(),
        };
        wire.to_pairs()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .chain(
                opened
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned())),
            )
            .collect()
    }
}

//! The requests of Recent Calls, the Overview, manual calls and recovery,
//! and calls and statistics as the API shows them.

use std::time::Duration;

use selki_domain::{
    CallId, CallOutcome, CallRecord, CallTrigger, DeliveryId, EventId, OrganizationId, UnixMs,
    WebhookId,
};
use selki_proto::v1 as pb;
use selki_storage::{CallFilter, StatusFilter, WebhookStats};
use selki_webhooks::EventType;

use super::{
    PageRequest, duration_in, duration_to_proto, event_type_to_proto, optional_event_type,
    requested_organization, time, timestamp_to_proto,
};
use crate::error::Violations;

const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);
const MAX_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
const DEFAULT_RECOVER: u32 = 1000;
const MAX_RECOVER: u32 = 10_000;

#[derive(Debug)]
pub(crate) struct ListCalls {
    pub(crate) webhook: WebhookId,
    pub(crate) filter: CallFilter,
    pub(crate) page: PageRequest<CallId>,
}

/// Get and Redeliver: one call by id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallRef {
    pub(crate) id: CallId,
}

/// `GetWebhookStats`: the Overview's numbers over a window up to now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatsRequest {
    pub(crate) webhook: WebhookId,
    pub(crate) window: Duration,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RecoverFailed {
    pub(crate) webhook: WebhookId,
    /// Deliveries of events since then…
    pub(crate) since: UnixMs,
    /// …and before then, when set.
    pub(crate) until: Option<UnixMs>,
    pub(crate) limit: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct SendTestEvent {
    pub(crate) webhook: WebhookId,
    /// `None`: the webhook's first subscribed type.
    pub(crate) event_type: Option<EventType>,
}

#[derive(Debug)]
pub(crate) struct WatchCalls {
    pub(crate) target: WatchTarget,
}

/// Whose calls a stream follows.
#[derive(Debug)]
pub(crate) enum WatchTarget {
    /// Every webhook of an organization (`None`: the caller's own).
    Organization(Option<OrganizationId>),
    Webhook(WebhookId),
}

impl TryFrom<&pb::ListCallsRequest> for ListCalls {
    type Error = Violations;

    fn try_from(r: &pb::ListCallsRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let page = PageRequest::parse(r.page_size, &r.page_token, CallId::parse, &mut v);
        let filter = call_filter(r, &mut v);
        v.build(|| {
            Some(Self {
                webhook: webhook?,
                filter: filter?,
                page: page?,
            })
        })
    }
}

impl TryFrom<&pb::GetCallRequest> for CallRef {
    type Error = Violations;

    fn try_from(r: &pb::GetCallRequest) -> Result<Self, Violations> {
        call_ref(&r.id)
    }
}

impl TryFrom<&pb::RedeliverCallRequest> for CallRef {
    type Error = Violations;

    fn try_from(r: &pb::RedeliverCallRequest) -> Result<Self, Violations> {
        call_ref(&r.id)
    }
}

fn call_ref(id: &str) -> Result<CallRef, Violations> {
    let mut v = Violations::default();
    let id = v.check("id", CallId::parse(id));
    v.build(|| Some(CallRef { id: id? }))
}

impl TryFrom<&pb::GetWebhookStatsRequest> for StatsRequest {
    type Error = Violations;

    fn try_from(r: &pb::GetWebhookStatsRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let window = v.check(
            "window",
            r.window.as_ref().map_or(Ok(DEFAULT_WINDOW), |w| {
                duration_in(
                    w,
                    Duration::from_secs(60)..=MAX_WINDOW,
                    "must be 1 minute to 30 days (or unset for 24 hours)",
                )
            }),
        );
        v.build(|| {
            Some(Self {
                webhook: webhook?,
                window: window?,
            })
        })
    }
}

impl TryFrom<&pb::RecoverFailedRequest> for RecoverFailed {
    type Error = Violations;

    fn try_from(r: &pb::RecoverFailedRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let since = match &r.since {
            Some(t) => v.check("since", time(t)),
            None => {
                v.add(
                    "since",
                    "is required: recover deliveries of events since when?",
                );
                None
            }
        };
        let until = v.check_opt("until", r.until.as_ref().map(time));
        if let (Some(since), Some(Some(until))) = (since, until)
            && until <= since
        {
            v.add("until", "must be after since");
        }
        let limit = v.check(
            "limit",
            match r.limit {
                0 => Ok(DEFAULT_RECOVER),
                n @ 1.. if n.cast_unsigned() <= MAX_RECOVER => Ok(n.cast_unsigned()),
                _ => Err(format!(
                    "must be 1 to {MAX_RECOVER} (or unset for {DEFAULT_RECOVER})"
                )),
            },
        );
        v.build(|| {
            Some(Self {
                webhook: webhook?,
                since: since?,
                until: until?,
                limit: limit?,
            })
        })
    }
}

impl TryFrom<&pb::SendTestEventRequest> for SendTestEvent {
    type Error = Violations;

    fn try_from(r: &pb::SendTestEventRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let event_type = v.check_opt("event_type", optional_event_type(r.event_type));
        v.build(|| {
            Some(Self {
                webhook: webhook?,
                event_type: event_type?,
            })
        })
    }
}

impl TryFrom<&pb::WatchCallsRequest> for WatchCalls {
    type Error = Violations;

    /// A webhook id, when given, wins over the organization.
    fn try_from(r: &pb::WatchCallsRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let target = if r.webhook_id.is_empty() {
            v.check(
                "organization_id",
                requested_organization(&r.organization_id),
            )
            .map(WatchTarget::Organization)
        } else {
            v.check("webhook_id", WebhookId::parse(&r.webhook_id))
                .map(WatchTarget::Webhook)
        };
        v.build(|| Some(Self { target: target? }))
    }
}

fn call_filter(r: &pb::ListCallsRequest, v: &mut Violations) -> Option<CallFilter> {
    let outcome = v.check_opt("outcome", (r.outcome != 0).then(|| outcome(r.outcome)));
    let succeeded = v.check(
        "status",
        match pb::CallStatus::try_from(r.status) {
            Ok(pb::CallStatus::Unspecified) => Ok(None),
            Ok(pb::CallStatus::Succeeded) => Ok(Some(true)),
            Ok(pb::CallStatus::Failed) => Ok(Some(false)),
            Err(_) => Err(format!("{} is not a known call status", r.status)),
        },
    );
    let event_type = v.check_opt("event_type", optional_event_type(r.event_type));
    let from = v.check_opt("start_time", r.start_time.as_ref().map(time));
    let until = v.check_opt("end_time", r.end_time.as_ref().map(time));
    if let (Some(Some(from)), Some(Some(until))) = (from, until)
        && until <= from
    {
        v.add("end_time", "must be after start_time");
        return None;
    }
    let event_id = v.check_opt(
        "event_id",
        (!r.event_id.is_empty()).then(|| EventId::parse(&r.event_id)),
    );
    let delivery_id = v.check_opt(
        "delivery_id",
        (!r.delivery_id.is_empty()).then(|| DeliveryId::parse(&r.delivery_id)),
    );
    let http_status = http_status(r, v);
    let trigger = v.check_opt("trigger", (r.trigger != 0).then(|| trigger(r.trigger)));
    Some(CallFilter {
        succeeded: succeeded?,
        outcome: outcome?,
        event_type: event_type?,
        from: from?,
        until: until?,
        event_id: event_id?,
        delivery_id: delivery_id?,
        http_status: http_status?,
        trigger: trigger?,
    })
}

/// An exact status or a class, not both.
fn http_status(r: &pb::ListCallsRequest, v: &mut Violations) -> Option<Option<StatusFilter>> {
    use pb::HttpStatusClass as C;
    let exact = match r.http_status {
        0 => Some(None),
        s @ 100..=599 => u16::try_from(s).ok().map(|s| Some(StatusFilter::Exact(s))),
        _ => {
            v.add("http_status", "must be 100 to 599 (or unset)");
            None
        }
    };
    let class = v.check_opt(
        "http_status_class",
        (r.http_status_class != 0).then(|| match C::try_from(r.http_status_class) {
            Ok(C::HttpStatusClass1xx) => Ok(StatusFilter::Class(1)),
            Ok(C::HttpStatusClass2xx) => Ok(StatusFilter::Class(2)),
            Ok(C::HttpStatusClass3xx) => Ok(StatusFilter::Class(3)),
            Ok(C::HttpStatusClass4xx) => Ok(StatusFilter::Class(4)),
            Ok(C::HttpStatusClass5xx) => Ok(StatusFilter::Class(5)),
            Ok(C::None) => Ok(StatusFilter::NoResponse),
            Ok(C::Unspecified) | Err(_) => Err(format!(
                "{} is not an HTTP status class",
                r.http_status_class
            )),
        }),
    );
    match (exact?, class?) {
        (Some(_), Some(_)) => {
            v.add(
                "http_status_class",
                "give http_status or http_status_class, not both",
            );
            None
        }
        (exact, class) => Some(exact.or(class)),
    }
}

fn trigger(value: i32) -> Result<CallTrigger, String> {
    match pb::CallTrigger::try_from(value) {
        Ok(pb::CallTrigger::Automatic) => Ok(CallTrigger::Automatic),
        Ok(pb::CallTrigger::Manual) => Ok(CallTrigger::Manual),
        Ok(pb::CallTrigger::Test) => Ok(CallTrigger::Test),
        Ok(pb::CallTrigger::Replay) => Ok(CallTrigger::Replay),
        Ok(pb::CallTrigger::Unspecified) | Err(_) => Err(format!("{value} is not a call trigger")),
    }
}

fn outcome(value: i32) -> Result<CallOutcome, String> {
    use pb::CallOutcome as P;
    Ok(match P::try_from(value) {
        Ok(P::Success) => CallOutcome::Success,
        Ok(P::HttpStatus) => CallOutcome::HttpStatus,
        Ok(P::Timeout) => CallOutcome::Timeout,
        Ok(P::ConnectError) => CallOutcome::ConnectError,
        Ok(P::DnsError) => CallOutcome::DnsError,
        Ok(P::TlsError) => CallOutcome::TlsError,
        Ok(P::BlockedDestination) => CallOutcome::BlockedDestination,
        Ok(P::InvalidResponse) => CallOutcome::InvalidResponse,
        Ok(P::SigningUnavailable) => CallOutcome::SigningUnavailable,
        Ok(P::Unspecified) | Err(_) => return Err(format!("{value} is not a known call outcome")),
    })
}

fn outcome_to_proto(outcome: CallOutcome) -> pb::CallOutcome {
    use pb::CallOutcome as P;
    match outcome {
        CallOutcome::Success => P::Success,
        CallOutcome::HttpStatus => P::HttpStatus,
        CallOutcome::Timeout => P::Timeout,
        CallOutcome::ConnectError => P::ConnectError,
        CallOutcome::DnsError => P::DnsError,
        CallOutcome::TlsError => P::TlsError,
        CallOutcome::BlockedDestination => P::BlockedDestination,
        CallOutcome::InvalidResponse => P::InvalidResponse,
        CallOutcome::SigningUnavailable => P::SigningUnavailable,
    }
}

fn trigger_to_proto(trigger: CallTrigger) -> pb::CallTrigger {
    match trigger {
        CallTrigger::Automatic => pb::CallTrigger::Automatic,
        CallTrigger::Manual => pb::CallTrigger::Manual,
        CallTrigger::Test => pb::CallTrigger::Test,
        CallTrigger::Replay => pb::CallTrigger::Replay,
    }
}

pub(crate) fn call_to_proto(c: &CallRecord) -> pb::Call {
    pb::Call {
        id: c.id.to_string(),
        webhook_id: c.webhook_id.to_string(),
        event_id: c.event_id.to_string(),
        event_type: event_type_to_proto(c.event_type) as i32,
        attempt: c.attempt,
        trigger: trigger_to_proto(c.trigger) as i32,
        outcome: outcome_to_proto(c.outcome) as i32,
        http_status: c.http_status.map_or(0, u32::from),
        start_time: Some(timestamp_to_proto(c.started_at)),
        // Whole milliseconds, as stored.
        duration: Some(duration_to_proto(Duration::from_millis(
            u64::try_from(c.duration.as_millis()).unwrap_or(u64::MAX),
        ))),
        error_message: c.error_message.clone().unwrap_or_default(),
        response_excerpt: c.response_excerpt.clone().unwrap_or_default(),
        url: c.url.clone(),
        delivery_id: c.delivery_id.map(|d| d.to_string()).unwrap_or_default(),
        trace_id: c.trace_id.clone().unwrap_or_default(),
        request: c.capture.as_ref().map(|capture| pb::CallRequest {
            method: "POST".to_owned(),
            url: c.url.clone(),
            headers: capture
                .request
                .iter()
                .flat_map(|sent| sent.headers(c))
                .map(|(name, value, sensitive)| pb::Header {
                    name,
                    value,
                    sensitive,
                })
                .collect(),
            body: capture
                .body
                .clone()
                .map(String::into_bytes)
                .unwrap_or_default(),
        }),
        response_headers: c
            .capture
            .iter()
            .flat_map(|capture| &capture.response_headers)
            .map(|(name, value)| pb::Header {
                name: name.clone(),
                value: value.clone(),
                sensitive: false,
            })
            .collect(),
    }
}

/// A call for a listing or a stream: without what it sent.
pub(crate) fn call_summary_to_proto(c: &CallRecord) -> pb::Call {
    pb::Call {
        request: None,
        response_headers: Vec::new(),
        ..call_to_proto(c)
    }
}

pub(crate) fn stats_to_proto(s: &WebhookStats) -> pb::WebhookStats {
    let shown = |v: Option<Duration>| v.map(duration_to_proto);
    #[allow(clippy::cast_precision_loss)]
    let success_rate = if s.total_calls == 0 {
        0.0
    } else {
        s.successful_calls as f64 / s.total_calls as f64
    };
    pb::WebhookStats {
        total_calls: s.total_calls,
        successful_calls: s.successful_calls,
        failed_calls: s.total_calls - s.successful_calls,
        success_rate,
        p50_duration: shown(s.p50),
        p95_duration: shown(s.p95),
        p99_duration: shown(s.p99),
        consecutive_failures: s.consecutive_failures,
        last_success_time: s.last_success.map(timestamp_to_proto),
        last_failure_time: s.last_failure.map(timestamp_to_proto),
        pending_deliveries: s.pending_deliveries,
        failed_deliveries: s.failed_deliveries,
        skipped_deliveries: s.skipped_deliveries,
        status_counts: s
            .by_status
            .iter()
            .map(|(status, calls)| pb::StatusCount {
                http_status: u32::from(*status),
                calls: *calls,
            })
            .collect(),
        series: s
            .series
            .iter()
            .map(|b| pb::StatsBucket {
                start_time: Some(timestamp_to_proto(b.start)),
                total_calls: b.total_calls,
                successful_calls: b.successful_calls,
                outcomes: b
                    .by_outcome
                    .iter()
                    .map(|(outcome, calls)| pb::OutcomeCount {
                        outcome: outcome_to_proto(*outcome) as i32,
                        calls: *calls,
                    })
                    .collect(),
                p50_duration: shown(b.p50),
                p95_duration: shown(b.p95),
                p99_duration: shown(b.p99),
            })
            .collect(),
        bucket_width: Some(duration_to_proto(s.bucket_width)),
    }
}

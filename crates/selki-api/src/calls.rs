//! Recent Calls and the Overview: listing and watching calls, statistics,
//! manual redelivery, recovery, and test events.

use std::pin::Pin;
use std::time::Duration;

use selki_delivery::Delivery;
use selki_domain::{CallId, CallOutcome, CallTrigger, EventId, WebhookId};
use selki_proto::v1 as pb;
use selki_storage::{CallFilter, CallRecord, Page, Scope, WebhookStats};
use selki_webhooks::{
    Event, EventData, EventType, NewThreat, PhishingEmail, PhishingEmailError, RiskLevel,
    ThreatCategory,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::Api;
use crate::convert::{
    duration, duration_to_proto, event_type, event_type_to_proto, page_size, page_token,
    parse_page_token, timestamp_ms, timestamp_to_proto,
};
use crate::error::{ApiError, Violations};
use crate::watch::{Hub, Wanted};

type Reply<T> = Result<Response<T>, Status>;
pub(crate) type CallStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchCallsResponse, Status>> + Send>>;

const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);
const MAX_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
const DEFAULT_RECOVER: u32 = 1000;
const MAX_RECOVER: u32 = 10_000;

fn parse_id<T, E: std::fmt::Display>(
    field: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ApiError> {
    parse(text).map_err(|e| ApiError::Invalid(vec![(field.to_owned(), e.to_string())]))
}

fn webhook_not_found(id: WebhookId) -> ApiError {
    ApiError::NotFound(format!("webhook {id} not found"))
}

impl Api {
    pub(crate) async fn list_calls_rpc(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Reply<pb::ListCallsResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let limit = v.check("page_size", page_size(r.page_size));
        let after = v.check("page_token", parse_page_token(&r.page_token, CallId::parse));
        let filter = call_filter(&r, &mut v);
        v.finish()?;
        let (Some(webhook), Some(limit), Some(after), Some(filter)) =
            (webhook, limit, after, filter)
        else {
            unreachable!("every field parsed when there are no violations")
        };
        let scope = principal.scope();
        self.existing_webhook(&scope, webhook).await?;
        let page = Page {
            after,
            limit: limit + 1,
        };
        let mut calls = self
            .store()
            .list_calls(&scope, webhook, filter, page)
            .await
            .map_err(ApiError::from)?;
        let more = calls.len() > limit as usize;
        calls.truncate(limit as usize);
        let next_page_token = match (more, calls.last()) {
            (true, Some(last)) => page_token(last.id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListCallsResponse {
            calls: calls.iter().map(call_to_proto).collect(),
            next_page_token,
        }))
    }

    pub(crate) async fn get_call_rpc(
        &self,
        request: Request<pb::GetCallRequest>,
    ) -> Reply<pb::GetCallResponse> {
        let principal = self.authenticate(&request).await?;
        let id = parse_id("id", &request.get_ref().id, CallId::parse)?;
        let call = self
            .store()
            .get_call(&principal.scope(), id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("call {id} not found")))?;
        Ok(Response::new(pb::GetCallResponse {
            call: Some(call_to_proto(&call)),
        }))
    }

    pub(crate) async fn get_webhook_stats_rpc(
        &self,
        request: Request<pb::GetWebhookStatsRequest>,
    ) -> Reply<pb::GetWebhookStatsResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let window = match &r.window {
            None => Some(DEFAULT_WINDOW),
            Some(w) => v.check(
                "window",
                duration(w).and_then(|w| {
                    if (Duration::from_secs(60)..=MAX_WINDOW).contains(&w) {
                        Ok(w)
                    } else {
                        Err("must be 1 minute to 30 days (or unset for 24 hours)".to_owned())
                    }
                }),
            ),
        };
        v.finish()?;
        let (Some(webhook), Some(window)) = (webhook, window) else {
            unreachable!("every field parsed when there are no violations")
        };
        let since = self.now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let stats = self
            .store()
            .webhook_stats(&principal.scope(), webhook, since)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| webhook_not_found(webhook))?;
        Ok(Response::new(pb::GetWebhookStatsResponse {
            stats: Some(stats_to_proto(&stats)),
        }))
    }

    pub(crate) async fn recover_failed_rpc(
        &self,
        request: Request<pb::RecoverFailedRequest>,
    ) -> Reply<pb::RecoverFailedResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let since = match &r.since {
            Some(t) => v.check("since", timestamp_ms(t)),
            None => {
                v.add(
                    "since",
                    "is required: recover deliveries of events since when?",
                );
                None
            }
        };
        let limit = match r.limit {
            0 => Some(DEFAULT_RECOVER),
            n @ 1.. if n.cast_unsigned() <= MAX_RECOVER => Some(n.cast_unsigned()),
            _ => {
                v.add(
                    "limit",
                    format!("must be 1 to {MAX_RECOVER} (or unset for {DEFAULT_RECOVER})"),
                );
                None
            }
        };
        v.finish()?;
        let (Some(webhook), Some(since), Some(limit)) = (webhook, since, limit) else {
            unreachable!("every field parsed when there are no violations")
        };
        let scope = principal.scope();
        let found = self.existing_webhook(&scope, webhook).await?;
        if !found.enabled {
            return Err(ApiError::FailedPrecondition(format!(
                "webhook {webhook} is disabled: enable it first, or its deliveries would be skipped again"
            ))
            .into());
        }
        let recovered = self
            .store()
            .recover_deliveries(&scope, webhook, since, limit)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| webhook_not_found(webhook))?;
        tracing::info!(%webhook, recovered, "deliveries recovered");
        Ok(Response::new(pb::RecoverFailedResponse {
            recovered_count: recovered,
        }))
    }

    pub(crate) async fn redeliver_call_rpc(
        &self,
        request: Request<pb::RedeliverCallRequest>,
    ) -> Reply<pb::RedeliverCallResponse> {
        let principal = self.authenticate(&request).await?;
        let id = parse_id("id", &request.get_ref().id, CallId::parse)?;
        let scope = principal.scope();
        let claimed = self
            .store()
            .redelivery(&scope, id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "call {id} not found, or it was a test call, or its webhook was deleted"
                ))
            })?;
        if !claimed.target.enabled {
            return Err(ApiError::FailedPrecondition(format!(
                "webhook {} is disabled: enable it first",
                claimed.webhook_id
            ))
            .into());
        }
        let call = self
            .call_now(Delivery::of(&claimed, CallTrigger::Manual))
            .await?;
        Ok(Response::new(pb::RedeliverCallResponse {
            call: Some(call_to_proto(&call)),
        }))
    }

    pub(crate) async fn send_test_event_rpc(
        &self,
        request: Request<pb::SendTestEventRequest>,
    ) -> Reply<pb::SendTestEventResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let chosen = match r.event_type {
            0 => None,
            t => v.check("event_type", event_type(t)),
        };
        v.finish()?;
        let webhook = webhook.expect("parsed");
        let found = self.existing_webhook(&principal.scope(), webhook).await?;
        let event_type = chosen
            .or_else(|| found.event_types.iter().next())
            .unwrap_or(EventType::PhishingEmailClicked);
        let target = self
            .store()
            .target(webhook)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| webhook_not_found(webhook))?;
        let event = Event {
            timestamp: crate::events::ms_to_time(self.now_ms()),
            data: sample(event_type),
        };
        let body = event
            .to_json()
            .map_err(|e| ApiError::Invalid(vec![("event_type".into(), e.to_string())]))?;
        let call = self
            .call_now(Delivery {
                target: &target,
                organization: &found.organization,
                delivery_id: None,
                event_id: EventId::new(),
                event_type,
                body: &body,
                attempt: 1,
                trigger: CallTrigger::Test,
            })
            .await?;
        Ok(Response::new(pb::SendTestEventResponse {
            call: Some(call_to_proto(&call)),
        }))
    }

    pub(crate) async fn watch_calls_rpc(
        &self,
        request: Request<pb::WatchCallsRequest>,
    ) -> Reply<CallStream> {
        let (principal, key) = self.authenticate_key(&request).await?;
        let r = request.into_inner();
        let scope = principal.scope();
        let wanted = if r.webhook_id.is_empty() {
            let mut v = Violations::default();
            let org = principal.organization(&r.organization_id, "organization_id", &mut v)?;
            v.finish()?;
            Wanted::Organization(org.expect("parsed").as_str().to_owned())
        } else {
            let id = parse_id("webhook_id", &r.webhook_id, WebhookId::parse)?;
            self.existing_webhook(&scope, id).await?;
            Wanted::Webhook(id)
        };
        // Registered before answering: no call recorded after the answer
        // is missed.
        let hub = || Hub {
            store: self.store().clone(),
            metrics: self.inner.dispatcher.metrics().clone(),
            recorded: self.store().recorded_calls(),
            keys: self.store().keys_changed(),
            stopping: self.inner.stopping.clone(),
        };
        let rx = self.inner.watchers.open(hub, key, scope, wanted)?;
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn existing_webhook(
        &self,
        scope: &Scope,
        id: WebhookId,
    ) -> Result<selki_storage::Webhook, ApiError> {
        self.store()
            .get_webhook(scope, id)
            .await?
            .ok_or_else(|| webhook_not_found(id))
    }

    /// Makes a call by hand now, and records it. The POST is sent before
    /// anything is written, so a recording that fails says the call was
    /// made; a short outage is waited out first.
    async fn call_now(&self, delivery: Delivery<'_>) -> Result<CallRecord, ApiError> {
        let permit = self.inner.manual.admit(delivery.organization)?;
        let (call, _) = self.inner.dispatcher.call(delivery).await;
        drop(permit);
        let mut wait = Duration::from_millis(100);
        loop {
            match self
                .store()
                .record_call(&call, self.inner.settings.health)
                .await
            {
                Ok(disabled) => {
                    for webhook in &disabled {
                        tracing::warn!(%webhook, "webhook disabled after a manual call");
                    }
                    return Ok(call);
                }
                Err(err) if err.is_transient() && wait < Duration::from_secs(2) => {
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                }
                Err(cause) => {
                    let made = format!(
                        "{}: {}{}",
                        call.id,
                        call.http_status
                            .map_or_else(String::new, |s| format!("HTTP {s}, ")),
                        call.outcome.as_str()
                    );
                    return Err(ApiError::CallNotRecorded { made, cause });
                }
            }
        }
    }
}

fn call_filter(r: &pb::ListCallsRequest, v: &mut Violations) -> Option<CallFilter> {
    let outcome = match r.outcome {
        0 => None,
        o => v.check("outcome", outcome(o)).map(Some)?,
    };
    let succeeded = match pb::CallStatus::try_from(r.status) {
        Ok(pb::CallStatus::Unspecified) => None,
        Ok(pb::CallStatus::Succeeded) => Some(true),
        Ok(pb::CallStatus::Failed) => Some(false),
        Err(_) => {
            v.add("status", format!("{} is not a known call status", r.status));
            return None;
        }
    };
    let event_type = match r.event_type {
        0 => None,
        t => Some(v.check("event_type", event_type(t))?),
    };
    let from_ms = match &r.start_time {
        Some(t) => Some(v.check("start_time", timestamp_ms(t))?),
        None => None,
    };
    let until_ms = match &r.end_time {
        Some(t) => Some(v.check("end_time", timestamp_ms(t))?),
        None => None,
    };
    if let (Some(from), Some(until)) = (from_ms, until_ms)
        && until <= from
    {
        v.add("end_time", "must be after start_time");
        return None;
    }
    Some(CallFilter {
        succeeded,
        outcome,
        event_type,
        from_ms,
        until_ms,
    })
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
        start_time: Some(timestamp_to_proto(c.started_at_ms)),
        duration: Some(duration_to_proto(Duration::from_millis(
            c.duration_ms.max(0).cast_unsigned(),
        ))),
        error_message: c.error_message.clone().unwrap_or_default(),
        response_excerpt: c.response_excerpt.clone().unwrap_or_default(),
        url: c.url.clone(),
    }
}

fn stats_to_proto(s: &WebhookStats) -> pb::WebhookStats {
    let ms = |v: Option<u64>| v.map(|ms| duration_to_proto(Duration::from_millis(ms)));
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
        p50_duration: ms(s.p50_ms),
        p95_duration: ms(s.p95_ms),
        p99_duration: ms(s.p99_ms),
        consecutive_failures: s.consecutive_failures,
        last_success_time: s.last_success_ms.map(timestamp_to_proto),
        last_failure_time: s.last_failure_ms.map(timestamp_to_proto),
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
    }
}

/// A realistic event of a type, for test deliveries.
fn sample(event_type: EventType) -> EventData {
    let email = || PhishingEmail {
        campaign_id: "test-campaign".into(),
        email: "jane.doe@example.com".into(),
    };
    match event_type {
        EventType::PhishingEmailSent => EventData::PhishingEmailSent(email()),
        EventType::PhishingEmailOpened => EventData::PhishingEmailOpened(email()),
        EventType::PhishingEmailReported => EventData::PhishingEmailReported(email()),
        EventType::PhishingEmailError => EventData::PhishingEmailError(PhishingEmailError {
            campaign_id: "test-campaign".into(),
            email: "jane.doe@example.com".into(),
            error: "mailbox unavailable (test event)".into(),
        }),
        EventType::ThreatsNewThreat => EventData::ThreatsNewThreat(NewThreat {
            id: "test-threat".into(),
            category: ThreatCategory::Employees,
            risk_level: RiskLevel::High,
            url: "https://login.example-phish.com/".into(),
            username: "jdoe".into(),
            email: "jane.doe@example.com".into(),
        }),
        _ => EventData::PhishingEmailClicked(email()),
    }
}

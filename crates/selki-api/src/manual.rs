//! Calls made by hand while the caller waits: redelivering a call's
//! delivery, sending a test event; and recovering failed deliveries.

use std::time::Duration;

use selki_delivery::Delivery;
use selki_domain::{CallRecord, CallTrigger, EventId, Operation};
use selki_proto::v1 as pb;
use selki_webhooks::{
    DeliveryExhausted, DisableReason, Event, EventData, EventType, NewThreat, PhishingEmail,
    PhishingEmailError, RiskLevel, ThreatCategory, WebhookDisabled, WebhookFailing,
    WebhookRecovered,
};
use tonic::Request;

use crate::Api;
use crate::convert::{CallRef, RecoverFailed, SendTestEvent, call_to_proto};
use crate::error::{ApiError, invalid};
use crate::webhooks::not_found;

impl Api {
    pub(crate) async fn recover_failed_rpc(
        &self,
        request: Request<pb::RecoverFailedRequest>,
    ) -> Result<pb::RecoverFailedResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Write).await?;
        let RecoverFailed {
            webhook,
            since,
            until,
            limit,
        } = RecoverFailed::try_from(request.get_ref())?;
        let scope = principal.scope();
        let found = self.existing_webhook(&scope, webhook).await?;
        if !found.enabled {
            return Err(ApiError::FailedPrecondition(format!(
                "webhook {webhook} is disabled: enable it first, or its deliveries would be skipped again"
            )));
        }
        let recovered = self
            .store()
            .recover_deliveries(&scope, webhook, (since, until), limit)
            .await?
            .ok_or_else(|| not_found(webhook))?;
        tracing::info!(%webhook, recovered, "deliveries recovered");
        Ok(pb::RecoverFailedResponse {
            recovered_count: recovered,
        })
    }

    pub(crate) async fn redeliver_call_rpc(
        &self,
        request: Request<pb::RedeliverCallRequest>,
    ) -> Result<pb::RedeliverCallResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Write).await?;
        let CallRef { id } = CallRef::try_from(request.get_ref())?;
        let claimed = self
            .store()
            .redelivery(&principal.scope(), id)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "call {id} not found, or it was a test call, or its webhook was deleted"
                ))
            })?;
        let Some(target) = claimed.target.sendable() else {
            return Err(ApiError::FailedPrecondition(format!(
                "webhook {} is disabled: enable it first",
                claimed.webhook_id
            )));
        };
        let call = self
            .call_now(Delivery::of(&claimed, target, CallTrigger::Manual))
            .await?;
        Ok(pb::RedeliverCallResponse {
            call: Some(call_to_proto(&call)),
        })
    }

    pub(crate) async fn send_test_event_rpc(
        &self,
        request: Request<pb::SendTestEventRequest>,
    ) -> Result<pb::SendTestEventResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Write).await?;
        let r = SendTestEvent::try_from(request.get_ref())?;
        let found = self.existing_webhook(&principal.scope(), r.webhook).await?;
        let event_type = r
            .event_type
            .or_else(|| found.event_types.iter().next())
            .unwrap_or(EventType::PhishingEmailClicked);
        let target = self
            .store()
            .target(r.webhook)
            .await?
            .ok_or_else(|| not_found(r.webhook))?;
        let now = self.now();
        let event = Event {
            timestamp: now.to_datetime(),
            data: sample(event_type),
        };
        let body = event
            .to_json()
            .map_err(|e| invalid("event_type", e.to_string()))?;
        let call = self
            .call_now(Delivery {
                target: &target,
                organization: &found.organization,
                delivery_id: None,
                event_id: EventId::at(now),
                event_type,
                body: &body,
                attempt: 1,
                trigger: CallTrigger::Test,
                traceparent: None,
            })
            .await?;
        Ok(pb::SendTestEventResponse {
            call: Some(call_to_proto(&call)),
            passes_filter: found.filter.passes(&event.data),
        })
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

/// A realistic event of a type, for test deliveries.
fn sample(event_type: EventType) -> EventData {
    let email = || PhishingEmail {
        campaign_id: "test-campaign".into(),
        email: "jane.doe@example.com".into(),
    };
    // Operational samples describe a made-up webhook, never a real one.
    let (webhook_id, webhook_name, url) = (
        "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".to_owned(),
        "Example webhook (test event)".to_owned(),
        "https://hooks.example.com/selki".to_owned(),
    );
    let since = "2025-08-07T10:01:42Z".to_owned();
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
        EventType::WebhookDisabled => EventData::WebhookDisabled(WebhookDisabled {
            webhook_id,
            webhook_name,
            url,
            reason: DisableReason::Gone,
            disabled_by: None,
            message: "the receiver answered 410 Gone (test event)".into(),
        }),
        EventType::WebhookFailing => EventData::WebhookFailing(WebhookFailing {
            webhook_id,
            webhook_name,
            url,
            consecutive_failures: 10,
            failing_since: since,
            last_outcome: "http_status".into(),
            last_http_status: Some(503),
        }),
        EventType::WebhookRecovered => EventData::WebhookRecovered(WebhookRecovered {
            webhook_id,
            webhook_name,
            url,
            failed_calls: 10,
            failing_since: since,
        }),
        EventType::DeliveryExhausted => EventData::DeliveryExhausted(DeliveryExhausted {
            webhook_id,
            webhook_name,
            url,
            event_id: "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST".into(),
            delivery_id: "dlv_01K1ZQ7W5B8YV3J2M4N6P8R0SV".into(),
            subscription: EventType::ThreatsNewThreat.as_str().into(),
            attempts: 6,
            last_outcome: "timeout".into(),
            last_http_status: None,
            last_error: Some("no answer within 15 s (test event)".into()),
        }),
        _ => EventData::PhishingEmailClicked(email()),
    }
}

//! Calls made by hand while the caller waits: redelivering a call's
//! delivery, sending a test event; and recovering failed deliveries.

use std::time::Duration;

use selki_delivery::Delivery;
use selki_domain::{CallRecord, CallTrigger, EventId, Operation};
use selki_proto::v1 as pb;
use selki_webhooks::{Event, EventType};
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
            data: selki_domain::sample(event_type),
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

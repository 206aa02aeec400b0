//! Debugging a delivery: an event with its deliveries, an organization's
//! events, one webhook's deliveries; and replaying events a receiver lost.

use selki_domain::{CallId, Operation};
use selki_proto::v1 as pb;
use selki_storage::{EventKey, Replay, Replayed};
use tonic::Request;

use crate::Api;
use crate::convert::{
    GetEvent, ListDeliveries, ListEvents, MAX_REPLAY, ReplayEvents, delivery_to_proto,
    event_to_proto, page_token,
};
use crate::error::ApiError;
use crate::webhooks::not_found;

impl Api {
    pub(crate) async fn get_event_rpc(
        &self,
        request: Request<pb::GetEventRequest>,
    ) -> Result<pb::GetEventResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Read).await?;
        let key = match GetEvent::try_from(request.get_ref())? {
            GetEvent::Id(id) => EventKey::Id(id),
            GetEvent::ClientId(org, client_id) => EventKey::ClientId(
                principal.acting_for(org.as_ref(), "organization_id")?,
                client_id,
            ),
        };
        let (event, deliveries) = self
            .store()
            .get_event(&principal.scope(), &key)
            .await?
            .ok_or_else(|| ApiError::NotFound("event not found".into()))?;
        Ok(pb::GetEventResponse {
            event: Some(event_to_proto(&event, &deliveries)),
        })
    }

    pub(crate) async fn list_events_rpc(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<pb::ListEventsResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Read).await?;
        let r = ListEvents::try_from(request.get_ref())?;
        let organization = principal.acting_for(r.organization.as_ref(), "organization_id")?;
        let rows = self
            .store()
            .list_events(&organization, &r.filter, r.page.fetch())
            .await?;
        let (events, next_page_token) = r.page.page(rows, |e| e.id);
        Ok(pb::ListEventsResponse {
            events: events.iter().map(|e| event_to_proto(e, &[])).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn list_deliveries_rpc(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<pb::ListDeliveriesResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Read).await?;
        let r = ListDeliveries::try_from(request.get_ref())?;
        let found = self
            .store()
            .list_deliveries(&principal.scope(), r.webhook, &r.states, r.page.fetch())
            .await?
            .ok_or_else(|| not_found(r.webhook))?;
        let (deliveries, next_page_token) = r.page.page(found.deliveries, |d| d.id);
        let (next_page_token, partial) = match found.scanned_to {
            Some(stopped) => (page_token(stopped), true),
            None => (next_page_token, false),
        };
        Ok(pb::ListDeliveriesResponse {
            deliveries: deliveries.iter().map(delivery_to_proto).collect(),
            next_page_token,
            partial,
        })
    }

    pub(crate) async fn replay_events_rpc(
        &self,
        request: Request<pb::ReplayEventsRequest>,
    ) -> Result<pb::ReplayEventsResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Write).await?;
        let r = ReplayEvents::try_from(request.get_ref())?;
        let scope = principal.scope();
        let webhook = self.existing_webhook(&scope, r.webhook).await?;
        if !webhook.enabled {
            return Err(ApiError::FailedPrecondition(format!(
                "webhook {} is disabled: enable it first, or its deliveries would be skipped again",
                r.webhook
            )));
        }
        let replay_id = r
            .replay_id
            .unwrap_or_else(|| format!("replay_{}", CallId::at(self.now())));
        let replay = Replay {
            webhook: r.webhook,
            id: replay_id.clone(),
            from: r.from,
            until: r.until,
            event_types: r.event_types,
            max: MAX_REPLAY,
        };
        let (replayed_count, duplicate) = match self
            .store()
            .replay(&scope, &replay)
            .await?
            .ok_or_else(|| not_found(r.webhook))?
        {
            Replayed::Queued(n) => (n, false),
            Replayed::Duplicate(n) => (n, true),
            Replayed::TooMany => {
                return Err(ApiError::FailedPrecondition(format!(
                    "the range holds more than {MAX_REPLAY} deliveries to replay: narrow it \
                     (a shorter time range, or some event types) and replay it in parts"
                )));
            }
        };
        tracing::info!(webhook = %r.webhook, replay = %replay_id, replayed_count, duplicate, "events replayed");
        Ok(pb::ReplayEventsResponse {
            replayed_count,
            replay_id,
            duplicate,
        })
    }
}

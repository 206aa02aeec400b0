//! `EventService`: ingestion. Each submission becomes the exact JSON body
//! that will be delivered, built once here.

use selki_domain::UnixMs;
use selki_proto::v1 as pb;
use selki_proto::v1::event_service_server::EventService;
use selki_storage::{Accepted, NewEvent, StoreError};
use selki_webhooks::Event;
use tonic::{Request, Response, Status};

use crate::auth::Principal;
use crate::convert::{Submission, SubmitEvent, SubmitEvents, accepted_to_proto};
use crate::error::{ApiError, Violations, invalid};
use crate::{Api, reply};

type Reply<T> = Result<Response<T>, Status>;

impl Api {
    async fn submit_one(
        &self,
        request: Request<pb::SubmitEventRequest>,
    ) -> Result<pb::SubmitEventResponse, ApiError> {
        let principal = self.authenticate(&request).await?;
        let SubmitEvent { event } = SubmitEvent::try_from(request.get_ref())?;
        let events = self.new_events(&principal, vec![("event".to_owned(), event)])?;
        let accepted = self.store_events(events, "event").await?;
        Ok(pb::SubmitEventResponse {
            event: accepted.first().map(accepted_to_proto),
        })
    }

    async fn submit_many(
        &self,
        request: Request<pb::SubmitEventsRequest>,
    ) -> Result<pb::SubmitEventsResponse, ApiError> {
        let principal = self.authenticate(&request).await?;
        let SubmitEvents { events } = SubmitEvents::try_from(request.get_ref())?;
        let fields = (0..events.len()).map(|i| format!("events[{i}]"));
        let events = self.new_events(&principal, fields.zip(events).collect())?;
        let accepted = self.store_events(events, "events").await?;
        Ok(pb::SubmitEventsResponse {
            events: accepted.iter().map(accepted_to_proto).collect(),
        })
    }

    /// The events to store, each for the organization its caller may act
    /// for, with its body as it will be delivered: stamped now unless the
    /// submission said when it happened.
    fn new_events(
        &self,
        principal: &Principal,
        submissions: Vec<(String, Submission)>,
    ) -> Result<Vec<NewEvent>, ApiError> {
        let now = self.now();
        let mut v = Violations::default();
        let mut events = Vec::with_capacity(submissions.len());
        for (field, s) in submissions {
            let org = principal.act_for(
                s.organization.as_ref(),
                &format!("{field}.organization_id"),
                &mut v,
            )?;
            let Some(organization) = org else { continue };
            let timestamp = s.occurred.unwrap_or_else(|| now.to_datetime());
            let event = Event {
                timestamp,
                data: s.data,
            };
            let body = event
                .to_json()
                .map_err(|e| invalid(format!("{field}.occur_time"), e.to_string()))?;
            events.push(NewEvent {
                organization,
                event_type: s.event_type,
                client_event_id: s.client_event_id,
                fingerprint: s.fingerprint,
                body,
                occurred_at: UnixMs::from_datetime(timestamp),
            });
        }
        Ok(v.build(|| Some(events))?)
    }

    async fn store_events(
        &self,
        events: Vec<NewEvent>,
        field: &str,
    ) -> Result<Vec<Accepted>, ApiError> {
        match self.store().submit(events).await {
            Ok(accepted) => Ok(accepted),
            Err(StoreError::ClientEventIdConflict {
                index,
                client_event_id,
            }) => {
                let at = if field == "event" {
                    field.to_owned()
                } else {
                    format!("{field}[{index}]")
                };
                Err(ApiError::AlreadyExists(format!(
                    "{at}.client_event_id `{client_event_id}` was already used for a different event; nothing was stored"
                )))
            }
            Err(StoreError::TooManyDeliveries { deliveries, max }) => Err(invalid(
                field,
                format!(
                    "would create {deliveries} deliveries (each event to each subscribed webhook), \
                     more than the {max} one submission may; nothing was stored: send fewer \
                     events per call"
                ),
            )),
            Err(other) => Err(other.into()),
        }
    }
}

#[tonic::async_trait]
impl EventService for Api {
    async fn submit_event(
        &self,
        request: Request<pb::SubmitEventRequest>,
    ) -> Reply<pb::SubmitEventResponse> {
        reply(self.submit_one(request).await)
    }

    async fn submit_events(
        &self,
        request: Request<pb::SubmitEventsRequest>,
    ) -> Reply<pb::SubmitEventsResponse> {
        reply(self.submit_many(request).await)
    }
}

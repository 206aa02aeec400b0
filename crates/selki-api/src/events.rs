//! `EventService`: ingestion. Each submission becomes the exact JSON body
//! that will be delivered, built once here.

use selki_delivery::trace;
use selki_domain::{EventFacts, Operation, TraceParent, UnixMs};
use selki_proto::v1 as pb;
use selki_proto::v1::event_service_server::EventService;
use selki_storage::{Accepted, NewEvent, StoreError};
use selki_webhooks::{Event, OffsetDateTime};
use tonic::{Request, Response, Status};
use tracing::{Instrument as _, Span};

use crate::auth::Principal;
use crate::convert::{Submission, SubmitEvent, SubmitEvents, accepted_to_proto};
use crate::error::{ApiError, Violations, invalid};
use crate::{Api, reply};

type Reply<T> = Result<Response<T>, Status>;

impl Api {
    async fn submit_one(
        &self,
        request: Request<pb::SubmitEventRequest>,
        trace: Option<TraceParent>,
    ) -> Result<pb::SubmitEventResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Ingest).await?;
        let SubmitEvent { event } = SubmitEvent::try_from(request.get_ref())?;
        let submitted = vec![("event".to_owned(), event)];
        let events = self.new_events(&principal, submitted, trace.as_ref())?;
        let accepted = self.store_events(events, "event").await?;
        Ok(pb::SubmitEventResponse {
            event: accepted.first().map(accepted_to_proto),
        })
    }

    async fn submit_many(
        &self,
        request: Request<pb::SubmitEventsRequest>,
        trace: Option<TraceParent>,
    ) -> Result<pb::SubmitEventsResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Ingest).await?;
        let SubmitEvents { events } = SubmitEvents::try_from(request.get_ref())?;
        let fields = (0..events.len()).map(|i| format!("events[{i}]"));
        let events = self.new_events(&principal, fields.zip(events).collect(), trace.as_ref())?;
        let accepted = self.store_events(events, "events").await?;
        Ok(pb::SubmitEventsResponse {
            events: accepted.iter().map(accepted_to_proto).collect(),
        })
    }

    /// The events to store, each for the organization its caller may act
    /// for, with its body as it will be delivered: stamped now unless the
    /// submission said when it happened, at whole seconds either way (as the
    /// wire format says), and in the submission's trace.
    fn new_events(
        &self,
        principal: &Principal,
        submissions: Vec<(String, Submission)>,
        trace: Option<&TraceParent>,
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
            let timestamp = whole_seconds(s.occurred.unwrap_or_else(|| now.to_datetime()));
            let facts = EventFacts::of(&s.data);
            let event = Event {
                timestamp,
                data: s.data,
            };
            let body = event
                .to_json()
                .map_err(|e| invalid(format!("{field}.occur_time"), e.to_string()))?;
            if let Some(why) = crate::convert::too_large(&body) {
                v.add(format!("{field}.data"), why);
                continue;
            }
            events.push(NewEvent {
                organization,
                event_type: s.event_type,
                client_event_id: s.client_event_id,
                fingerprint: s.fingerprint,
                body,
                occurred_at: UnixMs::from_datetime(timestamp),
                traceparent: trace.cloned(),
                facts,
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

/// A time cut to its second.
fn whole_seconds(time: OffsetDateTime) -> OffsetDateTime {
    time.replace_nanosecond(0).unwrap_or(time)
}

/// A span for a submission, in the submitter's trace when its request
/// carries a `traceparent`; and the trace its events keep: the span's own
/// place when spans are exported, else the submitter's.
fn submission_span<T>(name: &'static str, request: &Request<T>) -> (Span, Option<TraceParent>) {
    let incoming = request
        .metadata()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let span = tracing::info_span!("submit", otel.name = name, otel.kind = "server");
    trace::join(&span, incoming.as_ref());
    let kept = trace::traceparent_of(&span).or(incoming);
    (span, kept)
}

#[tonic::async_trait]
impl EventService for Api {
    async fn submit_event(
        &self,
        request: Request<pb::SubmitEventRequest>,
    ) -> Reply<pb::SubmitEventResponse> {
        let (span, trace) = submission_span("SubmitEvent", &request);
        reply(self.submit_one(request, trace).instrument(span).await)
    }

    async fn submit_events(
        &self,
        request: Request<pb::SubmitEventsRequest>,
    ) -> Reply<pb::SubmitEventsResponse> {
        let (span, trace) = submission_span("SubmitEvents", &request);
        reply(self.submit_many(request, trace).instrument(span).await)
    }
}

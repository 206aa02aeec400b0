//! Looking up events and deliveries, and replaying events: the requests,
//! and events and deliveries as the API shows them.

use selki_domain::{DeliveryId, EventId, EventTypes, OrganizationId, UnixMs, WebhookId};
use selki_proto::v1 as pb;
use selki_storage::{DeliveryState, DeliveryView, EventFilter, StoredEvent};

use super::{
    PageRequest, call_to_proto, event_type_to_proto, event_types, optional_event_type, printable,
    requested_organization, time, timestamp_to_proto,
};
use crate::error::Violations;

/// Events one replay sends again at most.
pub(crate) const MAX_REPLAY: u32 = 100_000;

/// `GetEvent`: by id, or by the submitter's id.
#[derive(Debug)]
pub(crate) enum GetEvent {
    Id(EventId),
    /// The organization is the caller's own when `None`.
    ClientId(Option<OrganizationId>, String),
}

#[derive(Debug)]
pub(crate) struct ListEvents {
    pub(crate) organization: Option<OrganizationId>,
    pub(crate) filter: EventFilter,
    pub(crate) page: PageRequest<EventId>,
}

#[derive(Debug)]
pub(crate) struct ListDeliveries {
    pub(crate) webhook: WebhookId,
    pub(crate) states: Vec<DeliveryState>,
    pub(crate) page: PageRequest<DeliveryId>,
}

#[derive(Debug)]
pub(crate) struct ReplayEvents {
    pub(crate) webhook: WebhookId,
    pub(crate) from: UnixMs,
    pub(crate) until: UnixMs,
    pub(crate) event_types: Option<EventTypes>,
    /// `None`: the server makes one.
    pub(crate) replay_id: Option<String>,
}

impl TryFrom<&pb::GetEventRequest> for GetEvent {
    type Error = Violations;

    fn try_from(r: &pb::GetEventRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let key = match (r.id.as_str(), r.client_event_id.as_str()) {
            ("", "") => {
                v.add("id", "give the event's id, or its client_event_id");
                None
            }
            (id, "") => v.check("id", EventId::parse(id)).map(Self::Id),
            ("", client_id) => {
                let organization = v.check(
                    "organization_id",
                    requested_organization(&r.organization_id),
                );
                let client_id = v.check("client_event_id", printable(client_id, 128));
                organization
                    .zip(client_id)
                    .map(|(o, c)| Self::ClientId(o, c))
            }
            _ => {
                v.add(
                    "client_event_id",
                    "give the event's id or its client_event_id, not both",
                );
                None
            }
        };
        v.build(|| key)
    }
}

impl TryFrom<&pb::ListEventsRequest> for ListEvents {
    type Error = Violations;

    fn try_from(r: &pb::ListEventsRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let organization = v.check(
            "organization_id",
            requested_organization(&r.organization_id),
        );
        let page = PageRequest::parse(r.page_size, &r.page_token, EventId::parse, &mut v);
        let event_type = v.check_opt("event_type", optional_event_type(r.event_type));
        let from = v.check_opt("start_time", r.start_time.as_ref().map(time));
        let until = v.check_opt("end_time", r.end_time.as_ref().map(time));
        if let (Some(Some(from)), Some(Some(until))) = (from, until)
            && until <= from
        {
            v.add("end_time", "must be after start_time");
        }
        let client_event_id = match r.client_event_id.as_str() {
            "" => Some(None),
            text => v.check("client_event_id", printable(text, 128)).map(Some),
        };
        v.build(|| {
            Some(Self {
                organization: organization?,
                filter: EventFilter {
                    event_type: event_type?,
                    from: from?,
                    until: until?,
                    client_event_id: client_event_id?,
                },
                page: page?,
            })
        })
    }
}

impl TryFrom<&pb::ListDeliveriesRequest> for ListDeliveries {
    type Error = Violations;

    fn try_from(r: &pb::ListDeliveriesRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let page = PageRequest::parse(r.page_size, &r.page_token, DeliveryId::parse, &mut v);
        let mut states = Vec::new();
        for (i, state) in r.states.iter().take(16).enumerate() {
            states.extend(v.check(format!("states[{i}]"), delivery_state(*state)));
        }
        if r.states.len() > 16 {
            v.add("states", "lists more than 16 states");
        }
        if states.is_empty() {
            // What is waiting and what failed: the question this answers.
            states = vec![
                DeliveryState::Pending,
                DeliveryState::InFlight,
                DeliveryState::Failed,
                DeliveryState::Skipped,
            ];
        }
        v.build(|| {
            Some(Self {
                webhook: webhook?,
                states,
                page: page?,
            })
        })
    }
}

impl TryFrom<&pb::ReplayEventsRequest> for ReplayEvents {
    type Error = Violations;

    fn try_from(r: &pb::ReplayEventsRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let webhook = v.check("webhook_id", WebhookId::parse(&r.webhook_id));
        let mut required = |field: &str, t: Option<&prost_types::Timestamp>| match t {
            Some(t) => v.check(field, time(t)),
            None => {
                v.add(field, "is required: replay the events of which time range?");
                None
            }
        };
        let from = required("start_time", r.start_time.as_ref());
        let until = required("end_time", r.end_time.as_ref());
        if let (Some(from), Some(until)) = (from, until)
            && until <= from
        {
            v.add("end_time", "must be after start_time");
        }
        let types = match r.event_types.is_empty() {
            true => Some(None),
            false => event_types("event_types", &r.event_types, &mut v).map(Some),
        };
        let replay_id = match r.replay_id.as_str() {
            "" => Some(None),
            text => v.check("replay_id", printable(text, 128)).map(Some),
        };
        v.build(|| {
            Some(Self {
                webhook: webhook?,
                from: from?,
                until: until?,
                event_types: types?,
                replay_id: replay_id?,
            })
        })
    }
}

fn delivery_state(value: i32) -> Result<DeliveryState, String> {
    use pb::DeliveryState as P;
    match P::try_from(value) {
        Ok(P::Pending) => Ok(DeliveryState::Pending),
        Ok(P::InFlight) => Ok(DeliveryState::InFlight),
        Ok(P::Failed) => Ok(DeliveryState::Failed),
        Ok(P::Skipped) => Ok(DeliveryState::Skipped),
        Ok(P::Succeeded | P::Cancelled) => Err(
            "succeeded and cancelled deliveries are listed through their calls (ListCalls) or \
             their event (GetEvent); here: PENDING, IN_FLIGHT, FAILED or SKIPPED"
                .into(),
        ),
        Ok(P::Unspecified) | Err(_) => Err(format!("{value} is not a delivery state")),
    }
}

fn state_to_proto(state: DeliveryState) -> pb::DeliveryState {
    use pb::DeliveryState as P;
    match state {
        DeliveryState::Pending => P::Pending,
        DeliveryState::InFlight => P::InFlight,
        DeliveryState::Succeeded => P::Succeeded,
        DeliveryState::Failed => P::Failed,
        DeliveryState::Skipped => P::Skipped,
        DeliveryState::Cancelled => P::Cancelled,
    }
}

/// An event as the API shows it: with its body and deliveries when given.
pub(crate) fn event_to_proto(e: &StoredEvent, deliveries: &[DeliveryView]) -> pb::Event {
    pb::Event {
        id: e.id.to_string(),
        organization_id: e.organization.to_string(),
        event_type: event_type_to_proto(e.event_type) as i32,
        client_event_id: e.client_event_id.clone().unwrap_or_default(),
        occur_time: Some(timestamp_to_proto(e.occurred_at)),
        create_time: Some(timestamp_to_proto(e.created_at)),
        body: e.body.clone().map(String::into_bytes).unwrap_or_default(),
        deliveries: deliveries.iter().map(delivery_to_proto).collect(),
        delivery_count: e.delivery_count,
        trace_id: e
            .traceparent
            .as_ref()
            .map(|t| t.trace_id().to_owned())
            .unwrap_or_default(),
    }
}

pub(crate) fn delivery_to_proto(d: &DeliveryView) -> pb::Delivery {
    pb::Delivery {
        id: d.id.to_string(),
        webhook_id: d.webhook_id.to_string(),
        event_id: d.event_id.to_string(),
        event_type: event_type_to_proto(d.event_type) as i32,
        state: state_to_proto(d.state) as i32,
        attempts_made: d.attempts_made,
        attempts_left: d.attempts_left,
        next_attempt_time: d.next_attempt_at.map(timestamp_to_proto),
        last_call: d.last_call.as_ref().map(call_to_proto),
        create_time: Some(timestamp_to_proto(d.created_at)),
        update_time: Some(timestamp_to_proto(d.updated_at)),
    }
}

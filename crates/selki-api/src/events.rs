//! `EventService`: ingestion. Each submission becomes the exact JSON body
//! that will be delivered, built once here.

use selki_proto::v1 as pb;
use selki_proto::v1::event_data::Data;
use selki_proto::v1::event_service_server::EventService;
use selki_storage::{Accepted, NewEvent, StoreError};
use selki_webhooks::{
    Event, EventData, NewThreat, OffsetDateTime, PhishingEmail, PhishingEmailError, RiskLevel,
    ThreatCategory,
};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::Api;
use crate::auth::Principal;
use crate::error::{ApiError, Violations};

/// Most events in one SubmitEvents call.
pub(crate) const MAX_BATCH: usize = 500;
/// Largest delivered body.
pub(crate) const MAX_BODY_BYTES: usize = 256 * 1024;

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl EventService for Api {
    async fn submit_event(
        &self,
        request: Request<pb::SubmitEventRequest>,
    ) -> Reply<pb::SubmitEventResponse> {
        let principal = self.authenticate(&request).await?;
        let mut v = Violations::default();
        let submission = request.into_inner().event.unwrap_or_default();
        let event = self.parse_submission(&principal, &submission, "event", &mut v)?;
        v.finish()?;
        let accepted = self
            .store_events(vec![event.expect("parsed")], "event")
            .await?;
        Ok(Response::new(pb::SubmitEventResponse {
            event: accepted.first().map(accepted_to_proto),
        }))
    }

    async fn submit_events(
        &self,
        request: Request<pb::SubmitEventsRequest>,
    ) -> Reply<pb::SubmitEventsResponse> {
        let principal = self.authenticate(&request).await?;
        let submissions = request.into_inner().events;
        if submissions.is_empty() || submissions.len() > MAX_BATCH {
            let why = format!(
                "must hold 1 to {MAX_BATCH} events, not {}",
                submissions.len()
            );
            return Err(ApiError::Invalid(vec![("events".into(), why)]).into());
        }
        let mut v = Violations::default();
        let mut events = Vec::with_capacity(submissions.len());
        for (i, submission) in submissions.iter().enumerate() {
            events.extend(self.parse_submission(
                &principal,
                submission,
                &format!("events[{i}]"),
                &mut v,
            )?);
        }
        v.finish()?;
        let accepted = self.store_events(events, "events").await?;
        Ok(Response::new(pb::SubmitEventsResponse {
            events: accepted.iter().map(accepted_to_proto).collect(),
        }))
    }
}

impl Api {
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
            Err(StoreError::TooManyDeliveries { deliveries, max }) => {
                Err(ApiError::Invalid(vec![(
                    field.to_owned(),
                    format!(
                        "would create {deliveries} deliveries (each event to each subscribed webhook), \
                     more than the {max} one submission may; nothing was stored: send fewer \
                     events per call"
                    ),
                )]))
            }
            Err(other) => Err(other.into()),
        }
    }

    fn parse_submission(
        &self,
        principal: &Principal,
        s: &pb::EventSubmission,
        field: &str,
        v: &mut Violations,
    ) -> Result<Option<NewEvent>, ApiError> {
        let organization =
            principal.organization(&s.organization_id, &format!("{field}.organization_id"), v)?;
        let client_event_id = v.check(
            format!("{field}.client_event_id"),
            client_event_id(&s.client_event_id),
        );
        let occurred = match &s.occur_time {
            Some(t) => v.check(format!("{field}.occur_time"), occur_time(t)),
            None => Some(None),
        };
        let data = event_data(&format!("{field}.data"), s.data.as_ref(), v);
        let (Some(organization), Some(client_event_id), Some(occurred), Some(data)) =
            (organization, client_event_id, occurred, data)
        else {
            return Ok(None);
        };
        let now_ms = self.inner.clock.now_ms();
        let timestamp = occurred.unwrap_or_else(|| ms_to_time(now_ms));
        let event_type = data.event_type().expect("the API only builds known events");
        let event = Event { timestamp, data };
        let body = event
            .to_json()
            .map_err(|e| ApiError::Invalid(vec![(format!("{field}.occur_time"), e.to_string())]))?;
        if body.len() > MAX_BODY_BYTES {
            v.add(
                format!("{field}.data"),
                format!(
                    "the event is {} bytes as JSON; at most {MAX_BODY_BYTES}",
                    body.len()
                ),
            );
            return Ok(None);
        }
        // A retry must match what was submitted, not the server's clock: an
        // unset occur_time is fingerprinted as unset.
        let fingerprinted = Event {
            timestamp: occurred.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            data: event.data.clone(),
        };
        let fingerprint =
            Sha256::digest(fingerprinted.to_json().unwrap_or_default().as_bytes()).into();
        Ok(Some(NewEvent {
            organization,
            event_type,
            client_event_id,
            fingerprint,
            body,
            occurred_at_ms: (event.timestamp.unix_timestamp_nanos() / 1_000_000) as i64,
        }))
    }
}

pub(crate) fn ms_to_time(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn client_event_id(text: &str) -> Result<Option<String>, String> {
    match text {
        "" => Ok(None),
        t if t.len() <= 128 && t.bytes().all(|b| (0x21..0x7f).contains(&b)) => {
            Ok(Some(t.to_owned()))
        }
        _ => Err("must be at most 128 printable ASCII characters without spaces".into()),
    }
}

fn occur_time(t: &prost_types::Timestamp) -> Result<Option<OffsetDateTime>, String> {
    crate::convert::timestamp(t).map(Some)
}

/// A required text field of at most `max` characters.
fn text(field: String, value: &str, max: usize, v: &mut Violations) -> Option<String> {
    let ok = match value.trim() {
        "" => Err("is required".to_owned()),
        t if t.chars().count() > max => Err(format!("must be at most {max} characters")),
        t => Ok(t.to_owned()),
    };
    v.check(field, ok)
}

/// Optional text: empty is allowed.
fn optional_text(field: String, value: &str, max: usize, v: &mut Violations) -> Option<String> {
    if value.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
        return None;
    }
    Some(value.to_owned())
}

fn phishing_email(field: &str, p: &pb::PhishingEmail, v: &mut Violations) -> Option<PhishingEmail> {
    let campaign_id = text(format!("{field}.campaign_id"), &p.campaign_id, 256, v);
    let email = text(format!("{field}.email"), &p.email, 320, v);
    Some(PhishingEmail {
        campaign_id: campaign_id?,
        email: email?,
    })
}

fn event_data(field: &str, data: Option<&pb::EventData>, v: &mut Violations) -> Option<EventData> {
    let Some(data) = data.and_then(|d| d.data.as_ref()) else {
        v.add(
            field,
            "must hold one event (phishing_email_sent, …, threats_new_threat)",
        );
        return None;
    };
    Some(match data {
        Data::PhishingEmailSent(p) => EventData::PhishingEmailSent(phishing_email(
            &format!("{field}.phishing_email_sent"),
            p,
            v,
        )?),
        Data::PhishingEmailOpened(p) => EventData::PhishingEmailOpened(phishing_email(
            &format!("{field}.phishing_email_opened"),
            p,
            v,
        )?),
        Data::PhishingEmailClicked(p) => EventData::PhishingEmailClicked(phishing_email(
            &format!("{field}.phishing_email_clicked"),
            p,
            v,
        )?),
        Data::PhishingEmailReported(p) => EventData::PhishingEmailReported(phishing_email(
            &format!("{field}.phishing_email_reported"),
            p,
            v,
        )?),
        Data::PhishingEmailError(p) => {
            let f = format!("{field}.phishing_email_error");
            let campaign_id = text(format!("{f}.campaign_id"), &p.campaign_id, 256, v);
            let email = text(format!("{f}.email"), &p.email, 320, v);
            let error = text(format!("{f}.error"), &p.error, 4096, v);
            EventData::PhishingEmailError(PhishingEmailError {
                campaign_id: campaign_id?,
                email: email?,
                error: error?,
            })
        }
        Data::ThreatsNewThreat(t) => {
            EventData::ThreatsNewThreat(new_threat(&format!("{field}.threats_new_threat"), t, v)?)
        }
    })
}

fn new_threat(f: &str, t: &pb::NewThreat, v: &mut Violations) -> Option<NewThreat> {
    let id = text(format!("{f}.id"), &t.id, 256, v);
    let category = text(format!("{f}.category"), &t.category, 64, v);
    let risk_level = v.check(format!("{f}.risk_level"), risk_level(t.risk_level));
    let url = optional_text(format!("{f}.url"), &t.url, 2048, v);
    let username = optional_text(format!("{f}.username"), &t.username, 256, v);
    let email = optional_text(format!("{f}.email"), &t.email, 320, v);
    Some(NewThreat {
        id: id?,
        category: ThreatCategory::from(category?),
        risk_level: risk_level?,
        url: url?,
        username: username?,
        email: email?,
    })
}

fn risk_level(value: i32) -> Result<RiskLevel, String> {
    use pb::RiskLevel as P;
    match P::try_from(value) {
        Ok(P::Low) => Ok(RiskLevel::Low),
        Ok(P::Medium) => Ok(RiskLevel::Medium),
        Ok(P::High) => Ok(RiskLevel::High),
        Ok(P::Critical) => Ok(RiskLevel::Critical),
        Ok(P::Unspecified) => Err("must be LOW, MEDIUM, HIGH or CRITICAL".into()),
        Err(_) => Err(format!("{value} is not a risk level")),
    }
}

fn accepted_to_proto(a: &Accepted) -> pb::AcceptedEvent {
    pb::AcceptedEvent {
        event_id: a.event_id.to_string(),
        delivery_count: a.delivery_count,
        duplicate: a.duplicate,
    }
}

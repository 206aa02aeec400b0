//! Submitted events: each becomes typed event data, with what identifies
//! a retry of it (its client event id and fingerprint).

use selki_domain::OrganizationId;
use selki_proto::v1 as pb;
use selki_proto::v1::event_data::Data;
use selki_storage::Accepted;
use selki_webhooks::{
    Event, EventData, EventType, NewThreat, OffsetDateTime, PhishingEmail, PhishingEmailError,
    RiskLevel, ThreatCategory,
};
use sha2::{Digest, Sha256};

use super::{datetime, printable, requested_organization};
use crate::error::Violations;

/// Most events in one SubmitEvents call.
const MAX_BATCH: usize = 500;
/// Largest event, as JSON.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// One submitted event, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    /// `None`: the caller's own organization.
    pub(crate) organization: Option<OrganizationId>,
    pub(crate) client_event_id: Option<String>,
    /// When it happened; `None`: when the server accepts it.
    pub(crate) occurred: Option<OffsetDateTime>,
    pub(crate) event_type: EventType,
    pub(crate) data: EventData,
    /// SHA-256 of what was submitted, when it has a client event id: a
    /// retry must match it. An unset occur time is fingerprinted as unset,
    /// not as the server's clock. Without a client event id, zeros.
    pub(crate) fingerprint: [u8; 32],
}

const NO_FINGERPRINT: [u8; 32] = [0; 32];

/// Why an event's body is too large, if it is. Checked where the body is
/// made (`Api::new_events`), and on the fingerprinted JSON of a retriable
/// submission.
pub(crate) fn too_large(json: &str) -> Option<String> {
    (json.len() > MAX_BODY_BYTES).then(|| {
        format!(
            "the event is {} bytes as JSON; at most {MAX_BODY_BYTES}",
            json.len()
        )
    })
}

#[derive(Debug)]
pub(crate) struct SubmitEvent {
    pub(crate) event: Submission,
}

#[derive(Debug)]
pub(crate) struct SubmitEvents {
    pub(crate) events: Vec<Submission>,
}

impl TryFrom<&pb::SubmitEventRequest> for SubmitEvent {
    type Error = Violations;

    fn try_from(r: &pb::SubmitEventRequest) -> Result<Self, Violations> {
        let unset = pb::EventSubmission::default();
        Submission::try_from(r.event.as_ref().unwrap_or(&unset))
            .map(|event| Self { event })
            .map_err(|v| v.within("event"))
    }
}

impl TryFrom<&pb::SubmitEventsRequest> for SubmitEvents {
    type Error = Violations;

    fn try_from(r: &pb::SubmitEventsRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        if r.events.is_empty() || r.events.len() > MAX_BATCH {
            let why = format!("must hold 1 to {MAX_BATCH} events, not {}", r.events.len());
            v.add("events", why);
            return Err(v);
        }
        let mut events = Vec::with_capacity(r.events.len());
        for (i, submission) in r.events.iter().enumerate() {
            match Submission::try_from(submission) {
                Ok(event) => events.push(event),
                Err(violations) => v.extend(violations.within(&format!("events[{i}]"))),
            }
        }
        v.build(|| Some(Self { events }))
    }
}

impl TryFrom<&pb::EventSubmission> for Submission {
    type Error = Violations;

    fn try_from(s: &pb::EventSubmission) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let organization = v.check(
            "organization_id",
            requested_organization(&s.organization_id),
        );
        let client_event_id = v.check("client_event_id", client_event_id(&s.client_event_id));
        let occurred = v.check_opt("occur_time", s.occur_time.as_ref().map(datetime));
        let data = event_data("data", s.data.as_ref(), &mut v);
        let fingerprint = match (&client_event_id, &occurred, &data) {
            (Some(Some(_)), Some(occurred), Some((_, data))) => {
                fingerprint(*occurred, data, &mut v)
            }
            // No client event id: no retry to recognise, nothing to
            // compare (and no second serialization of every event).
            (Some(None), ..) => Some(NO_FINGERPRINT),
            _ => None,
        };
        v.build(|| {
            let (event_type, data) = data?;
            Some(Self {
                organization: organization?,
                client_event_id: client_event_id?,
                occurred: occurred?,
                event_type,
                data,
                fingerprint: fingerprint?,
            })
        })
    }
}

/// A retriable submission's fingerprint.
fn fingerprint(
    occurred: Option<OffsetDateTime>,
    data: &EventData,
    v: &mut Violations,
) -> Option<[u8; 32]> {
    let submitted = Event {
        timestamp: occurred.unwrap_or(OffsetDateTime::UNIX_EPOCH),
        data: data.clone(),
    };
    let json = v.check("occur_time", submitted.to_json())?;
    if let Some(why) = too_large(&json) {
        v.add("data", why);
        return None;
    }
    Some(Sha256::digest(json.as_bytes()).into())
}

fn client_event_id(text: &str) -> Result<Option<String>, String> {
    match text {
        "" => Ok(None),
        text => printable(text, 128).map(Some),
    }
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

/// The event's type and data, from whichever one the oneof holds.
fn event_data(
    field: &str,
    data: Option<&pb::EventData>,
    v: &mut Violations,
) -> Option<(EventType, EventData)> {
    let Some(data) = data.and_then(|d| d.data.as_ref()) else {
        v.add(
            field,
            "must hold one event (phishing_email_sent, …, threats_new_threat)",
        );
        return None;
    };
    let email =
        |name: &str, p, v: &mut Violations| phishing_email(&format!("{field}.{name}"), p, v);
    Some(match data {
        Data::PhishingEmailSent(p) => (
            EventType::PhishingEmailSent,
            EventData::PhishingEmailSent(email("phishing_email_sent", p, v)?),
        ),
        Data::PhishingEmailOpened(p) => (
            EventType::PhishingEmailOpened,
            EventData::PhishingEmailOpened(email("phishing_email_opened", p, v)?),
        ),
        Data::PhishingEmailClicked(p) => (
            EventType::PhishingEmailClicked,
            EventData::PhishingEmailClicked(email("phishing_email_clicked", p, v)?),
        ),
        Data::PhishingEmailReported(p) => (
            EventType::PhishingEmailReported,
            EventData::PhishingEmailReported(email("phishing_email_reported", p, v)?),
        ),
        Data::PhishingEmailError(p) => (
            EventType::PhishingEmailError,
            EventData::PhishingEmailError(email_error(
                &format!("{field}.phishing_email_error"),
                p,
                v,
            )?),
        ),
        Data::ThreatsNewThreat(t) => (
            EventType::ThreatsNewThreat,
            EventData::ThreatsNewThreat(new_threat(&format!("{field}.threats_new_threat"), t, v)?),
        ),
        Data::WebhookDisabled(_)
        | Data::WebhookFailing(_)
        | Data::WebhookRecovered(_)
        | Data::DeliveryExhausted(_) => {
            v.add(
                field,
                "operational events (webhook_disabled, webhook_failing, webhook_recovered, \
                 delivery_exhausted) are emitted by Selki, not submitted",
            );
            return None;
        }
    })
}

fn email_error(
    f: &str,
    p: &pb::PhishingEmailError,
    v: &mut Violations,
) -> Option<PhishingEmailError> {
    let campaign_id = text(format!("{f}.campaign_id"), &p.campaign_id, 256, v);
    let email = text(format!("{f}.email"), &p.email, 320, v);
    let error = text(format!("{f}.error"), &p.error, 4096, v);
    Some(PhishingEmailError {
        campaign_id: campaign_id?,
        email: email?,
        error: error?,
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

pub(crate) fn risk_level(value: i32) -> Result<RiskLevel, String> {
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

pub(crate) fn accepted_to_proto(a: &Accepted) -> pb::AcceptedEvent {
    pb::AcceptedEvent {
        event_id: a.event_id.to_string(),
        delivery_count: a.delivery_count,
        duplicate: a.duplicate,
    }
}

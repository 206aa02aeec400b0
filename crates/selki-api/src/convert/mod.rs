//! Protobuf to domain and back, in one place. Every RPC's request becomes
//! a typed request through one `TryFrom<&pb::…>` whose error is the field
//! violations, each with the path the client sent; inside, the services
//! trust the types. Responses are built from domain values here too.
//!
//! What a request cannot say by itself is decided by the service after
//! parsing: which organization the caller may act for, whether this
//! server takes plain-http URLs, what a masked header value stands for.

mod alerting;
mod calls;
mod events;
mod keys;
mod lookups;
mod webhooks;

use std::time::Duration;

use base64::Engine as _;
use selki_domain::{EventTypes, Invalid, OrganizationId, UnixMs};
use selki_proto::v1 as pb;
use selki_storage::Page;
use selki_webhooks::{EventType, OffsetDateTime};

use crate::error::Violations;

pub(crate) use calls::{
    CallRef, ListCalls, RecoverFailed, SendTestEvent, StatsRequest, WatchCalls, WatchTarget,
    call_summary_to_proto, call_to_proto, stats_to_proto,
};
pub(crate) use events::{Submission, SubmitEvent, SubmitEvents, accepted_to_proto, too_large};
pub(crate) use keys::{CreateApiKey, CreateConsoleSession, KeyRef, ListApiKeys, api_key_to_proto};
pub(crate) use lookups::{
    GetEvent, ListDeliveries, ListEvents, MAX_REPLAY, ReplayEvents, delivery_to_proto,
    event_to_proto,
};
pub(crate) use webhooks::{
    CreateWebhook, ListWebhooks, NewSecret, RotateSecret, Signing, UpdateWebhook, WebhookRef,
    health_to_proto, resolved, webhook_to_proto,
};

/// Entries a list of event types may have (repeats are harmless, a
/// million of them are not).
const MAX_EVENT_TYPE_ENTRIES: usize = 64;

pub(crate) fn event_type(value: i32) -> Result<EventType, String> {
    use pb::EventType as P;
    Ok(match P::try_from(value) {
        Ok(P::PhishingEmailSent) => EventType::PhishingEmailSent,
        Ok(P::PhishingEmailOpened) => EventType::PhishingEmailOpened,
        Ok(P::PhishingEmailClicked) => EventType::PhishingEmailClicked,
        Ok(P::PhishingEmailReported) => EventType::PhishingEmailReported,
        Ok(P::PhishingEmailError) => EventType::PhishingEmailError,
        Ok(P::ThreatsNewThreat) => EventType::ThreatsNewThreat,
        Ok(P::WebhookDisabled) => EventType::WebhookDisabled,
        Ok(P::WebhookFailing) => EventType::WebhookFailing,
        Ok(P::WebhookRecovered) => EventType::WebhookRecovered,
        Ok(P::DeliveryExhausted) => EventType::DeliveryExhausted,
        Ok(P::Unspecified) => {
            return Err("must be a known event type, not EVENT_TYPE_UNSPECIFIED".into());
        }
        Err(_) => return Err(format!("{value} is not a known event type")),
    })
}

/// An optional event type: 0 (unspecified) is none.
pub(crate) fn optional_event_type(value: i32) -> Option<Result<EventType, String>> {
    (value != 0).then(|| event_type(value))
}

pub(crate) fn event_type_to_proto(event_type: EventType) -> pb::EventType {
    use pb::EventType as P;
    match event_type {
        EventType::PhishingEmailSent => P::PhishingEmailSent,
        EventType::PhishingEmailOpened => P::PhishingEmailOpened,
        EventType::PhishingEmailClicked => P::PhishingEmailClicked,
        EventType::PhishingEmailReported => P::PhishingEmailReported,
        EventType::PhishingEmailError => P::PhishingEmailError,
        EventType::ThreatsNewThreat => P::ThreatsNewThreat,
        EventType::WebhookDisabled => P::WebhookDisabled,
        EventType::WebhookFailing => P::WebhookFailing,
        EventType::WebhookRecovered => P::WebhookRecovered,
        EventType::DeliveryExhausted => P::DeliveryExhausted,
        _ => P::Unspecified,
    }
}

pub(crate) fn event_types(field: &str, values: &[i32], v: &mut Violations) -> Option<EventTypes> {
    if values.len() > MAX_EVENT_TYPE_ENTRIES {
        v.add(
            field,
            format!(
                "lists {} event types; at most {MAX_EVENT_TYPE_ENTRIES} entries",
                values.len()
            ),
        );
        return None;
    }
    let mut types = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        types.extend(v.check(format!("{field}[{i}]"), event_type(*value)));
    }
    if types.len() < values.len() {
        return None;
    }
    v.check(field, EventTypes::new(types))
}

pub(crate) fn duration(value: &prost_types::Duration) -> Result<Duration, String> {
    if value.seconds < 0 || value.nanos < 0 {
        return Err("must not be negative".into());
    }
    Ok(Duration::new(
        value.seconds.cast_unsigned(),
        value.nanos.cast_unsigned(),
    ))
}

/// A duration within `bounds`; `why` says what they are.
pub(crate) fn duration_in(
    value: &prost_types::Duration,
    bounds: std::ops::RangeInclusive<Duration>,
    why: &str,
) -> Result<Duration, String> {
    duration(value).and_then(|d| {
        if bounds.contains(&d) {
            Ok(d)
        } else {
            Err(why.to_owned())
        }
    })
}

pub(crate) fn duration_to_proto(value: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(value.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(value.subsec_nanos()).unwrap_or(0),
    }
}

/// A calendar time between 1970 and 9999.
pub(crate) fn datetime(t: &prost_types::Timestamp) -> Result<OffsetDateTime, String> {
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .filter(|time| (1970..=9999).contains(&time.year()))
        .ok_or_else(|| "must be a time between 1970 and 9999".into())
}

/// The same, as the server's time type.
pub(crate) fn time(t: &prost_types::Timestamp) -> Result<UnixMs, String> {
    datetime(t).map(UnixMs::from_datetime)
}

pub(crate) fn timestamp_to_proto(time: UnixMs) -> prost_types::Timestamp {
    let ms = time.as_millis();
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// An id a client makes up (a client event id, a request id): 1 to `max`
/// printable ASCII characters without spaces.
pub(crate) fn printable(text: &str, max: usize) -> Result<String, String> {
    if (1..=max).contains(&text.len()) && text.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "must be 1 to {max} printable ASCII characters without spaces"
        ))
    }
}

/// The organization a request names; `None` when it names none (an
/// organization key then acts for its own).
pub(crate) fn requested_organization(text: &str) -> Result<Option<OrganizationId>, Invalid> {
    match text {
        "" => Ok(None),
        text => OrganizationId::parse(text).map(Some),
    }
}

/// A page a list request asks for: at most `limit` rows after a row id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageRequest<Id> {
    pub(crate) limit: u32,
    pub(crate) after: Option<Id>,
}

impl<Id: Copy + std::fmt::Display> PageRequest<Id> {
    /// `page_size` (1 to 100, 50 when unset) and `page_token`.
    pub(crate) fn parse<E>(
        size: i32,
        token: &str,
        parse_id: impl FnOnce(&str) -> Result<Id, E>,
        v: &mut Violations,
    ) -> Option<Self> {
        let limit = v.check("page_size", page_size(size));
        let after = v.check("page_token", parse_page_token(token, parse_id));
        Some(Self {
            limit: limit?,
            after: after?,
        })
    }

    /// What to read: one row more than asked, whose presence says there
    /// is a next page.
    pub(crate) fn fetch(self) -> Page<Id> {
        Page {
            after: self.after,
            limit: self.limit + 1,
        }
    }

    /// The page out of what [`PageRequest::fetch`] read, and the token of
    /// the next page (empty on the last).
    pub(crate) fn page<T>(self, mut rows: Vec<T>, id: impl Fn(&T) -> Id) -> (Vec<T>, String) {
        let limit = self.limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let token = match (more, rows.last()) {
            (true, Some(last)) => page_token(id(last)),
            _ => String::new(),
        };
        (rows, token)
    }
}

/// Page tokens are opaque to clients: base64url of the last id.
pub(crate) fn page_token(last: impl std::fmt::Display) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.to_string())
}

fn parse_page_token<Id, E>(
    token: &str,
    parse: impl FnOnce(&str) -> Result<Id, E>,
) -> Result<Option<Id>, String> {
    if token.is_empty() {
        return Ok(None);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| parse(&text).ok())
        .map(Some)
        .ok_or_else(|| "is not a page token this server issued".to_owned())
}

fn page_size(value: i32) -> Result<u32, String> {
    match value {
        0 => Ok(50),
        1..=100 => Ok(value.cast_unsigned()),
        _ => Err("must be 1 to 100 (or unset for 50)".into()),
    }
}

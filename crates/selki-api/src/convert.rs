//! Protobuf to domain and back. Every untrusted field is parsed here,
//! once, with the field path the client sent.

use std::time::Duration;

use base64::Engine as _;
use selki_domain::{CustomHeaders, EventTypes, RetryPolicy};
use selki_proto::v1 as pb;
use selki_storage::Webhook;
use selki_webhooks::{EventType, OffsetDateTime};

use crate::error::Violations;

pub(crate) fn event_type(value: i32) -> Result<EventType, String> {
    use pb::EventType as P;
    Ok(match P::try_from(value) {
        Ok(P::PhishingEmailSent) => EventType::PhishingEmailSent,
        Ok(P::PhishingEmailOpened) => EventType::PhishingEmailOpened,
        Ok(P::PhishingEmailClicked) => EventType::PhishingEmailClicked,
        Ok(P::PhishingEmailReported) => EventType::PhishingEmailReported,
        Ok(P::PhishingEmailError) => EventType::PhishingEmailError,
        Ok(P::ThreatsNewThreat) => EventType::ThreatsNewThreat,
        Ok(P::Unspecified) => {
            return Err("must be a known event type, not EVENT_TYPE_UNSPECIFIED".into());
        }
        Err(_) => return Err(format!("{value} is not a known event type")),
    })
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
        _ => P::Unspecified,
    }
}

/// Entries a list of event types may have (repeats are harmless, a
/// million of them are not).
const MAX_EVENT_TYPE_ENTRIES: usize = 64;

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

pub(crate) fn duration_to_proto(value: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(value.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(value.subsec_nanos()).unwrap_or(0),
    }
}

/// A time between 1970 and 9999.
pub(crate) fn timestamp(t: &prost_types::Timestamp) -> Result<OffsetDateTime, String> {
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .filter(|time| (1970..=9999).contains(&time.year()))
        .ok_or_else(|| "must be a time between 1970 and 9999".into())
}

/// The same, in Unix milliseconds.
pub(crate) fn timestamp_ms(t: &prost_types::Timestamp) -> Result<i64, String> {
    timestamp(t)
        .map(|time| i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

pub(crate) fn timestamp_to_proto(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// The server default when unset.
pub(crate) fn retry_policy(
    field: &str,
    value: Option<&pb::RetryPolicy>,
    v: &mut Violations,
) -> Option<RetryPolicy> {
    let Some(p) = value else {
        return Some(RetryPolicy::default());
    };
    let default = RetryPolicy::default();
    let delay = match &p.delay {
        Some(d) => v.check(format!("{field}.delay"), duration(d))?,
        None => default.delay(),
    };
    let max_delay = match &p.max_delay {
        Some(d) => Some(v.check(format!("{field}.max_delay"), duration(d))?),
        None => None,
    };
    RetryPolicy::new(p.attempts, delay, p.exponential_backoff, max_delay)
        .map_err(|(part, e)| v.add(format!("{field}.{part}"), e.to_string()))
        .ok()
}

/// A webhook's call timeout: `Some(None)` when unset (the server's default).
pub(crate) fn call_timeout(
    field: &str,
    value: Option<&prost_types::Duration>,
    v: &mut Violations,
) -> Option<Option<Duration>> {
    let Some(value) = value else {
        return Some(None);
    };
    let bounds = selki_delivery::TIMEOUT_MIN..=selki_delivery::TIMEOUT_MAX;
    let parsed = duration(value).and_then(|d| {
        if bounds.contains(&d) {
            Ok(d)
        } else {
            Err("must be 1 to 60 seconds (or unset for the server's default)".to_owned())
        }
    });
    v.check(field, parsed).map(Some)
}

/// Custom headers; a masked value keeps the one in `stored`.
pub(crate) fn headers(
    field: &str,
    values: &[pb::Header],
    stored: Option<&CustomHeaders>,
    v: &mut Violations,
) -> Option<CustomHeaders> {
    let triples = values
        .iter()
        .map(|h| (h.name.clone(), h.value.clone(), h.sensitive))
        .collect();
    CustomHeaders::new(triples, stored)
        .map_err(|(i, part, e)| v.add(format!("{field}[{i}].{part}"), e.to_string()))
        .ok()
}

pub(crate) fn webhook_to_proto(w: &Webhook) -> pb::Webhook {
    pb::Webhook {
        id: w.id.to_string(),
        organization_id: w.organization.to_string(),
        name: w.name.as_str().to_owned(),
        url: w.url.as_str().to_owned(),
        event_types: w
            .event_types
            .iter()
            .map(|t| event_type_to_proto(t) as i32)
            .collect(),
        enabled: w.enabled,
        disabled_reason: w.disabled_reason.clone().unwrap_or_default(),
        signing_secret_set: w.signing.secret_set,
        retry_policy: Some(pb::RetryPolicy {
            attempts: w.retry.attempts(),
            delay: Some(duration_to_proto(w.retry.delay())),
            exponential_backoff: w.retry.exponential(),
            max_delay: Some(duration_to_proto(w.retry.max_delay())),
        }),
        // Sensitive values never leave in full; headers this server cannot
        // open are left out (start-up names the missing key).
        headers: w
            .headers
            .iter()
            .flat_map(CustomHeaders::headers)
            .map(|h| pb::Header {
                name: h.name().to_owned(),
                value: h.shown_value().to_owned(),
                sensitive: h.is_sensitive(),
            })
            .collect(),
        timeout: w.timeout.map(duration_to_proto),
        create_time: Some(timestamp_to_proto(w.created_at_ms)),
        update_time: Some(timestamp_to_proto(w.updated_at_ms)),
    }
}

/// Page tokens are opaque to clients: base64url of the last id.
pub(crate) fn page_token(last: impl std::fmt::Display) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.to_string())
}

pub(crate) fn parse_page_token<Id, E>(
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

pub(crate) fn page_size(value: i32) -> Result<u32, String> {
    match value {
        0 => Ok(50),
        1..=100 => Ok(value.cast_unsigned()),
        _ => Err("must be 1 to 100 (or unset for 50)".into()),
    }
}

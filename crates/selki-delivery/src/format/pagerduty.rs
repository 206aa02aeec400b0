//! A PagerDuty Events API v2 event (developer.pagerduty.com, "Send an
//! Alert Event"): `routing_key`, `event_action`, `dedup_key` (at most 255
//! characters) and a `payload` with `summary` (at most 1,024), `source`,
//! `severity` (critical, error, warning or info) and `custom_details`.
//!
//! The dedup key is the Selki event id, so retries and redeliveries never
//! open a second incident. A webhook's failing streak is one incident:
//! WEBHOOK_FAILING triggers it under a key of that webhook and
//! WEBHOOK_RECOVERED resolves it.

use selki_domain::{PagerDutyOptions, Severity};
use selki_webhooks::{Event, EventData, RiskLevel};
use serde_json::{Value, json};

use super::describe::Described;
use super::{Message, cut};

pub(super) fn event(
    options: &PagerDutyOptions,
    routing_key: &str,
    d: &Described,
    event: Option<&Event>,
    m: Message<'_>,
) -> Value {
    let data = event.map(|e| &e.data);
    let streak = |webhook: &str| format!("selki-webhook-failing-{webhook}");
    let dedup_key = match data {
        Some(EventData::WebhookFailing(w)) => streak(&w.webhook_id),
        Some(EventData::WebhookRecovered(w)) => {
            return json!({
                "routing_key": routing_key,
                "event_action": "resolve",
                "dedup_key": cut(&streak(&w.webhook_id), 255),
            });
        }
        _ => m.event_id.to_string(),
    };
    let mut payload = json!({
        "summary": cut(&d.summary, 1024),
        "source": cut(&options.source, 255),
        "severity": severity(options, data).as_str(),
        "component": component(data),
        "group": "selki",
        "class": d.subscription,
        "custom_details": details(event, m.body),
    });
    if !d.timestamp.is_empty() {
        payload["timestamp"] = Value::String(d.timestamp.clone());
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": cut(&dedup_key, 255),
        "client": "Selki Webhooks",
        "payload": payload,
    })
}

fn severity(options: &PagerDutyOptions, data: Option<&EventData>) -> Severity {
    match data {
        Some(EventData::ThreatsNewThreat(t)) => match t.risk_level {
            RiskLevel::Critical => Severity::Critical,
            RiskLevel::High => Severity::Error,
            RiskLevel::Medium => Severity::Warning,
            RiskLevel::Low => Severity::Info,
        },
        Some(
            EventData::PhishingEmailSent(_)
            | EventData::PhishingEmailOpened(_)
            | EventData::PhishingEmailClicked(_)
            | EventData::PhishingEmailReported(_)
            | EventData::PhishingEmailError(_),
        ) => options.phishing_severity,
        Some(EventData::WebhookDisabled(_) | EventData::DeliveryExhausted(_)) => Severity::Error,
        Some(EventData::WebhookFailing(_)) => Severity::Warning,
        _ => Severity::Info,
    }
}

fn component(data: Option<&EventData>) -> &'static str {
    match data {
        Some(EventData::ThreatsNewThreat(_)) => "threats",
        Some(
            EventData::WebhookDisabled(_)
            | EventData::WebhookFailing(_)
            | EventData::WebhookRecovered(_)
            | EventData::DeliveryExhausted(_),
        ) => "webhooks",
        Some(_) => "phishing",
        None => "selki",
    }
}

/// The event's data as Selki sends it (camelCase): an object, as PagerDuty
/// wants (other data, or an unreadable body, is wrapped in one).
fn details(event: Option<&Event>, body: &str) -> Value {
    let data = event
        .and_then(|e| serde_json::to_value(e).ok())
        .and_then(|mut envelope| envelope.get_mut("data").map(Value::take));
    match data {
        Some(object @ Value::Object(_)) => object,
        Some(other) => json!({ "data": other }),
        None => json!({ "body": cut(body, 4000) }),
    }
}

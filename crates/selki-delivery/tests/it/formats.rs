//! Every event type through every destination format: each body is what
//! the service's documentation says it takes (`selki_testkit::Service`),
//! and is exactly its golden file (`tests/golden/<format>/<TYPE>.json`;
//! `UPDATE_GOLDEN=1` writes them after a deliberate change).

use std::path::PathBuf;

use selki_delivery::format::{Message, Rendered, render};
use selki_domain::{Credential, Destination, EventId, Format, PagerDutyOptions, SplunkOptions};
use selki_testkit::Service;
use selki_webhooks::{Event, EventData, EventType, NewThreat, PhishingEmailError, RiskLevel};
use serde_json::Value;

const EVENT_ID: &str = "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST";
const ROUTING_KEY: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12";
const HEC_TOKEN: &str = "12345678-abcd-4321-abcd-1234567890ab";

fn destinations() -> Vec<(Destination, Service, Option<Credential>)> {
    let credential = |format, text| Credential::parse(format, text).ok();
    vec![
        (Destination::Slack, Service::Slack, None),
        (Destination::MicrosoftTeams, Service::Teams, None),
        (
            Destination::PagerDuty(PagerDutyOptions::default()),
            Service::PagerDuty,
            credential(Format::PagerDuty, ROUTING_KEY),
        ),
        (
            Destination::SplunkHec(SplunkOptions::default()),
            Service::Splunk,
            credential(Format::SplunkHec, HEC_TOKEN),
        ),
    ]
}

fn body_of(data: EventData) -> String {
    let timestamp = time::OffsetDateTime::from_unix_timestamp(1_754_560_902).expect("a time");
    Event { timestamp, data }.to_json().expect("a body")
}

fn rendered(destination: &Destination, credential: Option<&Credential>, body: &str) -> Rendered {
    let event_id = EventId::parse(EVENT_ID).expect("an id");
    render(destination, credential, Message { event_id, body }).expect("not the Selki format")
}

/// `None` when the service takes it; else what it refuses.
fn check(service: Service, r: &Rendered) -> Result<(), String> {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(r.headers.iter().cloned());
    service.check(&headers, r.body.as_bytes())
}

fn golden(format: Format, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format.as_str())
        .join(format!("{name}.json"))
}

#[test]
fn every_event_type_in_every_format_is_what_the_service_takes_and_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for (destination, service, credential) in destinations() {
        let format = destination.format();
        for event_type in EventType::ALL {
            let body = body_of(selki_domain::sample(event_type));
            let r = rendered(&destination, credential.as_ref(), &body);
            if let Err(problem) = check(service, &r) {
                failures.push(format!("{format:?} {event_type}: {problem}"));
            }
            let kept: Value = serde_json::from_str(&r.kept).expect("JSON");
            let pretty = serde_json::to_string_pretty(&kept).expect("JSON") + "\n";
            let path = golden(format, event_type.as_str());
            if update {
                std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
                std::fs::write(&path, &pretty).expect("write");
            }
            match std::fs::read_to_string(&path) {
                Ok(want) if want == pretty => {}
                Ok(_) => failures.push(format!("{} differs:\n{pretty}", path.display())),
                Err(e) => failures.push(format!("{}: {e}", path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn an_unknown_type_and_an_unreadable_body_are_still_messages_the_services_take() {
    let unknown = r#"{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_FORWARDED","data":{"to":["a@b.c"]}}"#;
    for (destination, service, credential) in destinations() {
        for body in [unknown, "not JSON at all"] {
            let r = rendered(&destination, credential.as_ref(), body);
            assert_eq!(check(service, &r), Ok(()), "{service:?}: {}", r.body);
        }
    }
}

#[test]
fn long_and_hostile_texts_stay_within_each_services_limits() {
    let error = EventData::PhishingEmailError(PhishingEmailError {
        campaign_id: "c".repeat(256),
        email: "a@example.com".into(),
        error: "x".repeat(4096),
    });
    let hostile = EventData::ThreatsNewThreat(NewThreat {
        id: "t1".into(),
        category: "<!channel> & friends".to_owned().into(),
        risk_level: RiskLevel::Critical,
        url: "<https://evil.example|click me>".into(),
        username: "<@U123>".into(),
        email: "`a`@example.com".into(),
    });
    for data in [error, hostile] {
        let body = body_of(data);
        for (destination, service, credential) in destinations() {
            let r = rendered(&destination, credential.as_ref(), &body);
            assert_eq!(check(service, &r), Ok(()), "{service:?}: {}", r.body);
        }
    }
}

#[test]
fn pagerduty_dedups_on_the_event_and_keeps_the_routing_key_out_of_the_call() {
    let (destination, _, credential) = destinations().remove(2);
    let threat = body_of(selki_domain::sample(EventType::ThreatsNewThreat));
    let r = rendered(&destination, credential.as_ref(), &threat);
    let sent: Value = serde_json::from_str(&r.body).expect("JSON");
    let kept: Value = serde_json::from_str(&r.kept).expect("JSON");
    assert_eq!(
        (
            &sent["routing_key"],
            &sent["dedup_key"],
            &sent["payload"]["severity"]
        ),
        (
            &Value::from(ROUTING_KEY),
            &Value::from(EVENT_ID),
            &Value::from("error")
        ),
        "the sample threat is HIGH: error"
    );
    assert_eq!(kept["routing_key"], "****");
    assert!(!r.kept.contains(ROUTING_KEY));

    // A failing streak is one incident: triggered, then resolved.
    let failing = rendered(
        &destination,
        credential.as_ref(),
        &body_of(selki_domain::sample(EventType::WebhookFailing)),
    );
    let recovered = rendered(
        &destination,
        credential.as_ref(),
        &body_of(selki_domain::sample(EventType::WebhookRecovered)),
    );
    let failing: Value = serde_json::from_str(&failing.body).expect("JSON");
    let recovered: Value = serde_json::from_str(&recovered.body).expect("JSON");
    assert_eq!(
        (&failing["event_action"], &recovered["event_action"]),
        (&Value::from("trigger"), &Value::from("resolve"))
    );
    assert_eq!(failing["dedup_key"], recovered["dedup_key"]);
}

#[test]
fn splunk_gets_its_token_as_a_header_and_the_event_with_its_id() {
    let (destination, _, credential) = destinations().remove(3);
    let r = rendered(
        &destination,
        credential.as_ref(),
        &body_of(selki_domain::sample(EventType::PhishingEmailClicked)),
    );
    assert_eq!(
        r.headers,
        [("authorization".to_owned(), format!("Splunk {HEC_TOKEN}"))]
    );
    let sent: Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(sent["event"]["id"], EVENT_ID);
    assert_eq!(sent["time"], 1_754_560_902);
    assert_eq!(sent["sourcetype"], "selki:webhook");
}

#[test]
fn the_selki_format_is_left_to_the_stored_body() {
    let body = body_of(selki_domain::sample(EventType::PhishingEmailSent));
    let event_id = EventId::parse(EVENT_ID).expect("an id");
    assert_eq!(
        render(
            &Destination::Selki,
            None,
            Message {
                event_id,
                body: &body
            }
        ),
        None
    );
}

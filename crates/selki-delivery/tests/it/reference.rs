//! The console's Webhook Documentation (`console/src/reference.json`) is
//! generated here, from what the sender writes and the SDK reads: one
//! signed example request per event type, each body the SDK's own
//! serialization of the event a test delivery sends, its headers the
//! sender's, and each verified and parsed back by the SDK. So the page
//! cannot drift from the wire format. `UPDATE_GOLDEN=1` rewrites it.

use selki_webhooks::{DeliveryHeaders, Event, EventType, Webhook};
use serde_json::json;

/// The Standard Webhooks documentation's example secret: never a real one.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WEBHOOK_ID: &str = "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H";
const CALL_ID: &str = "call_01K1ZQ8A2B3C4D5E6F7G8H9J0K";
const EVENT_ID: &str = "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST";
/// 2025-08-07T10:01:42Z, the help page's example time.
const TIMESTAMP: i64 = 1_754_560_902;

#[test]
fn the_console_documentation_is_what_the_sender_writes_and_the_sdk_reads() {
    let webhook = Webhook::new(SECRET).expect("the example secret");
    let time = time::OffsetDateTime::from_unix_timestamp(TIMESTAMP).expect("a time");
    let mut examples = Vec::new();
    for event_type in EventType::ALL {
        let data = selki_domain::sample(event_type);
        let body = Event {
            timestamp: time,
            data: data.clone(),
        }
        .to_json()
        .expect("a body");
        let signature = webhook.sign(EVENT_ID, TIMESTAMP, body.as_bytes());
        let headers = DeliveryHeaders {
            webhook_id: WEBHOOK_ID,
            call_id: CALL_ID,
            event_id: EVENT_ID,
            timestamp: TIMESTAMP,
            signature: Some(&signature),
        }
        .to_pairs();
        let read = webhook
            .verify_at(body.as_bytes(), &headers, TIMESTAMP)
            .expect("the SDK verifies the documented request");
        assert_eq!(read.data, data, "{event_type}");
        examples.push(json!({
            "subscription": event_type.as_str(),
            "headers": headers,
            // The exact bytes signed; the page pretty-prints them.
            "body": body,
        }));
    }
    let reference = json!({ "secret": SECRET, "examples": examples });
    let text = serde_json::to_string_pretty(&reference).expect("JSON") + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/src/reference.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).expect("writing the reference");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} is stale: run `UPDATE_GOLDEN=1 cargo test -p selki-delivery reference`, then `cargo xtask console`",
        path.display()
    );
}

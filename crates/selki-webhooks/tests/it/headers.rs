use std::collections::HashMap;
use std::time::Duration;

use selki_webhooks::{DeliveryHeaders, VerifyError, Webhook, name};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &[u8] = br#"{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_SENT","data":{"campaignId":"c1","email":"a@b.io"}}"#;
const NOW: i64 = 1_754_560_902;

fn delivery(wh: &Webhook) -> Vec<(&'static str, String)> {
    let signature = wh.sign("evt_1", NOW, BODY);
    DeliveryHeaders {
        webhook_id: "wh_1",
        call_id: "call_1",
        event_id: "evt_1",
        timestamp: NOW,
        signature: Some(&signature),
    }
    .to_pairs()
}

#[cfg(feature = "http")]
#[test]
fn what_the_sender_writes_the_receiver_verifies_through_an_http_header_map() {
    let wh = Webhook::new(SECRET).expect("secret");
    let mut map = http::HeaderMap::new();
    for (k, v) in delivery(&wh) {
        map.insert(k, v.parse().expect("header value"));
    }
    let event = wh.verify_at(BODY, &map, NOW).expect("verifies");
    assert_eq!(event.data.subscription(), "PHISHING_EMAIL_SENT");
}

#[test]
fn the_sender_writes_both_header_sets_with_the_event_id_as_webhook_id() {
    let wh = Webhook::new(SECRET).expect("secret");
    let pairs: HashMap<_, _> = delivery(&wh).into_iter().collect();
    assert_eq!(pairs[name::WEBHOOK_ID], "evt_1");
    assert_eq!(pairs[name::SELKI_EVENT_ID], "evt_1");
    assert_eq!(pairs[name::SELKI_WEBHOOK_ID], "wh_1");
    assert_eq!(pairs[name::SELKI_WEBHOOK_CALL_ID], "call_1");
    assert_eq!(pairs[name::SELKI_TIMESTAMP], NOW.to_string());
    assert_eq!(pairs[name::WEBHOOK_TIMESTAMP], NOW.to_string());
    assert_eq!(pairs[name::SELKI_SIGNATURE], pairs[name::WEBHOOK_SIGNATURE]);
    assert_eq!(pairs[name::CONTENT_TYPE], "application/json");
}

#[test]
fn an_unsigned_delivery_carries_no_signature_headers() {
    let pairs = DeliveryHeaders {
        webhook_id: "wh_1",
        call_id: "call_1",
        event_id: "evt_1",
        timestamp: NOW,
        signature: None,
    }
    .to_pairs();
    assert!(pairs.iter().all(|(k, _)| !k.ends_with("signature")));
}

#[test]
fn a_hash_map_with_mixed_case_names_is_a_header_source() {
    let wh = Webhook::new(SECRET).expect("secret");
    let map: HashMap<String, String> = delivery(&wh)
        .into_iter()
        .map(|(k, v)| (k.to_uppercase(), v))
        .collect();
    assert!(wh.verify_at(BODY, &map, NOW).is_ok());
}

#[test]
fn the_tolerance_is_configurable_in_both_directions() {
    let wh = Webhook::new(SECRET)
        .expect("secret")
        .with_tolerance(Duration::from_secs(10));
    let headers = delivery(&wh);
    assert!(wh.verify_at(BODY, &headers, NOW + 10).is_ok());
    assert!(wh.verify_at(BODY, &headers, NOW - 10).is_ok());
    assert_eq!(
        wh.verify_at(BODY, &headers, NOW + 11),
        Err(VerifyError::TimestampTooOld { age_secs: 11 })
    );
    assert_eq!(
        wh.verify_at(BODY, &headers, NOW - 11),
        Err(VerifyError::TimestampTooNew { ahead_secs: 11 })
    );
}

#[test]
fn skipping_the_timestamp_check_is_explicit_and_still_checks_the_signature() {
    let wh = Webhook::new(SECRET).expect("secret");
    let headers = delivery(&wh);
    // Years later: the live check refuses, the replay check accepts.
    let later = NOW + 3 * 365 * 24 * 3600;
    assert_eq!(
        wh.verify_at(BODY, &headers, later).map_err(|e| e.code()),
        Err("TIMESTAMP_TOO_OLD")
    );
    assert!(wh.verify_ignoring_timestamp(BODY, &headers).is_ok());
    let tampered = [&BODY[..BODY.len() - 2], b" }"].concat();
    assert_eq!(
        wh.verify_ignoring_timestamp(&tampered, &headers),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn verify_reads_the_system_clock_so_a_fresh_delivery_passes_and_an_old_one_fails() {
    let wh = Webhook::new(SECRET).expect("secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let fresh = [
        ("webhook-id", "evt_1".to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", wh.sign("evt_1", now, BODY)),
    ];
    assert!(wh.verify(BODY, &fresh).is_ok());
    let stale = delivery(&wh);
    assert_eq!(
        wh.verify(BODY, &stale).map_err(|e| e.code()),
        Err("TIMESTAMP_TOO_OLD")
    );
}

#[test]
fn every_error_message_names_the_problem_without_echoing_the_secret() {
    let wh = Webhook::new(SECRET).expect("secret");
    let missing = wh
        .verify_at(BODY, &[("webhook-id", "evt_1")], NOW)
        .expect_err("missing");
    assert_eq!(
        missing,
        VerifyError::MissingHeader {
            name: "webhook-timestamp"
        }
    );
    assert!(missing.to_string().contains("webhook-timestamp"));
    let mismatch = VerifyError::SignatureMismatch.to_string();
    assert!(mismatch.contains("raw body"), "{mismatch}");
    assert!(VerifyError::EmptyBody.to_string().contains("body parser"));
}

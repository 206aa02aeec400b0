//! `cargo bench -p selki-webhooks --bench verify`: verify and sign of 1 KB
//! and 16 KB bodies (the target: verify of 1 KB under 2 µs).

use divan::{Bencher, black_box};
use selki_webhooks::Webhook;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_754_560_902;
const ID: &str = "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST";

fn main() {
    divan::main();
}

/// A PHISHING_EMAIL_ERROR event whose message pads the body to `size` bytes.
fn body(size: usize) -> Vec<u8> {
    let head = r#"{"timestamp":"2025-08-07T10:01:42Z","subscription":"PHISHING_EMAIL_ERROR","data":{"campaignId":"phish123","email":"staff@company.com","error":""#;
    let tail = r#""}}"#;
    let pad = "x".repeat(size - head.len() - tail.len());
    format!("{head}{pad}{tail}").into_bytes()
}

fn headers(wh: &Webhook, body: &[u8]) -> [(&'static str, String); 3] {
    [
        ("webhook-id", ID.to_owned()),
        ("webhook-timestamp", NOW.to_string()),
        ("webhook-signature", wh.sign(ID, NOW, body)),
    ]
}

#[divan::bench(args = [1024, 16 * 1024])]
fn verify(bencher: Bencher<'_, '_>, size: usize) {
    let wh = Webhook::new(SECRET).expect("secret");
    let body = body(size);
    let headers = headers(&wh, &body);
    bencher
        .counter(divan::counter::BytesCount::new(size))
        .bench(|| {
            wh.verify_at(black_box(&body), black_box(&headers), NOW)
                .expect("valid")
        });
}

/// The signature check alone, without parsing the event.
#[divan::bench(args = [1024, 16 * 1024])]
fn sign(bencher: Bencher<'_, '_>, size: usize) {
    let wh = Webhook::new(SECRET).expect("secret");
    let body = body(size);
    bencher
        .counter(divan::counter::BytesCount::new(size))
        .bench(|| wh.sign(black_box(ID), NOW, black_box(&body)));
}

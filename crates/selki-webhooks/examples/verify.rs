//! `cargo run -p selki-webhooks --example verify`: signs a sample delivery
//! the way the Selki server does, verifies it the way a receiver does, and
//! shows what a tampered delivery gets.

use selki_webhooks::{DeliveryHeaders, Event, EventData, PhishingEmail, Secret, Webhook};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A real secret is 24..=64 random bytes; this one is fixed for the demo.
    let secret = Secret::from_bytes(b"selki-demo-secret-0123456789abcdef")?.expose();
    let webhook = Webhook::new(&secret)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;

    // Sender side: the body and the headers of one attempt.
    let body = Event {
        timestamp: selki_webhooks::OffsetDateTime::from_unix_timestamp(now)?,
        data: EventData::PhishingEmailClicked(PhishingEmail {
            campaign_id: "abc123".into(),
            email: "user@example.com".into(),
        }),
    }
    .to_json()?;
    let event_id = "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST";
    let signature = webhook.sign(event_id, now, body.as_bytes());
    let headers = DeliveryHeaders {
        webhook_id: "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H",
        call_id: "call_01K1ZQ7W9D3F5H7K9M1P3R5T7V",
        event_id,
        timestamp: now,
        signature: Some(&signature),
    }
    .to_pairs();
    println!("POST with body {body}");
    for (name, value) in &headers {
        println!("  {name}: {value}");
    }

    // Receiver side.
    let event = webhook.verify(body.as_bytes(), &headers)?;
    match &event.data {
        EventData::PhishingEmailClicked(click) => {
            println!(
                "verified: {} clicked in campaign {}",
                click.email, click.campaign_id
            );
        }
        other => println!("verified: {}", other.subscription()),
    }

    let tampered = body.replace("abc123", "abc124");
    let refused = webhook
        .verify(tampered.as_bytes(), &headers)
        .expect_err("a tampered body must fail");
    println!("tampered body refused: {} ({refused})", refused.code());
    Ok(())
}

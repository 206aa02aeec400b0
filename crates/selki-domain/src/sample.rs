//! A realistic event of each type: what a test delivery sends, and what
//! tests of every format render.

use selki_webhooks::{
    DeliveryExhausted, DisableReason, EventData, EventType, NewThreat, PhishingEmail,
    PhishingEmailError, RiskLevel, ThreatCategory, WebhookDisabled, WebhookFailing,
    WebhookRecovered,
};

/// A realistic event of a type, for test deliveries.
pub fn sample(event_type: EventType) -> EventData {
    let email = || PhishingEmail {
        campaign_id: "test-campaign".into(),
        email: "jane.doe@example.com".into(),
    };
    // Operational samples describe a made-up webhook, never a real one.
    let (webhook_id, webhook_name, url) = (
        "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".to_owned(),
        "Example webhook (test event)".to_owned(),
        "https://hooks.example.com/selki".to_owned(),
    );
    let since = "2025-08-07T10:01:42Z".to_owned();
    match event_type {
        EventType::PhishingEmailSent => EventData::PhishingEmailSent(email()),
        EventType::PhishingEmailOpened => EventData::PhishingEmailOpened(email()),
        EventType::PhishingEmailReported => EventData::PhishingEmailReported(email()),
        EventType::PhishingEmailError => EventData::PhishingEmailError(PhishingEmailError {
            campaign_id: "test-campaign".into(),
            email: "jane.doe@example.com".into(),
            error: "mailbox unavailable (test event)".into(),
        }),
        EventType::ThreatsNewThreat => EventData::ThreatsNewThreat(NewThreat {
            id: "test-threat".into(),
            category: ThreatCategory::Employees,
            risk_level: RiskLevel::High,
            url: "https://login.example-phish.com/".into(),
            username: "jdoe".into(),
            email: "jane.doe@example.com".into(),
        }),
        EventType::WebhookDisabled => EventData::WebhookDisabled(WebhookDisabled {
            webhook_id,
            webhook_name,
            url,
            reason: DisableReason::Gone,
            disabled_by: None,
            message: "the receiver answered 410 Gone (test event)".into(),
        }),
        EventType::WebhookFailing => EventData::WebhookFailing(WebhookFailing {
            webhook_id,
            webhook_name,
            url,
            consecutive_failures: 10,
            failing_since: since,
            last_outcome: "http_status".into(),
            last_http_status: Some(503),
        }),
        EventType::WebhookRecovered => EventData::WebhookRecovered(WebhookRecovered {
            webhook_id,
            webhook_name,
            url,
            failed_calls: 10,
            failing_since: since,
        }),
        EventType::DeliveryExhausted => EventData::DeliveryExhausted(DeliveryExhausted {
            webhook_id,
            webhook_name,
            url,
            event_id: "evt_01K1ZQ7W5B8YV3J2M4N6P8R0ST".into(),
            delivery_id: "dlv_01K1ZQ7W5B8YV3J2M4N6P8R0SV".into(),
            subscription: EventType::ThreatsNewThreat.as_str().into(),
            attempts: 6,
            last_outcome: "timeout".into(),
            last_http_status: None,
            last_error: Some("no answer within 15 s (test event)".into()),
        }),
        _ => EventData::PhishingEmailClicked(email()),
    }
}

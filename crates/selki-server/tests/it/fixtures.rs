//! Valid requests that tests change one field of.

use selki_proto::v1 as pb;
use selki_proto::v1::create_webhook_request::Signing;

use crate::harness::{ADMIN_KEY, TestServer, authed};

pub(crate) fn create_request(org: &str) -> pb::CreateWebhookRequest {
    pb::CreateWebhookRequest {
        organization_id: org.into(),
        name: "Notify Slack on Clicks".into(),
        url: "https://hooks.example.com/selki".into(),
        event_types: vec![pb::EventType::PhishingEmailClicked as i32],
        signing: Some(Signing::GenerateSigningSecret(true)),
        retry_policy: None,
        headers: vec![pb::Header {
            name: "Authorization".into(),
            value: "Bearer abc".into(),
            sensitive: false,
        }],
        disabled: false,
        timeout: None,
        ..Default::default()
    }
}

pub(crate) fn clicked(org: &str, client_event_id: &str) -> pb::EventSubmission {
    pb::EventSubmission {
        organization_id: org.into(),
        client_event_id: client_event_id.into(),
        occur_time: None,
        data: Some(pb::EventData {
            data: Some(pb::event_data::Data::PhishingEmailClicked(
                pb::PhishingEmail {
                    campaign_id: "abc123".into(),
                    email: "user@example.com".into(),
                },
            )),
        }),
    }
}

pub(crate) async fn create_webhook(server: &TestServer, org: &str) -> pb::CreateWebhookResponse {
    server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, create_request(org)))
        .await
        .expect("create webhook")
        .into_inner()
}

/// A new organization key, made by the admin.
pub(crate) async fn org_key(server: &TestServer, org: &str) -> String {
    let request = pb::CreateApiKeyRequest {
        scope: Default::default(),
        organization_id: org.into(),
        name: format!("{org} key"),
    };
    server
        .keys()
        .create_api_key(authed(ADMIN_KEY, request))
        .await
        .expect("create key")
        .into_inner()
        .key
}

//! The generated types compile, round-trip and describe every service.

use prost::Message as _;
use selki_proto::v1::{
    EventData, EventSubmission, EventType, PhishingEmail, SubmitEventRequest, event_data,
};

#[test]
fn a_submission_round_trips_through_the_protobuf_encoding() {
    let request = SubmitEventRequest {
        event: Some(EventSubmission {
            organization_id: "org_1".into(),
            client_event_id: "k1".into(),
            occur_time: None,
            data: Some(EventData {
                data: Some(event_data::Data::PhishingEmailClicked(PhishingEmail {
                    campaign_id: "abc123".into(),
                    email: "user@example.com".into(),
                })),
            }),
        }),
    };
    let decoded = SubmitEventRequest::decode(request.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(decoded, request);
}

#[test]
fn event_type_names_are_the_wire_names_with_a_prefix() {
    for (proto, wire) in [
        (
            EventType::PhishingEmailSent,
            selki_webhooks::EventType::PhishingEmailSent,
        ),
        (
            EventType::PhishingEmailOpened,
            selki_webhooks::EventType::PhishingEmailOpened,
        ),
        (
            EventType::PhishingEmailClicked,
            selki_webhooks::EventType::PhishingEmailClicked,
        ),
        (
            EventType::PhishingEmailReported,
            selki_webhooks::EventType::PhishingEmailReported,
        ),
        (
            EventType::PhishingEmailError,
            selki_webhooks::EventType::PhishingEmailError,
        ),
        (
            EventType::ThreatsNewThreat,
            selki_webhooks::EventType::ThreatsNewThreat,
        ),
    ] {
        assert_eq!(proto.as_str_name(), format!("EVENT_TYPE_{wire}"));
    }
}

#[test]
fn the_descriptor_set_describes_both_services_for_reflection() {
    let set = prost_types::FileDescriptorSet::decode(selki_proto::v1::FILE_DESCRIPTOR_SET)
        .expect("a descriptor set");
    let services: Vec<String> = set
        .file
        .iter()
        .flat_map(|f| f.service.iter().map(|s| s.name().to_owned()))
        .collect();
    assert!(
        services.contains(&"EventService".to_owned()),
        "{services:?}"
    );
    assert!(
        services.contains(&"WebhookService".to_owned()),
        "{services:?}"
    );
}

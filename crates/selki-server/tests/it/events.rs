use selki_proto::v1 as pb;
use tonic::Code;

use crate::fixtures::{clicked, create_webhook, org_key};
use crate::harness::{ADMIN_KEY, TestServer, authed, both};

both!(
    an_event_fans_out_to_the_organizations_subscribed_webhooks,
    a_retried_submission_is_the_same_event_and_a_changed_one_is_refused,
    a_batch_is_stored_whole_or_not_at_all,
);

async fn submit(
    server: &TestServer,
    key: &str,
    event: pb::EventSubmission,
) -> Result<pb::AcceptedEvent, tonic::Status> {
    let response = server
        .events()
        .submit_event(authed(key, pb::SubmitEventRequest { event: Some(event) }))
        .await?;
    Ok(response.into_inner().event.expect("accepted"))
}

async fn an_event_fans_out_to_the_organizations_subscribed_webhooks(server: &TestServer) {
    create_webhook(server, "acme").await;
    create_webhook(server, "acme").await;
    create_webhook(server, "globex").await;
    let accepted = submit(server, ADMIN_KEY, clicked("acme", ""))
        .await
        .expect("submit");
    assert!(accepted.event_id.starts_with("evt_"));
    assert_eq!(accepted.delivery_count, 2);
    assert!(!accepted.duplicate);
    let mut sent = clicked("acme", "");
    sent.data = Some(pb::EventData {
        data: Some(pb::event_data::Data::PhishingEmailSent(pb::PhishingEmail {
            campaign_id: "c".into(),
            email: "e@x.io".into(),
        })),
    });
    assert_eq!(
        submit(server, ADMIN_KEY, sent)
            .await
            .expect("submit")
            .delivery_count,
        0,
        "nobody subscribed to SENT"
    );
    // An organization key submits for its own organization only.
    let key = org_key(server, "globex").await;
    assert_eq!(
        submit(server, &key, clicked("", ""))
            .await
            .expect("own org")
            .delivery_count,
        1
    );
    assert_eq!(
        submit(server, &key, clicked("acme", ""))
            .await
            .expect_err("other org")
            .code(),
        Code::NotFound
    );
}

async fn a_retried_submission_is_the_same_event_and_a_changed_one_is_refused(server: &TestServer) {
    create_webhook(server, "acme").await;
    let first = submit(server, ADMIN_KEY, clicked("acme", "phish-42"))
        .await
        .expect("first");
    let retry = submit(server, ADMIN_KEY, clicked("acme", "phish-42"))
        .await
        .expect("retry");
    assert_eq!(retry.event_id, first.event_id);
    assert!(retry.duplicate);
    assert_eq!(retry.delivery_count, first.delivery_count);
    let mut changed = clicked("acme", "phish-42");
    changed.occur_time = Some(prost_types::Timestamp {
        seconds: 1_754_560_902,
        nanos: 0,
    });
    let refused = submit(server, ADMIN_KEY, changed)
        .await
        .expect_err("changed");
    assert_eq!(refused.code(), Code::AlreadyExists);
    assert!(
        refused.message().contains("phish-42"),
        "{}",
        refused.message()
    );
}

async fn a_batch_is_stored_whole_or_not_at_all(server: &TestServer) {
    create_webhook(server, "acme").await;
    let batch = |events| authed(ADMIN_KEY, pb::SubmitEventsRequest { events });
    let ok = server
        .events()
        .submit_events(batch(vec![
            clicked("acme", "b-1"),
            clicked("acme", "b-2"),
            clicked("acme", ""),
        ]))
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(
        ok.events
            .iter()
            .map(|e| e.delivery_count)
            .collect::<Vec<_>>(),
        [1, 1, 1]
    );
    let mut conflicting = clicked("acme", "b-2");
    conflicting.occur_time = Some(prost_types::Timestamp {
        seconds: 1,
        nanos: 0,
    });
    let refused = server
        .events()
        .submit_events(batch(vec![clicked("acme", "b-3"), conflicting]))
        .await
        .expect_err("conflict");
    assert_eq!(refused.code(), Code::AlreadyExists);
    assert!(
        refused.message().contains("events[1]"),
        "{}",
        refused.message()
    );
    // b-3 was not stored: submitting it now is new, not a duplicate.
    let fresh = submit(server, ADMIN_KEY, clicked("acme", "b-3"))
        .await
        .expect("fresh");
    assert!(!fresh.duplicate);
}

//! Being told when a webhook breaks: operational events reach the
//! organization's other webhooks, never the one they are about, and a
//! failed operational delivery raises nothing further.

use selki_proto::v1 as pb;
use selki_webhooks::{DisableReason, Event, EventData};

use crate::delivery::{WITHIN, delivering, next_calls, retry, submit, watch};
use crate::fixtures::{create_request, org_key};
use crate::harness::{ADMIN_KEY, TestServer, authed};
use crate::receiver::{Answer, Receiver};

delivering!(
    ["--failing-alert-after", "2"] =>
    a_breaking_webhook_tells_the_organizations_other_webhooks_and_never_itself,
);

const OPERATIONAL: [pb::EventType; 4] = [
    pb::EventType::WebhookDisabled,
    pb::EventType::WebhookFailing,
    pb::EventType::WebhookRecovered,
    pb::EventType::DeliveryExhausted,
];

async fn a_breaking_webhook_tells_the_organizations_other_webhooks_and_never_itself(
    server: &TestServer,
) {
    // The webhook that breaks: clicks, and (to prove it never hears about
    // itself) every operational event too.
    let broken = Receiver::start().await;
    broken.answer(
        &[
            Answer::Status(500),
            Answer::Status(500),
            Answer::Status(500),
            Answer::Status(500),
            Answer::Ok,
            Answer::Status(410),
        ],
        Answer::Ok,
    );
    let mut types = OPERATIONAL.to_vec();
    types.push(pb::EventType::PhishingEmailClicked);
    let broken_id = hook_for(server, "acme", &broken, &types, retry(1, 1)).await;
    // The organization's alert channel, and one that fails every call.
    let alerts = Receiver::start().await;
    hook_for(server, "acme", &alerts, &OPERATIONAL, retry(0, 1)).await;
    let failing = Receiver::start().await;
    failing.answer(&[], Answer::Status(503));
    let failing_id = hook_for(server, "acme", &failing, &OPERATIONAL, retry(0, 1)).await;
    let mut failing_calls = watch(server, &failing_id).await;
    // Another organization hears nothing of acme's webhooks.
    let elsewhere = Receiver::start().await;
    let elsewhere_id = hook_for(server, "globex", &elsewhere, &OPERATIONAL, retry(0, 1)).await;

    // Two clicks fail twice each: the streak crosses 2 (FAILING, once) and
    // both deliveries run out of attempts.
    let clicks = submit(server, "acme", 2).await;
    broken.take(4, WITHIN).await;
    let mut told = received(&alerts, 3).await;
    told.sort_by_key(|e| e.data.subscription().to_owned());
    let [
        EventData::DeliveryExhausted(a),
        EventData::DeliveryExhausted(b),
    ] = [&told[0].data, &told[1].data]
    else {
        panic!("two deliveries exhausted: {told:#?}");
    };
    let mut exhausted = vec![a.event_id.clone(), b.event_id.clone()];
    exhausted.sort();
    let mut sent = clicks.clone();
    sent.sort();
    assert_eq!(exhausted, sent);
    assert_eq!(a.webhook_id, broken_id);
    assert_eq!((a.attempts, a.last_outcome.as_str()), (2, "http_status"));
    assert_eq!(a.last_http_status, Some(500));
    assert_eq!(a.subscription, "PHISHING_EMAIL_CLICKED");
    let EventData::WebhookFailing(failing_now) = &told[2].data else {
        panic!("failing: {told:#?}");
    };
    assert_eq!(failing_now.webhook_id, broken_id);
    assert!(failing_now.consecutive_failures >= 2);
    assert_eq!(failing_now.last_http_status, Some(500));

    // The next click succeeds: RECOVERED, counting the four failures.
    submit(server, "acme", 1).await;
    broken.next(WITHIN).await;
    let [recovered] = received(&alerts, 1).await.try_into().expect("one");
    let EventData::WebhookRecovered(recovered) = recovered.data else {
        panic!("recovered: {recovered:#?}");
    };
    assert_eq!(
        (recovered.webhook_id.as_str(), recovered.failed_calls),
        (broken_id.as_str(), 4)
    );
    assert_eq!(recovered.failing_since, failing_now.failing_since);

    // 410 Gone: DISABLED by the rule, and that delivery given up.
    let gone_click = submit(server, "acme", 1).await;
    broken.next(WITHIN).await;
    let mut told = received(&alerts, 2).await;
    told.sort_by_key(|e| e.data.subscription().to_owned());
    let [
        EventData::DeliveryExhausted(given_up),
        EventData::WebhookDisabled(gone),
    ] = [&told[0].data, &told[1].data]
    else {
        panic!("given up and disabled: {told:#?}");
    };
    assert_eq!(given_up.event_id, gone_click[0]);
    assert_eq!(given_up.last_http_status, Some(410));
    assert_eq!(gone.reason, DisableReason::Gone);
    assert_eq!(gone.disabled_by, None);

    // Enabled again, then disabled by a person: who, by their key's name.
    set_enabled(server, ADMIN_KEY, &broken_id, true).await;
    let key = org_key(server, "acme").await;
    set_enabled(server, &key, &broken_id, false).await;
    set_enabled(server, &key, &broken_id, false).await;
    let [by_person] = received(&alerts, 1).await.try_into().expect("one");
    let EventData::WebhookDisabled(by_person) = by_person.data else {
        panic!("disabled: {by_person:#?}");
    };
    assert_eq!(by_person.reason, DisableReason::ByPerson);
    let who = by_person.disabled_by.expect("who");
    assert!(who.contains("acme key"), "{who}");

    // Every operational event also went to the failing webhook, once, and
    // its failures raised nothing (not even FAILING past the threshold).
    next_calls(&mut failing_calls, 7).await;
    failing.take(7, WITHIN).await;
    let about = |id: &str| {
        format!(
            "SELECT id FROM events WHERE body LIKE '%{id}%' AND event_type <> 'PHISHING_EMAIL_CLICKED'"
        )
    };
    assert_eq!(
        server.db.texts(&about(&failing_id)).await,
        Vec::<String>::new()
    );
    let to = |id: &str| {
        format!(
            "SELECT d.id FROM deliveries d JOIN events e ON e.id = d.event_id \
             WHERE d.webhook_id = '{id}' AND e.event_type <> 'PHISHING_EMAIL_CLICKED'"
        )
    };
    assert_eq!(server.db.texts(&to(&broken_id)).await, Vec::<String>::new());
    assert_eq!(
        server.db.texts(&to(&elsewhere_id)).await,
        Vec::<String>::new()
    );
    assert!(elsewhere.drain().await.is_empty());
    // Each state change raised its event once (disabling a disabled
    // webhook again raised nothing).
    let mut raised = server
        .db
        .texts(
            "SELECT event_type FROM events WHERE organization_id = 'acme' \
             AND event_type <> 'PHISHING_EMAIL_CLICKED'",
        )
        .await;
    raised.sort();
    assert_eq!(
        raised,
        [
            "DELIVERY_EXHAUSTED",
            "DELIVERY_EXHAUSTED",
            "DELIVERY_EXHAUSTED",
            "WEBHOOK_DISABLED",
            "WEBHOOK_DISABLED",
            "WEBHOOK_FAILING",
            "WEBHOOK_RECOVERED"
        ]
    );
}

/// A webhook of `org` for `types`, pointing at `receiver`; its id.
async fn hook_for(
    server: &TestServer,
    org: &str,
    receiver: &Receiver,
    types: &[pb::EventType],
    retry_policy: pb::RetryPolicy,
) -> String {
    let mut request = create_request(org);
    request.url = receiver.url("/hook");
    request.event_types = types.iter().map(|t| *t as i32).collect();
    request.retry_policy = Some(retry_policy);
    let created = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create")
        .into_inner();
    receiver.verify_with(&created.signing_secret);
    created.webhook.expect("webhook").id
}

/// The next `n` events `receiver` got, verified and parsed.
async fn received(receiver: &Receiver, n: usize) -> Vec<Event> {
    receiver
        .take(n, WITHIN)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.verified, Ok(()), "{}", r.body);
            Event::from_json(r.body.as_bytes()).expect("a Selki event")
        })
        .collect()
}

async fn set_enabled(server: &TestServer, key: &str, id: &str, enabled: bool) {
    let update = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: id.to_owned(),
            enabled,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["enabled".into()],
        }),
        ..Default::default()
    };
    server
        .webhooks()
        .update_webhook(authed(key, update))
        .await
        .expect("update");
}

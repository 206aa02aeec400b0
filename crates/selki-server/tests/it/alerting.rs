//! Alerts where security teams live: webhooks pointed straight at Slack,
//! Teams, PagerDuty and Splunk (loopback stand-ins that check each body
//! against the service's documented rules and answer as it does).

use selki_proto::v1 as pb;
use selki_testkit::Service;

use crate::debugging::get_call;
use selki_testkit::Db;

use crate::delivery::{WITHIN, delivering, next_calls, retry, submit, watch};
use crate::fixtures::create_request;
use crate::harness::{ADMIN_KEY, TestServer, authed};
use crate::receiver::{Answer, Receiver};

delivering!(
    every_event_reaches_each_service_as_it_takes_it_and_the_credential_stays_sealed,
    a_throttled_pagerduty_is_retried_with_the_same_dedup_key,
    a_content_filter_lets_through_only_what_matters_and_says_so,
    a_limited_webhook_is_called_no_faster_and_no_wider_than_it_allows,
);

/// Three worker processes on one PostgreSQL hold one webhook's limits
/// between them (a per-process limit would let each send its own share).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_three_worker_processes() {
    let Some(server) = TestServer::delivering(Db::Postgres, &["--role", "api"]).await else {
        return;
    };
    let _workers = [
        server.spawn_more(&["--role", "worker"]).await,
        server.spawn_more(&["--role", "worker"]).await,
        server.spawn_more(&["--role", "worker"]).await,
    ];
    limits_hold(&server).await;
}

async fn a_limited_webhook_is_called_no_faster_and_no_wider_than_it_allows(server: &TestServer) {
    limits_hold(server).await;
}

/// 50 per second and 4 in flight, to a receiver that takes 50 ms per call
/// (unlimited, the workers would call it far faster and wider): every
/// event arrives, no second window holds more than 55 calls (+10%), and
/// never more than 4 are open at once.
async fn limits_hold(server: &TestServer) {
    const EVENTS: usize = 250;
    let receiver = Receiver::start().await;
    receiver.answer(&[], Answer::Slow(50));
    let mut request = create_request("acme");
    request.url = receiver.url("/limited");
    request.max_deliveries_per_second = 50;
    request.max_in_flight = 4;
    let created = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create")
        .into_inner();
    let webhook = created.webhook.expect("webhook");
    assert_eq!(
        (webhook.max_deliveries_per_second, webhook.max_in_flight),
        (50, 4)
    );
    let sent: Vec<String> = submit(server, "acme", EVENTS).await;
    let got = receiver.take(EVENTS, WITHIN).await;
    let mut ids: Vec<String> = got.iter().map(|r| r.event_id()).collect();
    ids.sort();
    ids.dedup();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(ids, want, "every event arrived, once");
    let times: Vec<std::time::Instant> = got.iter().map(|r| r.at).collect();
    let busiest = times
        .iter()
        .map(|start| {
            let end = *start + std::time::Duration::from_secs(1);
            times.iter().filter(|t| **t >= *start && **t < end).count()
        })
        .max()
        .unwrap_or(0);
    assert!(busiest <= 55, "{busiest} calls within one second");
    let peak = receiver.peak_concurrency();
    assert!(peak <= 4, "{peak} calls open at once");
    let took = times.iter().max().zip(times.iter().min());
    let took = took.map_or(0.0, |(last, first)| {
        last.duration_since(*first).as_secs_f64()
    });
    eprintln!("{EVENTS} calls in {took:.2} s, busiest second {busiest}, peak {peak} open");
}

const ROUTING_KEY: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12";
const HEC_TOKEN: &str = "12345678-abcd-4321-abcd-1234567890ab";

/// The submittable event types.
const SUBMITTABLE: [pb::EventType; 6] = [
    pb::EventType::PhishingEmailSent,
    pb::EventType::PhishingEmailOpened,
    pb::EventType::PhishingEmailClicked,
    pb::EventType::PhishingEmailReported,
    pb::EventType::PhishingEmailError,
    pb::EventType::ThreatsNewThreat,
];

const OPERATIONAL: [pb::EventType; 4] = [
    pb::EventType::WebhookDisabled,
    pb::EventType::WebhookFailing,
    pb::EventType::WebhookRecovered,
    pb::EventType::DeliveryExhausted,
];

pub(crate) fn destination(service: Service) -> pb::Destination {
    use pb::DestinationFormat as F;
    let (format, credential) = match service {
        Service::Slack => (F::Slack, ""),
        Service::Teams => (F::MicrosoftTeams, ""),
        Service::PagerDuty => (F::Pagerduty, ROUTING_KEY),
        Service::Splunk => (F::SplunkHec, HEC_TOKEN),
    };
    pb::Destination {
        format: format as i32,
        credential: credential.into(),
        ..Default::default()
    }
}

/// One event of each submittable type.
pub(crate) fn one_of_each(org: &str) -> Vec<pb::EventSubmission> {
    use pb::event_data::Data;
    let email = || pb::PhishingEmail {
        campaign_id: "q3-finance".into(),
        email: "jane@example.com".into(),
    };
    let data = [
        Data::PhishingEmailSent(email()),
        Data::PhishingEmailOpened(email()),
        Data::PhishingEmailClicked(email()),
        Data::PhishingEmailReported(email()),
        Data::PhishingEmailError(pb::PhishingEmailError {
            campaign_id: "q3-finance".into(),
            email: "jane@example.com".into(),
            error: "mailbox full".into(),
        }),
        Data::ThreatsNewThreat(pb::NewThreat {
            id: "threat-7".into(),
            category: "EMPLOYEES".into(),
            risk_level: pb::RiskLevel::Critical as i32,
            url: "http://leakeddomain.com".into(),
            username: "jdoe".into(),
            email: "jdoe@company.com".into(),
        }),
    ];
    data.into_iter()
        .map(|d| pb::EventSubmission {
            organization_id: org.into(),
            data: Some(pb::EventData { data: Some(d) }),
            ..Default::default()
        })
        .collect()
}

pub(crate) async fn service_hook(
    server: &TestServer,
    receiver: &Receiver,
    service: Service,
    types: &[pb::EventType],
) -> pb::CreateWebhookResponse {
    let mut request = create_request("acme");
    request.name = format!("{service:?} alerts");
    request.url = receiver.url("/hook");
    request.event_types = types.iter().map(|t| *t as i32).collect();
    request.destination = Some(destination(service));
    request.retry_policy = Some(retry(2, 1));
    request.headers.clear();
    server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create")
        .into_inner()
}

async fn every_event_reaches_each_service_as_it_takes_it_and_the_credential_stays_sealed(
    server: &TestServer,
) {
    let mut stands = Vec::new();
    for service in Service::ALL {
        let receiver = Receiver::start().await;
        receiver.as_service(service);
        let created = service_hook(server, &receiver, service, &SUBMITTABLE).await;
        // Signed like every delivery: the stand-in checks the signature too.
        receiver.verify_with(&created.signing_secret);
        let webhook = created.webhook.expect("webhook");
        let calls = watch(server, &webhook.id).await;
        stands.push((service, receiver, webhook, calls));
    }
    server
        .events()
        .submit_events(authed(
            ADMIN_KEY,
            pb::SubmitEventsRequest {
                events: one_of_each("acme"),
            },
        ))
        .await
        .expect("submit");
    for (service, receiver, webhook, calls) in &mut stands {
        for received in receiver.take(SUBMITTABLE.len(), WITHIN).await {
            assert_eq!(received.verified, Ok(()), "{service:?}: {}", received.body);
            assert_eq!(received.header("selki-webhook-id"), webhook.id);
        }
        let made = next_calls(calls, SUBMITTABLE.len()).await;
        assert!(
            made.iter()
                .all(|c| c.outcome == pb::CallOutcome::Success as i32),
            "{service:?}: {made:#?}"
        );
        // Operational events, through test events: each format takes them.
        for event_type in OPERATIONAL {
            let tested = server
                .webhooks()
                .send_test_event(authed(
                    ADMIN_KEY,
                    pb::SendTestEventRequest {
                        webhook_id: webhook.id.clone(),
                        event_type: event_type as i32,
                    },
                ))
                .await
                .expect("test event")
                .into_inner();
            let call = tested.call.expect("call");
            assert_eq!(
                call.outcome,
                pb::CallOutcome::Success as i32,
                "{service:?} {event_type:?}: {call:#?}"
            );
            let received = receiver.next(WITHIN).await;
            assert_eq!(received.verified, Ok(()), "{service:?}: {}", received.body);
        }
        let shown = made.first().expect("a call");
        let call = get_call(server, &shown.id).await;
        let sent = call.request.expect("the request as sent");
        let body = String::from_utf8(sent.body).expect("text");
        for secret in [ROUTING_KEY, HEC_TOKEN] {
            assert!(
                !body.contains(secret),
                "{service:?} kept a credential: {body}"
            );
            assert!(
                sent.headers.iter().all(|h| !h.value.contains(secret)),
                "{service:?}: {:?}",
                sent.headers
            );
        }
        match service {
            Service::PagerDuty => assert!(body.contains(r#""routing_key":"****""#), "{body}"),
            Service::Splunk => assert!(
                sent.headers
                    .iter()
                    .any(|h| h.name == "authorization" && h.value == "****" && h.sensitive),
                "{:?}",
                sent.headers
            ),
            _ => {}
        }
        let read = server
            .webhooks()
            .get_webhook(authed(
                ADMIN_KEY,
                pb::GetWebhookRequest {
                    id: webhook.id.clone(),
                },
            ))
            .await
            .expect("get")
            .into_inner()
            .webhook
            .expect("webhook");
        let shown = read.destination.expect("destination");
        assert_eq!(shown.credential, "", "never returned");
        assert_eq!(
            shown.credential_set,
            matches!(service, Service::PagerDuty | Service::Splunk)
        );
    }
    // Sealed at rest: the stored bytes do not hold the credential.
    let hex = match server.db.postgres_name() {
        Some(_) => "encode(credential, 'hex')",
        None => "hex(credential)",
    };
    let stored = server
        .db
        .texts(&format!(
            "SELECT {hex} FROM webhooks WHERE credential IS NOT NULL"
        ))
        .await;
    assert_eq!(stored.len(), 2);
    for secret in [ROUTING_KEY, HEC_TOKEN] {
        let plain: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            stored
                .iter()
                .all(|s| !s.to_ascii_lowercase().contains(&plain)),
            "{secret} in the clear"
        );
    }
}

async fn a_throttled_pagerduty_is_retried_with_the_same_dedup_key(server: &TestServer) {
    let receiver = Receiver::start().await;
    receiver.as_service(Service::PagerDuty);
    receiver.answer(&[Answer::RetryAfter(429, 1)], Answer::Ok);
    service_hook(
        server,
        &receiver,
        Service::PagerDuty,
        &[pb::EventType::ThreatsNewThreat],
    )
    .await;
    let threat = one_of_each("acme").remove(5);
    server
        .events()
        .submit_event(authed(
            ADMIN_KEY,
            pb::SubmitEventRequest {
                event: Some(threat),
            },
        ))
        .await
        .expect("submit");
    let both = receiver.take(2, WITHIN).await;
    let key = |i: usize| {
        serde_json::from_str::<serde_json::Value>(&both[i].body).expect("JSON")["dedup_key"].clone()
    };
    assert_eq!(key(0), key(1), "one incident however often it is sent");
    assert_eq!(both[1].verified, Ok(()));
    assert!(
        both[1].at.duration_since(both[0].at) >= std::time::Duration::from_millis(900),
        "Retry-After: 1 was honoured"
    );
}

async fn a_content_filter_lets_through_only_what_matters_and_says_so(server: &TestServer) {
    let receiver = Receiver::start().await;
    let mut request = create_request("acme");
    request.url = receiver.url("/critical");
    request.event_types = vec![
        pb::EventType::ThreatsNewThreat as i32,
        pb::EventType::PhishingEmailClicked as i32,
    ];
    request.filter = Some(pb::ContentFilter {
        min_risk_level: pb::RiskLevel::Critical as i32,
        campaign_ids: vec!["q3-finance".into()],
        ..Default::default()
    });
    let created = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create")
        .into_inner();
    let webhook = created.webhook.expect("webhook");
    assert_eq!(
        webhook.filter.as_ref().map(|f| f.risk_levels.clone()),
        Some(vec![pb::RiskLevel::Critical as i32]),
        "a minimum is shown as the levels it lets through"
    );
    let threat = |level: pb::RiskLevel| {
        let mut e = one_of_each("acme").remove(5);
        if let Some(pb::EventData {
            data: Some(pb::event_data::Data::ThreatsNewThreat(t)),
        }) = &mut e.data
        {
            t.risk_level = level as i32;
        }
        e
    };
    let clicked = |campaign: &str| {
        let mut e = one_of_each("acme").remove(2);
        if let Some(pb::EventData {
            data: Some(pb::event_data::Data::PhishingEmailClicked(p)),
        }) = &mut e.data
        {
            p.campaign_id = campaign.into();
        }
        e
    };
    let events = vec![
        threat(pb::RiskLevel::High),
        threat(pb::RiskLevel::Critical),
        clicked("q4-hr"),
        clicked("q3-finance"),
    ];
    let accepted = server
        .events()
        .submit_events(authed(ADMIN_KEY, pb::SubmitEventsRequest { events }))
        .await
        .expect("submit")
        .into_inner()
        .events;
    assert_eq!(
        accepted
            .iter()
            .map(|a| a.delivery_count)
            .collect::<Vec<_>>(),
        [0, 1, 0, 1],
        "a filtered-out event creates no delivery"
    );
    let got: Vec<String> = receiver
        .take(2, WITHIN)
        .await
        .into_iter()
        .map(|r| r.event_id())
        .collect();
    let mut want = vec![accepted[1].event_id.clone(), accepted[3].event_id.clone()];
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want);

    // The sample threat is HIGH: a test event says it would not pass.
    let tested = server
        .webhooks()
        .send_test_event(authed(
            ADMIN_KEY,
            pb::SendTestEventRequest {
                webhook_id: webhook.id.clone(),
                event_type: pb::EventType::ThreatsNewThreat as i32,
            },
        ))
        .await
        .expect("test event")
        .into_inner();
    assert!(!tested.passes_filter);
    receiver.next(WITHIN).await;

    // Replaced whole: no filter lets everything through again.
    let update = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: webhook.id.clone(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["filter".into()],
        }),
        ..Default::default()
    };
    let updated = server
        .webhooks()
        .update_webhook(authed(ADMIN_KEY, update))
        .await
        .expect("update")
        .into_inner()
        .webhook
        .expect("webhook");
    assert_eq!(updated.filter, None);
    let again = server
        .events()
        .submit_event(authed(
            ADMIN_KEY,
            pb::SubmitEventRequest {
                event: Some(threat(pb::RiskLevel::Low)),
            },
        ))
        .await
        .expect("submit")
        .into_inner();
    assert_eq!(again.event.map(|a| a.delivery_count), Some(1));
}

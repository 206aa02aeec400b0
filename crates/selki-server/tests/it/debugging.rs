//! Debugging any delivery over the API: an event with its deliveries, a
//! webhook's queue, a call's request as sent, filters, lagging watchers,
//! recovery and replay that go on counting.

use std::time::Duration;

use selki_proto::v1 as pb;
use tonic::Code;

use crate::delivery::{WITHIN, hook, next_calls, retry, submit, watch};
use crate::fixtures::clicked;
use crate::harness::{ADMIN_KEY, TestServer, authed};
use crate::receiver::{Answer, Receiver};

crate::delivery::delivering!(
    an_event_shows_its_exact_body_and_its_delivery_to_every_webhook,
    events_are_listed_newest_first_with_filters_and_pages,
    a_webhooks_queue_shows_what_waits_what_is_in_flight_and_what_failed,
    a_call_keeps_the_request_as_sent_so_it_can_be_made_again,
    calls_are_filtered_by_event_delivery_status_and_trigger,
    a_lagging_watcher_is_told_how_many_calls_it_missed,
    a_deleted_webhooks_call_is_not_found,
    recovered_deliveries_go_on_counting_their_attempts_within_a_time_range,
    a_replay_sends_a_time_range_again_once_per_replay_id,
    delivered_timestamps_are_whole_seconds,
);

async fn get_event(server: &TestServer, request: pb::GetEventRequest) -> pb::Event {
    server
        .webhooks()
        .get_event(authed(ADMIN_KEY, request))
        .await
        .expect("get event")
        .into_inner()
        .event
        .expect("event")
}

pub(crate) async fn get_call(server: &TestServer, id: &str) -> pb::Call {
    server
        .webhooks()
        .get_call(authed(ADMIN_KEY, pb::GetCallRequest { id: id.into() }))
        .await
        .expect("get call")
        .into_inner()
        .call
        .expect("call")
}

async fn list_calls(server: &TestServer, request: pb::ListCallsRequest) -> pb::ListCallsResponse {
    server
        .webhooks()
        .list_calls(authed(ADMIN_KEY, request))
        .await
        .expect("list calls")
        .into_inner()
}

async fn deliveries(
    server: &TestServer,
    webhook: &str,
    states: &[pb::DeliveryState],
) -> Vec<pb::Delivery> {
    let request = pb::ListDeliveriesRequest {
        webhook_id: webhook.into(),
        states: states.iter().map(|s| *s as i32).collect(),
        ..Default::default()
    };
    server
        .webhooks()
        .list_deliveries(authed(ADMIN_KEY, request))
        .await
        .expect("list deliveries")
        .into_inner()
        .deliveries
}

/// Waits until `check` holds of the webhook's deliveries in `states`.
async fn deliveries_until(
    server: &TestServer,
    webhook: &str,
    states: &[pb::DeliveryState],
    check: impl Fn(&[pb::Delivery]) -> bool,
) -> Vec<pb::Delivery> {
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let found = deliveries(server, webhook, states).await;
        if check(&found) {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries stayed {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn state(d: &pb::Delivery) -> pb::DeliveryState {
    pb::DeliveryState::try_from(d.state).expect("a state")
}

async fn an_event_shows_its_exact_body_and_its_delivery_to_every_webhook(server: &TestServer) {
    let receiver = Receiver::start().await;
    let on = hook(server, "acme", &receiver.url("/on"), retry(3, 60)).await;
    receiver.verify_with(&on.secret);
    let mut off = crate::fixtures::create_request("acme");
    off.url = receiver.url("/off");
    off.disabled = true;
    server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, off))
        .await
        .expect("disabled webhook");
    let mut calls = watch(server, &on.id).await;
    let accepted = server
        .events()
        .submit_event(authed(
            ADMIN_KEY,
            pb::SubmitEventRequest {
                event: Some(clicked("acme", "order-7")),
            },
        ))
        .await
        .expect("submit")
        .into_inner()
        .event
        .expect("accepted");
    let received = receiver.next(WITHIN).await;
    next_calls(&mut calls, 1).await;
    let by_id = get_event(
        server,
        pb::GetEventRequest {
            id: accepted.event_id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        by_id.body,
        received.body.as_bytes(),
        "the exact bytes delivered"
    );
    assert_eq!(
        (by_id.client_event_id.as_str(), by_id.delivery_count),
        ("order-7", 1)
    );
    let states: Vec<(pb::DeliveryState, u32, u32)> = by_id
        .deliveries
        .iter()
        .map(|d| (state(d), d.attempts_made, d.attempts_left))
        .collect();
    assert!(
        states.contains(&(pb::DeliveryState::Succeeded, 1, 0))
            && states.contains(&(pb::DeliveryState::Skipped, 0, 0)),
        "{states:?}"
    );
    let delivered = by_id
        .deliveries
        .iter()
        .find(|d| d.webhook_id == on.id)
        .expect("the enabled webhook's delivery");
    let last = delivered.last_call.as_ref().expect("its last call");
    assert_eq!((last.http_status, last.attempt), (200, 1));
    let by_client_id = get_event(
        server,
        pb::GetEventRequest {
            client_event_id: "order-7".into(),
            organization_id: "acme".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_client_id.id, by_id.id);
    // Another organization's key finds nothing.
    let globex = crate::fixtures::org_key(server, "globex").await;
    let hidden = server
        .webhooks()
        .get_event(authed(
            &globex,
            pb::GetEventRequest {
                id: by_id.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("another organization's event");
    assert_eq!(hidden.code(), Code::NotFound);
}

async fn events_are_listed_newest_first_with_filters_and_pages(server: &TestServer) {
    let ids = submit(server, "acme", 5).await;
    let threat = pb::EventSubmission {
        organization_id: "acme".into(),
        client_event_id: "threat-1".into(),
        occur_time: None,
        data: Some(pb::EventData {
            data: Some(pb::event_data::Data::ThreatsNewThreat(pb::NewThreat {
                id: "t1".into(),
                category: "EMPLOYEES".into(),
                risk_level: pb::RiskLevel::Critical as i32,
                ..Default::default()
            })),
        }),
    };
    server
        .events()
        .submit_event(authed(
            ADMIN_KEY,
            pb::SubmitEventRequest {
                event: Some(threat),
            },
        ))
        .await
        .expect("threat");
    submit(server, "globex", 2).await;
    let list = |request: pb::ListEventsRequest| async move {
        server
            .webhooks()
            .list_events(authed(ADMIN_KEY, request))
            .await
            .expect("list events")
            .into_inner()
    };
    let first = list(pb::ListEventsRequest {
        organization_id: "acme".into(),
        page_size: 4,
        ..Default::default()
    })
    .await;
    let second = list(pb::ListEventsRequest {
        organization_id: "acme".into(),
        page_size: 4,
        page_token: first.next_page_token.clone(),
        ..Default::default()
    })
    .await;
    let all: Vec<String> = first
        .events
        .iter()
        .chain(&second.events)
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(all.len(), 6, "acme's six events, not globex's");
    assert!(second.next_page_token.is_empty());
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(ids.iter().all(|id| all.contains(id)));
    assert!(
        first.events.iter().all(|e| e.body.is_empty()),
        "a listing has no bodies"
    );
    let threats = list(pb::ListEventsRequest {
        organization_id: "acme".into(),
        event_type: pb::EventType::ThreatsNewThreat as i32,
        ..Default::default()
    })
    .await;
    assert_eq!(threats.events.len(), 1);
    let by_client_id = list(pb::ListEventsRequest {
        organization_id: "acme".into(),
        client_event_id: "threat-1".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(by_client_id.events[0].id, threats.events[0].id);
    let future = prost_types::Timestamp {
        seconds: 4_102_444_800,
        nanos: 0,
    };
    let none_yet = list(pb::ListEventsRequest {
        organization_id: "acme".into(),
        start_time: Some(future),
        ..Default::default()
    })
    .await;
    assert!(none_yet.events.is_empty(), "nothing accepted after 2100");
}

async fn a_webhooks_queue_shows_what_waits_what_is_in_flight_and_what_failed(server: &TestServer) {
    use pb::DeliveryState as S;
    // One retry, a minute later: the failed first attempt leaves it waiting.
    let slow = Receiver::start().await;
    slow.answer(&[Answer::Status(500)], Answer::Hang);
    let waiting = hook(server, "acme", &slow.url("/"), retry(1, 60)).await;
    // No retry: its call hangs (in flight) until the 2 s timeout fails it.
    let stuck = Receiver::start().await;
    stuck.answer(&[], Answer::Hang);
    let hanging = hook(server, "acme", &stuck.url("/"), retry(0, 60)).await;
    submit(server, "acme", 1).await;
    stuck.next(WITHIN).await;
    let in_flight = deliveries_until(server, &hanging.id, &[S::InFlight], |d| !d.is_empty()).await;
    assert_eq!(in_flight.len(), 1);
    let failed = deliveries_until(server, &hanging.id, &[S::Failed], |d| !d.is_empty()).await;
    assert_eq!((failed[0].attempts_made, failed[0].attempts_left), (1, 0));
    assert!(failed[0].next_attempt_time.is_none());
    let found = deliveries_until(server, &waiting.id, &[S::Pending], |d| {
        d.first().is_some_and(|d| d.attempts_made == 1)
    })
    .await;
    let pending = &found[0];
    assert_eq!((state(pending), pending.attempts_left), (S::Pending, 1));
    let next = pending
        .next_attempt_time
        .as_ref()
        .expect("when it goes")
        .seconds;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("now")
            .as_secs(),
    )
    .expect("seconds");
    assert!(
        (now + 20..=now + 90).contains(&next),
        "due about a minute from now: {next} vs {now}"
    );
    assert_eq!(pending.last_call.as_ref().map(|c| c.http_status), Some(500));
    // Every waiting or failed delivery, newest first, when no state is named.
    let all = deliveries(server, &waiting.id, &[]).await;
    assert_eq!(all.len(), 1);
    let refused = server
        .webhooks()
        .list_deliveries(authed(
            ADMIN_KEY,
            pb::ListDeliveriesRequest {
                webhook_id: hanging.id.clone(),
                states: vec![S::Succeeded as i32],
                ..Default::default()
            },
        ))
        .await
        .expect_err("succeeded deliveries are found through calls");
    assert_eq!(refused.code(), Code::InvalidArgument);
}

async fn a_call_keeps_the_request_as_sent_so_it_can_be_made_again(server: &TestServer) {
    let receiver = Receiver::start().await;
    let mut request = crate::fixtures::create_request("acme");
    request.url = receiver.url("/hook");
    request.headers.push(pb::Header {
        name: "X-Tenant".into(),
        value: "acme-eu".into(),
        sensitive: false,
    });
    let created = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create")
        .into_inner();
    let webhook = created.webhook.expect("webhook");
    let mut calls = watch(server, &webhook.id).await;
    submit(server, "acme", 1).await;
    let received = receiver.next(WITHIN).await;
    let listed = next_calls(&mut calls, 1).await.remove(0);
    assert!(listed.request.is_none(), "streams and listings stay light");
    let call = get_call(server, &listed.id).await;
    let sent = call.request.expect("the request as sent");
    assert_eq!(
        (sent.method.as_str(), sent.url.as_str()),
        ("POST", webhook.url.as_str())
    );
    assert_eq!(sent.body, received.body.as_bytes());
    let header = |name: &str| {
        sent.headers
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", sent.headers))
    };
    for name in [
        "selki-signature",
        "webhook-signature",
        "webhook-id",
        "selki-webhook-call-id",
        "user-agent",
        "content-type",
        "x-tenant",
    ] {
        assert_eq!(
            header(name).value,
            received.header(name),
            "{name} as the receiver got it"
        );
    }
    for h in sent.headers.iter().filter(|h| !h.sensitive) {
        assert_eq!(h.value, received.header(&h.name), "{} as received", h.name);
    }
    let authorization = header("authorization");
    assert_eq!(
        (authorization.value.as_str(), authorization.sensitive),
        ("****", true)
    );
    assert!(
        call.response_headers
            .iter()
            .any(|h| h.name == "content-length"),
        "{:?}",
        call.response_headers
    );
    // What was kept is enough to make the call again: it verifies.
    let headers: Vec<(String, String)> = sent
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    selki_webhooks::Webhook::new(&created.signing_secret)
        .expect("secret")
        .verify(&sent.body, headers.as_slice())
        .expect("the kept request verifies");
}

async fn calls_are_filtered_by_event_delivery_status_and_trigger(server: &TestServer) {
    let receiver = Receiver::start().await;
    let h = hook(server, "acme", &receiver.url("/"), retry(2, 1)).await;
    receiver.answer(&[Answer::Status(503)], Answer::Ok);
    let mut calls = watch(server, &h.id).await;
    let events = submit(server, "acme", 2).await;
    let made = next_calls(&mut calls, 3).await;
    let failed = made.iter().find(|c| c.http_status == 503).expect("the 503");
    let filtered = |request: pb::ListCallsRequest| {
        let request = pb::ListCallsRequest {
            webhook_id: h.id.clone(),
            ..request
        };
        async move { list_calls(server, request).await }
    };
    let of_event = filtered(pb::ListCallsRequest {
        event_id: failed.event_id.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(of_event.calls.len(), 2, "the 503 and its retry");
    assert!(!of_event.partial);
    let of_delivery = filtered(pb::ListCallsRequest {
        delivery_id: failed.delivery_id.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(of_delivery.calls.len(), 2);
    let server_errors = filtered(pb::ListCallsRequest {
        http_status_class: pb::HttpStatusClass::HttpStatusClass5xx as i32,
        ..Default::default()
    })
    .await;
    assert_eq!(
        server_errors
            .calls
            .iter()
            .map(|c| c.http_status)
            .collect::<Vec<_>>(),
        [503]
    );
    let exactly = filtered(pb::ListCallsRequest {
        http_status: 200,
        ..Default::default()
    })
    .await;
    assert_eq!(exactly.calls.len(), 2);
    assert!(events.contains(&exactly.calls[0].event_id));
    let test = server
        .webhooks()
        .send_test_event(authed(
            ADMIN_KEY,
            pb::SendTestEventRequest {
                webhook_id: h.id.clone(),
                event_type: 0,
            },
        ))
        .await
        .expect("test event")
        .into_inner()
        .call
        .expect("call");
    let tests = filtered(pb::ListCallsRequest {
        trigger: pb::CallTrigger::Test as i32,
        ..Default::default()
    })
    .await;
    assert_eq!(
        tests
            .calls
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        [test.id.as_str()]
    );
    // A test call's body is its own, kept with it.
    let kept = get_call(server, &test.id).await.request.expect("request");
    assert!(String::from_utf8_lossy(&kept.body).contains("PHISHING_EMAIL_CLICKED"));
}

async fn a_lagging_watcher_is_told_how_many_calls_it_missed(server: &TestServer) {
    let receiver = Receiver::start().await;
    let h = hook(server, "acme", &receiver.url("/"), retry(0, 60)).await;
    // A client that takes little at a time: its HTTP/2 windows hold a few
    // calls, so the server's buffer for it fills.
    let addr = server.process.addr.clone().expect("an API address");
    let narrow = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect()
        .await
        .expect("connect");
    let request = pb::WatchCallsRequest {
        webhook_id: h.id.clone(),
        organization_id: String::new(),
    };
    let mut calls = selki_proto::v1::webhook_service_client::WebhookServiceClient::new(narrow)
        .watch_calls(authed(ADMIN_KEY, request))
        .await
        .expect("watch")
        .into_inner();
    // Far more than a stream buffers, while the watcher reads nothing.
    let mut made: u64 = 1500;
    for _ in 0..3 {
        submit(server, "acme", 500).await;
    }
    receiver.take(1500, WITHIN * 2).await;
    let (mut got, mut missed) = (0_u64, 0_u64);
    while got + missed < made {
        match tokio::time::timeout(Duration::from_secs(1), calls.message()).await {
            Ok(message) => {
                let message = message.expect("the stream works").expect("a message");
                match message.call {
                    Some(_) => got += 1,
                    None => {
                        assert!(message.missed_calls > 0, "a marker says how many");
                        missed += message.missed_calls;
                    }
                }
            }
            // Read dry: a marker goes out before the next call, so make one.
            Err(_) => {
                assert!(made < 1510, "no marker came ({got} calls, {missed} missed)");
                submit(server, "acme", 1).await;
                made += 1;
                receiver.take(1, WITHIN).await;
            }
        }
    }
    assert!(
        missed > 0,
        "the watcher was told it missed calls ({got} got)"
    );
    assert_eq!(
        got + missed,
        made,
        "every call is sent or counted as missed"
    );
}

async fn a_deleted_webhooks_call_is_not_found(server: &TestServer) {
    let receiver = Receiver::start().await;
    let h = hook(server, "acme", &receiver.url("/"), retry(0, 60)).await;
    let mut calls = watch(server, &h.id).await;
    submit(server, "acme", 1).await;
    let call = next_calls(&mut calls, 1).await.remove(0);
    get_call(server, &call.id).await;
    server
        .webhooks()
        .delete_webhook(authed(
            ADMIN_KEY,
            pb::DeleteWebhookRequest { id: h.id.clone() },
        ))
        .await
        .expect("delete");
    let gone = server
        .webhooks()
        .get_call(authed(ADMIN_KEY, pb::GetCallRequest { id: call.id }))
        .await
        .expect_err("its webhook was deleted");
    assert_eq!(gone.code(), Code::NotFound);
}

async fn recovered_deliveries_go_on_counting_their_attempts_within_a_time_range(
    server: &TestServer,
) {
    let receiver = Receiver::start().await;
    let h = hook(server, "acme", &receiver.url("/"), retry(1, 1)).await;
    receiver.answer(&[], Answer::Status(500));
    let mut calls = watch(server, &h.id).await;
    let before = prost_types::Timestamp {
        seconds: 0,
        nanos: 0,
    };
    submit(server, "acme", 1).await;
    next_calls(&mut calls, 2).await;
    deliveries_until(server, &h.id, &[pb::DeliveryState::Failed], |d| {
        d.len() == 1
    })
    .await;
    let recover = |until: prost_types::Timestamp| pb::RecoverFailedRequest {
        webhook_id: h.id.clone(),
        since: Some(before),
        until: Some(until),
        limit: 0,
    };
    // Nothing was accepted before 1970-01-02.
    let none = server
        .webhooks()
        .recover_failed(authed(
            ADMIN_KEY,
            recover(prost_types::Timestamp {
                seconds: 86_400,
                nanos: 0,
            }),
        ))
        .await
        .expect("recover")
        .into_inner();
    assert_eq!(none.recovered_count, 0);
    receiver.answer(&[], Answer::Ok);
    let all = server
        .webhooks()
        .recover_failed(authed(
            ADMIN_KEY,
            recover(prost_types::Timestamp {
                seconds: 4_102_444_800,
                nanos: 0,
            }),
        ))
        .await
        .expect("recover")
        .into_inner();
    assert_eq!(all.recovered_count, 1);
    let again = next_calls(&mut calls, 1).await.remove(0);
    assert_eq!(
        (again.attempt, again.http_status),
        (3, 200),
        "try 3 after tries 1 and 2"
    );
}

async fn a_replay_sends_a_time_range_again_once_per_replay_id(server: &TestServer) {
    let receiver = Receiver::start().await;
    let h = hook(server, "acme", &receiver.url("/"), retry(1, 60)).await;
    receiver.verify_with(&h.secret);
    let mut calls = watch(server, &h.id).await;
    let events = submit(server, "acme", 3).await;
    next_calls(&mut calls, 3).await;
    receiver.take(3, WITHIN).await;
    let replay = pb::ReplayEventsRequest {
        webhook_id: h.id.clone(),
        start_time: Some(prost_types::Timestamp {
            seconds: 0,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: 4_102_444_800,
            nanos: 0,
        }),
        event_types: vec![],
        replay_id: "lost-on-tuesday".into(),
    };
    let first = server
        .webhooks()
        .replay_events(authed(ADMIN_KEY, replay.clone()))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!((first.replayed_count, first.duplicate), (3, false));
    let again = receiver.take(3, WITHIN).await;
    let mut redelivered: Vec<String> = again.iter().map(|r| r.event_id()).collect();
    redelivered.sort();
    let mut expected = events.clone();
    expected.sort();
    assert_eq!(redelivered, expected, "the same events, signed afresh");
    assert!(again.iter().all(|r| r.verified.is_ok()));
    let replayed = next_calls(&mut calls, 3).await;
    assert!(
        replayed
            .iter()
            .all(|c| c.trigger == pb::CallTrigger::Replay as i32 && c.attempt == 2),
        "{replayed:?}"
    );
    let retried = server
        .webhooks()
        .replay_events(authed(ADMIN_KEY, replay))
        .await
        .expect("replay again")
        .into_inner();
    assert_eq!((retried.replayed_count, retried.duplicate), (3, true));
    // A retried replay queued nothing: nothing of the webhook's waits.
    assert!(
        deliveries(
            server,
            &h.id,
            &[pb::DeliveryState::Pending, pb::DeliveryState::InFlight]
        )
        .await
        .is_empty()
    );
}

async fn delivered_timestamps_are_whole_seconds(server: &TestServer) {
    let receiver = Receiver::start().await;
    hook(server, "acme", &receiver.url("/"), retry(0, 60)).await;
    let mut event = clicked("acme", "");
    event.occur_time = Some(prost_types::Timestamp {
        seconds: 1_754_560_902,
        nanos: 345_000_000,
    });
    server
        .events()
        .submit_events(authed(
            ADMIN_KEY,
            pb::SubmitEventsRequest {
                events: vec![event, clicked("acme", "")],
            },
        ))
        .await
        .expect("submit");
    let bodies: Vec<String> = receiver
        .take(2, WITHIN)
        .await
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains(r#""timestamp":"2025-08-07T10:01:42Z""#)),
        "{bodies:?}"
    );
    for body in &bodies {
        let value: serde_json::Value = serde_json::from_str(body).expect("json");
        let timestamp = value["timestamp"].as_str().expect("timestamp");
        assert!(
            timestamp.ends_with('Z') && !timestamp.contains('.'),
            "{timestamp}"
        );
    }
}

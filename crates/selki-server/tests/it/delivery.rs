//! Delivery end to end: events submitted over gRPC reach loopback
//! receivers signed, retried, recorded, and observable.

use std::collections::HashMap;
use std::time::Duration;

use selki_proto::v1 as pb;
use tonic::Code;
use tonic::codec::Streaming;

use crate::fixtures::{clicked, create_request};
use crate::harness::{ADMIN_KEY, TestServer, authed};
use crate::receiver::{Answer, Receiver};

/// Upper bound for anything expected to happen; reached only on failure.
pub(crate) const WITHIN: Duration = Duration::from_secs(30);

/// `delivering!(scenario, …)` runs each scenario on a delivering server on
/// SQLite and on PostgreSQL; `delivering!([flags] => scenario, …)` adds flags.
macro_rules! delivering {
    ($($scenario:ident),* $(,)?) => { $crate::delivery::delivering!([] => $($scenario),*); };
    ($flags:tt => $($scenario:ident),* $(,)?) => {
        selki_testkit::on_both_stores!(
            |db| crate::harness::TestServer::delivering(db, &$flags) => $($scenario),*
        );
    };
}

pub(crate) use delivering;

delivering!(
    every_event_reaches_its_webhook_signed_with_the_exact_body_and_headers,
    failures_are_retried_with_fresh_signatures_honouring_retry_after,
    attempts_run_out_and_the_delivery_is_kept_as_failed,
    a_410_disables_the_webhook_and_its_kept_events_can_be_recovered,
    hanging_redirecting_and_hanging_up_receivers_are_failures,
    a_slow_webhook_does_not_hold_up_another,
    internal_destinations_are_refused_and_recorded,
    test_events_and_manual_redeliveries_are_recorded_with_their_trigger,
    calls_are_listed_newest_first_with_filters_and_pages,
    a_disabled_webhook_takes_test_events_to_be_tried_before_it_is_enabled,
);

delivering!(
    ["--auto-disable-after", "1s", "--auto-disable-min-failures", "3"] =>
    a_webhook_failing_long_enough_is_disabled_with_the_reason,
);

delivering!(
    ["--metrics-listen", "127.0.0.1:0"] =>
    metrics_count_calls_retries_and_the_queue,
);

pub(crate) struct Hook {
    pub(crate) id: String,
    pub(crate) secret: String,
}

pub(crate) fn retry(attempts: u32, delay_secs: i64) -> pb::RetryPolicy {
    pb::RetryPolicy {
        attempts,
        delay: Some(prost_types::Duration {
            seconds: delay_secs,
            nanos: 0,
        }),
        exponential_backoff: false,
        max_delay: None,
    }
}

/// A signed webhook for CLICKED events of `org`, pointing at `url`.
pub(crate) async fn hook(
    server: &TestServer,
    org: &str,
    url: &str,
    retry_policy: pb::RetryPolicy,
) -> Hook {
    let mut request = create_request(org);
    request.url = url.to_owned();
    request.retry_policy = Some(retry_policy);
    let created = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create webhook")
        .into_inner();
    Hook {
        id: created.webhook.expect("webhook").id,
        secret: created.signing_secret,
    }
}

/// Submits `n` CLICKED events of `org`; their ids.
pub(crate) async fn submit(server: &TestServer, org: &str, n: usize) -> Vec<String> {
    let events = (0..n).map(|_| clicked(org, "")).collect();
    server
        .events()
        .submit_events(authed(ADMIN_KEY, pb::SubmitEventsRequest { events }))
        .await
        .expect("submit")
        .into_inner()
        .events
        .into_iter()
        .map(|e| e.event_id)
        .collect()
}

/// Calls of a webhook as they are recorded.
pub(crate) async fn watch(server: &TestServer, webhook: &str) -> Streaming<pb::WatchCallsResponse> {
    let request = pb::WatchCallsRequest {
        webhook_id: webhook.to_owned(),
        organization_id: String::new(),
    };
    server
        .webhooks()
        .watch_calls(authed(ADMIN_KEY, request))
        .await
        .expect("watch")
        .into_inner()
}

pub(crate) async fn next_calls(
    stream: &mut Streaming<pb::WatchCallsResponse>,
    n: usize,
) -> Vec<pb::Call> {
    let mut calls = Vec::with_capacity(n);
    while calls.len() < n {
        let message = tokio::time::timeout(WITHIN, stream.message())
            .await
            .expect("calls recorded in time")
            .expect("the stream works")
            .expect("the stream goes on");
        calls.push(message.call.expect("call"));
    }
    calls
}

async fn list(server: &TestServer, request: pb::ListCallsRequest) -> pb::ListCallsResponse {
    server
        .webhooks()
        .list_calls(authed(ADMIN_KEY, request))
        .await
        .expect("list calls")
        .into_inner()
}

fn calls_of(webhook: &str) -> pb::ListCallsRequest {
    pb::ListCallsRequest {
        webhook_id: webhook.to_owned(),
        ..Default::default()
    }
}

pub(crate) async fn stats(server: &TestServer, webhook: &str) -> pb::WebhookStats {
    let request = pb::GetWebhookStatsRequest {
        webhook_id: webhook.to_owned(),
        window: None,
    };
    server
        .webhooks()
        .get_webhook_stats(authed(ADMIN_KEY, request))
        .await
        .expect("stats")
        .into_inner()
        .stats
        .expect("stats")
}

async fn get_webhook(server: &TestServer, id: &str) -> pb::Webhook {
    server
        .webhooks()
        .get_webhook(authed(ADMIN_KEY, pb::GetWebhookRequest { id: id.into() }))
        .await
        .expect("get")
        .into_inner()
        .webhook
        .expect("webhook")
}

fn outcome(call: &pb::Call) -> pb::CallOutcome {
    pb::CallOutcome::try_from(call.outcome).expect("known outcome")
}

async fn every_event_reaches_its_webhook_signed_with_the_exact_body_and_headers(
    server: &TestServer,
) {
    let receiver = Receiver::start().await;
    let hook = hook(server, "acme", &receiver.url("/hooks/selki"), retry(0, 1)).await;
    receiver.verify_with(&hook.secret);
    let mut recorded = watch(server, &hook.id).await;
    let events = submit(server, "acme", 3).await;
    let got = receiver.take(3, WITHIN).await;
    let mut by_event: HashMap<String, _> = got.iter().map(|r| (r.event_id(), r)).collect();
    for event in &events {
        let r = by_event.remove(event).expect("every event delivered");
        assert_eq!(r.verified, Ok(()), "both verifiers accept it");
        assert_eq!(r.path, "/hooks/selki");
        assert_eq!(r.header("selki-webhook-id"), hook.id);
        assert_eq!(r.header("webhook-id"), *event);
        assert!(r.header("selki-webhook-call-id").starts_with("call_"));
        assert_eq!(r.header("authorization"), "Bearer abc", "custom header");
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("user-agent").starts_with("Selki-Webhooks/"));
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(body["subscription"], "PHISHING_EMAIL_CLICKED");
        assert_eq!(body["data"]["campaignId"], "abc123");
    }
    let calls = next_calls(&mut recorded, 3).await;
    assert!(calls.iter().all(|c| outcome(c) == pb::CallOutcome::Success
        && c.http_status == 200
        && c.attempt == 1
        && c.response_excerpt == "ok"));
    let call_ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("selki-webhook-call-id"))
        .collect();
    for call in &calls {
        assert!(
            call_ids.contains(&call.id.as_str()),
            "the header names the call"
        );
    }
    let one = server
        .webhooks()
        .get_call(authed(
            ADMIN_KEY,
            pb::GetCallRequest {
                id: calls[0].id.clone(),
            },
        ))
        .await
        .expect("get call")
        .into_inner()
        .call
        .expect("call");
    // The listing is light: the one call adds what was sent and came back.
    let listed = pb::Call {
        request: None,
        response_headers: Vec::new(),
        ..one.clone()
    };
    assert_eq!(listed, calls[0]);
    assert!(one.request.is_some(), "GetCall has the request as sent");
    let stats = stats(server, &hook.id).await;
    assert_eq!(
        (
            stats.total_calls,
            stats.successful_calls,
            stats.success_rate
        ),
        (3, 3, 1.0)
    );
    assert_eq!(
        stats.status_counts,
        [pb::StatusCount {
            http_status: 200,
            calls: 3
        }]
    );
    assert!(stats.p50_duration.is_some() && stats.p99_duration.is_some());
    assert!(stats.last_success_time.is_some());
}

async fn failures_are_retried_with_fresh_signatures_honouring_retry_after(server: &TestServer) {
    let receiver = Receiver::start().await;
    receiver.answer(
        &[Answer::RetryAfter(429, 2), Answer::Status(500)],
        Answer::Ok,
    );
    let hook = hook(server, "acme", &receiver.url("/"), retry(5, 1)).await;
    receiver.verify_with(&hook.secret);
    let mut recorded = watch(server, &hook.id).await;
    let event = submit(server, "acme", 1).await.remove(0);
    let got = receiver.take(3, WITHIN).await;
    assert!(
        got.iter()
            .all(|r| r.event_id() == event && r.verified.is_ok())
    );
    let call_ids: std::collections::HashSet<_> = got
        .iter()
        .map(|r| r.header("selki-webhook-call-id"))
        .collect();
    assert_eq!(call_ids.len(), 3, "a new call id per attempt");
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(1900),
        "Retry-After: 2 was honoured"
    );
    assert!(
        got[2].at - got[1].at >= Duration::from_millis(900),
        "then the 1 s delay"
    );
    assert!(
        got[2].header("selki-timestamp") > got[0].header("selki-timestamp"),
        "re-signed with the attempt's time"
    );
    let calls = next_calls(&mut recorded, 3).await;
    let summary: Vec<_> = calls
        .iter()
        .map(|c| (c.attempt, outcome(c), c.http_status))
        .collect();
    assert_eq!(
        summary,
        [
            (1, pb::CallOutcome::HttpStatus, 429),
            (2, pb::CallOutcome::HttpStatus, 500),
            (3, pb::CallOutcome::Success, 200)
        ]
    );
    let stats = stats(server, &hook.id).await;
    assert_eq!(
        (stats.consecutive_failures, stats.pending_deliveries),
        (0, 0)
    );
}

async fn attempts_run_out_and_the_delivery_is_kept_as_failed(server: &TestServer) {
    let receiver = Receiver::start().await;
    receiver.answer(&[], Answer::Status(503));
    let hook = hook(server, "acme", &receiver.url("/"), retry(1, 1)).await;
    let mut recorded = watch(server, &hook.id).await;
    submit(server, "acme", 1).await;
    let calls = next_calls(&mut recorded, 2).await;
    assert!(
        calls
            .iter()
            .all(|c| c.http_status == 503 && !c.error_message.is_empty())
    );
    let stats = stats(server, &hook.id).await;
    assert_eq!(
        (
            stats.failed_deliveries,
            stats.pending_deliveries,
            stats.consecutive_failures,
            stats.success_rate
        ),
        (1, 0, 2, 0.0)
    );
    assert!(
        get_webhook(server, &hook.id).await.enabled,
        "two failures do not disable"
    );
}

async fn a_410_disables_the_webhook_and_its_kept_events_can_be_recovered(server: &TestServer) {
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Status(410)], Answer::Ok);
    let hook = hook(server, "acme", &receiver.url("/"), retry(5, 1)).await;
    let mut recorded = watch(server, &hook.id).await;
    let first = submit(server, "acme", 1).await.remove(0);
    next_calls(&mut recorded, 1).await;
    let webhook = get_webhook(server, &hook.id).await;
    assert!(!webhook.enabled);
    assert!(
        webhook.disabled_reason.contains("410"),
        "{}",
        webhook.disabled_reason
    );
    // While disabled: kept as skipped, not sent.
    let second = submit(server, "acme", 1).await.remove(0);
    let stats = stats(server, &hook.id).await;
    assert_eq!((stats.failed_deliveries, stats.skipped_deliveries), (1, 1));
    let recover = pb::RecoverFailedRequest {
        webhook_id: hook.id.clone(),
        since: Some(prost_types::Timestamp::default()),
        limit: 0,
        until: None,
    };
    let refused = server
        .webhooks()
        .recover_failed(authed(ADMIN_KEY, recover.clone()))
        .await
        .expect_err("disabled");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let mut enable = webhook.clone();
    enable.enabled = true;
    server
        .webhooks()
        .update_webhook(authed(
            ADMIN_KEY,
            pb::UpdateWebhookRequest {
                remove_headers: Default::default(),
                set_headers: Default::default(),
                webhook: Some(enable),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["enabled".into()],
                }),
            },
        ))
        .await
        .expect("enable");
    let recovered = server
        .webhooks()
        .recover_failed(authed(ADMIN_KEY, recover))
        .await
        .expect("recover")
        .into_inner();
    assert_eq!(recovered.recovered_count, 2);
    let mut events: Vec<String> = receiver
        .take(3, WITHIN)
        .await
        .iter()
        .skip(1)
        .map(|r| r.event_id())
        .collect();
    events.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(
        events, expected,
        "both kept events delivered after recovery"
    );
}

async fn hanging_redirecting_and_hanging_up_receivers_are_failures(server: &TestServer) {
    let hanging = Receiver::start().await;
    hanging.answer(&[], Answer::Hang);
    let moved = Receiver::start().await;
    moved.answer(&[], Answer::Redirect);
    let broken = Receiver::start().await;
    broken.answer(&[], Answer::Close);
    let slow = hook(server, "acme", &hanging.url("/"), retry(0, 1)).await;
    // Its own timeout, shorter than the server's 2 s.
    let mut update = get_webhook(server, &slow.id).await;
    update.timeout = Some(prost_types::Duration {
        seconds: 1,
        nanos: 0,
    });
    server
        .webhooks()
        .update_webhook(authed(
            ADMIN_KEY,
            pb::UpdateWebhookRequest {
                remove_headers: Default::default(),
                set_headers: Default::default(),
                webhook: Some(update),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["timeout".into()],
                }),
            },
        ))
        .await
        .expect("set a timeout");
    let gone = hook(server, "acme", &moved.url("/old"), retry(0, 1)).await;
    let cut = hook(server, "acme", &broken.url("/"), retry(0, 1)).await;
    let mut cut_calls = watch(server, &cut.id).await;
    let mut slow_calls = watch(server, &slow.id).await;
    let mut moved_calls = watch(server, &gone.id).await;
    submit(server, "acme", 1).await;
    let timed_out = next_calls(&mut slow_calls, 1).await.remove(0);
    assert_eq!(outcome(&timed_out), pb::CallOutcome::Timeout);
    assert_eq!(timed_out.http_status, 0);
    let took = timed_out.duration.expect("duration");
    assert!(
        took.seconds == 1 && took.nanos < 500_000_000,
        "the webhook's 1 s timeout, not the server's 2 s: {took:?}"
    );
    let redirected = next_calls(&mut moved_calls, 1).await.remove(0);
    assert_eq!(
        (outcome(&redirected), redirected.http_status),
        (pb::CallOutcome::HttpStatus, 302)
    );
    let seen = moved.drain().await;
    assert_eq!(seen.len(), 1, "the redirect was not followed");
    assert_eq!(seen[0].path, "/old");
    let hung_up = next_calls(&mut cut_calls, 1).await.remove(0);
    // The answer never completed (hyper sends nothing of a response whose
    // body fails at once): a failure, not a success.
    assert_eq!(outcome(&hung_up), pb::CallOutcome::InvalidResponse);
    assert!(!hung_up.error_message.is_empty());
}

async fn a_slow_webhook_does_not_hold_up_another(server: &TestServer) {
    let slow = Receiver::start().await;
    slow.answer(&[], Answer::Hang);
    let fast = Receiver::start().await;
    hook(server, "acme", &slow.url("/"), retry(0, 1)).await;
    let quick = hook(server, "acme", &fast.url("/"), retry(0, 1)).await;
    let mut quick_calls = watch(server, &quick.id).await;
    // 60 events: the slow webhook could fill every worker slot it may, and
    // the fast one must still get all its deliveries while it hangs.
    submit(server, "acme", 60).await;
    let calls = next_calls(&mut quick_calls, 60).await;
    assert!(calls.iter().all(|c| outcome(c) == pb::CallOutcome::Success));
    assert!(
        slow.drain().await.len() <= 32,
        "at most per-webhook concurrency in flight"
    );
    slow.release();
}

async fn internal_destinations_are_refused_and_recorded(server: &TestServer) {
    // 127.0.0.0/8 is allowed for these tests; nothing else internal is.
    for (i, url) in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://192.168.1.1/",
    ]
    .into_iter()
    .enumerate()
    {
        let org = format!("org-{i}");
        let hook = hook(server, &org, url, retry(0, 1)).await;
        let mut calls = watch(server, &hook.id).await;
        submit(server, &org, 1).await;
        let call = next_calls(&mut calls, 1).await.remove(0);
        assert_eq!(outcome(&call), pb::CallOutcome::BlockedDestination, "{url}");
        assert!(
            call.error_message.contains("public addresses"),
            "{url}: {}",
            call.error_message
        );
    }
}

async fn test_events_and_manual_redeliveries_are_recorded_with_their_trigger(server: &TestServer) {
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Status(500)], Answer::Ok);
    let hook = hook(server, "acme", &receiver.url("/"), retry(0, 1)).await;
    receiver.verify_with(&hook.secret);
    let mut recorded = watch(server, &hook.id).await;
    let event = submit(server, "acme", 1).await.remove(0);
    let failed = next_calls(&mut recorded, 1).await.remove(0);
    assert_eq!(failed.http_status, 500);
    let redelivered = server
        .webhooks()
        .redeliver_call(authed(
            ADMIN_KEY,
            pb::RedeliverCallRequest {
                id: failed.id.clone(),
            },
        ))
        .await
        .expect("redeliver")
        .into_inner()
        .call
        .expect("call");
    assert_eq!(
        (
            redelivered.trigger,
            redelivered.attempt,
            redelivered.http_status,
            redelivered.event_id.as_str()
        ),
        (pb::CallTrigger::Manual as i32, 2, 200, event.as_str())
    );
    let test = server
        .webhooks()
        .send_test_event(authed(
            ADMIN_KEY,
            pb::SendTestEventRequest {
                webhook_id: hook.id.clone(),
                event_type: pb::EventType::ThreatsNewThreat as i32,
            },
        ))
        .await
        .expect("test event")
        .into_inner()
        .call
        .expect("call");
    assert_eq!(
        (test.trigger, test.event_type, test.http_status),
        (
            pb::CallTrigger::Test as i32,
            pb::EventType::ThreatsNewThreat as i32,
            200
        )
    );
    let got = receiver.take(3, WITHIN).await;
    assert!(got.iter().all(|r| r.verified.is_ok()));
    assert_eq!(
        got[1].event_id(),
        event,
        "the redelivery keeps the event id"
    );
    assert!(got[2].body.contains("THREATS_NEW_THREAT"));
    let stats = stats(server, &hook.id).await;
    assert_eq!(
        (
            stats.failed_deliveries,
            stats.total_calls,
            stats.successful_calls
        ),
        (0, 3, 2),
        "a successful redelivery completes the failed delivery"
    );
}

async fn calls_are_listed_newest_first_with_filters_and_pages(server: &TestServer) {
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Status(500), Answer::Status(500)], Answer::Ok);
    let hook = hook(server, "acme", &receiver.url("/"), retry(0, 1)).await;
    let mut recorded = watch(server, &hook.id).await;
    submit(server, "acme", 5).await;
    let calls = next_calls(&mut recorded, 5).await;
    let all = list(server, calls_of(&hook.id)).await;
    assert_eq!(all.calls.len(), 5);
    let ids: Vec<&str> = all.calls.iter().map(|c| c.id.as_str()).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first);
    let mut request = calls_of(&hook.id);
    request.status = pb::CallStatus::Failed as i32;
    assert_eq!(list(server, request).await.calls.len(), 2);
    let mut request = calls_of(&hook.id);
    request.status = pb::CallStatus::Succeeded as i32;
    request.page_size = 2;
    let first = list(server, request.clone()).await;
    assert_eq!(first.calls.len(), 2);
    request.page_token = first.next_page_token;
    let second = list(server, request).await;
    assert_eq!(
        (second.calls.len(), second.next_page_token.as_str()),
        (1, "")
    );
    let mut request = calls_of(&hook.id);
    request.event_type = pb::EventType::PhishingEmailSent as i32;
    assert!(list(server, request).await.calls.is_empty());
    let mut request = calls_of(&hook.id);
    request.start_time = Some(prost_types::Timestamp {
        seconds: 4_000_000_000,
        nanos: 0,
    });
    assert!(
        list(server, request).await.calls.is_empty(),
        "nothing from the future"
    );
    let _ = calls;
}

async fn a_webhook_failing_long_enough_is_disabled_with_the_reason(server: &TestServer) {
    let receiver = Receiver::start().await;
    receiver.answer(&[], Answer::Status(500));
    let hook = hook(server, "acme", &receiver.url("/"), retry(10, 1)).await;
    let mut recorded = watch(server, &hook.id).await;
    submit(server, "acme", 1).await;
    // Failures at about 0 s, 1 s and 2 s: three in a row over more than 1 s.
    let calls = next_calls(&mut recorded, 3).await;
    assert!(calls.iter().all(|c| c.http_status == 500));
    let webhook = get_webhook(server, &hook.id).await;
    assert!(!webhook.enabled, "disabled with the third failure");
    assert!(
        webhook
            .disabled_reason
            .contains("at least 3 failed calls in a row"),
        "{}",
        webhook.disabled_reason
    );
    let stats = stats(server, &hook.id).await;
    assert_eq!(stats.consecutive_failures, 3);
}

async fn metrics_count_calls_retries_and_the_queue(server: &TestServer) {
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Status(500)], Answer::Ok);
    let hook = hook(server, "acme", &receiver.url("/"), retry(1, 1)).await;
    let mut recorded = watch(server, &hook.id).await;
    submit(server, "acme", 1).await;
    next_calls(&mut recorded, 2).await;
    let text = crate::resilience::scrape(server.process.metrics.as_deref().expect("metrics")).await;
    for line in [
        "selki_webhook_calls_total{outcome=\"success\"} 1",
        "selki_webhook_calls_total{outcome=\"http_status\"} 1",
        "selki_delivery_retries_total 1",
        "selki_webhook_call_duration_seconds_count 2",
        "selki_deliveries_pending 0",
        "selki_oldest_due_delivery_age_seconds 0.0",
        "selki_webhooks_disabled 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
}

async fn a_disabled_webhook_takes_test_events_to_be_tried_before_it_is_enabled(
    server: &TestServer,
) {
    let receiver = Receiver::start().await;
    let mut request = create_request("acme");
    request.url = receiver.url("/");
    request.disabled = true;
    let created = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create")
        .into_inner();
    let webhook = created.webhook.expect("webhook");
    assert!(!webhook.enabled);
    receiver.verify_with(&created.signing_secret);
    let call = server
        .webhooks()
        .send_test_event(authed(
            ADMIN_KEY,
            pb::SendTestEventRequest {
                webhook_id: webhook.id.clone(),
                event_type: 0,
            },
        ))
        .await
        .expect("a test call to a disabled webhook")
        .into_inner()
        .call
        .expect("call");
    assert_eq!(call.http_status, 200);
    assert_eq!(receiver.next(WITHIN).await.verified, Ok(()));
    assert!(
        !get_webhook(server, &webhook.id).await.enabled,
        "still disabled"
    );
}

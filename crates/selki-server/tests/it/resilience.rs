//! At least once, nothing lost: worker processes killed mid-delivery, the
//! database cut off under load, a receiver down for a while, several
//! workers on one PostgreSQL. Each test counts what the receiver got.

use std::collections::{HashMap, HashSet};

use selki_proto::v1 as pb;
use selki_testkit::Db;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::delivery::{WITHIN, hook, next_calls, retry, stats, submit, watch};
use crate::fixtures::clicked;
use crate::harness::{ADMIN_KEY, TestServer, authed};
use crate::receiver::{Answer, Receiver};

const API_ONLY: &[&str] = &["--role", "api"];
const WORKER: &[&str] = &["--role", "worker"];

/// The webhook's first `n` recorded calls, waiting for them.
async fn recorded_calls(server: &TestServer, webhook: &str, n: usize) -> Vec<pb::Call> {
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let request = pb::ListCallsRequest {
            webhook_id: webhook.to_owned(),
            ..Default::default()
        };
        let calls = server
            .webhooks()
            .list_calls(authed(ADMIN_KEY, request))
            .await
            .expect("list calls")
            .into_inner()
            .calls;
        if calls.len() >= n {
            return calls;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} calls recorded",
            calls.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// How many times each event id arrived.
fn counts(event_ids: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for id in event_ids {
        *counts.entry(id).or_default() += 1;
    }
    counts
}

selki_testkit::on_both_stores!(selki_testkit::bare => a_killed_workers_claims_are_delivered_once_its_lease_runs_out);

/// The worker is killed while its five calls hang; after the lease runs
/// out a worker delivers them: on PostgreSQL a new worker process beside
/// the API process, on SQLite (one process does everything) the restarted
/// server.
async fn a_killed_workers_claims_are_delivered_once_its_lease_runs_out(db: &Db) {
    let db = *db;
    let separate = db == Db::Postgres;
    let Some(mut server) = TestServer::delivering(db, if separate { API_ONLY } else { &[] }).await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.answer(&[], Answer::Hang);
    let hook = hook(&server, "acme", &receiver.url("/"), retry(3, 1)).await;
    let first_worker = match separate {
        true => Some(server.spawn_more(WORKER).await),
        false => None,
    };
    let events: HashSet<String> = submit(&server, "acme", 5).await.into_iter().collect();
    let in_flight = receiver.take(5, WITHIN).await;
    receiver.answer(&[], Answer::Ok);
    let second_worker = match first_worker {
        Some(mut first) => {
            first.kill();
            Some(server.spawn_more(WORKER).await)
        }
        None => {
            server.kill_and_restart(&[]).await;
            None
        }
    };
    let redelivered = receiver.take(5, WITHIN).await;
    // Read back, not watched: a restarted SQLite server takes its claims
    // back at start and may record them before a stream could open.
    let calls = recorded_calls(&server, &hook.id, 5).await;

    let got = counts(in_flight.iter().chain(&redelivered).map(|r| r.event_id()));
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), events);
    // The only duplicates: the calls in flight when the worker died, whose
    // answers it never recorded.
    assert!(got.values().all(|n| *n == 2), "{got:?}");
    assert!(
        calls.iter().all(|c| c.http_status == 200 && c.attempt == 1),
        "an unrecorded attempt is not counted"
    );
    assert_eq!(stats(&server, &hook.id).await.pending_deliveries, 0);
    drop(second_worker);
    server.finish().await;
}

selki_testkit::on_both_stores!(selki_testkit::bare => a_receiver_that_was_down_gets_everything_when_it_returns);

async fn a_receiver_that_was_down_gets_everything_when_it_returns(db: &Db) {
    let db = *db;
    let Some(server) = TestServer::delivering(db, &[]).await else {
        return;
    };
    let down = Receiver::start().await;
    let url = down.url("/");
    let port = down.stop();
    let hook = hook(&server, "acme", &url, retry(20, 1)).await;
    let mut recorded = watch(&server, &hook.id).await;
    let events: HashSet<String> = submit(&server, "acme", 10).await.into_iter().collect();
    // Two refused rounds of every event: the receiver was down for a while.
    let refused = next_calls(&mut recorded, 20).await;
    assert!(
        refused
            .iter()
            .all(|c| c.outcome == pb::CallOutcome::ConnectError as i32),
        "{refused:?}"
    );
    let back = Receiver::start_on(port).await;
    let got = back.take(10, crate::delivery::WITHIN).await;
    assert_eq!(
        got.iter().map(|r| r.event_id()).collect::<HashSet<_>>(),
        events,
        "every event arrived once the receiver was back"
    );
    server.finish().await;
}

/// PostgreSQL goes away under load (every connection cut, new ones
/// refused), then comes back: the server and its worker reconnect, and
/// every accepted event is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_under_load_loses_no_accepted_event() {
    let Some(server) = TestServer::delivering(Db::Postgres, &[]).await else {
        return;
    };
    let receiver = Receiver::start().await;
    hook(&server, "acme", &receiver.url("/"), retry(10, 1)).await;
    let mut accepted = HashSet::new();
    let mut refused_during_outage = 0;
    for batch in 0..20 {
        if batch == 10 {
            server.db.cut_off().await;
        }
        // Client event ids make a retried batch the same events.
        let events: Vec<_> = (0..10)
            .map(|i| clicked("acme", &format!("b{batch}-e{i}")))
            .collect();
        loop {
            let request = authed(
                ADMIN_KEY,
                pb::SubmitEventsRequest {
                    events: events.clone(),
                },
            );
            match server.events().submit_events(request).await {
                Ok(response) => {
                    accepted.extend(response.into_inner().events.into_iter().map(|e| e.event_id));
                    break;
                }
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                    refused_during_outage += 1;
                    // The outage was seen: end it; the retry then succeeds.
                    server.db.restore().await;
                }
            }
        }
    }
    assert!(refused_during_outage > 0, "the outage was real");
    assert_eq!(accepted.len(), 200);
    let mut got = counts(Vec::new());
    while got.len() < accepted.len() {
        let r = receiver.next(WITHIN).await;
        *got.entry(r.event_id()).or_default() += 1;
    }
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), accepted);
    server.finish().await;
}

/// Two, then three worker processes on one database: every delivery is
/// made exactly once (no lease runs out here, so a second call of an event
/// would mean two workers held one delivery), and every worker takes part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_three_workers_share_the_deliveries_without_overlap() {
    let Some(server) = TestServer::delivering(Db::Postgres, API_ONLY).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let hook = hook(&server, "acme", &receiver.url("/"), retry(3, 1)).await;
    let metrics_flags = ["--role", "worker", "--metrics-listen", "127.0.0.1:0"];
    let mut workers = vec![
        server.spawn_more(&metrics_flags).await,
        server.spawn_more(&metrics_flags).await,
    ];
    let mut recorded = watch(&server, &hook.id).await;
    let mut total = 0;
    for round in 0..2 {
        if round == 1 {
            workers.push(server.spawn_more(&metrics_flags).await);
        }
        let events: HashSet<String> = submit(&server, "acme", 300).await.into_iter().collect();
        let got = receiver.take(300, WITHIN).await;
        let got = counts(got.iter().map(|r| r.event_id()));
        assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), events);
        assert!(got.values().all(|n| *n == 1), "no event delivered twice");
        next_calls(&mut recorded, 300).await;
        total += 300;
        assert_eq!(stats(&server, &hook.id).await.total_calls, total);
    }
    // Each call was made by exactly one worker, and the work was shared.
    let mut per_worker = Vec::new();
    for worker in &workers {
        let text = scrape(worker.metrics.as_deref().expect("metrics address")).await;
        assert!(text.contains("selki_deliveries_pending"), "{text}");
        per_worker.push(success_count(&text));
    }
    assert_eq!(per_worker.iter().sum::<f64>(), 600.0, "{per_worker:?}");
    assert!(
        per_worker.iter().filter(|n| **n > 0.0).count() >= 2,
        "{per_worker:?}"
    );
    assert!(
        receiver.drain().await.is_empty(),
        "nothing arrived twice late"
    );
    drop(workers);
    server.finish().await;
}

/// `GET /metrics`, the body.
pub(crate) async fn scrape(addr: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("response");
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    text
}

fn success_count(text: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix("selki_webhook_calls_total{outcome=\"success\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

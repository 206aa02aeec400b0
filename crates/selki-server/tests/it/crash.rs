//! A crash costs seconds, and a skewed clock costs nothing: a dead
//! worker's claims go to others within about ten seconds whatever the
//! lease; a crash re-sends only what was in flight or just answered; a
//! worker whose clock runs ahead takes no live lease; a server whose clock
//! runs a month ahead prunes nothing young.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use selki_proto::v1 as pb;
use selki_testkit::Db;

use crate::delivery::{WITHIN, hook, next_calls, retry, submit, watch};
use crate::harness::{ADMIN_KEY, DELIVERING, Launch, Process, TestServer, authed};
use crate::receiver::{Answer, Receiver};
use crate::resilience::scrape;

/// A worker's claims held by a hanging receiver, then the worker is
/// SIGKILLed: how long until another delivers them, with a lease (120 s)
/// far longer than that.
async fn claims_of_a_dead_worker(db: Db) -> Duration {
    let separate = db == Db::Postgres;
    let lease = ["--lease", "120s", "--request-timeout", "5s"];
    let mut flags: Vec<&str> = lease.to_vec();
    if separate {
        flags.extend(["--role", "api"]);
    }
    let Some(mut server) = TestServer::delivering(db, &flags).await else {
        return Duration::ZERO;
    };
    let receiver = Receiver::start().await;
    receiver.answer(&[], Answer::Hang);
    hook(&server, "acme", &receiver.url("/"), retry(3, 1)).await;
    let worker: Vec<&str> = lease.iter().copied().chain(["--role", "worker"]).collect();
    let first = match separate {
        true => Some(server.spawn_more(&worker).await),
        false => None,
    };
    let events: HashSet<String> = submit(&server, "acme", 5).await.into_iter().collect();
    receiver.take(5, WITHIN).await;
    receiver.answer(&[], Answer::Ok);
    let killed = Instant::now();
    let second = match first {
        Some(mut first) => {
            first.kill();
            Some(server.spawn_more(&worker).await)
        }
        None => {
            server.kill_and_restart(&lease).await;
            None
        }
    };
    let again = receiver.take_up_to(5, WITHIN).await;
    let took = killed.elapsed();
    if again.len() < 5 {
        // What the database says of each delivery, to tell why.
        let rows = server
            .db
            .texts(
                "SELECT id || ' ' || status || ' attempts=' || attempts || ' by=' || \
                 COALESCE(leased_by, '-') || ' until=' || COALESCE(CAST(lease_until AS TEXT), '-') \
                 || ' next=' || COALESCE(CAST(next_attempt_at AS TEXT), '-') FROM deliveries",
            )
            .await;
        let processes = server
            .db
            .texts("SELECT name || ' ' || CAST(heartbeat_at AS TEXT) FROM processes")
            .await;
        panic!(
            "{} of 5 delivered again within {WITHIN:?}: {:?}\ndeliveries: {rows:#?}\nprocesses: {processes:#?}",
            again.len(),
            again.iter().map(|r| r.event_id()).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        again.iter().map(|r| r.event_id()).collect::<HashSet<_>>(),
        events
    );
    drop(second);
    server.finish().await;
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_claims_go_to_another_within_seconds_whatever_the_lease() {
    let took = claims_of_a_dead_worker(Db::Postgres).await;
    eprintln!("claims of a SIGKILLed worker delivered by another after {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?} (lease 120 s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sqlite_server_takes_back_its_own_claims_at_start() {
    let took = claims_of_a_dead_worker(Db::Sqlite).await;
    eprintln!("claims of a SIGKILLed SQLite server delivered after its restart in {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?} (lease 120 s)");
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits until a counter of `process`'s metrics reaches `at_least`.
async fn counted(process: &Process, name: &str, at_least: f64) {
    let addr = process.metrics.clone().expect("metrics");
    let deadline = Instant::now() + WITHIN;
    while metric(&scrape(&addr).await, name) < at_least {
        assert!(Instant::now() < deadline, "{name} never reached {at_least}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const AHEAD: &[&str] = &["env", "FAKETIME_DONT_FAKE_MONOTONIC=1", "faketime", "-f"];

/// A worker five minutes ahead joins while another's calls hang: it
/// must not take those leases (they are alive on the database's clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_clock_runs_ahead_takes_no_live_lease() {
    let flags = ["--role", "api", "--lease", "60s", "--request-timeout", "5s"];
    let Some(server) = TestServer::delivering(Db::Postgres, &flags).await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.answer(&[], Answer::Hang);
    hook(&server, "acme", &receiver.url("/"), retry(3, 1)).await;
    let worker = [
        "--role",
        "worker",
        "--lease",
        "60s",
        "--request-timeout",
        "5s",
    ];
    let first = server.spawn_more(&worker).await;
    submit(&server, "acme", 20).await;
    receiver.take(20, WITHIN).await;

    let mut args = DELIVERING.to_vec();
    args.extend(worker);
    args.extend(["--metrics-listen", "127.0.0.1:0"]);
    let wrapper: Vec<&str> = AHEAD.iter().copied().chain(["+5m"]).collect();
    let ahead =
        crate::harness::launch_process(&server.db.url, Launch::args(&args).under(&wrapper)).await;
    // Several claim rounds of its own: each would have taken the leases.
    counted(&ahead, "selki_claim_duration_seconds_count", 5.0).await;
    assert!(
        receiver.drain().await.is_empty(),
        "no delivery was sent a second time"
    );
    receiver.release();
    drop((first, ahead));
    server.finish().await;
}

selki_testkit::on_both_stores!(selki_testkit::bare => a_server_whose_clock_runs_a_month_ahead_prunes_nothing_young);

async fn a_server_whose_clock_runs_a_month_ahead_prunes_nothing_young(db: &Db) {
    let db = *db;
    let Some(mut server) = TestServer::delivering(db, &[]).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let hook = hook(&server, "acme", &receiver.url("/"), retry(0, 1)).await;
    let mut recorded = watch(&server, &hook.id).await;
    submit(&server, "acme", 3).await;
    next_calls(&mut recorded, 3).await;

    let mut args = DELIVERING.to_vec();
    args.extend(["--metrics-listen", "127.0.0.1:0"]);
    let wrapper: Vec<&str> = AHEAD.iter().copied().chain(["+31d"]).collect();
    server.replace(Launch::args(&args).under(&wrapper)).await;
    counted(&server.process, "selki_retention_passes_total", 1.0).await;
    let calls = server
        .webhooks()
        .list_calls(authed(
            ADMIN_KEY,
            pb::ListCallsRequest {
                webhook_id: hook.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .calls;
    assert_eq!(
        calls.len(),
        3,
        "a retention pass ran and kept this week's calls"
    );
    server.finish().await;
}

/// A process that serves the API and delivers takes its fresh deliveries
/// straight from ingestion, leased to itself. SIGKILLed while their calls
/// hang, it leaves those leases behind: another worker delivers them
/// within seconds (not the 120 s lease), every event, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_deliveries_a_dead_process_took_for_itself_go_to_another_worker() {
    let lease = ["--lease", "120s", "--request-timeout", "5s"];
    let mut flags = lease.to_vec();
    flags.extend(["--metrics-listen", "127.0.0.1:0"]);
    let Some(mut server) = TestServer::delivering(Db::Postgres, &flags).await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.answer(&[], Answer::Hang);
    hook(&server, "acme", &receiver.url("/"), retry(3, 1)).await;
    let events: HashSet<String> = submit(&server, "acme", 5).await.into_iter().collect();
    receiver.take(5, WITHIN).await;
    let text = scrape(server.process.metrics.as_ref().expect("metrics")).await;
    assert_eq!(
        metric(&text, "selki_deliveries_taken_fresh_total"),
        5.0,
        "all five skipped the claim"
    );
    receiver.answer(&[], Answer::Ok);
    let _worker = server
        .spawn_more(
            &lease
                .iter()
                .copied()
                .chain(["--role", "worker"])
                .collect::<Vec<_>>(),
        )
        .await;
    let killed = Instant::now();
    let mut api = DELIVERING.to_vec();
    api.extend(["--role", "api"]);
    server.replace(Launch::args(&api)).await;
    let again = receiver.take_up_to(5, WITHIN).await;
    assert_eq!(
        again.iter().map(|r| r.event_id()).collect::<HashSet<_>>(),
        events,
        "after {:?}",
        killed.elapsed()
    );
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "{:?}",
        killed.elapsed()
    );
    server.finish().await;
}

/// 2,000 events to 3 webhooks, the server SIGKILLed halfway: only calls in
/// flight or answered just before the kill are made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_sends_again_only_what_was_in_flight_or_just_answered() {
    let server = TestServer::delivering(Db::Postgres, &["--role", "api"]).await;
    let Some(server) = server else { return };
    let receivers = [
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    for r in &receivers {
        hook(&server, "acme", &r.url("/"), retry(3, 1)).await;
    }
    let mut worker = server.spawn_more(&["--role", "worker"]).await;
    let mut submitted = 0;
    let mut arrived: Vec<crate::receiver::Received> = Vec::new();
    let total = 2_000;
    while submitted < total {
        submit(&server, "acme", 100).await;
        submitted += 100;
        for r in &receivers {
            arrived.extend(r.drain().await);
        }
        if arrived.len() >= total * 3 / 2 {
            break;
        }
    }
    // Halfway through the deliveries: the worker dies.
    while arrived.len() < total * 3 / 2 {
        for r in &receivers {
            arrived.push(r.next(WITHIN).await);
        }
    }
    let killed = Instant::now();
    worker.kill();
    while submitted < total {
        submit(&server, "acme", 100).await;
        submitted += 100;
    }
    let _second = server.spawn_more(&["--role", "worker"]).await;
    let mut seen: HashMap<(u16, String), Vec<Instant>> = HashMap::new();
    record(&mut seen, &arrived);
    let deadline = Instant::now() + WITHIN;
    while seen.len() < total * 3 {
        assert!(
            Instant::now() < deadline,
            "{} of {} arrived",
            seen.len(),
            total * 3
        );
        let mut more = Vec::new();
        for r in &receivers {
            more.extend(r.drain().await);
        }
        if more.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        record(&mut seen, &more);
    }
    // Everything that arrived before the kill, newest first.
    let mut before: Vec<Instant> = seen
        .values()
        .map(|at| at[0])
        .filter(|at| *at <= killed)
        .collect();
    before.sort_unstable_by(|a, b| b.cmp(a));
    let made_again: Vec<Instant> = seen
        .values()
        .filter(|at| at.len() > 1)
        .map(|at| at[0])
        .collect();
    let rank = |first: &Instant| before.partition_point(|at| at > first);
    let deepest = made_again.iter().map(rank).max().unwrap_or(0);
    let oldest = made_again
        .iter()
        .map(|at| killed.saturating_duration_since(*at))
        .max()
        .unwrap_or_default();
    eprintln!(
        "after a SIGKILL: {} of {} calls made again, all among the last {} to arrive; the oldest had arrived {oldest:?} before the kill",
        made_again.len(),
        total * 3,
        deepest + 1
    );
    // What a worker can hold answered but unrecorded: its calls in flight
    // (32 per webhook), the recorder's queue (256) and the batch being
    // written (256), 608 in all, with
    // room for the receivers' clocks to order a few arrivals differently.
    // Whatever the machine's speed, nothing older is made again (before:
    // a queue of 1,024 and the 1,376 calls behind it).
    let unrecorded_at_most = 3 * 32 + 256 + 256;
    assert!(
        deepest < unrecorded_at_most + 64,
        "{deepest} ≥ {unrecorded_at_most}"
    );
    server.finish().await;
}

/// Arrival times per (receiver port, event id).
fn record(seen: &mut HashMap<(u16, String), Vec<Instant>>, arrived: &[crate::receiver::Received]) {
    for r in arrived {
        let host = r.header("host");
        let port = host
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        seen.entry((port, r.event_id())).or_default().push(r.at);
    }
}

//! A quick end-to-end measurement: a release `selki-server` on PostgreSQL
//! and on SQLite, a loopback receiver that verifies every signature, and
//! load over real gRPC. Prints delivery throughput and submit-to-receipt
//! latency. `cargo bench -p selki-server --bench delivery`
//!
//! Sizes: SELKI_BENCH_EVENTS (default 20000) events for throughput,
//! SELKI_BENCH_RATE events/s for 5 s (default 200) for latency.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use selki_proto::v1 as pb;
use selki_proto::v1::event_service_client::EventServiceClient;
use selki_proto::v1::webhook_service_client::WebhookServiceClient;
use selki_testkit::{Db, TestDatabase};
use tokio::sync::mpsc;
use tonic::transport::Channel;

const ADMIN_KEY: &str = "bench-admin-key-0123456789abcdef";
const SECRET_KEYS: &str = "b1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

type Receipts = mpsc::UnboundedSender<(String, Instant)>;

#[tokio::main]
async fn main() {
    let events: usize = env_or("SELKI_BENCH_EVENTS", 20_000);
    let rate: usize = env_or("SELKI_BENCH_RATE", 200);
    println!(
        "| store | deliveries/s ({events} events) | latency p50 | p95 | p99 | max ({rate}/s for 5 s) |"
    );
    println!("|---|---|---|---|---|---|");
    for db in [Db::Postgres, Db::Sqlite] {
        let Some(database) = TestDatabase::create(db).await else {
            println!("| {db:?} | skipped: no PostgreSQL |");
            continue;
        };
        let (throughput, latency) = run(&database.url, events, rate).await;
        println!(
            "| {db:?} | {throughput:.0} | {} | {} | {} | {} |",
            ms(latency[0]),
            ms(latency[1]),
            ms(latency[2]),
            ms(latency[3])
        );
        database.remove().await;
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run(database_url: &str, events: usize, rate: usize) -> (f64, [Duration; 4]) {
    let (receipts, mut received) = mpsc::unbounded_channel();
    let secret = Arc::new(Mutex::new(None::<selki_webhooks::Webhook>));
    let receiver = receiver(receipts, secret.clone()).await;
    let mut server = Command::new(env!("CARGO_BIN_EXE_selki-server"))
        .args(["--listen", "127.0.0.1:0", "--log", "warn"])
        .args([
            "--allow-http-endpoints",
            "true",
            "--allow-destinations",
            "127.0.0.0/8",
        ])
        .env("DATABASE_URL", database_url)
        .env("SELKI_ADMIN_KEY", ADMIN_KEY)
        .env("SELKI_SECRET_KEYS", SECRET_KEYS)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn selki-server");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let addr = lines
        .find_map(|l| {
            l.ok()?
                .strip_prefix("selki-server listening on ")
                .map(str::to_owned)
        })
        .expect("the server's address");
    std::thread::spawn(move || lines.for_each(drop));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let created = WebhookServiceClient::new(channel.clone())
        .create_webhook(authed(pb::CreateWebhookRequest {
            organization_id: "bench".into(),
            name: "bench".into(),
            url: format!("http://{receiver}/"),
            event_types: vec![pb::EventType::PhishingEmailClicked as i32],
            signing: Some(pb::create_webhook_request::Signing::GenerateSigningSecret(
                true,
            )),
            ..Default::default()
        }))
        .await
        .expect("create webhook")
        .into_inner();
    *secret.lock().expect("lock") =
        Some(selki_webhooks::Webhook::new(&created.signing_secret).expect("secret"));
    let events_client = EventServiceClient::new(channel);

    // Throughput: batches of 100 from 8 concurrent clients.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..8 {
        let mut events_client = events_client.clone();
        let batches = events / 100 / 8;
        tasks.push(tokio::spawn(async move {
            for _ in 0..batches {
                let events = (0..100).map(|_| clicked()).collect();
                events_client
                    .submit_events(authed(pb::SubmitEventsRequest { events }))
                    .await
                    .unwrap_or_else(|e| panic!("client {client}: {e}"));
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    let total = events / 100 / 8 * 100 * 8;
    for _ in 0..total {
        received.recv().await.expect("receipt");
    }
    let throughput = total as f64 / started.elapsed().as_secs_f64();

    // Latency: one event per RPC at a fixed rate.
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    let mut inflight = Vec::new();
    for _ in 0..rate * 5 {
        ticker.tick().await;
        let mut client = events_client.clone();
        inflight.push(tokio::spawn(async move {
            let at = Instant::now();
            let accepted = client
                .submit_event(authed(pb::SubmitEventRequest {
                    event: Some(clicked()),
                }))
                .await
                .expect("submit")
                .into_inner()
                .event
                .expect("accepted");
            (accepted.event_id, at)
        }));
    }
    for task in inflight {
        let (id, at) = task.await.expect("submit");
        sent.insert(id, at);
    }
    let mut latencies = Vec::with_capacity(sent.len());
    while latencies.len() < sent.len() {
        let (id, at) = received.recv().await.expect("receipt");
        if let Some(submitted) = sent.get(&id) {
            latencies.push(at - *submitted);
        }
    }
    latencies.sort();
    let pick = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    let _ = server.kill();
    let _ = server.wait();
    (
        throughput,
        [
            pick(50),
            pick(95),
            pick(99),
            *latencies.last().expect("some"),
        ],
    )
}

fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_KEY}").parse().expect("header"),
    );
    request
}

fn clicked() -> pb::EventSubmission {
    pb::EventSubmission {
        organization_id: "bench".into(),
        client_event_id: String::new(),
        occur_time: None,
        data: Some(pb::EventData {
            data: Some(pb::event_data::Data::PhishingEmailClicked(
                pb::PhishingEmail {
                    campaign_id: "campaign-1".into(),
                    email: "jane.doe@example.com".into(),
                },
            )),
        }),
    }
}

/// Verifies each delivery's signature and reports its event id and arrival.
async fn receiver(
    receipts: Receipts,
    secret: Arc<Mutex<Option<selki_webhooks::Webhook>>>,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new()
        .fallback(handle)
        .with_state((receipts, secret));
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn handle(
    State((receipts, secret)): State<(Receipts, Arc<Mutex<Option<selki_webhooks::Webhook>>>)>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let at = Instant::now();
    let verified = secret
        .lock()
        .expect("lock")
        .as_ref()
        .is_some_and(|w| w.verify(&body, &headers).is_ok());
    assert!(verified, "a delivery failed verification");
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = receipts.send((id, at));
    "ok"
}

//! Debugging a delivery from the command line: events, their calls and
//! deliveries, replay, health, settings changed in place, scoped keys.

use serde_json::Value;

use crate::harness::Server;
use crate::scenarios::{create_webhook, receiver, watch};

/// The `id`s of a JSON array, in order.
fn ids(listed: &Value, field: &str) -> Vec<String> {
    listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn count(listed: &Value) -> usize {
    listed.as_array().map_or(usize::MAX, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_found_by_either_id_followed_to_its_calls_and_replayed() {
    let server = Server::start().await;
    let (receiving, url) = receiver(&[]);
    let webhook = create_webhook(&server, &url);
    let watching = watch(&server, &webhook, 2);
    let sent = server
        .selki(&[
            "events",
            "send",
            "--org",
            "acme",
            "--type",
            "clicked",
            "--campaign-id",
            "c1",
            "--email",
            "a@example.com",
            "--client-event-id",
            "order-42",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let event = sent["event_id"].as_str().expect("an event id").to_owned();
    assert!(watching.next_line().contains("200 success"));
    receiving.next_line();

    let shown = server
        .selki(&["events", "get", &event, "-o", "json"])
        .ok()
        .json();
    assert_eq!(shown["client_event_id"], "order-42");
    assert_eq!(shown["deliveries"][0]["state"], "succeeded", "{shown:#}");
    assert_eq!(shown["deliveries"][0]["webhook_id"], webhook.as_str());
    let by_client_id = server
        .selki(&[
            "events",
            "get",
            "--client-id",
            "order-42",
            "--org",
            "acme",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(by_client_id["id"], event.as_str());
    let listed = server
        .selki(&["events", "list", "--org", "acme", "-o", "json"])
        .ok()
        .json();
    assert_eq!(ids(&listed, "id"), [event.as_str()]);
    let table = server.selki(&["events", "get", &event]).ok().stdout;
    assert!(
        table.contains("order-42") && table.contains("succeeded"),
        "{table}"
    );

    // The call of that event: the request exactly as sent.
    let calls = server
        .selki(&["calls", "list", &webhook, "--event", &event, "-o", "json"])
        .ok()
        .json();
    assert_eq!(count(&calls), 1, "{calls:#}");
    let call_id = calls[0]["id"].as_str().expect("a call id");
    let call = server
        .selki(&["calls", "get", call_id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(call["request"]["method"], "POST", "{call:#}");
    assert_eq!(call["request"]["body"], shown["body"], "the body as sent");
    let sent_headers: Vec<&str> = call["request"]["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h[0].as_str())
        .collect();
    assert!(
        sent_headers.contains(&"webhook-signature"),
        "{sent_headers:?}"
    );
    let authorization = call["request"]["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h[0] == "authorization");
    assert_eq!(
        authorization.map(|h| h[1].clone()),
        Some(Value::from("****")),
        "a sensitive header is kept masked"
    );
    let delivery = call["delivery_id"].as_str().expect("a delivery id");
    for (filter, value, want) in [
        ("--delivery", delivery, 1),
        ("--status-code", "200", 1),
        ("--status-code", "2xx", 1),
        ("--status-code", "5xx", 0),
        ("--status-code", "none", 0),
        ("--trigger", "replay", 0),
    ] {
        let found = server
            .selki(&["calls", "list", &webhook, filter, value, "-o", "json"])
            .ok()
            .json();
        assert_eq!(count(&found), want, "{filter} {value}: {found:#}");
    }
    let detail = server.selki(&["calls", "get", call_id]).ok().stdout;
    assert!(
        detail.contains(&format!("POST {url}")) && detail.contains("webhook-signature:"),
        "{detail}"
    );

    // Replayed once, however often asked with the same replay id.
    let replay = ["replay", &webhook, "--since", "1h", "--replay-id", "r-1"];
    let first = server
        .selki(&[&replay[..], &["-o", "json"]].concat())
        .ok()
        .json();
    assert_eq!(
        (
            first["replayed_count"].as_u64(),
            first["duplicate"].as_bool()
        ),
        (Some(1), Some(false))
    );
    assert!(watching.next_line().contains("200 success"));
    let again = server
        .selki(&[&replay[..], &["-o", "json"]].concat())
        .ok()
        .json();
    assert_eq!(
        (
            again["replayed_count"].as_u64(),
            again["duplicate"].as_bool()
        ),
        (Some(1), Some(true))
    );
    let replayed = server
        .selki(&[
            "calls",
            "list",
            &webhook,
            "--trigger",
            "replay",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(ids(&replayed, "event_id"), [event.as_str()]);
    let waiting = server
        .selki(&["deliveries", "list", &webhook, "-o", "json"])
        .ok()
        .json();
    assert_eq!(count(&waiting), 0, "nothing waits or failed: {waiting:#}");
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_shows_its_failed_delivery_and_health() {
    let server = Server::start().await;
    let (_receiving, url) = receiver(&["--status", "503"]);
    // One retry, a second after the first attempt.
    let webhook = create_webhook(&server, &url);
    let watching = watch(&server, &webhook, 2);
    server
        .selki(&[
            "events",
            "send",
            "--org",
            "acme",
            "--type",
            "clicked",
            "--campaign-id",
            "c1",
            "--email",
            "a@example.com",
        ])
        .ok();
    for _ in 0..2 {
        let line = watching.next_line();
        assert!(line.contains("503"), "{line}");
    }
    let failed = server
        .selki(&[
            "deliveries",
            "list",
            &webhook,
            "--state",
            "failed",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(count(&failed), 1, "{failed:#}");
    assert_eq!(
        (
            failed[0]["attempts_made"].as_u64(),
            failed[0]["attempts_left"].as_u64()
        ),
        (Some(2), Some(0))
    );
    let pending = server
        .selki(&[
            "deliveries",
            "list",
            &webhook,
            "--state",
            "pending",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(count(&pending), 0, "{pending:#}");
    let answered_503 = server
        .selki(&[
            "calls",
            "list",
            &webhook,
            "--status-code",
            "503",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(count(&answered_503), 2);
    let listed = server
        .selki(&[
            "webhooks", "list", "--org", "acme", "--health", "-o", "json",
        ])
        .ok()
        .json();
    let health = &listed[0]["health"];
    assert_eq!(
        (
            health["calls"].as_u64(),
            health["consecutive_failures"].as_u64()
        ),
        (Some(2), Some(2)),
        "{health:#}"
    );
    let table = server
        .selki(&["webhooks", "list", "--org", "acme", "--health"])
        .ok()
        .stdout;
    assert!(table.contains("0.0% of 2"), "{table}");
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_change_in_place_creation_is_idempotent_and_keys_are_scoped() {
    let server = Server::start().await;
    let webhook = create_webhook(&server, "http://127.0.0.1:9/hook");
    server
        .selki(&[
            "webhooks",
            "update",
            &webhook,
            "--set-header",
            "X-Team: red",
            "--remove-header",
            "authorization",
            "--no-signing",
            "--retry-attempts",
            "3",
        ])
        .ok();
    let shown = server
        .selki(&["webhooks", "get", &webhook, "-o", "json"])
        .ok()
        .json();
    // Header names are kept lower-case, as HTTP/2 sends them.
    assert_eq!(ids(&shown["headers"], "name"), ["x-team"], "{shown:#}");
    assert_eq!(shown["signing_secret_set"], false);
    assert_eq!(
        (
            shown["retry_policy"]["attempts"].as_u64(),
            shown["retry_policy"]["delay_seconds"].as_f64()
        ),
        (Some(3), Some(1.0)),
        "the delay set at creation stays"
    );

    let create = [
        "webhooks",
        "create",
        "--org",
        "acme",
        "--name",
        "Once",
        "--url",
        "https://hooks.example/once",
        "--event",
        "sent",
        "--request-id",
        "req-1",
        "-o",
        "json",
    ];
    let first = server.selki(&create).ok().json();
    let second = server.selki(&create).ok().json();
    assert_eq!(first["webhook"]["id"], second["webhook"]["id"]);
    assert_eq!(
        (first["duplicate"].as_bool(), second["duplicate"].as_bool()),
        (Some(false), Some(true))
    );

    let reader = server
        .selki(&[
            "keys",
            "create",
            "--name",
            "dashboards",
            "--org",
            "acme",
            "--scope",
            "read",
            "-q",
        ])
        .ok()
        .stdout;
    let reader = reader.trim();
    let seen = server
        .selki_as(reader, &["webhooks", "list", "-o", "json"])
        .ok()
        .json();
    assert_eq!(count(&seen), 2);
    let refused = server.selki_as(
        reader,
        &[
            "events",
            "send",
            "--type",
            "clicked",
            "--campaign-id",
            "c1",
            "--email",
            "a@example.com",
        ],
    );
    assert!(
        refused.code == 4 && refused.stderr.contains("may not do that"),
        "{refused:#?}"
    );
    server.finish().await;
}

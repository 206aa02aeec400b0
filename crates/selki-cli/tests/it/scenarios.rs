//! Every command's happy path, and failures that say what went wrong.

use std::io::{Read as _, Write as _};

use crate::harness::{Running, Server, run, selki};

pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `selki receive` on a free port, verifying with `SECRET`.
pub(crate) fn receiver(extra: &[&str]) -> (Running, String) {
    let receiving = Running::start(
        selki()
            .args(["receive", "--port", "0", "--secret", SECRET])
            .args(extra),
        "Listening on ",
    );
    let url = receiving
        .announced
        .split_whitespace()
        .next()
        .expect("a URL")
        .to_owned();
    (receiving, url)
}

/// `selki calls watch` for `count` calls, running once its header is out
/// (by then it is subscribed: nothing recorded afterwards is missed).
pub(crate) fn watch(server: &Server, webhook: &str, count: usize) -> Running {
    Running::start(
        selki()
            .env("SELKI_ADDR", &server.addr)
            .env("SELKI_API_KEY", crate::harness::ADMIN_KEY)
            .args(["calls", "watch", "--webhook", webhook, "--count"])
            .arg(count.to_string()),
        "STARTED",
    )
}

pub(crate) fn create_webhook(server: &Server, url: &str) -> String {
    let id = server
        .selki(&[
            "webhooks",
            "create",
            "--org",
            "acme",
            "--name",
            "Notify Slack on Clicks",
            "--url",
            url,
            "--event",
            "clicked,new-threat",
            "--secret",
            SECRET,
            "--retry-attempts",
            "1",
            "--retry-delay",
            "1s",
            "--header",
            "Authorization: Bearer abc",
            "--quiet",
        ])
        .ok()
        .stdout;
    let id = id.trim().to_owned();
    assert!(id.starts_with("wh_"), "{id}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_created_listed_shown_changed_rotated_and_deleted() {
    let server = Server::start().await;
    let created = server
        .selki(&[
            "webhooks",
            "create",
            "--org",
            "acme",
            "--name",
            "Hook",
            "--url",
            "https://hooks.example.com/a",
            "--event",
            "clicked",
            "--header",
            "Authorization: Bearer t0ken",
            "--header",
            "X-Team: blue",
            "--secret-header",
            "X-Tenant: ref-42",
            "--output",
            "json",
        ])
        .ok()
        .json();
    let id = created["webhook"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created["webhook"]["headers"],
        serde_json::json!([
            {"name": "authorization", "value": "****", "sensitive": true},
            {"name": "x-team", "value": "blue", "sensitive": false},
            {"name": "x-tenant", "value": "****", "sensitive": true},
        ]),
        "sensitive values are never shown"
    );
    assert!(
        created["signing_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "a generated secret is shown once"
    );
    let listed = server
        .selki(&["webhooks", "list", "--org", "acme", "-o", "json"])
        .ok()
        .json();
    assert_eq!(listed[0]["id"], id.as_str());
    let table = server
        .selki(&["webhooks", "list", "--org", "acme"])
        .ok()
        .stdout;
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&id) && table.contains("PHISHING_EMAIL_CLICKED"),
        "{table}"
    );

    let shown = server.selki(&["webhooks", "get", &id]).ok().stdout;
    assert!(shown.contains("https://hooks.example.com/a"), "{shown}");
    let updated = server
        .selki(&[
            "webhooks",
            "update",
            &id,
            "--name",
            "Renamed",
            "--retry-attempts",
            "7",
            "--timeout",
            "5s",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["retry_policy"]["attempts"], 7);
    assert_eq!(
        updated["retry_policy"]["delay_seconds"], 60.0,
        "the rest kept"
    );
    assert_eq!(updated["timeout_seconds"], 5.0);
    let disabled = server
        .selki(&["webhooks", "disable", &id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(disabled["enabled"], false);
    let enabled = server
        .selki(&["webhooks", "enable", &id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(enabled["enabled"], true);
    let rotated = server
        .selki(&[
            "webhooks",
            "rotate-secret",
            &id,
            "--grace",
            "1h",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert!(
        rotated["signing_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    assert!(
        !rotated["previous_secret_expire_time"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );

    let unconfirmed = server.selki(&["webhooks", "delete", &id]);
    assert_eq!(unconfirmed.code, 2, "{unconfirmed:#?}");
    assert!(
        unconfirmed.stderr.contains("--yes"),
        "{}",
        unconfirmed.stderr
    );
    server.selki(&["webhooks", "get", &id]).ok();
    server.selki(&["webhooks", "delete", &id, "--yes"]).ok();
    assert_eq!(server.selki(&["webhooks", "get", &id]).code, 3);
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_flags_and_a_file_reach_selki_receive_verified_and_show_in_calls_and_stats() {
    let server = Server::start().await;
    let (receiving, url) = receiver(&[]);
    let id = create_webhook(&server, &url);
    let watching = watch(&server, &id, 3);
    let sent = server
        .selki(&[
            "events",
            "send",
            "--org",
            "acme",
            "--type",
            "clicked",
            "--campaign-id",
            "abc123",
            "--email",
            "user@example.com",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(sent["delivery_count"], 1);
    let file = std::env::temp_dir().join(format!("selki-events-{}.jsonl", std::process::id()));
    std::fs::write(
        &file,
        concat!(
            r#"{"subscription":"PHISHING_EMAIL_CLICKED","data":{"campaignId":"c2","email":"b@example.com"}}"#,
            "\n",
            r#"{"subscription":"THREATS_NEW_THREAT","data":{"id":"t1","category":"EMPLOYEES","riskLevel":"HIGH","url":"https://x.example","username":"bob","email":"b@example.com"}}"#,
            "\n",
        ),
    )
    .expect("write events");
    let from_file = server
        .selki(&[
            "events",
            "send",
            "--org",
            "acme",
            "--file",
            file.to_str().expect("path"),
        ])
        .ok()
        .stdout;
    assert!(
        from_file.contains("Sent 2 events: 2 deliveries"),
        "{from_file}"
    );
    let watched: Vec<String> = (0..3).map(|_| watching.next_line()).collect();
    assert!(
        watched.iter().all(|l| l.contains("200 success")),
        "{watched:#?}"
    );

    let lines: Vec<String> = (0..3).map(|_| receiving.next_line()).collect();
    assert!(
        lines
            .iter()
            .all(|l| l.contains("signature ok") && l.contains("→ 200")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("THREATS_NEW_THREAT")),
        "{lines:#?}"
    );

    let calls = server
        .selki(&["calls", "list", &id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(calls.as_array().map(Vec::len), Some(3));
    assert!(
        calls
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c["outcome"] == "success")
    );
    let call_id = calls[0]["id"].as_str().expect("id").to_owned();
    let one = server.selki(&["calls", "get", &call_id]).ok().stdout;
    assert!(
        one.contains("200 success") && one.contains("verified"),
        "{one}"
    );
    let again = server
        .selki(&["calls", "redeliver", &call_id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(again["trigger"], "manual");
    let test = server
        .selki(&[
            "webhooks",
            "test",
            &id,
            "--type",
            "new-threat",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(
        (test["trigger"].as_str(), test["http_status"].as_u64()),
        (Some("test"), Some(200))
    );
    let stats = server.selki(&["stats", &id, "-o", "json"]).ok().json();
    assert_eq!(stats["total_calls"], 5);
    assert_eq!(stats["success_rate"], 1.0);
    let table = server.selki(&["stats", &id]).ok().stdout;
    assert!(table.contains("100.0% (5 of 5 calls)"), "{table}");
    let filtered = server
        .selki(&["calls", "list", &id, "--status", "failed", "--since", "1h"])
        .ok()
        .stdout;
    assert!(filtered.contains("(none)"), "{filtered}");
    let recovered = server
        .selki(&["recover", &id, "--since", "1h", "-o", "json"])
        .ok()
        .json();
    assert_eq!(recovered["recovered_count"], 0);
    let _ = std::fs::remove_file(file);
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selki_receive_answers_the_status_asked_for_and_rejects_bad_signatures() {
    let server = Server::start().await;
    let (receiving, url) = receiver(&["--status", "500", "--verbose"]);
    let id = create_webhook(&server, &url);
    let watching = watch(&server, &id, 2);
    server
        .selki(&[
            "events",
            "send",
            "--org",
            "acme",
            "--type",
            "clicked",
            "--campaign-id",
            "c",
            "--email",
            "e@example.com",
        ])
        .ok();
    // A 500 is retried once (one retry, 1 s apart): two calls.
    let watched: Vec<String> = (0..2).map(|_| watching.next_line()).collect();
    assert!(
        watched.iter().all(|l| l.contains("500 http_status")),
        "{watched:#?}"
    );
    assert!(receiving.next_line().contains("signature ok  → 500"));

    // A forged delivery: refused with 400 and said why.
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let body = r#"{"timestamp":"2026-01-01T00:00:00Z","subscription":"PHISHING_EMAIL_CLICKED","data":{"campaignId":"x","email":"y"}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nwebhook-id: evt_forged\r\nwebhook-timestamp: {now}\r\nwebhook-signature: v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let line = std::iter::repeat_with(|| receiving.next_line())
        .find(|l| l.contains("evt_forged"))
        .expect("the forged delivery is printed");
    assert!(
        line.contains("signature rejected: SIGNATURE_MISMATCH"),
        "{line}"
    );
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_created_listed_used_and_revoked() {
    let server = Server::start().await;
    let key = server
        .selki(&["keys", "create", "--name", "ci", "--org", "acme", "--quiet"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // An organization key works without --org.
    server
        .selki_as(
            &key,
            &[
                "webhooks",
                "create",
                "--name",
                "Own",
                "--url",
                "https://hooks.example.com/own",
                "--event",
                "sent",
            ],
        )
        .ok();
    let listed = server.selki(&["keys", "list", "-o", "json"]).ok().json();
    let key_id = listed[0]["id"].as_str().expect("id").to_owned();
    server.selki(&["keys", "revoke", &key_id, "--yes"]).ok();
    let refused = server.selki_as(&key, &["webhooks", "list"]);
    assert_eq!(refused.code, 4, "{refused:#?}");
    assert!(
        refused.stderr.contains("SELKI_API_KEY"),
        "{}",
        refused.stderr
    );
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_is_minted_used_listed_and_read_only_when_asked() {
    let server = Server::start().await;
    let token = server
        .selki(&[
            "keys",
            "session",
            "--org",
            "acme",
            "--lifetime",
            "10m",
            "--read-only",
            "--name",
            "jane",
            "--quiet",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(token.starts_with("cs_"), "{token}");
    server.selki_as(&token, &["webhooks", "list"]).ok();
    let refused = server.selki_as(
        &token,
        &[
            "webhooks",
            "create",
            "--name",
            "Not allowed",
            "--url",
            "https://hooks.example.com/x",
            "--event",
            "sent",
        ],
    );
    assert_ne!(refused.code, 0, "a read-only session created a webhook");
    let listed = server.selki(&["keys", "list"]).ok().stdout;
    let line = listed
        .lines()
        .find(|l| l.contains("jane"))
        .expect("the session is listed");
    assert!(line.contains("session until"), "{line}");

    // Without --quiet: the console's link, signed in as the session.
    let printed = server
        .selki(&["keys", "session", "--org", "acme", "--read-only"])
        .ok()
        .stdout;
    let link = printed
        .lines()
        .find(|l| l.contains("/console/#token=cs_"))
        .unwrap_or_else(|| panic!("a console link in {printed}"));
    assert!(link.starts_with("http://127.0.0.1:"), "{link}");
    assert!(
        link.contains("&session=key_") && link.ends_with("&read_only=1"),
        "{link}"
    );
    server.finish().await;
}

/// (name, arguments, exit code, something stderr must say)
type Case = (&'static str, Vec<&'static str>, i32, &'static str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_with_a_code_and_a_message_that_say_what_went_wrong() {
    let server = Server::start().await;
    let unknown = "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H";
    let cases: Vec<Case> = vec![
        (
            "an unknown command",
            vec!["frobnicate"],
            2,
            "unrecognized subcommand",
        ),
        (
            "a bad event type",
            vec![
                "webhooks",
                "create",
                "--name",
                "n",
                "--url",
                "https://x.example",
                "--event",
                "clickd",
            ],
            2,
            "not an event type",
        ),
        (
            "a bad duration",
            vec!["stats", unknown, "--window", "soon"],
            2,
            "not a duration",
        ),
        (
            "a missing event field",
            vec![
                "events", "send", "--org", "acme", "--type", "clicked", "--email", "e@x.io",
            ],
            2,
            "--campaign-id",
        ),
        (
            "an unknown webhook",
            vec!["webhooks", "get", unknown],
            3,
            "not found",
        ),
        (
            "a field the server refuses",
            vec![
                "webhooks",
                "create",
                "--org",
                "acme",
                "--name",
                "n",
                "--url",
                "ftp://x.example",
                "--event",
                "sent",
            ],
            5,
            "url:",
        ),
        (
            "a too-long stats window",
            vec!["stats", unknown, "--window", "40days"],
            5,
            "window:",
        ),
        (
            "nothing to update",
            vec!["webhooks", "update", unknown],
            2,
            "nothing to change",
        ),
    ];
    let mut failures = Vec::new();
    for (name, args, code, says) in cases {
        let run = server.selki(&args);
        if run.code != code || !run.stderr.contains(says) {
            failures.push(format!("{name}: want {code} and `{says}`, got {run:#?}"));
        }
    }
    let wrong_key = server.selki_as(
        "not-a-key-at-all-0123456789",
        &["webhooks", "list", "--org", "acme"],
    );
    if wrong_key.code != 4 {
        failures.push(format!("a wrong key: {wrong_key:#?}"));
    }
    let down = run(selki()
        .env("SELKI_ADDR", "http://127.0.0.1:9")
        .args(["webhooks", "list", "--org", "acme"]));
    if down.code != 6 || !down.stderr.contains("is selki-server running") {
        failures.push(format!("server down: {down:#?}"));
    }
    let bad_config = run(selki()
        .env("SELKI_CLI_CONFIG", "/nonexistent/selki.toml")
        .args(["webhooks", "list"]));
    if bad_config.code != 2 || !bad_config.stderr.contains("--config") {
        failures.push(format!("a missing config file: {bad_config:#?}"));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    server.finish().await;
}

#[test]
fn completions_are_printed_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let run = run(selki().args(["completions", shell])).ok();
        assert!(run.stdout.contains("webhooks"), "{shell}: {}", run.stdout);
    }
}

#[test]
fn the_config_file_gives_the_address_and_key() {
    let path = std::env::temp_dir().join(format!("selki-cli-{}.toml", std::process::id()));
    std::fs::write(&path, "addr = \"http://127.0.0.1:9\"\napi_key = \"k\"\n").expect("write");
    let down = run(selki().env("SELKI_CLI_CONFIG", &path).args(["status"]));
    assert_eq!(down.code, 6, "{down:#?}");
    assert!(down.stderr.contains("127.0.0.1:9"), "{}", down.stderr);
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_address_is_spoken_to_over_tls() {
    let dir = std::env::temp_dir().join(format!("selki-cli-tls-{}", std::process::id()));
    let (cert, key) = selki_testkit::self_signed_localhost(&dir);
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let server = Server::start_with(&["--tls-cert", cert, "--tls-key", key]).await;
    assert!(server.addr.starts_with("https://"));
    let trusted = server
        .selki(&[
            "--ca-cert",
            cert,
            "webhooks",
            "list",
            "--org",
            "acme",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(trusted, serde_json::json!([]));
    let untrusted = server.selki(&["webhooks", "list", "--org", "acme"]);
    assert_eq!(
        untrusted.code, 6,
        "an unknown certificate is refused: {untrusted:#?}"
    );
    server.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_settings_are_set_and_shown_and_operational_events_are_printed() {
    let server = Server::start().await;
    let (_gone, gone_url) = receiver(&["--status", "410"]);
    let broken = create_webhook(&server, &gone_url);
    let (receiving, url) = receiver(&[]);
    let created = server
        .selki(&[
            "webhooks",
            "create",
            "--org",
            "acme",
            "--name",
            "Ops alerts",
            "--url",
            &url,
            "--event",
            "webhook-disabled,delivery-exhausted",
            "--secret",
            SECRET,
            "--max-rate",
            "10",
            "--max-in-flight",
            "2",
            "--filter-min-risk-level",
            "high",
            "--filter-campaign",
            "q3",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let alerts = created["webhook"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["webhook"]["max_deliveries_per_second"], 10);
    assert_eq!(created["webhook"]["max_in_flight"], 2);
    assert_eq!(
        created["webhook"]["filter"]["risk_levels"],
        serde_json::json!(["high", "critical"])
    );
    assert_eq!(
        created["webhook"]["filter"]["campaign_ids"],
        serde_json::json!(["q3"])
    );
    let shown = server.selki(&["webhooks", "get", &alerts]).ok().stdout;
    assert!(shown.contains("10/s, 2 in flight"), "{shown}");
    let cleared = server
        .selki(&[
            "webhooks",
            "update",
            &alerts,
            "--no-filter",
            "--max-rate",
            "0",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(cleared["filter"], serde_json::Value::Null);
    assert_eq!(cleared["max_deliveries_per_second"], 0);
    assert_eq!(cleared["max_in_flight"], 2);

    // A PagerDuty webhook: the routing key is taken, then never shown.
    let pager = server
        .selki(&[
            "webhooks",
            "create",
            "--org",
            "acme",
            "--name",
            "Pager",
            "--url",
            "https://events.pagerduty.com/v2/enqueue",
            "--event",
            "new-threat",
            "--unsigned",
            "--disabled",
            "--format",
            "pagerduty",
            "--routing-key",
            "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12",
            "--pagerduty-severity",
            "warning",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let destination = &pager["webhook"]["destination"];
    assert_eq!(destination["format"], "pagerduty");
    assert_eq!(destination["credential_set"], true);
    assert_eq!(destination["pagerduty_phishing_severity"], "warning");
    assert!(!pager.to_string().contains("R0UT1NGKEY"), "{pager}");
    let pager_id = pager["webhook"]["id"].as_str().expect("id").to_owned();
    // The key is kept while the format stays; a format that takes none drops it.
    let kept = server
        .selki(&[
            "webhooks",
            "update",
            &pager_id,
            "--source",
            "selki-prod",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(kept["destination"]["credential_set"], true);
    assert_eq!(kept["destination"]["source"], "selki-prod");
    let slack = server
        .selki(&[
            "webhooks", "update", &pager_id, "--format", "slack", "-o", "json",
        ])
        .ok()
        .json();
    assert_eq!(slack["destination"]["format"], "slack");
    assert_eq!(slack["destination"]["credential_set"], false);

    // The broken webhook answers 410: `calls watch` and `selki receive`
    // show what the organization is told.
    let watching = watch(&server, &alerts, 2);
    server
        .selki(&[
            "events",
            "send",
            "--org",
            "acme",
            "--type",
            "clicked",
            "--campaign-id",
            "q3",
            "--email",
            "a@example.com",
        ])
        .ok();
    let watched: Vec<String> = (0..2).map(|_| watching.next_line()).collect();
    assert!(
        watched.iter().any(|l| l.contains("WEBHOOK_DISABLED"))
            && watched.iter().any(|l| l.contains("DELIVERY_EXHAUSTED")),
        "{watched:#?}"
    );
    let printed: Vec<String> = (0..4).map(|_| receiving.next_line()).collect();
    let all = printed.join("\n");
    assert!(
        all.contains(&format!(
            "({broken}) disabled: the receiver answered 410 Gone"
        )),
        "{all}"
    );
    assert!(
        all.contains("failed after 1 attempt: http_status 410"),
        "{all}"
    );
    server.finish().await;
}

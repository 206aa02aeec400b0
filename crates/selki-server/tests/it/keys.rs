//! API keys and what they open: only admins make keys, keys can come from
//! files, and an open WatchCalls stream ends once its key is revoked;
//! streams are capped per key and cost no database reads while idle.

use std::time::Duration;

use selki_proto::v1 as pb;
use selki_testkit::Db;
use tonic::Code;

use crate::delivery::{hook, next_calls, retry, submit};
use crate::fixtures::org_key;
use crate::harness::{ADMIN_KEY, DELIVERING, Launch, TestServer, authed, both, server_command};
use crate::receiver::Receiver;
use crate::resilience::scrape;

both!(
    organization_keys_cannot_make_keys,
    api_keys_are_listed_a_page_at_a_time,
);

async fn organization_keys_cannot_make_keys(server: &TestServer) {
    let key = org_key(server, "acme").await;
    let request = pb::CreateApiKeyRequest {
        organization_id: "acme".into(),
        name: "minted by an org key".into(),
        scope: 0,
    };
    let status = server
        .keys()
        .create_api_key(authed(&key, request))
        .await
        .expect_err("only admins make keys");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

async fn api_keys_are_listed_a_page_at_a_time(server: &TestServer) {
    for _ in 0..5 {
        org_key(server, "acme").await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListApiKeysRequest {
            page_size: 2,
            page_token: token.clone(),
        };
        let page = server
            .keys()
            .list_api_keys(authed(ADMIN_KEY, request))
            .await
            .expect("list")
            .into_inner();
        assert!(page.api_keys.len() <= 2);
        seen.extend(page.api_keys.into_iter().map(|k| k.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), sorted), (5, seen));
}

/// Ends with UNAUTHENTICATED within `within`, whatever came before.
async fn ends_unauthenticated(
    stream: &mut tonic::codec::Streaming<pb::WatchCallsResponse>,
    within: Duration,
) {
    let ended = tokio::time::timeout(within, async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without saying why"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream ended in time");
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
}

fn watch_org(key: &str) -> tonic::Request<pb::WatchCallsRequest> {
    authed(
        key,
        pb::WatchCallsRequest {
            webhook_id: String::new(),
            organization_id: String::new(),
        },
    )
}

selki_testkit::on_both_stores!(selki_testkit::bare => a_stream_ends_once_its_key_is_revoked);

/// Revoked through the API: the stream ends at once. Revoked behind this
/// server's back (another process's database write): within the periodic
/// re-check.
async fn a_stream_ends_once_its_key_is_revoked(db: &Db) {
    let db = *db;
    let Some(server) = TestServer::delivering(db, &[]).await else {
        return;
    };
    let receiver = Receiver::start().await;
    hook(&server, "acme", &receiver.url("/"), retry(0, 1)).await;
    let key = org_key(&server, "acme").await;
    let mut stream = server
        .webhooks()
        .watch_calls(watch_org(&key))
        .await
        .expect("watch")
        .into_inner();
    submit(&server, "acme", 1).await;
    next_calls(&mut stream, 1).await;
    let id = server
        .keys()
        .list_api_keys(authed(ADMIN_KEY, pb::ListApiKeysRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .api_keys[0]
        .id
        .clone();
    server
        .keys()
        .revoke_api_key(authed(ADMIN_KEY, pb::RevokeApiKeyRequest { id }))
        .await
        .expect("revoke");
    ends_unauthenticated(&mut stream, Duration::from_secs(2)).await;

    let other = org_key(&server, "acme").await;
    let mut stream = server
        .webhooks()
        .watch_calls(watch_org(&other))
        .await
        .expect("watch")
        .into_inner();
    server
        .db
        .execute(&["UPDATE api_keys SET revoked_at = 1 WHERE revoked_at IS NULL"])
        .await;
    // A webhook made after the revocation: its calls must not reach it.
    hook(&server, "acme", &receiver.url("/later"), retry(0, 1)).await;
    submit(&server, "acme", 1).await;
    ends_unauthenticated(&mut stream, Duration::from_secs(10)).await;
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_capped_per_key_and_idle_ones_cost_no_reads() {
    let mut args = DELIVERING.to_vec();
    args.extend([
        "--metrics-listen",
        "127.0.0.1:0",
        "--max-watch-streams-per-key",
        "40",
    ]);
    let Some(server) = TestServer::launch(Db::Postgres, Launch::args(&args)).await else {
        return;
    };
    let mut idle = Vec::new();
    for _ in 0..40 {
        let request = authed(
            ADMIN_KEY,
            pb::WatchCallsRequest {
                webhook_id: String::new(),
                organization_id: "idle".into(),
            },
        );
        idle.push(server.webhooks().watch_calls(request).await.expect("watch"));
    }
    let one_more = authed(
        ADMIN_KEY,
        pb::WatchCallsRequest {
            webhook_id: String::new(),
            organization_id: "idle".into(),
        },
    );
    let status = server
        .webhooks()
        .watch_calls(one_more)
        .await
        .expect_err("over the cap");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    let receiver = Receiver::start().await;
    let busy = hook(&server, "acme", &receiver.url("/"), retry(0, 1)).await;
    let mut watched = Vec::new();
    let reads = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("selki_watch_reads_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("the watch read counter")
    };
    let metrics = server.process.metrics.clone().expect("metrics");
    let before = reads(&scrape(&metrics).await);
    // One stream that sees the calls (an org key: its own bucket).
    let key = org_key(&server, "acme").await;
    let mut seen = server
        .webhooks()
        .watch_calls(watch_org(&key))
        .await
        .expect("watch")
        .into_inner();
    for _ in 0..20 {
        submit(&server, "acme", 1).await;
        watched.extend(next_calls(&mut seen, 1).await);
    }
    let after = reads(&scrape(&metrics).await);
    assert!(watched.iter().all(|c| c.webhook_id == busy.id));
    // At most one read per recorded batch for the whole process, however
    // many streams are open (40 idle ones here).
    assert!(after - before <= 20.0, "{before} → {after}");
    drop(idle);
    server.finish().await;
}

#[tokio::test]
async fn keys_can_be_given_in_files_and_help_says_why() {
    let dir = std::env::temp_dir().join(selki_testkit::unique_name("selki_key_files"));
    std::fs::create_dir_all(&dir).expect("dir");
    let admin = dir.join("admin-key");
    let secrets = dir.join("secret-keys");
    std::fs::write(&admin, "file-admin-key-0123456789abcdef\n").expect("write");
    std::fs::write(
        &secrets,
        "f1:AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n",
    )
    .expect("write");
    let launch = Launch::args(&[
        "--mode",
        "production",
        "--admin-key-file",
        admin.to_str().expect("utf-8"),
        "--secret-keys-file",
        secrets.to_str().expect("utf-8"),
    ])
    .env("SELKI_ADMIN_KEY", "")
    .env("SELKI_SECRET_KEYS", "");
    let server = TestServer::launch(Db::Sqlite, launch)
        .await
        .expect("SQLite");
    let request = pb::ListWebhooksRequest {
        organization_id: "acme".into(),
        ..Default::default()
    };
    server
        .webhooks()
        .list_webhooks(authed("file-admin-key-0123456789abcdef", request))
        .await
        .expect("the key from the file works");
    server.finish().await;

    let output = server_command().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "--admin-key-file",
        "--secret-keys-file",
        "other local users",
    ] {
        assert!(
            help.contains(expected),
            "`{expected}` missing from --help:\n{help}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

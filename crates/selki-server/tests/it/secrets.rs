//! Secrets at rest: a webhook whose secret this server cannot open fails
//! alone and says why; production refuses to start without the keys that
//! open what is stored; data sealed with the development key can be
//! re-sealed with real keys.

use selki_proto::v1 as pb;
use selki_proto::v1::create_webhook_request::Signing;
use selki_testkit::Db;

use crate::delivery::{WITHIN, delivering, hook, next_calls, retry, submit, watch};
use crate::fixtures::create_request;
use crate::harness::{ADMIN_KEY, DELIVERING, Launch, TestServer, authed};
use crate::receiver::Receiver;

const KEY_T2: &str = "t2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
const KEY_K1: &str = "k1:AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

selki_testkit::on_both_stores!(selki_testkit::bare => a_webhook_whose_secret_cannot_be_opened_fails_alone_and_says_why);

fn delivering() -> Launch {
    Launch::args(DELIVERING)
}

/// The key that sealed acme's secret is gone from the configuration (dev
/// mode): the server starts, names the missing key, and acme's deliveries
/// fail as "signing unavailable" while beta's go on.
async fn a_webhook_whose_secret_cannot_be_opened_fails_alone_and_says_why(db: &Db) {
    let db = *db;
    let Some(mut server) = TestServer::launch(db, delivering()).await else {
        return;
    };
    let lost = Receiver::start().await;
    let acme = hook(&server, "acme", &lost.url("/"), retry(1, 1)).await;
    server
        .replace(delivering().env("SELKI_SECRET_KEYS", KEY_T2))
        .await;
    let log = server.process.logged("cannot be opened", WITHIN).await;
    assert!(log.contains("`t1`"), "the missing key is named: {log}");

    let fine = Receiver::start().await;
    let beta = hook(&server, "beta", &fine.url("/"), retry(1, 1)).await;
    fine.verify_with(&beta.secret);
    let mut acme_calls = watch(&server, &acme.id).await;
    submit(&server, "acme", 3).await;
    submit(&server, "beta", 3).await;
    for received in fine.take(3, WITHIN).await {
        assert_eq!(received.verified, Ok(()));
    }
    let calls = next_calls(&mut acme_calls, 6).await;
    for call in &calls {
        assert_eq!(
            call.outcome,
            pb::CallOutcome::SigningUnavailable as i32,
            "{call:?}"
        );
        assert!(
            call.error_message.contains("`t1`"),
            "{}",
            call.error_message
        );
    }
    assert!(calls.iter().any(|c| c.attempt == 2), "retried: {calls:?}");
    assert!(lost.drain().await.is_empty(), "nothing unsigned went out");
    server.finish().await;
}

#[tokio::test]
async fn production_refuses_to_start_without_the_keys_that_open_the_stored_secrets() {
    let server = TestServer::launch(Db::Sqlite, Launch::default())
        .await
        .expect("SQLite");
    server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, create_request("acme")))
        .await
        .expect("create");
    let url = server.db.url.clone();
    let mut server = server;
    server.process.kill();
    let production = Launch::args(&["--mode", "production"]).env("SELKI_SECRET_KEYS", KEY_T2);
    let (status, stderr) = crate::harness::run_to_exit(&url, &production);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("`t1`"), "names the missing key: {stderr}");
    server.finish().await;
}

/// Secrets stored while the server ran on the development key are not
/// lost when real keys are set: production names the problem and the
/// command that fixes it, and that command works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_sealed_with_the_development_key_are_resealed_with_real_keys() {
    let dev = Launch::args(DELIVERING).env("SELKI_SECRET_KEYS", "");
    let mut server = TestServer::launch(Db::Sqlite, dev).await.expect("SQLite");
    server.process.logged("reseal-secrets", WITHIN).await;
    let receiver = Receiver::start().await;
    receiver.verify_with(SECRET);
    let mut request = create_request("acme");
    request.url = receiver.url("/");
    request.headers.clear();
    request.signing = Some(Signing::SigningSecret(SECRET.into()));
    server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create");
    let url = server.db.url.clone();

    let production = |args: &[&str]| {
        let mut all = vec!["--mode", "production"];
        all.extend_from_slice(args);
        Launch::args(&all).env("SELKI_SECRET_KEYS", KEY_K1)
    };
    server.process.kill();
    let (status, stderr) = crate::harness::run_to_exit(&url, &production(&[]));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("development key") && stderr.contains("reseal-secrets"),
        "says how to fix it: {stderr}"
    );
    let (status, stderr) = crate::harness::run_to_exit(&url, &production(&["reseal-secrets"]));
    assert!(status.success(), "{stderr}");

    let mut all = DELIVERING.to_vec();
    all.extend(["--mode", "production"]);
    server
        .replace(Launch::args(&all).env("SELKI_SECRET_KEYS", KEY_K1))
        .await;
    submit(&server, "acme", 1).await;
    let received = receiver.next(WITHIN).await;
    assert_eq!(received.verified, Ok(()), "signed with the secret given");
    server.finish().await;
}

delivering!(custom_header_values_are_sealed_at_rest_and_sensitive_ones_never_returned);

fn header(name: &str, value: &str, sensitive: bool) -> pb::Header {
    pb::Header {
        name: name.into(),
        value: value.into(),
        sensitive,
    }
}

fn shown(webhook: &pb::Webhook) -> Vec<(String, String, bool)> {
    webhook
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone(), h.sensitive))
        .collect()
}

async fn custom_header_values_are_sealed_at_rest_and_sensitive_ones_never_returned(
    server: &TestServer,
) {
    let receiver = Receiver::start().await;
    let mut request = create_request("acme");
    request.url = receiver.url("/");
    request.headers = vec![
        header("Authorization", "Bearer s3cret-token", false),
        header("X-Api-Key", "k-123456", false),
        header("X-Team", "blue-team", false),
        header("X-Tenant-Ref", "ref-789", true),
    ];
    let created = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create")
        .into_inner()
        .webhook
        .expect("webhook");
    let masked = vec![
        ("authorization".to_owned(), "****".to_owned(), true),
        ("x-api-key".to_owned(), "****".to_owned(), true),
        ("x-team".to_owned(), "blue-team".to_owned(), false),
        ("x-tenant-ref".to_owned(), "****".to_owned(), true),
    ];
    assert_eq!(shown(&created), masked);
    let got = server
        .webhooks()
        .get_webhook(authed(
            ADMIN_KEY,
            pb::GetWebhookRequest {
                id: created.id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner()
        .webhook
        .expect("webhook");
    assert_eq!(shown(&got), masked);
    let listed = server
        .webhooks()
        .list_webhooks(authed(
            ADMIN_KEY,
            pb::ListWebhooksRequest {
                organization_id: "acme".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(shown(&listed.webhooks[0]), masked);

    // Nothing of any value in the database's own bytes.
    let stored = server
        .db
        .texts("SELECT headers FROM webhooks")
        .await
        .join(" ");
    let sealed = server
        .db
        .texts("SELECT headers_sealed FROM webhooks")
        .await
        .join(" ");
    for value in ["s3cret-token", "k-123456", "blue-team", "ref-789"] {
        assert!(
            !stored.contains(value) && !sealed.contains(value),
            "{value} stored in the clear"
        );
    }

    // Sent back as shown, the masked values are kept; the plain one changes.
    let mut update = got.clone();
    update.headers = got
        .headers
        .iter()
        .map(|h| match h.name.as_str() {
            "x-team" => header("X-Team", "red-team", false),
            _ => h.clone(),
        })
        .collect();
    let request = pb::UpdateWebhookRequest {
        remove_headers: Default::default(),
        set_headers: Default::default(),
        webhook: Some(update),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["headers".into()],
        }),
    };
    server
        .webhooks()
        .update_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("update");
    let call = server
        .webhooks()
        .send_test_event(authed(
            ADMIN_KEY,
            pb::SendTestEventRequest {
                webhook_id: created.id.clone(),
                event_type: 0,
            },
        ))
        .await
        .expect("test event");
    drop(call);
    let received = receiver.next(WITHIN).await;
    assert_eq!(received.header("authorization"), "Bearer s3cret-token");
    assert_eq!(received.header("x-api-key"), "k-123456");
    assert_eq!(received.header("x-team"), "red-team");
    assert_eq!(received.header("x-tenant-ref"), "ref-789");
    assert!(received.header("user-agent").starts_with("Selki-Webhooks/"));
}

//! Bounded by design: what one tenant controls (how many manual calls it
//! makes at once, how many webhooks it has, how many deliveries one
//! submission fans out to) is capped, with a precise error past the cap,
//! and other tenants go on.

use selki_proto::v1 as pb;
use selki_testkit::Db;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::delivery::{WITHIN, hook, retry, stats};
use crate::fixtures::{clicked, create_request};
use crate::harness::{ADMIN_KEY, DELIVERING, Launch, TestServer, authed};
use crate::receiver::{Answer, Receiver};

async fn test_event(server: &TestServer, webhook: &str) -> Result<pb::Call, tonic::Status> {
    let request = pb::SendTestEventRequest {
        webhook_id: webhook.to_owned(),
        event_type: 0,
    };
    let mut client = server.webhooks();
    client
        .send_test_event(authed(ADMIN_KEY, request))
        .await
        .map(|r| r.into_inner().call.expect("call"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_calls_are_bounded_per_organization_and_overall() {
    let mut args = DELIVERING.to_vec();
    args.extend([
        "--manual-calls-per-organization",
        "3",
        "--manual-calls",
        "5",
    ]);
    let server = TestServer::launch(Db::Sqlite, Launch::args(&args))
        .await
        .expect("SQLite");
    let receiver = Receiver::start().await;
    receiver.answer(&[], Answer::Hang);
    let acme = hook(&server, "acme", &receiver.url("/acme"), retry(0, 1)).await;
    let beta = hook(&server, "beta", &receiver.url("/beta"), retry(0, 1)).await;
    let gamma = hook(&server, "gamma", &receiver.url("/gamma"), retry(0, 1)).await;
    let server = std::sync::Arc::new(server);
    let mut hanging = Vec::new();
    for webhook in [&acme.id, &acme.id, &acme.id, &beta.id, &beta.id] {
        let (server, webhook) = (server.clone(), webhook.clone());
        hanging.push(tokio::spawn(
            async move { test_event(&server, &webhook).await },
        ));
    }
    receiver.take(5, WITHIN).await;
    let per_org = test_event(&server, &acme.id).await.expect_err("acme's 4th");
    assert_eq!(per_org.code(), Code::ResourceExhausted, "{per_org:?}");
    assert!(
        per_org.message().contains("organization"),
        "{}",
        per_org.message()
    );
    let overall = test_event(&server, &gamma.id)
        .await
        .expect_err("the 6th in all");
    assert_eq!(overall.code(), Code::ResourceExhausted, "{overall:?}");
    receiver.release();
    for call in hanging {
        assert_eq!(call.await.expect("task").expect("call").http_status, 200);
    }
    test_event(&server, &acme.id).await.expect("room again");
    std::sync::Arc::into_inner(server)
        .expect("one owner")
        .finish()
        .await;
}

#[tokio::test]
async fn the_open_file_limit_is_raised_at_start() {
    let launch = Launch::default().under(&["sh", "-c", "ulimit -Sn 256 && exec \"$0\" \"$@\""]);
    let server = TestServer::launch(Db::Sqlite, launch)
        .await
        .expect("SQLite");
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", server.process.id())).expect("limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a line for open files");
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_ne!(numbers[0], "256", "{open_files}");
    assert_eq!(
        numbers[0], numbers[1],
        "soft raised to the hard limit: {open_files}"
    );
    server.finish().await;
}

selki_testkit::on_both_stores!(selki_testkit::bare => webhooks_and_fan_out_are_capped_per_organization);

async fn webhooks_and_fan_out_are_capped_per_organization(db: &Db) {
    let db = *db;
    let launch = Launch::args(&[
        "--max-webhooks-per-organization",
        "3",
        "--max-deliveries-per-submission",
        "10",
    ]);
    let Some(server) = TestServer::launch(db, launch).await else {
        return;
    };
    let create = |org: &str| {
        let mut client = server.webhooks();
        let request = create_request(org);
        async move { client.create_webhook(authed(ADMIN_KEY, request)).await }
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            create("acme")
                .await
                .expect("within the cap")
                .into_inner()
                .webhook
                .expect("webhook")
                .id,
        );
    }
    let refused = create("acme").await.expect_err("a 4th");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains('3'), "{}", refused.message());
    create("beta")
        .await
        .expect("another organization is not affected");
    server
        .webhooks()
        .delete_webhook(authed(
            ADMIN_KEY,
            pb::DeleteWebhookRequest { id: ids[0].clone() },
        ))
        .await
        .expect("delete");
    ids.push(
        create("acme")
            .await
            .expect("room again")
            .into_inner()
            .webhook
            .expect("webhook")
            .id,
    );

    // 3 webhooks: 4 events would make 12 deliveries, 3 make 9.
    let submit = |n: usize| {
        let mut client = server.events();
        let events = (0..n).map(|_| clicked("acme", "")).collect();
        async move {
            client
                .submit_events(authed(ADMIN_KEY, pb::SubmitEventsRequest { events }))
                .await
        }
    };
    let too_many = submit(4).await.expect_err("12 deliveries");
    assert_eq!(too_many.code(), Code::InvalidArgument, "{too_many:?}");
    let violations = too_many
        .get_details_bad_request()
        .map(|b| b.field_violations)
        .unwrap_or_default();
    assert!(
        violations
            .iter()
            .any(|v| v.field == "events" && v.description.contains("12")),
        "{violations:?}"
    );
    for id in &ids[1..] {
        assert_eq!(
            stats(&server, id).await.pending_deliveries,
            0,
            "nothing stored"
        );
    }
    submit(3).await.expect("9 deliveries");
    server.finish().await;
}

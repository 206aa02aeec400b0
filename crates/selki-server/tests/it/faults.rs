//! One tenant's bad luck is that tenant's alone: a receiver that answers
//! bytes the database will not store, a row the database refuses, a
//! database error that is not an outage. Faults are injected behind the
//! product's back (a trigger that refuses some rows), on both stores.

use std::collections::HashSet;

use selki_proto::v1 as pb;
use tonic::Code;

use crate::delivery::{WITHIN, delivering, hook, next_calls, retry, stats, submit, watch};
use crate::fixtures::create_request;
use crate::harness::{ADMIN_KEY, TestServer, authed};
use crate::receiver::{Answer, Receiver};

delivering!(
    a_receiver_answering_nul_bytes_is_recorded_and_holds_up_nobody,
    a_call_the_database_refuses_is_recorded_without_its_text_and_holds_up_nobody,
    a_manual_call_that_cannot_be_recorded_is_reported_as_made,
    a_constraint_violation_is_an_internal_error_not_an_outage,
);

/// Installs a trigger refusing inserts into `table` whose row matches
/// `condition` (SQL over `NEW`), with a data error (not an outage).
async fn refuse(server: &TestServer, table: &str, condition: &str, sqlstate: &str) {
    let name = format!("refuse_{table}");
    if server.db.postgres_name().is_some() {
        let function = format!(
            "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN \
             IF {condition} THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '{sqlstate}'; \
             END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        );
        let trigger = format!(
            "CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
        );
        server.db.execute(&[&function, &trigger]).await;
    } else {
        let trigger = format!(
            "CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN {condition} \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        );
        server.db.execute(&[&trigger]).await;
    }
}

/// Both tenants' events: the hostile one's and an innocent one's, each
/// delivered once, recorded once, none left pending.
async fn both_tenants_served(server: &TestServer, hostile: &Receiver) -> Vec<pb::Call> {
    let innocent = Receiver::start().await;
    let bad = hook(server, "evil", &hostile.url("/"), retry(3, 1)).await;
    let good = hook(server, "acme", &innocent.url("/"), retry(3, 1)).await;
    let mut bad_calls = watch(server, &bad.id).await;
    let mut good_calls = watch(server, &good.id).await;
    let evil: HashSet<String> = submit(server, "evil", 20).await.into_iter().collect();
    let acme: HashSet<String> = submit(server, "acme", 20).await.into_iter().collect();

    let got = innocent.take(20, WITHIN).await;
    assert_eq!(
        got.iter().map(|r| r.event_id()).collect::<HashSet<_>>(),
        acme
    );
    let good_recorded = next_calls(&mut good_calls, 20).await;
    assert!(good_recorded.iter().all(|c| c.http_status == 200));
    let bad_recorded = next_calls(&mut bad_calls, 20).await;
    let sent = hostile.take(20, WITHIN).await;
    assert_eq!(
        sent.iter().map(|r| r.event_id()).collect::<HashSet<_>>(),
        evil
    );
    // Recorded as delivered: nothing waits to be sent again.
    assert_eq!(stats(server, &bad.id).await.pending_deliveries, 0);
    assert_eq!(stats(server, &good.id).await.pending_deliveries, 0);
    bad_recorded
}

async fn a_receiver_answering_nul_bytes_is_recorded_and_holds_up_nobody(server: &TestServer) {
    let hostile = Receiver::start().await;
    hostile.answer(&[], Answer::Body(b"ok\0\0 then \xff\xfe binary"));
    let calls = both_tenants_served(server, &hostile).await;
    for call in &calls {
        assert_eq!(call.outcome, pb::CallOutcome::Success as i32);
        let excerpt = &call.response_excerpt;
        assert!(!excerpt.contains('\0'), "{excerpt:?}");
        assert!(excerpt.starts_with("[not UTF-8] ok"), "{excerpt:?}");
    }
}

async fn a_call_the_database_refuses_is_recorded_without_its_text_and_holds_up_nobody(
    server: &TestServer,
) {
    refuse(
        server,
        "calls",
        "NEW.response_excerpt LIKE '%poison%'",
        "22000",
    )
    .await;
    let hostile = Receiver::start().await;
    hostile.answer(&[], Answer::Body(b"poison"));
    let calls = both_tenants_served(server, &hostile).await;
    for call in &calls {
        assert_eq!(call.outcome, pb::CallOutcome::Success as i32);
        assert!(
            call.response_excerpt.contains("could not be stored"),
            "{:?}",
            call.response_excerpt
        );
    }
}

async fn a_manual_call_that_cannot_be_recorded_is_reported_as_made(server: &TestServer) {
    let receiver = Receiver::start().await;
    let hook = hook(server, "acme", &receiver.url("/"), retry(0, 1)).await;
    refuse(server, "calls", "NEW.call_trigger = 'test'", "22000").await;
    let request = pb::SendTestEventRequest {
        webhook_id: hook.id.clone(),
        event_type: 0,
    };
    let status = server
        .webhooks()
        .send_test_event(authed(ADMIN_KEY, request))
        .await
        .expect_err("the call cannot be recorded");
    receiver.next(WITHIN).await;
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let message = status.message();
    assert!(!message.contains("nothing was written"), "{message}");
    assert!(
        message.contains("was made") && message.contains("call_") && message.contains("200"),
        "{message}"
    );
}

async fn a_constraint_violation_is_an_internal_error_not_an_outage(server: &TestServer) {
    refuse(server, "webhooks", "NEW.name = 'clash'", "23505").await;
    let mut request = create_request("acme");
    request.name = "clash".into();
    let status = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect_err("refused by the database");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        !status.message().contains("retry later"),
        "{}",
        status.message()
    );
}

//! Console sessions: short-lived bearer tokens for one organization, which
//! Selki's web app hands to the console it embeds. They act for their
//! organization only, read-only ones change nothing, they mint nothing,
//! and they stop working when revoked or once their time is up (open
//! streams included).

use std::time::{Duration, Instant};

use selki_proto::v1 as pb;
use selki_testkit::Db;
use tonic::Code;

use crate::delivery::{hook, next_calls, retry, submit};
use crate::fixtures::{create_request, create_webhook, org_key};
use crate::harness::{ADMIN_KEY, TestServer, authed, both};
use crate::receiver::Receiver;

both!(
    a_console_session_acts_for_its_organization_and_mints_nothing,
    a_read_only_console_session_changes_nothing,
    a_revoked_console_session_stops_at_once,
    an_organization_holds_a_bounded_number_of_live_sessions,
);
selki_testkit::on_both_stores!(selki_testkit::bare => a_console_session_and_its_streams_stop_when_its_time_is_up);

/// A session of `org` minted by `key`, for `seconds` (1 hour when 0).
async fn session(
    server: &TestServer,
    key: &str,
    org: &str,
    read_only: bool,
    seconds: i64,
) -> pb::CreateConsoleSessionResponse {
    let request = pb::CreateConsoleSessionRequest {
        organization_id: org.into(),
        lifetime: (seconds > 0).then_some(prost_types::Duration { seconds, nanos: 0 }),
        read_only,
        name: "jane@acme.example".into(),
    };
    server
        .keys()
        .create_console_session(authed(key, request))
        .await
        .expect("a console session")
        .into_inner()
}

async fn list(server: &TestServer, token: &str) -> Result<Vec<pb::Webhook>, tonic::Status> {
    let request = pb::ListWebhooksRequest::default();
    Ok(server
        .webhooks()
        .list_webhooks(authed(token, request))
        .await?
        .into_inner()
        .webhooks)
}

async fn a_console_session_acts_for_its_organization_and_mints_nothing(server: &TestServer) {
    let ours = create_webhook(server, "acme")
        .await
        .webhook
        .expect("webhook");
    let theirs = create_webhook(server, "globex")
        .await
        .webhook
        .expect("webhook");

    let minted = session(server, ADMIN_KEY, "acme", false, 0).await;
    assert!(minted.token.starts_with("cs_"), "{}", minted.token);
    let described = minted.session.expect("the session");
    let (created, expires) = (
        described.create_time.expect("created").seconds,
        described.expire_time.expect("an end").seconds,
    );
    assert!(
        (3599..=3601).contains(&(expires - created)),
        "an hour by default"
    );
    assert_eq!(described.organization_id, "acme");

    let token = minted.token.as_str();
    let seen = list(server, token).await.expect("list");
    assert_eq!(
        seen.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        [ours.id.as_str()]
    );
    let other = server
        .webhooks()
        .get_webhook(authed(
            token,
            pb::GetWebhookRequest {
                id: theirs.id.clone(),
            },
        ))
        .await
        .expect_err("another organization's webhook");
    assert_eq!(other.code(), Code::NotFound, "{other:?}");
    let elsewhere = server
        .webhooks()
        .create_webhook(authed(token, create_request("globex")))
        .await
        .expect_err("a webhook for another organization");
    assert_eq!(elsewhere.code(), Code::NotFound, "{elsewhere:?}");
    server
        .webhooks()
        .create_webhook(authed(token, create_request("acme")))
        .await
        .expect("a full session changes its organization's webhooks");

    let key = server
        .keys()
        .create_api_key(authed(
            token,
            pb::CreateApiKeyRequest {
                organization_id: "acme".into(),
                name: "minted by a session".into(),
                scope: 0,
            },
        ))
        .await
        .expect_err("a session mints no keys");
    assert_eq!(key.code(), Code::PermissionDenied, "{key:?}");
    let again = server
        .keys()
        .create_console_session(authed(token, pb::CreateConsoleSessionRequest::default()))
        .await
        .expect_err("a session mints no sessions");
    assert_eq!(again.code(), Code::PermissionDenied, "{again:?}");

    // An organization key mints for its own organization, and only that.
    let acme = org_key(server, "acme").await;
    let own = session(server, &acme, "", false, 0).await;
    assert_eq!(own.session.expect("the session").organization_id, "acme");
    let foreign = server
        .keys()
        .create_console_session(authed(
            &acme,
            pb::CreateConsoleSessionRequest {
                organization_id: "globex".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("a session of another organization");
    assert_eq!(foreign.code(), Code::NotFound, "{foreign:?}");

    // Listed with the keys, with its end.
    let keys = server
        .keys()
        .list_api_keys(authed(ADMIN_KEY, pb::ListApiKeysRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .api_keys;
    let sessions: Vec<_> = keys.iter().filter(|k| k.expire_time.is_some()).collect();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.name == "jane@acme.example"));
}

async fn a_read_only_console_session_changes_nothing(server: &TestServer) {
    let created = create_webhook(server, "acme")
        .await
        .webhook
        .expect("webhook");
    let minted = session(server, ADMIN_KEY, "acme", true, 0).await;
    assert_eq!(
        minted.session.expect("the session").scope,
        pb::ApiKeyScope::Read as i32
    );
    let token = minted.token.as_str();
    assert_eq!(list(server, token).await.expect("it reads").len(), 1);
    let delete = server
        .webhooks()
        .delete_webhook(authed(
            token,
            pb::DeleteWebhookRequest {
                id: created.id.clone(),
            },
        ))
        .await
        .expect_err("a read-only session deletes nothing");
    assert_eq!(delete.code(), Code::PermissionDenied, "{delete:?}");
    let create = server
        .webhooks()
        .create_webhook(authed(token, create_request("acme")))
        .await
        .expect_err("a read-only session creates nothing");
    assert_eq!(create.code(), Code::PermissionDenied, "{create:?}");
    // A read-only organization key may not mint a session at all.
    let reader = server
        .keys()
        .create_api_key(authed(
            ADMIN_KEY,
            pb::CreateApiKeyRequest {
                organization_id: "acme".into(),
                name: "reader".into(),
                scope: pb::ApiKeyScope::Read as i32,
            },
        ))
        .await
        .expect("a read key")
        .into_inner()
        .key;
    let refused = server
        .keys()
        .create_console_session(authed(&reader, pb::CreateConsoleSessionRequest::default()))
        .await
        .expect_err("a read key mints nothing");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
}

async fn a_revoked_console_session_stops_at_once(server: &TestServer) {
    let first = session(server, ADMIN_KEY, "acme", false, 0).await;
    let id = first.session.expect("the session").id;
    list(server, &first.token).await.expect("it works");
    server
        .keys()
        .revoke_api_key(authed(ADMIN_KEY, pb::RevokeApiKeyRequest { id }))
        .await
        .expect("revoke");
    let refused = list(server, &first.token).await.expect_err("revoked");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // A session signs itself out.
    let second = session(server, ADMIN_KEY, "acme", false, 0).await;
    let id = second.session.expect("the session").id;
    server
        .keys()
        .revoke_api_key(authed(&second.token, pb::RevokeApiKeyRequest { id }))
        .await
        .expect("signing out");
    let refused = list(server, &second.token).await.expect_err("signed out");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
}

/// A one-second session: it works, then it does not; a stream it opened
/// ends within the streams' key re-check.
async fn a_console_session_and_its_streams_stop_when_its_time_is_up(db: &Db) {
    let Some(server) = TestServer::delivering(*db, &[]).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let created = hook(&server, "acme", &receiver.url("/"), retry(0, 1)).await;
    let minted = session(&server, ADMIN_KEY, "acme", true, 1).await;
    let token = minted.token;
    let watch = pb::WatchCallsRequest {
        webhook_id: created.id,
        organization_id: String::new(),
    };
    let mut stream = server
        .webhooks()
        .watch_calls(authed(&token, watch))
        .await
        .expect("a session may watch")
        .into_inner();
    submit(&server, "acme", 1).await;
    next_calls(&mut stream, 1).await;

    // The server's clock decides; ask until it says no.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        match list(&server, &token).await {
            Ok(_) if Instant::now() < deadline => tokio::task::yield_now().await,
            Ok(_) => panic!("the session still works 10 s after its one second"),
            Err(status) => break status,
        }
    };
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => break None,
                Err(status) => break Some(status),
            }
        }
    })
    .await
    .expect("the stream ends within the key re-check");
    assert_eq!(ended.map(|s| s.code()), Some(Code::Unauthenticated));
    server.finish().await;
}

/// Minting sessions is cheap for the caller and a row for the server: an
/// organization holds at most 1,000 live ones (expired and revoked ones
/// do not count), and another organization is not affected.
async fn an_organization_holds_a_bounded_number_of_live_sessions(server: &TestServer) {
    let acme = org_key(server, "acme").await;
    let mut last = String::new();
    for _ in 0..1_000 {
        last = session(server, &acme, "", true, 0)
            .await
            .session
            .expect("the session")
            .id;
    }
    let refused = server
        .keys()
        .create_console_session(authed(&acme, pb::CreateConsoleSessionRequest::default()))
        .await
        .expect_err("the 1,001st live session");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    session(server, ADMIN_KEY, "globex", true, 0).await;
    server
        .keys()
        .revoke_api_key(authed(&acme, pb::RevokeApiKeyRequest { id: last }))
        .await
        .expect("revoke");
    session(server, &acme, "", true, 0).await;
}

//! What the web app needs: partial updates, header edits, signing off and
//! on, the Overview's series, health in a list, idempotent creation, and
//! keys scoped to what they may call.

use selki_proto::v1 as pb;
use tonic::Code;

use crate::delivery::{WITHIN, hook, next_calls, retry, submit, watch};
use crate::fixtures::create_request;
use crate::harness::{ADMIN_KEY, TestServer, authed, both};
use crate::receiver::Receiver;

both!(
    one_part_of_the_retry_policy_changes_and_the_rest_is_kept,
    headers_are_added_replaced_and_removed_one_at_a_time,
    a_creation_retried_with_its_request_id_makes_one_webhook,
);

crate::delivery::delivering!(
    signing_can_be_turned_off_and_on_and_the_rotation_shows,
    the_overview_has_a_series_and_a_list_has_each_webhooks_health,
    every_rpc_answers_only_the_keys_whose_scope_allows_it,
);

async fn update(
    server: &TestServer,
    request: pb::UpdateWebhookRequest,
) -> Result<pb::Webhook, tonic::Status> {
    server
        .webhooks()
        .update_webhook(authed(ADMIN_KEY, request))
        .await
        .map(|r| r.into_inner().webhook.expect("webhook"))
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

async fn created(
    server: &TestServer,
    request: pb::CreateWebhookRequest,
) -> pb::CreateWebhookResponse {
    server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect("create")
        .into_inner()
}

async fn one_part_of_the_retry_policy_changes_and_the_rest_is_kept(server: &TestServer) {
    let mut request = create_request("acme");
    request.retry_policy = Some(pb::RetryPolicy {
        attempts: 7,
        delay: Some(prost_types::Duration {
            seconds: 30,
            nanos: 0,
        }),
        exponential_backoff: true,
        max_delay: Some(prost_types::Duration {
            seconds: 900,
            nanos: 0,
        }),
    });
    let webhook = created(server, request).await.webhook.expect("webhook");
    let only_attempts = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: webhook.id.clone(),
            retry_policy: Some(pb::RetryPolicy {
                attempts: 2,
                ..Default::default()
            }),
            ..Default::default()
        }),
        update_mask: mask(&["retry_policy.attempts"]),
        ..Default::default()
    };
    let after = update(server, only_attempts).await.expect("update");
    let policy = after.retry_policy.expect("policy");
    assert_eq!(
        (
            policy.attempts,
            policy.delay.map(|d| d.seconds),
            policy.exponential_backoff,
            policy.max_delay.map(|d| d.seconds)
        ),
        (2, Some(30), true, Some(900)),
        "only the attempts changed"
    );
    // The whole policy with its durations unset keeps them too.
    let whole = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: webhook.id.clone(),
            retry_policy: Some(pb::RetryPolicy {
                attempts: 4,
                exponential_backoff: true,
                ..Default::default()
            }),
            ..Default::default()
        }),
        update_mask: mask(&["retry_policy"]),
        ..Default::default()
    };
    let policy = update(server, whole)
        .await
        .expect("update")
        .retry_policy
        .expect("policy");
    assert_eq!(
        (policy.attempts, policy.delay.map(|d| d.seconds)),
        (4, Some(30))
    );
    let bad = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: webhook.id,
            retry_policy: Some(pb::RetryPolicy {
                attempts: 99,
                ..Default::default()
            }),
            ..Default::default()
        }),
        update_mask: mask(&["retry_policy.attempts"]),
        ..Default::default()
    };
    let refused = update(server, bad).await.expect_err("99 attempts");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("retry_policy.attempts"),
        "{refused:?}"
    );
}

fn header(name: &str, value: &str) -> pb::Header {
    pb::Header {
        name: name.into(),
        value: value.into(),
        sensitive: false,
    }
}

async fn headers_are_added_replaced_and_removed_one_at_a_time(server: &TestServer) {
    let mut request = create_request("acme");
    request.headers.push(header("X-Region", "eu"));
    let webhook = created(server, request).await.webhook.expect("webhook");
    let edit = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: webhook.id.clone(),
            ..Default::default()
        }),
        update_mask: None,
        set_headers: vec![header("X-Region", "us"), header("X-Team", "blue")],
        remove_headers: vec!["x-nothing".into()],
    };
    let after = update(server, edit).await.expect("update");
    let shown: Vec<(String, String)> = after
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    assert_eq!(
        shown,
        [
            ("authorization".to_owned(), "****".to_owned()),
            ("x-region".to_owned(), "us".to_owned()),
            ("x-team".to_owned(), "blue".to_owned()),
        ],
        "the sensitive one kept without being sent again"
    );
    let remove = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: webhook.id.clone(),
            ..Default::default()
        }),
        remove_headers: vec!["Authorization".into()],
        ..Default::default()
    };
    let names: Vec<String> = update(server, remove)
        .await
        .expect("update")
        .headers
        .into_iter()
        .map(|h| h.name)
        .collect();
    assert_eq!(names, ["x-region", "x-team"]);
    let both_ways = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: webhook.id,
            headers: vec![header("X-Other", "1")],
            ..Default::default()
        }),
        update_mask: mask(&["headers"]),
        set_headers: vec![header("X-Team", "red")],
        ..Default::default()
    };
    let refused = update(server, both_ways)
        .await
        .expect_err("replace and edit");
    assert_eq!(refused.code(), Code::InvalidArgument);
}

async fn signing_can_be_turned_off_and_on_and_the_rotation_shows(server: &TestServer) {
    let receiver = Receiver::start().await;
    let h = hook(server, "acme", &receiver.url("/"), retry(0, 60)).await;
    let off = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: h.id.clone(),
            signing_secret_set: false,
            ..Default::default()
        }),
        update_mask: mask(&["signing_secret_set"]),
        ..Default::default()
    };
    let unsigned = update(server, off).await.expect("signing off");
    assert!(!unsigned.signing_secret_set);
    submit(server, "acme", 1).await;
    let plain = receiver.next(WITHIN).await;
    assert!(
        plain.header("webhook-signature").is_empty(),
        "sent unsigned"
    );
    let rotated = server
        .webhooks()
        .rotate_signing_secret(authed(
            ADMIN_KEY,
            pb::RotateSigningSecretRequest {
                id: h.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("sign again")
        .into_inner();
    receiver.verify_with(&rotated.signing_secret);
    submit(server, "acme", 1).await;
    let signed = receiver.next(WITHIN).await;
    assert!(
        signed.verified.is_ok(),
        "signed again: {:?}",
        signed.verified
    );
    // A second rotation keeps the first secret signing for a while: shown.
    server
        .webhooks()
        .rotate_signing_secret(authed(
            ADMIN_KEY,
            pb::RotateSigningSecretRequest {
                id: h.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("rotate");
    let webhook = server
        .webhooks()
        .get_webhook(authed(ADMIN_KEY, pb::GetWebhookRequest { id: h.id }))
        .await
        .expect("get")
        .into_inner()
        .webhook
        .expect("webhook");
    assert!(webhook.previous_secret_expire_time.is_some());
    let turning_on = pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            id: webhook.id,
            signing_secret_set: true,
            ..Default::default()
        }),
        update_mask: mask(&["signing_secret_set"]),
        ..Default::default()
    };
    let refused = update(server, turning_on)
        .await
        .expect_err("on is RotateSigningSecret's");
    assert_eq!(refused.code(), Code::InvalidArgument);
}

async fn the_overview_has_a_series_and_a_list_has_each_webhooks_health(server: &TestServer) {
    let receiver = Receiver::start().await;
    let h = hook(server, "acme", &receiver.url("/"), retry(0, 60)).await;
    let mut calls = watch(server, &h.id).await;
    submit(server, "acme", 4).await;
    next_calls(&mut calls, 4).await;
    let stats = |hours: i64| {
        let request = pb::GetWebhookStatsRequest {
            webhook_id: h.id.clone(),
            window: Some(prost_types::Duration {
                seconds: hours * 3600,
                nanos: 0,
            }),
        };
        async move {
            server
                .webhooks()
                .get_webhook_stats(authed(ADMIN_KEY, request))
                .await
                .expect("stats")
                .into_inner()
                .stats
                .expect("stats")
        }
    };
    for (hours, width, buckets) in [
        (1, 300, 12..=13),
        (24, 3600, 24..=25),
        (24 * 30, 86_400, 30..=31),
    ] {
        let s = stats(hours).await;
        assert_eq!(s.bucket_width.map(|w| w.seconds), Some(width), "{hours} h");
        assert!(
            buckets.contains(&s.series.len()),
            "{hours} h: {} buckets",
            s.series.len()
        );
        let total: u64 = s.series.iter().map(|b| b.total_calls).sum();
        assert_eq!(total, 4, "every call in the series");
        let last = s
            .series
            .iter()
            .rev()
            .find(|b| b.total_calls > 0)
            .expect("a bucket with calls");
        assert_eq!(last.successful_calls, last.total_calls);
        assert!(last.p50_duration.is_some());
        assert!(
            s.series
                .windows(2)
                .all(|w| w[0].start_time.map(|t| t.seconds) < w[1].start_time.map(|t| t.seconds))
        );
    }
    let listed = server
        .webhooks()
        .list_webhooks(authed(
            ADMIN_KEY,
            pb::ListWebhooksRequest {
                organization_id: "acme".into(),
                include_health: true,
                ..Default::default()
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .webhooks;
    let health = listed[0].health.expect("health");
    assert_eq!(
        (health.calls, health.successful_calls, health.success_rate),
        (4, 4, 1.0)
    );
    let plain = server
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
        .into_inner()
        .webhooks;
    assert!(plain[0].health.is_none(), "only when asked");
}

async fn a_creation_retried_with_its_request_id_makes_one_webhook(server: &TestServer) {
    let mut request = create_request("acme");
    request.request_id = "wizard-42".into();
    let first = created(server, request.clone()).await;
    let again = created(server, request.clone()).await;
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(
        again.webhook.as_ref().map(|w| &w.id),
        first.webhook.as_ref().map(|w| &w.id)
    );
    assert_eq!(
        again.signing_secret, first.signing_secret,
        "the answer that was lost"
    );
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
        .into_inner()
        .webhooks;
    assert_eq!(listed.len(), 1, "one webhook");
    request.name = "Something else".into();
    let refused = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, request))
        .await
        .expect_err("another request with the same id");
    assert_eq!(refused.code(), Code::AlreadyExists);
}

/// A key of each scope for acme, and admin keys of each scope.
async fn scoped_key(server: &TestServer, org: &str, scope: pb::ApiKeyScope) -> String {
    server
        .keys()
        .create_api_key(authed(
            ADMIN_KEY,
            pb::CreateApiKeyRequest {
                organization_id: org.into(),
                name: format!("{scope:?} key"),
                scope: scope as i32,
            },
        ))
        .await
        .expect("create key")
        .into_inner()
        .key
}

/// Which RPCs a scope allows: ingest submits, read reads, full does all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ingest,
    Read,
    Write,
}

async fn every_rpc_answers_only_the_keys_whose_scope_allows_it(server: &TestServer) {
    use pb::ApiKeyScope as S;
    let receiver = Receiver::start().await;
    let h = hook(server, "acme", &receiver.url("/"), retry(0, 60)).await;
    let (id, call) = (h.id.clone(), "call_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".to_owned());
    let event = "evt_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".to_owned();
    for org in ["acme", ""] {
        for scope in [S::Full, S::Ingest, S::Read] {
            let key = scoped_key(server, org, scope).await;
            for kind in [Kind::Ingest, Kind::Read, Kind::Write] {
                let results = calls_of(server, &key, kind, &id, &call, &event).await;
                let by_scope = scope == S::Full
                    || (scope == S::Ingest && kind == Kind::Ingest)
                    || (scope == S::Read && kind == Kind::Read);
                for (rpc, result) in results {
                    // Only admin keys make keys, whatever the scope.
                    let allowed = match rpc {
                        "CreateApiKey" => by_scope && org.is_empty(),
                        _ => by_scope,
                    };
                    let denied = matches!(&result, Err(s) if s.code() == Code::PermissionDenied);
                    assert_eq!(
                        !denied, allowed,
                        "{rpc} with an {scope:?} key of `{org}`: {result:?}"
                    );
                }
            }
        }
    }
}

/// Every RPC of a kind, each with the status it answered (any but
/// PERMISSION_DENIED means the scope let it through).
async fn calls_of(
    server: &TestServer,
    key: &str,
    kind: Kind,
    webhook: &str,
    call: &str,
    event: &str,
) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    let w = || server.webhooks();
    let org = || "acme".to_owned();
    let id = || webhook.to_owned();
    let mut out: Vec<(&'static str, Result<(), tonic::Status>)> = Vec::new();
    match kind {
        Kind::Ingest => {
            let submit = pb::SubmitEventRequest {
                event: Some(crate::fixtures::clicked("acme", "")),
            };
            out.push((
                "SubmitEvent",
                server
                    .events()
                    .submit_event(authed(key, submit))
                    .await
                    .map(drop),
            ));
            let many = pb::SubmitEventsRequest {
                events: vec![crate::fixtures::clicked("acme", "")],
            };
            out.push((
                "SubmitEvents",
                server
                    .events()
                    .submit_events(authed(key, many))
                    .await
                    .map(drop),
            ));
        }
        Kind::Read => {
            out.push((
                "GetWebhook",
                w().get_webhook(authed(key, pb::GetWebhookRequest { id: id() }))
                    .await
                    .map(drop),
            ));
            out.push((
                "ListWebhooks",
                w().list_webhooks(authed(
                    key,
                    pb::ListWebhooksRequest {
                        organization_id: org(),
                        ..Default::default()
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "ListCalls",
                w().list_calls(authed(
                    key,
                    pb::ListCallsRequest {
                        webhook_id: id(),
                        ..Default::default()
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "GetCall",
                w().get_call(authed(key, pb::GetCallRequest { id: call.into() }))
                    .await
                    .map(drop),
            ));
            out.push((
                "GetWebhookStats",
                w().get_webhook_stats(authed(
                    key,
                    pb::GetWebhookStatsRequest {
                        webhook_id: id(),
                        window: None,
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "WatchCalls",
                w().watch_calls(authed(
                    key,
                    pb::WatchCallsRequest {
                        webhook_id: id(),
                        organization_id: String::new(),
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "GetEvent",
                w().get_event(authed(
                    key,
                    pb::GetEventRequest {
                        id: event.into(),
                        ..Default::default()
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "ListEvents",
                w().list_events(authed(
                    key,
                    pb::ListEventsRequest {
                        organization_id: org(),
                        ..Default::default()
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "ListDeliveries",
                w().list_deliveries(authed(
                    key,
                    pb::ListDeliveriesRequest {
                        webhook_id: id(),
                        ..Default::default()
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "ListApiKeys",
                server
                    .keys()
                    .list_api_keys(authed(key, pb::ListApiKeysRequest::default()))
                    .await
                    .map(drop),
            ));
        }
        Kind::Write => {
            let mut create = create_request("acme");
            create.name = "scoped".into();
            create.url = "http://127.0.0.1:9/scoped".into();
            out.push((
                "CreateWebhook",
                w().create_webhook(authed(key, create)).await.map(drop),
            ));
            let minted = pb::CreateApiKeyRequest {
                organization_id: org(),
                name: "made by a scoped key".into(),
                scope: 0,
            };
            out.push((
                "CreateApiKey",
                server
                    .keys()
                    .create_api_key(authed(key, minted))
                    .await
                    .map(drop),
            ));
            let rename = pb::UpdateWebhookRequest {
                webhook: Some(pb::Webhook {
                    id: id(),
                    name: "renamed".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["name"]),
                ..Default::default()
            };
            out.push((
                "UpdateWebhook",
                w().update_webhook(authed(key, rename)).await.map(drop),
            ));
            out.push((
                "RotateSigningSecret",
                w().rotate_signing_secret(authed(
                    key,
                    pb::RotateSigningSecretRequest {
                        id: id(),
                        ..Default::default()
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "SendTestEvent",
                w().send_test_event(authed(
                    key,
                    pb::SendTestEventRequest {
                        webhook_id: id(),
                        event_type: 0,
                    },
                ))
                .await
                .map(drop),
            ));
            out.push((
                "RedeliverCall",
                w().redeliver_call(authed(key, pb::RedeliverCallRequest { id: call.into() }))
                    .await
                    .map(drop),
            ));
            out.push((
                "RecoverFailed",
                w().recover_failed(authed(
                    key,
                    pb::RecoverFailedRequest {
                        webhook_id: id(),
                        since: Some(prost_types::Timestamp::default()),
                        ..Default::default()
                    },
                ))
                .await
                .map(drop),
            ));
            let replay = pb::ReplayEventsRequest {
                webhook_id: id(),
                start_time: Some(prost_types::Timestamp::default()),
                end_time: Some(prost_types::Timestamp {
                    seconds: 60,
                    nanos: 0,
                }),
                ..Default::default()
            };
            out.push((
                "ReplayEvents",
                w().replay_events(authed(key, replay)).await.map(drop),
            ));
            out.push((
                "RevokeApiKey",
                server
                    .keys()
                    .revoke_api_key(authed(
                        key,
                        pb::RevokeApiKeyRequest {
                            id: "key_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".into(),
                        },
                    ))
                    .await
                    .map(drop),
            ));
            out.push((
                "DeleteWebhook",
                w().delete_webhook(authed(
                    key,
                    pb::DeleteWebhookRequest {
                        id: "wh_01K1ZQ5XW2ZC0G4S7B2D9E1F3H".into(),
                    },
                ))
                .await
                .map(drop),
            ));
        }
    }
    out
}

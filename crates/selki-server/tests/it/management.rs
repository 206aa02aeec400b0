use selki_proto::v1 as pb;
use tonic::Code;

use crate::fixtures::{create_request, create_webhook, org_key};
use crate::harness::{ADMIN_KEY, TestServer, authed, both};

both!(
    a_webhook_is_created_read_listed_updated_rotated_and_deleted,
    an_organization_key_sees_only_its_own_organization,
    calls_without_a_valid_key_are_unauthenticated,
);

async fn a_webhook_is_created_read_listed_updated_rotated_and_deleted(server: &TestServer) {
    let mut client = server.webhooks();
    let created = create_webhook(server, "acme").await;
    let webhook = created.webhook.expect("webhook");
    assert!(
        created.signing_secret.starts_with("whsec_"),
        "the generated secret is returned once"
    );
    assert!(webhook.signing_secret_set);
    assert!(webhook.enabled);
    assert_eq!(webhook.headers[0].name, "authorization");
    let retry = webhook.retry_policy.expect("default retry policy");
    assert_eq!((retry.attempts, retry.exponential_backoff), (5, true));

    let got = client
        .get_webhook(authed(
            ADMIN_KEY,
            pb::GetWebhookRequest {
                id: webhook.id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.webhook.as_ref(), Some(&webhook));
    let text = format!("{got:?}");
    assert!(
        !text.contains(&created.signing_secret),
        "the secret is never returned again"
    );

    for _ in 0..2 {
        create_webhook(server, "acme").await;
    }
    let page = |token: String| pb::ListWebhooksRequest {
        include_health: Default::default(),
        organization_id: "acme".into(),
        page_size: 2,
        page_token: token,
        enabled: None,
    };
    let first = client
        .list_webhooks(authed(ADMIN_KEY, page(String::new())))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(first.webhooks.len(), 2);
    assert_eq!(first.webhooks[0].id, webhook.id);
    let second = client
        .list_webhooks(authed(ADMIN_KEY, page(first.next_page_token)))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(second.webhooks.len(), 1);
    assert!(
        second.next_page_token.is_empty(),
        "the last page has no token"
    );

    let update = pb::UpdateWebhookRequest {
        remove_headers: Default::default(),
        set_headers: Default::default(),
        webhook: Some(pb::Webhook {
            id: webhook.id.clone(),
            enabled: false,
            name: "Renamed".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["enabled".into(), "name".into()],
        }),
    };
    let updated = client
        .update_webhook(authed(ADMIN_KEY, update))
        .await
        .expect("update")
        .into_inner()
        .webhook
        .expect("webhook");
    assert_eq!(
        (updated.name.as_str(), updated.enabled, updated.url.as_str()),
        ("Renamed", false, webhook.url.as_str())
    );
    let disabled = pb::ListWebhooksRequest {
        include_health: Default::default(),
        organization_id: "acme".into(),
        page_size: 10,
        page_token: String::new(),
        enabled: Some(false),
    };
    let listed = client
        .list_webhooks(authed(ADMIN_KEY, disabled))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed
            .webhooks
            .iter()
            .map(|w| w.id.as_str())
            .collect::<Vec<_>>(),
        [webhook.id.as_str()]
    );

    let rotated = client
        .rotate_signing_secret(authed(
            ADMIN_KEY,
            pb::RotateSigningSecretRequest {
                id: webhook.id.clone(),
                signing_secret: String::new(),
                grace_period: None,
            },
        ))
        .await
        .expect("rotate")
        .into_inner();
    assert!(rotated.signing_secret.starts_with("whsec_"));
    assert_ne!(rotated.signing_secret, created.signing_secret);
    let expires = rotated
        .previous_secret_expire_time
        .expect("the old secret signs for a grace period");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    assert!(
        (expires.seconds - now - 24 * 3600).abs() < 60,
        "24 h by default"
    );

    client
        .delete_webhook(authed(
            ADMIN_KEY,
            pb::DeleteWebhookRequest {
                id: webhook.id.clone(),
            },
        ))
        .await
        .expect("delete");
    let gone = client
        .get_webhook(authed(
            ADMIN_KEY,
            pb::GetWebhookRequest {
                id: webhook.id.clone(),
            },
        ))
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
}

async fn an_organization_key_sees_only_its_own_organization(server: &TestServer) {
    let theirs = create_webhook(server, "globex")
        .await
        .webhook
        .expect("webhook");
    let key = org_key(server, "acme").await;
    let mut client = server.webhooks();
    // Omitting the organization means its own.
    let mine = client
        .create_webhook(authed(&key, create_request("")))
        .await
        .expect("create")
        .into_inner()
        .webhook
        .expect("webhook");
    assert_eq!(mine.organization_id, "acme");
    let get = client
        .get_webhook(authed(
            &key,
            pb::GetWebhookRequest {
                id: theirs.id.clone(),
            },
        ))
        .await
        .expect_err("hidden");
    assert_eq!(get.code(), Code::NotFound);
    assert!(!get.message().contains("globex"), "{}", get.message());
    let delete = client
        .delete_webhook(authed(
            &key,
            pb::DeleteWebhookRequest {
                id: theirs.id.clone(),
            },
        ))
        .await
        .expect_err("hidden");
    assert_eq!(delete.code(), Code::NotFound);
    let create = client
        .create_webhook(authed(&key, create_request("globex")))
        .await
        .expect_err("other org");
    assert_eq!(create.code(), Code::NotFound);
    let list = pb::ListWebhooksRequest {
        organization_id: "globex".into(),
        ..Default::default()
    };
    assert_eq!(
        client
            .list_webhooks(authed(&key, list))
            .await
            .expect_err("other org")
            .code(),
        Code::NotFound
    );
    let own = pb::ListWebhooksRequest::default();
    let listed = client
        .list_webhooks(authed(&key, own))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed
            .webhooks
            .iter()
            .map(|w| w.id.as_str())
            .collect::<Vec<_>>(),
        [mine.id.as_str()]
    );
    // And the admin still sees the other organization's webhook, untouched.
    let still = client
        .get_webhook(authed(ADMIN_KEY, pb::GetWebhookRequest { id: theirs.id }))
        .await
        .expect("admin");
    assert!(still.into_inner().webhook.expect("webhook").enabled);
    // An organization key cannot mint admin keys or keys for others.
    let admin_key = pb::CreateApiKeyRequest {
        organization_id: "globex".into(),
        name: "x".into(),
        scope: 0,
    };
    assert_eq!(
        server
            .keys()
            .create_api_key(authed(&key, admin_key))
            .await
            .expect_err("other org")
            .code(),
        Code::NotFound
    );
}

async fn calls_without_a_valid_key_are_unauthenticated(server: &TestServer) {
    let mut client = server.webhooks();
    let list = || pb::ListWebhooksRequest {
        organization_id: "acme".into(),
        ..Default::default()
    };
    let missing = client
        .list_webhooks(tonic::Request::new(list()))
        .await
        .expect_err("no key");
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(
        missing.message().contains("Bearer"),
        "{}",
        missing.message()
    );
    let wrong = client
        .list_webhooks(authed("sk_not-a-key", list()))
        .await
        .expect_err("wrong key");
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let key = org_key(server, "acme").await;
    assert!(client.list_webhooks(authed(&key, list())).await.is_ok());
    let keys = server
        .keys()
        .list_api_keys(authed(&key, pb::ListApiKeysRequest::default()))
        .await
        .expect("list keys")
        .into_inner();
    let id = keys.api_keys[0].id.clone();
    server
        .keys()
        .revoke_api_key(authed(ADMIN_KEY, pb::RevokeApiKeyRequest { id }))
        .await
        .expect("revoke");
    let revoked = client
        .list_webhooks(authed(&key, list()))
        .await
        .expect_err("revoked");
    assert_eq!(revoked.code(), Code::Unauthenticated);
}

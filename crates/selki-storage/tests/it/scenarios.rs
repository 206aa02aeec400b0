//! What every store must do. Each scenario runs on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::time::Duration;

use selki_domain::{
    ApiKeyId, CustomHeaders, DeliveryStatus, EndpointUrl, EventTypes, OrganizationId, RetryPolicy,
    UnixMs, UrlPolicy, WebhookId, WebhookName,
};
use selki_storage::{
    ApiKeyScope, NewApiKey, NewEvent, NewWebhook, Page, Scope, Store, StoreError, WebhookFilter,
    WebhookPatch,
};
use selki_webhooks::{EventType, Secret};

use crate::harness::{KEY_A, KEY_B, TestStore, keyring};

selki_testkit::on_both_stores!(crate::harness::TestStore::new =>
    a_created_webhook_reads_back_with_every_setting,
    another_organizations_webhook_behaves_as_missing,
    listing_pages_by_creation_and_filters_by_enabled,
    an_update_changes_only_the_fields_given,
    an_event_gets_a_delivery_per_subscribed_webhook_and_nothing_else,
    a_retried_submission_returns_the_first_event_and_a_changed_one_conflicts,
    a_batch_with_a_conflict_stores_nothing,
    a_repeated_client_id_within_one_batch_is_one_event,
    submissions_sharing_a_commit_keep_their_own_answers_and_errors,
    deleting_a_webhook_cancels_its_waiting_deliveries,
    a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends,
    secrets_are_sealed_and_can_be_resealed_under_a_new_key,
    api_keys_are_found_by_hash_until_revoked,
    a_console_session_is_found_until_its_end_and_then_is_not_live,
    retention_prunes_console_sessions_long_ended_and_counts_only_live_ones,
    migrating_twice_changes_nothing,
    headers_written_before_sealing_are_sealed_when_migrating,
    stats_count_waiting_deliveries_and_hide_other_organizations,
);

fn org(name: &str) -> OrganizationId {
    OrganizationId::parse(name).expect("org")
}

fn secret(byte: u8) -> Secret {
    Secret::from_bytes(&[byte; 32]).expect("secret")
}

pub(crate) fn new_webhook(organization: &str, types: &[EventType], enabled: bool) -> NewWebhook {
    NewWebhook {
        limits: Default::default(),
        credential: Default::default(),
        destination: Default::default(),
        filter: Default::default(),
        organization: org(organization),
        name: WebhookName::parse("Notify Slack on Clicks").expect("name"),
        url: EndpointUrl::parse("https://hooks.example.com/selki?x=1", UrlPolicy::HttpsOnly)
            .expect("url"),
        event_types: EventTypes::new(types.iter().copied()).expect("types"),
        enabled,
        retry: RetryPolicy::new(
            3,
            Duration::from_secs(10),
            true,
            Some(Duration::from_secs(600)),
        )
        .expect("retry"),
        headers: CustomHeaders::new(
            vec![("Authorization".into(), "Bearer t0ken".into(), false)],
            None,
        )
        .expect("headers"),
        secret: Some(secret(1)),
        timeout: None,
        request: None,
    }
}

pub(crate) fn event(
    organization: &str,
    event_type: EventType,
    client_id: Option<&str>,
    fingerprint: u8,
) -> NewEvent {
    NewEvent {
        facts: Default::default(),
        organization: org(organization),
        event_type,
        client_event_id: client_id.map(str::to_owned),
        fingerprint: [fingerprint; 32],
        body: format!(
            r#"{{"timestamp":"2025-08-07T10:01:42Z","subscription":"{event_type}","data":{{}}}}"#
        ),
        occurred_at: UnixMs::from_millis(1_754_560_902_000),
        traceparent: None,
    }
}

const CLICKED: EventType = EventType::PhishingEmailClicked;
const SENT: EventType = EventType::PhishingEmailSent;

async fn a_created_webhook_reads_back_with_every_setting(t: &TestStore) {
    let created = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED, SENT], true))
        .await
        .expect("create")
        .webhook;
    let read = t
        .store
        .get_webhook(&Scope::All, created.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(read.name.as_str(), "Notify Slack on Clicks");
    assert_eq!(read.url.as_str(), "https://hooks.example.com/selki?x=1");
    assert_eq!(
        read.event_types,
        EventTypes::new([SENT, CLICKED]).expect("types")
    );
    assert_eq!(read.retry.attempts(), 3);
    assert_eq!(read.retry.max_delay(), Duration::from_secs(600));
    assert_eq!(
        read.headers
            .as_ref()
            .expect("headers open")
            .iter()
            .collect::<Vec<_>>(),
        [("authorization", "Bearer t0ken")]
    );
    assert!(read.signing.secret_set);
    assert!(read.enabled);
    assert_eq!(read.created_at, t.at(0));
    let secrets = t.store.signing_secrets(created.id).await.expect("secrets");
    assert_eq!(
        secrets.iter().map(Secret::expose).collect::<Vec<_>>(),
        [secret(1).expose()]
    );
}

async fn another_organizations_webhook_behaves_as_missing(t: &TestStore) {
    let theirs = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    let mine = Scope::Organization(org("globex"));
    assert!(
        t.store
            .get_webhook(&mine, theirs.id)
            .await
            .expect("get")
            .is_none()
    );
    let patch = WebhookPatch {
        enabled: Some(false),
        ..Default::default()
    };
    assert!(
        t.store
            .update_webhook(&mine, theirs.id, &patch)
            .await
            .expect("update")
            .is_none()
    );
    assert!(
        t.store
            .rotate_secret(&mine, theirs.id, &secret(2), Duration::ZERO)
            .await
            .expect("rotate")
            .is_none()
    );
    assert!(
        !t.store
            .delete_webhook(&mine, theirs.id)
            .await
            .expect("delete")
    );
    let still = t
        .store
        .get_webhook(&Scope::Organization(org("acme")), theirs.id)
        .await
        .expect("get");
    assert!(still.expect("untouched").enabled);
}

async fn listing_pages_by_creation_and_filters_by_enabled(t: &TestStore) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            t.store
                .create_webhook(&new_webhook("acme", &[CLICKED], i % 2 == 0))
                .await
                .expect("create")
                .webhook
                .id,
        );
    }
    t.store
        .create_webhook(&new_webhook("globex", &[CLICKED], true))
        .await
        .expect("other org");
    let page = |after, limit| Page { after, limit };
    let acme = org("acme");
    let first = t
        .store
        .list_webhooks(&acme, WebhookFilter::default(), page(None, 2))
        .await
        .expect("list");
    assert_eq!(first.iter().map(|w| w.id).collect::<Vec<_>>(), ids[..2]);
    let rest = t
        .store
        .list_webhooks(&acme, WebhookFilter::default(), page(Some(ids[1]), 10))
        .await
        .expect("list");
    assert_eq!(rest.iter().map(|w| w.id).collect::<Vec<_>>(), ids[2..]);
    let enabled = WebhookFilter {
        enabled: Some(true),
    };
    let on = t
        .store
        .list_webhooks(&acme, enabled, page(None, 10))
        .await
        .expect("list");
    assert_eq!(
        on.iter().map(|w| w.id).collect::<Vec<_>>(),
        [ids[0], ids[2], ids[4]]
    );
}

async fn an_update_changes_only_the_fields_given(t: &TestStore) {
    let created = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    t.clock.advance_ms(1000);
    let patch = WebhookPatch {
        name: Some(WebhookName::parse("Renamed").expect("name")),
        event_types: Some(EventTypes::new([SENT]).expect("types")),
        enabled: Some(false),
        ..Default::default()
    };
    let updated = t
        .store
        .update_webhook(&Scope::All, created.id, &patch)
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(updated.name.as_str(), "Renamed");
    assert_eq!(updated.event_types, EventTypes::new([SENT]).expect("types"));
    assert!(!updated.enabled);
    assert_eq!(updated.url, created.url);
    assert_eq!(updated.retry, created.retry);
    assert_eq!(updated.headers, created.headers);
    assert_eq!(
        updated.updated_at,
        created.updated_at.plus(Duration::from_millis(1000))
    );
    assert_eq!(updated.created_at, created.created_at);
}

async fn an_event_gets_a_delivery_per_subscribed_webhook_and_nothing_else(t: &TestStore) {
    let on = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    let off = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED, SENT], false))
        .await
        .expect("create")
        .webhook;
    let other_type = t
        .store
        .create_webhook(&new_webhook("acme", &[SENT], true))
        .await
        .expect("create")
        .webhook;
    let other_org = t
        .store
        .create_webhook(&new_webhook("globex", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    let accepted = t
        .store
        .submit_events(&[event("acme", CLICKED, None, 1)])
        .await
        .expect("submit");
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].delivery_count, 1);
    assert!(!accepted[0].duplicate);
    let statuses = t
        .store
        .delivery_statuses(accepted[0].event_id)
        .await
        .expect("statuses");
    assert_eq!(
        statuses,
        [
            (on.id, DeliveryStatus::Pending),
            (off.id, DeliveryStatus::Skipped)
        ]
    );
    let _ = (other_type, other_org);
}

async fn a_retried_submission_returns_the_first_event_and_a_changed_one_conflicts(t: &TestStore) {
    t.store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create");
    let first = t
        .store
        .submit_events(&[event("acme", CLICKED, Some("c-1"), 1)])
        .await
        .expect("first");
    let again = t
        .store
        .submit_events(&[event("acme", CLICKED, Some("c-1"), 1)])
        .await
        .expect("again");
    assert_eq!(again[0].event_id, first[0].event_id);
    assert_eq!(again[0].delivery_count, 1);
    assert!(again[0].duplicate);
    assert_eq!(
        t.store
            .delivery_statuses(first[0].event_id)
            .await
            .expect("statuses")
            .len(),
        1
    );
    let changed = t
        .store
        .submit_events(&[event("acme", CLICKED, Some("c-1"), 2)])
        .await;
    assert!(
        matches!(
            changed,
            Err(StoreError::ClientEventIdConflict { index: 0, .. })
        ),
        "{changed:?}"
    );
    // The same client id in another organization is another event.
    let elsewhere = t
        .store
        .submit_events(&[event("globex", CLICKED, Some("c-1"), 2)])
        .await
        .expect("other org");
    assert_ne!(elsewhere[0].event_id, first[0].event_id);
}

async fn a_repeated_client_id_within_one_batch_is_one_event(t: &TestStore) {
    let batch = [
        event("acme", CLICKED, Some("twice"), 1),
        event("acme", CLICKED, Some("twice"), 1),
    ];
    let accepted = t.store.submit_events(&batch).await.expect("submit");
    assert_eq!(accepted[0].event_id, accepted[1].event_id);
    assert!(!accepted[0].duplicate && accepted[1].duplicate);
    let changed = [
        event("acme", CLICKED, Some("other"), 1),
        event("acme", CLICKED, Some("other"), 2),
    ];
    let result = t.store.submit_events(&changed).await;
    assert!(
        matches!(
            result,
            Err(StoreError::ClientEventIdConflict { index: 1, .. })
        ),
        "{result:?}"
    );
}

async fn submissions_sharing_a_commit_keep_their_own_answers_and_errors(t: &TestStore) {
    t.store
        .submit_events(&[event("acme", CLICKED, Some("taken"), 1)])
        .await
        .expect("first");
    // Submitted at once, so they are written in shared transactions; one
    // of them conflicts.
    let submissions = (0..40u8).map(|i| {
        let store = t.store.clone();
        let events = if i == 17 {
            vec![
                event("acme", SENT, None, i),
                event("acme", CLICKED, Some("taken"), 9),
            ]
        } else {
            vec![event("acme", CLICKED, Some(&format!("c-{i}")), i)]
        };
        tokio::spawn(async move { store.submit(events).await })
    });
    let mut ids = HashSet::new();
    for (i, submission) in submissions.enumerate() {
        let result = submission.await.expect("task");
        if i == 17 {
            assert!(
                matches!(
                    result,
                    Err(StoreError::ClientEventIdConflict { index: 1, .. })
                ),
                "{result:?}"
            );
        } else {
            let accepted = result.expect("accepted");
            assert_eq!(accepted.len(), 1);
            assert!(ids.insert(accepted[0].event_id), "each its own event");
        }
    }
    // Each stored once: resubmitting finds the first.
    let again = t
        .store
        .submit(vec![event("acme", CLICKED, Some("c-3"), 3)])
        .await
        .expect("again");
    assert!(again[0].duplicate);
    assert!(ids.contains(&again[0].event_id));
}

async fn a_batch_with_a_conflict_stores_nothing(t: &TestStore) {
    t.store
        .submit_events(&[event("acme", CLICKED, Some("taken"), 1)])
        .await
        .expect("first");
    let batch = [
        event("acme", CLICKED, Some("new-1"), 1),
        event("acme", SENT, None, 1),
        event("acme", CLICKED, Some("taken"), 9),
    ];
    let result = t.store.submit_events(&batch).await;
    assert!(
        matches!(
            result,
            Err(StoreError::ClientEventIdConflict { index: 2, .. })
        ),
        "{result:?}"
    );
    // Nothing of the batch was kept: "new-1" is still free.
    let retry = t
        .store
        .submit_events(&[event("acme", CLICKED, Some("new-1"), 7)])
        .await
        .expect("free");
    assert!(!retry[0].duplicate);
}

async fn deleting_a_webhook_cancels_its_waiting_deliveries(t: &TestStore) {
    let hook = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    let accepted = t
        .store
        .submit_events(&[event("acme", CLICKED, None, 1)])
        .await
        .expect("submit");
    assert!(
        t.store
            .delete_webhook(&Scope::Organization(org("acme")), hook.id)
            .await
            .expect("delete")
    );
    assert!(
        t.store
            .get_webhook(&Scope::All, hook.id)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        !t.store
            .delete_webhook(&Scope::All, hook.id)
            .await
            .expect("again"),
        "deleting twice"
    );
    let statuses = t
        .store
        .delivery_statuses(accepted[0].event_id)
        .await
        .expect("statuses");
    assert_eq!(statuses, [(hook.id, DeliveryStatus::Cancelled)]);
    let later = t
        .store
        .submit_events(&[event("acme", CLICKED, None, 2)])
        .await
        .expect("submit");
    assert_eq!(
        later[0].delivery_count, 0,
        "a deleted webhook gets no new deliveries"
    );
    assert!(
        t.store
            .signing_secrets(hook.id)
            .await
            .expect("secrets")
            .is_empty()
    );
}

async fn a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends(t: &TestStore) {
    let hook = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    let rotated = t
        .store
        .rotate_secret(&Scope::All, hook.id, &secret(2), Duration::from_secs(3600))
        .await
        .expect("rotate")
        .expect("exists");
    assert_eq!(rotated.signing.previous_expires_at, Some(t.at(3_600_000)));
    let exposed = |s: Vec<Secret>| s.iter().map(Secret::expose).collect::<Vec<_>>();
    let both = t.store.signing_secrets(hook.id).await.expect("secrets");
    assert_eq!(exposed(both), [secret(2).expose(), secret(1).expose()]);
    t.clock.advance_ms(3_600_001);
    let after = t.store.signing_secrets(hook.id).await.expect("secrets");
    assert_eq!(exposed(after), [secret(2).expose()]);
    let immediate = t
        .store
        .rotate_secret(&Scope::All, hook.id, &secret(3), Duration::ZERO)
        .await
        .expect("rotate")
        .expect("exists");
    assert_eq!(immediate.signing.previous_expires_at, None);
    assert_eq!(
        exposed(t.store.signing_secrets(hook.id).await.expect("secrets")),
        [secret(3).expose()]
    );
}

async fn secrets_are_sealed_and_can_be_resealed_under_a_new_key(t: &TestStore) {
    let hook = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    let clock = t.clock.clone();
    // Only key b: the secret sealed under a cannot be opened.
    let b_only = Store::connect(&t.url, keyring(&[KEY_B]), clock.clone())
        .await
        .expect("connect");
    assert!(matches!(
        b_only.signing_secrets(hook.id).await,
        Err(StoreError::Unopenable(u)) if u.key_id == "a"
    ));
    let check = b_only.check_sealed().await.expect("check");
    assert_eq!((check.checked, check.unopenable.get("a")), (1, Some(&1)));
    // b seals, a still opens: reseal, then b alone suffices.
    let both = Store::connect(&t.url, keyring(&[KEY_B, KEY_A]), clock)
        .await
        .expect("connect");
    assert_eq!(both.reseal_secrets().await.expect("reseal").resealed, 1);
    assert_eq!(
        both.reseal_secrets().await.expect("reseal").resealed,
        0,
        "nothing left to reseal"
    );
    let opened = b_only.signing_secrets(hook.id).await.expect("opens with b");
    assert!(
        b_only
            .check_sealed()
            .await
            .expect("check")
            .unopenable
            .is_empty()
    );
    assert_eq!(
        opened.iter().map(Secret::expose).collect::<Vec<_>>(),
        [secret(1).expose()]
    );
    b_only.close().await;
    both.close().await;
}

async fn a_console_session_is_found_until_its_end_and_then_is_not_live(t: &TestStore) {
    let new = NewApiKey {
        scope: ApiKeyScope::Organization(org("acme")),
        name: "console session".into(),
        secret_hash: [9; 32],
        access: selki_domain::KeyAccess::Read,
        lifetime: Some(std::time::Duration::from_secs(60)),
    };
    let session = t.store.create_api_key(&new).await.expect("create");
    assert_eq!(
        session.expires_at,
        Some(session.created_at.plus(std::time::Duration::from_secs(60)))
    );
    assert!(
        t.store
            .find_api_key(&[9; 32])
            .await
            .expect("find")
            .is_some()
    );
    t.clock.advance_ms(59_999);
    assert!(
        t.store
            .find_api_key(&[9; 32])
            .await
            .expect("find")
            .is_some(),
        "a millisecond left"
    );
    assert!(
        t.store
            .live_api_keys(&[session.id])
            .await
            .expect("live")
            .contains(&session.id)
    );
    t.clock.advance_ms(1);
    assert_eq!(
        t.store.find_api_key(&[9; 32]).await.expect("find"),
        None,
        "at its end"
    );
    assert!(
        t.store
            .live_api_keys(&[session.id])
            .await
            .expect("live")
            .is_empty()
    );
}

async fn retention_prunes_console_sessions_long_ended_and_counts_only_live_ones(t: &TestStore) {
    let acme = Scope::Organization(org("acme"));
    for (hash, lifetime) in [(1u8, Some(60)), (2, Some(3600)), (3, None)] {
        let new = NewApiKey {
            scope: ApiKeyScope::Organization(org("acme")),
            name: "k".into(),
            secret_hash: [hash; 32],
            access: selki_domain::KeyAccess::Read,
            lifetime: lifetime.map(std::time::Duration::from_secs),
        };
        t.store.create_api_key(&new).await.expect("create");
    }
    assert_eq!(t.store.live_sessions(&org("acme")).await.expect("count"), 2);
    t.clock.advance_ms(61_000);
    assert_eq!(t.store.live_sessions(&org("acme")).await.expect("count"), 1);
    t.clock.advance_ms(31 * 24 * 3_600_000);
    let cutoff = selki_storage::Cutoffs {
        finished_before: t.at(-(30 * 24 * 3_600_000)),
        recoverable_before: t.at(-(30 * 24 * 3_600_000)),
    };
    assert_eq!(
        t.store.prune(cutoff, 1000).await.expect("prune").sessions,
        2
    );
    let left = t.store.list_api_keys(&acme, ALL_KEYS).await.expect("list");
    assert_eq!(left.len(), 1, "the key without an end stays");
}

async fn api_keys_are_found_by_hash_until_revoked(t: &TestStore) {
    let new = NewApiKey {
        scope: ApiKeyScope::Organization(org("acme")),
        name: "ci".into(),
        secret_hash: [5; 32],
        access: selki_domain::KeyAccess::Full,
        lifetime: None,
    };
    let key = t.store.create_api_key(&new).await.expect("create");
    let id = key.id;
    assert_eq!(
        t.store.find_api_key(&[5; 32]).await.expect("find"),
        Some(key.clone())
    );
    assert_eq!(t.store.find_api_key(&[6; 32]).await.expect("find"), None);
    let admin = NewApiKey {
        scope: ApiKeyScope::Admin,
        name: "ops".into(),
        secret_hash: [7; 32],
        access: selki_domain::KeyAccess::Read,
        lifetime: None,
    };
    t.store.create_api_key(&admin).await.expect("admin key");
    assert_eq!(
        t.store
            .list_api_keys(&Scope::Organization(org("acme")), ALL_KEYS)
            .await
            .expect("list"),
        [key]
    );
    assert_eq!(
        t.store
            .list_api_keys(&Scope::All, ALL_KEYS)
            .await
            .expect("list")
            .len(),
        2
    );
    assert!(
        !t.store
            .revoke_api_key(&Scope::Organization(org("globex")), id)
            .await
            .expect("revoke")
    );
    assert!(
        t.store
            .revoke_api_key(&Scope::Organization(org("acme")), id)
            .await
            .expect("revoke")
    );
    assert_eq!(t.store.find_api_key(&[5; 32]).await.expect("find"), None);
}

async fn migrating_twice_changes_nothing(t: &TestStore) {
    t.store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create");
    t.store.migrate().await.expect("second migrate");
    let listed = t
        .store
        .list_webhooks(
            &org("acme"),
            WebhookFilter::default(),
            Page {
                after: None::<WebhookId>,
                limit: 10,
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
}

impl TestStore {
    /// The test clock's now, moved by `offset_ms`.
    pub(crate) fn at(&self, offset_ms: i64) -> UnixMs {
        use selki_domain::Clock as _;
        UnixMs::from_millis(self.clock.now().as_millis() + offset_ms)
    }
}

async fn stats_count_waiting_deliveries_and_hide_other_organizations(t: &TestStore) {
    let hook = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    t.store
        .submit_events(&[
            event("acme", CLICKED, None, 1),
            event("acme", CLICKED, None, 2),
        ])
        .await
        .expect("submit");
    let stats = t
        .store
        .webhook_stats(&Scope::All, hook.id, UnixMs::EPOCH)
        .await
        .expect("stats")
        .expect("exists");
    assert_eq!(stats.pending_deliveries, 2);
    assert_eq!(
        (
            stats.total_calls,
            stats.failed_deliveries,
            stats.last_success
        ),
        (0, 0, None)
    );
    let other = Scope::Organization(org("globex"));
    assert_eq!(
        t.store
            .webhook_stats(&other, hook.id, UnixMs::EPOCH)
            .await
            .expect("stats"),
        None
    );
}

async fn headers_written_before_sealing_are_sealed_when_migrating(t: &TestStore) {
    let hook = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook;
    // As an older version stored them: in the clear.
    t.db.execute(&[&format!(
        "UPDATE webhooks SET headers = '[[\"x-token\",\"legacy-t0ken\"]]', \
         headers_sealed = NULL, headers_key_id = NULL WHERE id = '{}'",
        hook.id
    )])
    .await;
    t.store.migrate().await.expect("migrate");
    let stored = t.db.texts("SELECT headers FROM webhooks").await;
    assert_eq!(stored, ["[]"]);
    let sealed = t.db.texts("SELECT headers_sealed FROM webhooks").await;
    assert!(!sealed[0].is_empty() && !sealed[0].contains("legacy-t0ken"));
    let read = t
        .store
        .get_webhook(&Scope::All, hook.id)
        .await
        .expect("get")
        .expect("exists");
    let headers = read.headers.expect("opens");
    let header = headers.headers().next().expect("one header");
    assert_eq!(
        (header.name(), header.value(), header.is_sensitive()),
        ("x-token", "legacy-t0ken", true)
    );
}

/// A page larger than any test's key count.
const ALL_KEYS: Page<ApiKeyId> = Page {
    after: None,
    limit: 1000,
};

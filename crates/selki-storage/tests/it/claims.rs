//! The worker's side of the store: leases and recorded attempts.

use std::collections::HashSet;
use std::time::Duration;

use selki_domain::{Attempt, CallRecord, Claimed, DeliveryStatus, Health, Next, UnixMs};
use selki_domain::{CallId, CallOutcome, CallTrigger};
use selki_storage::{CallFilter, Cutoffs, DeliveryState, Limits, Page, Scope};
use selki_testkit::Fixture as _;
use selki_webhooks::EventType;

use crate::harness::TestStore;
use crate::scenarios::{event, new_webhook};

selki_testkit::on_both_stores!(crate::harness::TestStore::new =>
    due_deliveries_are_claimed_once_until_their_lease_runs_out,
    recorded_attempts_finish_retry_or_fail_deliveries,
    a_worker_that_lost_its_lease_cannot_undo_another_workers_progress,
    concurrent_claims_never_share_a_delivery,
    one_webhooks_backlog_does_not_hold_up_anothers_claim,
    response_time_percentiles_come_from_the_rollups,
    retention_prunes_old_calls_and_finished_deliveries_but_keeps_recoverable_ones,
    retention_sweeps_the_in_flight_rows_a_deleted_limited_webhook_left,
    recoverable_deliveries_are_pruned_once_past_the_recovery_window,
    a_delivery_cancelled_while_in_flight_stays_cancelled,
    a_batch_recorded_again_after_an_unconfirmed_commit_is_recorded_once,
    a_filtered_call_listing_stops_at_its_scan_budget_and_says_where,
    telling_in_flight_from_waiting_deliveries_scans_a_bounded_stretch_at_a_time,
);

const LEASE: Duration = Duration::from_secs(30);
const CLICKED: EventType = EventType::PhishingEmailClicked;

pub(crate) async fn setup(t: &TestStore, events: u8) {
    t.store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create");
    let batch: Vec<_> = (0..events)
        .map(|i| event("acme", CLICKED, None, i))
        .collect();
    t.store.submit_events(&batch).await.expect("submit");
}

/// Claims like the worker: every webhook with due deliveries, up to
/// `limit` each.
pub(crate) async fn claim(
    store: &selki_storage::Store,
    worker: &str,
    limit: u32,
) -> Result<Vec<Claimed>, selki_storage::StoreError> {
    let due = store.due_webhooks().await?;
    let wants: Vec<_> = due.into_iter().map(|w| (w, limit)).collect();
    store.claim_due(worker, LEASE, &wants).await
}

/// Records a first-attempt success for each of `claimed`.
pub(crate) async fn succeed(store: &selki_storage::Store, claimed: &[Claimed]) {
    let done: Vec<_> = claimed
        .iter()
        .map(|c| attempt(c, CallOutcome::Success, Next::Succeeded))
        .collect();
    store
        .record_attempts(&done, Health::default())
        .await
        .expect("record");
}

/// A webhook of `organization` for clicks, at most 4 calls in flight.
pub(crate) fn limited_webhook(organization: &str) -> selki_storage::NewWebhook {
    let mut new = new_webhook(organization, &[CLICKED], true);
    new.limits = selki_domain::DeliveryLimits {
        per_second: None,
        in_flight: std::num::NonZeroU32::new(4),
    };
    new
}

pub(crate) fn attempt(claimed: &Claimed, outcome: CallOutcome, next: Next) -> Attempt {
    Attempt {
        claimed: claimed.clone(),
        call: Some(call(claimed, outcome, 42)),
        next,
    }
}

pub(crate) fn call(claimed: &Claimed, outcome: CallOutcome, duration_ms: u64) -> CallRecord {
    CallRecord {
        id: CallId::at(UnixMs::from_millis(1_754_560_902_000)),
        delivery_id: Some(claimed.delivery_id),
        webhook_id: claimed.webhook_id,
        organization: claimed.organization.clone(),
        event_id: claimed.event_id,
        event_type: claimed.event_type,
        attempt: claimed.attempt,
        trigger: CallTrigger::Automatic,
        outcome,
        http_status: Some(if outcome == CallOutcome::Success {
            200
        } else {
            503
        }),
        url: "https://hooks.example.com/selki?x=1".into(),
        started_at: UnixMs::from_millis(1_754_560_902_000),
        duration: Duration::from_millis(duration_ms),
        error_message: None,
        response_excerpt: Some("ok".into()),
        trace_id: None,
        capture: None,
    }
}

async fn due_deliveries_are_claimed_once_until_their_lease_runs_out(t: &TestStore) {
    setup(t, 3).await;
    let first = claim(&t.store, "w1", 2).await.expect("claim");
    assert_eq!(first.len(), 2);
    assert!(
        first
            .iter()
            .all(|c| c.attempt == 1 && c.body.contains("PHISHING_EMAIL_CLICKED"))
    );
    let second = claim(&t.store, "w2", 10).await.expect("claim");
    assert_eq!(second.len(), 1);
    assert!(
        claim(&t.store, "w3", 10).await.expect("claim").is_empty(),
        "all leased"
    );
    // The workers died: once the lease runs out, everything is due again.
    t.clock.advance_ms(30_000);
    let again = claim(&t.store, "w4", 10).await.expect("claim");
    let ids = |c: &[Claimed]| c.iter().map(|c| c.delivery_id).collect::<HashSet<_>>();
    assert_eq!(ids(&again), &ids(&first) | &ids(&second));
}

async fn recorded_attempts_finish_retry_or_fail_deliveries(t: &TestStore) {
    setup(t, 3).await;
    let claimed = claim(&t.store, "w1", 10).await.expect("claim");
    let retry_at = t.at(60_000);
    t.store
        .record_attempts(
            &[
                attempt(&claimed[0], CallOutcome::Success, Next::Succeeded),
                attempt(
                    &claimed[1],
                    CallOutcome::HttpStatus,
                    Next::RetryAt(retry_at),
                ),
                attempt(&claimed[2], CallOutcome::Timeout, Next::Failed),
            ],
            Health::default(),
        )
        .await
        .expect("record");
    assert!(
        claim(&t.store, "w1", 10).await.expect("claim").is_empty(),
        "the retry is not due yet"
    );
    t.clock.advance_ms(60_000);
    let retried = claim(&t.store, "w1", 10).await.expect("claim");
    assert_eq!(
        retried
            .iter()
            .map(|c| (c.delivery_id, c.attempt))
            .collect::<Vec<_>>(),
        [(claimed[1].delivery_id, 2)]
    );
    let stats = t
        .store
        .webhook_stats(&Scope::All, claimed[0].webhook_id, UnixMs::EPOCH)
        .await
        .expect("stats")
        .expect("exists");
    assert_eq!(
        (
            stats.total_calls,
            stats.successful_calls,
            stats.failed_deliveries,
            stats.pending_deliveries
        ),
        (3, 1, 1, 1)
    );
}

async fn a_worker_that_lost_its_lease_cannot_undo_another_workers_progress(t: &TestStore) {
    setup(t, 1).await;
    let slow = claim(&t.store, "slow", 10).await.expect("claim");
    t.clock.advance_ms(31_000);
    let fast = claim(&t.store, "fast", 10).await.expect("claim");
    assert_eq!(fast[0].delivery_id, slow[0].delivery_id);
    t.store
        .record_attempts(
            &[attempt(&fast[0], CallOutcome::Success, Next::Succeeded)],
            Health::default(),
        )
        .await
        .expect("record");
    // The slow worker's late failure is a recorded call, but the delivery stays done.
    t.store
        .record_attempts(
            &[attempt(
                &slow[0],
                CallOutcome::Timeout,
                Next::RetryAt(UnixMs::EPOCH),
            )],
            Health::default(),
        )
        .await
        .expect("record");
    t.clock.advance_ms(3_600_000);
    assert!(claim(&t.store, "any", 10).await.expect("claim").is_empty());
    let stats = t
        .store
        .webhook_stats(&Scope::All, fast[0].webhook_id, UnixMs::EPOCH)
        .await
        .expect("stats")
        .expect("exists");
    assert_eq!(
        (
            stats.total_calls,
            stats.successful_calls,
            stats.pending_deliveries
        ),
        (2, 1, 0)
    );
}

async fn concurrent_claims_never_share_a_delivery(t: &TestStore) {
    setup(t, 120).await;
    let claims = (0..6).map(|i| {
        let store = t.store.clone();
        tokio::spawn(async move { claim(&store, &format!("w{i}"), 25).await.expect("claim") })
    });
    let mut seen = HashSet::new();
    let mut total = 0;
    for claim in claims {
        for c in claim.await.expect("task") {
            assert!(
                seen.insert(c.delivery_id),
                "{} claimed twice",
                c.delivery_id
            );
            total += 1;
        }
    }
    assert_eq!(total, 120, "every delivery was claimed by someone");
}

async fn one_webhooks_backlog_does_not_hold_up_anothers_claim(t: &TestStore) {
    let slow = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook
        .id;
    let old: Vec<_> = (0..50).map(|i| event("acme", CLICKED, None, i)).collect();
    t.store.submit_events(&old).await.expect("submit");
    let fast = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create")
        .webhook
        .id;
    t.store
        .submit_events(&[event("acme", CLICKED, None, 99)])
        .await
        .expect("submit");
    let due = t.store.due_webhooks().await.expect("due");
    assert_eq!(due.len(), 2, "both webhooks have due deliveries");
    // The fast webhook's one delivery is newer than all 51 of the slow one.
    let claimed = t
        .store
        .claim_due("w1", LEASE, &[(fast, 10)])
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].webhook_id, fast);
    let rest = t
        .store
        .claim_due("w1", LEASE, &[(slow, 100), (fast, 10)])
        .await
        .expect("claim");
    assert_eq!(rest.len(), 51, "all of the slow webhook's, none twice");
    assert!(rest.iter().all(|c| c.webhook_id == slow));
}

async fn response_time_percentiles_come_from_the_rollups(t: &TestStore) {
    setup(t, 100).await;
    let claimed = claim(&t.store, "w1", 100).await.expect("claim");
    // Durations 1..=100 ms; one in ten a 503.
    let attempts: Vec<Attempt> = claimed
        .iter()
        .zip(1..)
        .map(|(c, ms)| {
            let outcome = if ms % 10 == 0 {
                CallOutcome::HttpStatus
            } else {
                CallOutcome::Success
            };
            Attempt {
                claimed: c.clone(),
                call: Some(call(c, outcome, ms)),
                next: Next::Succeeded,
            }
        })
        .collect();
    t.store
        .record_attempts(&attempts, Health::default())
        .await
        .expect("record");
    let stats = t
        .store
        .webhook_stats(&Scope::All, claimed[0].webhook_id, UnixMs::EPOCH)
        .await
        .expect("stats")
        .expect("exists");
    assert_eq!((stats.total_calls, stats.successful_calls), (100, 90));
    assert_eq!(stats.by_status, [(200, 90), (503, 10)]);
    // Buckets are 19% wide: a percentile is the top of its bucket.
    let within = |got: Option<Duration>, exact: u64| {
        let got = got.expect("a percentile").as_millis();
        let exact = u128::from(exact);
        assert!(
            got >= exact && got * 100 <= exact * 120,
            "{got} for {exact}"
        );
    };
    within(stats.p50, 50);
    within(stats.p95, 95);
    within(stats.p99, 99);
    let later = t
        .store
        .webhook_stats(&Scope::All, claimed[0].webhook_id, t.at(3_600_000))
        .await
        .expect("stats")
        .expect("exists");
    assert_eq!(
        (later.total_calls, later.p50),
        (0, None),
        "outside the window"
    );
}

async fn retention_prunes_old_calls_and_finished_deliveries_but_keeps_recoverable_ones(
    t: &TestStore,
) {
    setup(t, 3).await;
    let claimed = claim(&t.store, "w1", 10).await.expect("claim");
    t.store
        .record_attempts(
            &[
                attempt(&claimed[0], CallOutcome::Success, Next::Succeeded),
                attempt(&claimed[1], CallOutcome::Success, Next::Succeeded),
                attempt(&claimed[2], CallOutcome::Timeout, Next::Failed),
            ],
            Health::default(),
        )
        .await
        .expect("record");
    let young = t
        .store
        .prune(window(t.at(-(1000))), 1000)
        .await
        .expect("prune");
    assert_eq!(young.total(), 0, "nothing is old yet");
    t.clock.advance_ms(31 * 24 * 3_600_000);
    let cutoff = window(t.at(-(30 * 24 * 3_600_000)));
    let pruned = t.store.prune(cutoff, 1000).await.expect("prune");
    assert_eq!(
        (pruned.calls, pruned.deliveries, pruned.events),
        (3, 2, 2),
        "the failed delivery and its event stay"
    );
    assert!(pruned.rollups > 0);
    assert_eq!(t.store.prune(cutoff, 1000).await.expect("prune").total(), 0);
    let stats = t
        .store
        .webhook_stats(&Scope::All, claimed[0].webhook_id, UnixMs::EPOCH)
        .await
        .expect("stats")
        .expect("exists");
    assert_eq!((stats.failed_deliveries, stats.total_calls), (1, 0));
    let recovered = t
        .store
        .recover_deliveries(
            &Scope::All,
            claimed[0].webhook_id,
            (UnixMs::EPOCH, None),
            10,
        )
        .await
        .expect("recover");
    assert_eq!(recovered, Some(1), "still recoverable");
}

/// Retention at `before`, recovery for 60 days more.
/// A limited webhook's claims leave rows in `in_flight` that only its next
/// claim sweeps; once it is deleted there is none, so retention does.
async fn retention_sweeps_the_in_flight_rows_a_deleted_limited_webhook_left(t: &TestStore) {
    let webhook = t
        .store
        .create_webhook(&limited_webhook("acme"))
        .await
        .expect("create");
    let batch: Vec<_> = (0..3).map(|i| event("acme", CLICKED, None, i)).collect();
    t.store.submit_events(&batch).await.expect("submit");
    let claimed = claim(&t.store, "w1", 10).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    succeed(&t.store, &claimed).await;
    assert!(
        t.store
            .delete_webhook(&Scope::All, webhook.webhook.id)
            .await
            .expect("delete")
    );
    t.clock.advance_ms(31 * 24 * 3_600_000);
    let cutoff = window(t.at(-(30 * 24 * 3_600_000)));
    let pruned = t.store.prune(cutoff, 1000).await.expect("prune");
    assert_eq!(pruned.in_flight, 3, "{pruned:?}");
    assert_eq!(t.store.prune(cutoff, 1000).await.expect("prune").total(), 0);
}

pub(crate) fn window(before: UnixMs) -> Cutoffs {
    Cutoffs {
        finished_before: before,
        recoverable_before: before.minus(Duration::from_secs(60 * 24 * 3600)),
    }
}

async fn recoverable_deliveries_are_pruned_once_past_the_recovery_window(t: &TestStore) {
    let webhook = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], false))
        .await
        .expect("a disabled webhook")
        .webhook;
    let batch: Vec<_> = (0..4).map(|i| event("acme", CLICKED, None, i)).collect();
    t.store.submit_events(&batch).await.expect("submit");
    let stats = |t: &TestStore| {
        let store = t.store.clone();
        async move {
            store
                .webhook_stats(&Scope::All, webhook.id, UnixMs::EPOCH)
                .await
                .expect("stats")
                .expect("exists")
                .skipped_deliveries
        }
    };
    assert_eq!(stats(t).await, 4);
    t.clock.advance_ms(31 * 24 * 3_600_000);
    let within = t
        .store
        .prune(window(t.at(-(30 * 24 * 3_600_000))), 1000)
        .await
        .expect("prune");
    assert_eq!(
        (within.deliveries, stats(t).await),
        (0, 4),
        "still recoverable"
    );
    t.clock.advance_ms(60 * 24 * 3_600_000);
    let past = t
        .store
        .prune(window(t.at(-(30 * 24 * 3_600_000))), 1000)
        .await
        .expect("prune");
    assert_eq!((past.deliveries, past.events, stats(t).await), (4, 4, 0));
}

async fn a_delivery_cancelled_while_in_flight_stays_cancelled(t: &TestStore) {
    setup(t, 2).await;
    let claimed = claim(&t.store, "w1", 10).await.expect("claim");
    let webhook = claimed[0].webhook_id;
    assert!(
        t.store
            .delete_webhook(&Scope::All, webhook)
            .await
            .expect("delete")
    );
    // The calls in flight end afterwards: one to retry, one delivered.
    t.store
        .record_attempts(
            &[
                attempt(&claimed[0], CallOutcome::Timeout, Next::RetryAt(t.at(1000))),
                attempt(&claimed[1], CallOutcome::Success, Next::Succeeded),
            ],
            Health::default(),
        )
        .await
        .expect("record");
    for c in &claimed {
        let statuses = t
            .store
            .delivery_statuses(c.event_id)
            .await
            .expect("statuses");
        assert_eq!(
            statuses,
            [(webhook, DeliveryStatus::Cancelled)],
            "{:?}",
            c.delivery_id
        );
    }
    t.clock.advance_ms(60_000);
    assert!(
        claim(&t.store, "w2", 10).await.expect("claim").is_empty(),
        "nothing comes back"
    );
}

/// Deleting a webhook takes its rows in the recorder's order (deliveries,
/// then the webhook): a recorder holding a delivery of it and reaching for
/// the webhook's row next must not deadlock with the delete.
#[tokio::test]
async fn deleting_a_webhook_and_recording_its_calls_cannot_deadlock() {
    use sqlx::{Connection as _, Executor as _};
    let Some(t) = TestStore::new(selki_testkit::Db::Postgres).await else {
        return;
    };
    setup(&t, 1).await;
    let claimed = claim(&t.store, "w1", 10).await.expect("claim");
    let (delivery, webhook) = (claimed[0].delivery_id, claimed[0].webhook_id);
    let mut recorder = sqlx::PgConnection::connect(&t.url).await.expect("connect");
    recorder.execute("BEGIN").await.expect("begin");
    recorder
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE deliveries SET updated_at = updated_at WHERE id = '{delivery}'"
        )))
        .await
        .expect("the delivery's row");
    let store = t.store.clone();
    let deleting = tokio::spawn(async move { store.delete_webhook(&Scope::All, webhook).await });
    // Until the delete waits for a lock the recorder holds.
    let mut watcher = sqlx::PgConnection::connect(&t.url).await.expect("connect");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .expect("activity");
        if waiting.0 > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delete never waited"
        );
        tokio::task::yield_now().await;
    }
    // Then the recorder reaches for the webhook's row, as it does next.
    let streak = recorder
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET consecutive_failures = consecutive_failures WHERE id = '{webhook}'"
        )))
        .await;
    let committed = match streak {
        Ok(_) => recorder.execute("COMMIT").await.map(drop),
        Err(err) => Err(err),
    };
    let deleted = deleting.await.expect("task");
    assert!(committed.is_ok(), "the recorder failed: {committed:?}");
    assert!(deleted.expect("the delete failed"), "deleted");
    t.finish().await;
}

/// The recorder retries a whole batch when the database failed while
/// committing it, though the commit may have gone through: the retry must
/// count nothing twice and report nothing refused.
async fn a_batch_recorded_again_after_an_unconfirmed_commit_is_recorded_once(t: &TestStore) {
    setup(t, 3).await;
    let claimed = claim(&t.store, "w1", 10).await.expect("claim");
    let batch: Vec<Attempt> = claimed
        .iter()
        .map(|c| attempt(c, CallOutcome::Success, Next::Succeeded))
        .collect();
    let first = t
        .store
        .record_attempts_isolated(&batch, Health::default())
        .await
        .expect("record");
    let again = t
        .store
        .record_attempts_isolated(&batch, Health::default())
        .await
        .expect("again");
    assert!(
        first.lost.is_empty() && again.lost.is_empty() && again.stripped.is_empty(),
        "{again:?}"
    );
    let stats = t
        .store
        .webhook_stats(&Scope::All, claimed[0].webhook_id, UnixMs::EPOCH)
        .await
        .expect("stats")
        .expect("exists");
    assert_eq!((stats.total_calls, stats.successful_calls), (3, 3));
}

/// A worker whose heartbeat stopped is dead and its claims are due again at
/// once; a worker is never dead to itself; and right after an outage (when
/// every heartbeat is old) nobody is judged until the others could beat.
#[tokio::test]
async fn silent_workers_lose_their_claims_but_not_to_an_outage() {
    let Some(t) = TestStore::new(selki_testkit::Db::Postgres).await else {
        return;
    };
    setup(&t, 3).await;
    let dead_after = selki_storage::DEAD_AFTER;
    let mine = claim(&t.store, "me", 1).await.expect("claim");
    let theirs = claim(&t.store, "them", 2).await.expect("claim");
    assert_eq!((mine.len(), theirs.len()), (1, 2));
    for who in ["me", "them"] {
        t.store.heartbeat(who, "worker").await.expect("beat");
    }
    let ms = |d: Duration| i64::try_from(d.as_millis()).expect("ms");
    t.clock.advance_ms(ms(dead_after) + 3000);
    // An outage now: every heartbeat is old once it ends.
    t.db.cut_off().await;
    assert!(t.store.heartbeat("me", "worker").await.is_err());
    t.db.restore().await;
    t.store.heartbeat("me", "worker").await.expect("beat");
    assert!(
        t.store
            .release_dead("me", dead_after)
            .await
            .expect("reap")
            .is_empty(),
        "judged too soon after the outage"
    );
    t.clock.advance_ms(ms(dead_after) + 3000);
    t.store.heartbeat("me", "worker").await.expect("beat");
    let dead = t.store.release_dead("me", dead_after).await.expect("reap");
    assert_eq!(dead, [("them".to_owned(), 2)]);
    let again = claim(&t.store, "other", 10).await.expect("claim");
    assert_eq!(
        again.iter().map(|c| c.delivery_id).collect::<HashSet<_>>(),
        theirs.iter().map(|c| c.delivery_id).collect::<HashSet<_>>(),
        "theirs are due again, mine still held"
    );
    t.finish().await;
}

/// The store of `t` examining at most five rows per filtered listing.
fn small_budget(t: &TestStore) -> selki_storage::Store {
    t.store.clone().with_limits(Limits {
        scan_budget: 5,
        ..Limits::default()
    })
}

async fn a_filtered_call_listing_stops_at_its_scan_budget_and_says_where(t: &TestStore) {
    setup(t, 12).await;
    let store = small_budget(t);
    let claimed = claim(&store, "w1", 20).await.expect("claim");
    // Twelve calls a millisecond apart: the oldest failed, the rest did not.
    let attempts: Vec<Attempt> = claimed
        .iter()
        .zip(0..)
        .map(|(c, i)| {
            let (outcome, next) = match i {
                0 => (CallOutcome::HttpStatus, Next::Failed),
                _ => (CallOutcome::Success, Next::Succeeded),
            };
            let mut a = attempt(c, outcome, next);
            if let Some(call) = &mut a.call {
                call.id = CallId::at(t.at(i));
            }
            a
        })
        .collect();
    store
        .record_attempts(&attempts, Health::default())
        .await
        .expect("record");
    let webhook = claimed[0].webhook_id;
    let failed = CallFilter {
        succeeded: Some(false),
        ..CallFilter::default()
    };
    let mut after = None;
    let mut pages = Vec::new();
    loop {
        let page = store
            .list_calls(&Scope::All, webhook, failed, Page { after, limit: 10 })
            .await
            .expect("list");
        pages.push(page.calls.iter().map(|c| c.id).collect::<Vec<_>>());
        match page.scanned_to {
            Some(to) => after = Some(to),
            None => break,
        }
    }
    let failed_call = attempts[0].call.as_ref().map(|c| c.id).expect("a call");
    assert_eq!(
        pages,
        [vec![], vec![], vec![failed_call]],
        "five calls a page: the 12th to 8th, the 7th to 3rd, then the rest"
    );
    let unfiltered = store
        .list_calls(
            &Scope::All,
            webhook,
            CallFilter::default(),
            Page {
                after: None,
                limit: 20,
            },
        )
        .await
        .expect("list");
    assert_eq!(
        (unfiltered.calls.len(), unfiltered.scanned_to),
        (12, None),
        "a listing without a filter reads only what it returns: no budget"
    );
}

async fn telling_in_flight_from_waiting_deliveries_scans_a_bounded_stretch_at_a_time(
    t: &TestStore,
) {
    setup(t, 12).await;
    let store = small_budget(t);
    let leased = claim(&store, "w1", 1).await.expect("claim");
    let webhook = leased[0].webhook_id;
    let mut after = None;
    let mut pages = 0;
    let mut found = Vec::new();
    loop {
        let page = store
            .list_deliveries(
                &Scope::All,
                webhook,
                &[DeliveryState::InFlight],
                Page { after, limit: 10 },
            )
            .await
            .expect("list")
            .expect("the webhook");
        pages += 1;
        found.extend(page.deliveries.iter().map(|d| (d.id, d.state)));
        match page.scanned_to {
            Some(to) => after = Some(to),
            None => break,
        }
    }
    assert_eq!(found, [(leased[0].delivery_id, DeliveryState::InFlight)]);
    assert_eq!(pages, 3, "twelve waiting deliveries, five examined a page");
    let waiting = store
        .list_deliveries(
            &Scope::All,
            webhook,
            &[DeliveryState::Pending, DeliveryState::InFlight],
            Page {
                after: None,
                limit: 20,
            },
        )
        .await
        .expect("list")
        .expect("the webhook");
    assert_eq!(
        (waiting.deliveries.len(), waiting.scanned_to),
        (12, None),
        "all waiting ones at once need no lease read: no budget"
    );
}

//! Fresh deliveries handed straight to this process's worker: inserted
//! leased to it, handed over only once committed, and claimable by any
//! worker once that lease runs out.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use selki_domain::{Claimed, DeliveryId, DeliveryStatus, WebhookId};
use selki_storage::Intake;
use selki_webhooks::EventType;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::claims::{claim, limited_webhook, setup, succeed};
use crate::harness::TestStore;
use crate::scenarios::{event, new_webhook};

selki_testkit::on_both_stores!(crate::harness::TestStore::new =>
    fresh_deliveries_are_inserted_leased_to_this_process_and_handed_over_once_committed,
    a_handed_over_delivery_whose_worker_died_is_claimed_once_its_lease_runs_out,
    fresh_deliveries_beyond_the_workers_room_wait_for_a_claim,
    rate_limited_and_disabled_webhooks_are_never_handed_fresh_deliveries,
    a_refused_submission_hands_nothing_over_and_frees_the_places_it_reserved,
    once_the_worker_stops_taking_them_fresh_deliveries_wait_for_a_claim,
);

const CLICKED: EventType = EventType::PhishingEmailClicked;
const LEASE: Duration = Duration::from_secs(30);

/// A worker with `slots` places, taking at most `per_webhook` of one
/// webhook per submission. What it takes it keeps (its places back).
#[derive(Debug)]
struct TestIntake {
    slots: Arc<Semaphore>,
    per_webhook: usize,
    taken: Mutex<Vec<Claimed>>,
}

impl TestIntake {
    fn installed(t: &TestStore, slots: usize, per_webhook: usize) -> Arc<Self> {
        let intake = Arc::new(Self {
            slots: Arc::new(Semaphore::new(slots)),
            per_webhook,
            taken: Mutex::new(Vec::new()),
        });
        t.store.hand_fresh_deliveries_to(intake.clone());
        intake
    }

    fn taken(&self) -> Vec<Claimed> {
        self.taken.lock().expect("lock").clone()
    }
}

impl Intake for TestIntake {
    fn worker(&self) -> &str {
        "here"
    }

    fn lease(&self) -> Duration {
        LEASE
    }

    fn reserve(&self, _: WebhookId, promised: usize) -> Option<OwnedSemaphorePermit> {
        if promised >= self.per_webhook {
            return None;
        }
        self.slots.clone().try_acquire_owned().ok()
    }

    fn take(&self, fresh: Vec<(Claimed, OwnedSemaphorePermit)>) {
        let mut taken = self.taken.lock().expect("lock");
        taken.extend(fresh.into_iter().map(|(claimed, _)| claimed));
    }
}

async fn submit(t: &TestStore, events: u8) {
    let batch: Vec<_> = (0..events)
        .map(|i| event("acme", CLICKED, None, i))
        .collect();
    t.store.submit_events(&batch).await.expect("submit");
}

async fn create(t: &TestStore, enabled: bool) {
    t.store
        .create_webhook(&new_webhook("acme", &[CLICKED], enabled))
        .await
        .expect("create");
}

fn ids(claimed: &[Claimed]) -> HashSet<DeliveryId> {
    claimed.iter().map(|c| c.delivery_id).collect()
}

async fn fresh_deliveries_are_inserted_leased_to_this_process_and_handed_over_once_committed(
    t: &TestStore,
) {
    let intake = TestIntake::installed(t, 100, 100);
    let webhook = t
        .store
        .create_webhook(&new_webhook("acme", &[CLICKED], true))
        .await
        .expect("create");
    submit(t, 3).await;
    let taken = intake.taken();
    assert_eq!(taken.len(), 3);
    for c in &taken {
        assert_eq!((c.attempt, c.round_attempt), (1, 1));
        assert_eq!(c.webhook_id, webhook.webhook.id);
        assert!(c.body.contains("PHISHING_EMAIL_CLICKED"), "{}", c.body);
        let target = c.target.sendable().expect("a live target");
        assert!(target.sealed.is_ok(), "its secret opened, ready to sign");
        let lease = c.lease.as_ref().expect("a lease");
        assert!(lease.as_str().starts_with("here/"), "{}", lease.as_str());
    }
    assert!(
        claim(&t.store, "other", 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased to this process: no other worker claims them"
    );
    succeed(&t.store, &taken).await;
    for c in &taken {
        let statuses = t.store.delivery_statuses(c.event_id).await.expect("read");
        assert_eq!(
            statuses,
            vec![(webhook.webhook.id, DeliveryStatus::Succeeded)]
        );
    }
}

async fn a_handed_over_delivery_whose_worker_died_is_claimed_once_its_lease_runs_out(
    t: &TestStore,
) {
    let intake = TestIntake::installed(t, 100, 100);
    setup(t, 4).await;
    // The process died with them: nothing is due until the lease ends.
    let handed = intake.taken();
    assert_eq!(handed.len(), 4);
    assert!(claim(&t.store, "w2", 10).await.expect("claim").is_empty());
    t.clock
        .advance_ms(i64::try_from(LEASE.as_millis()).expect("ms"));
    let again = claim(&t.store, "w2", 10).await.expect("claim");
    assert_eq!(ids(&again), ids(&handed));
    assert!(
        again.iter().all(|c| c.attempt == 1),
        "never sent, never counted"
    );
    // The dead process's lease no longer counts: its late record is refused.
    succeed(&t.store, &handed).await;
    let statuses = t
        .store
        .delivery_statuses(handed[0].event_id)
        .await
        .expect("read");
    assert_eq!(statuses[0].1, DeliveryStatus::Pending, "w2 holds it now");
}

async fn fresh_deliveries_beyond_the_workers_room_wait_for_a_claim(t: &TestStore) {
    // Room for 2 of one webhook's (its lane), 3 in all (the worker's slots).
    let intake = TestIntake::installed(t, 3, 2);
    for _ in 0..2 {
        create(t, true).await;
    }
    submit(t, 5).await;
    let handed = intake.taken();
    assert_eq!(
        handed.len(),
        3,
        "the worker's 3 places, 2 at most per webhook"
    );
    let claimed = claim(&t.store, "w2", 10).await.expect("claim");
    assert_eq!(claimed.len(), 10 - 3, "the rest were queued as before");
    assert!(ids(&claimed).is_disjoint(&ids(&handed)));
}

async fn rate_limited_and_disabled_webhooks_are_never_handed_fresh_deliveries(t: &TestStore) {
    let intake = TestIntake::installed(t, 100, 100);
    let limited = t
        .store
        .create_webhook(&limited_webhook("acme"))
        .await
        .expect("create");
    create(t, false).await;
    submit(t, 2).await;
    assert!(intake.taken().is_empty(), "{:?}", intake.taken());
    // Its pace is kept by its claims.
    let claimed = claim(&t.store, "w2", 10).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.webhook_id == limited.webhook.id));
}

async fn a_refused_submission_hands_nothing_over_and_frees_the_places_it_reserved(t: &TestStore) {
    let intake = TestIntake::installed(t, 10, 10);
    create(t, true).await;
    t.store
        .submit_events(&[event("acme", CLICKED, Some("x"), 1)])
        .await
        .expect("submit");
    assert_eq!(intake.taken().len(), 1);
    // Its first event reserves a place, its second reuses a client id.
    let refused = t
        .store
        .submit_events(&[
            event("acme", CLICKED, None, 3),
            event("acme", CLICKED, Some("x"), 2),
        ])
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(intake.taken().len(), 1, "nothing of it handed over");
    assert_eq!(intake.slots.available_permits(), 10, "its place freed");
    assert!(claim(&t.store, "w2", 10).await.expect("claim").is_empty());
}

async fn once_the_worker_stops_taking_them_fresh_deliveries_wait_for_a_claim(t: &TestStore) {
    let intake = TestIntake::installed(t, 100, 100);
    t.store.stop_handing_fresh_deliveries();
    setup(t, 2).await;
    assert!(intake.taken().is_empty());
    assert_eq!(claim(&t.store, "w2", 10).await.expect("claim").len(), 2);
}

//! Fresh deliveries handed straight to this process's own worker: a
//! submission inserts them already leased to it when it has room, and
//! hands them over once committed, so they skip the claim round trip (the
//! wake-up, the due-webhook probe, the claiming update and the re-reads of
//! webhook and event). A crash between commit and call leaves a lease
//! that runs out (or a process that stops beating), and any worker
//! delivers them then: still at least once.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use selki_domain::{Claimed, WebhookId};
use tokio::sync::OwnedSemaphorePermit;

use crate::Store;

/// A worker in this process that takes fresh deliveries from ingestion.
pub trait Intake: Send + Sync + std::fmt::Debug {
    /// Names the leases of what it takes.
    fn worker(&self) -> &str;
    /// How long what it takes is its alone.
    fn lease(&self) -> Duration;
    /// A place for one more fresh delivery of `webhook`, `promised` of
    /// them already reserved by this submission; `None` when it has no
    /// room (the delivery is then queued for a claim, as without it).
    fn reserve(&self, webhook: WebhookId, promised: usize) -> Option<OwnedSemaphorePermit>;
    /// Takes committed deliveries leased to it, each with its place.
    fn take(&self, fresh: Vec<(Claimed, OwnedSemaphorePermit)>);
}

/// Where the store finds its process's intake, if it has one now. Shared
/// by every clone of the store.
#[derive(Debug, Default, Clone)]
pub(crate) struct IntakeSlot(Arc<RwLock<Option<Arc<dyn Intake>>>>);

impl IntakeSlot {
    pub(crate) fn current(&self) -> Option<Arc<dyn Intake>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, intake: Option<Arc<dyn Intake>>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = intake;
    }
}

impl Store {
    /// From now on, submissions through this store (and its clones) hand
    /// fresh deliveries to `intake` when it has room.
    pub fn hand_fresh_deliveries_to(&self, intake: Arc<dyn Intake>) {
        self.intake.set(Some(intake));
    }

    /// From now on, fresh deliveries wait for a claim. A submission already
    /// under way may still hand over what it reserved.
    pub fn stop_handing_fresh_deliveries(&self) {
        self.intake.set(None);
    }
}

//! A migrated store on a fresh database (selki-testkit), with a clock the
//! test moves by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use selki_domain::{Clock, UnixMs};
use selki_storage::{Keyring, Store};
use selki_testkit::{Db, Fixture, TestDatabase};

/// A clock tests move by hand.
#[derive(Debug)]
pub(crate) struct TestClock(AtomicI64);

impl TestClock {
    pub(crate) fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> UnixMs {
        UnixMs::from_millis(self.0.load(Ordering::SeqCst))
    }
}

pub(crate) struct TestStore {
    pub(crate) store: Store,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) url: String,
    pub(crate) db: TestDatabase,
}

pub(crate) fn keyring(entries: &[&str]) -> Keyring {
    Keyring::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).expect("keys")
}

pub(crate) const KEY_A: &str = "a:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
pub(crate) const KEY_B: &str = "b:BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=";

impl TestStore {
    /// `None` when PostgreSQL is absent and not required.
    pub(crate) async fn new(db: Db) -> Option<Self> {
        let db = TestDatabase::create(db).await?;
        let clock = Arc::new(TestClock(AtomicI64::new(1_754_560_902_000)));
        let store = Store::connect(&db.url, keyring(&[KEY_A]), clock.clone())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        Some(Self {
            store,
            clock,
            url: db.url.clone(),
            db,
        })
    }
}

impl Fixture for TestStore {
    async fn finish(self) {
        self.store.close().await;
        self.db.remove().await;
    }
}

//! Storage of Selki Webhooks: webhooks, events, deliveries, calls and API
//! keys, on PostgreSQL (production, shared by many processes) or SQLite
//! (the embedded default).
//!
//! Both stores run the same SQL through sqlx's `Any` driver: the schema and
//! the queries are shared, so the two cannot drift; what one database
//! needs and the other lacks is in `dialect`. The shared conformance suite
//! (tests/it) runs against each. This crate is the only one of the product
//! that contains SQL.

mod alerting;
mod api_keys;
mod calls;
mod claims;
mod clock;
mod dialect;
mod error;
mod group_commit;
mod intake;
mod keyring;
mod limits;
mod liveness;
mod lookups;
mod maintenance;
mod migrations;
mod model;
mod operational;
mod partitions;
mod record;
mod sealing;
mod signals;
mod sql;
mod stats;
mod streaks;
mod submit;
mod webhooks;

use std::sync::Arc;

use selki_domain::{Clock, UnixMs};
use sqlx::AnyPool;

pub use calls::{CallFilter, CallPage, StatusFilter};
pub use dialect::Backend;
pub use error::StoreError;
pub use intake::Intake;
pub use keyring::{DEVELOPMENT_KEY_ID, Keyring, KeyringError, Sealed};
pub use liveness::{DEAD_AFTER, HEARTBEAT_EVERY, SoleWorker, Writes};
pub use lookups::DeliveryPage;
pub use maintenance::{Cutoffs, Pruned, QueueStats, Replay, Replayed};
pub use model::{
    Accepted, ApiKey, ApiKeyScope, Created, DeliveryState, DeliveryView, EventFilter, EventKey,
    NewApiKey, NewEvent, NewWebhook, Page, Scope, SigningState, StoredEvent, Webhook,
    WebhookFilter, WebhookPatch,
};
pub use record::Recorded;
pub use sealing::{Resealed, SealedCheck};
pub use signals::RecordedCalls;
pub use stats::{DayOfCalls, SeriesBucket, WebhookStats, bucket_width};

/// What one organization may make the store hold, so that no tenant's
/// size becomes another's problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Live webhooks per organization.
    pub webhooks_per_organization: u32,
    /// Deliveries one submission may create (events × subscribed webhooks).
    pub deliveries_per_submission: usize,
    /// Rows one filtered listing examines at most, so that a filter
    /// matching nothing costs a bounded read however many calls or
    /// deliveries a webhook has; past it, the page says where it stopped.
    pub scan_budget: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            webhooks_per_organization: 100,
            deliveries_per_submission: 10_000,
            scan_budget: 10_000,
        }
    }
}

/// The store. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// The API's reads: `pool` itself, or SQLite's readers.
    reads: AnyPool,
    backend: Backend,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    signals: Arc<signals::Signals>,
    /// Group commit of submissions; `None` in the clone its writers hold.
    group_commit: Option<Arc<group_commit::GroupCommit>>,
    /// This process's worker, when it takes fresh deliveries directly.
    intake: intake::IntakeSlot,
    /// Whether the database takes writes, for health.
    writability: Arc<liveness::Writability>,
    limits: Limits,
    /// The SQLite database file, if it is one.
    sqlite_path: Option<std::path::PathBuf>,
}

impl Store {
    /// Connects to `postgres://…` or `sqlite:…` (the file is created when
    /// missing) and starts the group-commit writers. Does not migrate:
    /// call [`Store::migrate`].
    pub async fn connect(
        url: &str,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url);
        let pool = backend.pool(url).await?;
        let reads = backend.read_pool(url, &pool).await?;
        let started = clock.now();
        let postgres_url = backend.listens_at(url);
        let sqlite_path = backend.sqlite_file(url);
        let mut store = Self {
            pool,
            reads,
            backend,
            keyring: Arc::new(keyring),
            clock,
            signals: Arc::new(signals::Signals::new(postgres_url)),
            group_commit: None,
            intake: intake::IntakeSlot::default(),
            writability: Arc::new(liveness::Writability::new(started)),
            limits: Limits::default(),
            sqlite_path,
        };
        store.start_tasks();
        Ok(store)
    }

    /// This store with other limits (its writers started again with them).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self.start_tasks();
        self
    }

    /// The store's own tasks: the group-commit writers (they end when the
    /// last clone of this store is dropped), and on PostgreSQL the listener
    /// for the other processes' notifications (ended by [`Store::close`]).
    fn start_tasks(&mut self) {
        self.group_commit = Some(Arc::new(group_commit::GroupCommit::start(self)));
        self.signals.start_listener();
    }

    /// A clone that does not keep the group-commit writers alive.
    fn without_group_commit(&self) -> Self {
        Self {
            group_commit: None,
            ..self.clone()
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrations::migrator()
            .run(&self.pool)
            .await
            .map_err(StoreError::Migrate)?;
        self.backend
            .after_migrations(&self.pool, self.now())
            .await?;
        let sealed = self.seal_plaintext_headers().await?;
        if sealed > 0 {
            tracing::info!(
                webhooks = sealed,
                "custom headers stored in the clear are now sealed"
            );
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.signals.stop();
        self.pool.close().await;
        self.reads.close().await;
    }

    /// The store never reads the clock itself: this is the injected one.
    fn now(&self) -> UnixMs {
        self.clock.now()
    }

    /// A write transaction (see [`Backend::begin`]).
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        self.backend.begin(&self.pool).await
    }
}

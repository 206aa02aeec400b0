//! Storage of Selki Webhooks: webhooks, events, deliveries, calls and API
//! keys, on PostgreSQL (production, shared by many processes) or SQLite
//! (the embedded default).
//!
//! Both stores run the same SQL through sqlx's `Any` driver: the schema and
//! the queries use only what both databases understand, so the two cannot
//! drift; the shared conformance suite (tests/it) runs against each. This
//! crate is the only one that contains SQL.

mod api_keys;
mod calls;
mod clock;
mod deliveries;
mod error;
mod events;
mod ingest;
mod keyring;
mod liveness;
mod maintenance;
mod migrations;
mod model;
mod rows;
mod sealing;
mod signals;
mod stats;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::Connection as _;
use sqlx::Executor as _;
use sqlx::any::AnyPoolOptions;

pub use calls::{CallFilter, CallRecord, Health};
pub use clock::{Clock, SyncedClock, SystemClock};
pub use deliveries::{Attempt, Claimed, Next, Opened, Recorded, Target};
pub use error::{StoreError, Unopenable};
pub use keyring::{DEVELOPMENT_KEY_ID, Keyring, KeyringError, Sealed};
pub use liveness::{DEAD_AFTER, HEARTBEAT_EVERY, SoleWorker, Writes};
pub use maintenance::{Cutoffs, Pruned, QueueStats};
pub use model::{
    Accepted, ApiKey, ApiKeyScope, NewApiKey, NewEvent, NewWebhook, Page, Scope, SigningState,
    Webhook, WebhookFilter, WebhookPatch,
};
pub use sealing::{Resealed, SealedCheck};
pub use signals::RecordedCalls;
pub use stats::WebhookStats;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// What one organization may make the store hold, so that no tenant's
/// size becomes another's problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Live webhooks per organization.
    pub webhooks_per_organization: u32,
    /// Deliveries one submission may create (events × subscribed webhooks).
    pub deliveries_per_submission: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            webhooks_per_organization: 100,
            deliveries_per_submission: 10_000,
        }
    }
}

/// The store. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    signals: Arc<signals::Signals>,
    /// Group commit of submissions, started on first use.
    ingest: Arc<tokio::sync::OnceCell<ingest::Ingest>>,
    /// Whether the database takes writes, for health.
    writability: Arc<liveness::Writability>,
    limits: Limits,
    /// The SQLite database file, if it is one.
    sqlite_path: Option<std::path::PathBuf>,
}

/// The file of a `sqlite:` URL; `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
}

impl Store {
    /// Connects to `postgres://…` or `sqlite:…` (the file is created when
    /// missing). Does not migrate: call [`Store::migrate`].
    pub async fn connect(
        url: &str,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let pool = match backend {
            Backend::Postgres => options.max_connections(16).connect(url).await?,
            // One writer at a time in SQLite: WAL lets readers go on, and the
            // busy timeout queues writers instead of failing them.
            Backend::Sqlite => {
                options
                    .max_connections(4)
                    // A write that fails with SQLITE_FULL (or an I/O error)
                    // is rolled back by SQLite itself; sqlx's ROLLBACK then
                    // fails and the connection would come back "in a
                    // transaction" for good (every later BEGIN refused).
                    // One that comes back so is closed instead; the ping
                    // first runs any rollback still queued.
                    .after_release(|conn, _| {
                        Box::pin(async move {
                            conn.ping().await?;
                            Ok(!conn.is_in_transaction())
                        })
                    })
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                                 PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
                            )
                            .await
                            .map(|_| ())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        let started_ms = clock.now_ms();
        let postgres_url = (backend == Backend::Postgres).then(|| url.to_owned());
        let sqlite_path = (backend == Backend::Sqlite)
            .then(|| sqlite_file(url))
            .flatten();
        Ok(Self {
            pool,
            backend,
            keyring: Arc::new(keyring),
            clock,
            signals: Arc::new(signals::Signals::new(postgres_url)),
            ingest: Arc::default(),
            writability: Arc::new(liveness::Writability::new(started_ms)),
            limits: Limits::default(),
            sqlite_path,
        })
    }

    /// This store with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A clone that does not keep the group-commit writers alive.
    fn without_ingest(&self) -> Self {
        Self {
            ingest: Arc::default(),
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
        if self.backend == Backend::Postgres {
            // PostgreSQL only (the migrations are shared with SQLite): room
            // on each page, so a claim, which changes no indexed column,
            // updates its row in place (a HOT update) instead of adding an
            // entry to every index. Idempotent; applies to pages written
            // from now on.
            sqlx::query("ALTER TABLE deliveries SET (fillfactor = 70)")
                .execute(&self.pool)
                .await?;
        }
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
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A write transaction. SQLite's takes the write lock at once: a
    /// transaction that read first could not upgrade its lock once another
    /// writer committed (SQLITE_BUSY, with no busy wait), so it queues up
    /// front instead.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

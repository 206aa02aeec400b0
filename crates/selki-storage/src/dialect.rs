//! Every place PostgreSQL and SQLite are treated differently. The schema
//! and the queries are shared (portable SQL through sqlx's `Any` driver);
//! what one database needs and the other lacks is here, and only here.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Connection as _, Executor as _, Transaction};

use crate::StoreError;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://…` or `postgresql://…`; anything else is SQLite.
    pub(crate) fn of(url: &str) -> Self {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    /// The pool. PostgreSQL: 16 connections. SQLite: one connection, since
    /// the database has one writer at a time anyway: writers then queue in
    /// the pool, each woken as the last one finishes, instead of in
    /// SQLite's busy handler, which sleeps (up to 100 ms a time) and does
    /// not wake when the lock is free (scenario 5 at 1,000 events/s: p99
    /// 81 → 12 ms; scenario 3: 7,400 → 8,700 deliveries/s). Reads that
    /// the API serves have [`Backend::read_pool`].
    pub(crate) async fn pool(self, url: &str) -> Result<AnyPool, StoreError> {
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        Ok(match self {
            Self::Postgres => options.max_connections(16).connect(url).await?,
            Self::Sqlite => {
                options
                    .max_connections(1)
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
        })
    }

    /// The pool of the API's reads (Recent Calls, statistics, lookups).
    /// PostgreSQL: the one pool. SQLite (a file): three connections of
    /// their own, read-only, which WAL lets read while the writer writes,
    /// so that a long read never holds up deliveries.
    pub(crate) async fn read_pool(self, url: &str, pool: &AnyPool) -> Result<AnyPool, StoreError> {
        if self.sqlite_file(url).is_none() {
            return Ok(pool.clone());
        }
        Ok(AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(5))
            .max_connections(3)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                        .await
                        .map(|_| ())
                })
            })
            .connect(url)
            .await?)
    }

    /// Steps after the shared migrations, for one database only.
    /// PostgreSQL: room on each page of `deliveries`, so that a claim,
    /// which changes no indexed column, updates its row in place (a HOT
    /// update) instead of adding an entry to every index. Idempotent;
    /// applies to pages written from then on. 40, not 70: a page filled to
    /// 70% had room for the new versions of only ~40% of its rows' claims
    /// (scenario 8: 0.41 HOT updates per delivery at 70, 0.97 at 40; WAL
    /// per delivery −10%, and the table with its indexes smaller, since
    /// a HOT claim adds no index entries).
    ///
    /// And `calls` and `events` partitioned by day (`partitions.rs`), so
    /// that retention drops days instead of deleting rows.
    pub(crate) async fn after_migrations(
        self,
        pool: &AnyPool,
        now: selki_domain::UnixMs,
    ) -> Result<(), StoreError> {
        if self == Self::Postgres {
            sqlx::query("ALTER TABLE deliveries SET (fillfactor = 40)")
                .execute(pool)
                .await?;
            crate::partitions::install(pool, now).await?;
        }
        Ok(())
    }

    /// Retention's first step: PostgreSQL makes the coming days'
    /// partitions of calls and events; SQLite's tables are not partitioned.
    pub(crate) async fn ensure_days(
        self,
        pool: &AnyPool,
        now: selki_domain::UnixMs,
    ) -> Result<(), StoreError> {
        match self {
            Self::Postgres => crate::partitions::ensure(pool, now).await,
            Self::Sqlite => Ok(()),
        }
    }

    /// Retention's whole days of a partitioned table: PostgreSQL drops
    /// those wholly before `before` and names the partitions left to prune
    /// row by row; SQLite prunes its one table row by row.
    pub(crate) async fn retire_days(
        self,
        pool: &AnyPool,
        t: crate::partitions::Partitioned,
        before: selki_domain::UnixMs,
    ) -> Result<crate::partitions::Retired, StoreError> {
        match self {
            Self::Postgres => crate::partitions::retire(pool, t, before).await,
            Self::Sqlite => Ok(crate::partitions::Retired {
                dropped: 0,
                row_pruned: vec![t.table.to_owned()],
            }),
        }
    }

    /// A write transaction. SQLite's takes the write lock at once: a
    /// transaction that read first could not upgrade its lock once another
    /// writer committed (SQLITE_BUSY, with no busy wait), so it queues up
    /// front instead.
    pub(crate) async fn begin(
        self,
        pool: &AnyPool,
    ) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self {
            Self::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Self::Postgres => pool.begin().await?,
        })
    }

    /// What a claim's pick adds so that concurrent workers skip each
    /// other's rows. SQLite has one writer at a time: the UPDATE is the
    /// lock.
    pub(crate) const fn skip_locked(self) -> &'static str {
        match self {
            Self::Postgres => "FOR UPDATE SKIP LOCKED",
            Self::Sqlite => "",
        }
    }

    /// Serialises writers of one organization until the transaction ends
    /// (counting its webhooks before adding one). SQLite's write
    /// transaction is that lock already.
    pub(crate) async fn lock_organization(
        self,
        tx: &mut Transaction<'static, Any>,
        organization: &str,
    ) -> Result<(), StoreError> {
        if self == Self::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(organization.to_owned())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Whether other processes share the database, and hear each other
    /// through [`Backend::notify`] (PostgreSQL). A SQLite database has one
    /// process: its news stays in memory.
    pub(crate) const fn shared(self) -> bool {
        matches!(self, Self::Postgres)
    }

    /// Tells the other processes sharing the database, on commit when run
    /// inside a transaction. Nothing to do with SQLite.
    pub(crate) async fn notify<'c, E>(
        self,
        executor: E,
        channel: &str,
        payload: &str,
    ) -> Result<(), StoreError>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        if self.shared() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel.to_owned())
                .bind(payload.to_owned())
                .execute(executor)
                .await?;
        }
        Ok(())
    }

    /// The database's own clock (Unix ms), for processes sharing it to
    /// agree on the time; `None` on SQLite, whose one process has only its
    /// own clock.
    pub(crate) async fn clock_ms(self, pool: &AnyPool) -> Result<Option<i64>, StoreError> {
        if !self.shared() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now_ms",
        )
        .fetch_one(pool)
        .await?;
        crate::sql::int(&row, "now_ms").map(Some)
    }

    /// Where to listen for the other processes' notifications.
    pub(crate) fn listens_at(self, url: &str) -> Option<String> {
        self.shared().then(|| url.to_owned())
    }

    /// The database file of a SQLite URL (the sole-worker lock goes beside
    /// it); `None` for PostgreSQL or an in-memory database.
    pub(crate) fn sqlite_file(self, url: &str) -> Option<std::path::PathBuf> {
        if self.shared() {
            return None;
        }
        let rest = url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
    }

    /// Group-commit writers. PostgreSQL commits several transactions at
    /// once, so a few keep it busy while each gathers its group; SQLite has
    /// one writer.
    pub(crate) const fn group_commit_writers(self) -> usize {
        match self {
            Self::Postgres => 4,
            Self::Sqlite => 1,
        }
    }
}

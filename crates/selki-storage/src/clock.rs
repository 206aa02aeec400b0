//! Time. Every process sharing a PostgreSQL database must agree on it: a
//! lease or a retention cut-off judged by a clock five minutes ahead would
//! take another worker's live claim or prune today's calls. So a server
//! on PostgreSQL keeps its clock at the database's: [`SyncedClock`] is the
//! local clock plus the offset measured against the database, measured
//! again every minute.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::rows::int;
use crate::{Backend, Store, StoreError};

/// What a store needs to know the time. Injected so tests can fix it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock moved by an offset: the database's time, read locally.
#[derive(Debug)]
pub struct SyncedClock {
    local: Arc<dyn Clock>,
    offset_ms: AtomicI64,
}

impl SyncedClock {
    pub fn new(local: Arc<dyn Clock>) -> Self {
        Self {
            local,
            offset_ms: AtomicI64::new(0),
        }
    }

    pub fn set_offset_ms(&self, offset: i64) {
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// The local clock's own reading.
    pub fn local_ms(&self) -> i64 {
        self.local.now_ms()
    }
}

impl Clock for SyncedClock {
    fn now_ms(&self) -> i64 {
        self.local.now_ms().saturating_add(self.offset_ms())
    }
}

impl Store {
    /// How far the database's clock is ahead of `local` (ms), halfway
    /// through the round trip; `None` on SQLite, whose one process has
    /// only its own clock.
    pub async fn database_clock_offset(
        &self,
        local: &SyncedClock,
    ) -> Result<Option<i64>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let before = local.local_ms();
        let row = sqlx::query(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now_ms",
        )
        .fetch_one(&self.pool)
        .await?;
        let after = local.local_ms();
        let database = int(&row, "now_ms")?;
        Ok(Some(database - (before + (after - before) / 2)))
    }
}

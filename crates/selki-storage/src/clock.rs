//! The database's clock: every process sharing a PostgreSQL database
//! keeps its [`SyncedClock`] at it, so leases and retention agree.

use selki_domain::SyncedClock;

use crate::{Store, StoreError};

impl Store {
    /// How far the database's clock is ahead of `local` (ms), halfway
    /// through the round trip; `None` on SQLite, whose one process has
    /// only its own clock.
    pub async fn database_clock_offset(
        &self,
        local: &SyncedClock,
    ) -> Result<Option<i64>, StoreError> {
        let before = local.local().as_millis();
        let Some(database) = self.backend.clock_ms(&self.pool).await? else {
            return Ok(None);
        };
        let after = local.local().as_millis();
        Ok(Some(database - (before + (after - before) / 2)))
    }
}

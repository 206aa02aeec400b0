//! Which processes are alive, and whether the database takes writes.
//!
//! Every server process writes a heartbeat every few seconds. That write
//! is what health reports on when nothing else is written, and a worker
//! whose heartbeat stopped is dead: its claims are released for others at
//! once instead of waiting out their leases.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use selki_domain::{LeaseToken, UnixMs};
use tokio::sync::watch;

use crate::sql::{status, text};
use crate::{Store, StoreError};

/// How often every process writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A process whose heartbeat is this old is dead (four missed beats).
pub const DEAD_AFTER: Duration = Duration::from_secs(8);

/// Held while this process is its SQLite database's only worker.
#[derive(Debug)]
pub struct SoleWorker {
    _lock: std::fs::File,
}

/// Whether the database takes writes, as the writes found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writes {
    Taken,
    /// Refused for this reason (an outage: unreachable, full, read-only).
    Refused(String),
}

/// A heartbeat alone says less than a real write: after a real write was
/// refused, heartbeats must succeed this long before writes count as taken
/// again (a full disk may still take a heartbeat's few bytes).
const HEARTBEATS_TO_TRUST: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Writability {
    state: watch::Sender<Writes>,
    /// When a write other than a heartbeat was last refused.
    write_refused_at: Mutex<Option<Instant>>,
    /// Since when (the store's clock) writes have been taken without an
    /// outage.
    taken_since: Mutex<UnixMs>,
}

/// Which kind of write an outcome is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    Heartbeat,
    Work,
}

impl Writability {
    pub(crate) fn new(now: UnixMs) -> Self {
        Self {
            state: watch::Sender::new(Writes::Taken),
            write_refused_at: Mutex::new(None),
            taken_since: Mutex::new(now),
        }
    }

    pub(crate) fn observe<T>(&self, kind: WriteKind, result: &Result<T, StoreError>, now: UnixMs) {
        let mut refused_at = self
            .write_refused_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match result {
            Err(err) if err.is_transient() => {
                if kind == WriteKind::Work {
                    *refused_at = Some(Instant::now());
                }
                *self.taken_since.lock().unwrap_or_else(|e| e.into_inner()) = now;
                let cause = err.to_string();
                self.state.send_if_modified(|s| {
                    let changed = *s != Writes::Refused(cause.clone());
                    *s = Writes::Refused(cause);
                    changed
                });
            }
            // Not an outage: the statement was at fault, not the database.
            Err(_) => {}
            Ok(_) => {
                let trusted = kind == WriteKind::Work
                    || refused_at.is_none_or(|at| at.elapsed() >= HEARTBEATS_TO_TRUST);
                if trusted {
                    *refused_at = None;
                    self.state.send_if_modified(|s| {
                        let changed = *s != Writes::Taken;
                        *s = Writes::Taken;
                        changed
                    });
                }
            }
        }
    }
}

impl Writability {
    /// How long writes have been taken without an outage in between.
    fn taken_for(&self, now: UnixMs) -> Duration {
        now.since(*self.taken_since.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Store {
    /// Changes when the database starts or stops taking writes.
    pub fn writes(&self) -> watch::Receiver<Writes> {
        self.writability.state.subscribe()
    }

    /// `process` (of `role`) is alive now.
    pub async fn heartbeat(&self, process: &str, role: &str) -> Result<(), StoreError> {
        let now = self.now();
        let result = sqlx::query(
            "INSERT INTO processes (name, role, started_at, heartbeat_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        )
        .bind(process.to_owned())
        .bind(role.to_owned())
        .bind(now.as_millis())
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(StoreError::from);
        self.writability
            .observe(WriteKind::Heartbeat, &result, self.now());
        result
    }

    /// `process` stops cleanly: it holds no claims any more.
    pub async fn leave(&self, process: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM processes WHERE name = $1")
            .bind(process.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Processes other than `me` silent for longer than `silent_for` are
    /// dead: their claims become due again now (not when their leases end)
    /// and their rows go. Returns each dead process with how many claims it
    /// held. Judged only once this process's own writes have gone through
    /// for longer than that: after an outage every heartbeat is old, and
    /// the others must have had time to beat again.
    pub async fn release_dead(
        &self,
        me: &str,
        silent_for: Duration,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let now = self.now();
        if self.writability.taken_for(now) < silent_for + HEARTBEAT_EVERY {
            return Ok(Vec::new());
        }
        let before = now.minus(silent_for).as_millis();
        let dead = sqlx::query("SELECT name FROM processes WHERE heartbeat_at < $1 AND name <> $2")
            .bind(before)
            .bind(me.to_owned())
            .fetch_all(&self.pool)
            .await?;
        let mut released = Vec::with_capacity(dead.len());
        for row in &dead {
            let name = text(row, "name")?;
            let held = self.release_leases_of(&name).await?;
            sqlx::query("DELETE FROM processes WHERE name = $1 AND heartbeat_at < $2")
                .bind(name.clone())
                .bind(before)
                .execute(&self.pool)
                .await?;
            released.push((name, held));
        }
        if released.iter().any(|(_, held)| *held > 0) {
            self.announce_due().await?;
        }
        Ok(released)
    }

    /// Every claim of `process` is due again now (see [`LeaseToken`]).
    pub async fn release_leases_of(&self, process: &str) -> Result<u64, StoreError> {
        let prefix = LeaseToken::prefix_of(process);
        let released = sqlx::query(concat!(
            "UPDATE deliveries SET lease_until = NULL, leased_by = NULL \
             WHERE status = ",
            status!(Pending),
            " AND leased_by IS NOT NULL \
             AND substr(leased_by, 1, CAST($2 AS INTEGER)) = $1"
        ))
        .bind(prefix.clone())
        .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released)
    }

    /// On SQLite, this process becomes the database's only worker: it holds
    /// a lock on a file beside the database (released by the system when
    /// the process ends, however it ends), and takes back every lease at
    /// once, since the worker that held them is gone. Fails if another live
    /// process delivers from this database. `None` on PostgreSQL, where
    /// workers share the database and heartbeats tell the dead.
    pub async fn become_sole_worker(&self) -> Result<Option<SoleWorker>, StoreError> {
        let Some(database) = &self.sqlite_path else {
            return Ok(None);
        };
        let path = std::path::PathBuf::from(format!("{}.worker-lock", database.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::SoleWorker(format!("{}: {e}", path.display())))?;
        file.try_lock().map_err(|_| {
            StoreError::SoleWorker(format!(
                "another process delivers from this SQLite database (it holds {})",
                path.display()
            ))
        })?;
        let released = self.release_all_leases().await?;
        if released > 0 {
            tracing::info!(
                released,
                "took back the claims of the worker before this one"
            );
            self.announce_due().await?;
        }
        Ok(Some(SoleWorker { _lock: file }))
    }

    /// Every claim of every worker is due again now: for a worker that
    /// knows it is the only one (SQLite, under its lock), at start.
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        let released = sqlx::query(concat!(
            "UPDATE deliveries SET lease_until = NULL, leased_by = NULL \
             WHERE status = ",
            status!(Pending),
            " AND leased_by IS NOT NULL"
        ))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released)
    }
}

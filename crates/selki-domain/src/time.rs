//! Time: one type for every instant the server handles ([`UnixMs`]), and
//! the [`Clock`] that says what time it is, injected everywhere so that
//! nothing behind the edge reads the system clock by itself.
//!
//! Every process sharing a PostgreSQL database must agree on the time: a
//! lease or a retention cut-off judged by a clock five minutes ahead would
//! take another worker's live claim or prune today's calls. So a server
//! on PostgreSQL keeps its clock at the database's: [`SyncedClock`] is the
//! local clock plus an offset measured against the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use selki_webhooks::OffsetDateTime;

/// An instant, in milliseconds since the Unix epoch (UTC). What the
/// database stores (a BIGINT), what the API turns into a `Timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMs(i64);

impl UnixMs {
    pub const EPOCH: Self = Self(0);
    pub const MAX: Self = Self(i64::MAX);

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds, rounded down (the wire format's timestamps).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `duration` later, saturating.
    #[must_use]
    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(millis(duration)))
    }

    /// `duration` earlier, saturating.
    #[must_use]
    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(millis(duration)))
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0).cast_unsigned())
    }

    /// The start of the `step`-long interval this falls in, counted from
    /// the epoch (rollup buckets).
    #[must_use]
    pub fn floor_to(self, step: Duration) -> Self {
        let step = millis(step).max(1);
        Self(self.0 - self.0.rem_euclid(step))
    }

    /// The same instant as a calendar time (the epoch for an instant no
    /// calendar time holds).
    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 in UTC to the second, as the wire format writes times.
    pub fn to_rfc3339(self) -> String {
        let whole = self.floor_to(Duration::from_secs(1)).to_datetime();
        whole
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// A calendar time, to the millisecond (rounded down, saturating).
    pub fn from_datetime(time: OffsetDateTime) -> Self {
        let ms = time.unix_timestamp_nanos().div_euclid(1_000_000);
        Self(i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX }))
    }
}

impl std::fmt::Display for UnixMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A duration in whole milliseconds, saturating: how durations are stored.
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What tells the time. Injected, so that tests can fix it and a server on
/// PostgreSQL can follow the database's.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> UnixMs;
}

/// The system clock: the one place it is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMs {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixMs(millis(since_epoch))
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
    pub fn local(&self) -> UnixMs {
        self.local.now()
    }
}

impl Clock for SyncedClock {
    fn now(&self) -> UnixMs {
        UnixMs(self.local.now().0.saturating_add(self.offset_ms()))
    }
}

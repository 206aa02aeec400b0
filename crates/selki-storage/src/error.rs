//! Why a storage call failed, sorted by what the caller can do about it:
//! wait and retry (an outage), not retry as it is (a refusal), or find out
//! (a commit whose outcome is unknown).

use selki_domain::Unopenable;
use sqlx::error::DatabaseError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or cannot take writes now
    /// (connection lost, pool exhausted, disk full, read-only, shutting
    /// down, a serialization failure). Nothing was written; retrying later
    /// is right.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The database refused the statement (a constraint, a value it will
    /// not store). Nothing was written; the same statement will be refused
    /// again.
    #[error("the database refused the statement: {0}")]
    Refused(sqlx::Error),
    /// The connection broke while committing: the write may or may not be
    /// stored.
    #[error("the connection failed while committing, so the write may or may not be stored: {0}")]
    CommitUnknown(sqlx::Error),
    /// Migrations could not be applied.
    #[error("migrating the database failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A submission reused a client event id with different content.
    #[error("client event id `{client_event_id}` was already used for a different event")]
    ClientEventIdConflict {
        index: usize,
        client_event_id: String,
    },
    /// The organization has as many webhooks as it may.
    #[error("organization `{organization}` has {max} webhooks, the most it may have")]
    TooManyWebhooks { organization: String, max: u32 },
    /// A creation's request id names a webhook since deleted.
    #[error("the request id was used by a webhook since deleted")]
    RequestIdUsed,
    /// A submission would fan out to more deliveries than one may.
    #[error("the submission would create {deliveries} deliveries; at most {max} per submission")]
    TooManyDeliveries { deliveries: usize, max: usize },
    /// A sealed value (a signing secret, custom headers) could not be
    /// opened with the configured keys.
    #[error("{0}")]
    Unopenable(Unopenable),
    /// A row holds something this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Another process already delivers from this SQLite database.
    #[error("{0}")]
    SoleWorker(String),
    /// The store's writers have stopped (the process is shutting down).
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// Worth trying again as it is, once the database is back.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::CommitUnknown(_))
    }

    /// A unique key already stored (the row was written before).
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Refused(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// The same error, raised by a COMMIT: a broken connection there
    /// leaves the outcome unknown.
    pub(crate) fn at_commit(err: sqlx::Error) -> Self {
        match err {
            err @ (sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed) => Self::CommitUnknown(err),
            other => other.into(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        let outage = match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => database_outage(db.as_ref()),
            _ => false,
        };
        if outage {
            Self::Unavailable(err)
        } else {
            Self::Refused(err)
        }
    }
}

/// Whether a database's error says "not now" rather than "not this".
fn database_outage(db: &dyn DatabaseError) -> bool {
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Primary result codes: BUSY, LOCKED, NOMEM, READONLY, IOERR,
        // CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
        let primary = code.parse::<i32>().unwrap_or(0) & 0xff;
        return matches!(primary, 5 | 6 | 7 | 8 | 10 | 11 | 13 | 14 | 15 | 26);
    }
    // PostgreSQL SQLSTATE classes: connection exception, invalid
    // authorization and a missing database (met while connecting), a
    // transaction rollback (serialization, deadlock), insufficient
    // resources (disk full), an object not ready (connections refused,
    // lock not available), operator intervention (shutdown), system error
    // (I/O); and a read-only transaction.
    matches!(
        code.get(..2),
        Some("08" | "28" | "3D" | "40" | "53" | "55" | "57" | "58")
    ) || code == "25006"
}

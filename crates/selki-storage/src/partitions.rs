//! PostgreSQL only: `calls` and `events`, the append-mostly tables, are
//! partitioned by UTC day on their ids (which start with their time), so
//! retention drops a whole day instead of deleting its rows one by one,
//! and the tables stay the same size under steady traffic. The SQL
//! (`partitions.sql`) turns the plain tables into partitioned ones (the
//! old table becomes the first partition, nothing copied), makes a day's
//! partition, and finds a millisecond's smallest id.
//!
//! Retention keeps a day until all of it is older than the cut-off, so a
//! call stays up to a day longer than the retention. The few events of a
//! dropped day that a delivery still needs (a failed one, recoverable for
//! longer) move to the default partition, which no day covers; it and the
//! table from before partitioning are pruned row by row.

use selki_domain::{CallId, EventId, UnixMs};
use sqlx::{Any, AnyPool, Transaction};

use crate::StoreError;
use crate::sql::{int, text};

/// A partitioned table: its id prefix and the column retention compares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Partitioned {
    pub table: &'static str,
    pub prefix: &'static str,
    pub time: &'static str,
    /// The time index the plain table had for row-by-row retention: the
    /// partitioned table has none (drops need no index).
    time_index: &'static str,
}

pub(crate) const CALLS: Partitioned = Partitioned {
    table: "calls",
    prefix: CallId::PREFIX,
    time: "started_at",
    time_index: "calls_by_start",
};

pub(crate) const EVENTS: Partitioned = Partitioned {
    table: "events",
    prefix: EventId::PREFIX,
    time: "created_at",
    time_index: "events_by_created",
};

const DAY_MS: i64 = 86_400_000;
/// Days ahead with a partition waiting, so that a retention pass missed
/// (or a slow one) never sends a day's rows to the default partition.
const DAYS_AHEAD: i64 = 3;
/// Serialises partition changes between the processes sharing a database.
const LOCK: i64 = 0x5e1c_0001;
/// Rows of a dropped partition counted exactly up to this many; beyond,
/// the planner's estimate.
const COUNTED: i64 = 1_000_000;

/// One partition and the ids it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partition {
    name: String,
    /// `None`: from the smallest id (the table from before partitioning).
    from: Option<String>,
    to: String,
}

/// Makes the tables partitioned if they are not, and the partitions of
/// today and the next days. Idempotent.
pub(crate) async fn install(pool: &AnyPool, now: UnixMs) -> Result<(), StoreError> {
    let mut tx = locked(pool).await?;
    sqlx::raw_sql(include_str!("partitions.sql"))
        .execute(&mut *tx)
        .await?;
    // The plain table takes every id up to tomorrow: the day partitions
    // begin where it ends.
    let tomorrow = day_start(now) + DAY_MS;
    for t in [CALLS, EVENTS] {
        sqlx::query("SELECT selki_partition($1, selki_id_floor($2, $3), $4)")
            .bind(t.table)
            .bind(t.prefix)
            .bind(tomorrow)
            .bind(t.time_index)
            .execute(&mut *tx)
            .await?;
    }
    ensure_days(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The partitions of today and the next days, and of any later day whose
/// rows wait in the default partition (a clock that jumped ahead). The
/// default's older rows are the events kept from dropped days: they stay.
pub(crate) async fn ensure(pool: &AnyPool, now: UnixMs) -> Result<(), StoreError> {
    // Retention calls this before each batch: look before taking the lock.
    // (Rows wait in the default only for days that have no partition.)
    let missing = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM (VALUES ('calls'), ('events')) AS t (name), \
         generate_series(0, {DAYS_AHEAD}) AS d \
         WHERE to_regclass(t.name || '_' || to_char(to_timestamp(($1 + d * {DAY_MS}) / 1000) \
               AT TIME ZONE 'UTC', 'YYYYMMDD')) IS NULL"
    )))
    .bind(day_start(now))
    .fetch_one(pool)
    .await?;
    if int(&missing, "n")? == 0 {
        return Ok(());
    }
    let mut tx = locked(pool).await?;
    ensure_days(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}

/// What retention's partition step left to do row by row.
pub(crate) struct Retired {
    /// Rows dropped with whole partitions.
    pub dropped: u64,
    /// The partitions whose old rows are deleted one by one: the table
    /// from before partitioning (until it can be dropped whole) and the
    /// default.
    pub row_pruned: Vec<String>,
}

/// Drops the day partitions of `t` wholly older than `before`, and names
/// the partitions left to prune row by row.
pub(crate) async fn retire(
    pool: &AnyPool,
    t: Partitioned,
    before: UnixMs,
) -> Result<Retired, StoreError> {
    let bound = floor_id(t, before);
    let mut retired = Retired {
        dropped: 0,
        row_pruned: Vec::new(),
    };
    for part in partitions(pool, t).await? {
        // Finished deliveries go first (retention deletes them in batches
        // before it comes back here): only the few events that deliveries
        // kept longer still need are carried over.
        let droppable = part.to <= bound
            && !(t.table == EVENTS.table && finished_deliveries_remain(pool, &part).await?);
        if droppable {
            retired.dropped += drop_partition(pool, t, &part).await?;
        } else if part.from.is_none() {
            retired.row_pruned.push(part.name);
        }
    }
    retired.row_pruned.push(format!("{}_default", t.table));
    Ok(retired)
}

fn floor_id(t: Partitioned, at: UnixMs) -> String {
    match t.table {
        "calls" => CallId::first_at(at).to_string(),
        _ => EventId::first_at(at).to_string(),
    }
}

fn day_start(at: UnixMs) -> i64 {
    at.as_millis().div_euclid(DAY_MS) * DAY_MS
}

async fn locked(pool: &AnyPool) -> Result<Transaction<'static, Any>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK)
        .execute(&mut *tx)
        .await?;
    // A partition is made or dropped under a brief exclusive lock of the
    // table: never wait long behind a slow reader, try again next pass.
    sqlx::query("SET LOCAL lock_timeout = '5s'")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

async fn ensure_days(tx: &mut Transaction<'static, Any>, now: UnixMs) -> Result<(), StoreError> {
    let today = day_start(now);
    for t in [CALLS, EVENTS] {
        let waiting = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT {time} / {DAY_MS} * {DAY_MS} AS day FROM {table}_default \
             WHERE {time} >= $1",
            time = t.time,
            table = t.table
        )))
        .bind(today)
        .fetch_all(&mut **tx)
        .await?;
        let mut days: Vec<i64> = (0..=DAYS_AHEAD).map(|d| today + d * DAY_MS).collect();
        for row in &waiting {
            days.push(int(row, "day")?);
        }
        for day in days {
            sqlx::query("SELECT selki_ensure_day($1, $2, $3)")
                .bind(t.table)
                .bind(t.prefix)
                .bind(day)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

async fn partitions(pool: &AnyPool, t: Partitioned) -> Result<Vec<Partition>, StoreError> {
    let rows = sqlx::query(
        "SELECT CAST(c.relname AS TEXT) AS name, pg_get_expr(c.relpartbound, c.oid) AS bound \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = CAST($1 AS regclass) ORDER BY c.relname",
    )
    .bind(t.table)
    .fetch_all(pool)
    .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some((from, to)) = parse_bound(&text(row, "bound")?) {
            found.push(Partition {
                name: text(row, "name")?,
                from,
                to,
            });
        }
    }
    Ok(found)
}

/// `FOR VALUES FROM ('a') TO ('b')` or `FROM (MINVALUE) TO ('b')`; `None`
/// for the default partition.
fn parse_bound(expr: &str) -> Option<(Option<String>, String)> {
    let quoted = |s: &str| {
        let rest = s.strip_prefix("('")?;
        Some(rest[..rest.find('\'')?].to_owned())
    };
    let rest = expr.strip_prefix("FOR VALUES FROM ")?;
    let (from, to) = rest.split_once(" TO ")?;
    Some((quoted(from), quoted(to)?))
}

/// Does a succeeded or cancelled delivery still refer to an event of this
/// partition?
async fn finished_deliveries_remain(pool: &AnyPool, part: &Partition) -> Result<bool, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM deliveries \
         WHERE event_id >= $1 AND event_id < $2 AND status IN ",
        crate::sql::statuses!(Succeeded, Cancelled),
        " LIMIT 1) d"
    ))
    .bind(part.from.clone().unwrap_or_default())
    .bind(part.to.clone())
    .fetch_one(pool)
    .await?;
    Ok(int(&row, "n")? > 0)
}

/// Sets aside the events of a partition about to be dropped that a
/// delivery still refers to, and deletes the client ids of the others.
/// Returns how many are kept.
async fn keep_needed_events(
    tx: &mut Transaction<'static, Any>,
    part: &Partition,
) -> Result<i64, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TEMPORARY TABLE kept_events ON COMMIT DROP AS SELECT e.* FROM {} e \
         WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)",
        part.name
    )))
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM event_client_ids WHERE event_id >= $1 AND event_id < $2 \
         AND event_id NOT IN (SELECT id FROM kept_events)",
    )
    .bind(part.from.clone().unwrap_or_default())
    .bind(part.to.clone())
    .execute(&mut **tx)
    .await?;
    let kept = sqlx::query("SELECT COUNT(*) AS n FROM kept_events")
        .fetch_one(&mut **tx)
        .await?;
    int(&kept, "n")
}

async fn drop_partition(
    pool: &AnyPool,
    t: Partitioned,
    part: &Partition,
) -> Result<u64, StoreError> {
    let mut tx = locked(pool).await?;
    // Another process may have dropped it since it was listed.
    let exists = sqlx::query("SELECT COUNT(*) AS n FROM pg_class WHERE relname = $1")
        .bind(part.name.clone())
        .fetch_one(&mut *tx)
        .await?;
    if int(&exists, "n")? == 0 {
        return Ok(0);
    }
    let counted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM {name} LIMIT {COUNTED}) r) AS n, \
         CAST((SELECT reltuples FROM pg_class WHERE relname = $1) AS BIGINT) AS estimate",
        name = part.name
    )))
    .bind(part.name.clone())
    .fetch_one(&mut *tx)
    .await?;
    let rows = match int(&counted, "n")? {
        COUNTED => int(&counted, "estimate")?.max(COUNTED),
        n => n,
    };
    let kept = match t.table == EVENTS.table {
        true => keep_needed_events(&mut tx, part).await?,
        false => 0,
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {}", part.name)))
        .execute(&mut *tx)
        .await?;
    if kept > 0 {
        // No partition takes their ids any more: the default does.
        sqlx::query("INSERT INTO events SELECT * FROM kept_events")
            .execute(&mut *tx)
            .await?;
        // Its statistics must know it grew, or retention's row-by-row
        // deletes there would be planned as if it were large or empty.
        sqlx::query("ANALYZE events_default")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(u64::try_from(rows - kept).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn partition_bounds_are_read_from_postgresql_s_text() {
        let check = |expr: &str, expected: Option<(Option<&str>, &str)>| {
            let got = super::parse_bound(expr);
            let expected = expected.map(|(f, t)| (f.map(str::to_owned), t.to_owned()));
            assert_eq!(got, expected, "{expr}");
        };
        check(
            "FOR VALUES FROM ('call_01A') TO ('call_01B')",
            Some((Some("call_01A"), "call_01B")),
        );
        check(
            "FOR VALUES FROM (MINVALUE) TO ('evt_01B')",
            Some((None, "evt_01B")),
        );
        check("DEFAULT", None);
    }
}

//! Scenario 9: the machine's own ceiling, measured in the same run. pgbench
//! inserts one 1 KB row per transaction from 64 clients, synchronous
//! commit on: the most single-row commits this PostgreSQL takes.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use selki_testkit::{Db, TestDatabase};

use crate::report::Row;

const SCRIPT: &str = "INSERT INTO ceiling (payload) VALUES (repeat('x', 1024));\n";

pub(crate) async fn ceiling(length: Duration) -> anyhow::Result<Row> {
    let database = TestDatabase::create(Db::Postgres)
        .await
        .context("PostgreSQL does not answer on 127.0.0.1:5432")?;
    let name = database.postgres_name().unwrap_or_default().to_owned();
    let result = run(&name, length);
    database.remove().await;
    let tps = result?;
    let mut row = Row::new(
        "9",
        "pgbench: 1 KB single-row insert, 64 clients",
        "postgres",
    )
    .figure("commits/s", tps, "");
    row.vs_ceiling = Some(1.0);
    Ok(row)
}

fn run(database: &str, length: Duration) -> anyhow::Result<f64> {
    psql(
        database,
        "CREATE TABLE ceiling (id bigserial PRIMARY KEY, payload text NOT NULL, \
         created_at timestamptz NOT NULL DEFAULT now())",
    )?;
    let script = std::env::temp_dir().join(format!("selki-ceiling-{}.sql", std::process::id()));
    std::fs::write(&script, SCRIPT)?;
    let out = Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-n"])
        .args(["-c", "64", "-j", "2", "-T"])
        .arg(length.as_secs().max(1).to_string())
        .arg("-f")
        .arg(&script)
        .arg(database)
        .output()
        .context("running pgbench (Debian: apt install postgresql-contrib)")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no tps in pgbench's output:\n{text}"))
}

pub(crate) fn psql(database: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-tAq",
            "-c",
            sql,
            database,
        ])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// What PostgreSQL has written: the cluster's WAL bytes, and the database's
/// commits and rows inserted and updated.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Written {
    pub(crate) wal_bytes: f64,
    pub(crate) commits: f64,
    pub(crate) inserted: f64,
    pub(crate) updated: f64,
    /// Updates that wrote no index entry (heap-only tuples).
    pub(crate) hot_updated: f64,
}

impl Written {
    pub(crate) fn now(database_url: &str) -> anyhow::Result<Self> {
        let row = psql(
            database_url,
            "SELECT (SELECT wal_bytes FROM pg_stat_wal), xact_commit, tup_inserted, tup_updated, \
             (SELECT COALESCE(SUM(n_tup_hot_upd), 0) FROM pg_stat_user_tables) \
             FROM pg_stat_database WHERE datname = current_database()",
        )?;
        let v: Vec<f64> = row
            .split('|')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        anyhow::ensure!(v.len() == 5, "unexpected pg_stat answer: {row}");
        Ok(Self {
            wal_bytes: v[0],
            commits: v[1],
            inserted: v[2],
            updated: v[3],
            hot_updated: v[4],
        })
    }

    pub(crate) fn since(self, before: Self) -> Self {
        Self {
            wal_bytes: self.wal_bytes - before.wal_bytes,
            commits: self.commits - before.commits,
            inserted: self.inserted - before.inserted,
            updated: self.updated - before.updated,
            hot_updated: self.hot_updated - before.hot_updated,
        }
    }
}

/// Bytes the stored events, deliveries and calls take, indexes included
/// (every partition of a partitioned table: `pg_partition_tree` lists
/// nothing for a plain one, `pg_total_relation_size` nothing for a
/// partitioned one).
pub(crate) fn stored_bytes(database_url: &str) -> anyhow::Result<f64> {
    let text = psql(
        database_url,
        "SELECT sum(CASE WHEN c.relkind = 'p' THEN \
           (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(c.oid)) \
           ELSE pg_total_relation_size(c.oid) END) \
         FROM pg_class c WHERE c.relkind IN ('r', 'p') AND c.relispartition = false \
         AND c.relname IN ('events', 'calls', 'deliveries', 'event_client_ids')",
    )?;
    text.parse().with_context(|| format!("a size, not {text}"))
}

//! Scenario 11: a big, old database. Thirty-one days of history made by
//! SQL (each event one delivery and two calls, a 503 then a success; one
//! delivery in 100 failed for good), half of it to the busy webhook the
//! live load then goes to, the rest to nine webhooks of another
//! organization. Then: Recent Calls' first page and 30 days of statistics
//! for the busy webhook, scenario 3's load, the retention pass that
//! removes the oldest day, and a simulated week (a day of traffic added by
//! SQL, then a worker's retention pass as of that day's end, then VACUUM
//! standing in for autovacuum), the stored size after each day. Every
//! pass is the real server's, timed by its own histogram.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use selki_testkit::Db;

use super::{Bench, Setup};
use crate::pgbench::{psql, stored_bytes};
use crate::process::{Role, Server, histogram_totals};
use crate::report::{Row, percentile};

const DAY: i64 = 86_400_000;
/// Days of history: one more than the retention, so that the first pass
/// has a day to remove.
const DAYS: i64 = 31;
const RETENTION: i64 = 30 * DAY;
/// Webhooks of the other organization sharing the history.
const OTHERS: usize = 9;

/// How big scenario 11 is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Aged {
    pub(crate) events_per_day: usize,
    /// Timed requests of each read.
    pub(crate) reads: usize,
    /// Days of traffic simulated after the history.
    pub(crate) week: i64,
}

impl Bench {
    /// Scenario 11 (PostgreSQL).
    pub(crate) async fn aged(&self, sizes: Aged) -> anyhow::Result<Vec<Row>> {
        anyhow::ensure!(matches!(self.db, Db::Postgres), "PostgreSQL only");
        let mut s = self.setup(Role::All).await?;
        let busy = s.add_webhooks(1, Duration::ZERO).await?.remove(0);
        let mut webhooks = vec![busy.clone()];
        let url = format!("http://{}/", s.receiver.addr);
        for _ in 0..OTHERS {
            webhooks.push(s.load.create_webhook_in("bench-other", &url).await?.0);
        }
        let today = now_ms().div_euclid(DAY) * DAY;
        let started = Instant::now();
        for day in (1..=DAYS).rev() {
            generate_day(
                &s.database.url,
                today - day * DAY,
                sizes.events_per_day,
                &webhooks,
            )?;
        }
        // An old database has been vacuumed and analysed by autovacuum.
        psql(&s.database.url, "VACUUM ANALYZE")?;
        let generated = started.elapsed();
        let calls = count(&s.database.url, "calls")?;

        let reads = self.reads(&s, &busy, sizes.reads).await?;
        let live = self.live_load(&mut s, &busy).await?;
        let Setup {
            database, server, ..
        } = s;
        server.stop();
        let url = database.url.clone();
        let before = (count(&url, "calls")?, count(&url, "deliveries")?);
        let first = self.retention_pass(&url, today).await?;
        let removed = (
            before.0 - count(&url, "calls")?,
            before.1 - count(&url, "deliveries")?,
        );
        let week = self.week(&url, today, sizes, &webhooks).await?;
        database.remove().await;

        let history = Row::new(
            "11",
            format!("{DAYS} days stored, then reads"),
            self.store(),
        )
        .figure("calls stored", calls, "")
        .figure("made by SQL in", generated.as_secs_f64(), "s")
        .millis("ListCalls p50", percentile(&reads.list, 50.0))
        .millis("ListCalls p99", percentile(&reads.list, 99.0))
        .millis("30-day stats p50", percentile(&reads.stats, 50.0))
        .millis("30-day stats p99", percentile(&reads.stats, 99.0));
        let load = Row::new("11", "scenario 3 on it", self.store())
            .figure("deliveries/s", live.rate, "")
            .figure("mean claim", live.claim_ms, "ms");
        let retention = Row::new(
            "11",
            "retention: a day, then a simulated week",
            self.store(),
        )
        .figure("first pass", first.as_secs_f64(), "s")
        .figure("calls removed", removed.0, "")
        .figure("deliveries removed", removed.1, "")
        .figure("daily pass, median", week.median_pass.as_secs_f64(), "s")
        .figure("stored, day 0", week.sizes[0] / 1e6, "MB")
        .figure(
            "stored, last day",
            week.sizes[week.sizes.len() - 1] / 1e6,
            "MB",
        )
        .figure("largest/smallest", week.spread(), "×")
        .target("size flat (within 5%) across the week", |r| {
            r.get("largest/smallest") <= 1.05
        });
        Ok(vec![history, load, retention])
    }

    async fn reads(&self, s: &Setup, busy: &str, n: usize) -> anyhow::Result<Reads> {
        let mut reads = Reads::default();
        for _ in 0..n {
            reads.list.push(s.load.time_list_calls(busy).await?);
            let (took, total) = s
                .load
                .time_stats(busy, Duration::from_secs(30 * 86_400))
                .await?;
            anyhow::ensure!(total > 0, "the busy webhook's statistics count its calls");
            reads.stats.push(took);
        }
        reads.list.sort();
        reads.stats.sort();
        Ok(reads)
    }

    /// Scenario 3's load to the busy webhook: deliveries per second and the
    /// mean claim, from the server's histogram.
    async fn live_load(&self, s: &mut Setup, busy: &str) -> anyhow::Result<Live> {
        const CLAIMS: &str = "selki_claim_duration_seconds";
        let metrics = s.server.metrics_addr.clone();
        let before = histogram_totals(&metrics, CLAIMS).await?;
        let n = self.sizes.e2e_events;
        let started = Instant::now();
        let sent = s.load.flood(n, 100, 8).await?;
        let got = s
            .receive(&sent, Some(busy), started + self.sizes.limit)
            .await;
        anyhow::ensure!(got.count >= n, "{}", got.shortfall(n));
        let after = histogram_totals(&metrics, CLAIMS).await?;
        Ok(Live {
            rate: got.rate(started),
            claim_ms: (after.0 - before.0) / (after.1 - before.1).max(1.0) * 1000.0,
        })
    }
}

#[derive(Debug, Default)]
struct Reads {
    list: Vec<Duration>,
    stats: Vec<Duration>,
}

struct Live {
    rate: f64,
    claim_ms: f64,
}

struct Week {
    sizes: Vec<f64>,
    median_pass: Duration,
}

impl Week {
    fn spread(&self) -> f64 {
        let max = self.sizes.iter().copied().fold(0.0, f64::max);
        let min = self.sizes.iter().copied().fold(f64::INFINITY, f64::min);
        max / min
    }
}

impl Bench {
    /// One retention pass of a worker as of the end of the day before
    /// `day_end` (Unix ms), timed by its own histogram. The server's clock
    /// is the real one: the retention it is given is shortened by how far
    /// `day_end` lies ahead, which puts the cut-off where that day's would be.
    async fn retention_pass(&self, url: &str, day_end: i64) -> anyhow::Result<Duration> {
        const PASS: &str = "selki_retention_pass_duration_seconds";
        // A minute less: the worker counts back from the newest stored
        // call when that is older than its clock (the live load's, seconds
        // ago), and the cut-off must reach the day's end.
        let retention_ms = RETENTION - (day_end - now_ms()) - 60_000;
        let mut args = self.server_args.clone();
        args.extend(["--retention".to_owned(), format!("{retention_ms}ms")]);
        let server = Server::start(&self.server, &args, url, Role::Worker)?;
        let deadline = Instant::now() + self.sizes.limit;
        let took = loop {
            if let Ok((sum, count)) = histogram_totals(&server.metrics_addr, PASS).await
                && count >= 1.0
            {
                break sum;
            }
            anyhow::ensure!(Instant::now() < deadline, "no retention pass in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        server.stop();
        Ok(Duration::from_secs_f64(took))
    }

    /// Each day: a day of traffic, a retention pass as of its end, VACUUM;
    /// the stored size after each (the first before any).
    async fn week(
        &self,
        url: &str,
        today: i64,
        sizes: Aged,
        webhooks: &[String],
    ) -> anyhow::Result<Week> {
        vacuum(url)?;
        let mut stored = vec![stored_bytes(url)?];
        let mut passes = Vec::new();
        for day in 0..sizes.week {
            let start = today + day * DAY;
            generate_day(url, start, sizes.events_per_day, webhooks)?;
            passes.push(self.retention_pass(url, start + DAY).await?);
            vacuum(url)?;
            stored.push(stored_bytes(url)?);
        }
        passes.sort();
        Ok(Week {
            sizes: stored,
            median_pass: passes.get(passes.len() / 2).copied().unwrap_or_default(),
        })
    }
}

/// Autovacuum's work of a day, done at once: space of deleted rows
/// becomes free for the next day's.
fn vacuum(url: &str) -> anyhow::Result<()> {
    psql(url, "VACUUM deliveries, event_client_ids, call_rollups")?;
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn count(url: &str, table: &str) -> anyhow::Result<f64> {
    Ok(psql(url, &format!("SELECT count(*) FROM {table}"))?.parse()?)
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A day of history starting at `start` (Unix ms): `events` events spread
/// evenly over it, one delivery each, two calls each, and their rollups,
/// in one statement. Ids are the day's time and a counter (hexadecimal
/// digits are base32 digits too).
fn generate_day(url: &str, start: i64, events: usize, webhooks: &[String]) -> anyhow::Result<()> {
    let hooks = webhooks
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(",");
    let others = webhooks.len() - 1;
    let body = format!(
        "'{{\"type\":\"PHISHING_EMAIL_ERROR\",\"data\":{{\"error\":\"{}\"}}}}'",
        "mailbox unavailable: ".repeat(40)
    );
    let sql = format!(
        "SELECT selki_ensure_day('calls', 'call', {start}), selki_ensure_day('events', 'evt', {start});
        WITH g AS MATERIALIZED (
            SELECT i, t, lpad(upper(to_hex(i)), 16, '0') AS n,
                left(selki_id_floor('evt', t), 14) || lpad(upper(to_hex(i)), 16, '0') AS evt,
                left(selki_id_floor('dlv', t), 14) || lpad(upper(to_hex(i)), 16, '0') AS dlv,
                left(selki_id_floor('call', t), 15) AS call_time,
                (ARRAY[{hooks}])[CASE WHEN i % 2 = 0 THEN 1 ELSE 2 + (i / 2) % {others} END] AS wh,
                CASE WHEN i % 2 = 0 THEN 'bench' ELSE 'bench-other' END AS org,
                i % 100 = 1 AS lost
            FROM (SELECT i, {start} + i * {DAY} / {events} AS t FROM generate_series(CAST(0 AS BIGINT), {events} - 1) AS i) s
        ), a AS (
            SELECT g.*, k, CASE WHEN k = 0 OR lost THEN 503 ELSE 200 END AS status, t + 100 + k * 1000 AS started
            FROM g, generate_series(0, 1) AS k
        ), e AS (
            INSERT INTO events (id, organization_id, event_type, client_event_id, fingerprint, body,
                delivery_count, occurred_at, created_at)
            SELECT evt, org, 'PHISHING_EMAIL_ERROR', NULL, '\\x00'::bytea, {body}, 1, t, t FROM g
        ), d AS (
            INSERT INTO deliveries (id, event_id, webhook_id, organization_id, status, attempts,
                next_attempt_at, created_at, updated_at)
            SELECT dlv, evt, wh, org, CASE WHEN lost THEN 'failed' ELSE 'succeeded' END, 2, t, t, t + 1200 FROM g
        ), r AS (
            INSERT INTO call_rollups (webhook_id, bucket_start, outcome, http_status, latency_bucket, calls)
            SELECT wh, started / 300000 * 300000, CASE status WHEN 200 THEN 'success' ELSE 'http_status' END,
                status, CASE status WHEN 200 THEN 21 ELSE 27 END, count(*)
            FROM a GROUP BY 1, 2, 3, 4, 5
            ON CONFLICT (webhook_id, bucket_start, outcome, http_status, latency_bucket)
            DO UPDATE SET calls = call_rollups.calls + excluded.calls
        )
        INSERT INTO calls (id, delivery_id, webhook_id, organization_id, event_id, event_type, attempt,
            call_trigger, outcome, http_status, url, started_at, duration_ms, response_excerpt,
            request_headers, response_headers)
        SELECT call_time || lpad(upper(to_hex(i * 2 + k)), 16, '0'), dlv, wh, org, evt, 'PHISHING_EMAIL_ERROR',
            k + 1, 'automatic', CASE status WHEN 200 THEN 'success' ELSE 'http_status' END, status,
            'https://hooks.example.com/selki', started, CASE status WHEN 200 THEN 42 ELSE 120 END,
            CASE status WHEN 200 THEN 'ok' ELSE 'Service Unavailable' END,
            '{{\"t\":' || (started / 1000) || ',\"s\":\"v1,K5Tq6mJ2bXN0YW5kYXJkd2ViaG9va3NzaWduYXR1cmU9\",\"ua\":\"Selki-Webhooks/1.0\",\"n\":1024}}',
            '[[\"content-type\",\"text/plain\"],[\"date\",\"Mon, 07 Dec 2026 10:00:00 GMT\"]]'
        FROM a"
    );
    psql(url, &sql)?;
    Ok(())
}

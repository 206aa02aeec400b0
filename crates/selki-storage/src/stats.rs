//! A webhook's health for the Overview, read from the call rollups (not the
//! calls: the cost follows the window, not the traffic), and the rollups'
//! write side: every recorded call counted into its bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use selki_domain::{CallOutcome, CallRecord, UnixMs, WebhookId, millis};
use sqlx::{Any, Transaction};

use crate::sql::{count, int, opt_text, opt_time, parsed, placeholders, status, text, time};
use crate::{Scope, Store, StoreError};

/// Rollup buckets are 5 minutes long; windows are counted in whole buckets.
pub(crate) const BUCKET: Duration = Duration::from_secs(5 * 60);

/// Rows per multi-row upsert: 6 parameters each.
const ROLLUPS_PER_UPSERT: usize = 64;

/// One rollup row's key: a webhook's calls in one 5-minute bucket with one
/// outcome, HTTP status (0: no response) and latency bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RollupKey {
    webhook: WebhookId,
    bucket_start: UnixMs,
    outcome: &'static str,
    http_status: i64,
    latency_bucket: i64,
}

impl RollupKey {
    fn of(call: &CallRecord) -> Self {
        Self {
            webhook: call.webhook_id,
            bucket_start: call.started_at.floor_to(BUCKET),
            outcome: call.outcome.as_str(),
            http_status: call.http_status.map_or(0, i64::from),
            latency_bucket: latency_bucket(call.duration),
        }
    }
}

/// Counts calls into their rollups, in key order (one lock order for every
/// writer).
pub(crate) async fn add_to_rollups(
    tx: &mut Transaction<'static, Any>,
    calls: &[&CallRecord],
) -> Result<(), StoreError> {
    let mut rollups: BTreeMap<RollupKey, i64> = BTreeMap::new();
    for call in calls {
        *rollups.entry(RollupKey::of(call)).or_default() += 1;
    }
    let rollups: Vec<_> = rollups.into_iter().collect();
    for chunk in rollups.chunks(ROLLUPS_PER_UPSERT) {
        let sql = format!(
            "INSERT INTO call_rollups (webhook_id, bucket_start, outcome, http_status, \
             latency_bucket, calls) VALUES {} \
             ON CONFLICT (webhook_id, bucket_start, outcome, http_status, latency_bucket) \
             DO UPDATE SET calls = call_rollups.calls + excluded.calls",
            placeholders(chunk.len(), 6)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, calls) in chunk {
            query = query
                .bind(key.webhook.to_string())
                .bind(key.bucket_start.as_millis())
                .bind(key.outcome)
                .bind(key.http_status)
                .bind(key.latency_bucket)
                .bind(*calls);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Latency buckets grow by 2^(1/4) (about 19%): a percentile read from
/// them is at most that far above the true value.
const STEPS_PER_DOUBLING: f64 = 4.0;

/// The bucket of a call's duration (counted in whole milliseconds).
pub(crate) fn latency_bucket(duration: Duration) -> i64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let bucket = ((millis(duration) as f64 + 1.0).log2() * STEPS_PER_DOUBLING).floor() as i64;
    bucket
}

/// The longest duration (whole milliseconds) in a latency bucket.
fn bucket_upper(bucket: i64) -> Duration {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let upper = (2f64.powf((bucket + 1) as f64 / STEPS_PER_DOUBLING) - 1.0).ceil() as u64;
    Duration::from_millis(upper.saturating_sub(1).max(1))
}

/// The Overview's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookStats {
    pub total_calls: u64,
    pub successful_calls: u64,
    /// Response-time percentiles of the window's calls (each the top of
    /// its latency bucket); `None` without calls.
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub p99: Option<Duration>,
    /// Calls per HTTP status (0: no response), ascending.
    pub by_status: Vec<(u16, u64)>,
    pub consecutive_failures: u64,
    pub last_success: Option<UnixMs>,
    pub last_failure: Option<UnixMs>,
    pub pending_deliveries: u64,
    pub failed_deliveries: u64,
    pub skipped_deliveries: u64,
    pub disabled_reason: Option<String>,
    /// The window in buckets of `bucket_width`, oldest first, every bucket
    /// there (empty ones too), for a chart.
    pub series: Vec<SeriesBucket>,
    pub bucket_width: Duration,
}

/// The calls of one bucket of a window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeriesBucket {
    pub start: UnixMs,
    pub total_calls: u64,
    pub successful_calls: u64,
    /// Calls per outcome, only those with calls.
    pub by_outcome: Vec<(CallOutcome, u64)>,
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub p99: Option<Duration>,
}

/// A webhook's calls over the last day, for a list of webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayOfCalls {
    pub calls: u64,
    pub successful_calls: u64,
}

/// The width of a window's buckets: 5 minutes up to 6 hours, 1 hour up to
/// 7 days, 1 day beyond.
pub fn bucket_width(window: Duration) -> Duration {
    const HOUR: u64 = 3600;
    match window.as_secs() {
        s if s <= 6 * HOUR => BUCKET,
        s if s <= 7 * 24 * HOUR => Duration::from_secs(HOUR),
        _ => Duration::from_secs(24 * HOUR),
    }
}

/// Latency buckets' counts, to percentiles.
#[derive(Debug, Default)]
struct Latencies(BTreeMap<i64, u64>);

impl Latencies {
    fn add(&mut self, bucket: i64, calls: u64) {
        *self.0.entry(bucket).or_default() += calls;
    }

    /// The top of the smallest bucket holding the p-th percent call.
    fn percentile(&self, p: u64) -> Option<Duration> {
        let total: u64 = self.0.values().sum();
        let rank = (total * p).div_ceil(100).max(1);
        let mut seen = 0;
        self.0.iter().find_map(|(bucket, calls)| {
            seen += calls;
            (seen >= rank).then(|| bucket_upper(*bucket))
        })
    }
}

/// A series bucket as it is summed up.
#[derive(Debug, Default)]
struct Summing {
    total: u64,
    successful: u64,
    by_outcome: BTreeMap<&'static str, u64>,
    latencies: Latencies,
}

impl Store {
    /// Calls since `since` (rounded down to a 5-minute bucket), in buckets
    /// for a chart, and deliveries now; `None` if there is no such webhook
    /// in scope.
    pub async fn webhook_stats(
        &self,
        scope: &Scope,
        id: WebhookId,
        since: UnixMs,
    ) -> Result<Option<WebhookStats>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT consecutive_failures, last_success_at, last_failure_at, disabled_reason, \
               (SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 \
                  AND status = ",
            status!(Pending),
            ") AS pending_count, \
               (SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 \
                  AND status = ",
            status!(Failed),
            ") AS failed_count, \
               (SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 \
                  AND status = ",
            status!(Skipped),
            ") AS skipped_count \
             FROM webhooks WHERE id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR organization_id = $2)"
        ))
        .bind(id.to_string())
        .bind(scope.organization().map(str::to_owned))
        .fetch_optional(&self.reads)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut stats = WebhookStats {
            consecutive_failures: count(&row, "consecutive_failures")?,
            last_success: opt_time(&row, "last_success_at")?,
            last_failure: opt_time(&row, "last_failure_at")?,
            disabled_reason: opt_text(&row, "disabled_reason")?,
            pending_deliveries: count(&row, "pending_count")?,
            failed_deliveries: count(&row, "failed_count")?,
            skipped_deliveries: count(&row, "skipped_count")?,
            ..WebhookStats::default()
        };
        self.add_rollups(&mut stats, id, since).await?;
        Ok(Some(stats))
    }

    async fn add_rollups(
        &self,
        stats: &mut WebhookStats,
        id: WebhookId,
        since: UnixMs,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let width = bucket_width(now.since(since));
        let first = since.floor_to(width);
        let rows = sqlx::query(
            "SELECT bucket_start, outcome, http_status, latency_bucket, \
             CAST(SUM(calls) AS BIGINT) AS calls FROM call_rollups \
             WHERE webhook_id = $1 AND bucket_start >= $2 \
             GROUP BY bucket_start, outcome, http_status, latency_bucket",
        )
        .bind(id.to_string())
        .bind(since.floor_to(BUCKET).as_millis())
        .fetch_all(&self.reads)
        .await?;
        let mut all = Latencies::default();
        let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
        let mut series: BTreeMap<UnixMs, Summing> = BTreeMap::new();
        let mut start = first;
        while start <= now {
            series.insert(start, Summing::default());
            start = start.plus(width);
        }
        for row in &rows {
            let calls = count(row, "calls")?;
            let outcome = opt_text(row, "outcome")?.and_then(|o| CallOutcome::parse(&o));
            let succeeded = outcome == Some(CallOutcome::Success);
            let latency = int(row, "latency_bucket")?;
            stats.total_calls += calls;
            stats.successful_calls += if succeeded { calls } else { 0 };
            all.add(latency, calls);
            let status = u16::try_from(int(row, "http_status")?).unwrap_or(0);
            *by_status.entry(status).or_default() += calls;
            let bucket = series
                .entry(time(row, "bucket_start")?.floor_to(width).max(first))
                .or_default();
            bucket.total += calls;
            bucket.successful += if succeeded { calls } else { 0 };
            if let Some(outcome) = outcome {
                *bucket.by_outcome.entry(outcome.as_str()).or_default() += calls;
            }
            bucket.latencies.add(latency, calls);
        }
        stats.by_status = by_status.into_iter().collect();
        stats.p50 = all.percentile(50);
        stats.p95 = all.percentile(95);
        stats.p99 = all.percentile(99);
        stats.bucket_width = width;
        stats.series = series
            .into_iter()
            .map(|(start, b)| SeriesBucket {
                start,
                total_calls: b.total,
                successful_calls: b.successful,
                by_outcome: b
                    .by_outcome
                    .into_iter()
                    .filter_map(|(o, n)| CallOutcome::parse(o).map(|o| (o, n)))
                    .collect(),
                p50: b.latencies.percentile(50),
                p95: b.latencies.percentile(95),
                p99: b.latencies.percentile(99),
            })
            .collect();
        Ok(())
    }

    /// Each of these webhooks' calls since `since`, from the rollups (one
    /// query for a whole page of webhooks).
    pub async fn calls_since(
        &self,
        webhooks: &[WebhookId],
        since: UnixMs,
    ) -> Result<BTreeMap<WebhookId, DayOfCalls>, StoreError> {
        let mut found = BTreeMap::new();
        if webhooks.is_empty() {
            return Ok(found);
        }
        let sql = format!(
            "SELECT webhook_id, outcome, CAST(SUM(calls) AS BIGINT) AS calls FROM call_rollups \
             WHERE bucket_start >= $1 AND webhook_id IN ({}) GROUP BY webhook_id, outcome",
            crate::sql::list(2, webhooks.len())
        );
        let mut query =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since.floor_to(BUCKET).as_millis());
        for webhook in webhooks {
            query = query.bind(webhook.to_string());
        }
        for row in query.fetch_all(&self.reads).await? {
            let webhook = parsed("webhook_id", &text(&row, "webhook_id")?, WebhookId::parse)?;
            let calls = count(&row, "calls")?;
            let day: &mut DayOfCalls = found.entry(webhook).or_default();
            day.calls += calls;
            if opt_text(&row, "outcome")?.as_deref() == Some(CallOutcome::Success.as_str()) {
                day.successful_calls += calls;
            }
        }
        Ok(found)
    }
}

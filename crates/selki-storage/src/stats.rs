//! A webhook's health for the Overview, read from the call rollups (not the
//! calls: the cost follows the window, not the traffic), and the rollups'
//! write side: every recorded call counted into its bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use selki_domain::{CallOutcome, CallRecord, UnixMs, WebhookId, millis};
use sqlx::{Any, Transaction};

use crate::sql::{count, int, opt_text, opt_time, placeholders, status};
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
}

impl Store {
    /// Calls since `since` (rounded down to a 5-minute bucket) and
    /// deliveries now; `None` if there is no such webhook in scope.
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
        .fetch_optional(&self.pool)
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
        let rows = sqlx::query(
            "SELECT outcome, http_status, latency_bucket, CAST(SUM(calls) AS BIGINT) AS calls \
             FROM call_rollups WHERE webhook_id = $1 AND bucket_start >= $2 \
             GROUP BY outcome, http_status, latency_bucket",
        )
        .bind(id.to_string())
        .bind(since.floor_to(BUCKET).as_millis())
        .fetch_all(&self.pool)
        .await?;
        let mut latencies: BTreeMap<i64, u64> = BTreeMap::new();
        let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
        for row in &rows {
            let calls = count(row, "calls")?;
            stats.total_calls += calls;
            if opt_text(row, "outcome")?.as_deref() == Some(CallOutcome::Success.as_str()) {
                stats.successful_calls += calls;
            }
            *latencies.entry(int(row, "latency_bucket")?).or_default() += calls;
            let status = u16::try_from(int(row, "http_status")?).unwrap_or(0);
            *by_status.entry(status).or_default() += calls;
        }
        stats.by_status = by_status.into_iter().collect();
        let percentile = |p: u64| {
            // The smallest bucket holding the p-th percent call.
            let rank = (stats.total_calls * p).div_ceil(100).max(1);
            let mut seen = 0;
            latencies.iter().find_map(|(bucket, calls)| {
                seen += calls;
                (seen >= rank).then(|| bucket_upper(*bucket))
            })
        };
        stats.p50 = percentile(50);
        stats.p95 = percentile(95);
        stats.p99 = percentile(99);
        Ok(())
    }
}

//! A webhook's health for the Overview, read from the call rollups (not the
//! calls: the cost follows the window, not the traffic).

use std::collections::BTreeMap;

use selki_domain::WebhookId;

use crate::rows::{int, opt_int, opt_text};
use crate::{Scope, Store, StoreError};

/// Rollup buckets are 5 minutes long; windows are counted in whole buckets.
pub(crate) const BUCKET_MS: i64 = 5 * 60 * 1000;

/// Latency buckets grow by 2^(1/4) (about 19%): a percentile read from
/// them is at most that far above the true value.
const STEPS_PER_DOUBLING: f64 = 4.0;

pub(crate) fn latency_bucket(duration_ms: i64) -> i64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let bucket = ((duration_ms.max(0) as f64 + 1.0).log2() * STEPS_PER_DOUBLING).floor() as i64;
    bucket
}

/// The largest duration (ms) in a latency bucket.
fn bucket_upper_ms(bucket: i64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let upper = (2f64.powf((bucket + 1) as f64 / STEPS_PER_DOUBLING) - 1.0).ceil() as u64;
    upper.saturating_sub(1).max(1)
}

/// The Overview's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookStats {
    pub total_calls: u64,
    pub successful_calls: u64,
    /// Response-time percentiles of the window's calls (ms); `None` without calls.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    /// Calls per HTTP status (0: no response), ascending.
    pub by_status: Vec<(u16, u64)>,
    pub consecutive_failures: u64,
    pub last_success_ms: Option<i64>,
    pub last_failure_ms: Option<i64>,
    pub pending_deliveries: u64,
    pub failed_deliveries: u64,
    pub skipped_deliveries: u64,
    pub disabled_reason: Option<String>,
}

impl Store {
    /// Calls since `since_ms` (rounded down to a 5-minute bucket) and
    /// deliveries now; `None` if there is no such webhook in scope.
    pub async fn webhook_stats(
        &self,
        scope: &Scope,
        id: WebhookId,
        since_ms: i64,
    ) -> Result<Option<WebhookStats>, StoreError> {
        let row = sqlx::query(
            "SELECT consecutive_failures, last_success_at, last_failure_at, disabled_reason, \
               (SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 \
                  AND status = 'pending') AS pending, \
               (SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 \
                  AND status = 'failed') AS failed, \
               (SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 \
                  AND status = 'skipped') AS skipped \
             FROM webhooks WHERE id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR organization_id = $2)",
        )
        .bind(id.to_string())
        .bind(scope.organization().map(str::to_owned))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let count = |column| int(&row, column).map(|n| u64::try_from(n).unwrap_or(0));
        let mut stats = WebhookStats {
            consecutive_failures: count("consecutive_failures")?,
            last_success_ms: opt_int(&row, "last_success_at")?,
            last_failure_ms: opt_int(&row, "last_failure_at")?,
            disabled_reason: opt_text(&row, "disabled_reason")?,
            pending_deliveries: count("pending")?,
            failed_deliveries: count("failed")?,
            skipped_deliveries: count("skipped")?,
            ..WebhookStats::default()
        };
        self.add_rollups(&mut stats, id, since_ms).await?;
        Ok(Some(stats))
    }

    async fn add_rollups(
        &self,
        stats: &mut WebhookStats,
        id: WebhookId,
        since_ms: i64,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT outcome, http_status, latency_bucket, CAST(SUM(calls) AS BIGINT) AS calls \
             FROM call_rollups WHERE webhook_id = $1 AND bucket_start >= $2 \
             GROUP BY outcome, http_status, latency_bucket",
        )
        .bind(id.to_string())
        .bind(since_ms - since_ms.rem_euclid(BUCKET_MS))
        .fetch_all(&self.pool)
        .await?;
        let mut latencies: BTreeMap<i64, u64> = BTreeMap::new();
        let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
        for row in &rows {
            let calls = u64::try_from(int(row, "calls")?).unwrap_or(0);
            stats.total_calls += calls;
            if opt_text(row, "outcome")?.as_deref() == Some("success") {
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
                (seen >= rank).then(|| bucket_upper_ms(*bucket))
            })
        };
        stats.p50_ms = percentile(50);
        stats.p95_ms = percentile(95);
        stats.p99_ms = percentile(99);
        Ok(())
    }
}

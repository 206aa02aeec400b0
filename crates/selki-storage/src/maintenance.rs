//! Work on many rows at once: recovering failed deliveries, the queue's
//! gauges, and retention.

use selki_domain::WebhookId;

use crate::rows::{int, opt_int};
use crate::stats::BUCKET_MS;
use crate::{Scope, Store, StoreError};

/// The delivery queue, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Deliveries waiting for their first or next attempt.
    pub pending: u64,
    /// When the oldest due delivery became due (Unix ms), if one is due.
    pub oldest_due_ms: Option<i64>,
    pub disabled_webhooks: u64,
}

/// Up to when retention prunes: finished deliveries (and calls, events,
/// rollups) before one time; recoverable ones (failed, skipped) before an
/// earlier one, so they can still be recovered for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub finished_before_ms: i64,
    pub recoverable_before_ms: i64,
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub calls: u64,
    pub deliveries: u64,
    pub events: u64,
    pub rollups: u64,
}

impl Pruned {
    pub fn total(self) -> u64 {
        self.calls + self.deliveries + self.events + self.rollups
    }
}

impl Store {
    /// Puts a webhook's failed and skipped deliveries created since
    /// `since_ms` back in the queue with a fresh set of attempts, oldest
    /// first, at most `limit`. `None` if there is no such webhook in scope.
    pub async fn recover_deliveries(
        &self,
        scope: &Scope,
        webhook: WebhookId,
        since_ms: i64,
        limit: u32,
    ) -> Result<Option<u64>, StoreError> {
        if self.get_webhook(scope, webhook).await?.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let recovered = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3, \
             lease_until = NULL, leased_by = NULL, updated_at = $3 \
             WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = $1 \
               AND status IN ('failed', 'skipped') AND created_at >= $2 \
               ORDER BY created_at LIMIT $4)",
        )
        .bind(webhook.to_string())
        .bind(since_ms)
        .bind(now)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if recovered > 0 {
            self.announce_due().await?;
        }
        Ok(Some(recovered))
    }

    pub async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE status = 'pending') AS pending, \
             (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' \
                AND next_attempt_at <= $1) AS oldest_due, \
             (SELECT COUNT(*) FROM webhooks WHERE enabled = 0 AND deleted_at IS NULL) AS disabled",
        )
        .bind(self.now())
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            pending: u64::try_from(int(&row, "pending")?).unwrap_or(0),
            oldest_due_ms: opt_int(&row, "oldest_due")?,
            disabled_webhooks: u64::try_from(int(&row, "disabled")?).unwrap_or(0),
        })
    }

    /// The newest activity stored (a call started, an event accepted):
    /// retention never cuts closer to it than its own age, whatever the
    /// clock says, so a clock run ahead cannot empty the tables.
    pub async fn newest_activity_ms(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT MAX(started_at) FROM calls) AS calls, \
             (SELECT MAX(created_at) FROM events) AS events",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(opt_int(&row, "calls")?.max(opt_int(&row, "events")?))
    }

    /// Deletes up to `batch` rows of each kind older than the cut-offs:
    /// calls, finished (succeeded or cancelled) deliveries without calls,
    /// recoverable (failed, skipped) ones past the recovery window, events
    /// without deliveries, and rollups. Small batches keep each statement
    /// short; call again while it removes anything.
    pub async fn prune(&self, cutoffs: Cutoffs, batch: u32) -> Result<Pruned, StoreError> {
        let before_ms = cutoffs.finished_before_ms;
        let limit = i64::from(batch);
        let run = |sql: &'static str, before_ms: i64| async move {
            sqlx::query(sql)
                .bind(before_ms)
                .bind(limit)
                .execute(&self.pool)
                .await
                .map(|r| r.rows_affected())
        };
        // Whole buckets only: those that ended before the cut-off.
        let rollup_cutoff = before_ms.saturating_sub(BUCKET_MS);
        Ok(Pruned {
            calls: run(
                "DELETE FROM calls WHERE id IN \
                (SELECT id FROM calls WHERE started_at < $1 LIMIT $2)",
                before_ms,
            )
            .await?,
            deliveries: run(
                "DELETE FROM deliveries WHERE id IN \
                (SELECT d.id FROM deliveries d WHERE d.status IN ('succeeded', 'cancelled') \
                 AND d.updated_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.delivery_id = d.id) LIMIT $2)",
                before_ms,
            )
            .await?
                + run(
                    "DELETE FROM deliveries WHERE id IN \
                    (SELECT d.id FROM deliveries d WHERE d.status IN ('failed', 'skipped') \
                     AND d.updated_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.delivery_id = d.id) LIMIT $2)",
                    cutoffs.recoverable_before_ms,
                )
                .await?,
            events: run(
                "DELETE FROM events WHERE id IN \
                (SELECT e.id FROM events e WHERE e.created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) LIMIT $2)",
                before_ms,
            )
            .await?,
            rollups: run(
                "DELETE FROM call_rollups WHERE bucket_start IN \
                (SELECT DISTINCT bucket_start FROM call_rollups \
                 WHERE bucket_start < $1 \
                 ORDER BY bucket_start LIMIT $2)",
                rollup_cutoff,
            )
            .await?,
        })
    }
}

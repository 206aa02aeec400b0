//! Work on many rows at once: recovering failed deliveries, the queue's
//! gauges, and retention.

use selki_domain::{UnixMs, WebhookId};

use crate::sql::{count, opt_time, status, statuses};
use crate::stats::BUCKET;
use crate::{Scope, Store, StoreError};

/// The delivery queue, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Deliveries waiting for their first or next attempt.
    pub pending: u64,
    /// When the oldest due delivery became due, if one is due.
    pub oldest_due: Option<UnixMs>,
    pub disabled_webhooks: u64,
}

/// Up to when retention prunes: finished deliveries (and calls, events,
/// rollups) before one time; recoverable ones (failed, skipped) before an
/// earlier one, so they can still be recovered for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub finished_before: UnixMs,
    pub recoverable_before: UnixMs,
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
    /// `since` back in the queue with a fresh set of attempts, oldest
    /// first, at most `limit`. `None` if there is no such webhook in scope.
    pub async fn recover_deliveries(
        &self,
        scope: &Scope,
        webhook: WebhookId,
        since: UnixMs,
        limit: u32,
    ) -> Result<Option<u64>, StoreError> {
        if self.get_webhook(scope, webhook).await?.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let recovered = sqlx::query(concat!(
            "UPDATE deliveries SET status = ",
            status!(Pending),
            ", attempts = 0, next_attempt_at = $3, \
             lease_until = NULL, leased_by = NULL, updated_at = $3 \
             WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = $1 \
               AND status IN ",
            statuses!(Failed, Skipped),
            " AND created_at >= $2 \
               ORDER BY created_at LIMIT $4)"
        ))
        .bind(webhook.to_string())
        .bind(since.as_millis())
        .bind(now.as_millis())
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
        let row = sqlx::query(concat!(
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE status = ",
            status!(Pending),
            ") AS pending_count, \
             (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = ",
            status!(Pending),
            " AND next_attempt_at <= $1) AS oldest_due, \
             (SELECT COUNT(*) FROM webhooks WHERE enabled = 0 AND deleted_at IS NULL) AS disabled"
        ))
        .bind(self.now().as_millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            pending: count(&row, "pending_count")?,
            oldest_due: opt_time(&row, "oldest_due")?,
            disabled_webhooks: count(&row, "disabled")?,
        })
    }

    /// The newest activity stored (a call started, an event accepted):
    /// retention never cuts closer to it than its own age, whatever the
    /// clock says, so a clock run ahead cannot empty the tables.
    pub async fn newest_activity(&self) -> Result<Option<UnixMs>, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT MAX(started_at) FROM calls) AS calls, \
             (SELECT MAX(created_at) FROM events) AS events",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(opt_time(&row, "calls")?.max(opt_time(&row, "events")?))
    }

    /// Deletes up to `batch` rows of each kind older than the cut-offs:
    /// calls, finished (succeeded or cancelled) deliveries without calls,
    /// recoverable (failed, skipped) ones past the recovery window, events
    /// without deliveries, and rollups. Small batches keep each statement
    /// short; call again while it removes anything.
    pub async fn prune(&self, cutoffs: Cutoffs, batch: u32) -> Result<Pruned, StoreError> {
        let before = cutoffs.finished_before;
        let limit = i64::from(batch);
        let run = |sql: &'static str, before: UnixMs| async move {
            sqlx::query(sql)
                .bind(before.as_millis())
                .bind(limit)
                .execute(&self.pool)
                .await
                .map(|r| r.rows_affected())
        };
        // Whole buckets only: those that ended before the cut-off.
        let rollup_cutoff = before.minus(BUCKET);
        Ok(Pruned {
            calls: run(
                "DELETE FROM calls WHERE id IN \
                (SELECT id FROM calls WHERE started_at < $1 LIMIT $2)",
                before,
            )
            .await?,
            deliveries: run(
                concat!(
                    "DELETE FROM deliveries WHERE id IN \
                    (SELECT d.id FROM deliveries d WHERE d.status IN ",
                    statuses!(Succeeded, Cancelled),
                    " AND d.updated_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.delivery_id = d.id) LIMIT $2)"
                ),
                before,
            )
            .await?
                + run(
                    concat!(
                        "DELETE FROM deliveries WHERE id IN \
                        (SELECT d.id FROM deliveries d WHERE d.status IN ",
                        statuses!(Failed, Skipped),
                        " AND d.updated_at < $1 \
                         AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.delivery_id = d.id) LIMIT $2)"
                    ),
                    cutoffs.recoverable_before,
                )
                .await?,
            events: run(
                "DELETE FROM events WHERE id IN \
                (SELECT e.id FROM events e WHERE e.created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) LIMIT $2)",
                before,
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

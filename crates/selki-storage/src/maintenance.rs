//! Work on many rows at once: recovering failed deliveries, the queue's
//! gauges, and retention.

use selki_domain::{CallId, CallTrigger, EventId, EventTypes, UnixMs, WebhookId};

use crate::partitions;
use crate::sql::{count, int, opt_time, status, statuses};
use crate::stats::BUCKET;
use crate::{Scope, Store, StoreError};

/// What a replay sends again: a webhook's deliveries of the events
/// accepted in a time range, optionally of some types.
#[derive(Debug, Clone)]
pub struct Replay {
    pub webhook: WebhookId,
    /// The caller's id for it: a replay asked again is not made twice.
    pub id: String,
    pub from: UnixMs,
    pub until: UnixMs,
    pub event_types: Option<EventTypes>,
    /// More matching deliveries than this and nothing is replayed.
    pub max: u32,
}

/// What a replay came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replayed {
    /// This many deliveries are queued again.
    Queued(u64),
    /// The replay id was seen: its replay had queued this many.
    Duplicate(u64),
    /// The range holds more deliveries than a replay may send.
    TooMany,
}

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
    /// Rows of `in_flight` whose lease ended before the cut-off: only a
    /// limited webhook's next claim sweeps its rows, and a deleted (or no
    /// longer limited) webhook has none.
    pub in_flight: u64,
    /// Console sessions that ended before the cut-off.
    pub sessions: u64,
}

impl Pruned {
    pub fn total(self) -> u64 {
        self.calls + self.deliveries + self.events + self.rollups + self.in_flight + self.sessions
    }
}

impl Store {
    /// Puts a webhook's failed and skipped deliveries created since `since`
    /// (and before `until`) back in the queue with a fresh round of
    /// attempts, oldest first, at most `limit`. Their attempts go on
    /// counting from where they were. `None` if there is no such webhook in
    /// scope.
    pub async fn recover_deliveries(
        &self,
        scope: &Scope,
        webhook: WebhookId,
        (since, until): (UnixMs, Option<UnixMs>),
        limit: u32,
    ) -> Result<Option<u64>, StoreError> {
        if self.get_webhook(scope, webhook).await?.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let recovered = sqlx::query(concat!(
            "UPDATE deliveries SET status = ",
            status!(Pending),
            ", round_start = attempts, round_trigger = NULL, next_attempt_at = $3, \
             lease_until = NULL, leased_by = NULL, updated_at = $3 \
             WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = $1 \
               AND status IN ",
            statuses!(Failed, Skipped),
            " AND created_at >= $2 AND (CAST($5 AS BIGINT) IS NULL OR created_at < CAST($5 AS BIGINT)) \
               ORDER BY created_at LIMIT $4)"
        ))
        .bind(webhook.to_string())
        .bind(since.as_millis())
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .bind(until.map(UnixMs::as_millis))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if recovered > 0 {
            self.announce_due().await?;
        }
        Ok(Some(recovered))
    }

    /// Sends a webhook's deliveries of a time range's events again, whatever
    /// their state (pending ones are left to go as they are), in one
    /// transaction with the record of the replay's id. Their attempts go on
    /// counting; their calls are marked as a replay's. `None` if there is
    /// no such webhook in scope.
    pub async fn replay(
        &self,
        scope: &Scope,
        replay: &Replay,
    ) -> Result<Option<Replayed>, StoreError> {
        let Some(webhook) = self.get_webhook(scope, replay.webhook).await? else {
            return Ok(None);
        };
        let org = webhook.organization.as_str().to_owned();
        let now = self.now();
        let mut tx = self.begin().await?;
        let seen =
            sqlx::query("SELECT replayed FROM replays WHERE organization_id = $1 AND id = $2")
                .bind(org.clone())
                .bind(replay.id.clone())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(row) = seen {
            return Ok(Some(Replayed::Duplicate(count(&row, "replayed")?)));
        }
        let types: Vec<&str> = replay
            .event_types
            .map(|t| t.iter().map(|t| t.as_str()).collect())
            .unwrap_or_default();
        let type_filter = match types.is_empty() {
            true => String::new(),
            false => format!("AND e.event_type IN ({})", crate::sql::list(6, types.len())),
        };
        // The range as an id range: event ids carry their acceptance time.
        // `$5` (now) is named in every statement: PostgreSQL refuses a
        // parameter a statement does not use.
        let candidates = format!(
            "SELECT d.id FROM deliveries d JOIN events e ON e.id = d.event_id \
             WHERE e.organization_id = $1 AND e.id >= $2 AND e.id < $3 \
             AND d.webhook_id = $4 AND CAST($5 AS BIGINT) IS NOT NULL {type_filter}"
        );
        let bind_range = |sql: String| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org.clone())
                .bind(EventId::first_at(replay.from).to_string())
                .bind(EventId::first_at(replay.until).to_string())
                .bind(replay.webhook.to_string())
                .bind(now.as_millis());
            for t in &types {
                query = query.bind(*t);
            }
            query
        };
        let counted = bind_range(format!(
            "SELECT COUNT(*) AS n FROM ({candidates} LIMIT {}) c",
            u64::from(replay.max) + 1
        ))
        .fetch_one(&mut *tx)
        .await?;
        if int(&counted, "n")? > i64::from(replay.max) {
            return Ok(Some(Replayed::TooMany));
        }
        let queued = bind_range(format!(
            concat!(
                "UPDATE deliveries SET status = ",
                status!(Pending),
                ", round_start = attempts, round_trigger = '{replay}', next_attempt_at = $5, \
                 lease_until = NULL, leased_by = NULL, updated_at = $5 \
                 WHERE id IN ({candidates}) AND status <> ",
                status!(Pending)
            ),
            replay = CallTrigger::Replay.as_str(),
            candidates = candidates
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO replays (id, organization_id, webhook_id, replayed, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(replay.id.clone())
        .bind(org)
        .bind(replay.webhook.to_string())
        .bind(i64::try_from(queued).unwrap_or(i64::MAX))
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(StoreError::at_commit)?;
        if queued > 0 {
            self.announce_due().await?;
        }
        Ok(Some(Replayed::Queued(queued)))
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
            // By id, which sorts by time and is indexed everywhere.
            "SELECT (SELECT started_at FROM calls ORDER BY id DESC LIMIT 1) AS calls, \
             (SELECT created_at FROM events ORDER BY id DESC LIMIT 1) AS events",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(opt_time(&row, "calls")?.max(opt_time(&row, "events")?))
    }

    /// Deletes up to `batch` rows of each kind older than the cut-offs:
    /// calls, finished (succeeded or cancelled) deliveries without calls,
    /// recoverable (failed, skipped) ones past the recovery window, events
    /// without deliveries, and rollups. Small batches keep each statement
    /// short; call again while it removes anything. On PostgreSQL, whole
    /// days of calls and events go first (`partitions.rs`).
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
        self.backend.ensure_days(&self.pool, self.now()).await?;
        let calls = self.prune_calls(before, limit).await?;
        let deliveries = self
            .prune_deliveries(statuses!(Succeeded, Cancelled), before, limit)
            .await?
            + self
                .prune_deliveries(
                    statuses!(Failed, Skipped),
                    cutoffs.recoverable_before,
                    limit,
                )
                .await?;
        Ok(Pruned {
            calls,
            deliveries,
            events: self.prune_events(before, limit).await?,
            rollups: run(
                "DELETE FROM call_rollups WHERE bucket_start IN \
                (SELECT DISTINCT bucket_start FROM call_rollups \
                 WHERE bucket_start < $1 \
                 ORDER BY bucket_start LIMIT $2)",
                rollup_cutoff,
            )
            .await?,
            // A lease lasts minutes: a row whose lease ended before the
            // cut-off can never count again.
            in_flight: run(
                "DELETE FROM in_flight WHERE delivery_id IN \
                (SELECT delivery_id FROM in_flight WHERE lease_until < $1 LIMIT $2)",
                before,
            )
            .await?,
            sessions: run(
                "DELETE FROM api_keys WHERE id IN \
                (SELECT id FROM api_keys WHERE expires_at < $1 LIMIT $2)",
                before,
            )
            .await?,
        })
    }
    async fn prune_calls(&self, before: UnixMs, limit: i64) -> Result<u64, StoreError> {
        let retired = (self.backend)
            .retire_days(&self.pool, partitions::CALLS, before)
            .await?;
        let mut pruned = retired.dropped;
        for table in retired.row_pruned {
            pruned += sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE id IN \
                 (SELECT id FROM {table} WHERE started_at < $1 LIMIT $2)"
            )))
            .bind(before.as_millis())
            .bind(limit)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(pruned)
    }

    /// Deliveries in `statuses` last changed before `before`, without
    /// calls. Their calls all started before their last change, so only
    /// calls older than that (and a margin for clocks) are looked at: on
    /// PostgreSQL, the few partitions retention has not dropped yet.
    async fn prune_deliveries(
        &self,
        statuses: &str,
        before: UnixMs,
        limit: i64,
    ) -> Result<u64, StoreError> {
        const CLOCKS: std::time::Duration = std::time::Duration::from_secs(3600);
        let sql = format!(
            "DELETE FROM deliveries WHERE id IN \
             (SELECT d.id FROM deliveries d WHERE d.status IN {statuses} AND d.updated_at < $1 \
              AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.delivery_id = d.id AND c.id < $3) \
              LIMIT $2)"
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before.as_millis())
            .bind(limit)
            .bind(CallId::first_at(before.plus(CLOCKS)).to_string())
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Events without deliveries, with their client ids (one transaction,
    /// so a client id is never left pointing at no event).
    async fn prune_events(&self, before: UnixMs, limit: i64) -> Result<u64, StoreError> {
        let retired = (self.backend)
            .retire_days(&self.pool, partitions::EVENTS, before)
            .await?;
        let mut pruned = retired.dropped;
        for table in retired.row_pruned {
            let old = format!(
                "SELECT e.id FROM {table} e WHERE e.created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) \
                 ORDER BY e.id LIMIT $2"
            );
            let mut tx = self.begin().await?;
            let delete = |sql: String| {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(before.as_millis())
                    .bind(limit)
            };
            delete(format!(
                "DELETE FROM event_client_ids WHERE event_id IN ({old})"
            ))
            .execute(&mut *tx)
            .await?;
            pruned += delete(format!("DELETE FROM {table} WHERE id IN ({old})"))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await.map_err(StoreError::at_commit)?;
        }
        Ok(pruned)
    }
}

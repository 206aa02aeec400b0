//! A webhook's failing streak, kept on its row as calls are recorded:
//! what the auto-disable rule (and the Overview) reads, without scanning
//! calls.

use std::collections::BTreeMap;
use std::time::Duration;

use selki_domain::{CallRecord, Health, UnixMs, WebhookId};
use sqlx::{Any, Transaction};

use crate::{Store, StoreError};

impl Store {
    /// Moves the streak of every webhook with calls in this batch on, in
    /// webhook order (one lock order for every writer); returns those this
    /// disabled.
    pub(crate) async fn move_streaks(
        &self,
        tx: &mut Transaction<'static, Any>,
        calls: &[&CallRecord],
        health: Health,
    ) -> Result<Vec<WebhookId>, StoreError> {
        let mut by_start: Vec<&&CallRecord> = calls.iter().collect();
        by_start.sort_by_key(|c| (c.started_at, c.id));
        let mut streaks: BTreeMap<WebhookId, Streak> = BTreeMap::new();
        for call in by_start {
            streaks.entry(call.webhook_id).or_default().add(call);
        }
        let mut disabled = Vec::new();
        for (webhook, streak) in &streaks {
            if self.update_streak(tx, *webhook, streak, health).await? {
                disabled.push(*webhook);
            }
        }
        Ok(disabled)
    }

    /// Moves a webhook's failing streak on; `true` if this disabled it.
    async fn update_streak(
        &self,
        tx: &mut Transaction<'static, Any>,
        webhook: WebhookId,
        streak: &Streak,
        health: Health,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        sqlx::query(
            "UPDATE webhooks SET \
               consecutive_failures = CASE WHEN CAST($2 AS BIGINT) = 1 THEN CAST($3 AS BIGINT) \
                 ELSE consecutive_failures + CAST($3 AS BIGINT) END, \
               failing_since = CASE WHEN CAST($2 AS BIGINT) = 1 THEN CAST($4 AS BIGINT) \
                 ELSE COALESCE(failing_since, CAST($4 AS BIGINT)) END, \
               last_success_at = COALESCE(CAST($5 AS BIGINT), last_success_at), \
               last_failure_at = COALESCE(CAST($6 AS BIGINT), last_failure_at) \
             WHERE id = $1",
        )
        .bind(webhook.to_string())
        .bind(i64::from(streak.last_success.is_some()))
        .bind(streak.trailing_failures)
        .bind(streak.failing_since.map(UnixMs::as_millis))
        .bind(streak.last_success.map(UnixMs::as_millis))
        .bind(streak.last_failure.map(UnixMs::as_millis))
        .execute(&mut **tx)
        .await?;
        if streak.trailing_failures == 0 && !streak.gone {
            // It just succeeded: nothing to disable.
            return Ok(false);
        }
        let (reason, min_failures, since_before) = if streak.gone {
            ("the receiver answered 410 Gone".to_owned(), 0, UnixMs::MAX)
        } else {
            (
                format!(
                    "failing for over {} with at least {} failed calls in a row",
                    human(health.disable_after),
                    health.disable_min_failures
                ),
                i64::from(health.disable_min_failures),
                now.minus(health.disable_after),
            )
        };
        let disabled = sqlx::query(
            "UPDATE webhooks SET enabled = 0, disabled_reason = $2, updated_at = $3 \
             WHERE id = $1 AND enabled = 1 AND deleted_at IS NULL \
             AND consecutive_failures >= $4 AND failing_since <= $5",
        )
        .bind(webhook.to_string())
        .bind(reason)
        .bind(now.as_millis())
        .bind(min_failures)
        .bind(since_before.as_millis())
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Ok(disabled > 0)
    }
}

/// What a batch of calls does to a webhook's failing streak.
#[derive(Debug, Default)]
struct Streak {
    last_success: Option<UnixMs>,
    last_failure: Option<UnixMs>,
    /// Failures after the batch's last success (or all, without one).
    trailing_failures: i64,
    failing_since: Option<UnixMs>,
    gone: bool,
}

impl Streak {
    /// Calls must come in start order.
    fn add(&mut self, call: &CallRecord) {
        if call.succeeded() {
            self.last_success = Some(call.started_at);
            self.trailing_failures = 0;
            self.failing_since = None;
        } else {
            self.last_failure = Some(call.started_at);
            self.trailing_failures += 1;
            self.failing_since.get_or_insert(call.started_at);
            self.gone |= call.http_status == Some(410);
        }
    }
}

fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        s if s % 86_400 == 0 && s > 0 => format!("{} days", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} hours", s / 3600),
        s => format!("{s} seconds"),
    }
}

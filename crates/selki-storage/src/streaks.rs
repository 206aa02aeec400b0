//! A webhook's failing streak, kept on its row as calls are recorded:
//! what the auto-disable rule (and the Overview) reads, without scanning
//! calls.

use std::collections::BTreeMap;
use std::time::Duration;

use selki_domain::{CallOutcome, CallRecord, Health, UnixMs, WebhookId};
use selki_webhooks::{DisableReason, EventData, WebhookDisabled, WebhookFailing, WebhookRecovered};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::operational::{About, Notice, about_from};
use crate::sql::{int, opt_time};
use crate::{Store, StoreError};

impl Store {
    /// Moves the streak of every webhook with calls in this batch on, in
    /// webhook order (one lock order for every writer); returns those this
    /// disabled, and adds the operational events the moves raise.
    pub(crate) async fn move_streaks(
        &self,
        tx: &mut Transaction<'static, Any>,
        calls: &[&CallRecord],
        health: Health,
        notices: &mut Vec<Notice>,
    ) -> Result<Vec<WebhookId>, StoreError> {
        let mut by_start: Vec<&&CallRecord> = calls.iter().collect();
        by_start.sort_by_key(|c| (c.started_at, c.id));
        let mut streaks: BTreeMap<WebhookId, Streak> = BTreeMap::new();
        for call in by_start {
            streaks.entry(call.webhook_id).or_default().add(call);
        }
        let mut disabled = Vec::new();
        for (webhook, streak) in &streaks {
            if self
                .update_streak(tx, *webhook, streak, health, notices)
                .await?
            {
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
        notices: &mut Vec<Notice>,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        // SET reads the row as it was: `previous_failures` keeps the
        // streak's length before this batch, for WEBHOOK_RECOVERED.
        let row = sqlx::query(
            "UPDATE webhooks SET \
               previous_failures = consecutive_failures, \
               consecutive_failures = CASE WHEN CAST($2 AS BIGINT) = 1 THEN CAST($3 AS BIGINT) \
                 ELSE consecutive_failures + CAST($3 AS BIGINT) END, \
               failing_since = CASE WHEN CAST($2 AS BIGINT) = 1 THEN CAST($4 AS BIGINT) \
                 ELSE COALESCE(failing_since, CAST($4 AS BIGINT)) END, \
               last_success_at = COALESCE(CAST($5 AS BIGINT), last_success_at), \
               last_failure_at = COALESCE(CAST($6 AS BIGINT), last_failure_at) \
             WHERE id = $1 \
             RETURNING organization_id, name, url, enabled, consecutive_failures, \
               previous_failures, failing_since, failing_alerted_since",
        )
        .bind(webhook.to_string())
        .bind(i64::from(streak.last_success.is_some()))
        .bind(streak.trailing_failures)
        .bind(streak.failing_since.map(UnixMs::as_millis))
        .bind(streak.last_success.map(UnixMs::as_millis))
        .bind(streak.last_failure.map(UnixMs::as_millis))
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let moved = Moved::from_row(&row)?;
        self.raise_failing_or_recovered(tx, webhook, streak, &moved, health, notices)
            .await?;
        if streak.trailing_failures == 0 && !streak.gone {
            // It just succeeded: nothing to disable.
            return Ok(false);
        }
        let (reason, why, min_failures, since_before) = if streak.gone {
            (
                DisableReason::Gone,
                "the receiver answered 410 Gone".to_owned(),
                0,
                UnixMs::MAX,
            )
        } else {
            (
                DisableReason::Failing,
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
        .bind(why.clone())
        .bind(now.as_millis())
        .bind(min_failures)
        .bind(since_before.as_millis())
        .execute(&mut **tx)
        .await?
        .rows_affected()
            > 0;
        if disabled && streak.raises {
            notices.push(moved.notice(
                webhook,
                EventData::WebhookDisabled(WebhookDisabled {
                    webhook_id: webhook.to_string(),
                    webhook_name: moved.about.name.clone(),
                    url: moved.about.url.clone(),
                    reason,
                    disabled_by: None,
                    message: why,
                }),
            ));
        }
        Ok(disabled)
    }

    /// WEBHOOK_RECOVERED on the first success after a WEBHOOK_FAILING;
    /// WEBHOOK_FAILING once a streak reaches the threshold (once per
    /// streak: the row remembers it was raised).
    async fn raise_failing_or_recovered(
        &self,
        tx: &mut Transaction<'static, Any>,
        webhook: WebhookId,
        streak: &Streak,
        moved: &Moved,
        health: Health,
        notices: &mut Vec<Notice>,
    ) -> Result<(), StoreError> {
        let mut alerted = moved.alerted_since;
        if let (Some(_), Some(since)) = (streak.last_success, alerted) {
            set_alerted(tx, webhook, None).await?;
            alerted = None;
            if streak.raises {
                notices.push(moved.notice(
                    webhook,
                    EventData::WebhookRecovered(WebhookRecovered {
                        webhook_id: webhook.to_string(),
                        webhook_name: moved.about.name.clone(),
                        url: moved.about.url.clone(),
                        failed_calls: moved.previous_failures + streak.leading_failures,
                        failing_since: since.to_rfc3339(),
                    }),
                ));
            }
        }
        let reached = moved.failures >= u64::from(health.failing_alert_after);
        let (Some(since), Some(last)) = (moved.failing_since, streak.last_failed) else {
            return Ok(());
        };
        if alerted.is_none() && reached && moved.enabled && streak.raises {
            set_alerted(tx, webhook, Some(since)).await?;
            notices.push(moved.notice(
                webhook,
                EventData::WebhookFailing(WebhookFailing {
                    webhook_id: webhook.to_string(),
                    webhook_name: moved.about.name.clone(),
                    url: moved.about.url.clone(),
                    consecutive_failures: moved.failures,
                    failing_since: since.to_rfc3339(),
                    last_outcome: last.0.as_str().to_owned(),
                    last_http_status: last.1,
                }),
            ));
        }
        Ok(())
    }
}

/// A webhook's row after its streak moved.
struct Moved {
    about: About,
    enabled: bool,
    failures: u64,
    previous_failures: u64,
    failing_since: Option<UnixMs>,
    alerted_since: Option<UnixMs>,
}

impl Moved {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let non_negative = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(Self {
            about: about_from(row)?,
            enabled: int(row, "enabled")? != 0,
            failures: non_negative(int(row, "consecutive_failures")?),
            previous_failures: non_negative(int(row, "previous_failures")?),
            failing_since: opt_time(row, "failing_since")?,
            alerted_since: opt_time(row, "failing_alerted_since")?,
        })
    }

    fn notice(&self, about: WebhookId, data: EventData) -> Notice {
        Notice {
            organization: self.about.organization.clone(),
            about,
            data,
        }
    }
}

async fn set_alerted(
    tx: &mut Transaction<'static, Any>,
    webhook: WebhookId,
    since: Option<UnixMs>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE webhooks SET failing_alerted_since = $2 WHERE id = $1")
        .bind(webhook.to_string())
        .bind(since.map(UnixMs::as_millis))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What a batch of calls does to a webhook's failing streak.
#[derive(Debug, Default)]
struct Streak {
    last_success: Option<UnixMs>,
    last_failure: Option<UnixMs>,
    /// Failures after the batch's last success (or all, without one).
    trailing_failures: i64,
    /// Failures before the batch's first success.
    leading_failures: u64,
    failing_since: Option<UnixMs>,
    /// The last failed call's outcome and HTTP status.
    last_failed: Option<(CallOutcome, Option<u16>)>,
    gone: bool,
    /// Whether any call delivered an event that is not operational: only
    /// those raise operational events (a failed operational delivery
    /// raises none, so they cannot chain).
    raises: bool,
}

impl Streak {
    /// Calls must come in start order.
    fn add(&mut self, call: &CallRecord) {
        self.raises |= !call.event_type.is_operational();
        if call.succeeded() {
            self.last_success = Some(call.started_at);
            self.trailing_failures = 0;
            self.failing_since = None;
        } else {
            self.last_failure = Some(call.started_at);
            if self.last_success.is_none() {
                self.leading_failures += 1;
            }
            self.last_failed = Some((call.outcome, call.http_status));
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

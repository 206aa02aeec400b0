//! Calls: one row per HTTP attempt (Recent Calls), counted into rollups and
//! into the webhook's failing streak as they are recorded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use selki_domain::{
    CallId, CallOutcome, CallTrigger, DeliveryId, EventId, OrganizationId, WebhookId,
};
use selki_webhooks::EventType;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::deliveries::millis;
use crate::rows::{int, opt_int, opt_text, parsed, placeholders, storable, text};
use crate::stats::{BUCKET_MS, latency_bucket};
use crate::{Backend, Page, Scope, Store, StoreError};

/// One HTTP attempt, as shown in Recent Calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub id: CallId,
    /// `None` for test calls, which deliver no stored event.
    pub delivery_id: Option<DeliveryId>,
    pub webhook_id: WebhookId,
    pub organization: OrganizationId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub attempt: u32,
    pub trigger: CallTrigger,
    pub outcome: CallOutcome,
    pub http_status: Option<u16>,
    pub url: String,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub error_message: Option<String>,
    pub response_excerpt: Option<String>,
}

impl CallRecord {
    pub fn succeeded(&self) -> bool {
        self.outcome == CallOutcome::Success
    }

    /// The same call with what the receiver controls (its response and
    /// the error text built from it) replaced by a note: what is stored
    /// when the database refused the call as it was.
    pub fn without_receiver_text(&self) -> Self {
        Self {
            response_excerpt: self
                .response_excerpt
                .as_ref()
                .map(|_| "[the response excerpt could not be stored]".to_owned()),
            error_message: self
                .error_message
                .as_ref()
                .map(|_| "[the error message could not be stored]".to_owned()),
            ..self.clone()
        }
    }
}

/// When the worker gives up on a webhook by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Disable after failing without a success for this long…
    pub disable_after: Duration,
    /// …and at least this many failed calls in a row.
    pub disable_min_failures: u32,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            disable_after: Duration::from_secs(5 * 24 * 3600),
            disable_min_failures: 10,
        }
    }
}

/// Which calls to list; `None` fields do not filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallFilter {
    /// Only successful (`true`) or only failed (`false`) calls.
    pub succeeded: Option<bool>,
    pub outcome: Option<CallOutcome>,
    pub event_type: Option<EventType>,
    /// Started at or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Started before (Unix ms).
    pub until_ms: Option<i64>,
}

const COLUMNS: &str = "id, delivery_id, webhook_id, organization_id, event_id, event_type, \
    attempt, call_trigger, outcome, http_status, url, started_at, duration_ms, error_message, \
    response_excerpt";

/// Notifications carry call ids, comma-separated: at most this many per
/// notification keeps the payload well under PostgreSQL's 8,000 bytes.
const IDS_PER_NOTIFICATION: usize = 200;
/// Rows per multi-row statement: 15 and 6 parameters each, well under
/// SQLite's and PostgreSQL's parameter limits.
const CALLS_PER_INSERT: usize = 64;
const ROLLUPS_PER_UPSERT: usize = 64;

impl Store {
    /// A webhook's calls, newest first, a page at a time (the page token is
    /// the last call id seen).
    pub async fn list_calls(
        &self,
        scope: &Scope,
        webhook: WebhookId,
        filter: CallFilter,
        page: Page<CallId>,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM calls WHERE webhook_id = $1 \
             AND ($2 IS NULL OR organization_id = $2) AND ($3 IS NULL OR id < $3) \
             AND (CAST($4 AS BIGINT) IS NULL OR \
                  (CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) = CAST($4 AS BIGINT)) \
             AND ($5 IS NULL OR outcome = $5) AND ($6 IS NULL OR event_type = $6) \
             AND (CAST($7 AS BIGINT) IS NULL OR started_at >= CAST($7 AS BIGINT)) \
             AND (CAST($8 AS BIGINT) IS NULL OR started_at < CAST($8 AS BIGINT)) \
             ORDER BY id DESC LIMIT $9"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook.to_string())
            .bind(scope.organization().map(str::to_owned))
            .bind(page.after.map(|id| id.to_string()))
            .bind(filter.succeeded.map(i64::from))
            .bind(filter.outcome.map(CallOutcome::as_str))
            .bind(filter.event_type.map(EventType::as_str))
            .bind(filter.from_ms)
            .bind(filter.until_ms)
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(call_from).collect()
    }

    pub async fn get_call(
        &self,
        scope: &Scope,
        id: CallId,
    ) -> Result<Option<CallRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM calls WHERE id = $1 AND ($2 IS NULL OR organization_id = $2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(scope.organization().map(str::to_owned))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(call_from).transpose()
    }

    /// The calls with these ids that are in scope, oldest first.
    pub async fn calls_by_ids(
        &self,
        scope: &Scope,
        ids: &[CallId],
    ) -> Result<Vec<CallRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM calls WHERE ($1 IS NULL OR organization_id = $1) \
             AND id IN ({}) ORDER BY id",
            params.join(", ")
        );
        let mut query =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(scope.organization().map(str::to_owned));
        for id in ids {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(call_from).collect()
    }

    /// Inserts calls, counts them into the rollups and their webhooks'
    /// streaks, disables webhooks that answered 410 Gone or have failed for
    /// too long, and (on PostgreSQL) announces the calls on commit.
    pub(crate) async fn record_calls(
        &self,
        tx: &mut Transaction<'static, Any>,
        calls: &[&CallRecord],
        health: Health,
    ) -> Result<Vec<WebhookId>, StoreError> {
        for chunk in calls.chunks(CALLS_PER_INSERT) {
            insert_calls(tx, chunk).await?;
        }
        let mut streaks: BTreeMap<WebhookId, Streak> = BTreeMap::new();
        let mut rollups: BTreeMap<(String, i64, &str, i64, i64), i64> = BTreeMap::new();
        let mut by_start: Vec<&&CallRecord> = calls.iter().collect();
        by_start.sort_by_key(|c| (c.started_at_ms, c.id));
        for call in by_start {
            streaks.entry(call.webhook_id).or_default().add(call);
            let key = (
                call.webhook_id.to_string(),
                call.started_at_ms - call.started_at_ms.rem_euclid(BUCKET_MS),
                call.outcome.as_str(),
                call.http_status.map_or(0, i64::from),
                latency_bucket(call.duration_ms),
            );
            *rollups.entry(key).or_default() += 1;
        }
        // Webhooks, then rollups, each in key order: one lock order for
        // every writer.
        let mut disabled = Vec::new();
        for (webhook, streak) in &streaks {
            if self.update_streak(tx, *webhook, streak, health).await? {
                disabled.push(*webhook);
            }
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
            for ((webhook, bucket, outcome, status, latency), count) in chunk {
                query = query
                    .bind(webhook.clone())
                    .bind(*bucket)
                    .bind(*outcome)
                    .bind(*status)
                    .bind(*latency)
                    .bind(*count);
            }
            query.execute(&mut **tx).await?;
        }
        if self.backend == Backend::Postgres {
            // `instance:id,id,…`: this process hears its own calls whole
            // (calls_recorded), so it skips its own notifications.
            for chunk in calls.chunks(IDS_PER_NOTIFICATION) {
                let ids: Vec<String> = chunk.iter().map(|c| c.id.to_string()).collect();
                sqlx::query("SELECT pg_notify('selki_calls', $1)")
                    .bind(format!("{}:{}", self.signals.instance(), ids.join(",")))
                    .execute(&mut **tx)
                    .await?;
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
        .bind(streak.failing_since)
        .bind(streak.last_success)
        .bind(streak.last_failure)
        .execute(&mut **tx)
        .await?;
        if streak.trailing_failures == 0 && !streak.gone {
            // It just succeeded: nothing to disable.
            return Ok(false);
        }
        let (reason, min_failures, since_before) = if streak.gone {
            ("the receiver answered 410 Gone".to_owned(), 0, i64::MAX)
        } else {
            (
                format!(
                    "failing for over {} with at least {} failed calls in a row",
                    human(health.disable_after),
                    health.disable_min_failures
                ),
                i64::from(health.disable_min_failures),
                now.saturating_sub(millis(health.disable_after)),
            )
        };
        let disabled = sqlx::query(
            "UPDATE webhooks SET enabled = 0, disabled_reason = $2, updated_at = $3 \
             WHERE id = $1 AND enabled = 1 AND deleted_at IS NULL \
             AND consecutive_failures >= $4 AND failing_since <= $5",
        )
        .bind(webhook.to_string())
        .bind(reason)
        .bind(now)
        .bind(min_failures)
        .bind(since_before)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Ok(disabled > 0)
    }

    /// After commit: tell this process's watchers, with the calls
    /// themselves (the other processes sharing PostgreSQL hear their ids
    /// through NOTIFY).
    pub(crate) fn calls_recorded(&self, calls: &[&CallRecord]) {
        if !calls.is_empty() && self.signals.calls_heard() {
            let calls: Arc<[CallRecord]> = calls.iter().map(|c| (*c).clone()).collect();
            self.signals
                .calls_recorded(crate::RecordedCalls::Calls(calls));
        }
    }
}

/// What a batch of calls does to a webhook's failing streak.
#[derive(Debug, Default)]
struct Streak {
    last_success: Option<i64>,
    last_failure: Option<i64>,
    /// Failures after the batch's last success (or all, without one).
    trailing_failures: i64,
    failing_since: Option<i64>,
    gone: bool,
}

impl Streak {
    /// Calls must come in start order.
    fn add(&mut self, call: &CallRecord) {
        if call.succeeded() {
            self.last_success = Some(call.started_at_ms);
            self.trailing_failures = 0;
            self.failing_since = None;
        } else {
            self.last_failure = Some(call.started_at_ms);
            self.trailing_failures += 1;
            self.failing_since.get_or_insert(call.started_at_ms);
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

async fn insert_calls(
    tx: &mut Transaction<'static, Any>,
    calls: &[&CallRecord],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO calls (id, delivery_id, webhook_id, organization_id, event_id, \
         event_type, attempt, call_trigger, outcome, http_status, url, started_at, \
         duration_ms, error_message, response_excerpt) VALUES {}",
        placeholders(calls.len(), 15)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for call in calls {
        query = query
            .bind(call.id.to_string())
            .bind(call.delivery_id.map(|id| id.to_string()))
            .bind(call.webhook_id.to_string())
            .bind(call.organization.as_str().to_owned())
            .bind(call.event_id.to_string())
            .bind(call.event_type.as_str())
            .bind(i64::from(call.attempt))
            .bind(call.trigger.as_str())
            .bind(call.outcome.as_str())
            .bind(call.http_status.map(i64::from))
            .bind(call.url.clone())
            .bind(call.started_at_ms)
            .bind(call.duration_ms)
            .bind(call.error_message.as_deref().map(storable))
            .bind(call.response_excerpt.as_deref().map(storable));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

fn call_from(row: &AnyRow) -> Result<CallRecord, StoreError> {
    let status = opt_int(row, "http_status")?;
    Ok(CallRecord {
        id: parsed("id", &text(row, "id")?, CallId::parse)?,
        delivery_id: opt_text(row, "delivery_id")?
            .map(|id| parsed("delivery_id", &id, DeliveryId::parse))
            .transpose()?,
        webhook_id: parsed("webhook_id", &text(row, "webhook_id")?, WebhookId::parse)?,
        organization: parsed(
            "organization_id",
            &text(row, "organization_id")?,
            OrganizationId::parse,
        )?,
        event_id: parsed("event_id", &text(row, "event_id")?, EventId::parse)?,
        event_type: parsed(
            "event_type",
            &text(row, "event_type")?,
            str::parse::<EventType>,
        )?,
        attempt: u32::try_from(int(row, "attempt")?).unwrap_or(u32::MAX),
        trigger: parsed("call_trigger", &text(row, "call_trigger")?, |t| {
            CallTrigger::parse(t).ok_or("unknown trigger")
        })?,
        outcome: parsed("outcome", &text(row, "outcome")?, |o| {
            CallOutcome::parse(o).ok_or("unknown outcome")
        })?,
        http_status: status.and_then(|s| u16::try_from(s).ok()),
        url: text(row, "url")?,
        started_at_ms: int(row, "started_at")?,
        duration_ms: int(row, "duration_ms")?,
        error_message: opt_text(row, "error_message")?,
        response_excerpt: opt_text(row, "response_excerpt")?,
    })
}

//! Calls: one row per HTTP attempt (Recent Calls), read back a page at a
//! time, and written by `record`.

use std::sync::Arc;

use selki_domain::{
    CallId, CallOutcome, CallRecord, CallTrigger, DeliveryId, EventId, OrganizationId, UnixMs,
    WebhookId, millis,
};
use selki_webhooks::EventType;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::sql::{
    duration, int, list, opt_int, opt_text, parsed, placeholders, storable, text, time,
};
use crate::{Page, Scope, Store, StoreError};

/// Which calls to list; `None` fields do not filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallFilter {
    /// Only successful (`true`) or only failed (`false`) calls.
    pub succeeded: Option<bool>,
    pub outcome: Option<CallOutcome>,
    pub event_type: Option<EventType>,
    /// Started at or after.
    pub from: Option<UnixMs>,
    /// Started before.
    pub until: Option<UnixMs>,
}

const COLUMNS: &str = "id, delivery_id, webhook_id, organization_id, event_id, event_type, \
    attempt, call_trigger, outcome, http_status, url, started_at, duration_ms, error_message, \
    response_excerpt";

/// Notifications carry call ids, comma-separated: at most this many per
/// notification keeps the payload well under PostgreSQL's 8,000 bytes.
const IDS_PER_NOTIFICATION: usize = 200;
/// Rows per multi-row statement: 15 parameters each, well under SQLite's
/// and PostgreSQL's parameter limits.
const CALLS_PER_INSERT: usize = 64;

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
            .bind(filter.from.map(UnixMs::as_millis))
            .bind(filter.until.map(UnixMs::as_millis))
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
        let sql = format!(
            "SELECT {COLUMNS} FROM calls WHERE ($1 IS NULL OR organization_id = $1) \
             AND id IN ({}) ORDER BY id",
            list(2, ids.len())
        );
        let mut query =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(scope.organization().map(str::to_owned));
        for id in ids {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(call_from).collect()
    }

    /// Inside a recording transaction: tells the other processes sharing
    /// the database which calls it holds, on commit (PostgreSQL; as
    /// `instance:id,id,…`, so this process, which hears its own calls
    /// whole through [`Store::calls_recorded`], skips its own).
    pub(crate) async fn announce_calls_on_commit(
        &self,
        tx: &mut Transaction<'static, Any>,
        calls: &[&CallRecord],
    ) -> Result<(), StoreError> {
        for chunk in calls.chunks(IDS_PER_NOTIFICATION) {
            let ids: Vec<String> = chunk.iter().map(|c| c.id.to_string()).collect();
            let payload = format!("{}:{}", self.signals.instance(), ids.join(","));
            self.backend
                .notify(&mut **tx, crate::signals::CALLS, &payload)
                .await?;
        }
        Ok(())
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

/// Stores calls, a multi-row statement per chunk.
pub(crate) async fn insert_calls(
    tx: &mut Transaction<'static, Any>,
    calls: &[&CallRecord],
) -> Result<(), StoreError> {
    for chunk in calls.chunks(CALLS_PER_INSERT) {
        insert_chunk(tx, chunk).await?;
    }
    Ok(())
}

async fn insert_chunk(
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
            .bind(call.started_at.as_millis())
            .bind(millis(call.duration))
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
        started_at: time(row, "started_at")?,
        duration: duration(row, "duration_ms")?,
        error_message: opt_text(row, "error_message")?,
        response_excerpt: opt_text(row, "response_excerpt")?,
    })
}

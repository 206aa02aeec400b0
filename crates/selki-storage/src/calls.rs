//! Calls: one row per HTTP attempt (Recent Calls), read back a page at a
//! time, and written by `record`.

use std::sync::Arc;

use selki_domain::{
    CallCapture, CallId, CallOutcome, CallRecord, CallTrigger, DeliveryId, EventId, OrganizationId,
    SentRequest, UnixMs, WebhookId, millis,
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
    pub event_id: Option<EventId>,
    pub delivery_id: Option<DeliveryId>,
    pub http_status: Option<StatusFilter>,
    pub trigger: Option<CallTrigger>,
}

/// Which HTTP statuses a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(u16),
    /// 1 to 5: 1xx to 5xx.
    Class(u8),
    /// No response arrived.
    NoResponse,
}

impl StatusFilter {
    /// The range of stored statuses, both ends included (0: no response).
    fn range(self) -> (i64, i64) {
        match self {
            Self::Exact(status) => (i64::from(status), i64::from(status)),
            Self::Class(class) => (i64::from(class) * 100, i64::from(class) * 100 + 99),
            Self::NoResponse => (0, 0),
        }
    }
}

impl CallFilter {
    /// Whether anything but the webhook narrows the listing (then the scan
    /// is bounded, see [`CallPage`]), other than a delivery, whose few
    /// calls are found by index.
    fn narrows(&self) -> bool {
        self.delivery_id.is_none()
            && (self.succeeded.is_some()
                || self.outcome.is_some()
                || self.event_type.is_some()
                || self.from.is_some()
                || self.until.is_some()
                || self.event_id.is_some()
                || self.http_status.is_some()
                || self.trigger.is_some())
    }
}

/// A page of calls, and where the scan stopped when it did before the page
/// was full.
#[derive(Debug, Clone, Default)]
pub struct CallPage {
    pub calls: Vec<CallRecord>,
    /// With a filter, a listing examines at most [`Limits::scan_budget`](crate::Limits::scan_budget) calls: when
    /// they ran out first, the last one examined (the next page starts
    /// below it).
    pub scanned_to: Option<CallId>,
}

const COLUMNS: &str = "id, delivery_id, webhook_id, organization_id, event_id, event_type, \
    attempt, call_trigger, outcome, http_status, url, started_at, duration_ms, error_message, \
    response_excerpt, trace_id";

/// A call with what it sent and got back, and its body (its event's).
const FULL_COLUMNS: &str = "c.id, c.delivery_id, c.webhook_id, c.organization_id, c.event_id, \
    c.event_type, c.attempt, c.call_trigger, c.outcome, c.http_status, c.url, c.started_at, \
    c.duration_ms, c.error_message, c.response_excerpt, c.trace_id, c.request_headers, \
    c.response_headers, COALESCE(c.test_body, e.body) AS body";

/// Notifications carry call ids, comma-separated: at most this many per
/// notification keeps the payload well under PostgreSQL's 8,000 bytes.
const IDS_PER_NOTIFICATION: usize = 200;
/// Rows per multi-row statement: 19 parameters each, well under SQLite's
/// and PostgreSQL's parameter limits.
const CALLS_PER_INSERT: usize = 64;

impl Store {
    /// A webhook's calls, newest first, a page at a time (the page token is
    /// the last call id seen). A filtered listing examines at most
    /// [`Limits::scan_budget`](crate::Limits::scan_budget) calls.
    pub async fn list_calls(
        &self,
        scope: &Scope,
        webhook: WebhookId,
        filter: CallFilter,
        page: Page<CallId>,
    ) -> Result<CallPage, StoreError> {
        let boundary = match filter.narrows() {
            true => self.scan_boundary(webhook, page.after).await?,
            false => None,
        };
        let status = filter.http_status.map(StatusFilter::range);
        let sql = format!(
            "SELECT {COLUMNS} FROM calls WHERE webhook_id = $1 \
             AND ($2 IS NULL OR organization_id = $2) AND ($3 IS NULL OR id < $3) \
             AND (CAST($4 AS BIGINT) IS NULL OR \
                  (CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) = CAST($4 AS BIGINT)) \
             AND ($5 IS NULL OR outcome = $5) AND ($6 IS NULL OR event_type = $6) \
             AND (CAST($7 AS BIGINT) IS NULL OR started_at >= CAST($7 AS BIGINT)) \
             AND (CAST($8 AS BIGINT) IS NULL OR started_at < CAST($8 AS BIGINT)) \
             AND ($9 IS NULL OR event_id = $9) AND ($10 IS NULL OR delivery_id = $10) \
             AND (CAST($11 AS BIGINT) IS NULL OR \
                  COALESCE(http_status, 0) BETWEEN CAST($11 AS BIGINT) AND CAST($12 AS BIGINT)) \
             AND ($13 IS NULL OR call_trigger = $13) AND ($14 IS NULL OR id >= $14) \
             ORDER BY id DESC LIMIT $15"
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
            .bind(filter.event_id.map(|id| id.to_string()))
            .bind(filter.delivery_id.map(|id| id.to_string()))
            .bind(status.map(|(low, _)| low))
            .bind(status.map(|(_, high)| high))
            .bind(filter.trigger.map(CallTrigger::as_str))
            .bind(boundary.map(|id| id.to_string()))
            .bind(i64::from(page.limit))
            .fetch_all(&self.reads)
            .await?;
        let calls: Vec<CallRecord> = rows.iter().map(call_from).collect::<Result<_, _>>()?;
        // A page that is not full was cut by the scan's bound, if it had one.
        let scanned_to = boundary.filter(|_| calls.len() < page.limit as usize);
        Ok(CallPage { calls, scanned_to })
    }

    /// The oldest of the next [`Limits::scan_budget`](crate::Limits::scan_budget) calls of a webhook after
    /// `after`, if it has that many: how far a filtered listing looks.
    async fn scan_boundary(
        &self,
        webhook: WebhookId,
        after: Option<CallId>,
    ) -> Result<Option<CallId>, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM calls WHERE webhook_id = $1 AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT 1 OFFSET $3",
        )
        .bind(webhook.to_string())
        .bind(after.map(|id| id.to_string()))
        .bind(i64::from(self.limits.scan_budget.max(1) - 1))
        .fetch_optional(&self.reads)
        .await?;
        row.map(|row| parsed("id", &text(&row, "id")?, CallId::parse))
            .transpose()
    }

    /// One call with what it sent, what came back and its body; `None`
    /// outside the scope or once its webhook was deleted (as for listing).
    pub async fn get_call(
        &self,
        scope: &Scope,
        id: CallId,
    ) -> Result<Option<CallRecord>, StoreError> {
        let sql = format!(
            "SELECT {FULL_COLUMNS} FROM calls c \
             JOIN webhooks w ON w.id = c.webhook_id AND w.deleted_at IS NULL \
             LEFT JOIN events e ON e.id = c.event_id \
             WHERE c.id = $1 AND ($2 IS NULL OR c.organization_id = $2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(scope.organization().map(str::to_owned))
            .fetch_optional(&self.reads)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut call = call_from(&row)?;
        call.capture = Some(Box::new(capture_from(&row)?));
        Ok(Some(call))
    }

    /// The latest call of each of these deliveries.
    pub(crate) async fn last_calls(
        &self,
        deliveries: &[DeliveryId],
    ) -> Result<std::collections::HashMap<DeliveryId, CallRecord>, StoreError> {
        let mut last = std::collections::HashMap::new();
        for chunk in deliveries.chunks(100) {
            let sql = format!(
                "SELECT {COLUMNS} FROM calls WHERE delivery_id IN ({}) ORDER BY id",
                list(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.reads).await? {
                let call = call_from(&row)?;
                if let Some(delivery) = call.delivery_id {
                    last.insert(delivery, call);
                }
            }
        }
        Ok(last)
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
        let rows = query.fetch_all(&self.reads).await?;
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
            let calls: Arc<[CallRecord]> = calls.iter().map(|c| c.summary()).collect();
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
         duration_ms, error_message, response_excerpt, trace_id, request_headers, \
         response_headers, test_body) VALUES {}",
        placeholders(calls.len(), 19)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for call in calls {
        let capture = call.capture.as_deref();
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
            .bind(call.response_excerpt.as_deref().map(storable))
            .bind(call.trace_id.clone())
            .bind(
                capture
                    .and_then(|c| c.request.as_ref())
                    .map(|r| json(&Sent::from(r))),
            )
            .bind(capture.map(|c| json(&c.response_headers)))
            .bind(capture.and_then(|c| c.body.as_deref().map(storable)));
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
        trace_id: opt_text(row, "trace_id")?,
        capture: None,
    })
}

fn capture_from(row: &AnyRow) -> Result<CallCapture, StoreError> {
    let corrupt = |column: &str| StoreError::Corrupt(format!("{column} of a call"));
    let request = opt_text(row, "request_headers")?
        .map(|text| serde_json::from_str::<Sent>(&text).map_err(|_| corrupt("request_headers")))
        .transpose()?
        .map(SentRequest::from);
    let response_headers = match opt_text(row, "response_headers")? {
        Some(text) => serde_json::from_str(&text).map_err(|_| corrupt("response_headers"))?,
        None => Vec::new(),
    };
    Ok(CallCapture {
        request,
        response_headers,
        body: opt_text(row, "body")?,
    })
}

/// A [`SentRequest`] as the `request_headers` column holds it: short keys,
/// since every call row carries one.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sent {
    t: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    ua: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    h: Vec<(String, String, bool)>,
    n: usize,
}

impl From<&SentRequest> for Sent {
    fn from(r: &SentRequest) -> Self {
        Self {
            t: r.timestamp,
            s: r.signature.clone(),
            ua: r.user_agent.clone(),
            h: r.custom.clone(),
            n: r.content_length,
        }
    }
}

impl From<Sent> for SentRequest {
    fn from(s: Sent) -> Self {
        Self {
            timestamp: s.t,
            signature: s.s,
            user_agent: s.ua,
            custom: s.h,
            content_length: s.n,
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    storable(&serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned()))
}

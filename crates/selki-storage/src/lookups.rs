//! Events and deliveries as support looks them up: one event with its
//! delivery to every webhook, an organization's events, one webhook's
//! waiting and failed deliveries.

use std::collections::HashMap;

use selki_domain::{
    DeliveryId, DeliveryStatus, EventId, OrganizationId, TraceParent, UnixMs, WebhookId,
};
use sqlx::any::AnyRow;

use crate::sql::{
    count, delivery_status, int, opt_text, opt_time, parsed, status_literal, text, time,
};
use crate::{
    DeliveryState, DeliveryView, EventFilter, EventKey, Page, Scope, Store, StoreError, StoredEvent,
};

const EVENT_COLUMNS: &str = "e.id, e.organization_id, e.event_type, e.client_event_id, \
    e.occurred_at, e.created_at, e.delivery_count, e.traceparent";

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, d.status, d.attempts, \
    d.round_start, d.next_attempt_at, d.lease_until, d.created_at, d.updated_at, e.event_type, \
    w.retry_attempts";

/// A page of deliveries, and where the scan stopped when it did first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    /// Set when telling waiting from in-flight deliveries examined
    /// [`Limits::scan_budget`](crate::Limits::scan_budget) of them before the page was full: the last one
    /// examined (the next page starts below it).
    pub scanned_to: Option<DeliveryId>,
}

impl Store {
    /// One event, its body, and its delivery to every webhook it went to
    /// (each with its latest call); `None` outside the scope.
    pub async fn get_event(
        &self,
        scope: &Scope,
        key: &EventKey,
    ) -> Result<Option<(StoredEvent, Vec<DeliveryView>)>, StoreError> {
        let (condition, value) = match key {
            EventKey::Id(id) => ("e.id = $1", id.to_string()),
            EventKey::ClientId(_, client_id) => ("e.client_event_id = $1", client_id.clone()),
        };
        let organization = match key {
            EventKey::ClientId(org, _) => Some(org.as_str().to_owned()),
            EventKey::Id(_) => None,
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS}, e.body FROM events e WHERE {condition} \
             AND ($2 IS NULL OR e.organization_id = $2) AND ($3 IS NULL OR e.organization_id = $3)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(scope.organization().map(str::to_owned))
            .bind(organization)
            .fetch_optional(&self.reads)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut event = event_from(&row)?;
        event.body = Some(text(&row, "body")?);
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d \
             JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.event_id = $1 AND w.deleted_at IS NULL ORDER BY d.webhook_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event.id.to_string())
            .fetch_all(&self.reads)
            .await?;
        let deliveries = self.delivery_views(&rows).await?;
        Ok(Some((event, deliveries)))
    }

    /// An organization's events, newest first, without bodies. Times are
    /// acceptance times, read off the ids (which carry them).
    pub async fn list_events(
        &self,
        organization: &OrganizationId,
        filter: &EventFilter,
        page: Page<EventId>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.organization_id = $1 \
             AND ($2 IS NULL OR e.id < $2) AND ($3 IS NULL OR e.id >= $3) \
             AND ($4 IS NULL OR e.id < $4) AND ($5 IS NULL OR e.event_type = $5) \
             AND ($6 IS NULL OR e.client_event_id = $6) ORDER BY e.id DESC LIMIT $7"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(organization.as_str().to_owned())
            .bind(page.after.map(|id| id.to_string()))
            .bind(filter.from.map(|t| EventId::first_at(t).to_string()))
            .bind(filter.until.map(|t| EventId::first_at(t).to_string()))
            .bind(filter.event_type.map(|t| t.as_str()))
            .bind(filter.client_event_id.clone())
            .bind(i64::from(page.limit))
            .fetch_all(&self.reads)
            .await?;
        rows.iter().map(event_from).collect()
    }

    /// A webhook's deliveries in these states (waiting and failed ones:
    /// succeeded and cancelled deliveries are found through their calls or
    /// events), newest first. `None` if there is no such webhook in scope.
    pub async fn list_deliveries(
        &self,
        scope: &Scope,
        webhook: WebhookId,
        states: &[DeliveryState],
        page: Page<DeliveryId>,
    ) -> Result<Option<DeliveryPage>, StoreError> {
        if self.get_webhook(scope, webhook).await?.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let pending = states.contains(&DeliveryState::Pending);
        let in_flight = states.contains(&DeliveryState::InFlight);
        // Telling waiting from in flight reads the lease of each pending
        // delivery: that scan is bounded.
        let boundary = match pending != in_flight {
            true => self.pending_boundary(webhook, page.after).await?,
            false => None,
        };
        let mut queries: Vec<(DeliveryStatus, &str)> = Vec::new();
        match (pending, in_flight) {
            (true, true) => queries.push((DeliveryStatus::Pending, "")),
            (true, false) => queries.push((
                DeliveryStatus::Pending,
                "AND (d.lease_until IS NULL OR d.lease_until <= $4)",
            )),
            (false, true) => queries.push((DeliveryStatus::Pending, "AND d.lease_until > $4")),
            (false, false) => {}
        }
        for (state, status) in [
            (DeliveryState::Failed, DeliveryStatus::Failed),
            (DeliveryState::Skipped, DeliveryStatus::Skipped),
        ] {
            if states.contains(&state) {
                queries.push((status, ""));
            }
        }
        let mut rows = Vec::new();
        for (status, lease) in queries {
            // `$4` (now) is named in every variant: PostgreSQL refuses a
            // parameter a statement does not use.
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries d \
                 JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.webhook_id = $1 AND d.status = {} AND ($2 IS NULL OR d.id < $2) \
                 AND ($3 IS NULL OR d.id >= $3) AND CAST($4 AS BIGINT) IS NOT NULL {lease} \
                 ORDER BY d.id DESC LIMIT $5",
                status_literal(status)
            );
            rows.extend(
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(webhook.to_string())
                    .bind(page.after.map(|id| id.to_string()))
                    .bind(boundary.map(|id| id.to_string()))
                    .bind(now.as_millis())
                    .bind(i64::from(page.limit))
                    .fetch_all(&self.reads)
                    .await?,
            );
        }
        let mut deliveries = self.delivery_views(&rows).await?;
        deliveries.sort_by_key(|d| std::cmp::Reverse(d.id));
        deliveries.truncate(page.limit as usize);
        let scanned_to = boundary.filter(|_| deliveries.len() < page.limit as usize);
        Ok(Some(DeliveryPage {
            deliveries,
            scanned_to,
        }))
    }

    /// The oldest of a webhook's next [`Limits::scan_budget`](crate::Limits::scan_budget) pending deliveries
    /// after `after`, if it has that many.
    async fn pending_boundary(
        &self,
        webhook: WebhookId,
        after: Option<DeliveryId>,
    ) -> Result<Option<DeliveryId>, StoreError> {
        let sql = format!(
            "SELECT id FROM deliveries WHERE webhook_id = $1 AND status = {} \
             AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT 1 OFFSET $3",
            status_literal(DeliveryStatus::Pending)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook.to_string())
            .bind(after.map(|id| id.to_string()))
            .bind(i64::from(self.limits.scan_budget.max(1) - 1))
            .fetch_optional(&self.reads)
            .await?;
        row.map(|row| parsed("id", &text(&row, "id")?, DeliveryId::parse))
            .transpose()
    }

    /// Delivery rows as shown, each with its latest call.
    async fn delivery_views(&self, rows: &[AnyRow]) -> Result<Vec<DeliveryView>, StoreError> {
        let now = self.now();
        let mut views: Vec<DeliveryView> = rows
            .iter()
            .map(|row| delivery_from(row, now))
            .collect::<Result<_, _>>()?;
        let ids: Vec<DeliveryId> = views.iter().map(|d| d.id).collect();
        let mut last: HashMap<DeliveryId, _> = self.last_calls(&ids).await?;
        for view in &mut views {
            view.last_call = last.remove(&view.id);
        }
        Ok(views)
    }
}

fn event_from(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        id: parsed("id", &text(row, "id")?, EventId::parse)?,
        organization: parsed(
            "organization_id",
            &text(row, "organization_id")?,
            OrganizationId::parse,
        )?,
        event_type: parsed("event_type", &text(row, "event_type")?, str::parse)?,
        client_event_id: opt_text(row, "client_event_id")?,
        occurred_at: time(row, "occurred_at")?,
        created_at: time(row, "created_at")?,
        delivery_count: u32::try_from(count(row, "delivery_count")?).unwrap_or(u32::MAX),
        traceparent: opt_text(row, "traceparent")?.and_then(|t| TraceParent::parse(&t)),
        body: None,
    })
}

/// A delivery as it stands `now`: a pending one under a live lease is in
/// flight; the attempts left count the current round's.
fn delivery_from(row: &AnyRow, now: UnixMs) -> Result<DeliveryView, StoreError> {
    let status = delivery_status(row, "status")?;
    let leased = opt_time(row, "lease_until")?.is_some_and(|until| until > now);
    let state = match status {
        DeliveryStatus::Pending if leased => DeliveryState::InFlight,
        DeliveryStatus::Pending => DeliveryState::Pending,
        DeliveryStatus::Succeeded => DeliveryState::Succeeded,
        DeliveryStatus::Failed => DeliveryState::Failed,
        DeliveryStatus::Skipped => DeliveryState::Skipped,
        DeliveryStatus::Cancelled => DeliveryState::Cancelled,
    };
    let attempts = int(row, "attempts")?;
    let in_round = attempts - int(row, "round_start")?;
    let allowed = int(row, "retry_attempts")? + 1;
    let pending = status == DeliveryStatus::Pending;
    Ok(DeliveryView {
        id: parsed("id", &text(row, "id")?, DeliveryId::parse)?,
        webhook_id: parsed("webhook_id", &text(row, "webhook_id")?, WebhookId::parse)?,
        event_id: parsed("event_id", &text(row, "event_id")?, EventId::parse)?,
        event_type: parsed("event_type", &text(row, "event_type")?, str::parse)?,
        status,
        state,
        attempts_made: u32::try_from(attempts).unwrap_or(0),
        attempts_left: match pending {
            true => u32::try_from((allowed - in_round).max(0)).unwrap_or(0),
            false => 0,
        },
        next_attempt_at: match pending {
            true => Some(time(row, "next_attempt_at")?),
            false => None,
        },
        last_call: None,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

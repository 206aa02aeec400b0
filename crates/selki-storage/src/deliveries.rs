//! The worker's side: claim due deliveries under a lease (short
//! statements, no transaction held during the HTTP call), then record the
//! attempts in one batch.

use std::time::Duration;

use selki_domain::{
    CallId, CallOutcome, CallTrigger, DeliveryId, EventId, OrganizationId, WebhookId,
};
use selki_webhooks::EventType;

use crate::rows::{int, parsed, text};
use crate::{Backend, Store, StoreError};

/// A delivery a worker holds the lease of, with what it needs to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub webhook_id: WebhookId,
    pub organization: OrganizationId,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Exactly the JSON to POST.
    pub body: String,
    /// The claim this lease belongs to: `worker/ulid`, new for every claim.
    pub lease: String,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Try again at this time (Unix ms).
    RetryAt(i64),
    /// Out of attempts: failed, recoverable.
    Failed,
}

/// One HTTP attempt, as recorded in Recent Calls.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub call_id: CallId,
    pub claimed: Claimed,
    pub trigger: CallTrigger,
    pub outcome: CallOutcome,
    pub http_status: Option<u16>,
    pub url: String,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub error_message: Option<String>,
    pub response_excerpt: Option<String>,
    pub next: Next,
}

impl Store {
    /// Leases up to `limit` due deliveries to `worker` for `lease`, oldest
    /// first. A delivery whose lease ran out (its worker died) is due again.
    /// On PostgreSQL, concurrent workers skip each other's rows.
    pub async fn claim_due(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = self.now();
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            // SQLite has one writer at a time: the UPDATE is the lock.
            Backend::Sqlite => "",
        };
        // A token per claim, so that the rows of this claim (and only
        // those) can be read back in one query and recorded later.
        let lease_token = format!("{worker}/{}", CallId::new());
        let sql = format!(
            "UPDATE deliveries SET lease_until = $2, leased_by = $3, updated_at = $1 \
             WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' \
               AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) \
               ORDER BY next_attempt_at LIMIT $4 {lock})"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)))
            .bind(lease_token.clone())
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT d.id, d.event_id, d.webhook_id, d.organization_id, d.attempts, \
             e.event_type, e.body FROM deliveries d JOIN events e ON e.id = d.event_id \
             WHERE d.leased_by = $1 AND d.status = 'pending' ORDER BY d.id",
        )
        .bind(lease_token.clone())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    delivery_id: parsed("id", &text(row, "id")?, DeliveryId::parse)?,
                    event_id: parsed("event_id", &text(row, "event_id")?, EventId::parse)?,
                    event_type: parsed(
                        "event_type",
                        &text(row, "event_type")?,
                        str::parse::<EventType>,
                    )?,
                    webhook_id: parsed("webhook_id", &text(row, "webhook_id")?, WebhookId::parse)?,
                    organization: parsed(
                        "organization_id",
                        &text(row, "organization_id")?,
                        OrganizationId::parse,
                    )?,
                    attempt: u32::try_from(int(row, "attempts")? + 1).unwrap_or(u32::MAX),
                    body: text(row, "body")?,
                    lease: lease_token.clone(),
                })
            })
            .collect()
    }

    /// Records attempts in one transaction: each call is stored, and each
    /// delivery moves on, but only while its claim still holds the lease (a
    /// worker that lost its lease must not undo another's progress).
    pub async fn record_attempts(&self, attempts: &[Attempt]) -> Result<(), StoreError> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        for a in attempts {
            sqlx::query(
                "INSERT INTO calls (id, delivery_id, webhook_id, organization_id, event_id, \
                 event_type, attempt, call_trigger, outcome, http_status, url, started_at, \
                 duration_ms, error_message, response_excerpt) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(a.call_id.to_string())
            .bind(a.claimed.delivery_id.to_string())
            .bind(a.claimed.webhook_id.to_string())
            .bind(a.claimed.organization.as_str().to_owned())
            .bind(a.claimed.event_id.to_string())
            .bind(a.claimed.event_type.as_str())
            .bind(i64::from(a.claimed.attempt))
            .bind(a.trigger.as_str())
            .bind(a.outcome.as_str())
            .bind(a.http_status.map(i64::from))
            .bind(a.url.clone())
            .bind(a.started_at_ms)
            .bind(a.duration_ms)
            .bind(a.error_message.clone())
            .bind(a.response_excerpt.clone())
            .execute(&mut *tx)
            .await?;
            let (status, next_at) = match a.next {
                Next::Succeeded => ("succeeded", now),
                Next::RetryAt(at) => ("pending", at),
                Next::Failed => ("failed", now),
            };
            sqlx::query(
                "UPDATE deliveries SET status = $3, attempts = $4, next_attempt_at = $5, \
                 lease_until = NULL, leased_by = NULL, updated_at = $6 \
                 WHERE id = $1 AND leased_by = $2",
            )
            .bind(a.claimed.delivery_id.to_string())
            .bind(a.claimed.lease.clone())
            .bind(status)
            .bind(i64::from(a.claimed.attempt))
            .bind(next_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

//! The worker's side: claim due deliveries under a lease (short
//! statements, no transaction held during the HTTP call), then record the
//! attempts in one batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use selki_domain::{
    CallId, CustomHeaders, DeliveryId, EndpointUrl, EventId, OrganizationId, RetryPolicy,
    UrlPolicy, WebhookId,
};
use selki_webhooks::{EventType, Secret};
use sqlx::any::AnyRow;

use crate::calls::CallRecord;
use crate::liveness::WriteKind;
use crate::rows::{int, parsed, placeholders, text};
use crate::webhooks::{retry_from, timeout_from};
use crate::{Backend, Health, Scope, Store, StoreError, Unopenable};

/// Where and how a webhook's deliveries are sent, as stored right now.
#[derive(Debug)]
pub struct Target {
    pub webhook_id: WebhookId,
    pub url: EndpointUrl,
    pub retry: RetryPolicy,
    /// The webhook's own attempt timeout, if it set one.
    pub timeout: Option<Duration>,
    pub enabled: bool,
    /// What the webhook keeps sealed at rest, opened; `Err` when this
    /// server's keys do not open it. Then nothing is sent: the call is
    /// recorded as failed (signing unavailable) and retried, and other
    /// webhooks are not affected.
    pub sealed: Result<Opened, Unopenable>,
}

/// A webhook's sealed settings, opened.
#[derive(Debug, Default)]
pub struct Opened {
    /// The secrets to sign with: the current one, then a rotated-out one
    /// still in its grace period. Empty: unsigned.
    pub secrets: Vec<Secret>,
    pub headers: CustomHeaders,
}

/// A delivery a worker holds the lease of, with what it needs to send it.
#[derive(Debug, Clone)]
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
    /// The webhook as it is now: checked before every attempt.
    pub target: Arc<Target>,
}

/// What becomes of a claimed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Try again at this time (Unix ms).
    RetryAt(i64),
    /// Out of attempts: failed, recoverable.
    Failed,
    /// The webhook was disabled: kept, recoverable, not sent.
    Skipped,
    /// Not attempted: back in the queue as it was (e.g. the webhook already
    /// has as many calls in flight as it may).
    Released,
}

/// What recording a batch came to.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Webhooks this disabled (410 Gone, or failing for too long).
    pub disabled: Vec<WebhookId>,
    /// Calls stored with the receiver's text replaced by a note, because
    /// the database refused them as they were.
    pub stripped: Vec<CallId>,
    /// Calls the database refused even so: their deliveries moved on (so
    /// they are not sent again), but the calls are not stored.
    pub lost: Vec<CallId>,
}

/// A claimed delivery's attempt (or non-attempt) to record.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub claimed: Claimed,
    /// The HTTP call made, if one was.
    pub call: Option<CallRecord>,
    pub next: Next,
}

impl Store {
    /// The webhooks that have due deliveries (some may be leased), by
    /// id. One index probe per webhook (a loose index scan), however long
    /// its queue: the claim loop asks this before every round.
    pub async fn due_webhooks(&self) -> Result<Vec<WebhookId>, StoreError> {
        let rows = sqlx::query(
            "WITH RECURSIVE due (id) AS ( \
               SELECT MIN(webhook_id) FROM deliveries \
                 WHERE status = 'pending' AND next_attempt_at <= $1 \
               UNION ALL \
               SELECT (SELECT MIN(webhook_id) FROM deliveries \
                 WHERE status = 'pending' AND next_attempt_at <= $1 AND webhook_id > due.id) \
               FROM due WHERE due.id IS NOT NULL) \
             SELECT id FROM due WHERE id IS NOT NULL",
        )
        .bind(self.now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| parsed("id", &text(row, "id")?, WebhookId::parse))
            .collect()
    }

    /// Leases to `worker` for `lease`, for each `(webhook, n)` of `wants`,
    /// up to `n` of that webhook's due deliveries, oldest first. Claiming
    /// per webhook is what keeps one webhook's backlog from being scanned
    /// (or claimed) while another's deliveries are due. A delivery whose
    /// lease ran out (its worker died) is due again. On PostgreSQL,
    /// concurrent workers skip each other's rows.
    pub async fn claim_due(
        &self,
        worker: &str,
        lease: Duration,
        wants: &[(WebhookId, u32)],
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut claimed = Vec::new();
        for chunk in wants.chunks(WEBHOOKS_PER_CLAIM) {
            claimed.extend(self.claim_chunk(worker, lease, chunk).await?);
        }
        Ok(claimed)
    }

    async fn claim_chunk(
        &self,
        worker: &str,
        lease: Duration,
        wants: &[(WebhookId, u32)],
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = self.now();
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            // SQLite has one writer at a time: the UPDATE is the lock.
            Backend::Sqlite => "",
        };
        // $1 now, $2 lease end, $3 lease token; then per webhook its id and
        // how many. Each pick walks its own webhook's part of the index.
        let picks: Vec<String> = (0..wants.len())
            .map(|i| {
                format!(
                    "p{i} AS MATERIALIZED (SELECT id FROM deliveries \
                     WHERE webhook_id = ${} AND status = 'pending' AND next_attempt_at <= $1 \
                     AND (lease_until IS NULL OR lease_until <= $1) \
                     ORDER BY next_attempt_at LIMIT ${} {lock})",
                    4 + 2 * i,
                    5 + 2 * i
                )
            })
            .collect();
        let union: Vec<String> = (0..wants.len())
            .map(|i| format!("SELECT id FROM p{i}"))
            .collect();
        // Materialized picks joined by primary key: the update touches
        // exactly the picked rows, never scans the table.
        let sql = format!(
            "WITH {}, picked AS MATERIALIZED ({}) \
             UPDATE deliveries SET lease_until = $2, leased_by = $3 \
             FROM picked WHERE deliveries.id = picked.id \
             RETURNING deliveries.id, deliveries.event_id, deliveries.webhook_id, \
             deliveries.organization_id, deliveries.attempts",
            picks.join(", "),
            union.join(" UNION ALL ")
        );
        // A token per claim: a later record only counts while it holds.
        let lease_token = format!("{worker}/{}", CallId::new());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(now.saturating_add(millis(lease)))
            .bind(lease_token.clone());
        for (webhook, n) in wants {
            query = query.bind(webhook.to_string()).bind(i64::from(*n));
        }
        let rows = query.fetch_all(&self.pool).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let leased: Vec<Leased> = rows.iter().map(leased_from).collect::<Result<_, _>>()?;
        let targets = self.targets(wants.iter().map(|(w, _)| *w)).await?;
        let bodies = self.bodies(&leased).await?;
        leased
            .into_iter()
            .map(|l| l.claimed(&lease_token, &targets, &bodies))
            .collect()
    }

    /// A webhook's target as stored now; `None` if it was deleted.
    pub async fn target(&self, id: WebhookId) -> Result<Option<Arc<Target>>, StoreError> {
        let sql =
            format!("SELECT {TARGET_COLUMNS} FROM webhooks WHERE id = $1 AND deleted_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| self.target_from(&row).map(Arc::new))
            .transpose()
    }

    /// The delivery a call was made for, to make it again by hand: `None`
    /// if there is no such call in scope, or it was a test call.
    pub async fn redelivery(
        &self,
        scope: &Scope,
        call: CallId,
    ) -> Result<Option<Claimed>, StoreError> {
        let row = sqlx::query(
            "SELECT d.id, d.event_id, d.webhook_id, d.organization_id, d.attempts, \
             e.event_type, e.body FROM calls c JOIN deliveries d ON d.id = c.delivery_id \
             JOIN events e ON e.id = d.event_id \
             WHERE c.id = $1 AND ($2 IS NULL OR c.organization_id = $2)",
        )
        .bind(call.to_string())
        .bind(scope.organization().map(str::to_owned))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let webhook_id = parsed("webhook_id", &text(&row, "webhook_id")?, WebhookId::parse)?;
        let Some(target) = self.target(webhook_id).await? else {
            return Ok(None);
        };
        let targets = HashMap::from([(webhook_id, target)]);
        claimed_from(&row, "", &targets).map(Some)
    }

    /// Records attempts in one transaction: each call is stored and counted,
    /// and each delivery moves on, but only while its claim still holds the
    /// lease (a worker that lost its lease must not undo another's
    /// progress). Returns the webhooks this disabled (410 Gone, or failing
    /// for too long).
    pub async fn record_attempts(
        &self,
        attempts: &[Attempt],
        health: Health,
    ) -> Result<Vec<WebhookId>, StoreError> {
        let result = self.write_attempts(attempts, health).await;
        self.writability
            .observe(WriteKind::Work, &result, self.now());
        result
    }

    async fn write_attempts(
        &self,
        attempts: &[Attempt],
        health: Health,
    ) -> Result<Vec<WebhookId>, StoreError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut ordered: Vec<&Attempt> = attempts.iter().collect();
        // One order for every writer: fewer lock waits between workers.
        ordered.sort_by_key(|a| a.claimed.delivery_id);
        for chunk in ordered.chunks(DELIVERIES_PER_UPDATE) {
            move_on(&mut tx, chunk, now).await?;
        }
        let calls: Vec<&CallRecord> = attempts.iter().filter_map(|a| a.call.as_ref()).collect();
        let disabled = self.record_calls(&mut tx, &calls, health).await?;
        tx.commit().await.map_err(StoreError::at_commit)?;
        self.calls_recorded(&calls);
        Ok(disabled)
    }

    /// Records attempts like [`Store::record_attempts`], but a row the
    /// database refuses fails only itself: the batch is split until the
    /// refused attempt is alone, and that one is recorded without the
    /// receiver's text (or, refused even so, without its call). Fails only
    /// on an outage, and may then be retried as a whole: an attempt whose
    /// call is already stored (an earlier try committed, unconfirmed) is
    /// left as it is.
    pub async fn record_attempts_isolated(
        &self,
        attempts: &[Attempt],
        health: Health,
    ) -> Result<Recorded, StoreError> {
        let mut recorded = Recorded::default();
        let mut parts: Vec<&[Attempt]> = vec![attempts];
        while let Some(part) = parts.pop() {
            match self.record_attempts(part, health).await {
                Ok(disabled) => recorded.disabled.extend(disabled),
                Err(err) if err.is_transient() => return Err(err),
                Err(_) if part.len() > 1 => {
                    let (first, second) = part.split_at(part.len() / 2);
                    parts.push(second);
                    parts.push(first);
                }
                // Recorded by an earlier try of this batch: its call, state
                // and counts went in one transaction, so all of it is there.
                Err(err) if err.is_duplicate() => {}
                Err(err) => {
                    let [attempt] = part else { return Err(err) };
                    self.record_refused(attempt, health, &mut recorded).await?;
                }
            }
        }
        Ok(recorded)
    }

    /// One attempt the database refused: without the receiver's text,
    /// then without its call.
    async fn record_refused(
        &self,
        attempt: &Attempt,
        health: Health,
        recorded: &mut Recorded,
    ) -> Result<(), StoreError> {
        let Some(call) = &attempt.call else {
            // Nothing of the receiver's in it: a defect of ours, logged by
            // the caller; the lease runs out and it is tried again.
            return Err(StoreError::Corrupt(format!(
                "delivery {} could not be recorded",
                attempt.claimed.delivery_id
            )));
        };
        let stripped = Attempt {
            call: Some(call.without_receiver_text()),
            ..attempt.clone()
        };
        match self
            .record_attempts(std::slice::from_ref(&stripped), health)
            .await
        {
            Ok(disabled) => {
                recorded.disabled.extend(disabled);
                recorded.stripped.push(call.id);
                return Ok(());
            }
            Err(err) if err.is_transient() => return Err(err),
            Err(_) => {}
        }
        let bare = Attempt {
            call: None,
            ..attempt.clone()
        };
        let disabled = self
            .record_attempts(std::slice::from_ref(&bare), health)
            .await?;
        recorded.disabled.extend(disabled);
        recorded.lost.push(call.id);
        Ok(())
    }

    /// Records a call made by hand (a redelivery or a test event). A
    /// successful redelivery completes its delivery if it had failed or
    /// been skipped; a failed one is not retried.
    /// A call the database refuses as it is, is stored without the
    /// receiver's text.
    pub async fn record_call(
        &self,
        call: &CallRecord,
        health: Health,
    ) -> Result<Vec<WebhookId>, StoreError> {
        let result = match self.try_record_call(call, health).await {
            Err(StoreError::Refused(_)) => {
                self.try_record_call(&call.without_receiver_text(), health)
                    .await
            }
            other => other,
        };
        self.writability
            .observe(WriteKind::Work, &result, self.now());
        result
    }

    async fn try_record_call(
        &self,
        call: &CallRecord,
        health: Health,
    ) -> Result<Vec<WebhookId>, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(delivery) = call.delivery_id {
            sqlx::query(
                "UPDATE deliveries SET attempts = attempts + 1, updated_at = $3, \
                 status = CASE WHEN CAST($2 AS BIGINT) = 1 AND status IN ('failed', 'skipped') \
                   THEN 'succeeded' ELSE status END WHERE id = $1",
            )
            .bind(delivery.to_string())
            .bind(i64::from(call.succeeded()))
            .bind(self.now())
            .execute(&mut *tx)
            .await?;
        }
        let disabled = self.record_calls(&mut tx, &[call], health).await?;
        tx.commit().await.map_err(StoreError::at_commit)?;
        self.calls_recorded(&[call]);
        Ok(disabled)
    }

    /// The stored targets of these webhooks (deleted ones left out).
    async fn targets(
        &self,
        ids: impl ExactSizeIterator<Item = WebhookId>,
    ) -> Result<HashMap<WebhookId, Arc<Target>>, StoreError> {
        let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM webhooks WHERE deleted_at IS NULL AND id IN ({})",
            params(1, ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        // A row that cannot be read is left out, as if deleted (its
        // deliveries are kept as skipped, recoverable): it must not stop
        // the claim of every other webhook.
        Ok(rows
            .iter()
            .filter_map(|row| match self.target_from(row) {
                Ok(target) => Some((target.webhook_id, Arc::new(target))),
                Err(err) => {
                    tracing::error!(error = %err, "a webhook row cannot be read: its deliveries are skipped");
                    None
                }
            })
            .collect())
    }

    /// Each leased delivery's event: its type and body, by event id.
    async fn bodies(
        &self,
        leased: &[Leased],
    ) -> Result<HashMap<EventId, (EventType, String)>, StoreError> {
        let mut bodies = HashMap::with_capacity(leased.len());
        for chunk in leased.chunks(EVENTS_PER_READ) {
            let sql = format!(
                "SELECT id, event_type, body FROM events WHERE id IN ({})",
                params(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for l in chunk {
                query = query.bind(l.event_id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                bodies.insert(
                    parsed("id", &text(&row, "id")?, EventId::parse)?,
                    (
                        parsed("event_type", &text(&row, "event_type")?, str::parse)?,
                        text(&row, "body")?,
                    ),
                );
            }
        }
        Ok(bodies)
    }

    fn target_from(&self, row: &AnyRow) -> Result<Target, StoreError> {
        let webhook_id = parsed("id", &text(row, "id")?, WebhookId::parse)?;
        let opened = self.live_secrets(row, webhook_id).and_then(|secrets| {
            Ok(Opened {
                secrets,
                headers: self.open_headers(row, webhook_id)?,
            })
        });
        let sealed = match opened {
            Ok(opened) => Ok(opened),
            Err(StoreError::Unopenable(unopenable)) => Err(unopenable),
            Err(other) => return Err(other),
        };
        Ok(Target {
            webhook_id,
            // Stored URLs passed the policy in force when they were written.
            url: parsed("url", &text(row, "url")?, |u| {
                EndpointUrl::parse(u, UrlPolicy::AllowHttp)
            })?,
            retry: retry_from(row)?,
            timeout: timeout_from(row)?,
            enabled: int(row, "enabled")? != 0,
            sealed,
        })
    }
}

/// Deliveries per UPDATE: 5 parameters each.
const DELIVERIES_PER_UPDATE: usize = 128;

/// Each delivery's new status, in one statement, where its claim still
/// holds the lease.
async fn move_on(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    attempts: &[&Attempt],
    now: i64,
) -> Result<(), StoreError> {
    let sql = format!(
        "WITH moved (id, lease, status, attempts, next_at) AS (VALUES {}) \
         UPDATE deliveries SET status = moved.status, attempts = moved.attempts, \
         next_attempt_at = moved.next_at, lease_until = NULL, leased_by = NULL, \
         updated_at = ${} \
         FROM moved WHERE deliveries.id = moved.id AND deliveries.leased_by = moved.lease \
         AND deliveries.status = 'pending'",
        placeholders(attempts.len(), 5),
        attempts.len() * 5 + 1
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for a in attempts {
        let c = &a.claimed;
        let (status, attempts, next_at) = match a.next {
            Next::Succeeded => ("succeeded", c.attempt, now),
            Next::RetryAt(at) => ("pending", c.attempt, at),
            Next::Failed => ("failed", c.attempt, now),
            Next::Skipped => ("skipped", c.attempt - 1, now),
            Next::Released => ("pending", c.attempt - 1, now),
        };
        query = query
            .bind(c.delivery_id.to_string())
            .bind(c.lease.clone())
            .bind(status)
            .bind(i64::from(attempts))
            .bind(next_at);
    }
    query.bind(now).execute(&mut **tx).await?;
    Ok(())
}

/// Webhooks per claim statement, and events per read.
const WEBHOOKS_PER_CLAIM: usize = 16;
const EVENTS_PER_READ: usize = 200;

/// `$from, $from+1, …`: `count` parameters.
fn params(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A delivery row just leased, before its event and target are attached.
struct Leased {
    delivery_id: DeliveryId,
    event_id: EventId,
    webhook_id: WebhookId,
    organization: OrganizationId,
    attempts: i64,
}

fn leased_from(row: &AnyRow) -> Result<Leased, StoreError> {
    Ok(Leased {
        delivery_id: parsed("id", &text(row, "id")?, DeliveryId::parse)?,
        event_id: parsed("event_id", &text(row, "event_id")?, EventId::parse)?,
        webhook_id: parsed("webhook_id", &text(row, "webhook_id")?, WebhookId::parse)?,
        organization: parsed(
            "organization_id",
            &text(row, "organization_id")?,
            OrganizationId::parse,
        )?,
        attempts: int(row, "attempts")?,
    })
}

impl Leased {
    fn claimed(
        self,
        lease: &str,
        targets: &HashMap<WebhookId, Arc<Target>>,
        bodies: &HashMap<EventId, (EventType, String)>,
    ) -> Result<Claimed, StoreError> {
        let (event_type, body) = bodies
            .get(&self.event_id)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("no event {}", self.event_id)))?;
        Ok(Claimed {
            delivery_id: self.delivery_id,
            event_id: self.event_id,
            event_type,
            webhook_id: self.webhook_id,
            organization: self.organization,
            attempt: u32::try_from(self.attempts + 1).unwrap_or(u32::MAX),
            body,
            lease: lease.to_owned(),
            target: targets
                .get(&self.webhook_id)
                .cloned()
                // Deleted since: nothing to send to.
                .unwrap_or_else(|| Arc::new(Target::gone(self.webhook_id))),
        })
    }
}

const TARGET_COLUMNS: &str = "id, url, headers, headers_sealed, headers_key_id, enabled, \
    retry_attempts, retry_delay_ms, \
    retry_exponential, retry_max_delay_ms, timeout_ms, secret, secret_key_id, previous_secret, \
    previous_secret_key_id, previous_secret_expires_at";

/// A delivery row joined with its event (`event_type`, `body`).
fn claimed_from(
    row: &AnyRow,
    lease: &str,
    targets: &HashMap<WebhookId, Arc<Target>>,
) -> Result<Claimed, StoreError> {
    let leased = leased_from(row)?;
    let event = (
        parsed("event_type", &text(row, "event_type")?, str::parse)?,
        text(row, "body")?,
    );
    let bodies = HashMap::from([(leased.event_id, event)]);
    leased.claimed(lease, targets, &bodies)
}

impl Target {
    /// A deleted webhook: disabled, nowhere to send.
    fn gone(webhook_id: WebhookId) -> Self {
        Self {
            webhook_id,
            url: EndpointUrl::parse("https://deleted.invalid/", UrlPolicy::HttpsOnly)
                .expect("a valid URL"),
            retry: RetryPolicy::default(),
            timeout: None,
            enabled: false,
            sealed: Ok(Opened::default()),
        }
    }
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

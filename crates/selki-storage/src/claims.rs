//! The worker's side, first half: which webhooks have due deliveries, and
//! claiming them under a lease (short statements, no transaction held
//! during the HTTP call), with the webhook as it is now and the event's
//! body. Recording the attempts is `record`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use selki_domain::{
    CallId, CallTrigger, Claimed, DeliveryId, EndpointUrl, EventId, LeaseToken, Opened,
    OrganizationId, Target, TargetState, TraceParent, UrlPolicy, WebhookId,
};
use selki_webhooks::{EventType, Webhook};
use sqlx::Any;
use sqlx::any::AnyRow;

use crate::alerting::{destination_from, limits_from};
use crate::sql::{int, list, opt_int, opt_text, parsed, status, text};
use crate::webhooks::{retry_from, timeout_from};
use crate::{Scope, Store, StoreError};

impl Store {
    /// The webhooks that have due deliveries (some may be leased), by
    /// id. One index probe per webhook (a loose index scan), however long
    /// its queue: the claim loop asks this before every round.
    pub async fn due_webhooks(&self) -> Result<Vec<WebhookId>, StoreError> {
        let rows = sqlx::query(concat!(
            "WITH RECURSIVE due (id) AS ( \
               SELECT MIN(webhook_id) FROM deliveries \
                 WHERE status = ",
            status!(Pending),
            " AND next_attempt_at <= $1 \
               UNION ALL \
               SELECT (SELECT MIN(webhook_id) FROM deliveries \
                 WHERE status = ",
            status!(Pending),
            " AND next_attempt_at <= $1 AND webhook_id > due.id) \
               FROM due WHERE due.id IS NOT NULL) \
             SELECT id FROM due WHERE id IS NOT NULL"
        ))
        .bind(self.now().as_millis())
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
        let targets = self.targets(wants.iter().map(|(w, _)| *w)).await?;
        let limits = |w: &WebhookId| targets.get(w).map(|t| t.limits).filter(|l| l.is_limited());
        let (limited, free): (Vec<Want>, Vec<Want>) =
            wants.iter().partition(|(w, _)| limits(w).is_some());
        // A token per claim: a later record only counts while it holds.
        let lease_token = LeaseToken::new(worker, now);
        let mut leased = Vec::new();
        if !free.is_empty() {
            let rows = self
                .claim_query(&free, &lease_token, lease)
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                leased.push(leased_from(row)?);
            }
        }
        for (webhook, n) in &limited {
            let Some(limits) = limits(webhook) else {
                continue;
            };
            leased.extend(
                self.claim_limited(&lease_token, lease, (*webhook, *n), limits)
                    .await?,
            );
        }
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let bodies = self.bodies(&leased).await?;
        leased
            .into_iter()
            .map(|l| l.claimed(Some(&lease_token), &targets, &bodies))
            .collect()
    }

    /// Leases up to `n` due deliveries of each webhook of `wants`: one
    /// statement, returning the leased rows.
    pub(crate) fn claim_query<'q>(
        &self,
        wants: &[(WebhookId, u32)],
        lease_token: &LeaseToken,
        lease: Duration,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
        let now = self.now();
        let lock = self.backend.skip_locked();
        // $1 now, $2 lease end, $3 lease token; then per webhook its id and
        // how many. Each pick walks its own webhook's part of the index.
        let picks: Vec<String> = (0..wants.len())
            .map(|i| {
                format!(
                    concat!(
                        "p{i} AS MATERIALIZED (SELECT id FROM deliveries \
                         WHERE webhook_id = ${webhook} AND status = ",
                        status!(Pending),
                        " AND next_attempt_at <= $1 \
                         AND (lease_until IS NULL OR lease_until <= $1) \
                         ORDER BY next_attempt_at LIMIT ${limit} {lock})"
                    ),
                    i = i,
                    webhook = 4 + 2 * i,
                    limit = 5 + 2 * i,
                    lock = lock,
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
             deliveries.organization_id, deliveries.attempts, deliveries.round_start, \
             deliveries.round_trigger, deliveries.next_attempt_at",
            picks.join(", "),
            union.join(" UNION ALL ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now.as_millis())
            .bind(now.plus(lease).as_millis())
            .bind(lease_token.as_str().to_owned());
        for (webhook, n) in wants {
            query = query.bind(webhook.to_string()).bind(i64::from(*n));
        }
        query
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
            "SELECT d.id, d.event_id, d.webhook_id, d.organization_id, d.attempts, d.next_attempt_at, \
             d.round_start, d.round_trigger, e.event_type, e.body, e.traceparent FROM calls c JOIN deliveries d ON d.id = c.delivery_id \
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
        claimed_from(&row, None, &targets).map(Some)
    }

    /// The stored targets of these webhooks (deleted ones left out).
    async fn targets(
        &self,
        ids: impl ExactSizeIterator<Item = WebhookId>,
    ) -> Result<HashMap<WebhookId, Arc<Target>>, StoreError> {
        let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM webhooks WHERE deleted_at IS NULL AND id IN ({})",
            list(1, ids.len())
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

    /// Each leased delivery's event: its type, body and trace, by event id.
    async fn bodies(&self, leased: &[Leased]) -> Result<HashMap<EventId, Body>, StoreError> {
        let mut bodies = HashMap::with_capacity(leased.len());
        for chunk in leased.chunks(EVENTS_PER_READ) {
            let sql = format!(
                "SELECT id, event_type, body, traceparent FROM events WHERE id IN ({})",
                list(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for l in chunk {
                query = query.bind(l.event_id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                bodies.insert(
                    parsed("id", &text(&row, "id")?, EventId::parse)?,
                    body_from(&row)?,
                );
            }
        }
        Ok(bodies)
    }

    pub(crate) fn target_from(&self, row: &AnyRow) -> Result<Target, StoreError> {
        let webhook_id = parsed("id", &text(row, "id")?, WebhookId::parse)?;
        let opened = self.live_secrets(row, webhook_id).and_then(|secrets| {
            Ok(Opened {
                // Keyed once here: every call of this claim signs with it.
                signers: secrets.into_iter().map(Webhook::from_secret).collect(),
                headers: self.open_headers(row, webhook_id)?,
                credential: self.open_credential(row, webhook_id)?,
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
            destination: destination_from(row)?,
            limits: limits_from(row)?,
            sealed,
        })
    }
}

/// A webhook, and how many of its due deliveries to claim.
type Want = (WebhookId, u32);

/// Webhooks per claim statement, and events per read.
const WEBHOOKS_PER_CLAIM: usize = 16;
const EVENTS_PER_READ: usize = 200;

/// What a delivery POSTs, from its event.
#[derive(Debug, Clone)]
struct Body {
    event_type: EventType,
    body: String,
    traceparent: Option<TraceParent>,
}

fn body_from(row: &AnyRow) -> Result<Body, StoreError> {
    Ok(Body {
        event_type: parsed("event_type", &text(row, "event_type")?, str::parse)?,
        body: text(row, "body")?,
        // One that no longer parses is dropped, not fatal: it only joins traces.
        traceparent: opt_text(row, "traceparent")?.and_then(|t| TraceParent::parse(&t)),
    })
}

/// A delivery row just leased, before its event and target are attached.
pub(crate) struct Leased {
    delivery_id: DeliveryId,
    event_id: EventId,
    webhook_id: WebhookId,
    organization: OrganizationId,
    attempts: i64,
    round_start: i64,
    trigger: CallTrigger,
    /// When it was due: claims of a webhook start in this order.
    pub(crate) due_at: i64,
    /// How long after the claim it may be sent (its rate slot).
    pub(crate) pace: Duration,
}

pub(crate) fn leased_from(row: &AnyRow) -> Result<Leased, StoreError> {
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
        round_start: int(row, "round_start")?,
        trigger: match opt_text(row, "round_trigger")? {
            None => CallTrigger::Automatic,
            Some(t) => parsed("round_trigger", &t, |t| {
                CallTrigger::parse(t).ok_or("unknown trigger")
            })?,
        },
        due_at: opt_int(row, "next_attempt_at")?.unwrap_or(0),
        pace: Duration::ZERO,
    })
}

impl Leased {
    pub(crate) fn delivery_id(&self) -> DeliveryId {
        self.delivery_id
    }

    fn claimed(
        self,
        lease: Option<&LeaseToken>,
        targets: &HashMap<WebhookId, Arc<Target>>,
        bodies: &HashMap<EventId, Body>,
    ) -> Result<Claimed, StoreError> {
        let body = bodies
            .get(&self.event_id)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("no event {}", self.event_id)))?;
        let number = |n: i64| u32::try_from(n + 1).unwrap_or(u32::MAX);
        Ok(Claimed {
            delivery_id: self.delivery_id,
            event_id: self.event_id,
            event_type: body.event_type,
            webhook_id: self.webhook_id,
            organization: self.organization,
            attempt: number(self.attempts),
            round_attempt: number(self.attempts - self.round_start),
            trigger: self.trigger,
            body: body.body,
            traceparent: body.traceparent,
            lease: lease.cloned(),
            target: targets
                .get(&self.webhook_id)
                .cloned()
                .map_or(TargetState::Deleted, TargetState::Live),
            pace: self.pace,
        })
    }
}

pub(crate) const TARGET_COLUMNS: &str = "id, url, headers, headers_sealed, headers_key_id, enabled, \
    retry_attempts, retry_delay_ms, \
    retry_exponential, retry_max_delay_ms, timeout_ms, secret, secret_key_id, previous_secret, \
    previous_secret_key_id, previous_secret_expires_at, destination, credential, credential_key_id, \
    max_per_second, max_in_flight";

/// A delivery row joined with its event (`event_type`, `body`, `traceparent`).
fn claimed_from(
    row: &AnyRow,
    lease: Option<&LeaseToken>,
    targets: &HashMap<WebhookId, Arc<Target>>,
) -> Result<Claimed, StoreError> {
    let leased = leased_from(row)?;
    let bodies = HashMap::from([(leased.event_id, body_from(row)?)]);
    leased.claimed(lease, targets, &bodies)
}

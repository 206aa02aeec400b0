//! Submitting events: each event and all its deliveries in one
//! transaction (several submissions share one through `group_commit`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use selki_domain::{
    CallTrigger, Claimed, ContentFilter, DeliveryId, DeliveryStatus, EventId, EventTypes,
    LeaseToken, Target, TargetState, UnixMs, WebhookId,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use tokio::sync::OwnedSemaphorePermit;

use crate::claims::TARGET_COLUMNS;
use crate::liveness::WriteKind;
use crate::sql::{int, opt_bytes, opt_text, parsed, placeholders, placeholders_with, text};
use crate::{Accepted, Intake, NewEvent, Store, StoreError};

/// Rows per multi-row INSERT: 10 and 7 parameters each, well under
/// SQLite's and PostgreSQL's parameter limits. A batch of events costs a
/// handful of statements, not two per event.
pub(crate) const EVENTS_PER_INSERT: usize = 100;
pub(crate) const DELIVERIES_PER_INSERT: usize = 200;

/// A subscribed webhook as ingestion sees it.
pub(crate) struct Subscriber {
    pub id: String,
    event_types: EventTypes,
    pub enabled: bool,
    /// `None` for the (common) webhook without one.
    filter: Option<ContentFilter>,
    /// Its row with the target's columns, when loaded for a hand-over to
    /// this process's worker.
    row: Option<AnyRow>,
    /// The target, opened from `row` the first time a delivery of this
    /// webhook is handed over: a webhook that takes none of a submission's
    /// events costs no decryption.
    handable: OnceLock<Option<Arc<Target>>>,
}

impl Subscriber {
    /// The webhook to hand a delivery to this process's worker with:
    /// enabled, and with no rate limit (a limited webhook's pace is set by
    /// its claims). A row that cannot be read is left to the claim, which
    /// reports it.
    fn handable(&self, store: &Store) -> Option<&Arc<Target>> {
        self.handable
            .get_or_init(|| {
                let target = store.target_from(self.row.as_ref()?).ok()?;
                (target.enabled && !target.limits.is_limited()).then(|| Arc::new(target))
            })
            .as_ref()
    }
}

impl Subscriber {
    pub(crate) fn wants(&self, event: &NewEvent) -> bool {
        self.event_types.contains(event.event_type)
            && self.filter.as_ref().is_none_or(|f| f.admits(&event.facts))
    }
}

impl Store {
    /// Stores a batch of events with one delivery per subscribed webhook of
    /// each event's organization: `pending` for enabled webhooks, `skipped`
    /// (recoverable) for disabled ones. All or nothing: on any error no
    /// event of the batch is stored.
    ///
    /// A client event id seen before returns the first event (a duplicate)
    /// if the submission matches it, and fails the batch if it does not.
    pub async fn submit_events(&self, events: &[NewEvent]) -> Result<Vec<Accepted>, StoreError> {
        // Two submissions racing with one client event id: the loser hits
        // the unique index, rolls back, and on its second try finds the
        // winner's event.
        let result = match self.try_submit(events).await {
            Err(StoreError::Refused(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                self.try_submit(events).await
            }
            other => other,
        };
        self.writability
            .observe(WriteKind::Work, &result, self.now());
        result
    }

    async fn try_submit(&self, events: &[NewEvent]) -> Result<Vec<Accepted>, StoreError> {
        let now = self.now();
        let intake = self.intake.current();
        let mut handover = intake.map(|intake| Handover::new(intake, now));
        let mut tx = self.begin().await?;
        let mut subscribers: HashMap<&str, Vec<Subscriber>> = HashMap::new();
        let with_targets = handover.is_some();
        for event in events {
            let org = event.organization.as_str();
            if !subscribers.contains_key(org) {
                subscribers.insert(org, load_subscribers(&mut tx, org, with_targets).await?);
            }
        }
        let mut accepted: Vec<Accepted> = Vec::with_capacity(events.len());
        let mut fresh: Vec<(&NewEvent, EventId, u32)> = Vec::with_capacity(events.len());
        let mut deliveries: Vec<NewDelivery<'_>> = Vec::new();
        // Client event ids first stored by this very batch: (org, id) →
        // (index in `events`, index in `accepted`).
        let mut in_batch: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
        for (index, event) in events.iter().enumerate() {
            let org = event.organization.as_str();
            if let Some(client_event_id) = &event.client_event_id {
                if let Some(&(first, at)) = in_batch.get(&(org, client_event_id.as_str())) {
                    if events[first].fingerprint != event.fingerprint {
                        return Err(StoreError::ClientEventIdConflict {
                            index,
                            client_event_id: client_event_id.clone(),
                        });
                    }
                    accepted.push(Accepted {
                        duplicate: true,
                        ..accepted[at]
                    });
                    continue;
                }
                if let Some(first) = find_duplicate(&mut tx, index, event).await? {
                    accepted.push(first);
                    continue;
                }
                in_batch.insert((org, client_event_id.as_str()), (index, accepted.len()));
            }
            let event_id = EventId::at(now);
            let mut pending = 0;
            for subscriber in subscribers[org].iter().filter(|s| s.wants(event)) {
                pending += u32::from(subscriber.enabled);
                let id = DeliveryId::at(now);
                let leased = handover
                    .as_mut()
                    .is_some_and(|h| h.reserve(self, id, event, event_id, subscriber));
                deliveries.push(NewDelivery {
                    id,
                    event_id,
                    organization: org,
                    subscriber,
                    leased,
                });
            }
            fresh.push((event, event_id, pending));
            accepted.push(Accepted {
                event_id,
                delivery_count: pending,
                duplicate: false,
            });
        }
        if deliveries.len() > self.limits.deliveries_per_submission {
            return Err(StoreError::TooManyDeliveries {
                deliveries: deliveries.len(),
                max: self.limits.deliveries_per_submission,
            });
        }
        for chunk in fresh.chunks(EVENTS_PER_INSERT) {
            insert_events(&mut tx, chunk, now).await?;
        }
        claim_client_ids(&mut tx, &fresh).await?;
        let lease = handover.as_ref().map(Handover::lease);
        for chunk in deliveries.chunks(DELIVERIES_PER_INSERT) {
            insert_deliveries(&mut tx, chunk, now, lease).await?;
        }
        // Due for a claim: the pending deliveries not handed over.
        let due = deliveries.iter().any(|d| d.subscriber.enabled && !d.leased);
        if due {
            self.notify_due_on_commit(&mut tx).await?;
        }
        tx.commit().await.map_err(StoreError::at_commit)?;
        if due {
            self.announce_due_locally();
        }
        if let Some(handover) = handover {
            handover.hand_over();
        }
        Ok(accepted)
    }
}

/// A delivery to create for a new event.
pub(crate) struct NewDelivery<'a> {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub organization: &'a str,
    pub subscriber: &'a Subscriber,
    /// Inserted already leased to this process's worker.
    pub leased: bool,
}

/// One submission's deliveries for this process's worker: reserved while
/// the transaction is built, handed over once it has committed (dropped
/// with it on failure, which frees their places).
struct Handover {
    intake: Arc<dyn Intake>,
    token: LeaseToken,
    until: UnixMs,
    promised: HashMap<WebhookId, usize>,
    fresh: Vec<(Claimed, OwnedSemaphorePermit)>,
}

impl Handover {
    fn new(intake: Arc<dyn Intake>, now: UnixMs) -> Self {
        Self {
            token: LeaseToken::new(intake.worker(), now),
            until: now.plus(intake.lease()),
            intake,
            promised: HashMap::new(),
            fresh: Vec::new(),
        }
    }

    fn lease(&self) -> (&LeaseToken, UnixMs) {
        (&self.token, self.until)
    }

    /// Whether the worker takes this delivery: if so it is inserted leased.
    fn reserve(
        &mut self,
        store: &Store,
        id: DeliveryId,
        event: &NewEvent,
        event_id: EventId,
        subscriber: &Subscriber,
    ) -> bool {
        if !subscriber.enabled {
            return false;
        }
        let Some(target) = subscriber.handable(store) else {
            return false;
        };
        let promised = self.promised.entry(target.webhook_id).or_default();
        let Some(permit) = self.intake.reserve(target.webhook_id, *promised) else {
            return false;
        };
        *promised += 1;
        let claimed = Claimed {
            delivery_id: id,
            event_id,
            event_type: event.event_type,
            webhook_id: target.webhook_id,
            organization: event.organization.clone(),
            attempt: 1,
            round_attempt: 1,
            trigger: CallTrigger::Automatic,
            body: event.body.clone(),
            traceparent: event.traceparent.clone(),
            lease: Some(self.token.clone()),
            target: TargetState::Live(target.clone()),
            pace: Duration::ZERO,
        };
        self.fresh.push((claimed, permit));
        true
    }

    fn hand_over(self) {
        if !self.fresh.is_empty() {
            self.intake.take(self.fresh);
        }
    }
}

async fn find_duplicate(
    tx: &mut Transaction<'static, Any>,
    index: usize,
    event: &NewEvent,
) -> Result<Option<Accepted>, StoreError> {
    let Some(client_event_id) = &event.client_event_id else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT id, fingerprint, delivery_count FROM events \
         WHERE organization_id = $1 AND client_event_id = $2",
    )
    .bind(event.organization.as_str().to_owned())
    .bind(client_event_id.clone())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if opt_bytes(&row, "fingerprint")?.as_deref() != Some(event.fingerprint.as_slice()) {
        return Err(StoreError::ClientEventIdConflict {
            index,
            client_event_id: client_event_id.clone(),
        });
    }
    Ok(Some(Accepted {
        event_id: parsed("id", &text(&row, "id")?, EventId::parse)?,
        delivery_count: u32::try_from(int(&row, "delivery_count")?).unwrap_or(0),
        duplicate: true,
    }))
}

/// An organization's live webhooks; `with_targets`, each with the columns
/// of its target, to hand fresh deliveries over with.
pub(crate) async fn load_subscribers(
    tx: &mut Transaction<'static, Any>,
    organization: &str,
    with_targets: bool,
) -> Result<Vec<Subscriber>, StoreError> {
    let columns = match with_targets {
        true => TARGET_COLUMNS,
        false => "id, enabled",
    };
    let sql = format!(
        "SELECT event_types, content_filter, {columns} FROM webhooks \
         WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(organization.to_owned())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter()
        .map(|row| {
            let bits = u32::try_from(int(&row, "event_types")?).unwrap_or(0);
            Ok(Subscriber {
                // Only written back into deliveries: kept as the stored text.
                id: text(&row, "id")?,
                event_types: EventTypes::from_bits(bits)
                    .ok_or_else(|| StoreError::Corrupt("event_types".into()))?,
                enabled: int(&row, "enabled")? != 0,
                filter: match opt_text(&row, "content_filter")? {
                    None => None,
                    Some(_) => Some(crate::alerting::filter_from(&row)?),
                },
                row: with_targets.then_some(row),
                handable: OnceLock::new(),
            })
        })
        .collect()
}

pub(crate) async fn insert_events(
    tx: &mut Transaction<'static, Any>,
    events: &[(&NewEvent, EventId, u32)],
    now: UnixMs,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO events (id, organization_id, event_type, client_event_id, fingerprint, \
         body, delivery_count, occurred_at, created_at, traceparent) VALUES {}",
        placeholders(events.len(), 10)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (event, id, delivery_count) in events {
        query = query
            .bind(id.to_string())
            .bind(event.organization.as_str().to_owned())
            .bind(event.event_type.as_str())
            .bind(event.client_event_id.clone())
            .bind(event.fingerprint.to_vec())
            .bind(event.body.clone())
            .bind(i64::from(*delivery_count))
            .bind(event.occurred_at.as_millis())
            .bind(now.as_millis())
            .bind(event.traceparent.as_ref().map(|t| t.as_str().to_owned()));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Takes each fresh event's client event id: the table's unique key is
/// what makes the loser of two racing submissions roll back and find the
/// winner's event.
async fn claim_client_ids(
    tx: &mut Transaction<'static, Any>,
    fresh: &[(&NewEvent, EventId, u32)],
) -> Result<(), StoreError> {
    let claimed: Vec<(&NewEvent, &str, EventId)> = fresh
        .iter()
        .filter_map(|(event, id, _)| Some((*event, event.client_event_id.as_deref()?, *id)))
        .collect();
    for chunk in claimed.chunks(EVENTS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO event_client_ids (organization_id, client_event_id, event_id) VALUES {}",
            placeholders(chunk.len(), 3)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (event, client_event_id, id) in chunk {
            query = query
                .bind(event.organization.as_str().to_owned())
                .bind((*client_event_id).to_owned())
                .bind(id.to_string());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts `deliveries`; those marked leased under `lease` (the token and
/// its end), the others free for any worker's claim.
pub(crate) async fn insert_deliveries(
    tx: &mut Transaction<'static, Any>,
    deliveries: &[NewDelivery<'_>],
    now: UnixMs,
    lease: Option<(&LeaseToken, UnixMs)>,
) -> Result<(), StoreError> {
    // `now` is the last parameter: created, updated and first due at once.
    let now_param = format!(", 0, ${0}, ${0}, ${0}", deliveries.len() * 7 + 1);
    let sql = format!(
        "INSERT INTO deliveries (id, event_id, webhook_id, organization_id, status, \
         lease_until, leased_by, attempts, next_attempt_at, created_at, updated_at) VALUES {}",
        placeholders_with(deliveries.len(), 7, &now_param)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for d in deliveries {
        let status = if d.subscriber.enabled {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Skipped
        };
        let lease = lease.filter(|_| d.leased);
        query = query
            .bind(d.id.to_string())
            .bind(d.event_id.to_string())
            .bind(d.subscriber.id.clone())
            .bind(d.organization.to_owned())
            .bind(status.as_str())
            .bind(lease.map(|(_, until)| until.as_millis()))
            .bind(lease.map(|(token, _)| token.as_str().to_owned()));
    }
    query.bind(now.as_millis()).execute(&mut **tx).await?;
    Ok(())
}

impl Store {
    /// Each delivery of an event: its webhook and status, by webhook id.
    pub async fn delivery_statuses(
        &self,
        event_id: EventId,
    ) -> Result<Vec<(WebhookId, DeliveryStatus)>, StoreError> {
        let rows = sqlx::query(
            "SELECT webhook_id, status FROM deliveries WHERE event_id = $1 ORDER BY webhook_id",
        )
        .bind(event_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parsed("webhook_id", &text(row, "webhook_id")?, WebhookId::parse)?,
                    parsed("status", &text(row, "status")?, |s| {
                        DeliveryStatus::parse(s).ok_or("unknown status")
                    })?,
                ))
            })
            .collect()
    }
}

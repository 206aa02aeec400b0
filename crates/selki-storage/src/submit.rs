//! Submitting events: each event and all its deliveries in one
//! transaction (several submissions share one through `group_commit`).

use std::collections::HashMap;

use selki_domain::{
    ContentFilter, DeliveryId, DeliveryStatus, EventId, EventTypes, UnixMs, WebhookId,
};
use sqlx::{Any, Transaction};

use crate::liveness::WriteKind;
use crate::sql::{int, opt_bytes, opt_text, parsed, placeholders, placeholders_with, text};
use crate::{Accepted, NewEvent, Store, StoreError};

/// Rows per multi-row INSERT: 10 and 5 parameters each, well under
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
        let mut tx = self.begin().await?;
        let mut subscribers: HashMap<&str, Vec<Subscriber>> = HashMap::new();
        for event in events {
            let org = event.organization.as_str();
            if !subscribers.contains_key(org) {
                subscribers.insert(org, load_subscribers(&mut tx, org).await?);
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
                deliveries.push(NewDelivery {
                    event_id,
                    organization: org,
                    subscriber,
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
        for chunk in deliveries.chunks(DELIVERIES_PER_INSERT) {
            insert_deliveries(&mut tx, chunk, now).await?;
        }
        let due = accepted
            .iter()
            .any(|a| !a.duplicate && a.delivery_count > 0);
        if due {
            self.notify_due_on_commit(&mut tx).await?;
        }
        tx.commit().await.map_err(StoreError::at_commit)?;
        if due {
            self.announce_due_locally();
        }
        Ok(accepted)
    }
}

/// A delivery to create for a new event.
pub(crate) struct NewDelivery<'a> {
    pub event_id: EventId,
    pub organization: &'a str,
    pub subscriber: &'a Subscriber,
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

pub(crate) async fn load_subscribers(
    tx: &mut Transaction<'static, Any>,
    organization: &str,
) -> Result<Vec<Subscriber>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, event_types, enabled, content_filter FROM webhooks \
         WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY id",
    )
    .bind(organization.to_owned())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            let bits = u32::try_from(int(row, "event_types")?).unwrap_or(0);
            Ok(Subscriber {
                // Only written back into deliveries: kept as the stored text.
                id: text(row, "id")?,
                event_types: EventTypes::from_bits(bits)
                    .ok_or_else(|| StoreError::Corrupt("event_types".into()))?,
                enabled: int(row, "enabled")? != 0,
                filter: match opt_text(row, "content_filter")? {
                    None => None,
                    Some(_) => Some(crate::alerting::filter_from(row)?),
                },
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

pub(crate) async fn insert_deliveries(
    tx: &mut Transaction<'static, Any>,
    deliveries: &[NewDelivery<'_>],
    now: UnixMs,
) -> Result<(), StoreError> {
    // `now` is the last parameter: created, updated and first due at once.
    let now_param = format!(", 0, ${0}, ${0}, ${0}", deliveries.len() * 5 + 1);
    let sql = format!(
        "INSERT INTO deliveries (id, event_id, webhook_id, organization_id, status, \
         attempts, next_attempt_at, created_at, updated_at) VALUES {}",
        placeholders_with(deliveries.len(), 5, &now_param)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for d in deliveries {
        let status = if d.subscriber.enabled {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Skipped
        };
        query = query
            .bind(DeliveryId::at(now).to_string())
            .bind(d.event_id.to_string())
            .bind(d.subscriber.id.clone())
            .bind(d.organization.to_owned())
            .bind(status.as_str());
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

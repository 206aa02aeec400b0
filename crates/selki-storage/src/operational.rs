//! Operational events: a webhook disabled, failing or recovered, a
//! delivery out of attempts. Each is raised in the transaction of the state
//! change that causes it, so a crash neither loses nor duplicates one, as
//! an event of the webhook's organization delivered to its other webhooks
//! subscribed to it: never to the webhook it is about, so no webhook can
//! feed itself. (That a failed operational delivery raises nothing is the
//! callers' rule: they raise only for calls of other events.)

use std::collections::HashMap;

use selki_domain::{DeliveryId, EventFacts, EventId, OrganizationId, UnixMs, WebhookId};
use selki_webhooks::{Event, EventData};
use sqlx::{Any, Transaction};

use crate::sql::text;
use crate::submit::{
    DELIVERIES_PER_INSERT, EVENTS_PER_INSERT, NewDelivery, Subscriber, insert_deliveries,
    insert_events, load_subscribers,
};
use crate::{NewEvent, Store, StoreError};

/// An operational event to raise.
#[derive(Debug)]
pub(crate) struct Notice {
    pub organization: OrganizationId,
    /// The webhook it is about: never delivered to.
    pub about: WebhookId,
    pub data: EventData,
}

/// The webhook a notice is about, as its row says now.
#[derive(Debug)]
pub(crate) struct About {
    pub organization: OrganizationId,
    pub name: String,
    pub url: String,
}

impl Store {
    /// Stores each notice as an event with its deliveries, in `tx`; `true`
    /// if any delivery is due (the caller announces it after commit).
    pub(crate) async fn raise(
        &self,
        tx: &mut Transaction<'static, Any>,
        notices: Vec<Notice>,
    ) -> Result<bool, StoreError> {
        if notices.is_empty() {
            return Ok(false);
        }
        let now = self.now();
        let mut subscribers: HashMap<OrganizationId, Vec<Subscriber>> = HashMap::new();
        for notice in &notices {
            if !subscribers.contains_key(&notice.organization) {
                let loaded = load_subscribers(tx, notice.organization.as_str(), false).await?;
                subscribers.insert(notice.organization.clone(), loaded);
            }
        }
        let mut events = Vec::with_capacity(notices.len());
        for notice in &notices {
            events.push((new_event(notice, now)?, EventId::at(now)));
        }
        let mut fresh = Vec::with_capacity(events.len());
        let mut deliveries = Vec::new();
        for ((event, event_id), notice) in events.iter().zip(&notices) {
            let about = notice.about.to_string();
            let before = deliveries.len();
            let mut pending = 0;
            for subscriber in subscribers[&notice.organization]
                .iter()
                .filter(|s| s.id != about && s.wants(event))
            {
                pending += u32::from(subscriber.enabled);
                deliveries.push(NewDelivery {
                    id: DeliveryId::at(now),
                    leased: false,
                    event_id: *event_id,
                    organization: notice.organization.as_str(),
                    subscriber,
                });
            }
            // Nobody listening: the notice is not stored. Unlike a submitted
            // event, it has no idempotency key to remember, and a failing
            // receiver must not turn every exhausted delivery into a write.
            if deliveries.len() > before {
                fresh.push((event, *event_id, pending));
            }
        }
        if deliveries.is_empty() {
            return Ok(false);
        }
        for chunk in fresh.chunks(EVENTS_PER_INSERT) {
            insert_events(tx, chunk, now).await?;
        }
        for chunk in deliveries.chunks(DELIVERIES_PER_INSERT) {
            insert_deliveries(tx, chunk, now, None).await?;
        }
        self.notify_due_on_commit(tx).await?;
        Ok(true)
    }

    /// What a notice says of the webhook it is about.
    pub(crate) async fn about(
        &self,
        tx: &mut Transaction<'static, Any>,
        webhook: WebhookId,
    ) -> Result<About, StoreError> {
        let row = sqlx::query("SELECT organization_id, name, url FROM webhooks WHERE id = $1")
            .bind(webhook.to_string())
            .fetch_one(&mut **tx)
            .await?;
        about_from(&row)
    }
}

/// The webhook's organization, name and URL from a row holding them.
pub(crate) fn about_from(row: &sqlx::any::AnyRow) -> Result<About, StoreError> {
    Ok(About {
        organization: crate::sql::parsed(
            "organization_id",
            &text(row, "organization_id")?,
            OrganizationId::parse,
        )?,
        name: text(row, "name")?,
        url: text(row, "url")?,
    })
}

fn new_event(notice: &Notice, now: UnixMs) -> Result<NewEvent, StoreError> {
    let timestamp = now.to_datetime();
    let timestamp = timestamp.replace_nanosecond(0).unwrap_or(timestamp);
    let event_type = notice
        .data
        .event_type()
        .ok_or_else(|| StoreError::Corrupt("an operational event without a type".into()))?;
    let body = Event {
        timestamp,
        data: notice.data.clone(),
    }
    .to_json()
    .map_err(|e| StoreError::Corrupt(format!("operational event: {e}")))?;
    Ok(NewEvent {
        organization: notice.organization.clone(),
        event_type,
        client_event_id: None,
        // Nobody retries it by a client id: there is nothing to match.
        fingerprint: [0; 32],
        body,
        occurred_at: UnixMs::from_datetime(timestamp),
        traceparent: None,
        facts: EventFacts::default(),
    })
}

//! Recording attempts, the worker's in batches and manual calls one by
//! one. One transaction each: the deliveries move on (only while their
//! claim still holds the lease), the calls are stored, counted into the
//! rollups and their webhooks' failing streaks, and announced.

use std::collections::HashSet;

use selki_domain::{
    Attempt, CallId, CallRecord, DeliveryId, Health, Next, TargetState, UnixMs, WebhookId,
};
use selki_webhooks::{DeliveryExhausted, EventData};
use sqlx::{Any, Transaction};

use crate::liveness::WriteKind;
use crate::operational::Notice;
use crate::sql::{parsed, placeholders, status, statuses, text};
use crate::{Store, StoreError};

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

/// Deliveries per UPDATE: 5 parameters each.
const DELIVERIES_PER_UPDATE: usize = 128;

impl Store {
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
        // Deliveries running out of attempts raise DELIVERY_EXHAUSTED, but
        // only those this moved (still under this claim's lease).
        let (exhausted, rest): (Vec<&Attempt>, Vec<&Attempt>) =
            ordered.into_iter().partition(|a| raises_exhausted(a));
        for chunk in rest.chunks(DELIVERIES_PER_UPDATE) {
            move_on(&mut tx, chunk, now, false).await?;
        }
        let mut notices = Vec::new();
        for chunk in exhausted.chunks(DELIVERIES_PER_UPDATE) {
            let moved = move_on(&mut tx, chunk, now, true).await?;
            for attempt in chunk
                .iter()
                .filter(|a| moved.contains(&a.claimed.delivery_id))
            {
                notices.push(self.exhausted(&mut tx, attempt).await?);
            }
        }
        let calls: Vec<&CallRecord> = attempts.iter().filter_map(|a| a.call.as_ref()).collect();
        let disabled = self
            .record_calls(&mut tx, &calls, health, &mut notices)
            .await?;
        let mut due = self.raise(&mut tx, notices).await?;
        // A limited webhook's finished calls free places and slots that
        // every worker waits for: tell them now, not at their next poll.
        if !due && attempts.iter().any(limited) {
            self.notify_due_on_commit(&mut tx).await?;
            due = true;
        }
        tx.commit().await.map_err(StoreError::at_commit)?;
        if due {
            self.announce_due_locally();
        }
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
            sqlx::query(concat!(
                "UPDATE deliveries SET attempts = attempts + 1, updated_at = $3, \
                 status = CASE WHEN CAST($2 AS BIGINT) = 1 AND status IN ",
                statuses!(Failed, Skipped),
                " THEN ",
                status!(Succeeded),
                " ELSE status END WHERE id = $1"
            ))
            .bind(delivery.to_string())
            .bind(i64::from(call.succeeded()))
            .bind(self.now().as_millis())
            .execute(&mut *tx)
            .await?;
        }
        let mut notices = Vec::new();
        let disabled = self
            .record_calls(&mut tx, &[call], health, &mut notices)
            .await?;
        let due = self.raise(&mut tx, notices).await?;
        tx.commit().await.map_err(StoreError::at_commit)?;
        if due {
            self.announce_due_locally();
        }
        self.calls_recorded(&[call]);
        Ok(disabled)
    }

    /// Everything a batch of calls writes besides their deliveries: the
    /// calls themselves, their webhooks' failing streaks (disabling those
    /// that answered 410 Gone or failed for too long), the rollups, and
    /// (on PostgreSQL) their announcement on commit. In that order, the
    /// one every writer takes rows in: webhooks, then rollups. The
    /// operational events the streaks raise are added to `notices`.
    async fn record_calls(
        &self,
        tx: &mut Transaction<'static, Any>,
        calls: &[&CallRecord],
        health: Health,
        notices: &mut Vec<Notice>,
    ) -> Result<Vec<WebhookId>, StoreError> {
        crate::calls::insert_calls(tx, calls).await?;
        let disabled = self.move_streaks(tx, calls, health, notices).await?;
        crate::stats::add_to_rollups(tx, calls).await?;
        self.announce_calls_on_commit(tx, calls).await?;
        Ok(disabled)
    }

    /// DELIVERY_EXHAUSTED for an attempt that ran its delivery out of
    /// attempts.
    async fn exhausted(
        &self,
        tx: &mut Transaction<'static, Any>,
        attempt: &Attempt,
    ) -> Result<Notice, StoreError> {
        let c = &attempt.claimed;
        let about = self.about(tx, c.webhook_id).await?;
        let call = attempt.call.as_ref();
        Ok(Notice {
            organization: about.organization,
            about: c.webhook_id,
            data: EventData::DeliveryExhausted(DeliveryExhausted {
                webhook_id: c.webhook_id.to_string(),
                webhook_name: about.name,
                url: about.url,
                event_id: c.event_id.to_string(),
                delivery_id: c.delivery_id.to_string(),
                subscription: c.event_type.as_str().to_owned(),
                attempts: c.attempt,
                last_outcome: call.map_or("not_sent", |c| c.outcome.as_str()).to_owned(),
                last_http_status: call.and_then(|c| c.http_status),
                last_error: call.and_then(|c| c.error_message.clone()),
            }),
        })
    }
}

/// Whether the attempt's webhook has limits across workers.
fn limited(attempt: &Attempt) -> bool {
    match &attempt.claimed.target {
        TargetState::Live(target) => target.limits.is_limited(),
        TargetState::Deleted => false,
    }
}

/// Whether recording this attempt raises DELIVERY_EXHAUSTED: the last
/// attempt of a delivery of an event that is not itself operational.
fn raises_exhausted(attempt: &Attempt) -> bool {
    attempt.next == Next::Failed && !attempt.claimed.event_type.is_operational()
}

/// Each delivery's new status, in one statement, where its claim still
/// holds the lease; with `returning`, the deliveries it moved.
async fn move_on(
    tx: &mut Transaction<'static, Any>,
    attempts: &[&Attempt],
    now: UnixMs,
    returning: bool,
) -> Result<HashSet<DeliveryId>, StoreError> {
    let sql = format!(
        concat!(
            "WITH moved (id, lease, status, attempts, next_at) AS (VALUES {values}) \
             UPDATE deliveries SET status = moved.status, attempts = moved.attempts, \
             next_attempt_at = moved.next_at, lease_until = NULL, leased_by = NULL, \
             updated_at = ${now} \
             FROM moved WHERE deliveries.id = moved.id AND deliveries.leased_by = moved.lease \
             AND deliveries.status = ",
            status!(Pending),
            "{returning}"
        ),
        values = placeholders(attempts.len(), 5),
        now = attempts.len() * 5 + 1,
        returning = if returning {
            " RETURNING deliveries.id"
        } else {
            ""
        }
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for a in attempts {
        let c = &a.claimed;
        // A claim not attempted keeps the count it had.
        let made = if a.next.attempted() {
            c.attempt
        } else {
            c.attempt - 1
        };
        let next_at = match a.next {
            Next::RetryAt(at) => at,
            _ => now,
        };
        query = query
            .bind(c.delivery_id.to_string())
            .bind(c.lease.as_ref().map(|l| l.as_str().to_owned()))
            .bind(a.next.status().as_str())
            .bind(i64::from(made))
            .bind(next_at.as_millis());
    }
    let query = query.bind(now.as_millis());
    if !returning {
        query.execute(&mut **tx).await?;
        return Ok(HashSet::new());
    }
    let rows = query.fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|row| parsed("id", &text(row, "id")?, DeliveryId::parse))
        .collect()
}

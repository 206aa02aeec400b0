//! Per-webhook limits across every worker: at most `max_in_flight` calls
//! at once and `max_deliveries_per_second` started per second, whichever
//! process makes them. A limited webhook is claimed on its own, under a
//! lock on its row: the claim counts the calls in flight (`in_flight`) and
//! takes rate slots from the webhook's schedule (`rate_next_at`, one slot
//! every 1/rate seconds), so two workers can never both take the last
//! place. What does not fit stays in the queue, in the database, not in a
//! worker's memory. Unlimited webhooks never come here.

use std::num::NonZeroU32;
use std::time::Duration;

use selki_domain::{DeliveryLimits, LeaseToken, UnixMs, WebhookId};
use sqlx::{Any, Transaction};

use crate::claims::{Leased, leased_from};
use crate::dialect::Backend;
use crate::sql::{count, opt_int, placeholders};
use crate::{Store, StoreError};

/// Slots are handed out at most this far ahead (or a quarter of the lease,
/// if shorter): a claimed delivery waits for its slot in the worker, so
/// the horizon bounds that wait, and how much of the rate a dead worker's
/// claims hold until their leases end.
const HORIZON: Duration = Duration::from_secs(1);

impl Store {
    /// Leases up to `n` of the webhook's due deliveries, as many as its
    /// limits let start within the horizon; each with its rate slot.
    pub(crate) async fn claim_limited(
        &self,
        lease_token: &LeaseToken,
        lease: Duration,
        (webhook, n): (WebhookId, u32),
        limits: DeliveryLimits,
    ) -> Result<Vec<Leased>, StoreError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let sql = format!("SELECT rate_next_at FROM webhooks WHERE id = $1{lock}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        let mut room = n;
        if let Some(max) = limits.in_flight {
            room = room.min(free_places(&mut tx, webhook, max, now).await?);
        }
        let stored = opt_int(&row, "rate_next_at")?;
        let schedule = limits.per_second.map(|rate| {
            let horizon = HORIZON.min(lease / 4);
            Schedule::new(rate, stored, now, horizon)
        });
        if let Some(schedule) = &schedule {
            room = room.min(schedule.slots());
        }
        if room == 0 {
            return Ok(Vec::new());
        }
        let rows = self
            .claim_query(&[(webhook, room)], lease_token, lease)
            .fetch_all(&mut *tx)
            .await?;
        let mut leased = rows
            .iter()
            .map(leased_from)
            .collect::<Result<Vec<_>, _>>()?;
        leased.sort_by_key(|l| (l.due_at, l.delivery_id()));
        if let Some(schedule) = &schedule {
            for (i, l) in leased.iter_mut().enumerate() {
                l.pace = schedule.pace(i);
            }
            sqlx::query("UPDATE webhooks SET rate_next_at = $2 WHERE id = $1")
                .bind(webhook.to_string())
                .bind(schedule.after(leased.len()))
                .execute(&mut *tx)
                .await?;
        }
        if limits.in_flight.is_some() && !leased.is_empty() {
            hold_places(&mut tx, webhook, &leased, lease_token, now.plus(lease)).await?;
        }
        tx.commit().await.map_err(StoreError::at_commit)?;
        Ok(leased)
    }
}

/// A rate limit's schedule, in microseconds since the epoch.
#[derive(Debug)]
struct Schedule {
    now: i64,
    /// The first free slot.
    next: i64,
    every: i64,
    until: i64,
}

impl Schedule {
    fn new(rate: NonZeroU32, stored: Option<i64>, now: UnixMs, horizon: Duration) -> Self {
        let now = now.as_millis().saturating_mul(1000);
        // Rounded up: never faster than the limit.
        let every = 1_000_000_u32.div_ceil(rate.get());
        let horizon = i64::try_from(horizon.as_micros()).unwrap_or(i64::MAX);
        let every = i64::from(every);
        Self {
            now,
            // An idle webhook's schedule starts now: no burst is saved up.
            next: stored.unwrap_or(0).max(now),
            every,
            until: now.saturating_add(horizon),
        }
    }

    /// Slots that start before the horizon.
    fn slots(&self) -> u32 {
        if self.next >= self.until {
            return 0;
        }
        let n = (self.until - self.next - 1) / self.every + 1;
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// How long from now the `i`-th claimed call may start.
    fn pace(&self, i: usize) -> Duration {
        let at = self.next + self.every * i64::try_from(i).unwrap_or(i64::MAX);
        Duration::from_micros(u64::try_from(at - self.now).unwrap_or(0))
    }

    /// The first free slot once `taken` are taken.
    fn after(&self, taken: usize) -> i64 {
        self.next + self.every * i64::try_from(taken).unwrap_or(i64::MAX)
    }
}

/// Places left under `max`: the webhook's rows in `in_flight` whose
/// delivery is still held under that claim's lease, after sweeping those
/// that no longer are (recorded, released, or expired).
async fn free_places(
    tx: &mut Transaction<'static, Any>,
    webhook: WebhookId,
    max: NonZeroU32,
    now: UnixMs,
) -> Result<u32, StoreError> {
    sqlx::query(
        "DELETE FROM in_flight WHERE webhook_id = $1 AND NOT EXISTS ( \
           SELECT 1 FROM deliveries d WHERE d.id = in_flight.delivery_id \
           AND d.leased_by = in_flight.lease AND d.lease_until > $2)",
    )
    .bind(webhook.to_string())
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM in_flight WHERE webhook_id = $1")
        .bind(webhook.to_string())
        .fetch_one(&mut **tx)
        .await?;
    let held = u32::try_from(count(&row, "n")?).unwrap_or(u32::MAX);
    Ok(max.get().saturating_sub(held))
}

async fn hold_places(
    tx: &mut Transaction<'static, Any>,
    webhook: WebhookId,
    leased: &[Leased],
    lease_token: &LeaseToken,
    lease_until: UnixMs,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO in_flight (delivery_id, webhook_id, lease, lease_until) VALUES {} \
         ON CONFLICT (delivery_id) DO UPDATE SET webhook_id = excluded.webhook_id, \
         lease = excluded.lease, lease_until = excluded.lease_until",
        placeholders(leased.len(), 4)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for l in leased {
        query = query
            .bind(l.delivery_id().to_string())
            .bind(webhook.to_string())
            .bind(lease_token.as_str().to_owned())
            .bind(lease_until.as_millis());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

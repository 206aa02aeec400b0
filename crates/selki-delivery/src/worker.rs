//! The worker: claim (one short statement) → deliver (no transaction or
//! pooled connection held) → record (batched). Any number of workers may
//! share one PostgreSQL database: leases keep them apart, and a dead
//! worker's leases run out so another delivers its claims.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use selki_domain::{CallTrigger, WebhookId};
use selki_storage::{Attempt, CallRecord, Claimed, Health, Next, Store};
use time::OffsetDateTime;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};

use crate::{Answer, Delivery, Dispatcher, next_delay, parse_retry_after};

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Names this worker's leases (and its log lines).
    pub name: String,
    /// Calls in flight at once, over all webhooks.
    pub concurrency: usize,
    /// Calls in flight at once to one webhook: a slow receiver holds at
    /// most this many of the worker's slots.
    pub per_webhook: usize,
    /// Deliveries claimed per statement, at most.
    pub batch: u32,
    /// How long a claim is the worker's alone. Longer than the longest
    /// attempt, or a slow attempt could be made twice.
    pub lease: Duration,
    /// Look for due deliveries at least this often, whatever the wake-ups.
    pub poll_interval: Duration,
    pub health: Health,
    /// Prune calls and finished deliveries older than this; `None` keeps all.
    pub retention: Option<Duration>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            name: format!("worker-{}", std::process::id()),
            concurrency: 256,
            per_webhook: 32,
            batch: 100,
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            health: Health::default(),
            retention: Some(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

/// Built, then run until stopped.
#[derive(Debug)]
pub struct Worker {
    store: Store,
    dispatcher: Dispatcher,
    settings: WorkerSettings,
}

/// What every delivery task shares.
#[derive(Debug)]
struct Shared {
    dispatcher: Dispatcher,
    /// Calls in flight per webhook.
    in_flight: Mutex<HashMap<WebhookId, usize>>,
    /// A call finished: a busy webhook may have room again.
    freed: Notify,
    results: mpsc::Sender<Attempt>,
}

/// How many results the recorder writes in one transaction, at most.
const RECORD_BATCH: usize = 256;
/// A batch the database would not take is tried again for about this long,
/// then dropped: its deliveries' leases run out and they are delivered
/// again (at least once, never lost).
const RECORD_PATIENCE: Duration = Duration::from_secs(30);

impl Worker {
    pub fn new(store: Store, dispatcher: Dispatcher, settings: WorkerSettings) -> Self {
        Self {
            store,
            dispatcher,
            settings,
        }
    }

    /// Delivers until `shutdown`, then stops claiming, finishes the calls
    /// in flight and records them.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send) {
        let Self {
            store,
            dispatcher,
            settings,
        } = self;
        let (results, outbox) = mpsc::channel(settings.concurrency.max(RECORD_BATCH));
        let recorder = tokio::spawn(record(
            store.clone(),
            outbox,
            settings.health,
            dispatcher.metrics().clone(),
        ));
        let retention = settings
            .retention
            .map(|age| tokio::spawn(prune(store.clone(), dispatcher.clone(), age)));
        let shared = Arc::new(Shared {
            dispatcher,
            in_flight: Mutex::new(HashMap::new()),
            freed: Notify::new(),
            results,
        });
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let (stop, stopping) = watch::channel(false);
        // The loop stops only where it holds no claim: between a claim and
        // its hand-over nothing may be dropped.
        tokio::join!(
            claim_loop(&store, &shared, &slots, &settings, stopping),
            async {
                shutdown.await;
                let _ = stop.send(true);
            }
        );
        tracing::info!(worker = %settings.name, "worker stopping: finishing calls in flight");
        // Every slot back means every call finished and handed its result on.
        let all = u32::try_from(settings.concurrency).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
        if let Some(task) = retention {
            task.abort();
        }
        drop(shared);
        let _ = recorder.await;
        tracing::info!(worker = %settings.name, "worker stopped");
    }
}

async fn claim_loop(
    store: &Store,
    shared: &Arc<Shared>,
    slots: &Arc<Semaphore>,
    settings: &WorkerSettings,
    mut stopping: watch::Receiver<bool>,
) {
    let mut due = store.due_signal();
    while !*stopping.borrow() {
        // Claim only what there is room to send.
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            _ = stopping.changed() => return,
        };
        let Ok(first) = first else { return };
        let mut permits = vec![first];
        while permits.len() < settings.batch as usize {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        due.borrow_and_update();
        let limit = u32::try_from(permits.len()).unwrap_or(u32::MAX);
        let busy = shared.busy_webhooks(settings.per_webhook);
        let started = std::time::Instant::now();
        let claimed = match store
            .claim_due(&settings.name, limit, settings.lease, &busy)
            .await
        {
            Ok(claimed) => {
                shared.dispatcher.metrics().claimed(started.elapsed());
                claimed
            }
            Err(err) => {
                tracing::warn!(error = %err, "claiming deliveries failed; trying again");
                drop(permits);
                tokio::select! {
                    () = tokio::time::sleep(settings.poll_interval) => continue,
                    _ = stopping.changed() => return,
                }
            }
        };
        let full = claimed.len() == permits.len();
        let mut held_back = !busy.is_empty();
        for claimed in claimed {
            held_back |= shared
                .start(claimed, &mut permits, settings.per_webhook)
                .await;
        }
        drop(permits);
        if !full {
            // Nothing more is due now: wait for news, or poll. A webhook
            // that was too busy is worth another look once it has room.
            tokio::select! {
                _ = due.changed() => {}
                () = shared.freed.notified(), if held_back => {}
                () = tokio::time::sleep(settings.poll_interval) => {}
                _ = stopping.changed() => return,
            }
        }
    }
}

impl Shared {
    fn busy_webhooks(&self, per_webhook: usize) -> Vec<WebhookId> {
        let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight
            .iter()
            .filter(|(_, n)| **n >= per_webhook)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Sends a claimed delivery in a task of its own, or hands it back
    /// (`true` when its webhook was too busy).
    async fn start(
        self: &Arc<Self>,
        claimed: Claimed,
        permits: &mut Vec<OwnedSemaphorePermit>,
        per_webhook: usize,
    ) -> bool {
        let next = if !claimed.target.enabled {
            // Disabled since it was queued: kept, recoverable.
            Some(Next::Skipped)
        } else if !self.take_webhook_slot(claimed.webhook_id, per_webhook) {
            Some(Next::Released)
        } else {
            None
        };
        match (next, permits.pop()) {
            (None, Some(permit)) => {
                tokio::spawn(self.clone().deliver(claimed, permit));
                false
            }
            (next, _) => {
                let next = next.unwrap_or(Next::Released);
                let attempt = Attempt {
                    claimed,
                    call: None,
                    next,
                };
                let _ = self.results.send(attempt).await;
                next == Next::Released
            }
        }
    }

    fn take_webhook_slot(&self, webhook: WebhookId, per_webhook: usize) -> bool {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = in_flight.entry(webhook).or_default();
        if *n >= per_webhook {
            return false;
        }
        *n += 1;
        true
    }

    fn give_webhook_slot(&self, webhook: WebhookId) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = in_flight.get_mut(&webhook) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&webhook);
            }
        }
        drop(in_flight);
        self.freed.notify_one();
    }

    async fn deliver(self: Arc<Self>, claimed: Claimed, permit: OwnedSemaphorePermit) {
        let (call, answer) = self
            .dispatcher
            .call(Delivery::of(&claimed, CallTrigger::Automatic))
            .await;
        let next = self.next(&claimed, &call, &answer);
        self.give_webhook_slot(claimed.webhook_id);
        let _ = self
            .results
            .send(Attempt {
                claimed,
                call: Some(call),
                next,
            })
            .await;
        drop(permit);
    }

    /// Done, again later, or out of attempts.
    fn next(&self, claimed: &Claimed, call: &CallRecord, answer: &Answer) -> Next {
        if call.succeeded() {
            return Next::Succeeded;
        }
        if call.http_status == Some(410) {
            // The receiver says it is gone for good: the webhook is disabled
            // when this is recorded, and the delivery kept as failed.
            return Next::Failed;
        }
        let retry_after = match call.http_status {
            Some(429 | 503) => answer
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, OffsetDateTime::now_utc())),
            _ => None,
        };
        match next_delay(claimed.target.retry, claimed.attempt, retry_after, jitter()) {
            Some(delay) => {
                self.dispatcher.metrics().retried();
                let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                Next::RetryAt(self.dispatcher.now_ms().saturating_add(delay_ms))
            }
            None => Next::Failed,
        }
    }
}

/// A uniform draw from [0, 1).
fn jitter() -> f64 {
    let bits = getrandom::u64().unwrap_or(0) >> 11;
    #[allow(clippy::cast_precision_loss)]
    let unit = bits as f64 / (1u64 << 53) as f64;
    unit
}

/// Writes results in batches until every sender is gone.
async fn record(
    store: Store,
    mut outbox: mpsc::Receiver<Attempt>,
    health: Health,
    metrics: crate::Metrics,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while outbox.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let mut wait = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        loop {
            match store.record_attempts(&batch, health).await {
                Ok(disabled) => {
                    for webhook in &disabled {
                        tracing::warn!(%webhook, "webhook disabled by the worker");
                    }
                    metrics.webhooks_disabled(disabled.len());
                    break;
                }
                Err(err) if waited < RECORD_PATIENCE => {
                    tracing::warn!(error = %err, results = batch.len(), "recording failed; trying again");
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(err) => {
                    tracing::error!(error = %err, results = batch.len(),
                        "recording failed for too long: these deliveries will be made again");
                    break;
                }
            }
        }
        batch.clear();
    }
}

/// Retention: every few minutes, prune in small batches until nothing old
/// is left.
async fn prune(store: Store, dispatcher: Dispatcher, age: Duration) {
    const EVERY: Duration = Duration::from_secs(300);
    const BATCH: u32 = 1000;
    let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    loop {
        let before = dispatcher.now_ms().saturating_sub(age_ms);
        loop {
            match store.prune(before, BATCH).await {
                Ok(pruned) if pruned.total() > 0 => {
                    tracing::debug!(?pruned, "pruned old rows");
                }
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "pruning failed");
                    break;
                }
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

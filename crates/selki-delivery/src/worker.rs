//! The worker: claim (one short statement) → deliver (no transaction or
//! pooled connection held) → record (batched). Any number of workers may
//! share one PostgreSQL database: leases keep them apart, and a dead
//! worker's leases run out so another delivers its claims.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use selki_domain::{Attempt, CallRecord, Claimed, Health, Next, Target, WebhookId};
use selki_storage::{Recorded, Store};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{Answer, Delivery, Dispatcher, next_delay, parse_retry_after};

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Names this worker's leases (and its log lines).
    pub name: String,
    /// Deliveries held at once, over all webhooks: calls in flight plus
    /// deliveries claimed and waiting for their webhook to have room.
    pub concurrency: usize,
    /// Calls in flight at once to one webhook. A webhook also holds up to
    /// seven times as many claimed deliveries waiting their turn, so a slow
    /// receiver holds a bounded share of the worker and a fast one always
    /// has work ready.
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
    /// Failed and skipped deliveries stay recoverable this long (at least
    /// the retention), then are pruned with their events.
    pub recovery_window: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            // The server names each process (host, pid, random).
            name: "worker".to_owned(),
            concurrency: 1024,
            per_webhook: 32,
            batch: 200,
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            health: Health::default(),
            retention: Some(Duration::from_secs(30 * 24 * 3600)),
            recovery_window: Duration::from_secs(90 * 24 * 3600),
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
    lanes: Mutex<HashMap<WebhookId, Lane>>,
    /// Webhooks with due deliveries waiting in the database, as of the
    /// last claim round (or a fresh one turned away since): their fresh
    /// deliveries queue behind those, not ahead of them.
    backlogged: Mutex<HashSet<WebhookId>>,
    /// A full lane has drained enough to be claimed for again.
    freed: Notify,
    results: mpsc::Sender<Attempt>,
    per_webhook: usize,
    lease: Duration,
}

/// One webhook's deliveries in this worker: the calls in flight, and the
/// claimed deliveries waiting for one of them to finish. Waiting here
/// rather than handing them back to the database is what keeps one busy
/// webhook from turning every claim into 1 sent and 99 returned.
#[derive(Debug, Default)]
struct Lane {
    in_flight: usize,
    waiting: VecDeque<Waiting>,
    /// Left out of claims until it has drained to half its share.
    full: bool,
}

#[derive(Debug)]
struct Waiting {
    job: Job,
    permit: OwnedSemaphorePermit,
    since: Instant,
}

/// A claimed delivery with the live webhook it goes to.
#[derive(Debug)]
struct Job {
    claimed: Claimed,
    target: Arc<Target>,
    /// Not before its slot under the webhook's rate limit, if it has one.
    not_before: Option<Instant>,
}

impl Lane {
    fn held(&self) -> usize {
        self.in_flight + self.waiting.len()
    }
}

/// How many results one recording transaction takes, at most. With the
/// queue below, this bounds how many answered calls a crash can leave
/// unrecorded: calls in flight, plus RECORD_QUEUE, plus the batch being
/// written.
const RECORD_BATCH: usize = 256;
/// Results waiting for the recorder, at most. Kept short on purpose: a
/// result waits here unrecorded (a crash would make its call again), and a
/// full queue slows the calls down to what the database records, instead
/// of building a backlog of answered, unrecorded calls (it was 1,024).
/// One recorder, measured against more (harness, scenario 3): parallel
/// recorders split the stream into smaller transactions, costing
/// PostgreSQL a fifth more CPU per delivery, for no gain the bound needs.
const RECORD_QUEUE: usize = 256;
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

    /// Delivers until `shutdown` is cancelled, then stops claiming,
    /// finishes the calls in flight and records them.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) {
        let Self {
            store,
            dispatcher,
            settings,
        } = self;
        let (results, outbox) = mpsc::channel(RECORD_QUEUE);
        let recorder = tokio::spawn(record(
            store.clone(),
            outbox,
            settings.health,
            dispatcher.metrics().clone(),
        ));
        let reaper = tokio::spawn(reap(store.clone(), settings.name.clone()));
        let retention = settings.retention.map(|age| {
            let recovery = settings.recovery_window.max(age);
            tokio::spawn(prune(store.clone(), dispatcher.clone(), age, recovery))
        });
        let shared = Arc::new(Shared {
            dispatcher,
            lanes: Mutex::new(HashMap::new()),
            backlogged: Mutex::new(HashSet::new()),
            freed: Notify::new(),
            results,
            per_webhook: settings.per_webhook.max(1),
            lease: settings.lease,
        });
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        store.hand_fresh_deliveries_to(Arc::new(Fresh {
            shared: shared.clone(),
            slots: slots.clone(),
            worker: settings.name.clone(),
            lease: settings.lease,
        }));
        // The loop stops only where it holds no claim: between a claim and
        // its hand-over nothing may be dropped.
        claim_loop(&store, &shared, &slots, &settings, &shutdown).await;
        tracing::info!(worker = %settings.name, "worker stopping: finishing calls in flight");
        // What submissions under way reserved still comes, and is sent.
        store.stop_handing_fresh_deliveries();
        // Every slot back means every call finished and handed its result on.
        let all = u32::try_from(settings.concurrency).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
        if let Some(task) = retention {
            task.abort();
        }
        reaper.abort();
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
    shutdown: &CancellationToken,
) {
    let mut due = store.due_signal();
    while !shutdown.is_cancelled() {
        // Claim only what there is room to send.
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            () = shutdown.cancelled() => return,
        };
        let Ok(first) = first else { return };
        let mut permits = vec![first];
        while let Ok(p) = slots.clone().try_acquire_owned() {
            permits.push(p);
        }
        due.borrow_and_update();
        let started = Instant::now();
        let claimed = match claim(store, shared, settings, permits.len()).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "claiming deliveries failed; trying again");
                drop(permits);
                tokio::select! {
                    () = tokio::time::sleep(settings.poll_interval) => continue,
                    () = shutdown.cancelled() => return,
                }
            }
        };
        shared.dispatcher.metrics().claimed(started.elapsed());
        let Claim { deliveries, more } = claimed;
        for (claimed, permit) in deliveries.into_iter().zip(permits.drain(..)) {
            shared.start(claimed, permit).await;
        }
        drop(permits);
        if !more {
            // Nothing more is due now: wait for news, or poll. A full lane
            // is worth another claim once it has drained.
            let held_back = shared.any_lane_full();
            tokio::select! {
                _ = due.changed() => {}
                () = shared.freed.notified(), if held_back => {}
                () = tokio::time::sleep(settings.poll_interval) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}

/// This worker as ingestion sees it: it takes fresh deliveries while it
/// has a free slot and their webhook's lane has room, as a claim would.
#[derive(Debug)]
struct Fresh {
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    worker: String,
    lease: Duration,
}

impl selki_storage::Intake for Fresh {
    fn worker(&self) -> &str {
        &self.worker
    }

    fn lease(&self) -> Duration {
        self.lease
    }

    fn reserve(&self, webhook: WebhookId, promised: usize) -> Option<OwnedSemaphorePermit> {
        let permit = self
            .shared
            .takes_fresh(webhook, promised)
            .then(|| self.slots.clone().try_acquire_owned().ok())
            .flatten();
        if permit.is_none() {
            // Queued for a claim: the ones after it must not overtake it.
            self.shared.backlogged(webhook);
        }
        permit
    }

    fn take(&self, fresh: Vec<(Claimed, OwnedSemaphorePermit)>) {
        let shared = self.shared.clone();
        shared.dispatcher.metrics().taken_fresh(fresh.len());
        tokio::spawn(async move {
            for (claimed, permit) in fresh {
                shared.start(claimed, permit).await;
            }
        });
    }
}

/// One round's claim, and whether some webhook may have more due.
struct Claim {
    deliveries: Vec<Claimed>,
    more: bool,
}

/// Asks every webhook with due deliveries and room in its lane for as many
/// as fit (at most a batch each, `room` in all).
async fn claim(
    store: &Store,
    shared: &Shared,
    settings: &WorkerSettings,
    room: usize,
) -> Result<Claim, selki_storage::StoreError> {
    let due = store.due_webhooks().await?;
    let wants = shared.wants(&due, room, settings.batch);
    // Nothing wanted asks the database nothing.
    let deliveries = store
        .claim_due(&settings.name, settings.lease, &wants)
        .await?;
    let mut got: HashMap<WebhookId, u32> = HashMap::new();
    for d in &deliveries {
        *got.entry(d.webhook_id).or_default() += 1;
    }
    // A webhook that gave all that was asked may have more, and so may one
    // left out for a full lane.
    let asked: HashMap<WebhookId, u32> = wants.iter().copied().collect();
    let backlog: HashSet<WebhookId> = due
        .into_iter()
        .filter(|w| {
            asked
                .get(w)
                .is_none_or(|n| got.get(w).copied().unwrap_or(0) >= *n)
        })
        .collect();
    let more = wants.iter().any(|(w, _)| backlog.contains(w));
    shared.set_backlog(backlog);
    Ok(Claim { deliveries, more })
}

impl Shared {
    /// Held per webhook before it is left out of claims. Half of it
    /// waiting is several claims' worth of work at loopback speed, so a
    /// fast webhook's calls do not wait for the next claim.
    fn lane_cap(&self) -> usize {
        self.per_webhook * 8
    }

    /// How many deliveries to claim for each due webhook: what its lane
    /// has room for, at most `batch`, `room` in all. Full lanes are left
    /// out until they drain.
    fn wants(&self, due: &[WebhookId], mut room: usize, batch: u32) -> Vec<(WebhookId, u32)> {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let open: Vec<(WebhookId, usize)> = due
            .iter()
            .filter_map(|webhook| {
                let lane = lanes.get(webhook);
                let held = lane.map_or(0, Lane::held);
                let space = self.lane_cap().saturating_sub(held).min(batch as usize);
                (!lane.is_some_and(|l| l.full) && space > 0).then_some((*webhook, space))
            })
            .collect();
        // An even share each, so many webhooks are served in one round.
        let share = (room / open.len().max(1)).max(1);
        let mut wants = Vec::with_capacity(open.len());
        for (webhook, space) in open {
            let n = space.min(share).min(room);
            if n == 0 {
                break;
            }
            room -= n;
            wants.push((webhook, u32::try_from(n).unwrap_or(u32::MAX)));
        }
        wants
    }

    /// Whether a fresh delivery of `webhook` may skip the claim: none of
    /// its due deliveries waits in the database, and its lane takes
    /// `promised` + 1 more, as a claim would ask for them.
    fn takes_fresh(&self, webhook: WebhookId, promised: usize) -> bool {
        let backlogged = self.backlogged.lock().unwrap_or_else(|e| e.into_inner());
        if backlogged.contains(&webhook) {
            return false;
        }
        drop(backlogged);
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes.get(&webhook).map_or(promised, |lane| {
            if lane.full {
                usize::MAX
            } else {
                lane.held() + promised
            }
        }) < self.lane_cap()
    }

    fn backlogged(&self, webhook: WebhookId) {
        let mut backlogged = self.backlogged.lock().unwrap_or_else(|e| e.into_inner());
        backlogged.insert(webhook);
    }

    /// What a claim round saw. Replaced, not merged: a webhook turned away
    /// by a submission that then failed must not stay backlogged. (One
    /// turned away while the round ran may be overtaken by a few fresh
    /// deliveries until the next round: deliveries are not ordered.)
    fn set_backlog(&self, backlog: HashSet<WebhookId>) {
        *self.backlogged.lock().unwrap_or_else(|e| e.into_inner()) = backlog;
    }

    fn any_lane_full(&self) -> bool {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes.values().any(|lane| lane.full)
    }

    /// Sends a claimed delivery in a task of its own, or queues it behind
    /// its webhook's calls in flight.
    async fn start(self: &Arc<Self>, claimed: Claimed, permit: OwnedSemaphorePermit) {
        let Some(target) = claimed.target.sendable().cloned() else {
            // Disabled or deleted since it was queued: kept, recoverable.
            self.hand_over(claimed, Next::Skipped).await;
            drop(permit);
            return;
        };
        let not_before = (!claimed.pace.is_zero()).then(|| Instant::now() + claimed.pace);
        let job = Job {
            claimed,
            target,
            not_before,
        };
        let cap = self.lane_cap();
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let lane = lanes.entry(job.claimed.webhook_id).or_default();
        if lane.in_flight < self.per_webhook {
            lane.in_flight += 1;
            self.launch(job, permit);
        } else {
            lane.waiting.push_back(Waiting {
                job,
                permit,
                since: Instant::now(),
            });
        }
        lane.full |= lane.held() >= cap;
    }

    /// Sends in a task of its own. Boxed: a delivery starts the next one of
    /// its lane, and a future cannot contain itself.
    fn launch(self: &Arc<Self>, job: Job, permit: OwnedSemaphorePermit) {
        let call: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> =
            Box::pin(self.clone().deliver(job, permit));
        tokio::spawn(call);
    }

    /// A call to `webhook` finished: its lane's next delivery takes the
    /// freed place. Deliveries that waited so long that their lease could
    /// run out during the call are returned, to be handed back unsent.
    fn next_in_lane(self: &Arc<Self>, webhook: WebhookId) -> Vec<Waiting> {
        let mut stale = Vec::new();
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(lane) = lanes.get_mut(&webhook) else {
            return stale;
        };
        let mut next = None;
        while let Some(waiting) = lane.waiting.pop_front() {
            let timeout = self.dispatcher.timeout_of(&waiting.job.target);
            if waiting.since.elapsed() + timeout >= self.lease {
                stale.push(waiting);
            } else {
                next = Some(waiting);
                break;
            }
        }
        match next {
            Some(w) => self.launch(w.job, w.permit),
            None => lane.in_flight -= 1,
        }
        if lane.full && lane.held() <= self.lane_cap() / 2 {
            lane.full = false;
            self.freed.notify_one();
        }
        if lane.held() == 0 {
            lanes.remove(&webhook);
        }
        stale
    }

    /// Records a delivery that was not sent.
    async fn hand_over(&self, claimed: Claimed, next: Next) {
        let attempt = Attempt {
            claimed,
            call: None,
            next,
        };
        let _ = self.results.send(attempt).await;
    }

    async fn deliver(self: Arc<Self>, job: Job, permit: OwnedSemaphorePermit) {
        let Job {
            claimed,
            target,
            not_before,
        } = job;
        // Only a paced call waits: even an elapsed timer costs a trip
        // through the timer wheel, a millisecond on the hot path.
        if let Some(at) = not_before {
            tokio::time::sleep_until(at.into()).await;
        }
        let (call, answer) = self
            .dispatcher
            .call(Delivery::of(&claimed, &target, claimed.trigger))
            .await;
        let next = self.next(&claimed, &target, &call, &answer);
        let webhook = claimed.webhook_id;
        let _ = self
            .results
            .send(Attempt {
                claimed,
                call: Some(call),
                next,
            })
            .await;
        drop(permit);
        let stale = self.next_in_lane(webhook);
        for waiting in stale {
            self.hand_over(waiting.job.claimed, Next::Released).await;
        }
    }

    /// Done, again later, or out of attempts.
    fn next(&self, claimed: &Claimed, target: &Target, call: &CallRecord, answer: &Answer) -> Next {
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
                .and_then(|v| parse_retry_after(v, self.dispatcher.now())),
            _ => None,
        };
        // The policy counts this round's attempts: a recovered or replayed
        // delivery gets its retries afresh, its attempt numbers go on.
        match next_delay(target.retry, claimed.round_attempt, retry_after, jitter()) {
            Some(delay) => {
                self.dispatcher.metrics().retried();
                Next::RetryAt(self.dispatcher.now().plus(delay))
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

/// Writes results in batches until every sender is gone. A row the
/// database refuses fails only itself (`record_attempts_isolated`); an
/// outage is waited out, then the batch is dropped (its leases run out and
/// its deliveries are made again: at least once).
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
            match store.record_attempts_isolated(&batch, health).await {
                Ok(recorded) => {
                    report(&recorded, &metrics);
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

fn report(recorded: &Recorded, metrics: &crate::Metrics) {
    for webhook in &recorded.disabled {
        tracing::warn!(%webhook, "webhook disabled by the worker");
    }
    metrics.webhooks_disabled(recorded.disabled.len());
    for call in &recorded.stripped {
        tracing::warn!(%call, "the database refused this call as answered: stored without the receiver's text");
    }
    for call in &recorded.lost {
        tracing::error!(%call, "the database refused this call even without the receiver's text: its delivery moved on, the call is not stored");
    }
}

/// Every heartbeat: a process that stopped beating is dead, and its claims
/// are due again at once (not when their leases end).
async fn reap(store: Store, me: String) {
    loop {
        tokio::time::sleep(selki_storage::HEARTBEAT_EVERY).await;
        match store.release_dead(&me, selki_storage::DEAD_AFTER).await {
            Ok(dead) => {
                for (process, claims) in dead {
                    tracing::warn!(%process, claims, "a process stopped beating: its claims are due again");
                }
            }
            Err(err) => tracing::warn!(error = %err, "looking for dead workers failed"),
        }
    }
}

/// Retention: every few minutes, prune in small batches until nothing old
/// is left.
async fn prune(store: Store, dispatcher: Dispatcher, retention: Duration, recovery: Duration) {
    const EVERY: Duration = Duration::from_secs(300);
    const BATCH: u32 = 1000;
    loop {
        let started = Instant::now();
        match cutoffs(&store, &dispatcher, retention, recovery).await {
            Ok(cutoffs) => loop {
                match store.prune(cutoffs, BATCH).await {
                    Ok(pruned) if pruned.total() > 0 => {
                        tracing::debug!(?pruned, "pruned old rows");
                    }
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "pruning failed");
                        break;
                    }
                }
            },
            Err(err) => tracing::warn!(error = %err, "pruning failed"),
        }
        dispatcher.metrics().retention_pass(started.elapsed());
        tokio::time::sleep(EVERY).await;
    }
}

/// Counted back from now, but never from later than the newest stored
/// activity: a clock run ahead (a skewed host) must not empty the tables.
async fn cutoffs(
    store: &Store,
    dispatcher: &Dispatcher,
    retention: Duration,
    recovery: Duration,
) -> Result<selki_storage::Cutoffs, selki_storage::StoreError> {
    let now = dispatcher.now();
    let anchor = match store.newest_activity().await? {
        Some(newest) if newest < now => {
            let ahead = now.since(newest);
            if ahead > retention {
                tracing::warn!(
                    ahead_secs = ahead.as_secs(),
                    "this clock is far ahead of the newest stored data: pruning as of that data"
                );
            }
            newest
        }
        _ => now,
    };
    Ok(selki_storage::Cutoffs {
        finished_before: anchor.minus(retention),
        recoverable_before: anchor.minus(recovery),
    })
}

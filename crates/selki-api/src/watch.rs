//! WatchCalls: one hub per process fans recorded calls out to every open
//! stream, in memory, each stream getting what its key may see and it
//! asked for. Calls recorded by another process arrive as ids and are read
//! once per batch, not once per stream. Streams are capped per key, and a
//! stream whose key is revoked ends with UNAUTHENTICATED: at once when the
//! revocation is announced, within a few seconds otherwise.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use selki_delivery::Metrics;
use selki_domain::{ApiKeyId, CallRecord, WebhookId};
use selki_proto::v1 as pb;
use selki_storage::{RecordedCalls, Scope, Store};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::auth::KeyRef;
use crate::convert::call_summary_to_proto;
use crate::error::ApiError;

/// Calls waiting for one slow stream before it starts missing some.
const STREAM_BUFFER: usize = 256;
/// Keys are re-checked at least this often.
const RECHECK: Duration = Duration::from_secs(3);

pub(crate) type Sent = Result<pb::WatchCallsResponse, Status>;

/// Which calls a stream wants.
#[derive(Debug, Clone)]
pub(crate) enum Wanted {
    Webhook(WebhookId),
    Organization(String),
}

#[derive(Debug)]
pub(crate) struct Watchers {
    streams: Mutex<Streams>,
    max_per_key: usize,
    /// Set once the hub runs (on the first stream).
    hub: std::sync::OnceLock<()>,
}

#[derive(Debug, Default)]
struct Streams {
    open: Vec<Stream>,
}

#[derive(Debug)]
struct Stream {
    key: KeyRef,
    scope: Scope,
    wanted: Wanted,
    tx: mpsc::Sender<Sent>,
    /// Calls not sent since the stream was last told (at least this many).
    missed: u64,
}

impl Wanted {
    fn matches(&self, call: &CallRecord) -> bool {
        match self {
            Self::Webhook(id) => call.webhook_id == *id,
            Self::Organization(org) => call.organization.as_str() == org,
        }
    }
}

impl Stream {
    fn sees(&self, call: &CallRecord) -> bool {
        let in_scope = match &self.scope {
            Scope::All => true,
            Scope::Organization(org) => call.organization == *org,
        };
        in_scope && self.wanted.matches(call)
    }
}

impl Watchers {
    pub(crate) fn new(max_per_key: usize) -> Self {
        Self {
            streams: Mutex::new(Streams::default()),
            max_per_key: max_per_key.max(1),
            hub: std::sync::OnceLock::new(),
        }
    }

    /// A new stream, unless its key has as many open as it may.
    pub(crate) fn open(
        self: &Arc<Self>,
        hub: impl FnOnce() -> Hub,
        key: KeyRef,
        scope: Scope,
        wanted: Wanted,
    ) -> Result<mpsc::Receiver<Sent>, ApiError> {
        let mut streams = self.lock();
        streams.open.retain(|s| !s.tx.is_closed());
        let held = streams.open.iter().filter(|s| s.key == key).count();
        if held >= self.max_per_key {
            return Err(ApiError::ResourceExhausted(format!(
                "this API key already has {held} WatchCalls streams open (at most {}); close one first",
                self.max_per_key
            )));
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        streams.open.push(Stream {
            key,
            scope,
            wanted,
            tx,
            missed: 0,
        });
        drop(streams);
        self.hub.get_or_init(|| {
            tokio::spawn(hub().run(self.clone()));
        });
        Ok(rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the hub listens to and reads with.
pub(crate) struct Hub {
    pub(crate) store: Store,
    pub(crate) metrics: Metrics,
    pub(crate) recorded: broadcast::Receiver<RecordedCalls>,
    pub(crate) keys: watch::Receiver<u64>,
    /// Cancelled when the server stops: every stream ends then.
    pub(crate) shutdown: CancellationToken,
}

/// One thing for the hub to do.
enum Event {
    Recorded(Result<RecordedCalls, broadcast::error::RecvError>),
    KeysChanged,
    Recheck,
    Stop,
}

impl Hub {
    async fn run(self, watchers: Arc<Watchers>) {
        let Self {
            store,
            metrics,
            mut recorded,
            mut keys,
            shutdown,
        } = self;
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                batch = recorded.recv() => Event::Recorded(batch),
                changed = keys.changed() => match changed {
                    Ok(()) => Event::KeysChanged,
                    Err(_) => Event::Stop,
                },
                _ = recheck.tick() => Event::Recheck,
                () = shutdown.cancelled() => Event::Stop,
            };
            match event {
                Event::Recorded(Ok(batch)) => fan_out(&store, &metrics, &watchers, batch).await,
                Event::Recorded(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    tracing::warn!(missed, "WatchCalls fell behind the recorded calls");
                    // Which streams would have seen them is unknown: each is
                    // told it missed at least one call per lost batch.
                    for stream in &mut watchers.lock().open {
                        stream.missed += missed;
                    }
                }
                Event::KeysChanged | Event::Recheck => {
                    recheck_keys(&store, &metrics, &watchers).await;
                }
                Event::Recorded(Err(broadcast::error::RecvError::Closed)) | Event::Stop => break,
            }
        }
        // The server stops: every stream ends.
        watchers.lock().open.clear();
        metrics.watch_streams(0);
    }
}

async fn fan_out(store: &Store, metrics: &Metrics, watchers: &Watchers, batch: RecordedCalls) {
    if watchers.lock().open.is_empty() {
        return;
    }
    let calls: Arc<[CallRecord]> = match batch {
        RecordedCalls::Calls(calls) => calls,
        RecordedCalls::Ids(ids) => {
            metrics.watch_read();
            match store.calls_by_ids(&Scope::All, &ids).await {
                Ok(calls) => calls.into(),
                Err(err) => {
                    tracing::warn!(error = %err, "reading recorded calls for WatchCalls failed");
                    return;
                }
            }
        }
    };
    let mut streams = watchers.lock();
    for stream in &mut streams.open {
        for call in calls.iter() {
            if stream.sees(call) {
                stream.send(call);
            }
        }
    }
    streams.open.retain(|s| !s.tx.is_closed());
    metrics.watch_streams(streams.open.len());
}

impl Stream {
    /// Sends a call, first telling the client how many it missed, if any:
    /// a slow client is told, never silently skipped.
    fn send(&mut self, call: &CallRecord) {
        if self.missed > 0 {
            let told = pb::WatchCallsResponse {
                call: None,
                missed_calls: self.missed,
            };
            if self.tx.try_send(Ok(told)).is_err() {
                self.miss();
                return;
            }
            self.missed = 0;
        }
        let message = pb::WatchCallsResponse {
            call: Some(call_summary_to_proto(call)),
            missed_calls: 0,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(Ok(message)) {
            self.miss();
        }
    }

    fn miss(&mut self) {
        self.missed += 1;
        if self.missed.is_power_of_two() {
            tracing::warn!(
                missed = self.missed,
                "a WatchCalls stream is not reading fast enough: it misses calls"
            );
        }
    }
}

/// Ends the streams whose stored key was revoked or has expired (a console
/// session), and forgets closed ones.
async fn recheck_keys(store: &Store, metrics: &Metrics, watchers: &Watchers) {
    let ids: Vec<ApiKeyId> = {
        let mut streams = watchers.lock();
        streams.open.retain(|s| !s.tx.is_closed());
        metrics.watch_streams(streams.open.len());
        let ids: HashSet<ApiKeyId> = streams.open.iter().filter_map(|s| s.key.stored()).collect();
        ids.into_iter().collect()
    };
    if ids.is_empty() {
        return;
    }
    let live = match store.live_api_keys(&ids).await {
        Ok(live) => live,
        Err(err) => {
            tracing::warn!(error = %err, "re-checking the keys of WatchCalls streams failed");
            return;
        }
    };
    let revoked: Vec<Stream> = {
        let mut streams = watchers.lock();
        let (revoked, kept) = std::mem::take(&mut streams.open)
            .into_iter()
            .partition(|s| s.key.stored().is_some_and(|id| !live.contains(&id)));
        streams.open = kept;
        metrics.watch_streams(streams.open.len());
        revoked
    };
    for stream in revoked {
        tokio::spawn(async move {
            let ended = Status::unauthenticated(
                "the API key or console session of this stream was revoked or has expired",
            );
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.tx.send(Err(ended))).await;
        });
    }
}

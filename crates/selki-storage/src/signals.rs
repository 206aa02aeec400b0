//! Wake-ups between processes: "deliveries are due" for workers, and "these
//! calls were recorded" for WatchCalls. On PostgreSQL they travel by
//! NOTIFY, so every process sharing the database hears them; with SQLite
//! there is one process, and they stay in it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use selki_domain::{CallId, CallRecord};
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, watch};

use crate::{Store, StoreError};

const DUE: &str = "selki_due";
pub(crate) const CALLS: &str = "selki_calls";
const KEYS: &str = "selki_keys";

/// Calls as they are recorded: this process's own arrive whole; with
/// PostgreSQL the other processes' arrive as ids, to be read once by
/// whoever wants them.
#[derive(Debug, Clone)]
pub enum RecordedCalls {
    Calls(Arc<[CallRecord]>),
    Ids(Arc<[CallId]>),
}

#[derive(Debug)]
pub(crate) struct Signals {
    due: watch::Sender<u64>,
    calls: broadcast::Sender<RecordedCalls>,
    /// Bumped when an API key is revoked, in any process.
    keys: watch::Sender<u64>,
    /// The PostgreSQL listener task, started with the store.
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    postgres_url: Option<String>,
    /// Tags this store's call notifications, so that it skips its own.
    instance: String,
}

impl Signals {
    pub(crate) fn new(postgres_url: Option<String>) -> Self {
        Self {
            due: watch::Sender::new(0),
            calls: broadcast::Sender::new(1024),
            keys: watch::Sender::new(0),
            listener: Mutex::new(None),
            postgres_url,
            instance: format!("{:016x}", getrandom::u64().unwrap_or_default()),
        }
    }

    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    pub(crate) fn due(&self) {
        self.due.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn calls_recorded(&self, calls: RecordedCalls) {
        // Nobody watching is fine.
        let _ = self.calls.send(calls);
    }

    /// Whether anybody listens for recorded calls (copying them is wasted
    /// otherwise).
    pub(crate) fn calls_heard(&self) -> bool {
        self.calls.receiver_count() > 0
    }

    pub(crate) fn keys_changed(&self) {
        self.keys.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn start_listener(self: &Arc<Self>) {
        let Some(url) = self.postgres_url.clone() else {
            return;
        };
        let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if listener.is_none() {
            *listener = Some(tokio::spawn(listen(url, Arc::downgrade(self))));
        }
    }

    pub(crate) fn stop(&self) {
        if let Some(task) = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// Forwards notifications until the store is gone. A lost connection is
/// re-made; notifications missed meanwhile count as "something is due"
/// (the worker then looks; polling covers the rest).
async fn listen(url: String, signals: std::sync::Weak<Signals>) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => {
                if let Err(err) = listener.listen_all([DUE, CALLS, KEYS]).await {
                    tracing::warn!(error = %err, "LISTEN failed");
                } else {
                    // Anything sent before this connection listened is lost.
                    let Some(live) = signals.upgrade() else {
                        return;
                    };
                    live.due();
                    live.keys_changed();
                    drop(live);
                    loop {
                        let note = listener.try_recv().await;
                        let Some(live) = signals.upgrade() else {
                            return;
                        };
                        match note {
                            Ok(Some(note)) if note.channel() == CALLS => {
                                // Older versions send the ids alone.
                                let (from, ids) = note
                                    .payload()
                                    .split_once(':')
                                    .unwrap_or(("", note.payload()));
                                if from != live.instance {
                                    let ids: Arc<[CallId]> = ids
                                        .split(',')
                                        .filter_map(|id| CallId::parse(id).ok())
                                        .collect();
                                    live.calls_recorded(RecordedCalls::Ids(ids));
                                }
                            }
                            Ok(Some(note)) if note.channel() == KEYS => live.keys_changed(),
                            // Due, or reconnected (notifications meanwhile are lost).
                            Ok(_) => live.due(),
                            Err(err) => {
                                tracing::warn!(error = %err, "the notification connection failed");
                                break;
                            }
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot listen for notifications"),
        }
        if signals.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl Store {
    /// Changes whenever deliveries may have become due (new events,
    /// recovered deliveries), in any process sharing the database.
    pub fn due_signal(&self) -> watch::Receiver<u64> {
        self.signals.due.subscribe()
    }

    /// Calls as they are recorded, by any process sharing the database. A
    /// receiver that falls behind loses the oldest.
    pub fn recorded_calls(&self) -> broadcast::Receiver<RecordedCalls> {
        self.signals.calls.subscribe()
    }

    /// Changes whenever an API key is revoked, in any process sharing the
    /// database (and when the notification connection was re-made, since
    /// one may have been missed).
    pub fn keys_changed(&self) -> watch::Receiver<u64> {
        self.signals.keys.subscribe()
    }

    /// An API key was revoked: tells every process.
    pub(crate) async fn announce_keys_changed(&self) -> Result<(), StoreError> {
        self.notify_everyone(KEYS).await?;
        self.signals.keys_changed();
        Ok(())
    }

    /// Inside an ingestion transaction: tells the other processes on
    /// commit. (This process is told by [`Store::announce_due_locally`].)
    pub(crate) async fn notify_due_on_commit(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<(), StoreError> {
        self.backend.notify(&mut **tx, DUE, "").await
    }

    pub(crate) fn announce_due_locally(&self) {
        self.signals.due();
    }

    /// Outside a transaction: tells every process.
    pub(crate) async fn announce_due(&self) -> Result<(), StoreError> {
        self.notify_everyone(DUE).await?;
        self.signals.due();
        Ok(())
    }

    /// Tells the other processes (PostgreSQL); with SQLite this process
    /// is the only one.
    async fn notify_everyone(&self, channel: &str) -> Result<(), StoreError> {
        self.backend.notify(&self.pool, channel, "").await
    }
}

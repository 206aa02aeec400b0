//! Wake-ups between processes: "deliveries are due" for workers, and "these
//! calls were recorded" for WatchCalls. On PostgreSQL they travel by
//! NOTIFY, so every process sharing the database hears them; with SQLite
//! there is one process, and they stay in it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use selki_domain::CallId;
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, watch};

use crate::{Backend, Store, StoreError};

const DUE: &str = "selki_due";
const CALLS: &str = "selki_calls";

#[derive(Debug)]
pub(crate) struct Signals {
    due: watch::Sender<u64>,
    calls: broadcast::Sender<Arc<[CallId]>>,
    /// The PostgreSQL listener task, started on first use.
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    postgres_url: Option<String>,
}

impl Signals {
    pub(crate) fn new(postgres_url: Option<String>) -> Self {
        Self {
            due: watch::Sender::new(0),
            calls: broadcast::Sender::new(1024),
            listener: Mutex::new(None),
            postgres_url,
        }
    }

    pub(crate) fn due(&self) {
        self.due.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn calls_recorded(&self, ids: Vec<CallId>) {
        // Nobody watching is fine.
        let _ = self.calls.send(ids.into());
    }

    fn start_listener(self: &Arc<Self>) {
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
                if let Err(err) = listener.listen_all([DUE, CALLS]).await {
                    tracing::warn!(error = %err, "LISTEN failed");
                } else {
                    // Anything sent before this connection listened is lost.
                    let Some(live) = signals.upgrade() else {
                        return;
                    };
                    live.due();
                    drop(live);
                    loop {
                        let note = listener.try_recv().await;
                        let Some(live) = signals.upgrade() else {
                            return;
                        };
                        match note {
                            Ok(Some(note)) if note.channel() == CALLS => {
                                let ids = note
                                    .payload()
                                    .split(',')
                                    .filter_map(|id| CallId::parse(id).ok())
                                    .collect();
                                live.calls_recorded(ids);
                            }
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
        self.signals.start_listener();
        self.signals.due.subscribe()
    }

    /// The ids of calls as they are recorded, by any process sharing the
    /// database. A receiver that falls behind loses the oldest.
    pub fn recorded_calls(&self) -> broadcast::Receiver<Arc<[CallId]>> {
        self.signals.start_listener();
        self.signals.calls.subscribe()
    }

    /// Inside an ingestion transaction: tells the other processes on
    /// commit. (This process is told by [`Store::announce_due_locally`].)
    pub(crate) async fn notify_due(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query(sqlx::AssertSqlSafe(format!("NOTIFY {DUE}")))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub(crate) fn announce_due_locally(&self) {
        self.signals.due();
    }

    /// Outside a transaction: tells every process.
    pub(crate) async fn announce_due(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query(sqlx::AssertSqlSafe(format!("NOTIFY {DUE}")))
                .execute(&self.pool)
                .await?;
        }
        self.signals.due();
        Ok(())
    }
}

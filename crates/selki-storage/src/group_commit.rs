//! Group commit: submissions that arrive while a transaction is being
//! written wait for the next one and share it. Each caller still gets its
//! answer only after the commit that holds its events (durable, synchronous
//! commit untouched); the database just sees one commit for many callers.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{Accepted, NewEvent, Store, StoreError};

/// Events one shared transaction takes at most.
const GROUP_EVENTS: usize = 1000;
/// Submissions waiting for a writer before callers feel back-pressure.
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<Vec<Accepted>, StoreError>>;

#[derive(Debug)]
struct Job {
    events: Vec<NewEvent>,
    reply: Reply,
}

/// The way into the writers; they stop when every [`Store`] is dropped.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    pub(crate) fn start(store: &Store) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..store.backend.group_commit_writers() {
            // Holds the pool, not this sender: the writers end when the
            // last Store (and with it the sender) is dropped.
            tokio::spawn(write_groups(store.without_group_commit(), queue.clone()));
        }
        Self { jobs }
    }
}

impl Store {
    /// Stores a batch of events like [`Store::submit_events`], sharing the
    /// transaction with submissions made at the same time. A failure of a
    /// shared transaction is not blamed on the others: each of its
    /// submissions is then tried in a transaction of its own.
    pub async fn submit(&self, events: Vec<NewEvent>) -> Result<Vec<Accepted>, StoreError> {
        let Some(group_commit) = &self.group_commit else {
            return self.submit_events(&events).await;
        };
        let (reply, answer) = oneshot::channel();
        group_commit
            .jobs
            .send(Job { events, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn write_groups(store: Store, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut size = first.events.len();
            let mut group = vec![first];
            // Whatever else is already waiting, without waiting for more.
            while size < GROUP_EVENTS {
                let Ok(job) = queue.try_recv() else { break };
                size += job.events.len();
                group.push(job);
            }
            group
        };
        write(&store, group).await;
    }
}

async fn write(store: &Store, group: Vec<Job>) {
    if let [_] = group.as_slice() {
        for job in group {
            let _ = job.reply.send(store.submit_events(&job.events).await);
        }
        return;
    }
    let all: Vec<NewEvent> = group
        .iter()
        .flat_map(|j| j.events.iter().cloned())
        .collect();
    match store.submit_events(&all).await {
        Ok(mut accepted) => {
            for job in group {
                let rest = accepted.split_off(job.events.len());
                let _ = job.reply.send(Ok(accepted));
                accepted = rest;
            }
        }
        Err(_) => {
            // One bad submission (say, a reused client event id) must not
            // fail the others, and its error must name its own index.
            for job in group {
                let _ = job.reply.send(store.submit_events(&job.events).await);
            }
        }
    }
}

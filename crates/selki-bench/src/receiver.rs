//! A fast loopback receiver: verifies every delivery with the receiver SDK
//! and reports which webhook got which event when. A webhook may be made
//! slow, to stand for a receiver that takes seconds to answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;

/// One verified delivery.
#[derive(Debug)]
pub(crate) struct Receipt {
    pub(crate) webhook: String,
    pub(crate) event: String,
    pub(crate) at: Instant,
}

#[derive(Debug)]
struct Endpoint {
    verifier: selki_webhooks::Webhook,
    delay: Duration,
}

#[derive(Debug, Default)]
struct Shared {
    endpoints: RwLock<HashMap<String, Endpoint>>,
    rejected: AtomicU64,
}

/// The receiver's address, its receipts, and the webhooks it knows.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    pub(crate) receipts: mpsc::UnboundedReceiver<Receipt>,
    shared: Arc<Shared>,
}

impl Receiver {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let (tx, receipts) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = axum::Router::new()
            .fallback(handle)
            .with_state((tx, shared.clone()));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self {
            addr,
            receipts,
            shared,
        })
    }

    /// Accepts deliveries of `webhook` signed with `secret`, answering
    /// after `delay`.
    pub(crate) fn expect(
        &self,
        webhook: &str,
        secret: &str,
        delay: Duration,
    ) -> anyhow::Result<()> {
        let verifier = selki_webhooks::Webhook::new(secret)?;
        self.shared
            .endpoints
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(webhook.to_owned(), Endpoint { verifier, delay });
        Ok(())
    }

    /// Deliveries that failed verification or came for an unknown webhook.
    pub(crate) fn rejected(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }

    /// How many webhooks it answers for.
    pub(crate) fn webhooks(&self) -> usize {
        self.shared
            .endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The next receipt, or `None` once the deadline has passed.
    pub(crate) async fn next(&mut self, deadline: Instant) -> Option<Receipt> {
        tokio::time::timeout_at(deadline.into(), self.receipts.recv())
            .await
            .ok()
            .flatten()
    }
}

type AppState = (mpsc::UnboundedSender<Receipt>, Arc<Shared>);

async fn handle(
    State((receipts, shared)): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let webhook = header(selki_webhooks::name::SELKI_WEBHOOK_ID);
    let (verified, delay) = {
        let endpoints = shared.endpoints.read().unwrap_or_else(|e| e.into_inner());
        match endpoints.get(&webhook) {
            Some(e) => (e.verifier.verify(&body, &headers).is_ok(), e.delay),
            None => (false, Duration::ZERO),
        }
    };
    if !verified {
        shared.rejected.fetch_add(1, Ordering::Relaxed);
        return StatusCode::BAD_REQUEST;
    }
    if !delay.is_zero() {
        // The slow receiver of the head-of-line scenario.
        tokio::time::sleep(delay).await;
    }
    let _ = receipts.send(Receipt {
        webhook,
        event: header(selki_webhooks::name::WEBHOOK_ID),
        at: Instant::now(),
    });
    StatusCode::OK
}

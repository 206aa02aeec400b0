//! A webhook receiver on loopback (axum), told how to answer, that verifies
//! every request it gets with the `selki-webhooks` crate and with the
//! Standard Webhooks library, and hands each to the test.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, watch};

/// How to answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Ok,
    Status(u16),
    /// A status with `Retry-After: <seconds>`.
    RetryAfter(u16, u32),
    /// Answer nothing until [`Receiver::release`].
    Hang,
    /// 302 to another path of this receiver.
    Redirect,
    /// A response whose body fails: the connection is closed.
    Close,
    /// 200 with exactly these bytes as the body.
    Body(&'static [u8]),
    /// 200 after this many milliseconds: a receiver that takes its time.
    Slow(u64),
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    /// `Ok` when the secret is unset (nothing to verify) or both verified.
    pub(crate) verified: Result<(), String>,
    pub(crate) at: Instant,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub(crate) fn event_id(&self) -> String {
        self.header("selki-event-id").to_owned()
    }
}

struct Shared {
    script: Mutex<VecDeque<Answer>>,
    then: Mutex<Answer>,
    secret: Mutex<Option<String>>,
    seen: mpsc::UnboundedSender<Received>,
    released: watch::Sender<bool>,
    /// Standing in for this service: requests are checked against its
    /// rules and answered as it answers (after any scripted answers).
    service: Mutex<Option<selki_testkit::Service>>,
    /// Requests being answered now, and the most there ever were.
    open: AtomicUsize,
    peak: AtomicUsize,
}

/// Counts a request as open until it is answered.
struct Open<'a>(&'a Shared);

impl<'a> Open<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak.fetch_max(now, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    seen: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On a given loopback port (0: any).
    pub(crate) async fn start_on(port: u16) -> Self {
        Self::bound(("127.0.0.1", port)).await
    }

    /// On every address (inside a test's network namespace, where every
    /// address is local: a "public" one too).
    pub(crate) async fn start_everywhere() -> Self {
        Self::bound(("0.0.0.0", 0)).await
    }

    async fn bound(addr: impl tokio::net::ToSocketAddrs) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            then: Mutex::new(Answer::Ok),
            secret: Mutex::new(None),
            seen: tx,
            released: watch::Sender::new(false),
            service: Mutex::new(None),
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            shared,
            seen: tokio::sync::Mutex::new(rx),
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A URL naming `host` on this receiver's port.
    pub(crate) fn url_at(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }

    /// Answers these first, in order, then `then` for good.
    pub(crate) fn answer(&self, script: &[Answer], then: Answer) {
        *self.shared.script.lock().expect("lock") = script.iter().copied().collect();
        *self.shared.then.lock().expect("lock") = then;
    }

    /// Stands in for `service` from now on: `verified` says whether the
    /// service would take each request (and its signature, with a secret).
    pub(crate) fn as_service(&self, service: selki_testkit::Service) {
        *self.shared.service.lock().expect("lock") = Some(service);
    }

    /// Verify requests with this secret from now on.
    pub(crate) fn verify_with(&self, secret: &str) {
        *self.shared.secret.lock().expect("lock") = Some(secret.to_owned());
    }

    /// The most requests it was answering at once.
    pub(crate) fn peak_concurrency(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Lets every hanging request answer 200.
    pub(crate) fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// The next request, waiting at most `within`.
    pub(crate) async fn next(&self, within: Duration) -> Received {
        let mut seen = self.seen.lock().await;
        tokio::time::timeout(within, seen.recv())
            .await
            .expect("the receiver got a request in time")
            .expect("the receiver is running")
    }

    /// The next `n` requests.
    pub(crate) async fn take(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            out.push(self.next(left).await);
        }
        out
    }

    /// Up to `n` requests, however many came within `within`.
    pub(crate) async fn take_up_to(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = self.seen.lock().await;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match tokio::time::timeout_at(deadline, seen.recv()).await {
                Ok(Some(received)) => out.push(received),
                Ok(None) | Err(_) => break,
            }
        }
        out
    }

    /// Requests that already arrived, without waiting.
    pub(crate) async fn drain(&self) -> Vec<Received> {
        let mut seen = self.seen.lock().await;
        std::iter::from_fn(|| seen.try_recv().ok()).collect()
    }

    /// Stops listening: connections are refused from now on.
    pub(crate) fn stop(self) -> u16 {
        self.task.abort();
        self.addr.port()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.release();
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _open = Open::enter(&shared);
    let secret = shared.secret.lock().expect("lock").clone();
    let service = *shared.service.lock().expect("lock");
    let verified = match (service, secret) {
        (Some(service), secret) => check_service(service, secret.as_deref(), &headers, &body),
        (None, Some(secret)) => verify(&secret, &headers, &body),
        (None, None) => Ok(()),
    };
    let scripted = shared.script.lock().expect("lock").pop_front();
    if let (Some(service), None) = (service, scripted) {
        let reply = match &verified {
            Ok(()) => service.accepted(&body),
            Err(why) => service.refused(why),
        };
        let _ = shared.seen.send(Received {
            path: uri.path().to_owned(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            verified,
            at: Instant::now(),
        });
        let status = StatusCode::from_u16(reply.status).expect("a status");
        return (status, [("content-type", reply.content_type)], reply.body).into_response();
    }
    // Decided before the test hears of the request: a test that changes
    // the answer once it has seen this request must not change this one's.
    let answer = scripted.unwrap_or(*shared.then.lock().expect("lock"));
    let _ = shared.seen.send(Received {
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        verified,
        at: Instant::now(),
    });
    let status = |code: u16| StatusCode::from_u16(code).expect("a status");
    match answer {
        Answer::Ok => (StatusCode::OK, "ok").into_response(),
        Answer::Status(code) => (status(code), format!("answered {code}")).into_response(),
        Answer::RetryAfter(code, secs) => {
            (status(code), [("retry-after", secs.to_string())], "later").into_response()
        }
        Answer::Hang => {
            let mut released = shared.released.subscribe();
            let _ = released.wait_for(|r| *r).await;
            (StatusCode::OK, "ok, finally").into_response()
        }
        Answer::Redirect => {
            (StatusCode::FOUND, [("location", "/elsewhere")], "moved").into_response()
        }
        Answer::Body(bytes) => (StatusCode::OK, bytes).into_response(),
        Answer::Slow(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (StatusCode::OK, "ok, slowly").into_response()
        }
        Answer::Close => {
            let broken = tokio_stream::iter([
                Ok(Bytes::from_static(b"partial")),
                Err(std::io::Error::other("the receiver hung up")),
            ]);
            axum::body::Body::from_stream(broken).into_response()
        }
    }
}

/// The service's rules, and the signature when there is a secret (by the
/// independent Standard Webhooks library: the body is not a Selki event).
fn check_service(
    service: selki_testkit::Service,
    secret: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    service.check(&pairs, body)?;
    match secret {
        Some(secret) => standardwebhooks::Webhook::new(secret)
            .map_err(|e| e.to_string())?
            .verify(body, headers)
            .map_err(|e| format!("standardwebhooks: {e}")),
        None => Ok(()),
    }
}

/// Both verifiers must accept: ours, and an independent Standard Webhooks
/// implementation.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let ours = selki_webhooks::Webhook::new(secret).map_err(|e| e.to_string())?;
    ours.verify(body, headers)
        .map_err(|e| format!("selki-webhooks: {e}"))?;
    let standard = standardwebhooks::Webhook::new(secret).map_err(|e| e.to_string())?;
    standard
        .verify(body, headers)
        .map_err(|e| format!("standardwebhooks: {e}"))
}

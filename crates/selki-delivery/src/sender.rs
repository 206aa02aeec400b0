//! One HTTP POST of a delivery. A failed attempt is data (an outcome with
//! its details), never an error: the worker records it and moves on.

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use selki_domain::CallOutcome;

use crate::{Blocked, Destinations, excerpt};

/// The client for every delivery: one pool, keep-alive, no redirects, and
/// a resolver that only hands out vetted addresses, which are then the very
/// addresses connected to (DNS rebinding has nothing to swap).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    guard: Arc<Destinations>,
}

/// What to send.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub url: &'a url::Url,
    pub headers: &'a [(String, String)],
    pub body: String,
    /// Connect plus response, the whole attempt.
    pub timeout: Duration,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub outcome: CallOutcome,
    pub http_status: Option<u16>,
    /// The receiver's `Retry-After`, as sent (on any status).
    pub retry_after: Option<String>,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    pub duration: Duration,
}

impl Answer {
    /// A call that was not made, and why.
    pub fn not_sent(outcome: CallOutcome, error: String) -> Self {
        failure(outcome, error, Instant::now())
    }
}

/// The TLS or HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the HTTP client failed: {0}")]
pub struct SenderError(String);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
struct GuardedResolver(Arc<Destinations>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    Box::new(DnsFailure(format!("{host} did not resolve: {e}"))) as BoxError
                })?
                .collect();
            let mut blocked = None;
            let vetted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| {
                    guard
                        .check(addr.ip())
                        .map_err(|b| blocked = Some(b))
                        .is_ok()
                })
                .collect();
            match (vetted.is_empty(), blocked) {
                (true, Some(b)) => Err(Box::new(b) as BoxError),
                (true, None) => {
                    Err(Box::new(DnsFailure(format!("{host} has no addresses"))) as BoxError)
                }
                (false, _) => Ok(Box::new(vetted.into_iter()) as Addrs),
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct DnsFailure(String);

impl Sender {
    pub fn new(
        guard: Destinations,
        connect_timeout: Duration,
        user_agent: &str,
    ) -> Result<Self, SenderError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SenderError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let guard = Arc::new(guard);
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(user_agent)
            .build()
            .map_err(|e| SenderError(e.to_string()))?;
        Ok(Self { client, guard })
    }

    /// POSTs once. Never fails: every problem is an outcome.
    pub async fn send(&self, out: Outgoing<'_>) -> Answer {
        let started = Instant::now();
        // IP-literal URLs never reach the resolver: vet them here.
        if let Some(blocked) = self.literal_blocked(out.url) {
            return failure(
                CallOutcome::BlockedDestination,
                blocked.to_string(),
                started,
            );
        }
        let mut request = self
            .client
            .post(out.url.as_str())
            .timeout(out.timeout)
            .body(out.body);
        for (name, value) in out.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return failure(classify(&err), describe(&err), started),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (body, body_error) = read_capped(response).await;
        let outcome = match (status.is_success(), &body_error) {
            (_, Some(_)) => CallOutcome::InvalidResponse,
            (true, None) => CallOutcome::Success,
            (false, None) => CallOutcome::HttpStatus,
        };
        let error = body_error
            .or_else(|| (!status.is_success()).then(|| format!("the receiver answered {status}")));
        Answer {
            outcome,
            http_status: Some(status.as_u16()),
            retry_after,
            excerpt: Some(excerpt(&body)),
            error,
            duration: started.elapsed(),
        }
    }

    fn literal_blocked(&self, url: &url::Url) -> Option<Blocked> {
        let ip: IpAddr = match url.host()? {
            url::Host::Ipv4(v4) => v4.into(),
            url::Host::Ipv6(v6) => v6.into(),
            url::Host::Domain(_) => return None,
        };
        self.guard.check(ip).err()
    }
}

/// Reads at most the excerpt's worth of the body (and stops there).
async fn read_capped(mut response: reqwest::Response) -> (Vec<u8>, Option<String>) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > crate::EXCERPT_BYTES {
                    return (body, None);
                }
            }
            Ok(None) => return (body, None),
            Err(err) if err.is_timeout() => {
                return (body, Some("timed out reading the response".into()));
            }
            Err(err) => {
                return (
                    body,
                    Some(format!("the response broke off: {}", describe(&err))),
                );
            }
        }
    }
}

fn failure(outcome: CallOutcome, error: String, started: Instant) -> Answer {
    Answer {
        outcome,
        http_status: None,
        retry_after: None,
        excerpt: None,
        error: Some(error),
        duration: started.elapsed(),
    }
}

/// Which kind of failure a transport error is, from its cause chain.
fn classify(err: &reqwest::Error) -> CallOutcome {
    let mut source = err.source();
    while let Some(cause) = source {
        if cause.is::<Blocked>() {
            return CallOutcome::BlockedDestination;
        }
        if cause.is::<DnsFailure>() {
            return CallOutcome::DnsError;
        }
        let io = cause.downcast_ref::<std::io::Error>();
        if cause.is::<rustls::Error>() || io.is_some_and(carries_tls_error) {
            return CallOutcome::TlsError;
        }
        source = cause.source();
    }
    if err.is_timeout() {
        CallOutcome::Timeout
    } else if err.is_connect() {
        CallOutcome::ConnectError
    } else {
        CallOutcome::InvalidResponse
    }
}

/// rustls errors travel inside (nested) io::Errors, whose `source()` skips
/// them: look inside.
fn carries_tls_error(io: &std::io::Error) -> bool {
    io.get_ref().is_some_and(|inner| {
        inner.is::<rustls::Error>()
            || inner
                .downcast_ref::<std::io::Error>()
                .is_some_and(carries_tls_error)
    })
}

/// The innermost cause is the one that explains.
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

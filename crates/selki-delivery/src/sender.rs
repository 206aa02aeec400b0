//! One HTTP POST of a delivery. A failed attempt is data (an outcome with
//! its details), never an error: the worker records it and moves on.

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use selki_domain::{CallOutcome, OrganizationId};

use crate::proxy::{EgressProxy, Peer, ProxiedClient};
use crate::{Blocked, Destinations, excerpt, excerpt_of};

/// The clients for every delivery: pooled, keep-alive, no redirects, no
/// proxy from the environment, and a resolver that only hands out vetted
/// addresses, which are then the very addresses connected to (DNS
/// rebinding has nothing to swap). An organization granted internal
/// ranges has clients of its own, whose resolver knows its grants.
#[derive(Debug, Clone)]
pub struct Sender {
    everyone: Route,
    granted: HashMap<OrganizationId, Route>,
    guard: Arc<Destinations>,
    internal_excerpt_bytes: usize,
    user_agent: String,
}

/// How calls leave the machine.
#[derive(Debug, Clone)]
pub struct Egress {
    pub connect_timeout: Duration,
    pub user_agent: String,
    /// The operator's egress proxy, if calls must go through one.
    pub proxy: Option<EgressProxy>,
    /// Bytes of an internal destination's answer kept in its call (an
    /// address reachable only through an allowlist or a grant): what a
    /// tenant may read of an internal host. 0 keeps none.
    pub internal_excerpt_bytes: usize,
}

/// The clients of one scope (every organization without grants, or one
/// with).
#[derive(Clone)]
struct Route {
    direct: reqwest::Client,
    proxied: Option<(EgressProxy, ProxiedClient)>,
    user_agent: http::HeaderValue,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("proxied", &self.proxied.as_ref().map(|(p, _)| p))
            .finish_non_exhaustive()
    }
}

/// What to send.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub url: &'a url::Url,
    /// Whose call it is: which grants apply.
    pub organization: &'a OrganizationId,
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
    /// The response's headers, bounded ([`MAX_RESPONSE_HEADERS`] of them,
    /// [`RESPONSE_HEADER_BYTES`] in all, each value cut at 1 KiB) and made
    /// safe text; like the excerpt, an internal destination's only as far
    /// as the operator allows.
    pub headers: Vec<(String, String)>,
    pub error: Option<String>,
    pub duration: Duration,
}

/// Response headers a call keeps at most…
pub const MAX_RESPONSE_HEADERS: usize = 64;
/// …and bytes of them in all (a header value is cut at 1 KiB).
pub const RESPONSE_HEADER_BYTES: usize = 8 * 1024;
const HEADER_VALUE_BYTES: usize = 1024;

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

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
struct GuardedResolver {
    guard: Arc<Destinations>,
    scope: Option<OrganizationId>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let scope = self.scope.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let vetted = vetted_addresses(&guard, scope.as_ref(), &host).await?;
            Ok(Box::new(vetted.into_iter()) as Addrs)
        })
    }
}

/// `host`'s addresses that `scope` may reach, or why there are none.
pub(crate) async fn vetted_addresses(
    guard: &Destinations,
    scope: Option<&OrganizationId>,
    host: &str,
) -> Result<Vec<SocketAddr>, BoxError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        guard.check_for(scope, ip).map_err(Box::new)?;
        return Ok(vec![SocketAddr::new(ip, 0)]);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| Box::new(DnsFailure(format!("{host} did not resolve: {e}"))) as BoxError)?
        .collect();
    let mut blocked = None;
    let vetted: Vec<SocketAddr> = found
        .into_iter()
        .filter(|addr| {
            guard
                .check_for(scope, addr.ip())
                .map_err(|b| blocked = Some(b))
                .is_ok()
        })
        .collect();
    match (vetted.is_empty(), blocked) {
        (true, Some(b)) => Err(Box::new(b)),
        (true, None) => Err(Box::new(DnsFailure(format!("{host} has no addresses")))),
        (false, _) => Ok(vetted),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct DnsFailure(String);

impl Sender {
    pub fn new(guard: Destinations, egress: Egress) -> Result<Self, SenderError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SenderError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let guard = Arc::new(guard);
        let route = |scope: Option<OrganizationId>| Route::new(&guard, scope, &tls, &egress);
        let granted = guard
            .granted()
            .map(|org| Ok((org.clone(), route(Some(org.clone()))?)))
            .collect::<Result<_, SenderError>>()?;
        Ok(Self {
            everyone: route(None)?,
            granted,
            guard,
            internal_excerpt_bytes: egress.internal_excerpt_bytes,
            user_agent: egress.user_agent.clone(),
        })
    }

    /// POSTs once. Never fails: every problem is an outcome.
    pub async fn send(&self, out: Outgoing<'_>) -> Answer {
        let started = Instant::now();
        let scope = self.granted.get_key_value(out.organization);
        let (scope, route) = match scope {
            Some((org, route)) => (Some(org), route),
            None => (None, &self.everyone),
        };
        // IP-literal URLs never reach the resolver: vet them here.
        if let Some(blocked) = self.literal_blocked(scope, out.url) {
            return failure(
                CallOutcome::BlockedDestination,
                blocked.to_string(),
                started,
            );
        }
        let host = out.url.host_str().unwrap_or_default();
        // The attempt's whole time includes reading the answer: reqwest
        // bounds its own; through the proxy it is bounded here.
        let deadline = tokio::time::Instant::from_std(started) + out.timeout;
        let (sent, bounded_here) = match &route.proxied {
            Some((proxy, client)) if proxy.carries(host) => {
                (send_proxied(client, out, &route.user_agent).await, true)
            }
            _ => (send_direct(&route.direct, out).await, false),
        };
        let (response, peer) = match sent {
            Ok(sent) => sent,
            Err((outcome, error)) => return failure(outcome, error, started),
        };
        let status = response.status();
        let headers = self.keep_headers(response.headers(), peer);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (body, body_error) = if bounded_here {
            tokio::time::timeout_at(deadline, read_capped(response))
                .await
                .unwrap_or_else(|_| (Vec::new(), Some("timed out reading the response".into())))
        } else {
            read_capped(response).await
        };
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
            excerpt: self.excerpt(&body, peer),
            headers,
            error,
            duration: started.elapsed(),
        }
    }

    /// What `User-Agent` every call sends.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The response's headers as the call keeps them: bounded, safe text,
    /// none of an internal destination's unless its excerpts are kept.
    fn keep_headers(
        &self,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
    ) -> Vec<(String, String)> {
        if peer.is_some_and(|ip| !crate::ssrf::is_public(ip)) && self.internal_excerpt_bytes == 0 {
            return Vec::new();
        }
        let mut kept = Vec::new();
        let mut bytes = 0;
        for (name, value) in headers.iter().take(MAX_RESPONSE_HEADERS) {
            let value = excerpt_of(value.as_bytes(), HEADER_VALUE_BYTES);
            bytes += name.as_str().len() + value.len();
            if bytes > RESPONSE_HEADER_BYTES {
                break;
            }
            kept.push((name.as_str().to_owned(), value));
        }
        kept
    }

    /// The body as the call keeps it: an internal destination's only as
    /// far as the operator allows.
    fn excerpt(&self, body: &[u8], peer: Option<IpAddr>) -> Option<String> {
        match peer {
            Some(ip) if !crate::ssrf::is_public(ip) => (self.internal_excerpt_bytes > 0)
                .then(|| excerpt_of(body, self.internal_excerpt_bytes)),
            _ => Some(excerpt(body)),
        }
    }

    fn literal_blocked(&self, scope: Option<&OrganizationId>, url: &url::Url) -> Option<Blocked> {
        let ip: IpAddr = match url.host()? {
            url::Host::Ipv4(v4) => v4.into(),
            url::Host::Ipv6(v6) => v6.into(),
            url::Host::Domain(_) => return None,
        };
        self.guard.check_for(scope, ip).err()
    }
}

impl Route {
    fn new(
        guard: &Arc<Destinations>,
        scope: Option<OrganizationId>,
        tls: &rustls::ClientConfig,
        egress: &Egress,
    ) -> Result<Self, SenderError> {
        let resolver = GuardedResolver {
            guard: guard.clone(),
            scope: scope.clone(),
        };
        let direct = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .dns_resolver(Arc::new(resolver))
            // HTTP_PROXY and friends would hand a delivery to a proxy that
            // resolves and connects on its own, past the guard.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(egress.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(egress.user_agent.as_str())
            .build()
            .map_err(|e| SenderError(e.to_string()))?;
        let proxied = egress.proxy.as_ref().map(|proxy| {
            let mut tls = tls.clone();
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            let client = crate::proxy::client(
                proxy,
                guard.clone(),
                scope,
                Arc::new(tls),
                egress.connect_timeout,
            );
            (proxy.clone(), client)
        });
        let user_agent = http::HeaderValue::from_str(&egress.user_agent)
            .map_err(|e| SenderError(e.to_string()))?;
        Ok(Self {
            direct,
            proxied,
            user_agent,
        })
    }
}

type Sent = Result<(reqwest::Response, Option<IpAddr>), (CallOutcome, String)>;

async fn send_direct(client: &reqwest::Client, out: Outgoing<'_>) -> Sent {
    let mut request = client
        // A parsed Url: reqwest would parse a string again on every call.
        .post(out.url.clone())
        .timeout(out.timeout)
        .body(out.body);
    for (name, value) in out.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    match request.send().await {
        Ok(response) => {
            let peer = response.remote_addr().map(|a| a.ip());
            Ok((response, peer))
        }
        Err(err) => Err((classify(&err), describe(&err))),
    }
}

/// Through the egress proxy: the connector vets the destination and hands
/// the proxy its address; the answer is read like a direct one.
async fn send_proxied(
    client: &ProxiedClient,
    out: Outgoing<'_>,
    user_agent: &http::HeaderValue,
) -> Sent {
    let mut request = http::Request::post(out.url.as_str());
    for (name, value) in out.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .header(http::header::USER_AGENT, user_agent.clone())
        .body(http_body_util::Full::new(bytes::Bytes::from(out.body)))
        .map_err(|e| (CallOutcome::InvalidResponse, e.to_string()))?;
    let response = match tokio::time::timeout(out.timeout, client.request(request)).await {
        Err(_) => return Err((CallOutcome::Timeout, "timed out".to_owned())),
        Ok(Err(err)) => {
            let outcome = classify_chain(&err).unwrap_or(if err.is_connect() {
                CallOutcome::ConnectError
            } else {
                CallOutcome::InvalidResponse
            });
            return Err((outcome, describe_chain(&err)));
        }
        Ok(Ok(response)) => response,
    };
    let peer = response.extensions().get::<Peer>().map(|p| p.0.ip());
    let (parts, body) = response.into_parts();
    let response = http::Response::from_parts(parts, reqwest::Body::wrap(body));
    Ok((reqwest::Response::from(response), peer))
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
        headers: Vec::new(),
        error: Some(error),
        duration: started.elapsed(),
    }
}

/// Which kind of failure a transport error is, from its cause chain.
fn classify(err: &reqwest::Error) -> CallOutcome {
    if let Some(outcome) = err.source().and_then(classify_chain) {
        return outcome;
    }
    if err.is_timeout() {
        CallOutcome::Timeout
    } else if err.is_connect() {
        CallOutcome::ConnectError
    } else {
        CallOutcome::InvalidResponse
    }
}

/// The outcome a cause in `err`'s chain (itself included) names, if any.
fn classify_chain(err: &(dyn std::error::Error + 'static)) -> Option<CallOutcome> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.is::<Blocked>() {
            return Some(CallOutcome::BlockedDestination);
        }
        if e.is::<DnsFailure>() {
            return Some(CallOutcome::DnsError);
        }
        let io = e.downcast_ref::<std::io::Error>();
        if e.is::<rustls::Error>() || io.is_some_and(carries_tls_error) {
            return Some(CallOutcome::TlsError);
        }
        if e.is::<crate::proxy::ProxyRefused>() {
            return Some(CallOutcome::ConnectError);
        }
        cause = e.source();
    }
    None
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
    describe_chain(err)
}

fn describe_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

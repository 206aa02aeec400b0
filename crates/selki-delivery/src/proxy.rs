//! Deliveries through an operator's egress proxy (for fixed egress
//! addresses): HTTP CONNECT or SOCKS5. The proxy is never given a host
//! name: the destination is resolved and vetted here, and the proxy is
//! asked for the vetted address, so neither its DNS nor a rebinding answer
//! can take a delivery inside. TLS runs end to end inside the tunnel, to
//! the webhook's host name. The proxy itself is the operator's and may be
//! internal.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use http::Uri;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use selki_domain::OrganizationId;
use tokio::net::TcpStream;

use crate::Destinations;
use crate::sender::{BoxError, vetted_addresses};

/// The egress proxy from configuration.
#[derive(Clone)]
pub struct EgressProxy {
    uri: Uri,
    kind: ProxyKind,
    /// `user:password` from the URL, if any.
    credentials: Option<(String, String)>,
    no_proxy: NoProxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyKind {
    Connect,
    Socks5,
}

/// The egress proxy setting is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressProxyError {
    #[error(
        "`{0}` is not a proxy URL such as http://proxy.internal:3128 or socks5://10.0.0.5:1080"
    )]
    Url(String),
    #[error(
        "`{0}`: socks5h lets the proxy resolve names, and Selki resolves and vets them itself; use socks5://"
    )]
    RemoteDns(String),
    #[error("`{0}`: the proxy must be http:// (HTTP CONNECT) or socks5://")]
    Scheme(String),
}

impl EgressProxy {
    /// `http://[user:pass@]host:port` (CONNECT) or `socks5://…`, and the
    /// hosts reached without it: names (a leading `.` or none: the name and
    /// its subdomains), IP addresses or CIDRs (for IP-literal URLs).
    pub fn parse(url: &str, no_proxy: &[String]) -> Result<Self, EgressProxyError> {
        let parsed = url::Url::parse(url.trim()).map_err(|_| EgressProxyError::Url(url.into()))?;
        let kind = match parsed.scheme() {
            "http" => ProxyKind::Connect,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => return Err(EgressProxyError::RemoteDns(url.into())),
            _ => return Err(EgressProxyError::Scheme(url.into())),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| EgressProxyError::Url(url.into()))?;
        let port = parsed
            .port_or_known_default()
            .or((kind == ProxyKind::Socks5).then_some(1080))
            .ok_or_else(|| EgressProxyError::Url(url.into()))?;
        let uri = format!("{}://{host}:{port}", parsed.scheme())
            .parse()
            .map_err(|_| EgressProxyError::Url(url.into()))?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!parsed.username().is_empty()).then(|| {
            (
                decode(parsed.username()),
                decode(parsed.password().unwrap_or_default()),
            )
        });
        Ok(Self {
            uri,
            kind,
            credentials,
            no_proxy: NoProxy::parse(no_proxy),
        })
    }

    /// Whether a call to `host` goes through the proxy.
    pub(crate) fn carries(&self, host: &str) -> bool {
        !self.no_proxy.matches(host)
    }
}

impl std::fmt::Debug for EgressProxy {
    // Credentials never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressProxy")
            .field("uri", &self.uri)
            .field("kind", &self.kind)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// Hosts reached directly although a proxy is set.
#[derive(Debug, Clone, Default)]
struct NoProxy {
    names: Vec<String>,
    nets: Vec<ipnet::IpNet>,
}

impl NoProxy {
    fn parse(entries: &[String]) -> Self {
        let mut list = Self::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if let Ok(net) = entry.parse::<ipnet::IpNet>() {
                list.nets.push(net);
            } else if let Ok(ip) = entry.parse::<std::net::IpAddr>() {
                list.nets.push(ipnet::IpNet::from(ip));
            } else {
                list.names
                    .push(entry.trim_start_matches('.').to_ascii_lowercase());
            }
        }
        list
    }

    fn matches(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return self.nets.iter().any(|net| net.contains(&ip));
        }
        let host = host.to_ascii_lowercase();
        self.names.iter().any(|name| {
            host == *name
                || host
                    .strip_suffix(name.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

/// The client for calls through the proxy: pooled, HTTP/1.1.
pub(crate) type ProxiedClient =
    hyper_util::client::legacy::Client<ThroughProxy, http_body_util::Full<bytes::Bytes>>;

pub(crate) fn client(
    proxy: &EgressProxy,
    guard: Arc<Destinations>,
    scope: Option<OrganizationId>,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
) -> ProxiedClient {
    let connector = ThroughProxy {
        proxy: Arc::new(proxy.clone()),
        guard,
        scope,
        tls: tokio_rustls::TlsConnector::from(tls),
        connect_timeout,
    };
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// Connects to a destination through the proxy, after vetting it.
#[derive(Clone)]
pub(crate) struct ThroughProxy {
    proxy: Arc<EgressProxy>,
    guard: Arc<Destinations>,
    scope: Option<OrganizationId>,
    tls: tokio_rustls::TlsConnector,
    connect_timeout: Duration,
}

/// Where a call through the proxy really went: the vetted address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

impl tower_service::Service<Uri> for ThroughProxy {
    type Response = Tunneled;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Tunneled, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(destination).await })
    }
}

impl ThroughProxy {
    async fn connect(self, destination: Uri) -> Result<Tunneled, BoxError> {
        let host = destination
            .host()
            .ok_or("the URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let https = destination.scheme_str() == Some("https");
        let port = destination
            .port_u16()
            .unwrap_or(if https { 443 } else { 80 });
        let peer = vetted_addresses(&self.guard, self.scope.as_ref(), &host)
            .await?
            .first()
            .map(|a| SocketAddr::new(a.ip(), port))
            .ok_or("no vetted address")?;
        let target: Uri = format!("http://{peer}").parse()?;
        let mut to_proxy = HttpConnector::new();
        to_proxy.set_connect_timeout(Some(self.connect_timeout));
        to_proxy.set_nodelay(true);
        // The proxy URL is socks5:// for SOCKS: the connector only needs its address.
        to_proxy.enforce_http(false);
        let stream = match self.proxy.kind {
            ProxyKind::Connect => {
                let mut tunnel = Tunnel::new(self.proxy.uri.clone(), to_proxy);
                if let Some((user, password)) = &self.proxy.credentials {
                    let basic = base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{password}"));
                    tunnel = tunnel.with_auth(format!("Basic {basic}").parse()?);
                }
                tower_service::Service::call(&mut tunnel, target)
                    .await
                    .map_err(|e| ProxyRefused(format!("{e:?}")))?
            }
            ProxyKind::Socks5 => {
                let mut socks = SocksV5::new(self.proxy.uri.clone(), to_proxy);
                if let Some((user, password)) = &self.proxy.credentials {
                    socks = socks.with_auth(user.clone(), password.clone());
                }
                tower_service::Service::call(&mut socks, target)
                    .await
                    .map_err(|e| ProxyRefused(format!("{e:?}")))?
            }
        };
        let tcp = stream.into_inner();
        let io = if https {
            let name = rustls::pki_types::ServerName::try_from(host)?;
            Io::Tls(Box::new(TokioIo::new(self.tls.connect(name, tcp).await?)))
        } else {
            Io::Plain(TokioIo::new(tcp))
        };
        Ok(Tunneled { io, peer })
    }
}

/// The proxy would not (or could not) open the tunnel.
#[derive(Debug, thiserror::Error)]
#[error("the egress proxy did not open a tunnel: {0}")]
pub(crate) struct ProxyRefused(String);

/// A connection through the proxy, plain or TLS inside the tunnel.
pub(crate) struct Tunneled {
    io: Io,
    peer: SocketAddr,
}

enum Io {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>),
}

impl Connection for Tunneled {
    fn connected(&self) -> Connected {
        Connected::new().extra(Peer(self.peer))
    }
}

impl hyper::rt::Read for Tunneled {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for Tunneled {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}

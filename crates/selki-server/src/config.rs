//! One configuration, from flags, the environment and an optional TOML
//! file (in that order of precedence), checked before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;
use selki_delivery::{Destinations, EgressProxy, TIMEOUT_MAX, TIMEOUT_MIN, WorkerSettings};
use selki_domain::Health;
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(
    name = "selki-server",
    version,
    // A flag given twice takes its last value, so a wrapper script can
    // append to a command line.
    args_override_self = true,
    about = "Selki Webhooks: the gRPC server (webhook management and event ingestion)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) settings: Settings,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the gRPC API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Re-seal every stored signing secret with the newest secret key.
    ResealSecrets,
    /// Print the configuration this server would run with (keys redacted), then exit.
    Config,
    /// Create an API key and print it once on standard output.
    CreateApiKey {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// The organization the key acts for; an admin key when omitted.
        #[arg(long)]
        organization: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// Local development: missing secret keys are a loud warning.
    Dev,
    /// Production: missing secret keys stop start-up.
    Production,
}

/// What a process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// The gRPC API and the delivery worker (the default).
    All,
    /// The gRPC API only: another process delivers.
    Api,
    /// The delivery worker only (PostgreSQL: run as many as you like).
    Worker,
}

impl Role {
    pub(crate) fn serves_api(self) -> bool {
        self != Self::Worker
    }

    pub(crate) fn delivers(self) -> bool {
        self != Self::Api
    }
}

/// A duration written like `15s`, `500ms`, `2h` or `5days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Span(pub(crate) Duration);

impl std::str::FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text.trim())
            .map(Self)
            .map_err(|e| format!("`{text}` is not a duration like 15s, 500ms or 5days ({e})"))
    }
}

impl TryFrom<String> for Span {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Every setting. All optional here; `Config::resolve` applies defaults.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Settings {
    /// A TOML file with any of these settings (flags and environment win).
    #[arg(long, env = "SELKI_CONFIG", global = true)]
    #[serde(skip)]
    pub(crate) config: Option<PathBuf>,
    /// Address of the gRPC listener [default: 127.0.0.1:50051].
    #[arg(long, env = "SELKI_LISTEN", global = true)]
    pub(crate) listen: Option<SocketAddr>,
    /// `postgres://…` for PostgreSQL, or `sqlite:…` [default: sqlite://selki.db?mode=rwc, in the working directory].
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub(crate) database_url: Option<String>,
    /// dev or production [default: dev].
    #[arg(long, env = "SELKI_MODE", global = true)]
    pub(crate) mode: Option<Mode>,
    /// Keys sealing signing secrets and custom headers at rest, `ID:BASE64` of 32 bytes, comma-separated, newest first. As a flag it is visible to other local users (in the process list): prefer SELKI_SECRET_KEYS or --secret-keys-file.
    #[arg(
        long,
        env = "SELKI_SECRET_KEYS",
        value_delimiter = ',',
        global = true,
        hide_env_values = true
    )]
    pub(crate) secret_keys: Option<Vec<String>>,
    /// A file holding the secret keys (one per line or comma-separated), readable by this server's user only.
    #[arg(long, env = "SELKI_SECRET_KEYS_FILE", global = true)]
    pub(crate) secret_keys_file: Option<PathBuf>,
    /// The bootstrap admin API key (`authorization: Bearer <key>`). As a flag it is visible to other local users (in the process list): prefer SELKI_ADMIN_KEY or --admin-key-file.
    #[arg(long, env = "SELKI_ADMIN_KEY", global = true, hide_env_values = true)]
    pub(crate) admin_key: Option<String>,
    /// A file holding the bootstrap admin API key, readable by this server's user only.
    #[arg(long, env = "SELKI_ADMIN_KEY_FILE", global = true)]
    pub(crate) admin_key_file: Option<PathBuf>,
    /// Live webhooks one organization may have [default: 100].
    #[arg(long, env = "SELKI_MAX_WEBHOOKS_PER_ORGANIZATION", global = true)]
    pub(crate) max_webhooks_per_organization: Option<u32>,
    /// Deliveries one submission may create, events × subscribed webhooks; a larger one is refused, nothing stored [default: 10000].
    #[arg(long, env = "SELKI_MAX_DELIVERIES_PER_SUBMISSION", global = true)]
    pub(crate) max_deliveries_per_submission: Option<usize>,
    /// Manual and test calls (RedeliverCall, SendTestEvent) in flight at once per organization [default: 8].
    #[arg(long, env = "SELKI_MANUAL_CALLS_PER_ORGANIZATION", global = true)]
    pub(crate) manual_calls_per_organization: Option<usize>,
    /// Manual and test calls in flight at once in all [default: 64].
    #[arg(long, env = "SELKI_MANUAL_CALLS", global = true)]
    pub(crate) manual_calls: Option<usize>,
    /// WatchCalls streams one API key may hold open at once [default: 16].
    #[arg(long, env = "SELKI_MAX_WATCH_STREAMS_PER_KEY", global = true)]
    pub(crate) max_watch_streams_per_key: Option<usize>,
    /// Allow plain-http webhook endpoints [default: false: https only].
    #[arg(long, env = "SELKI_ALLOW_HTTP_ENDPOINTS", global = true)]
    pub(crate) allow_http_endpoints: Option<bool>,
    /// Web origins whose pages may call the API from a browser (gRPC-Web, CORS), comma-separated, e.g. https://app.selki.io. Each exactly scheme://host[:port]; `*` is refused, since calls carry credentials [default: none: only same-origin pages and non-browser clients].
    #[arg(
        long,
        env = "SELKI_CORS_ALLOW_ORIGIN",
        value_delimiter = ',',
        global = true
    )]
    pub(crate) cors_allow_origin: Option<Vec<String>>,
    /// Serve the webhook console at /console/ on the gRPC listener [default: true].
    #[arg(long, env = "SELKI_CONSOLE", global = true)]
    pub(crate) console: Option<bool>,
    /// Web origins whose pages may frame the console (an iframe in your app), comma-separated, each exactly scheme://host[:port] [default: none: no page may frame it].
    #[arg(
        long,
        env = "SELKI_CONSOLE_FRAME_ANCESTORS",
        value_delimiter = ',',
        global = true
    )]
    pub(crate) console_frame_ancestors: Option<Vec<String>>,
    /// PEM certificate chain: serve gRPC over TLS (with --tls-key).
    #[arg(long, env = "SELKI_TLS_CERT", global = true)]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SELKI_TLS_KEY", global = true)]
    pub(crate) tls_key: Option<PathBuf>,
    /// text or json [default: text].
    #[arg(long, env = "SELKI_LOG_FORMAT", global = true)]
    pub(crate) log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `selki=debug` [default: info].
    #[arg(long, env = "SELKI_LOG", global = true)]
    pub(crate) log: Option<String>,
    /// all (API and worker), api, or worker [default: all].
    #[arg(long, env = "SELKI_ROLE", global = true)]
    pub(crate) role: Option<Role>,
    /// Export traces to this OTLP collector (gRPC, e.g. http://127.0.0.1:4317): spans from SubmitEvent through each call of its deliveries, in the submitter's trace (`traceparent`) [default: none: no export].
    #[arg(long, env = "SELKI_OTLP_ENDPOINT", global = true)]
    pub(crate) otlp_endpoint: Option<String>,
    /// Address of the Prometheus endpoint (`/metrics`) [default: none].
    #[arg(long, env = "SELKI_METRICS_LISTEN", global = true)]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Internal networks webhooks may reach anyway, as CIDRs, comma-separated (e.g. 10.1.0.0/16). Cloud metadata addresses need their exact /32 or /128 [default: none: public addresses only].
    #[arg(
        long,
        env = "SELKI_ALLOW_DESTINATIONS",
        value_delimiter = ',',
        global = true
    )]
    pub(crate) allow_destinations: Option<Vec<String>>,
    /// Internal networks one organization's webhooks may reach, as ORG:CIDR, comma-separated (e.g. acme:10.1.0.0/16). Prefer this to --allow-destinations, which opens a range to every organization [default: none].
    #[arg(
        long,
        env = "SELKI_ALLOW_DESTINATIONS_FOR",
        value_delimiter = ',',
        global = true
    )]
    pub(crate) allow_destinations_for: Option<Vec<String>>,
    /// Bytes of an internal destination's answer kept in its call (one reached only through --allow-destinations or --allow-destinations-for); 0 keeps none [default: 0 in production, 16384 in dev].
    #[arg(long, env = "SELKI_INTERNAL_EXCERPT_BYTES", global = true)]
    pub(crate) internal_excerpt_bytes: Option<usize>,
    /// Send every call through this proxy: http://host:port (HTTP CONNECT) or socks5://host:port, with user:password@ if it needs them. Destinations are still vetted here, and the proxy is handed the vetted address, never a name. Proxy variables of the environment (HTTP_PROXY, …) are never used [default: none: calls go direct].
    #[arg(
        long,
        env = "SELKI_EGRESS_PROXY",
        global = true,
        hide_env_values = true
    )]
    pub(crate) egress_proxy: Option<String>,
    /// Hosts called directly although --egress-proxy is set: names (each with its subdomains), IP addresses or CIDRs, comma-separated.
    #[arg(
        long,
        env = "SELKI_EGRESS_NO_PROXY",
        value_delimiter = ',',
        global = true
    )]
    pub(crate) egress_no_proxy: Option<Vec<String>>,
    /// Deliveries held at once per worker process: calls in flight plus claimed ones waiting their webhook's turn [default: 1024].
    #[arg(long, env = "SELKI_WORKER_CONCURRENCY", global = true)]
    pub(crate) worker_concurrency: Option<usize>,
    /// Calls in flight at once to one webhook, per worker process [default: 32].
    #[arg(long, env = "SELKI_WORKER_PER_WEBHOOK", global = true)]
    pub(crate) worker_per_webhook: Option<usize>,
    /// How long a worker's claim on a delivery lasts at most. A worker that dies loses its claims to the others within about 10 s anyway (its heartbeat stops); the lease covers a worker alive but cut off from the database [default: 120s].
    #[arg(long, env = "SELKI_LEASE", global = true)]
    pub(crate) lease: Option<Span>,
    /// Look for due deliveries at least this often [default: 1s].
    #[arg(long, env = "SELKI_POLL_INTERVAL", global = true)]
    pub(crate) poll_interval: Option<Span>,
    /// Connect timeout of a call [default: 5s].
    #[arg(long, env = "SELKI_CONNECT_TIMEOUT", global = true)]
    pub(crate) connect_timeout: Option<Span>,
    /// Whole-call timeout, for webhooks that set none [default: 15s].
    #[arg(long, env = "SELKI_REQUEST_TIMEOUT", global = true)]
    pub(crate) request_timeout: Option<Span>,
    /// Disable a webhook failing without a success for this long… [default: 5days].
    #[arg(long, env = "SELKI_AUTO_DISABLE_AFTER", global = true)]
    pub(crate) auto_disable_after: Option<Span>,
    /// …with at least this many failed calls in a row [default: 10].
    #[arg(long, env = "SELKI_AUTO_DISABLE_MIN_FAILURES", global = true)]
    pub(crate) auto_disable_min_failures: Option<u32>,
    /// Raise WEBHOOK_FAILING once a webhook fails this many calls in a row [default: 5].
    #[arg(long, env = "SELKI_FAILING_ALERT_AFTER", global = true)]
    pub(crate) failing_alert_after: Option<u32>,
    /// Prune calls and delivered events older than this; 0s keeps everything [default: 30days].
    #[arg(long, env = "SELKI_RETENTION", global = true)]
    pub(crate) retention: Option<Span>,
    /// Failed and skipped deliveries stay recoverable this long (at least the retention), then are pruned with their events [default: 90days].
    #[arg(long, env = "SELKI_RECOVERY_WINDOW", global = true)]
    pub(crate) recovery_window: Option<Span>,
}

/// The checked configuration. Its `Debug` output leaves the keys out.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) database_url: String,
    pub(crate) mode: Mode,
    pub(crate) secret_keys: Vec<SecretString>,
    pub(crate) admin_key: Option<SecretString>,
    pub(crate) max_watch_streams_per_key: usize,
    pub(crate) limits: selki_storage::Limits,
    pub(crate) manual_calls_per_organization: usize,
    pub(crate) manual_calls: usize,
    pub(crate) allow_http_endpoints: bool,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    /// Origins allowed to call from a browser, as sent in `Origin`.
    pub(crate) cors_allow_origin: Vec<http::HeaderValue>,
    pub(crate) console: bool,
    /// Origins whose pages may frame the console.
    pub(crate) console_frame_ancestors: Vec<http::HeaderValue>,
    pub(crate) log_format: LogFormat,
    pub(crate) log: String,
    pub(crate) role: Role,
    pub(crate) metrics_listen: Option<SocketAddr>,
    pub(crate) otlp_endpoint: Option<String>,
    /// Every organization's allowlist, and grants to one each.
    pub(crate) destinations: Destinations,
    pub(crate) allow_destinations: Vec<String>,
    pub(crate) internal_excerpt_bytes: usize,
    pub(crate) egress_proxy: Option<EgressProxy>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) worker: WorkerSettings,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &without_password(&self.database_url))
            .field("mode", &self.mode)
            .field(
                "secret_keys",
                &format_args!("<{} redacted>", self.secret_keys.len()),
            )
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .field("max_watch_streams_per_key", &self.max_watch_streams_per_key)
            .field("limits", &self.limits)
            .field(
                "manual_calls_per_organization",
                &self.manual_calls_per_organization,
            )
            .field("manual_calls", &self.manual_calls)
            .field("allow_http_endpoints", &self.allow_http_endpoints)
            .field("cors_allow_origin", &self.cors_allow_origin)
            .field("console", &self.console)
            .field("console_frame_ancestors", &self.console_frame_ancestors)
            .field("tls", &self.tls)
            .field("log_format", &self.log_format)
            .field("log", &self.log)
            .field("role", &self.role)
            .field("metrics_listen", &self.metrics_listen)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("allow_destinations", &self.allow_destinations)
            .field("destinations", &self.destinations)
            .field("internal_excerpt_bytes", &self.internal_excerpt_bytes)
            .field("egress_proxy", &self.egress_proxy)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("worker", &self.worker)
            .finish()
    }
}

/// A database URL as it may be shown: its password replaced.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("<redacted>"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A key kept in a file of its own, so that it is in no process list.
fn read_secret_file(path: &std::path::Path, setting: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))?;
    anyhow::ensure!(
        !text.trim().is_empty(),
        "{setting}: {} is empty",
        path.display()
    );
    Ok(text)
}

/// Defaults not owned by the crate whose setting it is (the worker's,
/// the store's limits and the auto-disable rule come from their own
/// `Default`). The help texts say the same; a test holds them to it.
const LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 50051);
const DATABASE_URL: &str = "sqlite://selki.db?mode=rwc";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const MANUAL_CALLS_PER_ORGANIZATION: usize = 8;
const MANUAL_CALLS: usize = 64;
const WATCH_STREAMS_PER_KEY: usize = 16;
const LOG: &str = "info";

/// `flags.or(file)`, field by field: a setting given as a flag (or in the
/// environment) wins over the file's.
macro_rules! merged {
    ($flags:expr, $file:expr, [$($field:ident),* $(,)?]) => {{
        let (flags, file) = ($flags, $file);
        Settings { config: flags.config, $($field: flags.$field.or(file.$field)),* }
    }};
}

impl Settings {
    /// These settings over those of the `--config` file, if one is named.
    fn with_file(self) -> anyhow::Result<Self> {
        let Some(path) = &self.config else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("config: cannot read {}", path.display()))?;
        let file = toml::from_str::<Settings>(&text)
            .with_context(|| format!("config: {} is not a valid settings file", path.display()))?;
        Ok(merged!(
            self,
            file,
            [
                listen,
                database_url,
                mode,
                secret_keys,
                secret_keys_file,
                admin_key,
                admin_key_file,
                max_webhooks_per_organization,
                max_deliveries_per_submission,
                manual_calls_per_organization,
                manual_calls,
                max_watch_streams_per_key,
                allow_http_endpoints,
                cors_allow_origin,
                console,
                console_frame_ancestors,
                tls_cert,
                tls_key,
                log_format,
                log,
                role,
                metrics_listen,
                otlp_endpoint,
                allow_destinations,
                allow_destinations_for,
                internal_excerpt_bytes,
                egress_proxy,
                egress_no_proxy,
                worker_concurrency,
                worker_per_webhook,
                lease,
                poll_interval,
                connect_timeout,
                request_timeout,
                auto_disable_after,
                auto_disable_min_failures,
                failing_alert_after,
                retention,
                recovery_window,
            ]
        ))
    }
}

/// At least 1, or the setting's name in the error.
fn at_least_one(value: usize, name: &str) -> anyhow::Result<usize> {
    anyhow::ensure!(value > 0, "{name}: must be at least 1");
    Ok(value)
}

impl Config {
    /// Flags and environment, over the file, over the defaults; checked.
    pub(crate) fn resolve(settings: Settings) -> anyhow::Result<Self> {
        let s = settings.with_file()?;
        let mode = s.mode.unwrap_or(Mode::Dev);
        let request_timeout = s.request_timeout.map_or(REQUEST_TIMEOUT, |t| t.0);
        if !(TIMEOUT_MIN..=TIMEOUT_MAX).contains(&request_timeout) {
            bail!("request-timeout: must be 1s to 60s");
        }
        let worker = worker_settings(&s, request_timeout)?;
        let tls = match (s.tls_cert, s.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("tls-cert and tls-key: give both or neither"),
        };
        let admin_key = match s.admin_key_file {
            Some(path) => Some(read_secret_file(&path, "admin-key-file")?),
            None => s.admin_key,
        }
        .map(|k| k.trim().to_owned());
        if admin_key.as_deref().is_some_and(|k| k.len() < 24) {
            bail!("admin-key: must be at least 24 characters (e.g. `openssl rand -base64 32`)");
        }
        let secret_keys: Vec<String> = match s.secret_keys_file {
            Some(path) => read_secret_file(&path, "secret-keys-file")?
                .split([',', '\n'])
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            None => s.secret_keys.unwrap_or_default(),
        };
        let database_url = s.database_url.unwrap_or_else(|| DATABASE_URL.into());
        if !["postgres:", "postgresql:", "sqlite:"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            bail!("database-url: must start with postgres:// or sqlite:");
        }
        let allow_destinations = s.allow_destinations.unwrap_or_default();
        let destinations = Destinations::new(&allow_destinations)
            .context("allow-destinations")?
            .with_grants(&s.allow_destinations_for.unwrap_or_default())
            .context("allow-destinations-for")?;
        let no_proxy = s.egress_no_proxy.unwrap_or_default();
        let egress_proxy = s
            .egress_proxy
            .as_deref()
            .map(|url| EgressProxy::parse(url, &no_proxy))
            .transpose()
            .context("egress-proxy")?;
        let internal_excerpt_bytes = s
            .internal_excerpt_bytes
            .unwrap_or(match mode {
                Mode::Production => 0,
                Mode::Dev => selki_delivery::EXCERPT_BYTES,
            })
            .min(selki_delivery::EXCERPT_BYTES);
        let limits = selki_storage::Limits::default();
        let limits = selki_storage::Limits {
            webhooks_per_organization: s
                .max_webhooks_per_organization
                .unwrap_or(limits.webhooks_per_organization)
                .max(1),
            deliveries_per_submission: s
                .max_deliveries_per_submission
                .unwrap_or(limits.deliveries_per_submission)
                .max(1),
            ..limits
        };
        Ok(Self {
            listen: s.listen.unwrap_or_else(|| SocketAddr::from(LISTEN)),
            database_url,
            mode,
            secret_keys: secret_keys.into_iter().map(SecretString::from).collect(),
            admin_key: admin_key.map(SecretString::from),
            max_watch_streams_per_key: s
                .max_watch_streams_per_key
                .unwrap_or(WATCH_STREAMS_PER_KEY)
                .max(1),
            limits,
            manual_calls_per_organization: at_least_one(
                s.manual_calls_per_organization
                    .unwrap_or(MANUAL_CALLS_PER_ORGANIZATION),
                "manual-calls-per-organization",
            )?,
            manual_calls: at_least_one(s.manual_calls.unwrap_or(MANUAL_CALLS), "manual-calls")?,
            allow_http_endpoints: s.allow_http_endpoints.unwrap_or(false),
            tls,
            cors_allow_origin: web_origins(s.cors_allow_origin).context("cors-allow-origin")?,
            console: s.console.unwrap_or(true),
            console_frame_ancestors: web_origins(s.console_frame_ancestors)
                .context("console-frame-ancestors")?,
            log_format: s.log_format.unwrap_or(LogFormat::Text),
            log: s.log.unwrap_or_else(|| LOG.into()),
            role: s.role.unwrap_or(Role::All),
            metrics_listen: s.metrics_listen,
            otlp_endpoint: s.otlp_endpoint,
            destinations,
            allow_destinations,
            internal_excerpt_bytes,
            egress_proxy,
            connect_timeout: s.connect_timeout.map_or(CONNECT_TIMEOUT, |t| t.0),
            request_timeout,
            worker,
        })
    }
}

fn web_origins(texts: Option<Vec<String>>) -> anyhow::Result<Vec<http::HeaderValue>> {
    texts
        .unwrap_or_default()
        .iter()
        .map(|o| web_origin(o))
        .collect()
}

/// An origin as browsers send it in `Origin`: `scheme://host[:port]`, the
/// host lower-cased, the default port left out. Anything more (a path, a
/// wildcard, credentials) is refused rather than silently widened.
fn web_origin(text: &str) -> anyhow::Result<http::HeaderValue> {
    let text = text.trim();
    if text == "*" {
        bail!("`*` is not allowed: calls carry API keys; name each origin");
    }
    let url = url::Url::parse(text).with_context(|| format!("`{text}` is not an origin"))?;
    let plain = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && !text.ends_with('/');
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !plain {
        bail!("`{text}` is not an origin: give scheme://host[:port], e.g. https://app.example.com");
    }
    http::HeaderValue::from_str(&url.origin().ascii_serialization())
        .with_context(|| format!("`{text}` is not an origin"))
}

/// The worker's settings: its own defaults, overridden.
fn worker_settings(s: &Settings, request_timeout: Duration) -> anyhow::Result<WorkerSettings> {
    let defaults = WorkerSettings::default();
    let span = |value: Option<Span>, default: Duration| value.map_or(default, |v| v.0);
    let lease = span(s.lease, defaults.lease);
    // A lease must outlast any call, or a slow call would be made twice.
    if lease < request_timeout * 2 {
        bail!("lease: must be at least twice the request timeout");
    }
    let retention = span(s.retention, defaults.retention.unwrap_or(Duration::ZERO));
    Ok(WorkerSettings {
        concurrency: at_least_one(
            s.worker_concurrency.unwrap_or(defaults.concurrency),
            "worker-concurrency",
        )?,
        per_webhook: at_least_one(
            s.worker_per_webhook.unwrap_or(defaults.per_webhook),
            "worker-per-webhook",
        )?,
        lease,
        poll_interval: span(s.poll_interval, defaults.poll_interval).max(Duration::from_millis(10)),
        health: Health {
            disable_after: span(s.auto_disable_after, defaults.health.disable_after),
            disable_min_failures: s
                .auto_disable_min_failures
                .unwrap_or(defaults.health.disable_min_failures),
            failing_alert_after: match s.failing_alert_after {
                Some(0) => anyhow::bail!("failing-alert-after: must be at least 1"),
                given => given.unwrap_or(defaults.health.failing_alert_after),
            },
        },
        retention: (!retention.is_zero()).then_some(retention),
        recovery_window: span(s.recovery_window, defaults.recovery_window).max(retention),
        ..defaults
    })
}

//! One configuration, from flags, the environment and an optional TOML
//! file (in that order of precedence), checked before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(
    name = "selki-server",
    version,
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
    /// Keys sealing signing secrets at rest, `ID:BASE64` of 32 bytes, comma-separated, newest first.
    #[arg(
        long,
        env = "SELKI_SECRET_KEYS",
        value_delimiter = ',',
        global = true,
        hide_env_values = true
    )]
    pub(crate) secret_keys: Option<Vec<String>>,
    /// The bootstrap admin API key (`authorization: Bearer <key>`).
    #[arg(long, env = "SELKI_ADMIN_KEY", global = true, hide_env_values = true)]
    pub(crate) admin_key: Option<String>,
    /// Allow plain-http webhook endpoints [default: false: https only].
    #[arg(long, env = "SELKI_ALLOW_HTTP_ENDPOINTS", global = true)]
    pub(crate) allow_http_endpoints: Option<bool>,
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
}

/// The checked configuration. Its `Debug` output leaves the keys out.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) database_url: String,
    pub(crate) mode: Mode,
    pub(crate) secret_keys: Vec<String>,
    pub(crate) admin_key: Option<String>,
    pub(crate) allow_http_endpoints: bool,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) log_format: LogFormat,
    pub(crate) log: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("mode", &self.mode)
            .field(
                "secret_keys",
                &format_args!("<{} redacted>", self.secret_keys.len()),
            )
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .field("allow_http_endpoints", &self.allow_http_endpoints)
            .field("tls", &self.tls)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub(crate) fn resolve(settings: Settings) -> anyhow::Result<Self> {
        let file = match &settings.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("config: cannot read {}", path.display()))?;
                toml::from_str::<Settings>(&text).with_context(|| {
                    format!("config: {} is not a valid settings file", path.display())
                })?
            }
            None => Settings::default(),
        };
        let s = settings;
        let tls = match (s.tls_cert.or(file.tls_cert), s.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("tls-cert and tls-key: give both or neither"),
        };
        let admin_key = s.admin_key.or(file.admin_key);
        if admin_key.as_deref().is_some_and(|k| k.trim().len() < 24) {
            bail!("admin-key: must be at least 24 characters (e.g. `openssl rand -base64 32`)");
        }
        let database_url = s
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| "sqlite://selki.db?mode=rwc".into());
        if !["postgres:", "postgresql:", "sqlite:"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            bail!("database-url: must start with postgres:// or sqlite:");
        }
        Ok(Self {
            listen: s
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 50051))),
            database_url,
            mode: s.mode.or(file.mode).unwrap_or(Mode::Dev),
            secret_keys: s.secret_keys.or(file.secret_keys).unwrap_or_default(),
            admin_key,
            allow_http_endpoints: s
                .allow_http_endpoints
                .or(file.allow_http_endpoints)
                .unwrap_or(false),
            tls,
            log_format: s.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            log: s.log.or(file.log).unwrap_or_else(|| "info".into()),
        })
    }
}

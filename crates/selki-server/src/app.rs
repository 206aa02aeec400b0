//! The server, built from its configuration, then run until a shutdown
//! signal: stop accepting and claiming, report NOT_SERVING, finish
//! in-flight RPCs and calls, record them, close the pool.

use std::sync::Arc;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use selki_api::{Api, ApiSettings};
use selki_delivery::{Dispatcher, Egress, Metrics, Sender, Worker};
use selki_domain::{Clock, SyncedClock, UrlPolicy};
use selki_storage::{DEVELOPMENT_KEY_ID, Keyring, Store, Writes};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::config::{Config, Mode};

pub(crate) struct App {
    config: Config,
    /// This process's name among those sharing the database: its
    /// heartbeat row and the prefix of its lease tokens.
    name: String,
    store: Store,
    /// The gRPC listener, unless this process only delivers.
    listener: Option<TcpListener>,
    metrics_listener: Option<TcpListener>,
    dispatcher: Dispatcher,
    clock: Arc<dyn Clock>,
    /// The same clock, kept at the database's (PostgreSQL).
    synced: Arc<SyncedClock>,
    /// Held while this process is its SQLite database's only worker.
    _sole_worker: Option<selki_storage::SoleWorker>,
}

/// The keyring from configuration; without keys, a development keyring in
/// dev mode and a refusal in production.
pub(crate) fn keyring(config: &Config) -> anyhow::Result<Keyring> {
    if config.secret_keys.is_empty() {
        anyhow::ensure!(
            config.mode == Mode::Dev,
            "secret-keys: required in production mode (e.g. SELKI_SECRET_KEYS=k1:$(openssl rand -base64 32))"
        );
        tracing::warn!(
            "NO SECRET KEYS CONFIGURED: signing secrets and custom headers are sealed with a \
             fixed, publicly known development key (`{DEVELOPMENT_KEY_ID}`). Set SELKI_SECRET_KEYS \
             before storing real secrets; what is sealed until then is re-sealed with your key by \
             running `selki-server reseal-secrets` once with SELKI_SECRET_KEYS set."
        );
        return Ok(Keyring::insecure_development());
    }
    let keys: Vec<String> = config
        .secret_keys
        .iter()
        .map(|k| k.expose_secret().to_owned())
        .collect();
    Keyring::parse(&keys).context("secret-keys")
}

pub(crate) async fn open_store(
    config: &Config,
    keyring: Keyring,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url, keyring, clock)
        .await
        .context("database-url: cannot connect")?
        .with_limits(config.limits);
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// Every sealed value in use must open with the configured keys: a
/// production server refuses to start otherwise, a development one warns.
async fn check_sealed(store: &Store, mode: Mode) -> anyhow::Result<()> {
    let check = store
        .check_sealed()
        .await
        .context("checking sealed secrets")?;
    if check.unopenable.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = check
        .unopenable
        .iter()
        .map(|(key, n)| format!("`{key}` ({n} webhook{})", if *n == 1 { "" } else { "s" }))
        .collect();
    let mut message = format!(
        "stored signing secrets cannot be opened with the configured keys: they were sealed with \
         {}, which SELKI_SECRET_KEYS does not list. List that key again (anywhere after the \
         first: the first key seals, every listed key opens); until then those webhooks' \
         deliveries fail as `signing_unavailable` and are retried.",
        keys.join(", ")
    );
    if check.unopenable.contains_key(DEVELOPMENT_KEY_ID) {
        message.push_str(&format!(
            " What the development key (`{DEVELOPMENT_KEY_ID}`) sealed while no keys were set is \
             re-sealed with your first key by `selki-server reseal-secrets` (run it once with \
             SELKI_SECRET_KEYS set)."
        ));
    }
    match mode {
        Mode::Production => anyhow::bail!("secret-keys: {message}"),
        Mode::Dev => {
            tracing::error!("{message}");
            Ok(())
        }
    }
}

/// `reseal-secrets`: every stored secret sealed with the newest key,
/// including what the development key sealed.
pub(crate) async fn reseal_secrets(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.secret_keys.is_empty(),
        "secret-keys: reseal-secrets re-seals with the first configured key; set SELKI_SECRET_KEYS"
    );
    let keyring = keyring(config)?.also_opening_development_key();
    let store = open_store(config, keyring, clock).await?;
    let done = store.reseal_secrets().await.context("re-sealing secrets")?;
    store.close().await;
    tracing::info!(
        resealed = done.resealed,
        "signing secrets re-sealed with the newest key"
    );
    if !done.unopenable.is_empty() {
        anyhow::bail!(
            "secret-keys: some secrets were sealed with keys not configured, and are left as \
             they were: {:?}",
            done.unopenable
        );
    }
    Ok(())
}

impl App {
    pub(crate) async fn build(mut config: Config, local: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let synced = Arc::new(SyncedClock::new(local));
        let clock: Arc<dyn Clock> = synced.clone();
        let store = open_store(&config, keyring(&config)?, clock.clone()).await?;
        sync_clock(&store, &synced).await;
        check_sealed(&store, config.mode).await?;
        let name = process_name();
        config.worker.name.clone_from(&name);
        let sole_worker = match config.role.delivers() {
            true => store
                .become_sole_worker()
                .await
                .context("role: this process cannot deliver")?,
            false => None,
        };
        let listener = match config.role.serves_api() {
            true => Some(
                TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("listen: cannot bind {}", config.listen))?,
            ),
            false => None,
        };
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("metrics-listen: cannot bind {addr}"))?,
            ),
            None => None,
        };
        if config.destinations.allows_internal_for_everyone() {
            tracing::warn!(
                allowed = ?config.allow_destinations,
                "--allow-destinations opens these internal ranges to every organization: any \
                 tenant's webhook may call them. Prefer --allow-destinations-for ORG:CIDR"
            );
        }
        let sender = Sender::new(
            config.destinations.clone(),
            Egress {
                connect_timeout: config.connect_timeout,
                user_agent: concat!("Selki-Webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
                proxy: config.egress_proxy.clone(),
                internal_excerpt_bytes: config.internal_excerpt_bytes,
            },
        )?;
        // A call must end well within its lease, or it could be made twice.
        let dispatcher = Dispatcher::new(
            sender,
            clock.clone(),
            config.request_timeout,
            Metrics::new(),
        )
        .with_max_timeout(config.worker.lease / 2);
        Ok(Self {
            config,
            name,
            store,
            listener,
            metrics_listener,
            dispatcher,
            clock,
            synced,
            _sole_worker: sole_worker,
        })
    }

    /// Serves and delivers until `shutdown` is cancelled: then refuses new
    /// work, ends the streams, finishes what is in flight and closes the
    /// store. Every part stops on this one token.
    pub(crate) async fn run_until_stopped(
        mut self,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let worker = async {
            if self.config.role.delivers() {
                let worker = Worker::new(
                    self.store.clone(),
                    self.dispatcher.clone(),
                    self.config.worker.clone(),
                );
                tracing::info!(settings = ?self.config.worker, "delivering");
                worker.run_until_stopped(shutdown.clone()).await;
            }
        };
        let metrics_listener = self.metrics_listener.take();
        let listener = self.listener.take();
        let metrics = async {
            match metrics_listener {
                Some(listener) => self.serve_metrics(listener, shutdown.clone()).await,
                None => Ok(()),
            }
        };
        if listener.is_none() {
            // The line scripts and tests wait for, without an API.
            println!("selki-server delivering");
        }
        let (api, (), metrics, ()) = tokio::join!(
            self.serve_api(listener, shutdown.clone()),
            worker,
            metrics,
            self.keep_alive(shutdown.clone())
        );
        self.store.close().await;
        api.and(metrics)?;
        tracing::info!("stopped");
        Ok(())
    }

    async fn serve_api(
        &self,
        listener: Option<TcpListener>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let Some(listener) = listener else {
            return Ok(());
        };
        let config = &self.config;
        if config.admin_key.is_none() {
            tracing::warn!(
                "no admin key configured: set SELKI_ADMIN_KEY, or create a key with `selki-server create-api-key`"
            );
        }
        let settings = ApiSettings {
            url_policy: if config.allow_http_endpoints {
                UrlPolicy::AllowHttp
            } else {
                UrlPolicy::HttpsOnly
            },
            admin_key: config.admin_key.clone(),
            health: config.worker.health,
            max_watch_streams_per_key: config.max_watch_streams_per_key,
            manual_calls_per_organization: config.manual_calls_per_organization,
            manual_calls: config.manual_calls,
        };
        let api = Api::new(
            self.store.clone(),
            settings,
            self.clock.clone(),
            self.dispatcher.clone(),
            shutdown.clone(),
        );

        let (reporter, health) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(selki_proto::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("building gRPC reflection")?;

        // HTTP/1.1 as well as HTTP/2, for gRPC-Web: a browser calls the very
        // services internal clients call, with no proxy in between.
        let mut server = Server::builder().accept_http1(true);
        if let Some((cert, key)) = &config.tls {
            let identity = Identity::from_pem(
                std::fs::read(cert)
                    .with_context(|| format!("tls-cert: cannot read {}", cert.display()))?,
                std::fs::read(key)
                    .with_context(|| format!("tls-key: cannot read {}", key.display()))?,
            );
            server = server
                .tls_config(ServerTlsConfig::new().identity(identity))
                .context("tls")?;
        }
        let addr = listener.local_addr()?;
        tracing::info!(%addr, tls = config.tls.is_some(), database = ?self.store.backend(), "serving gRPC");
        // The one line scripts and tests wait for.
        println!("selki-server listening on {addr}");

        let follow = follow_writes(self.store.writes(), reporter.clone());
        // Long-lived streams end on the same token (the API holds it), so
        // that the graceful shutdown can finish.
        let stopping = async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = follow => {}
            }
            reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
        };
        // The console on the same port as the API: its calls are then
        // same-origin, and need no CORS.
        let console = crate::console::ConsoleLayer::new(
            config
                .console
                .then_some(config.console_frame_ancestors.as_slice()),
        );
        server
            .layer(cors(&config.cors_allow_origin))
            .layer(console)
            .layer(tonic_web::GrpcWebLayer::new())
            .add_service(health)
            .add_service(reflection)
            .add_service(api.webhook_service())
            .add_service(api.event_service())
            .add_service(api.api_key_service())
            .serve_with_incoming_shutdown(tokio_stream_listener(listener), stopping)
            .await
            .context("serving gRPC")
    }

    /// Heartbeats until stopped, then leaves: the write that keeps health
    /// honest when nothing else is written, and how other workers know
    /// this one is alive (a dead one's claims are released at once).
    async fn keep_alive(&self, shutdown: CancellationToken) {
        let role = match self.config.role {
            crate::config::Role::All => "all",
            crate::config::Role::Api => "api",
            crate::config::Role::Worker => "worker",
        };
        let mut every = tokio::time::interval(selki_storage::HEARTBEAT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for beat in 1u64.. {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.cancelled() => break,
            }
            // The database's clock drifts from ours: measured again every
            // 30 beats (a minute).
            if beat % 30 == 0 {
                sync_clock(&self.store, &self.synced).await;
            }
            if let Err(err) = self.store.heartbeat(&self.name, role).await {
                tracing::warn!(error = %err, process = %self.name, "heartbeat failed");
            }
        }
        if let Err(err) = self.store.leave(&self.name).await {
            tracing::warn!(error = %err, "leaving the process table failed");
        }
    }

    /// `GET /metrics`, Prometheus text format.
    async fn serve_metrics(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let store = self.store.clone();
        let dispatcher = self.dispatcher.clone();
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let store = store.clone();
                let dispatcher = dispatcher.clone();
                async move {
                    match store.queue_stats().await {
                        Ok(queue) => (
                            axum::http::StatusCode::OK,
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "text/plain; version=0.0.4; charset=utf-8",
                            )],
                            dispatcher.metrics().encode(queue, dispatcher.now()),
                        ),
                        Err(err) => {
                            tracing::warn!(error = %err, "metrics: the database is unavailable");
                            (
                                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                [(axum::http::header::CONTENT_TYPE, "text/plain")],
                                "the database is unavailable\n".to_owned(),
                            )
                        }
                    }
                }
            }),
        );
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "serving metrics");
        println!("selki-server metrics on {addr}");
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("serving metrics")
    }
}

/// Health is SERVING while the database takes writes, NOT_SERVING while it
/// refuses them, and each change is logged with its cause. Runs until the
/// store is gone.
async fn follow_writes(
    mut writes: watch::Receiver<Writes>,
    reporter: tonic_health::server::HealthReporter,
) {
    loop {
        let now = writes.borrow_and_update().clone();
        match now {
            Writes::Taken => {
                reporter
                    .set_service_status("", ServingStatus::Serving)
                    .await;
                tracing::info!("the database takes writes: health is SERVING");
            }
            Writes::Refused(cause) => {
                reporter
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                tracing::error!(%cause, "the database refuses writes: health is NOT_SERVING");
            }
        }
        if writes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Keeps this process's clock at the database's (PostgreSQL): leases,
/// retries and retention of every process sharing it then agree.
async fn sync_clock(store: &Store, clock: &SyncedClock) {
    match store.database_clock_offset(clock).await {
        Ok(Some(offset)) => {
            if (offset - clock.offset_ms()).abs() > 1000
                || (offset.abs() > 1000 && clock.offset_ms() == 0)
            {
                tracing::warn!(
                    offset_ms = offset,
                    "this host's clock is off the database's: leases, retries and retention follow the database's"
                );
            }
            clock.set_offset_ms(offset);
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "reading the database's clock failed"),
    }
}

/// `host-pid-random`: unique among the processes sharing a database, and
/// says where to look.
fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        })
        .unwrap_or_else(|| "selki".to_owned());
    let random = getrandom::u32().unwrap_or_default();
    format!("{host}-{}-{random:08x}", std::process::id())
}

fn tokio_stream_listener(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Browsers may call from these origins only; with none configured, no
/// cross-origin page may (same-origin pages and other clients need no CORS).
fn cors(origins: &[http::HeaderValue]) -> tower_http::cors::CorsLayer {
    use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    const GRPC_WEB_REQUEST: [&str; 3] = ["x-grpc-web", "x-user-agent", "grpc-timeout"];
    const GRPC_WEB_RESPONSE: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([http::Method::POST])
        .allow_headers(
            [AUTHORIZATION, CONTENT_TYPE]
                .into_iter()
                .chain(GRPC_WEB_REQUEST.map(HeaderName::from_static))
                .collect::<Vec<_>>(),
        )
        .expose_headers(GRPC_WEB_RESPONSE.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(3600))
}

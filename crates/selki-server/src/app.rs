//! The server, built from its configuration, then run until a shutdown
//! signal: stop accepting, report NOT_SERVING, finish in-flight RPCs,
//! close the pool.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use selki_api::{Api, ApiSettings};
use selki_domain::UrlPolicy;
use selki_storage::{Clock, Keyring, Store};
use tokio::net::TcpListener;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::config::{Config, Mode};

pub(crate) struct App {
    config: Config,
    store: Store,
    listener: TcpListener,
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
            "NO SECRET KEYS CONFIGURED: signing secrets are sealed with a fixed, publicly known \
             development key. Set SELKI_SECRET_KEYS before storing real secrets."
        );
        return Ok(Keyring::insecure_development());
    }
    Keyring::parse(&config.secret_keys).context("secret-keys")
}

pub(crate) async fn open_store(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url, keyring(config)?, clock)
        .await
        .context("database-url: cannot connect")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

impl App {
    pub(crate) async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = open_store(&config, clock).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listen: cannot bind {}", config.listen))?;
        Ok(Self {
            config,
            store,
            listener,
        })
    }

    pub(crate) async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            config,
            store,
            listener,
        } = self;
        if config.admin_key.is_none() {
            tracing::warn!(
                "no admin key configured: set SELKI_ADMIN_KEY, or create a key with `selki-server create-api-key`"
            );
        }
        let clock: Arc<dyn Clock> = Arc::new(selki_storage::SystemClock);
        let settings = ApiSettings {
            url_policy: if config.allow_http_endpoints {
                UrlPolicy::AllowHttp
            } else {
                UrlPolicy::HttpsOnly
            },
            admin_key: config.admin_key.clone(),
        };
        let api = Api::new(store.clone(), settings, clock);

        let (reporter, health) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(selki_proto::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("building gRPC reflection")?;

        let mut server = Server::builder();
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
        tracing::info!(%addr, tls = config.tls.is_some(), database = ?store.backend(), "serving gRPC");
        // The one line scripts and tests wait for.
        println!("selki-server listening on {addr}");

        let stopping = {
            let reporter = reporter.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: refusing new RPCs, finishing those in flight");
                reporter
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
            }
        };
        server
            .add_service(health)
            .add_service(reflection)
            .add_service(api.webhook_service())
            .add_service(api.event_service())
            .add_service(api.api_key_service())
            .serve_with_incoming_shutdown(tokio_stream_listener(listener), stopping)
            .await
            .context("serving gRPC")?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn tokio_stream_listener(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

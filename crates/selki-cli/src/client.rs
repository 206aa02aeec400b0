//! Where the server is and who we are: flags, then the environment (both
//! through clap), then the config file.

use std::path::PathBuf;
use std::time::Duration;

use selki_proto::v1::api_key_service_client::ApiKeyServiceClient;
use selki_proto::v1::event_service_client::EventServiceClient;
use selki_proto::v1::webhook_service_client::WebhookServiceClient;
use serde::Deserialize;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::cli::{Global, Output};
use crate::failure::{Exit, Failure, Outcome};

const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    addr: Option<String>,
    api_key: Option<String>,
}

/// Everything a command needs to talk to the server.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) addr: String,
    api_key: Option<String>,
    ca_cert: Option<PathBuf>,
    pub(crate) output: Output,
    channel: Option<Channel>,
}

impl Client {
    pub(crate) fn from_global(global: Global) -> Outcome<Self> {
        let file = read_config(global.config.as_ref())?;
        Ok(Self {
            addr: global
                .addr
                .or(file.addr)
                .unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
            api_key: global.api_key.or(file.api_key),
            ca_cert: global.ca_cert,
            output: global.output,
            channel: None,
        })
    }

    /// Connects on first use.
    pub(crate) async fn channel(&mut self) -> Outcome<Channel> {
        if let Some(channel) = &self.channel {
            return Ok(channel.clone());
        }
        let channel = self
            .endpoint()?
            .connect()
            .await
            .map_err(|e| self.unreachable(&e))?;
        self.channel = Some(channel.clone());
        Ok(channel)
    }

    fn endpoint(&self) -> Outcome<Endpoint> {
        let invalid = |why: String| Failure::usage(format!("--addr `{}`: {why}", self.addr));
        let mut endpoint = Endpoint::from_shared(self.addr.clone())
            .map_err(|e| invalid(e.to_string()))?
            .connect_timeout(Duration::from_secs(5));
        if self.addr.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_webpki_roots();
            if let Some(path) = &self.ca_cert {
                let pem = std::fs::read(path).map_err(|e| {
                    Failure::usage(format!("--ca-cert: cannot read {}: {e}", path.display()))
                })?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| invalid(e.to_string()))?;
        } else if !self.addr.starts_with("http://") {
            return Err(invalid("must start with http:// or https://".into()));
        }
        Ok(endpoint)
    }

    pub(crate) fn unreachable(&self, err: &dyn std::error::Error) -> Failure {
        let mut cause = err.to_string();
        let mut source = err.source();
        while let Some(inner) = source {
            cause = format!("{cause}: {inner}");
            source = inner.source();
        }
        Failure::new(
            Exit::Unreachable,
            format!(
                "cannot reach the server at {} ({cause}); is selki-server running? (set --addr or SELKI_ADDR)",
                self.addr
            ),
        )
    }

    /// A request with the API key.
    pub(crate) fn request<T>(&self, message: T) -> Outcome<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        if let Some(key) = &self.api_key {
            let value = format!("Bearer {key}")
                .parse()
                .map_err(|_| Failure::usage("the API key holds characters a header cannot"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }

    pub(crate) async fn webhooks(&mut self) -> Outcome<WebhookServiceClient<Channel>> {
        Ok(WebhookServiceClient::new(self.channel().await?))
    }

    pub(crate) async fn events(&mut self) -> Outcome<EventServiceClient<Channel>> {
        Ok(EventServiceClient::new(self.channel().await?))
    }

    pub(crate) async fn keys(&mut self) -> Outcome<ApiKeyServiceClient<Channel>> {
        Ok(ApiKeyServiceClient::new(self.channel().await?))
    }

    pub(crate) fn json(&self) -> bool {
        self.output == Output::Json
    }
}

fn read_config(explicit: Option<&PathBuf>) -> Outcome<ConfigFile> {
    let path = match explicit {
        Some(path) => path.clone(),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".config/selki/config.toml"),
            None => return Ok(ConfigFile::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        // Only a file named on purpose must exist.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            return Ok(ConfigFile::default());
        }
        Err(e) => {
            return Err(Failure::usage(format!(
                "--config: cannot read {}: {e}",
                path.display()
            )));
        }
    };
    toml::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "{} is not a selki config file (addr, api_key): {e}",
            path.display()
        ))
    })
}

//! Logs to standard error, and traces to an OTLP collector when one is
//! configured (`--otlp-endpoint`): spans from SubmitEvent through each
//! delivery's calls, in the submitter's trace.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{Config, LogFormat};

/// What must be flushed before the process ends.
pub(crate) struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered.
    pub(crate) fn shutdown(self) {
        if let Some(traces) = self.traces
            && let Err(err) = traces.shutdown()
        {
            tracing::warn!(error = %err, "flushing the last spans failed");
        }
    }
}

/// Installs the log (filtered by `--log`) and, when configured, the trace
/// export (every span of this server, whatever the log filter).
pub(crate) fn init(config: &Config) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .with_context(|| format!("log: `{}` is not a log filter", config.log))?;
    let log = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let log = match config.log_format {
        LogFormat::Text => log.with_filter(filter).boxed(),
        LogFormat::Json => log.json().with_filter(filter).boxed(),
    };
    let traces = config.otlp_endpoint.as_deref().map(provider).transpose()?;
    let exported = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("selki-webhooks"))
            .with_filter(
                tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO),
            )
    });
    tracing_subscriber::registry()
        .with(log)
        .with(exported)
        .try_init()
        .context("installing the log")?;
    if let Some(endpoint) = &config.otlp_endpoint {
        tracing::info!(%endpoint, "exporting traces over OTLP");
    }
    Ok(Telemetry { traces })
}

fn provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .build()
        .context("otlp-endpoint")?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(OnRuntime::new(exporter))
        .with_resource(
            Resource::builder()
                .with_service_name("selki-webhooks")
                .build(),
        )
        .build())
}

/// The OTLP exporter, run on the server's own runtime: the SDK's batch
/// processor exports from a thread of its own, where tonic finds no
/// reactor.
#[derive(Debug)]
struct OnRuntime {
    inner: Arc<tokio::sync::Mutex<opentelemetry_otlp::SpanExporter>>,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    fn new(exporter: opentelemetry_otlp::SpanExporter) -> Self {
        Self {
            inner: Arc::new(tokio::sync::Mutex::new(exporter)),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl SpanExporter for OnRuntime {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let inner = self.inner.clone();
        let exported = self
            .runtime
            .spawn(async move { inner.lock().await.export(batch).await });
        exported.await.unwrap_or_else(|e| {
            Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                e.to_string(),
            ))
        })
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self.inner.try_lock() {
            Ok(inner) => inner.shutdown_with_timeout(timeout),
            Err(_) => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Ok(mut inner) = self.inner.try_lock() {
            inner.set_resource(resource);
        }
    }
}

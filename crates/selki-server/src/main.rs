//! `selki-server`: see `--help`.

mod app;
mod config;
mod console;
mod telemetry;

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use selki_domain::{Clock, SystemClock};
use selki_storage::{ApiKeyScope, NewApiKey};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{Cli, Command, Config};

/// mimalloc, not glibc's malloc: each delivery allocates and frees its body,
/// headers and batch buffers across threads, which glibc handled with a
/// third of the server's CPU (measured with perf under `cargo xtask bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::resolve(cli.settings)?;
    let telemetry = telemetry::init(&config)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let result = run(cli.command.unwrap_or(Command::Serve), config, clock).await;
    telemetry.shutdown();
    result
}

async fn run(command: Command, config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    match command {
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Serve => {
            raise_open_file_limit();
            let app = App::build(config, clock).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            app.run_until_stopped(shutdown).await
        }
        Command::Migrate => {
            app::open_store(&config, app::keyring(&config)?, clock)
                .await?
                .close()
                .await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::ResealSecrets => app::reseal_secrets(&config, clock).await,
        Command::CreateApiKey { name, organization } => {
            let scope = match organization {
                None => ApiKeyScope::Admin,
                Some(org) => ApiKeyScope::Organization(
                    selki_domain::OrganizationId::parse(&org).context("--organization")?,
                ),
            };
            let store = app::open_store(&config, app::keyring(&config)?, clock).await?;
            let key = selki_api::new_key_text();
            let new = NewApiKey {
                scope,
                access: selki_domain::KeyAccess::Full,
                name,
                secret_hash: selki_api::hash_key(&key),
                lifetime: None,
            };
            let stored = store.create_api_key(&new).await?;
            store.close().await;
            tracing::info!(api_key = %stored.id, "API key created");
            // Standard output only, once: never the log.
            println!("{key}");
            Ok(())
        }
    }
}

/// Every call and connection is a file descriptor: a low soft limit (often
/// 1024) would make one busy tenant's calls fail everyone's with "Too many
/// open files". Raised to the hard limit where allowed.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(err) => tracing::warn!(error = %err, "could not raise the open-file limit"),
    }
}

/// SIGINT or SIGTERM cancels `shutdown`.
async fn cancel_on_signal(shutdown: CancellationToken) {
    shutdown_signal().await;
    tracing::info!("shutting down: refusing new work, finishing what is in flight");
    shutdown.cancel();
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

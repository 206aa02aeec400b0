//! `selki`: see `selki --help`.

mod calls;
mod cli;
mod client;
mod events;
mod failure;
mod keys;
mod lookups;
mod output;
mod receive;
mod webhooks;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::failure::{Exit, Failure, Outcome};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            failure.code()
        }
    }
}

async fn run(cli: Cli) -> Outcome {
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "selki", &mut std::io::stdout());
            return Ok(());
        }
        Command::Receive(args) => return receive::run(args).await,
        _ => {}
    }
    let mut client = Client::from_global(cli.global)?;
    match cli.command {
        Command::Webhooks(command) => webhooks::run(&mut client, command).await,
        Command::Events(command) => events::run(&mut client, command).await,
        Command::Calls(command) => calls::run(&mut client, command).await,
        Command::Stats { webhook, window } => calls::stats(&mut client, webhook, window).await,
        Command::Recover {
            webhook,
            since,
            until,
            limit,
        } => calls::recover(&mut client, webhook, (since, until), limit).await,
        Command::Deliveries(command) => lookups::deliveries(&mut client, command).await,
        Command::Replay {
            webhook,
            since,
            until,
            event_types,
            replay_id,
        } => {
            let request = lookups::replay_request(webhook, since, until, event_types, replay_id);
            lookups::replay(&mut client, request).await
        }
        Command::Keys(command) => keys::run(&mut client, command).await,
        Command::Status { wait } => status(&mut client, wait).await,
        Command::Completions { .. } | Command::Receive(_) => unreachable!("handled above"),
    }
}

/// Asks the health service; with `wait`, keeps asking until it answers.
async fn status(client: &mut Client, wait: Option<Duration>) -> Outcome {
    let deadline = Instant::now() + wait.unwrap_or_default();
    loop {
        match serving(client).await {
            Ok(()) => {
                println!("{} is serving", client.addr);
                return Ok(());
            }
            Err(failure) if Instant::now() >= deadline => return Err(failure),
            // Waiting for a server to come up: asking again shortly is the point.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn serving(client: &mut Client) -> Outcome {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let endpoint = client.addr.clone();
    let channel = tonic::transport::Endpoint::from_shared(endpoint)
        .map_err(|e| Failure::usage(format!("--addr: {e}")))?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| client.unreachable(&e))?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await?
        .into_inner();
    match answer.status() {
        ServingStatus::Serving => Ok(()),
        other => Err(Failure::new(
            Exit::Unreachable,
            format!("{} answers but is {}", client.addr, other.as_str_name()),
        )),
    }
}

//! `selki events send`: one event from flags, or many from a file with a
//! progress bar.

use selki_proto::v1 as pb;
use selki_proto::v1::event_data::Data;
use serde_json::{Value, json};

use crate::cli::{EventCommand, SendArgs, event_type};
use crate::client::Client;
use crate::failure::{Failure, Outcome};
use crate::output::{Table, print_json};

/// Events per SubmitEvents call when sending a file.
const BATCH: usize = 100;

pub(crate) async fn run(client: &mut Client, command: EventCommand) -> Outcome {
    match command {
        EventCommand::Send(args) => match args.file.clone() {
            Some(path) => send_file(client, &path, args.org.as_deref()).await,
            None => send_one(client, args).await,
        },
        EventCommand::Get { id, client_id, org } => {
            crate::lookups::get_event(client, id, client_id, org).await
        }
        EventCommand::List {
            org,
            event_type,
            since,
            until,
            client_id,
            limit,
        } => {
            let request = pb::ListEventsRequest {
                organization_id: org.unwrap_or_default(),
                event_type: event_type.unwrap_or_default(),
                start_time: since.map(crate::calls::timestamp),
                end_time: until.map(crate::calls::timestamp),
                client_event_id: client_id.unwrap_or_default(),
                ..Default::default()
            };
            crate::lookups::list_events(client, request, limit).await
        }
    }
}

fn required(value: Option<String>, flag: &str, kind: &str) -> Outcome<String> {
    value.ok_or_else(|| Failure::usage(format!("{kind} events need {flag}")))
}

fn from_flags(args: SendArgs) -> Outcome<pb::EventSubmission> {
    use pb::EventType as T;
    let kind = args.event_type.unwrap_or_default();
    let name = crate::output::event_type_name(kind);
    let email = |args: &SendArgs| -> Outcome<pb::PhishingEmail> {
        Ok(pb::PhishingEmail {
            campaign_id: required(args.campaign_id.clone(), "--campaign-id", &name)?,
            email: required(args.email.clone(), "--email", &name)?,
        })
    };
    let data = match T::try_from(kind) {
        Ok(T::PhishingEmailSent) => Data::PhishingEmailSent(email(&args)?),
        Ok(T::PhishingEmailOpened) => Data::PhishingEmailOpened(email(&args)?),
        Ok(T::PhishingEmailClicked) => Data::PhishingEmailClicked(email(&args)?),
        Ok(T::PhishingEmailReported) => Data::PhishingEmailReported(email(&args)?),
        Ok(T::PhishingEmailError) => Data::PhishingEmailError(pb::PhishingEmailError {
            campaign_id: required(args.campaign_id.clone(), "--campaign-id", &name)?,
            email: required(args.email.clone(), "--email", &name)?,
            error: required(args.error.clone(), "--error", &name)?,
        }),
        Ok(T::ThreatsNewThreat) => Data::ThreatsNewThreat(pb::NewThreat {
            id: required(args.threat_id.clone(), "--threat-id", &name)?,
            category: required(args.category.clone(), "--category", &name)?,
            risk_level: risk_level(&required(args.risk_level.clone(), "--risk-level", &name)?)?,
            url: required(args.threat_url.clone(), "--threat-url", &name)?,
            username: required(args.username.clone(), "--username", &name)?,
            email: required(args.email.clone(), "--email", &name)?,
        }),
        Ok(T::WebhookDisabled | T::WebhookFailing | T::WebhookRecovered | T::DeliveryExhausted) => {
            return Err(Failure::usage(format!(
                "{name} is an operational event: Selki emits it, it cannot be sent"
            )));
        }
        _ => return Err(Failure::usage("--type is required")),
    };
    Ok(pb::EventSubmission {
        organization_id: args.org.unwrap_or_default(),
        client_event_id: args.client_event_id.unwrap_or_default(),
        occur_time: None,
        data: Some(pb::EventData { data: Some(data) }),
    })
}

fn risk_level(text: &str) -> Outcome<i32> {
    use pb::RiskLevel as R;
    let level = match text.trim().to_ascii_lowercase().as_str() {
        "low" => R::Low,
        "medium" => R::Medium,
        "high" => R::High,
        "critical" => R::Critical,
        _ => {
            return Err(Failure::usage(
                "--risk-level: low, medium, high or critical",
            ));
        }
    };
    Ok(level as i32)
}

fn accepted_json(a: &pb::AcceptedEvent) -> Value {
    json!({
        "event_id": a.event_id,
        "delivery_count": a.delivery_count,
        "duplicate": a.duplicate,
    })
}

async fn send_one(client: &mut Client, args: SendArgs) -> Outcome {
    let wait = args.wait;
    let event = from_flags(args)?;
    // Watching starts before sending, so no call can slip by.
    let watching = match wait {
        true => Some(watch_organization(client, &event.organization_id).await?),
        false => None,
    };
    let request = pb::SubmitEventRequest { event: Some(event) };
    let accepted = client
        .events()
        .await?
        .submit_event(client.request(request)?)
        .await?
        .into_inner()
        .event
        .unwrap_or_default();
    if client.json() {
        print_json(&accepted_json(&accepted));
    } else {
        let mut table = Table::new(&["EVENT", "DELIVERIES", "DUPLICATE"]);
        table.row(vec![
            accepted.event_id.clone(),
            accepted.delivery_count.to_string(),
            if accepted.duplicate { "yes" } else { "no" }.into(),
        ]);
        print!("{}", table.render());
    }
    if let Some(stream) = watching {
        first_calls(client, stream, &accepted).await?;
    }
    Ok(())
}

async fn watch_organization(
    client: &mut Client,
    org: &str,
) -> Outcome<tonic::Streaming<pb::WatchCallsResponse>> {
    let request = pb::WatchCallsRequest {
        webhook_id: String::new(),
        organization_id: org.to_owned(),
    };
    Ok(client
        .webhooks()
        .await?
        .watch_calls(client.request(request)?)
        .await?
        .into_inner())
}

/// Prints the first call of each of the event's deliveries as it happens.
async fn first_calls(
    client: &Client,
    mut stream: tonic::Streaming<pb::WatchCallsResponse>,
    accepted: &pb::AcceptedEvent,
) -> Outcome {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
    let expected = accepted.delivery_count as usize;
    if expected == 0 || accepted.duplicate {
        return Ok(());
    }
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    if !client.json() {
        println!("\n{}", crate::output::CALL_HEADER.join("  "));
    }
    while seen < expected {
        let next = tokio::time::timeout_at(deadline, stream.message()).await;
        let Ok(message) = next else {
            return Err(Failure::new(
                crate::failure::Exit::Failed,
                format!(
                    "{seen} of {expected} deliveries were attempted within a minute; see `selki calls list`"
                ),
            ));
        };
        let Some(message) = message? else { break };
        let call = message.call.unwrap_or_default();
        if call.event_id != accepted.event_id || call.attempt != 1 {
            continue;
        }
        seen += 1;
        if client.json() {
            println!("{}", crate::output::call_json(&call));
        } else {
            println!("{}", crate::output::call_row(&call).join("  "));
        }
    }
    Ok(())
}

/// An array of events, or one per line.
fn read_file(path: &std::path::Path, org: Option<&str>) -> Outcome<Vec<pb::EventSubmission>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("--file: cannot read {}: {e}", path.display())))?;
    let values: Vec<Value> = if text.trim_start().starts_with('[') {
        serde_json::from_str(&text)
            .map_err(|e| Failure::usage(format!("{}: not a JSON array: {e}", path.display())))?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line).map_err(|e| {
                    Failure::usage(format!("{}:{}: not JSON: {e}", path.display(), n + 1))
                })
            })
            .collect::<Outcome<_>>()?
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            submission(v, org)
                .map_err(|why| Failure::usage(format!("{} event {}: {why}", path.display(), i + 1)))
        })
        .collect()
}

fn submission(v: &Value, org: Option<&str>) -> Result<pb::EventSubmission, String> {
    let text = |value: &Value, key: &str| -> Result<String, String> {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("`{key}` is missing or not a string"))
    };
    let kind = event_type(&text(v, "subscription")?)?;
    let data = v.get("data").ok_or("`data` is missing")?;
    let args = SendArgs {
        org: v
            .get("organizationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| org.map(str::to_owned)),
        event_type: Some(kind),
        client_event_id: v
            .get("clientEventId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        campaign_id: text(data, "campaignId").ok(),
        email: text(data, "email").ok(),
        error: text(data, "error").ok(),
        threat_id: text(data, "id").ok(),
        category: text(data, "category").ok(),
        risk_level: text(data, "riskLevel").ok(),
        threat_url: text(data, "url").ok(),
        username: text(data, "username").ok(),
        file: None,
        wait: false,
    };
    from_flags(args).map_err(|f| f.message)
}

async fn send_file(client: &mut Client, path: &std::path::Path, org: Option<&str>) -> Outcome {
    let events = read_file(path, org)?;
    let progress = indicatif::ProgressBar::new(events.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec}")
            .expect("a valid template"),
    );
    if client.json() {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut accepted = Vec::with_capacity(events.len());
    for batch in events.chunks(BATCH) {
        let request = pb::SubmitEventsRequest {
            events: batch.to_vec(),
        };
        let answer = client
            .events()
            .await?
            .submit_events(client.request(request)?)
            .await;
        let answer = match answer {
            Ok(answer) => answer.into_inner(),
            Err(status) => {
                progress.abandon();
                let mut failure = Failure::from(status);
                failure.message = format!(
                    "{} (events {} to {} were not stored; the {} before them were)",
                    failure.message,
                    accepted.len() + 1,
                    accepted.len() + batch.len(),
                    accepted.len()
                );
                return Err(failure);
            }
        };
        progress.inc(batch.len() as u64);
        accepted.extend(answer.events);
    }
    progress.finish_and_clear();
    if client.json() {
        print_json(&json!(
            accepted.iter().map(accepted_json).collect::<Vec<_>>()
        ));
    } else {
        let deliveries: u64 = accepted.iter().map(|a| u64::from(a.delivery_count)).sum();
        let duplicates = accepted.iter().filter(|a| a.duplicate).count();
        println!(
            "Sent {} events: {deliveries} deliveries, {duplicates} already seen.",
            accepted.len()
        );
    }
    Ok(())
}

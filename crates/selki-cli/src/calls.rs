//! `selki calls …`, `selki stats` and `selki recover`.

use std::time::Duration;

use selki_proto::v1 as pb;
use serde_json::json;

use crate::cli::{CallCommand, StatusCode};
use crate::client::Client;
use crate::failure::Outcome;
use crate::output::{
    CALL_HEADER, Table, call_fields, call_json, call_row, fields, millis, print_json, time,
};

pub(crate) async fn run(client: &mut Client, command: CallCommand) -> Outcome {
    match command {
        CallCommand::List {
            webhook,
            status,
            event_type,
            since,
            until,
            event,
            delivery,
            status_code,
            trigger,
            limit,
        } => {
            let (http_status, http_status_class) = match status_code {
                None => (0, 0),
                Some(StatusCode::Exact(code)) => (code, 0),
                Some(StatusCode::Class(class)) => (0, class),
                Some(StatusCode::NoAnswer) => (0, pb::HttpStatusClass::None as i32),
            };
            let request = pb::ListCallsRequest {
                webhook_id: webhook,
                status: match status.as_deref() {
                    Some("success") => pb::CallStatus::Succeeded as i32,
                    Some(_) => pb::CallStatus::Failed as i32,
                    None => 0,
                },
                event_type: event_type.unwrap_or_default(),
                start_time: since.map(timestamp),
                end_time: until.map(timestamp),
                event_id: event.unwrap_or_default(),
                delivery_id: delivery.unwrap_or_default(),
                http_status,
                http_status_class,
                trigger: trigger.as_deref().map_or(0, trigger_value),
                ..Default::default()
            };
            list(client, request, limit).await
        }
        CallCommand::Get { id } => {
            let request = pb::GetCallRequest { id };
            let call = client
                .webhooks()
                .await?
                .get_call(client.request(request)?)
                .await?
                .into_inner()
                .call
                .unwrap_or_default();
            show(client, &call);
            Ok(())
        }
        CallCommand::Redeliver { id } => {
            let request = pb::RedeliverCallRequest { id };
            let call = client
                .webhooks()
                .await?
                .redeliver_call(client.request(request)?)
                .await?
                .into_inner()
                .call
                .unwrap_or_default();
            show(client, &call);
            Ok(())
        }
        CallCommand::Watch {
            webhook,
            org,
            count,
        } => watch(client, webhook, org, count).await,
    }
}

fn trigger_value(name: &str) -> i32 {
    (match name {
        "automatic" => pb::CallTrigger::Automatic,
        "manual" => pb::CallTrigger::Manual,
        "test" => pb::CallTrigger::Test,
        _ => pb::CallTrigger::Replay,
    }) as i32
}

pub(crate) fn timestamp(at: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(at.nanosecond()).unwrap_or(0),
    }
}

fn show(client: &Client, call: &pb::Call) {
    if client.json() {
        print_json(&call_json(call));
    } else {
        print!("{}", call_fields(call));
    }
}

async fn list(client: &mut Client, mut request: pb::ListCallsRequest, limit: usize) -> Outcome {
    let mut calls = Vec::new();
    while calls.len() < limit {
        request.page_size = i32::try_from((limit - calls.len()).min(100)).unwrap_or(100);
        let page = client
            .webhooks()
            .await?
            .list_calls(client.request(request.clone())?)
            .await?
            .into_inner();
        calls.extend(page.calls);
        // A partial page (the server bounds a filtered scan) goes on below.
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    if client.json() {
        print_json(&json!(calls.iter().map(call_json).collect::<Vec<_>>()));
    } else {
        let mut table = Table::new(CALL_HEADER);
        for call in &calls {
            table.row(call_row(call));
        }
        print!("{}", table.render());
    }
    Ok(())
}

async fn watch(
    client: &mut Client,
    webhook: Option<String>,
    org: Option<String>,
    count: Option<usize>,
) -> Outcome {
    let request = pb::WatchCallsRequest {
        webhook_id: webhook.unwrap_or_default(),
        organization_id: org.unwrap_or_default(),
    };
    let mut stream = client
        .webhooks()
        .await?
        .watch_calls(client.request(request)?)
        .await?
        .into_inner();
    if !client.json() {
        eprintln!("Watching calls; Ctrl-C to stop.");
        println!("{}", CALL_HEADER.join("  "));
    }
    let mut seen = 0;
    while count.is_none_or(|n| seen < n) {
        let Some(message) = stream.message().await? else {
            break;
        };
        let Some(call) = message.call else {
            // The stream fell behind: say so, as the server does.
            if client.json() {
                println!("{}", json!({ "missed_calls": message.missed_calls }));
            } else {
                eprintln!(
                    "… missed {} calls (selki calls list has them)",
                    message.missed_calls
                );
            }
            continue;
        };
        if client.json() {
            // One object per line: a stream scripts can read as it comes.
            println!("{}", call_json(&call));
        } else {
            println!("{}", call_row(&call).join("  "));
        }
        seen += 1;
    }
    Ok(())
}

pub(crate) async fn stats(client: &mut Client, webhook: String, window: Duration) -> Outcome {
    let request = pb::GetWebhookStatsRequest {
        webhook_id: webhook,
        window: Some(prost_types::Duration {
            seconds: i64::try_from(window.as_secs()).unwrap_or(i64::MAX),
            nanos: 0,
        }),
    };
    let s = client
        .webhooks()
        .await?
        .get_webhook_stats(client.request(request)?)
        .await?
        .into_inner()
        .stats
        .unwrap_or_default();
    let by_status: Vec<String> = s
        .status_counts
        .iter()
        .map(|c| match c.http_status {
            0 => format!("no response: {}", c.calls),
            status => format!("{status}: {}", c.calls),
        })
        .collect();
    if client.json() {
        print_json(&json!({
            "total_calls": s.total_calls,
            "successful_calls": s.successful_calls,
            "failed_calls": s.failed_calls,
            "success_rate": s.success_rate,
            "p50_ms": crate::output::duration(s.p50_duration.as_ref()).map(|d| d.as_millis()),
            "p95_ms": crate::output::duration(s.p95_duration.as_ref()).map(|d| d.as_millis()),
            "p99_ms": crate::output::duration(s.p99_duration.as_ref()).map(|d| d.as_millis()),
            "status_counts": s.status_counts.iter().map(|c| json!({"http_status": c.http_status, "calls": c.calls})).collect::<Vec<_>>(),
            "consecutive_failures": s.consecutive_failures,
            "last_success_time": time(s.last_success_time.as_ref()),
            "last_failure_time": time(s.last_failure_time.as_ref()),
            "pending_deliveries": s.pending_deliveries,
            "failed_deliveries": s.failed_deliveries,
            "skipped_deliveries": s.skipped_deliveries,
        }));
        return Ok(());
    }
    print!(
        "{}",
        fields(&[
            ("window", humantime::format_duration(window).to_string()),
            (
                "success rate",
                format!(
                    "{:.1}% ({} of {} calls)",
                    s.success_rate * 100.0,
                    s.successful_calls,
                    s.total_calls
                )
            ),
            (
                "response time",
                format!(
                    "p50 {}  p95 {}  p99 {}",
                    millis(s.p50_duration.as_ref()),
                    millis(s.p95_duration.as_ref()),
                    millis(s.p99_duration.as_ref())
                )
            ),
            ("calls by status", by_status.join(", ")),
            ("failures in a row", s.consecutive_failures.to_string()),
            ("last success", or_never(time(s.last_success_time.as_ref()))),
            ("last failure", or_never(time(s.last_failure_time.as_ref()))),
            (
                "deliveries",
                format!(
                    "{} pending, {} failed, {} skipped",
                    s.pending_deliveries, s.failed_deliveries, s.skipped_deliveries
                )
            ),
        ])
    );
    Ok(())
}

fn or_never(text: String) -> String {
    if text.is_empty() {
        "never".into()
    } else {
        text
    }
}

pub(crate) async fn recover(
    client: &mut Client,
    webhook: String,
    (since, until): (time::OffsetDateTime, Option<time::OffsetDateTime>),
    limit: Option<u32>,
) -> Outcome {
    let spinner = indicatif::ProgressBar::new_spinner().with_message("recovering deliveries");
    if client.json() {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    spinner.enable_steady_tick(Duration::from_millis(100));
    let request = pb::RecoverFailedRequest {
        until: until.map(timestamp),
        webhook_id: webhook,
        since: Some(timestamp(since)),
        limit: limit.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX)),
    };
    let answer = client
        .webhooks()
        .await?
        .recover_failed(client.request(request)?)
        .await;
    spinner.finish_and_clear();
    let recovered = answer?.into_inner().recovered_count;
    if client.json() {
        print_json(&json!({ "recovered_count": recovered }));
    } else {
        println!("{recovered} deliveries queued again.");
    }
    Ok(())
}

//! `selki receive`: a local receiver for developers. It verifies every
//! delivery with the `selki-webhooks` crate, prints one line per delivery,
//! and answers with the status asked for, so retries can be watched.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use selki_webhooks::{Event, EventData, Webhook};

use crate::cli::ReceiveArgs;
use crate::failure::{Failure, Outcome};
use crate::output::{bad, good};

struct Receiver {
    webhook: Option<Webhook>,
    status: StatusCode,
    verbose: bool,
}

pub(crate) async fn run(args: ReceiveArgs) -> Outcome {
    let webhook = args
        .secret
        .as_deref()
        .map(Webhook::new)
        .transpose()
        .map_err(|e| Failure::usage(format!("--secret: {e}")))?;
    let status = StatusCode::from_u16(args.status)
        .map_err(|_| Failure::usage("--status: not an HTTP status"))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| Failure::usage(format!("--port: cannot listen on {}: {e}", args.port)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::usage(e.to_string()))?;
    println!("Listening on http://{addr}/ (Ctrl-C to stop)");
    if webhook.is_none() {
        println!("No --secret: deliveries are shown but not verified.");
    }
    let receiver = Arc::new(Receiver {
        webhook,
        status,
        verbose: args.verbose,
    });
    let router = axum::Router::new().fallback(handle).with_state(receiver);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Failure::usage(format!("serving: {e}")))
}

async fn handle(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let now = crate::output::time(Some(&prost_types::Timestamp {
        seconds: time::OffsetDateTime::now_utc().unix_timestamp(),
        nanos: 0,
    }));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let event_id = header(selki_webhooks::name::WEBHOOK_ID);
    let (kind, verdict, answer, event) = match &receiver.webhook {
        None => (
            subscription(&body),
            "unverified".to_owned(),
            (receiver.status, "received"),
            Event::from_json(&body).ok(),
        ),
        Some(webhook) => match webhook.verify(&body, &headers) {
            Ok(event) => (
                event.data.subscription().to_owned(),
                good("signature ok"),
                (receiver.status, "verified"),
                Some(event),
            ),
            Err(err) => (
                subscription(&body),
                bad(&format!("signature rejected: {} ({err})", err.code())),
                (StatusCode::BAD_REQUEST, "signature rejected"),
                None,
            ),
        },
    };
    println!(
        "{now}  {kind}  {event_id}  {verdict}  → {}",
        answer.0.as_u16()
    );
    if let Some(summary) = event.as_ref().and_then(|e| operational(&e.data)) {
        println!("  {summary}");
    }
    if receiver.verbose {
        println!(
            "  call {}",
            header(selki_webhooks::name::SELKI_WEBHOOK_CALL_ID)
        );
        println!("  {}", String::from_utf8_lossy(&body));
    }
    answer
}

/// What an operational event says, in a line.
fn operational(data: &EventData) -> Option<String> {
    let status = |s: Option<u16>| s.map(|s| format!(" {s}")).unwrap_or_default();
    Some(match data {
        EventData::WebhookDisabled(d) => format!(
            "webhook \"{}\" ({}) disabled: {}",
            d.webhook_name, d.webhook_id, d.message
        ),
        EventData::WebhookFailing(f) => format!(
            "webhook \"{}\" ({}) failing: {} failed calls in a row since {}, the last {}{}",
            f.webhook_name,
            f.webhook_id,
            f.consecutive_failures,
            f.failing_since,
            f.last_outcome,
            status(f.last_http_status)
        ),
        EventData::WebhookRecovered(r) => format!(
            "webhook \"{}\" ({}) recovered after {} failed calls since {}",
            r.webhook_name, r.webhook_id, r.failed_calls, r.failing_since
        ),
        EventData::DeliveryExhausted(x) => format!(
            "{} of event {} to webhook \"{}\" ({}) failed after {} attempt{}: {}{}",
            x.subscription,
            x.event_id,
            x.webhook_name,
            x.webhook_id,
            x.attempts,
            if x.attempts == 1 { "" } else { "s" },
            x.last_outcome,
            status(x.last_http_status)
        ),
        _ => return None,
    })
}

/// The event type as the body says, before (or without) verification.
fn subscription(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("subscription")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "(not an event)".to_owned())
}

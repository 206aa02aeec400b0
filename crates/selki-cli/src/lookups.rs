//! `selki events get|list`, `selki deliveries list` and `selki replay`:
//! debugging what happened to an event, and sending it again.

use selki_proto::v1 as pb;
use serde_json::{Value, json};

use crate::calls::timestamp;
use crate::cli::DeliveryCommand;
use crate::client::Client;
use crate::failure::Outcome;
use crate::output::{
    Table, call_result, delivery_state_name, event_type_name, fields, print_json, time,
};

/// At most this many rows a listing fetches per request.
const PAGE: usize = 100;

pub(crate) async fn get_event(
    client: &mut Client,
    id: Option<String>,
    client_id: Option<String>,
    org: Option<String>,
) -> Outcome {
    let request = pb::GetEventRequest {
        id: id.unwrap_or_default(),
        client_event_id: client_id.unwrap_or_default(),
        organization_id: org.unwrap_or_default(),
    };
    let event = client
        .webhooks()
        .await?
        .get_event(client.request(request)?)
        .await?
        .into_inner()
        .event
        .unwrap_or_default();
    if client.json() {
        print_json(&event_json(&event));
        return Ok(());
    }
    print!("{}", event_fields(&event));
    println!("\n{}", String::from_utf8_lossy(&event.body));
    if !event.deliveries.is_empty() {
        println!();
        print!("{}", deliveries_table(&event.deliveries));
    }
    Ok(())
}

pub(crate) async fn list_events(
    client: &mut Client,
    mut request: pb::ListEventsRequest,
    limit: usize,
) -> Outcome {
    let mut events = Vec::new();
    while events.len() < limit {
        request.page_size = i32::try_from((limit - events.len()).min(PAGE)).unwrap_or(100);
        let page = client
            .webhooks()
            .await?
            .list_events(client.request(request.clone())?)
            .await?
            .into_inner();
        events.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    if client.json() {
        print_json(&json!(events.iter().map(event_json).collect::<Vec<_>>()));
        return Ok(());
    }
    let mut table = Table::new(&["ACCEPTED", "EVENT", "TYPE", "CLIENT ID", "DELIVERIES"]);
    for e in &events {
        table.row(vec![
            time(e.create_time.as_ref()),
            e.id.clone(),
            event_type_name(e.event_type),
            e.client_event_id.clone(),
            e.delivery_count.to_string(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

pub(crate) async fn deliveries(client: &mut Client, command: DeliveryCommand) -> Outcome {
    let DeliveryCommand::List {
        webhook,
        states,
        limit,
    } = command;
    let mut request = pb::ListDeliveriesRequest {
        webhook_id: webhook,
        states,
        ..Default::default()
    };
    let mut found = Vec::new();
    while found.len() < limit {
        request.page_size = i32::try_from((limit - found.len()).min(PAGE)).unwrap_or(100);
        let page = client
            .webhooks()
            .await?
            .list_deliveries(client.request(request.clone())?)
            .await?
            .into_inner();
        found.extend(page.deliveries);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    if client.json() {
        print_json(&json!(found.iter().map(delivery_json).collect::<Vec<_>>()));
    } else {
        print!("{}", deliveries_table(&found));
    }
    Ok(())
}

pub(crate) async fn replay(client: &mut Client, request: pb::ReplayEventsRequest) -> Outcome {
    let answer = client
        .webhooks()
        .await?
        .replay_events(client.request(request)?)
        .await?
        .into_inner();
    if client.json() {
        print_json(&json!({
            "replayed_count": answer.replayed_count,
            "replay_id": answer.replay_id,
            "duplicate": answer.duplicate,
        }));
    } else if answer.duplicate {
        println!(
            "Replay {} was already made ({} deliveries then); nothing queued now.",
            answer.replay_id, answer.replayed_count
        );
    } else {
        println!(
            "{} deliveries queued again (replay {}).",
            answer.replayed_count, answer.replay_id
        );
    }
    Ok(())
}

/// A replay of `since`..`until` (now when unset).
pub(crate) fn replay_request(
    webhook: String,
    since: time::OffsetDateTime,
    until: Option<time::OffsetDateTime>,
    event_types: Vec<i32>,
    replay_id: Option<String>,
) -> pb::ReplayEventsRequest {
    pb::ReplayEventsRequest {
        webhook_id: webhook,
        start_time: Some(timestamp(since)),
        end_time: Some(timestamp(
            until.unwrap_or_else(time::OffsetDateTime::now_utc),
        )),
        event_types,
        replay_id: replay_id.unwrap_or_default(),
    }
}

fn event_json(e: &pb::Event) -> Value {
    json!({
        "id": e.id,
        "organization_id": e.organization_id,
        "event_type": event_type_name(e.event_type),
        "client_event_id": e.client_event_id,
        "occur_time": time(e.occur_time.as_ref()),
        "create_time": time(e.create_time.as_ref()),
        "delivery_count": e.delivery_count,
        "trace_id": e.trace_id,
        "body": String::from_utf8_lossy(&e.body),
        "deliveries": e.deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
    })
}

fn event_fields(e: &pb::Event) -> String {
    fields(&[
        ("id", e.id.clone()),
        ("organization", e.organization_id.clone()),
        ("type", event_type_name(e.event_type)),
        ("client id", e.client_event_id.clone()),
        ("happened", time(e.occur_time.as_ref())),
        ("accepted", time(e.create_time.as_ref())),
        ("trace", e.trace_id.clone()),
    ])
}

fn delivery_json(d: &pb::Delivery) -> Value {
    json!({
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event_id": d.event_id,
        "event_type": event_type_name(d.event_type),
        "state": delivery_state_name(d.state),
        "attempts_made": d.attempts_made,
        "attempts_left": d.attempts_left,
        "next_attempt_time": time(d.next_attempt_time.as_ref()),
        "last_call_id": d.last_call.as_ref().map(|c| c.id.clone()),
        "create_time": time(d.create_time.as_ref()),
    })
}

fn deliveries_table(deliveries: &[pb::Delivery]) -> String {
    let mut table = Table::new(&[
        "DELIVERY",
        "WEBHOOK",
        "EVENT",
        "STATE",
        "TRIES",
        "LEFT",
        "NEXT",
        "LAST CALL",
    ]);
    for d in deliveries {
        table.row(vec![
            d.id.clone(),
            d.webhook_id.clone(),
            d.event_id.clone(),
            delivery_state_name(d.state),
            d.attempts_made.to_string(),
            d.attempts_left.to_string(),
            time(d.next_attempt_time.as_ref()),
            d.last_call.as_ref().map(call_result).unwrap_or_default(),
        ]);
    }
    table.render()
}

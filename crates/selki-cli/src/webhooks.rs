//! `selki webhooks …`

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use selki_proto::v1 as pb;
use selki_proto::v1::create_webhook_request::Signing;
use serde_json::json;

use crate::cli::{AlertSettings, CreateArgs, UpdateArgs, WebhookCommand, WebhookSettings};
use crate::client::Client;
use crate::failure::{Failure, Outcome};
use crate::output::{
    Table, call_fields, call_json, enabled, event_type_name, fields, print_json, time,
    webhook_fields, webhook_json,
};

pub(crate) async fn run(client: &mut Client, command: WebhookCommand) -> Outcome {
    match command {
        WebhookCommand::Create(args) => create(client, *args).await,
        WebhookCommand::List {
            org,
            enabled,
            health,
        } => list(client, org, enabled, health).await,
        WebhookCommand::Get { id } => {
            let webhook = get(client, &id).await?;
            show(client, &webhook);
            Ok(())
        }
        WebhookCommand::Update(args) => update(client, *args).await,
        WebhookCommand::Enable { id } => set_enabled(client, id, true).await,
        WebhookCommand::Disable { id } => set_enabled(client, id, false).await,
        WebhookCommand::Delete { id, yes } => delete(client, id, yes).await,
        WebhookCommand::RotateSecret { id, secret, grace } => {
            rotate(client, id, secret, grace).await
        }
        WebhookCommand::Test { id, event_type } => test(client, id, event_type).await,
    }
}

fn proto_duration(d: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A retry policy from flags over `base` (the server's or the webhook's).
fn retry_policy(s: &WebhookSettings, base: Option<pb::RetryPolicy>) -> Option<pb::RetryPolicy> {
    if s.retry_attempts.is_none()
        && s.retry_delay.is_none()
        && s.exponential_backoff.is_none()
        && s.max_delay.is_none()
    {
        return None;
    }
    // The server's defaults, for what is not given.
    let mut policy = base.unwrap_or(pb::RetryPolicy {
        attempts: 5,
        delay: Some(proto_duration(std::time::Duration::from_secs(60))),
        exponential_backoff: true,
        max_delay: None,
    });
    if let Some(n) = s.retry_attempts {
        policy.attempts = n;
    }
    if let Some(d) = s.retry_delay {
        policy.delay = Some(proto_duration(d));
    }
    if let Some(e) = s.exponential_backoff {
        policy.exponential_backoff = e;
    }
    if let Some(d) = s.max_delay {
        policy.max_delay = Some(proto_duration(d));
    }
    Some(policy)
}

fn headers(s: &WebhookSettings) -> Vec<pb::Header> {
    let plain = s.headers.iter().map(|h| (h, false));
    let secret = s.secret_headers.iter().map(|h| (h, true));
    plain
        .chain(secret)
        .map(|((name, value), sensitive)| pb::Header {
            name: name.clone(),
            value: value.clone(),
            sensitive,
        })
        .collect()
}

/// The destination the flags describe, over `base` (the webhook's, on
/// update); `None` without destination flags. A new format starts afresh.
fn destination(a: &AlertSettings, base: Option<pb::Destination>) -> Option<pb::Destination> {
    let given = a.format.is_some()
        || a.credential.is_some()
        || a.pagerduty_severity.is_some()
        || a.source.is_some()
        || a.splunk_sourcetype.is_some()
        || a.splunk_index.is_some()
        || a.splunk_host.is_some();
    if !given {
        return None;
    }
    let mut d = base.unwrap_or_default();
    // The server keeps the stored credential when the format stays.
    d.credential.clear();
    if let Some(format) = a.format.filter(|f| *f != d.format) {
        d = pb::Destination {
            format,
            ..Default::default()
        };
    }
    let set = |field: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            field.clone_from(v);
        }
    };
    set(&mut d.credential, &a.credential);
    set(&mut d.source, &a.source);
    set(&mut d.splunk_sourcetype, &a.splunk_sourcetype);
    set(&mut d.splunk_index, &a.splunk_index);
    set(&mut d.splunk_host, &a.splunk_host);
    if let Some(severity) = a.pagerduty_severity {
        d.pagerduty_phishing_severity = severity;
    }
    Some(d)
}

/// The content filter the flags describe; `None` without filter flags.
fn content_filter(a: &AlertSettings) -> Option<pb::ContentFilter> {
    let filter = pb::ContentFilter {
        risk_levels: a.filter_risk_levels.clone(),
        min_risk_level: a.filter_min_risk_level.unwrap_or_default(),
        threat_categories: a.filter_categories.clone(),
        campaign_ids: a.filter_campaigns.clone(),
    };
    (filter != pb::ContentFilter::default()).then_some(filter)
}

async fn create(client: &mut Client, args: CreateArgs) -> Outcome {
    let signing = match (args.secret, args.unsigned) {
        (Some(secret), _) => Some(Signing::SigningSecret(secret)),
        (None, true) => None,
        (None, false) => Some(Signing::GenerateSigningSecret(true)),
    };
    let alerting = &args.settings.alerting;
    let request = pb::CreateWebhookRequest {
        max_in_flight: alerting.max_in_flight.unwrap_or(0),
        destination: destination(alerting, None),
        filter: content_filter(alerting),
        max_deliveries_per_second: alerting.max_rate.unwrap_or(0),
        request_id: args.request_id.unwrap_or_default(),
        organization_id: args.org.unwrap_or_default(),
        name: args.name,
        url: args.url,
        event_types: args.events,
        signing,
        retry_policy: retry_policy(&args.settings, None),
        headers: headers(&args.settings),
        disabled: args.disabled,
        timeout: args.settings.timeout.map(proto_duration),
    };
    let created = client
        .webhooks()
        .await?
        .create_webhook(client.request(request)?)
        .await?
        .into_inner();
    let webhook = created.webhook.unwrap_or_default();
    if args.quiet {
        println!("{}", webhook.id);
    } else if client.json() {
        print_json(&json!({
            "webhook": webhook_json(&webhook),
            "signing_secret": created.signing_secret,
            "duplicate": created.duplicate,
        }));
    } else {
        print!("{}", webhook_fields(&webhook));
        if !created.signing_secret.is_empty() {
            println!(
                "\nSigning secret (shown this once; give it to the receiver):\n{}",
                created.signing_secret
            );
        }
    }
    Ok(())
}

async fn list(
    client: &mut Client,
    org: Option<String>,
    enabled_only: Option<bool>,
    include_health: bool,
) -> Outcome {
    let mut webhooks = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListWebhooksRequest {
            include_health,
            organization_id: org.clone().unwrap_or_default(),
            page_size: 100,
            page_token,
            enabled: enabled_only,
        };
        let page = client
            .webhooks()
            .await?
            .list_webhooks(client.request(request)?)
            .await?
            .into_inner();
        webhooks.extend(page.webhooks);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if client.json() {
        print_json(&json!(
            webhooks.iter().map(webhook_json).collect::<Vec<_>>()
        ));
        return Ok(());
    }
    let mut header = vec!["ID", "NAME", "URL", "EVENTS", "STATE", "CREATED"];
    if include_health {
        header.extend(["24H SUCCESS", "FAILING"]);
    }
    let mut table = Table::new(&header);
    for w in &webhooks {
        let types: Vec<String> = w.event_types.iter().map(|t| event_type_name(*t)).collect();
        let mut row = vec![
            w.id.clone(),
            w.name.clone(),
            w.url.clone(),
            types.join(","),
            enabled(w),
            time(w.create_time.as_ref()),
        ];
        if let Some(h) = &w.health {
            row.push(match h.calls {
                0 => "no calls".to_owned(),
                calls => format!("{:.1}% of {calls}", h.success_rate * 100.0),
            });
            row.push(h.consecutive_failures.to_string());
        }
        table.row(row);
    }
    print!("{}", table.render());
    Ok(())
}

pub(crate) async fn get(client: &mut Client, id: &str) -> Outcome<pb::Webhook> {
    let request = pb::GetWebhookRequest { id: id.to_owned() };
    Ok(client
        .webhooks()
        .await?
        .get_webhook(client.request(request)?)
        .await?
        .into_inner()
        .webhook
        .unwrap_or_default())
}

fn show(client: &Client, webhook: &pb::Webhook) {
    if client.json() {
        print_json(&webhook_json(webhook));
    } else {
        print!("{}", webhook_fields(webhook));
    }
}

/// What an update changes besides the webhook's fields.
#[derive(Default)]
struct Edits {
    set_headers: Vec<pb::Header>,
    remove_headers: Vec<String>,
}

async fn patch(
    client: &mut Client,
    webhook: pb::Webhook,
    paths: Vec<String>,
    edits: Edits,
) -> Outcome {
    if paths.is_empty() && edits.set_headers.is_empty() && edits.remove_headers.is_empty() {
        return Err(Failure::usage(
            "nothing to change: give --name, --url, --event, --header, --set-header, \
             --remove-header, --timeout, --no-signing or a --retry-* flag",
        ));
    }
    let request = pb::UpdateWebhookRequest {
        remove_headers: edits.remove_headers,
        set_headers: edits.set_headers,
        webhook: Some(webhook),
        update_mask: Some(prost_types::FieldMask { paths }),
    };
    let updated = client
        .webhooks()
        .await?
        .update_webhook(client.request(request)?)
        .await?
        .into_inner()
        .webhook
        .unwrap_or_default();
    show(client, &updated);
    Ok(())
}

async fn update(client: &mut Client, args: UpdateArgs) -> Outcome {
    let mut webhook = pb::Webhook {
        id: args.id.clone(),
        ..Default::default()
    };
    let mut paths = Vec::new();
    if let Some(name) = args.name {
        webhook.name = name;
        paths.push("name".to_owned());
    }
    if let Some(url) = args.url {
        webhook.url = url;
        paths.push("url".to_owned());
    }
    if !args.events.is_empty() {
        webhook.event_types = args.events;
        paths.push("event_types".to_owned());
    }
    if !args.settings.headers.is_empty() || !args.settings.secret_headers.is_empty() {
        webhook.headers = headers(&args.settings);
        paths.push("headers".to_owned());
    }
    if let Some(timeout) = args.settings.timeout {
        webhook.timeout = Some(proto_duration(timeout));
        paths.push("timeout".to_owned());
    }
    // Each retry flag changes its part of the policy: the server keeps the
    // others.
    let settings = &args.settings;
    let mut retry = pb::RetryPolicy::default();
    if let Some(attempts) = settings.retry_attempts {
        retry.attempts = attempts;
        paths.push("retry_policy.attempts".to_owned());
    }
    if let Some(delay) = settings.retry_delay {
        retry.delay = Some(proto_duration(delay));
        paths.push("retry_policy.delay".to_owned());
    }
    if let Some(exponential) = settings.exponential_backoff {
        retry.exponential_backoff = exponential;
        paths.push("retry_policy.exponential_backoff".to_owned());
    }
    if let Some(max_delay) = settings.max_delay {
        retry.max_delay = Some(proto_duration(max_delay));
        paths.push("retry_policy.max_delay".to_owned());
    }
    webhook.retry_policy = Some(retry);
    if args.no_signing {
        webhook.signing_secret_set = false;
        paths.push("signing_secret_set".to_owned());
    }
    let alerting = &args.settings.alerting;
    if destination(alerting, None).is_some() {
        let current = get(client, &args.id).await?;
        webhook.destination = destination(alerting, current.destination);
        paths.push("destination".to_owned());
    }
    if let Some(filter) = content_filter(alerting) {
        webhook.filter = Some(filter);
        paths.push("filter".to_owned());
    } else if args.no_filter {
        paths.push("filter".to_owned());
    }
    if let Some(rate) = alerting.max_rate {
        webhook.max_deliveries_per_second = rate;
        paths.push("max_deliveries_per_second".to_owned());
    }
    if let Some(in_flight) = alerting.max_in_flight {
        webhook.max_in_flight = in_flight;
        paths.push("max_in_flight".to_owned());
    }
    let edits = Edits {
        set_headers: args
            .set_headers
            .iter()
            .map(|(name, value)| pb::Header {
                name: name.clone(),
                value: value.clone(),
                sensitive: false,
            })
            .collect(),
        remove_headers: args.remove_headers,
    };
    patch(client, webhook, paths, edits).await
}

async fn set_enabled(client: &mut Client, id: String, on: bool) -> Outcome {
    let webhook = pb::Webhook {
        id,
        enabled: on,
        ..Default::default()
    };
    patch(
        client,
        webhook,
        vec!["enabled".to_owned()],
        Edits::default(),
    )
    .await
}

/// Asks on a terminal; elsewhere only `--yes` will do.
pub(crate) fn confirm(question: &str, yes: bool) -> Outcome {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{question}: not on a terminal, so add --yes to confirm"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::usage(format!("reading the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::usage("not confirmed: nothing was changed"))
    }
}

async fn delete(client: &mut Client, id: String, yes: bool) -> Outcome {
    confirm(
        &format!("Delete webhook {id} and cancel its waiting deliveries? This cannot be undone"),
        yes,
    )?;
    let request = pb::DeleteWebhookRequest { id: id.clone() };
    client
        .webhooks()
        .await?
        .delete_webhook(client.request(request)?)
        .await?;
    if client.json() {
        print_json(&json!({ "deleted": id }));
    } else {
        println!("Deleted {id}.");
    }
    Ok(())
}

async fn rotate(
    client: &mut Client,
    id: String,
    secret: Option<String>,
    grace: Option<std::time::Duration>,
) -> Outcome {
    let request = pb::RotateSigningSecretRequest {
        id,
        signing_secret: secret.unwrap_or_default(),
        grace_period: grace.map(proto_duration),
    };
    let rotated = client
        .webhooks()
        .await?
        .rotate_signing_secret(client.request(request)?)
        .await?
        .into_inner();
    let until = time(rotated.previous_secret_expire_time.as_ref());
    if client.json() {
        print_json(&json!({
            "signing_secret": rotated.signing_secret,
            "previous_secret_expire_time": until,
        }));
    } else {
        print!(
            "{}",
            fields(&[
                ("new secret", rotated.signing_secret),
                (
                    "old secret signs until",
                    if until.is_empty() {
                        "no longer".into()
                    } else {
                        until
                    }
                ),
            ])
        );
    }
    Ok(())
}

async fn test(client: &mut Client, id: String, event_type: Option<i32>) -> Outcome {
    let request = pb::SendTestEventRequest {
        webhook_id: id,
        event_type: event_type.unwrap_or_default(),
    };
    let call = client
        .webhooks()
        .await?
        .send_test_event(client.request(request)?)
        .await?
        .into_inner()
        .call
        .unwrap_or_default();
    if client.json() {
        print_json(&call_json(&call));
    } else {
        print!("{}", call_fields(&call));
    }
    Ok(())
}

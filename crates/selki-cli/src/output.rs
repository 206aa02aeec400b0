//! What commands print: aligned tables (coloured on a terminal) for people,
//! JSON for scripts, and the names and times both use.

use std::time::Duration;

use console::{Alignment, measure_text_width, pad_str, style};
use selki_proto::v1 as pb;
use serde_json::{Value, json};

/// Rows under a header, columns as wide as their widest cell.
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&'static str]) -> Self {
        Self {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let header: Vec<String> = self
            .header
            .iter()
            .map(|h| style(*h).bold().to_string())
            .collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l.get(i).map_or(0, |c| measure_text_width(c)))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in lines {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(cell, width)| pad_str(cell, *width, Alignment::Left, None).into_owned())
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        if self.rows.is_empty() {
            out.push_str(&style("(none)").dim().to_string());
            out.push('\n');
        }
        out
    }
}

/// `name: value` lines, names aligned.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}  {value}\n",
                style(pad_str(name, width, Alignment::Left, None)).bold()
            )
        })
        .collect()
}

pub(crate) fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values always serialise")
    );
}

pub(crate) fn good(text: &str) -> String {
    style(text).green().to_string()
}

pub(crate) fn bad(text: &str) -> String {
    style(text).red().to_string()
}

pub(crate) fn event_type_name(value: i32) -> String {
    pb::EventType::try_from(value).map_or_else(
        |_| value.to_string(),
        |t| t.as_str_name().trim_start_matches("EVENT_TYPE_").to_owned(),
    )
}

pub(crate) fn outcome_name(value: i32) -> String {
    pb::CallOutcome::try_from(value).map_or_else(
        |_| value.to_string(),
        |o| {
            o.as_str_name()
                .trim_start_matches("CALL_OUTCOME_")
                .to_ascii_lowercase()
        },
    )
}

pub(crate) fn delivery_state_name(value: i32) -> String {
    pb::DeliveryState::try_from(value)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("DELIVERY_STATE_")
                .to_ascii_lowercase()
                .replace('_', "-")
        })
        .unwrap_or_else(|_| value.to_string())
}

pub(crate) fn trigger_name(value: i32) -> String {
    pb::CallTrigger::try_from(value).map_or_else(
        |_| value.to_string(),
        |t| {
            t.as_str_name()
                .trim_start_matches("CALL_TRIGGER_")
                .to_ascii_lowercase()
        },
    )
}

/// RFC 3339, UTC, whole seconds; empty when unset.
pub(crate) fn time(t: Option<&prost_types::Timestamp>) -> String {
    let Some(t) = t else { return String::new() };
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub(crate) fn duration(d: Option<&prost_types::Duration>) -> Option<Duration> {
    d.and_then(|d| {
        Some(Duration::new(
            u64::try_from(d.seconds).ok()?,
            u32::try_from(d.nanos).ok()?,
        ))
    })
}

pub(crate) fn millis(d: Option<&prost_types::Duration>) -> String {
    duration(d).map_or_else(String::new, |d| format!("{} ms", d.as_millis()))
}

pub(crate) fn webhook_json(w: &pb::Webhook) -> Value {
    let retry = w.retry_policy.as_ref();
    json!({
        "id": w.id,
        "organization_id": w.organization_id,
        "name": w.name,
        "url": w.url,
        "event_types": w.event_types.iter().map(|t| event_type_name(*t)).collect::<Vec<_>>(),
        "enabled": w.enabled,
        "disabled_reason": w.disabled_reason,
        "signing_secret_set": w.signing_secret_set,
        "retry_policy": retry.map(|r| json!({
            "attempts": r.attempts,
            "delay_seconds": duration(r.delay.as_ref()).map(|d| d.as_secs_f64()),
            "exponential_backoff": r.exponential_backoff,
            "max_delay_seconds": duration(r.max_delay.as_ref()).map(|d| d.as_secs_f64()),
        })),
        "headers": w.headers.iter().map(|h| json!({"name": h.name, "value": h.value, "sensitive": h.sensitive})).collect::<Vec<_>>(),
        "timeout_seconds": duration(w.timeout.as_ref()).map(|d| d.as_secs_f64()),
        "destination": w.destination.as_ref().map(|d| json!({
            "format": format_name(d.format),
            "credential_set": d.credential_set,
            "pagerduty_phishing_severity": pb::PagerDutySeverity::try_from(d.pagerduty_phishing_severity)
                .ok()
                .filter(|s| *s != pb::PagerDutySeverity::Unspecified)
                .map(|s| severity_name(s)),
            "source": d.source,
            "splunk_sourcetype": d.splunk_sourcetype,
            "splunk_index": d.splunk_index,
            "splunk_host": d.splunk_host,
        })),
        "filter": w.filter.as_ref().map(|f| json!({
            "risk_levels": f.risk_levels.iter().map(|l| risk_name(*l)).collect::<Vec<_>>(),
            "threat_categories": f.threat_categories,
            "campaign_ids": f.campaign_ids,
        })),
        "max_deliveries_per_second": w.max_deliveries_per_second,
        "max_in_flight": w.max_in_flight,
        "create_time": time(w.create_time.as_ref()),
        "update_time": time(w.update_time.as_ref()),
        "health": w.health.as_ref().map(|h| json!({
            "success_rate": h.success_rate,
            "calls": h.calls,
            "successful_calls": h.successful_calls,
            "consecutive_failures": h.consecutive_failures,
            "last_success_time": time(h.last_success_time.as_ref()),
            "last_failure_time": time(h.last_failure_time.as_ref()),
        })),
    })
}

pub(crate) fn webhook_fields(w: &pb::Webhook) -> String {
    let retry = w.retry_policy.unwrap_or_default();
    let types: Vec<String> = w.event_types.iter().map(|t| event_type_name(*t)).collect();
    let headers: Vec<String> = w
        .headers
        .iter()
        .map(|h| format!("{}: {}", h.name, h.value))
        .collect();
    fields(&[
        ("id", w.id.clone()),
        ("organization", w.organization_id.clone()),
        ("name", w.name.clone()),
        ("url", w.url.clone()),
        ("events", types.join(", ")),
        ("enabled", enabled(w)),
        (
            "signed",
            if w.signing_secret_set { "yes" } else { "no" }.into(),
        ),
        (
            "retries",
            format!(
                "{} × {}{}",
                retry.attempts,
                humantime::format_duration(duration(retry.delay.as_ref()).unwrap_or_default()),
                if retry.exponential_backoff {
                    format!(
                        ", doubling up to {}",
                        humantime::format_duration(
                            duration(retry.max_delay.as_ref()).unwrap_or_default()
                        )
                    )
                } else {
                    String::new()
                }
            ),
        ),
        ("headers", headers.join(", ")),
        ("format", destination_text(w.destination.as_ref())),
        ("filter", filter_text(w.filter.as_ref())),
        ("limits", limits_text(w)),
        (
            "timeout",
            duration(w.timeout.as_ref()).map_or("server default".into(), |d| {
                humantime::format_duration(d).to_string()
            }),
        ),
        ("created", time(w.create_time.as_ref())),
    ])
}

/// A destination format's name, as the CLI's flags take it.
pub(crate) fn format_name(format: i32) -> &'static str {
    use pb::DestinationFormat as F;
    match F::try_from(format).unwrap_or(F::Unspecified) {
        F::Unspecified | F::Selki => "selki",
        F::Slack => "slack",
        F::MicrosoftTeams => "microsoft-teams",
        F::Pagerduty => "pagerduty",
        F::SplunkHec => "splunk-hec",
    }
}

fn severity_name(severity: pb::PagerDutySeverity) -> &'static str {
    use pb::PagerDutySeverity as S;
    match severity {
        S::Critical => "critical",
        S::Error => "error",
        S::Warning => "warning",
        S::Info | S::Unspecified => "info",
    }
}

fn risk_name(level: i32) -> &'static str {
    use pb::RiskLevel as R;
    match R::try_from(level).unwrap_or(R::Unspecified) {
        R::Low => "low",
        R::Medium => "medium",
        R::High => "high",
        R::Critical => "critical",
        R::Unspecified => "unspecified",
    }
}

fn destination_text(d: Option<&pb::Destination>) -> String {
    let Some(d) = d else { return "selki".into() };
    let mut text = format_name(d.format).to_owned();
    if d.credential_set {
        text.push_str(" (credential set)");
    }
    text
}

fn filter_text(f: Option<&pb::ContentFilter>) -> String {
    let Some(f) = f else {
        return "none: every event of the subscribed types".into();
    };
    let mut parts = Vec::new();
    if !f.risk_levels.is_empty() {
        let levels: Vec<&str> = f.risk_levels.iter().map(|l| risk_name(*l)).collect();
        parts.push(format!("risk {}", levels.join("|")));
    }
    if !f.threat_categories.is_empty() {
        parts.push(format!("category {}", f.threat_categories.join("|")));
    }
    if !f.campaign_ids.is_empty() {
        parts.push(format!("campaign {}", f.campaign_ids.join("|")));
    }
    parts.join(", ")
}

fn limits_text(w: &pb::Webhook) -> String {
    match (w.max_deliveries_per_second, w.max_in_flight) {
        (0, 0) => "none".into(),
        (rate, 0) => format!("{rate}/s"),
        (0, open) => format!("{open} in flight"),
        (rate, open) => format!("{rate}/s, {open} in flight"),
    }
}

pub(crate) fn enabled(w: &pb::Webhook) -> String {
    match (w.enabled, w.disabled_reason.is_empty()) {
        (true, _) => good("enabled"),
        (false, true) => bad("disabled"),
        (false, false) => bad(&format!("disabled: {}", w.disabled_reason)),
    }
}

pub(crate) fn call_json(c: &pb::Call) -> Value {
    json!({
        "id": c.id,
        "webhook_id": c.webhook_id,
        "event_id": c.event_id,
        "event_type": event_type_name(c.event_type),
        "attempt": c.attempt,
        "trigger": trigger_name(c.trigger),
        "outcome": outcome_name(c.outcome),
        "http_status": c.http_status,
        "start_time": time(c.start_time.as_ref()),
        "duration_ms": duration(c.duration.as_ref()).map(|d| d.as_millis()),
        "error_message": c.error_message,
        "response_excerpt": c.response_excerpt,
        "url": c.url,
        "delivery_id": c.delivery_id,
        "trace_id": c.trace_id,
        "request": c.request.as_ref().map(|r| json!({
            "method": r.method,
            "url": r.url,
            "headers": r.headers.iter().map(|h| json!([h.name, h.value])).collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&r.body),
        })),
        "response_headers": c.response_headers.iter().map(|h| json!([h.name, h.value])).collect::<Vec<_>>(),
    })
}

/// The outcome, coloured, with the status when there was one.
pub(crate) fn call_result(c: &pb::Call) -> String {
    let outcome = outcome_name(c.outcome);
    match (c.outcome == pb::CallOutcome::Success as i32, c.http_status) {
        (true, status) => good(&format!("{status} {outcome}")),
        (false, 0) => bad(&outcome),
        (false, status) => bad(&format!("{status} {outcome}")),
    }
}

pub(crate) fn call_row(c: &pb::Call) -> Vec<String> {
    vec![
        time(c.start_time.as_ref()),
        c.id.clone(),
        event_type_name(c.event_type),
        c.event_id.clone(),
        c.attempt.to_string(),
        trigger_name(c.trigger),
        call_result(c),
        millis(c.duration.as_ref()),
    ]
}

pub(crate) const CALL_HEADER: &[&str] = &[
    "STARTED",
    "CALL",
    "EVENT TYPE",
    "EVENT",
    "TRY",
    "TRIGGER",
    "RESULT",
    "TIME",
];

pub(crate) fn call_fields(c: &pb::Call) -> String {
    fields(&[
        ("id", c.id.clone()),
        ("webhook", c.webhook_id.clone()),
        (
            "event",
            format!("{} ({})", c.event_id, event_type_name(c.event_type)),
        ),
        ("url", c.url.clone()),
        ("started", time(c.start_time.as_ref())),
        (
            "attempt",
            format!("{} ({})", c.attempt, trigger_name(c.trigger)),
        ),
        ("result", call_result(c)),
        ("response time", millis(c.duration.as_ref())),
        ("error", c.error_message.clone()),
        ("response", c.response_excerpt.clone()),
        ("delivery", c.delivery_id.clone()),
        ("trace", c.trace_id.clone()),
    ]) + &request_fields(c)
}

/// The request as sent and the response's headers, as curl would show them.
fn request_fields(c: &pb::Call) -> String {
    let Some(request) = &c.request else {
        return String::new();
    };
    let mut text = format!("\n> {} {}\n", request.method, request.url);
    for h in &request.headers {
        text.push_str(&format!("> {}: {}\n", h.name, h.value));
    }
    text.push_str(&format!(
        ">\n> {}\n",
        String::from_utf8_lossy(&request.body)
    ));
    if !c.response_headers.is_empty() {
        text.push_str("<\n");
        for h in &c.response_headers {
            text.push_str(&format!("< {}: {}\n", h.name, h.value));
        }
    }
    text
}

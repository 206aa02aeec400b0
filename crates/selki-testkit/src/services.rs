//! What Slack, Microsoft Teams, PagerDuty and Splunk accept, written from
//! their public documentation, and how each answers: tests hold every
//! destination format's bodies to these rules, and loopback stand-ins for
//! the services answer as the services do.
//!
//! Sources: Slack, "Sending messages using incoming webhooks" and the Block
//! Kit reference (blocks, text objects and their limits); Microsoft,
//! "Create and send messages" for Teams incoming webhooks and the Adaptive
//! Cards schema; PagerDuty, Events API v2 "Send an Alert Event"; Splunk,
//! "Format events for HTTP Event Collector" and the HEC status codes.

use serde_json::Value;

/// A service a webhook can point at directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Slack,
    Teams,
    PagerDuty,
    Splunk,
}

/// How a service answers: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Service {
    pub const ALL: [Self; 4] = [Self::Slack, Self::Teams, Self::PagerDuty, Self::Splunk];

    /// Whether the service would take this request; `Err` says why not.
    pub fn check(self, headers: &[(String, String)], body: &[u8]) -> Result<(), String> {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if !header("content-type").is_some_and(|t| t.starts_with("application/json")) {
            return Err("content-type is not application/json".into());
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        match self {
            Self::Slack => slack(&value),
            Self::Teams => teams(&value, body.len()),
            Self::PagerDuty => pagerduty(&value),
            Self::Splunk => splunk(&value, header("authorization")),
        }
    }

    /// The service's answer to a request it took.
    pub fn accepted(self, body: &[u8]) -> Reply {
        let dedup_key = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["dedup_key"].as_str().map(str::to_owned))
            .unwrap_or_default();
        match self {
            Self::Slack => reply(200, "text/html", "ok"),
            // Workflows webhooks answer 202 with no body.
            Self::Teams => reply(202, "text/plain", ""),
            Self::PagerDuty => reply(
                202,
                "application/json",
                &serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})
                    .to_string(),
            ),
            Self::Splunk => reply(200, "application/json", r#"{"text":"Success","code":0}"#),
        }
    }

    /// The service's answer to a request it refused.
    pub fn refused(self, why: &str) -> Reply {
        match self {
            Self::Slack => reply(400, "text/html", "invalid_blocks"),
            Self::Teams => reply(400, "text/plain", why),
            Self::PagerDuty => reply(
                400,
                "application/json",
                &serde_json::json!({"status": "invalid event", "message": "Event object is invalid", "errors": [why]})
                    .to_string(),
            ),
            Self::Splunk if why.contains("token") => reply(
                403,
                "application/json",
                r#"{"text":"Invalid token","code":4}"#,
            ),
            Self::Splunk => reply(
                400,
                "application/json",
                r#"{"text":"Invalid data format","code":6}"#,
            ),
        }
    }
}

fn reply(status: u16, content_type: &'static str, body: &str) -> Reply {
    Reply {
        status,
        content_type,
        body: body.to_owned(),
    }
}

fn chars(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

fn string(value: &Value, what: &str, max: usize) -> Result<(), String> {
    match value.as_str() {
        None => Err(format!("{what} is not a string")),
        Some("") => Err(format!("{what} is empty")),
        Some(_) if chars(value) > max => Err(format!("{what} is over {max} characters")),
        Some(_) => Ok(()),
    }
}

fn slack(v: &Value) -> Result<(), String> {
    string(&v["text"], "text", 40_000)?;
    let Some(blocks) = v["blocks"].as_array() else {
        return Ok(());
    };
    if blocks.len() > 50 {
        return Err("more than 50 blocks".into());
    }
    for (i, block) in blocks.iter().enumerate() {
        slack_block(block).map_err(|e| format!("blocks[{i}]: {e}"))?;
    }
    Ok(())
}

fn slack_block(block: &Value) -> Result<(), String> {
    match block["type"].as_str() {
        Some("header") => {
            if block["text"]["type"] != "plain_text" {
                return Err("a header's text must be plain_text".into());
            }
            string(&block["text"]["text"], "header text", 150)
        }
        Some("section") => {
            let text = &block["text"];
            let fields = block["fields"].as_array();
            if text.is_null() && fields.is_none() {
                return Err("a section needs text or fields".into());
            }
            if !text.is_null() {
                slack_text(text, 3000)?;
            }
            let fields = fields.map_or(&[][..], Vec::as_slice);
            if fields.len() > 10 {
                return Err("more than 10 fields".into());
            }
            fields.iter().try_for_each(|f| slack_text(f, 2000))
        }
        Some("context") => {
            let elements = block["elements"].as_array().ok_or("no elements")?;
            if elements.is_empty() || elements.len() > 10 {
                return Err("a context takes 1 to 10 elements".into());
            }
            elements.iter().try_for_each(|e| slack_text(e, 3000))
        }
        Some("divider") => Ok(()),
        other => Err(format!("unknown block type {other:?}")),
    }
}

fn slack_text(t: &Value, max: usize) -> Result<(), String> {
    match t["type"].as_str() {
        Some("plain_text") => string(&t["text"], "plain_text", max),
        Some("mrkdwn") => {
            string(&t["text"], "mrkdwn", max)?;
            if !t["emoji"].is_null() {
                return Err("emoji is only for plain_text".into());
            }
            // This sender never makes links or mentions: a raw < or > is
            // user data that was not escaped.
            let text = t["text"].as_str().unwrap_or_default();
            if text.contains('<') || text.contains('>') {
                return Err(format!("unescaped < or > in mrkdwn: {text}"));
            }
            Ok(())
        }
        other => Err(format!("unknown text object type {other:?}")),
    }
}

fn teams(v: &Value, size: usize) -> Result<(), String> {
    if size > 28 * 1024 {
        return Err("over 28 KB".into());
    }
    if v["type"] != "message" {
        return Err("type must be message".into());
    }
    let attachments = v["attachments"].as_array().ok_or("no attachments")?;
    if attachments.is_empty() {
        return Err("no attachments".into());
    }
    for a in attachments {
        if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
            return Err("an attachment is not an Adaptive Card".into());
        }
        let card = &a["content"];
        if card["type"] != "AdaptiveCard" {
            return Err("content.type must be AdaptiveCard".into());
        }
        match card["version"].as_str() {
            Some("1.0" | "1.1" | "1.2" | "1.3" | "1.4" | "1.5") => {}
            other => return Err(format!("card version {other:?} is not one Teams renders")),
        }
        let body = card["body"].as_array().ok_or("the card has no body")?;
        body.iter().try_for_each(card_element)?;
    }
    Ok(())
}

fn card_element(e: &Value) -> Result<(), String> {
    let one_of = |field: &str, allowed: &[&str]| match e[field].as_str() {
        None => Ok(()),
        Some(value) if allowed.contains(&value) => Ok(()),
        Some(value) => Err(format!("{field} {value:?} is not one of {allowed:?}")),
    };
    match e["type"].as_str() {
        Some("TextBlock") => {
            string(&e["text"], "TextBlock text", 20_000)?;
            one_of(
                "color",
                &[
                    "Default",
                    "Dark",
                    "Light",
                    "Accent",
                    "Good",
                    "Warning",
                    "Attention",
                ],
            )?;
            one_of(
                "size",
                &["Default", "Small", "Medium", "Large", "ExtraLarge"],
            )?;
            one_of("weight", &["Default", "Lighter", "Bolder"])
        }
        Some("FactSet") => {
            let facts = e["facts"].as_array().ok_or("a FactSet needs facts")?;
            facts.iter().try_for_each(|f| {
                string(&f["title"], "fact title", 20_000)?;
                match f["value"].as_str() {
                    Some(_) => Ok(()),
                    None => Err("a fact's value is not a string".into()),
                }
            })
        }
        other => Err(format!("unexpected card element {other:?}")),
    }
}

fn pagerduty(v: &Value) -> Result<(), String> {
    let key = v["routing_key"].as_str().ok_or("routing_key is missing")?;
    if key.len() != 32 {
        return Err("routing_key is not 32 characters".into());
    }
    let action = v["event_action"]
        .as_str()
        .ok_or("event_action is missing")?;
    if !v["dedup_key"].is_null() {
        string(&v["dedup_key"], "dedup_key", 255)?;
    }
    match action {
        "trigger" => {}
        "acknowledge" | "resolve" => {
            return match v["dedup_key"].is_null() {
                true => Err(format!("{action} needs a dedup_key")),
                false => Ok(()),
            };
        }
        other => return Err(format!("event_action {other:?}")),
    }
    let p = &v["payload"];
    string(&p["summary"], "payload.summary", 1024)?;
    string(&p["source"], "payload.source", 255)?;
    match p["severity"].as_str() {
        Some("critical" | "error" | "warning" | "info") => {}
        other => return Err(format!("payload.severity {other:?}")),
    }
    if let Some(t) = p["timestamp"].as_str()
        && time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_err()
    {
        return Err(format!("payload.timestamp {t:?} is not ISO 8601"));
    }
    for field in ["component", "group", "class"] {
        if !p[field].is_null() && !p[field].is_string() {
            return Err(format!("payload.{field} is not a string"));
        }
    }
    if !p["custom_details"].is_null() && !p["custom_details"].is_object() {
        return Err("payload.custom_details is not an object".into());
    }
    Ok(())
}

fn splunk(v: &Value, authorization: Option<&str>) -> Result<(), String> {
    match authorization.and_then(|a| a.strip_prefix("Splunk ")) {
        Some(token) if !token.trim().is_empty() => {}
        _ => return Err("no Splunk token".into()),
    }
    match &v["event"] {
        Value::Null => return Err("Event field is required".into()),
        Value::String(s) if s.is_empty() => return Err("Event field cannot be blank".into()),
        _ => {}
    }
    if !v["time"].is_null() && !v["time"].is_number() {
        return Err("time is not epoch seconds".into());
    }
    for field in ["source", "sourcetype", "index", "host"] {
        if !v[field].is_null() && !v[field].is_string() {
            return Err(format!("{field} is not a string"));
        }
    }
    Ok(())
}

//! A Slack incoming-webhook message: `text` (the notification and the
//! fallback) and Block Kit `blocks` written for people.
//!
//! Slack's limits (api.slack.com/reference/block-kit): a header's text at
//! most 150 characters, a section's text 3,000, each of at most 10 fields
//! 2,000, at most 50 blocks; `text` is kept under 3,000 as well. Text in
//! `mrkdwn` escapes `&`, `<` and `>`, so user data cannot make links or
//! mentions.

use selki_domain::EventId;
use serde_json::{Value, json};

use super::cut;
use super::describe::{Described, Tone};

pub(super) fn message(d: &Described, event_id: EventId) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&format!("{} {}", emoji(d.tone), d.title), 150), "emoji": true},
    })];
    let fields: Vec<Value> = d
        .facts
        .iter()
        .take(10)
        .map(|f| {
            let value = match f.code {
                true => format!("`{}`", escape(&f.value.replace('`', "'"))),
                false => escape(&f.value),
            };
            json!({"type": "mrkdwn", "text": cut(&format!("*{}*\n{value}", f.label), 2000)})
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some((label, text)) = &d.detail {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut(&format!("*{label}*\n{}", escape(text)), 3000)},
        }));
    }
    let when = match d.timestamp.as_str() {
        "" => String::new(),
        t => format!(" · {t}"),
    };
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": cut(&format!("Selki · {} · `{event_id}`{when}", d.subscription), 2000)}],
    }));
    json!({
        "text": cut(&escape(&format!("{} {}", emoji(d.tone), d.summary)), 3000),
        "blocks": blocks,
    })
}

fn emoji(tone: Tone) -> &'static str {
    match tone {
        Tone::Critical => "🔴",
        Tone::Bad => "🟠",
        Tone::Warning => "🟡",
        Tone::Neutral => "🔵",
        Tone::Good => "🟢",
    }
}

/// Slack's three control characters in `mrkdwn`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

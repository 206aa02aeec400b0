//! A message for a Microsoft Teams incoming webhook or Workflows webhook:
//! one Adaptive Card (schema 1.4, which Teams renders on every client) in
//! a `message` attachment. Teams takes at most 28 KB per message; the
//! texts here are cut well below that.

use selki_domain::EventId;
use serde_json::{Value, json};

use super::cut;
use super::describe::{Described, Tone};

pub(super) fn message(d: &Described, event_id: EventId) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": cut(&d.title, 200),
        "size": "Large",
        "weight": "Bolder",
        "color": color(d.tone),
        "wrap": true,
    })];
    body.push(json!({"type": "TextBlock", "text": cut(&d.summary, 1000), "wrap": true}));
    if !d.facts.is_empty() {
        let facts: Vec<Value> = d
            .facts
            .iter()
            .map(|f| json!({"title": f.label, "value": cut(&f.value, 1000)}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if let Some((label, text)) = &d.detail {
        body.push(json!({"type": "TextBlock", "text": label, "weight": "Bolder", "wrap": true}));
        body.push(json!({"type": "TextBlock", "text": cut(text, 4000), "wrap": true}));
    }
    body.push(json!({
        "type": "TextBlock",
        "text": format!("Selki · {} · {event_id} · {}", d.subscription, d.timestamp),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    json!({
        "type": "message",
        "summary": cut(&d.summary, 200),
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
            },
        }],
    })
}

fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Critical | Tone::Bad => "Attention",
        Tone::Warning => "Warning",
        Tone::Neutral => "Default",
        Tone::Good => "Good",
    }
}

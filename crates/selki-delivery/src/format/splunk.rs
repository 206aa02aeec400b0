//! A Splunk HTTP Event Collector event (docs.splunk.com, "Format events
//! for HTTP Event Collector"): `time` in epoch seconds, `source`,
//! `sourcetype`, optional `index` and `host`, and the Selki event (with
//! its id) as `event`. The token travels as `Authorization: Splunk <token>`.

use selki_domain::SplunkOptions;
use selki_webhooks::Event;
use serde_json::{Value, json};

use super::{Message, cut};

pub(super) fn event(options: &SplunkOptions, event: Option<&Event>, m: Message<'_>) -> Value {
    let mut envelope = event
        .and_then(|e| serde_json::to_value(e).ok())
        .unwrap_or_else(|| json!({"body": cut(m.body, 16_000)}));
    if let Value::Object(fields) = &mut envelope {
        fields.insert("id".to_owned(), Value::String(m.event_id.to_string()));
    }
    let mut out = json!({
        "time": event.map_or(0, |e| e.timestamp.unix_timestamp()),
        "source": options.source,
        "sourcetype": options.sourcetype,
        "event": envelope,
    });
    if let Some(index) = &options.index {
        out["index"] = Value::String(index.clone());
    }
    if let Some(host) = &options.host {
        out["host"] = Value::String(host.clone());
    }
    out
}

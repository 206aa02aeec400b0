//! Bodies for destinations that are not Selki receivers: one module per
//! format, each one function over the typed event. Adding a format is one
//! file here and one arm in [`render`].
//!
//! Formatting never fails: an event this version cannot read is still
//! described (by its type and raw data), since a message that says less is
//! better than none.

mod describe;
mod pagerduty;
mod slack;
mod splunk;
mod teams;

use selki_domain::{Credential, Destination, EventId, MASK};
use selki_webhooks::Event;

pub use describe::{Described, describe};

/// An event as a destination takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: String,
    /// The body as a call keeps it: any credential inside masked.
    pub kept: String,
    /// Headers the destination needs (Splunk's token), all sensitive.
    pub headers: Vec<(String, String)>,
}

/// What every format is given.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub event_id: EventId,
    /// The stored Selki body.
    pub body: &'a str,
}

/// The body and headers for `destination`; `None` for the Selki format,
/// which sends the stored body as it is.
pub fn render(
    destination: &Destination,
    credential: Option<&Credential>,
    message: Message<'_>,
) -> Option<Rendered> {
    if *destination == Destination::Selki {
        // The envelope as it is: nothing to parse on the hot path.
        return None;
    }
    let event = Event::from_json(message.body.as_bytes()).ok();
    let described = describe(event.as_ref(), message.body);
    let secret = credential.map_or("", Credential::expose);
    let plain = |value: serde_json::Value| {
        let body = value.to_string();
        Rendered {
            kept: body.clone(),
            body,
            headers: Vec::new(),
        }
    };
    Some(match destination {
        Destination::Selki => return None,
        Destination::Slack => plain(slack::message(&described, message.event_id)),
        Destination::MicrosoftTeams => plain(teams::message(&described, message.event_id)),
        Destination::PagerDuty(options) => {
            let body = |key: &str| {
                pagerduty::event(options, key, &described, event.as_ref(), message).to_string()
            };
            Rendered {
                body: body(secret),
                kept: body(MASK),
                headers: Vec::new(),
            }
        }
        Destination::SplunkHec(options) => Rendered {
            headers: vec![("authorization".to_owned(), format!("Splunk {secret}"))],
            ..plain(splunk::event(options, event.as_ref(), message))
        },
    })
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

//! Header names of a delivery, reading them from whatever the caller holds,
//! and writing them on the sender's side.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// Lower-case header names. HTTP header names are case-insensitive; lower
/// case is what HTTP/2 puts on the wire.
pub mod name {
    /// The webhook's id, `wh_…`.
    pub const SELKI_WEBHOOK_ID: &str = "selki-webhook-id";
    /// Unique per HTTP attempt, `call_…`.
    pub const SELKI_WEBHOOK_CALL_ID: &str = "selki-webhook-call-id";
    /// The event's id, `evt_…`, the same on every retry: the dedup key.
    pub const SELKI_EVENT_ID: &str = "selki-event-id";
    /// Unix seconds of this attempt.
    pub const SELKI_TIMESTAMP: &str = "selki-timestamp";
    /// Space-separated `v1,<base64>` entries.
    pub const SELKI_SIGNATURE: &str = "selki-signature";
    /// Standard Webhooks name of the event id.
    pub const WEBHOOK_ID: &str = "webhook-id";
    /// Standard Webhooks name of the timestamp.
    pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
    /// Standard Webhooks name of the signature list.
    pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
    /// Always `application/json`.
    pub const CONTENT_TYPE: &str = "content-type";
}

/// One set of the three headers a verifier needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderSet {
    pub(crate) id: &'static str,
    pub(crate) timestamp: &'static str,
    pub(crate) signature: &'static str,
}

/// Checked in this order: the first set whose id header is present is used.
pub(crate) const HEADER_SETS: [HeaderSet; 2] = [
    HeaderSet {
        id: name::WEBHOOK_ID,
        timestamp: name::WEBHOOK_TIMESTAMP,
        signature: name::WEBHOOK_SIGNATURE,
    },
    HeaderSet {
        id: name::SELKI_EVENT_ID,
        timestamp: name::SELKI_TIMESTAMP,
        signature: name::SELKI_SIGNATURE,
    },
];

/// Every header name `verify` may read, for callers that copy headers out of
/// a foreign container (the WASM package) and want to copy only these.
pub const VERIFY_HEADER_NAMES: [&str; 6] = [
    name::WEBHOOK_ID,
    name::WEBHOOK_TIMESTAMP,
    name::WEBHOOK_SIGNATURE,
    name::SELKI_EVENT_ID,
    name::SELKI_TIMESTAMP,
    name::SELKI_SIGNATURE,
];

/// Anything headers can be looked up in.
///
/// `name` is always lower-case ASCII; implementations match it
/// case-insensitively.
pub trait HeaderSource {
    /// The value of header `name`, if present and text.
    fn header(&self, name: &str) -> Option<&str>;
}

impl<T: HeaderSource + ?Sized> HeaderSource for &T {
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }
}

fn find<'a, K, V>(mut pairs: impl Iterator<Item = (&'a K, &'a V)>, name: &str) -> Option<&'a str>
where
    K: AsRef<str> + 'a + ?Sized,
    V: AsRef<str> + 'a + ?Sized,
{
    pairs
        .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderSource for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        find(self.iter().map(|(k, v)| (k, v)), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderSource for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderSource for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, S: BuildHasher> HeaderSource for HashMap<K, V, S> {
    fn header(&self, name: &str) -> Option<&str> {
        find(self.iter(), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderSource for BTreeMap<K, V> {
    fn header(&self, name: &str) -> Option<&str> {
        find(self.iter(), name)
    }
}

#[cfg(feature = "http")]
impl HeaderSource for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|value| value.to_str().ok())
    }
}

/// The headers of one delivery attempt, as the sender writes them.
#[derive(Debug, Clone)]
pub struct DeliveryHeaders<'a> {
    /// `wh_…`
    pub webhook_id: &'a str,
    /// `call_…`, new for every attempt.
    pub call_id: &'a str,
    /// `evt_…`, the same on every attempt.
    pub event_id: &'a str,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
    /// The signature list, when the webhook has a secret.
    pub signature: Option<&'a str>,
}

impl DeliveryHeaders<'_> {
    /// Every header of the wire format, Selki and Standard Webhooks names alike.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let timestamp = self.timestamp.to_string();
        let mut pairs = vec![
            (name::CONTENT_TYPE, "application/json".to_owned()),
            (name::SELKI_WEBHOOK_ID, self.webhook_id.to_owned()),
            (name::SELKI_WEBHOOK_CALL_ID, self.call_id.to_owned()),
            (name::SELKI_EVENT_ID, self.event_id.to_owned()),
            (name::SELKI_TIMESTAMP, timestamp.clone()),
            (name::WEBHOOK_ID, self.event_id.to_owned()),
            (name::WEBHOOK_TIMESTAMP, timestamp),
        ];
        if let Some(signature) = self.signature {
            pairs.push((name::SELKI_SIGNATURE, signature.to_owned()));
            pairs.push((name::WEBHOOK_SIGNATURE, signature.to_owned()));
        }
        pairs
    }
}

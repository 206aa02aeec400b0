//! A webhook's settings, each valid by construction.

use std::time::Duration;

use selki_webhooks::EventType;

use crate::Invalid;

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Most custom headers on one webhook.
pub const MAX_HEADERS: usize = 20;
/// Most bytes of custom header names and values together.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// A friendly name: 1 to 200 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookName(String);

impl WebhookName {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let name = text.trim();
        if name.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if name.chars().count() > 200 {
            return Err(Invalid::new("must be at most 200 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new("must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether plain-http endpoints are allowed (a deployment setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    HttpsOnly,
    AllowHttp,
}

/// Where deliveries go: an absolute http(s) URL with a host and no
/// credentials in it (those belong in a custom header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl UrlPolicy {
    /// Whether this server takes `url` (a stored URL passed the policy in
    /// force when it was written).
    pub fn check(self, url: &EndpointUrl) -> Result<(), Invalid> {
        self.check_scheme(url.0.scheme())
    }

    fn check_scheme(self, scheme: &str) -> Result<(), Invalid> {
        match (scheme, self) {
            ("http", Self::HttpsOnly) => Err(Invalid::new(
                "must use https (plain http is disabled on this server)",
            )),
            _ => Ok(()),
        }
    }
}

impl EndpointUrl {
    pub fn parse(text: &str, policy: UrlPolicy) -> Result<Self, Invalid> {
        if text.len() > MAX_URL_LEN {
            return Err(Invalid::new(format!(
                "must be at most {MAX_URL_LEN} characters"
            )));
        }
        let url = url::Url::parse(text.trim())
            .map_err(|e| Invalid::new(format!("is not a valid absolute URL ({e})")))?;
        match url.scheme() {
            "https" | "http" => policy.check_scheme(url.scheme())?,
            other => {
                return Err(Invalid::new(format!(
                    "must use http or https, not `{other}`"
                )));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Invalid::new("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new(
                "must not contain credentials; send them in a custom header instead",
            ));
        }
        if url.fragment().is_some() {
            return Err(Invalid::new("must not contain a #fragment"));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

/// A non-empty set of subscribed event types.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EventTypes(u32);

impl EventTypes {
    /// At least one type; repeats are harmless.
    pub fn new(types: impl IntoIterator<Item = EventType>) -> Result<Self, Invalid> {
        let bits = types.into_iter().fold(0, |bits, t| bits | Self::bit(t));
        if bits == 0 {
            return Err(Invalid::new("must name at least one event type"));
        }
        Ok(Self(bits))
    }

    /// The storage form: one bit per type, in the order of `EventType::ALL`.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Reads the storage form back; `None` for an empty or unknown set.
    pub fn from_bits(bits: u32) -> Option<Self> {
        let all = EventType::ALL.iter().fold(0, |b, t| b | Self::bit(*t));
        (bits != 0 && bits & !all == 0).then_some(Self(bits))
    }

    pub fn bit(event_type: EventType) -> u32 {
        let index = EventType::ALL
            .iter()
            .position(|t| *t == event_type)
            .expect("ALL lists every event type");
        1 << index
    }

    pub fn contains(self, event_type: EventType) -> bool {
        self.0 & Self::bit(event_type) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = EventType> {
        EventType::ALL
            .into_iter()
            .filter(move |t| self.contains(*t))
    }
}

impl std::fmt::Debug for EventTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// How failed deliveries are retried: the help article's "Retry Attempts"
/// and "Retry Delay", plus optional exponential backoff with a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    delay: Duration,
    exponential: bool,
    max_delay: Duration,
}

impl RetryPolicy {
    pub const MAX_ATTEMPTS: u32 = 20;
    pub const MIN_DELAY: Duration = Duration::from_secs(1);
    pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

    /// `attempts` retries after the first try, waiting `delay` (doubling
    /// up to `max_delay` when `exponential`).
    pub fn new(
        attempts: u32,
        delay: Duration,
        exponential: bool,
        max_delay: Option<Duration>,
    ) -> Result<Self, (&'static str, Invalid)> {
        if attempts > Self::MAX_ATTEMPTS {
            return Err(("attempts", Invalid::new("must be 0 to 20")));
        }
        if !(Self::MIN_DELAY..=Self::MAX_DELAY).contains(&delay) {
            return Err(("delay", Invalid::new("must be 1 second to 24 hours")));
        }
        let max_delay = max_delay.unwrap_or(Self::MAX_DELAY.min(delay * 64));
        if exponential && !(delay..=Self::MAX_DELAY).contains(&max_delay) {
            return Err((
                "max_delay",
                Invalid::new("must be at least delay and at most 24 hours"),
            ));
        }
        Ok(Self {
            attempts,
            delay,
            exponential,
            max_delay: if exponential { max_delay } else { delay },
        })
    }

    pub fn attempts(self) -> u32 {
        self.attempts
    }

    pub fn delay(self) -> Duration {
        self.delay
    }

    pub fn exponential(self) -> bool {
        self.exponential
    }

    pub fn max_delay(self) -> Duration {
        self.max_delay
    }
}

impl Default for RetryPolicy {
    /// Five retries, a minute apart and doubling up to an hour: about two
    /// hours of a receiver being down are absorbed.
    fn default() -> Self {
        Self {
            attempts: 5,
            delay: Duration::from_secs(60),
            exponential: true,
            max_delay: Duration::from_secs(3600),
        }
    }
}

/// Headers a customer adds to every delivery (e.g. an Authorization token).
/// Names are stored lower-case; none may shadow the wire format's own
/// headers or hop-by-hop headers. Sensitive values are never shown in full
/// once set (and never in `Debug`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CustomHeaders(Vec<Header>);

/// One custom header.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    name: String,
    value: String,
    sensitive: bool,
}

/// What a sensitive value is shown as; sent back, it keeps the stored
/// value.
pub const MASK: &str = "****";

/// Exact names a custom header may not use.
const RESERVED: [&str; 13] = [
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];
/// Prefixes a custom header may not use.
const RESERVED_PREFIXES: [&str; 2] = ["selki-", "webhook-"];
/// Names that mark a header as sensitive whatever its flag.
const SENSITIVE_NAMES: [&str; 2] = ["authorization", "cookie"];
const SENSITIVE_WORDS: [&str; 6] = ["token", "secret", "key", "auth", "password", "signature"];

impl Header {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Flagged so, or named like a credential.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }

    /// The value as it may be shown: masked when sensitive.
    pub fn shown_value(&self) -> &str {
        if self.sensitive { MASK } else { &self.value }
    }
}

/// Custom headers as a request gives them, checked as far as they can be
/// without the stored ones: each value is either new or [`MASK`], which
/// keeps the stored value of that name ([`HeaderInput::resolve`]).
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderInput(Vec<(String, Option<String>, bool)>);

/// Why custom headers were refused: the offending index, the part of the
/// header (`name` or `value`) and what is wrong.
pub type HeaderError = (usize, &'static str, Invalid);

impl HeaderInput {
    /// Checks the count, every name (valid, not reserved, not repeated)
    /// and every value given in full.
    pub fn parse(headers: Vec<(String, String, bool)>) -> Result<Self, HeaderError> {
        if headers.len() > MAX_HEADERS {
            return Err((
                MAX_HEADERS,
                "name",
                Invalid::new("at most 20 custom headers"),
            ));
        }
        let mut checked: Vec<(String, Option<String>, bool)> = Vec::with_capacity(headers.len());
        for (index, (name, value, flagged)) in headers.into_iter().enumerate() {
            let name = check_name(&name).map_err(|e| (index, "name", e))?;
            if checked.iter().any(|(seen, _, _)| *seen == name) {
                return Err((index, "name", Invalid::new("repeats an earlier header")));
            }
            let value = if value == MASK {
                None
            } else {
                check_value(&value).map_err(|e| (index, "value", e))?;
                Some(value)
            };
            checked.push((name, value, flagged));
        }
        Ok(Self(checked))
    }

    /// The headers, a masked value taking the value of the header of that
    /// name in `stored`.
    pub fn resolve(self, stored: Option<&CustomHeaders>) -> Result<CustomHeaders, HeaderError> {
        let mut total = 0;
        let mut headers = Vec::with_capacity(self.0.len());
        for (index, (name, value, flagged)) in self.0.into_iter().enumerate() {
            let value = match value {
                Some(value) => value,
                None => stored
                    .and_then(|s| s.0.iter().find(|h| h.name == name))
                    .map(|h| h.value.clone())
                    .ok_or_else(|| {
                        (
                            index,
                            "value",
                            Invalid::new(format!(
                                "`{MASK}` keeps a stored value, but there is no stored `{name}` header"
                            )),
                        )
                    })?,
            };
            total += name.len() + value.len();
            if total > MAX_HEADER_BYTES {
                return Err((
                    index,
                    "value",
                    Invalid::new("custom headers exceed 8 KiB in all"),
                ));
            }
            let sensitive = flagged || sensitive_by_name(&name);
            headers.push(Header {
                name,
                value,
                sensitive,
            });
        }
        Ok(CustomHeaders(headers))
    }

    /// Whether any value is masked: resolving needs the stored headers.
    pub fn keeps_stored(&self) -> bool {
        self.0.iter().any(|(_, value, _)| value.is_none())
    }
}

impl std::fmt::Debug for HeaderInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _, _)| name))
            .finish()
    }
}

impl CustomHeaders {
    /// Checks every header (name, value, sensitive flag); the error
    /// carries the offending index. A value of [`MASK`] keeps the value of
    /// the header of that name in `stored`, if it has one.
    pub fn new(
        headers: Vec<(String, String, bool)>,
        stored: Option<&Self>,
    ) -> Result<Self, HeaderError> {
        HeaderInput::parse(headers)?.resolve(stored)
    }

    /// Headers as stored, trusted: only names a later version reserves
    /// are left out (they are not sent).
    pub fn from_stored(headers: Vec<(String, String, bool)>) -> Self {
        Self(
            headers
                .into_iter()
                .filter(|(name, _, _)| check_name(name).is_ok())
                .map(|(name, value, flagged)| Header {
                    sensitive: flagged || sensitive_by_name(&name),
                    name,
                    value,
                })
                .collect(),
        )
    }

    /// Names and values, as sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|h| (h.name.as_str(), h.value.as_str()))
    }

    pub fn headers(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for CustomHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|h| (&h.name, h.shown_value())))
            .finish()
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.shown_value())
    }
}

fn sensitive_by_name(lower: &str) -> bool {
    SENSITIVE_NAMES.contains(&lower) || SENSITIVE_WORDS.iter().any(|w| lower.contains(w))
}

fn check_name(name: &str) -> Result<String, Invalid> {
    let lower = name.to_ascii_lowercase();
    // RFC 9110 token characters.
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if lower.is_empty() || lower.len() > 64 || !lower.bytes().all(token) {
        return Err(Invalid::new(
            "must be 1 to 64 characters of an HTTP header name",
        ));
    }
    if RESERVED.contains(&lower.as_str()) || RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p))
    {
        return Err(Invalid::new(format!(
            "`{lower}` is set by Selki or by HTTP itself and cannot be overridden"
        )));
    }
    Ok(lower)
}

fn check_value(value: &str) -> Result<(), Invalid> {
    if value.len() > 1024 {
        return Err(Invalid::new("must be at most 1024 bytes"));
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return Err(Invalid::new("must be printable ASCII (no line breaks)"));
    }
    Ok(())
}

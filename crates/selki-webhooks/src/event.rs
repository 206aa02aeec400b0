//! The typed body of a delivery:
//! `{"timestamp": "<RFC 3339>", "subscription": "<EVENT TYPE>", "data": {…}}`.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use time::{OffsetDateTime, UtcOffset};

/// One webhook event: when it happened and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When the event happened in Selki (not when it was delivered).
    pub timestamp: OffsetDateTime,
    /// The event type and its data.
    pub data: EventData,
}

/// The event types Selki knows, as written in `subscription`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventType {
    PhishingEmailSent,
    PhishingEmailOpened,
    PhishingEmailClicked,
    PhishingEmailReported,
    PhishingEmailError,
    ThreatsNewThreat,
    /// A webhook of the organization was disabled (operational).
    WebhookDisabled,
    /// A webhook of the organization keeps failing (operational).
    WebhookFailing,
    /// A failing webhook succeeded again (operational).
    WebhookRecovered,
    /// A delivery ran out of attempts (operational).
    DeliveryExhausted,
}

/// An event's data, by type. Types this version does not know arrive as
/// [`EventData::Unknown`] with their raw data, so receivers survive new types.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventData {
    PhishingEmailSent(PhishingEmail),
    PhishingEmailOpened(PhishingEmail),
    PhishingEmailClicked(PhishingEmail),
    PhishingEmailReported(PhishingEmail),
    PhishingEmailError(PhishingEmailError),
    ThreatsNewThreat(NewThreat),
    WebhookDisabled(WebhookDisabled),
    WebhookFailing(WebhookFailing),
    WebhookRecovered(WebhookRecovered),
    DeliveryExhausted(DeliveryExhausted),
    Unknown(UnknownEvent),
}

/// Data of the sent, opened, clicked and reported phishing-email events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhishingEmail {
    pub campaign_id: String,
    pub email: String,
}

/// Data of `PHISHING_EMAIL_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhishingEmailError {
    pub campaign_id: String,
    pub email: String,
    /// What went wrong.
    pub error: String,
}

/// Data of `THREATS_NEW_THREAT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewThreat {
    pub id: String,
    pub category: ThreatCategory,
    pub risk_level: RiskLevel,
    pub url: String,
    pub username: String,
    pub email: String,
}

/// Data of `WEBHOOK_DISABLED`: Selki stopped calling a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDisabled {
    pub webhook_id: String,
    pub webhook_name: String,
    pub url: String,
    pub reason: DisableReason,
    /// Who, when a person disabled it: the API key's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
    /// What happened, in words.
    pub message: String,
}

/// Why a webhook was disabled. Reasons this version does not know are
/// kept as [`DisableReason::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum DisableReason {
    /// The receiver answered `410 Gone`.
    Gone,
    /// It failed for the auto-disable time and count.
    Failing,
    /// Someone disabled it.
    ByPerson,
    Other(String),
}

/// Data of `WEBHOOK_FAILING`: a webhook's failing streak crossed the
/// threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFailing {
    pub webhook_id: String,
    pub webhook_name: String,
    pub url: String,
    /// Failed calls in a row.
    pub consecutive_failures: u64,
    /// When the first of them was made, RFC 3339.
    pub failing_since: String,
    /// How the last one ended, e.g. `http_status` or `timeout`.
    pub last_outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_http_status: Option<u16>,
}

/// Data of `WEBHOOK_RECOVERED`: a failing webhook succeeded again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRecovered {
    pub webhook_id: String,
    pub webhook_name: String,
    pub url: String,
    /// Failed calls in a row before this success.
    pub failed_calls: u64,
    /// When the first of them was made, RFC 3339.
    pub failing_since: String,
}

/// Data of `DELIVERY_EXHAUSTED`: an event's delivery to a webhook ran out
/// of attempts and failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryExhausted {
    pub webhook_id: String,
    pub webhook_name: String,
    pub url: String,
    pub event_id: String,
    pub delivery_id: String,
    /// The undelivered event's type.
    pub subscription: String,
    pub attempts: u32,
    /// How the last attempt ended, e.g. `http_status` or `timeout`.
    pub last_outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How dangerous a threat is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    Critical,
}

/// What a threat concerns. Categories this version does not know are kept
/// as [`ThreatCategory::Other`], never rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ThreatCategory {
    Employees,
    Other(String),
}

/// An event of a type this version does not know.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownEvent {
    pub subscription: String,
    pub data: serde_json::Value,
}

/// Why a body is not a Selki event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is JSON but not a Selki event: {0}")]
    Shape(String),
    #[error("the event cannot be written as JSON: {0}")]
    Unwritable(String),
}

impl EventType {
    /// Every known type.
    pub const ALL: [EventType; 10] = [
        Self::PhishingEmailSent,
        Self::PhishingEmailOpened,
        Self::PhishingEmailClicked,
        Self::PhishingEmailReported,
        Self::PhishingEmailError,
        Self::ThreatsNewThreat,
        Self::WebhookDisabled,
        Self::WebhookFailing,
        Self::WebhookRecovered,
        Self::DeliveryExhausted,
    ];

    /// The name used in `subscription`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PhishingEmailSent => "PHISHING_EMAIL_SENT",
            Self::PhishingEmailOpened => "PHISHING_EMAIL_OPENED",
            Self::PhishingEmailClicked => "PHISHING_EMAIL_CLICKED",
            Self::PhishingEmailReported => "PHISHING_EMAIL_REPORTED",
            Self::PhishingEmailError => "PHISHING_EMAIL_ERROR",
            Self::ThreatsNewThreat => "THREATS_NEW_THREAT",
            Self::WebhookDisabled => "WEBHOOK_DISABLED",
            Self::WebhookFailing => "WEBHOOK_FAILING",
            Self::WebhookRecovered => "WEBHOOK_RECOVERED",
            Self::DeliveryExhausted => "DELIVERY_EXHAUSTED",
        }
    }

    /// Whether Selki itself emits it, about its own webhooks and
    /// deliveries (never submitted by a client).
    pub const fn is_operational(self) -> bool {
        matches!(
            self,
            Self::WebhookDisabled
                | Self::WebhookFailing
                | Self::WebhookRecovered
                | Self::DeliveryExhausted
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of [`EventType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

impl EventData {
    /// The known type, or `None` for [`EventData::Unknown`].
    pub fn event_type(&self) -> Option<EventType> {
        self.kind().ok()
    }

    /// The `subscription` string, known or not.
    pub fn subscription(&self) -> &str {
        match self.kind() {
            Ok(known) => known.as_str(),
            Err(unknown) => &unknown.subscription,
        }
    }

    fn kind(&self) -> Result<EventType, &UnknownEvent> {
        Ok(match self {
            Self::PhishingEmailSent(_) => EventType::PhishingEmailSent,
            Self::PhishingEmailOpened(_) => EventType::PhishingEmailOpened,
            Self::PhishingEmailClicked(_) => EventType::PhishingEmailClicked,
            Self::PhishingEmailReported(_) => EventType::PhishingEmailReported,
            Self::PhishingEmailError(_) => EventType::PhishingEmailError,
            Self::ThreatsNewThreat(_) => EventType::ThreatsNewThreat,
            Self::WebhookDisabled(_) => EventType::WebhookDisabled,
            Self::WebhookFailing(_) => EventType::WebhookFailing,
            Self::WebhookRecovered(_) => EventType::WebhookRecovered,
            Self::DeliveryExhausted(_) => EventType::DeliveryExhausted,
            Self::Unknown(unknown) => return Err(unknown),
        })
    }

    fn serialize_data<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::PhishingEmailSent(d)
            | Self::PhishingEmailOpened(d)
            | Self::PhishingEmailClicked(d)
            | Self::PhishingEmailReported(d) => d.serialize(serializer),
            Self::PhishingEmailError(d) => d.serialize(serializer),
            Self::ThreatsNewThreat(d) => d.serialize(serializer),
            Self::WebhookDisabled(d) => d.serialize(serializer),
            Self::WebhookFailing(d) => d.serialize(serializer),
            Self::WebhookRecovered(d) => d.serialize(serializer),
            Self::DeliveryExhausted(d) => d.serialize(serializer),
            Self::Unknown(u) => u.data.serialize(serializer),
        }
    }
}

impl From<String> for ThreatCategory {
    fn from(s: String) -> Self {
        match s.as_str() {
            "EMPLOYEES" => Self::Employees,
            _ => Self::Other(s),
        }
    }
}

impl From<String> for DisableReason {
    fn from(s: String) -> Self {
        match s.as_str() {
            "GONE" => Self::Gone,
            "FAILING" => Self::Failing,
            "BY_PERSON" => Self::ByPerson,
            _ => Self::Other(s),
        }
    }
}

impl From<DisableReason> for String {
    fn from(r: DisableReason) -> Self {
        match r {
            DisableReason::Gone => "GONE".to_owned(),
            DisableReason::Failing => "FAILING".to_owned(),
            DisableReason::ByPerson => "BY_PERSON".to_owned(),
            DisableReason::Other(s) => s,
        }
    }
}

impl From<ThreatCategory> for String {
    fn from(c: ThreatCategory) -> Self {
        match c {
            ThreatCategory::Employees => "EMPLOYEES".to_owned(),
            ThreatCategory::Other(s) => s,
        }
    }
}

/// Reads the wire form in one pass: when `subscription` comes before
/// `data`, as Selki writes it, `data` is parsed straight into its type.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Timestamp,
    Subscription,
    Data,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Rfc3339(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with timestamp, subscription and data")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let (mut timestamp, mut subscription, mut data, mut early_data) = (None, None, None, None);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Timestamp => timestamp = Some(map.next_value::<Rfc3339>()?.0),
                Field::Subscription => subscription = Some(map.next_value::<String>()?),
                Field::Data => match &subscription {
                    Some(name) => data = Some(map.next_value_seed(DataOf(name))?),
                    // `data` first: keep it as a value and type it at the end.
                    None => early_data = Some(map.next_value::<serde_json::Value>()?),
                },
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let timestamp = timestamp.ok_or_else(|| de::Error::missing_field("timestamp"))?;
        let subscription = subscription.ok_or_else(|| de::Error::missing_field("subscription"))?;
        let data = match (data, early_data) {
            (Some(data), _) => data,
            (None, Some(value)) => DataOf(&subscription)
                .deserialize(value)
                .map_err(de::Error::custom)?,
            (None, None) => return Err(de::Error::missing_field("data")),
        };
        Ok(Event { timestamp, data })
    }
}

/// Deserialises `data` as the type `subscription` names.
struct DataOf<'s>(&'s str);

impl<'de> DeserializeSeed<'de> for DataOf<'_> {
    type Value = EventData;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EventData, D::Error> {
        let Ok(known) = self.0.parse::<EventType>() else {
            return Ok(EventData::Unknown(UnknownEvent {
                subscription: self.0.to_owned(),
                data: serde_json::Value::deserialize(d)?,
            }));
        };
        Ok(match known {
            EventType::PhishingEmailSent => {
                EventData::PhishingEmailSent(Deserialize::deserialize(d)?)
            }
            EventType::PhishingEmailOpened => {
                EventData::PhishingEmailOpened(Deserialize::deserialize(d)?)
            }
            EventType::PhishingEmailClicked => {
                EventData::PhishingEmailClicked(Deserialize::deserialize(d)?)
            }
            EventType::PhishingEmailReported => {
                EventData::PhishingEmailReported(Deserialize::deserialize(d)?)
            }
            EventType::PhishingEmailError => {
                EventData::PhishingEmailError(Deserialize::deserialize(d)?)
            }
            EventType::ThreatsNewThreat => {
                EventData::ThreatsNewThreat(Deserialize::deserialize(d)?)
            }
            EventType::WebhookDisabled => EventData::WebhookDisabled(Deserialize::deserialize(d)?),
            EventType::WebhookFailing => EventData::WebhookFailing(Deserialize::deserialize(d)?),
            EventType::WebhookRecovered => {
                EventData::WebhookRecovered(Deserialize::deserialize(d)?)
            }
            EventType::DeliveryExhausted => {
                EventData::DeliveryExhausted(Deserialize::deserialize(d)?)
            }
        })
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    subscription: &'a str,
    #[serde(serialize_with = "EventData::serialize_data")]
    data: &'a EventData,
}

/// The wire form, with the timestamp in UTC.
impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireOut {
            timestamp: self.timestamp.to_offset(UtcOffset::UTC),
            subscription: self.data.subscription(),
            data: &self.data,
        }
        .serialize(serializer)
    }
}

impl Event {
    /// Parses a body. Call this only on a verified body: [`crate::Webhook`]
    /// does, and it is public for senders' and tests' use.
    pub fn from_json(body: &[u8]) -> Result<Self, EventError> {
        serde_json::from_slice(body).map_err(classify)
    }

    /// The body the sender posts, with the timestamp in UTC.
    ///
    /// Fails only for a timestamp RFC 3339 cannot write (a year before 0).
    pub fn to_json(&self) -> Result<String, EventError> {
        serde_json::to_string(self).map_err(|err| EventError::Unwritable(err.to_string()))
    }
}

fn classify(err: serde_json::Error) -> EventError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => EventError::Shape(err.to_string()),
        Category::Syntax | Category::Eof | Category::Io => EventError::NotJson(err.to_string()),
    }
}

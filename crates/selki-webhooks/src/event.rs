//! The typed body of a delivery:
//! `{"timestamp": "<RFC 3339>", "subscription": "<EVENT TYPE>", "data": {…}}`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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
    pub const ALL: [EventType; 6] = [
        Self::PhishingEmailSent,
        Self::PhishingEmailOpened,
        Self::PhishingEmailClicked,
        Self::PhishingEmailReported,
        Self::PhishingEmailError,
        Self::ThreatsNewThreat,
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
        }
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
        Some(match self {
            Self::PhishingEmailSent(_) => EventType::PhishingEmailSent,
            Self::PhishingEmailOpened(_) => EventType::PhishingEmailOpened,
            Self::PhishingEmailClicked(_) => EventType::PhishingEmailClicked,
            Self::PhishingEmailReported(_) => EventType::PhishingEmailReported,
            Self::PhishingEmailError(_) => EventType::PhishingEmailError,
            Self::ThreatsNewThreat(_) => EventType::ThreatsNewThreat,
            Self::Unknown(_) => return None,
        })
    }

    /// The `subscription` string, known or not.
    pub fn subscription(&self) -> &str {
        match (self, self.event_type()) {
            (_, Some(known)) => known.as_str(),
            (Self::Unknown(unknown), None) => &unknown.subscription,
            (_, None) => unreachable!("only Unknown has no event type"),
        }
    }

    fn parse(subscription: &str, data: &RawValue) -> serde_json::Result<Self> {
        let Ok(known) = subscription.parse::<EventType>() else {
            return Ok(Self::Unknown(UnknownEvent {
                subscription: subscription.to_owned(),
                data: from_raw(data)?,
            }));
        };
        Ok(match known {
            EventType::PhishingEmailSent => Self::PhishingEmailSent(from_raw(data)?),
            EventType::PhishingEmailOpened => Self::PhishingEmailOpened(from_raw(data)?),
            EventType::PhishingEmailClicked => Self::PhishingEmailClicked(from_raw(data)?),
            EventType::PhishingEmailReported => Self::PhishingEmailReported(from_raw(data)?),
            EventType::PhishingEmailError => Self::PhishingEmailError(from_raw(data)?),
            EventType::ThreatsNewThreat => Self::ThreatsNewThreat(from_raw(data)?),
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
            Self::Unknown(u) => u.data.serialize(serializer),
        }
    }
}

fn from_raw<T: DeserializeOwned>(raw: &RawValue) -> serde_json::Result<T> {
    serde_json::from_str(raw.get())
}

impl From<String> for ThreatCategory {
    fn from(s: String) -> Self {
        match s.as_str() {
            "EMPLOYEES" => Self::Employees,
            _ => Self::Other(s),
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

/// The body as it is on the wire; `data` is parsed once the type is known.
#[derive(Deserialize)]
struct WireIn<'a> {
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    #[serde(borrow)]
    subscription: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    subscription: &'a str,
    #[serde(serialize_with = "EventData::serialize_data")]
    data: &'a EventData,
}

impl Event {
    /// Parses a body. Call this only on a verified body: [`crate::Webhook`]
    /// does, and it is public for senders' and tests' use.
    pub fn from_json(body: &[u8]) -> Result<Self, EventError> {
        let wire: WireIn<'_> = serde_json::from_slice(body).map_err(classify)?;
        let data = EventData::parse(&wire.subscription, wire.data).map_err(classify)?;
        Ok(Self {
            timestamp: wire.timestamp,
            data,
        })
    }

    /// The body the sender posts, with the timestamp in UTC.
    ///
    /// Fails only for a timestamp RFC 3339 cannot write (a year before 0).
    pub fn to_json(&self) -> Result<String, EventError> {
        let wire = WireOut {
            timestamp: self.timestamp.to_offset(UtcOffset::UTC),
            subscription: self.data.subscription(),
            data: &self.data,
        };
        serde_json::to_string(&wire).map_err(|err| EventError::Unwritable(err.to_string()))
    }
}

fn classify(err: serde_json::Error) -> EventError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => EventError::Shape(err.to_string()),
        Category::Syntax | Category::Eof | Category::Io => EventError::NotJson(err.to_string()),
    }
}

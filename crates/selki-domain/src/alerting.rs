//! What a webhook sends and when: its destination's format (the Selki
//! envelope, or a message Slack, Teams, PagerDuty or Splunk takes as it
//! is), a filter on the events' content, and limits on how fast and how
//! many at once.

use std::num::NonZeroU32;

use selki_webhooks::{EventData, RiskLevel};

use crate::Invalid;

/// The body a webhook's receiver takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// The signed Selki envelope (docs/wire-format.md).
    #[default]
    Selki,
    /// A Slack incoming-webhook message.
    Slack,
    /// An Adaptive Card for a Teams incoming or Workflows webhook.
    MicrosoftTeams,
    /// A PagerDuty Events API v2 event.
    PagerDuty,
    /// A Splunk HTTP Event Collector event.
    SplunkHec,
}

crate::names!(Format {
    Selki => "selki",
    Slack => "slack",
    MicrosoftTeams => "microsoft_teams",
    PagerDuty => "pagerduty",
    SplunkHec => "splunk_hec",
});

/// Where a webhook's deliveries go, and in which form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Destination {
    #[default]
    Selki,
    Slack,
    MicrosoftTeams,
    PagerDuty(PagerDutyOptions),
    SplunkHec(SplunkOptions),
}

/// PagerDuty's settings beside the routing key (a [`Credential`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagerDutyOptions {
    /// The severity of phishing events (a threat's follows its risk level).
    pub phishing_severity: Severity,
    /// The `source` PagerDuty shows.
    pub source: String,
}

/// A PagerDuty severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

crate::names!(Severity {
    Critical => "critical",
    Error => "error",
    Warning => "warning",
    Info => "info",
});

/// Splunk's settings beside the HEC token (a [`Credential`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplunkOptions {
    pub sourcetype: String,
    pub source: String,
    /// The index; the token's default when `None`.
    pub index: Option<String>,
    pub host: Option<String>,
}

/// A destination's secret: PagerDuty's routing key or Splunk's HEC token.
/// Sealed at rest, never returned, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

/// Which events a webhook receives, beyond their type. Each condition
/// concerns the events that carry its field (risk level and category:
/// threats; campaign: phishing emails); other events pass it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentFilter {
    /// Threats of these risk levels only; empty: all.
    pub risk_levels: Vec<RiskLevel>,
    /// Threats of these categories only (any case); empty: all.
    pub categories: Vec<String>,
    /// Phishing emails of these campaigns only; empty: all.
    pub campaign_ids: Vec<String>,
}

/// How hard a webhook's receiver may be called, across every worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryLimits {
    /// Calls started per second at most.
    pub per_second: Option<NonZeroU32>,
    /// Calls in flight at once at most.
    pub in_flight: Option<NonZeroU32>,
}

/// The most a rate limit may say: above it, no limit is wanted.
pub const MAX_PER_SECOND: u32 = 10_000;
/// The most calls in flight a limit may allow.
pub const MAX_IN_FLIGHT: u32 = 1_000;
/// Entries a filter's list may hold.
pub const MAX_FILTER_ENTRIES: usize = 100;

impl Destination {
    pub fn format(&self) -> Format {
        match self {
            Self::Selki => Format::Selki,
            Self::Slack => Format::Slack,
            Self::MicrosoftTeams => Format::MicrosoftTeams,
            Self::PagerDuty(_) => Format::PagerDuty,
            Self::SplunkHec(_) => Format::SplunkHec,
        }
    }
}

impl Format {
    pub const ALL: [Self; 5] = [
        Self::Selki,
        Self::Slack,
        Self::MicrosoftTeams,
        Self::PagerDuty,
        Self::SplunkHec,
    ];

    /// What its credential is, when it needs one.
    pub fn credential(self) -> Option<&'static str> {
        match self {
            Self::PagerDuty => Some("routing key"),
            Self::SplunkHec => Some("HEC token"),
            Self::Selki | Self::Slack | Self::MicrosoftTeams => None,
        }
    }
}

impl Default for PagerDutyOptions {
    fn default() -> Self {
        Self {
            phishing_severity: Severity::Info,
            source: "Selki".to_owned(),
        }
    }
}

impl PagerDutyOptions {
    pub fn new(phishing_severity: Severity, source: &str) -> Result<Self, Invalid> {
        Ok(Self {
            phishing_severity,
            source: optional_text(source, 255)?.unwrap_or_else(|| "Selki".to_owned()),
        })
    }
}

impl Default for SplunkOptions {
    fn default() -> Self {
        Self {
            sourcetype: "selki:webhook".to_owned(),
            source: "selki".to_owned(),
            index: None,
            host: None,
        }
    }
}

impl SplunkOptions {
    /// Empty texts take the defaults (`selki:webhook`, `selki`, the
    /// token's index, no host).
    pub fn new(sourcetype: &str, source: &str, index: &str, host: &str) -> Result<Self, Invalid> {
        let defaults = Self::default();
        Ok(Self {
            sourcetype: optional_text(sourcetype, 255)?.unwrap_or(defaults.sourcetype),
            source: optional_text(source, 255)?.unwrap_or(defaults.source),
            index: optional_text(index, 80)?,
            host: optional_text(host, 255)?,
        })
    }
}

impl Credential {
    /// A PagerDuty routing (integration) key is 32 letters and digits; a
    /// Splunk HEC token 16 to 128 letters, digits and dashes (a GUID).
    pub fn parse(format: Format, text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        let ok = match format {
            Format::PagerDuty => {
                text.len() == 32 && text.bytes().all(|b| b.is_ascii_alphanumeric())
            }
            Format::SplunkHec => {
                (16..=128).contains(&text.len())
                    && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }
            Format::Selki | Format::Slack | Format::MicrosoftTeams => {
                return Err(Invalid::new(format!(
                    "the {} format takes no credential",
                    format.as_str()
                )));
            }
        };
        match ok {
            true => Ok(Self(text.to_owned())),
            false if format == Format::PagerDuty => Err(Invalid::new(
                "must be the 32-character integration key of an Events API v2 integration",
            )),
            false => Err(Invalid::new(
                "must be a Splunk HEC token (a GUID, e.g. 12345678-abcd-4321-abcd-1234567890ab)",
            )),
        }
    }

    /// A credential read back from the store.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(****)")
    }
}

impl ContentFilter {
    /// Checks each list's size and entries; `risk_levels` are de-duplicated
    /// and sorted.
    pub fn new(
        mut risk_levels: Vec<RiskLevel>,
        categories: Vec<String>,
        campaign_ids: Vec<String>,
    ) -> Result<Self, (&'static str, Invalid)> {
        risk_levels.sort();
        risk_levels.dedup();
        Ok(Self {
            risk_levels,
            categories: entries(categories, 64).map_err(|e| ("categories", e))?,
            campaign_ids: entries(campaign_ids, 256).map_err(|e| ("campaign_ids", e))?,
        })
    }

    /// Only risk levels from `minimum` up.
    pub fn at_least(minimum: RiskLevel) -> Vec<RiskLevel> {
        [
            RiskLevel::Low,
            RiskLevel::Medium,
            RiskLevel::High,
            RiskLevel::Critical,
        ]
        .into_iter()
        .filter(|level| *level >= minimum)
        .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.risk_levels.is_empty() && self.categories.is_empty() && self.campaign_ids.is_empty()
    }

    /// Whether `data` gets through.
    pub fn passes(&self, data: &EventData) -> bool {
        self.admits(&EventFacts::of(data))
    }

    /// Whether an event with these facts gets through.
    pub fn admits(&self, facts: &EventFacts) -> bool {
        let risk = match facts.risk_level {
            Some(level) => self.risk_levels.is_empty() || self.risk_levels.contains(&level),
            None => true,
        };
        let category = match &facts.category {
            Some(category) => {
                self.categories.is_empty()
                    || self
                        .categories
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case(category))
            }
            None => true,
        };
        let campaign = match &facts.campaign_id {
            Some(campaign) => self.campaign_ids.is_empty() || self.campaign_ids.contains(campaign),
            None => true,
        };
        risk && category && campaign
    }
}

/// What a content filter looks at in an event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFacts {
    pub risk_level: Option<RiskLevel>,
    pub category: Option<String>,
    pub campaign_id: Option<String>,
}

impl EventFacts {
    pub fn of(data: &EventData) -> Self {
        match data {
            EventData::ThreatsNewThreat(t) => Self {
                risk_level: Some(t.risk_level),
                category: Some(String::from(t.category.clone())),
                campaign_id: None,
            },
            EventData::PhishingEmailSent(p)
            | EventData::PhishingEmailOpened(p)
            | EventData::PhishingEmailClicked(p)
            | EventData::PhishingEmailReported(p) => Self {
                campaign_id: Some(p.campaign_id.clone()),
                ..Self::default()
            },
            EventData::PhishingEmailError(p) => Self {
                campaign_id: Some(p.campaign_id.clone()),
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
}

impl DeliveryLimits {
    pub fn new(per_second: u32, in_flight: u32) -> Result<Self, (&'static str, Invalid)> {
        if per_second > MAX_PER_SECOND {
            return Err((
                "max_deliveries_per_second",
                Invalid::new(format!("must be at most {MAX_PER_SECOND} (0: no limit)")),
            ));
        }
        if in_flight > MAX_IN_FLIGHT {
            return Err((
                "max_in_flight",
                Invalid::new(format!("must be at most {MAX_IN_FLIGHT} (0: no limit)")),
            ));
        }
        Ok(Self {
            per_second: NonZeroU32::new(per_second),
            in_flight: NonZeroU32::new(in_flight),
        })
    }

    /// Whether either limit is set: claims for the webhook are then
    /// counted and paced across every worker.
    pub fn is_limited(&self) -> bool {
        self.per_second.is_some() || self.in_flight.is_some()
    }
}

/// Trimmed, printable, at most `max` bytes; `None` when empty.
fn optional_text(text: &str, max: usize) -> Result<Option<String>, Invalid> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > max || text.chars().any(char::is_control) {
        return Err(Invalid::new(format!(
            "must be at most {max} bytes of printable text"
        )));
    }
    Ok(Some(text.to_owned()))
}

fn entries(values: Vec<String>, max: usize) -> Result<Vec<String>, Invalid> {
    if values.len() > MAX_FILTER_ENTRIES {
        return Err(Invalid::new(format!(
            "lists {} entries; at most {MAX_FILTER_ENTRIES}",
            values.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        match optional_text(&value, max)? {
            Some(value) if !out.contains(&value) => out.push(value),
            Some(_) => {}
            None => return Err(Invalid::new("has an empty entry")),
        }
    }
    Ok(out)
}

//! An event in words, shared by the formats written for people: a title,
//! a one-line summary, labelled facts and how alarming it is.

use selki_webhooks::{DisableReason, Event, EventData, RiskLevel};

/// An event described for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The event type as written in `subscription`.
    pub subscription: String,
    /// When it happened, RFC 3339 (empty when the body could not be read).
    pub timestamp: String,
    /// A short heading, e.g. "Phishing link clicked".
    pub title: String,
    /// One line saying what happened, for notifications and fallbacks.
    pub summary: String,
    pub facts: Vec<Fact>,
    /// A longer text worth its own paragraph (an error message).
    pub detail: Option<(String, String)>,
    pub tone: Tone,
    /// The threat's risk level, when it is a threat.
    pub risk: Option<RiskLevel>,
}

/// One labelled value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
    /// Shown as code: never a link (a threat's URL may be malicious).
    pub code: bool,
}

/// How alarming an event is, for colours and emoji.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Critical,
    Bad,
    Warning,
    Neutral,
    Good,
}

/// Describes `event`; `body` (the raw body) when it could not be read.
pub fn describe(event: Option<&Event>, body: &str) -> Described {
    let Some(event) = event else {
        return unreadable(body);
    };
    let timestamp = event
        .timestamp
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut d = of_data(&event.data);
    d.subscription = event.data.subscription().to_owned();
    d.timestamp = timestamp;
    d
}

fn fact(label: &'static str, value: impl Into<String>) -> Fact {
    Fact {
        label,
        value: value.into(),
        code: false,
    }
}

fn code(label: &'static str, value: impl Into<String>) -> Fact {
    Fact {
        code: true,
        ..fact(label, value)
    }
}

fn base(title: &str, summary: String, facts: Vec<Fact>, tone: Tone) -> Described {
    Described {
        subscription: String::new(),
        timestamp: String::new(),
        title: title.to_owned(),
        summary,
        facts,
        detail: None,
        tone,
        risk: None,
    }
}

fn of_data(data: &EventData) -> Described {
    let phishing = |title: &str, verb: &str, p: &selki_webhooks::PhishingEmail, tone| {
        base(
            title,
            format!("{} {verb} in campaign {}", p.email, p.campaign_id),
            vec![
                fact("Recipient", &p.email),
                fact("Campaign", &p.campaign_id),
            ],
            tone,
        )
    };
    match data {
        EventData::PhishingEmailSent(p) => phishing(
            "Phishing simulation email sent",
            "was sent a simulated phishing email",
            p,
            Tone::Neutral,
        ),
        EventData::PhishingEmailOpened(p) => phishing(
            "Phishing simulation email opened",
            "opened a simulated phishing email",
            p,
            Tone::Warning,
        ),
        EventData::PhishingEmailClicked(p) => phishing(
            "Phishing simulation link clicked",
            "clicked a link in a simulated phishing email",
            p,
            Tone::Bad,
        ),
        EventData::PhishingEmailReported(p) => phishing(
            "Phishing simulation email reported",
            "reported a simulated phishing email",
            p,
            Tone::Good,
        ),
        EventData::PhishingEmailError(p) => Described {
            detail: Some(("Error".to_owned(), p.error.clone())),
            ..base(
                "Phishing simulation email failed",
                format!(
                    "A simulated phishing email to {} in campaign {} failed: {}",
                    p.email, p.campaign_id, p.error
                ),
                vec![
                    fact("Recipient", &p.email),
                    fact("Campaign", &p.campaign_id),
                ],
                Tone::Warning,
            )
        },
        EventData::ThreatsNewThreat(t) => {
            let category = String::from(t.category.clone());
            let level = risk_name(t.risk_level);
            Described {
                risk: Some(t.risk_level),
                ..base(
                    &format!("New threat: {level} risk"),
                    // No URL here: notifications turn it into a link.
                    format!(
                        "New {level} risk threat ({category}) for {} <{}>",
                        t.username, t.email
                    ),
                    vec![
                        fact("Risk level", level),
                        fact("Category", category),
                        code("URL", &t.url),
                        fact("Username", &t.username),
                        fact("Email", &t.email),
                        code("Threat", &t.id),
                    ],
                    match t.risk_level {
                        RiskLevel::Critical => Tone::Critical,
                        RiskLevel::High => Tone::Bad,
                        RiskLevel::Medium => Tone::Warning,
                        RiskLevel::Low => Tone::Neutral,
                    },
                )
            }
        }
        other => operational(other),
    }
}

fn operational(data: &EventData) -> Described {
    match data {
        EventData::WebhookDisabled(w) => {
            let reason = match &w.reason {
                DisableReason::Gone => "the receiver answered 410 Gone".to_owned(),
                DisableReason::Failing => "it kept failing".to_owned(),
                DisableReason::ByPerson => "disabled by a person".to_owned(),
                DisableReason::Other(other) => other.clone(),
            };
            let mut facts = vec![fact("Webhook", &w.webhook_name), code("URL", &w.url)];
            facts.push(fact("Reason", &reason));
            if let Some(by) = &w.disabled_by {
                facts.push(fact("By", by));
            }
            Described {
                detail: Some(("What happened".to_owned(), w.message.clone())),
                ..base(
                    &format!("Webhook disabled: {}", w.webhook_name),
                    format!("Webhook {} was disabled: {reason}", w.webhook_name),
                    facts,
                    Tone::Bad,
                )
            }
        }
        EventData::WebhookFailing(w) => base(
            &format!("Webhook failing: {}", w.webhook_name),
            format!(
                "Webhook {} failed {} calls in a row since {}",
                w.webhook_name, w.consecutive_failures, w.failing_since
            ),
            vec![
                fact("Webhook", &w.webhook_name),
                code("URL", &w.url),
                fact("Failed calls in a row", w.consecutive_failures.to_string()),
                fact("Failing since", &w.failing_since),
                fact("Last outcome", outcome(&w.last_outcome, w.last_http_status)),
            ],
            Tone::Warning,
        ),
        EventData::WebhookRecovered(w) => base(
            &format!("Webhook recovered: {}", w.webhook_name),
            format!(
                "Webhook {} succeeded again after {} failed calls",
                w.webhook_name, w.failed_calls
            ),
            vec![
                fact("Webhook", &w.webhook_name),
                code("URL", &w.url),
                fact("Failed calls before", w.failed_calls.to_string()),
                fact("Failing since", &w.failing_since),
            ],
            Tone::Good,
        ),
        EventData::DeliveryExhausted(d) => Described {
            detail: d.last_error.clone().map(|e| ("Last error".to_owned(), e)),
            ..base(
                &format!("Delivery failed: {}", d.webhook_name),
                format!(
                    "Event {} ({}) could not be delivered to {} after {} attempts",
                    d.event_id, d.subscription, d.webhook_name, d.attempts
                ),
                vec![
                    fact("Webhook", &d.webhook_name),
                    code("URL", &d.url),
                    code("Event", &d.event_id),
                    fact("Event type", &d.subscription),
                    fact("Attempts", d.attempts.to_string()),
                    fact("Last outcome", outcome(&d.last_outcome, d.last_http_status)),
                ],
                Tone::Bad,
            )
        },
        EventData::Unknown(unknown) => Described {
            detail: Some((
                "Data".to_owned(),
                super::cut(&unknown.data.to_string(), 2000),
            )),
            ..base(
                &format!("Selki event {}", unknown.subscription),
                format!("Selki event {}", unknown.subscription),
                Vec::new(),
                Tone::Neutral,
            )
        },
        other => base(
            &format!("Selki event {}", other.subscription()),
            format!("Selki event {}", other.subscription()),
            Vec::new(),
            Tone::Neutral,
        ),
    }
}

fn unreadable(body: &str) -> Described {
    Described {
        subscription: "UNKNOWN".to_owned(),
        detail: Some(("Body".to_owned(), super::cut(body, 2000))),
        ..base(
            "Selki event",
            "A Selki event this version cannot describe".to_owned(),
            Vec::new(),
            Tone::Neutral,
        )
    }
}

pub(crate) fn risk_name(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "LOW",
        RiskLevel::Medium => "MEDIUM",
        RiskLevel::High => "HIGH",
        RiskLevel::Critical => "CRITICAL",
    }
}

fn outcome(outcome: &str, status: Option<u16>) -> String {
    match status {
        Some(status) => format!("{outcome} (HTTP {status})"),
        None => outcome.to_owned(),
    }
}

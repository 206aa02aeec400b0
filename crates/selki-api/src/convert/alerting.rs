//! A webhook's destination, content filter and limits: parsed from a
//! request, and shown (the credential never).

use selki_domain::{
    ContentFilter, Credential, DeliveryLimits, Destination, Format, PagerDutyOptions, Severity,
    SplunkOptions,
};
use selki_proto::v1 as pb;
use selki_webhooks::RiskLevel;

use super::events::risk_level;
use crate::error::Violations;

/// A destination as a request gives it, with its credential if it gave one.
#[derive(Debug)]
pub(crate) struct DestinationInput {
    pub(crate) destination: Destination,
    pub(crate) credential: Option<Credential>,
}

/// `None` (unset) is the Selki envelope.
pub(crate) fn destination(
    field: &str,
    d: Option<&pb::Destination>,
    v: &mut Violations,
) -> Option<DestinationInput> {
    let unset = pb::Destination::default();
    let d = d.unwrap_or(&unset);
    let format = v.check(format!("{field}.format"), format(d.format))?;
    let credential = match d.credential.trim() {
        "" => None,
        text => Some(v.check(
            format!("{field}.credential"),
            Credential::parse(format, text),
        )?),
    };
    let destination = match format {
        Format::Selki => Destination::Selki,
        Format::Slack => Destination::Slack,
        Format::MicrosoftTeams => Destination::MicrosoftTeams,
        Format::PagerDuty => {
            let severity = v.check(
                format!("{field}.pagerduty_phishing_severity"),
                severity(d.pagerduty_phishing_severity),
            );
            let options = v.check(
                format!("{field}.source"),
                PagerDutyOptions::new(severity.unwrap_or(Severity::Info), &d.source),
            );
            Destination::PagerDuty(options.filter(|_| severity.is_some())?)
        }
        Format::SplunkHec => Destination::SplunkHec(v.check(
            format!("{field}.splunk_sourcetype"),
            SplunkOptions::new(
                &d.splunk_sourcetype,
                &d.source,
                &d.splunk_index,
                &d.splunk_host,
            ),
        )?),
    };
    Some(DestinationInput {
        destination,
        credential,
    })
}

/// A new webhook's destination must bring the credential its format needs.
pub(crate) fn require_credential(field: &str, input: &DestinationInput, v: &mut Violations) {
    if let (Some(what), None) = (input.destination.format().credential(), &input.credential) {
        v.add(
            format!("{field}.credential"),
            format!(
                "is required: the {} format needs the destination's {what}",
                input.destination.format().as_str()
            ),
        );
    }
}

pub(crate) fn content_filter(
    field: &str,
    f: Option<&pb::ContentFilter>,
    v: &mut Violations,
) -> Option<ContentFilter> {
    let Some(f) = f else {
        return Some(ContentFilter::default());
    };
    let mut levels = Vec::new();
    for (i, level) in f.risk_levels.iter().take(8).enumerate() {
        levels.extend(v.check(format!("{field}.risk_levels[{i}]"), risk_level(*level)));
    }
    if f.risk_levels.len() > 8 {
        v.add(format!("{field}.risk_levels"), "lists more than 8 levels");
    }
    if f.min_risk_level != 0 {
        match (
            v.check(
                format!("{field}.min_risk_level"),
                risk_level(f.min_risk_level),
            ),
            f.risk_levels.is_empty(),
        ) {
            (Some(minimum), true) => levels = ContentFilter::at_least(minimum),
            (Some(_), false) => v.add(
                format!("{field}.min_risk_level"),
                "give risk_levels or min_risk_level, not both",
            ),
            (None, _) => {}
        }
    }
    ContentFilter::new(levels, f.threat_categories.clone(), f.campaign_ids.clone())
        .map_err(|(part, e)| {
            let part = if part == "categories" {
                "threat_categories"
            } else {
                part
            };
            v.add(format!("{field}.{part}"), e.to_string());
        })
        .ok()
}

/// Limits from a request's two numbers (0: none).
pub(crate) fn limits(
    prefix: &str,
    per_second: u32,
    in_flight: u32,
    v: &mut Violations,
) -> Option<DeliveryLimits> {
    DeliveryLimits::new(per_second, in_flight)
        .map_err(|(field, e)| v.add(format!("{prefix}{field}"), e.to_string()))
        .ok()
}

pub(crate) fn destination_to_proto(d: &Destination, credential_set: bool) -> pb::Destination {
    use pb::DestinationFormat as F;
    let mut out = pb::Destination {
        credential_set,
        ..Default::default()
    };
    out.format = match d {
        Destination::Selki => F::Selki,
        Destination::Slack => F::Slack,
        Destination::MicrosoftTeams => F::MicrosoftTeams,
        Destination::PagerDuty(o) => {
            out.pagerduty_phishing_severity = severity_to_proto(o.phishing_severity) as i32;
            out.source.clone_from(&o.source);
            F::Pagerduty
        }
        Destination::SplunkHec(o) => {
            out.source.clone_from(&o.source);
            out.splunk_sourcetype.clone_from(&o.sourcetype);
            out.splunk_index = o.index.clone().unwrap_or_default();
            out.splunk_host = o.host.clone().unwrap_or_default();
            F::SplunkHec
        }
    } as i32;
    out
}

pub(crate) fn filter_to_proto(f: &ContentFilter) -> Option<pb::ContentFilter> {
    (!f.is_empty()).then(|| pb::ContentFilter {
        risk_levels: f
            .risk_levels
            .iter()
            .map(|l| risk_to_proto(*l) as i32)
            .collect(),
        min_risk_level: 0,
        threat_categories: f.categories.clone(),
        campaign_ids: f.campaign_ids.clone(),
    })
}

fn format(value: i32) -> Result<Format, String> {
    use pb::DestinationFormat as F;
    match F::try_from(value) {
        Ok(F::Unspecified | F::Selki) => Ok(Format::Selki),
        Ok(F::Slack) => Ok(Format::Slack),
        Ok(F::MicrosoftTeams) => Ok(Format::MicrosoftTeams),
        Ok(F::Pagerduty) => Ok(Format::PagerDuty),
        Ok(F::SplunkHec) => Ok(Format::SplunkHec),
        Err(_) => Err(format!("{value} is not a destination format")),
    }
}

fn severity(value: i32) -> Result<Severity, String> {
    use pb::PagerDutySeverity as P;
    match P::try_from(value) {
        Ok(P::Unspecified | P::Info) => Ok(Severity::Info),
        Ok(P::Critical) => Ok(Severity::Critical),
        Ok(P::Error) => Ok(Severity::Error),
        Ok(P::Warning) => Ok(Severity::Warning),
        Err(_) => Err(format!("{value} is not a PagerDuty severity")),
    }
}

fn severity_to_proto(s: Severity) -> pb::PagerDutySeverity {
    use pb::PagerDutySeverity as P;
    match s {
        Severity::Critical => P::Critical,
        Severity::Error => P::Error,
        Severity::Warning => P::Warning,
        Severity::Info => P::Info,
    }
}

fn risk_to_proto(level: RiskLevel) -> pb::RiskLevel {
    match level {
        RiskLevel::Low => pb::RiskLevel::Low,
        RiskLevel::Medium => pb::RiskLevel::Medium,
        RiskLevel::High => pb::RiskLevel::High,
        RiskLevel::Critical => pb::RiskLevel::Critical,
    }
}

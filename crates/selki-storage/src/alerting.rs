//! How a webhook's destination, content filter and limits are stored:
//! JSON columns (NULL for the defaults, so a plain webhook's row and its
//! reads stay as they were) and the sealed credential.

use std::num::NonZeroU32;

use selki_domain::{
    ContentFilter, Credential, DeliveryLimits, Destination, Format, PagerDutyOptions, Severity,
    SplunkOptions, WebhookId,
};
use selki_webhooks::RiskLevel;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::sql::{opt_bytes, opt_int, opt_text};
use crate::{Sealed, Store, StoreError};

/// The `destination` column.
#[derive(Serialize, Deserialize)]
struct StoredDestination {
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sourcetype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
}

/// The `content_filter` column.
#[derive(Serialize, Deserialize)]
struct StoredFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    risk_levels: Vec<RiskLevel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    campaign_ids: Vec<String>,
}

/// The column's text; `None` for the Selki envelope.
pub(crate) fn destination_json(destination: &Destination) -> Option<String> {
    let stored = |format: Format| StoredDestination {
        format: format.as_str().to_owned(),
        severity: None,
        source: None,
        sourcetype: None,
        index: None,
        host: None,
    };
    let stored = match destination {
        Destination::Selki => return None,
        Destination::PagerDuty(o) => StoredDestination {
            severity: Some(o.phishing_severity.as_str().to_owned()),
            source: Some(o.source.clone()),
            ..stored(Format::PagerDuty)
        },
        Destination::SplunkHec(o) => StoredDestination {
            sourcetype: Some(o.sourcetype.clone()),
            source: Some(o.source.clone()),
            index: o.index.clone(),
            host: o.host.clone(),
            ..stored(Format::SplunkHec)
        },
        other => stored(other.format()),
    };
    serde_json::to_string(&stored).ok()
}

pub(crate) fn destination_from(row: &AnyRow) -> Result<Destination, StoreError> {
    let corrupt = || StoreError::Corrupt("destination".into());
    let Some(text) = opt_text(row, "destination")? else {
        return Ok(Destination::Selki);
    };
    let stored: StoredDestination = serde_json::from_str(&text).map_err(|_| corrupt())?;
    Ok(match Format::parse(&stored.format).ok_or_else(corrupt)? {
        Format::Selki => Destination::Selki,
        Format::Slack => Destination::Slack,
        Format::MicrosoftTeams => Destination::MicrosoftTeams,
        Format::PagerDuty => Destination::PagerDuty(PagerDutyOptions {
            phishing_severity: stored
                .severity
                .as_deref()
                .and_then(Severity::parse)
                .ok_or_else(corrupt)?,
            source: stored.source.unwrap_or_default(),
        }),
        Format::SplunkHec => Destination::SplunkHec(SplunkOptions {
            sourcetype: stored.sourcetype.unwrap_or_default(),
            source: stored.source.unwrap_or_default(),
            index: stored.index,
            host: stored.host,
        }),
    })
}

/// The column's text; `None` for no filter.
pub(crate) fn filter_json(filter: &ContentFilter) -> Option<String> {
    if filter.is_empty() {
        return None;
    }
    serde_json::to_string(&StoredFilter {
        risk_levels: filter.risk_levels.clone(),
        categories: filter.categories.clone(),
        campaign_ids: filter.campaign_ids.clone(),
    })
    .ok()
}

pub(crate) fn filter_from(row: &AnyRow) -> Result<ContentFilter, StoreError> {
    let Some(text) = opt_text(row, "content_filter")? else {
        return Ok(ContentFilter::default());
    };
    let stored: StoredFilter =
        serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("content_filter".into()))?;
    Ok(ContentFilter {
        risk_levels: stored.risk_levels,
        categories: stored.categories,
        campaign_ids: stored.campaign_ids,
    })
}

pub(crate) fn limits_from(row: &AnyRow) -> Result<DeliveryLimits, StoreError> {
    let limit = |column: &str| -> Result<Option<NonZeroU32>, StoreError> {
        Ok(opt_int(row, column)?
            .and_then(|n| u32::try_from(n).ok())
            .and_then(NonZeroU32::new))
    };
    Ok(DeliveryLimits {
        per_second: limit("max_per_second")?,
        in_flight: limit("max_in_flight")?,
    })
}

pub(crate) fn limit_value(limit: Option<NonZeroU32>) -> Option<i64> {
    limit.map(|n| i64::from(n.get()))
}

impl Store {
    pub(crate) fn seal_credential(&self, credential: &Credential, id: WebhookId) -> Sealed {
        self.keyring
            .seal(credential.expose().as_bytes(), &credential_context(id))
    }

    /// A row's credential, opened; `None` when it has none.
    pub(crate) fn open_credential(
        &self,
        row: &AnyRow,
        id: WebhookId,
    ) -> Result<Option<Credential>, StoreError> {
        let (Some(bytes), Some(key_id)) = (
            opt_bytes(row, "credential")?,
            opt_text(row, "credential_key_id")?,
        ) else {
            return Ok(None);
        };
        let plain = self.open_sealed(
            &Sealed { key_id, bytes },
            &credential_context(id),
            id,
            "destination credential",
        )?;
        let text = String::from_utf8(plain)
            .map_err(|_| StoreError::Corrupt(format!("credential of {id}")))?;
        Ok(Some(Credential::from_stored(text)))
    }
}

/// What a sealed credential is bound to: its webhook, and being one.
fn credential_context(id: WebhookId) -> String {
    format!("credential:{id}")
}

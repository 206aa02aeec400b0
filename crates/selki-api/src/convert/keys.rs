//! API keys' requests, and a key as the API shows it (never its secret).

use selki_domain::{ApiKeyId, KeyAccess, OrganizationId};
use selki_proto::v1 as pb;
use selki_storage::{ApiKey, ApiKeyScope};

use std::time::Duration;

use super::{PageRequest, duration_in, requested_organization, timestamp_to_proto};
use crate::error::Violations;

#[derive(Debug)]
pub(crate) struct CreateApiKey {
    /// `None`: an admin key.
    pub(crate) organization: Option<OrganizationId>,
    pub(crate) name: String,
    pub(crate) access: KeyAccess,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ListApiKeys {
    pub(crate) page: PageRequest<ApiKeyId>,
}

/// A console session to mint.
#[derive(Debug, Clone)]
pub(crate) struct CreateConsoleSession {
    /// `None`: the caller's own organization (organization keys only).
    pub(crate) organization: Option<OrganizationId>,
    pub(crate) lifetime: Duration,
    pub(crate) access: KeyAccess,
    pub(crate) name: String,
}

/// How long a console session may last: long enough for a working day,
/// short enough that a leaked one soon stops working.
const SESSION_LIFETIMES: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(12 * 3600);
const SESSION_LIFETIME: Duration = Duration::from_secs(3600);

/// Revoke: one key by id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRef {
    pub(crate) id: ApiKeyId,
}

impl TryFrom<&pb::CreateApiKeyRequest> for CreateApiKey {
    type Error = Violations;

    fn try_from(r: &pb::CreateApiKeyRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let organization = v.check(
            "organization_id",
            requested_organization(&r.organization_id),
        );
        let name = v.check("name", key_name(&r.name));
        let access = v.check("scope", access(r.scope));
        v.build(|| {
            Some(Self {
                organization: organization?,
                name: name?,
                access: access?,
            })
        })
    }
}

impl TryFrom<&pb::CreateConsoleSessionRequest> for CreateConsoleSession {
    type Error = Violations;

    fn try_from(r: &pb::CreateConsoleSessionRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let organization = v.check(
            "organization_id",
            requested_organization(&r.organization_id),
        );
        let lifetime = match &r.lifetime {
            None => Some(SESSION_LIFETIME),
            Some(d) => v.check(
                "lifetime",
                duration_in(d, SESSION_LIFETIMES, "must be 1 second to 12 hours"),
            ),
        };
        // Unnamed sessions are common (an app minting one per sign-in).
        let name = if r.name.trim().is_empty() {
            Some("console session".to_owned())
        } else {
            v.check("name", key_name(&r.name))
        };
        let access = if r.read_only {
            KeyAccess::Read
        } else {
            KeyAccess::Full
        };
        v.build(|| {
            Some(Self {
                organization: organization?,
                lifetime: lifetime?,
                access,
                name: name?,
            })
        })
    }
}

impl TryFrom<&pb::ListApiKeysRequest> for ListApiKeys {
    type Error = Violations;

    fn try_from(r: &pb::ListApiKeysRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let page = PageRequest::parse(r.page_size, &r.page_token, ApiKeyId::parse, &mut v);
        v.build(|| Some(Self { page: page? }))
    }
}

impl TryFrom<&pb::RevokeApiKeyRequest> for KeyRef {
    type Error = Violations;

    fn try_from(r: &pb::RevokeApiKeyRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let id = v.check("id", ApiKeyId::parse(&r.id));
        v.build(|| Some(Self { id: id? }))
    }
}

/// A key's or session's name: 1 to 200 characters, no control characters.
fn key_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err("must be 1 to 200 characters without control characters".into());
    }
    Ok(name.to_owned())
}

fn access(value: i32) -> Result<KeyAccess, String> {
    use pb::ApiKeyScope as P;
    match P::try_from(value) {
        Ok(P::Unspecified | P::Full) => Ok(KeyAccess::Full),
        Ok(P::Ingest) => Ok(KeyAccess::Ingest),
        Ok(P::Read) => Ok(KeyAccess::Read),
        Err(_) => Err(format!("{value} is not an API key scope")),
    }
}

pub(crate) fn api_key_to_proto(key: &ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id.to_string(),
        organization_id: match &key.scope {
            ApiKeyScope::Admin => String::new(),
            ApiKeyScope::Organization(org) => org.to_string(),
        },
        name: key.name.clone(),
        create_time: Some(timestamp_to_proto(key.created_at)),
        revoke_time: key.revoked_at.map(timestamp_to_proto),
        expire_time: key.expires_at.map(timestamp_to_proto),
        scope: match key.access {
            KeyAccess::Full => pb::ApiKeyScope::Full,
            KeyAccess::Ingest => pb::ApiKeyScope::Ingest,
            KeyAccess::Read => pb::ApiKeyScope::Read,
        } as i32,
    }
}

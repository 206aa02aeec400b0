//! `authorization: Bearer <api key>`: who is calling, and for which
//! organization they may act.

use base64::Engine as _;
use selki_domain::{ApiKeyId, KeyAccess, Operation, OrganizationId};
use selki_storage::{ApiKeyScope, Scope};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Request;

use crate::Api;
use crate::error::{ApiError, Violations};

/// The caller, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    Admin,
    Organization(OrganizationId),
}

/// Which key a caller used: the bootstrap admin key from configuration, or
/// a stored one (which can be revoked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRef {
    Bootstrap,
    Stored(ApiKeyId),
    /// A console session: a stored key with an end, which mints nothing.
    Session(ApiKeyId),
}

impl KeyRef {
    /// The stored key, whose revocation or expiry ends what it opened.
    pub(crate) fn stored(self) -> Option<ApiKeyId> {
        match self {
            Self::Bootstrap => None,
            Self::Stored(id) | Self::Session(id) => Some(id),
        }
    }
}

/// SHA-256 of a key's text: what is stored and compared.
pub fn hash_key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// 32 bytes from the OS random source: API keys and signing secrets.
pub(crate) fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
}

/// A new key: `sk_` and 32 random bytes, base64url.
pub fn new_key_text() -> String {
    bearer_token("sk")
}

/// `prefix`, `_` and 32 random bytes, base64url: the prefix says what a
/// token seen in a log or a browser is (`sk` keys, `cs` console sessions).
pub(crate) fn bearer_token(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_32())
    )
}

impl Principal {
    pub(crate) fn scope(&self) -> Scope {
        match self {
            Self::Admin => Scope::All,
            Self::Organization(org) => Scope::Organization(org.clone()),
        }
    }

    /// The organization a request acts for. Admins must name one;
    /// organization keys may omit it, and naming another is NOT_FOUND, as
    /// if it did not exist.
    pub(crate) fn act_for(
        &self,
        requested: Option<&OrganizationId>,
        field: &str,
        violations: &mut Violations,
    ) -> Result<Option<OrganizationId>, ApiError> {
        match (self, requested) {
            (Self::Admin, None) => {
                violations.add(field, "is required with an admin key");
                Ok(None)
            }
            (Self::Admin, Some(org)) => Ok(Some(org.clone())),
            (Self::Organization(own), None) => Ok(Some(own.clone())),
            (Self::Organization(own), Some(org)) if org == own => Ok(Some(own.clone())),
            (Self::Organization(_), Some(org)) => Err(ApiError::NotFound(format!(
                "organization `{org}` not found"
            ))),
        }
    }

    /// [`Principal::act_for`] for a request naming one organization.
    pub(crate) fn acting_for(
        &self,
        requested: Option<&OrganizationId>,
        field: &str,
    ) -> Result<OrganizationId, ApiError> {
        let mut v = Violations::default();
        let org = self.act_for(requested, field, &mut v)?;
        Ok(v.build(|| org)?)
    }
}

impl Api {
    /// The caller, if its key may do `operation`.
    pub(crate) async fn authenticate<T>(
        &self,
        request: &Request<T>,
        operation: Operation,
    ) -> Result<Principal, ApiError> {
        self.authenticate_key(request, operation)
            .await
            .map(|(p, _)| p)
    }

    /// The caller and the key it used, if the key may do `operation`.
    pub(crate) async fn authenticate_key<T>(
        &self,
        request: &Request<T>,
        operation: Operation,
    ) -> Result<(Principal, KeyRef), ApiError> {
        self.authenticate_named(request, operation)
            .await
            .map(|(p, key, _)| (p, key))
    }

    /// The caller, the key it used and how to name that key to people
    /// (e.g. in WEBHOOK_DISABLED), if the key may do `operation`.
    pub(crate) async fn authenticate_named<T>(
        &self,
        request: &Request<T>,
        operation: Operation,
    ) -> Result<(Principal, KeyRef, String), ApiError> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or(ApiError::Unauthenticated(
                "missing `authorization: Bearer <api key>`",
            ))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthenticated(
                "the authorization header must be `Bearer <api key>`",
            ))?;
        let hash = hash_key(key);
        if let Some(admin) = &self.inner.admin_key_hash
            && bool::from(hash.ct_eq(admin))
        {
            return Ok((
                Principal::Admin,
                KeyRef::Bootstrap,
                "the configured admin key".to_owned(),
            ));
        }
        let key = self
            .store()
            .find_api_key(&hash)
            .await?
            .ok_or(ApiError::Unauthenticated(
                "unknown, revoked or expired API key or console session",
            ))?;
        if !key.access.allows(operation) {
            return Err(ApiError::PermissionDenied(match key.access {
                KeyAccess::Ingest => "this key is an ingest key: it may only submit events",
                _ => "this key is a read key: it may only get, list, watch and read statistics",
            }));
        }
        let principal = match key.scope {
            ApiKeyScope::Admin => Principal::Admin,
            ApiKeyScope::Organization(org) => Principal::Organization(org),
        };
        if key.expires_at.is_some() {
            let name = format!("console session \"{}\" ({})", key.name, key.id);
            return Ok((principal, KeyRef::Session(key.id), name));
        }
        let name = format!("API key \"{}\" ({})", key.name, key.id);
        Ok((principal, KeyRef::Stored(key.id), name))
    }
}

//! `ApiKeyService`: keys are shown once, stored as hashes, revocable.

use selki_domain::Operation;
use selki_proto::v1 as pb;
use selki_proto::v1::api_key_service_server::ApiKeyService;
use selki_storage::{ApiKeyScope, NewApiKey};
use tonic::{Request, Response, Status};

use crate::auth::{KeyRef as Caller, Principal, bearer_token, hash_key, new_key_text};
use crate::convert::{CreateApiKey, CreateConsoleSession, KeyRef, ListApiKeys, api_key_to_proto};
use crate::error::ApiError;
use crate::{Api, reply};

type Reply<T> = Result<Response<T>, Status>;

/// Live (neither ended nor revoked) console sessions per organization.
const MAX_LIVE_SESSIONS: u64 = 1_000;

impl Api {
    async fn create_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<pb::CreateApiKeyResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Write).await?;
        let r = CreateApiKey::try_from(request.get_ref())?;
        let scope = match (&principal, r.organization) {
            (Principal::Admin, None) => ApiKeyScope::Admin,
            (Principal::Admin, Some(org)) => ApiKeyScope::Organization(org),
            // Another organization stays NOT_FOUND; its own is refused: a
            // key that mints keys would leave them behind when revoked.
            (Principal::Organization(_), requested) => {
                principal.acting_for(requested.as_ref(), "organization_id")?;
                return Err(ApiError::PermissionDenied(
                    "only admin keys create API keys; ask for one from an admin key",
                ));
            }
        };
        let key = new_key_text();
        let new = NewApiKey {
            scope,
            access: r.access,
            name: r.name,
            secret_hash: hash_key(&key),
            lifetime: None,
        };
        let stored = self.store().create_api_key(&new).await?;
        tracing::info!(api_key = %stored.id, "API key created");
        Ok(pb::CreateApiKeyResponse {
            api_key: Some(api_key_to_proto(&stored)),
            key,
        })
    }

    async fn create_session(
        &self,
        request: Request<pb::CreateConsoleSessionRequest>,
    ) -> Result<pb::CreateConsoleSessionResponse, ApiError> {
        let (principal, caller) = self.authenticate_key(&request, Operation::Write).await?;
        let r = CreateConsoleSession::try_from(request.get_ref())?;
        let organization = principal.acting_for(r.organization.as_ref(), "organization_id")?;
        // A session that minted sessions could outlive itself.
        if matches!(caller, Caller::Session(_)) {
            return Err(ApiError::PermissionDenied(
                "a console session cannot mint sessions; use an API key",
            ));
        }
        // Each session is a row: an organization may not mint them without
        // end. Concurrent mints may pass the count together, by at most as
        // many as run at once.
        if self.store().live_sessions(&organization).await? >= MAX_LIVE_SESSIONS {
            return Err(ApiError::ResourceExhausted(format!(
                "at most {MAX_LIVE_SESSIONS} live console sessions per organization: \
                 revoke some (RevokeApiKey) or let them end"
            )));
        }
        let token = bearer_token("cs");
        let new = NewApiKey {
            scope: ApiKeyScope::Organization(organization),
            access: r.access,
            name: r.name,
            secret_hash: hash_key(&token),
            lifetime: Some(r.lifetime),
        };
        let stored = self.store().create_api_key(&new).await?;
        tracing::info!(session = %stored.id, lifetime = ?r.lifetime, "console session created");
        Ok(pb::CreateConsoleSessionResponse {
            session: Some(api_key_to_proto(&stored)),
            token,
        })
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<pb::ListApiKeysResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Read).await?;
        let ListApiKeys { page } = ListApiKeys::try_from(request.get_ref())?;
        let rows = self
            .store()
            .list_api_keys(&principal.scope(), page.fetch())
            .await?;
        let (keys, next_page_token) = page.page(rows, |k| k.id);
        Ok(pb::ListApiKeysResponse {
            api_keys: keys.iter().map(api_key_to_proto).collect(),
            next_page_token,
        })
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<pb::RevokeApiKeyResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Write).await?;
        let KeyRef { id } = KeyRef::try_from(request.get_ref())?;
        if !self.store().revoke_api_key(&principal.scope(), id).await? {
            return Err(ApiError::NotFound(format!("API key {id} not found")));
        }
        tracing::info!(api_key = %id, "API key revoked");
        Ok(pb::RevokeApiKeyResponse {})
    }
}

#[tonic::async_trait]
impl ApiKeyService for Api {
    async fn create_console_session(
        &self,
        request: Request<pb::CreateConsoleSessionRequest>,
    ) -> Reply<pb::CreateConsoleSessionResponse> {
        reply(self.create_session(request).await)
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Reply<pb::CreateApiKeyResponse> {
        reply(self.create_key(request).await)
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Reply<pb::ListApiKeysResponse> {
        reply(self.list_keys(request).await)
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Reply<pb::RevokeApiKeyResponse> {
        reply(self.revoke_key(request).await)
    }
}

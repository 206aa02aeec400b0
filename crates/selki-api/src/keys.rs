//! `ApiKeyService`: keys are shown once, stored as hashes, revocable.

use selki_domain::{ApiKeyId, OrganizationId};
use selki_proto::v1 as pb;
use selki_proto::v1::api_key_service_server::ApiKeyService;
use selki_storage::{ApiKey, ApiKeyScope, NewApiKey, Page};
use tonic::{Request, Response, Status};

use crate::Api;
use crate::auth::{Principal, hash_key, new_key_text};
use crate::convert::{page_size, page_token, parse_page_token, timestamp_to_proto};
use crate::error::{ApiError, Violations};

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ApiKeyService for Api {
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Reply<pb::CreateApiKeyResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let scope = match (&principal, r.organization_id.as_str()) {
            (Principal::Admin, "") => Some(ApiKeyScope::Admin),
            (Principal::Admin, org) => v
                .check("organization_id", OrganizationId::parse(org))
                .map(ApiKeyScope::Organization),
            // Another organization stays NOT_FOUND; its own is refused: a
            // key that mints keys would leave them behind when revoked.
            (Principal::Organization(_), requested) => {
                principal.organization(requested, "organization_id", &mut v)?;
                return Err(ApiError::PermissionDenied(
                    "only admin keys create API keys; ask for one from an admin key",
                )
                .into());
            }
        };
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            v.add(
                "name",
                "must be 1 to 200 characters without control characters",
            );
        }
        v.finish()?;
        let key = new_key_text();
        let new = NewApiKey {
            scope: scope.expect("parsed"),
            name: name.to_owned(),
            secret_hash: hash_key(&key),
        };
        let stored = self
            .store()
            .create_api_key(ApiKeyId::new(), &new)
            .await
            .map_err(ApiError::from)?;
        tracing::info!(api_key = %stored.id, "API key created");
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: Some(api_key_to_proto(&stored)),
            key,
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Reply<pb::ListApiKeysResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let limit = v.check("page_size", page_size(r.page_size));
        let after = v.check(
            "page_token",
            parse_page_token(&r.page_token, ApiKeyId::parse),
        );
        v.finish()?;
        let (Some(limit), Some(after)) = (limit, after) else {
            unreachable!("every field parsed when there are no violations")
        };
        let page = Page {
            after,
            limit: limit + 1,
        };
        let mut keys = self
            .store()
            .list_api_keys(&principal.scope(), page)
            .await
            .map_err(ApiError::from)?;
        let more = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        let next_page_token = match (more, keys.last()) {
            (true, Some(last)) => page_token(last.id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListApiKeysResponse {
            api_keys: keys.iter().map(api_key_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Reply<pb::RevokeApiKeyResponse> {
        let principal = self.authenticate(&request).await?;
        let mut v = Violations::default();
        let id = v.check("id", ApiKeyId::parse(&request.get_ref().id));
        v.finish()?;
        let id = id.expect("parsed");
        if !self
            .store()
            .revoke_api_key(&principal.scope(), id)
            .await
            .map_err(ApiError::from)?
        {
            return Err(ApiError::NotFound(format!("API key {id} not found")).into());
        }
        tracing::info!(api_key = %id, "API key revoked");
        Ok(Response::new(pb::RevokeApiKeyResponse {}))
    }
}

fn api_key_to_proto(key: &ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id.to_string(),
        organization_id: match &key.scope {
            ApiKeyScope::Admin => String::new(),
            ApiKeyScope::Organization(org) => org.to_string(),
        },
        name: key.name.clone(),
        create_time: Some(timestamp_to_proto(key.created_at_ms)),
        revoke_time: key.revoked_at_ms.map(timestamp_to_proto),
    }
}

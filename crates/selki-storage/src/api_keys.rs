//! API keys: stored as SHA-256 hashes of the key text, never the key.

use std::collections::HashSet;

use selki_domain::{ApiKeyId, KeyAccess, OrganizationId};
use sqlx::any::AnyRow;

use crate::sql::{count, list, opt_text, opt_time, parsed, text, time};

use crate::{ApiKey, ApiKeyScope, NewApiKey, Page, Scope, Store, StoreError};

const COLUMNS: &str = "id, organization_id, access, name, created_at, revoked_at, expires_at";

impl Store {
    pub async fn create_api_key(&self, new: &NewApiKey) -> Result<ApiKey, StoreError> {
        let now = self.now();
        let id = ApiKeyId::at(now);
        let organization = match &new.scope {
            ApiKeyScope::Admin => None,
            ApiKeyScope::Organization(org) => Some(org.as_str().to_owned()),
        };
        let sql = format!(
            "INSERT INTO api_keys (id, organization_id, name, secret_hash, created_at, access, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(organization)
            .bind(new.name.clone())
            .bind(new.secret_hash.to_vec())
            .bind(now.as_millis())
            .bind(new.access.as_str())
            .bind(new.lifetime.map(|l| now.plus(l).as_millis()))
            .fetch_one(&self.pool)
            .await?;
        api_key_from(&row)
    }

    /// The live (neither revoked nor expired) key whose text hashes to
    /// `hash`.
    pub async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash.to_vec())
            .bind(self.now().as_millis())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(api_key_from).transpose()
    }

    /// Keys in scope, oldest first, revoked ones included, a page at a time.
    pub async fn list_api_keys(
        &self,
        scope: &Scope,
        page: Page<ApiKeyId>,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys WHERE ($1 IS NULL OR organization_id = $1) \
             AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scope.organization().map(str::to_owned))
            .bind(page.after.map(|id| id.to_string()))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(api_key_from).collect()
    }

    /// An organization's console sessions neither revoked nor ended.
    pub async fn live_sessions(&self, org: &OrganizationId) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM api_keys WHERE organization_id = $1 \
             AND expires_at > $2 AND revoked_at IS NULL",
        )
        .bind(org.as_str().to_owned())
        .bind(self.now().as_millis())
        .fetch_one(&self.pool)
        .await?;
        count(&row, "n")
    }

    /// Which of these keys are still live (neither revoked nor expired).
    pub async fn live_api_keys(&self, ids: &[ApiKeyId]) -> Result<HashSet<ApiKeyId>, StoreError> {
        let mut live = HashSet::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id FROM api_keys WHERE revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $1) AND id IN ({})",
                list(2, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(self.now().as_millis());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                live.insert(parsed("id", &text(&row, "id")?, ApiKeyId::parse)?);
            }
        }
        Ok(live)
    }

    /// Revokes a key in scope; `false` if there is no such live key.
    pub async fn revoke_api_key(&self, scope: &Scope, id: ApiKeyId) -> Result<bool, StoreError> {
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL \
             AND ($2 IS NULL OR organization_id = $2)",
        )
        .bind(id.to_string())
        .bind(scope.organization().map(str::to_owned))
        .bind(self.now().as_millis())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if revoked > 0 {
            // Open streams re-check their keys now, in every process.
            self.announce_keys_changed().await?;
        }
        Ok(revoked > 0)
    }
}

fn api_key_from(row: &AnyRow) -> Result<ApiKey, StoreError> {
    let scope = match opt_text(row, "organization_id")? {
        None => ApiKeyScope::Admin,
        Some(org) => {
            ApiKeyScope::Organization(parsed("organization_id", &org, OrganizationId::parse)?)
        }
    };
    Ok(ApiKey {
        id: parsed("id", &text(row, "id")?, ApiKeyId::parse)?,
        scope,
        access: parsed("access", &text(row, "access")?, |a| {
            KeyAccess::parse(a).ok_or("unknown access")
        })?,
        name: text(row, "name")?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
        expires_at: opt_time(row, "expires_at")?,
    })
}

//! Webhooks: create, read, list, change, rotate secrets, delete.

use std::time::Duration;

use selki_domain::{
    CustomHeaders, EndpointUrl, EventTypes, OrganizationId, RetryPolicy, UnixMs, Unopenable,
    UrlPolicy, WebhookId, WebhookName, millis,
};
use selki_webhooks::{DisableReason, EventData, Secret, WebhookDisabled};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::alerting::{
    destination_from, destination_json, filter_from, filter_json, limit_value, limits_from,
};
use crate::operational::Notice;
use crate::sql::{
    count, duration, flag, int, opt_bytes, opt_duration, opt_int, opt_text, opt_time, parsed,
    status, statuses, text, time,
};
use crate::{
    Created, NewWebhook, Page, Scope, SigningState, Store, StoreError, Webhook, WebhookFilter,
    WebhookPatch,
};

const COLUMNS: &str = "id, organization_id, name, url, event_types, enabled, disabled_reason, \
    retry_attempts, retry_delay_ms, retry_exponential, retry_max_delay_ms, headers, \
    headers_sealed, headers_key_id, timeout_ms, \
    CAST(CASE WHEN secret IS NULL THEN 0 ELSE 1 END AS BIGINT) AS secret_set, \
    previous_secret_expires_at, created_at, updated_at, consecutive_failures, last_success_at, \
    last_failure_at, destination, content_filter, max_per_second, max_in_flight, \
    CAST(CASE WHEN credential IS NULL THEN 0 ELSE 1 END AS BIGINT) AS credential_set";

impl Store {
    /// Creates a webhook, unless its organization already has as many as
    /// the limits allow (counted under a lock on the organization, so
    /// concurrent creations cannot overshoot), or unless its request id
    /// was seen: then the webhook that request made.
    pub async fn create_webhook(&self, new: &NewWebhook) -> Result<Created, StoreError> {
        let now = self.now();
        let id = WebhookId::at(now);
        let org = new.organization.as_str().to_owned();
        let mut tx = self.begin().await?;
        self.backend.lock_organization(&mut tx, &org).await?;
        if let Some((request_id, fingerprint)) = &new.request {
            let sql = format!(
                "SELECT {COLUMNS}, deleted_at, request_fingerprint FROM webhooks \
                 WHERE organization_id = $1 AND request_id = $2"
            );
            let earlier = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org.clone())
                .bind(request_id.clone())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = earlier {
                return self.created_before(&row, fingerprint);
            }
        }
        let count = sqlx::query(
            "SELECT COUNT(*) AS n FROM webhooks WHERE organization_id = $1 AND deleted_at IS NULL",
        )
        .bind(org.clone())
        .fetch_one(&mut *tx)
        .await?;
        let max = self.limits.webhooks_per_organization;
        if int(&count, "n")? >= i64::from(max) {
            return Err(StoreError::TooManyWebhooks {
                organization: org,
                max,
            });
        }
        let sealed = new.secret.as_ref().map(|s| self.seal_secret(s, id));
        let headers = self.seal_headers(&new.headers, id);
        let credential = new.credential.as_ref().map(|c| self.seal_credential(c, id));
        let sql = format!(
            "INSERT INTO webhooks (id, organization_id, name, url, event_types, enabled, \
             retry_attempts, retry_delay_ms, retry_exponential, retry_max_delay_ms, headers, \
             secret, secret_key_id, created_at, updated_at, timeout_ms, headers_sealed, \
             headers_key_id, request_id, request_fingerprint, destination, credential, \
             credential_key_id, content_filter, max_per_second, max_in_flight) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '[]', $11, $12, $13, $13, $14, \
             $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(new.organization.as_str().to_owned())
            .bind(new.name.as_str().to_owned())
            .bind(new.url.as_str().to_owned())
            .bind(i64::from(new.event_types.bits()))
            .bind(flag(new.enabled))
            .bind(i64::from(new.retry.attempts()))
            .bind(millis(new.retry.delay()))
            .bind(flag(new.retry.exponential()))
            .bind(millis(new.retry.max_delay()))
            .bind(sealed.as_ref().map(|s| s.bytes.clone()))
            .bind(sealed.map(|s| s.key_id))
            .bind(now.as_millis())
            .bind(new.timeout.map(millis))
            .bind(headers.as_ref().map(|s| s.bytes.clone()))
            .bind(headers.map(|s| s.key_id))
            .bind(new.request.as_ref().map(|(id, _)| id.clone()))
            .bind(new.request.as_ref().map(|(_, f)| f.to_vec()))
            .bind(destination_json(&new.destination))
            .bind(credential.as_ref().map(|s| s.bytes.clone()))
            .bind(credential.map(|s| s.key_id))
            .bind(filter_json(&new.filter))
            .bind(limit_value(new.limits.per_second))
            .bind(limit_value(new.limits.in_flight))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::at_commit)?;
        Ok(Created {
            webhook: self.webhook_from(&row)?,
            duplicate: false,
            same_request: true,
        })
    }

    /// The webhook an earlier request with the same request id made.
    fn created_before(&self, row: &AnyRow, fingerprint: &[u8; 32]) -> Result<Created, StoreError> {
        if opt_int(row, "deleted_at")?.is_some() {
            return Err(StoreError::RequestIdUsed);
        }
        Ok(Created {
            webhook: self.webhook_from(row)?,
            duplicate: true,
            same_request: opt_bytes(row, "request_fingerprint")?.as_deref()
                == Some(fingerprint.as_slice()),
        })
    }

    pub async fn get_webhook(
        &self,
        scope: &Scope,
        id: WebhookId,
    ) -> Result<Option<Webhook>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR organization_id = $2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(scope.organization().map(str::to_owned))
            .fetch_optional(&self.reads)
            .await?;
        row.as_ref().map(|r| self.webhook_from(r)).transpose()
    }

    /// One organization's webhooks, oldest first.
    pub async fn list_webhooks(
        &self,
        organization: &OrganizationId,
        filter: WebhookFilter,
        page: Page<WebhookId>,
    ) -> Result<Vec<Webhook>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhooks WHERE organization_id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR enabled = $2) AND ($3 IS NULL OR id > $3) \
             ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(organization.as_str().to_owned())
            .bind(filter.enabled.map(flag))
            .bind(page.after.map(|id| id.to_string()))
            .bind(i64::from(page.limit))
            .fetch_all(&self.reads)
            .await?;
        rows.iter().map(|r| self.webhook_from(r)).collect()
    }

    /// Applies a patch; `None` if there is no such webhook in scope.
    /// Enabling a webhook clears why it was disabled; disabling an enabled
    /// one says who did, and raises WEBHOOK_DISABLED in the same
    /// transaction.
    pub async fn update_webhook(
        &self,
        scope: &Scope,
        id: WebhookId,
        patch: &WebhookPatch,
    ) -> Result<Option<Webhook>, StoreError> {
        let mut tx = self.begin().await?;
        let by = patch.by.as_deref().unwrap_or("an API call");
        let turned_off = match patch.enabled {
            Some(false) => turn_off(&mut tx, scope, id, by, self.now()).await?,
            _ => false,
        };
        let Some(updated) = self.apply_patch(&mut tx, scope, id, patch).await? else {
            return Ok(None);
        };
        let due = match turned_off {
            true => {
                let notice = Notice {
                    organization: updated.organization.clone(),
                    about: id,
                    data: EventData::WebhookDisabled(WebhookDisabled {
                        webhook_id: id.to_string(),
                        webhook_name: updated.name.as_str().to_owned(),
                        url: updated.url.as_str().to_owned(),
                        reason: DisableReason::ByPerson,
                        disabled_by: Some(by.to_owned()),
                        message: format!("disabled by {by}"),
                    }),
                };
                self.raise(&mut tx, vec![notice]).await?
            }
            false => false,
        };
        tx.commit().await.map_err(StoreError::at_commit)?;
        if due {
            self.announce_due_locally();
        }
        Ok(Some(updated))
    }

    /// The patch itself, in one statement.
    async fn apply_patch(
        &self,
        tx: &mut Transaction<'static, Any>,
        scope: &Scope,
        id: WebhookId,
        patch: &WebhookPatch,
    ) -> Result<Option<Webhook>, StoreError> {
        let sql = format!(
            "UPDATE webhooks SET \
               name = COALESCE($3, name), url = COALESCE($4, url), \
               event_types = COALESCE($5, event_types), enabled = COALESCE($6, enabled), \
               disabled_reason = CASE WHEN CAST($6 AS BIGINT) = 1 THEN NULL ELSE disabled_reason END, \
               retry_attempts = COALESCE($7, retry_attempts), \
               retry_delay_ms = COALESCE($8, retry_delay_ms), \
               retry_exponential = COALESCE($9, retry_exponential), \
               retry_max_delay_ms = COALESCE($10, retry_max_delay_ms), \
               updated_at = $12, \
               timeout_ms = CASE WHEN CAST($13 AS BIGINT) = 1 THEN CAST($14 AS BIGINT) ELSE timeout_ms END, \
               headers = CASE WHEN CAST($11 AS BIGINT) = 1 THEN '[]' ELSE headers END, \
               headers_sealed = CASE WHEN CAST($11 AS BIGINT) = 1 THEN $15 ELSE headers_sealed END, \
               headers_key_id = CASE WHEN CAST($11 AS BIGINT) = 1 THEN $16 ELSE headers_key_id END, \
               secret = CASE WHEN CAST($17 AS BIGINT) = 1 THEN NULL ELSE secret END, \
               secret_key_id = CASE WHEN CAST($17 AS BIGINT) = 1 THEN NULL ELSE secret_key_id END, \
               previous_secret = CASE WHEN CAST($17 AS BIGINT) = 1 THEN NULL ELSE previous_secret END, \
               previous_secret_key_id = CASE WHEN CAST($17 AS BIGINT) = 1 THEN NULL \
                 ELSE previous_secret_key_id END, \
               previous_secret_expires_at = CASE WHEN CAST($17 AS BIGINT) = 1 THEN NULL \
                 ELSE previous_secret_expires_at END, \
               destination = CASE WHEN CAST($18 AS BIGINT) = 1 THEN $19 ELSE destination END, \
               credential = CASE WHEN CAST($20 AS BIGINT) = 1 THEN $21 ELSE credential END, \
               credential_key_id = CASE WHEN CAST($20 AS BIGINT) = 1 THEN $22 \
                 ELSE credential_key_id END, \
               content_filter = CASE WHEN CAST($23 AS BIGINT) = 1 THEN $24 ELSE content_filter END, \
               max_per_second = CASE WHEN CAST($25 AS BIGINT) = 1 THEN CAST($26 AS BIGINT) \
                 ELSE max_per_second END, \
               max_in_flight = CASE WHEN CAST($25 AS BIGINT) = 1 THEN CAST($27 AS BIGINT) \
                 ELSE max_in_flight END \
             WHERE id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR organization_id = $2) \
             RETURNING {COLUMNS}"
        );
        let retry = patch.retry;
        let headers = patch
            .headers
            .as_ref()
            .and_then(|h| self.seal_headers(h, id));
        let credential = patch
            .credential
            .as_ref()
            .map(|c| c.as_ref().map(|c| self.seal_credential(c, id)));
        let sealed = credential.clone().flatten();
        let limits = patch.limits.unwrap_or_default();
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(scope.organization().map(str::to_owned))
            .bind(patch.name.as_ref().map(|n| n.as_str().to_owned()))
            .bind(patch.url.as_ref().map(|u| u.as_str().to_owned()))
            .bind(patch.event_types.map(|t| i64::from(t.bits())))
            .bind(patch.enabled.map(flag))
            .bind(retry.map(|r| i64::from(r.attempts())))
            .bind(retry.map(|r| millis(r.delay())))
            .bind(retry.map(|r| flag(r.exponential())))
            .bind(retry.map(|r| millis(r.max_delay())))
            .bind(i64::from(patch.headers.is_some()))
            .bind(self.now().as_millis())
            .bind(i64::from(patch.timeout.is_some()))
            .bind(patch.timeout.flatten().map(millis))
            .bind(headers.as_ref().map(|s| s.bytes.clone()))
            .bind(headers.map(|s| s.key_id))
            .bind(i64::from(patch.signing == Some(false)))
            .bind(i64::from(patch.destination.is_some()))
            .bind(patch.destination.as_ref().and_then(destination_json))
            .bind(i64::from(credential.is_some()))
            .bind(sealed.as_ref().map(|s| s.bytes.clone()))
            .bind(sealed.map(|s| s.key_id))
            .bind(i64::from(patch.filter.is_some()))
            .bind(patch.filter.as_ref().and_then(filter_json))
            .bind(i64::from(patch.limits.is_some()))
            .bind(limit_value(limits.per_second))
            .bind(limit_value(limits.in_flight))
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(|r| self.webhook_from(r)).transpose()
    }

    /// Deletes a webhook for good and cancels its waiting deliveries, in one
    /// transaction. Its calls stay stored for audit. `false` if there was no
    /// such webhook in scope.
    pub async fn delete_webhook(&self, scope: &Scope, id: WebhookId) -> Result<bool, StoreError> {
        if self.get_webhook(scope, id).await?.is_none() {
            return Ok(false);
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        // Deliveries first, then the webhook: the recorder's order, so the
        // two cannot deadlock. A delivery in flight is cancelled too (and
        // its lease dropped): its call is recorded, its state stays.
        sqlx::query(concat!(
            "UPDATE deliveries SET status = ",
            status!(Cancelled),
            ", lease_until = NULL, leased_by = NULL, \
             updated_at = $2 WHERE webhook_id = $1 AND status IN ",
            statuses!(Pending, Skipped)
        ))
        .bind(id.to_string())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query(
            "UPDATE webhooks SET deleted_at = $3, secret = NULL, previous_secret = NULL, \
             headers = '[]', headers_sealed = NULL, updated_at = $3 \
             WHERE id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR organization_id = $2)",
        )
        .bind(id.to_string())
        .bind(scope.organization().map(str::to_owned))
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            // Deleted meanwhile by someone else: nothing of ours to keep.
            return Ok(false);
        }
        tx.commit().await.map_err(StoreError::at_commit)?;
        Ok(true)
    }

    /// Replaces the signing secret. The old one keeps signing until
    /// `grace` from now (not at all for a zero grace).
    pub async fn rotate_secret(
        &self,
        scope: &Scope,
        id: WebhookId,
        secret: &Secret,
        grace: Duration,
    ) -> Result<Option<Webhook>, StoreError> {
        let now = self.now();
        let until = now.plus(grace);
        let sealed = self.seal_secret(secret, id);
        // Every right-hand side reads the row as it was before the update.
        let sql = format!(
            "UPDATE webhooks SET \
               previous_secret = CASE WHEN CAST($6 AS BIGINT) > CAST($5 AS BIGINT) THEN secret ELSE NULL END, \
               previous_secret_key_id = CASE WHEN CAST($6 AS BIGINT) > CAST($5 AS BIGINT) THEN secret_key_id ELSE NULL END, \
               previous_secret_expires_at = CASE WHEN CAST($6 AS BIGINT) > CAST($5 AS BIGINT) AND secret IS NOT NULL \
                 THEN $6 ELSE NULL END, \
               secret = $3, secret_key_id = $4, updated_at = $5 \
             WHERE id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR organization_id = $2) \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(scope.organization().map(str::to_owned))
            .bind(sealed.bytes)
            .bind(sealed.key_id)
            .bind(now.as_millis())
            .bind(until.as_millis())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| self.webhook_from(r)).transpose()
    }

    /// The secrets a delivery is signed with now: the current one, then a
    /// rotated-out one still within its grace period.
    pub async fn signing_secrets(&self, id: WebhookId) -> Result<Vec<Secret>, StoreError> {
        let row = sqlx::query(
            "SELECT secret, secret_key_id, previous_secret, previous_secret_key_id, \
             previous_secret_expires_at FROM webhooks WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => self.live_secrets(&row, id),
            None => Ok(Vec::new()),
        }
    }
}

pub(crate) fn timeout_from(row: &AnyRow) -> Result<Option<Duration>, StoreError> {
    opt_duration(row, "timeout_ms")
}

pub(crate) fn retry_from(row: &AnyRow) -> Result<RetryPolicy, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    RetryPolicy::new(
        u32::try_from(int(row, "retry_attempts")?).map_err(|_| corrupt("retry_attempts"))?,
        duration(row, "retry_delay_ms")?,
        int(row, "retry_exponential")? != 0,
        Some(duration(row, "retry_max_delay_ms")?),
    )
    .map_err(|_| corrupt("retry policy"))
}

impl Store {
    fn webhook_from(&self, row: &AnyRow) -> Result<Webhook, StoreError> {
        let id = parsed("id", &text(row, "id")?, WebhookId::parse)?;
        let headers = match self.open_headers(row, id) {
            Ok(headers) => Ok(headers),
            Err(StoreError::Unopenable(u)) => Err(u),
            Err(other) => return Err(other),
        };
        webhook_of(row, id, headers)
    }
}

fn webhook_of(
    row: &AnyRow,
    id: WebhookId,
    headers: Result<CustomHeaders, Unopenable>,
) -> Result<Webhook, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let bits = u32::try_from(int(row, "event_types")?).map_err(|_| corrupt("event_types"))?;
    Ok(Webhook {
        id,
        organization: parsed(
            "organization_id",
            &text(row, "organization_id")?,
            OrganizationId::parse,
        )?,
        name: parsed("name", &text(row, "name")?, WebhookName::parse)?,
        // Stored URLs passed the policy in force when they were written.
        url: parsed("url", &text(row, "url")?, |u| {
            EndpointUrl::parse(u, UrlPolicy::AllowHttp)
        })?,
        event_types: EventTypes::from_bits(bits).ok_or_else(|| corrupt("event_types"))?,
        enabled: int(row, "enabled")? != 0,
        disabled_reason: opt_text(row, "disabled_reason")?,
        retry: retry_from(row)?,
        headers,
        timeout: timeout_from(row)?,
        signing: SigningState {
            secret_set: int(row, "secret_set")? != 0,
            previous_expires_at: opt_time(row, "previous_secret_expires_at")?,
        },
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        consecutive_failures: count(row, "consecutive_failures")?,
        last_success: opt_time(row, "last_success_at")?,
        last_failure: opt_time(row, "last_failure_at")?,
        destination: destination_from(row)?,
        credential_set: int(row, "credential_set")? != 0,
        filter: filter_from(row)?,
        limits: limits_from(row)?,
    })
}

/// Disables the webhook if it is enabled, saying who did; `true` if it was.
async fn turn_off(
    tx: &mut Transaction<'static, Any>,
    scope: &Scope,
    id: WebhookId,
    by: &str,
    now: UnixMs,
) -> Result<bool, StoreError> {
    let turned = sqlx::query(
        "UPDATE webhooks SET enabled = 0, disabled_reason = $3, updated_at = $4 \
         WHERE id = $1 AND enabled = 1 AND deleted_at IS NULL \
         AND ($2 IS NULL OR organization_id = $2)",
    )
    .bind(id.to_string())
    .bind(scope.organization().map(str::to_owned))
    .bind(format!("disabled by {by}"))
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(turned > 0)
}

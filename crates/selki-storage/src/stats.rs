//! A webhook's health, counted from its calls and deliveries.

use selki_domain::WebhookId;

use crate::rows::{int, opt_int};
use crate::{Scope, Store, StoreError};

/// Counts for the dashboard's Overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookStats {
    pub total_calls: u64,
    pub successful_calls: u64,
    pub consecutive_failures: u64,
    pub last_success_ms: Option<i64>,
    pub last_failure_ms: Option<i64>,
    pub pending_deliveries: u64,
    pub failed_deliveries: u64,
}

impl Store {
    /// Calls since `since_ms` and deliveries now; `None` if there is no
    /// such webhook in scope.
    pub async fn webhook_stats(
        &self,
        scope: &Scope,
        id: WebhookId,
        since_ms: i64,
    ) -> Result<Option<WebhookStats>, StoreError> {
        if self.get_webhook(scope, id).await?.is_none() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM calls WHERE webhook_id = $1 AND started_at >= $2) AS total, \
               (SELECT COUNT(*) FROM calls WHERE webhook_id = $1 AND started_at >= $2 \
                  AND outcome = 'success') AS ok, \
               (SELECT MAX(started_at) FROM calls WHERE webhook_id = $1 \
                  AND outcome = 'success') AS last_ok, \
               (SELECT MAX(started_at) FROM calls WHERE webhook_id = $1 \
                  AND outcome <> 'success') AS last_failed, \
               (SELECT COUNT(*) FROM calls WHERE webhook_id = $1 AND outcome <> 'success' \
                  AND started_at > COALESCE((SELECT MAX(started_at) FROM calls \
                    WHERE webhook_id = $1 AND outcome = 'success'), -1)) AS streak, \
               (SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 \
                  AND status = 'pending') AS pending, \
               (SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 \
                  AND status = 'failed') AS failed",
        )
        .bind(id.to_string())
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        let count = |column| int(&row, column).map(|n| u64::try_from(n).unwrap_or(0));
        Ok(Some(WebhookStats {
            total_calls: count("total")?,
            successful_calls: count("ok")?,
            consecutive_failures: count("streak")?,
            last_success_ms: opt_int(&row, "last_ok")?,
            last_failure_ms: opt_int(&row, "last_failed")?,
            pending_deliveries: count("pending")?,
            failed_deliveries: count("failed")?,
        }))
    }
}

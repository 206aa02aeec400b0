//! The Overview: a webhook's success rate and call statistics over a
//! window, read from the rollups.

use selki_domain::Operation;
use selki_proto::v1 as pb;
use tonic::Request;

use crate::Api;
use crate::convert::{StatsRequest, stats_to_proto};
use crate::error::ApiError;
use crate::webhooks::not_found;

impl Api {
    pub(crate) async fn get_webhook_stats_rpc(
        &self,
        request: Request<pb::GetWebhookStatsRequest>,
    ) -> Result<pb::GetWebhookStatsResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Read).await?;
        let StatsRequest { webhook, window } = StatsRequest::try_from(request.get_ref())?;
        let since = self.now().minus(window);
        let stats = self
            .store()
            .webhook_stats(&principal.scope(), webhook, since)
            .await?
            .ok_or_else(|| not_found(webhook))?;
        Ok(pb::GetWebhookStatsResponse {
            stats: Some(stats_to_proto(&stats)),
        })
    }
}

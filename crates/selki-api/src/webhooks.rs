//! `WebhookService`: the management RPCs here; Recent Calls (`calls`),
//! the Overview (`overview`) and manual calls and recovery (`manual`)
//! beside it.

use selki_domain::WebhookId;
use selki_proto::v1 as pb;
use selki_proto::v1::webhook_service_server::WebhookService;
use selki_storage::{NewWebhook, WebhookFilter, WebhookPatch};
use selki_webhooks::Secret;
use tonic::{Request, Response, Status};

use crate::convert::{
    CreateWebhook, ListWebhooks, NewSecret, RotateSecret, Signing, UpdateWebhook, WebhookRef,
    timestamp_to_proto, webhook_to_proto,
};
use crate::error::{ApiError, Violations, invalid};
use crate::{Api, reply};

type Reply<T> = Result<Response<T>, Status>;

/// 32 random bytes: the secret Selki generates.
fn generate_secret() -> Secret {
    Secret::from_random(crate::auth::random_32())
}

pub(crate) fn not_found(id: WebhookId) -> ApiError {
    ApiError::NotFound(format!("webhook {id} not found"))
}

impl Api {
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<pb::CreateWebhookResponse, ApiError> {
        let principal = self.authenticate(&request).await?;
        let r = CreateWebhook::try_from(request.get_ref())?;
        let organization = principal.acting_for(r.organization.as_ref(), "organization_id")?;
        self.inner
            .settings
            .url_policy
            .check(&r.url)
            .map_err(|e| invalid("url", e.to_string()))?;
        let (secret, generated) = match r.signing {
            Signing::Unsigned => (None, false),
            Signing::Given(secret) => (Some(secret), false),
            Signing::Generated => (Some(generate_secret()), true),
        };
        let new = NewWebhook {
            organization,
            name: r.name,
            url: r.url,
            event_types: r.event_types,
            enabled: r.enabled,
            retry: r.retry,
            headers: r.headers,
            secret: secret.clone(),
            timeout: r.timeout,
        };
        let webhook = self.store().create_webhook(&new).await?;
        tracing::info!(webhook = %webhook.id, organization = %webhook.organization, "webhook created");
        Ok(pb::CreateWebhookResponse {
            webhook: Some(webhook_to_proto(&webhook)),
            signing_secret: secret
                .filter(|_| generated)
                .map(|s| s.expose())
                .unwrap_or_default(),
        })
    }

    async fn get_webhook(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Result<pb::GetWebhookResponse, ApiError> {
        let principal = self.authenticate(&request).await?;
        let WebhookRef { id } = WebhookRef::try_from(request.get_ref())?;
        let webhook = self.existing_webhook(&principal.scope(), id).await?;
        Ok(pb::GetWebhookResponse {
            webhook: Some(webhook_to_proto(&webhook)),
        })
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Result<pb::ListWebhooksResponse, ApiError> {
        let principal = self.authenticate(&request).await?;
        let r = ListWebhooks::try_from(request.get_ref())?;
        let organization = principal.acting_for(r.organization.as_ref(), "organization_id")?;
        let filter = WebhookFilter { enabled: r.enabled };
        let rows = self
            .store()
            .list_webhooks(&organization, filter, r.page.fetch())
            .await?;
        let (webhooks, next_page_token) = r.page.page(rows, |w| w.id);
        Ok(pb::ListWebhooksResponse {
            webhooks: webhooks.iter().map(webhook_to_proto).collect(),
            next_page_token,
        })
    }

    async fn update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Result<pb::UpdateWebhookResponse, ApiError> {
        let principal = self.authenticate(&request).await?;
        let r = UpdateWebhook::try_from(request.get_ref())?;
        let scope = principal.scope();
        if let Some(url) = &r.url {
            self.inner
                .settings
                .url_policy
                .check(url)
                .map_err(|e| invalid("webhook.url", e.to_string()))?;
        }
        let headers = match r.headers {
            None => None,
            Some(input) => {
                // A masked value keeps the stored one: read what is stored.
                let stored = match input.keeps_stored() {
                    true => self.existing_webhook(&scope, r.id).await?.headers.ok(),
                    false => None,
                };
                let mut v = Violations::default();
                let resolved =
                    crate::convert::resolved("webhook.headers", input, stored.as_ref(), &mut v);
                Some(v.build(|| resolved)?)
            }
        };
        let patch = WebhookPatch {
            name: r.name,
            url: r.url,
            event_types: r.event_types,
            enabled: r.enabled,
            retry: r.retry,
            headers,
            timeout: r.timeout,
        };
        let updated = self
            .store()
            .update_webhook(&scope, r.id, &patch)
            .await?
            .ok_or_else(|| not_found(r.id))?;
        tracing::info!(webhook = %r.id, fields = ?r.paths, "webhook updated");
        Ok(pb::UpdateWebhookResponse {
            webhook: Some(webhook_to_proto(&updated)),
        })
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Result<pb::DeleteWebhookResponse, ApiError> {
        let principal = self.authenticate(&request).await?;
        let WebhookRef { id } = WebhookRef::try_from(request.get_ref())?;
        if !self.store().delete_webhook(&principal.scope(), id).await? {
            return Err(not_found(id));
        }
        tracing::info!(webhook = %id, "webhook deleted");
        Ok(pb::DeleteWebhookResponse {})
    }

    async fn rotate_signing_secret(
        &self,
        request: Request<pb::RotateSigningSecretRequest>,
    ) -> Result<pb::RotateSigningSecretResponse, ApiError> {
        let principal = self.authenticate(&request).await?;
        let RotateSecret { id, secret, grace } = RotateSecret::try_from(request.get_ref())?;
        let secret = match secret {
            NewSecret::Given(secret) => secret,
            NewSecret::Generated => generate_secret(),
        };
        let rotated = self
            .store()
            .rotate_secret(&principal.scope(), id, &secret, grace)
            .await?
            .ok_or_else(|| not_found(id))?;
        tracing::info!(webhook = %id, grace_secs = grace.as_secs(), "signing secret rotated");
        Ok(pb::RotateSigningSecretResponse {
            signing_secret: secret.expose(),
            previous_secret_expire_time: rotated
                .signing
                .previous_expires_at
                .map(timestamp_to_proto),
        })
    }
}

#[tonic::async_trait]
impl WebhookService for Api {
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Reply<pb::CreateWebhookResponse> {
        reply(Api::create_webhook(self, request).await)
    }

    async fn get_webhook(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Reply<pb::GetWebhookResponse> {
        reply(Api::get_webhook(self, request).await)
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Reply<pb::ListWebhooksResponse> {
        reply(Api::list_webhooks(self, request).await)
    }

    async fn update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Reply<pb::UpdateWebhookResponse> {
        reply(Api::update_webhook(self, request).await)
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Reply<pb::DeleteWebhookResponse> {
        reply(Api::delete_webhook(self, request).await)
    }

    async fn rotate_signing_secret(
        &self,
        request: Request<pb::RotateSigningSecretRequest>,
    ) -> Reply<pb::RotateSigningSecretResponse> {
        reply(Api::rotate_signing_secret(self, request).await)
    }

    async fn send_test_event(
        &self,
        request: Request<pb::SendTestEventRequest>,
    ) -> Reply<pb::SendTestEventResponse> {
        reply(self.send_test_event_rpc(request).await)
    }

    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Reply<pb::ListCallsResponse> {
        reply(self.list_calls_rpc(request).await)
    }

    async fn get_call(&self, request: Request<pb::GetCallRequest>) -> Reply<pb::GetCallResponse> {
        reply(self.get_call_rpc(request).await)
    }

    async fn redeliver_call(
        &self,
        request: Request<pb::RedeliverCallRequest>,
    ) -> Reply<pb::RedeliverCallResponse> {
        reply(self.redeliver_call_rpc(request).await)
    }

    async fn get_webhook_stats(
        &self,
        request: Request<pb::GetWebhookStatsRequest>,
    ) -> Reply<pb::GetWebhookStatsResponse> {
        reply(self.get_webhook_stats_rpc(request).await)
    }

    type WatchCallsStream = crate::calls::CallStream;

    async fn watch_calls(
        &self,
        request: Request<pb::WatchCallsRequest>,
    ) -> Reply<Self::WatchCallsStream> {
        reply(self.watch_calls_rpc(request).await)
    }

    async fn recover_failed(
        &self,
        request: Request<pb::RecoverFailedRequest>,
    ) -> Reply<pb::RecoverFailedResponse> {
        reply(self.recover_failed_rpc(request).await)
    }
}

//! `WebhookService`: the management RPCs.

use std::time::Duration;

use selki_domain::{EndpointUrl, MASK, WebhookId, WebhookName};
use selki_proto::v1 as pb;
use selki_proto::v1::create_webhook_request::Signing;
use selki_proto::v1::webhook_service_server::WebhookService;
use selki_storage::{NewWebhook, Page, WebhookFilter, WebhookPatch};
use selki_webhooks::Secret;
use tonic::{Request, Response, Status};

use crate::Api;
use crate::convert::{
    call_timeout, event_types, headers, page_size, page_token, parse_page_token, retry_policy,
    timestamp_to_proto, webhook_to_proto,
};
use crate::error::{ApiError, Violations};

/// Paths an update mask may name (there are seven fields to change).
const MAX_UPDATE_PATHS: usize = 16;
const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);
const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// 32 random bytes: the secret Selki generates.
fn generate_secret() -> Secret {
    Secret::from_bytes(&crate::auth::random_32()).expect("32 bytes is a valid secret length")
}

fn webhook_id(field: &str, text: &str, v: &mut Violations) -> Option<WebhookId> {
    v.check(field, WebhookId::parse(text))
}

fn not_found(id: WebhookId) -> ApiError {
    ApiError::NotFound(format!("webhook {id} not found"))
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl WebhookService for Api {
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Reply<pb::CreateWebhookResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let organization = principal.organization(&r.organization_id, "organization_id", &mut v)?;
        let name = v.check("name", WebhookName::parse(&r.name));
        let url = v.check(
            "url",
            EndpointUrl::parse(&r.url, self.inner.settings.url_policy),
        );
        let types = event_types("event_types", &r.event_types, &mut v);
        let retry = retry_policy("retry_policy", r.retry_policy.as_ref(), &mut v);
        let custom = headers("headers", &r.headers, None, &mut v);
        let timeout = call_timeout("timeout", r.timeout.as_ref(), &mut v);
        let (secret, generated) = match r.signing {
            Some(Signing::SigningSecret(text)) => {
                (v.check("signing_secret", Secret::parse(&text)), false)
            }
            Some(Signing::GenerateSigningSecret(true)) => (Some(generate_secret()), true),
            Some(Signing::GenerateSigningSecret(false)) | None => (None, false),
        };
        v.finish()?;
        let (
            Some(organization),
            Some(name),
            Some(url),
            Some(event_types),
            Some(retry),
            Some(headers),
            Some(timeout),
        ) = (organization, name, url, types, retry, custom, timeout)
        else {
            unreachable!("every field parsed when there are no violations")
        };
        let new = NewWebhook {
            organization,
            name,
            url,
            event_types,
            enabled: !r.disabled,
            retry,
            headers,
            secret: secret.clone(),
            timeout,
        };
        let webhook = self
            .store()
            .create_webhook(&new)
            .await
            .map_err(ApiError::from)?;
        tracing::info!(webhook = %webhook.id, organization = %webhook.organization, "webhook created");
        Ok(Response::new(pb::CreateWebhookResponse {
            webhook: Some(webhook_to_proto(&webhook)),
            signing_secret: secret
                .filter(|_| generated)
                .map(|s| s.expose())
                .unwrap_or_default(),
        }))
    }

    async fn get_webhook(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Reply<pb::GetWebhookResponse> {
        let principal = self.authenticate(&request).await?;
        let mut v = Violations::default();
        let id = webhook_id("id", &request.get_ref().id, &mut v);
        v.finish()?;
        let id = id.expect("parsed");
        let webhook = self
            .store()
            .get_webhook(&principal.scope(), id)
            .await
            .map_err(ApiError::from)?;
        let webhook = webhook.ok_or_else(|| not_found(id))?;
        Ok(Response::new(pb::GetWebhookResponse {
            webhook: Some(webhook_to_proto(&webhook)),
        }))
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Reply<pb::ListWebhooksResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let organization = principal.organization(&r.organization_id, "organization_id", &mut v)?;
        let limit = v.check("page_size", page_size(r.page_size));
        let after = v.check(
            "page_token",
            parse_page_token(&r.page_token, WebhookId::parse),
        );
        v.finish()?;
        let (Some(organization), Some(limit), Some(after)) = (organization, limit, after) else {
            unreachable!("every field parsed when there are no violations")
        };
        // One more than asked: whether it exists says if there is a next page.
        let page = Page {
            after,
            limit: limit + 1,
        };
        let filter = WebhookFilter { enabled: r.enabled };
        let mut webhooks = self
            .store()
            .list_webhooks(&organization, filter, page)
            .await
            .map_err(ApiError::from)?;
        let more = webhooks.len() > limit as usize;
        webhooks.truncate(limit as usize);
        let next_page_token = match (more, webhooks.last()) {
            (true, Some(last)) => page_token(last.id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListWebhooksResponse {
            webhooks: webhooks.iter().map(webhook_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Reply<pb::UpdateWebhookResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let webhook = r.webhook.unwrap_or_default();
        let id = webhook_id("webhook.id", &webhook.id, &mut v);
        // A masked header value keeps the stored one: read what is stored.
        let stored = match id {
            Some(id) if webhook.headers.iter().any(|h| h.value == MASK) => self
                .store()
                .get_webhook(&principal.scope(), id)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| not_found(id))?
                .headers
                .ok(),
            _ => None,
        };
        let mut paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            v.add("update_mask", "must name at least one field to change");
        }
        if paths.len() > MAX_UPDATE_PATHS {
            v.add(
                "update_mask.paths",
                format!("names {} paths; at most {MAX_UPDATE_PATHS}", paths.len()),
            );
            paths.clear();
        }
        let mut patch = WebhookPatch::default();
        for (i, path) in paths.iter().enumerate() {
            match path.as_str() {
                "name" => patch.name = v.check("webhook.name", WebhookName::parse(&webhook.name)),
                "url" => patch.url = v.check("webhook.url", EndpointUrl::parse(&webhook.url, self.inner.settings.url_policy)),
                "event_types" => patch.event_types = event_types("webhook.event_types", &webhook.event_types, &mut v),
                "enabled" => patch.enabled = Some(webhook.enabled),
                "retry_policy" => patch.retry = retry_policy("webhook.retry_policy", webhook.retry_policy.as_ref(), &mut v),
                "headers" => patch.headers = headers("webhook.headers", &webhook.headers, stored.as_ref(), &mut v),
                "timeout" => patch.timeout = call_timeout("webhook.timeout", webhook.timeout.as_ref(), &mut v),
                other => v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("`{other}` cannot be updated; use name, url, event_types, enabled, retry_policy, headers or timeout (RotateSigningSecret for the secret)"),
                ),
            }
        }
        v.finish()?;
        let id = id.expect("parsed");
        let updated = self
            .store()
            .update_webhook(&principal.scope(), id, &patch)
            .await
            .map_err(ApiError::from)?;
        let updated = updated.ok_or_else(|| not_found(id))?;
        tracing::info!(webhook = %id, fields = ?paths, "webhook updated");
        Ok(Response::new(pb::UpdateWebhookResponse {
            webhook: Some(webhook_to_proto(&updated)),
        }))
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Reply<pb::DeleteWebhookResponse> {
        let principal = self.authenticate(&request).await?;
        let mut v = Violations::default();
        let id = webhook_id("id", &request.get_ref().id, &mut v);
        v.finish()?;
        let id = id.expect("parsed");
        if !self
            .store()
            .delete_webhook(&principal.scope(), id)
            .await
            .map_err(ApiError::from)?
        {
            return Err(not_found(id).into());
        }
        tracing::info!(webhook = %id, "webhook deleted");
        Ok(Response::new(pb::DeleteWebhookResponse {}))
    }

    async fn rotate_signing_secret(
        &self,
        request: Request<pb::RotateSigningSecretRequest>,
    ) -> Reply<pb::RotateSigningSecretResponse> {
        let principal = self.authenticate(&request).await?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = webhook_id("id", &r.id, &mut v);
        let secret = match r.signing_secret.as_str() {
            "" => Some(generate_secret()),
            text => v.check("signing_secret", Secret::parse(text)),
        };
        let grace = match &r.grace_period {
            None => Some(DEFAULT_GRACE),
            Some(d) => v.check(
                "grace_period",
                crate::convert::duration(d).and_then(|g| {
                    if g <= MAX_GRACE {
                        Ok(g)
                    } else {
                        Err("must be at most 7 days".into())
                    }
                }),
            ),
        };
        v.finish()?;
        let (Some(id), Some(secret), Some(grace)) = (id, secret, grace) else {
            unreachable!("every field parsed when there are no violations")
        };
        let rotated = self
            .store()
            .rotate_secret(&principal.scope(), id, &secret, grace)
            .await
            .map_err(ApiError::from)?;
        let rotated = rotated.ok_or_else(|| not_found(id))?;
        tracing::info!(webhook = %id, grace_secs = grace.as_secs(), "signing secret rotated");
        Ok(Response::new(pb::RotateSigningSecretResponse {
            signing_secret: secret.expose(),
            previous_secret_expire_time: rotated
                .signing
                .previous_expires_at_ms
                .map(timestamp_to_proto),
        }))
    }

    async fn send_test_event(
        &self,
        request: Request<pb::SendTestEventRequest>,
    ) -> Reply<pb::SendTestEventResponse> {
        self.send_test_event_rpc(request).await
    }

    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Reply<pb::ListCallsResponse> {
        self.list_calls_rpc(request).await
    }

    async fn get_call(&self, request: Request<pb::GetCallRequest>) -> Reply<pb::GetCallResponse> {
        self.get_call_rpc(request).await
    }

    async fn redeliver_call(
        &self,
        request: Request<pb::RedeliverCallRequest>,
    ) -> Reply<pb::RedeliverCallResponse> {
        self.redeliver_call_rpc(request).await
    }

    async fn get_webhook_stats(
        &self,
        request: Request<pb::GetWebhookStatsRequest>,
    ) -> Reply<pb::GetWebhookStatsResponse> {
        self.get_webhook_stats_rpc(request).await
    }

    type WatchCallsStream = crate::calls::CallStream;

    async fn watch_calls(
        &self,
        request: Request<pb::WatchCallsRequest>,
    ) -> Reply<Self::WatchCallsStream> {
        self.watch_calls_rpc(request).await
    }

    async fn recover_failed(
        &self,
        request: Request<pb::RecoverFailedRequest>,
    ) -> Reply<pb::RecoverFailedResponse> {
        self.recover_failed_rpc(request).await
    }
}

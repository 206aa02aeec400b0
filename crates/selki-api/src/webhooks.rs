//! `WebhookService`: the management RPCs here; Recent Calls (`calls`),
//! the Overview (`overview`) and manual calls and recovery (`manual`)
//! beside it.

use std::time::Duration;

use selki_domain::{
    Credential, CustomHeaders, DeliveryLimits, Destination, HeaderInput, Operation, WebhookId,
};
use selki_proto::v1 as pb;
use selki_proto::v1::webhook_service_server::WebhookService;
use selki_storage::{Created, NewWebhook, Webhook, WebhookFilter, WebhookPatch};
use selki_webhooks::Secret;
use tonic::{Request, Response, Status};

use crate::convert::{
    CreateWebhook, ListWebhooks, NewSecret, RotateSecret, Signing, UpdateWebhook, WebhookRef,
    health_to_proto, resolved, timestamp_to_proto, webhook_to_proto,
};
use crate::error::{ApiError, Violations, invalid};
use crate::{Api, reply};

type Reply<T> = Result<Response<T>, Status>;

/// How long a retried creation gets its generated secret again.
const SECRET_SHOWN_AGAIN_FOR: Duration = Duration::from_secs(24 * 3600);

/// 32 random bytes: the secret Selki generates.
fn generate_secret() -> Secret {
    Secret::from_random(crate::auth::random_32())
}

/// The stored headers with some set (added, or replaced by name; a masked
/// value keeps the stored one) and some removed.
fn edited_headers(
    stored: Option<&CustomHeaders>,
    set: Option<HeaderInput>,
    remove: &[String],
    v: &mut Violations,
) -> Option<CustomHeaders> {
    let stored_triples = stored
        .into_iter()
        .flat_map(CustomHeaders::headers)
        .map(|h| (h.name().to_owned(), h.value().to_owned(), h.is_sensitive()));
    let set: Vec<(String, String, bool)> = set
        .map(|s| {
            s.resolve(stored)
                .map(|h| {
                    h.headers()
                        .map(|h| (h.name().to_owned(), h.value().to_owned(), h.is_sensitive()))
                        .collect()
                })
                .map_err(|(i, part, e)| v.add(format!("set_headers[{i}].{part}"), e.to_string()))
        })
        .transpose()
        .ok()?
        .unwrap_or_default();
    let mut all: Vec<_> = stored_triples
        .filter(|(name, _, _)| !remove.contains(name) && !set.iter().any(|(n, _, _)| n == name))
        .collect();
    all.extend(set);
    CustomHeaders::new(all, None)
        .map_err(|(_, _, e)| v.add("set_headers", e.to_string()))
        .ok()
}

/// What an update does to the stored credential: `Ok(None)` keeps it (the
/// format stays and none was given), `Ok(Some(c))` sets it (`None` for a
/// format that takes none); `Err` when the new format needs one and none
/// can be kept.
fn credential_change(
    given: Option<Credential>,
    destination: &Destination,
    stored: &Webhook,
) -> Result<Option<Option<Credential>>, ()> {
    let format = destination.format();
    match (given, format.credential()) {
        (Some(credential), _) => Ok(Some(Some(credential))),
        (None, None) => Ok(Some(None)),
        (None, Some(_)) if stored.destination.format() == format && stored.credential_set => {
            Ok(None)
        }
        (None, Some(_)) => Err(()),
    }
}

fn alerting_limits(per_second: u32, in_flight: u32, v: &mut Violations) -> Option<DeliveryLimits> {
    DeliveryLimits::new(per_second, in_flight)
        .map_err(|(field, e)| v.add(format!("webhook.{field}"), e.to_string()))
        .ok()
}

pub(crate) fn not_found(id: WebhookId) -> ApiError {
    ApiError::NotFound(format!("webhook {id} not found"))
}

impl Api {
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<pb::CreateWebhookResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Write).await?;
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
            request: r.request,
            destination: r.destination.destination,
            credential: r.destination.credential,
            filter: r.filter,
            limits: r.limits,
        };
        let created = self.store().create_webhook(&new).await?;
        let webhook = &created.webhook;
        if created.duplicate {
            return self.created_before(&created, generated).await;
        }
        tracing::info!(webhook = %webhook.id, organization = %webhook.organization, "webhook created");
        Ok(pb::CreateWebhookResponse {
            webhook: Some(webhook_to_proto(webhook)),
            signing_secret: secret
                .filter(|_| generated)
                .map(|s| s.expose())
                .unwrap_or_default(),
            duplicate: false,
        })
    }

    /// A creation asked again with its request id: the webhook it made,
    /// with its generated secret while it is unchanged and a day old at
    /// most (the first answer may have been lost); a different request
    /// with the same id is refused.
    async fn created_before(
        &self,
        created: &Created,
        generated: bool,
    ) -> Result<pb::CreateWebhookResponse, ApiError> {
        let webhook = &created.webhook;
        if !created.same_request {
            return Err(ApiError::AlreadyExists(format!(
                "request_id was used to create webhook {} with other settings",
                webhook.id
            )));
        }
        let fresh = webhook.updated_at == webhook.created_at
            && self.now().since(webhook.created_at) <= SECRET_SHOWN_AGAIN_FOR;
        let signing_secret = match generated && fresh {
            true => self
                .store()
                .signing_secrets(webhook.id)
                .await?
                .first()
                .map(Secret::expose)
                .unwrap_or_default(),
            false => String::new(),
        };
        Ok(pb::CreateWebhookResponse {
            webhook: Some(webhook_to_proto(webhook)),
            signing_secret,
            duplicate: true,
        })
    }

    async fn get_webhook(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Result<pb::GetWebhookResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Read).await?;
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
        let principal = self.authenticate(&request, Operation::Read).await?;
        let r = ListWebhooks::try_from(request.get_ref())?;
        let organization = principal.acting_for(r.organization.as_ref(), "organization_id")?;
        let filter = WebhookFilter { enabled: r.enabled };
        let rows = self
            .store()
            .list_webhooks(&organization, filter, r.page.fetch())
            .await?;
        let (webhooks, next_page_token) = r.page.page(rows, |w| w.id);
        let mut days = match r.include_health {
            true => {
                let ids: Vec<WebhookId> = webhooks.iter().map(|w| w.id).collect();
                let since = self.now().minus(Duration::from_secs(24 * 3600));
                Some(self.store().calls_since(&ids, since).await?)
            }
            false => None,
        };
        let shown = webhooks.iter().map(|w| pb::Webhook {
            health: days
                .as_mut()
                .map(|days| health_to_proto(w, days.remove(&w.id).unwrap_or_default())),
            ..webhook_to_proto(w)
        });
        Ok(pb::ListWebhooksResponse {
            webhooks: shown.collect(),
            next_page_token,
        })
    }

    async fn update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Result<pb::UpdateWebhookResponse, ApiError> {
        let (principal, _, by) = self.authenticate_named(&request, Operation::Write).await?;
        let r = UpdateWebhook::try_from(request.get_ref())?;
        let scope = principal.scope();
        if let Some(url) = &r.url {
            self.inner
                .settings
                .url_policy
                .check(url)
                .map_err(|e| invalid("webhook.url", e.to_string()))?;
        }
        // What the request keeps of the stored webhook (masked header
        // values, unchanged parts of the retry policy, headers not edited).
        let needs_stored = r.retry.is_some()
            || r.destination.is_some()
            || r.per_second.is_some()
            || r.in_flight.is_some()
            || r.set_headers.is_some()
            || !r.remove_headers.is_empty()
            || r.headers.as_ref().is_some_and(HeaderInput::keeps_stored);
        let stored = match needs_stored {
            true => Some(self.existing_webhook(&scope, r.id).await?),
            false => None,
        };
        let stored_headers = stored.as_ref().and_then(|w| w.headers.as_ref().ok());
        let mut v = Violations::default();
        let headers = match (r.headers, r.set_headers, r.remove_headers.is_empty()) {
            (Some(all), _, _) => resolved("webhook.headers", all, stored_headers, &mut v),
            (None, set, false) | (None, set @ Some(_), true) => {
                edited_headers(stored_headers, set, &r.remove_headers, &mut v)
            }
            (None, None, true) => None,
        };
        let retry = match (r.retry, &stored) {
            (Some(change), Some(stored)) => change
                .apply(stored.retry)
                .map_err(|(part, e)| v.add(format!("webhook.retry_policy.{part}"), e.to_string()))
                .ok(),
            _ => None,
        };
        let (destination, credential) = match (r.destination, &stored) {
            (Some(input), Some(stored)) => {
                let change = credential_change(input.credential, &input.destination, stored);
                if change.is_err() {
                    v.add(
                        "webhook.destination.credential",
                        format!(
                            "is required: the webhook's format becomes {}, which needs the \
                             destination's {}",
                            input.destination.format().as_str(),
                            input
                                .destination
                                .format()
                                .credential()
                                .unwrap_or("credential")
                        ),
                    );
                }
                (Some(input.destination), change.unwrap_or_default())
            }
            _ => (None, None),
        };
        let limits = match (&stored, r.per_second.is_some() || r.in_flight.is_some()) {
            (Some(stored), true) => {
                let keep = |n: Option<std::num::NonZeroU32>| n.map_or(0, |n| n.get());
                alerting_limits(
                    r.per_second.unwrap_or(keep(stored.limits.per_second)),
                    r.in_flight.unwrap_or(keep(stored.limits.in_flight)),
                    &mut v,
                )
            }
            _ => None,
        };
        v.build(|| Some(()))?;
        let patch = WebhookPatch {
            name: r.name,
            url: r.url,
            event_types: r.event_types,
            enabled: r.enabled,
            retry,
            headers,
            timeout: r.timeout,
            signing: r.signing,
            destination,
            credential,
            filter: r.filter,
            limits,
            by: Some(by),
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
        let principal = self.authenticate(&request, Operation::Write).await?;
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
        let principal = self.authenticate(&request, Operation::Write).await?;
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

    async fn get_event(
        &self,
        request: Request<pb::GetEventRequest>,
    ) -> Reply<pb::GetEventResponse> {
        reply(self.get_event_rpc(request).await)
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Reply<pb::ListEventsResponse> {
        reply(self.list_events_rpc(request).await)
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Reply<pb::ListDeliveriesResponse> {
        reply(self.list_deliveries_rpc(request).await)
    }

    async fn replay_events(
        &self,
        request: Request<pb::ReplayEventsRequest>,
    ) -> Reply<pb::ReplayEventsResponse> {
        reply(self.replay_events_rpc(request).await)
    }
}

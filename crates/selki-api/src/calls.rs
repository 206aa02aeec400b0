//! Recent Calls: listing one webhook's calls, reading one, and watching
//! them as they are recorded.

use std::pin::Pin;

use selki_domain::{CallRecord, Operation, WebhookId};
use selki_proto::v1 as pb;
use selki_storage::{Scope, Webhook};
use tokio_stream::Stream;
use tonic::{Request, Status};

use crate::Api;
use crate::convert::{
    CallRef, ListCalls, WatchCalls, WatchTarget, call_summary_to_proto, call_to_proto,
};
use crate::error::ApiError;
use crate::watch::{Hub, Wanted};
use crate::webhooks::not_found;

pub(crate) type CallStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchCallsResponse, Status>> + Send>>;

impl Api {
    pub(crate) async fn list_calls_rpc(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Result<pb::ListCallsResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Read).await?;
        let r = ListCalls::try_from(request.get_ref())?;
        let scope = principal.scope();
        self.existing_webhook(&scope, r.webhook).await?;
        let found = self
            .store()
            .list_calls(&scope, r.webhook, r.filter, r.page.fetch())
            .await?;
        let (calls, next_page_token) = r.page.page(found.calls, |c: &CallRecord| c.id);
        // A page the scan's bound cut short goes on below where it stopped.
        let (next_page_token, partial) = match found.scanned_to {
            Some(stopped) => (crate::convert::page_token(stopped), true),
            None => (next_page_token, false),
        };
        Ok(pb::ListCallsResponse {
            calls: calls.iter().map(call_summary_to_proto).collect(),
            next_page_token,
            partial,
        })
    }

    pub(crate) async fn get_call_rpc(
        &self,
        request: Request<pb::GetCallRequest>,
    ) -> Result<pb::GetCallResponse, ApiError> {
        let principal = self.authenticate(&request, Operation::Read).await?;
        let CallRef { id } = CallRef::try_from(request.get_ref())?;
        let call = self
            .store()
            .get_call(&principal.scope(), id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("call {id} not found")))?;
        Ok(pb::GetCallResponse {
            call: Some(call_to_proto(&call)),
        })
    }

    pub(crate) async fn watch_calls_rpc(
        &self,
        request: Request<pb::WatchCallsRequest>,
    ) -> Result<CallStream, ApiError> {
        let (principal, key) = self.authenticate_key(&request, Operation::Read).await?;
        let WatchCalls { target } = WatchCalls::try_from(request.get_ref())?;
        let scope = principal.scope();
        let wanted = match target {
            WatchTarget::Organization(requested) => Wanted::Organization(
                principal
                    .acting_for(requested.as_ref(), "organization_id")?
                    .as_str()
                    .to_owned(),
            ),
            WatchTarget::Webhook(id) => {
                self.existing_webhook(&scope, id).await?;
                Wanted::Webhook(id)
            }
        };
        // Registered before answering: no call recorded after the answer
        // is missed.
        let hub = || Hub {
            store: self.store().clone(),
            metrics: self.inner.dispatcher.metrics().clone(),
            recorded: self.store().recorded_calls(),
            keys: self.store().keys_changed(),
            shutdown: self.inner.shutdown.clone(),
        };
        let rx = self.inner.watchers.open(hub, key, scope, wanted)?;
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    /// The webhook, if it exists in scope; NOT_FOUND otherwise.
    pub(crate) async fn existing_webhook(
        &self,
        scope: &Scope,
        id: WebhookId,
    ) -> Result<Webhook, ApiError> {
        self.store()
            .get_webhook(scope, id)
            .await?
            .ok_or_else(|| not_found(id))
    }
}

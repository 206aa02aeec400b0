//! The gRPC API of Selki Webhooks: `WebhookService`, `EventService` and
//! `ApiKeyService` over the store.
//!
//! Every request is authenticated first, then parsed into domain types in
//! one place (`convert`), then handed to the store. Protobuf types do not
//! travel past this crate; domain errors become `tonic::Status` in one
//! place (`error`).

mod auth;
mod calls;
mod convert;
mod error;
mod events;
mod keys;
mod webhooks;

use std::sync::Arc;

use selki_delivery::Dispatcher;
use selki_domain::UrlPolicy;
use selki_proto::v1::api_key_service_server::ApiKeyServiceServer;
use selki_proto::v1::event_service_server::EventServiceServer;
use selki_proto::v1::webhook_service_server::WebhookServiceServer;
use selki_storage::{Clock, Health, Store};
use tokio::sync::watch;

pub use auth::{hash_key, new_key_text};
pub use error::ApiError;

/// Deployment choices the API enforces.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Whether plain-http endpoints may be registered.
    pub url_policy: UrlPolicy,
    /// The bootstrap admin key from configuration, if any.
    pub admin_key: Option<String>,
    /// When manual calls disable a webhook, as for the worker's.
    pub health: Health,
}

/// The three services, sharing one store.
#[derive(Debug, Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    settings: ApiSettings,
    admin_key_hash: Option<[u8; 32]>,
    clock: Arc<dyn Clock>,
    /// Makes manual and test calls.
    dispatcher: Dispatcher,
    /// Turns true when the server stops: streams end then.
    stopping: watch::Receiver<bool>,
}

impl Api {
    pub fn new(
        store: Store,
        settings: ApiSettings,
        clock: Arc<dyn Clock>,
        dispatcher: Dispatcher,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        let admin_key_hash = settings.admin_key.as_deref().map(hash_key);
        Self {
            inner: Arc::new(Inner {
                store,
                settings,
                admin_key_hash,
                clock,
                dispatcher,
                stopping,
            }),
        }
    }

    pub fn webhook_service(&self) -> WebhookServiceServer<Self> {
        WebhookServiceServer::new(self.clone())
    }

    pub fn event_service(&self) -> EventServiceServer<Self> {
        EventServiceServer::new(self.clone())
    }

    pub fn api_key_service(&self) -> ApiKeyServiceServer<Self> {
        ApiKeyServiceServer::new(self.clone())
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }
}

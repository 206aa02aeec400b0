//! The gRPC API of Selki Webhooks: `WebhookService`, `EventService` and
//! `ApiKeyService` over the store.
//!
//! Every request is authenticated first, then parsed into a typed request
//! by one `TryFrom` (`convert`), then handed to the store. Protobuf types
//! do not travel past this crate; domain errors become `tonic::Status` in
//! one place (`error`).
//!
//! One file per concern: management (`webhooks`), Recent Calls (`calls`),
//! the Overview (`overview`), manual calls and recovery (`manual`, bounded
//! by `limits`), ingestion (`events`), keys (`keys`), and the WatchCalls
//! hub (`watch`).

mod auth;
mod calls;
mod convert;
mod error;
mod events;
mod keys;
mod limits;
mod lookups;
mod manual;
mod overview;
mod watch;
mod webhooks;

use std::sync::Arc;

use secrecy::{ExposeSecret as _, SecretString};
use selki_delivery::Dispatcher;
use selki_domain::{Clock, Health, UnixMs, UrlPolicy};
use selki_proto::v1::api_key_service_server::ApiKeyServiceServer;
use selki_proto::v1::event_service_server::EventServiceServer;
use selki_proto::v1::webhook_service_server::WebhookServiceServer;
use selki_storage::Store;
use tokio_util::sync::CancellationToken;

pub use auth::{hash_key, new_key_text};
pub use error::ApiError;

/// Deployment choices the API enforces.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Whether plain-http endpoints may be registered.
    pub url_policy: UrlPolicy,
    /// The bootstrap admin key from configuration, if any (never printed).
    pub admin_key: Option<SecretString>,
    /// When manual calls disable a webhook, as for the worker's.
    pub health: Health,
    /// WatchCalls streams one key may hold open at once.
    pub max_watch_streams_per_key: usize,
    /// Manual and test calls in flight at once, per organization…
    pub manual_calls_per_organization: usize,
    /// …and in all.
    pub manual_calls: usize,
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
    /// Cancelled when the server stops: streams end then.
    shutdown: CancellationToken,
    watchers: Arc<watch::Watchers>,
    manual: Arc<limits::ManualCalls>,
}

impl Api {
    pub fn new(
        store: Store,
        settings: ApiSettings,
        clock: Arc<dyn Clock>,
        dispatcher: Dispatcher,
        shutdown: CancellationToken,
    ) -> Self {
        let admin_key_hash = settings
            .admin_key
            .as_ref()
            .map(|key| hash_key(key.expose_secret()));
        let watchers = Arc::new(watch::Watchers::new(settings.max_watch_streams_per_key));
        let manual = Arc::new(limits::ManualCalls::new(
            settings.manual_calls_per_organization,
            settings.manual_calls,
        ));
        Self {
            inner: Arc::new(Inner {
                store,
                settings,
                admin_key_hash,
                clock,
                dispatcher,
                shutdown,
                watchers,
                manual,
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

    fn now(&self) -> UnixMs {
        self.inner.clock.now()
    }
}

/// An RPC's answer: its response, or its error as a status (the one
/// conversion, in `error`).
fn reply<T>(result: Result<T, ApiError>) -> Result<tonic::Response<T>, tonic::Status> {
    result
        .map(tonic::Response::new)
        .map_err(tonic::Status::from)
}

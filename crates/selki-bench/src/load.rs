//! Load over real gRPC: webhooks created through the API, events submitted
//! one per RPC or in batches, by many concurrent clients.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use selki_proto::v1 as pb;
use selki_proto::v1::event_service_client::EventServiceClient;
use selki_proto::v1::webhook_service_client::WebhookServiceClient;
use tonic::transport::Channel;

use crate::process::ADMIN_KEY;

pub(crate) const ORG: &str = "bench";
/// HTTP/2 connections the load generators spread over, as many services
/// talking to one server would.
const CONNECTIONS: usize = 8;

/// Clients of one server.
#[derive(Debug, Clone)]
pub(crate) struct Load {
    channels: Vec<Channel>,
}

impl Load {
    pub(crate) async fn connect(addr: &str) -> anyhow::Result<Self> {
        let mut channels = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            channels.push(
                Channel::from_shared(format!("http://{addr}"))?
                    .connect()
                    .await
                    .context("connecting to selki-server")?,
            );
        }
        Ok(Self { channels })
    }

    fn channel(&self, client: usize) -> Channel {
        self.channels[client % self.channels.len()].clone()
    }

    /// A webhook of the bench organization for clicked events:
    /// `(id, signing secret)`.
    pub(crate) async fn create_webhook(&self, url: &str) -> anyhow::Result<(String, String)> {
        self.create_webhook_in(ORG, url).await
    }

    /// The same in another organization.
    pub(crate) async fn create_webhook_in(
        &self,
        organization: &str,
        url: &str,
    ) -> anyhow::Result<(String, String)> {
        let created = WebhookServiceClient::new(self.channel(0))
            .create_webhook(authed(pb::CreateWebhookRequest {
                organization_id: organization.into(),
                name: "bench".into(),
                url: url.into(),
                event_types: vec![pb::EventType::PhishingEmailError as i32],
                signing: Some(pb::create_webhook_request::Signing::GenerateSigningSecret(
                    true,
                )),
                ..Default::default()
            }))
            .await
            .context("creating a webhook")?
            .into_inner();
        let id = created.webhook.map(|w| w.id).unwrap_or_default();
        Ok((id, created.signing_secret))
    }

    /// One event per RPC: the event's id and when it was sent.
    pub(crate) async fn submit_one(&self, client: usize) -> anyhow::Result<(String, Instant)> {
        let sent = Instant::now();
        let accepted = EventServiceClient::new(self.channel(client))
            .submit_event(authed(pb::SubmitEventRequest {
                event: Some(event()),
            }))
            .await?
            .into_inner()
            .event
            .context("an accepted event")?;
        Ok((accepted.event_id, sent))
    }

    /// A batch per RPC: the events' ids and when the batch was sent.
    pub(crate) async fn submit_batch(
        &self,
        client: usize,
        size: usize,
    ) -> anyhow::Result<(Vec<String>, Instant)> {
        let sent = Instant::now();
        let events = (0..size).map(|_| event()).collect();
        let accepted = EventServiceClient::new(self.channel(client))
            .submit_events(authed(pb::SubmitEventsRequest { events }))
            .await?
            .into_inner()
            .events;
        Ok((accepted.into_iter().map(|e| e.event_id).collect(), sent))
    }

    /// `total` events in batches of `size` from `clients` concurrent
    /// clients, as fast as the server takes them: every event's send time.
    pub(crate) async fn flood(
        &self,
        total: usize,
        size: usize,
        clients: usize,
    ) -> anyhow::Result<Vec<(String, Instant)>> {
        let batches = total.div_ceil(size);
        let mut tasks = Vec::with_capacity(clients);
        for client in 0..clients {
            let load = self.clone();
            let mine = (client..batches).step_by(clients).count();
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::with_capacity(mine * size);
                for _ in 0..mine {
                    let (ids, at) = load.submit_batch(client, size).await?;
                    sent.extend(ids.into_iter().map(|id| (id, at)));
                }
                anyhow::Ok(sent)
            }));
        }
        let mut sent = Vec::with_capacity(batches * size);
        for task in tasks {
            sent.extend(task.await??);
        }
        Ok(sent)
    }

    /// Single-event RPCs from `clients` concurrent clients for `length`:
    /// each RPC's latency.
    pub(crate) async fn hammer(
        &self,
        clients: usize,
        length: Duration,
    ) -> anyhow::Result<Vec<Duration>> {
        self.for_a_while(clients, length, |load, client| async move {
            let (_, sent) = load.submit_one(client).await?;
            Ok(sent.elapsed())
        })
        .await
    }

    /// Batches of `size` from `clients` concurrent clients for `length`:
    /// events accepted.
    pub(crate) async fn hammer_batches(
        &self,
        clients: usize,
        size: usize,
        length: Duration,
    ) -> anyhow::Result<usize> {
        let batches = self
            .for_a_while(clients, length, move |load, client| async move {
                Ok(load.submit_batch(client, size).await?.0.len())
            })
            .await?;
        Ok(batches.into_iter().sum())
    }

    /// `step` over and over from `clients` concurrent clients until
    /// `length` has passed: every step's result.
    async fn for_a_while<T, F, Fut>(
        &self,
        clients: usize,
        length: Duration,
        step: F,
    ) -> anyhow::Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(Self, usize) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = anyhow::Result<T>> + Send,
    {
        let until = Instant::now() + length;
        let mut tasks = Vec::with_capacity(clients);
        for client in 0..clients {
            let (load, step) = (self.clone(), step.clone());
            tasks.push(tokio::spawn(async move {
                let mut results = Vec::new();
                while Instant::now() < until {
                    results.push(step(load.clone(), client).await?);
                }
                anyhow::Ok(results)
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await??);
        }
        Ok(all)
    }

    /// One event per RPC at a fixed offered rate for `length`, each RPC in
    /// a task of its own so a slow answer does not lower the rate.
    pub(crate) async fn paced(
        &self,
        rate: u32,
        length: Duration,
    ) -> anyhow::Result<Vec<(String, Instant)>> {
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let count = (f64::from(rate) * length.as_secs_f64()).round() as usize;
        let mut tasks = Vec::with_capacity(count);
        for i in 0..count {
            ticker.tick().await;
            let load = self.clone();
            tasks.push(tokio::spawn(async move { load.submit_one(i).await }));
        }
        let mut sent = Vec::with_capacity(count);
        for task in tasks {
            sent.push(task.await??);
        }
        Ok(sent)
    }
}

impl Load {
    /// Every call of `webhook` as WatchCalls streams it: `(event id, when
    /// it arrived here)`, until the stream ends.
    pub(crate) async fn watch(
        &self,
        webhook: &str,
    ) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<(String, Instant)>> {
        let mut stream = WebhookServiceClient::new(self.channel(0))
            .watch_calls(authed(pb::WatchCallsRequest {
                webhook_id: webhook.into(),
                organization_id: String::new(),
            }))
            .await
            .context("opening WatchCalls")?
            .into_inner();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(message)) = stream.message().await {
                if let Some(call) = message.call {
                    let _ = tx.send((call.event_id, Instant::now()));
                }
            }
        });
        Ok(rx)
    }
}

impl Load {
    /// How long the first page of a webhook's Recent Calls takes.
    pub(crate) async fn time_list_calls(&self, webhook: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let calls = WebhookServiceClient::new(self.channel(0))
            .list_calls(authed(pb::ListCallsRequest {
                webhook_id: webhook.into(),
                page_size: 50,
                ..Default::default()
            }))
            .await
            .context("listing calls")?
            .into_inner()
            .calls;
        let took = started.elapsed();
        anyhow::ensure!(calls.len() == 50, "a first page of {} calls", calls.len());
        Ok(took)
    }

    /// How long a webhook's statistics over `window` take: their total calls.
    pub(crate) async fn time_stats(
        &self,
        webhook: &str,
        window: Duration,
    ) -> anyhow::Result<(Duration, u64)> {
        let started = Instant::now();
        let stats = WebhookServiceClient::new(self.channel(0))
            .get_webhook_stats(authed(pb::GetWebhookStatsRequest {
                webhook_id: webhook.into(),
                window: Some(window.try_into()?),
            }))
            .await
            .context("statistics")?
            .into_inner();
        let took = started.elapsed();
        let total = stats.stats.map_or(0, |s| s.total_calls);
        Ok((took, total))
    }
}

fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_KEY}")
            .parse()
            .expect("an ASCII header value"),
    );
    request
}

/// An event whose delivered body is about 1 KB, the size of the machine
/// ceilings the issue quotes.
fn event() -> pb::EventSubmission {
    pb::EventSubmission {
        organization_id: ORG.into(),
        client_event_id: String::new(),
        occur_time: None,
        data: Some(pb::EventData {
            data: Some(pb::event_data::Data::PhishingEmailError(
                pb::PhishingEmailError {
                    campaign_id: "campaign-2026-11-benchmark".into(),
                    email: "jane.doe@example.com".into(),
                    error: "mailbox unavailable: ".repeat(40),
                },
            )),
        }),
    }
}

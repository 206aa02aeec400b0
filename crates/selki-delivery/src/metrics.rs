//! Prometheus metrics of deliveries, in the text exposition format.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use selki_domain::UnixMs;
use selki_storage::QueueStats;

use crate::Answer;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Cheap to clone: clones count into the same metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    calls: Family<OutcomeLabel, Counter>,
    duration: Histogram,
    claim_duration: Histogram,
    taken_fresh: Counter,
    retries: Counter,
    auto_disabled: Counter,
    pending: Gauge,
    oldest_due_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    disabled: Gauge,
    watch_streams: Gauge,
    watch_reads: Counter,
    retention_passes: Counter,
    retention_duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("selki");
        let calls = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "webhook_calls",
            "HTTP calls to webhooks, by outcome",
            calls.clone(),
        );
        let duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
        ]);
        registry.register(
            "webhook_call_duration_seconds",
            "Response time of webhook calls",
            duration.clone(),
        );
        // Claims should stay flat as the deliveries table churns: a rising
        // claim time is the first sign of dead rows piling up.
        let claim_duration = Histogram::new([
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
        ]);
        registry.register(
            "claim_duration_seconds",
            "Time of one claim of due deliveries",
            claim_duration.clone(),
        );
        // Against the calls made, the share that skipped the claim.
        let taken_fresh = Counter::default();
        registry.register(
            "deliveries_taken_fresh",
            "Fresh deliveries ingestion handed straight to this process's worker, unclaimed",
            taken_fresh.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "delivery_retries",
            "Failed attempts scheduled for another try",
            retries.clone(),
        );
        let auto_disabled = Counter::default();
        registry.register(
            "webhooks_auto_disabled",
            "Webhooks disabled by the worker (410 Gone or failing for too long)",
            auto_disabled.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "deliveries_pending",
            "Deliveries waiting for their first or next attempt",
            pending.clone(),
        );
        let oldest_due_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "oldest_due_delivery_age_seconds",
            "How long the oldest due delivery has been waiting",
            oldest_due_age.clone(),
        );
        let disabled = Gauge::default();
        registry.register("webhooks_disabled", "Disabled webhooks", disabled.clone());
        let watch_streams = Gauge::default();
        registry.register(
            "watch_streams",
            "Open WatchCalls streams in this process",
            watch_streams.clone(),
        );
        // One per recorded batch at most, however many streams are open.
        let watch_reads = Counter::default();
        registry.register(
            "watch_reads",
            "Database reads made to feed WatchCalls streams",
            watch_reads.clone(),
        );
        let retention_passes = Counter::default();
        registry.register(
            "retention_passes",
            "Retention passes finished (calls, deliveries and events pruned)",
            retention_passes.clone(),
        );
        // A pass drops days whole and deletes the rest in batches: from
        // milliseconds to minutes for a day of a busy database.
        let retention_duration =
            Histogram::new([0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]);
        registry.register(
            "retention_pass_duration_seconds",
            "How long each retention pass took",
            retention_duration.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                calls,
                duration,
                claim_duration,
                taken_fresh,
                retries,
                auto_disabled,
                pending,
                oldest_due_age,
                disabled,
                watch_streams,
                watch_reads,
                retention_passes,
                retention_duration,
            }),
        }
    }

    pub(crate) fn observe(&self, answer: &Answer) {
        self.inner
            .calls
            .get_or_create(&OutcomeLabel {
                outcome: answer.outcome.as_str(),
            })
            .inc();
        self.inner.duration.observe(answer.duration.as_secs_f64());
    }

    pub(crate) fn claimed(&self, took: std::time::Duration) {
        self.inner.claim_duration.observe(took.as_secs_f64());
    }

    pub(crate) fn taken_fresh(&self, count: usize) {
        self.inner.taken_fresh.inc_by(count as u64);
    }

    pub(crate) fn retried(&self) {
        self.inner.retries.inc();
    }

    /// The open WatchCalls streams of this process.
    pub fn watch_streams(&self, open: usize) {
        self.inner
            .watch_streams
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    pub(crate) fn retention_pass(&self, took: std::time::Duration) {
        self.inner.retention_passes.inc();
        self.inner.retention_duration.observe(took.as_secs_f64());
    }

    /// One database read made to feed WatchCalls streams.
    pub fn watch_read(&self) {
        self.inner.watch_reads.inc();
    }

    pub fn webhooks_disabled(&self, count: usize) {
        self.inner.auto_disabled.inc_by(count as u64);
    }

    /// The text exposition, with the queue's gauges as of `queue`.
    pub fn encode(&self, queue: QueueStats, now: UnixMs) -> String {
        let i = &self.inner;
        i.pending
            .set(i64::try_from(queue.pending).unwrap_or(i64::MAX));
        i.oldest_due_age
            .set(queue.oldest_due.map_or(0.0, |t| now.since(t).as_secs_f64()));
        i.disabled
            .set(i64::try_from(queue.disabled_webhooks).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &i.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

//! Traces across the whole path: a submitter's trace continues through
//! SubmitEvent to every call of the event's deliveries, exported over OTLP
//! to a collector on loopback, and its trace id is shown on the Call.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use selki_proto::v1 as pb;
use selki_testkit::Db;

use crate::delivery::{WITHIN, hook, retry};
use crate::fixtures::clicked;
use crate::harness::{ADMIN_KEY, DELIVERING, Launch, TestServer, authed};
use crate::receiver::Receiver;

selki_testkit::on_both_stores!(selki_testkit::bare => a_delivery_joins_the_submitters_trace);

/// An OTLP/gRPC collector that keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.0.lock().expect("lock").extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    /// Waits for a span named `name` of trace `trace`.
    async fn span(&self, name: &str, trace: &[u8]) -> Span {
        let deadline = Instant::now() + WITHIN;
        loop {
            let found = self
                .0
                .lock()
                .expect("lock")
                .iter()
                .find(|s| s.name == name && s.trace_id == trace)
                .cloned();
            if let Some(span) = found {
                return span;
            }
            assert!(
                Instant::now() < deadline,
                "no `{name}` span of the trace arrived"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

async fn a_delivery_joins_the_submitters_trace(db: &Db) {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let mut args: Vec<&str> = DELIVERING.to_vec();
    args.extend(["--otlp-endpoint", &endpoint]);
    let launch = Launch::args(&args).env("OTEL_BSP_SCHEDULE_DELAY", "100");
    let Some(server) = TestServer::launch(*db, launch).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let h = hook(&server, "acme", &receiver.url("/"), retry(0, 60)).await;
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut request = authed(
        ADMIN_KEY,
        pb::SubmitEventRequest {
            event: Some(clicked("acme", "")),
        },
    );
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-{parent}-01").parse().expect("metadata"),
    );
    server.events().submit_event(request).await.expect("submit");
    receiver.next(WITHIN).await;
    let submit = collector.span("SubmitEvent", &hex(trace)).await;
    assert_eq!(
        submit.parent_span_id,
        hex(parent),
        "the submitter's span is its parent"
    );
    let call = collector.span("webhook call", &hex(trace)).await;
    assert_eq!(
        call.parent_span_id, submit.span_id,
        "the call follows SubmitEvent"
    );
    let listed = server
        .webhooks()
        .list_calls(authed(
            ADMIN_KEY,
            pb::ListCallsRequest {
                webhook_id: h.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("calls")
        .into_inner()
        .calls;
    assert_eq!(listed[0].trace_id, trace, "the Call shows its trace");
    server.finish().await;
}

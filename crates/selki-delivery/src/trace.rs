//! An event's trace across the whole path: a span joins the trace of the
//! submitter's `traceparent` (kept with the event), and the trace a span
//! belongs to can be kept as a `traceparent`. Spans reach a collector only
//! when the server exports them (OTLP); without that, these are no-ops.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use selki_domain::TraceParent;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Makes `span` a child of `parent`'s span (in its trace).
pub fn join(span: &tracing::Span, parent: Option<&TraceParent>) {
    let Some(parent) = parent else { return };
    let text = parent.as_str();
    let (Ok(trace), Ok(span_id), Ok(flags)) = (
        TraceId::from_hex(&text[3..35]),
        SpanId::from_hex(&text[36..52]),
        u8::from_str_radix(&text[53..55], 16),
    ) else {
        return;
    };
    let remote = SpanContext::new(
        trace,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    let context = opentelemetry::Context::new().with_remote_span_context(remote);
    let _ = span.set_parent(context);
}

/// `span`'s own place in its trace, as a `traceparent`, when spans are
/// exported (`None` otherwise).
pub fn traceparent_of(span: &tracing::Span) -> Option<TraceParent> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if !span_context.is_valid() {
        return None;
    }
    TraceParent::parse(&format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8()
    ))
}

//! Rust types and gRPC stubs generated from `proto/selki/webhooks/v1`.
//!
//! Only the API crate and the clients use these types; the domain speaks
//! its own types and converts at the edge.

pub mod codec;

/// `selki.webhooks.v1`: messages, `EventService` and `WebhookService`.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    missing_debug_implementations,
    reason = "generated code"
)]
pub mod v1 {
    tonic::include_proto!("selki.webhooks.v1");

    /// The encoded `FileDescriptorSet` of every Selki proto, for gRPC server
    /// reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("selki_descriptor");
}

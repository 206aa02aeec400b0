//! Compiles proto/selki/webhooks/v1 with protox (pure Rust, no system
//! protoc) and generates prost types plus tonic clients and servers.

use std::path::PathBuf;

use prost::Message as _;

const FILES: [&str; 4] = [
    "selki/webhooks/v1/api_key_service.proto",
    "selki/webhooks/v1/events.proto",
    "selki/webhooks/v1/event_service.proto",
    "selki/webhooks/v1/webhook_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_dir.display());
    let fds = protox::compile(FILES, [&proto_dir])?;
    // Server reflection serves this set; compile_fds does not write it.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("selki_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_transport(false)
        // INVALID_ARGUMENT, not INTERNAL, for a request that does not decode.
        .codec_path("crate::codec::Codec")
        .compile_fds(fds)?;
    Ok(())
}

//! One test binary for the crate, to keep link times down.

mod events;
mod headers;
mod secrets;
mod vectors;

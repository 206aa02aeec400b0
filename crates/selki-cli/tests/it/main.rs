//! The real `selki` binary against a real `selki-server` process.

mod debugging;
mod harness;
mod scenarios;

//! The real `selki` binary against a real `selki-server` process.

mod harness;
mod scenarios;

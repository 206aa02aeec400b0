//! The conformance suite: every scenario runs against SQLite and against
//! PostgreSQL, each on a fresh database.

mod claims;
mod handover;
mod harness;
mod partitions;
mod scenarios;

//! Test support, one harness for every crate: fresh SQLite and PostgreSQL
//! databases removed when dropped (`database`), scenarios run on both
//! stores (`on_both_stores!`), a `selki-server` process waited for until
//! it listens (`server`), a network namespace of a test's own
//! (`isolated`), a self-signed certificate (`tls`), and what Slack, Teams,
//! PagerDuty and Splunk accept and answer (`services`).

mod database;
mod isolated;
mod scenario;
mod server;
mod services;
mod tls;

use std::sync::atomic::{AtomicU32, Ordering};

pub use database::{Db, POSTGRES_ADMIN_URL, TestDatabase, admin};
pub use isolated::isolated;
pub use scenario::{Fixture, bare, run_scenario};
pub use server::ServerProcess;
pub use services::{Reply, Service};
pub use tls::self_signed_localhost;

/// A name no other test process or test uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

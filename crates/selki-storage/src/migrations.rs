//! Migrations embedded in the binary, the same for both databases.

use sqlx::AssertSqlSafe;
use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};

const MIGRATIONS: [(i64, &str, &str); 8] = [
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "processes",
        include_str!("../migrations/0002_processes.sql"),
    ),
    (
        3,
        "sealed headers",
        include_str!("../migrations/0003_sealed_headers.sql"),
    ),
    (
        4,
        "recovery window",
        include_str!("../migrations/0004_recovery_window.sql"),
    ),
    (
        5,
        "debug any delivery",
        include_str!("../migrations/0005_debug_any_delivery.sql"),
    ),
    (
        6,
        "alerting",
        include_str!("../migrations/0006_alerting.sql"),
    ),
    (
        7,
        "console sessions",
        include_str!("../migrations/0007_console_sessions.sql"),
    ),
    (
        8,
        "event client ids",
        include_str!("../migrations/0008_event_client_ids.sql"),
    ),
];

pub(crate) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    (*description).into(),
                    MigrationType::Simple,
                    AssertSqlSafe(*sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

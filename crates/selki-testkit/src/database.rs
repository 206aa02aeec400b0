//! Fresh databases for tests: a SQLite file in a new temporary directory,
//! or a new PostgreSQL database on 127.0.0.1:5432 (user postgres, trust
//! auth, as on the developers' and CI machines). Both are removed when
//! dropped, however the test ended.
//!
//! Without PostgreSQL, [`TestDatabase::create`] returns `None` (the caller
//! skips, saying so) unless `SELKI_REQUIRE_POSTGRES=1`, which CI sets:
//! there it panics, so Postgres tests never skip silently.

use std::path::PathBuf;

use sqlx::{Connection as _, Executor as _};

use crate::unique_name;

pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The temporary directory holding the file (and its WAL, lock…).
    Sqlite(PathBuf),
    Postgres(String),
    /// Already removed.
    Gone,
}

impl TestDatabase {
    pub async fn create(db: Db) -> Option<Self> {
        match db {
            Db::Sqlite => {
                let dir = std::env::temp_dir().join(unique_name("selki_test"));
                std::fs::create_dir_all(&dir).expect("a temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.join("selki.db").display());
                Some(Self {
                    url,
                    kind: Kind::Sqlite(dir),
                })
            }
            Db::Postgres => {
                let mut admin = match sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await {
                    Ok(conn) => conn,
                    Err(err) if std::env::var("SELKI_REQUIRE_POSTGRES").as_deref() != Ok("1") => {
                        eprintln!(
                            "SKIPPED: PostgreSQL unavailable ({err}); SELKI_REQUIRE_POSTGRES=1 makes this a failure"
                        );
                        return None;
                    }
                    Err(err) => panic!("PostgreSQL is required (SELKI_REQUIRE_POSTGRES=1): {err}"),
                };
                let name = unique_name("selki_test");
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("CREATE DATABASE");
                let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
                Some(Self {
                    url,
                    kind: Kind::Postgres(name),
                })
            }
        }
    }

    /// The PostgreSQL database's name, for tests that take it away.
    pub fn postgres_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Postgres(name) => Some(name),
            _ => None,
        }
    }

    /// Drops the PostgreSQL database now, cutting off whoever uses it: an
    /// outage, for tests of what happens then.
    pub async fn take_away(&self) {
        if let Some(name) = self.postgres_name() {
            drop_database(name).await;
        }
    }

    /// A PostgreSQL outage for this database only: new connections are
    /// refused and every open one is cut, as when the server restarts.
    /// (Restarting the real server would cut off every other test too.)
    pub async fn cut_off(&self) {
        if let Some(name) = self.postgres_name() {
            admin(&[
                format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ),
            ])
            .await;
        }
    }

    /// Ends [`TestDatabase::cut_off`]: connections are accepted again.
    pub async fn restore(&self) {
        if let Some(name) = self.postgres_name() {
            admin(&[format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")]).await;
        }
    }

    /// Removes the database now (even one a test already took away).
    pub async fn remove(mut self) {
        match std::mem::replace(&mut self.kind, Kind::Gone) {
            Kind::Postgres(name) => drop_database(&name).await,
            Kind::Sqlite(dir) => remove_dir(&dir),
            Kind::Gone => {}
        }
    }

    /// Runs statements on this database directly, behind the product's
    /// back: for tests that inject a fault (a trigger that refuses some
    /// rows) or check what is stored.
    pub async fn execute(&self, statements: &[&str]) {
        let mut conn = self.connect().await;
        for statement in statements {
            conn.execute(sqlx::AssertSqlSafe(statement.to_string()))
                .await
                .unwrap_or_else(|e| panic!("`{statement}`: {e}"));
        }
    }

    /// The first column of every row of `query`, as text (NULL as "").
    pub async fn texts(&self, query: &str) -> Vec<String> {
        use sqlx::Row as _;
        let mut conn = self.connect().await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("`{query}`: {e}"));
        rows.iter()
            .map(|row| {
                row.try_get::<Option<String>, _>(0)
                    .map(Option::unwrap_or_default)
                    .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
                    .or_else(|_| {
                        row.try_get::<Vec<u8>, _>(0)
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
                    .unwrap_or_else(|e| panic!("`{query}`: {e}"))
            })
            .collect()
    }

    async fn connect(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.url)
            .await
            .expect("a direct connection to the test database")
    }
}

impl Drop for TestDatabase {
    /// A test that failed (or forgot [`TestDatabase::remove`]) leaves
    /// nothing behind either. Drop cannot await: a PostgreSQL database is
    /// dropped from a thread with a runtime of its own.
    fn drop(&mut self) {
        match std::mem::replace(&mut self.kind, Kind::Gone) {
            Kind::Sqlite(dir) => remove_dir(&dir),
            Kind::Postgres(name) => {
                let dropped = std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map(|runtime| runtime.block_on(drop_database(&name)))
                });
                let _ = dropped.join();
            }
            Kind::Gone => {}
        }
    }
}

fn remove_dir(dir: &std::path::Path) {
    // A process still writing into it (a server not yet reaped) may race
    // this; what it leaves is in the temporary directory anyway.
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs statements on the PostgreSQL server as its admin (outside any test
/// database): what a test does to a database from the outside.
pub async fn admin(statements: &[String]) {
    let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL)
        .await
        .expect("PostgreSQL admin connection");
    for statement in statements {
        admin
            .execute(sqlx::AssertSqlSafe(statement.clone()))
            .await
            .expect("an admin statement");
    }
}

async fn drop_database(name: &str) {
    let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL)
        .await
        .expect("PostgreSQL admin connection");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .expect("DROP DATABASE");
}

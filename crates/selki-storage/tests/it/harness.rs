//! Fresh stores for tests: a SQLite file in a temporary directory, or a
//! new PostgreSQL database on 127.0.0.1:5432 (user postgres, trust auth).
//!
//! Without PostgreSQL the Postgres half of a test fails when
//! `SELKI_REQUIRE_POSTGRES=1` (CI sets it) and is reported skipped otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use selki_storage::{Clock, Keyring, Store};
use sqlx::{Connection as _, Executor as _};

pub(crate) const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A clock tests move by hand.
#[derive(Debug)]
pub(crate) struct TestClock(AtomicI64);

impl TestClock {
    pub(crate) fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) struct TestStore {
    pub(crate) store: Store,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) url: String,
    drop_database: Option<String>,
}

pub(crate) fn keyring(entries: &[&str]) -> Keyring {
    Keyring::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).expect("keys")
}

pub(crate) const KEY_A: &str = "a:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
pub(crate) const KEY_B: &str = "b:BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=";

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!(
        "selki_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

impl TestStore {
    pub(crate) async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(unique_name());
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("selki.db").display());
        Self::open(url, None).await
    }

    /// `None` when PostgreSQL is not there and not required.
    pub(crate) async fn postgres() -> Option<Self> {
        let mut admin = match sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await {
            Ok(conn) => conn,
            Err(err) if std::env::var("SELKI_REQUIRE_POSTGRES").as_deref() != Ok("1") => {
                eprintln!(
                    "SKIPPED: PostgreSQL unavailable ({err}); set SELKI_REQUIRE_POSTGRES=1 to fail instead"
                );
                return None;
            }
            Err(err) => panic!("PostgreSQL is required (SELKI_REQUIRE_POSTGRES=1): {err}"),
        };
        let name = unique_name();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create database");
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Some(Self::open(url, Some(name)).await)
    }

    async fn open(url: String, drop_database: Option<String>) -> Self {
        let clock = Arc::new(TestClock(AtomicI64::new(1_754_560_902_000)));
        let store = Store::connect(&url, keyring(&[KEY_A]), clock.clone())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        Self {
            store,
            clock,
            url,
            drop_database,
        }
    }

    pub(crate) async fn finish(self) {
        self.store.close().await;
        if let Some(name) = self.drop_database {
            let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL)
                .await
                .expect("admin");
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .expect("drop database");
        }
    }
}

/// `both!(scenario)` makes `scenario::on_sqlite` and `scenario::on_postgres`.
macro_rules! both {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn on_sqlite() {
                    let t = crate::harness::TestStore::sqlite().await;
                    super::$scenario(&t).await;
                    t.finish().await;
                }

                #[tokio::test]
                async fn on_postgres() {
                    let Some(t) = crate::harness::TestStore::postgres().await else { return };
                    super::$scenario(&t).await;
                    t.finish().await;
                }
            }
        )*
    };
}
pub(crate) use both;

//! One scenario, run on both stores: `on_both_stores!(start => a, b)`
//! makes `a::on_sqlite` and `a::on_postgres` (and the same for `b`), each
//! starting its fixture with `start(db)`, running `a(&fixture)` and
//! finishing the fixture. The storage, server and CLI tests all use it.

use std::future::Future;

use crate::Db;

/// What a scenario runs against, torn down after it.
pub trait Fixture {
    fn finish(self) -> impl Future<Output = ()> + Send;
}

/// The store kind alone, for scenarios that start their own servers:
/// `on_both_stores!(selki_testkit::bare => scenario)` with
/// `async fn scenario(db: &Db)`.
pub async fn bare(db: Db) -> Option<Db> {
    Some(db)
}

impl Fixture for Db {
    async fn finish(self) {}
}

/// Starts a fixture on `db` (`None`: PostgreSQL is absent and not
/// required, so the test is skipped, saying so), runs `scenario` with it,
/// then finishes it.
pub async fn run_scenario<F, S, Started>(db: Db, start: S, scenario: impl AsyncFnOnce(&F))
where
    F: Fixture,
    S: FnOnce(Db) -> Started,
    Started: Future<Output = Option<F>>,
{
    let Some(fixture) = start(db).await else {
        assert_eq!(db, Db::Postgres, "SQLite is always there");
        return;
    };
    scenario(&fixture).await;
    fixture.finish().await;
}

/// `on_both_stores!(start => scenario, …)`: for each scenario, a module of
/// that name with `on_sqlite` and `on_postgres` tests (multi-threaded
/// runtimes, so that a test may block a thread on a process).
#[macro_export]
macro_rules! on_both_stores {
    ($start:expr => $($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    $crate::run_scenario($crate::Db::Sqlite, $start, super::$scenario).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    $crate::run_scenario($crate::Db::Postgres, $start, super::$scenario).await;
                }
            }
        )*
    };
}

//! Fresh databases for tests: a SQLite file in a new temporary directory,
//! or a new PostgreSQL database on 127.0.0.1:5432 (user postgres, trust
//! auth, as on the developers' and CI machines).
//!
//! Without PostgreSQL, [`TestDatabase::create`] returns `None` (the caller
//! skips, saying so) unless `SELKI_REQUIRE_POSTGRES=1`, which CI sets:
//! there it panics, so Postgres tests never skip silently.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection as _, Executor as _};

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
    postgres_name: Option<String>,
}

/// A self-signed certificate for `localhost` and its key, as PEM files in
/// `dir` (made by the `openssl` command): `(cert, key)`.
pub fn self_signed_localhost(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).expect("a directory for the certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

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

impl TestDatabase {
    pub async fn create(db: Db) -> Option<Self> {
        match db {
            Db::Sqlite => {
                let dir = std::env::temp_dir().join(unique_name("selki_test"));
                std::fs::create_dir_all(&dir).expect("a temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.join("selki.db").display());
                Some(Self {
                    url,
                    postgres_name: None,
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
                    postgres_name: Some(name),
                })
            }
        }
    }

    /// The PostgreSQL database's name, for tests that take it away.
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres_name.as_deref()
    }

    /// Drops the PostgreSQL database now, cutting off whoever uses it: an
    /// outage, for tests of what happens then.
    pub async fn take_away(&self) {
        if let Some(name) = &self.postgres_name {
            drop_database(name).await;
        }
    }

    /// A PostgreSQL outage for this database only: new connections are
    /// refused and every open one is cut, as when the server restarts.
    /// (Restarting the real server would cut off every other test too.)
    pub async fn cut_off(&self) {
        if let Some(name) = &self.postgres_name {
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
        if let Some(name) = &self.postgres_name {
            admin(&[format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")]).await;
        }
    }

    /// Drops a PostgreSQL database (even one a test already took away).
    pub async fn remove(self) {
        if let Some(name) = self.postgres_name {
            drop_database(&name).await;
        }
    }
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

impl TestDatabase {
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

/// Runs a test inside a network namespace of its own, with only a loopback
/// interface on which every address is local, and with `hosts` as its
/// /etc/hosts: whatever the product under test tries to reach (a proxy, a
/// cloud metadata name, a "public" address) lands on loopback or nowhere,
/// and nothing leaves the machine.
///
/// The test calls this first with its own full name (`module::test`): the
/// test binary is run again for that one test under `unshare`, and `body`
/// runs there, on a runtime of its own. PostgreSQL on the machine's
/// loopback is out of reach inside, so such tests use SQLite.
pub fn isolated<F, Fut>(test: &str, hosts: &[(&str, &str)], body: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    const INSIDE: &str = "SELKI_TEST_ISOLATED";
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        enter_isolation(hosts);
        tokio_runtime().block_on(body());
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let output = std::process::Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "--"])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(INSIDE, test)
        .output()
        .expect("unshare (util-linux) runs; tests run as root");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} inside its network namespace: {}\n{stdout}\n{stderr}",
        output.status
    );
}

fn enter_isolation(hosts: &[(&str, &str)]) {
    let run = |args: &[&str]| {
        let status = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(status.success(), "{args:?}: {status}");
    };
    run(&["ip", "link", "set", "lo", "up"]);
    // Every IPv4 address is this machine's own: a connection to any of
    // them reaches a listener on 0.0.0.0 here, or is refused.
    run(&["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo"]);
    let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for (name, address) in hosts {
        text.push_str(&format!("{address} {name}\n"));
    }
    let file = std::env::temp_dir().join(unique_name("selki_hosts"));
    std::fs::write(&file, text).expect("a hosts file");
    run(&[
        "mount",
        "--bind",
        file.to_str().expect("utf-8"),
        "/etc/hosts",
    ]);
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

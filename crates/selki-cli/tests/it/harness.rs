//! A server process on a fresh database, and `selki` runs against it.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use selki_testkit::{Db, ServerProcess, TestDatabase};

pub(crate) const ADMIN_KEY: &str = "cli-test-admin-key-0123456789abcdef";

/// `selki-server` beside `selki`: `cargo test --workspace` builds both.
fn server_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_selki")).with_file_name("selki-server");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p selki-server, or cargo test --workspace)",
        path.display()
    );
    path
}

fn quiet_env(command: &mut Command) -> &mut Command {
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // No config file of the developer's, no colours.
        .env("HOME", std::env::temp_dir())
        .env("NO_COLOR", "1")
}

/// A line-announcing child process (`selki receive`), killed when dropped.
pub(crate) struct Running {
    child: Child,
    /// What it printed after the announcement, read on demand.
    lines: std::sync::mpsc::Receiver<String>,
    pub(crate) announced: String,
}

impl Running {
    /// Starts `command` and waits for a stdout line starting with `prefix`.
    pub(crate) fn start(command: &mut Command, prefix: &str) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        let mut reader = BufReader::new(stdout).lines();
        let announced = reader
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
            .expect("the process announces itself");
        std::thread::spawn(move || {
            for line in reader.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            lines,
            announced,
        }
    }

    /// The next line it prints, waiting at most 30 s.
    pub(crate) fn next_line(&self) -> String {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a line in time")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) struct Server {
    pub(crate) process: ServerProcess,
    pub(crate) addr: String,
    db: TestDatabase,
}

impl Server {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub(crate) async fn start_with(args: &[&str]) -> Self {
        let db = TestDatabase::create(Db::Sqlite).await.expect("SQLite");
        let mut command = Command::new(server_binary());
        quiet_env(&mut command)
            .args(["--listen", "127.0.0.1:0", "--log", "warn"])
            .args(["--allow-http-endpoints", "true"])
            .args(["--allow-destinations", "127.0.0.0/8"])
            .args(["--poll-interval", "200ms"])
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("SELKI_ADMIN_KEY", ADMIN_KEY);
        let process = tokio::task::spawn_blocking(move || ServerProcess::start(command))
            .await
            .expect("the starting thread")
            .unwrap_or_else(|e| panic!("{e}"));
        let announced = process.addr.clone().unwrap_or_default();
        let tls = args.contains(&"--tls-cert");
        let port = announced.rsplit(':').next().unwrap_or_default();
        let addr = match tls {
            true => format!("https://localhost:{port}"),
            false => format!("http://{announced}"),
        };
        Self { process, addr, db }
    }

    /// `selki` with the admin key.
    pub(crate) fn selki(&self, args: &[&str]) -> Run {
        self.selki_as(ADMIN_KEY, args)
    }

    pub(crate) fn selki_as(&self, key: &str, args: &[&str]) -> Run {
        run(quiet_env(&mut selki())
            .env("SELKI_ADDR", &self.addr)
            .env("SELKI_API_KEY", key)
            .args(args))
    }

    pub(crate) async fn finish(self) {
        drop(self.process);
        self.db.remove().await;
    }
}

pub(crate) fn selki() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_selki"));
    quiet_env(&mut command);
    command
}

/// What a finished `selki` run printed, and its exit code.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Exit 0, or the test fails showing what it printed.
    pub(crate) fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

pub(crate) fn run(command: &mut Command) -> Run {
    let output = command.stdin(Stdio::null()).output().expect("run selki");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

//! A real `selki-server` process on a random loopback port, on a fresh
//! SQLite file or a fresh PostgreSQL database, and clients for it.

use std::process::{Command, Stdio};

use selki_proto::v1::api_key_service_client::ApiKeyServiceClient;
use selki_proto::v1::event_service_client::EventServiceClient;
use selki_proto::v1::webhook_service_client::WebhookServiceClient;
use selki_testkit::{Db, Fixture, TestDatabase};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";
pub(crate) const SECRET_KEYS: &str = "t1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// Flags of a server that delivers to loopback receivers quickly.
pub(crate) const DELIVERING: &[&str] = &[
    "--allow-http-endpoints",
    "true",
    "--allow-destinations",
    "127.0.0.0/8",
    "--poll-interval",
    "200ms",
    "--request-timeout",
    "2s",
    "--lease",
    "4s",
];

/// A `selki-server` process (selki-testkit's), killed when dropped.
pub(crate) use selki_testkit::ServerProcess as Process;

/// How to start a server beyond its flags.
#[derive(Default, Clone)]
pub(crate) struct Launch {
    pub(crate) args: Vec<String>,
    /// Set (or, with an empty value, removed) on top of the defaults.
    pub(crate) env: Vec<(String, String)>,
    /// A command the server runs under, e.g. `faketime -f +5m`.
    pub(crate) wrapper: Vec<String>,
    /// Where to run it; a temporary directory's worth of nothing otherwise.
    pub(crate) dir: Option<std::path::PathBuf>,
    /// Instead of the test database's own URL.
    pub(crate) database_url: Option<String>,
}

impl Launch {
    pub(crate) fn args(args: &[&str]) -> Self {
        Self {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            ..Self::default()
        }
    }

    pub(crate) fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn under(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(|a| (*a).to_owned()).collect();
        self
    }
}

/// Starts a server on a database and waits until it says it is up.
pub(crate) async fn spawn_process(database_url: &str, args: &[&str]) -> Process {
    launch_process(database_url, Launch::args(args)).await
}

/// Starts a server as `launch` says and waits until it says it is up.
pub(crate) async fn launch_process(database_url: &str, launch: Launch) -> Process {
    let command = launch_command(database_url, &launch);
    tokio::task::spawn_blocking(move || Process::start(command))
        .await
        .expect("the starting thread")
        .unwrap_or_else(|e| panic!("{:?}: {e}", launch.args))
}

/// Runs a server to its end (a subcommand, or one that should refuse to
/// start): its exit status and standard error. One still running after
/// 30 s is killed and reported as a failure.
/// Starts the server with `args` on a fresh SQLite database, expecting it
/// to refuse them at start-up: what it said.
pub(crate) async fn refused_at_start(args: &[&str]) -> String {
    let db = selki_testkit::TestDatabase::create(selki_testkit::Db::Sqlite)
        .await
        .expect("sqlite");
    let (status, stderr) = run_to_exit(&db.url, &Launch::args(args));
    assert!(!status.success(), "{args:?} was accepted");
    stderr
}

pub(crate) fn run_to_exit(
    database_url: &str,
    launch: &Launch,
) -> (std::process::ExitStatus, String) {
    let child = launch_command(database_url, launch)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run selki-server");
    let pid = child.id().to_string();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match exited.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(output) => {
            let output = output.expect("wait");
            (
                output.status,
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid]).status();
            panic!("{:?} was still running after 30 s", launch.args);
        }
    }
}

fn launch_command(database_url: &str, launch: &Launch) -> Command {
    let mut command = match launch.wrapper.split_first() {
        None => server_command(),
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .args(rest)
                .arg(env!("CARGO_BIN_EXE_selki-server"));
            c
        }
    };
    command
        .args(["--listen", "127.0.0.1:0", "--log", "warn"])
        .args(&launch.args)
        .env("DATABASE_URL", database_url)
        .env("SELKI_ADMIN_KEY", ADMIN_KEY)
        .env("SELKI_SECRET_KEYS", SECRET_KEYS)
        .current_dir(launch.dir.clone().unwrap_or_else(std::env::temp_dir));
    for (name, value) in &launch.env {
        match value.as_str() {
            "" => command.env_remove(name),
            v => command.env(name, v),
        };
    }
    command
}

pub(crate) struct TestServer {
    pub(crate) process: Process,
    pub(crate) channel: Channel,
    pub(crate) db: TestDatabase,
}

async fn connect(process: &Process, ca: Option<&[u8]>) -> Channel {
    let addr = process.addr.clone().expect("an API address");
    let channel = match ca {
        None => Channel::from_shared(format!("http://{addr}")).expect("uri"),
        Some(ca) => {
            let port = addr.rsplit(':').next().expect("port");
            let tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                .domain_name("localhost");
            Channel::from_shared(format!("https://localhost:{port}"))
                .expect("uri")
                .tls_config(tls)
                .expect("tls")
        }
    };
    channel.connect().await.expect("connect")
}

pub(crate) fn server_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_selki-server"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

impl TestServer {
    pub(crate) async fn start(db: Db) -> Option<Self> {
        Self::start_with(db, &[], None).await
    }

    /// A server that delivers to loopback receivers, with extra flags.
    pub(crate) async fn delivering(db: Db, args: &[&str]) -> Option<Self> {
        let all: Vec<&str> = DELIVERING.iter().chain(args).copied().collect();
        Self::start_with(db, &all, None).await
    }

    /// With extra flags; over TLS trusting `ca` when given.
    pub(crate) async fn start_with(db: Db, args: &[&str], ca: Option<&[u8]>) -> Option<Self> {
        let db = TestDatabase::create(db).await?;
        let process = spawn_process(&db.url, args).await;
        let channel = connect(&process, ca).await;
        Some(Self {
            process,
            channel,
            db,
        })
    }

    /// Started as `launch` says.
    pub(crate) async fn launch(db: Db, launch: Launch) -> Option<Self> {
        let db = TestDatabase::create(db).await?;
        let url = launch
            .database_url
            .clone()
            .unwrap_or_else(|| db.url.clone());
        let process = launch_process(&url, launch).await;
        let channel = connect(&process, None).await;
        Some(Self {
            process,
            channel,
            db,
        })
    }

    /// SIGKILLs the server and starts a new one on the same database.
    pub(crate) async fn kill_and_restart(&mut self, args: &[&str]) {
        let all: Vec<&str> = DELIVERING.iter().chain(args).copied().collect();
        self.replace(Launch::args(&all)).await;
    }

    /// SIGKILLs the server and starts another on the same database, as
    /// `launch` says.
    pub(crate) async fn replace(&mut self, launch: Launch) {
        self.process.kill();
        let url = launch
            .database_url
            .clone()
            .unwrap_or_else(|| self.db.url.clone());
        self.process = launch_process(&url, launch).await;
        self.channel = connect(&self.process, None).await;
    }

    /// Another process on the same database, delivering quickly.
    pub(crate) async fn spawn_more(&self, args: &[&str]) -> Process {
        let all: Vec<&str> = DELIVERING.iter().chain(args).copied().collect();
        spawn_process(&self.db.url, &all).await
    }

    /// The health service's answer for the whole server.
    pub(crate) async fn health(&self) -> ServingStatus {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        let status = HealthClient::new(self.channel.clone())
            .check(request)
            .await
            .expect("health answers")
            .into_inner()
            .status;
        ServingStatus::try_from(status).expect("a known status")
    }

    /// Waits until health reports `want`.
    pub(crate) async fn health_becomes(&self, want: ServingStatus, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let now = self.health().await;
            if now == want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "health stayed {now:?}, not {want:?}, for {within:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn webhooks(&self) -> WebhookServiceClient<Channel> {
        WebhookServiceClient::new(self.channel.clone())
    }

    pub(crate) fn events(&self) -> EventServiceClient<Channel> {
        EventServiceClient::new(self.channel.clone())
    }

    pub(crate) fn keys(&self) -> ApiKeyServiceClient<Channel> {
        ApiKeyServiceClient::new(self.channel.clone())
    }

    /// SIGTERM, then the exit status. The wait runs off the test's runtime,
    /// which must stay free to answer the server's GOAWAY.
    pub(crate) async fn terminate(&mut self) -> std::process::ExitStatus {
        let process = &mut self.process;
        tokio::task::block_in_place(|| process.terminate())
    }
}

impl TestServer {
    pub(crate) async fn finish(self) {
        drop(self.process);
        self.db.remove().await;
    }
}

impl Fixture for TestServer {
    async fn finish(self) {
        TestServer::finish(self).await;
    }
}

/// A request with `authorization: Bearer <key>`.
pub(crate) fn authed<T>(key: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("header"),
    );
    request
}

/// `both!(scenario, …)`: each scenario against a fresh server, on SQLite
/// and on PostgreSQL.
macro_rules! both {
    ($($scenario:ident),* $(,)?) => {
        selki_testkit::on_both_stores!(crate::harness::TestServer::start => $($scenario),*);
    };
}
pub(crate) use both;

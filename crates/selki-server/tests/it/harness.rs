//! A real `selki-server` process on a random loopback port, on a fresh
//! SQLite file or a fresh PostgreSQL database, and clients for it.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use selki_proto::v1::api_key_service_client::ApiKeyServiceClient;
use selki_proto::v1::event_service_client::EventServiceClient;
use selki_proto::v1::webhook_service_client::WebhookServiceClient;
use selki_testkit::{Db, TestDatabase};
use tonic::transport::Channel;

pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";
const SECRET_KEYS: &str = "t1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

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

/// A `selki-server` process, killed when dropped.
pub(crate) struct Process {
    child: Child,
    /// The gRPC address, unless it only delivers.
    pub(crate) addr: Option<String>,
    pub(crate) metrics: Option<String>,
}

impl Process {
    /// Starts one on a database and waits until it says it is up.
    pub(crate) async fn spawn(database_url: &str, args: &[&str]) -> Self {
        let mut child = server_command()
            .args(["--listen", "127.0.0.1:0", "--log", "warn"])
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("SELKI_ADMIN_KEY", ADMIN_KEY)
            .env("SELKI_SECRET_KEYS", SECRET_KEYS)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn selki-server");
        let stdout = child.stdout.take().expect("stdout");
        let api = !args.windows(2).any(|w| w == ["--role", "worker"]);
        let metrics = args.contains(&"--metrics-listen");
        // The server prints its addresses once it listens: wait for them,
        // then keep reading so its later lines never hit a closed pipe.
        let (addr, metrics) = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let (mut addr, mut metrics_addr, mut up) = (None, None, false);
            while (api && addr.is_none()) || (metrics && metrics_addr.is_none()) || !(api || up) {
                let line = lines
                    .next()
                    .expect("the server announces itself before exiting")
                    .expect("stdout");
                if let Some(a) = line.strip_prefix("selki-server listening on ") {
                    addr = Some(a.to_owned());
                } else if let Some(a) = line.strip_prefix("selki-server metrics on ") {
                    metrics_addr = Some(a.to_owned());
                } else if line == "selki-server delivering" {
                    up = true;
                }
            }
            std::thread::spawn(move || lines.for_each(drop));
            (addr, metrics_addr)
        })
        .await
        .expect("reader");
        Self {
            child,
            addr,
            metrics,
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) struct TestServer {
    pub(crate) process: Process,
    pub(crate) channel: Channel,
    pub(crate) db: TestDatabase,
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
        let process = Process::spawn(&db.url, args).await;
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
        let channel = channel.connect().await.expect("connect");
        Some(Self {
            process,
            channel,
            db,
        })
    }

    /// SIGKILLs the server and starts a new one on the same database.
    pub(crate) async fn kill_and_restart(&mut self, args: &[&str]) {
        let all: Vec<&str> = DELIVERING.iter().chain(args).copied().collect();
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        self.process = Process::spawn(&self.db.url, &all).await;
        let addr = self.process.addr.clone().expect("an API address");
        self.channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
    }

    /// Another process on the same database, delivering quickly.
    pub(crate) async fn spawn_more(&self, args: &[&str]) -> Process {
        let all: Vec<&str> = DELIVERING.iter().chain(args).copied().collect();
        Process::spawn(&self.db.url, &all).await
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
        let pid = self.process.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let child = &mut self.process.child;
        tokio::task::block_in_place(|| child.wait().expect("wait"))
    }

    pub(crate) async fn finish(self) {
        drop(self.process);
        self.db.remove().await;
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

/// `both!(scenario)` makes `scenario::on_sqlite` and `scenario::on_postgres`.
macro_rules! both {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn on_sqlite() {
                    let server = crate::harness::TestServer::start(selki_testkit::Db::Sqlite).await.expect("SQLite is always there");
                    super::$scenario(&server).await;
                    server.finish().await;
                }

                #[tokio::test]
                async fn on_postgres() {
                    let Some(server) = crate::harness::TestServer::start(selki_testkit::Db::Postgres).await else { return };
                    super::$scenario(&server).await;
                    server.finish().await;
                }
            }
        )*
    };
}
pub(crate) use both;

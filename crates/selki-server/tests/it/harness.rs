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

pub(crate) struct TestServer {
    child: Child,
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

    /// With extra flags; over TLS trusting `ca` when given.
    pub(crate) async fn start_with(db: Db, args: &[&str], ca: Option<&[u8]>) -> Option<Self> {
        let db = TestDatabase::create(db).await?;
        let mut child = server_command()
            .args(["--listen", "127.0.0.1:0", "--log", "warn"])
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("SELKI_ADMIN_KEY", ADMIN_KEY)
            .env("SELKI_SECRET_KEYS", SECRET_KEYS)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn selki-server");
        let stdout = child.stdout.take().expect("stdout");
        // The server prints its address once it listens: wait for that line.
        let addr = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            lines
                .find_map(|line| {
                    line.ok()?
                        .strip_prefix("selki-server listening on ")
                        .map(str::to_owned)
                })
                .expect("the server announces its address")
        })
        .await
        .expect("reader");
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
        Some(Self { child, channel, db })
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
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let child = &mut self.child;
        tokio::task::block_in_place(|| child.wait().expect("wait"))
    }

    pub(crate) async fn finish(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

//! The process itself: health, reflection, shutdown, configuration errors.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use selki_proto::v1 as pb;
use tonic::Code;

use selki_testkit::Db;

use crate::harness::{ADMIN_KEY, TestServer, authed, server_command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving_and_a_sigterm_stops_the_server_cleanly() {
    let mut server = TestServer::start(Db::Sqlite)
        .await
        .expect("sqlite always works");
    let mut health = HealthClient::new(server.channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(status.status, ServingStatus::Serving as i32);
    let exit = server.terminate().await;
    assert!(exit.success(), "{exit:?}");
    server.finish().await;
}

#[tokio::test]
async fn reflection_lists_every_service_so_tools_need_no_proto_files() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = TestServer::start(Db::Sqlite)
        .await
        .expect("sqlite always works");
    let mut client = ServerReflectionClient::new(server.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream
        .message()
        .await
        .expect("message")
        .expect("a response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "selki.webhooks.v1.WebhookService",
        "selki.webhooks.v1.EventService",
        "selki.webhooks.v1.ApiKeyService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    server.finish().await;
}

#[test]
fn a_bad_setting_stops_start_up_with_a_message_naming_it() {
    let check = |args: &[&str], envs: &[(&str, &str)], named: &str| {
        let child = server_command()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(std::env::temp_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run");
        let pid = child.id().to_string();
        // A server that wrongly starts would never exit: wait at most 20 s.
        let (done, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let output = match exited.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(output) => output.expect("wait"),
            Err(_) => {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid])
                    .status();
                panic!("{args:?} started instead of failing");
            }
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(
            stderr.contains(named),
            "{args:?}: `{named}` not in {stderr}"
        );
    };
    check(
        &["--database-url", "mysql://localhost/x"],
        &[],
        "database-url",
    );
    check(&["--listen", "not-an-address"], &[], "--listen");
    check(
        &["--mode", "production", "--database-url", "sqlite::memory:"],
        &[],
        "secret-keys",
    );
    check(
        &["--secret-keys", "k1:tooshort"],
        &[("DATABASE_URL", "sqlite::memory:")],
        "secret-keys",
    );
    check(&["--tls-cert", "/nonexistent.pem"], &[], "tls-key");
    check(&["--admin-key", "short"], &[], "admin-key");
    check(&["--log", "selki=loudest"], &[], "log");
    check(&["--config", "/nonexistent/selki.toml"], &[], "config");
}

/// The configuration a server resolves with `args`, as `config` prints it.
fn resolved(args: &[&str]) -> String {
    let output = server_command()
        .args(args)
        .arg("config")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The defaults are written once, in the code; `--help` states them, and
/// a server given each stated default as a flag resolves exactly as one
/// given nothing. (Defaults said in words, like "none", are not values.)
#[test]
fn every_default_help_states_is_the_one_the_server_uses() {
    let output = server_command().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&output.stdout);
    let unset = resolved(&[]);
    let mut checked = 0;
    for (flag, stated) in stated_defaults(&help) {
        if ["none", "sqlite://selki.db?mode=rwc"].contains(&stated.as_str()) || stated.contains(' ')
        {
            continue;
        }
        assert_eq!(
            resolved(&[&flag, &stated]),
            unset,
            "{flag} {stated}: --help states a default the server does not use"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} defaults checked:\n{help}");
}

/// `(--flag, value)` for each `[default: value…]` in the help text.
fn stated_defaults(help: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut flag = None;
    for line in help.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("--") {
            flag = rest.split([' ', '<']).next().map(|f| format!("--{f}"));
        }
        if let (Some(flag), Some((_, rest))) = (&flag, line.split_once("[default: ")) {
            let value = rest
                .split(['\u{5d}'])
                .next()
                .and_then(|v| v.split(", ").next())
                .and_then(|v| v.split(": ").next())
                .unwrap_or_default();
            found.push((flag.clone(), value.to_owned()));
        }
    }
    found
}

#[test]
fn help_documents_every_setting() {
    let output = server_command().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&output.stdout);
    for setting in [
        "--listen",
        "--database-url",
        "DATABASE_URL",
        "--mode",
        "--secret-keys",
        "--admin-key",
        "--allow-http-endpoints",
        "--tls-cert",
        "--tls-key",
        "--log-format",
        "--log",
        "--config",
        "migrate",
        "reseal-secrets",
        "create-api-key",
    ] {
        assert!(
            help.contains(setting),
            "`{setting}` missing from --help:\n{help}"
        );
    }
}

#[tokio::test]
async fn grpc_is_served_over_tls_when_given_a_certificate() {
    let dir = std::env::temp_dir().join(format!("selki-tls-{}", std::process::id()));
    let (cert, key) = selki_testkit::self_signed_localhost(&dir);
    let args = [
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ];
    let pem = std::fs::read(&cert).expect("cert");
    let server = TestServer::start_with(Db::Sqlite, &args, Some(&pem))
        .await
        .expect("sqlite always works");
    let list = pb::ListWebhooksRequest {
        organization_id: "acme".into(),
        ..Default::default()
    };
    let listed = server
        .webhooks()
        .list_webhooks(authed(ADMIN_KEY, list))
        .await
        .expect("list over TLS");
    assert!(listed.into_inner().webhooks.is_empty());
    server.finish().await;
}

#[tokio::test]
async fn when_the_database_goes_away_rpcs_answer_unavailable() {
    let Some(server) = TestServer::start(Db::Postgres).await else {
        return;
    };
    let name = server
        .db
        .postgres_name()
        .expect("a postgres database")
        .to_owned();
    server.db.take_away().await;
    let create = crate::fixtures::create_request("acme");
    let status = server
        .webhooks()
        .create_webhook(authed(ADMIN_KEY, create))
        .await
        .expect_err("no database");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("nothing was written"),
        "{}",
        status.message()
    );
    assert!(
        !status.message().contains(&name),
        "internals stay in the log: {}",
        status.message()
    );
    server.finish().await;
}

//! How calls leave: never through a proxy picked up from the environment;
//! through the configured egress proxy only to addresses the guard vetted
//! (the proxy is handed the vetted address, not the name); to internal
//! addresses only where the operator granted them, and with as much of an
//! internal answer as the operator allows.
//!
//! Tests that could reach elsewhere run in a network namespace of their
//! own (`selki_testkit::isolated`), where every address is local and the
//! hosts file below answers DNS.

use selki_proto::v1 as pb;
use selki_testkit::Db;

use crate::delivery::{WITHIN, hook, retry};
use crate::harness::{ADMIN_KEY, Launch, TestServer, authed};
use crate::proxies::{Kind, Proxy};
use crate::receiver::Receiver;

const HOSTS: &[(&str, &str)] = &[
    ("metadata.google.internal", "169.254.169.254"),
    ("internal.test", "10.1.2.3"),
    ("public.test", "93.184.216.34"),
    ("direct.test", "93.184.216.35"),
];

/// A test event to a new webhook of `org` at `url`: the call made.
async fn test_call(server: &TestServer, org: &str, url: &str) -> pb::Call {
    let hook = hook(server, org, url, retry(0, 1)).await;
    let request = pb::SendTestEventRequest {
        webhook_id: hook.id,
        event_type: 0,
    };
    server
        .webhooks()
        .send_test_event(authed(ADMIN_KEY, request))
        .await
        .expect("a test call")
        .into_inner()
        .call
        .expect("call")
}

fn outcome(call: &pb::Call) -> pb::CallOutcome {
    pb::CallOutcome::try_from(call.outcome).expect("a known outcome")
}

#[test]
fn proxy_variables_in_the_environment_are_never_used() {
    selki_testkit::isolated(
        "egress::proxy_variables_in_the_environment_are_never_used",
        HOSTS,
        || async {
            let proxy = Proxy::start(Kind::AnswersEverything).await;
            let receiver = Receiver::start_everywhere().await;
            let mut launch = Launch::args(&["--allow-http-endpoints", "true"]);
            for name in [
                "HTTP_PROXY",
                "http_proxy",
                "HTTPS_PROXY",
                "https_proxy",
                "ALL_PROXY",
                "all_proxy",
            ] {
                launch = launch.env(name, &proxy.url("http"));
            }
            let server = TestServer::launch(Db::Sqlite, launch)
                .await
                .expect("SQLite");
            for url in [
                "http://localhost:8080/hook",
                "http://metadata.google.internal/computeMetadata/v1/",
                "http://internal.test/hook",
            ] {
                let call = test_call(&server, "acme", url).await;
                assert_eq!(
                    outcome(&call),
                    pb::CallOutcome::BlockedDestination,
                    "{url}: {call:?}"
                );
            }
            let public = test_call(&server, "acme", &receiver.url_at("public.test", "/")).await;
            assert_eq!(outcome(&public), pb::CallOutcome::Success, "{public:?}");
            receiver.next(WITHIN).await;
            assert!(proxy.asked().await.is_empty(), "the proxy was never used");
            server.finish().await;
        },
    );
}

#[test]
fn an_http_connect_egress_proxy_is_handed_vetted_addresses_only() {
    selki_testkit::isolated(
        "egress::an_http_connect_egress_proxy_is_handed_vetted_addresses_only",
        HOSTS,
        || through_proxy(Kind::Connect, "http"),
    );
}

#[test]
fn a_socks5_egress_proxy_is_handed_vetted_addresses_only() {
    selki_testkit::isolated(
        "egress::a_socks5_egress_proxy_is_handed_vetted_addresses_only",
        HOSTS,
        || through_proxy(Kind::Socks5, "socks5"),
    );
}

async fn through_proxy(kind: Kind, scheme: &str) {
    let proxy = Proxy::start(kind).await;
    let receiver = Receiver::start_everywhere().await;
    let port = receiver.addr.port();
    let proxy_url = proxy.url(scheme);
    let launch = Launch::args(&[
        "--allow-http-endpoints",
        "true",
        "--egress-proxy",
        &proxy_url,
        "--egress-no-proxy",
        "direct.test",
    ]);
    let server = TestServer::launch(Db::Sqlite, launch)
        .await
        .expect("SQLite");

    let call = test_call(&server, "acme", &receiver.url_at("public.test", "/hook")).await;
    assert_eq!(outcome(&call), pb::CallOutcome::Success, "{call:?}");
    assert_eq!(proxy.asked().await, [format!("93.184.216.34:{port}")]);
    let received = receiver.next(WITHIN).await;
    assert_eq!(received.path, "/hook");
    assert_eq!(received.header("host"), format!("public.test:{port}"));

    let direct = test_call(&server, "acme", &receiver.url_at("direct.test", "/")).await;
    assert_eq!(outcome(&direct), pb::CallOutcome::Success, "{direct:?}");
    receiver.next(WITHIN).await;
    assert!(proxy.asked().await.is_empty(), "no-proxy hosts go direct");

    for url in [
        receiver.url_at("internal.test", "/"),
        receiver.url_at("10.1.2.3", "/"),
        receiver.url_at("localhost", "/"),
        "http://metadata.google.internal/".to_owned(),
    ] {
        let call = test_call(&server, "acme", &url).await;
        assert_eq!(
            outcome(&call),
            pb::CallOutcome::BlockedDestination,
            "{url}: {call:?}"
        );
    }
    assert!(proxy.asked().await.is_empty(), "blocked before the proxy");

    // TLS runs inside the tunnel, to the vetted address: the receiver
    // speaks plain HTTP, so the handshake fails there, not the tunnel.
    let tls = test_call(&server, "acme", &format!("https://public.test:{port}/")).await;
    assert_eq!(outcome(&tls), pb::CallOutcome::TlsError, "{tls:?}");
    assert_eq!(proxy.asked().await, [format!("93.184.216.34:{port}")]);
    server.finish().await;
}

/// Loopback only: nothing here can leave the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_destinations_can_be_granted_to_one_organization_without_their_answers() {
    let receiver = Receiver::start().await;
    let production = Launch::args(&[
        "--mode",
        "production",
        "--allow-http-endpoints",
        "true",
        "--allow-destinations-for",
        "acme:127.0.0.0/8",
    ]);
    let server = TestServer::launch(Db::Sqlite, production)
        .await
        .expect("SQLite");
    let granted = test_call(&server, "acme", &receiver.url("/")).await;
    assert_eq!(outcome(&granted), pb::CallOutcome::Success, "{granted:?}");
    assert_eq!(
        granted.response_excerpt, "",
        "production keeps internal answers from the tenant"
    );
    let other = test_call(&server, "beta", &receiver.url("/")).await;
    assert_eq!(
        outcome(&other),
        pb::CallOutcome::BlockedDestination,
        "{other:?}"
    );
    server.finish().await;

    let shortened = Launch::args(&[
        "--allow-http-endpoints",
        "true",
        "--allow-destinations",
        "127.0.0.0/8",
        "--internal-excerpt-bytes",
        "1",
    ]);
    let server = TestServer::launch(Db::Sqlite, shortened)
        .await
        .expect("SQLite");
    server.process.logged("every organization", WITHIN).await;
    let call = test_call(&server, "beta", &receiver.url("/")).await;
    assert_eq!(call.response_excerpt, "o [cut at 1 bytes]");
    server.finish().await;
}

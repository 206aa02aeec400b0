//! A browser's way in: gRPC-Web over HTTP/1.1 on the gRPC listener itself,
//! unary and server streaming, and CORS answered for configured origins
//! only.

use prost::Message;
use selki_proto::v1 as pb;
use selki_testkit::Db;

use crate::delivery::{hook, retry, submit};
use crate::fixtures::org_key;
use crate::harness::TestServer;
use crate::receiver::Receiver;

const CONSOLE: &str = "https://console.example.com";

selki_testkit::on_both_stores!(selki_testkit::bare => a_browser_calls_the_api_and_watches_calls_over_grpc_web);

async fn a_browser_calls_the_api_and_watches_calls_over_grpc_web(db: &Db) {
    let Some(server) = TestServer::delivering(*db, &["--cors-allow-origin", CONSOLE]).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let created = hook(&server, "acme", &receiver.url("/"), retry(0, 1)).await;
    let key = org_key(&server, "acme").await;
    let web = GrpcWeb::new(&server, &key);

    let (messages, trailers) = web
        .call(
            "WebhookService/ListWebhooks",
            &pb::ListWebhooksRequest::default(),
        )
        .await;
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let listed =
        pb::ListWebhooksResponse::decode(&messages[0][..]).expect("a ListWebhooksResponse");
    assert_eq!(listed.webhooks.len(), 1);
    assert_eq!(listed.webhooks[0].id, created.id);

    // A refusal arrives as a status in the trailers, as over HTTP/2.
    let (_, trailers) = GrpcWeb::new(&server, "sk_not_a_key")
        .call(
            "WebhookService/ListWebhooks",
            &pb::ListWebhooksRequest::default(),
        )
        .await;
    assert!(
        trailers.contains("grpc-status:16"),
        "UNAUTHENTICATED: {trailers}"
    );

    // Server streaming: the first message arrives while the stream is open.
    let watch = pb::WatchCallsRequest {
        webhook_id: created.id.clone(),
        organization_id: String::new(),
    };
    let mut stream = web.open("WebhookService/WatchCalls", &watch).await;
    submit(&server, "acme", 1).await;
    let first = stream.next_message().await;
    let call = pb::WatchCallsResponse::decode(&first[..])
        .expect("a WatchCallsResponse")
        .call
        .expect("a call");
    assert_eq!(call.webhook_id, created.id);
    server.finish().await;
}

#[tokio::test]
async fn cors_is_answered_for_configured_origins_only() {
    let Some(server) =
        TestServer::start_with(Db::Sqlite, &["--cors-allow-origin", CONSOLE], None).await
    else {
        return;
    };
    let preflight = |origin: &'static str| {
        http1()
            .request(
                reqwest::Method::OPTIONS,
                url(&server, "WebhookService/ListWebhooks"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-grpc-web",
            )
            .send()
    };
    let allowed = preflight(CONSOLE).await.expect("preflight");
    let header = |name: &str| {
        allowed
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_ascii_lowercase())
    };
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some(CONSOLE)
    );
    let headers = header("access-control-allow-headers").unwrap_or_default();
    for needed in ["authorization", "content-type", "x-grpc-web"] {
        assert!(headers.contains(needed), "{needed} in {headers}");
    }
    // What the page may read of an answer: the status, in its headers.
    let answer = http1()
        .post(url(&server, "WebhookService/ListWebhooks"))
        .header("origin", CONSOLE)
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0, 0, 0, 0, 0])
        .send()
        .await
        .expect("a call");
    let exposed = answer
        .headers()
        .get("access-control-expose-headers")
        .map(|v| v.to_str().unwrap_or_default().to_ascii_lowercase())
        .unwrap_or_default();
    assert!(
        exposed.contains("grpc-status") && exposed.contains("grpc-message"),
        "{exposed}"
    );

    let other = preflight("https://evil.example.net")
        .await
        .expect("preflight");
    assert_eq!(other.headers().get("access-control-allow-origin"), None);
    server.finish().await;

    // No origin configured: no cross-origin page may call.
    let Some(plain) = TestServer::start(Db::Sqlite).await else {
        return;
    };
    let answer = http1()
        .request(
            reqwest::Method::OPTIONS,
            url(&plain, "WebhookService/ListWebhooks"),
        )
        .header("origin", CONSOLE)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(answer.headers().get("access-control-allow-origin"), None);
    plain.finish().await;
}

#[tokio::test]
async fn a_wildcard_or_a_path_is_not_an_origin() {
    for (value, said) in [
        ("*", "is not allowed"),
        ("https://console.example.com/app", "is not an origin"),
    ] {
        let stderr = crate::harness::refused_at_start(&["--cors-allow-origin", value]).await;
        assert!(
            stderr.contains("cors-allow-origin") && stderr.contains(said),
            "{value}: {stderr}"
        );
    }
}

/// A client as a browser's gRPC-Web library would be: HTTP/1.1 only
/// (plain HTTP here; reqwest wants a TLS configuration all the same). It
/// follows no redirect: tests look at each answer.
pub(crate) fn http1() -> reqwest::Client {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls)
        .build()
        .expect("a client")
}

fn url(server: &TestServer, method: &str) -> String {
    let addr = server.process.addr.as_deref().expect("an API address");
    format!("http://{addr}/selki.webhooks.v1.{method}")
}

struct GrpcWeb<'a> {
    server: &'a TestServer,
    key: &'a str,
}

/// An open server stream and the bytes not yet read as messages.
struct WebStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl<'a> GrpcWeb<'a> {
    fn new(server: &'a TestServer, key: &'a str) -> Self {
        Self { server, key }
    }

    async fn open(&self, method: &str, message: &impl Message) -> WebStream {
        let body = message.encode_to_vec();
        let mut framed = vec![0];
        framed.extend(u32::try_from(body.len()).expect("small").to_be_bytes());
        framed.extend(body);
        let response = http1()
            .post(url(self.server, method))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("origin", CONSOLE)
            .header("authorization", format!("Bearer {}", self.key))
            .body(framed)
            .send()
            .await
            .expect("a gRPC-Web call");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
        assert_eq!(
            response.headers().get("access-control-allow-origin"),
            Some(&http::HeaderValue::from_static(CONSOLE)),
            "a page of the configured origin may read the answer"
        );
        WebStream {
            response,
            buffer: Vec::new(),
        }
    }

    /// The messages and the trailers of a unary call.
    async fn call(&self, method: &str, message: &impl Message) -> (Vec<Vec<u8>>, String) {
        let mut stream = self.open(method, message).await;
        let mut messages = Vec::new();
        loop {
            match stream.next_frame().await {
                Some((0, payload)) => messages.push(payload),
                Some((_, trailers)) => {
                    return (
                        messages,
                        String::from_utf8_lossy(&trailers).to_ascii_lowercase(),
                    );
                }
                // A "trailers-only" answer (an error before any message)
                // carries its status in the headers.
                None => return (messages, stream.status_headers()),
            }
        }
    }
}

impl WebStream {
    /// `grpc-status` and `grpc-message` of the headers, as trailer lines.
    fn status_headers(&self) -> String {
        ["grpc-status", "grpc-message"]
            .iter()
            .filter_map(|name| {
                let value = self.response.headers().get(*name)?.to_str().ok()?;
                Some(format!("{name}:{value}\r\n"))
            })
            .collect::<String>()
            .to_ascii_lowercase()
    }

    /// The next message frame (flag 0), within the suite's patience.
    async fn next_message(&mut self) -> Vec<u8> {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(20), self.next_frame())
            .await
            .expect("a message within 20 s");
        match frame {
            Some((0, payload)) => payload,
            other => panic!("not a message: {other:?}"),
        }
    }

    /// A frame: its flag byte and payload; `None` at the end of the body.
    async fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buffer.len() >= 5 {
                let len =
                    u32::from_be_bytes(self.buffer[1..5].try_into().expect("4 bytes")) as usize;
                if self.buffer.len() >= 5 + len {
                    let flag = self.buffer[0];
                    let payload = self.buffer[5..5 + len].to_vec();
                    self.buffer.drain(..5 + len);
                    return Some((flag, payload));
                }
            }
            let chunk = self.response.chunk().await.expect("reading the body")?;
            self.buffer.extend_from_slice(&chunk);
        }
    }
}

//! One POST against real loopback receivers that misbehave on request.

use std::time::Duration;

use selki_delivery::{Destinations, Egress, Outgoing, Sender};
use selki_domain::{CallOutcome, OrganizationId};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the receiver answers.
#[derive(Clone)]
enum Behaviour {
    Respond(&'static str),
    RespondBytes(Vec<u8>),
    /// Answers before reading anything (a TLS client gets plain HTTP).
    Blurt(&'static str),
    Hang,
    Close,
}

/// A receiver on 127.0.0.1 that records each request it reads.
async fn receiver(behaviour: Behaviour) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let behaviour = behaviour.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Behaviour::Blurt(text) = behaviour {
                    let _ = socket.write_all(text.as_bytes()).await;
                    return;
                }
                let request = read_request(&mut socket).await;
                let _ = tx.send(request);
                match behaviour {
                    Behaviour::Respond(text) => {
                        let _ = socket.write_all(text.as_bytes()).await;
                    }
                    Behaviour::RespondBytes(bytes) => {
                        let _ = socket.write_all(&bytes).await;
                    }
                    Behaviour::Hang => std::future::pending::<()>().await,
                    Behaviour::Blurt(_) => unreachable!("answered above"),
                    Behaviour::Close => {}
                }
            });
        }
    });
    (port, rx)
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn egress() -> Egress {
    Egress {
        connect_timeout: Duration::from_secs(2),
        user_agent: "Selki-Webhooks/test".into(),
        proxy: None,
        internal_excerpt_bytes: selki_delivery::EXCERPT_BYTES,
    }
}

fn loopback_sender() -> Sender {
    let guard = Destinations::new(&["127.0.0.0/8".into()]).expect("cidr");
    Sender::new(guard, egress()).expect("sender")
}

async fn post(sender: &Sender, url: &str, timeout: Duration) -> selki_delivery::Answer {
    let url = url::Url::parse(url).expect("url");
    let headers = vec![
        ("x-custom".to_owned(), "yes".to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    sender
        .send(Outgoing {
            url: &url,
            organization: &OrganizationId::parse("acme").expect("org"),
            headers: &headers,
            body: r#"{"hello":"world"}"#.into(),
            timeout,
        })
        .await
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_2xx_is_a_success_and_the_request_is_sent_as_given() {
    let (port, mut requests) = receiver(Behaviour::Respond(OK)).await;
    let answer = post(
        &loopback_sender(),
        &format!("http://127.0.0.1:{port}/hook"),
        SECOND,
    )
    .await;
    assert_eq!(
        (
            answer.outcome,
            answer.http_status,
            answer.excerpt.as_deref()
        ),
        (CallOutcome::Success, Some(200), Some("ok"))
    );
    let request = requests
        .recv()
        .await
        .expect("one request")
        .to_ascii_lowercase();
    assert!(request.starts_with("post /hook http/1.1"), "{request}");
    assert!(
        request.contains("x-custom: yes") && request.contains("user-agent: selki-webhooks/test"),
        "{request}"
    );
    assert!(request.ends_with(r#"{"hello":"world"}"#), "{request}");
}

#[tokio::test]
async fn other_statuses_are_failures_with_their_code_and_retry_after() {
    let (port, _r) = receiver(Behaviour::Respond(
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-length: 4\r\n\r\nslow",
    ))
    .await;
    let answer = post(
        &loopback_sender(),
        &format!("http://127.0.0.1:{port}/"),
        SECOND,
    )
    .await;
    assert_eq!(
        (answer.outcome, answer.http_status),
        (CallOutcome::HttpStatus, Some(429))
    );
    assert_eq!(answer.retry_after.as_deref(), Some("7"));
    assert!(
        answer.error.as_deref().is_some_and(|e| e.contains("429")),
        "{answer:?}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (port, mut requests) = receiver(Behaviour::Respond(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n",
    ))
    .await;
    let answer = post(
        &loopback_sender(),
        &format!("http://127.0.0.1:{port}/"),
        SECOND,
    )
    .await;
    assert_eq!(
        (answer.outcome, answer.http_status),
        (CallOutcome::HttpStatus, Some(302))
    );
    requests.recv().await.expect("the one request");
    assert!(requests.try_recv().is_err(), "no second request");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let (port, _r) = receiver(Behaviour::Hang).await;
    let answer = post(
        &loopback_sender(),
        &format!("http://127.0.0.1:{port}/"),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(answer.outcome, CallOutcome::Timeout, "{answer:?}");
}

#[tokio::test]
async fn a_receiver_that_hangs_up_gave_an_invalid_response() {
    let (port, _r) = receiver(Behaviour::Close).await;
    let answer = post(
        &loopback_sender(),
        &format!("http://127.0.0.1:{port}/"),
        SECOND,
    )
    .await;
    assert_eq!(answer.outcome, CallOutcome::InvalidResponse, "{answer:?}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let answer = post(
        &loopback_sender(),
        &format!("http://127.0.0.1:{port}/"),
        SECOND,
    )
    .await;
    assert_eq!(answer.outcome, CallOutcome::ConnectError, "{answer:?}");
}

#[tokio::test]
async fn https_to_a_plain_http_receiver_is_a_tls_error() {
    let (port, _r) = receiver(Behaviour::Blurt(OK)).await;
    let answer = post(
        &loopback_sender(),
        &format!("https://127.0.0.1:{port}/"),
        SECOND,
    )
    .await;
    assert_eq!(answer.outcome, CallOutcome::TlsError, "{answer:?}");
}

#[tokio::test]
async fn internal_addresses_are_blocked_by_literal_or_by_name_and_never_contacted() {
    let (port, mut requests) = receiver(Behaviour::Respond(OK)).await;
    let strict = Sender::new(Destinations::default(), egress()).expect("sender");
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        let answer = post(&strict, &url, SECOND).await;
        assert_eq!(
            answer.outcome,
            CallOutcome::BlockedDestination,
            "{url}: {answer:?}"
        );
        assert!(
            answer
                .error
                .as_deref()
                .is_some_and(|e| e.contains("public addresses")),
            "{answer:?}"
        );
    }
    assert!(
        requests.try_recv().is_err(),
        "the receiver was never contacted"
    );
}

#[tokio::test]
async fn a_large_or_binary_answer_is_kept_as_a_marked_excerpt() {
    let mut big = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 100000\r\nconnection: close\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 100_000));
    let (port, _r) = receiver(Behaviour::RespondBytes(big)).await;
    let answer = post(
        &loopback_sender(),
        &format!("http://127.0.0.1:{port}/"),
        SECOND,
    )
    .await;
    let excerpt = answer.excerpt.expect("excerpt");
    assert_eq!(answer.http_status, Some(500));
    assert!(
        excerpt.starts_with("xxx") && excerpt.ends_with("[cut at 16384 bytes]"),
        "{}",
        &excerpt[excerpt.len() - 40..]
    );
    assert_eq!(excerpt.len(), 16_384 + " [cut at 16384 bytes]".len());
    let mut binary = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\n".to_vec();
    binary.extend([0xff, 0xfe, b'!']);
    let (port, _r) = receiver(Behaviour::RespondBytes(binary)).await;
    let answer = post(
        &loopback_sender(),
        &format!("http://127.0.0.1:{port}/"),
        SECOND,
    )
    .await;
    assert!(
        answer
            .excerpt
            .as_deref()
            .is_some_and(|e| e.starts_with("[not UTF-8]")),
        "{answer:?}"
    );
}

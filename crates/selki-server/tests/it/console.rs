//! The console's static files at `/console/` on the gRPC listener: embedded
//! in the binary, with a strict Content-Security-Policy, framed only by the
//! origins `--console-frame-ancestors` names.

use selki_testkit::Db;

use crate::grpc_web::http1;
use crate::harness::TestServer;

const APP: &str = "https://app.selki.example";

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_and_framed_by_no_one_by_default() {
    let Some(server) = TestServer::start(Db::Sqlite).await else {
        return;
    };
    let page = get(&server, "/console/").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    let csp = page.header("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(page.header("cache-control"), "no-cache");

    // Every script and style the page names is served, hashed and kept.
    let assets: Vec<&str> = page
        .body
        .split('"')
        .filter(|s| s.starts_with("/console/assets/"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")),
        "a script in {}",
        page.body
    );
    for asset in assets {
        let file = get(&server, asset).await;
        assert_eq!(file.status, 200, "{asset}");
        let want = match asset.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            other => panic!("an unexpected asset kind {other:?}"),
        };
        assert_eq!(file.header("content-type"), want, "{asset}");
        assert_eq!(
            file.header("cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(
            file.header("content-security-policy")
                .contains("default-src 'none'")
        );
    }

    let bare = get(&server, "/console").await;
    assert_eq!(bare.status, 308);
    assert_eq!(bare.header("location"), "/console/");
    assert_eq!(get(&server, "/console/assets/nothing.js").await.status, 404);
    server.finish().await;
}

#[tokio::test]
async fn the_console_may_be_framed_by_the_configured_origins_only() {
    let args = [
        "--console-frame-ancestors",
        &format!("{APP},http://localhost:3000"),
    ];
    let Some(server) = TestServer::start_with(Db::Sqlite, &args, None).await else {
        return;
    };
    let page = get(&server, "/console/").await;
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains(&format!("frame-ancestors {APP} http://localhost:3000")),
        "{csp}"
    );
    assert_eq!(
        page.header("x-frame-options"),
        "",
        "CSP says who may frame it"
    );
    server.finish().await;
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let Some(server) = TestServer::start_with(Db::Sqlite, &["--console", "false"], None).await
    else {
        return;
    };
    assert_eq!(get(&server, "/console/").await.status, 404);
    server.finish().await;
}

#[tokio::test]
async fn a_wildcard_or_a_path_is_not_a_frame_ancestor() {
    for value in ["*", "https://app.selki.example/embed", "'self'"] {
        let stderr = crate::harness::refused_at_start(&["--console-frame-ancestors", value]).await;
        assert!(
            stderr.contains("console-frame-ancestors"),
            "{value}: {stderr}"
        );
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    /// The header's value, or "" when it is not there.
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }
}

async fn get(server: &TestServer, path: &str) -> Answer {
    let addr = server.process.addr.as_deref().expect("an API address");
    let response = http1()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .expect("an answer");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("a body"),
    }
}

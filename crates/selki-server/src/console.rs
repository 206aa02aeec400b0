//! The console's static files at `/console/`, embedded in the binary (see
//! build.rs), with a strict Content-Security-Policy: the page runs only its
//! own scripts and styles, talks only to this server, and is framed only
//! by the origins `--console-frame-ancestors` names.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tonic::body::Body;

include!(concat!(env!("OUT_DIR"), "/console_files.rs"));

const PREFIX: &str = "/console/";

/// Serves the console's paths on the gRPC listener and hands every other
/// request on. It sits before tonic-web, which answers 400 to any HTTP/1.1
/// request that is not gRPC-Web (a browser's GET).
#[derive(Clone)]
pub(crate) struct ConsoleLayer {
    router: Option<axum::Router>,
}

impl ConsoleLayer {
    /// The console, framed only by `frame_ancestors`; `None`: no console.
    pub(crate) fn new(frame_ancestors: Option<&[HeaderValue]>) -> Self {
        Self {
            router: frame_ancestors.map(router),
        }
    }
}

impl<S> tower_layer::Layer<S> for ConsoleLayer {
    type Service = ConsoleOr<S>;

    fn layer(&self, inner: S) -> ConsoleOr<S> {
        ConsoleOr {
            router: self.router.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub(crate) struct ConsoleOr<S> {
    router: Option<axum::Router>,
    inner: S,
}

type Answer<E> = Pin<Box<dyn Future<Output = Result<http::Response<Body>, E>> + Send>>;

/// An API call's own future, unboxed: the console costs the API a path
/// check, nothing more.
type Either<F, E> = tokio_util::either::Either<F, Answer<E>>;

impl<S> tower_service::Service<http::Request<Body>> for ConsoleOr<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if !request.uri().path().starts_with("/console") {
            return Either::Left(self.inner.call(request));
        }
        let Some(router) = &self.router else {
            let off = (
                StatusCode::NOT_FOUND,
                "the console is turned off (--console false)\n",
            );
            return Either::Right(Box::pin(std::future::ready(Ok(off
                .into_response()
                .map(Body::new)))));
        };
        // An axum Router is always ready, and never fails.
        let answer = tower_service::Service::call(&mut router.clone(), request);
        Either::Right(Box::pin(async move {
            let answer: Result<Response, Infallible> = answer.await;
            let Ok(answer) = answer;
            Ok(answer.map(Body::new))
        }))
    }
}

/// The console's routes.
fn router(frame_ancestors: &[HeaderValue]) -> axum::Router {
    let headers = Headers::new(frame_ancestors);
    let index = headers.clone();
    axum::Router::new()
        .route("/console", get(|| async { Redirect::permanent(PREFIX) }))
        .route(
            "/console/",
            get(move || async move { index.file("index.html") }),
        )
        .route(
            "/console/{*path}",
            get(move |uri: Uri| async move {
                let path = uri.path().strip_prefix(PREFIX).unwrap_or_default();
                headers.file(path)
            }),
        )
}

/// What every answer carries.
#[derive(Clone)]
struct Headers {
    policy: HeaderValue,
    /// For browsers that predate `frame-ancestors`, when no one may frame.
    deny_framing: bool,
}

impl Headers {
    fn new(frame_ancestors: &[HeaderValue]) -> Self {
        let ancestors = match frame_ancestors {
            [] => "'none'".to_owned(),
            origins => origins
                .iter()
                .filter_map(|o| o.to_str().ok())
                .collect::<Vec<_>>()
                .join(" "),
        };
        // `img-src data:` for the favicon; nothing inline, nothing eval'd.
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
        );
        Self {
            policy: HeaderValue::from_str(&policy).expect("origins are valid header values"),
            deny_framing: frame_ancestors.is_empty(),
        }
    }

    fn file(&self, path: &str) -> Response {
        let Some((_, bytes)) = FILES.iter().find(|(name, _)| *name == path) else {
            return (StatusCode::NOT_FOUND, "no such console file\n").into_response();
        };
        // Hashed names never change content; the page itself is revalidated.
        let cache = match path.starts_with("assets/") {
            true => "public, max-age=31536000, immutable",
            false => "no-cache",
        };
        let mut response = (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(path)),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
                (header::CONTENT_SECURITY_POLICY, self.policy.clone()),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
            ],
            *bytes,
        )
            .into_response();
        if self.deny_framing {
            response
                .headers_mut()
                .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        response
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

//! Serving a router: hyper's HTTP/1.1 connections on tokio's multi-thread
//! runtime, each bounded in time and in number, and stopped gracefully.
//!
//! hyper-util's pieces rather than `axum::serve`, which sets none of
//! hyper's connection options: a connection here has hyper's
//! `header_read_timeout` (with hyper-util's `TokioTimer`), and its socket a
//! write timeout. What each protection is:
//!
//! | a client that… | is stopped by |
//! |---|---|
//! | sends a request head slowly, or leaves a kept-alive connection idle | hyper's `header_read_timeout` (`client_timeout`) |
//! | stops sending a body its handler reads | tower-http's `RequestBodyTimeoutLayer` (`client_timeout` without a frame) |
//! | does not take its answers (pipelining requests it never reads) | tokio-io-timeout's write timeout on the socket (`client_timeout` without progress) |
//! | opens more connections than `max_connections` | a `tokio::sync::Semaphore`: past it nothing is accepted, new connections wait in the listen backlog |
//! | sends a URI or header fields larger than this server takes | [`MAX_URI_BYTES`], [`MAX_HEADER_BYTES`]: a JSON `414` or `431` |
//! | sends a head hyper cannot parse, or larger than hyper reads | hyper's own `400`/`414`/`431`, given a JSON body ([`crate::hyper_answers`]) |
//!
//! A handler that runs long is the router's to bound
//! (`invitation_http::AppState::with_request_timeout`). The socket has no
//! read timeout: hyper keeps a read pending while a handler runs, to notice
//! a client that goes away, and a read timeout would cut off handlers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use invitation_http::{detail_body, detail_response, AccessLogLayer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::{Layer as _, ServiceBuilder, ServiceExt as _};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutBody};

use crate::hyper_answers::JsonHyperAnswers;

/// The longest request URI taken, in bytes; a longer one is answered
/// `414 uri_too_long`. hyper's own limit is 65,534.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most bytes of header fields taken (each counted as
/// `name: value\r\n`); more are answered `431 headers_too_large`. hyper
/// reads a head of up to about 400 KiB, and at most 100 fields.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How [`serve`] bounds its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long a connection may keep the server waiting for its client
    /// (a request head, the next frame of a body its handler reads,
    /// progress in taking an answer), or `None` for no limit.
    pub client_timeout: Option<Duration>,
    /// The most connections served at once; past it, new connections wait
    /// in the listen backlog until one closes.
    pub max_connections: usize,
    /// After shutdown, how long requests in flight may take to finish.
    pub grace: Duration,
}

impl Default for ServeOptions {
    /// 30 s client timeout, 1,024 connections, 30 s grace.
    fn default() -> Self {
        Self {
            client_timeout: Some(Duration::from_secs(30)),
            max_connections: 1024,
            grace: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops
/// accepting, lets every connection finish the request it is answering
/// (for at most `options.grace`; idle connections close at once), and
/// returns. Every request carries its peer's `ConnectInfo<SocketAddr>`.
///
/// `router` must answer every request with a body when its status is 400,
/// 414 or 431 (every refusal of invitation-http does): a bodiless one is
/// taken for hyper's own ([`crate::hyper_answers`]).
///
/// It does not fail: an error accepting a connection (out of file
/// descriptors, say) is logged and retried a second later, as
/// `axum::serve` does (axum's `Listener`), and a connection's error ends
/// that connection only.
pub async fn serve<F>(listener: TcpListener, router: Router, options: ServeOptions, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.client_timeout);
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    let mut listener = listener;
    loop {
        // A permit first: past the cap nothing is accepted.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let io = TokioIo::new(JsonHyperAnswers::new(socket(
            stream,
            options.client_timeout,
        )));
        let service = TowerToHyperService::new(connection_service(
            router.clone(),
            peer,
            options.client_timeout,
        ));
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(client = %peer, error = %e, "connection closed on an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!(
                grace_secs = options.grace.as_secs(),
                "requests still running after the grace period; exiting"
            );
        }
    }
}

/// An accepted socket: Nagle's algorithm off, so that an answer written
/// while an earlier one is unacknowledged (pipelined requests) goes out at
/// once rather than after the client's delayed ACK, and writes that make
/// no progress for `client_timeout` failing.
fn socket(
    stream: TcpStream,
    client_timeout: Option<Duration>,
) -> std::pin::Pin<Box<TimeoutStream<TcpStream>>> {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(client_timeout);
    Box::pin(stream)
}

/// The router as one connection serves it: with its peer's address, its
/// request bodies timed, and request heads over this server's limits
/// refused.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    client_timeout: Option<Duration>,
) -> impl tower::Service<
    Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send {
    // Without a client timeout, a body's timer is set past any request's
    // life.
    let body_timeout = client_timeout.unwrap_or(Duration::MAX);
    ServiceBuilder::new()
        .layer(axum::Extension(ConnectInfo(peer)))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .map_request(|request: Request<TimeoutBody<Incoming>>| request.map(Body::new))
        .layer(axum::middleware::from_fn(head_limits))
        .service(router)
}

/// Refuses a request whose URI or header fields are over this server's
/// limits, with the JSON answer the router would give, logged as the
/// router logs its requests (route `-`).
async fn head_limits(request: Request, next: Next) -> Response {
    let Some(refusal) = over_limits(&request) else {
        return next.run(request).await;
    };
    let answer =
        tower::service_fn(move |_: Request| async move { Ok::<_, Infallible>(refusal.response()) });
    match AccessLogLayer::new("-")
        .layer(answer)
        .oneshot(request)
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// What a request over the limits is answered, if it is.
fn over_limits(request: &Request) -> Option<&'static Refusal> {
    let uri = request.uri();
    let uri_bytes = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.scheme_str().map_or(0, |s| s.len() + 3);
    if uri_bytes > MAX_URI_BYTES {
        return Some(&URI_TOO_LONG);
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    (header_bytes > MAX_HEADER_BYTES).then_some(&HEADERS_TOO_LARGE)
}

/// A request head this server refuses, and its JSON answer
/// (`{"detail": ..., "code": ...}`, as invitation-http writes it).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    detail: &'static str,
    code: &'static str,
}

impl Refusal {
    /// The answer's body.
    pub(crate) fn body(&self) -> Vec<u8> {
        detail_body(self.detail, self.code)
    }

    fn response(&self) -> Response {
        detail_response(self.status, self.detail, self.code)
    }
}

/// A URI over [`MAX_URI_BYTES`], or over hyper's own limit.
pub(crate) const URI_TOO_LONG: Refusal = Refusal {
    status: StatusCode::URI_TOO_LONG,
    detail: "The request URI is too long.",
    code: "uri_too_long",
};

/// Header fields over [`MAX_HEADER_BYTES`], or over hyper's own limits.
pub(crate) const HEADERS_TOO_LARGE: Refusal = Refusal {
    status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    detail: "The request's header fields are too large.",
    code: "headers_too_large",
};

/// A request head hyper cannot parse.
pub(crate) const BAD_REQUEST: Refusal = Refusal {
    status: StatusCode::BAD_REQUEST,
    detail: "Malformed request.",
    code: "bad_request",
};

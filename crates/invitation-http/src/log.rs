//! One access-log line per request.
//!
//! A tower layer around each route (not `axum::middleware::from_fn`), so
//! that each route's line names its template without looking it up, and
//! so that a host or a server can put the same line on answers it makes
//! before the router ([`AccessLogLayer::new`] with `"-"`).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::HttpBody;
use axum::extract::{ConnectInfo, Request};
use axum::http::Method;
use axum::response::Response;
use tower::{Layer, Service};

/// Where access lines are logged.
pub const ACCESS_LOG_TARGET: &str = "invitation_http::access";

/// Logs one line per request at `info` on target
/// [`ACCESS_LOG_TARGET`]: `method`, `route` (the template, never the pk or
/// the query), `status`, `latency_us`, `bytes` (of the response body) and
/// `client` (the peer address from the request's
/// `ConnectInfo<SocketAddr>` extension, `-` without one). A request whose
/// answer is never produced, because its future was dropped (the client
/// went away, or the server stopped waiting), is logged with
/// `status="aborted"`. Never a header (so never a token) and never a body.
#[derive(Debug, Clone, Copy)]
pub struct AccessLogLayer {
    route: &'static str,
}

impl AccessLogLayer {
    /// For the route with this template (`-` for no route).
    pub fn new(route: &'static str) -> Self {
        Self { route }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog {
            inner,
            route: self.route,
        }
    }
}

/// The service [`AccessLogLayer`] wraps around a route.
#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
    route: &'static str,
}

impl<S, B> Service<Request> for AccessLog<S>
where
    S: Service<Request, Response = Response<B>>,
    B: HttpBody,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let line =
            tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO).then(|| Line {
                started: Instant::now(),
                method: request.method().clone(),
                route: self.route,
                client: Client(
                    request
                        .extensions()
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|ConnectInfo(address)| *address),
                ),
            });
        Logged {
            inner: self.inner.call(request),
            line,
        }
    }
}

/// What is known of a request before it is answered.
struct Line {
    started: Instant,
    method: Method,
    route: &'static str,
    client: Client,
}

/// The peer address, `-` when unknown.
#[derive(Clone, Copy)]
struct Client(Option<SocketAddr>);

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(address) => address.fmt(f),
            None => f.write_str("-"),
        }
    }
}

impl Line {
    fn latency_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn answered(self, status: u16, bytes: u64) {
        // The message as a `str` field rather than the macro's trailing
        // format string: the same text either way.
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            message = "request",
            method = %self.method,
            route = self.route,
            status,
            latency_us = self.latency_us(),
            bytes,
            client = %self.client,
        );
    }

    fn aborted(self) {
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            message = "request",
            method = %self.method,
            route = self.route,
            status = "aborted",
            latency_us = self.latency_us(),
            bytes = 0_u64,
            client = %self.client,
        );
    }
}

pin_project_lite::pin_project! {
    /// The inner response future; logs the line when it is ready, or when
    /// it is dropped before.
    pub struct Logged<F> {
        #[pin]
        inner: F,
        line: Option<Line>,
    }

    impl<F> PinnedDrop for Logged<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(line) = this.project().line.take() {
                line.aborted();
            }
        }
    }
}

impl<F, B, E> Future for Logged<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: HttpBody,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some(line) = this.line.take() {
            match &result {
                // Every body this API answers is whole in memory, so its
                // size is known exactly; a streamed one logs what it
                // announces at least.
                Ok(response) => line.answered(
                    response.status().as_u16(),
                    response.body().size_hint().lower(),
                ),
                Err(_) => line.aborted(),
            }
        }
        Poll::Ready(result)
    }
}

//! One access-log line per request.
//!
//! A tower layer rather than `axum::middleware::from_fn`: `from_fn` boxes
//! and clones the rest of the stack for every request, which cost about
//! 1,500 instructions per request here (docs/performance.md).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use tower::{Layer, Service};

/// Where access lines are logged.
pub(crate) const TARGET: &str = "invitation_http::access";

/// Logs method, route (the template, never the pk or the query), status
/// and latency at `info` on target `invitation_http::access`. Never a
/// header (so never a token) and never a body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessLogLayer {
    route: &'static str,
}

impl AccessLogLayer {
    /// For the route with this template (`-` for no route).
    pub(crate) fn new(route: &'static str) -> Self {
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

/// The service [`AccessLogLayer`] wraps around each route.
#[derive(Debug, Clone)]
pub(crate) struct AccessLog<S> {
    inner: S,
    route: &'static str,
}

impl<S, B> Service<Request> for AccessLog<S>
where
    S: Service<Request, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let line = tracing::enabled!(target: TARGET, tracing::Level::INFO).then(|| Line {
            started: Instant::now(),
            method: request.method().clone(),
            route: self.route,
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
}

pin_project_lite::pin_project! {
    /// The inner response future; logs the line when it is ready.
    pub(crate) struct Logged<F> {
        #[pin]
        inner: F,
        line: Option<Line>,
    }
}

impl<F, B, E> Future for Logged<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Some(line), Ok(response)) = (this.line.take(), &result) {
            // The message as a `str` field rather than the macro's
            // trailing format string: formatters get it through
            // `record_str` instead of `fmt` (the same text either way).
            tracing::info!(
                target: TARGET,
                message = "request",
                method = %line.method,
                route = line.route,
                status = response.status().as_u16(),
                latency_us = u64::try_from(line.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            );
        }
        Poll::Ready(result)
    }
}

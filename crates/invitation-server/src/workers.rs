//! Serving a router on worker threads that each run their own
//! single-threaded tokio runtime, with connections handed out in turn.
//!
//! One accepting task takes every connection off the listener and hands it
//! to the next worker; a connection then stays on its worker, which reads
//! its requests, runs the handlers and writes the answers without ever
//! waking another thread. tokio's work-stealing runtime, by contrast, has an
//! idle worker woken to steal whenever another finds more than one task
//! ready, and on a machine whose cores are shared with other processes
//! (its clients, its database) those wake-ups and the preemptions they cause
//! cost more than they save: on the create benchmark of
//! `docs/performance.md`, the same server answered about 12 % more requests
//! per second this way, and made a tenth of the futex and eventfd calls.
//!
//! The price is that nothing moves between workers: a connection whose
//! requests are slow holds up the other connections of its worker only.
//! Every handler here is short (the memory store is a map under a lock; a
//! PostgreSQL call waits without blocking its thread), which is what this
//! model needs.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// A connection accepted by the acceptor, on its way to a worker.
type Handed = (std::net::TcpStream, SocketAddr);

/// An accepted connection made ready for its worker: Nagle's algorithm
/// off, then taken off the acceptor's runtime. With Nagle on, an answer
/// written while an earlier one is not yet acknowledged (pipelined
/// requests) waits for the client's delayed ACK, about 40 ms on Linux
/// (`scripts/pipelined-gets.py`). A connection whose option cannot be set
/// is served anyway.
fn to_hand_off(stream: TcpStream) -> io::Result<std::net::TcpStream> {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
    stream.into_std()
}

/// How long [`serve`] waits for clients and for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// After shutdown, how long the requests in flight may take to finish
    /// before [`serve`] returns anyway.
    pub grace: Duration,
    /// How long a connection may keep the server waiting for it, or `None`
    /// for no limit. A connection waits for its client before a request's
    /// head is complete (the connection's first, or the next one on a
    /// kept-alive connection), while its handler waits for more of the
    /// request's body, and while an answer is not taken by the client. A
    /// connection that waits this long with no request head completed, no
    /// body bytes received and no answer bytes taken is closed (between
    /// this long and two ticks more; a tick is an eighth of it, at most a
    /// second). So a client that sends a head a line at a time
    /// (slowloris), one that stops sending a body it announced, one that
    /// never reads its answers, and a kept-alive connection left idle are
    /// closed; a handler that runs longer (waiting for its database, say)
    /// is never cut off by this.
    pub client_timeout: Option<Duration>,
}

/// Serves on `listener` with `workers` worker threads, worker `i` serving
/// the router `app_for(i)` (the same one cloned, or one per worker when
/// each should have resources of its own), until
/// `shutdown` completes; then stops accepting, lets every connection finish
/// the request it is answering (at most `timeouts.grace`), and returns.
/// Connections that keep the server waiting longer than
/// `timeouts.client_timeout` are closed.
///
/// Must be called from inside a tokio runtime (any flavour, with time
/// enabled): the accepting task and the one that closes connections that
/// keep the server waiting run there, the workers on threads of their own.
///
/// # Errors
/// A worker thread or its runtime could not be started, or a worker
/// stopped before `shutdown` completed.
pub async fn serve<F, A>(
    listener: TcpListener,
    app_for: A,
    workers: NonZeroUsize,
    shutdown: F,
    timeouts: Timeouts,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
    A: Fn(usize) -> Router,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel::<io::Result<()>>();
    // The sweeper is aborted when `serve` returns, however it does.
    let (watchlist, _sweeper) = match timeouts.client_timeout {
        Some(limit) => {
            let list = Watchlist::default();
            let sweeping = tokio::spawn(sweep_every_tick(list.clone(), limit));
            (Some(list), Some(AbortOnDrop(sweeping.abort_handle())))
        }
        None => (None, None),
    };
    let mut queues = Vec::with_capacity(workers.get());
    for index in 0..workers.get() {
        let (queue, incoming) = mpsc::unbounded_channel();
        queues.push(queue);
        let app = app_for(index);
        let stop = stop_rx.clone();
        let ended = ended_tx.clone();
        let watchlist = watchlist.clone();
        let started = std::thread::Builder::new()
            .name(format!("http-worker-{index}"))
            .spawn(move || {
                let run = || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map(|runtime| {
                            runtime.block_on(serve_handed(incoming, app, stop, watchlist))
                        })
                };
                // A panic here would be a bug in a dependency (handlers'
                // panics are answered 500 by the router): reported, not lost.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                    .unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")));
                let _ = ended.send(outcome);
            });
        if let Err(e) = started {
            let _ = stop_tx.send(true);
            return Err(e);
        }
    }
    drop(ended_tx);

    let accept = async {
        let mut listener = listener;
        let mut next = 0;
        loop {
            // axum's own accept: it retries after a connection's error, and
            // waits a second after the listener's (out of file descriptors).
            let (stream, peer) = axum::serve::Listener::accept(&mut listener).await;
            match to_hand_off(stream) {
                Ok(stream) => {
                    // Only a worker that has stopped drops its queue.
                    if queues[next].send((stream, peer)).is_err() {
                        return io::Error::other(format!("worker {next} stopped"));
                    }
                    next = (next + 1) % queues.len();
                }
                Err(e) => tracing::warn!(error = %e, "cannot hand a connection to a worker"),
            }
        }
    };
    // Before shutdown, a worker that ends is a failure.
    let failure = tokio::select! {
        e = accept => Some(e),
        () = shutdown => None,
        ended = ended_rx.recv() => Some(match ended {
            Some(Err(e)) => e,
            _ => io::Error::other("a worker thread stopped"),
        }),
    };
    // The listener went with `accept`: nothing more is accepted.
    drop(queues);
    let _ = stop_tx.send(true);
    if let Some(e) = failure {
        return Err(e);
    }
    tracing::info!("shutting down: finishing in-flight requests");
    let all_ended = async {
        let mut failure = None;
        while let Some(outcome) = ended_rx.recv().await {
            if let Err(e) = outcome {
                failure.get_or_insert(e);
            }
        }
        failure
    };
    match tokio::time::timeout(timeouts.grace, all_ended).await {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(_) => {
            tracing::warn!(
                grace_secs = timeouts.grace.as_secs(),
                "requests still running after the grace period; exiting"
            );
            Ok(())
        }
    }
}

/// One worker: serves the connections handed to it until `stop` turns
/// true (or its sender is gone) or no more are handed, then asks every open
/// connection to close once its request in flight is answered, and returns
/// when the last one has. Each connection is put on `watchlist`, when
/// there is one.
async fn serve_handed(
    mut incoming: mpsc::UnboundedReceiver<Handed>,
    app: Router,
    mut stop: watch::Receiver<bool>,
    watchlist: Option<Watchlist>,
) {
    let drain = Arc::new(Drain::default());
    // Every connection holds a clone; `recv` answers `None` once all are gone.
    let (open, mut all_closed) = mpsc::channel::<Infallible>(1);
    loop {
        let handed = tokio::select! {
            handed = incoming.recv() => handed,
            // A dropped sender stops the worker too.
            _ = stop.wait_for(|stopping| *stopping) => None,
        };
        let Some((stream, _peer)) = handed else {
            break;
        };
        // Registers the connection with this worker's runtime.
        match TcpStream::from_std(stream) {
            Ok(stream) => {
                let progress = Arc::new(Progress::default());
                let task = tokio::spawn(serve_connection(
                    stream,
                    app.clone(),
                    Arc::clone(&progress),
                    Arc::clone(&drain),
                    open.clone(),
                ));
                if let Some(list) = &watchlist {
                    list.watch(progress, task.abort_handle());
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot take a handed connection"),
        }
    }
    drop(incoming);
    drain.start();
    drop(open);
    let _ = all_closed.recv().await;
}

/// Tells a worker's connections to close when their request in flight is
/// answered.
#[derive(Debug, Default)]
struct Drain {
    started: AtomicBool,
    notify: Notify,
}

impl Drain {
    fn start(&self) {
        self.started.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

/// Where one connection is, for [`sweep_every_tick`]: a count that moves
/// on whenever the client does something the server was waiting for (a
/// request's head completed, body bytes received, answer bytes taken), in
/// steps of [`STEP`]; the [`IN_FLIGHT`] bit, set from a request's head
/// until its answer starts going out; and the [`BODY_WANTED`] bit, set
/// while the request's handler waits for more of its body.
///
/// Written only by the connection's own task, so each change is a plain
/// load and store (no read-modify-write instruction on the request path).
#[derive(Debug, Default)]
struct Progress(AtomicU32);

/// [`Progress`]'s bit for a request in flight.
const IN_FLIGHT: u32 = 1;

/// [`Progress`]'s bit for a handler waiting for more of its request's body.
const BODY_WANTED: u32 = 2;

/// What [`Progress`]'s count moves by: the value of its lowest bit above the
/// flags.
const STEP: u32 = 4;

impl Progress {
    fn set(&self, update: impl FnOnce(u32) -> u32) {
        let now = self.0.load(Ordering::Relaxed);
        self.0.store(update(now), Ordering::Relaxed);
    }

    /// A request's head is complete: the request is in flight.
    fn head_read(&self) {
        self.set(|now| (now.wrapping_add(STEP) & !BODY_WANTED) | IN_FLIGHT);
    }

    /// The handler asked for more of the body: `arrived` tells whether the
    /// body had it (a frame, its end or an error) or the handler now waits
    /// for the client.
    fn body_polled(&self, arrived: bool) {
        self.set(|now| {
            if arrived {
                now.wrapping_add(STEP) & !BODY_WANTED
            } else {
                now | BODY_WANTED
            }
        });
    }

    /// The handler no longer reads the body.
    fn body_dropped(&self) {
        self.set(|now| now & !BODY_WANTED);
    }

    /// Whether the connection is waiting for its client (see
    /// [`Timeouts::client_timeout`]), by a value of [`Progress::now`].
    fn waits_for_client(now: u32) -> bool {
        now & IN_FLIGHT == 0 || now & BODY_WANTED != 0
    }

    /// The client took bytes of a write that starts with `head()`. While a
    /// request is in flight, the first write that is not an interim answer
    /// (hyper's `100 Continue` to a request that expects it, before its
    /// body) starts the request's answer: from then on the connection waits
    /// for its client again. `head` is only called then.
    fn written<'a>(&self, head: impl FnOnce() -> &'a [u8]) {
        self.set(|now| {
            if now & IN_FLIGHT != 0 && !head().starts_with(b"HTTP/1.1 1") {
                now.wrapping_add(STEP) & !IN_FLIGHT
            } else {
                now.wrapping_add(STEP)
            }
        });
    }

    fn now(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every worker's connections, for [`sweep_every_tick`].
#[derive(Debug, Default, Clone)]
struct Watchlist(Arc<Mutex<Vec<Watched>>>);

/// A connection on the [`Watchlist`].
#[derive(Debug)]
struct Watched {
    progress: Arc<Progress>,
    task: AbortHandle,
    /// `progress` at the previous tick.
    seen: u32,
    /// Ticks since `progress` last moved, counted while the connection
    /// waits for its client.
    waiting: u32,
}

impl Watchlist {
    fn watch(&self, progress: Arc<Progress>, task: AbortHandle) {
        let seen = progress.now();
        self.lock().push(Watched {
            progress,
            task,
            seen,
            waiting: 0,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Watched>> {
        // Nothing panics while holding it; a poisoned list is still whole.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Closes, on every tick, the connections on `list` that have kept the
/// server waiting for `limit` (see [`Timeouts::client_timeout`]), and
/// forgets those that have closed. A tick is an eighth of `limit`, at most
/// a second; a connection is closed at the first tick after `limit` has
/// passed whole without progress, so between `limit` and two ticks more.
///
/// It runs on the accepting task's runtime, not on the workers': a timer
/// on a worker's runtime costs every park of that worker a look at the
/// clock and the timer wheel, about 180 instructions per request.
async fn sweep_every_tick(list: Watchlist, limit: Duration) {
    let tick = (limit / 8).clamp(Duration::from_millis(1), Duration::from_secs(1));
    let mut ticks = tokio::time::interval_at(Instant::now() + tick, tick);
    // A late tick is not made up for by early ones: ticks are never less
    // than `tick` apart, so a connection is never closed early.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // One more than fit in the limit: a connection's first tick may come
    // at once.
    let fit = limit.as_nanos().div_ceil(tick.as_nanos());
    let ticks_allowed = u32::try_from(fit).unwrap_or(u32::MAX).saturating_add(1);
    loop {
        ticks.tick().await;
        list.lock().retain_mut(|connection| {
            if connection.task.is_finished() {
                return false;
            }
            let now = connection.progress.now();
            if now != connection.seen || !Progress::waits_for_client(now) {
                connection.seen = now;
                connection.waiting = 0;
                return true;
            }
            connection.waiting += 1;
            if connection.waiting < ticks_allowed {
                return true;
            }
            // Dropping the connection's future closes its socket.
            connection.task.abort();
            tracing::debug!("closed a connection that kept the server waiting too long");
            false
        });
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The connection's socket, noting in its [`Progress`] when the client
/// takes answer bytes.
struct Watching {
    stream: TcpStream,
    progress: Arc<Progress>,
}

impl AsyncRead for Watching {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watching {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(1..)) = written {
            self.progress.written(|| buf);
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(1..)) = written {
            let first = || {
                bufs.iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &b[..])
            };
            self.progress.written(first);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router as hyper calls it, noting in the connection's [`Progress`]
/// when a request's head is complete, and handing the router the body as
/// [`Awaited`].
struct Answering {
    router: TowerToHyperService<Router>,
    progress: Arc<Progress>,
}

impl hyper::service::Service<Request<Incoming>> for Answering {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = TowerToHyperServiceFuture<Router, Request<Awaited>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.progress.head_read();
        self.router.call(request.map(|body| Awaited {
            body,
            progress: Arc::clone(&self.progress),
        }))
    }
}

/// A request's body, noting in the connection's [`Progress`] while the
/// handler waits for the client to send more of it, and each time more
/// arrives.
///
/// Polled by the handler, which runs in the connection's own task, as
/// [`Progress`] needs.
struct Awaited {
    body: Incoming,
    progress: Arc<Progress>,
}

impl hyper::body::Body for Awaited {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        self.progress.body_polled(polled.is_ready());
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Awaited {
    fn drop(&mut self) {
        self.progress.body_dropped();
    }
}

/// Serves HTTP/1.1 on one connection until the client closes it, or until
/// the worker drains and the request in flight (if any) is answered.
///
/// This is what `axum::serve` does for a connection, for less: it polls a
/// shutdown future beside the connection every time the connection is
/// woken, and reads through hyper-util's connection that looks for an
/// HTTP/2 preface first, where this registers for the drain once, then
/// reads a flag, and speaks HTTP/1.1 directly (730 fewer instructions per
/// request, docs/performance.md). HTTP/1.1 only, as `axum::serve` is
/// without axum's `http2` feature. hyper's own header read timeout is off:
/// it arms a timer for every request, where [`sweep_every_tick`] does the
/// job from `progress`, which costs a request a few plain stores.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    progress: Arc<Progress>,
    drain: Arc<Drain>,
    _open: mpsc::Sender<Infallible>,
) {
    // Registered (polled once) before the flag is first read: a drain that
    // starts later wakes this task, one that started earlier set the flag.
    let mut drained = pin!(drain.notify.notified());
    let _ = std::future::poll_fn(|cx| Poll::Ready(drained.as_mut().poll(cx))).await;
    let mut draining = false;
    let socket = Watching {
        stream,
        progress: Arc::clone(&progress),
    };
    let service = Answering {
        router: TowerToHyperService::new(app),
        progress,
    };
    let mut connection = pin!(hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(socket), service));
    let served = std::future::poll_fn(|cx| {
        if !draining && drain.started.load(Ordering::Acquire) {
            draining = true;
            connection.as_mut().graceful_shutdown();
        }
        connection.as_mut().poll(cx)
    })
    .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    use axum::routing::get;
    use tokio::sync::oneshot;

    /// The size of `/big`'s answer: more than loopback sockets buffer.
    const BIG: usize = 32 << 20;

    /// Answers with the name of the thread that ran the handler.
    fn thread_name_app() -> Router {
        Router::new()
            .route(
                "/thread",
                get(|| async { std::thread::current().name().unwrap_or("?").to_owned() }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    "finished"
                }),
            )
            .route("/big", get(|| async { vec![b'x'; BIG] }))
            .route(
                "/length",
                axum::routing::post(
                    |body: axum::body::Bytes| async move { body.len().to_string() },
                ),
            )
            .route(
                "/length-then-slow",
                axum::routing::post(|body: axum::body::Bytes| async move {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    body.len().to_string()
                }),
            )
            .route(
                "/stuck",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "finished"
                }),
            )
    }

    /// `serve` running in the test's runtime on a free port.
    struct Serving {
        url: String,
        stop: oneshot::Sender<()>,
        served: tokio::task::JoinHandle<io::Result<()>>,
    }

    impl Serving {
        /// Stops serving; `serve` must return `Ok`.
        async fn stop(self) {
            self.stop.send(()).unwrap();
            self.served.await.unwrap().unwrap();
        }
    }

    /// Serves [`thread_name_app`] on `workers` workers, with a grace period
    /// of 5 s and no client timeout.
    async fn start(workers: usize) -> Serving {
        let timeouts = Timeouts {
            grace: Duration::from_secs(5),
            client_timeout: None,
        };
        start_with(workers, timeouts).await
    }

    /// Serves [`thread_name_app`] on one worker with a client timeout.
    async fn start_watching(client_timeout: Duration) -> Serving {
        let timeouts = Timeouts {
            grace: Duration::from_secs(5),
            client_timeout: Some(client_timeout),
        };
        start_with(1, timeouts).await
    }

    async fn start_with(workers: usize, timeouts: Timeouts) -> Serving {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let app = thread_name_app();
        let served = tokio::spawn(serve(
            listener,
            move |_| app.clone(),
            NonZeroUsize::new(workers).unwrap(),
            async move {
                let _ = stopped.await;
            },
            timeouts,
        ));
        Serving { url, stop, served }
    }

    /// Runs `f` on a thread that may block (the tests' raw sockets are std's).
    async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        tokio::task::spawn_blocking(f).await.unwrap()
    }

    /// One client per connection: each reqwest client has its own pool.
    fn one_connection() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_connection_is_handed_to_its_worker_with_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(
            !accepted.nodelay().unwrap(),
            "accepted sockets start with Nagle on"
        );
        let handed = to_hand_off(accepted).unwrap();
        assert!(handed.nodelay().unwrap());
        drop(client);
    }

    #[tokio::test]
    async fn connections_are_handed_to_the_workers_in_turn_and_stay_on_theirs() {
        let server = start(3).await;
        let url = &server.url;
        let mut per_worker: HashMap<String, usize> = HashMap::new();
        for _ in 0..6 {
            let client = one_connection();
            let mut seen = HashSet::new();
            for _ in 0..3 {
                let name = client
                    .get(format!("{url}/thread"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                seen.insert(name);
            }
            assert_eq!(seen.len(), 1, "one connection, one worker: {seen:?}");
            let name = seen.into_iter().next().unwrap();
            assert!(name.starts_with("http-worker-"), "{name}");
            *per_worker.entry(name).or_default() += 1;
        }
        assert_eq!(per_worker.len(), 3, "{per_worker:?}");
        assert!(per_worker.values().all(|&n| n == 2), "{per_worker:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_request_in_flight_at_shutdown_is_answered_then_serve_returns_and_accepts_no_more() {
        let Serving { url, stop, served } = start(2).await;
        let slow = tokio::spawn({
            let url = url.clone();
            async move { one_connection().get(format!("{url}/slow")).send().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        let answer = slow.await.unwrap().unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "finished");
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("serve returns once the last request is answered")
            .unwrap()
            .unwrap();
        assert!(one_connection()
            .get(format!("{url}/thread"))
            .send()
            .await
            .is_err());
    }

    #[tokio::test]
    async fn a_request_longer_than_the_grace_period_does_not_hold_up_the_return() {
        let timeouts = Timeouts {
            grace: Duration::from_millis(50),
            client_timeout: None,
        };
        let Serving { url, stop, served } = start_with(1, timeouts).await;
        let slow =
            tokio::spawn(async move { one_connection().get(format!("{url}/stuck")).send().await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopping = std::time::Instant::now();
        stop.send(()).unwrap();
        served.await.unwrap().unwrap();
        // Well under the minute the handler would take.
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "{:?}",
            stopping.elapsed()
        );
        drop(slow);
    }

    /// Reads once from `socket` into `buffer`: how much, or `None` when the
    /// server has closed it. A read that times out fails the test.
    fn read_open(socket: &mut std::net::TcpStream, buffer: &mut [u8]) -> Option<usize> {
        use std::io::Read as _;
        match socket.read(buffer) {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("neither read nor closed in time: {e}"),
        }
    }

    /// Reads `socket` until the server closes it (or `limit` passes, which
    /// fails the test); what was read.
    fn read_until_closed(mut socket: std::net::TcpStream, limit: Duration) -> String {
        socket.set_read_timeout(Some(limit)).unwrap();
        let mut read = Vec::new();
        let mut chunk = [0; 4096];
        while let Some(n) = read_open(&mut socket, &mut chunk) {
            read.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&read).into_owned()
    }

    fn connect(url: &str) -> std::net::TcpStream {
        std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap()
    }

    const CLIENT_TIMEOUT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_head_sent_a_line_at_a_time_is_cut_off_after_the_client_timeout() {
        let server = start_watching(CLIENT_TIMEOUT).await;
        let url = &server.url;
        let socket = connect(url);
        let mut trickle = socket.try_clone().unwrap();
        let started = std::time::Instant::now();
        // Each line is sooner than the timeout, the head never complete.
        let writer = std::thread::spawn(move || {
            use std::io::Write as _;
            let _ = trickle.write_all(b"GET /thread HTTP/1.1\r\nHost: x\r\n");
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(50));
                if trickle.write_all(b"X-Slow: 1\r\n").is_err() {
                    return;
                }
            }
        });
        let read = blocking(move || read_until_closed(socket, Duration::from_secs(5))).await;
        let took = started.elapsed();
        assert_eq!(read, "", "nothing is answered");
        assert!(took >= CLIENT_TIMEOUT, "closed after {took:?}");
        writer.join().unwrap();
        server.stop().await;
    }

    /// Sends `request` on a new connection and reads until the server
    /// closes it: what was read, and how long after sending.
    async fn sent_then_closed(url: &str, request: &'static [u8]) -> (String, Duration) {
        let mut socket = connect(url);
        let started = std::time::Instant::now();
        std::io::Write::write_all(&mut socket, request).unwrap();
        let read = blocking(move || read_until_closed(socket, Duration::from_secs(5))).await;
        (read, started.elapsed())
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed_after_the_client_timeout() {
        let server = start_watching(CLIENT_TIMEOUT).await;
        let (read, took) =
            sent_then_closed(&server.url, b"GET /thread HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(read.starts_with("HTTP/1.1 200 OK\r\n"), "{read}");
        assert!(read.ends_with("http-worker-0"), "{read}");
        assert!(took >= CLIENT_TIMEOUT, "closed after {took:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_handler_longer_than_the_timeout_is_answered_with_or_after_a_body() {
        let server = start_watching(Duration::from_millis(100)).await;
        let url = &server.url;
        // Each handler takes four times the timeout, the second after
        // reading its body whole.
        let client = one_connection();
        let slow = [
            client.get(format!("{url}/slow")),
            client
                .post(format!("{url}/length-then-slow"))
                .body(vec![b'x'; 100_000]),
        ];
        let mut answers = Vec::new();
        for request in slow {
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), 200);
            answers.push(answer.text().await.unwrap());
        }
        assert_eq!(answers, ["finished", "100000"]);
        server.stop().await;
    }

    #[tokio::test]
    async fn a_body_that_stops_arriving_is_cut_off_after_the_client_timeout() {
        let server = start_watching(CLIENT_TIMEOUT).await;
        // Ten of the announced hundred bytes, then nothing more.
        let request = b"POST /length HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789";
        let (read, took) = sent_then_closed(&server.url, request).await;
        assert_eq!(read, "", "nothing is answered");
        assert!(took >= CLIENT_TIMEOUT, "closed after {took:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn requests_sooner_than_the_timeout_keep_a_connection_open_past_it() {
        let server = start_watching(CLIENT_TIMEOUT).await;
        let url = &server.url;
        // Ten requests 60 ms apart on one connection: 600 ms in all, twice
        // the timeout, each far sooner than it after the one before.
        let mut socket = connect(url);
        let read = blocking(move || {
            use std::io::Write as _;
            for i in 0..10 {
                std::thread::sleep(Duration::from_millis(60));
                let close = if i == 9 { "Connection: close\r\n" } else { "" };
                write!(socket, "GET /thread HTTP/1.1\r\nHost: x\r\n{close}\r\n").unwrap();
            }
            read_until_closed(socket, Duration::from_secs(5))
        })
        .await;
        assert_eq!(read.matches("HTTP/1.1 200 OK\r\n").count(), 10, "{read}");
        server.stop().await;
    }

    /// Asks for `/big`, then reads the socket after `pause`, `chunk` bytes
    /// every `every`, until the server closes it; the answer's length.
    fn read_big(url: &str, pause: Duration, chunk: usize, every: Duration) -> usize {
        use std::io::Write as _;
        let mut socket = connect(url);
        socket
            .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        std::thread::sleep(pause);
        let mut buffer = vec![0; chunk];
        let mut total = 0;
        while let Some(n) = read_open(&mut socket, &mut buffer) {
            total += n;
            std::thread::sleep(every);
        }
        total
    }

    #[tokio::test]
    async fn an_answer_taken_slowly_is_sent_whole_and_one_not_taken_is_cut_off() {
        let server = start_watching(CLIENT_TIMEOUT).await;
        let url = server.url.clone();
        let head_and_body = blocking({
            let url = url.clone();
            // 128 reads 10 ms apart: over a second, four times the timeout.
            move || read_big(&url, Duration::ZERO, 256 << 10, Duration::from_millis(10))
        })
        .await;
        assert!(head_and_body > BIG, "{head_and_body} bytes");
        let cut_off =
            blocking(move || read_big(&url, Duration::from_secs(1), 1 << 20, Duration::ZERO)).await;
        assert!(cut_off < BIG, "{cut_off} bytes");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_client_that_pipelines_requests_and_reads_no_answer_is_cut_off() {
        let server = start_watching(CLIENT_TIMEOUT).await;
        let socket = connect(&server.url);
        let mut sending = socket.try_clone().unwrap();
        // Requests, and no answer read, until the server closes the
        // connection: far more answers than the sockets buffer.
        let (sent_tx, sent_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let thousand = b"GET /thread HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
            let sent = (0..1000)
                .take_while(|_| std::io::Write::write_all(&mut sending, &thousand).is_ok())
                .count();
            let _ = sent_tx.send(sent * 1000);
        });
        let sent = blocking(move || sent_rx.recv_timeout(Duration::from_secs(20)))
            .await
            .expect("the server stops taking requests");
        let read = blocking(move || read_until_closed(socket, Duration::from_secs(5))).await;
        let answered = read.matches("HTTP/1.1 200 OK\r\n").count();
        assert!(answered < sent, "{answered} of {sent} answered");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_body_sent_slowly_after_100_continue_is_read_whole_and_answered() {
        let server = start_watching(CLIENT_TIMEOUT).await;
        let url = &server.url;
        let mut socket = connect(url);
        let read = blocking(move || {
            use std::io::{Read as _, Write as _};
            socket
                .write_all(
                    b"POST /length HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
                      Content-Length: 10\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut interim = [0; 25];
            socket.read_exact(&mut interim).unwrap();
            assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
            // Ten bytes 60 ms apart: twice the timeout.
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(60));
                socket.write_all(b"x").unwrap();
            }
            read_until_closed(socket, Duration::from_secs(5))
        })
        .await;
        assert!(read.starts_with("HTTP/1.1 200 OK\r\n"), "{read}");
        assert!(read.ends_with("\r\n\r\n10"), "{read}");
        server.stop().await;
    }
}

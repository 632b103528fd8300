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
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};

/// A connection accepted by the acceptor, on its way to a worker.
type Handed = (std::net::TcpStream, SocketAddr);

/// Serves on `listener` with `workers` worker threads, worker `i` serving
/// the router `app_for(i)` (the same one cloned, or one per worker when
/// each should have resources of its own), until
/// `shutdown` completes; then stops accepting, lets every connection finish
/// the request it is answering (at most `grace`), and returns.
///
/// Must be called from inside a tokio runtime (any flavour): the accepting
/// task runs there, the workers on threads of their own.
///
/// # Errors
/// A worker thread or its runtime could not be started, or a worker
/// stopped before `shutdown` completed.
pub async fn serve<F, A>(
    listener: TcpListener,
    app_for: A,
    workers: NonZeroUsize,
    shutdown: F,
    grace: Duration,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
    A: Fn(usize) -> Router,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel::<io::Result<()>>();
    let mut queues = Vec::with_capacity(workers.get());
    for index in 0..workers.get() {
        let (queue, incoming) = mpsc::unbounded_channel();
        queues.push(queue);
        let app = app_for(index);
        let stop = stop_rx.clone();
        let ended = ended_tx.clone();
        let started = std::thread::Builder::new()
            .name(format!("http-worker-{index}"))
            .spawn(move || {
                let run = || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map(|runtime| runtime.block_on(serve_handed(incoming, app, stop)))
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
            match stream.into_std() {
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
    match tokio::time::timeout(grace, all_ended).await {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "requests still running after the grace period; exiting"
            );
            Ok(())
        }
    }
}

/// One worker: serves the connections handed to it until `stop` turns
/// true (or its sender is gone) or no more are handed, then asks every open
/// connection to close once its request in flight is answered, and returns
/// when the last one has.
async fn serve_handed(
    mut incoming: mpsc::UnboundedReceiver<Handed>,
    app: Router,
    mut stop: watch::Receiver<bool>,
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
                tokio::spawn(serve_connection(
                    stream,
                    app.clone(),
                    Arc::clone(&drain),
                    open.clone(),
                ));
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

/// Serves HTTP/1.1 on one connection until the client closes it, or until
/// the worker drains and the request in flight (if any) is answered.
///
/// This is what `axum::serve` does for a connection, for less: it polls a
/// shutdown future beside the connection every time the connection is
/// woken, and reads through hyper-util's connection that looks for an
/// HTTP/2 preface first, where this registers for the drain once, then
/// reads a flag, and speaks HTTP/1.1 directly (730 fewer instructions per
/// request, docs/performance.md). HTTP/1.1 only, as `axum::serve` is
/// without axum's `http2` feature; no header read timeout, as there.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    drain: Arc<Drain>,
    _open: mpsc::Sender<Infallible>,
) {
    // Registered (polled once) before the flag is first read: a drain that
    // starts later wakes this task, one that started earlier set the flag.
    let mut drained = pin!(drain.notify.notified());
    let _ = std::future::poll_fn(|cx| Poll::Ready(drained.as_mut().poll(cx))).await;
    let mut draining = false;
    let mut connection = pin!(hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app)));
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
            .route(
                "/stuck",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "finished"
                }),
            )
    }

    async fn start(
        workers: usize,
    ) -> (
        String,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
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
            Duration::from_secs(5),
        ));
        (url, stop, served)
    }

    /// One client per connection: each reqwest client has its own pool.
    fn one_connection() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn connections_are_handed_to_the_workers_in_turn_and_stay_on_theirs() {
        let (url, stop, served) = start(3).await;
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
        stop.send(()).unwrap();
        served.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_request_in_flight_at_shutdown_is_answered_then_serve_returns_and_accepts_no_more() {
        let (url, stop, served) = start(2).await;
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
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = thread_name_app();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve(
            listener,
            move |_| app.clone(),
            NonZeroUsize::MIN,
            async move {
                let _ = stopped.await;
            },
            Duration::from_millis(50),
        ));
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
}

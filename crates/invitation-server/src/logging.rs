//! Where log lines go: tracing-subscriber's own text or JSON format,
//! written to standard error by tracing-appender's non-blocking writer.
//!
//! A request formats its line and hands it to a bounded channel; a
//! background thread writes the lines out. The writer is lossy: when
//! [`BUFFERED_LINES`] lines wait (standard error is a pipe nobody reads,
//! or a terminal that is paused), further lines are dropped and counted
//! rather than making requests wait, so a stalled log reader never stops
//! the server. [`report_dropped_lines`] logs how many were dropped once
//! the writer keeps up again.

use std::io::IsTerminal as _;
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// How many lines may wait for the writer before lines are dropped: a
/// burst of a second or more at full request rate, a few MiB at most.
pub const BUFFERED_LINES: usize = 16 * 1024;

/// How often [`report_dropped_lines`] looks at the count.
pub const DROPPED_LINES_CHECK: Duration = Duration::from_secs(1);

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// tracing-subscriber's default text lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// Keeps the writer thread running; dropping it writes what is waiting
/// (for at most a second, then gives up on an output that takes nothing).
/// Hold it until the end of `main`.
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub struct Logging {
    _writer: WorkerGuard,
    dropped: ErrorCounter,
}

impl Logging {
    /// The count of lines dropped so far, for [`report_dropped_lines`].
    pub fn dropped_lines(&self) -> ErrorCounter {
        self.dropped.clone()
    }
}

/// Installs the global subscriber: `RUST_LOG` filters (default `info`),
/// lines go to standard error in `format`.
///
/// # Errors
/// A global subscriber is already installed.
pub fn init(format: LogFormat) -> Result<Logging, tracing_subscriber::util::TryInitError> {
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("log-writer")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.finish().try_init()?,
        LogFormat::Json => builder.json().finish().try_init()?,
    }
    Ok(Logging {
        _writer: guard,
        dropped,
    })
}

/// Every [`DROPPED_LINES_CHECK`], logs at `warn` how many lines were
/// dropped since the last report, once none was dropped in the last check
/// (the writer keeps up again, so this line has room). Runs until dropped.
pub async fn report_dropped_lines(dropped: ErrorCounter) {
    let mut ticks = tokio::time::interval(DROPPED_LINES_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = 0;
    let mut seen = 0;
    loop {
        ticks.tick().await;
        let now = dropped.dropped_lines();
        if now == seen && now > reported {
            let count = now - reported;
            tracing::warn!(count, "{count} log lines were dropped");
            reported = now;
        }
        seen = now;
    }
}

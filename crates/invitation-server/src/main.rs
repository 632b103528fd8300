//! `invitation-server`: see the crate documentation (`--help` for flags).
#![forbid(unsafe_code)]

use std::error::Error as _;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::Parser;
use invitation_server::log_format::{TextFields, TextFormat};
use invitation_server::log_writer::{self, FlushGuard};
use invitation_server::{shutdown_signal, Args, Server, BOOTSTRAP_TOKEN_ENV};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: a request allocates and frees
/// dozens of small blocks across two worker threads, where glibc's arenas
/// cost measurably more (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Start-up, signals and accepting run on this thread; requests on the
/// worker threads of `--workers` (`invitation_server::workers`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Log lines are written in batches by a background thread, so a request
    // never waits on a write to standard error; the guard writes what is
    // left when it is dropped.
    let log_writer = match init_logging(&args.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("invitation-server: cannot start the log writer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bootstrap = std::env::var(BOOTSTRAP_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty());
    let outcome = run(&args, bootstrap.as_deref()).await;
    // Every log line out before the last word.
    drop(log_writer);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("invitation-server: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args, bootstrap: Option<&str>) -> Result<(), invitation_server::ServerError> {
    let bound = Server::build(args, bootstrap).await?.bind().await?;
    tracing::info!(address = %bound.address(), "listening");
    let mut stdout = std::io::stdout().lock();
    // Nothing useful can be done if standard output is gone.
    let _ = stdout.write_all(bound.banner().as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    bound.serve_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(format: &str) -> std::io::Result<FlushGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = log_writer::batched(std::io::stderr())?;
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(terminal);
    if format == "json" {
        builder.json().init();
    } else if terminal {
        builder.init();
    } else {
        // The same lines without colours, for less CPU per line.
        builder
            .event_format(TextFormat)
            .fmt_fields(TextFields)
            .init();
    }
    Ok(guard)
}

//! `invitation-server`: see the crate documentation (`--help` for flags).
#![forbid(unsafe_code)]

use std::error::Error as _;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::Parser;
use invitation_server::{shutdown_signal, Args, Server, BOOTSTRAP_TOKEN_ENV};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Log lines are written by a background thread, so a request never waits
    // on a write to standard error; the guard flushes what is left at exit.
    let _log_writer = init_logging(&args.log_format);
    let bootstrap = std::env::var(BOOTSTRAP_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty());
    match run(&args, bootstrap.as_deref()).await {
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

fn init_logging(format: &str) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Not lossy: under a sustained flood, requests wait for the log rather
    // than lines being dropped.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}

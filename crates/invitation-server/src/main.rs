//! `invitation-server`: see the crate documentation (`--help` for flags).
#![forbid(unsafe_code)]

use std::error::Error as _;
use std::io::Write as _;
use std::process::ExitCode;

use invitation_server::logging::{self, report_dropped_lines};
use invitation_server::{shutdown_signal, Args, Server, BOOTSTRAP_TOKEN_ENV};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse_checked();
    // Lines are written by a background thread; the guard writes what is
    // left when it is dropped.
    let logging = match logging::init(args.log_format) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("invitation-server: cannot start logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reporter = tokio::spawn(report_dropped_lines(logging.dropped_lines()));
    let bootstrap = std::env::var(BOOTSTRAP_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty());
    let outcome = run(&args, bootstrap.as_deref()).await;
    reporter.abort();
    // Every log line out before the last word.
    drop(logging);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("invitation-server: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                // Some errors (sqlx's among them) print their source in
                // their own text: say each cause once.
                let text = s.to_string();
                if !message.ends_with(&text) {
                    message.push_str(&format!(": {text}"));
                }
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
    bound.serve_until(shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

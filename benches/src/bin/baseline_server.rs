//! The HTTP benchmark's baseline (`scripts/bench-http.sh`): one axum route,
//! `POST /api/v3/stages/invitation/invitations/`, that reads the request
//! body and answers `201 Created` with a fixed JSON body of a given size
//! (the size of the real server's answer), and nothing else: no
//! authentication, validation, storage or logging.
//!
//! `baseline_server [--listen ADDR] [--body-bytes N]` (defaults
//! `127.0.0.1:0` and 400). The route is served as invitation-server serves
//! its own, by `invitation_server::serve` with the server's default
//! options. The first line on standard output is
//! `baseline-server listening on http://ADDR`.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::routing::post;
use axum::Router;
use invitation_server::{serve, ServeOptions};
use tokio::net::TcpListener;

const PATH: &str = "/api/v3/stages/invitation/invitations/";

/// `{"detail":"xxx…"}`, exactly `size` bytes (at least the 13 of the frame).
fn body_of(size: usize) -> Bytes {
    let frame = r#"{"detail":""}"#;
    let pad = size.saturating_sub(frame.len());
    Bytes::from(format!(r#"{{"detail":"{}"}}"#, "x".repeat(pad)))
}

struct Args {
    listen: String,
    size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut size = 400;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?,
            "--body-bytes" => {
                let v = value()?;
                size = v.parse().map_err(|_| format!("--body-bytes {v:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args { listen, size })
}

#[tokio::main]
async fn main() -> ExitCode {
    let Args { listen, size } = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("baseline-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let body = body_of(size);
    let app = Router::new().route(
        PATH,
        post(move |request: Bytes| {
            let body = body.clone();
            async move {
                drop(request);
                (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    );
    let listener = match TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("baseline-server: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("baseline-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "baseline-server listening on http://{address}");
    let _ = stdout.flush();
    drop(stdout);
    serve(
        listener,
        app,
        ServeOptions::default(),
        std::future::pending(),
    )
    .await;
    ExitCode::SUCCESS
}

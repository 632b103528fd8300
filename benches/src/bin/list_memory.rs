//! The server's resident memory while clients list pages of large
//! invitations: the release `invitation-server` is started on a free port
//! (on the memory store, or on PostgreSQL with `--database-url`), 100
//! invitations holding `--data-bytes` of `fixed_data` each are created, and
//! `--clients` clients list `page_size=100` over and over for `--seconds`,
//! each reading every answer to its end. The server's `VmRSS` is sampled
//! every 50 ms; its peak (and the kernel's `VmHWM`) are printed.
//!
//! ```text
//! cargo build --release -p invitation-server -p invitation-benches
//! target/release/list_memory [--clients 10] [--seconds 20] [--data-bytes 1000000] \
//!     [--database-url postgres://postgres@127.0.0.1:5432/postgres]
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const TOKEN: &str = "list-memory-token";
const INVITATIONS: &str = "/api/v3/stages/invitation/invitations/";

struct Options {
    clients: usize,
    seconds: u64,
    data_bytes: usize,
    database_url: Option<String>,
}

const USAGE: &str = "usage: list_memory [--clients N] [--seconds N] [--data-bytes N] \
[--database-url URL]";

/// The command line, or the usage and exit code 2.
fn options() -> Options {
    let mut o = Options {
        clients: 10,
        seconds: 20,
        data_bytes: 1_000_000,
        database_url: None,
    };
    let mut args = std::env::args().skip(1);
    let usage = |problem: &str| -> ! {
        eprintln!("list_memory: {problem}\n{USAGE}");
        std::process::exit(2)
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let Some(value) = args.next() else {
            usage(&format!("{flag} needs a value"))
        };
        let number = |value: &str| -> usize {
            value
                .parse()
                .unwrap_or_else(|_| usage(&format!("{flag} takes a number, not {value:?}")))
        };
        match flag.as_str() {
            "--clients" => o.clients = number(&value),
            "--seconds" => o.seconds = number(&value) as u64,
            "--data-bytes" => o.data_bytes = number(&value),
            "--database-url" => o.database_url = Some(value),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    o
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One HTTP/1.1 request on its own connection; returns the status and the
/// number of body bytes read (the answer is read to its end).
async fn request(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, usize) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body.as_bytes()).await.expect("write body");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let status = std::str::from_utf8(answer.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer.len())
}

fn start_server(port: u16, database_url: Option<&str>) -> Child {
    let binary = std::env::current_exe()
        .expect("own path")
        .with_file_name("invitation-server");
    let mut command = Command::new(binary);
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("INVITATION_BOOTSTRAP_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match database_url {
        Some(url) => command.args(["--database-url", url, "--database-schema", &schema_name()]),
        None => command.arg("--memory"),
    };
    command
        .spawn()
        .expect("start invitation-server (build it with --release first)")
}

fn schema_name() -> String {
    format!("list_memory_{}", std::process::id())
}

async fn drop_schema(url: &str, schema: &str) {
    use invitation_postgres::tokio_postgres::{connect, NoTls};
    let Ok((client, connection)) = connect(url, NoTls).await else {
        return;
    };
    tokio::spawn(connection);
    let _ = client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await;
}

#[tokio::main]
async fn main() {
    let o = options();
    let port = free_port();
    let mut server = start_server(port, o.database_url.as_deref());
    let pid = server.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err()
        || request(port, "GET", "/-/health/live/", None).await.0 != 200
    {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let blob = "x".repeat(o.data_bytes);
    for i in 0..100 {
        let body = format!(r#"{{"name": "big-{i}", "fixed_data": {{"blob": "{blob}"}}}}"#);
        let (status, _) = request(port, "POST", INVITATIONS, Some(&body)).await;
        assert_eq!(status, 201, "create {i}");
    }
    let idle = rss_kib(pid, "VmRSS:");
    let stop = Instant::now() + Duration::from_secs(o.seconds);
    let path = format!("{INVITATIONS}?page_size=100");
    let clients: Vec<_> = (0..o.clients)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move {
                let (mut pages, mut bytes) = (0u64, 0usize);
                while Instant::now() < stop {
                    let (status, read) = request(port, "GET", &path, None).await;
                    assert_eq!(status, 200);
                    pages += 1;
                    bytes += read;
                }
                (pages, bytes)
            })
        })
        .collect();
    let mut peak = 0;
    while Instant::now() < stop {
        peak = peak.max(rss_kib(pid, "VmRSS:"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut pages, mut bytes) = (0, 0);
    for c in clients {
        let (p, b) = c.await.expect("client");
        pages += p;
        bytes += b;
    }
    let hwm = rss_kib(pid, "VmHWM:");
    let _ = server.kill();
    let _ = server.wait();
    if let Some(url) = &o.database_url {
        drop_schema(url, &schema_name()).await;
    }
    let store = if o.database_url.is_some() {
        "PostgreSQL"
    } else {
        "memory"
    };
    println!(
        "store {store}: {} clients, {} s, {pages} pages ({:.0} MiB) read; server resident \
         memory: {:.0} MiB after the creates, peak {:.0} MiB sampled, {:.0} MiB high-water mark",
        o.clients,
        o.seconds,
        bytes as f64 / 1_048_576.0,
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

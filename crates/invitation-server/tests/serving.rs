//! How the binary serves: what it does to clients that keep it waiting,
//! to heads it refuses, past its connection cap, with a handler that runs
//! too long, and when nobody reads its log.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const BOOT: &str = "boot-token";

/// The binary on a free port with the bootstrap token `BOOT` and `flags`.
fn start(flags: &[&str], env: &[(&str, &str)]) -> Running {
    let mut args = vec!["--listen", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    let mut env = env.to_vec();
    env.push(("INVITATION_BOOTSTRAP_TOKEN", BOOT));
    Running::start(&args, &env)
}

fn connect(server: &Running) -> TcpStream {
    let socket = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    socket
}

/// Reads `socket` until the server closes it (a read that times out fails
/// the test): what was read, and how long it took.
fn read_until_closed(mut socket: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut chunk = [0; 16 * 1024];
    loop {
        match socket.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => read.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("neither answered nor closed in time: {e}"),
        }
    }
    (
        String::from_utf8_lossy(&read).into_owned(),
        started.elapsed(),
    )
}

/// Sends `request` on a new connection and reads until the server closes
/// it, sending from another thread so that a server that stops reading
/// does not stop the test.
fn sent_then_closed(server: &Running, request: Vec<u8>) -> (String, Duration) {
    let socket = connect(server);
    let mut sending = socket.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let _ = sending.write_all(&request);
    });
    let read = read_until_closed(socket);
    sender.join().unwrap();
    read
}

/// One request on an open connection, and its answer, read by its
/// `content-length`.
fn exchange(socket: &mut TcpStream, path: &str) -> String {
    write!(socket, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut read = Vec::new();
    let mut byte = [0; 1];
    while !read.ends_with(b"\r\n\r\n") {
        assert_eq!(socket.read(&mut byte).unwrap(), 1, "closed mid-head");
        read.push(byte[0]);
    }
    let head = String::from_utf8(read).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    socket.read_exact(&mut body).unwrap();
    head + &String::from_utf8(body).unwrap()
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

#[test]
fn a_request_head_sent_a_line_at_a_time_is_cut_off_after_the_client_timeout() {
    let server = start(&["--client-timeout", "1"], &[]);
    let socket = connect(&server);
    let mut trickle = socket.try_clone().unwrap();
    // Each line far sooner than the timeout, the head never complete.
    let writer = thread::spawn(move || {
        let _ = trickle.write_all(b"GET /-/health/live/ HTTP/1.1\r\nHost: x\r\n");
        for _ in 0..100 {
            thread::sleep(Duration::from_millis(200));
            if trickle.write_all(b"X-Slow: 1\r\n").is_err() {
                return;
            }
        }
    });
    let (read, took) = read_until_closed(socket);
    assert_eq!(read, "", "nothing is answered");
    assert!(took >= CLIENT_TIMEOUT, "closed after {took:?}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    writer.join().unwrap();
    assert_eq!(server.stop("TERM").code(), Some(0));
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_client_timeout() {
    let server = start(&["--client-timeout", "1"], &[]);
    let request = b"GET /-/health/live/ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let (read, took) = sent_then_closed(&server, request);
    assert!(read.starts_with("HTTP/1.1 200 OK\r\n"), "{read}");
    assert!(read.ends_with(r#"{"status": "ok"}"#), "{read}");
    assert!(took >= CLIENT_TIMEOUT, "closed after {took:?}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    assert_eq!(server.stop("TERM").code(), Some(0));
}

#[test]
fn a_body_that_stops_arriving_is_cut_off_after_the_client_timeout() {
    let server = start(&["--client-timeout", "1"], &[]);
    // Ten of the announced hundred bytes, then nothing more.
    let request = format!(
        "POST {INVITATIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {BOOT}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": "
    );
    let (read, took) = sent_then_closed(&server, request.into_bytes());
    // The handler's read of the body fails: it answers, and the
    // connection, whose body was not read whole, is closed.
    assert!(read.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{read}");
    assert!(
        read.ends_with(r#"{"detail":"The request body could not be read.","code":"parse_error"}"#),
        "{read}"
    );
    assert!(took >= CLIENT_TIMEOUT, "closed after {took:?}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    assert_eq!(server.stop("TERM").code(), Some(0));
}

#[test]
fn a_client_that_pipelines_requests_and_reads_no_answer_is_cut_off() {
    let server = start(&["--client-timeout", "1"], &[]);
    let socket = connect(&server);
    let mut sending = socket.try_clone().unwrap();
    sending
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Requests, and no answer read, until the server closes the
    // connection: far more answers than the sockets buffer.
    let (sent_tx, sent_rx) = mpsc::channel();
    thread::spawn(move || {
        let thousand = b"GET /-/health/live/ HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
        let sent = (0..1000)
            .take_while(|_| sending.write_all(&thousand).is_ok())
            .count();
        let _ = sent_tx.send(sent * 1000);
    });
    let sent = sent_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server stops taking requests");
    assert!(sent < 1_000_000, "every request was taken");
    let (read, _) = read_until_closed(socket);
    let answered = read.matches("HTTP/1.1 200 OK\r\n").count();
    assert!(answered < sent, "{answered} of {sent} answered");
    assert_eq!(server.stop("TERM").code(), Some(0));
}

/// A request `head` (and nothing after it): the status line, content type
/// and body of the answer, which ends the connection.
fn refused(server: &Running, head: Vec<u8>) -> (String, String, String) {
    let (read, _) = sent_then_closed(server, head);
    let (head, body) = read
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {read:?}"));
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_owned();
    let content_type = lines
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("(none)")
        .to_owned();
    (status, content_type, body.to_owned())
}

#[test]
fn request_heads_the_server_refuses_are_answered_with_json_detail_and_code() {
    let server = start(&[], &[("RUST_LOG", "info")]);
    let uri_too_long = r#"{"detail":"The request URI is too long.","code":"uri_too_long"}"#;
    let headers_too_large =
        r#"{"detail":"The request's header fields are too large.","code":"headers_too_large"}"#;
    let bad_request = r#"{"detail":"Malformed request.","code":"bad_request"}"#;
    let get = |target: &str, fields: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{fields}\r\n")
            .into_bytes()
    };
    let field = |name: &str, bytes: usize| format!("{name}: {}\r\n", "v".repeat(bytes));
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "a URI over the server's limit",
            get(&format!("/{}", "a".repeat(9_000)), ""),
            "HTTP/1.1 414 URI Too Long",
            uri_too_long,
        ),
        (
            "a URI over hyper's limit",
            get(&format!("/{}", "a".repeat(70_000)), ""),
            "HTTP/1.1 414 URI Too Long",
            uri_too_long,
        ),
        (
            "header fields over the server's limit",
            get(
                "/-/health/live/",
                &(0..10)
                    .map(|i| field(&format!("x-big-{i}"), 7_000))
                    .collect::<String>(),
            ),
            "HTTP/1.1 431 Request Header Fields Too Large",
            headers_too_large,
        ),
        (
            "more header fields than hyper reads",
            get(
                "/-/health/live/",
                &(0..150)
                    .map(|i| field(&format!("x-many-{i}"), 1))
                    .collect::<String>(),
            ),
            "HTTP/1.1 431 Request Header Fields Too Large",
            headers_too_large,
        ),
        (
            "a header line without a colon",
            b"GET /-/health/live/ HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(),
            "HTTP/1.1 400 Bad Request",
            bad_request,
        ),
        (
            "a request line that is not HTTP",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n".to_vec(),
            "HTTP/1.1 400 Bad Request",
            bad_request,
        ),
    ];
    for (what, head, status, body) in cases {
        let (got_status, content_type, got_body) = refused(&server, head);
        assert_eq!(got_status, status, "{what}");
        assert_eq!(content_type, "application/json", "{what}");
        assert_eq!(got_body, body, "{what}");
    }
    let (exit, stderr) = server.stop_reading_stderr("TERM");
    assert_eq!(exit.code(), Some(0), "{stderr}");
    // The server's own refusals are access-logged, as the router's are.
    for status in [r#"route="-" status=414"#, r#"route="-" status=431"#] {
        assert!(access_logged(&stderr, status), "{status}: {stderr}");
    }
}

#[test]
fn a_head_larger_than_hyper_reads_is_answered_431_with_json() {
    let server = start(&[], &[]);
    let head = format!(
        "GET /-/health/live/ HTTP/1.1\r\nHost: x\r\nx-huge: {}\r\n\r\n",
        "v".repeat(600 * 1024)
    );
    let (status, content_type, body) = refused(&server, head.into_bytes());
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    assert_eq!(content_type, "application/json");
    assert_eq!(
        body,
        r#"{"detail":"The request's header fields are too large.","code":"headers_too_large"}"#
    );
    assert_eq!(server.stop("TERM").code(), Some(0));
}

/// The file descriptors the process `pid` has open.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn past_max_connections_new_connections_wait_and_established_ones_are_served() {
    const CAP: usize = 8;
    let server = start(&["--max-connections", &CAP.to_string()], &[]);
    let pid = server.child.id();
    let before = open_files(pid);
    let mut established = connect(&server);
    let answer = exchange(&mut established, "/-/health/live/");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    let idle: Vec<TcpStream> = (0..CAP + 20).map(|_| connect(&server)).collect();
    thread::sleep(Duration::from_millis(500));
    let open = open_files(pid);
    assert!(
        open <= before + CAP + 2,
        "{open} files open, {before} before {CAP} connections"
    );
    let answer = exchange(&mut established, "/-/health/live/");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    // Once the idle ones go, those that waited are accepted, and a new
    // one is served.
    drop(idle);
    let mut late = connect(&server);
    let answer = exchange(&mut late, "/-/health/live/");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    drop((established, late));
    assert_eq!(server.stop("TERM").code(), Some(0));
}

/// A server over a fresh schema of the test database, with `flags`, its
/// access log on; the admin store, and the schema.
async fn with_database(flags: &[&str]) -> Option<(Running, invitation_postgres::PgStore, String)> {
    let (url, admin) = test_database().await?;
    let schema = format!("inv_serving_{}", uuid::Uuid::new_v4().simple());
    let file = TempFile::new(DIRECTORY);
    let args = database_args(&file, &schema, flags);
    let server = Running::start(
        &args,
        &[
            ("INVITATION_DATABASE_URL", url.as_str()),
            ("RUST_LOG", "info"),
        ],
    );
    Some((server, admin, schema))
}

/// Runs `while_locked` while a transaction holds the invitations table
/// (so that a list waits for it), then drops the schema.
async fn with_table_locked<F: std::future::Future<Output = ()>>(
    admin: &invitation_postgres::PgStore,
    schema: &str,
    while_locked: F,
) {
    let mut client = admin.pool().get().await.unwrap();
    let lock = client.transaction().await.unwrap();
    lock.batch_execute(&format!(
        "LOCK TABLE \"{schema}\".invitations IN ACCESS EXCLUSIVE MODE"
    ))
    .await
    .unwrap();
    while_locked.await;
    lock.rollback().await.unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

/// Whether `stderr` has an access line with `fields`.
fn access_logged(stderr: &str, fields: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.contains(" invitation_http::access: ") && l.contains(fields))
}

#[tokio::test]
async fn a_handler_past_the_request_timeout_is_answered_503_timeout_with_retry_after() {
    let Some((server, admin, schema)) = with_database(&["--request-timeout", "1"]).await else {
        return;
    };
    let url = format!("{}{INVITATIONS}", server.url);
    with_table_locked(&admin, &schema, async {
        let answer = reqwest::Client::new()
            .get(&url)
            .header("Authorization", format!("Bearer {TOKEN}"))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 503);
        assert_eq!(answer.headers()["content-type"], "application/json");
        assert_eq!(answer.headers()["retry-after"], "1");
        assert_eq!(
            answer.text().await.unwrap(),
            r#"{"detail":"The request took too long.","code":"timeout"}"#
        );
    })
    .await;
    let (exit, stderr) = server.stop_reading_stderr("TERM");
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert!(
        access_logged(&stderr, &format!(r#"route="{INVITATIONS}" status=503"#)),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_request_whose_client_goes_away_is_logged_as_aborted() {
    let Some((server, admin, schema)) = with_database(&[]).await else {
        return;
    };
    let mut socket = connect(&server);
    with_table_locked(&admin, &schema, async {
        write!(
            socket,
            "GET {INVITATIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        )
        .unwrap();
        // The handler waits for the table; its client goes away.
        tokio::time::sleep(Duration::from_millis(300)).await;
        socket.shutdown(std::net::Shutdown::Both).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    })
    .await;
    let (exit, stderr) = server.stop_reading_stderr("TERM");
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert!(
        access_logged(
            &stderr,
            &format!(r#"request method=GET route="{INVITATIONS}" status="aborted""#)
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_stalled_log_reader_never_stops_the_server_and_the_dropped_lines_are_counted() {
    // Standard error is a pipe this test does not read until the end.
    let server = start(&[], &[("RUST_LOG", "info")]);
    let requests = 20_000.max(invitation_server::logging::BUFFERED_LINES + 4_000);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let url = format!("{}/-/health/live/", server.url);
            tokio::spawn(async move {
                for _ in 0..requests / 4 {
                    let answer = client.get(&url).send().await.unwrap();
                    assert_eq!(answer.status(), 200);
                    answer.bytes().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let live = client
        .get(format!("{}/-/health/live/", server.url))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);

    // Once read again, the writer catches up and says what it dropped.
    let mut server = server;
    let mut stderr = server.child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let mut chunk = [0; 64 * 1024];
        while let Ok(n @ 1..) = stderr.read(&mut chunk) {
            text.push_str(&String::from_utf8_lossy(&chunk[..n]));
            if text.contains(" log lines were dropped") {
                let _ = lines_tx.send(text);
                return;
            }
        }
    });
    let text = lines_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the dropped lines are reported");
    let report = text
        .lines()
        .find(|l| l.contains(" log lines were dropped"))
        .unwrap();
    assert!(report.contains(" WARN "), "{report}");
    assert_eq!(server.stop("TERM").code(), Some(0));
}

//! The `invitation-server` binary as a process: started with a directory
//! file, used over HTTP, stopped with a signal.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::*;

#[tokio::test]
async fn the_binary_serves_a_directory_file_over_http_and_stops_on_sigterm_with_exit_0() {
    let file = TempFile::new(DIRECTORY);
    let server = Running::with_directory(&file, &[]);
    assert_eq!(
        server.banner.len(),
        1,
        "no token is generated with a directory: {:?}",
        server.banner
    );
    let url = server.url.clone();
    let (status, text) = call(&url, reqwest::Method::GET, "/-/health/ready/", TOKEN, None).await;
    assert_eq!(status, 200, "{text}");

    let (status, text) = call(
        &url,
        reqwest::Method::POST,
        INVITATIONS,
        TOKEN,
        Some(json!({"name": "from-the-binary", "flow": FLOW})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let created = json_of(&text);
    let pk = created["pk"].as_str().unwrap().to_owned();
    assert_eq!(created["created_by"]["username"], "alice");
    assert_eq!(created["created_by"]["attributes"], json!({"team": "qa"}));
    assert_eq!(created["created_by"]["uid"].as_str().unwrap().len(), 64);
    assert_eq!(created["flow_obj"]["slug"], "default-enrollment-flow");
    assert_eq!(created["flow_obj"]["title"], "Welcome!");

    let (status, text) = call(&url, reqwest::Method::GET, INVITATIONS, TOKEN, None).await;
    assert_eq!(status, 200, "{text}");
    let page = json_of(&text);
    assert_eq!(page["pagination"]["count"], 1);
    assert_eq!(page["results"][0]["pk"], pk.as_str());

    let (status, text) = call(
        &url,
        reqwest::Method::DELETE,
        &format!("{INVITATIONS}{pk}/"),
        TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let (_, text) = call(&url, reqwest::Method::GET, INVITATIONS, TOKEN, None).await;
    assert_eq!(json_of(&text)["pagination"]["count"], 0);

    let (status, _) = call(&url, reqwest::Method::GET, INVITATIONS, "wrong", None).await;
    assert_eq!(status, 403);

    let exit = server.stop("TERM");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

/// Creates and retrieves through the binary with its access log on, asks
/// for an unknown path and with a method a route lacks, stops it with
/// SIGTERM and returns its exit status, its standard error, the pk it
/// created and the lengths of the four answers' bodies.
async fn logged_session(log_format: &str) -> (ExitStatus, String, String, [usize; 4]) {
    let file = TempFile::new(DIRECTORY);
    let server = Running::with_directory(
        &file,
        &[("RUST_LOG", "info"), ("INVITATION_LOG_FORMAT", log_format)],
    );
    let url = server.url.clone();
    let (status, created) = call(
        &url,
        reqwest::Method::POST,
        INVITATIONS,
        TOKEN,
        Some(json!({"name": "body-marker-5f1e", "fixed_data": {"email": "marker@example.org"}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let pk = json_of(&created)["pk"].as_str().unwrap().to_owned();
    let path = format!("{INVITATIONS}{pk}/?search=query-marker");
    let (status, retrieved) = call(&url, reqwest::Method::GET, &path, TOKEN, None).await;
    assert_eq!(status, 200);
    let (status, not_found) = call(&url, reqwest::Method::GET, "/no/such/path/", TOKEN, None).await;
    assert_eq!(status, 404);
    let (status, not_allowed) = call(&url, reqwest::Method::DELETE, INVITATIONS, TOKEN, None).await;
    assert_eq!(status, 405);
    let (exit, stderr) = server.stop_reading_stderr("TERM");
    let lengths = [&created, &retrieved, &not_found, &not_allowed].map(|body| body.len());
    (exit, stderr, pk, lengths)
}

/// The client address of an access line, which must be this machine's.
fn local_client(text: &str) {
    let address: std::net::SocketAddr = text
        .parse()
        .unwrap_or_else(|e| panic!("client {text:?}: {e}"));
    assert!(address.ip().is_loopback(), "{address}");
}

#[tokio::test]
async fn every_request_is_logged_once_with_method_route_status_latency_bytes_and_client_and_no_secret(
) {
    let (exit, stderr, pk, lengths) = logged_session("text").await;
    assert_eq!(exit.code(), Some(0), "{stderr}");
    let access: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" invitation_http::access: "))
        .collect();
    assert_eq!(access.len(), 4, "{stderr}");
    let expected = [
        r#"request method=POST route="/api/v3/stages/invitation/invitations/" status=201 latency_us="#,
        r#"request method=GET route="/api/v3/stages/invitation/invitations/{pk}/" status=200 latency_us="#,
        r#"request method=GET route="-" status=404 latency_us="#,
        r#"request method=DELETE route="/api/v3/stages/invitation/invitations/" status=405 latency_us="#,
    ];
    for ((line, expected), length) in access.iter().zip(expected).zip(lengths) {
        assert!(line.contains("  INFO invitation_http::access: "), "{line}");
        let (_, fields) = line.split_once(": ").unwrap();
        let rest = fields
            .strip_prefix(expected)
            .unwrap_or_else(|| panic!("{line:?} is not {expected:?}…"));
        let [latency, bytes, client] = rest.split(' ').collect::<Vec<_>>()[..] else {
            panic!("{line}");
        };
        assert!(latency.parse::<u64>().is_ok(), "{line}");
        assert_eq!(bytes, format!("bytes={length}"), "{line}");
        local_client(
            client
                .strip_prefix("client=")
                .unwrap_or_else(|| panic!("{line}")),
        );
    }
    for secret in [
        TOKEN,
        "body-marker-5f1e",
        "marker@example.org",
        "query-marker",
        &pk,
    ] {
        assert!(!stderr.contains(secret), "{secret:?} was logged: {stderr}");
    }
}

#[tokio::test]
async fn with_the_json_log_format_each_access_line_is_a_json_object_with_the_same_fields() {
    let (exit, stderr, pk, lengths) = logged_session("json").await;
    assert_eq!(exit.code(), Some(0), "{stderr}");
    let lines: Vec<Value> = stderr.lines().map(json_of).collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "invitation_http::access")
        .collect();
    assert_eq!(access.len(), 4, "{stderr}");
    let expected = [
        ("POST", "/api/v3/stages/invitation/invitations/", 201),
        ("GET", "/api/v3/stages/invitation/invitations/{pk}/", 200),
        ("GET", "-", 404),
        ("DELETE", "/api/v3/stages/invitation/invitations/", 405),
    ];
    for ((line, (method, route, status)), length) in access.iter().zip(expected).zip(lengths) {
        let fields = &line["fields"];
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
        assert_eq!(fields["method"], method, "{line}");
        assert_eq!(fields["route"], route, "{line}");
        assert_eq!(fields["status"], status, "{line}");
        assert!(fields["latency_us"].is_u64(), "{line}");
        assert_eq!(fields["bytes"], length, "{line}");
        local_client(fields["client"].as_str().unwrap());
    }
    for secret in [TOKEN, "body-marker-5f1e", "query-marker", &pk] {
        assert!(!stderr.contains(secret), "{secret:?} was logged: {stderr}");
    }
}

#[tokio::test]
async fn sigint_stops_the_binary_with_exit_0_too() {
    let server = Running::start(
        &["--listen", "127.0.0.1:0"],
        &[("INVITATION_BOOTSTRAP_TOKEN", "boot")],
    );
    let (status, _) = call(&server.url, reqwest::Method::GET, INVITATIONS, "boot", None).await;
    assert_eq!(status, 200);
    let exit = server.stop("INT");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_client_timeout() {
    let server = Running::start(
        &["--listen", "127.0.0.1:0", "--client-timeout", "1"],
        &[("INVITATION_BOOTSTRAP_TOKEN", "boot")],
    );
    let mut socket =
        std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let read = socket.read(&mut [0; 64]);
    let took = started.elapsed();
    let closed = match &read {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    assert!(closed, "{read:?} after {took:?}");
    assert!(took >= Duration::from_secs(1), "closed after {took:?}");
    let exit = server.stop("TERM");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

#[tokio::test]
async fn the_bootstrap_token_is_akadmins_with_every_permission() {
    let file = TempFile::new(DIRECTORY);
    let server = Running::with_directory(&file, &[("INVITATION_BOOTSTRAP_TOKEN", "boot-token")]);
    let (status, text) = call(
        &server.url,
        reqwest::Method::POST,
        INVITATIONS,
        "boot-token",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let created = json_of(&text);
    assert_eq!(created["created_by"]["pk"], 1);
    assert_eq!(created["created_by"]["username"], "akadmin");
    let pk = created["pk"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &server.url,
        reqwest::Method::DELETE,
        &format!("{INVITATIONS}{pk}/"),
        "boot-token",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(server.stop("TERM").code(), Some(0));
}

#[tokio::test]
async fn without_directory_or_bootstrap_token_a_token_is_generated_printed_once_and_works() {
    let server = Running::start(&["--listen", "127.0.0.1:0"], &[]);
    let text = server.banner.join("\n");
    assert!(text.contains("shown only this once"), "{text}");
    let curl = server
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("curl "))
        .unwrap_or_else(|| panic!("no curl example in {text}"));
    let token = curl
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 64);
    assert_eq!(
        text.matches(&token).count(),
        2,
        "printed once, and once in the curl line"
    );
    assert!(
        text.contains(&format!("{}{INVITATIONS}", server.url)),
        "{text}"
    );
    let (status, body) = call(
        &server.url,
        reqwest::Method::POST,
        INVITATIONS,
        &token,
        Some(json!({"name": "welcome"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.stop("TERM").code(), Some(0));
}

fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut child = command(args).spawn().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code(), stderr)
}

#[test]
fn an_invalid_directory_file_stops_the_server_naming_the_file_line_and_problem() {
    let file = TempFile::new(&DIRECTORY.replace(
        "\"authentik_stages_invitation.delete_invitation\"",
        "\"authentik_stages_invitation.delete_everything\"",
    ));
    let path = file.0.to_str().unwrap();
    let (code, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", "--directory", path]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(path), "{stderr}");
    assert!(stderr.contains("line 13"), "{stderr}");
    assert!(stderr.contains("delete_everything"), "{stderr}");
}

#[test]
fn a_missing_directory_file_stops_the_server_naming_it() {
    let path = Path::new("/nonexistent/directory.toml");
    let (code, stderr) = run_to_exit(&[
        "--listen",
        "127.0.0.1:0",
        "--directory",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/directory.toml"), "{stderr}");
}

#[test]
fn a_request_in_flight_when_sigterm_arrives_is_answered_before_the_exit() {
    use std::io::Write as _;
    use std::net::TcpStream;

    let file = TempFile::new(DIRECTORY);
    let server = Running::with_directory(&file, &[]);
    let address = server.url.trim_start_matches("http://").to_owned();
    let body = r#"{"name": "in-flight"}"#;
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {INVITATIONS} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // Half the body, then the signal, then the rest.
    let (head, tail) = body.split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).unwrap();
    stream.flush().unwrap();
    thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    thread::sleep(Duration::from_millis(300));
    stream.write_all(tail.as_bytes()).unwrap();
    let mut response = String::new();
    let mut reader = BufReader::new(stream);
    reader.read_line(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let exit = server.stop_waiting();
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

#[tokio::test]
async fn with_a_database_url_the_binary_migrates_and_keeps_invitations_in_postgresql() {
    let Some((url, admin)) = test_database().await else {
        return;
    };
    let schema = format!("inv_server_{}", uuid::Uuid::new_v4().simple());
    let file = TempFile::new(DIRECTORY);
    let args = database_args(&file, &schema, &[]);
    let server = Running::start(&args, &[("INVITATION_DATABASE_URL", url.as_str())]);
    let (status, text) = call(
        &server.url,
        reqwest::Method::POST,
        INVITATIONS,
        TOKEN,
        Some(json!({"name": "durable", "flow": FLOW})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let pk = json_of(&text)["pk"].as_str().unwrap().to_owned();
    assert_eq!(server.stop("TERM").code(), Some(0));

    // A second process over the same schema sees it, and deletes it.
    let server = Running::start(&args, &[("INVITATION_DATABASE_URL", url.as_str())]);
    let one = format!("{INVITATIONS}{pk}/");
    let (status, text) = call(&server.url, reqwest::Method::GET, &one, TOKEN, None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        json_of(&text)["flow_obj"]["slug"],
        "default-enrollment-flow"
    );
    let (status, _) = call(&server.url, reqwest::Method::DELETE, &one, TOKEN, None).await;
    assert_eq!(status, 204);
    let (_, text) = call(&server.url, reqwest::Method::GET, INVITATIONS, TOKEN, None).await;
    assert_eq!(json_of(&text)["pagination"]["count"], 0);
    assert_eq!(server.stop("TERM").code(), Some(0));
    drop_schema(&admin, &schema).await;
}

#[tokio::test]
async fn the_pool_size_flag_caps_the_servers_postgresql_connections() {
    let Some((url, admin)) = test_database().await else {
        return;
    };
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("inv_pool_{suffix}");
    let application = format!("inv_pool_{suffix}");
    let separator = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{separator}application_name={application}");
    let file = TempFile::new(DIRECTORY);
    let args = database_args(&file, &schema, &["--database-pool-size", "2"]);
    let server = Running::start(&args, &[("INVITATION_DATABASE_URL", tagged.as_str())]);
    let calls: Vec<_> = (0..24)
        .map(|i| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let body = json!({"name": format!("pooled-{i}")});
                call(&url, reqwest::Method::POST, INVITATIONS, TOKEN, Some(body)).await
            })
        })
        .collect();
    for call in calls {
        let (status, text) = call.await.unwrap();
        assert_eq!(status, 201, "{text}");
    }
    let client = admin.pool().get().await.unwrap();
    let open: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&application],
        )
        .await
        .unwrap()
        .get(0);
    assert!((1..=2).contains(&open), "{open} connections open");
    assert_eq!(server.stop("TERM").code(), Some(0));
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

#[test]
fn an_unreachable_database_stops_the_server_with_a_message() {
    let (code, stderr) = run_to_exit(&[
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        "postgres://postgres:hunter2@127.0.0.1:1/postgres?connect_timeout=1",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PostgreSQL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
}

#[test]
fn an_sqlite_file_that_cannot_be_opened_stops_the_server_saying_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_database = dir.path().join("notes.txt");
    std::fs::write(&not_a_database, "x".repeat(4096)).unwrap();
    let missing = dir.path().join("no-such-directory").join("invitations.db");
    for (path, cause) in [
        (&not_a_database, "file is not a database"),
        (&missing, "No such file or directory"),
    ] {
        let url = format!("sqlite://{}", path.display());
        let (code, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", "--database-url", &url]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot set up SQLite storage at {}",
                path.display()
            )),
            "{stderr}"
        );
        assert_eq!(stderr.matches(cause).count(), 1, "{stderr}");
    }
}

#[test]
fn a_database_url_of_another_scheme_is_a_usage_error_that_shows_no_password() {
    let (code, stderr) = run_to_exit(&[
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        "mysql://app:hunter2@127.0.0.1/invitations",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("\"mysql\""), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
}

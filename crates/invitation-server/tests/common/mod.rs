//! The binary as a child process, for the integration tests.
// Test support: failing loudly is the point; not every test file uses
// every item.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const INVITATIONS: &str = "/api/v3/stages/invitation/invitations/";
pub const TOKEN: &str = "a-secret-api-token";
pub const FLOW: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

pub const DIRECTORY: &str = r#"
[[users]]
pk = 7
username = "alice"
name = "Alice Example"
email = "alice@example.org"
is_active = true
attributes = { team = "qa" }
permissions = [
    "authentik_stages_invitation.add_invitation",
    "authentik_stages_invitation.view_invitation",
    "authentik_stages_invitation.change_invitation",
    "authentik_stages_invitation.delete_invitation",
]
tokens = ["a-secret-api-token"]

[[flows]]
pk = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
slug = "default-enrollment-flow"
name = "Default enrollment"
title = "Welcome!"
designation = "enrollment"
"#;

/// A file in the temporary directory, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "invitation-server-test-{}.toml",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The running binary; killed on drop if a test fails before stopping it.
/// Its standard error is piped and left for the test to read (or not).
pub struct Running {
    pub child: Child,
    pub stdout: mpsc::Receiver<String>,
    pub url: String,
    pub banner: Vec<String>,
}

/// The binary with these flags and none of its environment variables
/// but `RUST_LOG=warn`, standard output and error piped; on the memory
/// store unless the flags name one (see [`command_with`]).
pub fn command(args: &[&str]) -> Command {
    command_with(args, &[])
}

/// As [`command`], with these environment variables. `--memory` is added
/// unless the flags or the environment name a store (`--memory`,
/// `--database-url`, `INVITATION_DATABASE_URL`), so that no test writes
/// the default `./invitations.db`.
pub fn command_with(args: &[&str], env: &[(&str, &str)]) -> Command {
    let names_a_store = args
        .iter()
        .any(|a| *a == "--memory" || a.starts_with("--database-url"))
        || env.iter().any(|(k, _)| *k == "INVITATION_DATABASE_URL");
    if names_a_store {
        bare_command(args, env)
    } else {
        let mut all = vec!["--memory"];
        all.extend_from_slice(args);
        bare_command(&all, env)
    }
}

/// The binary with exactly these flags (on the default store, the file
/// `invitations.db` of its working directory, unless they name another)
/// and none of its environment variables but these and `RUST_LOG=warn`.
pub fn bare_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_invitation-server"));
    command
        .args(args)
        .env_remove("INVITATION_LISTEN")
        .env_remove("INVITATION_DATABASE_URL")
        .env_remove("INVITATION_DATABASE_SCHEMA")
        .env_remove("INVITATION_DATABASE_POOL_SIZE")
        .env_remove("INVITATION_DATABASE_STATEMENT_TIMEOUT")
        .env_remove("INVITATION_DIRECTORY")
        .env_remove("INVITATION_BOOTSTRAP_TOKEN")
        .env_remove("INVITATION_INSTALL_ID")
        .env_remove("INVITATION_CLIENT_TIMEOUT")
        .env_remove("INVITATION_REQUEST_TIMEOUT")
        .env_remove("INVITATION_MAX_CONNECTIONS")
        .env_remove("INVITATION_LOG_FORMAT")
        .env_remove("INVITATION_SMTP_URL")
        .env_remove("INVITATION_MAIL_FROM")
        .env_remove("INVITATION_EMAIL_TEMPLATES")
        .env_remove("INVITATION_PUBLIC_URL")
        .env_remove("INVITATION_MAIL_RETRY_FIRST")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

impl Running {
    /// Started with these flags and environment (see [`command_with`]).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(command_with(args, env))
    }

    /// Started as `command` says, once it prints where it listens.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the binary prints where it listens");
        let url = first
            .strip_prefix("invitation-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        // The rest of the banner, if any, follows at once.
        let mut banner = vec![first];
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            banner.push(line);
        }
        Self {
            child,
            stdout: rx,
            url,
            banner,
        }
    }

    /// Started on a free port with this directory file.
    pub fn with_directory(file: &TempFile, env: &[(&str, &str)]) -> Self {
        let path = file.0.to_str().unwrap();
        Self::start(&["--listen", "127.0.0.1:0", "--directory", path], env)
    }

    /// Sends `signal` and waits for the exit.
    pub fn stop(self, signal: &str) -> ExitStatus {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.stop_waiting()
    }

    /// Sends `signal`, waits for the exit, and returns everything the
    /// process wrote to standard error.
    pub fn stop_reading_stderr(mut self, signal: &str) -> (ExitStatus, String) {
        let mut stderr = self.child.stderr.take().unwrap();
        let reader = thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).unwrap();
            text
        });
        let status = self.stop(signal);
        (status, reader.join().unwrap())
    }

    /// Waits for the exit (a signal was sent already).
    pub fn stop_waiting(mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = &self.stdout;
    }
}

pub async fn call(
    url: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method, format!("{url}{path}"))
        .header("Authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The test database (`INVITATION_TEST_DATABASE_URL`, default
/// `postgres://postgres@127.0.0.1:5432/postgres`) when it answers; outside
/// CI `None` (with a skip line) when it does not, in CI a failure.
pub async fn test_database() -> Option<(String, invitation_postgres::PgStore)> {
    let url = std::env::var("INVITATION_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let store = invitation_postgres::PgStore::connect(&url).expect("the test URL parses");
    match store.pool().get().await {
        Ok(_) => Some((url, store)),
        Err(e) => {
            let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            assert!(
                !in_ci,
                "PostgreSQL is not reachable ({e}); CI is set, so this fails"
            );
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: PostgreSQL not reachable ({e}); set INVITATION_TEST_DATABASE_URL to run"
            );
            None
        }
    }
}

/// Drops a test's schema and everything in it.
pub async fn drop_schema(admin: &invitation_postgres::PgStore, schema: &str) {
    let client = admin.pool().get().await.unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

/// Flags for a server on a free port with this directory file and its
/// tables in `schema`, then `extra`.
pub fn database_args<'a>(file: &'a TempFile, schema: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let path = file.0.to_str().unwrap();
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--directory",
        path,
        "--database-schema",
        schema,
    ];
    args.extend_from_slice(extra);
    args
}

//! A real SMTP server for tests: `scripts/smtp-sink.py` (aiosmtpd), which
//! writes each message it receives into a directory as JSON.
//!
//! Any test binary in the workspace can use it:
//!
//! ```text
//! #[path = "../../invitation-mail/tests/support/smtp_sink.rs"]
//! mod smtp_sink;
//! ```
//!
//! with `serde_json` as a dev-dependency. The sink runs under the Python
//! named by `INVITATION_TEST_SMTP_PYTHON` (a virtualenv with aiosmtpd, as
//! `scripts/test.sh` makes it). When that is unset, [`SmtpSink::start`]
//! returns `None` after printing one line saying the SMTP tests skipped
//! (once per test binary); with `CI` set it panics instead, so the run
//! fails.
// Test support: failing loudly is the point; not every binary uses every item.
#![allow(dead_code, clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable naming the Python that has aiosmtpd.
pub const PYTHON_VAR: &str = "INVITATION_TEST_SMTP_PYTHON";

/// The sink's script; every crate of the workspace is two levels below
/// its root.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/smtp-sink.py");

/// How long the sink may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

static SKIPPED: Once = Once::new();

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The Python to run the sink with; `None` (after the skip line) when
/// there is none outside CI.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os(PYTHON_VAR).filter(|v| !v.is_empty()) {
        Some(python) => Some(PathBuf::from(python)),
        None if in_ci() => panic!(
            "{PYTHON_VAR} is not set (a Python with aiosmtpd; scripts/test.sh sets it); CI is \
             set, so the SMTP tests fail instead of skipping"
        ),
        None => {
            SKIPPED.call_once(|| {
                // Straight to stderr: the test harness captures eprintln!.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the SMTP tests need {PYTHON_VAR} (a Python with aiosmtpd; \
                     scripts/test.sh sets it)"
                );
            });
            None
        }
    }
}

/// A directory of its own under the system's temporary directory,
/// removed on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A new, empty directory.
    pub fn new(prefix: &str) -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        Self(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One message the sink received.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`), in order.
    pub rcpt_tos: Vec<String>,
    /// The raw message.
    pub data: String,
    /// The user that authenticated, if one did.
    pub authenticated_as: Option<String>,
    /// The top-level headers, in order, values decoded.
    pub headers: Vec<(String, String)>,
    /// The leaf parts in order: content type and decoded text.
    pub parts: Vec<(String, String)>,
}

impl ReceivedMail {
    fn from_json(value: &serde_json::Value) -> Self {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let list = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
        Self {
            mail_from: text(&value["mail_from"]),
            rcpt_tos: list(&value["rcpt_tos"]).iter().map(text).collect(),
            data: text(&value["data"]),
            authenticated_as: value["authenticated_as"].as_str().map(str::to_owned),
            headers: list(&value["headers"])
                .iter()
                .map(|pair| (text(&pair[0]), text(&pair[1])))
                .collect(),
            parts: list(&value["parts"])
                .iter()
                .map(|part| (text(&part["content_type"]), text(&part["text"])))
                .collect(),
        }
    }

    /// The values of the headers called `name` (any case).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the one header called `name`; panics when there are
    /// none or several.
    pub fn header(&self, name: &str) -> &str {
        match self.headers_named(name).as_slice() {
            [one] => one,
            other => panic!("{} headers {name:?}: {other:?}", other.len()),
        }
    }

    /// The raw header section (up to the first empty line).
    pub fn raw_headers(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .or_else(|| self.data.split_once("\n\n"))
            .map_or(self.data.as_str(), |(head, _)| head)
    }

    /// The text of the first part of `content_type`.
    pub fn part(&self, content_type: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(t, _)| t == content_type)
            .map(|(_, text)| text.as_str())
    }
}

/// A running `scripts/smtp-sink.py` on 127.0.0.1.
#[derive(Debug)]
pub struct SmtpSink {
    /// Its port.
    pub port: u16,
    /// Where its messages are written.
    pub dir: ScratchDir,
    python: PathBuf,
    auth: Option<String>,
    child: Option<(Child, ChildStdin)>,
    /// While stopped: a socket bound to the port but not listening, so
    /// that connections to it are refused and nothing else (another
    /// test's server on port 0) is given the port.
    held: Option<tokio::net::TcpSocket>,
}

impl SmtpSink {
    /// A sink on a free port; `None` when the tests skip (see [`python`]).
    pub fn start() -> Option<Self> {
        Self::start_inner(None)
    }

    /// A sink that requires `AUTH` (PLAIN or LOGIN, without TLS) as
    /// `user` with `password`.
    pub fn start_with_auth(user: &str, password: &str) -> Option<Self> {
        Self::start_inner(Some(format!("{user}:{password}")))
    }

    fn start_inner(auth: Option<String>) -> Option<Self> {
        let python = python()?;
        let mut sink = Self {
            port: 0,
            dir: ScratchDir::new("smtp-sink"),
            python,
            auth,
            child: None,
            held: None,
        };
        // Another process may take the free port before the sink binds it.
        let mut last = String::new();
        for _ in 0..5 {
            sink.port = free_port();
            match sink.spawn() {
                Ok(()) => return Some(sink),
                Err(reason) => last = reason,
            }
        }
        panic!("the SMTP sink did not start: {last}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.path().join("sink.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let mut command = Command::new(&self.python);
        command
            .arg(SCRIPT)
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(auth) = &self.auth {
            command.arg("--auth").arg(auth);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.python.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) if line.trim() == "ready" => {
                self.child = Some((child, stdin));
                Ok(())
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let log =
                    std::fs::read_to_string(self.dir.path().join("sink.log")).unwrap_or_default();
                Err(format!("port {}: {log}", self.port))
            }
        }
    }

    /// `smtp://127.0.0.1:{port}?tls=none`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read the sink's directory")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.extension().is_some_and(|e| e == "json")
                    && !path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        names
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("read a message");
                let value: serde_json::Value =
                    serde_json::from_str(&text).expect("a message is JSON");
                ReceivedMail::from_json(&value)
            })
            .collect()
    }

    /// The messages once there are at least `count` (panics after 10 s).
    pub fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} messages after 10 s, not {count}",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server; the messages stay. Its port refuses connections
    /// and stays this sink's until [`SmtpSink::restart_on_same_port`]
    /// (when the port can be held: a connection the sink had may keep it
    /// busy for a while).
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
            self.held = tokio::net::TcpSocket::new_v4()
                .and_then(|socket| {
                    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], self.port)))?;
                    Ok(socket)
                })
                .ok();
        }
    }

    /// Starts the server again on the same port, after [`SmtpSink::stop`].
    pub fn restart_on_same_port(&mut self) {
        self.stop();
        self.held = None;
        let mut last = String::new();
        // The old socket may linger for a moment.
        for _ in 0..50 {
            match self.spawn() {
                Ok(()) => return,
                Err(reason) => last = reason,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the SMTP sink did not restart: {last}");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on at the moment.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

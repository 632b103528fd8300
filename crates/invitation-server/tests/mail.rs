//! Invitation mail end to end: the server binary queues `send_email`'s
//! mails and its dispatcher delivers them to a real SMTP server
//! (`scripts/smtp-sink.py`), through an SMTP outage, a restart on
//! PostgreSQL and two instances sharing one PostgreSQL schema.
//!
//! The tests skip (with a line saying so) without a Python with aiosmtpd
//! (`INVITATION_TEST_SMTP_PYTHON`) or, for the PostgreSQL ones, without
//! the test database; with `CI` set they fail instead.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "../../invitation-mail/tests/support/smtp_sink.rs"]
mod smtp_sink;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::*;
use smtp_sink::{ReceivedMail, SmtpSink};

/// The site invitation links open.
const PUBLIC_URL: &str = "https://id.example.org";
/// The `From` of the mails.
const MAIL_FROM: &str = "invitations@example.org";
/// The token of a user who may view invitations but not add them.
const VIEWER_TOKEN: &str = "a-token-that-may-only-view";
/// How long a test waits for mail to arrive.
const DELIVERY_WAIT: Duration = Duration::from_secs(20);
/// How long a test waits after the expected mails arrived, or after a
/// refused request, for mail that should not come: two dispatcher
/// passes (one every 2 s) and a margin.
const SETTLE: Duration = Duration::from_secs(5);

/// The common directory (alice, with every permission, and the
/// enrollment flow) and a user who may only view.
fn directory_file() -> TempFile {
    TempFile::new(&format!(
        r#"{DIRECTORY}
[[users]]
pk = 8
username = "victor"
permissions = ["authentik_stages_invitation.view_invitation"]
tokens = ["{VIEWER_TOKEN}"]
"#
    ))
}

/// The server's standard error, collected line by line as it is written.
#[derive(Clone)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn read(server: &mut Running) -> Self {
        let stderr = server.child.stderr.take().expect("standard error is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = Self(lines.clone());
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        log
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    /// The first line `wanted` accepts, once there is one.
    async fn wait_for(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        self.wait_for_lines(what, 1, wanted).await.remove(0)
    }

    /// The lines `wanted` accepts, once there are `count`.
    async fn wait_for_lines(
        &self,
        what: &str,
        count: usize,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let lines = || -> Vec<String> {
            let all = self.0.lock().unwrap();
            all.iter().filter(|l| wanted(l)).cloned().collect()
        };
        poll(DELIVERY_WAIT, || {
            let found = lines();
            if found.len() >= count {
                Ok(found)
            } else {
                Err(format!("not {count} log lines {what}:\n{}", self.text()))
            }
        })
        .await
    }

    /// Waits until the dispatcher has failed `passes` times to deliver
    /// and set mail aside for a retry.
    async fn wait_for_retries(&self, passes: usize) {
        self.wait_for_lines("of mail waiting for a retry", passes, |line| {
            line.contains("invitation mail not delivered; trying again later")
        })
        .await;
    }
}

/// The binary with the directory file, mail to `smtp` (none: mail off),
/// links on [`PUBLIC_URL`], a first retry after 1 s, and its tables in
/// PostgreSQL (`(url, schema)`) or in memory; its log at `info`.
fn start(file: &TempFile, smtp: Option<&str>, database: Option<(&str, &str)>) -> (Running, Log) {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--directory",
        file.0.to_str().unwrap(),
        "--mail-from",
        MAIL_FROM,
        "--public-url",
        PUBLIC_URL,
        "--mail-retry-first",
        "1",
    ];
    if let Some(url) = smtp {
        args.extend(["--smtp-url", url]);
    }
    let mut env = vec![("RUST_LOG", "info")];
    if let Some((url, schema)) = database {
        args.extend(["--database-schema", schema]);
        env.push(("INVITATION_DATABASE_URL", url));
    }
    let mut server = Running::start(&args, &env);
    let log = Log::read(&mut server);
    (server, log)
}

/// Creates an invitation (bound to the enrollment flow or not) and
/// returns its pk.
async fn create(url: &str, bound: bool) -> String {
    let mut body = json!({"name": format!("mail-{}", uuid::Uuid::new_v4().simple())});
    if bound {
        body["flow"] = json!(FLOW);
    }
    let (status, text) = call(url, reqwest::Method::POST, INVITATIONS, TOKEN, Some(body)).await;
    assert_eq!(status, 201, "{text}");
    json_of(&text)["pk"].as_str().unwrap().to_owned()
}

/// `send_email` for the invitation `pk`.
async fn send(url: &str, pk: &str, token: &str, body: Option<Value>) -> (u16, String) {
    let path = format!("{INVITATIONS}{pk}/send_email/");
    call(url, reqwest::Method::POST, &path, token, body).await
}

/// `send_email` to the addresses `to` (a JSON list), answered 204 with no
/// body.
async fn queue(url: &str, pk: &str, to: Value) {
    let (status, text) = send(url, pk, TOKEN, Some(json!({ "email_addresses": to }))).await;
    assert_eq!((status, text.as_str()), (204, ""), "to {to}");
}

/// The `To` of each mail, sorted.
fn recipients(mails: &[ReceivedMail]) -> Vec<&str> {
    let mut tos: Vec<&str> = mails.iter().map(|m| m.header("To")).collect();
    tos.sort_unstable();
    tos
}

/// The enrollment link of the invitation `pk`.
fn link(pk: &str) -> String {
    format!("{PUBLIC_URL}/if/flow/default-enrollment-flow/?itoken={pk}")
}

/// The invitation a mail carries: the `itoken` of the link in its text.
fn itoken(mail: &ReceivedMail) -> String {
    let text = mail.part("text/plain").expect("a text part");
    let (_, rest) = text.split_once("?itoken=").expect("a link in the text");
    rest.chars().take(36).collect()
}

/// What `attempt` gives, once it gives it (it is tried every 50 ms);
/// fails with its last complaint after `within`.
async fn poll<T>(within: Duration, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(complaint) => assert!(Instant::now() < deadline, "after {within:?}: {complaint}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The mails once there are at least `count` (within `within`).
async fn wait_for_mails(sink: &SmtpSink, count: usize, within: Duration) -> Vec<ReceivedMail> {
    poll(within, || {
        let messages = sink.messages();
        if messages.len() >= count {
            Ok(messages)
        } else {
            Err(format!("{} mails, not {count}", messages.len()))
        }
    })
    .await
}

/// Exactly `count` mails: waits for them, then for [`SETTLE`], and fails
/// on any more.
async fn exactly(sink: &SmtpSink, count: usize, within: Duration) -> Vec<ReceivedMail> {
    wait_for_mails(sink, count, within).await;
    tokio::time::sleep(SETTLE).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), count, "more mails arrived than were queued");
    messages
}

/// Fails when a `Message-ID` or a (`To`, invitation) pair is on two mails.
fn assert_no_mail_twice(mails: &[ReceivedMail]) {
    let mut ids = HashSet::new();
    let mut pairs = HashSet::new();
    for mail in mails {
        let id = mail.header("Message-ID");
        assert!(ids.insert(id.to_owned()), "Message-ID {id} twice");
        let pair = (mail.header("To").to_owned(), itoken(mail));
        assert!(pairs.insert(pair.clone()), "{pair:?} twice");
    }
}

/// A fresh schema name for a PostgreSQL test.
fn schema(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn each_address_gets_a_mail_with_the_cc_in_its_header_the_bcc_unseen_and_the_link() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let file = directory_file();
    let (server, log) = start(&file, Some(&sink.url()), None);
    let pk = create(&server.url, true).await;

    let (status, text) = send(
        &server.url,
        &pk,
        TOKEN,
        Some(json!({
            "email_addresses": ["bob@example.com", "carol@example.net"],
            "cc_addresses": ["dave@example.net"],
            "bcc_addresses": ["erin@example.com"],
        })),
    )
    .await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(text, "", "a 204 has no body");

    let mails = exactly(&sink, 2, DELIVERY_WAIT).await;
    assert_eq!(recipients(&mails), ["bob@example.com", "carol@example.net"]);
    for mail in &mails {
        let to = mail.header("To").to_owned();
        let mut envelope = mail.rcpt_tos.clone();
        envelope.sort();
        let mut expected = vec![
            to.clone(),
            "dave@example.net".into(),
            "erin@example.com".into(),
        ];
        expected.sort();
        assert_eq!(envelope, expected, "envelope of the mail to {to}");
        assert_eq!(mail.mail_from, MAIL_FROM);
        assert_eq!(mail.header("Cc"), "dave@example.net");
        assert!(mail.headers_named("Bcc").is_empty(), "{:?}", mail.headers);
        assert!(!mail.data.contains("erin@"), "{}", mail.data);
        assert_eq!(
            mail.header("Subject"),
            "You have been invited to id.example.org"
        );
        let id = mail.header("Message-ID");
        assert!(id.starts_with('<') && id.ends_with("@example.org>"), "{id}");
        let types: Vec<&str> = mail.parts.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, ["text/plain", "text/html"]);
        let text = mail.part("text/plain").unwrap();
        assert!(text.contains(&link(&pk)), "{text}");
        let html = mail.part("text/html").unwrap();
        assert!(html.contains(&format!("href=\"{}\"", link(&pk))), "{html}");
    }
    assert_no_mail_twice(&mails);

    assert_eq!(server.stop("TERM").code(), Some(0), "{}", log.text());
}

#[tokio::test]
async fn refused_send_email_requests_answer_their_errors_and_queue_nothing() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let file = directory_file();
    let (server, log) = start(&file, Some(&sink.url()), None);
    let url = server.url.as_str();
    let bound = create(url, true).await;
    let unbound = create(url, false).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let error = |text: &str| json!({ "error": text });
    let too_many = error("Too many recipients: at most 100 per request.");
    let one = json!(["bob@example.com"]);
    let to_60: Vec<String> = (0..60).map(|i| format!("to{i}@example.com")).collect();
    let cc_41: Vec<String> = (0..41).map(|i| format!("cc{i}@example.com")).collect();

    let none = error("No email addresses provided");
    let cases = [
        (&bound, TOKEN, None, 400, none.clone()),
        (&bound, TOKEN, Some(json!({})), 400, none.clone()),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": []})),
            400,
            none,
        ),
        (
            &unbound,
            TOKEN,
            Some(json!({ "email_addresses": one })),
            400,
            error("Invitation has no associated flow"),
        ),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": ["not-an-address"]})),
            400,
            error("Invalid email address: not-an-address"),
        ),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": ["bob@example.com\r\nBcc: eve@example.org"]})),
            400,
            error("Invalid email address: bob@example.com\r\nBcc: eve@example.org"),
        ),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": one, "cc_addresses": ["Dave <dave@example.net>"]})),
            400,
            error("Invalid email address: Dave <dave@example.net>"),
        ),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": one, "bcc_addresses": ["erin@example.com\n"]})),
            400,
            error("Invalid email address: erin@example.com\n"),
        ),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": to_60, "cc_addresses": cc_41})),
            400,
            too_many.clone(),
        ),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": one, "template": "../etc/passwd"})),
            400,
            error("Template name \"../etc/passwd\" is not allowed."),
        ),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": one, "template": "email/none.html"})),
            400,
            error("Template \"email/none.html\" does not exist."),
        ),
        (
            &bound,
            TOKEN,
            Some(json!({"email_addresses": "bob@example.com"})),
            400,
            json!({
                "email_addresses": ["Expected a list of items but got type \"str\"."],
                "code": "invalid",
            }),
        ),
        (
            &unknown,
            TOKEN,
            Some(json!({ "email_addresses": one })),
            404,
            json!({"detail": "No Invitation matches the given query.", "code": "not_found"}),
        ),
        (
            &bound,
            VIEWER_TOKEN,
            Some(json!({ "email_addresses": one })),
            403,
            json!({
                "detail": "You do not have permission to perform this action.",
                "code": "permission_denied",
            }),
        ),
    ];
    for (pk, token, body, status, answer) in cases {
        let (got, text) = send(url, pk, token, body.clone()).await;
        assert_eq!(got, status, "{body:?}: {text}");
        assert_eq!(json_of(&text), answer, "{body:?}");
    }

    // About a mebibyte of addresses: just under the body limit, too many
    // recipients; just over it, too large.
    let limit = invitation_http::MAX_BODY_BYTES;
    for (size, status) in [(limit - 100, 400), (limit + 100, 413)] {
        // `{"email_addresses":[` and `]}`, then 22 bytes an address.
        let count = (size - 22) / 22;
        let to: Vec<String> = (0..count).map(|i| format!("u{i:06}@example.org")).collect();
        let body = json!({ "email_addresses": to });
        let length = body.to_string().len();
        assert!((size - 25..=size).contains(&length), "{length}");
        let (got, text) = send(url, &bound, TOKEN, Some(body)).await;
        assert_eq!(got, status, "{length} bytes: {text}");
        if status == 400 {
            assert_eq!(json_of(&text), too_many);
        } else {
            assert!(json_of(&text)["detail"].is_string(), "{text}");
        }
    }

    tokio::time::sleep(SETTLE).await;
    assert_eq!(sink.messages().len(), 0, "a refused request queued mail");
    assert!(!log.text().contains("sent="), "{}", log.text());
    assert_eq!(server.stop("TERM").code(), Some(0), "{}", log.text());
}

#[tokio::test]
async fn without_smtp_send_email_answers_503_and_the_start_up_log_says_mail_is_off() {
    let file = directory_file();
    let (server, log) = start(&file, None, None);
    let url = server.url.as_str();
    let pk = create(url, true).await;
    let body = json!({"email_addresses": ["bob@example.com"]});

    let (status, text) = send(url, &pk, TOKEN, Some(body.clone())).await;
    assert_eq!(
        (status, json_of(&text)),
        (
            503,
            json!({"error": "Email is not configured on this server."})
        )
    );
    // Whether mail is on is checked after the permission, before the
    // invitation is looked up.
    let (status, _) = send(url, &pk, VIEWER_TOKEN, Some(body.clone())).await;
    assert_eq!(status, 403);
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, _) = send(url, &unknown, TOKEN, Some(body)).await;
    assert_eq!(status, 503);

    log.wait_for("saying mail is off", |line| {
        line.contains("mail is off (no --smtp-url)")
    })
    .await;
    assert_eq!(server.stop("TERM").code(), Some(0), "{}", log.text());
}

#[tokio::test]
async fn mail_queued_while_the_smtp_server_is_down_arrives_once_when_it_is_back() {
    let Some(mut sink) = SmtpSink::start() else {
        return;
    };
    sink.stop();
    let file = directory_file();
    let (server, log) = start(&file, Some(&sink.url()), None);
    let pk = create(&server.url, true).await;
    queue(
        &server.url,
        &pk,
        json!(["bob@example.com", "carol@example.net"]),
    )
    .await;
    queue(&server.url, &pk, json!(["dave@example.net"])).await;
    // Failed, and failed again when tried again.
    log.wait_for_retries(2).await;

    sink.restart_on_same_port();
    let mails = exactly(&sink, 3, DELIVERY_WAIT).await;
    assert_eq!(
        recipients(&mails),
        ["bob@example.com", "carol@example.net", "dave@example.net"]
    );
    assert_no_mail_twice(&mails);
    assert_eq!(server.stop("TERM").code(), Some(0), "{}", log.text());
}

#[tokio::test]
async fn mail_queued_in_postgresql_is_delivered_once_by_the_next_server_after_a_restart() {
    let Some(mut sink) = SmtpSink::start() else {
        return;
    };
    let Some((url, admin)) = test_database().await else {
        return;
    };
    sink.stop();
    let schema = schema("inv_mail_restart");
    let file = directory_file();
    let database = Some((url.as_str(), schema.as_str()));

    let (first, log) = start(&file, Some(&sink.url()), database);
    let pk = create(&first.url, true).await;
    queue(
        &first.url,
        &pk,
        json!(["bob@example.com", "carol@example.net"]),
    )
    .await;
    log.wait_for_retries(1).await;
    assert_eq!(first.stop("TERM").code(), Some(0), "{}", log.text());

    sink.restart_on_same_port();
    let (second, log) = start(&file, Some(&sink.url()), database);
    let mails = exactly(&sink, 2, DELIVERY_WAIT).await;
    assert_eq!(recipients(&mails), ["bob@example.com", "carol@example.net"]);
    for mail in &mails {
        assert_eq!(itoken(mail), pk);
    }
    assert_no_mail_twice(&mails);
    assert_eq!(second.stop("TERM").code(), Some(0), "{}", log.text());
    drop_schema(&admin, &schema).await;
}

#[tokio::test]
async fn two_servers_on_one_postgresql_schema_deliver_each_queued_mail_once() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let Some((url, admin)) = test_database().await else {
        return;
    };
    let schema = schema("inv_mail_shared");
    let file = directory_file();
    let database = Some((url.as_str(), schema.as_str()));
    let (a, log_a) = start(&file, Some(&sink.url()), database);
    let (b, log_b) = start(&file, Some(&sink.url()), database);

    // The same 100 addresses for two invitations, each sent through its
    // own server: 200 mails.
    let to: Vec<String> = (0..100).map(|i| format!("r{i}@example.com")).collect();
    let mut pks = Vec::new();
    for server in [&a, &b] {
        let pk = create(&server.url, true).await;
        queue(&server.url, &pk, json!(to)).await;
        pks.push(pk);
    }

    let mails = exactly(&sink, 200, Duration::from_secs(60)).await;
    assert_no_mail_twice(&mails);
    let mut per_invitation: HashMap<String, usize> = HashMap::new();
    for mail in &mails {
        *per_invitation.entry(itoken(mail)).or_default() += 1;
    }
    assert_eq!(per_invitation.len(), 2, "{per_invitation:?}");
    for pk in &pks {
        assert_eq!(per_invitation.get(pk), Some(&100), "{per_invitation:?}");
    }

    assert_eq!(a.stop("TERM").code(), Some(0), "{}", log_a.text());
    assert_eq!(b.stop("TERM").code(), Some(0), "{}", log_b.text());
    drop_schema(&admin, &schema).await;
}

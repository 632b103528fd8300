//! `SmtpMailer` against a real SMTP server (`scripts/smtp-sink.py`).
//!
//! Each test that needs the server starts its own; without
//! `INVITATION_TEST_SMTP_PYTHON` they print that they skipped (and fail
//! when `CI` is set).
// Test code: a failed step should fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use std::error::Error as _;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use invitation_core::mail::{
    EmailAddress, InvitationMail, MailError, MailId, MailTemplates, Mailer, QueuedMail,
    DEFAULT_TEMPLATE,
};
use invitation_core::InvitationId;
use invitation_mail::{SmtpMailer, SmtpUrl, Templates};
use smtp_sink::SmtpSink;

const LINK: &str =
    "https://id.example.org/if/flow/signup/?itoken=3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn address(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

fn values(inviter: &str) -> InvitationMail {
    InvitationMail {
        url: LINK.to_owned(),
        host: "id.example.org".to_owned(),
        expires: Some(Utc.with_ymd_and_hms(2026, 3, 14, 9, 30, 0).unwrap()),
        inviter: inviter.to_owned(),
        invitation_name: "welcome-bob".to_owned(),
    }
}

fn queued(to: &str, inviter: &str) -> QueuedMail {
    QueuedMail {
        id: MailId::from_uuid(uuid::Uuid::new_v4()),
        invitation: InvitationId::from_uuid(uuid::Uuid::new_v4()),
        to: address(to),
        cc: vec![address("carol@example.net"), address("dave@example.net")],
        bcc: vec![address("erin@example.com")],
        subject: "You have been invited to id.example.org".to_owned(),
        body: Templates::builtin()
            .render(DEFAULT_TEMPLATE, &values(inviter))
            .unwrap(),
        queued_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        attempts: 0,
    }
}

fn mailer(url: &str) -> SmtpMailer {
    SmtpMailer::new(
        SmtpUrl::parse(url).unwrap(),
        "Invitations <invitations@example.org>".parse().unwrap(),
    )
    .unwrap()
}

/// The sink's URL with `user:password@` (percent-encoded).
fn with_credentials(sink: &SmtpSink, userinfo: &str) -> String {
    format!("smtp://{userinfo}@127.0.0.1:{}?tls=none", sink.port)
}

/// Every message of an error and its sources, `Display` and `Debug`.
fn chain(error: &MailError) -> String {
    let mut text = format!("{error} {error:?}");
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(" | {e} {e:?}"));
        source = e.source();
    }
    text
}

#[tokio::test]
async fn a_mail_arrives_with_its_envelope_headers_and_both_parts() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mail = queued("bob@example.com", "Alice");
    mailer(&sink.url()).send(&mail).await.unwrap();

    let [received] = sink.wait_for(1).try_into().unwrap();
    assert_eq!(received.mail_from, "invitations@example.org");
    assert_eq!(
        received.rcpt_tos,
        [
            "bob@example.com",
            "carol@example.net",
            "dave@example.net",
            "erin@example.com"
        ]
    );
    assert_eq!(
        received.header("From"),
        "Invitations <invitations@example.org>"
    );
    assert_eq!(received.header("To"), "bob@example.com");
    assert_eq!(received.header("Cc"), "carol@example.net, dave@example.net");
    assert!(
        received.headers_named("Bcc").is_empty(),
        "{:?}",
        received.headers
    );
    assert!(!received.data.contains("erin@"), "{}", received.data);
    assert_eq!(
        received.header("Subject"),
        "You have been invited to id.example.org"
    );
    assert_eq!(
        received.header("Message-ID"),
        format!("<{}@example.org>", mail.id)
    );
    assert_eq!(received.header("Date"), "Sun, 01 Mar 2026 12:00:00 +0000");
    assert!(received
        .header("Content-Type")
        .starts_with("multipart/alternative"));

    let types: Vec<&str> = received.parts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let text = received.part("text/plain").unwrap().replace("\r\n", "\n");
    assert!(text.contains(&format!("\n{LINK}\n")), "{text}");
    assert!(text.contains("Alice invited you"), "{text}");
    let html = received.part("text/html").unwrap();
    assert!(html.contains(&format!("href=\"{LINK}\"")), "{html}");
    assert!(html.contains("Accept Invitation"), "{html}");
}

#[tokio::test]
async fn a_mail_sent_again_is_the_same_message() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mail = queued("bob@example.com", "Alice");
    let mailer = mailer(&sink.url());
    mailer.send(&mail).await.unwrap();
    mailer.send(&mail).await.unwrap();

    let [first, second] = sink.wait_for(2).try_into().unwrap();
    assert_eq!(first.header("Message-ID"), second.header("Message-ID"));
    assert_eq!(first.header("Date"), second.header("Date"));
    let other = queued("bob@example.com", "Alice");
    mailer.send(&other).await.unwrap();
    let third = sink.wait_for(3).pop().unwrap();
    assert_ne!(third.header("Message-ID"), first.header("Message-ID"));
}

#[tokio::test]
async fn the_urls_user_and_password_authenticate() {
    let Some(sink) = SmtpSink::start_with_auth("mailer", "pa:ss@word") else {
        return;
    };
    mailer(&with_credentials(&sink, "mailer:pa%3Ass%40word"))
        .send(&queued("bob@example.com", "Alice"))
        .await
        .unwrap();
    let [received] = sink.wait_for(1).try_into().unwrap();
    assert_eq!(received.authenticated_as.as_deref(), Some("mailer"));

    // The server requires it: without credentials it refuses for good.
    let error = mailer(&sink.url())
        .send(&queued("bob@example.com", "Alice"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Permanent(_)), "{error:?}");
}

#[tokio::test]
async fn a_wrong_password_fails_without_showing_it() {
    let Some(sink) = SmtpSink::start_with_auth("mailer", "right-password") else {
        return;
    };
    let mailer = mailer(&with_credentials(&sink, "mailer:wrong-password"));
    let error = mailer
        .send(&queued("bob@example.com", "Alice"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Permanent(_)), "{error:?}");
    let shown = format!("{} {mailer:?}", chain(&error));
    assert!(!shown.contains("wrong-password"), "{shown}");
    assert!(shown.contains("mailer:***@127.0.0.1"), "{shown}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_stopped_server_is_a_transient_failure_and_a_restarted_one_delivers() {
    let Some(mut sink) = SmtpSink::start() else {
        return;
    };
    let mailer = mailer(&sink.url());
    let mail = queued("bob@example.com", "Alice");
    sink.stop();
    let error = mailer.send(&mail).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error:?}");

    sink.restart_on_same_port();
    mailer.send(&mail).await.unwrap();
    assert_eq!(sink.wait_for(1).len(), 1);
}

#[tokio::test]
async fn a_refused_recipient_is_a_permanent_failure() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let error = mailer(&sink.url())
        .send(&queued("rejected@example.com", "Alice"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Permanent(_)), "{error:?}");
    assert!(chain(&error).contains("550"), "{}", chain(&error));
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn starttls_is_required_when_the_url_asks_for_it() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    // The sink offers no STARTTLS: nothing may go out in plain text.
    let url = format!("smtp://127.0.0.1:{}?tls=starttls", sink.port);
    let error = mailer(&url)
        .send(&queued("bob@example.com", "Alice"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn line_breaks_in_values_and_subject_make_no_header() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mut mail = queued("bob@example.com", "Eve\r\nBcc: mallory@example.com\r\n");
    mail.subject = "Hello\r\nBcc: mallory@example.com".to_owned();
    assert!(mail.body.text.contains("Eve\r\nBcc: mallory@example.com"));
    mailer(&sink.url()).send(&mail).await.unwrap();

    let [received] = sink.wait_for(1).try_into().unwrap();
    assert!(
        received.headers_named("Bcc").is_empty(),
        "{:?}",
        received.headers
    );
    let injected = received
        .raw_headers()
        .lines()
        .filter(|line| line.to_ascii_lowercase().starts_with("bcc:"))
        .count();
    assert_eq!(injected, 0, "{}", received.raw_headers());
    assert!(!received.rcpt_tos.iter().any(|r| r.contains("mallory")));
    assert_eq!(
        received.header("Subject"),
        "Hello  Bcc: mallory@example.com"
    );
    // The values stay in the body, where they are text.
    let text = received.part("text/plain").unwrap();
    assert!(text.contains("Bcc: mallory@example.com"), "{text}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    // Accepts connections and says nothing: no greeting, ever.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mailer = mailer(&format!("smtp://127.0.0.1:{port}?tls=none"))
        .with_timeout(Duration::from_millis(500))
        .unwrap();
    let started = Instant::now();
    let error = mailer
        .send(&queued("bob@example.com", "Alice"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error:?}");
    assert!(chain(&error).contains("longer than"), "{}", chain(&error));
    assert!(started.elapsed() < Duration::from_secs(10));
    held.abort();
}

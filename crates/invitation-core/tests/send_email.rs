//! `send_email` and `deliver_mail` on the memory store as the outbox: the
//! events they record, and what the mailer is handed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use invitation_core::{
    AllowAll, EmailAddress, InvitationEvent, InvitationInput, InvitationMail, InvitationService,
    MailTemplates, Principal, RenderedMail, RetryPolicy, SendEmail, SendEmailError, Site,
    TemplateError, UserId,
};
use invitation_memory::{MemoryDirectory, MemoryStore};
use invitation_testkit::doubles::{RecordingEvents, RecordingMailer};

/// Renders the link and the host, and knows one template.
#[derive(Debug)]
struct Plain;

impl MailTemplates for Plain {
    fn render(&self, name: &str, mail: &InvitationMail) -> Result<RenderedMail, TemplateError> {
        if name != "email/invitation.html" {
            return Err(TemplateError::NotFound(name.to_owned()));
        }
        Ok(RenderedMail {
            html: format!("<a href=\"{}\">{}</a>", mail.url, mail.inviter),
            text: format!("{} invites you: {}", mail.inviter, mail.url),
        })
    }
}

struct World {
    service: InvitationService,
    events: Arc<RecordingEvents>,
    admin: Principal,
}

fn world() -> World {
    let directory = Arc::new(
        MemoryDirectory::new()
            .with_user(1, "alice")
            .with_flow("join"),
    );
    let store = Arc::new(MemoryStore::new());
    let events = Arc::new(RecordingEvents::new());
    let service = InvitationService::builder(store.clone())
        .authorizer(Arc::new(AllowAll))
        .flows(directory.clone())
        .users(directory)
        .events(events.clone())
        .mail(store, Arc::new(Plain))
        .build();
    World {
        service,
        events,
        admin: Principal::user(UserId::new(1)),
    }
}

fn to(addresses: &[&str]) -> SendEmail {
    SendEmail {
        to: addresses.iter().map(|a| (*a).to_owned()).collect(),
        ..SendEmail::default()
    }
}

#[tokio::test]
async fn queued_mails_are_recorded_once_then_delivered_with_the_link() {
    let w = world();
    let flow = MemoryDirectory::flow_id_for("join");
    let created = w
        .service
        .create(
            &w.admin,
            InvitationInput::new().name("team").flow(Some(flow)),
        )
        .await
        .unwrap();
    let id = *created.invitation.id();
    let site = Site::parse("https://id.example.org").unwrap();
    let queued = w
        .service
        .send_email(
            &w.admin,
            &id,
            to(&["bob@example.org", "eve@example.org"]),
            &site,
        )
        .await
        .unwrap();
    assert_eq!(queued, 2);
    assert_eq!(
        w.events.events().last(),
        Some(&InvitationEvent::EmailQueued {
            invitation: id,
            by: UserId::new(1),
            mails: 2
        })
    );

    let mailer = RecordingMailer::new();
    let eve = EmailAddress::parse("eve@example.org").unwrap();
    mailer.fail_permanently(&eve);
    let (report, given_up) = w
        .service
        .deliver_mail(&mailer, &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!((report.sent, report.given_up), (1, 1));
    let sent = mailer.sent();
    assert_eq!(sent[0].to.as_str(), "bob@example.org");
    let link = format!("https://id.example.org/if/flow/join/?itoken={id}");
    assert_eq!(sent[0].body.text, format!("alice invites you: {link}"));
    assert_eq!(given_up[0].to, "e***@example.org");
    let failed: Vec<_> = w
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e, InvitationEvent::EmailFailed { .. }))
        .collect();
    assert_eq!(failed.len(), 1);
    let InvitationEvent::EmailFailed { to, error, .. } = &failed[0] else {
        unreachable!()
    };
    assert_eq!(to, "e***@example.org");
    assert!(!error.contains("eve@example.org"), "{error}");

    // Nothing is due any more.
    let (again, _) = w
        .service
        .deliver_mail(&mailer, &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!((again.sent, again.retrying, again.given_up), (0, 0, 0));
}

#[tokio::test]
async fn a_refused_request_records_and_queues_nothing() {
    let w = world();
    let unbound = w
        .service
        .create(&w.admin, InvitationInput::new().name("unbound"))
        .await
        .unwrap();
    let site = Site::parse("http://localhost:9000").unwrap();
    let before = w.events.events().len();
    let refused = w
        .service
        .send_email(
            &w.admin,
            unbound.invitation.id(),
            to(&["bob@example.org"]),
            &site,
        )
        .await;
    assert!(
        matches!(refused, Err(SendEmailError::NoFlow)),
        "{refused:?}"
    );
    assert_eq!(w.events.events().len(), before);
    let (report, _) = w
        .service
        .deliver_mail(&RecordingMailer::new(), &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
}

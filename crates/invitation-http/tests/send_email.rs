//! `send_email` over a real port, on the memory store as the outbox: what
//! is queued for a good request, and each refusal, in authentik's order,
//! with nothing queued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use invitation_core::{DeleteOutcome, InvitationService, MailOutbox, Permission, QueuedMail, Site};
use invitation_http::{router, AppState, INVITATIONS_PATH};
use invitation_mail::Templates;
use invitation_memory::{MemoryDirectory, MemoryStore};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token";
const VIEWER: &str = "viewer-token";

struct World {
    base: String,
    store: Arc<MemoryStore>,
    client: reqwest::Client,
}

async fn world(mail: bool, public: Option<&str>) -> World {
    let directory = Arc::new(
        MemoryDirectory::new()
            .with_user(1, "admin")
            .with_token(1, ADMIN)
            .with_permission(1, Permission::Add)
            .with_permission(1, Permission::View)
            .with_user(2, "viewer")
            .with_token(2, VIEWER)
            .with_permission(2, Permission::View)
            .with_flow("sign-up"),
    );
    let store = Arc::new(MemoryStore::new());
    let mut service = InvitationService::builder(store.clone())
        .authorizer(directory.clone())
        .flows(directory.clone())
        .users(directory.clone())
        .build();
    if mail {
        service = service.with_mail(store.clone(), Arc::new(Templates::builtin()));
    }
    let mut state = AppState::new(service, directory);
    if let Some(url) = public {
        state = state.with_public_site(Site::parse(url).unwrap());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    World {
        base,
        store,
        client: reqwest::Client::new(),
    }
}

impl World {
    async fn create(&self, body: Value) -> String {
        let created: Value = self
            .client
            .post(format!("{}{INVITATIONS_PATH}", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["pk"].as_str().unwrap().to_owned()
    }

    async fn send(&self, token: &str, pk: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{INVITATIONS_PATH}{pk}/send_email/", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Every mail queued so far.
    async fn queued(&self) -> Vec<QueuedMail> {
        let now = chrono::Utc::now() + chrono::Duration::days(1);
        self.store.claim(now, now, 1000).await.unwrap()
    }
}

fn flow_id() -> String {
    MemoryDirectory::flow_id_for("sign-up").to_string()
}

#[tokio::test]
async fn one_mail_per_address_is_queued_with_the_link_on_the_requests_site() {
    let w = world(true, None).await;
    let pk = w
        .create(json!({"name": "welcome", "flow": flow_id(), "expires": "2040-01-02T03:04:05Z"}))
        .await;
    let (status, body) = w
        .send(
            ADMIN,
            &pk,
            &json!({
                "email_addresses": ["bob@example.org", "carol@example.org"],
                "cc_addresses": ["hr@example.org"],
                "bcc_addresses": ["audit@example.org"],
            }),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let mut mails = w.queued().await;
    mails.sort_by(|a, b| a.to.cmp(&b.to));
    assert_eq!(mails.len(), 2);
    let host = w.base.trim_start_matches("http://");
    for (mail, to) in mails.iter().zip(["bob@example.org", "carol@example.org"]) {
        assert_eq!(mail.to.as_str(), to);
        assert_eq!(
            mail.cc.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            ["hr@example.org"]
        );
        assert_eq!(
            mail.bcc.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            ["audit@example.org"]
        );
        assert_eq!(mail.subject, format!("You have been invited to {host}"));
        let link = format!("http://{host}/if/flow/sign-up/?itoken={pk}");
        assert!(mail.body.html.contains(&link), "{}", mail.body.html);
        assert!(mail.body.text.contains(&link), "{}", mail.body.text);
    }
    assert_ne!(mails[0].id, mails[1].id);
}

#[tokio::test]
async fn the_public_site_names_the_link_whatever_the_host_header() {
    let w = world(true, Some("https://id.example.org")).await;
    let pk = w
        .create(json!({"name": "welcome", "flow": flow_id()}))
        .await;
    let (status, _) = w
        .send(ADMIN, &pk, &json!({"email_addresses": ["bob@example.org"]}))
        .await;
    assert_eq!(status, 204);
    let mail = w.queued().await.pop().unwrap();
    assert_eq!(mail.subject, "You have been invited to id.example.org");
    let link = format!("https://id.example.org/if/flow/sign-up/?itoken={pk}");
    assert!(mail.body.text.contains(&link));
}

#[tokio::test]
async fn each_refusal_is_answered_in_order_and_queues_nothing() {
    let w = world(true, None).await;
    let bound = w.create(json!({"name": "bound", "flow": flow_id()})).await;
    let unbound = w.create(json!({"name": "unbound"})).await;
    let unknown = "00000000-0000-0000-0000-0000000000aa";
    let error = |text: &str| json!({ "error": text });
    let many: Vec<String> = (0..101).map(|i| format!("u{i}@example.org")).collect();
    let cases: Vec<(&str, &str, Value, u16, Value)> = vec![
        (
            VIEWER,
            bound.as_str(),
            json!({"email_addresses": ["a@b.org"]}),
            403,
            json!({
                "detail": "You do not have permission to perform this action.",
                "code": "permission_denied"
            }),
        ),
        (
            ADMIN,
            unknown,
            json!({"email_addresses": ["a@b.org"]}),
            404,
            json!({
                "detail": "No Invitation matches the given query.", "code": "not_found"
            }),
        ),
        (
            ADMIN,
            unknown,
            json!({}),
            404,
            json!({
                "detail": "No Invitation matches the given query.", "code": "not_found"
            }),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({}),
            400,
            error("No email addresses provided"),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({"email_addresses": []}),
            400,
            error("No email addresses provided"),
        ),
        (
            ADMIN,
            unbound.as_str(),
            json!({"email_addresses": ["a@b.org"]}),
            400,
            error("Invitation has no associated flow"),
        ),
        (
            ADMIN,
            unbound.as_str(),
            json!({"email_addresses": ["not an address"]}),
            400,
            error("Invitation has no associated flow"),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({"email_addresses": ["a@b.org", "not an address"]}),
            400,
            error("Invalid email address: not an address"),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({"email_addresses": ["a@b.org"], "bcc_addresses": ["x@y.org\r\nBcc: eve@evil.org"]}),
            400,
            error("Invalid email address: x@y.org\r\nBcc: eve@evil.org"),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({"email_addresses": many}),
            400,
            error("Too many recipients: at most 100 per request."),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({"email_addresses": ["a@b.org"], "template": "../../etc/passwd"}),
            400,
            error("Template name \"../../etc/passwd\" is not allowed."),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({"email_addresses": ["a@b.org"], "template": "email/missing.html"}),
            400,
            error("Template \"email/missing.html\" does not exist."),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({"email_addresses": "a@b.org"}),
            400,
            json!({
                "email_addresses": ["Expected a list of items but got type \"str\"."], "code": "invalid"
            }),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!({"email_addresses": ["a@b.org"], "template": ""}),
            400,
            json!({
                "template": ["This field may not be blank."], "code": "invalid"
            }),
        ),
        (
            ADMIN,
            bound.as_str(),
            json!([1]),
            400,
            json!({
                "non_field_errors": ["Invalid data. Expected a dictionary, but got list."], "code": "invalid"
            }),
        ),
    ];
    for (token, pk, body, status, expected) in cases {
        let answer = w.send(token, pk, &body).await;
        assert_eq!(answer, (status, expected), "{body}");
    }
    assert!(w.queued().await.is_empty(), "nothing queued");
}

#[tokio::test]
async fn without_mail_the_server_answers_503_after_the_permission_check() {
    let w = world(false, None).await;
    let pk = w.create(json!({"name": "bound", "flow": flow_id()})).await;
    let body = json!({"email_addresses": ["a@b.org"]});
    assert_eq!(
        w.send(ADMIN, &pk, &body).await,
        (
            503,
            json!({"error": "Email is not configured on this server."})
        )
    );
    assert_eq!(w.send(VIEWER, &pk, &body).await.0, 403);
    assert!(w.queued().await.is_empty());
    // The invitation itself is untouched.
    let id = invitation_core::InvitationId::parse(&pk).unwrap();
    let outcome = invitation_core::InvitationStore::delete(&*w.store, &id, None).await;
    assert!(matches!(outcome, Ok(DeleteOutcome::Deleted)));
}

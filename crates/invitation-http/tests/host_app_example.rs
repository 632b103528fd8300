//! The `host_app` example's app, served on a real port: its session
//! cookie is the only way in, the API answers under `/admin`, and the host
//! answers everything else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, reason = "the example's main is not called here")]
#[path = "../examples/host_app.rs"]
mod host_app;

use std::collections::HashMap;
use std::sync::Arc;

use invitation_core::{AllowAll, InvitationService, Principal, UserId};
use invitation_http::INVITATIONS_PATH;
use invitation_memory::MemoryStore;
use serde_json::{json, Value};

#[tokio::test]
async fn the_example_serves_the_api_under_admin_to_its_sessions_only() {
    let service = InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .build();
    let sessions = HashMap::from([("s-7".to_owned(), Principal::user(UserId::new(7)))]);
    let app = host_app::app(service, sessions).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let invitations = format!("{base}/admin{INVITATIONS_PATH}");

    let created = client
        .post(&invitations)
        .header("cookie", "theme=dark; session=s-7")
        .json(&json!({"name": "welcome-bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["created_by"]["pk"], 7);

    for cookie in [None, Some("session=unknown")] {
        let mut request = client.get(&invitations).bearer_auth("anything");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        assert_eq!(request.send().await.unwrap().status(), 403, "{cookie:?}");
    }

    let schema: Value = client
        .get(format!("{base}/admin/api/v3/schema/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(schema["paths"][format!("/admin{INVITATIONS_PATH}")].is_object());
    assert_eq!(
        schema["components"]["securitySchemes"]["authentik"],
        serde_json::json!({"type": "apiKey", "in": "cookie", "name": "session"})
    );
    let page = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.text().await.unwrap(), "the host");
    let elsewhere = client
        .get(format!("{base}{INVITATIONS_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404, "only under /admin");
}

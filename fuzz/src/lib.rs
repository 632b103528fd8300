//! What the HTTP targets share: the invitation routes on the memory store,
//! called in process with an authenticated caller.

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use invitation_core::{AllowAll, InvitationService, Principal, UserId};
use invitation_http::{Api, AppState, INVITATIONS_PATH};
use invitation_memory::MemoryStore;
use tower::ServiceExt as _;

/// A status and its JSON body (`null` when the body is not JSON).
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

/// The invitation routes on a fresh memory store: each input starts from
/// an empty store, so runs do not pile rows up.
fn routes() -> Router {
    let service = InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .build();
    Api::new(AppState::with_host_auth(service)).into_router()
}

/// Sends `method` to the invitations path with `query` and `body` as user 1.
pub fn send(method: &str, query: &str, body: Vec<u8>) -> Answer {
    let uri = format!("{INVITATIONS_PATH}?{query}");
    let Ok(mut request) = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
    else {
        // Not a URI at all: no request the API could receive.
        return Answer {
            status: 400,
            body: serde_json::json!({}),
        };
    };
    request
        .extensions_mut()
        .insert(Principal::user(UserId::new(1)));
    RUNTIME.block_on(async {
        let response = routes().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a whole body");
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        }
    })
}

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The modules form one order, each using only those before it: the JSON
// shapes and their writer, errors, the answers made of them, the shared
// state, the handlers, the document that describes them, the routers made
// of them. `tests::MODULES` lists that order and a test holds the sources
// to it (rustfmt keeps the declarations here alphabetical).
mod auth;
mod body;
mod dto;
mod error;
mod handlers;
mod health;
mod input;
mod json;
mod log;
mod mount;
mod openapi;
mod precondition;
mod readiness;
mod render;
mod respond;
mod state;
mod time;

use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use serde::Serialize;

pub use body::MAX_BODY_BYTES;
pub use handlers::INVITATIONS_PATH;
pub use log::{AccessLog, AccessLogLayer, Logged, ACCESS_LOG_TARGET};
pub use mount::{Api, InvalidPrefix};
pub use openapi::openapi;
pub use state::{AppState, DEFAULT_REQUEST_TIMEOUT, LIST_MEMORY_BUDGET_KIB};
pub use time::parse_timestamp;
/// The OpenAPI types [`Api::openapi`] returns.
pub use utoipa;

/// `{"detail": ..., "code": ...}` as the API writes it: for answers a
/// server makes outside the router (a request head it refuses), so that
/// they read as the router's own refusals.
pub fn detail_body(detail: &str, code: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Detail<'a> {
        detail: &'a str,
        code: &'a str,
    }
    // Two strings: serialising them cannot fail.
    serde_json::to_vec(&Detail { detail, code }).unwrap_or_default()
}

/// A JSON answer with [`detail_body`]'s body.
pub fn detail_response(status: StatusCode, detail: &str, code: &str) -> Response {
    json::json_bytes(status, detail_body(detail, code))
}

/// The whole API as an axum router, for a server of its own: the
/// invitation routes, the OpenAPI document at `/api/v3/schema/`, the health
/// checks at `/-/health/live/` and `/-/health/ready/`, and a JSON 404 for
/// every other path: [`Api`] with every route and the fallback. Every other
/// method answers a JSON 405, and every request is logged once (target
/// `invitation_http::access`).
pub fn router(state: AppState) -> Router {
    Api::new(state)
        .with_openapi()
        .with_health()
        .with_fallback()
        .into_router()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::{header, Request};
    use http_body_util::BodyExt as _;
    use invitation_core::{AuthError, Authenticator, InvitationService, Principal};
    use invitation_memory::MemoryStore;
    use invitation_testkit::doubles::{AllowAll, StaticDirectory};
    use tower::ServiceExt as _;

    use super::*;

    /// Knows nobody, after a minute.
    #[derive(Debug)]
    struct SlowAuthenticator;

    #[async_trait]
    impl Authenticator for SlowAuthenticator {
        async fn authenticate(&self, _: &str) -> Result<Option<Principal>, AuthError> {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(None)
        }
    }

    fn service(directory: &Arc<StaticDirectory>) -> InvitationService {
        InvitationService::new(
            Arc::new(MemoryStore::new()),
            directory.clone(),
            directory.clone(),
            Arc::new(AllowAll),
        )
    }

    #[tokio::test]
    async fn a_handler_past_the_request_timeout_is_answered_503_timeout_with_retry_after() {
        let directory = Arc::new(StaticDirectory::new());
        let state = AppState::new(service(&directory), Arc::new(SlowAuthenticator))
            .with_request_timeout(Some(Duration::from_millis(100)));
        let request = Request::get(INVITATIONS_PATH)
            .header(header::AUTHORIZATION, "Bearer anything")
            .body(Body::empty())
            .unwrap();
        let answer = router(state).oneshot(request).await.unwrap();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(answer.headers()[header::RETRY_AFTER], "1");
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            br#"{"detail":"The request took too long.","code":"timeout"}"#
        );
    }

    #[test]
    fn detail_bodies_are_written_as_the_apis_own_refusals() {
        assert_eq!(
            detail_body("Not found.", "not_found"),
            br#"{"detail":"Not found.","code":"not_found"}"#
        );
        assert_eq!(
            detail_body("a \"quoted\" word", "x"),
            br#"{"detail":"a \"quoted\" word","code":"x"}"#
        );
    }

    #[test]
    fn app_states_debug_shows_no_token() {
        let directory = Arc::new(
            StaticDirectory::new()
                .with_user(7, "alice")
                .with_token(7, "a-secret-api-token"),
        );
        let state = AppState::new(service(&directory), directory.clone());
        let debug = format!("{state:?} {state:#?}");
        assert!(!debug.contains("a-secret-api-token"), "{debug}");
    }

    /// The modules in their dependency order, with their text.
    const MODULES: [(&str, &str); 17] = [
        ("precondition", include_str!("precondition.rs")),
        ("time", include_str!("time.rs")),
        ("input", include_str!("input.rs")),
        ("dto", include_str!("dto.rs")),
        ("render", include_str!("render.rs")),
        ("json", include_str!("json.rs")),
        ("error", include_str!("error.rs")),
        ("respond", include_str!("respond.rs")),
        ("body", include_str!("body.rs")),
        ("log", include_str!("log.rs")),
        ("readiness", include_str!("readiness.rs")),
        ("state", include_str!("state.rs")),
        ("auth", include_str!("auth.rs")),
        ("handlers", include_str!("handlers.rs")),
        ("health", include_str!("health.rs")),
        ("openapi", include_str!("openapi.rs")),
        ("mount", include_str!("mount.rs")),
    ];

    /// The modules a source text names by a `crate::` path, outside
    /// comments: `crate::m::…` and each `m` of `crate::{m, …}`.
    fn modules_named(text: &str) -> Vec<&str> {
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut named = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let paths: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .collect(),
                None => vec![rest],
            };
            for path in paths {
                let path = path.trim_start();
                let end = path
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(path.len());
                if let Some(&(name, _)) = MODULES.iter().find(|(m, _)| *m == &path[..end]) {
                    named.push(name);
                }
            }
        }
        named
    }

    #[test]
    fn each_module_uses_only_the_modules_before_it_in_the_order() {
        let declared: Vec<&str> = MODULES.iter().map(|(name, _)| *name).collect();
        let source_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files: Vec<String> = std::fs::read_dir(source_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            // A module's tests in their own file are part of that module.
            .filter(|name| name != "lib.rs" && !name.ends_with("_tests.rs"))
            .collect();
        files.sort();
        let mut listed: Vec<String> = declared.iter().map(|m| format!("{m}.rs")).collect();
        listed.sort();
        assert_eq!(files, listed, "every module is in MODULES");
        for (position, (module, text)) in MODULES.iter().enumerate() {
            for named in modules_named(text) {
                let at = declared.iter().position(|m| *m == named).unwrap();
                assert!(
                    at <= position,
                    "`{module}` uses `{named}`, which comes after it in MODULES"
                );
            }
        }
    }

    #[test]
    fn the_module_order_check_sees_both_path_forms() {
        let text = "use crate::state::AppState;\nuse crate::{json, openapi::Foo};\n// crate::log";
        assert_eq!(modules_named(text), ["state", "json", "openapi"]);
    }
}

//! The health checks: liveness, and readiness (its answer cached, see the
//! `readiness` module).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::json::json_bytes;
use crate::state::AppState;

/// `GET /-/health/live/`
#[utoipa::path(
    get,
    path = "/-/health/live/",
    operation_id = "health_live",
    tag = "health",
    responses((status = 200, description = "The process serves requests."))
)]
pub(crate) async fn live() -> Response {
    ok()
}

/// `GET /-/health/ready/`
#[utoipa::path(
    get,
    path = "/-/health/ready/",
    operation_id = "health_ready",
    tag = "health",
    responses(
        (status = 200, description = "Storage answers."),
        (status = 503, description = "Storage does not answer.", body = crate::dto::GenericError),
    )
)]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let store = state.service().store();
    if state.shared.readiness.check(|| store.ping()).await {
        ok()
    } else {
        ApiError::Unavailable.into_response()
    }
}

fn ok() -> Response {
    json_bytes(StatusCode::OK, br#"{"status": "ok"}"#.to_vec())
}

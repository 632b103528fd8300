//! The OpenAPI document served at `/api/v3/schema/`, generated from the
//! handlers' annotations and the wire types.
//!
//! Schema names and operation ids are authentik's, so a client generated
//! from this document has the same shape as authentik's own clients. Unlike
//! upstream's document, `flow_obj` is nullable here, as the server answers.

use std::sync::Arc;

use utoipa::openapi::schema::{self, ObjectBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use axum::http::StatusCode;
use axum::response::Response;

use crate::dto::{
    AuthenticationEnum, DeniedActionEnum, FlowDesignationEnum, FlowJson, FlowLayoutEnum,
    GenericError, InvitationJson, InvitationRequest, InvitationSendEmailRequest, PageJson,
    PaginationJson, PartialUserJson, PatchedInvitationRequest, PolicyEngineModeEnum,
    SendEmailBadRequest, SendEmailError, SendEmailValidationError, ThemedUrls, UsedBy,
    UsedByActionEnum, ValidationError,
};
use crate::handlers::{self, INVITATIONS_PATH};
use crate::health;
use crate::json::json_bytes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authentik invitations",
        description = "authentik's invitation API (`/api/v3/stages/invitation/invitations/`), served by invitation-http.",
    ),
    paths(
        handlers::list,
        handlers::create,
        handlers::retrieve,
        handlers::update,
        handlers::partial_update,
        handlers::destroy,
        handlers::used_by,
        handlers::send_email,
        schema,
        health::live,
        health::ready,
    ),
    components(schemas(
        InvitationJson,
        PartialUserJson,
        FlowJson,
        PageJson,
        PaginationJson,
        InvitationRequest,
        PatchedInvitationRequest,
        GenericError,
        ValidationError,
        InvitationSendEmailRequest,
        SendEmailError,
        SendEmailValidationError,
        SendEmailBadRequest,
        UsedBy,
        UsedByActionEnum,
        FlowDesignationEnum,
        PolicyEngineModeEnum,
        FlowLayoutEnum,
        DeniedActionEnum,
        AuthenticationEnum,
        ThemedUrls,
    )),
    modifiers(&BearerToken, &AsUpstream),
)]
struct ApiDoc;

/// The name of the security scheme the operations require (authentik's).
const SECURITY_SCHEME: &str = "authentik";

/// Adds authentik's `Authorization: Bearer <token>` scheme.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Two places where the annotations cannot say what the server does, shaped
/// as upstream's document has them:
/// - `page` and `page_size` are plain integers (no `int64`): any number of
///   digits is taken (`page_size` is capped at 100, a page past the end is
///   404), so no value is out of the document's range;
/// - a PATCH body is optional: without one, nothing changes and the
///   invitation is answered (authentik does the same);
/// - the conditional-request headers (`If-Match`, `If-None-Match`) are
///   optional plain strings, not a nullable type: a header is either sent
///   or not.
struct AsUpstream;

impl Modify for AsUpstream {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = &mut openapi.paths.paths;
        if let Some(list) = paths
            .get_mut(INVITATIONS_PATH)
            .and_then(|item| item.get.as_mut())
        {
            for parameter in list.parameters.iter_mut().flatten() {
                if parameter.name == "page" || parameter.name == "page_size" {
                    parameter.schema = Some(
                        ObjectBuilder::new()
                            .schema_type(schema::Type::Integer)
                            .into(),
                    );
                }
            }
        }
        for operation in paths.values_mut().flat_map(|item| {
            [
                item.get.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
        }) {
            for parameter in operation.parameters.iter_mut().flatten() {
                if parameter.parameter_in == utoipa::openapi::path::ParameterIn::Header {
                    parameter.schema = Some(
                        ObjectBuilder::new()
                            .schema_type(schema::Type::String)
                            .into(),
                    );
                }
            }
        }
        let item = format!("{}{{pk}}/", INVITATIONS_PATH);
        if let Some(body) = paths
            .get_mut(&item)
            .and_then(|item| item.patch.as_mut())
            .and_then(|patch| patch.request_body.as_mut())
        {
            body.required = None;
        }
    }
}

/// The OpenAPI document of every route [`crate::router`] serves, at the
/// paths it serves them. [`Api::openapi`](crate::Api::openapi) is the
/// document of a router a host mounts.
///
/// ```
/// let doc = invitation_http::openapi();
/// assert!(doc.paths.paths.contains_key("/api/v3/stages/invitation/invitations/"));
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document of the routes at `templates` (as annotated), each under
/// `prefix` (`""` for none).
pub(crate) fn mounted(prefix: &str, templates: &[&str]) -> utoipa::openapi::OpenApi {
    let mut document = openapi();
    let paths = std::mem::take(&mut document.paths.paths);
    document.paths.paths = paths
        .into_iter()
        .filter(|(path, _)| templates.contains(&path.as_str()))
        .map(|(path, item)| (format!("{prefix}{path}"), item))
        .collect();
    document
}

/// `document` with `scheme` as its `authentik` scheme, the one every
/// operation requires.
pub(crate) fn set_security_scheme(document: &mut utoipa::openapi::OpenApi, scheme: SecurityScheme) {
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme(SECURITY_SCHEME, scheme);
}

/// `document` without any security scheme or requirement: for a router
/// that takes no token, whose callers the host authenticates.
pub(crate) fn remove_security(document: &mut utoipa::openapi::OpenApi) {
    if let Some(components) = document.components.as_mut() {
        components.security_schemes.remove(SECURITY_SCHEME);
    }
    document.security = None;
    for item in document.paths.paths.values_mut() {
        for operation in [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            operation.security = None;
        }
    }
}

/// `document` as served: rendered once, when a router is built.
pub(crate) fn render(document: &utoipa::openapi::OpenApi) -> Vec<u8> {
    match serde_json::to_vec(document) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "cannot render the OpenAPI document");
            b"{}".to_vec()
        }
    }
}

/// `GET /api/v3/schema/`: `document`, rendered when the router was built.
#[utoipa::path(
    get,
    path = "/api/v3/schema/",
    operation_id = "schema_retrieve",
    tag = "schema",
    responses((status = 200, description = "This OpenAPI document.", content_type = "application/json"))
)]
pub(crate) async fn schema(document: Arc<[u8]>) -> Response {
    json_bytes(StatusCode::OK, document.to_vec())
}

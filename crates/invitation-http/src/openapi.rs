//! The OpenAPI document served at `/api/v3/schema/`, generated from the
//! handlers' annotations and the wire types.
//!
//! Schema names and operation ids are authentik's, so a client generated
//! from this document has the same shape as authentik's own clients. Unlike
//! upstream's document, `flow_obj` is nullable here, as the server answers.

use std::sync::{Arc, OnceLock};

use utoipa::openapi::schema::{self, ObjectBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use uuid::Uuid;

use crate::wire;
use crate::{handlers, health};

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
        handlers::schema,
        health::live,
        health::ready,
    ),
    components(schemas(
        wire::InvitationJson,
        wire::PartialUserJson,
        wire::FlowJson,
        wire::PageJson,
        wire::PaginationJson,
        InvitationRequest,
        PatchedInvitationRequest,
        GenericError,
        ValidationError,
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

/// Adds authentik's `Authorization: Bearer <token>` scheme.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "authentik",
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
            .get_mut(crate::INVITATIONS_PATH)
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
        let item = format!("{}{{pk}}/", crate::INVITATIONS_PATH);
        if let Some(body) = paths
            .get_mut(&item)
            .and_then(|item| item.patch.as_mut())
            .and_then(|patch| patch.request_body.as_mut())
        {
            body.required = None;
        }
    }
}

/// The OpenAPI document of every route [`crate::router`] serves.
///
/// ```
/// let doc = invitation_http::openapi();
/// assert!(doc.paths.paths.contains_key("/api/v3/stages/invitation/invitations/"));
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served, rendered once per process (a server may build
/// one [`crate::AppState`] per worker thread).
pub(crate) fn rendered() -> Arc<[u8]> {
    static RENDERED: OnceLock<Arc<[u8]>> = OnceLock::new();
    Arc::clone(
        RENDERED.get_or_init(|| match serde_json::to_vec(&openapi()) {
            Ok(bytes) => bytes.into(),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the OpenAPI document");
                Arc::from(&b"{}"[..])
            }
        }),
    )
}

// The types below only describe JSON in the document: request bodies are
// read as JSON values and validated by invitation-core, and error bodies are
// written by `crate::error`. None of them is ever built.

/// What create and update (PUT) take.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct InvitationRequest {
    /// Trimmed, then 1 to 50 of `a-z A-Z 0-9 - _`. Not unique.
    #[schema(min_length = 1, max_length = 50, pattern = r"^[-a-zA-Z0-9_]+$")]
    name: String,
    /// ISO 8601; null (the default) = never expires.
    #[schema(format = DateTime)]
    expires: Option<String>,
    /// Data forced onto the enrolling user; default `{}`.
    #[schema(value_type = Object, required = false)]
    fixed_data: (),
    /// When enabled, the invitation will be deleted after usage (default
    /// false).
    #[schema(required = false)]
    single_use: bool,
    /// When set, only the configured flow can use this invitation.
    flow: Option<Uuid>,
}

/// What partial update (PATCH) takes: any subset.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PatchedInvitationRequest {
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[-a-zA-Z0-9_]+$",
        required = false
    )]
    name: String,
    #[schema(format = DateTime)]
    expires: Option<String>,
    #[schema(value_type = Object, required = false)]
    fixed_data: (),
    #[schema(required = false)]
    single_use: bool,
    flow: Option<Uuid>,
}

/// Every refusal but field errors.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct GenericError {
    detail: String,
    code: String,
}

/// Field errors: each field's messages, in field order, then `code`
/// (always `invalid`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ValidationError {
    #[schema(required = false)]
    non_field_errors: Vec<String>,
    #[schema(required = false)]
    name: Vec<String>,
    #[schema(required = false)]
    expires: Vec<String>,
    #[schema(required = false)]
    fixed_data: Vec<String>,
    #[schema(required = false)]
    single_use: Vec<String>,
    #[schema(required = false)]
    flow: Vec<String>,
    code: String,
}

/// An object referencing the invitation.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct UsedBy {
    app: String,
    model_name: String,
    pk: String,
    name: String,
    action: UsedByActionEnum,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub(crate) enum UsedByActionEnum {
    Cascade,
    CascadeMany,
    SetNull,
    SetDefault,
    LeftDangling,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub(crate) enum FlowDesignationEnum {
    Authentication,
    Authorization,
    Invalidation,
    Enrollment,
    Unenrollment,
    Recovery,
    StageConfiguration,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(as = PolicyEngineMode, rename_all = "snake_case")]
pub(crate) enum PolicyEngineModeEnum {
    All,
    Any,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub(crate) enum FlowLayoutEnum {
    Stacked,
    ContentLeft,
    ContentRight,
    SidebarLeft,
    SidebarRight,
    SidebarLeftFrameBackground,
    SidebarRightFrameBackground,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub(crate) enum DeniedActionEnum {
    MessageContinue,
    Message,
    Continue,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub(crate) enum AuthenticationEnum {
    None,
    RequireAuthenticated,
    RequireUnauthenticated,
    RequireSuperuser,
    RequireRedirect,
    RequireOutpost,
    RequireToken,
}

/// Background URLs per theme.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ThemedUrls {
    light: Option<String>,
    dark: Option<String>,
}

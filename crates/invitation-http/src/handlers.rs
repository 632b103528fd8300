//! One handler per route.
//!
//! Every invitation handler authenticates first (so a refused request never
//! has its body read), then hands over to a use case, which checks the
//! permission before it reads or writes anything. When the request is
//! refused before it reaches a use case (an unreadable body, query or pk),
//! the handler asks for the permission itself first, so that a caller
//! without it is answered 403, as authentik answers.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use invitation_core::{
    CreateError, InvitationId, ListRequest, Permission, Principal, SendEmail, Site, UpdateError,
    Version,
};
use serde_json::Value;

use crate::body::{input_body, json_body, MAX_BODY_BYTES};
use crate::dto::{
    GenericError, InvitationJson, InvitationRequest, InvitationSendEmailRequest, PageJson,
    PatchedInvitationRequest, SendEmailBadRequest, SendEmailError, UsedBy, ValidationError,
};
use crate::error::ApiError;
use crate::input::{read_list_query, read_send_email, Body, BodyRefusal, FieldErrors, Key};
use crate::precondition::{etag, if_none_match, IfMatch};
use crate::respond;
use crate::state::{AppState, LIST_MEMORY_BUDGET_KIB};

/// The base path of every invitation route.
pub const INVITATIONS_PATH: &str = "/api/v3/stages/invitation/invitations/";

/// The version `If-Match` asks a write to expect. A value that can never
/// match expects a version no invitation reaches, so the use case still
/// answers 403 and 404 before the failed precondition, as RFC 9110 orders
/// them.
fn expected_version(request: &Request) -> Option<Version> {
    match IfMatch::from_headers(request.headers()) {
        IfMatch::Any => None,
        IfMatch::Version(v) => Some(v),
        IfMatch::Never => Version::new(u64::MAX),
    }
}

type ApiResult = Result<Response, ApiError>;

impl AppState {
    /// `refusal` unless the caller lacks `permission`, in which case 403.
    async fn refuse(
        &self,
        caller: &Principal,
        permission: Permission,
        refusal: ApiError,
    ) -> ApiError {
        match self.shared.service.is_allowed(caller, permission).await {
            Ok(true) => refusal,
            Ok(false) => ApiError::PermissionDenied,
            Err(e) => e.into(),
        }
    }

    /// The pk in the path, or 404 `Not found.` (403 first if the caller
    /// lacks `permission`).
    async fn pk(
        &self,
        caller: &Principal,
        raw: &str,
        permission: Permission,
    ) -> Result<InvitationId, ApiError> {
        match InvitationId::parse(raw) {
            Ok(id) => Ok(id),
            Err(_) => Err(self.refuse(caller, permission, ApiError::NotFound).await),
        }
    }

    /// The body as invitation input, or its 400/413/415 (403 first if the
    /// caller lacks `permission`).
    async fn input(
        &self,
        caller: &Principal,
        request: Request,
        permission: Permission,
    ) -> Result<Body, ApiError> {
        let refusal = match input_body(request).await {
            Ok(input) => return Ok(input),
            Err(refusal) => refusal,
        };
        Err(self.refuse(caller, permission, refusal).await)
    }
}

/// `GET /api/v3/stages/invitation/invitations/`
#[utoipa::path(
    get,
    path = "/api/v3/stages/invitation/invitations/",
    operation_id = "stages_invitation_invitations_list",
    tag = "stages",
    params(
        ("created_by__username" = Option<String>, Query, description = "Exact creator username."),
        ("expires" = Option<String>, Query, format = DateTime, description = "Exact expiry."),
        ("flow__slug" = Option<String>, Query, description = "Exact flow slug."),
        ("name" = Option<String>, Query, description = "Exact name."),
        ("ordering" = Option<String>, Query, description = "Field to order by (`pk`, `name`, `expires`, `single_use`, `flow`, `created_by`), `-` for descending. Default `-expires`, never-expiring first."),
        ("page" = Option<i64>, Query, description = "A page number within the paginated result set (default 1)."),
        ("page_size" = Option<i64>, Query, description = "Number of results to return per page (default 20, at most 100)."),
        ("search" = Option<String>, Query, description = "Words that must each appear in the name, creator username, expiry or flow slug (any case)."),
    ),
    responses(
        (status = 200, body = PageJson),
        (status = 400, body = ValidationError),
        (status = 403, body = GenericError),
        (status = 404, description = "The page does not exist.", body = GenericError),
    ),
    security(("authentik" = []))
)]
pub(crate) async fn list(State(state): State<AppState>, uri: Uri, request: Request) -> ApiResult {
    let caller = state.authenticate(&request).await?;
    let list_request = match Query::<Vec<(String, String)>>::try_from_uri(&uri) {
        Ok(Query(pairs)) => read_list_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(ApiError::Invalid),
        // Only a query string that is not `k=v&...` at all gets here.
        Err(_) => Err(ApiError::Invalid(FieldErrors::single(
            Key::NonField,
            "Invalid query string.",
        ))),
    };
    let list_request = match list_request {
        Ok(r) => r,
        Err(refusal) => return Err(state.refuse(&caller, Permission::View, refusal).await),
    };
    let reservation = state.reserve_list_memory(&list_request).await?;
    let page = state.shared.service.list(&caller, &list_request).await?;
    respond::page(page, reservation)
}

impl AppState {
    /// Reserves the most memory a page of this request's size can hold
    /// (see [`LIST_MEMORY_BUDGET_KIB`]), waiting while other lists
    /// hold the budget.
    async fn reserve_list_memory(
        &self,
        request: &ListRequest,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        let row_kib = u64::try_from(MAX_BODY_BYTES / 1024).unwrap_or(u64::MAX);
        let want = request
            .effective_page_size()
            .saturating_mul(row_kib)
            .min(u64::from(LIST_MEMORY_BUDGET_KIB));
        let want = u32::try_from(want).unwrap_or(LIST_MEMORY_BUDGET_KIB);
        // The semaphore is never closed.
        Arc::clone(&self.shared.list_budget)
            .acquire_many_owned(want)
            .await
            .map_err(|_| ApiError::Internal)
    }
}

/// `POST /api/v3/stages/invitation/invitations/`
#[utoipa::path(
    post,
    path = "/api/v3/stages/invitation/invitations/",
    operation_id = "stages_invitation_invitations_create",
    tag = "stages",
    request_body = InvitationRequest,
    responses(
        (status = 201, body = InvitationJson, headers(("ETag" = String, description = "The invitation's version as a strong entity tag; it changes on every write."))),
        (status = 400, body = ValidationError),
        (status = 403, body = GenericError),
        (status = 413, body = GenericError),
        (status = 415, body = GenericError),
    ),
    security(("authentik" = []))
)]
pub(crate) async fn create(State(state): State<AppState>, request: Request) -> ApiResult {
    let caller = state.authenticate(&request).await?;
    let Body { input, wording } = state.input(&caller, request, Permission::Add).await?;
    let view = match state.shared.service.create(&caller, input).await {
        Ok(view) => view,
        Err(CreateError::Invalid(errors)) => {
            return Err(ApiError::Invalid(wording.field_errors(&errors)))
        }
        Err(other) => return Err(other.into()),
    };
    respond::invitation(StatusCode::CREATED, &view)
}

/// `GET /api/v3/stages/invitation/invitations/{pk}/`
#[utoipa::path(
    get,
    path = "/api/v3/stages/invitation/invitations/{pk}/",
    operation_id = "stages_invitation_invitations_retrieve",
    tag = "stages",
    params(
        ("pk" = Uuid, Path, description = "A UUID string identifying this Invitation."),
        ("If-None-Match" = Option<String>, Header, description = "Entity tags (or `*`); when one names the current version, the answer is 304 without a body."),
    ),
    responses(
        (status = 200, body = InvitationJson, headers(("ETag" = String, description = "The invitation's version as a strong entity tag; it changes on every write."))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version.", headers(("ETag" = String, description = "The invitation's version as a strong entity tag; it changes on every write."))),
        (status = 403, body = GenericError),
        (status = 404, body = GenericError),
    ),
    security(("authentik" = []))
)]
pub(crate) async fn retrieve(
    State(state): State<AppState>,
    PkSegment(pk): PkSegment,
    request: Request,
) -> ApiResult {
    let caller = state.authenticate(&request).await?;
    let id = state.pk(&caller, &pk, Permission::View).await?;
    let view = state.shared.service.get(&caller, &id).await?;
    let version = view.invitation.version();
    if if_none_match(request.headers(), version) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag(version));
        return Ok(response);
    }
    respond::invitation(StatusCode::OK, &view)
}

/// `PUT /api/v3/stages/invitation/invitations/{pk}/`
#[utoipa::path(
    put,
    path = "/api/v3/stages/invitation/invitations/{pk}/",
    operation_id = "stages_invitation_invitations_update",
    tag = "stages",
    params(
        ("pk" = Uuid, Path, description = "A UUID string identifying this Invitation."),
        ("If-Match" = Option<String>, Header, description = "`*` or the invitation's current ETag: the write happens only at that version, else 412."),
    ),
    request_body = InvitationRequest,
    responses(
        (status = 200, body = InvitationJson, headers(("ETag" = String, description = "The invitation's version as a strong entity tag; it changes on every write."))),
        (status = 400, body = ValidationError),
        (status = 403, body = GenericError),
        (status = 404, body = GenericError),
        (status = 412, description = "`If-Match` does not name the current version; nothing changed.", body = GenericError),
        (status = 413, body = GenericError),
        (status = 415, body = GenericError),
    ),
    security(("authentik" = []))
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    PkSegment(pk): PkSegment,
    request: Request,
) -> ApiResult {
    change(state, pk, request, Mode::Full).await
}

/// `PATCH /api/v3/stages/invitation/invitations/{pk}/`
#[utoipa::path(
    patch,
    path = "/api/v3/stages/invitation/invitations/{pk}/",
    operation_id = "stages_invitation_invitations_partial_update",
    tag = "stages",
    params(
        ("pk" = Uuid, Path, description = "A UUID string identifying this Invitation."),
        ("If-Match" = Option<String>, Header, description = "`*` or the invitation's current ETag: the write happens only at that version, else 412."),
    ),
    request_body = PatchedInvitationRequest,
    responses(
        (status = 200, body = InvitationJson, headers(("ETag" = String, description = "The invitation's version as a strong entity tag; it changes on every write."))),
        (status = 400, body = ValidationError),
        (status = 403, body = GenericError),
        (status = 404, body = GenericError),
        (status = 412, description = "`If-Match` does not name the current version; nothing changed.", body = GenericError),
        (status = 413, body = GenericError),
        (status = 415, body = GenericError),
    ),
    security(("authentik" = []))
)]
pub(crate) async fn partial_update(
    State(state): State<AppState>,
    PkSegment(pk): PkSegment,
    request: Request,
) -> ApiResult {
    change(state, pk, request, Mode::Partial).await
}

/// PUT or PATCH.
#[derive(Clone, Copy)]
enum Mode {
    /// PUT: every field, `name` required.
    Full,
    /// PATCH: the fields given.
    Partial,
}

/// PUT (`Mode::Full`) or PATCH (`Mode::Partial`).
async fn change(state: AppState, pk: String, request: Request, mode: Mode) -> ApiResult {
    let caller = state.authenticate(&request).await?;
    let id = state.pk(&caller, &pk, Permission::Change).await?;
    let expected = expected_version(&request);
    let Body { input, wording } = state.input(&caller, request, Permission::Change).await?;
    let service = &state.shared.service;
    let changed = match mode {
        Mode::Full => service.update(&caller, &id, input, expected).await,
        Mode::Partial => service.partial_update(&caller, &id, input, expected).await,
    };
    let view = match changed {
        Ok(view) => view,
        Err(UpdateError::Invalid(errors)) => {
            return Err(ApiError::Invalid(wording.field_errors(&errors)))
        }
        Err(other) => return Err(other.into()),
    };
    respond::invitation(StatusCode::OK, &view)
}

/// `DELETE /api/v3/stages/invitation/invitations/{pk}/`
#[utoipa::path(
    delete,
    path = "/api/v3/stages/invitation/invitations/{pk}/",
    operation_id = "stages_invitation_invitations_destroy",
    tag = "stages",
    params(
        ("pk" = Uuid, Path, description = "A UUID string identifying this Invitation."),
        ("If-Match" = Option<String>, Header, description = "`*` or the invitation's current ETag: the write happens only at that version, else 412."),
    ),
    responses(
        (status = 204, description = "Deleted; no body."),
        (status = 403, body = GenericError),
        (status = 404, body = GenericError),
        (status = 412, description = "`If-Match` does not name the current version; nothing was deleted.", body = GenericError),
    ),
    security(("authentik" = []))
)]
pub(crate) async fn destroy(
    State(state): State<AppState>,
    PkSegment(pk): PkSegment,
    request: Request,
) -> ApiResult {
    let caller = state.authenticate(&request).await?;
    let id = state.pk(&caller, &pk, Permission::Delete).await?;
    let expected = expected_version(&request);
    state.shared.service.delete(&caller, &id, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v3/stages/invitation/invitations/{pk}/used_by/`
#[utoipa::path(
    get,
    path = "/api/v3/stages/invitation/invitations/{pk}/used_by/",
    operation_id = "stages_invitation_invitations_used_by_list",
    tag = "stages",
    params(("pk" = Uuid, Path, description = "A UUID string identifying this Invitation.")),
    responses(
        (status = 200, description = "Objects referencing this invitation: always none.", body = Vec<UsedBy>),
        (status = 403, body = GenericError),
        (status = 404, body = GenericError),
    ),
    security(("authentik" = []))
)]
pub(crate) async fn used_by(
    State(state): State<AppState>,
    PkSegment(pk): PkSegment,
    request: Request,
) -> ApiResult {
    let caller = state.authenticate(&request).await?;
    let id = state.pk(&caller, &pk, Permission::View).await?;
    // Nothing in this library references an invitation: the use case
    // answers an empty list for an existing one.
    let _users = state.shared.service.used_by(&caller, &id).await?;
    respond::json(StatusCode::OK, &Vec::<Value>::new())
}

/// `POST /api/v3/stages/invitation/invitations/{invite_uuid}/send_email/`
#[utoipa::path(
    post,
    path = "/api/v3/stages/invitation/invitations/{invite_uuid}/send_email/",
    operation_id = "stages_invitation_invitations_send_email_create",
    tag = "stages",
    description = "Send the invitation by e-mail: one mail per address, with the enrollment link. 204 once every mail is queued.",
    params(("invite_uuid" = uuid::Uuid, Path, description = "A UUID string identifying this Invitation.")),
    request_body = InvitationSendEmailRequest,
    responses(
        (status = 204, description = "Every mail is queued."),
        (status = 400, body = SendEmailBadRequest),
        (status = 403, body = GenericError),
        (status = 404, body = GenericError),
        (status = 413, body = GenericError),
        (status = 415, body = GenericError),
        (status = 500, body = SendEmailError),
        (status = 503, description = "Email is not configured on this server.", body = SendEmailError),
    ),
    security(("authentik" = []))
)]
pub(crate) async fn send_email(
    State(state): State<AppState>,
    PkSegment(pk): PkSegment,
    request: Request,
) -> ApiResult {
    let caller = state.authenticate(&request).await?;
    let id = state.pk(&caller, &pk, Permission::Add).await?;
    let site = match state.site(&request) {
        Ok(site) => site,
        Err(refusal) => return Err(state.refuse(&caller, Permission::Add, refusal).await),
    };
    let read = match json_body(request).await {
        Ok(bytes) if bytes.is_empty() => Ok(SendEmail::default()),
        Ok(bytes) => read_send_email(&bytes).map_err(|e| match e {
            BodyRefusal::Syntax(e) => ApiError::Parse(e),
            BodyRefusal::Invalid(errors) => ApiError::Invalid(errors),
        }),
        Err(refusal) => Err(refusal),
    };
    let mail = match read {
        Ok(mail) => mail,
        Err(refusal) => return Err(state.refuse(&caller, Permission::Add, refusal).await),
    };
    let first = mail.to.first().cloned().unwrap_or_default();
    match state
        .shared
        .service
        .send_email(&caller, &id, mail, &site)
        .await
    {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(ApiError::from_send_email(e, &first)),
    }
}

impl AppState {
    /// The site links name: the public one, else the request's.
    fn site(&self, request: &Request) -> Result<Site, ApiError> {
        if let Some(site) = &self.public_site {
            return Ok(Site::clone(site));
        }
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default();
        let scheme = request.uri().scheme_str().unwrap_or("http");
        Site::new(scheme, host).map_err(|_| {
            ApiError::Message(
                StatusCode::BAD_REQUEST,
                "The request's Host is not a site address.".into(),
            )
        })
    }
}

/// Any path that is no route.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A route asked with a method it does not take.
pub(crate) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method)
}

/// The `{pk}` path segment as text. A segment that does not even decode
/// (bad percent-encoding) becomes an empty text, which no UUID parses, so
/// the handler answers it like any malformed pk: after authentication.
pub(crate) struct PkSegment(String);

impl<S: Send + Sync> FromRequestParts<S> for PkSegment {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            Path::<String>::from_request_parts(parts, state)
                .await
                .map(|Path(pk)| pk)
                .unwrap_or_default(),
        ))
    }
}

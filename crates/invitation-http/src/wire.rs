//! The JSON the API writes, in authentik's key order (spec §2).
//!
//! Each struct serialises its fields in declaration order, and the same
//! struct generates its OpenAPI schema, so the document and the wire cannot
//! drift apart. They borrow from the use cases' views: rendering copies no
//! stored data. Invitations and pages are written by [`render`], which
//! writes the same bytes as these structs' `Serialize` with less work; its
//! tests hold the two to byte equality.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use invitation_core::{
    FixedData, FlowDesignation, FlowId, FlowSummary, InvitationId, InvitationView, ListPage,
    Pagination, PolicyEngineMode, UserId,
};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::openapi::{
    AuthenticationEnum, DeniedActionEnum, FlowDesignationEnum, FlowLayoutEnum,
    PolicyEngineModeEnum, ThemedUrls,
};
use crate::render;

/// authentik's default flow background, shown when a flow has none.
pub(crate) const DEFAULT_BACKGROUND_URL: &str = "/static/dist/assets/images/flow_background.jpg";

/// Deepest user `attributes` rendered. They come from the host's user
/// directory, which may hold anything; deeper ones are answered 500 rather
/// than risking the stack.
const MAX_RENDER_DEPTH: usize = 512;

/// An invitation (authentik's `Invitation` serializer).
#[derive(Serialize, ToSchema)]
#[schema(as = Invitation)]
pub(crate) struct InvitationJson<'a> {
    /// The invitation's key, also the secret token a person redeems
    /// (`?itoken=<pk>`).
    #[schema(value_type = Uuid, read_only)]
    pk: &'a InvitationId,
    /// Not unique.
    #[schema(min_length = 1, max_length = 50, pattern = r"^[-a-zA-Z0-9_]+$")]
    name: &'a str,
    /// When the invitation stops being redeemable (UTC, `Z`); null = never.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    expires: Option<String>,
    /// Data forced onto the enrolling user.
    #[schema(value_type = Object)]
    fixed_data: &'a FixedData,
    /// The user who created it.
    #[schema(read_only)]
    created_by: PartialUserJson<'a>,
    /// When enabled, the invitation will be deleted after usage.
    single_use: bool,
    /// When set, only the configured flow can use this invitation.
    #[schema(value_type = Option<Uuid>, required = true)]
    flow: Option<&'a FlowId>,
    /// The flow `flow` names; null when `flow` is null.
    #[schema(read_only, required = true)]
    flow_obj: Option<FlowJson<'a>>,
}

impl<'a> InvitationJson<'a> {
    // The reference form: `render` writes these bytes directly, and its
    // tests compare the two.
    #[cfg(test)]
    pub(crate) fn new(view: &'a InvitationView) -> Self {
        let invitation = &view.invitation;
        Self {
            pk: invitation.id(),
            name: invitation.name().as_str(),
            expires: invitation
                .expires()
                .as_ref()
                .map(invitation_core::time::format_timestamp),
            fixed_data: invitation.fixed_data(),
            created_by: PartialUserJson::new(&view.created_by),
            single_use: invitation.single_use(),
            flow: invitation.flow(),
            flow_obj: view.flow.as_deref().map(FlowJson::new),
        }
    }
}

/// Whether every JSON value in `view` is shallow enough to render
/// (`fixed_data` is, by construction: invitation-core bounds its depth).
fn renderable(view: &InvitationView) -> bool {
    shallow(&view.created_by.attributes)
}

/// A user, as `created_by` shows it (authentik's `PartialUser`).
#[derive(Serialize, ToSchema)]
#[schema(as = PartialUser)]
pub(crate) struct PartialUserJson<'a> {
    #[schema(value_type = i64)]
    pk: UserId,
    /// Letters, digits and @/./+/-/_ only.
    #[schema(max_length = 150, pattern = r"^[\w.@+-]+$")]
    username: &'a str,
    /// The user's display name.
    name: &'a str,
    /// Whether this user may log in.
    is_active: bool,
    /// Last login (UTC, `Z`), or null.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    last_login: Option<String>,
    #[schema(max_length = 254)]
    email: &'a str,
    #[schema(value_type = Object)]
    attributes: &'a Map<String, Value>,
    /// Stable opaque identifier.
    uid: &'a str,
}

impl<'a> PartialUserJson<'a> {
    // The reference form: `render` writes these bytes directly, and its
    // tests compare the two.
    #[cfg(test)]
    fn new(user: &'a invitation_core::UserSummary) -> Self {
        Self {
            pk: user.pk,
            username: &user.username,
            name: &user.name,
            is_active: user.is_active,
            last_login: user
                .last_login
                .as_ref()
                .map(invitation_core::time::format_timestamp),
            email: &user.email,
            attributes: &user.attributes,
            uid: &user.uid,
        }
    }
}

/// A flow, as `flow_obj` shows it (authentik's `Flow`).
#[derive(Serialize, ToSchema)]
#[schema(as = Flow)]
pub(crate) struct FlowJson<'a> {
    #[schema(value_type = Uuid, read_only)]
    pk: &'a FlowId,
    /// Always equal to `pk`.
    #[schema(value_type = Uuid, read_only)]
    policybindingmodel_ptr_id: &'a FlowId,
    name: &'a str,
    /// Visible in the URL.
    #[schema(pattern = r"^[-a-zA-Z0-9_]+$", max_length = 50)]
    slug: &'a str,
    /// Shown as the title in flow pages.
    title: &'a str,
    /// What this flow is used for.
    #[schema(value_type = FlowDesignationEnum)]
    designation: FlowDesignation,
    /// Background shown during execution (empty for the default).
    background: &'a str,
    /// The URL of the background image.
    #[schema(read_only)]
    background_url: Cow<'a, str>,
    /// Per-theme background URLs; always null here.
    #[schema(value_type = Option<ThemedUrls>, read_only, required = true)]
    background_themed_urls: Option<()>,
    #[schema(value_type = Vec<Uuid>, read_only)]
    stages: &'a [Uuid],
    #[schema(value_type = Vec<Uuid>, read_only)]
    policies: &'a [Uuid],
    /// Cached flow plans; always 0 here.
    #[schema(read_only)]
    cache_count: u32,
    #[schema(value_type = PolicyEngineModeEnum)]
    policy_engine_mode: PolicyEngineMode,
    /// Compatibility mode for password managers on mobile devices.
    compatibility_mode: bool,
    /// Where the flow's export is served.
    #[schema(read_only)]
    export_url: String,
    #[schema(value_type = FlowLayoutEnum)]
    layout: &'a str,
    #[schema(value_type = DeniedActionEnum)]
    denied_action: &'a str,
    #[schema(value_type = AuthenticationEnum)]
    authentication: &'a str,
}

impl<'a> FlowJson<'a> {
    pub(crate) fn new(flow: &'a FlowSummary) -> Self {
        Self {
            pk: &flow.pk,
            policybindingmodel_ptr_id: &flow.pk,
            name: &flow.name,
            slug: &flow.slug,
            title: &flow.title,
            designation: flow.designation,
            background: &flow.background,
            background_url: background_url(&flow.background),
            background_themed_urls: None,
            stages: &flow.stages,
            policies: &flow.policies,
            cache_count: 0,
            policy_engine_mode: flow.policy_engine_mode,
            compatibility_mode: flow.compatibility_mode,
            export_url: format!("/api/v3/flows/instances/{}/export/", flow.slug),
            layout: &flow.layout,
            denied_action: &flow.denied_action,
            authentication: &flow.authentication,
        }
    }
}

/// authentik's `Flow.background_url`: the default image when there is
/// none, a URL as it is, a stored file under `/media/`.
fn background_url(background: &str) -> Cow<'_, str> {
    if background.is_empty() {
        Cow::Borrowed(DEFAULT_BACKGROUND_URL)
    } else if background.starts_with("http") || background.starts_with('/') {
        Cow::Borrowed(background)
    } else {
        Cow::Owned(format!("/media/{background}"))
    }
}

/// authentik's pagination block; `next`/`previous` are page numbers, 0 for
/// none.
#[derive(Serialize, ToSchema)]
#[schema(as = Pagination)]
pub(crate) struct PaginationJson {
    next: u64,
    previous: u64,
    count: u64,
    current: u64,
    total_pages: u64,
    start_index: u64,
    end_index: u64,
}

impl From<Pagination> for PaginationJson {
    fn from(p: Pagination) -> Self {
        Self {
            next: p.next,
            previous: p.previous,
            count: p.count,
            current: p.current,
            total_pages: p.total_pages,
            start_index: p.start_index,
            end_index: p.end_index,
        }
    }
}

/// One page of invitations.
#[derive(Serialize, ToSchema)]
#[schema(as = PaginatedInvitationList)]
pub(crate) struct PageJson<'a> {
    pagination: PaginationJson,
    results: Vec<InvitationJson<'a>>,
    /// Always `{}`.
    #[schema(value_type = Object)]
    autocomplete: EmptyObject,
}

impl<'a> PageJson<'a> {
    // The reference form: `render` writes these bytes directly, and its
    // tests compare the two.
    #[cfg(test)]
    pub(crate) fn new(page: &'a ListPage) -> Self {
        Self {
            pagination: page.pagination.into(),
            results: page.results.iter().map(InvitationJson::new).collect(),
            autocomplete: EmptyObject,
        }
    }
}

/// `{}`
pub(crate) struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

/// A JSON response with these bytes.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    // A `Bytes` made from a Vec with spare capacity allocates a header to
    // share it; one made from a boxed slice does not (and shrinking a block
    // within its size class does not move it).
    let mut response = Response::new(Body::from(Bytes::from(body.into_boxed_slice())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Serialises a response body.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response, ApiError> {
    match serde_json::to_vec(value) {
        Ok(body) => Ok(json_bytes(status, body)),
        Err(e) => Err(unserialisable(&e)),
    }
}

fn unserialisable(e: &serde_json::Error) -> ApiError {
    tracing::error!(error = %e, "cannot serialise a response");
    ApiError::Internal
}

/// One invitation as a response.
pub(crate) fn invitation(status: StatusCode, view: &InvitationView) -> Result<Response, ApiError> {
    if !renderable(view) {
        return Err(too_deep(view.invitation.id()));
    }
    let mut body = Vec::with_capacity(512);
    match render::invitation(&mut body, view) {
        Ok(()) => {
            let mut response = json_bytes(status, body);
            response.headers_mut().insert(
                header::ETAG,
                crate::precondition::etag(view.invitation.version()),
            );
            Ok(response)
        }
        Err(e) => Err(unserialisable(&e)),
    }
}

/// Pages whose invitations hold more `fixed_data` than this (bytes) are
/// written as a stream, one invitation at a time while the client reads,
/// instead of into one buffer: ten clients listing pages of a hundred
/// 1 MiB invitations at once would otherwise hold a gigabyte of answers.
/// Smaller pages are one buffer with a `Content-Length`, as before.
pub(crate) const STREAM_PAGE_ABOVE: usize = 256 * 1024;

/// A page of invitations as a response. `reservation` is the list memory
/// budget this request holds: cut to what the page holds, and kept until
/// the answer is sent.
pub(crate) fn page(
    page: ListPage,
    mut reservation: tokio::sync::OwnedSemaphorePermit,
) -> Result<Response, ApiError> {
    if let Some(deep) = page.results.iter().find(|view| !renderable(view)) {
        return Err(too_deep(deep.invitation.id()));
    }
    let data: usize = page
        .results
        .iter()
        .map(|view| view.invitation.fixed_data().as_json().len())
        .sum();
    if data > STREAM_PAGE_ABOVE {
        // Keep what the page holds (twice: its rows and the chunk being
        // written), give the rest of the reservation back.
        let held = (2 * data / 1024 + 1).min(reservation.num_permits());
        let kept = reservation.split(held);
        drop(reservation);
        return Ok(streamed_page(page, kept));
    }
    drop(reservation);
    let mut body = Vec::with_capacity(256 + 512 * page.results.len());
    match render::page(&mut body, &page) {
        Ok(()) => Ok(json_bytes(StatusCode::OK, body)),
        Err(e) => Err(unserialisable(&e)),
    }
}

/// The same bytes as [`render::page`], rendered lazily: each chunk is made
/// when the connection asks for more, so an answer holds about one
/// invitation's text at a time. Every view was checked renderable; a
/// rendering failure now (it cannot happen) ends the body with an error,
/// which cuts the connection rather than send invalid JSON.
fn streamed_page(
    page: ListPage,
    reservation: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Response {
    let ListPage {
        pagination,
        results,
    } = page;
    let head = std::iter::once_with(move || render::page_head(pagination));
    let rows = results.into_iter().enumerate().map(move |(i, view)| {
        let mut chunk = Vec::with_capacity(view.invitation.fixed_data().as_json().len() + 1024);
        if i > 0 {
            chunk.push(b',');
        }
        render::invitation(&mut chunk, &view).map(|()| chunk)
    });
    // The reservation goes with the last chunk: released when the answer
    // has been written, or when it is dropped unfinished.
    let tail = std::iter::once_with(move || {
        drop(reservation);
        Ok(render::PAGE_TAIL.to_vec())
    });
    let chunks = head
        .chain(rows)
        .chain(tail)
        .map(|chunk| chunk.map(Bytes::from));
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn too_deep(id: &InvitationId) -> ApiError {
    tracing::error!(
        invitation = %id,
        max_depth = MAX_RENDER_DEPTH,
        "stored JSON is nested too deeply to render"
    );
    ApiError::Internal
}

/// Whether no value in `map` is nested deeper than [`MAX_RENDER_DEPTH`].
/// Iterative, so the check itself cannot overflow the stack.
fn shallow(map: &Map<String, Value>) -> bool {
    let mut stack: Vec<(&Value, usize)> = map.values().map(|v| (v, 2)).collect();
    while let Some((value, depth)) = stack.pop() {
        if depth > MAX_RENDER_DEPTH {
            return false;
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Map<String, Value> {
        let mut value = Value::Null;
        for _ in 0..depth {
            value = Value::Array(vec![value]);
        }
        let mut map = Map::new();
        map.insert("k".to_owned(), value);
        map
    }

    #[test]
    fn values_up_to_the_render_depth_are_shallow_enough() {
        assert!(shallow(&nested(MAX_RENDER_DEPTH - 2)));
        assert!(!shallow(&nested(MAX_RENDER_DEPTH + 1)));
    }

    #[test]
    fn a_missing_background_is_authentiks_default_image() {
        assert_eq!(background_url(""), DEFAULT_BACKGROUND_URL);
        assert_eq!(background_url("https://x/y.png"), "https://x/y.png");
        assert_eq!(background_url("flows/bg.png"), "/media/flows/bg.png");
    }
}

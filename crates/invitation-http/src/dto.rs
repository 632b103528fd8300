//! The JSON shapes of the API, in authentik's key order (spec §2).
//!
//! Each answer struct serialises its fields in declaration order, and the
//! same struct generates its OpenAPI schema, so the document and the wire
//! cannot drift apart. They borrow from the use cases' views: rendering
//! copies no stored data. Invitations and pages are written by the `render`
//! module, which writes the same bytes as these structs' `Serialize` with
//! less work; its tests hold the two to byte equality. The request and
//! error shapes at the end only describe JSON in the OpenAPI document.

use std::borrow::Cow;

use invitation_core::{
    FixedData, FlowDesignation, FlowId, FlowSummary, InvitationId, PolicyEngineMode, UserId,
};
#[cfg(test)]
use invitation_core::{InvitationView, ListPage};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// authentik's default flow background, shown when a flow has none.
pub(crate) const DEFAULT_BACKGROUND_URL: &str = "/static/dist/assets/images/flow_background.jpg";

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

impl PaginationJson {
    /// The block for `page`, whose number the use case checked exists.
    pub(crate) fn of(page: &invitation_core::ListPage) -> Self {
        let (count, size, current) = (page.total, page.page_size.max(1), page.page.max(1));
        let total_pages = page.total_pages();
        let offset = (current - 1).saturating_mul(size);
        let (start_index, end_index) = if count == 0 {
            (0, 0)
        } else {
            (offset + 1, offset.saturating_add(size).min(count))
        };
        Self {
            next: if current < total_pages {
                current + 1
            } else {
                0
            },
            previous: current - 1,
            count,
            current,
            total_pages,
            start_index,
            end_index,
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
            pagination: PaginationJson::of(page),
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

// The types below only describe JSON in the document: request bodies are
// read as JSON values and validated by invitation-core, and error bodies are
// written by the `error` module. None of them is ever built.

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

/// `send_email`'s body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct InvitationSendEmailRequest {
    /// One mail goes to each (required, at least one).
    #[schema(format = Email)]
    email_addresses: Vec<String>,
    /// Copied on every mail.
    #[schema(required = false, format = Email)]
    cc_addresses: Vec<String>,
    /// Blind-copied on every mail.
    #[schema(required = false, format = Email)]
    bcc_addresses: Vec<String>,
    /// The template's name.
    #[schema(required = false, min_length = 1, default = "email/invitation.html")]
    template: String,
}

/// `send_email`'s refusals: one message.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SendEmailError {
    error: String,
}

/// `send_email`'s field errors (a body that is no `InvitationSendEmailRequest`:
/// a field of the wrong type, a blank template, not a JSON object), or
/// `parse_error` for a body that is no JSON, whose `detail` names the fault.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SendEmailValidationError {
    #[schema(required = false)]
    non_field_errors: Vec<String>,
    #[schema(required = false)]
    email_addresses: Vec<String>,
    #[schema(required = false)]
    cc_addresses: Vec<String>,
    #[schema(required = false)]
    bcc_addresses: Vec<String>,
    #[schema(required = false)]
    template: Vec<String>,
    #[schema(required = false)]
    detail: String,
    code: String,
}

/// `send_email`'s 400: a refusal of the request (`{"error": ...}`), or an
/// unreadable body (field errors with `code`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum SendEmailBadRequest {
    Refusal(SendEmailError),
    Fields(SendEmailValidationError),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_background_is_authentiks_default_image() {
        assert_eq!(background_url(""), DEFAULT_BACKGROUND_URL);
        assert_eq!(background_url("https://x/y.png"), "https://x/y.png");
        assert_eq!(background_url("flows/bg.png"), "/media/flows/bg.png");
    }
}

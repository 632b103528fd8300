//! What the host tells the library about users and flows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::ids::{FlowId, UserId};

/// A user as the invitation API shows it (`created_by`): authentik's
/// `PartialUser` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserSummary {
    /// Integer key.
    pub pk: UserId,
    /// Unique login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Inactive users cannot authenticate.
    pub is_active: bool,
    /// Last login, if any.
    pub last_login: Option<DateTime<Utc>>,
    /// E-mail address (may be empty).
    pub email: String,
    /// Free-form attributes.
    pub attributes: Map<String, Value>,
    /// Opaque stable identifier (authentik derives it from the install id and pk).
    pub uid: String,
}

impl UserSummary {
    /// A summary with the given key and username, active, every other field
    /// empty. Set the public fields to fill in the rest.
    pub fn new(pk: UserId, username: impl Into<String>) -> Self {
        Self {
            pk,
            username: username.into(),
            name: String::new(),
            is_active: true,
            last_login: None,
            email: String::new(),
            attributes: Map::new(),
            uid: String::new(),
        }
    }

    /// What the API shows for a creator the user directory no longer knows:
    /// the key, inactive, the username `unknown-<pk>` (API clients check
    /// usernames against `^[\w.@+-]+$`, so it cannot be empty), every other
    /// text empty.
    pub fn unknown(pk: UserId) -> Self {
        let mut user = Self::new(pk, format!("unknown-{pk}"));
        user.is_active = false;
        user
    }
}

/// What a flow is for (authentik's `designation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FlowDesignation {
    /// Log in.
    Authentication,
    /// Consent to an application.
    Authorization,
    /// Log out.
    Invalidation,
    /// Sign up: the flows invitations are usually bound to.
    Enrollment,
    /// Delete the account.
    Unenrollment,
    /// Recover the account.
    Recovery,
    /// Configure a stage.
    StageConfiguration,
}

impl FlowDesignation {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::Authorization => "authorization",
            Self::Invalidation => "invalidation",
            Self::Enrollment => "enrollment",
            Self::Unenrollment => "unenrollment",
            Self::Recovery => "recovery",
            Self::StageConfiguration => "stage_configuration",
        }
    }
}

/// How a flow's policies combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyEngineMode {
    /// Every policy must pass.
    All,
    /// One passing policy is enough.
    #[default]
    Any,
}

/// A flow as the invitation API shows it (`flow_obj`): authentik's `Flow`
/// shape, less what the HTTP adapter derives (`policybindingmodel_ptr_id`,
/// `background_url`, `background_themed_urls`, `cache_count`, `export_url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlowSummary {
    /// Key.
    pub pk: FlowId,
    /// Display name.
    pub name: String,
    /// Unique URL slug.
    pub slug: String,
    /// Title shown to the user.
    pub title: String,
    /// What the flow is for.
    pub designation: FlowDesignation,
    /// Background image path, empty for the default.
    pub background: String,
    /// Stage bindings.
    pub stages: Vec<Uuid>,
    /// Policy bindings.
    pub policies: Vec<Uuid>,
    /// How policies combine.
    pub policy_engine_mode: PolicyEngineMode,
    /// Compatibility mode for old browsers.
    pub compatibility_mode: bool,
    /// Layout (`stacked`, `content_left`, ...).
    pub layout: String,
    /// What to do when access is denied (`message_continue`, ...).
    pub denied_action: String,
    /// Who may run the flow (`none`, `require_unauthenticated`, ...).
    pub authentication: String,
}

impl FlowSummary {
    /// A flow with authentik's defaults for everything but these fields.
    pub fn new(
        pk: FlowId,
        slug: impl Into<String>,
        name: impl Into<String>,
        title: impl Into<String>,
        designation: FlowDesignation,
    ) -> Self {
        Self {
            pk,
            name: name.into(),
            slug: slug.into(),
            title: title.into(),
            designation,
            background: String::new(),
            stages: Vec::new(),
            policies: Vec::new(),
            policy_engine_mode: PolicyEngineMode::default(),
            compatibility_mode: false,
            layout: "stacked".to_owned(),
            denied_action: "message_continue".to_owned(),
            authentication: "none".to_owned(),
        }
    }
}

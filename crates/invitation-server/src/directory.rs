//! The directory file: users (with their permissions and API tokens) and
//! flows, read from TOML. One [`Directory`] serves the user and flow
//! directory ports, the authenticator and the authorizer.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use invitation_core::{
    FlowDesignation, FlowId, FlowSummary, Permission, PolicyEngineMode, UserId, UserSummary,
};
use invitation_http::parse_timestamp;
use invitation_memory::MemoryDirectory;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use toml::Spanned;
use uuid::Uuid;

/// The install id `uid`s are derived from when none is configured. authentik
/// derives a user's `uid` as `sha256("<install id>-<pk>")` in hex, with a
/// random install id per installation; this server uses this fixed one
/// unless `--install-id` says otherwise, so `uid`s are stable across runs.
pub const DEFAULT_INSTALL_ID: &str = "1e4e0c3a-6a3f-4e47-9a67-0c1b7b1f7c55";

/// The user `INVITATION_BOOTSTRAP_TOKEN` stands for.
pub const BOOTSTRAP_USERNAME: &str = "akadmin";
/// Its key.
pub const BOOTSTRAP_PK: i64 = 1;

const LAYOUTS: [&str; 7] = [
    "stacked",
    "content_left",
    "content_right",
    "sidebar_left",
    "sidebar_right",
    "sidebar_left_frame_background",
    "sidebar_right_frame_background",
];
const DENIED_ACTIONS: [&str; 3] = ["message_continue", "message", "continue"];
const AUTHENTICATIONS: [&str; 7] = [
    "none",
    "require_authenticated",
    "require_unauthenticated",
    "require_superuser",
    "require_redirect",
    "require_outpost",
    "require_token",
];

/// Why a directory file was refused: which file, which line, what is wrong.
#[derive(Debug, thiserror::Error)]
pub struct DirectoryFileError {
    path: PathBuf,
    line: Option<usize>,
    problem: String,
}

impl DirectoryFileError {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The 1-based line the problem is on, when it is on one.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What is wrong.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for DirectoryFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid directory file {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Users, their tokens and permissions, and flows, as read from a directory
/// file (and the bootstrap token), checked line by line. What it holds is an
/// [`MemoryDirectory`], which serves the ports ([`Directory::into_memory`]).
#[derive(Default)]
pub struct Directory {
    memory: MemoryDirectory,
    install_id: String,
}

/// Counts, never the users' tokens (which `MemoryDirectory`'s `Debug`
/// lists).
impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("users", &self.user_count())
            .field("flows", &self.flow_count())
            .field("tokens", &self.token_count())
            .field("install_id", &self.install_id)
            .finish()
    }
}

impl std::ops::Deref for Directory {
    type Target = MemoryDirectory;

    fn deref(&self) -> &MemoryDirectory {
        &self.memory
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    users: Vec<UserEntry>,
    #[serde(default)]
    flows: Vec<FlowEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    pk: Spanned<i64>,
    username: Spanned<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default = "active")]
    is_active: bool,
    #[serde(default)]
    last_login: Option<Spanned<toml::value::Datetime>>,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    permissions: Vec<Spanned<String>>,
    #[serde(default)]
    tokens: Vec<Spanned<String>>,
    #[serde(default)]
    uid: Option<String>,
}

fn active() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowEntry {
    pk: Spanned<Uuid>,
    slug: Spanned<String>,
    name: String,
    title: String,
    designation: FlowDesignation,
    #[serde(default)]
    background: String,
    #[serde(default)]
    stages: Vec<Uuid>,
    #[serde(default)]
    policies: Vec<Uuid>,
    #[serde(default)]
    policy_engine_mode: PolicyEngineMode,
    #[serde(default)]
    compatibility_mode: bool,
    #[serde(default)]
    layout: Option<Spanned<String>>,
    #[serde(default)]
    denied_action: Option<Spanned<String>>,
    #[serde(default)]
    authentication: Option<Spanned<String>>,
}

/// A problem at a byte range of the file.
struct Problem {
    span: Option<Range<usize>>,
    message: String,
}

impl Problem {
    fn at<T>(spanned: &Spanned<T>, message: impl Into<String>) -> Self {
        Self {
            span: Some(spanned.span()),
            message: message.into(),
        }
    }
}

/// authentik's `User.uid`: sha256 of `"<install id>-<pk>"`, in hex.
pub fn derive_uid(install_id: &str, pk: i64) -> String {
    let digest = Sha256::digest(format!("{install_id}-{pk}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_username(text: &str) -> bool {
    !text.is_empty()
        && text.chars().count() <= 150
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || matches!(c, '.' | '@' | '+' | '-'))
}

fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 50
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn one_of(
    field: &Option<Spanned<String>>,
    allowed: &[&str],
    default: &str,
    what: &str,
) -> Result<String, Problem> {
    match field {
        None => Ok(default.to_owned()),
        Some(value) if allowed.contains(&value.get_ref().as_str()) => Ok(value.get_ref().clone()),
        Some(value) => Err(Problem::at(
            value,
            format!(
                "unknown {what} {:?}, expected one of {}",
                value.get_ref(),
                allowed.join(", ")
            ),
        )),
    }
}

impl Directory {
    /// No users, no flows; `uid`s derived from `install_id`.
    pub fn new(install_id: &str) -> Self {
        Self {
            install_id: install_id.to_owned(),
            ..Self::default()
        }
    }

    /// Reads a directory file.
    ///
    /// # Errors
    /// The file cannot be read, is not TOML of the expected shape, or breaks
    /// a rule (duplicate key, username, slug or token; unknown permission;
    /// malformed username or slug): the error names the file and line.
    pub fn load(path: &Path, install_id: &str) -> Result<Self, DirectoryFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| DirectoryFileError {
            path: path.to_owned(),
            line: None,
            problem: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, path, install_id)
    }

    /// Reads directory TOML; `path` is only used in errors.
    ///
    /// # Errors
    /// As [`Directory::load`].
    pub fn parse(text: &str, path: &Path, install_id: &str) -> Result<Self, DirectoryFileError> {
        let fail = |problem: Problem| DirectoryFileError {
            path: path.to_owned(),
            line: problem
                .span
                .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1),
            problem: problem.message,
        };
        let doc: FileDoc = toml::from_str(text).map_err(|e| {
            fail(Problem {
                span: e.span(),
                message: e.message().trim().to_owned(),
            })
        })?;
        let mut directory = Self::new(install_id);
        for user in doc.users {
            directory.add_user_entry(user).map_err(fail)?;
        }
        for flow in doc.flows {
            directory.add_flow_entry(flow).map_err(fail)?;
        }
        Ok(directory)
    }

    fn add_user_entry(&mut self, entry: UserEntry) -> Result<(), Problem> {
        let pk = UserId::new(*entry.pk.get_ref());
        if self.memory.user_by_pk(pk.get()).is_some() {
            return Err(Problem::at(
                &entry.pk,
                format!("a user with pk {pk} is already defined"),
            ));
        }
        let username = entry.username.get_ref();
        if !is_username(username) {
            return Err(Problem::at(
                &entry.username,
                format!("username {username:?} must be 1 to 150 letters, digits and @/./+/-/_"),
            ));
        }
        if self.memory.user_by_username(username).is_some() {
            return Err(Problem::at(
                &entry.username,
                format!("a user named {username:?} is already defined"),
            ));
        }
        let mut permissions = HashSet::new();
        for codename in &entry.permissions {
            let permission = Permission::from_codename(codename.get_ref()).ok_or_else(|| {
                Problem::at(
                    codename,
                    format!(
                        "unknown permission {:?}, expected one of {}",
                        codename.get_ref(),
                        Permission::ALL.map(Permission::codename).join(", ")
                    ),
                )
            })?;
            permissions.insert(permission);
        }
        for token in &entry.tokens {
            self.check_token(token.get_ref())
                .map_err(|m| Problem::at(token, m))?;
        }
        let last_login = match &entry.last_login {
            None => None,
            Some(ts) => Some(parse_timestamp(&ts.get_ref().to_string()).ok_or_else(|| {
                Problem::at(
                    ts,
                    "last_login must be a date and time (an offset is optional)",
                )
            })?),
        };
        let mut user = UserSummary::new(pk, username.clone());
        user.name = entry.name;
        user.email = entry.email;
        user.is_active = entry.is_active;
        user.last_login = last_login;
        user.attributes = entry.attributes;
        user.uid = entry
            .uid
            .unwrap_or_else(|| derive_uid(&self.install_id, pk.get()));
        for token in entry.tokens {
            self.memory.insert_token(token.get_ref(), pk);
        }
        for permission in permissions {
            self.memory.grant(pk, permission);
        }
        self.memory.insert_user(user);
        Ok(())
    }

    fn check_token(&self, token: &str) -> Result<(), String> {
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err("a token must be non-empty and contain no white space".to_owned());
        }
        if self.memory.has_token(token) {
            return Err("this token is already given to a user".to_owned());
        }
        Ok(())
    }

    fn add_flow_entry(&mut self, entry: FlowEntry) -> Result<(), Problem> {
        let pk = FlowId::from_uuid(*entry.pk.get_ref());
        if self.memory.flow_by_pk(&pk).is_some() {
            return Err(Problem::at(
                &entry.pk,
                format!("a flow with pk {pk} is already defined"),
            ));
        }
        let slug = entry.slug.get_ref();
        if !is_slug(slug) {
            return Err(Problem::at(
                &entry.slug,
                format!("slug {slug:?} must be 1 to 50 of a-z A-Z 0-9 - _"),
            ));
        }
        if self.memory.flow_by_slug(slug).is_some() {
            return Err(Problem::at(
                &entry.slug,
                format!("a flow with slug {slug:?} is already defined"),
            ));
        }
        let mut flow =
            FlowSummary::new(pk, slug.clone(), entry.name, entry.title, entry.designation);
        flow.background = entry.background;
        flow.stages = entry.stages;
        flow.policies = entry.policies;
        flow.policy_engine_mode = entry.policy_engine_mode;
        flow.compatibility_mode = entry.compatibility_mode;
        flow.layout = one_of(&entry.layout, &LAYOUTS, "stacked", "layout")?;
        flow.denied_action = one_of(
            &entry.denied_action,
            &DENIED_ACTIONS,
            "message_continue",
            "denied_action",
        )?;
        flow.authentication = one_of(
            &entry.authentication,
            &AUTHENTICATIONS,
            "none",
            "authentication",
        )?;
        self.memory.insert_flow(flow);
        Ok(())
    }

    /// Gives `token` to `akadmin` (pk 1) with every invitation permission,
    /// as authentik's `AUTHENTIK_BOOTSTRAP_TOKEN` does: an `akadmin` already
    /// in the file gets the token and the permissions; otherwise the user is
    /// added.
    ///
    /// # Errors
    /// The token is empty, has white space or is already someone's, or
    /// another user already has pk 1.
    pub fn add_bootstrap_admin(&mut self, token: &str) -> Result<(), String> {
        self.check_token(token)
            .map_err(|m| format!("INVITATION_BOOTSTRAP_TOKEN: {m}"))?;
        let existing = self
            .memory
            .user_by_username(BOOTSTRAP_USERNAME)
            .map(|u| u.pk);
        let pk = match existing {
            Some(pk) => pk,
            None => {
                let pk = UserId::new(BOOTSTRAP_PK);
                if let Some(other) = self.memory.user_by_pk(BOOTSTRAP_PK) {
                    return Err(format!(
                        "INVITATION_BOOTSTRAP_TOKEN adds user {BOOTSTRAP_USERNAME} with pk {BOOTSTRAP_PK}, \
                         but the directory gives pk {BOOTSTRAP_PK} to {:?}",
                        other.username
                    ));
                }
                let mut admin = UserSummary::new(pk, BOOTSTRAP_USERNAME);
                admin.name = "authentik Default Admin".to_owned();
                admin.uid = derive_uid(&self.install_id, BOOTSTRAP_PK);
                self.memory.insert_user(admin);
                pk
            }
        };
        for permission in Permission::ALL {
            self.memory.grant(pk, permission);
        }
        self.memory.insert_token(token, pk);
        Ok(())
    }

    /// What it holds, to serve the ports.
    pub fn into_memory(self) -> MemoryDirectory {
        self.memory
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invitation_core::{Authenticator as _, Authorizer as _};

    const EXAMPLE: &str = r#"
[[users]]
pk = 7                     # integer
username = "alice"
name = "Alice Example"
email = "alice@example.org"
is_active = true
attributes = { team = "qa" }
permissions = ["authentik_stages_invitation.add_invitation", "authentik_stages_invitation.view_invitation"]
tokens = ["a-secret-api-token"]

[[flows]]
pk = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
slug = "default-enrollment-flow"
name = "Default enrollment"
title = "Welcome!"
designation = "enrollment"
"#;

    fn parse(text: &str) -> Result<Directory, DirectoryFileError> {
        Directory::parse(text, Path::new("dir.toml"), DEFAULT_INSTALL_ID)
    }

    fn error(text: &str) -> (Option<usize>, String) {
        let e = parse(text).expect_err("the file should be refused");
        (e.line(), e.problem().to_owned())
    }

    #[tokio::test]
    async fn the_example_directory_is_read_with_authentiks_defaults() {
        let d = parse(EXAMPLE).unwrap();
        let alice = d.user_by_pk(7).unwrap();
        assert_eq!(alice.username, "alice");
        assert_eq!(alice.attributes["team"], "qa");
        assert_eq!(alice.uid, derive_uid(DEFAULT_INSTALL_ID, 7));
        let flow = d.flow_by_slug("default-enrollment-flow").unwrap();
        assert_eq!(flow.designation, FlowDesignation::Enrollment);
        assert_eq!(flow.layout, "stacked");
        assert_eq!(flow.denied_action, "message_continue");
        assert_eq!(flow.authentication, "none");
        let caller = d.authenticate("a-secret-api-token").await.unwrap().unwrap();
        assert!(d.is_allowed(&caller, Permission::Add).await.unwrap());
        assert!(!d.is_allowed(&caller, Permission::Delete).await.unwrap());
        assert_eq!(d.authenticate("other").await.unwrap(), None);
    }

    #[test]
    fn uid_is_the_sha256_of_install_id_dash_pk_in_hex() {
        // Python: hashlib.sha256(b"x-1").hexdigest()
        assert_eq!(
            derive_uid("x", 1),
            "e0f26c5c92757661153f941e9d0e65ece63b67e4e2e4640e69d7a71437f2aa31"
        );
    }

    #[tokio::test]
    async fn an_inactive_users_token_authenticates_nobody() {
        let d = parse(&EXAMPLE.replace("is_active = true", "is_active = false")).unwrap();
        assert_eq!(d.authenticate("a-secret-api-token").await.unwrap(), None);
    }

    #[test]
    fn a_toml_syntax_error_names_its_line() {
        let (line, problem) = error("[[users]]\npk = 1\nusername = \"a\"\nname = \n");
        assert_eq!(line, Some(4));
        assert!(!problem.is_empty());
    }

    #[test]
    fn a_wrong_type_names_its_line() {
        let (line, problem) = error("[[users]]\npk = \"seven\"\nusername = \"a\"\n");
        assert_eq!(line, Some(2));
        assert!(
            problem.contains("i64") || problem.contains("integer"),
            "{problem}"
        );
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let (line, problem) = error("[[users]]\npk = 1\nusername = \"a\"\ncolour = \"red\"\n");
        assert_eq!(line, Some(4));
        assert!(problem.contains("colour"), "{problem}");
    }

    #[test]
    fn an_unknown_permission_names_its_line() {
        let text = EXAMPLE.replace(
            "\"authentik_stages_invitation.view_invitation\"",
            "\"authentik_stages_invitation.view_everything\"",
        );
        let (line, problem) = error(&text);
        assert_eq!(line, Some(9));
        assert!(problem.contains("view_everything"), "{problem}");
    }

    #[test]
    fn duplicates_are_refused_at_the_second() {
        let twice = format!("{EXAMPLE}\n{}", EXAMPLE.replace("pk = 7 ", "pk = 8 "));
        let (line, problem) = error(&twice);
        assert_eq!(line, Some(22));
        assert!(problem.contains("alice"), "{problem}");
        let tokens = format!(
            "{EXAMPLE}\n[[users]]\npk = 9\nusername = \"bob\"\ntokens = [\"a-secret-api-token\"]\n"
        );
        let (line, problem) = error(&tokens);
        assert_eq!(line, Some(22));
        assert!(problem.contains("token"), "{problem}");
    }

    #[test]
    fn an_unknown_designation_or_layout_is_refused() {
        let (line, problem) = error(&EXAMPLE.replace("\"enrollment\"", "\"signup\""));
        assert_eq!(line, Some(17));
        assert!(problem.contains("signup"), "{problem}");
        let (line, problem) = error(&format!("{EXAMPLE}layout = \"diagonal\"\n"));
        assert_eq!(line, Some(18));
        assert!(problem.contains("stacked"), "{problem}");
    }

    #[test]
    fn a_malformed_slug_or_username_is_refused() {
        let (line, _) = error(&EXAMPLE.replace("\"default-enrollment-flow\"", "\"a b\""));
        assert_eq!(line, Some(14));
        let (line, _) = error(&EXAMPLE.replace("\"alice\"", "\"al ice\""));
        assert_eq!(line, Some(4));
    }

    #[tokio::test]
    async fn the_bootstrap_token_adds_akadmin_with_every_permission() {
        let mut d = parse(EXAMPLE).unwrap();
        d.add_bootstrap_admin("boot").unwrap();
        let caller = d.authenticate("boot").await.unwrap().unwrap();
        assert_eq!(caller.user_id(), UserId::new(1));
        assert_eq!(d.user_by_pk(1).unwrap().username, "akadmin");
        for p in Permission::ALL {
            assert!(d.is_allowed(&caller, p).await.unwrap());
        }
        assert!(d.add_bootstrap_admin("a-secret-api-token").is_err());
    }

    #[test]
    fn the_bootstrap_token_refuses_a_pk_1_that_is_not_akadmin() {
        let mut d = parse(&EXAMPLE.replace("pk = 7 ", "pk = 1 ")).unwrap();
        assert!(d.add_bootstrap_admin("boot").unwrap_err().contains("alice"));
    }
}

//! Every refusal the API answers, and its JSON body.
//!
//! Bodies follow authentik (Django REST framework): `{"detail": ..., "code":
//! ...}`, or for field errors `{"<field>": [...], ..., "code": "invalid"}`.
//! Backend failures are logged with their source chain and answered with a
//! generic text: backend messages never reach a client.

use std::any::Any;
use std::error::Error as StdError;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use invitation_core::{
    AuthError, CreateError, DeleteError, DirectoryError, GetError, ListError, SendEmailError,
    StoreError, TemplateError, UpdateError,
};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::input::FieldErrors;

/// `Retry-After` on every 503: storage, a directory or the authorizer could
/// not be reached, and a pool or connection usually recovers within seconds.
pub(crate) const RETRY_AFTER_SECONDS: &str = "5";

/// A request the API refuses, or could not serve.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No `Authorization` credentials.
    NotAuthenticated,
    /// A token nobody holds, or an inactive user's.
    TokenInvalid,
    /// A scheme other than `Bearer`.
    UnsupportedAuthType,
    /// The caller lacks the route's permission.
    PermissionDenied,
    /// Field errors.
    Invalid(FieldErrors),
    /// The body is not JSON.
    Parse(serde_json::Error),
    /// The body is not `application/json`.
    UnsupportedMediaType(String),
    /// The body is over [`crate::MAX_BODY_BYTES`].
    TooLarge,
    /// The body could not be read (the client went away mid-body).
    BodyUnreadable,
    /// No invitation has this pk.
    InvitationNotFound,
    /// The path is not a route, or its pk is not a UUID.
    NotFound,
    /// The list page does not exist.
    InvalidPage,
    /// The route does not take this method.
    MethodNotAllowed(Method),
    /// `If-Match` does not name the invitation's current version.
    PreconditionFailed,
    /// Storage, a directory or the authorizer cannot be reached.
    Unavailable,
    /// Anything else that went wrong on our side.
    Internal,
    /// A refusal `send_email` words as `{"error": ...}`, as authentik's
    /// action does.
    Message(StatusCode, String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotAuthenticated
            | Self::TokenInvalid
            | Self::UnsupportedAuthType
            | Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::Invalid(_) | Self::Parse(_) | Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvitationNotFound | Self::NotFound | Self::InvalidPage => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Message(status, _) => *status,
        }
    }

    fn detail(&self) -> (String, &'static str) {
        let fixed = |detail: &str, code| (detail.to_owned(), code);
        match self {
            Self::NotAuthenticated => fixed(
                "Authentication credentials were not provided.",
                "not_authenticated",
            ),
            Self::TokenInvalid => fixed("Token invalid/expired", "authentication_failed"),
            Self::UnsupportedAuthType => {
                fixed("Unsupported authentication type", "authentication_failed")
            }
            Self::PermissionDenied => fixed(
                "You do not have permission to perform this action.",
                "permission_denied",
            ),
            Self::Invalid(_) => fixed("Invalid input.", "invalid"),
            Self::Parse(e) => (format!("JSON parse error - {e}"), "parse_error"),
            Self::UnsupportedMediaType(media_type) => (
                format!("Unsupported media type \"{media_type}\" in request."),
                "unsupported_media_type",
            ),
            Self::TooLarge => fixed("Request body too large.", "too_large"),
            Self::BodyUnreadable => fixed("The request body could not be read.", "parse_error"),
            Self::InvitationNotFound => {
                fixed("No Invitation matches the given query.", "not_found")
            }
            Self::NotFound => fixed("Not found.", "not_found"),
            Self::InvalidPage => fixed("Invalid page.", "not_found"),
            Self::MethodNotAllowed(m) => {
                (format!("Method \"{m}\" not allowed."), "method_not_allowed")
            }
            Self::PreconditionFailed => fixed(
                "The invitation has changed: If-Match does not name its current ETag.",
                "precondition_failed",
            ),
            Self::Unavailable => fixed(
                "Service temporarily unavailable, try again later.",
                "service_unavailable",
            ),
            Self::Internal | Self::Message(..) => fixed("A server error occurred.", "server_error"),
        }
    }

    /// Logs a backend failure with its whole source chain, and picks 503
    /// (retry later) or 500.
    fn backend(kind: &'static str, error: &(dyn StdError + 'static), retryable: bool) -> Self {
        tracing::error!(kind, error = %Chain(error), "request failed");
        if retryable {
            Self::Unavailable
        } else {
            Self::Internal
        }
    }
}

/// Displays an error and every source under it, `: `-separated.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn StdError + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let retryable = e.is_retryable();
        Self::backend("storage", &e, retryable)
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        let retryable = matches!(e, DirectoryError::Unavailable(_));
        Self::backend("directory", &e, retryable)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let retryable = matches!(e, AuthError::Unavailable(_));
        Self::backend("authorization", &e, retryable)
    }
}

/// The use-case error enums are `#[non_exhaustive]`: a variant added later
/// is answered as a server error (and logged) until it is mapped here.
fn unmapped(error: &(dyn StdError + 'static)) -> ApiError {
    ApiError::backend("unmapped", error, false)
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Forbidden => Self::PermissionDenied,
            CreateError::Invalid(errors) => Self::Invalid(FieldErrors::from_core(&errors)),
            CreateError::Store(e) => e.into(),
            CreateError::Directory(e) => e.into(),
            CreateError::Auth(e) => e.into(),
            other => unmapped(&other),
        }
    }
}

impl From<GetError> for ApiError {
    fn from(e: GetError) -> Self {
        match e {
            GetError::Forbidden => Self::PermissionDenied,
            GetError::NotFound => Self::InvitationNotFound,
            GetError::Store(e) => e.into(),
            GetError::Directory(e) => e.into(),
            GetError::Auth(e) => e.into(),
            other => unmapped(&other),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Forbidden => Self::PermissionDenied,
            ListError::InvalidPage => Self::InvalidPage,
            ListError::InvalidSearch { errors } => Self::Invalid(FieldErrors::search(&errors)),
            ListError::Store(e) => e.into(),
            ListError::Directory(e) => e.into(),
            ListError::Auth(e) => e.into(),
            other => unmapped(&other),
        }
    }
}

impl From<UpdateError> for ApiError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Forbidden => Self::PermissionDenied,
            UpdateError::NotFound => Self::InvitationNotFound,
            UpdateError::Invalid(errors) => Self::Invalid(FieldErrors::from_core(&errors)),
            UpdateError::VersionMismatch { .. } => Self::PreconditionFailed,
            UpdateError::Store(e) => e.into(),
            UpdateError::Directory(e) => e.into(),
            UpdateError::Auth(e) => e.into(),
            other => unmapped(&other),
        }
    }
}

impl From<DeleteError> for ApiError {
    fn from(e: DeleteError) -> Self {
        match e {
            DeleteError::Forbidden => Self::PermissionDenied,
            DeleteError::NotFound => Self::InvitationNotFound,
            DeleteError::VersionMismatch { .. } => Self::PreconditionFailed,
            DeleteError::Store(e) => e.into(),
            DeleteError::Auth(e) => e.into(),
            other => unmapped(&other),
        }
    }
}

impl ApiError {
    /// `send_email`'s refusal; `first` is the request's first address,
    /// which authentik's queueing failure names.
    pub(crate) fn from_send_email(e: SendEmailError, first: &str) -> Self {
        let message = |status, text: String| Self::Message(status, text);
        match e {
            SendEmailError::Forbidden => Self::PermissionDenied,
            SendEmailError::NotFound => Self::InvitationNotFound,
            SendEmailError::NotConfigured => message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Email is not configured on this server.".into(),
            ),
            SendEmailError::NoAddresses => message(
                StatusCode::BAD_REQUEST,
                "No email addresses provided".into(),
            ),
            SendEmailError::NoFlow => message(
                StatusCode::BAD_REQUEST,
                "Invitation has no associated flow".into(),
            ),
            SendEmailError::InvalidAddress(invalid) => {
                // Quoted back, but never more than an address can be long.
                let given: String = invalid.0.chars().take(254).collect();
                message(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid email address: {given}"),
                )
            }
            SendEmailError::TooManyRecipients => message(
                StatusCode::BAD_REQUEST,
                format!(
                    "Too many recipients: at most {} per request.",
                    invitation_core::MAX_RECIPIENTS
                ),
            ),
            SendEmailError::Template(
                e @ (TemplateError::NotFound(_) | TemplateError::NotAllowed(_)),
            ) => message(StatusCode::BAD_REQUEST, e.to_string()),
            SendEmailError::Template(e) => {
                tracing::error!(error = %Chain(&e), "email template failed");
                message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Failed to render the email template.".into(),
                )
            }
            SendEmailError::Queue(e) => {
                tracing::error!(error = %Chain(&e), "email queue failed");
                let first: String = first.chars().take(254).collect();
                message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Failed to queue email for {first}: the mail queue is unavailable"),
                )
            }
            SendEmailError::Store(e) => e.into(),
            SendEmailError::Directory(e) => e.into(),
            SendEmailError::Auth(e) => e.into(),
            other => unmapped(&other),
        }
    }
}

/// `{"detail": ..., "code": ...}`
#[derive(Serialize)]
struct DetailBody<'a> {
    detail: &'a str,
    code: &'a str,
}

/// `{"<field>": [...], ..., "code": "invalid"}` in field order.
struct FieldErrorsBody<'a>(&'a FieldErrors);

impl Serialize for FieldErrorsBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, messages) in self.0.iter() {
            map.serialize_entry(key, messages)?;
        }
        map.serialize_entry("code", "invalid")?;
        map.end()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Invalid(errors) => serde_json::to_vec(&FieldErrorsBody(errors)),
            Self::Message(_, error) => serde_json::to_vec(&serde_json::json!({ "error": error })),
            other => {
                let (detail, code) = other.detail();
                serde_json::to_vec(&DetailBody {
                    detail: &detail,
                    code,
                })
            }
        };
        // These bodies are strings and string lists: serialising them
        // cannot fail, but if it ever did the client still gets JSON.
        let body = body.unwrap_or_else(|_| {
            br#"{"detail": "A server error occurred.", "code": "server_error"}"#.to_vec()
        });
        let mut response = crate::json::json_bytes(status, body);
        if matches!(self, Self::Unavailable) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        if matches!(self, Self::TooLarge) {
            // The rest of an oversized body was not read: do not reuse the
            // connection.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// What a panicking handler answers (the panic itself is a bug: handlers
/// have no reachable panics, this is a last line of defence).
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "request handler panicked");
    ApiError::Internal.into_response()
}

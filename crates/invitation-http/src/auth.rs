//! Who the caller is: the [`Principal`] a host's middleware put in the
//! request's extensions, or else `Authorization: Bearer <token>`, read the
//! way authentik reads it.

use std::future::Future;

use axum::extract::Request;
use axum::http::{header, HeaderMap};
use invitation_core::Principal;

use crate::error::ApiError;
use crate::state::AppState;

/// What an `Authorization` header holds.
#[derive(Debug, PartialEq, Eq)]
enum Credentials<'a> {
    /// No header, an empty one, or one word alone (`Bearer`).
    None,
    /// `Bearer <token>` (the scheme word in any case).
    Bearer(&'a str),
    /// Another scheme (`Basic ...`).
    OtherScheme,
    /// Not readable as text.
    Unreadable,
}

/// authentik's `validate_auth`: trim; no space means no credentials;
/// otherwise the word before the first space is the scheme and the rest is
/// the token.
fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credentials::None;
    };
    let Ok(text) = value.to_str() else {
        return Credentials::Unreadable;
    };
    // Visible ASCII and tabs only (`to_str`), so ASCII trimming is
    // `str::trim`, and a space's byte index is a char boundary.
    let text = text.trim_ascii();
    let Some(space) = text.bytes().position(|b| b == b' ') else {
        return Credentials::None;
    };
    let (Some(scheme), Some(token)) = (text.get(..space), text.get(space + 1..)) else {
        return Credentials::None;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::OtherScheme;
    }
    Credentials::Bearer(token)
}

impl AppState {
    /// The caller, or the 403 authentik answers. The future holds the
    /// request's headers, not the request (whose body is not `Sync`).
    pub(crate) fn authenticate<'a>(
        &'a self,
        request: &'a Request,
    ) -> impl Future<Output = Result<Principal, ApiError>> + Send + 'a {
        let principal = request.extensions().get::<Principal>().copied();
        let headers = request.headers();
        async move {
            match principal {
                Some(principal) => Ok(principal),
                None => self.bearer(headers).await,
            }
        }
    }

    /// The caller named by `Authorization: Bearer <token>`.
    async fn bearer(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        match credentials(headers) {
            Credentials::None => Err(ApiError::NotAuthenticated),
            Credentials::OtherScheme => Err(ApiError::UnsupportedAuthType),
            Credentials::Unreadable => Err(ApiError::TokenInvalid),
            Credentials::Bearer(token) => self
                .shared
                .authenticator
                .authenticate(token)
                .await?
                .ok_or(ApiError::TokenInvalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn read(value: &[u8]) -> Credentials<'static> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        let leaked: &'static HeaderMap = Box::leak(Box::new(headers));
        credentials(leaked)
    }

    #[test]
    fn the_scheme_word_is_case_insensitive() {
        assert_eq!(read(b"bearer abc"), Credentials::Bearer("abc"));
        assert_eq!(read(b"BEARER abc"), Credentials::Bearer("abc"));
    }

    #[test]
    fn bearer_alone_is_no_credentials() {
        assert_eq!(read(b"Bearer"), Credentials::None);
        assert_eq!(read(b"Bearer   "), Credentials::None);
        assert_eq!(read(b""), Credentials::None);
    }

    #[test]
    fn another_scheme_is_unsupported() {
        assert_eq!(read(b"Basic YTpi"), Credentials::OtherScheme);
        assert_eq!(read(b"Token abc"), Credentials::OtherScheme);
    }

    #[test]
    fn the_token_is_everything_after_the_first_space() {
        assert_eq!(
            read(b"Bearer  two words"),
            Credentials::Bearer(" two words")
        );
    }

    #[test]
    fn a_header_that_is_not_text_is_unreadable() {
        assert_eq!(read(b"Bearer \xff"), Credentials::Unreadable);
    }
}

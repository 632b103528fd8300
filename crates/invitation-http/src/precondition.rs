//! Entity tags and conditional requests (RFC 9110 §8.8.3, §13).
//!
//! An invitation's entity tag is its [`Version`] as a strong tag, `"<n>"`:
//! it changes on every write of the invitation. It tags the stored
//! invitation, not the creator and flow summaries nested in its answer,
//! which belong to the host's directories.
//!
//! - `If-Match` on `PUT`, `PATCH` and `DELETE`: `*` (any current version)
//!   or exactly one strong tag this server issued. The write happens only if
//!   the invitation is at that version, checked in the same atomic step as
//!   the write; otherwise `412`. A list of several tags, a weak tag, or a
//!   value that is no tag of ours never matches (`412`).
//! - `If-None-Match` on `GET` of one invitation: `*`, or a list of tags
//!   compared weakly; a match answers `304` with the tag and no body.

use axum::http::{header, HeaderMap, HeaderValue};
use invitation_core::Version;

/// The `ETag` value for `version`.
pub(crate) fn etag(version: Version) -> HeaderValue {
    let mut text = String::with_capacity(22);
    text.push('"');
    text.push_str(itoa::Buffer::new().format(version.get()));
    text.push('"');
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// What a request's `If-Match` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// No `If-Match`, or `*`: write whatever the version.
    Any,
    /// Write only at this version.
    Version(Version),
    /// Something that can never match the current tag.
    Never,
}

impl IfMatch {
    /// Reads `If-Match` (several header lines count as one list).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(header::IF_MATCH).iter();
        let Some(first) = values.next() else {
            return Self::Any;
        };
        if values.next().is_some() {
            return Self::Never;
        }
        let Ok(text) = first.to_str() else {
            return Self::Never;
        };
        let text = text.trim();
        if text == "*" {
            return Self::Any;
        }
        strong_version(text).map_or(Self::Never, Self::Version)
    }
}

/// Whether `If-None-Match` matches `current` (weak comparison): `*`, or
/// any tag in its list, weak or strong, naming that version.
pub(crate) fn if_none_match(headers: &HeaderMap, current: Version) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',').map(str::trim).any(|tag| {
                tag == "*" || strong_version(tag.strip_prefix("W/").unwrap_or(tag)) == Some(current)
            })
        })
    })
}

/// The version a strong tag `"<n>"` names, if it is one of ours.
fn strong_version(tag: &str) -> Option<Version> {
    let digits = tag.strip_prefix('"')?.strip_suffix('"')?;
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().and_then(Version::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name.clone(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    #[test]
    fn an_etag_is_the_version_as_a_strong_tag() {
        assert_eq!(etag(v(1)), "\"1\"");
        assert_eq!(etag(v(u64::MAX)), "\"18446744073709551615\"");
    }

    #[test]
    fn if_match_reads_star_one_strong_tag_and_refuses_the_rest() {
        let im = |values: &[&str]| IfMatch::from_headers(&headers(header::IF_MATCH, values));
        assert_eq!(im(&[]), IfMatch::Any);
        assert_eq!(im(&["*"]), IfMatch::Any);
        assert_eq!(im(&["\"7\""]), IfMatch::Version(v(7)));
        assert_eq!(im(&[" \"7\" "]), IfMatch::Version(v(7)));
        for never in [
            "W/\"7\"",
            "7",
            "\"\"",
            "\"0\"",
            "\"-1\"",
            "\"7\", \"8\"",
            "\"99999999999999999999999\"",
            "\"a\"",
        ] {
            assert_eq!(im(&[never]), IfMatch::Never, "{never}");
        }
        assert_eq!(im(&["\"7\"", "\"8\""]), IfMatch::Never);
    }

    #[test]
    fn if_none_match_compares_weakly_over_a_list() {
        let inm = |values: &[&str]| if_none_match(&headers(header::IF_NONE_MATCH, values), v(3));
        assert!(inm(&["\"3\""]));
        assert!(inm(&["W/\"3\""]));
        assert!(inm(&["\"1\", W/\"3\""]));
        assert!(inm(&["\"1\"", "\"3\""]));
        assert!(inm(&["*"]));
        assert!(!inm(&[]));
        assert!(!inm(&["\"4\""]));
        assert!(!inm(&["3"]));
    }
}

//! Request bodies: size limit, media type, JSON.
//!
//! Read by hand (not with axum's `Json` extractor) so that every refusal has
//! authentik's JSON body, and so that the caller is authenticated and
//! authorized before a body is even looked at.

use crate::error::ApiError;
use crate::input::{read_body, Body as InputBody, BodyRefusal};
use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::Request;
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;

/// The largest request body accepted, in bytes (1 MiB). A larger body is
/// answered `413 {"detail": "Request body too large.", "code": "too_large"}`
/// and nothing is stored.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How much of an oversized body is still read (and thrown away) before
/// answering 413, so that a client still sending gets to read the answer
/// instead of a reset connection. Past this the connection is just closed.
const DRAIN_LIMIT: usize = 16 * MAX_BODY_BYTES;

/// Reads the body of `request` as invitation input, the way Django REST
/// framework's `JSONParser` does: an empty body is an empty object whatever
/// its media type; otherwise the media type must be `application/json` (or
/// `application/<x>+json`) and the text must parse.
pub(crate) async fn input_body(request: Request) -> Result<InputBody, ApiError> {
    let bytes = json_body(request).await?;
    if bytes.is_empty() {
        return Ok(InputBody::default());
    }
    read_body(&bytes).map_err(|e| match e {
        BodyRefusal::Syntax(e) => ApiError::Parse(e),
        BodyRefusal::Invalid(errors) => ApiError::Invalid(errors),
    })
}

/// The body of `request` within [`MAX_BODY_BYTES`]: empty, or of a JSON
/// media type (not yet parsed).
pub(crate) async fn json_body(request: Request) -> Result<Bytes, ApiError> {
    let (parts, body) = request.into_parts();
    // The declared `Content-Length` (hyper has read and checked it): a
    // body declared far too large is refused without reading any of it.
    if body.size_hint().lower() > DRAIN_LIMIT as u64 {
        return Err(ApiError::TooLarge);
    }
    let bytes = read_limited(body).await?;
    if !bytes.is_empty() {
        check_media_type(&parts.headers)?;
    }
    Ok(bytes)
}

async fn read_limited(mut body: Body) -> Result<Bytes, ApiError> {
    // Most bodies arrive in one frame: keep it without copying.
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::BodyUnreadable);
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > MAX_BODY_BYTES {
            drain(body, DRAIN_LIMIT - total.min(DRAIN_LIMIT)).await;
            return Err(ApiError::TooLarge);
        }
        match &first {
            None => first = Some(data),
            Some(head) => {
                if rest.is_empty() {
                    rest.extend_from_slice(head);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(if rest.is_empty() {
        first.unwrap_or_default()
    } else {
        Bytes::from(rest)
    })
}

/// Reads and drops up to `budget` more bytes of a body.
async fn drain(mut body: Body, mut budget: usize) {
    while let Some(Ok(frame)) = body.frame().await {
        let len = frame.data_ref().map_or(0, Bytes::len);
        if len >= budget {
            return;
        }
        budget -= len;
    }
}

fn check_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    // Looked at as bytes: the header is only turned into text when refused.
    let raw = headers
        .get(header::CONTENT_TYPE)
        .map_or(&[][..], |v| v.as_bytes());
    // What clients send nearly always: one comparison.
    if raw == b"application/json" {
        return Ok(());
    }
    let essence = raw
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if is_json(essence) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            String::from_utf8_lossy(raw).into_owned(),
        ))
    }
}

/// `application/json`, or `application/<x>+json`, in any case.
fn is_json(essence: &[u8]) -> bool {
    const PREFIX: &[u8] = b"application/";
    const SUFFIX: &[u8] = b"+json";
    if essence.eq_ignore_ascii_case(b"application/json") {
        return true;
    }
    essence.len() > PREFIX.len() + SUFFIX.len()
        && essence
            .get(..PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
        && essence
            .get(essence.len() - SUFFIX.len()..)
            .is_some_and(|s| s.eq_ignore_ascii_case(SUFFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn media(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        check_media_type(&headers).is_ok()
    }

    #[test]
    fn json_media_types_are_accepted_with_or_without_parameters() {
        assert!(media("application/json"));
        assert!(media("Application/JSON; charset=utf-8"));
        assert!(media("application/vnd.api+json"));
        assert!(media("  application/json  ;charset=utf-8"));
    }

    #[test]
    fn other_media_types_are_refused() {
        assert!(!media("text/plain"));
        assert!(!media("application/x-www-form-urlencoded"));
        assert!(!media("application/+json"));
        assert!(!media("json"));
        assert!(!media("application/jsonx"));
        assert!(!media("text/json"));
        assert!(check_media_type(&HeaderMap::new()).is_err());
    }
}

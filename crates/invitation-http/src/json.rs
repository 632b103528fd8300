//! The one way the API makes a JSON answer from bytes.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

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

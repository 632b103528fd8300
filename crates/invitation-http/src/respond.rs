//! Answers made of invitations and pages: their JSON written by `render`,
//! checked first for what cannot be rendered, a page streamed when it is
//! large, and the invitation's `ETag`.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use invitation_core::{InvitationId, InvitationView, ListPage};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::dto::PaginationJson;
use crate::error::ApiError;
use crate::json::json_bytes;
use crate::precondition::etag;
use crate::render;

/// Deepest user `attributes` rendered. They come from the host's user
/// directory, which may hold anything; deeper ones are answered 500 rather
/// than risking the stack.
const MAX_RENDER_DEPTH: usize = 512;

/// Whether every JSON value in `view` is shallow enough to render
/// (`fixed_data` is, by construction: invitation-core bounds its depth).
fn renderable(view: &InvitationView) -> bool {
    shallow(&view.created_by.attributes)
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
            response
                .headers_mut()
                .insert(header::ETAG, etag(view.invitation.version()));
            Ok(response)
        }
        Err(e) => Err(unserialisable(&e)),
    }
}

/// Pages whose invitations hold more `fixed_data` than this (bytes) are
/// written as a stream, one invitation at a time while the client reads,
/// instead of into one buffer: ten clients listing pages of a hundred
/// 1 MiB invitations at once would otherwise hold a gigabyte of answers.
/// Smaller pages are one buffer with a `Content-Length`.
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
    let pagination = PaginationJson::of(&page);
    let results = page.results;
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
}

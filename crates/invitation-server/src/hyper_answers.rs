//! JSON bodies for the answers hyper makes itself.
//!
//! hyper answers a request head it cannot take without calling the
//! service: `400` for one it cannot parse, `431` for one larger than its
//! read buffer (about 400 KiB) or with more than 100 fields, `414` for a
//! URI over 65,534 bytes; then it closes the connection. Those answers
//! have no body, and hyper has no setting to give them one. The limits
//! that matter are enforced below hyper's by the server's own layer
//! ([`crate::serve::MAX_URI_BYTES`], [`crate::serve::MAX_HEADER_BYTES`]),
//! which answers JSON; what is left is a head hyper cannot read at all.
//!
//! So the connection's socket is wrapped, and a write that is exactly
//! such an answer's head is replaced by the same head with a JSON body
//! (`{"detail": ..., "code": "bad_request"}`, `uri_too_long` or
//! `headers_too_large`). It is recognised by its shape, which no answer of
//! the router has: status 400, 414 or 431, `content-length: 0` and no
//! `content-type`, alone in the write (hyper writes it on its own, and
//! nothing after it). Anything else passes through untouched, so at worst
//! (a write that joins the end of an earlier answer to it, when the socket
//! was full) the client gets hyper's empty answer.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::serve::{Refusal, BAD_REQUEST, HEADERS_TOO_LARGE, URI_TOO_LONG};

/// A socket whose hyper-made answers get JSON bodies.
#[derive(Debug)]
pub(crate) struct JsonHyperAnswers<T> {
    inner: T,
    /// An answer put in place of hyper's, and how much of it is written.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<T> JsonHyperAnswers<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            replacing: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> JsonHyperAnswers<T> {
    /// Writes what is left of a replacement answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, written)) = &mut self.replacing {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
            if *written == answer.len() {
                self.replacing = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonHyperAnswers<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonHyperAnswers<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_replacement(cx))?;
        let Some(answer) = with_json_body(buf) else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        tracing::debug!("a request head hyper refused is answered with a JSON body");
        this.replacing = Some((answer, 0));
        // hyper's bytes are taken; ours go out now, or on the next write,
        // flush or shutdown (a pending write has registered the waker).
        if let Poll::Ready(Err(e)) = this.poll_replacement(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `head` with a JSON body, when it is the whole of one of hyper's own
/// bodiless `400`, `414` or `431` answers.
fn with_json_body(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let fields = text.strip_suffix("\r\n\r\n")?;
    let mut lines = fields.split("\r\n");
    let status_line = lines.next()?;
    let refusal: &Refusal = match status_line.get(..13)? {
        "HTTP/1.1 400 " | "HTTP/1.0 400 " => &BAD_REQUEST,
        "HTTP/1.1 414 " | "HTTP/1.0 414 " => &URI_TOO_LONG,
        "HTTP/1.1 431 " | "HTTP/1.0 431 " => &HEADERS_TOO_LARGE,
        _ => return None,
    };
    let mut empty = false;
    let mut others = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-type" | "transfer-encoding" => return None,
            "content-length" if value.trim() == "0" => empty = true,
            "content-length" => return None,
            "connection" => {}
            _ => others.push(line),
        }
    }
    if !empty {
        return None;
    }
    let body = refusal.body();
    let mut answer = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for line in others {
        answer.push_str(line);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    let mut answer = answer.into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn hypers_bodiless_refusals_get_the_json_body_of_their_status() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sun, 01 Mar 2026 10:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(with_json_body(hyper).unwrap()).unwrap();
        assert_eq!(
            answer,
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
             content-length: 52\r\nconnection: close\r\n\
             date: Sun, 01 Mar 2026 10:00:00 GMT\r\n\r\n\
             {\"detail\":\"Malformed request.\",\"code\":\"bad_request\"}"
        );
        for (status, code) in [
            ("414 URI Too Long", "uri_too_long"),
            ("431 Request Header Fields Too Large", "headers_too_large"),
        ] {
            let hyper = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            let answer = String::from_utf8(with_json_body(hyper.as_bytes()).unwrap()).unwrap();
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{answer}"
            );
            assert!(
                answer.ends_with(&format!("\"code\":\"{code}\"}}")),
                "{answer}"
            );
        }
    }

    #[test]
    fn answers_with_a_body_or_another_status_pass_untouched() {
        for write in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            b"{\"detail\": \"HTTP/1.1 400 \"}",
            b"",
        ] {
            assert_eq!(with_json_body(write), None, "{}", String::from_utf8_lossy(write));
        }
    }
}

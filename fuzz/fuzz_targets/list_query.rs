//! A list request's query string, as the HTTP API receives it: any bytes
//! after `?` (percent-encoded where a URI needs it). The answer is a page,
//! a 400 or an invalid page; nothing may panic or fail on our side, and a
//! page stays within the bounds.
#![no_main]

use invitation_core::MAX_PAGE_SIZE;
use invitation_fuzz::{send, Answer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let query: String = data
        .iter()
        .map(|&b| match b {
            b'&' | b'=' | b'+' | b'%' | b',' | b'-' | b'_' | b'.' => char::from(b).to_string(),
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect();
    let Answer { status, body } = send("GET", &query, Vec::new());
    match status {
        200 => {
            let results = body["results"].as_array().expect("a page has results");
            assert!(results.len() as u64 <= MAX_PAGE_SIZE);
        }
        400 | 404 => assert!(body.is_object(), "a refusal is a JSON object"),
        other => panic!("a list query was answered {other}: {body}"),
    }
});

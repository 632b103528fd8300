//! A create body, as the HTTP API receives it: any bytes, posted to the
//! router with the JSON media type. Anything may be refused (400); nothing
//! may panic or fail on our side, and what is created keeps the domain's
//! rules.
#![no_main]

use invitation_fuzz::{send, Answer};
use invitation_core::{FIXED_DATA_MAX_DEPTH, NAME_MAX_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Answer { status, body } = send("POST", "", data.to_vec());
    match status {
        400 => assert!(body.is_object(), "a refusal is a JSON object"),
        201 => {
            let name = body["name"].as_str().expect("a created name");
            assert!(!name.is_empty() && name.chars().count() <= NAME_MAX_CHARS);
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            let fixed = &body["fixed_data"];
            assert!(fixed.is_object());
            assert!(!fixed.to_string().contains("\\u0000"));
            assert!(depth(fixed) <= FIXED_DATA_MAX_DEPTH);
        }
        other => panic!("a create body was answered {other}: {body}"),
    }
});

fn depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            serde_json::Value::Object(m) => stack.extend(m.values().map(|c| (c, d + 1))),
            serde_json::Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    deepest
}

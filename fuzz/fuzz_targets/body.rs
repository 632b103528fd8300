//! A create or update body: bytes to validated input, as the HTTP adapter
//! reads it. Anything may be refused; nothing may panic, and what is
//! accepted keeps the domain's rules.
#![no_main]

use invitation_core::{validate, InvitationInput, Mode, FIXED_DATA_MAX_DEPTH, NAME_MAX_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = InvitationInput::from_json_slice(data) else {
        return;
    };
    for mode in [Mode::Full, Mode::Partial] {
        let Ok(changes) = validate(input.clone(), mode) else {
            continue;
        };
        if mode == Mode::Full {
            assert!(changes.name.is_some(), "a full body without a name was accepted");
        }
        if let Some(name) = &changes.name {
            let text = name.as_str();
            assert!(!text.is_empty() && text.chars().count() <= NAME_MAX_CHARS);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        if let Some(data) = &changes.fixed_data {
            // The stored text is a JSON object that parses back, holds no
            // NUL and is no deeper than the bound.
            let value: serde_json::Value =
                serde_json::from_str(data.as_json()).expect("fixed_data text parses back");
            assert!(value.is_object());
            assert!(!data.as_json().contains("\\u0000"));
            assert!(depth(&value) <= FIXED_DATA_MAX_DEPTH);
        }
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

//! A stored row read back: any column values an adapter may hand over
//! (a row written by hand, by another version, or by a bug) either become
//! an invitation that keeps the domain's rules or are refused as corrupt;
//! nothing panics.
#![no_main]

use invitation_core::{Invitation, StoredInvitation, NAME_MAX_CHARS};
use libfuzzer_sys::fuzz_target;

type Columns = (
    [u8; 16],
    String,
    Option<i64>,
    String,
    bool,
    Option<[u8; 16]>,
    i64,
    i64,
);

fuzz_target!(|columns: Columns| {
    let (id, name, expires, fixed_data, single_use, flow, created_by, version) = columns;
    let row = StoredInvitation {
        id: uuid::Uuid::from_bytes(id),
        name: &name,
        expires: expires.and_then(chrono::DateTime::from_timestamp_micros),
        fixed_data: &fixed_data,
        single_use,
        flow: flow.map(uuid::Uuid::from_bytes),
        created_by,
        version,
    };
    let Ok(invitation) = Invitation::from_stored(row) else {
        return;
    };
    assert_eq!(invitation.name().as_str(), name);
    assert!(name.chars().count() <= NAME_MAX_CHARS);
    assert!(invitation.version().get() >= 1);
    let text = invitation.fixed_data().as_json();
    let value: serde_json::Value = serde_json::from_str(text).expect("canonical text parses");
    assert!(value.is_object());
    // Canonical: reading it back changes nothing.
    let again = invitation_core::FixedData::from_json_str(text).expect("canonical text is valid");
    assert_eq!(again.as_json(), text);
});

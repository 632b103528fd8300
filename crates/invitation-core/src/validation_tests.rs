//! Spec §1's rules on typed input, with the texts the errors display.

use super::*;
use serde_json::json;

fn errors(input: InvitationInput, mode: Mode) -> Vec<(Field, String)> {
    let (_, errors) = validate(input, mode);
    errors.iter().map(|(f, e)| (f, e.to_string())).collect()
}

fn ok(input: InvitationInput) -> Changes {
    let (changes, errors) = validate(input, Mode::Full);
    assert!(errors.is_empty(), "{errors}");
    changes
}

const SLUG: &str = "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.";

#[test]
fn a_create_without_a_name_is_required_and_a_partial_update_is_not() {
    let input = InvitationInput::new().single_use(true);
    assert_eq!(
        errors(input.clone(), Mode::Full),
        [(Field::Name, "This field is required.".to_owned())]
    );
    assert!(errors(input, Mode::Partial).is_empty());
}

#[test]
fn names_are_trimmed_and_checked_against_every_rule() {
    assert_eq!(
        ok(InvitationInput::new().name("  welcome_1-a  "))
            .name
            .unwrap()
            .as_str(),
        "welcome_1-a"
    );
    assert_eq!(
        errors(InvitationInput::new().name("   "), Mode::Full),
        [(Field::Name, "This field may not be blank.".to_owned())]
    );
    let long_and_not_a_slug = format!("{} x", "a".repeat(50));
    assert_eq!(
        errors(InvitationInput::new().name(long_and_not_a_slug), Mode::Full),
        [
            (
                Field::Name,
                "Ensure this field has no more than 50 characters.".to_owned()
            ),
            (Field::Name, SLUG.to_owned())
        ]
    );
    assert!(errors(InvitationInput::new().name("a".repeat(50)), Mode::Full).is_empty());
    for bad in ["café", "a.b", "a/b", "a\nb", "ａ"] {
        assert_eq!(
            errors(InvitationInput::new().name(bad), Mode::Full),
            [(Field::Name, SLUG.to_owned())],
            "{bad:?}"
        );
    }
}

#[test]
fn fixed_data_must_be_an_object_within_the_rules() {
    let not_object = InvitationInput::new()
        .name("n")
        .fixed_data_value(json!([1]));
    assert_eq!(
        errors(not_object, Mode::Full),
        [(
            Field::FixedData,
            "Value must be a dictionary, and not have any duplicate keys.".to_owned()
        )]
    );
    let nul = InvitationInput::new()
        .name("n")
        .fixed_data_value(json!({"a\u{0}": 1}));
    assert_eq!(
        errors(nul, Mode::Full),
        [(
            Field::FixedData,
            "Null characters are not allowed.".to_owned()
        )]
    );
    let typed = InvitationInput::new()
        .name("n")
        .fixed_data_from(&std::collections::BTreeMap::from([("email", "a@b.c")]))
        .unwrap();
    assert_eq!(
        ok(typed).fixed_data.unwrap().as_json(),
        r#"{"email":"a@b.c"}"#
    );
}

#[test]
fn an_unreadable_field_is_reported_in_field_order_with_the_others() {
    let input = InvitationInput::new()
        .flow(None)
        .unreadable(Field::SingleUse)
        .name("")
        .unreadable(Field::Expires);
    assert_eq!(
        errors(input, Mode::Partial),
        [
            (Field::Name, "This field may not be blank.".to_owned()),
            (Field::Expires, "Invalid value.".to_owned()),
            (Field::SingleUse, "Invalid value.".to_owned()),
        ]
    );
    // An unreadable name is given: not also "required".
    let input = InvitationInput::new().unreadable(Field::Name);
    assert_eq!(
        errors(input, Mode::Full),
        [(Field::Name, "Invalid value.".to_owned())]
    );
}

#[test]
fn expiries_are_kept_to_whole_microseconds() {
    use chrono::TimeZone;
    let at = Utc.timestamp_opt(2_000_000_000, 123_456_789).unwrap();
    let changes = ok(InvitationInput::new().name("n").expires(Some(at)));
    assert_eq!(
        changes.expires.flatten().unwrap().timestamp_subsec_nanos(),
        123_456_000
    );
    assert_eq!(
        ok(InvitationInput::new().name("n").expires(None)).expires,
        Some(None)
    );
}

#[test]
fn expiries_are_kept_within_the_years_1_to_9999_in_utc() {
    use crate::time::{EXPIRES_MAX, EXPIRES_MIN};
    for at in [EXPIRES_MIN, EXPIRES_MAX] {
        let changes = ok(InvitationInput::new().name("n").expires(Some(at)));
        assert_eq!(changes.expires, Some(Some(at)));
    }
    // The last microsecond of 9999 with nanoseconds to spare is truncated
    // into range first.
    let last = EXPIRES_MAX + chrono::Duration::nanoseconds(999);
    assert_eq!(
        ok(InvitationInput::new().name("n").expires(Some(last))).expires,
        Some(Some(EXPIRES_MAX))
    );
    let out = "Datetime value out of range.".to_owned();
    for at in [
        EXPIRES_MAX + chrono::Duration::microseconds(1),
        EXPIRES_MIN - chrono::Duration::microseconds(1),
        DateTime::<Utc>::MAX_UTC,
        DateTime::<Utc>::MIN_UTC,
    ] {
        let input = InvitationInput::new().name("NOT A SLUG").expires(Some(at));
        assert_eq!(
            errors(input, Mode::Full),
            [
                (Field::Name, SLUG.to_owned()),
                (Field::Expires, out.clone())
            ],
            "{at:?}"
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn accepted_names_are_always_valid_slugs(s in ".*") {
            if let Some(name) = ok_or_none(InvitationInput::new().name(s)) {
                let text = name.as_str();
                prop_assert!(!text.is_empty() && text.chars().count() <= crate::NAME_MAX_CHARS);
                prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            }
        }
    }

    fn ok_or_none(input: InvitationInput) -> Option<InvitationName> {
        let (changes, errors) = validate(input, Mode::Full);
        errors.is_empty().then_some(changes.name).flatten()
    }
}

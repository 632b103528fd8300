//! Spec §1, rule by rule, with exact messages.

use super::*;
use serde_json::json;

fn errors_of(body: Value, mode: Mode) -> ValidationErrors {
    match InvitationInput::from_json(body) {
        Ok(input) => validate(input, mode).err().unwrap_or_default(),
        Err(e) => e,
    }
}

fn create_errors(body: Value) -> ValidationErrors {
    errors_of(body, Mode::Full)
}

fn messages(body: Value, field: Field) -> Vec<String> {
    create_errors(body).messages(field).to_vec()
}

fn ok(body: Value) -> Changes {
    validate(InvitationInput::from_json(body).unwrap(), Mode::Full).unwrap()
}

const SLUG: &str = "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.";
const DATETIME: &str = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";
const DICT: &str = "Value must be a dictionary, and not have any duplicate keys.";

#[test]
fn a_missing_name_is_required() {
    assert_eq!(
        messages(json!({}), Field::Name),
        ["This field is required."]
    );
}

#[test]
fn a_null_name_may_not_be_null() {
    assert_eq!(
        messages(json!({"name": null}), Field::Name),
        ["This field may not be null."]
    );
}

#[test]
fn a_name_that_is_a_bool_array_or_object_is_not_a_valid_string() {
    for v in [json!(true), json!(["a"]), json!({"a": 1})] {
        assert_eq!(
            messages(json!({"name": v}), Field::Name),
            ["Not a valid string."]
        );
    }
}

#[test]
fn a_numeric_name_is_taken_as_its_decimal_text() {
    assert_eq!(ok(json!({"name": 12345})).name.unwrap().as_str(), "12345");
    assert_eq!(messages(json!({"name": 1.5}), Field::Name), [SLUG]);
}

#[test]
fn a_blank_name_may_not_be_blank() {
    assert_eq!(
        messages(json!({"name": ""}), Field::Name),
        ["This field may not be blank."]
    );
    assert_eq!(
        messages(json!({"name": " \t "}), Field::Name),
        ["This field may not be blank."]
    );
}

#[test]
fn a_name_of_51_characters_is_rejected() {
    assert_eq!(
        messages(json!({"name": "x".repeat(51)}), Field::Name),
        ["Ensure this field has no more than 50 characters."]
    );
}

#[test]
fn a_name_of_50_characters_after_trimming_is_accepted() {
    let name = format!("  {}  ", "x".repeat(50));
    assert_eq!(
        ok(json!({"name": name})).name.unwrap().as_str(),
        "x".repeat(50)
    );
}

#[test]
fn a_name_outside_the_ascii_slug_alphabet_is_rejected() {
    for bad in ["has space", "dot.ted", "slash/", "émoji😀", "tab\tinside"] {
        assert_eq!(
            messages(json!({"name": bad}), Field::Name),
            [SLUG],
            "{bad:?}"
        );
    }
}

#[test]
fn a_slug_of_letters_digits_hyphens_and_underscores_is_accepted() {
    assert_eq!(
        ok(json!({"name": "A-z_09"})).name.unwrap().as_str(),
        "A-z_09"
    );
}

#[test]
fn expires_defaults_to_never_and_accepts_null() {
    assert_eq!(ok(json!({"name": "n"})).expires, None);
    assert_eq!(
        ok(json!({"name": "n", "expires": null})).expires,
        Some(None)
    );
}

#[test]
fn a_past_expiry_is_accepted_on_create() {
    assert!(ok(json!({"name": "n", "expires": "2001-01-01T00:00:00Z"}))
        .expires
        .unwrap()
        .is_some());
}

#[test]
fn every_accepted_timestamp_form_parses() {
    for good in [
        "2030-01-02T03:04:05Z",
        "2030-01-02T03:04:05+02:00",
        "2030-01-02T03:04:05-05:30",
        "2030-01-02 03:04:05Z",
        "2030-01-02T03:04",
        "2030-01-02",
        "2030-01-02T03:04:05.123456789Z",
        "2030-01-02T03:04:05",
    ] {
        assert!(
            create_errors(json!({"name": "n", "expires": good})).is_empty(),
            "{good}"
        );
    }
}

#[test]
fn an_unreadable_expiry_gets_the_datetime_format_message() {
    for bad in [
        json!(""),
        json!(1_700_000_000),
        json!("next week"),
        json!(true),
        json!([]),
        json!({}),
    ] {
        assert_eq!(
            messages(json!({"name": "n", "expires": bad}), Field::Expires),
            [DATETIME]
        );
    }
}

#[test]
fn fixed_data_defaults_to_an_empty_object() {
    assert_eq!(ok(json!({"name": "n"})).fixed_data, None);
}

#[test]
fn fixed_data_must_be_an_object() {
    for bad in [json!([1]), json!("{\"a\": 1}"), json!(3), json!(false)] {
        assert_eq!(
            messages(json!({"name": "n", "fixed_data": bad}), Field::FixedData),
            [DICT]
        );
    }
}

#[test]
fn typed_fixed_data_is_validated_as_a_bodys() {
    #[derive(serde::Serialize)]
    struct Forced {
        email: &'static str,
        groups: Vec<&'static str>,
    }
    let forced = Forced {
        email: "bob@example.org",
        groups: vec!["staff"],
    };
    let input = InvitationInput::new()
        .name("n")
        .fixed_data_from(&forced)
        .unwrap();
    let changes = validate(input, Mode::Full).unwrap();
    let data = changes.fixed_data.unwrap();
    assert_eq!(
        data.as_json(),
        r#"{"email":"bob@example.org","groups":["staff"]}"#
    );

    let not_an_object = InvitationInput::new()
        .name("n")
        .fixed_data_from(&["a list"])
        .unwrap();
    let errors = validate(not_an_object, Mode::Full).unwrap_err();
    assert_eq!(errors.messages(Field::FixedData), [DICT]);
}

#[test]
fn null_fixed_data_may_not_be_null() {
    assert_eq!(
        messages(json!({"name": "n", "fixed_data": null}), Field::FixedData),
        ["This field may not be null."]
    );
}

#[test]
fn fixed_data_with_a_nul_character_is_refused_everywhere_alike() {
    assert_eq!(
        messages(
            json!({"name": "n", "fixed_data": {"a": [{"b": "x\u{0}y"}]}}),
            Field::FixedData
        ),
        ["Null characters are not allowed."]
    );
    assert_eq!(
        messages(
            json!({"name": "n", "fixed_data": {"k\u{0}": 1}}),
            Field::FixedData
        ),
        ["Null characters are not allowed."]
    );
}

#[test]
fn single_use_takes_drf_boolean_spellings() {
    for (v, expected) in [
        (json!(true), true),
        (json!(false), false),
        (json!(1), true),
        (json!(0), false),
        (json!(1.0), true),
        (json!("true"), true),
        (json!("False"), false),
        (json!("1"), true),
        (json!("0"), false),
        (json!("yes"), true),
        (json!("NO"), false),
        (json!("on"), true),
        (json!("Off"), false),
        (json!("t"), true),
        (json!("F"), false),
        (json!("Y"), true),
        (json!("n"), false),
    ] {
        assert_eq!(
            ok(json!({"name": "n", "single_use": v.clone()})).single_use,
            Some(expected),
            "{v}"
        );
    }
}

#[test]
fn single_use_refuses_other_values() {
    for bad in [
        json!("maybe"),
        json!(2),
        json!(""),
        json!([]),
        json!({}),
        json!("tRuE"),
    ] {
        assert_eq!(
            messages(json!({"name": "n", "single_use": bad}), Field::SingleUse),
            ["Must be a valid boolean."]
        );
    }
    assert_eq!(
        messages(json!({"name": "n", "single_use": null}), Field::SingleUse),
        ["This field may not be null."]
    );
}

#[test]
fn a_flow_in_any_uuid_form_is_stored_lowercase_dashed() {
    for given in [
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "3fa85f6457174562b3fc2c963f66afa6",
        "3FA85F64-5717-4562-B3FC-2C963F66AFA6",
    ] {
        let flow = ok(json!({"name": "n", "flow": given}))
            .flow
            .unwrap()
            .unwrap();
        assert_eq!(flow.id.to_string(), "3fa85f64-5717-4562-b3fc-2c963f66afa6");
        assert_eq!(flow.given, given);
    }
}

#[test]
fn a_null_flow_unbinds() {
    assert_eq!(ok(json!({"name": "n", "flow": null})).flow, Some(None));
}

#[test]
fn a_malformed_flow_is_not_a_valid_uuid_in_curly_quotes() {
    assert_eq!(
        messages(json!({"name": "n", "flow": "nope"}), Field::Flow),
        ["\u{201c}nope\u{201d} is not a valid UUID."]
    );
}

#[test]
fn a_numeric_flow_does_not_exist() {
    assert_eq!(
        messages(json!({"name": "n", "flow": 42}), Field::Flow),
        ["Invalid pk \"42\" - object does not exist."]
    );
}

#[test]
fn a_boolean_flow_is_an_incorrect_type() {
    assert_eq!(
        messages(json!({"name": "n", "flow": true}), Field::Flow),
        ["Incorrect type. Expected pk value, received bool."]
    );
}

#[test]
fn an_unknown_flow_message_quotes_the_value_as_given() {
    let flow = ok(json!({"name": "n", "flow": "3FA85F6457174562B3FC2C963F66AFA6"}))
        .flow
        .unwrap()
        .unwrap();
    assert_eq!(
        flow.not_found_message(),
        "Invalid pk \"3FA85F6457174562B3FC2C963F66AFA6\" - object does not exist."
    );
}

#[test]
fn unknown_and_read_only_keys_are_ignored() {
    let changes = ok(json!({
        "name": "n", "pk": "not even a uuid", "created_by": 99, "flow_obj": {"x": 1}, "extra": []
    }));
    assert_eq!(changes.name.unwrap().as_str(), "n");
}

#[test]
fn every_field_error_of_a_request_is_reported_together_in_field_order() {
    let errors = create_errors(json!({
        "name": "bad name", "expires": "never", "fixed_data": [], "single_use": "perhaps", "flow": "x"
    }));
    let fields: Vec<Field> = errors.iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            Field::Name,
            Field::Expires,
            Field::FixedData,
            Field::SingleUse,
            Field::Flow
        ]
    );
}

#[test]
fn a_body_that_is_a_list_is_not_a_dictionary() {
    let errors = create_errors(json!([{"name": "n"}]));
    assert_eq!(
        errors.messages(Field::NonField),
        ["Invalid data. Expected a dictionary, but got list."]
    );
}

#[test]
fn a_partial_update_checks_only_the_fields_given() {
    assert!(errors_of(json!({}), Mode::Partial).is_empty());
    assert!(errors_of(json!({"single_use": true}), Mode::Partial).is_empty());
    assert_eq!(
        errors_of(json!({"name": ""}), Mode::Partial).messages(Field::Name),
        ["This field may not be blank."]
    );
}

#[test]
fn a_full_update_requires_the_name() {
    assert_eq!(
        errors_of(json!({"single_use": true}), Mode::Full).messages(Field::Name),
        ["This field is required."]
    );
}

#[test]
fn typed_input_goes_through_the_same_rules() {
    let errors = validate(InvitationInput::new().name("bad name"), Mode::Full).unwrap_err();
    assert_eq!(errors.messages(Field::Name), [SLUG]);
    let errors = validate(InvitationInput::new(), Mode::Full).unwrap_err();
    assert_eq!(errors.messages(Field::Name), ["This field is required."]);
    let changes = validate(
        InvitationInput::new().name(" ok ").single_use(true),
        Mode::Full,
    )
    .unwrap();
    assert_eq!(
        (changes.name.unwrap().as_str(), changes.single_use),
        ("ok", Some(true))
    );
}

#[test]
fn nesting_is_limited_alike_whichever_way_a_body_is_read() {
    // serde_json refuses 128 levels (the body is the first); members read
    // on their text must stop where it stops.
    for key in ["other", "fixed_data"] {
        for depth in [125, 126, 127, 200] {
            let body = format!(
                r#"{{"name":"n","{key}":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let direct = InvitationInput::from_json_slice(body.as_bytes());
            let general = serde_json::from_slice::<Value>(body.as_bytes());
            match (direct, general) {
                (Ok(a), Ok(v)) => assert_eq!(Ok(a), InvitationInput::from_json(v), "{key} {depth}"),
                (Err(JsonInputError::Syntax(a)), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "{key} {depth}");
                }
                (a, b) => panic!("{key} {depth}: {a:?} vs {b:?}"),
            }
        }
    }
}

#[test]
fn the_usual_create_body_is_read_in_one_pass() {
    let body = br#"{"name":"welcome-new-user","single_use":true,"fixed_data":{"email":"new.user@example.org"}}"#;
    let input = InvitationInput::from_plain_body(body).expect("read in one pass");
    let value: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(input, InvitationInput::from_json(value).unwrap());
    let changes = validate(input, Mode::Full).unwrap();
    assert_eq!(changes.name.unwrap().as_str(), "welcome-new-user");
    assert_eq!(
        changes.fixed_data.unwrap().as_json(),
        r#"{"email":"new.user@example.org"}"#
    );
}

#[test]
fn a_plain_fixed_data_object_is_stored_as_its_text_without_spaces() {
    let body = br#"{"name":"n","fixed_data":{ "a" : [1, {"b": null}], "c":"x y" }}"#;
    let changes = validate(InvitationInput::from_json_slice(body).unwrap(), Mode::Full).unwrap();
    assert_eq!(
        changes.fixed_data.unwrap().as_json(),
        r#"{"a":[1,{"b":null}],"c":"x y"}"#
    );
    let body = br#"{"name":"n","fixed_data":{ }}"#;
    let changes = validate(InvitationInput::from_json_slice(body).unwrap(), Mode::Full).unwrap();
    assert!(changes.fixed_data.unwrap().is_empty());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn field_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any_json(),
            ".*".prop_map(Value::String),
            "[-a-zA-Z0-9_ ]{0,60}".prop_map(Value::String)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_json_bodies_never_panic(body in any_json(), full in any::<bool>()) {
            let mode = if full { Mode::Full } else { Mode::Partial };
            let _ = InvitationInput::from_json(body).map(|i| validate(i, mode));
        }

        #[test]
        fn arbitrary_field_values_give_errors_or_valid_changes(
            name in field_value(), expires in field_value(), fixed in field_value(),
            single in field_value(), flow in field_value(),
        ) {
            let body = json!({"name": name, "expires": expires, "fixed_data": fixed,
                              "single_use": single, "flow": flow});
            match validate(InvitationInput::from_json(body).unwrap(), Mode::Full) {
                Ok(changes) => prop_assert!(changes.name.is_some()),
                Err(errors) => prop_assert!(!errors.is_empty()),
            }
        }

        #[test]
        fn reading_bytes_directly_gives_what_reading_a_value_gives(
            body in any_json(),
            keys in prop::collection::vec(
                prop_oneof![Just("name"), Just("expires"), Just("fixed_data"),
                            Just("single_use"), Just("flow"), Just("na\\u006de"), Just("other")],
                0..8),
            values in prop::collection::vec(field_value(), 8),
            cut in any::<prop::sample::Index>(),
        ) {
            // Objects with the five keys, repeated, escaped and mixed with
            // others; any JSON at all; and broken text.
            let members: Vec<String> = keys.iter().zip(&values)
                .map(|(k, v)| format!("\"{k}\": {v}")).collect();
            let object = format!("{{{}}}", members.join(", "));
            let any = body.to_string();
            let broken = &object.as_bytes()[..cut.index(object.len())];
            for bytes in [object.as_bytes(), any.as_bytes(), broken] {
                let text = String::from_utf8_lossy(bytes);
                let direct = InvitationInput::from_json_slice(bytes);
                let general = serde_json::from_slice::<Value>(bytes)
                    .map(InvitationInput::from_json);
                match (direct, general) {
                    (Ok(a), Ok(Ok(b))) => prop_assert_eq!(a, b, "{}", text),
                    (Err(JsonInputError::Invalid(a)), Ok(Err(b))) => prop_assert_eq!(a, b, "{}", text),
                    (Err(JsonInputError::Syntax(a)), Err(b)) => {
                        prop_assert_eq!(a.to_string(), b.to_string(), "{}", text);
                    }
                    (direct, general) => prop_assert!(false, "{text}: {direct:?} vs {general:?}"),
                }
            }
        }

        #[test]
        fn a_plain_body_is_read_in_one_pass_and_as_the_general_path_reads_it(
            members in prop::collection::vec(
                (prop_oneof![Just("name"), Just("expires"), Just("fixed_data"),
                             Just("single_use"), Just("flow")],
                 prop_oneof![
                     "[ -!#-\\[\\]-~é€]{0,20}".prop_map(|s| format!("\"{s}\"")),
                     Just("true".to_owned()), Just("false".to_owned()), Just("null".to_owned()),
                     "[a-z@.]{0,12}".prop_map(|s| format!("{{\"email\":\"{s}\"}}")),
                     Just("{ }".to_owned()),
                 ]),
                0..7),
            spaces in prop::collection::vec("[ \t\n\r]{0,2}", 32),
        ) {
            // Every token separated by some JSON white space (or none); keys
            // repeated, in any order; an object only where it is fixed_data
            // (elsewhere the general path reads it).
            let members: Vec<(&str, String)> = members.into_iter()
                .filter(|(k, v)| *k == "fixed_data" || !v.starts_with('{'))
                .collect();
            let mut space = spaces.iter().cycle();
            let mut body = format!("{}{{", space.next().unwrap());
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                let (a, b, c, d) = (space.next().unwrap(), space.next().unwrap(),
                                    space.next().unwrap(), space.next().unwrap());
                body.push_str(&format!("{a}\"{key}\"{b}:{c}{value}{d}"));
            }
            body.push_str(&format!("}}{}", space.next().unwrap()));
            let plain = InvitationInput::from_plain_body(body.as_bytes());
            prop_assert!(plain.is_some(), "not read in one pass: {}", body);
            let value: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(plain, Some(InvitationInput::from_json(value).unwrap()), "{}", body);
        }

        #[test]
        fn fixed_data_read_on_its_text_is_what_the_general_path_stores(
            data in prop::collection::btree_map("[a-c]{0,2}|.*", any_json(), 0..6),
            pretty in any::<bool>(),
            reverse in any::<bool>(),
        ) {
            // Spaced or compact text; keys in order, or reversed (so not
            // plain); any values, nested, with escapes, fractions, -0.
            let members: Vec<String> = data.iter()
                .map(|(k, v)| {
                    let v = if pretty { serde_json::to_string_pretty(v).unwrap() } else { v.to_string() };
                    format!("{}:{v}", Value::String(k.clone()))
                })
                .collect();
            let members: Vec<String> = if reverse { members.into_iter().rev().collect() } else { members };
            let glue = if pretty { ",\n  " } else { "," };
            let body = format!("{{\"name\":\"n\",\"fixed_data\":{{{}}}}}", members.join(glue));
            let direct = validate(InvitationInput::from_json_slice(body.as_bytes()).unwrap(), Mode::Full);
            let value: Value = serde_json::from_str(&body).unwrap();
            let general = validate(InvitationInput::from_json(value).unwrap(), Mode::Full);
            // Equal changes hold equal text: `FixedData` compares its text.
            prop_assert_eq!(&direct, &general, "{}", body);
        }

        #[test]
        fn arbitrary_strings_never_panic_the_parsers(s in ".*") {
            let _ = crate::time::parse_timestamp(&s);
            let _ = crate::InvitationName::parse(&s);
            let _ = crate::InvitationId::parse(&s);
            let _ = crate::ListRequest::from_query([("expires", s.as_str()), ("page", s.as_str()),
                ("page_size", s.as_str()), ("ordering", s.as_str()), ("search", s.as_str())]);
        }

        #[test]
        fn accepted_names_are_always_valid_slugs(s in ".*") {
            if let Ok(name) = crate::InvitationName::parse(&s) {
                prop_assert!(!name.as_str().is_empty() && name.as_str().len() <= 50);
                prop_assert!(name.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            }
        }

        #[test]
        fn timestamps_survive_a_format_and_parse_round_trip(secs in -62_000_000_000i64..250_000_000_000i64, micros in 0u32..1_000_000) {
            if let Some(t) = chrono::DateTime::from_timestamp(secs, micros * 1000) {
                if t.year() >= 1 && t.year() <= 9999 {
                    let text = crate::time::format_timestamp(&t);
                    prop_assert_eq!(crate::time::parse_timestamp(&text), Some(t));
                }
            }
        }
    }

    use chrono::Datelike;
}

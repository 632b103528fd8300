//! Spec §1 and §2 on the wire: what a body or query string reads as, and
//! the exact field errors the create and update use cases then answer.

use std::sync::Arc;

use invitation_core::{AllowAll, CreateError, InvitationService, Principal, UpdateError, UserId};
use invitation_memory::{MemoryDirectory, MemoryStore};
use serde_json::{json, Value};

use super::*;

const SLUG: &str = "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.";
const DICT: &str = "Value must be a dictionary, and not have any duplicate keys.";

fn service() -> InvitationService {
    let directory = Arc::new(MemoryDirectory::new().with_flow("signup"));
    InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .flows(directory)
        .build()
}

fn rendered(errors: &FieldErrors) -> Value {
    Value::Object(
        errors
            .iter()
            .map(|(k, m)| (k.to_owned(), json!(m)))
            .collect(),
    )
}

/// What creating with `body` answers: `{}` when it was created, else the
/// field errors by key.
fn create(body: Value) -> Value {
    let bytes = serde_json::to_vec(&body).unwrap();
    let read = match read_body(&bytes) {
        Ok(read) => read,
        Err(BodyRefusal::Invalid(errors)) => return rendered(&errors),
        Err(BodyRefusal::Syntax(e)) => panic!("{e}"),
    };
    let service = service();
    let caller = Principal::user(UserId::new(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    match runtime.block_on(service.create(&caller, read.input.clone())) {
        Ok(_) => json!({}),
        Err(CreateError::Invalid(errors)) => rendered(&read.wording.field_errors(&errors)),
        Err(other) => panic!("{other:?}"),
    }
}

/// What a partial update of a fresh invitation with `body` answers.
fn patch(body: Value) -> Value {
    let read = read_body(&serde_json::to_vec(&body).unwrap()).unwrap();
    let service = service();
    let caller = Principal::user(UserId::new(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let created = service
            .create(&caller, InvitationInput::new().name("existing"))
            .await
            .unwrap();
        let id = *created.invitation.id();
        match service
            .partial_update(&caller, &id, read.input.clone(), None)
            .await
        {
            Ok(_) => json!({}),
            Err(UpdateError::Invalid(errors)) => rendered(&read.wording.field_errors(&errors)),
            Err(other) => panic!("{other:?}"),
        }
    })
}

#[test]
fn the_name_is_required_not_null_and_a_string_or_number() {
    assert_eq!(
        create(json!({})),
        json!({"name": ["This field is required."]})
    );
    assert_eq!(
        create(json!({"name": null})),
        json!({"name": ["This field may not be null."]})
    );
    for bad in [json!(true), json!([]), json!({})] {
        assert_eq!(
            create(json!({ "name": bad })),
            json!({"name": ["Not a valid string."]})
        );
    }
    assert_eq!(create(json!({"name": 123})), json!({}));
    assert_eq!(create(json!({"name": 1.5})), json!({"name": [SLUG]}));
    assert_eq!(
        create(json!({"name": ""})),
        json!({"name": ["This field may not be blank."]})
    );
}

#[test]
fn every_accepted_timestamp_form_parses_and_others_get_the_format_message() {
    for good in [
        "2030-01-02T03:04:05Z",
        "2030-01-02T03:04:05+02:00",
        "2030-01-02 03:04:05Z",
        "2030-01-02T03:04",
        "2030-01-02",
        "2030-01-02T03:04:05.123456789Z",
    ] {
        assert_eq!(
            create(json!({"name": "n", "expires": good})),
            json!({}),
            "{good}"
        );
    }
    assert_eq!(create(json!({"name": "n", "expires": null})), json!({}));
    // Four-digit years that an offset carries out of 0001..=9999 in UTC.
    for out in ["9999-12-31T23:00:00-23:00", "0001-01-01T00:00:00+00:01"] {
        assert_eq!(
            create(json!({"name": "n", "expires": out})),
            json!({"expires": ["Datetime value out of range."]}),
            "{out}"
        );
    }
    for edge in ["9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z"] {
        assert_eq!(create(json!({"name": "n", "expires": edge})), json!({}));
    }
    for bad in [
        json!(""),
        json!(1_700_000_000),
        json!("next week"),
        json!([]),
    ] {
        assert_eq!(
            create(json!({"name": "n", "expires": bad})),
            json!({"expires": [DATETIME_FORMAT_MESSAGE]})
        );
    }
}

#[test]
fn fixed_data_is_an_object_and_not_null() {
    assert_eq!(
        create(json!({"name": "n", "fixed_data": null})),
        json!({"fixed_data": ["This field may not be null."]})
    );
    for bad in [json!([]), json!("x"), json!(1)] {
        assert_eq!(
            create(json!({"name": "n", "fixed_data": bad})),
            json!({"fixed_data": [DICT]})
        );
    }
    assert_eq!(
        create(json!({"name": "n", "fixed_data": {"a": {"b": [1]}}})),
        json!({})
    );
}

#[test]
fn single_use_takes_drf_boolean_spellings_only() {
    for good in [
        json!(true),
        json!("yes"),
        json!("F"),
        json!(1),
        json!(0.0),
        json!("on"),
    ] {
        assert_eq!(create(json!({"name": "n", "single_use": good})), json!({}));
    }
    for bad in [json!("maybe"), json!(2), json!([]), json!("")] {
        assert_eq!(
            create(json!({"name": "n", "single_use": bad})),
            json!({"single_use": ["Must be a valid boolean."]})
        );
    }
    assert_eq!(
        create(json!({"name": "n", "single_use": null})),
        json!({"single_use": ["This field may not be null."]})
    );
}

#[test]
fn a_flow_is_a_uuid_of_a_known_flow_quoted_as_given() {
    let signup = MemoryDirectory::flow_id_for("signup").to_string();
    assert_eq!(create(json!({"name": "n", "flow": signup})), json!({}));
    assert_eq!(
        create(json!({"name": "n", "flow": signup.to_uppercase().replace('-', "")})),
        json!({})
    );
    assert_eq!(create(json!({"name": "n", "flow": null})), json!({}));
    let unknown = "0000000000000000000000000000ABCD";
    assert_eq!(
        create(json!({"name": "n", "flow": unknown})),
        json!({"flow": [format!("Invalid pk \"{unknown}\" - object does not exist.")]})
    );
    assert_eq!(
        create(json!({"name": "n", "flow": 7})),
        json!({"flow": ["Invalid pk \"7\" - object does not exist."]})
    );
    assert_eq!(
        create(json!({"name": "n", "flow": true})),
        json!({"flow": ["Incorrect type. Expected pk value, received bool."]})
    );
    assert_eq!(
        create(json!({"name": "n", "flow": "nope"})),
        json!({"flow": ["“nope” is not a valid UUID."]})
    );
}

#[test]
fn every_error_of_a_body_is_reported_together_in_field_order() {
    assert_eq!(
        create(json!({
            "flow": "00000000-0000-0000-0000-0000000000ff",
            "single_use": "maybe",
            "fixed_data": [],
            "expires": "soon",
            "name": "not a slug",
        })),
        json!({
            "name": [SLUG],
            "expires": [DATETIME_FORMAT_MESSAGE],
            "fixed_data": [DICT],
            "single_use": ["Must be a valid boolean."],
            "flow": ["Invalid pk \"00000000-0000-0000-0000-0000000000ff\" - object does not exist."],
        })
    );
}

#[test]
fn unknown_and_read_only_keys_are_ignored_and_a_repeated_key_counts_last() {
    assert_eq!(
        create(json!({"name": "n", "pk": "x", "created_by": 3, "flow_obj": {}})),
        json!({})
    );
    let read = read_body(br#"{"name": "not a slug", "name": "ok"}"#).unwrap();
    assert_eq!(read.input, InvitationInput::new().name("ok"));
}

#[test]
fn a_body_that_is_not_an_object_is_not_a_dictionary() {
    assert_eq!(
        create(json!([1])),
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );
    assert!(matches!(read_body(b"{"), Err(BodyRefusal::Syntax(_))));
    // A member the API reads, nested past serde_json's limit, is refused;
    // an unknown one is skipped; no depth puts the stack at risk.
    for depth in [200, 500_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for key in ["fixed_data", "name", "flow"] {
            let body = format!(r#"{{"name": "n", "{key}": {deep}}}"#);
            assert!(
                matches!(read_body(body.as_bytes()), Err(BodyRefusal::Syntax(_))),
                "{key} at depth {depth}"
            );
        }
        let unknown = format!(r#"{{"name": "n", "x": {deep}}}"#);
        assert!(read_body(unknown.as_bytes()).is_ok(), "depth {depth}");
        let broken = format!(r#"{{"name": "n", "x": {deep}"#);
        assert!(matches!(
            read_body(broken.as_bytes()),
            Err(BodyRefusal::Syntax(_))
        ));
    }
}

#[test]
fn a_partial_update_checks_only_the_fields_given() {
    assert_eq!(patch(json!({})), json!({}));
    assert_eq!(patch(json!({"single_use": "yes"})), json!({}));
    assert_eq!(
        patch(json!({"name": null, "expires": 5})),
        json!({"name": ["This field may not be null."], "expires": [DATETIME_FORMAT_MESSAGE]})
    );
}

fn query(pairs: &[(&str, &str)]) -> Result<ListRequest, Value> {
    read_list_query(pairs.iter().copied()).map_err(|e| rendered(&e))
}

#[test]
fn a_list_query_reads_pages_orderings_and_filters_leniently() {
    let size = |s| query(&[("page_size", s)]).unwrap().effective_page_size();
    assert_eq!(
        (size("0"), size("-3"), size("abc"), size("1000"), size("7")),
        (20, 20, 20, 100, 7)
    );
    assert_eq!(query(&[("ordering", "bogus")]).unwrap().ordering, None);
    assert_eq!(
        query(&[("ordering", "bogus, -name")]).unwrap().ordering,
        Some(Ordering {
            field: SortField::Name,
            descending: true
        })
    );
    assert_eq!(
        query(&[("page", "abc")]).unwrap().page,
        PageNumber::Number(0)
    );
    assert_eq!(query(&[("page", "last")]).unwrap().page, PageNumber::Last);
    assert_eq!(query(&[("name", "")]).unwrap(), ListRequest::default());
    assert_eq!(
        query(&[("expires", "soon")]),
        Err(json!({"expires": ["Enter a valid date/time."]}))
    );
}

#[test]
fn a_search_over_its_bounds_is_refused_on_the_search_key() {
    let words = (0..17)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        query(&[("search", &words)]),
        Err(json!({"search": ["Ensure this field has no more than 16 distinct words."]}))
    );
    let long = "b".repeat(101);
    assert_eq!(
        query(&[("search", &long), ("expires", "x")]),
        Err(json!({
            "expires": ["Enter a valid date/time."],
            "search": ["Ensure each word has no more than 100 characters."]
        }))
    );
}

#[test]
fn a_send_email_body_naming_upstreams_default_template_names_none() {
    let read = |body: Value| read_send_email(body.to_string().as_bytes()).ok().unwrap();
    let upstream = read(json!({"email_addresses": ["a@example.org"], "template": "invitation"}));
    assert_eq!(upstream.to, ["a@example.org"]);
    assert_eq!(upstream.template, None);
    let named = read(json!({"email_addresses": [], "template": "email/other.html"}));
    assert_eq!(named.template.as_deref(), Some("email/other.html"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("name".to_owned()),
                        Just("expires".to_owned()),
                        Just("fixed_data".to_owned()),
                        Just("single_use".to_owned()),
                        Just("flow".to_owned()),
                        ".*"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn any_body_is_created_or_refused_with_field_errors(body in any_json()) {
            let answer = create(body);
            prop_assert!(answer.is_object());
        }

        #[test]
        fn any_query_string_reads_or_is_refused(s in ".*") {
            let pairs: Vec<(String, String)> =
                url_pairs(&s);
            let _ = read_list_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
    }

    fn url_pairs(s: &str) -> Vec<(String, String)> {
        s.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (pair.to_owned(), String::new()),
            })
            .collect()
    }
}

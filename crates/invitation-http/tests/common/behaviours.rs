//! Every row of spec §2, one `pub async fn` per behaviour, run over any
//! store by `api_tests!`.

use reqwest::Method;
use serde_json::{json, Value};

use super::*;

const USER_KEYS: [&str; 8] = [
    "pk",
    "username",
    "name",
    "is_active",
    "last_login",
    "email",
    "attributes",
    "uid",
];
const FLOW_KEYS: [&str; 18] = [
    "pk",
    "policybindingmodel_ptr_id",
    "name",
    "slug",
    "title",
    "designation",
    "background",
    "background_url",
    "background_themed_urls",
    "stages",
    "policies",
    "cache_count",
    "policy_engine_mode",
    "compatibility_mode",
    "export_url",
    "layout",
    "denied_action",
    "authentication",
];
const PAGINATION_KEYS: [&str; 7] = [
    "next",
    "previous",
    "count",
    "current",
    "total_pages",
    "start_index",
    "end_index",
];

fn one(pk: &str) -> String {
    format!("{INVITATIONS}{pk}/")
}

fn names(page: &Value) -> Vec<&str> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

// ---- create -------------------------------------------------------------

pub async fn creating_an_invitation_answers_201_with_every_key_in_authentiks_order(h: &Harness) {
    let answer = h
        .call(
            Method::POST,
            INVITATIONS,
            Some(ADMIN),
            Some(&json!({
                "name": "  welcome-alice ",
                "expires": "2099-01-01T10:00:00+02:00",
                "fixed_data": {"email": "x@example.org"},
                "single_use": true
            })),
        )
        .await;
    let body = answer.expect(201);
    let ordered = answer.ordered();
    assert_eq!(ordered.keys(), INVITATION_KEYS);
    assert_eq!(ordered.at("created_by").keys(), USER_KEYS);
    assert_eq!(
        answer.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    let pk = body["pk"].as_str().unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(pk).unwrap().hyphenated().to_string(),
        pk
    );
    assert_eq!(body["name"], "welcome-alice");
    assert_eq!(body["expires"], "2099-01-01T08:00:00Z");
    assert_eq!(body["fixed_data"], json!({"email": "x@example.org"}));
    assert_eq!(body["single_use"], true);
    assert_eq!(body["flow"], Value::Null);
    assert_eq!(body["flow_obj"], Value::Null);
    assert_eq!(
        body["created_by"],
        json!({
            "pk": 1,
            "username": "alice",
            "name": "Alice Example",
            "is_active": true,
            "last_login": null,
            "email": "alice@example.org",
            "attributes": {"team": "qa"},
            "uid": "a1b2"
        })
    );
    assert_eq!(h.stored().await, 1);
}

pub async fn creating_with_only_a_name_takes_the_defaults(h: &Harness) {
    let body = h.create(json!({"name": "defaults"})).await;
    assert_eq!(body["expires"], Value::Null);
    assert_eq!(body["fixed_data"], json!({}));
    assert_eq!(body["single_use"], false);
    assert_eq!(body["flow"], Value::Null);
}

pub async fn creating_with_a_flow_answers_authentiks_whole_flow_object(h: &Harness) {
    let upper = h.flow.as_uuid().simple().to_string().to_uppercase();
    let answer = h
        .call(
            Method::POST,
            INVITATIONS,
            Some(ADMIN),
            Some(&json!({"name": "bound", "flow": upper})),
        )
        .await;
    let body = answer.expect(201);
    let flow = h.flow.to_string();
    assert_eq!(body["flow"], flow.as_str());
    assert_eq!(answer.ordered().at("flow_obj").keys(), FLOW_KEYS);
    assert_eq!(
        body["flow_obj"],
        json!({
            "pk": flow,
            "policybindingmodel_ptr_id": flow,
            "name": "Default enrollment",
            "slug": FLOW_SLUG,
            "title": "Welcome!",
            "designation": "enrollment",
            "background": "",
            "background_url": "/static/dist/assets/images/flow_background.jpg",
            "background_themed_urls": null,
            "stages": [uuid::Uuid::from_u128(7).to_string()],
            "policies": [],
            "cache_count": 0,
            "policy_engine_mode": "any",
            "compatibility_mode": false,
            "export_url": format!("/api/v3/flows/instances/{FLOW_SLUG}/export/"),
            "layout": "stacked",
            "denied_action": "message_continue",
            "authentication": "none"
        })
    );
}

pub async fn read_only_keys_in_the_body_are_ignored(h: &Harness) {
    let pk = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let body = h
        .create(json!({
            "name": "ignores",
            "pk": pk,
            "created_by": {"pk": 2},
            "flow_obj": {"slug": "x"},
            "unknown": 1
        }))
        .await;
    assert_ne!(body["pk"], pk);
    assert_eq!(body["created_by"]["pk"], 1);
    assert_eq!(body["flow_obj"], Value::Null);
}

pub async fn field_errors_are_reported_together_in_field_order_and_nothing_is_stored(h: &Harness) {
    let before = h.snapshot().await;
    let answer = h
        .call(
            Method::POST,
            INVITATIONS,
            Some(ADMIN),
            Some(&json!({
                "flow": "not-a-uuid",
                "single_use": "maybe",
                "fixed_data": [],
                "expires": "soon",
                "name": "a b"
            })),
        )
        .await;
    assert_eq!(
        answer.expect(400),
        json!({
            "name": ["Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."],
            "expires": ["Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."],
            "fixed_data": ["Value must be a dictionary, and not have any duplicate keys."],
            "single_use": ["Must be a valid boolean."],
            "flow": ["\u{201c}not-a-uuid\u{201d} is not a valid UUID."],
            "code": "invalid"
        })
    );
    assert_eq!(
        answer.ordered().keys(),
        [
            "name",
            "expires",
            "fixed_data",
            "single_use",
            "flow",
            "code"
        ]
    );
    h.assert_unchanged(&before).await;
}

pub async fn a_name_is_required_and_an_empty_body_counts_as_an_empty_object(h: &Harness) {
    let before = h.snapshot().await;
    let answer = h.post_raw(None, Vec::new()).await;
    assert_eq!(
        answer.expect(400),
        json!({"name": ["This field is required."], "code": "invalid"})
    );
    h.assert_unchanged(&before).await;
}

pub async fn an_unknown_flow_is_a_field_error_and_nothing_is_stored(h: &Harness) {
    let before = h.snapshot().await;
    let unknown = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let answer = h
        .call(
            Method::POST,
            INVITATIONS,
            Some(ADMIN),
            Some(&json!({"name": "x", "flow": unknown})),
        )
        .await;
    assert_eq!(
        answer.expect(400),
        json!({"flow": [format!("Invalid pk \"{unknown}\" - object does not exist.")], "code": "invalid"})
    );
    h.assert_unchanged(&before).await;
}

pub async fn a_body_that_is_a_json_array_gets_non_field_errors(h: &Harness) {
    let before = h.snapshot().await;
    let answer = h
        .call(
            Method::POST,
            INVITATIONS,
            Some(ADMIN),
            Some(&json!([{"name": "x"}])),
        )
        .await;
    assert_eq!(
        answer.expect(400),
        json!({
            "non_field_errors": ["Invalid data. Expected a dictionary, but got list."],
            "code": "invalid"
        })
    );
    h.assert_unchanged(&before).await;
}

pub async fn malformed_json_is_a_parse_error_and_nothing_is_stored(h: &Harness) {
    let before = h.snapshot().await;
    let answer = h
        .post_raw(Some("application/json"), br#"{"name": "x",,}"#.to_vec())
        .await;
    let body = answer.expect(400);
    assert_eq!(body["code"], "parse_error");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{body}"
    );
    assert_eq!(answer.ordered().keys(), ["detail", "code"]);
    h.assert_unchanged(&before).await;
}

pub async fn deeply_nested_json_is_refused_with_400_and_the_server_keeps_serving(h: &Harness) {
    let before = h.snapshot().await;
    let depth = 100_000;
    let mut text = String::from(r#"{"name": "deep", "fixed_data": {"x": "#);
    text.push_str(&"[".repeat(depth));
    text.push_str(&"]".repeat(depth));
    text.push_str("}}");
    let answer = h
        .post_raw(Some("application/json"), text.into_bytes())
        .await;
    assert_eq!(answer.expect(400)["code"], "parse_error");
    h.assert_unchanged(&before).await;
    h.get("/-/health/live/").await.expect(200);
}

pub async fn json_nested_within_the_limit_is_stored_and_answered(h: &Harness) {
    let mut value = json!("leaf");
    for _ in 0..98 {
        value = json!({ "n": value });
    }
    let body = h
        .create(json!({"name": "nested", "fixed_data": value}))
        .await;
    let pk = body["pk"].as_str().unwrap();
    let again = h.get(&one(pk)).await.expect(200);
    assert_eq!(again["fixed_data"], body["fixed_data"]);
    h.get(INVITATIONS).await.expect(200);
}

/// serde_json's own reader gives an object whose first key is one of its
/// private tokens a meaning of its own (a string it parses again, with a
/// depth limit of its own); stored with keys sorted, such a key can also
/// become first. The API reads every key as written and refuses these
/// wherever they sit, first or not.
pub async fn a_serde_json_private_key_in_fixed_data_is_a_field_error(h: &Harness) {
    let before = h.snapshot().await;
    for fixed in [
        r#"{"a": {"b": 1, "$serde_json::private::RawValue": {"c": 1}}}"#,
        r#"{"b": 1, "$serde_json::private::Number": "1"}"#,
        r#"{"a": {"$serde_json::private::RawValue": "[1]"}}"#,
        r#"{"$serde_json::private::RawValue": "{}"}"#,
    ] {
        let text = format!(r#"{{"name": "private", "fixed_data": {fixed}}}"#);
        let answer = h
            .post_raw(Some("application/json"), text.into_bytes())
            .await;
        let body = answer.expect(400);
        assert_eq!(
            body["fixed_data"],
            json!(["Keys starting with \"$serde_json::private::\" are reserved."]),
            "{fixed}: {body}"
        );
    }
    h.assert_unchanged(&before).await;
    h.get(INVITATIONS).await.expect(200);
}

/// Tokens nested in one another, each string holding 120 more levels and
/// the next: serde_json's own reader would parse each string again with a
/// fresh depth limit, thousands of levels in all, past a thread's stack.
pub async fn nested_serde_json_tokens_are_refused_and_the_server_keeps_serving(h: &Harness) {
    let before = h.snapshot().await;
    let mut inner = String::from("1");
    for _ in 0..12 {
        let quoted = serde_json::to_string(&inner).unwrap();
        inner = format!(
            "{}{{\"$serde_json::private::RawValue\": {quoted}}}{}",
            "[".repeat(120),
            "]".repeat(120)
        );
    }
    assert!(inner.len() < 900 * 1024, "{}", inner.len());
    for (member, key) in [("fixed_data", "fixed_data"), ("name", "name")] {
        let text = format!(r#"{{"name": "n", "{member}": {{"x": {inner}}}}}"#);
        let answer = h
            .post_raw(Some("application/json"), text.into_bytes())
            .await;
        let body = answer.expect(400);
        assert!(
            body.get(key).is_some() || body["code"] == "parse_error",
            "{body}"
        );
    }
    h.assert_unchanged(&before).await;
    h.get("/-/health/live/").await.expect(200);
}

pub async fn json_nested_past_the_fixed_data_limit_is_a_field_error(h: &Harness) {
    let before = h.snapshot().await;
    let mut value = json!(1);
    for _ in 0..120 {
        value = json!([value]);
    }
    let answer = h
        .call(
            Method::POST,
            INVITATIONS,
            Some(ADMIN),
            Some(&json!({"name": "deep", "fixed_data": {"x": value}})),
        )
        .await;
    let body = answer.expect(400);
    assert_eq!(body["code"], "invalid");
    assert_eq!(
        body["fixed_data"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    h.assert_unchanged(&before).await;
}

pub async fn a_body_over_one_mebibyte_is_refused_with_413_and_nothing_is_stored(h: &Harness) {
    let before = h.snapshot().await;
    let padding = "a".repeat(invitation_http::MAX_BODY_BYTES);
    let body = json!({"name": "big", "fixed_data": {"x": padding}});
    let answer = h
        .call(Method::POST, INVITATIONS, Some(ADMIN), Some(&body))
        .await;
    answer.refused(413, "Request body too large.", "too_large");
    h.assert_unchanged(&before).await;
}

pub async fn a_body_declared_far_too_large_is_refused_with_413_before_it_is_sent(h: &Harness) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let before = h.snapshot().await;
    let address = h.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // A gibibyte declared, nine bytes sent: the answer must not wait for
    // the rest.
    let head = format!(
        "POST {INVITATIONS} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{{\"name\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered without waiting for the declared body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..read]);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(text.contains(r#""code":"too_large""#), "{text}");
    h.assert_unchanged(&before).await;
}

pub async fn a_body_of_exactly_one_mebibyte_is_accepted(h: &Harness) {
    let skeleton = r#"{"name": "big", "fixed_data": {"x": ""}}"#;
    let padding = "a".repeat(invitation_http::MAX_BODY_BYTES - skeleton.len());
    let text = skeleton.replace(r#""x": """#, &format!(r#""x": "{padding}""#));
    assert_eq!(text.len(), invitation_http::MAX_BODY_BYTES);
    let answer = h
        .post_raw(Some("application/json"), text.into_bytes())
        .await;
    answer.expect(201);
}

pub async fn a_body_that_is_not_json_is_refused_with_415_and_nothing_is_stored(h: &Harness) {
    let before = h.snapshot().await;
    let answer = h
        .post_raw(Some("text/plain"), br#"{"name": "x"}"#.to_vec())
        .await;
    answer.refused(
        415,
        "Unsupported media type \"text/plain\" in request.",
        "unsupported_media_type",
    );
    let answer = h
        .post_raw(
            Some("application/x-www-form-urlencoded"),
            b"name=x".to_vec(),
        )
        .await;
    assert_eq!(answer.expect(415)["code"], "unsupported_media_type");
    h.assert_unchanged(&before).await;
}

pub async fn expires_is_answered_in_utc_with_z_and_microseconds_only_when_set(h: &Harness) {
    let a = h
        .create(json!({"name": "a", "expires": "2099-07-29 15:51"}))
        .await;
    assert_eq!(a["expires"], "2099-07-29T15:51:00Z");
    let b = h
        .create(json!({"name": "b", "expires": "2099-07-29T15:51:28.123456789-01:30"}))
        .await;
    assert_eq!(b["expires"], "2099-07-29T17:21:28.123456Z");
}

// ---- authentication -----------------------------------------------------

async fn every_route_refuses(h: &Harness, authorization: Option<&str>, detail: &str, code: &str) {
    let pk = h.create_named("target").await;
    let before = h.snapshot().await;
    for (method, path, body, _) in routes(&pk) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let answer = h
            .raw(
                method.clone(),
                &path,
                authorization,
                Some("application/json"),
                bytes,
            )
            .await;
        assert_eq!(
            answer.status.as_u16(),
            403,
            "{method} {path}: {}",
            answer.text
        );
        answer.refused(403, detail, code);
    }
    h.assert_unchanged(&before).await;
}

pub async fn every_route_without_credentials_is_refused_with_403_not_authenticated(h: &Harness) {
    let detail = "Authentication credentials were not provided.";
    every_route_refuses(h, None, detail, "not_authenticated").await;
    every_route_refuses(h, Some(""), detail, "not_authenticated").await;
}

pub async fn bearer_without_a_token_counts_as_no_credentials(h: &Harness) {
    let detail = "Authentication credentials were not provided.";
    every_route_refuses(h, Some("Bearer"), detail, "not_authenticated").await;
    every_route_refuses(h, Some("Bearer   "), detail, "not_authenticated").await;
}

pub async fn every_route_refuses_an_unknown_token_with_authentication_failed(h: &Harness) {
    every_route_refuses(
        h,
        Some("Bearer not-a-token"),
        "Token invalid/expired",
        "authentication_failed",
    )
    .await;
}

pub async fn every_route_refuses_an_inactive_users_token_with_authentication_failed(h: &Harness) {
    every_route_refuses(
        h,
        Some(&format!("Bearer {INACTIVE}")),
        "Token invalid/expired",
        "authentication_failed",
    )
    .await;
}

pub async fn every_route_refuses_a_scheme_other_than_bearer(h: &Harness) {
    every_route_refuses(
        h,
        Some("Basic YWRtaW46c2VjcmV0"),
        "Unsupported authentication type",
        "authentication_failed",
    )
    .await;
}

pub async fn the_bearer_scheme_word_is_case_insensitive(h: &Harness) {
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let answer = h
            .raw(
                Method::GET,
                INVITATIONS,
                Some(&format!("{scheme} {ADMIN}")),
                None,
                Vec::new(),
            )
            .await;
        answer.expect(200);
    }
}

pub async fn every_route_refuses_a_caller_without_its_permission_and_changes_nothing(h: &Harness) {
    let pk = h.create_named("target").await;
    let before = h.snapshot().await;
    for (method, path, body, permission) in routes(&pk) {
        // `bob` may only view; `dave` may do nothing.
        let token = if permission == invitation_core::Permission::View {
            NOBODY
        } else {
            VIEWER
        };
        let answer = h
            .call(method.clone(), &path, Some(token), body.as_ref())
            .await;
        assert_eq!(
            answer.status.as_u16(),
            403,
            "{method} {path}: {}",
            answer.text
        );
        answer.refused(
            403,
            "You do not have permission to perform this action.",
            "permission_denied",
        );
    }
    h.assert_unchanged(&before).await;
}

pub async fn a_caller_without_permission_is_refused_before_its_body_or_pk_is_judged(h: &Harness) {
    let pk = h.create_named("target").await;
    let before = h.snapshot().await;
    let denied = "You do not have permission to perform this action.";
    type Case<'a> = (Method, String, &'a str, Option<&'a str>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            INVITATIONS.to_owned(),
            VIEWER,
            Some("application/json"),
            b"{,".to_vec(),
        ),
        (
            Method::POST,
            INVITATIONS.to_owned(),
            VIEWER,
            Some("text/plain"),
            b"x".to_vec(),
        ),
        (
            Method::POST,
            INVITATIONS.to_owned(),
            VIEWER,
            Some("application/json"),
            b"[]".to_vec(),
        ),
        (
            Method::PUT,
            one(&pk),
            VIEWER,
            Some("application/json"),
            b"{,".to_vec(),
        ),
        (
            Method::PATCH,
            one(&pk),
            VIEWER,
            Some("application/json"),
            br#"{"name": 1.5e999}"#.to_vec(),
        ),
        (
            Method::PATCH,
            one("not-a-uuid"),
            VIEWER,
            Some("application/json"),
            b"{}".to_vec(),
        ),
        (Method::DELETE, one("not-a-uuid"), VIEWER, None, Vec::new()),
        (Method::GET, one("not-a-uuid"), NOBODY, None, Vec::new()),
        (
            Method::GET,
            format!("{INVITATIONS}?expires=soon"),
            NOBODY,
            None,
            Vec::new(),
        ),
    ];
    for (method, path, token, content_type, body) in cases {
        let answer = h
            .raw(
                method.clone(),
                &path,
                Some(&format!("Bearer {token}")),
                content_type,
                body,
            )
            .await;
        assert_eq!(
            answer.status.as_u16(),
            403,
            "{method} {path}: {}",
            answer.text
        );
        answer.refused(403, denied, "permission_denied");
    }
    h.assert_unchanged(&before).await;
}

pub async fn authentication_is_checked_before_the_body_is_read(h: &Harness) {
    let before = h.snapshot().await;
    let answer = h
        .raw(
            Method::POST,
            INVITATIONS,
            None,
            Some("text/plain"),
            b"{,".to_vec(),
        )
        .await;
    answer.refused(
        403,
        "Authentication credentials were not provided.",
        "not_authenticated",
    );
    h.assert_unchanged(&before).await;
}

// ---- list ---------------------------------------------------------------

pub async fn an_empty_list_is_one_page_with_zero_indices(h: &Harness) {
    let answer = h.get(INVITATIONS).await;
    let body = answer.expect(200);
    assert_eq!(
        body,
        json!({
            "pagination": {
                "next": 0, "previous": 0, "count": 0, "current": 1,
                "total_pages": 1, "start_index": 0, "end_index": 0
            },
            "results": [],
            "autocomplete": {}
        })
    );
    let ordered = answer.ordered();
    assert_eq!(ordered.keys(), ["pagination", "results", "autocomplete"]);
    assert_eq!(ordered.at("pagination").keys(), PAGINATION_KEYS);
}

pub async fn the_list_pages_by_page_number(h: &Harness) {
    for i in 0..25 {
        h.create(json!({"name": format!("n{i:02}")})).await;
    }
    let answer = h
        .get(&format!("{INVITATIONS}?page=2&page_size=10&ordering=name"))
        .await;
    let body = answer.expect(200);
    assert_eq!(
        body["pagination"],
        json!({
            "next": 3, "previous": 1, "count": 25, "current": 2,
            "total_pages": 3, "start_index": 11, "end_index": 20
        })
    );
    assert_eq!(
        names(&body),
        (10..20).map(|i| format!("n{i}")).collect::<Vec<_>>()
    );
    let first = answer.ordered();
    assert_eq!(first.at("results").item(0).keys(), INVITATION_KEYS);
    let last = h
        .get(&format!("{INVITATIONS}?page=3&page_size=10&ordering=name"))
        .await
        .expect(200);
    assert_eq!(last["pagination"]["next"], 0);
    assert_eq!(last["pagination"]["end_index"], 25);
    assert_eq!(names(&last).len(), 5);
}

pub async fn a_page_past_the_end_is_404_invalid_page(h: &Harness) {
    h.create_named("only").await;
    for page in ["2", "0", "abc"] {
        h.get(&format!("{INVITATIONS}?page={page}")).await.refused(
            404,
            "Invalid page.",
            "not_found",
        );
    }
    // An empty list still has its one page.
    h.get(&format!("{INVITATIONS}?page=1&name=nobody"))
        .await
        .expect(200);
}

pub async fn page_size_defaults_to_20_and_is_capped_at_100(h: &Harness) {
    for i in 0..101 {
        h.create(json!({"name": format!("p{i:03}")})).await;
    }
    let default = h.get(INVITATIONS).await.expect(200);
    assert_eq!(names(&default).len(), 20);
    assert_eq!(default["pagination"]["total_pages"], 6);
    let capped = h
        .get(&format!("{INVITATIONS}?page_size=1000"))
        .await
        .expect(200);
    assert_eq!(names(&capped).len(), 100);
    assert_eq!(capped["pagination"]["total_pages"], 2);
}

pub async fn the_list_is_ordered_by_minus_expires_by_default_never_expiring_first(h: &Harness) {
    h.create(json!({"name": "soon", "expires": "2090-01-01T00:00:00Z"}))
        .await;
    h.create(json!({"name": "never"})).await;
    h.create(json!({"name": "later", "expires": "2095-01-01T00:00:00Z"}))
        .await;
    let body = h.get(INVITATIONS).await.expect(200);
    assert_eq!(names(&body), ["never", "later", "soon"]);
    let asc = h
        .get(&format!("{INVITATIONS}?ordering=expires"))
        .await
        .expect(200);
    assert_eq!(names(&asc), ["soon", "later", "never"]);
}

pub async fn the_list_orders_by_any_field_either_way(h: &Harness) {
    for name in ["b", "c", "a"] {
        h.create_named(name).await;
    }
    let asc = h
        .get(&format!("{INVITATIONS}?ordering=name"))
        .await
        .expect(200);
    assert_eq!(names(&asc), ["a", "b", "c"]);
    let desc = h
        .get(&format!("{INVITATIONS}?ordering=-name"))
        .await
        .expect(200);
    assert_eq!(names(&desc), ["c", "b", "a"]);
}

pub async fn the_list_filters_by_name_creator_expiry_and_flow_slug(h: &Harness) {
    h.create(json!({"name": "alpha", "flow": h.flow.to_string()}))
        .await;
    h.create(json!({"name": "beta", "expires": "2099-01-01T00:00:00Z"}))
        .await;
    h.create(json!({"name": "alpha", "flow": h.other_flow.to_string()}))
        .await;
    let by_name = h
        .get(&format!("{INVITATIONS}?name=alpha"))
        .await
        .expect(200);
    assert_eq!(by_name["pagination"]["count"], 2);
    let by_flow = h
        .get(&format!("{INVITATIONS}?flow__slug={FLOW_SLUG}"))
        .await
        .expect(200);
    assert_eq!(names(&by_flow), ["alpha"]);
    assert_eq!(by_flow["results"][0]["flow_obj"]["slug"], FLOW_SLUG);
    let by_expiry = h
        .get(&format!("{INVITATIONS}?expires=2099-01-01T00%3A00%3A00Z"))
        .await
        .expect(200);
    assert_eq!(names(&by_expiry), ["beta"]);
    let by_creator = h
        .get(&format!("{INVITATIONS}?created_by__username=alice"))
        .await
        .expect(200);
    assert_eq!(by_creator["pagination"]["count"], 3);
    let nobody = h
        .get(&format!("{INVITATIONS}?created_by__username=bob"))
        .await
        .expect(200);
    assert_eq!(nobody["pagination"]["count"], 0);
}

pub async fn search_needs_every_word_in_name_creator_expiry_or_flow_slug(h: &Harness) {
    h.create(json!({"name": "Summer-Party", "flow": h.flow.to_string()}))
        .await;
    h.create(json!({"name": "winter", "expires": "2099-03-04T00:00:00Z"}))
        .await;
    let search = |q: &str| format!("{INVITATIONS}?search={q}&ordering=name");
    assert_eq!(
        names(&h.get(&search("summer")).await.expect(200)),
        ["Summer-Party"]
    );
    assert_eq!(
        names(&h.get(&search("ENROLLMENT")).await.expect(200)),
        ["Summer-Party"]
    );
    assert_eq!(
        names(&h.get(&search("2099-03")).await.expect(200)),
        ["winter"]
    );
    assert_eq!(
        names(&h.get(&search("alic")).await.expect(200)),
        ["Summer-Party", "winter"]
    );
    assert_eq!(
        names(&h.get(&search("party%20winter")).await.expect(200)).len(),
        0
    );
    assert_eq!(
        names(&h.get(&search("party%20default")).await.expect(200)),
        ["Summer-Party"]
    );
}

pub async fn an_unreadable_expires_filter_is_a_field_error(h: &Harness) {
    let answer = h.get(&format!("{INVITATIONS}?expires=soon")).await;
    assert_eq!(
        answer.expect(400),
        json!({"expires": ["Enter a valid date/time."], "code": "invalid"})
    );
}

// ---- retrieve -----------------------------------------------------------

pub async fn retrieving_answers_the_invitation_as_created(h: &Harness) {
    let created = h
        .create(
            json!({"name": "r", "flow": h.flow.to_string(), "fixed_data": {"a": [1, {"b": null}]}}),
        )
        .await;
    let pk = created["pk"].as_str().unwrap();
    let answer = h.get(&one(pk)).await;
    assert_eq!(answer.expect(200), created);
    assert_eq!(answer.ordered().keys(), INVITATION_KEYS);
    // Any UUID spelling finds it.
    let simple = uuid::Uuid::parse_str(pk)
        .unwrap()
        .simple()
        .to_string()
        .to_uppercase();
    assert_eq!(h.get(&one(&simple)).await.expect(200), created);
}

pub async fn an_unknown_pk_is_404_no_invitation_matches(h: &Harness) {
    let unknown = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let message = "No Invitation matches the given query.";
    h.get(&one(unknown))
        .await
        .refused(404, message, "not_found");
    h.get(&format!("{}used_by/", one(unknown)))
        .await
        .refused(404, message, "not_found");
    let before = h.snapshot().await;
    h.call(
        Method::PUT,
        &one(unknown),
        Some(ADMIN),
        Some(&json!({"name": "x"})),
    )
    .await
    .refused(404, message, "not_found");
    h.call(Method::PATCH, &one(unknown), Some(ADMIN), Some(&json!({})))
        .await
        .refused(404, message, "not_found");
    h.call(Method::DELETE, &one(unknown), Some(ADMIN), None)
        .await
        .refused(404, message, "not_found");
    h.assert_unchanged(&before).await;
}

pub async fn a_malformed_pk_is_404_not_found(h: &Harness) {
    let before = h.snapshot().await;
    for (method, path, body, _) in routes("not-a-uuid")
        .into_iter()
        .filter(|r| r.1 != INVITATIONS)
    {
        h.call(method, &path, Some(ADMIN), body.as_ref())
            .await
            .refused(404, "Not found.", "not_found");
    }
    h.get(&one("%FF%FE"))
        .await
        .refused(404, "Not found.", "not_found");
    h.assert_unchanged(&before).await;
}

// ---- update -------------------------------------------------------------

pub async fn put_sets_the_given_fields_and_keeps_omitted_optional_ones(h: &Harness) {
    let created = h
        .create(json!({
            "name": "before",
            "expires": "2099-01-01T00:00:00Z",
            "fixed_data": {"k": 1},
            "single_use": true,
            "flow": h.flow.to_string()
        }))
        .await;
    let pk = created["pk"].as_str().unwrap();
    let answer = h
        .call(
            Method::PUT,
            &one(pk),
            Some(ADMIN),
            Some(&json!({"name": "after", "single_use": false})),
        )
        .await;
    let body = answer.expect(200);
    assert_eq!(answer.ordered().keys(), INVITATION_KEYS);
    assert_eq!(body["pk"], pk);
    assert_eq!(body["name"], "after");
    assert_eq!(body["single_use"], false);
    assert_eq!(body["expires"], "2099-01-01T00:00:00Z");
    assert_eq!(body["fixed_data"], json!({"k": 1}));
    assert_eq!(body["flow_obj"]["slug"], FLOW_SLUG);
    assert_eq!(h.get(&one(pk)).await.expect(200), body);
}

pub async fn put_without_a_name_is_refused_and_changes_nothing(h: &Harness) {
    let pk = h.create_named("kept").await;
    let before = h.snapshot().await;
    let answer = h
        .call(
            Method::PUT,
            &one(&pk),
            Some(ADMIN),
            Some(&json!({"single_use": true})),
        )
        .await;
    assert_eq!(
        answer.expect(400),
        json!({"name": ["This field is required."], "code": "invalid"})
    );
    h.assert_unchanged(&before).await;
}

pub async fn patch_changes_only_the_given_fields(h: &Harness) {
    let created = h
        .create(json!({"name": "p", "fixed_data": {"k": 1}, "flow": h.flow.to_string()}))
        .await;
    let pk = created["pk"].as_str().unwrap();
    let body = h
        .call(
            Method::PATCH,
            &one(pk),
            Some(ADMIN),
            Some(&json!({"single_use": "yes"})),
        )
        .await
        .expect(200);
    let mut expected = created.clone();
    expected["single_use"] = json!(true);
    assert_eq!(body, expected);
    let unbound = h
        .call(
            Method::PATCH,
            &one(pk),
            Some(ADMIN),
            Some(&json!({"flow": null})),
        )
        .await
        .expect(200);
    assert_eq!(unbound["flow"], Value::Null);
    assert_eq!(unbound["flow_obj"], Value::Null);
    // No body at all (the document marks it optional): the invitation is
    // answered as it was (an update event is still recorded, as authentik
    // records a save).
    let untouched = h
        .raw(
            Method::PATCH,
            &one(pk),
            Some(&format!("Bearer {ADMIN}")),
            None,
            Vec::new(),
        )
        .await
        .expect(200);
    assert_eq!(untouched, unbound);
    assert_eq!(h.get(&one(pk)).await.expect(200), unbound);
}

pub async fn patch_with_an_invalid_field_changes_nothing(h: &Harness) {
    let pk = h.create_named("p").await;
    let before = h.snapshot().await;
    let answer = h
        .call(
            Method::PATCH,
            &one(&pk),
            Some(ADMIN),
            Some(&json!({"single_use": true, "name": ""})),
        )
        .await;
    assert_eq!(
        answer.expect(400),
        json!({"name": ["This field may not be blank."], "code": "invalid"})
    );
    h.assert_unchanged(&before).await;
}

// ---- delete and used_by -------------------------------------------------

pub async fn deleting_answers_204_with_an_empty_body_and_the_invitation_is_gone(h: &Harness) {
    let pk = h.create_named("doomed").await;
    let answer = h.call(Method::DELETE, &one(&pk), Some(ADMIN), None).await;
    assert_eq!(answer.status.as_u16(), 204);
    assert_eq!(answer.text, "");
    assert_eq!(h.stored().await, 0);
    h.get(&one(&pk))
        .await
        .refused(404, "No Invitation matches the given query.", "not_found");
}

pub async fn used_by_answers_an_empty_list(h: &Harness) {
    let pk = h.create_named("used").await;
    let answer = h.get(&format!("{}used_by/", one(&pk))).await;
    assert_eq!(answer.expect(200), json!([]));
}

// ---- routing, health, schema --------------------------------------------

pub async fn an_unknown_route_is_a_json_404(h: &Harness) {
    for path in ["/nope", "/api/v3/stages/invitation/invitations", "/api/v3/"] {
        h.get(path).await.refused(404, "Not found.", "not_found");
    }
}

pub async fn a_method_a_route_does_not_take_is_a_json_405_with_allow(h: &Harness) {
    let before = h.snapshot().await;
    let answer = h.call(Method::DELETE, INVITATIONS, Some(ADMIN), None).await;
    answer.refused(405, "Method \"DELETE\" not allowed.", "method_not_allowed");
    let allow = answer.headers["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    h.assert_unchanged(&before).await;
    let pk = h.create_named("x").await;
    let before = h.snapshot().await;
    h.call(
        Method::POST,
        &one(&pk),
        Some(ADMIN),
        Some(&json!({"name": "y"})),
    )
    .await
    .refused(405, "Method \"POST\" not allowed.", "method_not_allowed");
    h.assert_unchanged(&before).await;
}

pub async fn health_live_and_ready_answer_200_without_credentials(h: &Harness) {
    for path in ["/-/health/live/", "/-/health/ready/"] {
        let answer = h.raw(Method::GET, path, None, None, Vec::new()).await;
        assert_eq!(answer.status.as_u16(), 200, "{path}");
    }
}

pub async fn the_schema_is_an_openapi_3_document_that_agrees_with_the_wire(h: &Harness) {
    let doc = h
        .raw(Method::GET, "/api/v3/schema/", None, None, Vec::new())
        .await
        .expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let list = &paths["/api/v3/stages/invitation/invitations/"];
    assert_eq!(
        list["get"]["operationId"],
        "stages_invitation_invitations_list"
    );
    assert_eq!(
        list["post"]["operationId"],
        "stages_invitation_invitations_create"
    );
    let single = &paths["/api/v3/stages/invitation/invitations/{pk}/"];
    for (method, id) in [
        ("get", "retrieve"),
        ("put", "update"),
        ("patch", "partial_update"),
        ("delete", "destroy"),
    ] {
        assert_eq!(
            single[method]["operationId"],
            format!("stages_invitation_invitations_{id}")
        );
    }
    assert!(paths.contains_key("/api/v3/stages/invitation/invitations/{pk}/used_by/"));
    let schemas = &doc["components"]["schemas"];
    let invitation = &schemas["Invitation"];
    let required: Vec<&str> = invitation["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for key in INVITATION_KEYS {
        assert!(
            required.contains(&key),
            "{key} is not required in {invitation}"
        );
        assert!(invitation["properties"].get(key).is_some(), "{key} missing");
    }
    let name = &invitation["properties"]["name"];
    assert_eq!(name["maxLength"], 50);
    assert_eq!(name["pattern"], "^[-a-zA-Z0-9_]+$");
    let flow_obj = invitation["properties"]["flow_obj"].to_string();
    assert!(
        flow_obj.contains("null"),
        "flow_obj is not nullable: {flow_obj}"
    );
    assert!(flow_obj.contains("#/components/schemas/Flow"), "{flow_obj}");
    for key in FLOW_KEYS {
        assert!(
            schemas["Flow"]["properties"].get(key).is_some(),
            "Flow.{key} missing"
        );
    }
    for key in USER_KEYS {
        assert!(
            schemas["PartialUser"]["properties"].get(key).is_some(),
            "PartialUser.{key}"
        );
    }
    // As upstream's document: paging numbers are plain integers (any number
    // of digits is taken), and a PATCH body is optional (none changes
    // nothing), while POST and PUT need one.
    for parameter in list["get"]["parameters"].as_array().unwrap() {
        if parameter["name"] == "page" || parameter["name"] == "page_size" {
            assert_eq!(
                parameter["schema"],
                json!({"type": "integer"}),
                "{parameter}"
            );
        }
    }
    assert!(single["patch"]["requestBody"].get("required").is_none());
    // Conditional requests: optional plain-string headers, 412 and 304
    // documented, ETag on the answers.
    for (method, header) in [
        ("get", "If-None-Match"),
        ("put", "If-Match"),
        ("patch", "If-Match"),
        ("delete", "If-Match"),
    ] {
        let parameter = single[method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == header)
            .unwrap_or_else(|| panic!("{method} has no {header}"));
        assert_eq!(parameter["in"], "header");
        assert_eq!(
            parameter["schema"],
            json!({"type": "string"}),
            "{method} {header}"
        );
        assert_ne!(parameter["required"], true);
    }
    for method in ["put", "patch", "delete"] {
        assert!(single[method]["responses"].get("412").is_some(), "{method}");
    }
    assert!(single["get"]["responses"].get("304").is_some());
    assert!(single["get"]["responses"]["200"]["headers"]
        .get("ETag")
        .is_some());
    assert_eq!(single["put"]["requestBody"]["required"], true);
    assert_eq!(list["post"]["requestBody"]["required"], true);
    let request = &schemas["InvitationRequest"];
    assert_eq!(request["required"], json!(["name"]));
    assert!(schemas["PatchedInvitationRequest"]
        .get("required")
        .is_none());
    // send_email's 400 is a refusal (`{"error": ...}`) or field errors
    // (`{"<field>": [...], "code": "invalid"}`), and both are described.
    let send_email =
        &paths["/api/v3/stages/invitation/invitations/{invite_uuid}/send_email/"]["post"];
    assert_eq!(
        send_email["operationId"],
        "stages_invitation_invitations_send_email_create"
    );
    assert_eq!(
        send_email["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SendEmailBadRequest"
    );
    assert_eq!(
        schemas["SendEmailBadRequest"]["oneOf"],
        json!([
            {"$ref": "#/components/schemas/SendEmailError"},
            {"$ref": "#/components/schemas/SendEmailValidationError"},
        ])
    );
    assert_eq!(
        schemas["SendEmailValidationError"]["required"],
        json!(["code"])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["authentik"]["scheme"],
        "bearer"
    );
}

// ---- versions, ETag, If-Match, If-None-Match ------------------------------

fn etag_of(answer: &Answer) -> String {
    answer
        .headers
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag on {} {}", answer.status, answer.text))
        .to_str()
        .unwrap()
        .to_owned()
}

pub async fn every_invitation_answer_carries_an_etag_that_changes_on_every_write(h: &Harness) {
    let created = h
        .call(
            Method::POST,
            INVITATIONS,
            Some(ADMIN),
            Some(&json!({"name": "tagged"})),
        )
        .await;
    let first = etag_of(&created);
    assert_eq!(first, "\"1\"");
    let pk = created.expect(201)["pk"].as_str().unwrap().to_owned();
    assert_eq!(etag_of(&h.get(&one(&pk)).await), first);
    let patched = h
        .call(
            Method::PATCH,
            &one(&pk),
            Some(ADMIN),
            Some(&json!({"single_use": true})),
        )
        .await;
    assert_eq!(etag_of(&patched), "\"2\"");
    let put = h
        .call(
            Method::PUT,
            &one(&pk),
            Some(ADMIN),
            Some(&json!({"name": "tagged"})),
        )
        .await;
    assert_eq!(etag_of(&put), "\"3\"");
    assert_eq!(etag_of(&h.get(&one(&pk)).await), "\"3\"");
    // A page is no single invitation: no ETag.
    assert!(h.get(INVITATIONS).await.headers.get("etag").is_none());
}

pub async fn a_write_whose_if_match_is_not_the_current_etag_is_412_and_changes_nothing(
    h: &Harness,
) {
    let pk = h.create_named("guarded").await;
    let current = etag_of(&h.get(&one(&pk)).await);
    let before = h.snapshot().await;
    for stale in ["\"2\"", "W/\"1\"", "1", "\"1\", \"2\"", "garbage"] {
        for (method, body) in [
            (Method::PATCH, Some(json!({"name": "changed"}))),
            (Method::PUT, Some(json!({"name": "changed"}))),
            (Method::DELETE, None),
        ] {
            let answer = h
                .call_with(
                    method.clone(),
                    &one(&pk),
                    &[("If-Match", stale)],
                    body.as_ref(),
                )
                .await;
            answer.refused(
                412,
                "The invitation has changed: If-Match does not name its current ETag.",
                "precondition_failed",
            );
        }
    }
    h.assert_unchanged(&before).await;
    // The current tag, or `*`, lets the write through.
    let patched = h
        .call_with(
            Method::PATCH,
            &one(&pk),
            &[("If-Match", &current)],
            Some(&json!({"name": "changed"})),
        )
        .await;
    assert_eq!(patched.expect(200)["name"], "changed");
    let next = etag_of(&patched);
    // The old tag no longer matches; the new one deletes.
    h.call_with(Method::DELETE, &one(&pk), &[("If-Match", &current)], None)
        .await
        .refused(
            412,
            "The invitation has changed: If-Match does not name its current ETag.",
            "precondition_failed",
        );
    let star = h
        .call_with(
            Method::PATCH,
            &one(&pk),
            &[("If-Match", "*")],
            Some(&json!({})),
        )
        .await;
    assert_eq!(star.status.as_u16(), 200, "{}", star.text);
    let latest = etag_of(&star);
    assert_ne!(latest, next);
    let deleted = h
        .call_with(Method::DELETE, &one(&pk), &[("If-Match", &latest)], None)
        .await;
    assert_eq!(deleted.status.as_u16(), 204, "{}", deleted.text);
}

pub async fn if_match_on_an_unknown_invitation_is_404_and_without_permission_403(h: &Harness) {
    let ghost = one("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    h.call_with(
        Method::PATCH,
        &ghost,
        &[("If-Match", "\"9\"")],
        Some(&json!({})),
    )
    .await
    .refused(404, "No Invitation matches the given query.", "not_found");
    let pk = h.create_named("guarded-perm").await;
    let answer = h
        .client
        .delete(format!("{}{}", h.base, one(&pk)))
        .header("Authorization", format!("Bearer {VIEWER}"))
        .header("If-Match", "\"9\"")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
}

pub async fn a_get_whose_if_none_match_names_the_current_etag_is_304_without_a_body(h: &Harness) {
    let pk = h.create_named("cached").await;
    let current = etag_of(&h.get(&one(&pk)).await);
    for matching in [current.as_str(), "W/\"1\"", "\"7\", \"1\"", "*"] {
        let answer = h
            .call_with(Method::GET, &one(&pk), &[("If-None-Match", matching)], None)
            .await;
        assert_eq!(answer.status.as_u16(), 304, "{matching}");
        assert_eq!(answer.text, "");
        assert_eq!(etag_of(&answer), current);
    }
    let answer = h
        .call_with(Method::GET, &one(&pk), &[("If-None-Match", "\"2\"")], None)
        .await;
    assert_eq!(answer.expect(200)["pk"], pk);
}

/// How many revoke-versus-rename races run over HTTP.
const HTTP_RACES: usize = 1000;

pub async fn concurrent_revocation_and_rename_over_http_both_take_effect(h: &Harness) {
    let revoked = "2001-01-01T00:00:00Z";
    let mut pks = Vec::with_capacity(HTTP_RACES);
    for i in 0..HTTP_RACES {
        pks.push(h.create_named(&format!("race-{i}")).await);
    }
    for chunk in pks.chunks(50).enumerate().collect::<Vec<_>>() {
        let (c, pks) = chunk;
        let mut tasks = Vec::new();
        for (j, pk) in pks.iter().enumerate() {
            let i = c * 50 + j;
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
            for body in [
                json!({"expires": revoked}),
                json!({"name": format!("renamed-{i}")}),
            ] {
                let (client, url, barrier) = (
                    h.client.clone(),
                    format!("{}{}", h.base, one(pk)),
                    barrier.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    client
                        .patch(url)
                        .header("Authorization", format!("Bearer {ADMIN}"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                }));
            }
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 200);
        }
    }
    let mut lost = 0;
    for (i, pk) in pks.iter().enumerate() {
        let row = h.get(&one(pk)).await.expect(200);
        if row["expires"] != revoked || row["name"] != format!("renamed-{i}") {
            lost += 1;
        }
    }
    assert_eq!(lost, 0, "{lost} of {HTTP_RACES} races lost an update");
}

// ---- bounds ----------------------------------------------------------------

pub async fn a_search_of_more_than_16_distinct_words_or_a_long_word_is_400_on_search(h: &Harness) {
    h.create_named("w0").await;
    let words = |n: usize| {
        (0..n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join("+")
    };
    let fine = h.get(&format!("{INVITATIONS}?search={}", words(16))).await;
    assert_eq!(fine.expect(200)["pagination"]["count"], 0);
    // Repeats count once, in any ASCII case.
    let repeated = vec!["W0"; 500].join("+") + "+w0";
    let page = h
        .get(&format!("{INVITATIONS}?search={repeated}"))
        .await
        .expect(200);
    assert_eq!(names(&page), ["w0"]);
    let before = h.snapshot().await;
    let too_many = h.get(&format!("{INVITATIONS}?search={}", words(17))).await;
    assert_eq!(
        too_many.expect(400),
        json!({"search": ["Ensure this field has no more than 16 distinct words."], "code": "invalid"})
    );
    let long = h
        .get(&format!("{INVITATIONS}?search={}", "a".repeat(101)))
        .await;
    assert_eq!(
        long.expect(400),
        json!({"search": ["Ensure each word has no more than 100 characters."], "code": "invalid"})
    );
    h.assert_unchanged(&before).await;
}

pub async fn a_page_size_over_100_is_cut_to_100(h: &Harness) {
    for i in 0..101 {
        h.create_named(&format!("many-{i}")).await;
    }
    let page = h
        .get(&format!("{INVITATIONS}?page_size=100000"))
        .await
        .expect(200);
    assert_eq!(page["results"].as_array().unwrap().len(), 100);
    assert_eq!(page["pagination"]["total_pages"], 2);
    assert_eq!(page["pagination"]["end_index"], 100);
}

pub async fn a_page_of_large_invitations_is_streamed_and_reads_as_the_same_json(h: &Harness) {
    let blob = "x".repeat(200 * 1024);
    for i in 0..3 {
        h.create(json!({"name": format!("big-{i}"), "fixed_data": {"blob": blob, "i": i}}))
            .await;
    }
    h.create_named("small").await;
    let answer = h.get(&format!("{INVITATIONS}?ordering=name")).await;
    // Streamed: no Content-Length, chunked instead.
    assert!(
        answer.headers.get("content-length").is_none(),
        "{:?}",
        answer.headers
    );
    let page = answer.expect(200);
    assert_eq!(names(&page), ["big-0", "big-1", "big-2", "small"]);
    assert_eq!(
        page["results"][1]["fixed_data"],
        json!({"blob": blob, "i": 1})
    );
    assert_eq!(page["pagination"]["count"], 4);
    assert_eq!(
        answer.ordered().keys(),
        ["pagination", "results", "autocomplete"]
    );
    // A small page keeps its Content-Length.
    let small = h.get(&format!("{INVITATIONS}?name=small")).await;
    assert!(small.headers.get("content-length").is_some());
}

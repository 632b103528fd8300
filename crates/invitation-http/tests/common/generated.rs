//! Generated requests over a real port and a real HTTP client: whatever
//! arrives in the method, path, query string, `Authorization` and
//! `Content-Type` headers and body, the server answers with one of the
//! statuses of spec §2, an answer of the documented shape, and, when it
//! refuses, changes nothing; and it keeps serving.
//!
//! The cases are proptest's (256 by default; `PROPTEST_CASES` sets more).
//! A failure prints the smallest request found that breaks a rule.

use std::future::Future;

use super::{Harness, Ordered, ADMIN, FLOW_SLUG, INVITATIONS, INVITATION_KEYS, NOBODY, VIEWER};
use invitation_testkit::doubles::StaticDirectory;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use reqwest::Method;
use serde_json::{Map, Value};

/// Which invitation a path names.
#[derive(Debug, Clone)]
enum Pk {
    /// One that is stored when the request is sent.
    Stored,
    /// A random UUID, almost surely not stored.
    Unknown,
    /// Any text.
    Text(String),
}

#[derive(Debug, Clone)]
enum Path {
    Collection,
    Item(Pk),
    UsedBy(Pk),
    /// The collection with anything after it.
    Below(String),
    /// Anything under the API's base path.
    Other(String),
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>),
}

/// Header bytes, shown as text when a case fails.
#[derive(Clone)]
struct Header(Vec<u8>);

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// One generated request.
#[derive(Debug, Clone)]
struct Request {
    method: Method,
    path: Path,
    query: String,
    authorization: Option<Header>,
    content_type: Option<Header>,
    body: Body,
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => Just(Method::GET),
        4 => Just(Method::POST),
        2 => Just(Method::PUT),
        2 => Just(Method::PATCH),
        2 => Just(Method::DELETE),
        1 => Just(Method::HEAD),
        1 => Just(Method::OPTIONS),
    ]
}

fn pk() -> impl Strategy<Value = Pk> {
    prop_oneof![
        4 => Just(Pk::Stored),
        1 => Just(Pk::Unknown),
        2 => "\\PC{0,40}".prop_map(Pk::Text),
    ]
}

fn path() -> impl Strategy<Value = Path> {
    prop_oneof![
        4 => Just(Path::Collection),
        4 => pk().prop_map(Path::Item),
        1 => pk().prop_map(Path::UsedBy),
        1 => "\\PC{0,30}".prop_map(Path::Below),
        1 => "\\PC{0,30}".prop_map(Path::Other),
    ]
}

/// Text a query value or a JSON string might hold: the edges a parser
/// meets, or anything.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("2099-01-01T00:00:00Z".to_owned()),
        Just("2099-01-01 00:00+02:00".to_owned()),
        Just(FLOW_SLUG.to_owned()),
        Just("-expires".to_owned()),
        "[-a-z_]{1,12}",
        "\\PC{0,30}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("page"),
        Just("page_size"),
        Just("ordering"),
        Just("search"),
        Just("name"),
        Just("expires"),
        Just("created_by__username"),
        Just("flow__slug"),
        Just("format"),
    ];
    let pairs = proptest::collection::vec((key, text()), 0..4).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    });
    prop_oneof![4 => pairs, 1 => "[ -~]{0,40}"]
}

/// Header bytes a client can send: visible ASCII, space, tab and obs-text.
fn header_bytes() -> impl Strategy<Value = Header> {
    proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..40)
        .prop_map(Header)
}

fn authorization() -> impl Strategy<Value = Option<Header>> {
    let bearer = |token: &str| Some(Header(format!("Bearer {token}").into_bytes()));
    prop_oneof![
        16 => Just(bearer(ADMIN)),
        1 => Just(bearer(VIEWER)),
        1 => Just(bearer(NOBODY)),
        1 => Just(None),
        1 => header_bytes().prop_map(Some),
        1 => header_bytes().prop_map(|t| Some(Header([b"bEaReR ".as_slice(), &t.0].concat()))),
    ]
}

fn content_type() -> impl Strategy<Value = Option<Header>> {
    let header = |text: &str| Some(Header(text.as_bytes().to_vec()));
    prop_oneof![
        8 => Just(header("application/json")),
        1 => Just(header("application/json; charset=utf-8")),
        1 => Just(header("text/plain")),
        1 => Just(None),
        1 => header_bytes().prop_map(Some),
    ]
}

/// JSON values, mostly objects whose keys are the invitation's fields.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("\\PC{0,8}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    });
    let field = prop_oneof![
        Just("name".to_owned()),
        Just("expires".to_owned()),
        Just("fixed_data".to_owned()),
        Just("single_use".to_owned()),
        Just("flow".to_owned()),
        Just("pk".to_owned()),
        Just("created_by".to_owned()),
        "\\PC{0,8}",
    ];
    prop_oneof![
        6 => proptest::collection::vec((field, value.clone()), 0..5)
            .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        1 => value,
    ]
}

/// Objects near a valid invitation: a slug for a name, and any of the other
/// fields with a value that may or may not pass.
fn plausible() -> impl Strategy<Value = Value> {
    let flow = StaticDirectory::flow_id_for(FLOW_SLUG).to_string();
    let optional = |value: BoxedStrategy<Value>| proptest::option::weighted(0.5, value);
    (
        prop_oneof![8 => "[-a-zA-Z0-9_]{1,50}".prop_map(Value::String), 1 => json()],
        optional(
            prop_oneof![
                3 => Just(Value::Null),
                3 => Just(Value::from("2099-12-31T23:59:59.5+01:00")),
                1 => text().prop_map(Value::String),
            ]
            .boxed(),
        ),
        optional(
            prop_oneof![
                3 => json().prop_filter_map("an object", |v| v.is_object().then_some(v)),
                1 => json(),
            ]
            .boxed(),
        ),
        optional(
            prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                Just(Value::from("yes")),
                Just(Value::from(2)),
            ]
            .boxed(),
        ),
        optional(
            prop_oneof![
                Just(Value::Null),
                Just(Value::String(flow)),
                Just(Value::String(uuid::Uuid::nil().to_string())),
                text().prop_map(Value::String),
            ]
            .boxed(),
        ),
    )
        .prop_map(|(name, expires, fixed_data, single_use, flow)| {
            let mut object = Map::new();
            object.insert("name".to_owned(), name);
            for (key, value) in [
                ("expires", expires),
                ("fixed_data", fixed_data),
                ("single_use", single_use),
                ("flow", flow),
            ] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            Value::Object(object)
        })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        2 => Just(Body::None),
        6 => plausible().prop_map(Body::Json),
        4 => json().prop_map(Body::Json),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        // JSON cut short at any point.
        1 => (json(), any::<prop::sample::Index>()).prop_map(|(value, at)| {
            let text = value.to_string().into_bytes();
            let cut = at.index(text.len() + 1);
            Body::Bytes(text[..cut].to_vec())
        }),
    ]
}

/// A method and a path: mostly one of spec §2's routes, else any pair.
fn route() -> impl Strategy<Value = (Method, Path)> {
    prop_oneof![
        2 => Just((Method::GET, Path::Collection)),
        3 => Just((Method::POST, Path::Collection)),
        2 => pk().prop_map(|pk| (Method::GET, Path::Item(pk))),
        2 => pk().prop_map(|pk| (Method::PUT, Path::Item(pk))),
        2 => pk().prop_map(|pk| (Method::PATCH, Path::Item(pk))),
        1 => pk().prop_map(|pk| (Method::DELETE, Path::Item(pk))),
        1 => pk().prop_map(|pk| (Method::GET, Path::UsedBy(pk))),
        4 => (method(), path()),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (route(), query(), authorization(), content_type(), body()).prop_map(
        |((method, path), query, authorization, content_type, body)| Request {
            method,
            path,
            query,
            authorization,
            content_type,
            body,
        },
    )
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Turns `Pk::Stored` into a stored invitation's pk (creating one when
/// storage is empty) and renders the path.
async fn render_path(h: &Harness, path: &Path) -> String {
    let pk = |pk: &Pk| {
        let pk = pk.clone();
        async move {
            match pk {
                Pk::Stored => stored_pk(h).await,
                Pk::Unknown => uuid::Uuid::new_v4().to_string(),
                Pk::Text(text) => encode(&text),
            }
        }
    };
    match path {
        Path::Collection => INVITATIONS.to_owned(),
        Path::Item(p) => format!("{INVITATIONS}{}/", pk(p).await),
        Path::UsedBy(p) => format!("{INVITATIONS}{}/used_by/", pk(p).await),
        Path::Below(rest) => format!("{INVITATIONS}{}", encode(rest)),
        Path::Other(rest) => format!("/api/v3/{}", encode(rest)),
    }
}

async fn stored_pk(h: &Harness) -> String {
    let page = h.get(&format!("{INVITATIONS}?page_size=1")).await.json();
    match page["results"][0]["pk"].as_str() {
        Some(pk) => pk.to_owned(),
        None => h.create_named("generated").await,
    }
}

/// Sends one request and checks the rules on its answer.
async fn check(h: &Harness, request: &Request) -> Result<(), TestCaseError> {
    let path = render_path(h, &request.path).await;
    let before = h.snapshot().await;
    let mut url = format!("{}{path}", h.base);
    if !request.query.is_empty() {
        url = format!("{url}?{}", request.query);
    }
    let mut builder = h.client.request(request.method.clone(), &url);
    if let Some(a) = &request.authorization {
        builder = builder.header(reqwest::header::AUTHORIZATION, a.0.as_slice());
    }
    if let Some(c) = &request.content_type {
        builder = builder.header(reqwest::header::CONTENT_TYPE, c.0.as_slice());
    }
    builder = match &request.body {
        Body::None => builder,
        Body::Json(value) => builder.body(value.to_string()),
        Body::Bytes(bytes) => builder.body(bytes.clone()),
    };
    let response = builder
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| TestCaseError::fail(format!("the answer broke off: {e}")))?;
    let said = |why: &str| TestCaseError::fail(format!("{why}; answered {status}: {text}"));

    if !matches!(status, 200 | 201 | 204 | 400 | 403 | 404 | 405 | 413 | 415) {
        return Err(said("a status spec §2 does not give"));
    }
    if request.method == Method::HEAD || status == 204 {
        if !text.is_empty() {
            return Err(said("a body where none belongs"));
        }
    } else {
        let body: Ordered =
            serde_json::from_str(&text).map_err(|_| said("an answer that is not JSON"))?;
        let value: Value = serde_json::from_str(&text).map_err(|_| said("not JSON"))?;
        match status {
            200 | 201 if value.get("pk").is_some() => {
                if body.keys() != INVITATION_KEYS {
                    return Err(said("an invitation whose keys are not spec §2's, in order"));
                }
            }
            200 if value.get("pagination").is_some() => {
                if body.keys() != ["pagination", "results", "autocomplete"] {
                    return Err(said("a page whose keys are not spec §2's"));
                }
            }
            200 if value == Value::Array(Vec::new()) => {} // used_by
            200 if value.get("openapi").is_some() => {}    // a path that came out as the schema's
            400 if value.get("detail").is_none() => {
                let fields = value
                    .as_object()
                    .ok_or_else(|| said("a 400 that is not an object"))?;
                let field_lists_strings = fields.iter().all(|(key, v)| {
                    key == "code"
                        || v.as_array().is_some_and(|msgs| {
                            !msgs.is_empty() && msgs.iter().all(Value::is_string)
                        })
                });
                if body.keys().last() != Some(&"code")
                    || value["code"] != "invalid"
                    || fields.len() < 2
                    || !field_lists_strings
                {
                    return Err(said(
                        "a 400 that is not {field: [messages], ..., code: invalid}",
                    ));
                }
            }
            400 | 403 | 404 | 405 | 413 | 415 => {
                if body.keys() != ["detail", "code"]
                    || !value["detail"].is_string()
                    || !value["code"].is_string()
                {
                    return Err(said("an error that is not {detail, code}"));
                }
            }
            _ => return Err(said("a success of no shape spec §2 gives")),
        }
    }
    if status >= 400 {
        let after = h.snapshot().await;
        if after != before {
            return Err(said(
                "a refused request changed storage or recorded an event",
            ));
        }
    }
    Ok(())
}

/// Runs the property against the server `start` brings up (`None`: the
/// store is not available here, and the test has said so).
pub fn run<F, S>(start: S)
where
    S: FnOnce() -> F,
    F: Future<Output = Option<Harness>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(harness) = runtime.block_on(start()) else {
        return;
    };
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&request(), |request| {
        runtime.block_on(check(&harness, &request))
    });
    if let Err(error) = result {
        match error {
            TestError::Fail(why, request) => panic!("{why}\nsmallest request: {request:#?}"),
            TestError::Abort(why) => panic!("aborted: {why}"),
        }
    }
    // And it still serves.
    let live = runtime.block_on(harness.get("/-/health/live/"));
    assert_eq!(live.status.as_u16(), 200, "{}", live.text);
    runtime.block_on(harness.finish());
}

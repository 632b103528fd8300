//! authentik's request bodies and list query strings, read into the core's
//! typed requests the way Django REST framework reads them (its lenient
//! booleans and timestamps, its type messages), and the field errors they
//! answer.

use invitation_core::{
    Field, FieldError, FlowId, InvitationInput, ListRequest, Ordering, PageNumber, SearchError,
    SendEmail, SortField, ValidationErrors,
};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::time::{parse_timestamp, DATETIME_FORMAT_MESSAGE};

/// A key of a field-errors body, in the order authentik lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    /// The body or query string as a whole.
    NonField,
    /// An invitation field.
    Field(Field),
    /// The list's `search`.
    Search,
    /// A `send_email` body's field, by its place in the body's schema.
    Mail(u8),
}

/// `send_email`'s body fields, in its schema's order.
const MAIL_KEYS: [&str; 4] = [
    "email_addresses",
    "cc_addresses",
    "bcc_addresses",
    "template",
];

impl Key {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::NonField => "non_field_errors",
            Self::Field(field) => field_key(field),
            Self::Search => "search",
            Self::Mail(i) => MAIL_KEYS
                .get(usize::from(i))
                .copied()
                .unwrap_or("non_field_errors"),
        }
    }
}

/// The wire key of an invitation field.
fn field_key(field: Field) -> &'static str {
    match field {
        Field::Name => "name",
        Field::Expires => "expires",
        Field::FixedData => "fixed_data",
        Field::SingleUse => "single_use",
        Field::Flow => "flow",
    }
}

/// A field-errors body: messages by key, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldErrors(Vec<(Key, Vec<String>)>);

impl FieldErrors {
    pub(crate) fn single(key: Key, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(key, message.into());
        errors
    }

    fn add(&mut self, key: Key, message: String) {
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => self.0[i].1.push(message),
            Err(i) => self.0.insert(i, (key, vec![message])),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every key with its messages, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &[String])> {
        self.0.iter().map(|(k, m)| (k.as_str(), m.as_slice()))
    }

    /// A refused search's messages.
    pub(crate) fn search(errors: &[SearchError]) -> Self {
        let mut out = Self::default();
        for e in errors {
            out.add(Key::Search, e.to_string());
        }
        out
    }

    /// The core's errors, worded as the core words them (a field marked
    /// unreadable without a body's own words gets the core's text).
    pub(crate) fn from_core(errors: &ValidationErrors) -> Self {
        Wording::default().field_errors(errors)
    }
}

const NOT_NULL: &str = "This field may not be null.";

/// A body read: the input, and how to word the core's errors for it.
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub(crate) input: InvitationInput,
    pub(crate) wording: Wording,
}

/// What a body said where the core's words are not authentik's: an
/// unreadable field's message, a flow as the body wrote it.
#[derive(Debug, Default)]
pub(crate) struct Wording {
    unreadable: Vec<(Field, String)>,
    /// The flow as the body wrote it, for the "does not exist" message.
    flow_given: Option<String>,
}

/// Why a body is not invitation input at all.
#[derive(Debug)]
pub(crate) enum BodyRefusal {
    /// Not JSON.
    Syntax(serde_json::Error),
    /// JSON, but not an object, or (`send_email`) of the wrong shape.
    Invalid(FieldErrors),
}

/// Reads a JSON body. Unknown and read-only keys (`pk`, `created_by`,
/// `flow_obj`) are checked for syntax and skipped (whatever their depth,
/// without recursion); a key given twice counts with its last value. A
/// member the API reads that nests past serde_json's limit (128 levels) is a
/// syntax error, never a stack overflow.
pub(crate) fn read_body(bytes: &[u8]) -> Result<Body, BodyRefusal> {
    let members = match serde_json::from_slice::<Members<'_>>(bytes) {
        Ok(members) => members,
        // Not an object, or not JSON: read again as any value, which words
        // the refusal.
        Err(_) => {
            let value = invitation_core::json::from_slice(bytes).map_err(BodyRefusal::Syntax)?;
            return Err(BodyRefusal::Invalid(FieldErrors::single(
                Key::NonField,
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    python_type_name(&value)
                ),
            )));
        }
    };
    let mut body = Body::default();
    for (field, raw) in Field::ALL.into_iter().zip(members.0) {
        if let Some(raw) = raw {
            // Valid JSON, but it may nest past serde_json's limit.
            // Object keys as written (see `invitation_core::json`).
            let value = invitation_core::json::from_str(raw.get()).map_err(BodyRefusal::Syntax)?;
            body = body.read(field, value);
        }
    }
    Ok(body)
}

/// A JSON object's input members, by field (in [`Field::ALL`]'s order), as
/// their text; every other member skipped. Refuses anything but an object.
struct Members<'a>([Option<&'a RawValue>; 5]);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
    type Value = Members<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'a>, A::Error> {
        let mut members = [None; 5];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match Field::ALL.iter().position(|f| field_key(*f) == key) {
                Some(i) => members[i] = Some(map.next_value::<&'a RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Members(members))
    }
}

impl Body {
    /// Reads one field's value.
    fn read(mut self, field: Field, value: Value) -> Self {
        let input = std::mem::take(&mut self.input);
        self.input = match (field, value) {
            (_, Value::Null) if matches!(field, Field::Expires) => input.expires(None),
            (_, Value::Null) if matches!(field, Field::Flow) => input.flow(None),
            (_, Value::Null) => return self.refuse(input, field, NOT_NULL.to_owned()),
            (Field::Name, Value::String(s)) => input.name(s),
            (Field::Name, Value::Number(n)) => input.name(n.to_string()),
            (Field::Name, _) => return self.refuse(input, field, "Not a valid string.".into()),
            (Field::Expires, Value::String(s)) => match parse_timestamp(&s) {
                Some(at) => input.expires(Some(at)),
                None => return self.refuse(input, field, DATETIME_FORMAT_MESSAGE.into()),
            },
            (Field::Expires, _) => {
                return self.refuse(input, field, DATETIME_FORMAT_MESSAGE.into())
            }
            (Field::FixedData, value) => input.fixed_data_value(value),
            (Field::SingleUse, value) => match drf_boolean(&value) {
                Some(b) => input.single_use(b),
                None => return self.refuse(input, field, "Must be a valid boolean.".into()),
            },
            (Field::Flow, Value::String(s)) => match FlowId::parse(&s) {
                Ok(id) => {
                    self.wording.flow_given = Some(s);
                    input.flow(Some(id))
                }
                Err(e) => return self.refuse(input, field, e.to_string()),
            },
            (Field::Flow, Value::Number(n)) => {
                return self.refuse(input, field, does_not_exist(&n.to_string()))
            }
            (Field::Flow, other) => {
                let message = format!(
                    "Incorrect type. Expected pk value, received {}.",
                    python_type_name(&other)
                );
                return self.refuse(input, field, message);
            }
        };
        self
    }

    fn refuse(mut self, input: InvitationInput, field: Field, message: String) -> Self {
        self.input = input.unreadable(field);
        self.wording.unreadable.push((field, message));
        self
    }
}

impl Wording {
    /// The core's field errors in authentik's words: an unreadable field
    /// with this body's message, a missing flow quoted as the body gave it.
    pub(crate) fn field_errors(&self, errors: &ValidationErrors) -> FieldErrors {
        let mut out = FieldErrors::default();
        for (field, error) in errors.iter() {
            let message = match error {
                FieldError::Unreadable => self
                    .unreadable
                    .iter()
                    .find(|(f, _)| *f == field)
                    .map_or_else(|| error.to_string(), |(_, m)| m.clone()),
                FieldError::FlowNotFound(id) => {
                    does_not_exist(self.flow_given.as_deref().unwrap_or(&id.to_string()))
                }
                other => other.to_string(),
            };
            out.add(Key::Field(field), message);
        }
        out
    }
}

fn does_not_exist(given: &str) -> String {
    format!("Invalid pk \"{given}\" - object does not exist.")
}

/// Django REST framework's `BooleanField` reading.
fn drf_boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        // Python compares 1.0 == 1 and 0.0 == 0, so DRF takes those too.
        Value::Number(n) => n.as_f64().and_then(|f| {
            if f == 1.0 {
                Some(true)
            } else if f == 0.0 {
                Some(false)
            } else {
                None
            }
        }),
        Value::String(s) => match s.as_str() {
            "true" | "True" | "TRUE" | "1" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "t"
            | "T" | "y" | "Y" => Some(true),
            "false" | "False" | "FALSE" | "0" | "no" | "No" | "NO" | "off" | "Off" | "OFF"
            | "f" | "F" | "n" | "N" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The Python type name Django REST framework puts in its messages.
fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `template`'s default in authentik's own OpenAPI document: its Python
/// client puts it in every body that names no template, so it reads as no
/// name (the default template).
const UPSTREAM_DEFAULT_TEMPLATE: &str = "invitation";

/// Reads a `send_email` body (`InvitationSendEmailRequest`): three lists
/// of addresses (a missing or `null` one is empty) and a template name
/// (`invitation` is none).
/// Addresses are checked by the use case; this checks the shapes, as
/// Django REST framework does.
///
/// # Errors
/// A body that is not JSON ([`BodyRefusal::Syntax`]), not an object, or
/// whose fields have the wrong types (field errors).
pub(crate) fn read_send_email(bytes: &[u8]) -> Result<SendEmail, BodyRefusal> {
    let mut map = match invitation_core::json::from_slice(bytes).map_err(BodyRefusal::Syntax)? {
        Value::Object(map) => map,
        other => {
            return Err(BodyRefusal::Invalid(FieldErrors::single(
                Key::NonField,
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    python_type_name(&other)
                ),
            )))
        }
    };
    let mut request = SendEmail::default();
    let mut errors = FieldErrors::default();
    for (i, key) in (0u8..).zip(MAIL_KEYS) {
        let value = map.remove(key).unwrap_or(Value::Null);
        let refused = match (key, value) {
            (_, Value::Null) => None,
            ("template", Value::String(name)) if name.trim().is_empty() => {
                Some("This field may not be blank.".to_owned())
            }
            // The default upstream's document gives, which authentik's
            // generated clients send when the caller names no template.
            ("template", Value::String(name)) if name == UPSTREAM_DEFAULT_TEMPLATE => None,
            ("template", Value::String(name)) => {
                request.template = Some(name);
                None
            }
            ("template", _) => Some("Not a valid string.".to_owned()),
            (_, Value::Array(items)) => {
                let count = items.len();
                let addresses: Vec<String> = items
                    .into_iter()
                    .filter_map(|item| match item {
                        Value::String(address) => Some(address),
                        _ => None,
                    })
                    .collect();
                if addresses.len() < count {
                    Some("Not a valid string.".to_owned())
                } else {
                    match key {
                        "email_addresses" => request.to = addresses,
                        "cc_addresses" => request.cc = addresses,
                        _ => request.bcc = addresses,
                    }
                    None
                }
            }
            (_, other) => Some(format!(
                "Expected a list of items but got type \"{}\".",
                python_type_name(&other)
            )),
        };
        if let Some(message) = refused {
            errors.add(Key::Mail(i), message);
        }
    }
    if errors.is_empty() {
        Ok(request)
    } else {
        Err(BodyRefusal::Invalid(errors))
    }
}

/// Reads query-string pairs the way authentik does: unknown keys, unknown
/// ordering fields and unreadable page sizes are ignored; an empty value
/// means "not given"; an unreadable page is page 0, which the use case
/// answers as an invalid page (after its permission check).
///
/// # Errors
/// An `expires` filter that is not a timestamp, and a search over its
/// bounds.
pub(crate) fn read_list_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ListRequest, FieldErrors> {
    let mut request = ListRequest::default();
    let mut errors = FieldErrors::default();
    for (key, value) in pairs {
        if value.is_empty() {
            continue;
        }
        match key {
            "page" => {
                request.page = match value {
                    "last" => PageNumber::Last,
                    v => PageNumber::Number(v.trim().parse().unwrap_or(0)),
                }
            }
            "page_size" => request.page_size = value.trim().parse().ok().filter(|n| *n > 0),
            "ordering" => {
                request.ordering = value.split(',').map(str::trim).find_map(ordering);
            }
            "search" => request.search = Some(value.to_owned()),
            "name" => request.name = Some(value.to_owned()),
            "created_by__username" => request.created_by_username = Some(value.to_owned()),
            "flow__slug" => request.flow_slug = Some(value.to_owned()),
            "expires" => match parse_timestamp(value.trim()) {
                Some(ts) => request.expires = Some(ts),
                None => errors.add(
                    Key::Field(Field::Expires),
                    "Enter a valid date/time.".to_owned(),
                ),
            },
            _ => {}
        }
    }
    if let Err(refused) = request.search_words() {
        for e in refused {
            errors.add(Key::Search, e.to_string());
        }
    }
    if errors.is_empty() {
        Ok(request)
    } else {
        Err(errors)
    }
}

/// An `ordering` term, `field` or `-field`; `None` when the field is
/// unknown.
pub(crate) fn ordering(term: &str) -> Option<Ordering> {
    let (descending, name) = match term.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, term),
    };
    let field = match name {
        "pk" => SortField::Pk,
        "name" => SortField::Name,
        "expires" => SortField::Expires,
        "single_use" => SortField::SingleUse,
        "flow" => SortField::Flow,
        "created_by" => SortField::CreatedBy,
        _ => return None,
    };
    Some(Ordering { field, descending })
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;

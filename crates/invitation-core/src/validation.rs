//! Validation of create, update and partial-update input (spec §1).
//!
//! Input arrives loosely typed (a JSON body, [`InvitationInput::from_json`])
//! or typed (Rust callers, the builder methods); both go through the same
//! rules and give the same messages.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::ids::FlowId;
use crate::model::{FixedData, FixedDataError, InvitationName};
use crate::time::{parse_timestamp, DATETIME_FORMAT_MESSAGE};

/// A field of the invitation API, in the order errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `non_field_errors`: the body as a whole.
    NonField,
    /// `name`
    Name,
    /// `expires`
    Expires,
    /// `fixed_data`
    FixedData,
    /// `single_use`
    SingleUse,
    /// `flow`
    Flow,
    /// `search` (a list's query string)
    Search,
}

impl Field {
    /// The fields a body sets, in order.
    pub const INPUT: [Self; 5] = [
        Self::Name,
        Self::Expires,
        Self::FixedData,
        Self::SingleUse,
        Self::Flow,
    ];

    /// The wire key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NonField => "non_field_errors",
            Self::Name => "name",
            Self::Expires => "expires",
            Self::FixedData => "fixed_data",
            Self::SingleUse => "single_use",
            Self::Flow => "flow",
            Self::Search => "search",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every field error of one request, by field, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    fields: Vec<(Field, Vec<String>)>,
}

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One error.
    pub fn single(field: Field, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// Adds a message to a field.
    pub fn add(&mut self, field: Field, message: impl Into<String>) {
        let message = message.into();
        match self.fields.binary_search_by(|(f, _)| f.cmp(&field)) {
            Ok(i) => self.fields[i].1.push(message),
            Err(i) => self.fields.insert(i, (field, vec![message])),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The messages for one field (empty if none).
    pub fn messages(&self, field: Field) -> &[String] {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(&[], |(_, m)| m.as_slice())
    }

    /// Every field with its messages, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &[String])> {
        self.fields.iter().map(|(f, m)| (*f, m.as_slice()))
    }

    fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.fields {
            for m in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {m}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// A field's raw value: typed from Rust, or a JSON value from a body.
#[derive(Debug, Clone, PartialEq)]
enum Raw<T> {
    Typed(T),
    Json(Value),
}

/// `fixed_data` as given: from Rust, as a body's JSON value, or already
/// checked (a body's plain object, read by [`FixedData::from_plain_json`]).
#[derive(Debug, Clone)]
enum FixedDataInput {
    Typed(Map<String, Value>),
    Json(Value),
    Checked(FixedData),
}

impl PartialEq for FixedDataInput {
    /// Equal when they validate alike: to the same data, or to the same
    /// message.
    fn eq(&self, other: &Self) -> bool {
        self.clone().validated() == other.clone().validated()
    }
}

impl FixedDataInput {
    /// The data, or the field's error message.
    fn validated(self) -> Result<FixedData, String> {
        let map = match self {
            Self::Checked(data) => return Ok(data),
            Self::Typed(map) | Self::Json(Value::Object(map)) => map,
            Self::Json(Value::Null) => return Err(NOT_NULL.to_owned()),
            Self::Json(_) => return Err(FixedDataError::NotAnObject.to_string()),
        };
        FixedData::try_from(map).map_err(|e| e.to_string())
    }
}

/// `name` as given: raw (from Rust or a body's JSON value), or already
/// checked (a body's plain string, read by `from_plain_body`).
#[derive(Debug, Clone)]
enum NameInput {
    Raw(Raw<String>),
    Checked(InvitationName),
}

impl PartialEq for NameInput {
    /// Equal when they validate alike: to the same name, or to the same
    /// messages.
    fn eq(&self, other: &Self) -> bool {
        self.clone().validated() == other.clone().validated()
    }
}

impl NameInput {
    /// The name, or the field's error messages.
    fn validated(self) -> Result<InvitationName, Vec<String>> {
        let raw = match self {
            Self::Checked(name) => return Ok(name),
            Self::Raw(raw) => raw,
        };
        let text = name_text(raw).map_err(|message| vec![message.to_owned()])?;
        InvitationName::parse(&text)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }
}

/// Unvalidated invitation input. Build it from a JSON body or with the typed
/// setters; a field never set is "absent".
///
/// ```
/// use invitation_core::InvitationInput;
/// let input = InvitationInput::new().name("welcome-alice").single_use(true);
/// # let _ = input;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvitationInput {
    name: Option<NameInput>,
    expires: Option<Raw<Option<DateTime<Utc>>>>,
    fixed_data: Option<FixedDataInput>,
    single_use: Option<Raw<bool>>,
    flow: Option<Raw<Option<FlowId>>>,
}

impl InvitationInput {
    /// No fields set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a parsed JSON body. Unknown and read-only keys (`pk`,
    /// `created_by`, `flow_obj`) are ignored.
    ///
    /// # Errors
    /// A body that is not a JSON object gets authentik's `non_field_errors`
    /// message.
    pub fn from_json(body: Value) -> Result<Self, ValidationErrors> {
        match body {
            Value::Object(map) => Ok(Self::from_json_object(map)),
            other => Err(ValidationErrors::single(
                Field::NonField,
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    python_type_name(&other)
                ),
            )),
        }
    }

    /// Reads a JSON body from its bytes: the same result as parsing them
    /// into a [`Value`] and calling [`from_json`](Self::from_json), without
    /// first building the whole body as a value (unknown keys are skipped,
    /// not kept, and a plain `fixed_data` object is checked on its text).
    ///
    /// ```
    /// use invitation_core::{InvitationInput, JsonInputError};
    /// use serde_json::json;
    /// let input = InvitationInput::from_json_slice(br#"{"name": "welcome", "extra": [1]}"#);
    /// assert_eq!(
    ///     input.ok(),
    ///     InvitationInput::from_json(json!({"name": "welcome"})).ok()
    /// );
    /// assert!(matches!(
    ///     InvitationInput::from_json_slice(b"[1]"),
    ///     Err(JsonInputError::Invalid(_))
    /// ));
    /// assert!(matches!(
    ///     InvitationInput::from_json_slice(b"{"),
    ///     Err(JsonInputError::Syntax(_))
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`JsonInputError::Syntax`] when the bytes are not one JSON value;
    /// [`JsonInputError::Invalid`] (authentik's `non_field_errors` message)
    /// when the value is not an object.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, JsonInputError> {
        if let Some(input) = Self::from_plain_body(bytes) {
            return Ok(input);
        }
        // Anything the direct reading refuses (not an object, bad syntax)
        // is read again the general way, which gives the exact error.
        if let Ok(ObjectFields(input)) = serde_json::from_slice(bytes) {
            return Ok(input);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(JsonInputError::Syntax)?;
        Self::from_json(value).map_err(JsonInputError::Invalid)
    }

    /// The usual body, read in one pass over its bytes
    /// ([`plain_members`](crate::plain_json::plain_members)): an object of
    /// input keys only, whose values are strings without escapes, `true`,
    /// `false`, `null`, or (for `fixed_data`) an object in canonical form.
    /// `None` for any other body; [`from_json_slice`](Self::from_json_slice)
    /// then reads it with serde_json, and gets the same input for the
    /// bodies this accepts (a property test holds the two to that).
    pub(crate) fn from_plain_body(bytes: &[u8]) -> Option<Self> {
        use crate::plain_json::{plain_members, Member};
        let mut input = Self::new();
        plain_members(bytes, |key, value| {
            let field = input_field(key)?;
            let json = match value {
                Member::Object(text, plain) if field == Field::FixedData => {
                    let data = FixedData::from_plain(text, plain);
                    input.fixed_data = Some(FixedDataInput::Checked(data));
                    return Some(());
                }
                Member::Object(..) => return None,
                // The usual name is valid: kept as checked, without
                // copying the text into a JSON value first.
                Member::Text(text) if field == Field::Name => {
                    input.name = Some(match InvitationName::parse(text) {
                        Ok(name) => NameInput::Checked(name),
                        Err(_) => NameInput::Raw(Raw::Json(Value::String(text.to_owned()))),
                    });
                    return Some(());
                }
                Member::Text(text) => Value::String(text.to_owned()),
                Member::Bool(b) => Value::Bool(b),
                Member::Null => Value::Null,
            };
            input.set_json(field, json);
            Some(())
        })?;
        Some(input)
    }

    /// Reads a JSON object's fields.
    pub fn from_json_object(mut map: Map<String, Value>) -> Self {
        let mut input = Self::new();
        for field in Field::INPUT {
            if let Some(json) = map.remove(field.as_str()) {
                input.set_json(field, json);
            }
        }
        input
    }

    /// Sets one field from a body's JSON value (`NonField` sets nothing).
    fn set_json(&mut self, field: Field, json: Value) {
        match field {
            Field::Name => self.name = Some(NameInput::Raw(Raw::Json(json))),
            Field::Expires => self.expires = Some(Raw::Json(json)),
            Field::FixedData => self.fixed_data = Some(FixedDataInput::Json(json)),
            Field::SingleUse => self.single_use = Some(Raw::Json(json)),
            Field::Flow => self.flow = Some(Raw::Json(json)),
            Field::NonField | Field::Search => {}
        }
    }

    /// Sets the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(NameInput::Raw(Raw::Typed(name.into())));
        self
    }

    /// Sets the expiry (`None` = never).
    #[must_use]
    pub fn expires(mut self, expires: Option<DateTime<Utc>>) -> Self {
        self.expires = Some(Raw::Typed(expires));
        self
    }

    /// Sets the fixed data.
    #[must_use]
    pub fn fixed_data(mut self, data: Map<String, Value>) -> Self {
        self.fixed_data = Some(FixedDataInput::Typed(data));
        self
    }

    /// Sets the fixed data from any `Serialize` value, validated as a
    /// body's `fixed_data` is: it must serialise to a JSON object.
    ///
    /// ```
    /// use invitation_core::InvitationInput;
    /// #[derive(serde::Serialize)]
    /// struct Forced<'a> {
    ///     email: &'a str,
    /// }
    /// let input = InvitationInput::new()
    ///     .name("welcome-bob")
    ///     .fixed_data_from(&Forced { email: "bob@example.org" })?;
    /// # let _ = input;
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    ///
    /// # Errors
    /// When `data` cannot be serialised (a map with non-string keys).
    pub fn fixed_data_from<T: serde::Serialize + ?Sized>(
        mut self,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        self.fixed_data = Some(FixedDataInput::Json(serde_json::to_value(data)?));
        Ok(self)
    }

    /// Sets single use.
    #[must_use]
    pub fn single_use(mut self, single_use: bool) -> Self {
        self.single_use = Some(Raw::Typed(single_use));
        self
    }

    /// Binds to a flow (`None` = any flow).
    #[must_use]
    pub fn flow(mut self, flow: Option<FlowId>) -> Self {
        self.flow = Some(Raw::Typed(flow));
        self
    }
}

/// Why a JSON body could not be read as [`InvitationInput`].
#[derive(Debug, thiserror::Error)]
pub enum JsonInputError {
    /// The bytes are not one JSON value.
    #[error("JSON parse error - {0}")]
    Syntax(#[source] serde_json::Error),
    /// JSON, but not an object: authentik's `non_field_errors` message.
    #[error("{0}")]
    Invalid(ValidationErrors),
}

/// A JSON object read straight into the input's fields: for each of the
/// five keys the last value given (as a `Value` map keeps it), every other
/// key skipped. Refuses anything but an object.
struct ObjectFields(InvitationInput);

/// A key of the body: the input field it names, if any.
struct Key(Option<Field>);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl serde::de::Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(Key(input_field(key.as_bytes())))
    }
}

/// The input field a body key names, if any.
fn input_field(key: &[u8]) -> Option<Field> {
    Field::INPUT
        .into_iter()
        .find(|f| f.as_str().as_bytes() == key)
}

impl<'de> serde::Deserialize<'de> for ObjectFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectFieldsVisitor)
    }
}

struct ObjectFieldsVisitor;

impl<'de> serde::de::Visitor<'de> for ObjectFieldsVisitor {
    type Value = ObjectFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ObjectFields, A::Error> {
        let mut input = InvitationInput::new();
        while let Some(Key(field)) = map.next_key()? {
            match field {
                Some(Field::FixedData) => {
                    let raw: &RawValue = map.next_value()?;
                    input.fixed_data = Some(match FixedData::from_plain_json(raw.get()) {
                        Some(data) => FixedDataInput::Checked(data),
                        None => FixedDataInput::Json(nested_value(raw)?),
                    });
                }
                Some(field) => input.set_json(field, map.next_value()?),
                None => within_depth(map.next_value()?)?,
            }
        }
        Ok(ObjectFields(input))
    }
}

/// serde_json refuses a body nested 128 deep (the body object is the first
/// level); a member's value is read from its own text here, so that limit
/// is checked on the text.
const MEMBER_MAX_DEPTH: usize = 126;

/// Refuses a member's value (`raw`, checked JSON) that nests deeper than
/// a whole body may. The error sends the body down the general path, which
/// words it.
fn within_depth<E: serde::de::Error>(raw: &RawValue) -> Result<(), E> {
    if crate::plain_json::nesting_depth(raw.get()) > MEMBER_MAX_DEPTH {
        return Err(E::custom("recursion limit exceeded"));
    }
    Ok(())
}

/// A member's value, read from its text (`raw`, checked JSON).
fn nested_value<E: serde::de::Error>(raw: &RawValue) -> Result<Value, E> {
    within_depth(raw)?;
    serde_json::from_str(raw.get()).map_err(E::custom)
}

/// How absent fields are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create or full update (PUT): `name` is required; other absent fields
    /// take defaults (create) or keep their stored values (update).
    Full,
    /// Partial update (PATCH): only the fields given are checked.
    Partial,
}

/// A flow reference that passed syntax checks but whose existence is still
/// to be checked against the flow directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRef {
    /// The id.
    pub id: FlowId,
    /// The value as given, for the "does not exist" message.
    pub given: String,
}

impl FlowRef {
    /// The message when no such flow exists.
    pub fn not_found_message(&self) -> String {
        does_not_exist(&self.given)
    }
}

fn does_not_exist(given: &str) -> String {
    format!("Invalid pk \"{given}\" - object does not exist.")
}

/// Input that passed every syntactic rule. `None` = field absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// New name.
    pub name: Option<InvitationName>,
    /// New expiry.
    pub expires: Option<Option<DateTime<Utc>>>,
    /// New fixed data.
    pub fixed_data: Option<FixedData>,
    /// New single-use flag.
    pub single_use: Option<bool>,
    /// New flow binding; `Some(Some(_))` still needs an existence check.
    pub flow: Option<Option<FlowRef>>,
}

const REQUIRED: &str = "This field is required.";
const NOT_NULL: &str = "This field may not be null.";

/// Checks every field, collecting every error.
///
/// # Errors
/// All field errors together. A flow that is well-formed is *not* looked
/// up here: the use case checks it exists and adds its error to these.
pub fn validate(input: InvitationInput, mode: Mode) -> Result<Changes, ValidationErrors> {
    let (changes, errors) = validate_collect(input, mode);
    errors.into_result(changes)
}

/// Like [`validate`], but returns what passed beside the errors so that a
/// caller can add the flow existence check to the same error set.
pub fn validate_collect(input: InvitationInput, mode: Mode) -> (Changes, ValidationErrors) {
    let mut errors = ValidationErrors::new();
    let mut changes = Changes::default();

    match input.name {
        None if mode == Mode::Full => errors.add(Field::Name, REQUIRED),
        None => {}
        Some(given) => match given.validated() {
            Ok(name) => changes.name = Some(name),
            Err(messages) => messages
                .into_iter()
                .for_each(|message| errors.add(Field::Name, message)),
        },
    }

    if let Some(raw) = input.expires {
        match raw {
            Raw::Typed(v) => changes.expires = Some(v),
            Raw::Json(Value::Null) => changes.expires = Some(None),
            Raw::Json(Value::String(s)) => match parse_timestamp(&s) {
                Some(ts) => changes.expires = Some(Some(ts)),
                None => errors.add(Field::Expires, DATETIME_FORMAT_MESSAGE),
            },
            Raw::Json(_) => errors.add(Field::Expires, DATETIME_FORMAT_MESSAGE),
        }
    }

    if let Some(given) = input.fixed_data {
        match given.validated() {
            Ok(data) => changes.fixed_data = Some(data),
            Err(message) => errors.add(Field::FixedData, message),
        }
    }

    if let Some(raw) = input.single_use {
        match raw {
            Raw::Typed(b) => changes.single_use = Some(b),
            Raw::Json(Value::Null) => errors.add(Field::SingleUse, NOT_NULL),
            Raw::Json(v) => match drf_boolean(&v) {
                Some(b) => changes.single_use = Some(b),
                None => errors.add(Field::SingleUse, "Must be a valid boolean."),
            },
        }
    }

    if let Some(raw) = input.flow {
        match raw {
            Raw::Typed(flow) => {
                changes.flow = Some(flow.map(|id| FlowRef {
                    id,
                    given: id.to_string(),
                }));
            }
            Raw::Json(Value::Null) => changes.flow = Some(None),
            Raw::Json(Value::String(s)) => match FlowId::parse(&s) {
                Ok(id) => changes.flow = Some(Some(FlowRef { id, given: s })),
                Err(e) => errors.add(Field::Flow, e.to_string()),
            },
            Raw::Json(Value::Number(n)) => errors.add(Field::Flow, does_not_exist(&n.to_string())),
            Raw::Json(other) => errors.add(
                Field::Flow,
                format!(
                    "Incorrect type. Expected pk value, received {}.",
                    python_type_name(&other)
                ),
            ),
        }
    }

    (changes, errors)
}

/// The name's text: strings as given, JSON numbers as their decimal text.
fn name_text(raw: Raw<String>) -> Result<String, &'static str> {
    match raw {
        Raw::Typed(s) | Raw::Json(Value::String(s)) => Ok(s),
        Raw::Json(Value::Number(n)) => Ok(n.to_string()),
        Raw::Json(Value::Null) => Err(NOT_NULL),
        Raw::Json(_) => Err("Not a valid string."),
    }
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

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;

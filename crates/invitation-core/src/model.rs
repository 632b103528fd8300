//! The Invitation aggregate and its value types.

use std::fmt;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::ids::{FlowId, InvitationId, UserId};

/// Longest name accepted, in characters.
pub const NAME_MAX_CHARS: usize = 50;

/// Why a name was refused. The `Display` text is the exact API message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty, or only white space.
    #[error("This field may not be blank.")]
    Blank,
    /// More than [`NAME_MAX_CHARS`] characters after trimming.
    #[error("Ensure this field has no more than 50 characters.")]
    TooLong,
    /// Not an ASCII slug (`^[-a-zA-Z0-9_]+$`).
    #[error("Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.")]
    NotASlug,
}

/// An invitation's name: trimmed, 1 to 50 characters, an ASCII slug. Not
/// unique: two invitations may share a name. Cheap to clone (shared).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InvitationName(Arc<str>);

impl InvitationName {
    /// Trims leading and trailing white space, then checks the name rules.
    ///
    /// # Errors
    /// Every rule the name breaks, in the order authentik reports them
    /// (blank alone; otherwise too long, then not a slug).
    pub fn parse(input: &str) -> Result<Self, Vec<NameError>> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(vec![NameError::Blank]);
        }
        let mut errors = Vec::new();
        if trimmed.chars().nth(NAME_MAX_CHARS).is_some() {
            errors.push(NameError::TooLong);
        }
        if !slug_pattern().is_match(trimmed) {
            errors.push(NameError::NotASlug);
        }
        if errors.is_empty() {
            Ok(Self(Arc::from(trimmed)))
        } else {
            Err(errors)
        }
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Django's slug rule, which authentik's name field uses.
fn slug_pattern() -> &'static Regex {
    static SLUG: LazyLock<Regex> = LazyLock::new(|| {
        #[allow(
            clippy::expect_used,
            reason = "a constant pattern, checked by the tests"
        )]
        Regex::new("^[-a-zA-Z0-9_]+$").expect("the slug pattern compiles")
    });
    &SLUG
}

impl fmt::Display for InvitationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for InvitationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for InvitationName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Deepest nesting accepted in `fixed_data` (the object itself is level 1).
pub const FIXED_DATA_MAX_DEPTH: usize = 100;

/// Why a value cannot be fixed data. The `Display` text is the API message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FixedDataError {
    /// Not a JSON object.
    #[error("Value must be a dictionary, and not have any duplicate keys.")]
    NotAnObject,
    /// A key or string holds U+0000, which no adapter can store faithfully
    /// (PostgreSQL's `jsonb` refuses it), so every adapter refuses it alike.
    #[error("Null characters are not allowed.")]
    NulCharacter,
    /// Nested deeper than [`FIXED_DATA_MAX_DEPTH`].
    #[error("Ensure this value has no more than 100 levels of nesting.")]
    TooDeep,
    /// A key starts with [`FIXED_DATA_RESERVED_KEY_PREFIX`]. serde_json
    /// reads an object whose first key is one of its private tokens as
    /// something else than an object; kept with its keys sorted, such a key
    /// could come first and the data would no longer read back as written.
    #[error("Keys starting with \"$serde_json::private::\" are reserved.")]
    ReservedKey,
}

/// The start of the keys fixed data may not hold, at any level: serde_json's
/// private tokens (`$serde_json::private::RawValue`, and
/// `$serde_json::private::Number` when a crate in the build enables its
/// `arbitrary_precision` feature).
pub const FIXED_DATA_RESERVED_KEY_PREFIX: &str = "$serde_json::private::";

/// Data forced onto the account a person enrolls with this invitation: always
/// a JSON object (possibly empty).
///
/// The library never looks inside it except to merge it at redemption, so it
/// is kept as its compact JSON text, shared: cloning is a reference-count
/// increment, and the text costs a third of the heap of a parsed object.
/// Two values are equal when their compact texts are equal (keys sorted).
#[derive(Clone, Default)]
pub struct FixedData(Option<Arc<str>>);

impl FixedData {
    /// An empty object.
    pub fn new() -> Self {
        Self(None)
    }

    /// Whether it is the empty object.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The compact JSON text of the object (keys sorted).
    pub fn as_json(&self) -> &str {
        self.0.as_deref().unwrap_or("{}")
    }

    /// The object, parsed.
    pub fn to_map(&self) -> Map<String, Value> {
        // The text was written by serde_json from an object no deeper than
        // the parser's limit, so it always parses back.
        self.0
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }

    /// The object as the host's own type, e.g. a struct of the account
    /// fields it forces:
    ///
    /// ```
    /// # use invitation_core::FixedData;
    /// #[derive(serde::Deserialize)]
    /// struct Forced {
    ///     email: String,
    /// }
    /// let data = FixedData::from_json_str(r#"{"email": "bob@example.org"}"#).unwrap();
    /// let forced: Forced = data.deserialize().unwrap();
    /// assert_eq!(forced.email, "bob@example.org");
    /// ```
    ///
    /// # Errors
    /// When the object does not have `T`'s shape.
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_json())
    }

    /// Merges this data into what the enrolling person typed: nested objects
    /// merge, lists append (the person's items first), and on any other clash
    /// the invitation's value wins.
    pub fn merge_into(&self, user_data: &mut Map<String, Value>) {
        merge_objects(user_data, &self.to_map());
    }
}

impl FixedData {
    /// Fixed data from the text of a JSON object in any spacing and key
    /// order (what a storage adapter kept): parsed, checked as input is, and
    /// kept in the canonical compact form. No `serde_json::Value` is needed
    /// on the caller's side.
    ///
    /// # Errors
    /// [`FixedDataError::NotAnObject`] for text that is not a JSON object
    /// (or not JSON at all, or nested past the parser's limit), and the
    /// other [`FixedDataError`]s as for input.
    pub fn from_json_str(text: &str) -> Result<Self, FixedDataError> {
        // Keys as written: see `json`.
        match crate::json::from_str(text) {
            Ok(Value::Object(map)) => Self::try_from(map),
            _ => Err(FixedDataError::NotAnObject),
        }
    }
}

impl TryFrom<Map<String, Value>> for FixedData {
    type Error = FixedDataError;

    fn try_from(map: Map<String, Value>) -> Result<Self, Self::Error> {
        check_fixed_data(&map)?;
        if map.is_empty() {
            return Ok(Self(None));
        }
        // Serialising a map of JSON values cannot fail: every key is a string.
        serde_json::to_string(&map)
            .map(|text| Self(Some(Arc::from(text))))
            .map_err(|_| FixedDataError::NotAnObject)
    }
}

impl TryFrom<Value> for FixedData {
    type Error = FixedDataError;

    /// Only a JSON object is fixed data.
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        match value {
            Value::Object(map) => Self::try_from(map),
            _ => Err(FixedDataError::NotAnObject),
        }
    }
}

impl PartialEq for FixedData {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Eq for FixedData {}

impl fmt::Debug for FixedData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FixedData").field(&self.as_json()).finish()
    }
}

impl Serialize for FixedData {
    /// Writes the object; into serde_json, its text verbatim.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_deref() {
            // The text is JSON serde_json wrote, so this never fails.
            Some(text) => RawValue::from_string(text.to_owned())
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer),
            None => serializer.serialize_map(Some(0))?.end(),
        }
    }
}

/// Refuses NUL characters and over-deep nesting, without recursion (so no
/// input can overflow the stack here) and without allocating for flat data.
/// The object itself is level 1.
fn check_fixed_data(map: &Map<String, Value>) -> Result<(), FixedDataError> {
    fn visit<'a>(
        value: &'a Value,
        depth: usize,
        nested: &mut Vec<(&'a Value, usize)>,
    ) -> Result<(), FixedDataError> {
        match value {
            Value::String(s) if s.contains('\0') => Err(FixedDataError::NulCharacter),
            Value::Object(_) | Value::Array(_) => {
                nested.push((value, depth));
                Ok(())
            }
            _ => Ok(()),
        }
    }
    fn visit_object<'a>(
        map: &'a Map<String, Value>,
        depth: usize,
        nested: &mut Vec<(&'a Value, usize)>,
    ) -> Result<(), FixedDataError> {
        for (key, value) in map {
            if key.contains('\0') {
                return Err(FixedDataError::NulCharacter);
            }
            if key.starts_with(FIXED_DATA_RESERVED_KEY_PREFIX) {
                return Err(FixedDataError::ReservedKey);
            }
            visit(value, depth + 1, nested)?;
        }
        Ok(())
    }
    let mut nested = Vec::new();
    visit_object(map, 1, &mut nested)?;
    while let Some((value, depth)) = nested.pop() {
        if depth > FIXED_DATA_MAX_DEPTH {
            return Err(FixedDataError::TooDeep);
        }
        match value {
            Value::Object(m) => visit_object(m, depth, &mut nested)?,
            Value::Array(items) => {
                for item in items {
                    visit(item, depth + 1, &mut nested)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn merge_objects(target: &mut Map<String, Value>, source: &Map<String, Value>) {
    for (key, value) in source {
        match (target.get_mut(key), value) {
            (Some(Value::Object(t)), Value::Object(s)) => merge_objects(t, s),
            (Some(Value::Array(t)), Value::Array(s)) => t.extend(s.iter().cloned()),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A stored invitation's revision: [`Version::FIRST`] when it is created,
/// one more on every write that changes it (an update, or a flow it was
/// bound to being deleted). Clients hold it to make a write conditional
/// (HTTP's `ETag`/`If-Match`): a write expecting a version that is no longer
/// the stored one changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(u64);

impl Version {
    /// The version of a new invitation.
    pub const FIRST: Self = Self(1);

    /// A version from its number; `None` for 0, which no invitation has.
    pub const fn new(number: u64) -> Option<Self> {
        if number == 0 {
            None
        } else {
            Some(Self(number))
        }
    }

    /// Its number (at least 1).
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version after this one's write.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An invitation: a secret link that lets a person enroll.
///
/// Every field is a validated type, so an invalid invitation cannot be
/// constructed. Use cases build them; storage adapters rebuild them from rows
/// with [`Invitation::from_parts`] after parsing each column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    id: InvitationId,
    name: InvitationName,
    expires: Option<DateTime<Utc>>,
    fixed_data: FixedData,
    single_use: bool,
    flow: Option<FlowId>,
    created_by: UserId,
    version: Version,
}

/// The parts of an [`Invitation`], all already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationParts {
    /// The id, which is also the redemption token.
    pub id: InvitationId,
    /// The name.
    pub name: InvitationName,
    /// When it stops being redeemable; `None` = never.
    pub expires: Option<DateTime<Utc>>,
    /// Data forced onto the enrolling account.
    pub fixed_data: FixedData,
    /// Consumed (deleted) by its first successful redemption.
    pub single_use: bool,
    /// The only flow that may redeem it; `None` = any flow.
    pub flow: Option<FlowId>,
    /// The user who created it.
    pub created_by: UserId,
    /// Its revision ([`Version::FIRST`] for a new one).
    pub version: Version,
}

impl Invitation {
    /// Assembles an invitation from valid parts. Timestamps are truncated to
    /// microseconds, the precision every adapter stores.
    pub fn from_parts(parts: InvitationParts) -> Self {
        Self {
            id: parts.id,
            name: parts.name,
            expires: parts.expires.map(crate::time::truncate_to_micros),
            fixed_data: parts.fixed_data,
            single_use: parts.single_use,
            flow: parts.flow,
            created_by: parts.created_by,
            version: parts.version,
        }
    }

    /// Rebuilds an invitation from a stored row, checking every rule again:
    /// what a storage adapter calls after reading one.
    ///
    /// # Errors
    /// The first rule the row breaks (see [`CorruptRow`]).
    pub fn from_stored(row: StoredInvitation<'_>) -> Result<Self, CorruptRow> {
        let name = match InvitationName::parse(row.name) {
            // One that only parses after trimming was not written by the
            // library.
            Ok(name) if name.as_str() == row.name => name,
            _ => return Err(CorruptRow::Name(row.name.to_owned())),
        };
        let fixed_data = FixedData::from_json_str(row.fixed_data).map_err(CorruptRow::FixedData)?;
        let version = u64::try_from(row.version)
            .ok()
            .and_then(Version::new)
            .ok_or(CorruptRow::Version(row.version))?;
        Ok(Self::from_parts(InvitationParts {
            id: InvitationId::from_uuid(row.id),
            name,
            expires: row.expires,
            fixed_data,
            single_use: row.single_use,
            flow: row.flow.map(FlowId::from_uuid),
            created_by: UserId::new(row.created_by),
            version,
        }))
    }

    /// Takes the invitation apart.
    pub fn into_parts(self) -> InvitationParts {
        InvitationParts {
            id: self.id,
            name: self.name,
            expires: self.expires,
            fixed_data: self.fixed_data,
            single_use: self.single_use,
            flow: self.flow,
            created_by: self.created_by,
            version: self.version,
        }
    }

    /// The id, which is also the secret redemption token.
    pub fn id(&self) -> &InvitationId {
        &self.id
    }
    /// The name.
    pub fn name(&self) -> &InvitationName {
        &self.name
    }
    /// When it stops being redeemable; `None` = never.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        self.expires
    }
    /// Data forced onto the enrolling account.
    pub fn fixed_data(&self) -> &FixedData {
        &self.fixed_data
    }
    /// Whether the first successful redemption consumes it.
    pub fn single_use(&self) -> bool {
        self.single_use
    }
    /// The only flow that may redeem it, if any.
    pub fn flow(&self) -> Option<&FlowId> {
        self.flow.as_ref()
    }
    /// The user who created it.
    pub fn created_by(&self) -> UserId {
        self.created_by
    }
    /// Its revision: changes on every write.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether it has expired at `now` (an invitation expiring exactly at
    /// `now` has expired).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// Whether it may be redeemed in `flow` (`None`: outside any flow): an
    /// unbound invitation anywhere, a bound one only in its own flow.
    pub fn redeemable_in(&self, flow: Option<&FlowId>) -> bool {
        self.flow.as_ref().is_none_or(|bound| Some(bound) == flow)
    }

    /// The expiry as the wire writes it (for search), or `None`.
    pub fn expires_text(&self) -> Option<String> {
        self.expires.as_ref().map(crate::time::format_timestamp)
    }
}

/// An invitation's columns as a storage adapter read them back, before
/// the domain's rules are checked again by [`Invitation::from_stored`]. A
/// row written by hand (or by a bug) may break any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredInvitation<'a> {
    /// `id`
    pub id: uuid::Uuid,
    /// `name`, as stored (already trimmed when the library wrote it).
    pub name: &'a str,
    /// `expires`
    pub expires: Option<DateTime<Utc>>,
    /// `fixed_data` as JSON text, in any spacing and key order.
    pub fixed_data: &'a str,
    /// `single_use`
    pub single_use: bool,
    /// `flow`
    pub flow: Option<uuid::Uuid>,
    /// `created_by`
    pub created_by: i64,
    /// `version`
    pub version: i64,
}

/// Why a stored row is not an invitation the library could have written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptRow {
    /// The name breaks the name rules, or is not trimmed.
    #[error("name {0:?} breaks the name rules")]
    Name(String),
    /// `fixed_data` is not fixed data.
    #[error("fixed_data is not valid: {0}")]
    FixedData(FixedDataError),
    /// The version is not a positive number.
    #[error("version {0} is not positive")]
    Version(i64),
}

/// What one write changes: each `Some` field replaces the stored value,
/// each `None` keeps it. Built by the update use cases from validated input;
/// applied by a store atomically, against the row it updates.
///
/// Every field is public and the struct is exhaustive on purpose: an adapter
/// that destructures it (`let InvitationPatch { name, expires, .. } = patch`
/// without `..`) fails to compile when a field is added, instead of silently
/// ignoring it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvitationPatch {
    /// A new name.
    pub name: Option<InvitationName>,
    /// A new expiry (`Some(None)`: never expires). Whole microseconds, as
    /// [`Invitation::from_parts`] keeps them.
    pub expires: Option<Option<DateTime<Utc>>>,
    /// New fixed data.
    pub fixed_data: Option<FixedData>,
    /// A new single-use flag.
    pub single_use: Option<bool>,
    /// A new flow binding (`Some(None)`: bound to no flow).
    pub flow: Option<Option<FlowId>>,
}

impl InvitationPatch {
    /// `invitation` after this write: the given fields replaced, the others
    /// kept, and the version the next one. The reference semantics every
    /// store's `update` reproduces.
    pub fn apply(&self, invitation: &Invitation) -> Invitation {
        let Self {
            name,
            expires,
            fixed_data,
            single_use,
            flow,
        } = self;
        let mut parts = invitation.clone().into_parts();
        if let Some(name) = name {
            parts.name = name.clone();
        }
        if let Some(expires) = expires {
            parts.expires = *expires;
        }
        if let Some(fixed_data) = fixed_data {
            parts.fixed_data = fixed_data.clone();
        }
        if let Some(single_use) = single_use {
            parts.single_use = *single_use;
        }
        if let Some(flow) = flow {
            parts.flow = *flow;
        }
        parts.version = parts.version.next();
        Invitation::from_parts(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(input: &str) -> Vec<String> {
        InvitationName::parse(input)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_name_of_50_characters_is_accepted() {
        assert!(InvitationName::parse(&"a".repeat(50)).is_ok());
    }

    #[test]
    fn a_name_of_51_characters_is_rejected() {
        assert_eq!(
            msgs(&"a".repeat(51)),
            ["Ensure this field has no more than 50 characters."]
        );
    }

    #[test]
    fn a_name_is_trimmed_before_it_is_checked() {
        let name = InvitationName::parse(&format!("  {}\t\n", "b".repeat(50))).unwrap();
        assert_eq!(name.as_str(), "b".repeat(50));
    }

    #[test]
    fn a_blank_name_is_rejected() {
        assert_eq!(msgs("   "), ["This field may not be blank."]);
        assert_eq!(msgs(""), ["This field may not be blank."]);
    }

    #[test]
    fn a_name_with_a_space_inside_is_not_a_slug() {
        assert_eq!(
            msgs("a b"),
            ["Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."]
        );
    }

    #[test]
    fn a_name_with_non_ascii_letters_is_not_a_slug() {
        assert_eq!(msgs("café").len(), 1);
        assert_eq!(msgs("ａｂｃ").len(), 1);
    }

    #[test]
    fn a_long_name_that_is_not_a_slug_gets_both_messages_length_first() {
        assert_eq!(
            msgs(&"é".repeat(51)),
            [
                "Ensure this field has no more than 50 characters.",
                "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."
            ]
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 50 two-byte characters: long enough in bytes, fine in characters,
        // but not a slug.
        assert_eq!(msgs(&"é".repeat(50)).len(), 1);
    }

    #[test]
    fn fixed_data_wins_over_typed_data_nested_objects_merge_and_lists_append() {
        let fixed = FixedData::try_from(json!({
            "email": "forced@example.org",
            "attributes": {"team": "qa", "tags": ["b"]},
            "groups": ["admins"]
        }))
        .unwrap();
        let mut typed = json!({
            "email": "typed@example.org",
            "username": "alice",
            "attributes": {"team": "dev", "tags": ["a"], "lang": "en"},
            "groups": ["users"]
        })
        .as_object()
        .cloned()
        .unwrap();
        fixed.merge_into(&mut typed);
        assert_eq!(
            Value::Object(typed),
            json!({
                "email": "forced@example.org",
                "username": "alice",
                "attributes": {"team": "qa", "tags": ["a", "b"], "lang": "en"},
                "groups": ["users", "admins"]
            })
        );
    }

    #[test]
    fn fixed_data_replaces_a_typed_value_of_another_type() {
        let fixed = FixedData::try_from(json!({"attributes": {"x": 1}})).unwrap();
        assert_eq!(fixed.as_json(), r#"{"attributes":{"x":1}}"#);
        let mut typed = json!({"attributes": "plain"}).as_object().cloned().unwrap();
        fixed.merge_into(&mut typed);
        assert_eq!(Value::Object(typed), json!({"attributes": {"x": 1}}));
    }

    #[test]
    fn fixed_data_nested_100_levels_is_accepted_and_101_refused() {
        fn nest(levels: usize) -> Value {
            (1..levels).fold(json!({}), |inner, _| json!({ "a": inner }))
        }
        assert!(FixedData::try_from(nest(100)).is_ok());
        assert_eq!(FixedData::try_from(nest(101)), Err(FixedDataError::TooDeep));
        let deep_list = (1..101).fold(json!(1), |inner, _| json!([inner]));
        assert_eq!(
            FixedData::try_from(json!({ "l": deep_list })),
            Err(FixedDataError::TooDeep)
        );
    }

    #[test]
    fn fixed_data_round_trips_through_its_text() {
        let value = json!({"b": [1, 2.5, "x", null], "a": {"z": true}});
        let data = FixedData::try_from(value.clone()).unwrap();
        assert_eq!(Value::Object(data.to_map()), value);
        assert_eq!(serde_json::to_value(&data).unwrap(), value);
        assert_eq!(serde_json::to_string(&FixedData::new()).unwrap(), "{}");
    }

    #[test]
    fn fixed_data_from_stored_text_is_canonical_whatever_its_spacing_and_key_order() {
        let data = FixedData::from_json_str(r#"{ "b" : [1, 2.5],  "a": {"z": null} }"#).unwrap();
        assert_eq!(data.as_json(), r#"{"a":{"z":null},"b":[1,2.5]}"#);
        assert_eq!(FixedData::from_json_str("{}").unwrap(), FixedData::new());
        for bad in ["[]", "1", "", "{", r#"{"a": "\u0000"}"#] {
            assert!(FixedData::from_json_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_stored_row_that_breaks_a_rule_is_corrupt() {
        let row = StoredInvitation {
            id: uuid::Uuid::from_u128(1),
            name: "ok",
            expires: None,
            fixed_data: "{}",
            single_use: false,
            flow: None,
            created_by: 7,
            version: 3,
        };
        let invitation = Invitation::from_stored(row).unwrap();
        assert_eq!(
            (invitation.name().as_str(), invitation.version().get()),
            ("ok", 3)
        );
        let corrupt = |row| Invitation::from_stored(row).unwrap_err();
        assert_eq!(
            corrupt(StoredInvitation { name: " ok", ..row }),
            CorruptRow::Name(" ok".to_owned())
        );
        assert!(matches!(
            corrupt(StoredInvitation {
                fixed_data: "[]",
                ..row
            }),
            CorruptRow::FixedData(_)
        ));
        assert_eq!(
            corrupt(StoredInvitation { version: 0, ..row }),
            CorruptRow::Version(0)
        );
    }

    #[test]
    fn a_serde_json_private_key_is_refused_at_any_level() {
        // Not first when parsed, so kept as a key; first once sorted.
        let nested = r#"{"a": {"b": 1, "$serde_json::private::RawValue": {"c": 1}}}"#;
        assert_eq!(
            FixedData::from_json_str(nested),
            Err(FixedDataError::ReservedKey)
        );
        let mut inner = Map::new();
        inner.insert("$serde_json::private::Number".to_owned(), json!("1"));
        assert_eq!(
            FixedData::try_from(json!({ "l": [Value::Object(inner.clone())] })),
            Err(FixedDataError::ReservedKey)
        );
        assert_eq!(FixedData::try_from(inner), Err(FixedDataError::ReservedKey));
        // First as written too: every key is read as written.
        assert_eq!(
            FixedData::from_json_str(r#"{"a": {"$serde_json::private::RawValue": "[1]"}}"#),
            Err(FixedDataError::ReservedKey)
        );
        // Another key with a dollar sign is data like any other.
        let data = FixedData::try_from(json!({"a": {"$ref": 1, "b": 2}})).unwrap();
        assert_eq!(data.as_json(), r#"{"a":{"$ref":1,"b":2}}"#);
        let row = StoredInvitation {
            id: uuid::Uuid::from_u128(1),
            name: "ok",
            expires: None,
            fixed_data: r#"{"a": {"b": 1, "$serde_json::private::X": 2}}"#,
            single_use: false,
            flow: None,
            created_by: 7,
            version: 1,
        };
        assert!(matches!(
            Invitation::from_stored(row),
            Err(CorruptRow::FixedData(_))
        ));
    }

    #[test]
    fn only_an_object_is_fixed_data() {
        assert!(FixedData::try_from(json!([1])).is_err());
        assert!(FixedData::try_from(json!("{}")).is_err());
        assert!(FixedData::try_from(json!({})).is_ok());
    }
}

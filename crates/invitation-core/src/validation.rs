//! Validation of create, update and partial-update input (spec §1).
//!
//! Input is typed: a caller reading a wire format (the HTTP adapter reads
//! authentik's JSON) turns it into [`InvitationInput`] first, and marks a
//! field it could not read with [`InvitationInput::unreadable`], so that
//! the use case still reports it beside the others, after its permission
//! and existence checks.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ids::FlowId;
use crate::model::{FixedData, FixedDataError, InvitationName, NameError};

/// A field of an invitation's input, in the order errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// The name.
    Name,
    /// The expiry.
    Expires,
    /// The fixed data.
    FixedData,
    /// Single use.
    SingleUse,
    /// The flow binding.
    Flow,
}

impl Field {
    /// Every field, in order.
    pub const ALL: [Self; 5] = [
        Self::Name,
        Self::Expires,
        Self::FixedData,
        Self::SingleUse,
        Self::Flow,
    ];
}

/// What is wrong with one field. The `Display` text is authentik's message
/// for it (the HTTP adapter answers with these texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// A create or full update without this field.
    #[error("This field is required.")]
    Required,
    /// The name breaks a rule.
    #[error(transparent)]
    Name(NameError),
    /// The fixed data is not acceptable.
    #[error(transparent)]
    FixedData(FixedDataError),
    /// The expiry is outside the years 0001 to 9999 in UTC
    /// ([`EXPIRES_MIN`](crate::time::EXPIRES_MIN) to
    /// [`EXPIRES_MAX`](crate::time::EXPIRES_MAX)), which answers write and
    /// every store keeps (an offset can carry a written year past them).
    #[error("Datetime value out of range.")]
    ExpiresOutOfRange,
    /// No flow has this id.
    #[error("Invalid pk \"{0}\" - object does not exist.")]
    FlowNotFound(FlowId),
    /// The caller could not read the value it was given (see
    /// [`InvitationInput::unreadable`]); the caller words this itself.
    #[error("Invalid value.")]
    Unreadable,
}

/// Every field error of one request, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    errors: Vec<(Field, FieldError)>,
}

impl ValidationErrors {
    fn add(&mut self, field: Field, error: FieldError) {
        // After every error of this field or an earlier one: field order,
        // and each field's errors in the order found.
        let at = self.errors.partition_point(|(f, _)| *f <= field);
        self.errors.insert(at, (field, error));
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every error with its field, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &FieldError)> {
        self.errors.iter().map(|(f, e)| (*f, e))
    }

    /// One field's errors, in order.
    pub fn of(&self, field: Field) -> impl Iterator<Item = &FieldError> {
        self.iter()
            .filter(move |(f, _)| *f == field)
            .map(|(_, e)| e)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, error)) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field:?}: {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// One field of [`InvitationInput`]: left out, given, or given but
/// unreadable by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
enum Given<T> {
    #[default]
    Absent,
    Value(T),
    Unreadable,
}

/// Invitation input for create and update: a field never set is absent
/// (a create gives it its default, a partial update leaves it as stored).
///
/// ```
/// use invitation_core::InvitationInput;
/// #[derive(serde::Serialize)]
/// struct Forced<'a> {
///     email: &'a str,
/// }
/// let input = InvitationInput::new()
///     .name("welcome-bob")
///     .single_use(true)
///     .fixed_data_from(&Forced { email: "bob@example.org" })?;
/// # let _ = input;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvitationInput {
    name: Given<String>,
    expires: Given<Option<DateTime<Utc>>>,
    fixed_data: Given<Result<FixedData, FixedDataError>>,
    single_use: Given<bool>,
    flow: Given<Option<FlowId>>,
}

impl InvitationInput {
    /// No fields set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the name (checked by the use case: trimmed, 1 to 50
    /// characters, a slug).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Given::Value(name.into());
        self
    }

    /// Sets the expiry (`None` = never).
    #[must_use]
    pub fn expires(mut self, expires: Option<DateTime<Utc>>) -> Self {
        self.expires = Given::Value(expires);
        self
    }

    /// Sets the fixed data.
    #[must_use]
    pub fn fixed_data(mut self, data: FixedData) -> Self {
        self.fixed_data = Given::Value(Ok(data));
        self
    }

    /// Sets the fixed data from any `Serialize` value; the use case refuses
    /// it unless it serialises to a JSON object within the rules of
    /// [`FixedData`].
    ///
    /// # Errors
    /// When `data` cannot be serialised at all (a map with non-string
    /// keys).
    pub fn fixed_data_from<T: serde::Serialize + ?Sized>(
        self,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(self.fixed_data_value(serde_json::to_value(data)?))
    }

    /// Sets the fixed data from a JSON value; the use case refuses it
    /// unless it is an object within the rules of [`FixedData`].
    #[must_use]
    pub fn fixed_data_value(mut self, data: Value) -> Self {
        self.fixed_data = Given::Value(FixedData::try_from(data));
        self
    }

    /// Sets single use.
    #[must_use]
    pub fn single_use(mut self, single_use: bool) -> Self {
        self.single_use = Given::Value(single_use);
        self
    }

    /// Binds to a flow (`None` = any flow), which must exist.
    #[must_use]
    pub fn flow(mut self, flow: Option<FlowId>) -> Self {
        self.flow = Given::Value(flow);
        self
    }

    /// Marks `field` as given but unreadable: the caller (a wire adapter)
    /// could not turn what it received into a value. The use case refuses
    /// the input with [`FieldError::Unreadable`] on that field, beside the
    /// other fields' errors and after its permission and existence checks;
    /// the caller words that error as its wire format does.
    #[must_use]
    pub fn unreadable(mut self, field: Field) -> Self {
        match field {
            Field::Name => self.name = Given::Unreadable,
            Field::Expires => self.expires = Given::Unreadable,
            Field::FixedData => self.fixed_data = Given::Unreadable,
            Field::SingleUse => self.single_use = Given::Unreadable,
            Field::Flow => self.flow = Given::Unreadable,
        }
        self
    }
}

/// How absent fields are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Create or full update (PUT): `name` is required; other absent fields
    /// take defaults (create) or keep their stored values (update).
    Full,
    /// Partial update (PATCH): only the fields given are checked.
    Partial,
}

/// Input that passed every rule checked without the directories. `None` =
/// field absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Changes {
    pub(crate) name: Option<InvitationName>,
    pub(crate) expires: Option<Option<DateTime<Utc>>>,
    pub(crate) fixed_data: Option<FixedData>,
    pub(crate) single_use: Option<bool>,
    /// `Some(Some(_))` still needs an existence check.
    pub(crate) flow: Option<Option<FlowId>>,
}

/// Checks every field, collecting every error, and returns what passed
/// beside them, so that the use case adds the flow's existence check to
/// the same set. A flow is *not* looked up here.
pub(crate) fn validate(input: InvitationInput, mode: Mode) -> (Changes, ValidationErrors) {
    let mut errors = ValidationErrors::default();
    let mut changes = Changes::default();
    if mode == Mode::Full && input.name == Given::Absent {
        errors.add(Field::Name, FieldError::Required);
    }
    if let Some(text) = given(Field::Name, input.name, &mut errors) {
        match InvitationName::parse(&text) {
            Ok(name) => changes.name = Some(name),
            Err(refused) => refused
                .into_iter()
                .for_each(|e| errors.add(Field::Name, FieldError::Name(e))),
        }
    }
    changes.expires = match given(Field::Expires, input.expires, &mut errors) {
        Some(Some(at)) => {
            let at = crate::time::truncate_to_micros(at);
            if (crate::time::EXPIRES_MIN..=crate::time::EXPIRES_MAX).contains(&at) {
                Some(Some(at))
            } else {
                errors.add(Field::Expires, FieldError::ExpiresOutOfRange);
                None
            }
        }
        other => other,
    };
    match given(Field::FixedData, input.fixed_data, &mut errors) {
        Some(Ok(data)) => changes.fixed_data = Some(data),
        Some(Err(e)) => errors.add(Field::FixedData, FieldError::FixedData(e)),
        None => {}
    }
    changes.single_use = given(Field::SingleUse, input.single_use, &mut errors);
    changes.flow = given(Field::Flow, input.flow, &mut errors);
    (changes, errors)
}

/// A field's value if given; an unreadable one adds its error.
fn given<T>(field: Field, value: Given<T>, errors: &mut ValidationErrors) -> Option<T> {
    match value {
        Given::Absent => None,
        Given::Value(v) => Some(v),
        Given::Unreadable => {
            errors.add(field, FieldError::Unreadable);
            None
        }
    }
}

/// Adds the error of a flow that does not exist.
pub(crate) fn flow_not_found(errors: &mut ValidationErrors, flow: FlowId) {
    errors.add(Field::Flow, FieldError::FlowNotFound(flow));
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;

//! JSON text read into a [`serde_json::Value`] with every object key taken
//! as written.
//!
//! serde_json's own `Value` reader gives an object whose first key is its
//! private token `$serde_json::private::RawValue` a meaning of its own (with
//! the `raw_value` feature, which this workspace and sqlx enable): the
//! string it holds is parsed again as JSON text, by a parser with a depth
//! limit of its own. Such tokens nested in one another let a short text
//! build a value far deeper than the 128 levels the parser allows, deep
//! enough to overflow a thread's stack. [`from_str`] and [`from_slice`] read
//! that key as a key
//! like any other (fixed data refuses it), so a value is never deeper than
//! the parser's limit.
//!
//! `$serde_json::private::Number` is the one token kept: with serde_json's
//! `arbitrary_precision` feature (which a crate in a host's build may
//! enable), every number reaches a reader as a one-key object holding it,
//! and this reader makes it the number again, as serde_json does.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// serde_json's key for a number read under `arbitrary_precision`.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Whether this build's serde_json hands numbers over as [`NUMBER_TOKEN`]
/// objects (its `arbitrary_precision` feature, unified across the build).
static NUMBERS_AS_OBJECTS: LazyLock<bool> = LazyLock::new(|| {
    matches!(
        serde_json::from_str::<Value>(r#"{"$serde_json::private::Number":"1"}"#),
        Ok(Value::Number(_))
    )
});

/// `text` as a JSON value, every object key as written.
///
/// # Errors
/// When `text` is not one JSON value, or nests deeper than serde_json's
/// 128 levels.
pub fn from_str(text: &str) -> Result<Value, serde_json::Error> {
    read(serde_json::Deserializer::from_str(text))
}

/// `bytes` (UTF-8 JSON text) as a JSON value, every object key as written.
///
/// # Errors
/// As [`from_str`], and when `bytes` are not UTF-8.
pub fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    read(serde_json::Deserializer::from_slice(bytes))
}

fn read<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<Value, serde_json::Error> {
    let value = Literal.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Reads one value, object keys as written.
#[derive(Clone, Copy)]
struct Literal;

impl<'de> DeserializeSeed<'de> for Literal {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Literal {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // JSON text holds no NaN nor infinity; serde_json's reader makes
        // one `null` too.
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(Literal)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let mut first = true;
        while let Some(key) = map.next_key::<String>()? {
            if first && *NUMBERS_AS_OBJECTS && key == NUMBER_TOKEN {
                let digits: String = map.next_value()?;
                return Number::from_str(&digits)
                    .map(Value::Number)
                    .map_err(de::Error::custom);
            }
            first = false;
            let value = map.next_value_seed(Literal)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_value_as_serde_json_does() {
        // A number past f64 is refused by the parser, before any reader.
        assert!(from_str("[1e400]").is_err());
        assert!(serde_json::from_str::<Value>("[1e400]").is_err());
        let text = r#"{"b": [1, -2, 2.5, 18446744073709551615, "x\u00e9", null, true], "a": 3}"#;
        assert_eq!(
            from_str(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        for bad in ["", "{", "1 2", "[1,]", "{\"a\" 1}"] {
            assert!(from_str(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_raw_value_token_is_a_key_like_any_other() {
        let text = r#"{"a": {"$serde_json::private::RawValue": "[1]"}}"#;
        let value = from_str(text).unwrap();
        assert_eq!(
            value["a"]["$serde_json::private::RawValue"],
            Value::String("[1]".into())
        );
        // serde_json's own reader made it the array [1].
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap()["a"],
            serde_json::json!([1])
        );
    }

    #[test]
    fn tokens_nested_in_one_another_stay_within_the_depth_limit() {
        // Each token's string holds 100 more levels and the next token.
        let mut text = String::from("1");
        for _ in 0..4 {
            let inner = serde_json::to_string(&text).unwrap();
            text = format!(
                "{}{{\"$serde_json::private::RawValue\": {inner}}}{}",
                "[".repeat(100),
                "]".repeat(100)
            );
        }
        let value = from_str(&text).unwrap();
        let mut depth = 0;
        let mut at = &value;
        while let Some(next) = at.as_array().and_then(|items| items.first()) {
            at = next;
            depth += 1;
        }
        assert_eq!(depth, 100, "the first token's string is not parsed");
        assert!(at.get("$serde_json::private::RawValue").is_some());
    }

    #[test]
    fn past_the_depth_limit_is_an_error() {
        let text = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(from_str(&text).is_err());
    }
}

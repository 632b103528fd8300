//! Reading JSON text that serde_json has already checked, without building
//! it as a `Value`: the fast path of a request body's `fixed_data`.
//!
//! `fixed_data` is stored as the compact text serde_json writes for a
//! `Map` (keys sorted, no white space). For the usual object (keys already
//! in order, no escapes, no fractions) that text is the body's own text
//! without its white space, so it can be taken as it is; anything else goes
//! the general way (parse into a `Value`, check, write).
//!
//! [`plain_members`] goes one step further for the usual body as a whole:
//! an object whose members are strings without escapes, `true`, `false`,
//! `null` or objects, read in one pass over the bytes, without serde's
//! visitor machinery. It checks the syntax of what it accepts itself (and
//! has serde_json read and check each object), and gives up on anything
//! else, which the general path then reads and reports exactly.

/// The deepest nesting read here (the object itself is level 1); deeper
/// data takes the general path, which allows up to
/// [`FIXED_DATA_MAX_DEPTH`](crate::FIXED_DATA_MAX_DEPTH). Kept small: the
/// reader keeps a fixed array of this many levels.
const MAX_DEPTH: usize = 16;

/// What [`plain_object`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plain {
    /// The object has no members (`{}`).
    pub(crate) empty: bool,
    /// There is white space between tokens, to be dropped.
    pub(crate) spaced: bool,
}

/// Whether `text` (one valid JSON value, as serde_json's `RawValue` holds
/// it) is an object whose compact text is exactly what serde_json writes
/// for it once parsed into a `Map`: in every object the keys strictly
/// increase (so they are sorted and none repeats), no key or string holds
/// an escape or a control character, every number is an integer of at
/// most 18 digits (not `-0`), and nothing nests deeper than [`MAX_DEPTH`].
/// `None` when any of that does not hold, or the text is not an object:
/// the general path decides those.
pub(crate) fn plain_object(text: &str) -> Option<Plain> {
    let bytes = text.as_bytes();
    // For each open container: whether it is an object, and the last key
    // read in it.
    let mut open: [(bool, Option<&str>); MAX_DEPTH] = [(false, None); MAX_DEPTH];
    let mut depth = 0;
    let mut expect_key = false;
    let mut spaced = false;
    let mut empty = true;
    let mut done = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_space(b) {
            spaced = true;
            i += 1;
            continue;
        }
        // One object, and nothing after it.
        if depth == 0 && (done || b != b'{') {
            return None;
        }
        match b {
            b'{' | b'[' => {
                if depth == MAX_DEPTH {
                    return None;
                }
                open[depth] = (b == b'{', None);
                depth += 1;
                expect_key = b == b'{';
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    empty = open[0].1.is_none();
                    done = true;
                }
                expect_key = false;
                i += 1;
            }
            b',' => {
                expect_key = depth > 0 && open[depth - 1].0;
                i += 1;
            }
            b':' => {
                expect_key = false;
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let end = start + plain_string_len(bytes.get(start..)?)?;
                if expect_key {
                    let key = text.get(start..end)?;
                    let last = &mut open.get_mut(depth.checked_sub(1)?)?.1;
                    if last.is_some_and(|previous| key <= previous) {
                        return None;
                    }
                    *last = Some(key);
                    expect_key = false;
                }
                i = end + 1;
            }
            b't' | b'n' => i += 4,
            b'f' => i += 5,
            b'-' | b'0'..=b'9' => {
                if b == b'-' {
                    i += 1;
                    if bytes.get(i) == Some(&b'0') {
                        return None;
                    }
                }
                let digits = bytes
                    .get(i..)?
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                i += digits;
                if digits == 0 || digits > 18 || matches!(bytes.get(i), Some(b'.' | b'e' | b'E')) {
                    return None;
                }
            }
            _ => return None,
        }
    }
    done.then_some(Plain { empty, spaced })
}

/// A member's value as [`plain_members`] reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Member<'a> {
    /// A string without escapes (its text between the quotes).
    Text(&'a str),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An object, its whole text, checked by serde_json.
    Object(&'a serde_json::value::RawValue),
}

/// Reads `bytes` as one JSON object whose keys are strings without escapes
/// and whose values are what [`Member`] holds, white space allowed where
/// JSON allows it, calling `member` for each member in order (an object
/// value is read and checked by serde_json, escapes and all). `None` when
/// the bytes are anything else (another value, bad syntax, a number, an
/// array, an escape or a control character in a key or a string value,
/// invalid UTF-8, trailing text),
/// or when `member` returns `None`: the caller then reads the body the
/// general way. `Some` only for text serde_json accepts as one object.
pub(crate) fn plain_members<'a>(
    bytes: &'a [u8],
    mut member: impl FnMut(&'a [u8], Member<'a>) -> Option<()>,
) -> Option<()> {
    let mut at = Cursor { bytes, i: 0 };
    at.skip_space();
    at.expect(b'{')?;
    at.skip_space();
    if at.peek() == Some(b'}') {
        at.i += 1;
    } else {
        loop {
            at.expect(b'"')?;
            // Bytes, not text: a key is only compared with known ASCII keys.
            let key = at.string_bytes()?;
            at.skip_space();
            at.expect(b':')?;
            at.skip_space();
            let value = match at.peek()? {
                b'"' => {
                    at.i += 1;
                    Member::Text(at.string_rest()?)
                }
                b't' => at.literal(b"true", Member::Bool(true))?,
                b'f' => at.literal(b"false", Member::Bool(false))?,
                b'n' => at.literal(b"null", Member::Null)?,
                b'{' => Member::Object(at.object()?),
                _ => return None,
            };
            member(key, value)?;
            at.skip_space();
            match at.peek()? {
                b',' => {
                    at.i += 1;
                    at.skip_space();
                }
                b'}' => {
                    at.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    at.skip_space();
    (at.i == bytes.len()).then_some(())
}

/// A position in a body being read by [`plain_members`].
struct Cursor<'a> {
    bytes: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.i += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// The rest of a string whose opening quote was read: its bytes, when
    /// it has no escape and no control character (not yet checked UTF-8).
    fn string_bytes(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.i..)?;
        let len = plain_string_len(rest)?;
        self.i += len + 1;
        rest.get(..len)
    }

    /// [`Self::string_bytes`], as text: `None` unless UTF-8.
    fn string_rest(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.string_bytes()?).ok()
    }

    fn literal(&mut self, word: &[u8], value: Member<'a>) -> Option<Member<'a>> {
        let end = self.i.checked_add(word.len())?;
        (self.bytes.get(self.i..end)? == word).then(|| {
            self.i = end;
            value
        })
    }

    /// An object value, read and checked by serde_json (syntax, UTF-8,
    /// nesting) as the one value at this position; its text borrowed.
    fn object(&mut self) -> Option<&'a serde_json::value::RawValue> {
        let rest = self.bytes.get(self.i..)?;
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter();
        let raw: &serde_json::value::RawValue = values.next()?.ok()?;
        self.i += values.byte_offset();
        Some(raw)
    }
}

/// The length of a string's text up to its closing quote (`rest` starts
/// after the opening one), when it holds no escape and no control
/// character; `None` otherwise, or when it is not closed.
fn plain_string_len(rest: &[u8]) -> Option<usize> {
    let len = rest
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (rest.get(len) == Some(&b'"')).then_some(len)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `text` without the white space between its tokens. Only for text that
/// [`plain_object`] accepted: its strings hold no escapes, so every `"`
/// opens or closes one.
pub(crate) fn without_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    for c in text.chars() {
        if c == '"' {
            in_string = !in_string;
        }
        if in_string || !(c.is_ascii() && is_space(c as u8)) {
            out.push(c);
        }
    }
    out
}

/// How deeply `text` (valid JSON) nests: 0 for a scalar, 1 for `[]`, 2
/// for `[[]]`.
pub(crate) fn nesting_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Option<Plain> {
        plain_object(text)
    }

    #[test]
    fn sorted_flat_and_nested_objects_are_plain() {
        let p = plain(r#"{"a":1,"b":"x","c":{"d":[true,false,null,-5]}}"#);
        assert_eq!(
            p,
            Some(Plain {
                empty: false,
                spaced: false
            })
        );
        let p = plain("{ \"a\" : [ 1 , 2 ] ,\n\"b\":{}}");
        assert_eq!(
            p,
            Some(Plain {
                empty: false,
                spaced: true
            })
        );
        assert_eq!(
            plain("{}"),
            Some(Plain {
                empty: true,
                spaced: false
            })
        );
        assert_eq!(
            plain(" { } "),
            Some(Plain {
                empty: true,
                spaced: true
            })
        );
    }

    #[test]
    fn what_serde_json_would_write_differently_is_not_plain() {
        for text in [
            r#"{"b":1,"a":2}"#,             // unsorted
            r#"{"a":1,"a":2}"#,             // repeated
            r#"{"a\u0062":1}"#,             // escaped key
            r#"{"a":"\n"}"#,                // escaped string
            r#"{"a":1.0}"#,                 // fraction
            r#"{"a":1e3}"#,                 // exponent
            r#"{"a":-0}"#,                  // negative zero
            r#"{"a":1234567890123456789}"#, // 19 digits
            r#"[1]"#,
            r#""text""#,
            "5",
            r#"{"a":1} {}"#,
        ] {
            assert_eq!(plain(text), None, "{text}");
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_not_plain() {
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(plain(&deep(MAX_DEPTH - 1)).is_some());
        assert_eq!(plain(&deep(MAX_DEPTH)), None);
    }

    #[test]
    fn spaces_go_strings_keep_theirs() {
        assert_eq!(
            without_spaces("{ \"a b\" : [ 1 ,\t2 ] }"),
            r#"{"a b":[1,2]}"#
        );
    }

    /// The members `plain_members` read, as text, or `None`.
    fn members(body: &str) -> Option<Vec<String>> {
        let mut seen = Vec::new();
        plain_members(body.as_bytes(), |key, value| {
            let value = match value {
                Member::Text(t) => format!("text {t}"),
                Member::Bool(b) => format!("bool {b}"),
                Member::Null => "null".to_owned(),
                Member::Object(raw) => format!("object {}", raw.get()),
            };
            seen.push(format!("{}: {value}", String::from_utf8_lossy(key)));
            Some(())
        })?;
        Some(seen)
    }

    #[test]
    fn a_plain_body_is_read_member_by_member_white_space_and_all() {
        assert_eq!(
            members(" {\"name\" :\t\"welcome-é\",\n\"single_use\":true , \"flow\":null,\r\"fixed_data\":{\"a\":[1,\"]}\"],\"b\":{}}} "),
            Some(vec![
                "name: text welcome-é".to_owned(),
                "single_use: bool true".to_owned(),
                "flow: null".to_owned(),
                r#"fixed_data: object {"a":[1,"]}"],"b":{}}"#.to_owned(),
            ])
        );
        assert_eq!(
            members(r#"{"a":{"b":"\"\u00e9"}}"#),
            Some(vec![r#"a: object {"b":"\"\u00e9"}"#.to_owned()])
        );
        assert_eq!(members("{}"), Some(vec![]));
        assert_eq!(members(" { } "), Some(vec![]));
        assert_eq!(
            members(r#"{"a":"x","a":false}"#),
            Some(vec!["a: text x".to_owned(), "a: bool false".to_owned()])
        );
    }

    #[test]
    fn anything_else_is_left_to_the_general_path() {
        for body in [
            "",
            "[]",
            r#""text""#,
            "{",
            r#"{"a":"x",}"#,         // trailing comma
            r#"{,"a":"x"}"#,         // leading comma
            r#"{"a" "x"}"#,          // no colon
            r#"{"a":"x" "b":"y"}"#,  // no comma
            r#"{"a":1}"#,            // a number
            r#"{"a":[true]}"#,       // an array
            r#"{"a":"\n"}"#,         // an escape
            r#"{"\u0061":"x"}"#,     // an escaped key
            "{\"a\":\"tab\there\"}", // a control character
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":nul}"#,
            r#"{"a":"x"} {}"#, // trailing text
            r#"{"a":"x"}x"#,
            r#"{"a":{"b":1]}"#,    // a broken object
            r#"{"a":{"b":1}"#,     // unclosed
            "{\"a\":\"x\"}\u{a0}", // not JSON white space
        ] {
            assert_eq!(members(body), None, "{body}");
        }
        // Invalid UTF-8 in a string.
        assert!(plain_members(b"{\"a\":\"\xff\"}", |_, _| Some(())).is_none());
        // A member the caller refuses stops the reading.
        assert!(plain_members(br#"{"a":"x"}"#, |_, _| None).is_none());
    }

    #[test]
    fn depth_counts_containers_not_brackets_in_strings() {
        assert_eq!(nesting_depth("1"), 0);
        assert_eq!(nesting_depth(r#"{"a":[{}]}"#), 3);
        assert_eq!(nesting_depth(r#"{"[[[":"\"[[["}"#), 1);
    }
}

//! Reading the usual request body's JSON straight from its text (UTF-8
//! checked once, then the syntax in one pass), without building it as a
//! `Value`: the fast path of a create.
//!
//! `fixed_data` is stored as the compact text serde_json writes for a
//! `Map` (keys sorted, no white space). For the usual object (keys already
//! in order, no escapes, no fractions) that text is the body's own text
//! without its white space, so it can be taken as it is; anything else goes
//! the general way (parse into a `Value`, check, write).
//!
//! [`plain_members`] reads the usual body as a whole: an object whose
//! members are strings without escapes, `true`, `false`, `null` or such
//! objects, without serde's visitor machinery. It checks the syntax of what
//! it accepts itself, strictly, and gives up on anything else, which the
//! general path then reads and reports exactly. Property tests hold it to
//! serde_json: what it takes, serde_json reads to the same values.

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

/// Reads one JSON object at the start of `bytes` (its `{` first) and, when
/// its compact text is exactly what serde_json writes for it once parsed
/// into a `Map`, gives its text (up to its `}`) and what it is like. That
/// holds when: in every object the keys strictly increase (so they are
/// sorted and none repeats), no key or string holds an escape or a control
/// character, every number is an integer of at most 18 digits (not `-0`),
/// and nothing nests deeper than [`MAX_DEPTH`]. The syntax is checked here,
/// strictly (no trailing commas, no leading zeros, literals spelled out),
/// and so is UTF-8. `None` for anything else (including text that is not
/// JSON at all): the general path then reads it with serde_json, which
/// decides and words the error.
pub(crate) fn plain_object(bytes: &[u8]) -> Option<(&str, Plain)> {
    let (len, plain) = plain_object_len(bytes)?;
    Some((std::str::from_utf8(bytes.get(..len)?).ok()?, plain))
}

/// [`plain_object`] without the UTF-8 check: the length of the object's
/// text, for a caller that has checked the UTF-8 of all of `bytes`.
fn plain_object_len(bytes: &[u8]) -> Option<(usize, Plain)> {
    /// What may come next.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Next {
        /// A key, or `}` (just after `{`).
        KeyOrEnd,
        /// A key (after a `,` in an object).
        Key,
        /// The `:` after a key.
        Colon,
        /// A value, or `]` (just after `[`).
        ValueOrEnd,
        /// A value (after `:`, or a `,` in an array).
        Value,
        /// A `,` or the end of the container.
        CommaOrEnd,
    }
    if bytes.first() != Some(&b'{') {
        return None;
    }
    // For each open container: whether it is an object, and the last key
    // read in it.
    let mut open: [(bool, Option<&[u8]>); MAX_DEPTH] = [(false, None); MAX_DEPTH];
    open[0].0 = true;
    let mut depth = 1;
    let mut next = Next::KeyOrEnd;
    let mut spaced = false;
    let mut i = 1;
    loop {
        let b = *bytes.get(i)?;
        if is_space(b) {
            spaced = true;
            i += 1;
            continue;
        }
        let top = depth - 1;
        let in_object = open.get(top)?.0;
        match (next, b) {
            (Next::KeyOrEnd | Next::Key, b'"') => {
                let start = i + 1;
                let len = plain_string_len(bytes.get(start..)?)?;
                let key = bytes.get(start..start + len)?;
                let last = &mut open.get_mut(top)?.1;
                if last.is_some_and(|previous| key <= previous) {
                    return None;
                }
                *last = Some(key);
                i = start + len + 1;
                next = Next::Colon;
            }
            (Next::Colon, b':') => {
                i += 1;
                next = Next::Value;
            }
            (Next::CommaOrEnd, b',') => {
                i += 1;
                next = if in_object { Next::Key } else { Next::Value };
            }
            (Next::KeyOrEnd | Next::CommaOrEnd, b'}')
            | (Next::ValueOrEnd | Next::CommaOrEnd, b']')
                if in_object == (b == b'}') =>
            {
                i += 1;
                depth -= 1;
                if depth == 0 {
                    let empty = open[0].1.is_none();
                    return Some((i, Plain { empty, spaced }));
                }
                next = Next::CommaOrEnd;
            }
            (Next::Value | Next::ValueOrEnd, b'{' | b'[') => {
                if depth == MAX_DEPTH {
                    return None;
                }
                *open.get_mut(depth)? = (b == b'{', None);
                depth += 1;
                i += 1;
                next = if b == b'{' {
                    Next::KeyOrEnd
                } else {
                    Next::ValueOrEnd
                };
            }
            (Next::Value | Next::ValueOrEnd, _) => {
                i += plain_scalar_len(bytes.get(i..)?)?;
                next = Next::CommaOrEnd;
            }
            _ => return None,
        }
    }
}

/// The length of the scalar at the start of `rest` when it is one
/// [`plain_object`] takes as it is: a string without escapes or control
/// characters, `true`,
/// `false`, `null`, or an integer of 1 to 18 digits without a leading zero
/// and not `-0`.
fn plain_scalar_len(rest: &[u8]) -> Option<usize> {
    match *rest.first()? {
        b'"' => {
            let len = plain_string_len(rest.get(1..)?)?;
            Some(len + 2)
        }
        b't' => rest.starts_with(b"true").then_some(4),
        b'f' => rest.starts_with(b"false").then_some(5),
        b'n' => rest.starts_with(b"null").then_some(4),
        b => {
            let sign = usize::from(b == b'-');
            let digits = rest
                .get(sign..)?
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let leading_zero = rest.get(sign) == Some(&b'0') && (digits > 1 || sign == 1);
            let end = sign + digits;
            let fraction = matches!(rest.get(end), Some(b'.' | b'e' | b'E'));
            (digits > 0 && digits <= 18 && !leading_zero && !fraction).then_some(end)
        }
    }
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
    /// An object that [`plain_object`] takes as it is: its whole text.
    Object(&'a str, Plain),
}

/// Reads `bytes` as one JSON object whose keys are strings without escapes
/// and whose values are what [`Member`] holds, white space allowed where
/// JSON allows it, calling `member` for each member in order (an object
/// value only when [`plain_object`] takes it). `None` when the bytes are
/// anything else (another value, bad syntax, a number, an array, an
/// escape or a control character in a key or a string value, an object
/// value `plain_object` does not take, invalid UTF-8 anywhere, trailing
/// text),
/// or when `member` returns `None`: the caller then reads the body the
/// general way. `Some` only for text serde_json accepts as one object.
pub(crate) fn plain_members<'a>(
    bytes: &'a [u8],
    mut member: impl FnMut(&'a [u8], Member<'a>) -> Option<()>,
) -> Option<()> {
    // UTF-8 checked once for the whole body; the strings and the object
    // taken from it are then slices of checked text.
    let text = std::str::from_utf8(bytes).ok()?;
    let mut at = Cursor { text, i: 0 };
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
                b'{' => at.object()?,
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
    /// The whole body, checked UTF-8.
    text: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.i).copied()
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
    /// it has no escape and no control character.
    fn string_bytes(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        let len = plain_string_len(self.bytes().get(start..)?)?;
        self.i += len + 1;
        self.bytes().get(start..start + len)
    }

    /// [`Self::string_bytes`], as text (a slice of the checked body: both
    /// ends are at a `"`, so on character boundaries).
    fn string_rest(&mut self) -> Option<&'a str> {
        let start = self.i;
        let len = self.string_bytes()?.len();
        self.text.get(start..start + len)
    }

    fn literal(&mut self, word: &[u8], value: Member<'a>) -> Option<Member<'a>> {
        let end = self.i.checked_add(word.len())?;
        (self.bytes().get(self.i..end)? == word).then(|| {
            self.i = end;
            value
        })
    }

    /// An object value that [`plain_object`] takes as it is.
    fn object(&mut self) -> Option<Member<'a>> {
        let start = self.i;
        let (len, plain) = plain_object_len(self.bytes().get(start..)?)?;
        self.i += len;
        Some(Member::Object(self.text.get(start..start + len)?, plain))
    }
}

/// The length of a string's text up to its closing quote (`rest` starts
/// after the opening one), when it holds no escape and no control
/// character; `None` otherwise, or when it is not closed.
fn plain_string_len(rest: &[u8]) -> Option<usize> {
    // Eight bytes at a time, then the table for the last few.
    let mut chunks = rest.chunks_exact(8);
    let mut len = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let ends = ends_plain_text(word);
        if ends != 0 {
            len += (ends.trailing_zeros() / 8) as usize;
            return (rest.get(len) == Some(&b'"')).then_some(len);
        }
        len += 8;
    }
    len += chunks
        .remainder()
        .iter()
        .position(|&c| ENDS_PLAIN_TEXT[usize::from(c)])?;
    (rest.get(len) == Some(&b'"')).then_some(len)
}

/// The high bit of the first byte of `word` (little-endian: the lowest)
/// that is in [`ENDS_PLAIN_TEXT`] is set; no lower bit is. Zero when no
/// byte is.
///
/// `x - 0x01…01 & !x & 0x80…80` marks the bytes of `x` that are zero and
/// `x - 0x20…20 & !x & 0x80…80` those below `0x20`; a byte can be marked
/// wrongly only above a rightly marked one (a borrow carries upwards), so
/// the lowest mark is exact.
fn ends_plain_text(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_quote = quote.wrapping_sub(ONES) & !quote;
    let zero_backslash = backslash.wrapping_sub(ONES) & !backslash;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (zero_quote | zero_backslash | control) & HIGHS
}

/// The bytes that end a plain string's text: `"`, `\` and the control
/// characters. A table: one load per byte instead of three comparisons.
static ENDS_PLAIN_TEXT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

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

    /// What `plain_object` says of `text` when it takes all of it.
    fn plain(text: &str) -> Option<Plain> {
        match plain_object(text.as_bytes())? {
            (object, plain) if object.len() == text.len() => Some(plain),
            _ => None,
        }
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
            plain("{ }"),
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
            " {}",
            // Not JSON at all: the reader checks the syntax itself.
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{,"a":1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":[}"#,
            r#"{"a":{]}"#,
            r#"{"a":01}"#,
            r#"{"a":-01}"#,
            r#"{"a":-}"#,
            r#"{"a":+1}"#,
            r#"{"a":1.}"#,
            r#"{"a":tru}"#,
            r#"{"a":nulll}"#,
            r#"{"a":falsy}"#,
            r#"{"a":"x}"#,
            "{\"a\":\"tab\there\"}",
            r#"{1:2}"#,
            "{\"a\":1}\u{a0}",
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
                Member::Object(text, _) => format!("object {text}"),
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
            r#"{"a":{"b":1]}"#,        // a broken object
            r#"{"a":{"b":1}"#,         // unclosed
            r#"{"a":{"b":"\u00e9"}}"#, // an escape in an object
            "{\"a\":\"x\"}\u{a0}",     // not JSON white space
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

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        /// Arrays and objects of `leaf` values, nested up to `depth`, with
        /// up to `width - 1` items each and keys matching `keys`.
        fn json_of(
            leaf: impl Strategy<Value = Value> + 'static,
            keys: &'static str,
            depth: u32,
            width: usize,
        ) -> impl Strategy<Value = Value> {
            leaf.prop_recursive(depth, 6 * depth, depth, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..width).prop_map(Value::Array),
                    prop::collection::vec((keys, inner), 0..width)
                        .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
                ]
            })
        }

        /// JSON values of every kind, strings with escapes and non-ASCII
        /// text among them.
        fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                (-1000i64..1000).prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "[a-c\"\\\n é]{0,4}".prop_map(Value::String),
            ];
            json_of(leaf, "[a-c\"é]{0,2}", 4, 4)
        }

        /// `text` as written with white space around its tokens.
        fn spaced(text: &str) -> String {
            let mut out = String::new();
            let mut in_string = false;
            let mut escaped = false;
            for c in text.chars() {
                out.push(c);
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        in_string = false;
                    }
                } else if c == '"' {
                    in_string = true;
                } else if matches!(c, ',' | ':' | '[' | '{') {
                    out.push_str(" \n");
                }
            }
            out
        }

        proptest! {
            /// Whatever the reader takes, serde_json reads as an object and
            /// writes back as the text without its white space; and the
            /// text serde_json writes for an object of plain values (no
            /// escapes, no fractions, short integers) is always taken.
            #[test]
            fn what_the_reader_takes_is_what_serde_json_writes(
                object in prop::collection::vec(("[a-d]{0,2}", any_json()), 0..5),
                cut in any::<prop::sample::Index>(),
                at in any::<prop::sample::Index>(),
                byte in prop::sample::select(b"{}[]:,\"\\ 0-.e1tnfx".to_vec()),
            ) {
                let map: Map<String, Value> = object.into_iter().collect();
                let compact = serde_json::to_string(&map).unwrap();
                let loose = spaced(&compact);
                let cut_text = &compact.as_bytes()[..cut.index(compact.len())];
                let mut changed = compact.clone().into_bytes();
                changed.insert(at.index(changed.len() + 1), byte);
                for bytes in [compact.as_bytes(), loose.as_bytes(), cut_text, &changed[..]] {
                    let Some((text, plain)) = plain_object(bytes) else { continue };
                    let parsed: Map<String, Value> = serde_json::from_str(text)
                        .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                    let written = serde_json::to_string(&parsed).unwrap();
                    prop_assert_eq!(&written, &without_spaces(text), "{}", text);
                    prop_assert_eq!(plain.empty, parsed.is_empty());
                    prop_assert_eq!(plain.spaced, text != written);
                }
                let plain_values = !compact.contains('\\')
                    && !compact.contains(['.', 'e', 'E'])
                    && compact
                        .split(|c: char| !c.is_ascii_digit())
                        .all(|digits| digits.len() <= 18)
                    && nesting_depth(&compact) < MAX_DEPTH;
                if plain_values {
                    prop_assert!(plain_object(compact.as_bytes()).is_some(), "{}", compact);
                    prop_assert!(plain_object(loose.as_bytes()).is_some(), "{}", loose);
                }
            }
        }

        /// JSON tokens, well and badly formed, for texts that are mostly
        /// not JSON.
        #[rustfmt::skip]
        const TOKENS: [&str; 22] = [
            "{", "}", "[", "]", ":", ",", "\"a\"", "\"b\"", "\"é\"", "\"\\n\"", "\"\t\"", "\"\u{0}\"",
            "1", "-7", "01", "-0", "-", "2.5", "true", "nul", " ", "null",
        ];

        /// Plain JSON values: what the reader takes when well formed.
        fn plain_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                (-20i64..20).prop_map(Value::from),
                "[ab é]{0,2}".prop_map(Value::String),
            ];
            json_of(leaf, "[a-c]", 3, 3)
        }

        /// The tokens of compact JSON text without escapes.
        fn tokens(text: &str) -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            let mut in_string = false;
            for c in text.chars() {
                let glued = in_string
                    || (c.is_ascii_alphanumeric()
                        && out.last().is_some_and(|t| {
                            t.chars().all(|d| d.is_ascii_alphanumeric() || d == '-')
                        }));
                if c == '"' {
                    in_string = !in_string;
                }
                match out.last_mut() {
                    Some(last) if glued || (c == '"' && !in_string) => last.push(c),
                    _ => out.push(c.to_string()),
                }
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Any bytes at all after a `{`, valid UTF-8 or not: no panic,
            /// and whatever is taken is what serde_json reads.
            #[test]
            fn arbitrary_bytes_are_taken_only_as_serde_json_reads_them(
                tail in prop::collection::vec(prop::sample::select(b"{}[]:,\" \\ab1-0tnu\xc3\xa9\xff\x00".to_vec()), 0..24),
            ) {
                let mut bytes = vec![b'{'];
                bytes.extend(tail);
                if let Some((object, _)) = plain_object(&bytes) {
                    let parsed: Map<String, Value> = serde_json::from_str(object)
                        .map_err(|e| TestCaseError::fail(format!("{object}: {e}")))?;
                    prop_assert_eq!(serde_json::to_string(&parsed).unwrap(), without_spaces(object));
                }
                let _ = plain_members(&bytes, |_, _| Some(()));
            }

            /// The word-at-a-time scan finds what the table finds, byte by
            /// byte, wherever in a word the first ending byte falls.
            #[test]
            fn the_string_scan_agrees_with_the_table(
                text in prop::collection::vec(
                    prop_oneof![
                        4 => 0x20u8..0x7f,
                        1 => prop::sample::select(b"\"\\\x00\x1f\x20\x7f\x80\xa0\xff\x21\x5b\x5d".to_vec()),
                        1 => any::<u8>(),
                    ],
                    0..40,
                ),
            ) {
                let by_table = text
                    .iter()
                    .position(|&c| ENDS_PLAIN_TEXT[usize::from(c)])
                    .filter(|&len| text[len] == b'"');
                prop_assert_eq!(plain_string_len(&text), by_table);
            }

            /// A plain object with one token changed (dropped, repeated,
            /// replaced or joined by another, well or badly formed):
            /// whatever the reader takes is an object serde_json reads and
            /// writes back as the reader's text without its white space.
            #[test]
            fn the_reader_takes_nothing_serde_json_would_refuse_or_rewrite(
                object in prop::collection::vec(("[a-c]", plain_json()), 1..4),
                at in any::<prop::sample::Index>(),
                how in 0..4u8,
                token in prop::sample::select(TOKENS.to_vec()),
            ) {
                let map: Map<String, Value> = object.into_iter().collect();
                let mut list = tokens(&serde_json::to_string(&map).unwrap());
                let i = at.index(list.len());
                match how {
                    0 => { list.remove(i); }
                    1 => { let t = list[i].clone(); list.insert(i, t); }
                    2 => list[i] = token.to_owned(),
                    _ => list.insert(i, token.to_owned()),
                }
                let text = list.concat();
                if let Some((object, _)) = plain_object(text.as_bytes()) {
                    let parsed: Map<String, Value> = serde_json::from_str(object)
                        .map_err(|e| TestCaseError::fail(format!("{object}: {e}")))?;
                    prop_assert_eq!(serde_json::to_string(&parsed).unwrap(), without_spaces(object));
                }
            }
        }
    }
}

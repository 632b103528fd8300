//! Writes the JSON of [`dto`](crate::dto)'s `InvitationJson` and
//! `PageJson` straight into bytes.
//!
//! The structs in `dto` define the wire form: they derive the OpenAPI
//! schema, and their `Serialize` output is what this module must write. It
//! writes it without going through serde's serializer for the fixed parts:
//! keys are literals, ids and timestamps are written from their parts, and a
//! string is copied as it is when it needs no escaping. That costs a third
//! of the instructions serde_json spends on the same struct (it escapes
//! every key, every time), which shows in create throughput
//! (docs/performance.md). Nested values of arbitrary shape (user
//! `attributes`, a flow) still go through serde_json. The tests check the
//! bytes are serde_json's, byte for byte.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use invitation_core::{InvitationView, ListPage, UserSummary};
use uuid::Uuid;

use crate::dto::{FlowJson, PaginationJson};

/// One invitation, as `serde_json::to_vec(&InvitationJson::new(view))`
/// writes it.
pub(crate) fn invitation(out: &mut Vec<u8>, view: &InvitationView) -> serde_json::Result<()> {
    let invitation = &view.invitation;
    out.extend_from_slice(br#"{"pk":"#);
    uuid(out, invitation.id().as_uuid());
    out.extend_from_slice(br#","name":"#);
    string(out, invitation.name().as_str());
    out.extend_from_slice(br#","expires":"#);
    match invitation.expires() {
        Some(at) => timestamp(out, &at),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","fixed_data":"#);
    out.extend_from_slice(invitation.fixed_data().as_json().as_bytes());
    out.extend_from_slice(br#","created_by":"#);
    creator(out, &view.created_by)?;
    out.extend_from_slice(br#","single_use":"#);
    boolean(out, invitation.single_use());
    out.extend_from_slice(br#","flow":"#);
    match invitation.flow() {
        Some(flow) => uuid(out, flow.as_uuid()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","flow_obj":"#);
    match view.flow.as_deref() {
        Some(flow) => serde_json::to_writer(&mut *out, &FlowJson::new(flow))?,
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Ok(())
}

/// A page, as `serde_json::to_vec(&PageJson::new(page))` writes it.
pub(crate) fn page(out: &mut Vec<u8>, page: &ListPage) -> serde_json::Result<()> {
    out.extend_from_slice(&page_head(PaginationJson::of(page))?);
    for (i, view) in page.results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        invitation(out, view)?;
    }
    out.extend_from_slice(PAGE_TAIL);
    Ok(())
}

/// A page's text up to its first invitation.
pub(crate) fn page_head(pagination: PaginationJson) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(192);
    out.extend_from_slice(br#"{"pagination":"#);
    serde_json::to_writer(&mut out, &pagination)?;
    out.extend_from_slice(br#","results":["#);
    Ok(out)
}

/// A page's text after its last invitation.
pub(crate) const PAGE_TAIL: &[u8] = br#"],"autocomplete":{}}"#;

thread_local! {
    /// The creator this thread rendered last, with its bytes. Creators
    /// repeat (one account's invitations, a page of them), and a summary
    /// behind an `Arc` cannot change: while this thread holds that `Arc`,
    /// no other summary can have its address, so an `Arc` at the same
    /// address is the same summary and its bytes are these.
    static LAST_CREATOR: RefCell<Option<(Arc<UserSummary>, Vec<u8>)>> = const { RefCell::new(None) };
}

/// `created_by`, reusing the bytes of the creator rendered last on this
/// thread when it is the same summary.
fn creator(out: &mut Vec<u8>, summary: &Arc<UserSummary>) -> serde_json::Result<()> {
    LAST_CREATOR.with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return user(out, summary);
        };
        if let Some((cached, bytes)) = last.as_ref() {
            if Arc::ptr_eq(cached, summary) {
                out.extend_from_slice(bytes);
                return Ok(());
            }
        }
        let start = out.len();
        user(out, summary)?;
        let bytes = out.get(start..).unwrap_or_default().to_vec();
        *last = Some((Arc::clone(summary), bytes));
        Ok(())
    })
}

/// `created_by` (`PartialUserJson`).
fn user(out: &mut Vec<u8>, user: &UserSummary) -> serde_json::Result<()> {
    out.extend_from_slice(br#"{"pk":"#);
    out.extend_from_slice(itoa::Buffer::new().format(user.pk.get()).as_bytes());
    out.extend_from_slice(br#","username":"#);
    string(out, &user.username);
    out.extend_from_slice(br#","name":"#);
    string(out, &user.name);
    out.extend_from_slice(br#","is_active":"#);
    boolean(out, user.is_active);
    out.extend_from_slice(br#","last_login":"#);
    match &user.last_login {
        Some(at) => timestamp(out, at),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","email":"#);
    string(out, &user.email);
    out.extend_from_slice(br#","attributes":"#);
    if user.attributes.is_empty() {
        out.extend_from_slice(b"{}");
    } else {
        serde_json::to_writer(&mut *out, &user.attributes)?;
    }
    out.extend_from_slice(br#","uid":"#);
    string(out, &user.uid);
    out.push(b'}');
    Ok(())
}

fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// `"…"`, lowercase and dashed.
fn uuid(out: &mut Vec<u8>, id: &Uuid) {
    let mut buffer = Uuid::encode_buffer();
    out.push(b'"');
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buffer).as_bytes());
    out.push(b'"');
}

/// A JSON string, escaped exactly as serde_json escapes it (`"`, `\` and
/// control characters below U+0020; nothing else).
fn string(out: &mut Vec<u8>, text: &str) {
    // No early exit: the whole scan vectorises, and these strings are short.
    let escapes = text.bytes().fold(false, |found, b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escapes {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

/// `"2026-11-28T08:14:25.000042Z"`: the wire form of a timestamp, quoted.
fn timestamp(out: &mut Vec<u8>, at: &DateTime<Utc>) {
    out.push(b'"');
    out.extend_from_slice(invitation_core::time::format_timestamp(at).as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone as _;
    use invitation_core::{
        FixedData, FlowDesignation, FlowId, FlowSummary, Invitation, InvitationId, InvitationName,
        InvitationParts, UserId,
    };
    use serde_json::{json, Map, Value};

    use super::*;
    use crate::dto::{InvitationJson, PageJson};

    const AWKWARD: &[&str] = &[
        "",
        "plain",
        "quote \" and backslash \\",
        "tab\tnewline\ncr\r nul\u{0} bell\u{7} del\u{7f}",
        "ünïcödé ✓ 😀 \u{2028}",
        "</script>",
    ];

    fn user(i: usize) -> UserSummary {
        let text = AWKWARD[i % AWKWARD.len()];
        let mut attributes = Map::new();
        if i % 2 == 1 {
            attributes.insert(text.to_owned(), json!({"nested": [1, 2.5, null, text]}));
            attributes.insert("team".to_owned(), json!("qa"));
        }
        let mut user = UserSummary::new(
            UserId::new(i64::try_from(i).unwrap() * 7919 - 3),
            format!("user{i}{text}"),
        );
        user.name = text.to_owned();
        user.is_active = !i.is_multiple_of(3);
        user.last_login = i.is_multiple_of(2).then(|| {
            Utc.timestamp_opt(1_700_000_000 + i64::try_from(i).unwrap(), 0)
                .unwrap()
        });
        user.email = format!("{text}@example.org");
        user.attributes = attributes;
        user.uid = "a".repeat(i);
        user
    }

    fn flow(i: usize) -> FlowSummary {
        let mut flow = FlowSummary::new(
            FlowId::from_uuid(Uuid::from_u128(u128::try_from(i).unwrap() + 99)),
            format!("slug-{i}"),
            AWKWARD[i % AWKWARD.len()],
            "Title",
            FlowDesignation::Enrollment,
        );
        flow.background = ["", "https://x/y.png", "flows/bg.png"][i % 3].to_owned();
        flow
    }

    fn view(i: usize) -> InvitationView {
        let expires = match i % 4 {
            0 => None,
            1 => Some(Utc.timestamp_opt(1_800_000_000, 0).unwrap()),
            2 => Some(Utc.timestamp_opt(1_800_000_000, 42_000).unwrap()),
            _ => Some(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()),
        };
        let mut data = Map::new();
        if i.is_multiple_of(2) {
            data.insert("email".to_owned(), json!(AWKWARD[i % AWKWARD.len()]));
            data.insert("deep".to_owned(), json!({"a": [[1], {"b": null}]}));
        }
        let bound = (!i.is_multiple_of(3)).then(|| flow(i));
        let invitation = Invitation::from_parts(InvitationParts {
            id: InvitationId::from_uuid(Uuid::from_u128(u128::try_from(i).unwrap() * 0x1234_5678)),
            name: InvitationName::parse(&format!("name-{i}")).unwrap(),
            expires,
            fixed_data: FixedData::try_from(data).unwrap(),
            created_by: UserId::new(1),
            single_use: i.is_multiple_of(2),
            flow: bound.as_ref().map(|f| f.pk),
            version: invitation_core::Version::FIRST,
        });
        InvitationView {
            invitation,
            created_by: Arc::new(user(i)),
            flow: bound.map(Arc::new),
        }
    }

    #[test]
    fn an_invitation_is_written_byte_for_byte_as_serde_json_writes_it() {
        for i in 0..48 {
            let view = view(i);
            let mut ours = Vec::new();
            invitation(&mut ours, &view).unwrap();
            let reference = serde_json::to_vec(&InvitationJson::new(&view)).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(reference).unwrap(),
                "case {i}"
            );
        }
    }

    #[test]
    fn a_creator_rendered_again_is_the_same_bytes_and_another_never_takes_its_bytes() {
        let reference =
            |view: &InvitationView| serde_json::to_vec(&InvitationJson::new(view)).unwrap();
        let render = |view: &InvitationView| {
            let mut out = Vec::new();
            invitation(&mut out, view).unwrap();
            out
        };
        let shared = Arc::new(user(5));
        let mut first = view(2);
        first.created_by = Arc::clone(&shared);
        let mut again = view(4);
        again.created_by = Arc::clone(&shared);
        // Same summary twice (the second from the cache), then summaries
        // that are new allocations: one equal in content, one not, each
        // made after the previous one was dropped.
        assert_eq!(render(&first), reference(&first));
        assert_eq!(render(&again), reference(&again));
        for i in [5, 6, 7, 5] {
            let mut other = view(3);
            other.created_by = Arc::new(user(i));
            assert_eq!(render(&other), reference(&other), "user {i}");
        }
        assert_eq!(render(&first), reference(&first));
    }

    #[test]
    fn a_page_is_written_byte_for_byte_as_serde_json_writes_it() {
        for n in [0, 1, 7] {
            let listed = ListPage {
                page: 1,
                page_size: 20,
                total: n,
                results: (0..n).map(|i| view(usize::try_from(i).unwrap())).collect(),
            };
            let mut ours = Vec::new();
            page(&mut ours, &listed).unwrap();
            let reference = serde_json::to_vec(&PageJson::new(&listed)).unwrap();
            assert_eq!(ours, reference);
            let parsed: Value = serde_json::from_slice(&ours).unwrap();
            assert_eq!(parsed["results"].as_array().map(Vec::len), Some(n as usize));
        }
    }

    #[test]
    fn timestamps_match_the_reference_formatter() {
        for (secs, nanos) in [
            (0, 0),
            (1, 1_000),
            (951_782_400, 999_999_000),
            (253_402_300_799, 0),
        ] {
            let at = Utc.timestamp_opt(secs, nanos).unwrap();
            let mut ours = Vec::new();
            timestamp(&mut ours, &at);
            let reference = format!("\"{}\"", invitation_core::time::format_timestamp(&at));
            assert_eq!(String::from_utf8(ours).unwrap(), reference);
        }
    }
}

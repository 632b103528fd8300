//! The storage conformance suite: one `pub async fn` per clause of the
//! [`InvitationStore`] contract.
//!
//! Every behaviour makes its own random data (ids, names, users, flows, and
//! expiry years it alone uses), so behaviours can share one database and run
//! in parallel. Run them all with [`crate::store_conformance_tests!`].

use std::collections::HashSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use invitation_core::{
    DeleteOutcome, Filters, FixedData, FlowId, Invitation, InvitationId, InvitationName,
    InvitationParts, InvitationPatch, InvitationStore, ListQuery, Ordering, RedeemOutcome,
    SearchTerm, SortField, StoreError, StoredPage, UpdateOutcome, UserId, Version,
};
use serde_json::json;
use uuid::Uuid;

/// How many racers the concurrency behaviours start.
pub const RACERS: usize = 64;

/// Random data for one behaviour.
#[derive(Debug)]
pub struct Fixture {
    /// A token unique to this behaviour, usable inside names (`[a-z0-9]`).
    pub tag: String,
    /// A user id no other behaviour uses.
    pub user: UserId,
}

impl Fixture {
    /// Fresh random data.
    pub fn new() -> Self {
        let uuid = Uuid::new_v4();
        let (hi, _) = uuid.as_u64_pair();
        Self {
            tag: uuid.simple().to_string()[..12].to_owned(),
            // Positive, large, and unlikely to meet a real user's id.
            user: UserId::new(i64::try_from(hi >> 2).unwrap_or(1) | (1 << 60)),
        }
    }

    /// A name `<tag>-<suffix>`.
    pub fn name(&self, suffix: &str) -> InvitationName {
        let text = format!("{}-{suffix}", self.tag);
        InvitationName::parse(&text).unwrap_or_else(|e| panic!("bad test name {text:?}: {e:?}"))
    }

    /// A plain invitation by this fixture's user: multi-use, no expiry, no flow.
    pub fn invitation(&self, suffix: &str) -> InvitationParts {
        InvitationParts {
            id: InvitationId::from_uuid(Uuid::new_v4()),
            name: self.name(suffix),
            expires: None,
            fixed_data: FixedData::new(),
            single_use: false,
            flow: None,
            created_by: self.user,
            version: Version::FIRST,
        }
    }

    /// A query for this fixture's rows only (filtered by its user).
    pub fn query(&self) -> ListQuery {
        ListQuery {
            filters: Filters {
                created_by: Some(vec![self.user]),
                ..Filters::default()
            },
            search: Vec::new(),
            ordering: Ordering::DEFAULT,
            offset: 0,
            limit: 1000,
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

fn random_flow() -> FlowId {
    FlowId::from_uuid(Uuid::new_v4())
}

fn ts(year: i32, month: u32, day: u32, micros: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 12, 30, 45)
        .single()
        .map(|t| t + Duration::microseconds(i64::from(micros)))
        .unwrap_or_else(|| panic!("bad test timestamp {year}-{month}-{day}"))
}

async fn put<S: InvitationStore>(store: &S, parts: InvitationParts) -> Invitation {
    let invitation = Invitation::from_parts(parts);
    store
        .insert(&invitation)
        .await
        .unwrap_or_else(|e| panic!("insert failed: {e:?}"));
    invitation
}

async fn list<S: InvitationStore>(store: &S, query: &ListQuery) -> StoredPage {
    store
        .list(query)
        .await
        .unwrap_or_else(|e| panic!("list failed: {e:?}"))
}

async fn names<S: InvitationStore>(store: &S, query: &ListQuery) -> Vec<String> {
    list(store, query)
        .await
        .items
        .iter()
        .map(|i| i.name().as_str().to_owned())
        .collect()
}

fn rich(f: &Fixture, suffix: &str) -> InvitationParts {
    let mut parts = f.invitation(suffix);
    parts.expires = Some(ts(2041, 3, 4, 123_456));
    parts.fixed_data = FixedData::try_from(json!({
        "email": "ünïcode@example.org",
        "attributes": {"nested": {"deep": [1, 2.5, "three", null, true]}},
        "quote": "it's \"quoted\" and \\ backslashed",
        "empty": {}
    }))
    .unwrap_or_default();
    parts.single_use = true;
    parts.flow = Some(random_flow());
    parts.version = Version::new(41).unwrap_or(Version::FIRST);
    parts
}

/// `insert` then `get` gives back every field exactly.
pub async fn insert_then_get_round_trips_every_field<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let stored = put(store, rich(&f, "rich")).await;
    let read = store.get(stored.id()).await.expect("get failed");
    assert_eq!(read.as_ref(), Some(&stored));
    let plain = put(store, f.invitation("plain")).await;
    assert_eq!(
        store.get(plain.id()).await.expect("get failed"),
        Some(plain)
    );
}

/// Every number `fixed_data` may hold comes back as the same number,
/// including the largest and smallest finite floats and integers beyond
/// 64 bits (which a store may keep as decimals and must read back). The
/// same number, not the same text: `-0.0` may come back as `0.0`, as it does
/// from PostgreSQL's `numeric`.
pub async fn fixed_data_numbers_round_trip_exactly<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let mut parts = f.invitation("numbers");
    let numbers = json!([
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        1e300,
        0.1,
        -0.0,
        2.5e-7,
        1.2345678901234568e29,
        u64::MAX,
        i64::MIN,
        0
    ]);
    parts.fixed_data = FixedData::try_from(json!({"numbers": numbers.clone()}))
        .unwrap_or_else(|e| panic!("the numbers make valid fixed_data: {e:?}"));
    let stored = put(store, parts).await;
    let read = store
        .get(stored.id())
        .await
        .unwrap_or_else(|e| panic!("get failed: {e:?}"))
        .expect("the invitation is stored");
    let back = read.fixed_data().to_map().get("numbers").cloned();
    assert_eq!(back.as_ref(), Some(&numbers), "{:?}", read.fixed_data());
}

/// `insert` of a taken id is a `Conflict` and changes nothing.
pub async fn inserting_a_taken_id_is_a_conflict_and_changes_nothing<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let first = put(store, f.invitation("first")).await;
    let mut again = f.invitation("second");
    again.id = *first.id();
    let result = store.insert(&Invitation::from_parts(again)).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(id)) if id == *first.id()),
        "expected Conflict, got {result:?}"
    );
    assert_eq!(
        store.get(first.id()).await.expect("get failed"),
        Some(first)
    );
}

/// `get` of an unknown id is `Ok(None)`.
pub async fn getting_an_unknown_id_is_none<S: InvitationStore>(store: &S) {
    let id = InvitationId::from_uuid(Uuid::new_v4());
    assert_eq!(store.get(&id).await.expect("get failed"), None);
}

async fn update<S: InvitationStore>(
    store: &S,
    id: &InvitationId,
    patch: &InvitationPatch,
    expected: Option<Version>,
) -> UpdateOutcome {
    store
        .update(id, patch, expected)
        .await
        .unwrap_or_else(|e| panic!("update failed: {e:?}"))
}

async fn get<S: InvitationStore>(store: &S, id: &InvitationId) -> Option<Invitation> {
    store
        .get(id)
        .await
        .unwrap_or_else(|e| panic!("get failed: {e:?}"))
}

/// `update` with every field given writes every field, and the version
/// becomes the next one; it returns the row as stored.
pub async fn updating_every_field_writes_them_all_and_bumps_the_version<S: InvitationStore>(
    store: &S,
) {
    let f = Fixture::new();
    let original = put(store, rich(&f, "before")).await;
    let patch = InvitationPatch {
        name: Some(f.name("after")),
        expires: Some(Some(ts(2042, 5, 6, 7))),
        fixed_data: Some(FixedData::try_from(json!({"k": "v"})).unwrap_or_default()),
        single_use: Some(false),
        flow: Some(None),
    };
    let expected = patch.apply(&original);
    assert_eq!(expected.version(), original.version().next());
    assert_eq!(
        update(store, original.id(), &patch, None).await,
        UpdateOutcome::Updated(expected.clone())
    );
    assert_eq!(get(store, original.id()).await, Some(expected));
}

/// `update` changes only the fields its patch gives: the others keep what
/// is stored; an empty patch still counts as a write (the version moves).
pub async fn updating_some_fields_keeps_the_others<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let original = put(store, rich(&f, "keep")).await;
    let rename = InvitationPatch {
        name: Some(f.name("renamed")),
        ..InvitationPatch::default()
    };
    let UpdateOutcome::Updated(renamed) = update(store, original.id(), &rename, None).await else {
        panic!("the invitation exists");
    };
    let mut parts = original.clone().into_parts();
    parts.name = f.name("renamed");
    parts.version = original.version().next();
    assert_eq!(renamed, Invitation::from_parts(parts));
    let UpdateOutcome::Updated(touched) =
        update(store, original.id(), &InvitationPatch::default(), None).await
    else {
        panic!("the invitation exists");
    };
    assert_eq!(touched.version(), renamed.version().next());
    assert_eq!(touched.name(), renamed.name());
    assert_eq!(get(store, original.id()).await, Some(touched));
}

/// `update` of an unknown id is `NotFound` and stores nothing.
pub async fn updating_an_unknown_id_is_not_found_and_stores_nothing<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let ghost = InvitationId::from_uuid(Uuid::new_v4());
    let patch = InvitationPatch {
        name: Some(f.name("ghost")),
        ..InvitationPatch::default()
    };
    assert_eq!(
        update(store, &ghost, &patch, None).await,
        UpdateOutcome::NotFound
    );
    assert_eq!(
        update(store, &ghost, &patch, Some(Version::FIRST)).await,
        UpdateOutcome::NotFound
    );
    assert_eq!(get(store, &ghost).await, None);
}

/// `update` expecting a version that is not the stored one answers
/// `VersionMismatch` with the stored version and writes nothing; expecting
/// the stored one writes.
pub async fn an_update_expecting_another_version_changes_nothing<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let original = put(store, f.invitation("cas")).await;
    let patch = InvitationPatch {
        single_use: Some(true),
        ..InvitationPatch::default()
    };
    let stale = original.version().next();
    assert_eq!(
        update(store, original.id(), &patch, Some(stale)).await,
        UpdateOutcome::VersionMismatch {
            current: original.version()
        }
    );
    assert_eq!(get(store, original.id()).await, Some(original.clone()));
    let UpdateOutcome::Updated(written) =
        update(store, original.id(), &patch, Some(original.version())).await
    else {
        panic!("the expected version is the stored one");
    };
    assert!(written.single_use());
    assert_eq!(
        update(store, original.id(), &patch, Some(original.version())).await,
        UpdateOutcome::VersionMismatch {
            current: written.version()
        }
    );
}

/// How many revoke-versus-rename races
/// [`concurrent_updates_of_different_fields_both_take_effect`] runs.
pub const UPDATE_RACES: usize = 1000;

/// Two admins at once, 1,000 times: one revokes an invitation (sets
/// `expires` in the past), the other renames it. Both updates take effect
/// every time: no revocation is lost, no rename either.
pub async fn concurrent_updates_of_different_fields_both_take_effect<
    S: InvitationStore + Clone + 'static,
>(
    store: &S,
) {
    let f = Fixture::new();
    let revoked_at = ts(2001, 1, 1, 0);
    let mut ids = Vec::with_capacity(UPDATE_RACES);
    for i in 0..UPDATE_RACES {
        ids.push(*put(store, f.invitation(&format!("r{i}"))).await.id());
    }
    let mut tasks = Vec::with_capacity(2 * UPDATE_RACES);
    for (i, id) in ids.iter().enumerate() {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let revoke = InvitationPatch {
            expires: Some(Some(revoked_at)),
            ..InvitationPatch::default()
        };
        let rename = InvitationPatch {
            name: Some(f.name(&format!("n{i}"))),
            ..InvitationPatch::default()
        };
        for patch in [revoke, rename] {
            let (store, barrier, id) = (store.clone(), barrier.clone(), *id);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.update(&id, &patch, None).await
            }));
        }
    }
    for task in tasks {
        let outcome = task
            .await
            .expect("updater panicked")
            .expect("update failed");
        assert!(matches!(outcome, UpdateOutcome::Updated(_)), "{outcome:?}");
    }
    let mut lost = 0;
    for (i, id) in ids.iter().enumerate() {
        let row = get(store, id).await.expect("the invitation is stored");
        let renamed = *row.name() == f.name(&format!("n{i}"));
        if row.expires() != Some(revoked_at) || !renamed || row.version().get() != 3 {
            lost += 1;
        }
    }
    assert_eq!(lost, 0, "{lost} of {UPDATE_RACES} races lost an update");
}

/// `delete` removes a row and says so; a second delete finds nothing.
pub async fn deleting_removes_the_row_once<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let keep = put(store, f.invitation("keep")).await;
    let gone = put(store, f.invitation("gone")).await;
    assert_eq!(
        store.delete(gone.id(), None).await.expect("delete failed"),
        DeleteOutcome::Deleted
    );
    assert_eq!(get(store, gone.id()).await, None);
    assert_eq!(
        store.delete(gone.id(), None).await.expect("delete failed"),
        DeleteOutcome::NotFound
    );
    assert_eq!(get(store, keep.id()).await, Some(keep));
}

/// `delete` expecting a version that is not the stored one answers
/// `VersionMismatch` and keeps the row; expecting the stored one deletes.
pub async fn a_delete_expecting_another_version_keeps_the_row<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let row = put(store, f.invitation("cas-delete")).await;
    assert_eq!(
        store
            .delete(row.id(), Some(row.version().next()))
            .await
            .expect("delete failed"),
        DeleteOutcome::VersionMismatch {
            current: row.version()
        }
    );
    assert_eq!(get(store, row.id()).await, Some(row.clone()));
    assert_eq!(
        store
            .delete(row.id(), Some(row.version()))
            .await
            .expect("delete failed"),
        DeleteOutcome::Deleted
    );
    assert_eq!(get(store, row.id()).await, None);
}

async fn race<S: InvitationStore + Clone + 'static>(
    store: &S,
    id: InvitationId,
    flow: FlowId,
) -> Vec<RedeemOutcome> {
    let now = ts(2030, 1, 1, 0);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.redeem(&id, Some(&flow), now).await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(RACERS);
    for task in tasks {
        let outcome = task.await.expect("racer panicked").expect("redeem failed");
        outcomes.push(outcome);
    }
    outcomes
}

/// 64 concurrent redemptions of one single-use invitation: exactly one
/// succeeds, the rest find nothing, and the row is gone.
pub async fn a_single_use_invitation_is_redeemed_exactly_once_under_64_racers<
    S: InvitationStore + Clone + 'static,
>(
    store: &S,
) {
    let f = Fixture::new();
    let flow = random_flow();
    let mut parts = f.invitation("once");
    parts.single_use = true;
    parts.flow = Some(flow);
    let invitation = put(store, parts).await;
    let outcomes = race(store, *invitation.id(), flow).await;
    let winners: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, RedeemOutcome::Redeemed(_)))
        .collect();
    assert_eq!(winners.len(), 1, "outcomes: {outcomes:?}");
    assert_eq!(winners[0], &RedeemOutcome::Redeemed(invitation.clone()));
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, RedeemOutcome::Redeemed(_) | RedeemOutcome::NotFound)));
    assert_eq!(store.get(invitation.id()).await.expect("get failed"), None);
}

/// 64 concurrent redemptions of a multi-use invitation all succeed and the
/// row stays.
pub async fn a_multi_use_invitation_is_redeemed_by_all_64_racers<
    S: InvitationStore + Clone + 'static,
>(
    store: &S,
) {
    let f = Fixture::new();
    let invitation = put(store, f.invitation("many")).await;
    let outcomes = race(store, *invitation.id(), random_flow()).await;
    assert!(
        outcomes
            .iter()
            .all(|o| *o == RedeemOutcome::Redeemed(invitation.clone())),
        "outcomes: {outcomes:?}"
    );
    assert_eq!(
        store.get(invitation.id()).await.expect("get failed"),
        Some(invitation)
    );
}

/// Redeeming an unknown id is `NotFound`.
pub async fn redeeming_an_unknown_id_is_not_found<S: InvitationStore>(store: &S) {
    let id = InvitationId::from_uuid(Uuid::new_v4());
    let outcome = store
        .redeem(&id, Some(&random_flow()), ts(2030, 1, 1, 0))
        .await;
    assert_eq!(outcome.expect("redeem failed"), RedeemOutcome::NotFound);
}

/// An invitation expiring at or before `now` is `Expired` and stays stored,
/// single-use or not; one expiring a microsecond later is redeemable.
pub async fn an_expired_invitation_is_refused_and_kept<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let now = ts(2031, 6, 7, 500);
    let flow = random_flow();
    for (suffix, expires, single_use) in [
        ("past", now - Duration::days(1), true),
        ("exact", now, true),
        ("past-multi", now - Duration::microseconds(1), false),
    ] {
        let mut parts = f.invitation(suffix);
        parts.expires = Some(expires);
        parts.single_use = single_use;
        let invitation = put(store, parts).await;
        let outcome = store.redeem(invitation.id(), Some(&flow), now).await;
        assert_eq!(
            outcome.expect("redeem failed"),
            RedeemOutcome::Expired,
            "{suffix}"
        );
        assert_eq!(
            store.get(invitation.id()).await.expect("get failed"),
            Some(invitation)
        );
    }
    let mut parts = f.invitation("future");
    parts.expires = Some(now + Duration::microseconds(1));
    parts.single_use = true;
    let fresh = put(store, parts).await;
    let outcome = store.redeem(fresh.id(), Some(&flow), now).await;
    assert_eq!(
        outcome.expect("redeem failed"),
        RedeemOutcome::Redeemed(fresh)
    );
}

/// An invitation bound to another flow is `WrongFlow` and stays stored; an
/// unbound one fits any flow.
pub async fn a_flow_bound_invitation_refuses_other_flows_and_an_unbound_one_fits_any<
    S: InvitationStore,
>(
    store: &S,
) {
    let f = Fixture::new();
    let now = ts(2030, 1, 1, 0);
    let mut parts = f.invitation("bound");
    parts.flow = Some(random_flow());
    parts.single_use = true;
    let bound = put(store, parts).await;
    let outcome = store.redeem(bound.id(), Some(&random_flow()), now).await;
    assert_eq!(outcome.expect("redeem failed"), RedeemOutcome::WrongFlow);
    assert_eq!(
        store.get(bound.id()).await.expect("get failed"),
        Some(bound.clone())
    );
    let right = bound.flow().copied().unwrap_or_else(random_flow);
    let outcome = store.redeem(bound.id(), Some(&right), now).await;
    assert_eq!(
        outcome.expect("redeem failed"),
        RedeemOutcome::Redeemed(bound)
    );

    let unbound = put(store, f.invitation("unbound")).await;
    let outcome = store.redeem(unbound.id(), Some(&random_flow()), now).await;
    assert_eq!(
        outcome.expect("redeem failed"),
        RedeemOutcome::Redeemed(unbound)
    );
}

/// Redeemed outside any flow (`None`), a flow-bound invitation is
/// `WrongFlow` and stays; an unbound single-use one is consumed.
pub async fn outside_any_flow_only_an_unbound_invitation_is_redeemed<S: InvitationStore>(
    store: &S,
) {
    let f = Fixture::new();
    let now = ts(2030, 1, 1, 0);
    let mut parts = f.invitation("bound");
    parts.flow = Some(random_flow());
    let bound = put(store, parts).await;
    let outcome = store.redeem(bound.id(), None, now).await;
    assert_eq!(outcome.expect("redeem failed"), RedeemOutcome::WrongFlow);
    assert_eq!(
        store.get(bound.id()).await.expect("get failed"),
        Some(bound)
    );

    let mut parts = f.invitation("unbound");
    parts.single_use = true;
    let unbound = put(store, parts).await;
    let outcome = store.redeem(unbound.id(), None, now).await;
    assert_eq!(
        outcome.expect("redeem failed"),
        RedeemOutcome::Redeemed(unbound.clone())
    );
    assert_eq!(store.get(unbound.id()).await.expect("get failed"), None);
}

/// `purge_expired` deletes rows with `expires <= now` and never a row
/// without an expiry or one expiring later. (This behaviour alone uses
/// expiries before 1901, so it cannot touch other behaviours' rows.)
pub async fn purging_deletes_expired_rows_and_keeps_never_expiring_ones<S: InvitationStore>(
    store: &S,
) {
    let f = Fixture::new();
    let now = ts(1900, 6, 1, 0);
    let mut old = f.invitation("old");
    old.expires = Some(ts(1900, 1, 1, 0));
    let old = put(store, old).await;
    let mut exact = f.invitation("exact");
    exact.expires = Some(now);
    let exact = put(store, exact).await;
    let mut later = f.invitation("later");
    later.expires = Some(ts(1900, 6, 2, 0));
    let later = put(store, later).await;
    let never = put(store, f.invitation("never")).await;
    let purged = store.purge_expired(now).await.expect("purge failed");
    assert!(purged >= 2, "purged {purged}");
    assert_eq!(store.get(old.id()).await.expect("get failed"), None);
    assert_eq!(store.get(exact.id()).await.expect("get failed"), None);
    assert_eq!(
        store.get(later.id()).await.expect("get failed"),
        Some(later)
    );
    assert_eq!(
        store.get(never.id()).await.expect("get failed"),
        Some(never)
    );
}

/// Five rows with distinct and tied values in every sortable field.
async fn ordering_fixture<S: InvitationStore>(store: &S, f: &Fixture) -> Vec<Invitation> {
    let flow_a = FlowId::from_uuid(Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0001));
    let flow_b = FlowId::from_uuid(Uuid::from_u128(0xf000_0000_0000_4000_8000_0000_0000_0001));
    let rows = [
        ("b", Some(ts(2035, 1, 1, 0)), false, Some(flow_b)),
        ("A", None, true, None),
        ("a", Some(ts(2035, 1, 1, 0)), true, Some(flow_a)),
        ("c_", None, false, Some(flow_a)),
        ("B-", Some(ts(2033, 1, 1, 7)), false, None),
    ];
    let mut out = Vec::new();
    for (suffix, expires, single_use, flow) in rows {
        let mut parts = f.invitation(suffix);
        parts.expires = expires;
        parts.single_use = single_use;
        parts.flow = flow;
        out.push(put(store, parts).await);
    }
    out
}

/// With no ordering given, rows come by `expires` descending, rows without
/// an expiry first, ties by id.
pub async fn the_default_order_is_expires_descending_with_never_expiring_first<
    S: InvitationStore,
>(
    store: &S,
) {
    let f = Fixture::new();
    let rows = ordering_fixture(store, &f).await;
    let page = list(store, &f.query()).await;
    let expires: Vec<_> = page.items.iter().map(Invitation::expires).collect();
    assert_eq!(
        expires,
        [
            None,
            None,
            Some(ts(2035, 1, 1, 0)),
            Some(ts(2035, 1, 1, 0)),
            Some(ts(2033, 1, 1, 7))
        ]
    );
    assert!(
        page.items[0].id() < page.items[1].id(),
        "ties by id ascending"
    );
    assert!(
        page.items[2].id() < page.items[3].id(),
        "ties by id ascending"
    );
    assert_eq!(page.total, rows.len() as u64);
}

/// Every sortable field, both directions, gives the reference order of
/// [`ListQuery::compare`] (ties by id), the same on every call.
pub async fn every_field_orders_both_ways_with_ties_broken_by_id<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let rows = ordering_fixture(store, &f).await;
    for field in SortField::ALL {
        for descending in [false, true] {
            let mut query = f.query();
            query.ordering = Ordering { field, descending };
            let mut expected = rows.clone();
            expected.sort_by(|a, b| query.compare(a, b));
            let expected: Vec<_> = expected.iter().map(|i| *i.id()).collect();
            for _ in 0..2 {
                let got: Vec<_> = list(store, &query)
                    .await
                    .items
                    .iter()
                    .map(|i| *i.id())
                    .collect();
                assert_eq!(got, expected, "ordering {field:?} descending={descending}");
            }
        }
    }
}

/// Each exact filter keeps exactly the matching rows.
pub async fn each_filter_keeps_exactly_the_matching_rows<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let rows = ordering_fixture(store, &f).await;
    let other = Fixture::new();
    let mut foreign = other.invitation("b");
    foreign.name = f.name("b");
    put(store, foreign).await;

    let mut by_name = f.query();
    by_name.filters.created_by = None;
    by_name.filters.name = Some(f.name("b").as_str().to_owned());
    assert_eq!(
        list(store, &by_name).await.total,
        2,
        "name filter spans users"
    );
    let mut by_name_exact = f.query();
    by_name_exact.filters.name = Some(f.name("B").as_str().to_owned());
    assert_eq!(
        list(store, &by_name_exact).await.total,
        0,
        "name filter is case-sensitive"
    );

    let mut by_expiry = f.query();
    by_expiry.filters.expires = Some(ts(2033, 1, 1, 7));
    assert_eq!(names(store, &by_expiry).await, [f.name("B-").as_str()]);

    let flow_a = rows[2].flow().copied();
    let mut by_flow = f.query();
    by_flow.filters.flow = flow_a.map(|fl| vec![fl]);
    by_flow.ordering = Ordering {
        field: SortField::Name,
        descending: false,
    };
    assert_eq!(
        names(store, &by_flow).await,
        [f.name("a").as_str(), f.name("c_").as_str()]
    );

    let mut nobody = f.query();
    nobody.filters.created_by = Some(Vec::new());
    assert_eq!(
        list(store, &nobody).await.total,
        0,
        "an empty creator list matches nothing"
    );
    let mut no_flow = f.query();
    no_flow.filters.flow = Some(Vec::new());
    assert_eq!(
        list(store, &no_flow).await.total,
        0,
        "an empty flow list matches nothing"
    );
}

fn term(text: &str) -> SearchTerm {
    SearchTerm {
        text: text.to_owned(),
        creators: Vec::new(),
        flows: Vec::new(),
    }
}

/// Search: every word must match, case-insensitively, in the name, the
/// expiry text, the creator set or the flow set.
pub async fn search_words_must_all_match_ignoring_case<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let mut alpha = f.invitation("Alpha-Red");
    alpha.expires = Some(ts(2036, 2, 3, 0));
    put(store, alpha).await;
    put(store, f.invitation("alpha-blue")).await;
    let flow = random_flow();
    let mut bound = f.invitation("gamma");
    bound.flow = Some(flow);
    put(store, bound).await;

    let mut query = f.query();
    query.ordering = Ordering {
        field: SortField::Name,
        descending: false,
    };
    query.search = vec![term(&f.tag.to_uppercase()), term("ALPHA")];
    assert_eq!(
        names(store, &query).await,
        [f.name("Alpha-Red").as_str(), f.name("alpha-blue").as_str()]
    );
    query.search.push(term("red"));
    assert_eq!(names(store, &query).await, [f.name("Alpha-Red").as_str()]);

    query.search = vec![term("2036-02-03T12:30")];
    assert_eq!(
        names(store, &query).await,
        [f.name("Alpha-Red").as_str()],
        "expiry text"
    );

    query.search = vec![SearchTerm {
        flows: vec![flow],
        ..term("zzz-no-such-text")
    }];
    assert_eq!(
        names(store, &query).await,
        [f.name("gamma").as_str()],
        "flow set"
    );

    query.search = vec![SearchTerm {
        creators: vec![f.user],
        ..term("zzz-no-such-text")
    }];
    assert_eq!(list(store, &query).await.total, 3, "creator set");
}

/// Search treats `%`, `_` and `\` as plain characters.
pub async fn search_wildcards_are_literal<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    put(store, f.invitation("under_score")).await;
    put(store, f.invitation("underXscore")).await;
    let mut query = f.query();
    for (text, expected) in [("r_s", 1), ("%", 0), ("r%s", 0), ("\\", 0), ("_", 1)] {
        query.search = vec![term(text)];
        assert_eq!(list(store, &query).await.total, expected, "search {text:?}");
    }
}

/// Offset and limit cut the ordered rows; `total` ignores them, including
/// past the end and with `limit` 0.
pub async fn pages_cut_the_ordered_rows_and_total_ignores_the_cut<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    for i in 0..7 {
        put(store, f.invitation(&format!("p{i}"))).await;
    }
    let mut query = f.query();
    query.ordering = Ordering {
        field: SortField::Name,
        descending: false,
    };
    query.limit = 3;
    for (offset, expected) in [
        (0, vec!["p0", "p1", "p2"]),
        (3, vec!["p3", "p4", "p5"]),
        (6, vec!["p6"]),
        (7, vec![]),
        (70, vec![]),
    ] {
        query.offset = offset;
        let page = list(store, &query).await;
        assert_eq!(page.total, 7, "offset {offset}");
        let expected: Vec<String> = expected
            .iter()
            .map(|s| f.name(s).as_str().to_owned())
            .collect();
        let got: Vec<String> = page
            .items
            .iter()
            .map(|i| i.name().as_str().to_owned())
            .collect();
        assert_eq!(got, expected, "offset {offset}");
    }
    query.offset = 0;
    query.limit = 0;
    let page = list(store, &query).await;
    assert_eq!((page.total, page.items.len()), (7, 0));
}

/// Deleting a flow unbinds exactly its invitations.
pub async fn unbinding_a_flow_clears_only_its_invitations<S: InvitationStore>(store: &S) {
    let f = Fixture::new();
    let (gone, kept) = (random_flow(), random_flow());
    let mut ids = Vec::new();
    for (suffix, flow) in [
        ("x", Some(gone)),
        ("y", Some(gone)),
        ("z", Some(kept)),
        ("w", None),
    ] {
        let mut parts = f.invitation(suffix);
        parts.flow = flow;
        ids.push(*put(store, parts).await.id());
    }
    assert_eq!(store.unbind_flow(&gone).await.expect("unbind failed"), 2);
    let mut flows = Vec::new();
    for id in &ids {
        let row = get(store, id).await.expect("the invitation is stored");
        flows.push((row.flow().copied(), row.version().get()));
    }
    // An unbound invitation was written: its version moved.
    assert_eq!(flows, [(None, 2), (None, 2), (Some(kept), 1), (None, 1)]);
    assert_eq!(store.unbind_flow(&gone).await.expect("unbind failed"), 0);
}

/// Deleting a user deletes exactly the invitations they created.
pub async fn deleting_a_user_deletes_only_their_invitations<S: InvitationStore>(store: &S) {
    let (doomed, other) = (Fixture::new(), Fixture::new());
    let a = put(store, doomed.invitation("a")).await;
    let b = put(store, doomed.invitation("b")).await;
    let c = put(store, other.invitation("c")).await;
    assert_eq!(
        store
            .delete_created_by(&doomed.user)
            .await
            .expect("delete failed"),
        2
    );
    assert_eq!(store.get(a.id()).await.expect("get failed"), None);
    assert_eq!(store.get(b.id()).await.expect("get failed"), None);
    assert_eq!(store.get(c.id()).await.expect("get failed"), Some(c));
}

/// `ping` answers.
pub async fn a_live_store_answers_ping<S: InvitationStore>(store: &S) {
    store.ping().await.expect("ping failed");
}

/// Many rows inserted concurrently are all stored, none twice.
pub async fn concurrent_inserts_are_all_stored<S: InvitationStore + Clone + 'static>(store: &S) {
    let f = Fixture::new();
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = store.clone();
            let parts = f.invitation(&format!("c{i}"));
            tokio::spawn(async move { put(&store, parts).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(*t.await.expect("inserter panicked").id());
    }
    let page = list(store, &f.query()).await;
    assert_eq!(page.total, RACERS as u64);
    assert_eq!(
        page.items.iter().map(|i| *i.id()).collect::<HashSet<_>>(),
        ids
    );
}

/// A row the adapter cannot read back is [`StoreError::Corrupt`] naming its
/// id, and only that row fails: `get` and `redeem` of it, and a `list` whose
/// page includes it, answer `Corrupt` with `id: Some(<its id>)`, while
/// another row still reads by `get` and by `list`.
///
/// Only an adapter that can hold such a row runs this clause, and it says
/// how to make one: `plant(store, invitation)` stores the row of
/// `invitation` (multi-use, no expiry, no flow, a creator of its own) as
/// the adapter would, except for one value the adapter cannot read back
/// (in PostgreSQL, say, a name that breaks the name rule, written with raw
/// SQL). It gets a clone of the store. The clause deletes the row
/// afterwards when the adapter can; whether it can is not checked.
///
/// Run it with `store_conformance_tests!(<store>, plant_corrupt = <plant>)`.
pub async fn an_unreadable_row_is_corrupt_naming_its_id<S, P, F>(store: &S, plant: P)
where
    S: InvitationStore + Clone,
    P: FnOnce(S, Invitation) -> F,
    F: std::future::Future<Output = ()>,
{
    let (f, other) = (Fixture::new(), Fixture::new());
    let broken = Invitation::from_parts(f.invitation("corrupt"));
    let id = *broken.id();
    plant(store.clone(), broken).await;
    let fine = put(store, other.invitation("fine")).await;

    let names_the_row = |what: &str, error: StoreError| match error {
        StoreError::Corrupt {
            id: Some(named), ..
        } => {
            assert_eq!(named, id, "{what}: Corrupt names another row");
        }
        other => panic!("{what}: expected Corrupt naming {id}, got {other:?}"),
    };
    match store.get(&id).await {
        Err(e) => names_the_row("get", e),
        Ok(found) => panic!("get of the unreadable row answered Ok({found:?})"),
    }
    match store.list(&f.query()).await {
        Err(e) => names_the_row("list", e),
        Ok(page) => panic!("a list including the unreadable row answered Ok({page:?})"),
    }
    match store.redeem(&id, None, Utc::now()).await {
        Err(e) => names_the_row("redeem", e),
        Ok(outcome) => panic!("redeem of the unreadable row answered Ok({outcome:?})"),
    }

    assert_eq!(get(store, fine.id()).await, Some(fine.clone()));
    assert_eq!(list(store, &other.query()).await.items, [fine]);
    let _ = store.delete(&id, None).await;
}

/// Runs one behaviour's future to completion on a new multi-threaded tokio
/// runtime of 4 workers (racing behaviours need real parallelism), as
/// [`store_conformance_tests!`](crate::store_conformance_tests) does for
/// each test.
///
/// # Panics
/// When the runtime cannot be built (the test fails), or when `behaviour`
/// panics.
pub fn run<F: std::future::Future>(behaviour: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance test")
        .block_on(behaviour)
}

/// Calls the macro `$callback` with the names of every clause one caller
/// can run (all but the racing ones), comma-separated: for an adapter
/// that runs them in a setting of its own, such as inside a host's
/// transaction, so that a clause added to the suite runs there too.
///
/// ```text
/// macro_rules! in_transaction {
///     ($($clause:ident),* $(,)?) => { $( /* a test calling
///         invitation_testkit::conformance::$clause(&store_in_tx) */ )* };
/// }
/// invitation_testkit::single_caller_clauses!(in_transaction);
/// ```
///
/// [`store_conformance_tests!`](crate::store_conformance_tests) runs these
/// and the racing clauses.
#[macro_export]
macro_rules! single_caller_clauses {
    ($callback:ident) => {
        $callback! {
            insert_then_get_round_trips_every_field,
            fixed_data_numbers_round_trip_exactly,
            inserting_a_taken_id_is_a_conflict_and_changes_nothing,
            getting_an_unknown_id_is_none,
            updating_every_field_writes_them_all_and_bumps_the_version,
            updating_some_fields_keeps_the_others,
            updating_an_unknown_id_is_not_found_and_stores_nothing,
            an_update_expecting_another_version_changes_nothing,
            deleting_removes_the_row_once,
            a_delete_expecting_another_version_keeps_the_row,
            redeeming_an_unknown_id_is_not_found,
            an_expired_invitation_is_refused_and_kept,
            a_flow_bound_invitation_refuses_other_flows_and_an_unbound_one_fits_any,
            outside_any_flow_only_an_unbound_invitation_is_redeemed,
            purging_deletes_expired_rows_and_keeps_never_expiring_ones,
            the_default_order_is_expires_descending_with_never_expiring_first,
            every_field_orders_both_ways_with_ties_broken_by_id,
            each_filter_keeps_exactly_the_matching_rows,
            search_words_must_all_match_ignoring_case,
            search_wildcards_are_literal,
            pages_cut_the_ordered_rows_and_total_ignores_the_cut,
            unbinding_a_flow_clears_only_its_invitations,
            deleting_a_user_deletes_only_their_invitations,
            a_live_store_answers_ping,
        }
    };
}

/// Expands to one `#[test]` per behaviour of the conformance suite, each
/// run by [`run`] on a tokio runtime of its own: the adapter's crate needs
/// no `tokio` dev-dependency for it.
///
/// The argument is an expression evaluated inside each (async) test body to
/// get the store, so it may `.await`, and may `return` to skip. The store
/// must be `InvitationStore + Clone + 'static`.
///
/// ```text
/// invitation_testkit::store_conformance_tests!(invitation_memory::MemoryStore::new());
/// ```
///
/// An adapter that can hold a row it cannot read back (a database row
/// edited by hand) also runs
/// [`an_unreadable_row_is_corrupt_naming_its_id`](crate::conformance::an_unreadable_row_is_corrupt_naming_its_id),
/// by naming a closure that plants such a row. It is called with a clone of
/// the store and the invitation whose row to break, and returns a future:
///
/// ```text
/// invitation_testkit::store_conformance_tests!(
///     my_adapter::MyStore::for_tests().await,
///     plant_corrupt = |store, invitation| async move {
///         store.write_raw_row(invitation.id(), "name", "not a slug").await;
///     },
/// );
/// ```
///
/// Stores that hold only valid `Invitation`s (the memory store) have no
/// such row, and leave the clause out.
#[macro_export]
macro_rules! store_conformance_tests {
    ($store:expr, plant_corrupt = $plant:expr $(,)?) => {
        $crate::store_conformance_tests!($store);

        #[test]
        fn an_unreadable_row_is_corrupt_naming_its_id() {
            $crate::conformance::run(async {
                let store = $store;
                $crate::conformance::an_unreadable_row_is_corrupt_naming_its_id(&store, $plant)
                    .await;
            });
        }
    };
    ($store:expr $(,)?) => {
        $crate::store_conformance_tests!(@tests $store;
            insert_then_get_round_trips_every_field,
            fixed_data_numbers_round_trip_exactly,
            inserting_a_taken_id_is_a_conflict_and_changes_nothing,
            getting_an_unknown_id_is_none,
            updating_every_field_writes_them_all_and_bumps_the_version,
            updating_some_fields_keeps_the_others,
            updating_an_unknown_id_is_not_found_and_stores_nothing,
            an_update_expecting_another_version_changes_nothing,
            concurrent_updates_of_different_fields_both_take_effect,
            deleting_removes_the_row_once,
            a_delete_expecting_another_version_keeps_the_row,
            a_single_use_invitation_is_redeemed_exactly_once_under_64_racers,
            a_multi_use_invitation_is_redeemed_by_all_64_racers,
            redeeming_an_unknown_id_is_not_found,
            an_expired_invitation_is_refused_and_kept,
            a_flow_bound_invitation_refuses_other_flows_and_an_unbound_one_fits_any,
            outside_any_flow_only_an_unbound_invitation_is_redeemed,
            purging_deletes_expired_rows_and_keeps_never_expiring_ones,
            the_default_order_is_expires_descending_with_never_expiring_first,
            every_field_orders_both_ways_with_ties_broken_by_id,
            each_filter_keeps_exactly_the_matching_rows,
            search_words_must_all_match_ignoring_case,
            search_wildcards_are_literal,
            pages_cut_the_ordered_rows_and_total_ignores_the_cut,
            unbinding_a_flow_clears_only_its_invitations,
            deleting_a_user_deletes_only_their_invitations,
            a_live_store_answers_ping,
            concurrent_inserts_are_all_stored,
        );
    };
    (@tests $store:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::run(async {
                    let store = $store;
                    $crate::conformance::$name(&store).await;
                });
            }
        )*
    };
}

//! The storage conformance suite through `SqliteStore::in_transaction`:
//! every clause that one caller can run, each inside one transaction of
//! its own (begun `IMMEDIATE`) that must still be usable afterwards and is
//! then committed.
//!
//! Left out are the clauses that race many concurrent callers (the 64
//! redeemers, concurrent inserts, concurrent updates): a transaction is one
//! connection and serves one statement at a time, so they would test
//! nothing but queueing. `tests/conformance.rs` runs them on the pool.
// Tests: failing loudly is the point.
#![allow(clippy::expect_used)]

mod support;

use invitation_testkit::conformance;

macro_rules! in_transaction {
    ($($clause:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $clause() {
                let db = support::TestStore::new().await;
                let mut transaction = db
                    .store
                    .pool()
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .expect("a transaction");
                conformance::$clause(&db.store.in_transaction(&mut transaction)).await;
                invitation_sqlx::sqlx::query("SELECT 1")
                    .execute(&mut *transaction)
                    .await
                    .expect("the transaction is still usable");
                transaction.commit().await.expect("commit");
            }
        )*
    };
}

in_transaction!(
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
);

//! The storage conformance suite from `invitation-testkit`, every behaviour,
//! against a real PostgreSQL: each behaviour gets a fresh schema and a pool
//! of 16 connections (the exactly-once race has 64 racers on it).

mod support;

invitation_testkit::store_conformance_tests!(match support::store().await {
    Some(store) => store,
    None => return,
});

//! What the conformance suite cannot see: migrations, rows written by hand,
//! hostile strings, agreement with the in-memory reference on random
//! queries, redemption across pools, and the server going away and coming
//! back.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use invitation_core::time::format_timestamp;
use invitation_core::{
    DeleteOutcome, Filters, FixedData, FlowId, Invitation, InvitationId, InvitationStore,
    ListQuery, Ordering, RedeemOutcome, SearchTerm, SortField, StoreError, UserId,
};
use invitation_memory::MemoryStore;
use invitation_postgres::{PgError, PgStore};
use invitation_testkit::conformance::Fixture;
use serde_json::json;
use support::TestStore;
use uuid::Uuid;

fn at(year: i32, month: u32, day: u32, h: u32, m: u32, s: u32, micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, h, m, s)
        .single()
        .expect("valid test instant")
        + chrono::Duration::microseconds(micros)
}

async fn put(store: &impl InvitationStore, invitation: &Invitation) {
    store.insert(invitation).await.expect("insert");
}

async fn count(db: &TestStore, sql: &str) -> i64 {
    let client = db.store.pool().get().await.expect("connection");
    client
        .query_one(sql, &[])
        .await
        .expect("count query")
        .get(0)
}

mod migrations {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrating_twice_in_a_row_changes_nothing_and_keeps_the_rows() {
        let Some(db) = support::store().await else {
            return;
        };
        let invitation = Invitation::from_parts(Fixture::new().invitation("kept"));
        put(&db, &invitation).await;
        db.store.migrate().await.expect("second migrate");
        db.store.migrate().await.expect("third migrate");
        assert_eq!(
            db.get(invitation.id()).await.expect("get"),
            Some(invitation)
        );
        let versions = count(
            &db,
            &format!(
                "SELECT count(*) FROM \"{}\".schema_migrations",
                db.schema.name()
            ),
        )
        .await;
        assert_eq!(versions, 4, "migrations 0001 to 0004, once each");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn several_stores_migrating_a_fresh_schema_at_once_all_succeed() {
        let Some(url) = support::database().await else {
            return;
        };
        let schema = support::TestSchema::new(&url);
        // Four pools, as four service instances starting together would have.
        let stores: Vec<PgStore> = (0..4).map(|_| schema.store(2)).collect();
        let results = futures::future::join_all(stores.iter().map(PgStore::migrate)).await;
        for result in results {
            result.expect("every concurrent migrate succeeds");
        }
        let invitation = Invitation::from_parts(Fixture::new().invitation("after"));
        put(&stores[0], &invitation).await;
        assert_eq!(
            stores[3].get(invitation.id()).await.expect("get"),
            Some(invitation)
        );
        let client = stores[0].pool().get().await.expect("connection");
        let versions: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM \"{}\".schema_migrations WHERE version = 1",
                    schema.name()
                ),
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(versions, 1, "version 1 applied once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn search_gets_trigram_indexes_when_pg_trgm_is_available() {
        let Some(db) = support::store().await else {
            return;
        };
        let available = count(
            &db,
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'",
        )
        .await;
        let indexes = count(
            &db,
            &format!(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = '{}' \
                 AND indexname IN ('invitations_name_trgm', 'invitations_expires_text_trgm')",
                db.schema.name()
            ),
        )
        .await;
        if available == 1 {
            assert_eq!(indexes, 2);
        } else {
            // Without the extension, migrate() succeeded without them.
            assert_eq!(indexes, 0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_pg_trgm_or_the_right_to_create_it_migrate_succeeds_and_search_still_works() {
        let Some(url) = support::database().await else {
            return;
        };
        // A fresh database without pg_trgm, and a role that owns the schema
        // the host made for it but may create neither schemas nor
        // extensions there. Both are dropped however the test ends.
        let suffix = Uuid::new_v4().simple().to_string();
        let role = format!("inv_test_role_{suffix}");
        let database = format!("inv_test_db_{suffix}");
        let _cleanup = support::Cleanup::new(
            &url,
            vec![
                format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
                format!("DROP ROLE IF EXISTS \"{role}\""),
            ],
        );
        let admin = support::connect(&support::config(&url)).await;
        admin
            .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN"))
            .await
            .expect("create role");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{database}\""))
            .await
            .expect("create database");
        let mut config = support::config(&url);
        config.dbname(&database);
        support::connect(&config)
            .await
            .batch_execute(&format!(
                "CREATE SCHEMA enrollment AUTHORIZATION \"{role}\""
            ))
            .await
            .expect("create schema");

        config.user(&role);
        let store =
            PgStore::with_schema(support::pool_for(config, 2, support::TIMEOUT), "enrollment")
                .expect("schema");
        store.migrate().await.expect("migrate without pg_trgm");
        store.migrate().await.expect("migrate again");
        let client = store.pool().get().await.expect("connection");
        let trigram_indexes: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'enrollment' \
                 AND indexdef LIKE '%gin_trgm_ops%'",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(trigram_indexes, 0);

        let f = Fixture::new();
        let found = Invitation::from_parts(f.invitation("needle"));
        put(&store, &found).await;
        put(&store, &Invitation::from_parts(f.invitation("hay"))).await;
        let mut query = f.query();
        query.search = vec![SearchTerm {
            text: "NEED".to_owned(),
            creators: Vec::new(),
            flows: Vec::new(),
        }];
        assert_eq!(store.list(&query).await.expect("search").items, [found]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unmigrated_schema_answers_ping_with_a_backend_error() {
        let Some(url) = support::database().await else {
            return;
        };
        let schema = support::TestSchema::new(&url);
        let store = schema.store(1);
        let result = store.ping().await;
        assert!(
            matches!(result, Err(StoreError::Backend(_))),
            "got {result:?}"
        );
    }

    #[test]
    fn a_malformed_url_or_schema_is_refused_before_connecting() {
        assert!(matches!(
            PgStore::connect("postgres://[not a host"),
            Err(PgError::Config(_))
        ));
        let store = PgStore::connect("postgres://nobody@127.0.0.1:1/none").expect("lazy pool");
        assert!(matches!(
            PgStore::with_schema(store.pool().clone(), "Robert'); DROP TABLE students;--"),
            Err(PgError::InvalidSchema { .. })
        ));
        assert_eq!(store.schema(), "invitation");
    }
}

mod row_count {
    use super::*;
    use invitation_core::{ListQuery, Ordering};

    async fn unfiltered_total(db: &TestStore) -> u64 {
        let query = ListQuery {
            filters: Default::default(),
            search: Vec::new(),
            ordering: Ordering::DEFAULT,
            offset: 0,
            limit: 1,
        };
        db.list(&query).await.expect("list").total
    }

    async fn table_count(db: &TestStore) -> u64 {
        let sql = format!("SELECT count(*) FROM \"{}\".invitations", db.schema.name());
        u64::try_from(count(db, &sql).await).expect("count is not negative")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_unfiltered_total_stays_exact_through_every_kind_of_write() {
        let Some(db) = support::store().await else {
            return;
        };
        let now = Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        let (f, g) = (Fixture::new(), Fixture::new());
        // Concurrent inserts from many connections (many counter slots).
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = db.store.clone();
                let mut parts = if i % 2 == 0 {
                    f.invitation(&format!("r{i}"))
                } else {
                    g.invitation(&format!("r{i}"))
                };
                parts.single_use = i % 5 == 0;
                parts.expires = (i % 4 == 0).then(|| now - chrono::Duration::days(1));
                tokio::spawn(async move { store.insert(&Invitation::from_parts(parts)).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("insert");
        }
        assert_eq!(
            (unfiltered_total(&db).await, table_count(&db).await),
            (40, 40)
        );

        let one = db.list(&f.query()).await.expect("list").items.remove(0);
        assert_eq!(
            db.delete(one.id(), None).await.expect("delete"),
            DeleteOutcome::Deleted
        );
        db.purge_expired(now).await.expect("purge");
        db.delete_created_by(&g.user)
            .await
            .expect("delete by creator");
        let left = db.list(&f.query()).await.expect("list").items;
        if let Some(single) = left
            .iter()
            .find(|i| i.single_use() && !i.is_expired_at(now))
        {
            let flow = invitation_core::FlowId::from_uuid(Uuid::new_v4());
            db.redeem(single.id(), Some(&flow), now)
                .await
                .expect("redeem");
        }
        let exact = table_count(&db).await;
        assert!(exact < 40);
        assert_eq!(unfiltered_total(&db).await, exact);
    }
}

mod corrupt_rows {
    use super::*;

    const COLUMNS: &str = "id, name, expires, fixed_data, single_use, flow, created_by";

    async fn assert_corrupt_everywhere(db: &TestStore, id: Uuid, user: i64) {
        let id = InvitationId::from_uuid(id);
        let got = db.get(&id).await;
        match &got {
            Err(StoreError::Corrupt {
                id: Some(named),
                source: Some(_),
                ..
            }) => assert_eq!(*named, id, "the error names the row"),
            _ => panic!("get: {got:?}"),
        }
        let query = ListQuery {
            filters: Filters {
                created_by: Some(vec![UserId::new(user)]),
                ..Filters::default()
            },
            search: Vec::new(),
            ordering: Ordering::DEFAULT,
            offset: 0,
            limit: 10,
        };
        let listed = db.list(&query).await;
        assert!(
            matches!(listed, Err(StoreError::Corrupt { .. })),
            "list: {listed:?}"
        );
        let flow = FlowId::from_uuid(Uuid::new_v4());
        let redeemed = db.redeem(&id, Some(&flow), Utc::now()).await;
        assert!(
            matches!(redeemed, Err(StoreError::Corrupt { .. })),
            "redeem: {redeemed:?}"
        );
    }

    /// Inserts a row by hand, bypassing the adapter; returns its id.
    async fn insert_raw(db: &TestStore, user: i64, name: &str, expires: &str, data: &str) -> Uuid {
        let id = Uuid::new_v4();
        db.sql(&format!(
            "INSERT INTO invitations ({COLUMNS}) \
             VALUES ('{id}', '{name}', {expires}, '{data}', false, NULL, {user})"
        ))
        .await
        .expect("raw insert");
        id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hand_written_name_that_breaks_the_name_rules_reads_back_as_corrupt() {
        let Some(db) = support::store().await else {
            return;
        };
        for (user, name) in [
            (101, "a b"),
            (102, " padded"),
            (103, "caf\u{e9}"),
            (104, "semi;colon"),
        ] {
            let id = insert_raw(&db, user, name, "NULL", "{}").await;
            assert_corrupt_everywhere(&db, id, user).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixed_data_that_is_not_an_object_reads_back_as_corrupt() {
        let Some(db) = support::store().await else {
            return;
        };
        db.sql("ALTER TABLE invitations DROP CONSTRAINT invitations_fixed_data_object")
            .await
            .expect("drop check");
        for (user, data) in [(201, "[1, 2]"), (202, "\"{}\""), (203, "null"), (204, "3")] {
            let id = insert_raw(&db, user, "fine", "NULL", data).await;
            assert_corrupt_everywhere(&db, id, user).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_infinite_expiry_reads_back_as_corrupt() {
        let Some(db) = support::store().await else {
            return;
        };
        db.sql("ALTER TABLE invitations DROP CONSTRAINT invitations_expires_finite")
            .await
            .expect("drop check");
        let id = insert_raw(&db, 301, "forever", "'infinity'", "{}").await;
        let got = db.get(&InvitationId::from_uuid(id)).await;
        assert!(
            matches!(got, Err(StoreError::Corrupt { .. })),
            "get: {got:?}"
        );
        // A search that scans the row fails on the row, not on the SQL.
        let mut query = ListQuery {
            filters: Filters {
                created_by: Some(vec![UserId::new(301)]),
                ..Filters::default()
            },
            search: vec![SearchTerm {
                text: "zzz".to_owned(),
                creators: Vec::new(),
                flows: Vec::new(),
            }],
            ordering: Ordering::DEFAULT,
            offset: 0,
            limit: 10,
        };
        assert_eq!(db.list(&query).await.expect("search").total, 0);
        query.search.clear();
        let listed = db.list(&query).await;
        assert!(
            matches!(listed, Err(StoreError::Corrupt { .. })),
            "list: {listed:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_database_refuses_what_its_checks_can_see() {
        let Some(db) = support::store().await else {
            return;
        };
        for values in [
            "gen_random_uuid(), '', NULL, '{}', false, NULL, 1",
            "gen_random_uuid(), repeat('a', 51), NULL, '{}', false, NULL, 1",
            "gen_random_uuid(), 'x', NULL, '[]', false, NULL, 1",
            "gen_random_uuid(), 'x', '-infinity', '{}', false, NULL, 1",
            "gen_random_uuid(), NULL, NULL, '{}', false, NULL, 1",
            "gen_random_uuid(), 'x', NULL, NULL, false, NULL, 1",
            "gen_random_uuid(), 'x', NULL, '{}', NULL, NULL, 1",
            "gen_random_uuid(), 'x', NULL, '{}', false, NULL, NULL",
        ] {
            let refused = db
                .sql(&format!(
                    "INSERT INTO invitations ({COLUMNS}) VALUES ({values})"
                ))
                .await;
            assert!(refused.is_err(), "accepted {values}");
        }
    }
}

mod hostile_strings {
    use super::*;

    const HOSTILE: [&str; 8] = [
        "'; DROP TABLE invitations; --",
        "\"; DROP SCHEMA public CASCADE; --",
        "%",
        "_",
        "\\",
        "$1",
        "' OR '1'='1",
        "\\%\\_",
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn strings_that_look_like_sql_are_stored_and_matched_literally() {
        let Some(db) = support::store().await else {
            return;
        };
        let reference = MemoryStore::new();
        let f = Fixture::new();
        let mut fixed = serde_json::Map::new();
        for (i, text) in HOSTILE.iter().enumerate() {
            fixed.insert(
                (*text).to_owned(),
                json!({ "i": i, "value": text, "list": [text] }),
            );
        }
        let mut parts = f.invitation("under_score");
        parts.fixed_data = FixedData::try_from(fixed).expect("an object");
        let rich = Invitation::from_parts(parts);
        let plain = Invitation::from_parts(f.invitation("plain-1"));
        for invitation in [&rich, &plain] {
            put(&db, invitation).await;
            put(&reference, invitation).await;
        }
        assert_eq!(db.get(rich.id()).await.expect("get"), Some(rich.clone()));

        let mut query = f.query();
        for text in HOSTILE {
            query.filters.name = Some(text.to_owned());
            query.search = Vec::new();
            let page = db.list(&query).await.expect("name filter");
            assert_eq!(page.total, 0, "name filter {text:?}");

            query.filters.name = None;
            query.search = vec![SearchTerm {
                text: text.to_owned(),
                creators: Vec::new(),
                flows: Vec::new(),
            }];
            let page = db.list(&query).await.expect("search");
            let expected = reference.list(&query).await.expect("reference");
            assert_eq!(page, expected, "search {text:?}");
        }
        query.search = vec![SearchTerm {
            text: "_".to_owned(),
            creators: Vec::new(),
            flows: Vec::new(),
        }];
        assert_eq!(
            db.list(&query).await.expect("search").items,
            std::slice::from_ref(&rich),
            "`_` matches only a literal underscore"
        );
        // Everything is still there.
        db.ping().await.expect("table still there");
        assert_eq!(db.list(&f.query()).await.expect("list").total, 2);
    }
}

mod nesting {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixed_data_nested_100_levels_deep_round_trips() {
        let Some(db) = support::store().await else {
            return;
        };
        let deep = (1..100).fold(
            json!({}),
            |inner, i| json!({ format!("k{i}"): inner, "n": [i] }),
        );
        let mut parts = Fixture::new().invitation("deep");
        parts.fixed_data = FixedData::try_from(deep).expect("100 levels are fixed data");
        let invitation = Invitation::from_parts(parts);
        put(&db, &invitation).await;
        assert_eq!(
            db.get(invitation.id()).await.expect("get"),
            Some(invitation)
        );
    }
}

use support::rng::Rng;

mod reference {
    use super::*;

    const NAMES: [&str; 14] = [
        "alpha",
        "Alpha",
        "ALPHA-1",
        "beta_2",
        "beta-2",
        "a_b",
        "a-b",
        "aXb",
        "x",
        "X",
        "k",
        "zz9",
        "under_score",
        "2036-02",
    ];

    fn instants() -> Vec<DateTime<Utc>> {
        vec![
            at(2036, 2, 3, 12, 30, 45, 0),
            at(2036, 2, 3, 12, 30, 45, 7),
            at(1999, 12, 31, 23, 59, 59, 999_999),
            at(2000, 1, 1, 0, 0, 0, 0),
            at(1969, 7, 20, 20, 17, 40, 0),
            at(1900, 1, 1, 0, 0, 0, 1),
            at(2099, 12, 31, 0, 0, 0, 500_000),
        ]
    }

    fn flows() -> Vec<FlowId> {
        [
            0x1000_0000_0000_4000_8000_0000_0000_0001_u128,
            0x8000_0000_0000_4000_8000_0000_0000_0001,
            0xf000_0000_0000_4000_8000_0000_0000_0001,
        ]
        .into_iter()
        .map(|n| FlowId::from_uuid(Uuid::from_u128(n)))
        .collect()
    }

    fn search_text(rng: &mut Rng) -> String {
        const FIXED: [&str; 18] = [
            "",
            "%",
            "_",
            "\\",
            "a_",
            "-",
            "T",
            "Z",
            ":",
            "2036",
            "02-03T12",
            ".000007",
            "1999-12-31T23:59:59.999999Z",
            "1900-01-01T00:00:00.000001Z",
            "\u{212a}",
            "\u{e9}",
            "a\0",
            " ",
        ];
        if rng.chance(40) {
            return (*rng.pick(&FIXED)).to_owned();
        }
        let name = *rng.pick(&NAMES);
        let start = rng.below(name.len());
        let end = start + 1 + rng.below(name.len() - start);
        rng.flip_case(&name[start..end])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_agrees_with_the_in_memory_reference_on_random_queries() {
        let Some(db) = support::store().await else {
            return;
        };
        let seed: u64 = std::env::var("INVITATION_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_1234_abcd_0001);
        let mut rng = Rng(seed);
        let reference = MemoryStore::new();
        let instants = instants();
        let flows = flows();
        let users = [UserId::new(1), UserId::new(2), UserId::new(3)];

        for _ in 0..60 {
            let mut parts = Fixture::new().invitation("x");
            let name = *rng.pick(&NAMES[..]);
            parts.name = invitation_core::InvitationName::parse(name).expect("name");
            parts.expires = if rng.chance(30) {
                None
            } else {
                Some(*rng.pick(&instants))
            };
            parts.single_use = rng.chance(50);
            parts.flow = if rng.chance(30) {
                None
            } else {
                Some(*rng.pick(&flows))
            };
            parts.created_by = *rng.pick(&users);
            let invitation = Invitation::from_parts(parts);
            put(&db, &invitation).await;
            put(&reference, &invitation).await;
        }

        let fields = SortField::ALL;
        let mut more_users = users.to_vec();
        more_users.push(UserId::new(4));
        let mut more_flows = flows.clone();
        more_flows.push(FlowId::from_uuid(Uuid::new_v4()));
        for round in 0..400 {
            let mut filters = Filters::default();
            if rng.chance(25) {
                let name = match rng.below(4) {
                    0 => {
                        let name = *rng.pick(&NAMES);
                        rng.flip_case(name)
                    }
                    1 => "a\0b".to_owned(),
                    _ => (*rng.pick(&NAMES)).to_owned(),
                };
                filters.name = Some(name);
            }
            if rng.chance(25) {
                filters.created_by = Some(rng.subset(&more_users, 40));
            }
            if rng.chance(20) {
                filters.expires = Some(if rng.chance(10) {
                    // Finer than any stored expiry: matches nothing.
                    *rng.pick(&instants) + chrono::Duration::nanoseconds(500)
                } else {
                    *rng.pick(&instants)
                });
            }
            if rng.chance(20) {
                filters.flow = Some(rng.subset(&more_flows, 40));
            }
            let search = (0..rng.below(3))
                .map(|_| SearchTerm {
                    text: search_text(&mut rng),
                    creators: rng.subset(&more_users, 15),
                    flows: rng.subset(&more_flows, 15),
                })
                .collect();
            let query = ListQuery {
                filters,
                search,
                ordering: Ordering {
                    field: *rng.pick(&fields),
                    descending: rng.chance(50),
                },
                offset: rng.below(70) as u64,
                limit: rng.below(70) as u64,
            };
            let got = db.list(&query).await.expect("list");
            let expected = reference.list(&query).await.expect("reference list");
            assert_eq!(got, expected, "seed {seed:#x}, round {round}: {query:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_expiry_text_in_sql_is_what_the_api_writes() {
        let Some(db) = support::store().await else {
            return;
        };
        let mut rng = Rng(0x7e57_0000_0000_0001);
        let mut instants = instants();
        for _ in 0..2000 {
            // Any instant from year 1 to 9999, whole seconds half the time.
            let seconds =
                i64::try_from(rng.next() % 315_537_897_599).expect("fits") - 62_135_596_800;
            let micros = if rng.chance(50) {
                0
            } else {
                rng.below(1_000_000)
            };
            let micros = u32::try_from(micros).expect("fits");
            instants.push(DateTime::from_timestamp(seconds, micros * 1000).expect("in range"));
        }
        let client = db.store.pool().get().await.expect("connection");
        let rows = client
            .query(
                &format!(
                    "SELECT t, \"{}\".expires_text(t) FROM unnest($1::timestamptz[]) AS t",
                    db.schema.name()
                ),
                &[&instants],
            )
            .await
            .expect("query");
        assert_eq!(rows.len(), instants.len());
        for row in rows {
            let instant: DateTime<Utc> = row.get(0);
            let text: String = row.get(1);
            assert_eq!(text, format_timestamp(&instant), "{instant:?}");
        }
    }
}

mod redemption {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn single_use_redemption_is_exactly_once_across_several_pools() {
        let Some(db) = support::store().await else {
            return;
        };
        const POOLS: usize = 4;
        const RACERS_PER_POOL: usize = 8;
        const INVITATIONS: usize = 25;
        let f = Fixture::new();
        let flow = FlowId::from_uuid(Uuid::new_v4());
        let mut ids = Vec::new();
        for i in 0..INVITATIONS {
            let mut parts = f.invitation(&format!("once{i}"));
            parts.single_use = true;
            parts.flow = if i % 2 == 0 { Some(flow) } else { None };
            let invitation = Invitation::from_parts(parts);
            put(&db, &invitation).await;
            ids.push(*invitation.id());
        }
        // Separate pools stand for separate service processes.
        let stores: Vec<PgStore> = (0..POOLS).map(|_| db.another(RACERS_PER_POOL)).collect();
        let now = Utc::now();
        let mut tasks = Vec::new();
        for id in &ids {
            for store in &stores {
                for _ in 0..RACERS_PER_POOL {
                    let (store, id) = (store.clone(), *id);
                    tasks.push(tokio::spawn(async move {
                        store.redeem(&id, Some(&flow), now).await
                    }));
                }
            }
        }
        let mut winners = std::collections::HashMap::new();
        for task in tasks {
            match task.await.expect("racer").expect("redeem") {
                RedeemOutcome::Redeemed(invitation) => {
                    *winners.entry(*invitation.id()).or_insert(0) += 1;
                }
                RedeemOutcome::NotFound => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(winners.len(), INVITATIONS);
        assert!(winners.values().all(|&n| n == 1), "{winners:?}");
        assert_eq!(db.list(&f.query()).await.expect("list").total, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn schemas_keep_their_rows_apart() {
        let Some(a) = support::store().await else {
            return;
        };
        let Some(b) = support::store().await else {
            return;
        };
        let invitation = Invitation::from_parts(Fixture::new().invitation("mine"));
        put(&a, &invitation).await;
        assert_eq!(b.get(invitation.id()).await.expect("get"), None);
        put(&b, &invitation).await;
        assert_eq!(
            a.delete(invitation.id(), None).await.expect("delete"),
            DeleteOutcome::Deleted
        );
        assert_eq!(b.get(invitation.id()).await.expect("get"), Some(invitation));
    }
}

mod outage {
    //! The server going away: a TCP proxy in the test, on an ephemeral
    //! loopback port in front of the test database, that can be stopped
    //! (the port closes and every proxied connection is cut, as when the
    //! server dies) and started again on the same port, or can accept
    //! connections and never answer (a hung server).

    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;
    use tokio_postgres::config::Host;
    use tokio_postgres::Config;

    use super::*;

    /// The pool timeouts the stores behind the proxy use.
    const POOL_TIMEOUT: Duration = Duration::from_secs(2);
    /// Wait, create and recycle timeouts together, and then some: a call
    /// still running after this has hung.
    const ANSWER_WITHIN: Duration = Duration::from_secs(10);

    #[derive(Clone, Copy)]
    enum Mode {
        Forward,
        Silent,
    }

    struct Proxy {
        addr: SocketAddr,
        upstream: SocketAddr,
        mode: Mode,
        accept: Option<JoinHandle<()>>,
        connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    }

    impl Proxy {
        async fn start(upstream: SocketAddr, mode: Mode) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let mut proxy = Self {
                addr: listener.local_addr().expect("address"),
                upstream,
                mode,
                accept: None,
                connections: Arc::default(),
            };
            proxy.serve(listener);
            proxy
        }

        fn serve(&mut self, listener: TcpListener) {
            let (upstream, mode, connections) =
                (self.upstream, self.mode, self.connections.clone());
            self.accept = Some(tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let task = tokio::spawn(async move {
                        match mode {
                            Mode::Forward => {
                                if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                                    let _ =
                                        tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                            .await;
                                }
                            }
                            Mode::Silent => {
                                let _held = inbound;
                                std::future::pending::<()>().await;
                            }
                        }
                    });
                    connections.lock().expect("lock").push(task);
                }
            }));
        }

        /// Closes the port and cuts every proxied connection.
        async fn stop(&mut self) {
            if let Some(accept) = self.accept.take() {
                accept.abort();
                let _ = accept.await;
            }
            let tasks: Vec<_> = self.connections.lock().expect("lock").drain(..).collect();
            for task in tasks {
                task.abort();
                let _ = task.await;
            }
        }

        /// Listens again on the same port.
        async fn restart(&mut self) {
            let listener = TcpListener::bind(self.addr).await.expect("rebind");
            self.serve(listener);
        }

        /// A store over the proxy, in `schema`, with short pool timeouts.
        fn store(&self, url: &str, schema: &str) -> PgStore {
            let base: Config = url.parse().expect("URL");
            let mut config = Config::new();
            if let Some(user) = base.get_user() {
                config.user(user);
            }
            if let Some(password) = base.get_password() {
                config.password(password);
            }
            if let Some(dbname) = base.get_dbname() {
                config.dbname(dbname);
            }
            config
                .host("127.0.0.1")
                .port(self.addr.port())
                .connect_timeout(POOL_TIMEOUT);
            let pool = support::pool_for(config, 4, POOL_TIMEOUT);
            PgStore::with_schema(pool, schema).expect("schema")
        }
    }

    async fn upstream(url: &str) -> SocketAddr {
        let config: Config = url.parse().expect("URL");
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            _ => panic!("the outage tests need a TCP database URL"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        tokio::net::lookup_host(format!("{host}:{port}"))
            .await
            .expect("resolve database host")
            .next()
            .expect("an address")
    }

    fn assert_unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
        match result {
            Err(e @ StoreError::Unavailable(_)) => assert!(e.is_retryable()),
            other => panic!("{what}: expected Unavailable, got {other:?}"),
        }
    }

    async fn within<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(ANSWER_WITHIN, call)
            .await
            .unwrap_or_else(|_| panic!("{what} did not answer within {ANSWER_WITHIN:?}"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_gone_away_is_unavailable_and_the_same_store_works_once_it_is_back() {
        let Some(db) = support::store().await else {
            return;
        };
        let mut proxy = Proxy::start(upstream(db.schema.url()).await, Mode::Forward).await;
        let store = proxy.store(db.schema.url(), db.schema.name());
        let f = Fixture::new();
        let invitation = Invitation::from_parts(f.invitation("survivor"));
        put(&store, &invitation).await;

        proxy.stop().await;
        let flow = FlowId::from_uuid(Uuid::new_v4());
        assert_unavailable("get", within("get", store.get(invitation.id())).await);
        assert_unavailable("list", within("list", store.list(&f.query())).await);
        assert_unavailable(
            "redeem",
            within(
                "redeem",
                store.redeem(invitation.id(), Some(&flow), Utc::now()),
            )
            .await,
        );
        let other = Invitation::from_parts(f.invitation("lost"));
        assert_unavailable("insert", within("insert", store.insert(&other)).await);
        assert_unavailable("ping", within("ping", store.ping()).await);

        proxy.restart().await;
        within("ping", store.ping()).await.expect("ping once back");
        assert_eq!(
            store.get(invitation.id()).await.expect("get once back"),
            Some(invitation)
        );
        put(&store, &other).await;
        assert_eq!(store.list(&f.query()).await.expect("list").total, 2);
        proxy.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_never_answers_is_unavailable_within_the_pool_timeout() {
        let Some(db) = support::store().await else {
            return;
        };
        let mut proxy = Proxy::start(upstream(db.schema.url()).await, Mode::Silent).await;
        let store = proxy.store(db.schema.url(), db.schema.name());
        let id = InvitationId::from_uuid(Uuid::new_v4());
        assert_unavailable("get", within("get", store.get(&id)).await);
        assert_unavailable("ping", within("ping", store.ping()).await);
        proxy.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_port_is_unavailable() {
        // No database needed: nothing listens on the port.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let store = PgStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .expect("lazy pool");
        assert_unavailable("ping", within("ping", store.ping()).await);
        let migrated = within("migrate", store.migrate()).await;
        assert!(
            matches!(&migrated, Err(e @ PgError::Pool(_)) if e.is_retryable()),
            "{migrated:?}"
        );
    }
}

/// A compare-and-set that waits for another transaction's write to the
/// same row answers from the row as that write left it.
mod concurrent_writes {
    use super::*;
    use invitation_core::{DeleteOutcome, InvitationPatch, UpdateOutcome, Version};

    /// Runs `write` in a transaction of its own that stays open while
    /// `call` starts (and waits for the row lock), then commits it, and
    /// returns what `call` answered.
    async fn after_a_concurrent<T: Send + 'static>(
        db: &TestStore,
        write: &str,
        call: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let client = db.store.pool().get().await.expect("connection");
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL search_path TO \"{}\"; {write}",
                db.schema.name()
            ))
            .await
            .expect("the concurrent write");
        let call = tokio::spawn(call);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!call.is_finished(), "the call waits for the row lock");
        client.batch_execute("COMMIT").await.expect("commit");
        call.await.expect("the call's task")
    }

    fn rename() -> InvitationPatch {
        InvitationPatch {
            name: Some(invitation_core::InvitationName::parse("renamed").expect("a valid name")),
            ..InvitationPatch::default()
        }
    }

    #[tokio::test]
    async fn a_stale_update_or_delete_names_the_version_the_other_write_left() {
        let Some(db) = support::store().await else {
            return;
        };
        let invitation = Invitation::from_parts(Fixture::new().invitation("raced"));
        put(&db.store, &invitation).await;
        let id = *invitation.id();
        let bump = format!("UPDATE invitations SET version = version + 1 WHERE id = '{id}'");
        let store = db.store.clone();
        let updated = after_a_concurrent(&db, &bump, async move {
            store.update(&id, &rename(), Some(Version::FIRST)).await
        })
        .await
        .expect("update");
        let second = Version::FIRST.next();
        assert_eq!(updated, UpdateOutcome::VersionMismatch { current: second });

        let bump = format!("UPDATE invitations SET version = version + 1 WHERE id = '{id}'");
        let store = db.store.clone();
        let deleted =
            after_a_concurrent(
                &db,
                &bump,
                async move { store.delete(&id, Some(second)).await },
            )
            .await
            .expect("delete");
        assert_eq!(
            deleted,
            DeleteOutcome::VersionMismatch {
                current: second.next()
            }
        );
    }

    #[tokio::test]
    async fn a_stale_update_or_delete_of_a_row_another_write_deleted_is_not_found() {
        let Some(db) = support::store().await else {
            return;
        };
        for delete in [false, true] {
            let invitation = Invitation::from_parts(Fixture::new().invitation("gone"));
            put(&db.store, &invitation).await;
            let id = *invitation.id();
            let remove = format!("DELETE FROM invitations WHERE id = '{id}'");
            let store = db.store.clone();
            if delete {
                let answer = after_a_concurrent(&db, &remove, async move {
                    store.delete(&id, Some(Version::FIRST)).await
                })
                .await
                .expect("delete");
                assert_eq!(answer, DeleteOutcome::NotFound);
            } else {
                let answer = after_a_concurrent(&db, &remove, async move {
                    store.update(&id, &rename(), Some(Version::FIRST)).await
                })
                .await
                .expect("update");
                assert_eq!(answer, UpdateOutcome::NotFound);
            }
        }
    }
}

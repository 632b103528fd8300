//! The adapter under attack and under load: bounded statement shapes,
//! statement timeouts, cancellation of abandoned calls, migrations that do
//! not queue behind other sessions' locks, and the error mapping.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use invitation_core::{
    Filters, FlowId, Invitation, InvitationStore, ListQuery, Ordering, SearchTerm, SortField,
    StoreError, UserId,
};
use invitation_memory::MemoryStore;
use invitation_postgres::tokio_postgres::error::SqlState;
use invitation_postgres::{PgError, PgOptions, PgStore, MAX_PREPARED_STATEMENTS};
use invitation_testkit::conformance::Fixture;
use uuid::Uuid;

/// A store with a pool of its own, built by `PgStore::connect_with`, its
/// connections named `application_name` so a test can find its backends.
async fn own_store(options: PgOptions) -> Option<(PgStore, support::TestSchema, String)> {
    let url = support::database().await?;
    let schema = support::TestSchema::new(&url);
    let app = format!("inv-test-{}", Uuid::new_v4().simple());
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = PgStore::connect_with(&format!("{url}{separator}application_name={app}"), &options)
        .expect("store")
        .in_schema(schema.name())
        .expect("schema");
    store.migrate().await.expect("migrate");
    Some((store, schema, app))
}

/// A connection of the test's own (no pool).
async fn admin(url: &str) -> tokio_postgres::Client {
    support::connect(&support::config(url)).await
}

fn search(words: &[&str]) -> ListQuery {
    ListQuery {
        filters: Filters::default(),
        search: words
            .iter()
            .map(|w| SearchTerm {
                text: (*w).to_owned(),
                creators: Vec::new(),
                flows: Vec::new(),
            })
            .collect(),
        ordering: Ordering::DEFAULT,
        offset: 0,
        limit: 20,
    }
}

/// A connection of its own holding `lock` (statements after `BEGIN`) in an
/// open transaction, until `ROLLBACK`.
async fn hold(url: &str, lock: &str) -> tokio_postgres::Client {
    let client = admin(url).await;
    client
        .batch_execute(&format!("BEGIN; {lock}"))
        .await
        .expect("lock taken");
    client
}

/// A connection of its own holding an ACCESS EXCLUSIVE lock on `table` of
/// the schema, until `ROLLBACK`.
async fn lock_table(schema: &support::TestSchema, table: &str) -> tokio_postgres::Client {
    let lock = format!(
        "LOCK TABLE \"{}\".{table} IN ACCESS EXCLUSIVE MODE",
        schema.name()
    );
    hold(schema.url(), &lock).await
}

async fn active_backends(client: &tokio_postgres::Client, app: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
            &[&app],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

mod statement_shapes {
    use super::*;

    use support::rng::Rng;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_list_shapes_of_up_to_2000_words_leave_a_bounded_number_of_prepared_statements(
    ) {
        let Some(url) = support::database().await else {
            return;
        };
        let schema = support::TestSchema::new(&url);
        // One connection: every statement goes through it.
        let store = schema.store(1);
        store.migrate().await.expect("migrate");
        let reference = MemoryStore::new();
        let users = [UserId::new(1), UserId::new(2), UserId::new(3)];
        let flows: Vec<FlowId> = (0..3).map(|_| FlowId::from_uuid(Uuid::new_v4())).collect();
        let names = ["alpha-1", "beta-22", "gamma_3", "Delta", "team-42-invite"];
        let mut rng = Rng(0x5ea7_0000_0000_0001);
        for i in 0..30 {
            let mut parts = Fixture::new().invitation(names[i % names.len()]);
            parts.created_by = users[i % 3];
            parts.flow = (i % 2 == 0).then(|| flows[i % 3]);
            parts.expires = (i % 4 != 0)
                .then(|| chrono::DateTime::from_timestamp(2_000_000_000 + 3_600 * i as i64, 0))
                .flatten();
            let invitation = Invitation::from_parts(parts);
            store.insert(&invitation).await.expect("insert");
            reference.insert(&invitation).await.expect("insert");
        }
        // Words that match many rows, some few, some none.
        let vocabulary = [
            "a", "e", "-", "2", "T", "Z", "alpha", "ta", "_", "%", "20", "invite", "zzz", "é",
            "03:", "",
        ];
        let fields = SortField::ALL;
        for round in 0..200 {
            let count = match round % 4 {
                0 => round * 10,
                1 => rng.below(17),
                2 => 17 + rng.below(40),
                _ => 2000 - rng.below(100),
            };
            let search = (0..count)
                .map(|_| SearchTerm {
                    text: vocabulary[rng.below(vocabulary.len())].to_owned(),
                    creators: if rng.below(3) == 0 {
                        vec![users[rng.below(3)]]
                    } else {
                        Vec::new()
                    },
                    flows: if rng.below(4) == 0 {
                        vec![flows[rng.below(3)]]
                    } else {
                        Vec::new()
                    },
                })
                .collect();
            let mut filters = Filters::default();
            if rng.below(3) == 0 {
                filters.name = Some(names[rng.below(names.len())].to_owned());
            }
            if rng.below(3) == 0 {
                filters.created_by = Some(vec![users[rng.below(3)], users[rng.below(3)]]);
            }
            if rng.below(4) == 0 {
                filters.flow = Some(vec![flows[rng.below(3)]]);
            }
            let query = ListQuery {
                filters,
                search,
                ordering: Ordering {
                    field: fields[rng.below(fields.len())],
                    descending: rng.below(2) == 0,
                },
                offset: rng.below(5) as u64,
                limit: 1 + rng.below(30) as u64,
            };
            let got = store.list(&query).await.expect("list");
            let expected = reference.list(&query).await.expect("reference");
            assert_eq!(got, expected, "round {round}, {count} words");
        }
        let client = store.pool().get().await.expect("the pool's connection");
        // simple_query: counting must not prepare a statement itself.
        let rows = client
            .simple_query("SELECT count(*) FROM pg_prepared_statements")
            .await
            .expect("count");
        let prepared: usize = rows
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            })
            .expect("a count")
            .parse()
            .expect("a number");
        assert!(
            prepared <= MAX_PREPARED_STATEMENTS,
            "{prepared} prepared statements, bound {MAX_PREPARED_STATEMENTS}"
        );
    }
}

mod time_bounds {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_statement_past_the_statement_timeout_is_unavailable_and_retryable() {
        let options = PgOptions::new().statement_timeout(Duration::from_millis(300));
        let Some((store, schema, _app)) = own_store(options).await else {
            return;
        };
        let locker = lock_table(&schema, "invitations").await;
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(5), store.list(&search(&["x"])))
            .await
            .expect("the server ends the statement");
        match result {
            Err(e @ StoreError::Unavailable(_)) => {
                assert!(e.is_retryable());
                let source = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<tokio_postgres::Error>())
                    .expect("the driver's error");
                assert_eq!(source.code(), Some(&SqlState::QUERY_CANCELED));
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(3));
        locker.batch_execute("ROLLBACK").await.expect("unlock");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_call_cancels_its_statement_and_no_backend_of_the_pool_stays_busy() {
        let options = PgOptions::new().max_size(NonZeroUsize::new(2).unwrap());
        let Some((store, schema, app)) = own_store(options).await else {
            return;
        };
        let locker = lock_table(&schema, "invitations").await;
        // Two calls wait on the lock; their futures are dropped.
        for _ in 0..2 {
            let abandoned = tokio::time::timeout(
                Duration::from_millis(300),
                store.list(&search(&["abandoned"])),
            )
            .await;
            assert!(abandoned.is_err(), "the call waits on the lock");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let observer = admin(schema.url()).await;
        assert_eq!(
            active_backends(&observer, &app).await,
            0,
            "a backend of the pool still runs an abandoned statement"
        );
        locker.batch_execute("ROLLBACK").await.expect("unlock");
        // The pool opens fresh connections in their place.
        assert_eq!(store.list(&search(&["x"])).await.expect("list").total, 0);
    }
}

mod migrations {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_migrate_does_not_wait_for_a_transaction_holding_row_locks_nor_block_writers()
    {
        let Some((store, schema, _app)) = own_store(PgOptions::new()).await else {
            return;
        };
        let f = Fixture::new();
        let kept = Invitation::from_parts(f.invitation("locked"));
        store.insert(&kept).await.expect("insert");
        let holder = hold(
            schema.url(),
            &format!(
                "UPDATE \"{}\".invitations SET name = name WHERE id = '{}'",
                schema.name(),
                kept.id()
            ),
        )
        .await;

        let started = Instant::now();
        let writer = store.clone();
        let written = Invitation::from_parts(f.invitation("written"));
        let (migrated, inserted) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(10), store.migrate()),
            tokio::time::timeout(Duration::from_secs(5), async {
                // Start writing while migrate() runs.
                tokio::time::sleep(Duration::from_millis(20)).await;
                writer.insert(&written).await
            }),
        );
        migrated
            .expect("migrate returns")
            .expect("migrate succeeds");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        inserted
            .expect("the writer is not blocked")
            .expect("insert");
        holder.batch_execute("ROLLBACK").await.expect("release");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lock_held_past_the_migration_budget_fails_migrate_with_a_lock_timeout() {
        let options = PgOptions::new()
            .migration_timeouts(Duration::from_millis(200), Duration::from_millis(1500));
        let Some((store, schema, _app)) = own_store(options).await else {
            return;
        };
        let holder = lock_table(&schema, "schema_migrations").await;
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(10), store.migrate())
            .await
            .expect("migrate gives up in time");
        assert!(
            matches!(result, Err(PgError::LockTimeout { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(4));
        holder.batch_execute("ROLLBACK").await.expect("release");
        store
            .migrate()
            .await
            .expect("migrate once the lock is gone");
    }

    async fn index_is_valid(
        client: &tokio_postgres::Client,
        schema: &str,
        index: &str,
    ) -> Option<bool> {
        client
            .query_opt(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2",
                &[&schema, &index],
            )
            .await
            .expect("catalog")
            .map(|row| row.get(0))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_search_index_is_built_and_one_left_invalid_is_built_again() {
        let Some((store, schema, _app)) = own_store(PgOptions::new()).await else {
            return;
        };
        let client = admin(schema.url()).await;
        let trigram = client
            .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'", &[])
            .await
            .expect("extension")
            .is_some();
        if !trigram {
            return;
        }
        let f = Fixture::new();
        for i in 0..50 {
            store
                .insert(&Invitation::from_parts(f.invitation(&format!("row-{i}"))))
                .await
                .expect("insert");
        }
        let s = schema.name();
        client
            .batch_execute(&format!(
                "DROP INDEX \"{s}\".invitations_name_trgm; \
                 UPDATE pg_index SET indisvalid = false \
                  WHERE indexrelid = '\"{s}\".invitations_expires_text_trgm'::regclass"
            ))
            .await
            .expect("break the indexes");
        store.migrate().await.expect("migrate");
        for index in ["invitations_name_trgm", "invitations_expires_text_trgm"] {
            assert_eq!(
                index_is_valid(&client, s, index).await,
                Some(true),
                "{index}"
            );
        }
        assert_eq!(
            store.list(&search(&["row-4"])).await.expect("search").total,
            11
        );
    }
}

mod errors {
    use super::*;

    /// Makes inserts into the schema's table fail with `state` the first
    /// `times` times (a sequence counts: it is not rolled back).
    async fn fail_inserts(client: &tokio_postgres::Client, schema: &str, state: &str, times: i64) {
        client
            .batch_execute(&format!(
                "DROP TRIGGER IF EXISTS fail_first ON \"{schema}\".invitations; \
                 DROP SEQUENCE IF EXISTS \"{schema}\".failures; \
                 CREATE SEQUENCE \"{schema}\".failures; \
                 CREATE OR REPLACE FUNCTION \"{schema}\".fail_first() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN \
                   IF nextval('\"{schema}\".failures') <= {times} THEN \
                     RAISE EXCEPTION 'injected' USING ERRCODE = '{state}'; \
                   END IF; \
                   RETURN NEW; END $$; \
                 CREATE TRIGGER fail_first BEFORE INSERT ON \"{schema}\".invitations \
                   FOR EACH ROW EXECUTE FUNCTION \"{schema}\".fail_first();"
            ))
            .await
            .expect("install the failing trigger");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serialization_failures_and_deadlocks_are_retried_once_then_unavailable() {
        let Some(db) = support::store().await else {
            return;
        };
        let client = admin(db.schema.url()).await;
        let f = Fixture::new();
        for state in ["40001", "40P01"] {
            fail_inserts(&client, db.schema.name(), state, 1).await;
            let once = Invitation::from_parts(f.invitation("once"));
            db.store.insert(&once).await.expect("retried once");
            assert!(db.store.get(once.id()).await.expect("get").is_some());

            fail_inserts(&client, db.schema.name(), state, 2).await;
            let twice = Invitation::from_parts(f.invitation("twice"));
            match db.store.insert(&twice).await {
                Err(e @ StoreError::Unavailable(_)) => {
                    let source = std::error::Error::source(&e)
                        .and_then(|s| s.downcast_ref::<tokio_postgres::Error>())
                        .expect("the driver's error");
                    assert_eq!(source.code().map(SqlState::code), Some(state));
                }
                other => panic!("{state} twice: expected Unavailable, got {other:?}"),
            }
            assert_eq!(db.store.get(twice.id()).await.expect("get"), None);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prepared_statement_whose_result_type_changed_is_prepared_again() {
        let Some(url) = support::database().await else {
            return;
        };
        let schema = support::TestSchema::new(&url);
        let store = schema.store(1);
        store.migrate().await.expect("migrate");
        let invitation = Invitation::from_parts(Fixture::new().invitation("typed"));
        store.insert(&invitation).await.expect("insert");
        // Prepared and cached on the one connection.
        assert!(store.get(invitation.id()).await.expect("get").is_some());
        admin(&url)
            .await
            .batch_execute(&format!(
                "ALTER TABLE \"{}\".invitations ALTER COLUMN name TYPE varchar(60)",
                schema.name()
            ))
            .await
            .expect("alter");
        assert_eq!(
            store
                .get(invitation.id())
                .await
                .expect("get after the change"),
            Some(invitation)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_side_encoding_errors_are_not_retryable_and_a_closed_connection_is() {
        let Some(url) = support::database().await else {
            return;
        };
        let client = admin(&url).await;
        // A parameter of the wrong type: tokio-postgres's ToSql error.
        let wrong_type = client
            .query("SELECT $1::int4", &[&"not a number"])
            .await
            .expect_err("a ToSql error");
        assert!(!PgError::Database(wrong_type).is_retryable());
        // A string the protocol cannot carry: an io::Error made by the
        // driver, not by the socket.
        let nul = client
            .simple_query("SELECT 1 -- \0")
            .await
            .expect_err("an encoding error");
        assert!(!PgError::Database(nul).is_retryable());

        let victim = admin(&url).await;
        let pid: i32 = victim
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        client
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let gone = victim
            .simple_query("SELECT 1")
            .await
            .expect_err("terminated");
        assert!(PgError::Database(gone).is_retryable());
    }
}

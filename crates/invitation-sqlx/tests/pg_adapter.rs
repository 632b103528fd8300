//! What the PostgreSQL conformance suites do not cover: migrations from
//! many pools (and both adapters) at once, the schema name, and how
//! failures map into `StoreError`.
#![cfg(feature = "postgres")]
// Tests: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod pg_support;

use std::time::Duration;

use invitation_core::{InvitationStore, StoreError};
use invitation_postgres::PgStore;
use invitation_sqlx::sqlx::postgres::PgPoolOptions;
use invitation_sqlx::sqlx::{self, Connection, PgConnection};
use invitation_sqlx::{PostgresStore, SqlxError};
use pg_support::TestSchema;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_of_both_adapters_migrating_one_schema_at_once_apply_each_migration_once() {
    let Some(url) = pg_support::database().await else {
        return;
    };
    let schema = TestSchema::new(&url);
    let sqlx_stores: Vec<PostgresStore> = (0..6).map(|_| schema.store(1)).collect();
    let pg_stores: Vec<PgStore> = (0..2)
        .map(|_| {
            PgStore::connect(&url)
                .unwrap()
                .in_schema(&schema.name)
                .unwrap()
        })
        .collect();

    let (sqlx_results, pg_results) = futures::future::join(
        futures::future::join_all(sqlx_stores.iter().map(PostgresStore::migrate)),
        futures::future::join_all(pg_stores.iter().map(PgStore::migrate)),
    )
    .await;

    for result in sqlx_results {
        result.expect("every sqlx migration run succeeds");
    }
    for result in pg_results {
        result.expect("every invitation-postgres migration run succeeds");
    }
    let recorded: Vec<i32> = sqlx::query_scalar(&format!(
        "SELECT version FROM \"{}\".schema_migrations ORDER BY version",
        schema.name
    ))
    .fetch_all(sqlx_stores[0].pool())
    .await
    .unwrap();
    assert_eq!(recorded, [1, 2, 3, 4]);
    sqlx_stores[0]
        .ping()
        .await
        .expect("the migrated store answers");
    assert_eq!(sqlx_stores[0].schema(), schema.name);
}

#[tokio::test]
async fn a_schema_that_is_not_a_plain_identifier_is_refused() {
    let pool = PgPoolOptions::new()
        .connect_lazy("postgres://127.0.0.1:1/x")
        .unwrap();
    for bad in [
        "",
        "Invitation",
        "a-b",
        "a\"b",
        "pg_catalog",
        &"a".repeat(64),
    ] {
        let refused = PostgresStore::with_schema(pool.clone(), bad);
        assert!(
            matches!(refused, Err(SqlxError::InvalidSchema { ref name }) if name == bad),
            "{bad:?}: {refused:?}"
        );
    }
    assert!(PostgresStore::with_schema(pool, "host_app_1").is_ok());
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_a_closed_pool_too() {
    // Nothing listens on port 1; the pool gives up after its timeout.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy("postgres://postgres@127.0.0.1:1/postgres")
        .unwrap();
    let store = PostgresStore::new(pool.clone());
    assert!(
        matches!(store.ping().await, Err(StoreError::Unavailable(_))),
        "unreachable"
    );
    let migrated = store.migrate().await.unwrap_err();
    assert!(matches!(migrated, SqlxError::Connect(_)), "{migrated:?}");
    assert!(migrated.is_retryable());
    pool.close().await;
    assert!(
        matches!(store.ping().await, Err(StoreError::Unavailable(_))),
        "closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_statement_timeout_is_unavailable_and_a_missing_table_is_backend() {
    let Some(db) = pg_support::store().await else {
        return;
    };
    // Another session holds the row lock a redemption needs, past the
    // store's 5 s statement_timeout.
    let invitation = invitation_core::Invitation::from_parts(invitation_core::InvitationParts {
        id: invitation_core::InvitationId::from_uuid(uuid::Uuid::new_v4()),
        name: invitation_core::InvitationName::parse("locked").unwrap(),
        expires: None,
        fixed_data: invitation_core::FixedData::new(),
        single_use: true,
        flow: None,
        created_by: invitation_core::UserId::new(1),
        version: invitation_core::Version::FIRST,
    });
    db.store.insert(&invitation).await.unwrap();
    let mut holder = PgConnection::connect(&db.schema.url).await.unwrap();
    sqlx::raw_sql(&format!(
        "BEGIN; SELECT 1 FROM \"{}\".invitations WHERE id = '{}' FOR UPDATE",
        db.schema.name,
        invitation.id()
    ))
    .execute(&mut holder)
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let outcome = db
        .store
        .redeem(invitation.id(), None, chrono::Utc::now())
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();

    // A schema never migrated: the table is missing, which no retry cures.
    let unmigrated = TestSchema::new(&db.schema.url);
    let store = unmigrated.store(1);
    let missing = store.ping().await;
    assert!(
        matches!(missing, Err(StoreError::Backend(_))),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_lock_held_past_the_budget_is_a_lock_timeout() {
    let Some(url) = pg_support::database().await else {
        return;
    };
    let schema = TestSchema::new(&url);
    // Another session holds the lock every migration of either adapter
    // takes first.
    let mut holder = PgConnection::connect(&url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(invitation_postgres_sql::migrations::LOCK_KEY)
        .execute(&mut holder)
        .await
        .unwrap();
    let store = schema.store(1);
    let started = std::time::Instant::now();
    let outcome = store
        .migrate_with_timeouts(Duration::from_millis(100), Duration::from_secs(1))
        .await;
    let waited = started.elapsed();
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(invitation_postgres_sql::migrations::LOCK_KEY)
        .execute(&mut holder)
        .await
        .unwrap();
    let error = outcome.unwrap_err();
    assert!(matches!(error, SqlxError::LockTimeout { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    store
        .migrate()
        .await
        .expect("migrates once the lock is free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_index_missing_on_a_table_with_rows_is_built_again_concurrently() {
    let Some(db) = pg_support::store().await else {
        return;
    };
    let has_trgm: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    if !has_trgm {
        eprintln!("skipped: pg_trgm is not installed, so there is no search index to rebuild");
        return;
    }
    db.sql(
        "INSERT INTO invitations (id, name, expires, fixed_data, single_use, flow, created_by) \
         SELECT gen_random_uuid(), 'row-' || i, NULL, '{}', false, NULL, 1 \
           FROM generate_series(1, 100) AS i; \
         DROP INDEX invitations_name_trgm",
    )
    .await
    .unwrap();
    db.store.migrate().await.expect("migrates");
    let valid: Option<bool> = sqlx::query_scalar(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = $1 AND c.relname = 'invitations_name_trgm'",
    )
    .bind(&db.schema.name)
    .fetch_optional(db.store.pool())
    .await
    .unwrap();
    assert_eq!(valid, Some(true));
}

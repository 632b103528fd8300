//! What the conformance suites do not cover: migrations run from several
//! pools at once, the table prefix, a busy database, what a new pool
//! reads from the file, and the modes of the files `open` creates.
#![cfg(feature = "sqlite")]
// Tests: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::time::Duration;

use invitation_core::{
    FixedData, Invitation, InvitationId, InvitationName, InvitationParts, InvitationStore,
    StoreError, UserId, Version,
};
use invitation_sqlx::sqlx::sqlite::SqlitePoolOptions;
use invitation_sqlx::sqlx::{self, Connection, SqliteConnection};
use invitation_sqlx::{SqliteStore, SqlxError};

fn invitation(name: &str) -> Invitation {
    Invitation::from_parts(InvitationParts {
        id: InvitationId::from_uuid(uuid::Uuid::new_v4()),
        name: InvitationName::parse(name).expect("a valid name"),
        expires: None,
        fixed_data: FixedData::new(),
        single_use: false,
        flow: None,
        created_by: UserId::new(1),
        version: Version::FIRST,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_migrating_one_file_at_once_apply_each_migration_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("invitations.db");
    let stores: Vec<SqliteStore> = (0..8)
        .map(|_| {
            SqliteStore::new(
                SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_lazy_with(SqliteStore::connect_options(&path)),
            )
        })
        .collect();

    let results = futures::future::join_all(stores.iter().map(SqliteStore::migrate)).await;

    for result in results {
        result.expect("every migration run succeeds");
    }
    let recorded: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM invitation_migrations ORDER BY version")
            .fetch_all(stores[0].pool())
            .await
            .expect("the migrations table answers");
    assert_eq!(recorded, [1, 2, 3]);
    stores[3]
        .migrate()
        .await
        .expect("migrating again changes nothing");
    let stored = invitation("after-migrations");
    stores[5].insert(&stored).await.expect("insert");
    assert_eq!(stores[1].get(stored.id()).await.expect("get"), Some(stored));
}

#[tokio::test]
async fn a_table_prefix_names_every_table_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pool = SqlitePoolOptions::new()
        .connect_with(SqliteStore::connect_options(dir.path().join("host.db")))
        .await
        .expect("the file opens");
    let store = SqliteStore::with_prefix(pool.clone(), "app_inv_").expect("a valid prefix");
    store.migrate().await.expect("migrations apply");

    let mut tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .expect("the schema answers");
    tables.retain(|t| !t.starts_with("sqlite_"));
    assert_eq!(
        tables,
        [
            "app_inv_counts",
            "app_inv_invitations",
            "app_inv_migrations",
            "app_inv_outbox"
        ]
    );
    assert_eq!(store.table_prefix(), "app_inv_");
    let stored = invitation("prefixed");
    store.insert(&stored).await.expect("insert");
    assert_eq!(store.get(stored.id()).await.expect("get"), Some(stored));

    for bad in ["App_", "a-b", "x\"; DROP TABLE t; --", "sqlite_x"] {
        let refused = SqliteStore::with_prefix(pool.clone(), bad);
        assert!(
            matches!(refused, Err(SqlxError::InvalidPrefix { .. })),
            "{bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_kept_waiting_past_the_busy_timeout_is_unavailable() {
    let db = support::TestStore::new().await;
    let impatient = SqliteStore::new(
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteStore::connect_options(db.path()).busy_timeout(Duration::from_millis(50)),
            )
            .await
            .expect("the file opens"),
    );
    // Another connection holds the file's write lock.
    let mut holder = SqliteConnection::connect_with(&SqliteStore::connect_options(db.path()))
        .await
        .expect("a connection");
    let transaction = holder
        .begin_with("BEGIN IMMEDIATE")
        .await
        .expect("the write lock");

    let result = impatient.insert(&invitation("kept-waiting")).await;

    assert!(
        matches!(&result, Err(e @ StoreError::Unavailable(_)) if e.is_retryable()),
        "{result:?}"
    );
    transaction.rollback().await.expect("rollback");
    impatient
        .insert(&invitation("now-free"))
        .await
        .expect("the lock is free again");
}

#[tokio::test]
async fn an_acknowledged_insert_is_read_by_a_new_pool_after_the_first_is_closed() {
    let db = support::TestStore::new().await;
    let stored = invitation("durable");
    db.store.insert(&stored).await.expect("insert");
    db.store.pool().close().await;

    let reopened = SqliteStore::open(db.path())
        .await
        .expect("the file opens again");
    assert_eq!(reopened.get(stored.id()).await.expect("get"), Some(stored));
    let closed = db.store.ping().await;
    assert!(
        matches!(closed, Err(StoreError::Unavailable(_))),
        "{closed:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_open_creates_is_its_owners_only_and_an_existing_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;

    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("new.db");
    let store = SqliteStore::open(&path).await.expect("the file is created");
    store.insert(&invitation("private")).await.expect("insert");
    for file in ["new.db", "new.db-wal", "new.db-shm"] {
        assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
    }

    let shared = dir.path().join("shared.db");
    std::fs::write(&shared, b"").expect("an empty file");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    SqliteStore::open(&shared)
        .await
        .expect("an empty file opens");
    assert_eq!(mode(&shared), 0o640);

    let missing = dir.path().join("no-such-directory").join("x.db");
    let refused = SqliteStore::open(&missing).await;
    assert!(matches!(refused, Err(SqlxError::Connect(_))), "{refused:?}");
}

#[tokio::test]
async fn search_matches_the_expiry_text_with_its_fraction_and_before_1970() {
    use chrono::TimeZone as _;
    use invitation_core::{Filters, ListQuery, Ordering, SearchTerm};

    let store = SqliteStore::in_memory().await.expect("a store");
    let mut parts = invitation("expiring").into_parts();
    let expires = chrono::Utc
        .with_ymd_and_hms(1969, 12, 31, 23, 59, 59)
        .unwrap()
        + chrono::Duration::microseconds(7);
    parts.expires = Some(expires);
    let stored = Invitation::from_parts(parts);
    store.insert(&stored).await.expect("insert");
    let search = |text: &str| ListQuery {
        filters: Filters::default(),
        search: vec![SearchTerm {
            text: text.to_owned(),
            creators: Vec::new(),
            flows: Vec::new(),
        }],
        ordering: Ordering::DEFAULT,
        offset: 0,
        limit: 10,
    };
    assert_eq!(
        stored.expires_text().as_deref(),
        Some("1969-12-31T23:59:59.000007Z")
    );
    for text in ["1969-12-31t23:59:59.000007z", "59.000007", "T23"] {
        let page = store.list(&search(text)).await.expect("list");
        assert_eq!(page.items, std::slice::from_ref(&stored), "{text:?}");
    }
    let page = store.list(&search("59.0000070")).await.expect("list");
    assert_eq!(page.total, 0);
}

/// More search words than the statement has slots for (a caller of the
/// store may send any number; the core sends at most 16): every word must
/// still match, as the reference says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_past_the_search_slots_must_match_too() {
    use invitation_core::{Filters, ListQuery, Ordering, SearchTerm};

    let db = support::TestStore::new().await;
    let names = [
        "abcdefghijklmnopqrstuvwxyz",
        "abcdefghijklmnopqrstuvwxy",
        "qrstuvwxyz",
    ];
    let mut stored = Vec::new();
    for name in names {
        let invitation = invitation(name);
        db.store.insert(&invitation).await.expect("insert");
        stored.push(invitation);
    }
    // 26 words, one a letter each; "z" is past the 16 slots (the slots
    // take the words in a fixed order, longest first, then as given).
    let search: Vec<SearchTerm> = ('a'..='z')
        .map(|c| SearchTerm {
            text: c.to_string(),
            creators: Vec::new(),
            flows: Vec::new(),
        })
        .collect();
    let query = ListQuery {
        filters: Filters::default(),
        search,
        ordering: Ordering::DEFAULT,
        offset: 0,
        limit: 10,
    };
    let page = db.store.list(&query).await.expect("list");
    let expected: Vec<_> = stored
        .iter()
        .filter(|i| query.matches(i))
        .cloned()
        .collect();
    assert_eq!(
        expected.len(),
        1,
        "the reference keeps the full alphabet only"
    );
    assert_eq!((page.total, page.items), (1, expected));
}

/// `rows` invitations written by SQL, named `row-1` to `row-<rows>`.
async fn fill(db: &support::TestStore, rows: u32) {
    db.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         INSERT INTO invitation_invitations \
           (id, name, expires, fixed_data, single_use, flow, created_by, version) \
         SELECT printf('00000000-0000-4000-8000-%012d', i), 'row-' || i, \
                1700000000000000 + i * 1000000, '{{}}', 0, NULL, 1, 1 \
           FROM n"
    ))
    .await;
}

/// A search testing every one of `words` on every row.
fn search_all(words: &[&str]) -> invitation_core::ListQuery {
    use invitation_core::{Filters, ListQuery, Ordering, SearchTerm};
    ListQuery {
        filters: Filters::default(),
        search: words
            .iter()
            .map(|word| SearchTerm {
                text: (*word).to_owned(),
                creators: Vec::new(),
                flows: Vec::new(),
            })
            .collect(),
        ordering: Ordering::DEFAULT,
        offset: 0,
        limit: 10,
    }
}

/// The store over `db`'s file with a pool of one connection, so that every
/// call after a list runs on the connection the list ran on.
fn on_one_connection(db: &support::TestStore) -> SqliteStore {
    SqliteStore::new(
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(SqliteStore::connect_options(db.path())),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_past_its_time_limit_is_interrupted_and_the_connection_serves_on() {
    let db = support::TestStore::new().await;
    fill(&db, 200_000).await;
    let store = on_one_connection(&db);
    assert_eq!(
        store.list_timeout(),
        Some(invitation_sqlx::sqlite::DEFAULT_LIST_TIMEOUT)
    );
    // Every row's name and expiry text tested: far longer than 1 ms.
    let search = search_all(&["4242"]);

    let result = store
        .clone()
        .with_list_timeout(Some(Duration::from_millis(1)))
        .list(&search)
        .await;

    let Err(error @ StoreError::Unavailable(_)) = &result else {
        panic!("{result:?}");
    };
    assert!(error.is_retryable());
    let source = std::error::Error::source(error).expect("the cause");
    assert!(source.to_string().contains("time limit"), "{source}");
    // The one connection serves on: a long statement of anyone's is not
    // interrupted, and the same search within the default limit answers.
    let counted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM invitation_invitations WHERE name LIKE '%4242%'")
            .fetch_one(store.pool())
            .await
            .expect("a statement of the host's runs to its end");
    let page = store.list(&search).await.expect("a list within its limit");
    assert_eq!(page.total, u64::try_from(counted).unwrap());
    assert!(counted > 0);
    let unlimited = store.with_list_timeout(None);
    assert_eq!(unlimited.list_timeout(), None);
    assert_eq!(
        unlimited.list(&search).await.expect("no limit").total,
        page.total
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_whose_caller_stops_waiting_is_interrupted_at_once() {
    let db = support::TestStore::new().await;
    fill(&db, 200_000).await;
    // A limit far away: a debug build's SQLite on a loaded machine must
    // not stop the whole list early, but the list runs under the handler.
    let store = on_one_connection(&db).with_list_timeout(Some(Duration::from_secs(3600)));
    let id = InvitationId::from_uuid(uuid::Uuid::from_u128(
        0x0000_0000_0000_4000_8000_0000_0000_0001,
    ));
    // Words every row holds, each tested on every row.
    let heavy = search_all(&["row-", "ow-", "w-", "ro", "-", "r", "o", "w"]);
    let started = std::time::Instant::now();
    let whole = store.list(&heavy).await.expect("the whole list");
    let whole_took = started.elapsed();
    assert_eq!(whole.total, 200_000);

    // The caller gives up early; the next call waits for the one
    // connection, which the list frees only once it has stopped.
    let gave_up = tokio::time::timeout(whole_took / 20, store.list(&heavy)).await;
    assert!(gave_up.is_err(), "the list ended before its caller gave up");
    let started = std::time::Instant::now();
    let found = store.get(&id).await.expect("get");
    let next_took = started.elapsed();

    assert!(found.is_some());
    assert!(
        next_took < whole_took / 2,
        "the next call waited {next_took:?}; the whole list takes {whole_took:?}"
    );
    // The one connection serves a long statement to its end afterwards.
    let counted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM invitation_invitations WHERE name LIKE '%ow-%'")
            .fetch_one(store.pool())
            .await
            .expect("not interrupted");
    assert_eq!(counted, 200_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_past_its_limit_inside_the_hosts_transaction_leaves_the_transaction_usable() {
    let db = support::TestStore::new().await;
    fill(&db, 200_000).await;
    let store = db
        .store
        .clone()
        .with_list_timeout(Some(Duration::from_millis(1)));
    let mut transaction = store.pool().begin().await.expect("a transaction");
    let added = invitation("added-after");

    let result = store
        .in_transaction(&mut transaction)
        .list(&search_all(&["4242"]))
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    store
        .in_transaction(&mut transaction)
        .insert(&added)
        .await
        .expect("the transaction goes on");
    transaction.commit().await.expect("commit");

    assert_eq!(db.store.get(added.id()).await.expect("get"), Some(added));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_row_that_cannot_be_read_is_given_up_and_the_others_are_claimed() {
    use invitation_core::MailOutbox;
    use invitation_testkit::outbox_conformance::MailFixture;

    let db = support::TestStore::new().await;
    let f = MailFixture::new(2000);
    let broken = f.mail("broken", f.at(1, 0, 0));
    let good = f.mail("good", f.at(1, 1, 0));
    db.store
        .enqueue(&[broken.clone(), good.clone()])
        .await
        .expect("enqueue");
    // Edited by hand: an address that is not one, and a row whose id is
    // not even a UUID.
    db.sql(&format!(
        "UPDATE invitation_outbox SET cc = '[\"Eve <secret.address@example.org>\"]' \
         WHERE id = '{}'; \
         INSERT INTO invitation_outbox (id, invitation, to_address, cc, bcc, subject, html, \
                                        plain_text, queued_at, next_attempt_at) \
         SELECT 'not-a-uuid', invitation, to_address, cc, bcc, subject, html, plain_text, \
                queued_at, next_attempt_at FROM invitation_outbox WHERE id = '{}'",
        broken.id, good.id
    ))
    .await;
    let now = f.at(2, 0, 0);

    let claimed = db
        .store
        .claim(now, now + chrono::Duration::minutes(5), 10)
        .await
        .expect("the claim goes on past the unreadable rows");

    assert_eq!(claimed, [good]);
    let states: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, state, last_error FROM invitation_outbox \
         WHERE state <> 'queued' ORDER BY id",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("the rows are kept");
    let ids: Vec<&str> = states.iter().map(|(id, _, _)| id.as_str()).collect();
    let broken_id = broken.id.to_string();
    let mut expected = vec![broken_id.as_str(), "not-a-uuid"];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    for (id, state, error) in &states {
        assert_eq!(state, "given_up");
        assert!(error.contains("cannot be read"), "{error}");
        assert!(!error.contains("secret.address"), "{error}");
        if id == &broken_id {
            assert!(error.contains(&broken_id), "{error}");
        }
    }
}

/// A UUID the statements compare as text must be stored as the adapter
/// writes it: another form of it (written by hand) is a corrupt row, not
/// one that is listed but never found.
#[tokio::test]
async fn a_uuid_stored_in_another_form_is_a_corrupt_row() {
    let plant = |id: String, flow: Option<String>| async move {
        let db = support::TestStore::new().await;
        sqlx::query(
            "INSERT INTO invitation_invitations \
               (id, name, expires, fixed_data, single_use, flow, created_by, version) \
             VALUES (?1, 'odd', NULL, '{}', 1, ?2, 1, 1)",
        )
        .bind(id)
        .bind(flow)
        .execute(db.store.pool())
        .await
        .expect("the row is planted");
        db
    };
    let uuid = uuid::Uuid::new_v4();
    let corrupt = |result: Result<_, StoreError>| {
        assert!(
            matches!(result, Err(StoreError::Corrupt { .. })),
            "{result:?}"
        );
    };
    for id in [
        uuid.hyphenated().to_string().to_uppercase(),
        uuid.braced().to_string(),
        uuid.simple().to_string(),
    ] {
        let db = plant(id.clone(), None).await;
        corrupt(db.store.list(&search_all(&[])).await.map(|_| ()));
    }
    let flow = uuid::Uuid::new_v4();
    let db = plant(
        uuid.to_string(),
        Some(flow.hyphenated().to_string().to_uppercase()),
    )
    .await;
    let id = InvitationId::from_uuid(uuid);
    corrupt(db.store.get(&id).await.map(|_| ()));
    let flow = invitation_core::FlowId::from_uuid(flow);
    corrupt(
        db.store
            .redeem(&id, Some(&flow), chrono::Utc::now())
            .await
            .map(|_| ()),
    );
}

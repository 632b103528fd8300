//! The two PostgreSQL adapters on one database: invitation-postgres's
//! `PgStore` (tokio-postgres, deadpool) and this crate's `PostgresStore`
//! (sqlx) run the same migrations and statements, so a host can switch
//! from one to the other on an existing database without migrating data.
//! Rows written by either are read, listed, updated and redeemed by the
//! other; a schema migrated by either is up to date for the other; mail
//! queued by either is claimed by the other.
#![cfg(feature = "postgres")]
// Tests: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod pg_support;

use chrono::{TimeZone, Utc};
use invitation_core::{
    EmailAddress, FixedData, FlowId, Invitation, InvitationId, InvitationName, InvitationParts,
    InvitationPatch, InvitationStore, ListQuery, MailId, MailOutbox, QueuedMail, RedeemOutcome,
    RenderedMail, StoreError, UpdateOutcome, UserId, Version,
};
use invitation_postgres::PgStore;
use invitation_sqlx::PostgresStore;
use pg_support::TestSchema;

/// The same schema through both adapters, migrated by `first`.
async fn both(first: &str) -> Option<(TestSchema, PgStore, PostgresStore)> {
    let url = pg_support::database().await?;
    let schema = TestSchema::new(&url);
    let pg = PgStore::connect(&url)
        .expect("a pool")
        .in_schema(&schema.name)
        .expect("valid schema");
    let sqlx = schema.store(4);
    // Migrated by one, then by the other: the second finds all applied.
    if first == "postgres" {
        pg.migrate().await.expect("invitation-postgres migrates");
        sqlx.migrate()
            .await
            .expect("invitation-sqlx finds it migrated");
    } else {
        sqlx.migrate().await.expect("invitation-sqlx migrates");
        pg.migrate()
            .await
            .expect("invitation-postgres finds it migrated");
    }
    Some((schema, pg, sqlx))
}

/// An invitation with every field set, its expiry to the microsecond and
/// its data holding numbers at the float limits and non-ASCII text.
fn rich(name: &str) -> Invitation {
    Invitation::from_parts(InvitationParts {
        id: InvitationId::from_uuid(uuid::Uuid::new_v4()),
        name: InvitationName::parse(name).unwrap(),
        expires: Some(
            Utc.with_ymd_and_hms(2041, 3, 4, 5, 6, 7).unwrap()
                + chrono::Duration::microseconds(123_456),
        ),
        fixed_data: FixedData::try_from(serde_json::json!({
            "email": "ünïcode@example.org",
            "limits": [f64::MAX, f64::MIN_POSITIVE, u64::MAX, i64::MIN],
        }))
        .unwrap(),
        single_use: true,
        flow: Some(FlowId::from_uuid(uuid::Uuid::new_v4())),
        created_by: UserId::new(7),
        version: Version::FIRST,
    })
}

fn first_page() -> ListQuery {
    ListQuery {
        filters: invitation_core::Filters::default(),
        search: vec![invitation_core::SearchTerm {
            text: "CROSS".to_owned(),
            creators: Vec::new(),
            flows: Vec::new(),
        }],
        ordering: invitation_core::Ordering::DEFAULT,
        offset: 0,
        limit: 20,
    }
}

/// `writer` stores and updates; `reader` reads, lists and redeems.
async fn written_by_one_redeemed_by_the_other(
    writer: &dyn InvitationStore,
    reader: &dyn InvitationStore,
) {
    let invitation = rich("cross-adapter");
    writer.insert(&invitation).await.unwrap();
    assert_eq!(
        reader.get(invitation.id()).await.unwrap().as_ref(),
        Some(&invitation)
    );

    let patch = InvitationPatch {
        name: Some(InvitationName::parse("cross-adapter-renamed").unwrap()),
        ..InvitationPatch::default()
    };
    let UpdateOutcome::Updated(updated) = writer
        .update(invitation.id(), &patch, Some(Version::FIRST))
        .await
        .unwrap()
    else {
        panic!("the update applies");
    };
    assert_eq!(updated.version().get(), 2);
    assert_eq!(
        reader.get(invitation.id()).await.unwrap().as_ref(),
        Some(&updated)
    );
    let page = reader.list(&first_page()).await.unwrap();
    assert_eq!(
        (page.total, page.items.as_slice()),
        (1, std::slice::from_ref(&updated))
    );

    let redeemed = reader
        .redeem(invitation.id(), updated.flow(), Utc::now())
        .await
        .unwrap();
    assert_eq!(redeemed, RedeemOutcome::Redeemed(updated));
    assert_eq!(
        writer.get(invitation.id()).await.unwrap(),
        None,
        "consumed for both"
    );
    assert_eq!(
        writer
            .redeem(invitation.id(), None, Utc::now())
            .await
            .unwrap(),
        RedeemOutcome::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_through_invitation_postgres_are_read_and_redeemed_through_sqlx() {
    let Some((_schema, pg, sqlx)) = both("postgres").await else {
        return;
    };
    written_by_one_redeemed_by_the_other(&pg, &sqlx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_through_sqlx_are_read_and_redeemed_through_invitation_postgres() {
    let Some((_schema, pg, sqlx)) = both("sqlx").await else {
        return;
    };
    written_by_one_redeemed_by_the_other(&sqlx, &pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queued_through_one_adapter_is_claimed_once_through_the_other() {
    let Some((_schema, pg, sqlx)) = both("sqlx").await else {
        return;
    };
    let now = Utc::now();
    let mail = |to: &str| QueuedMail {
        id: MailId::from_uuid(uuid::Uuid::new_v4()),
        invitation: InvitationId::from_uuid(uuid::Uuid::new_v4()),
        to: EmailAddress::parse(to).unwrap(),
        cc: vec![EmailAddress::parse("cc@example.org").unwrap()],
        bcc: Vec::new(),
        subject: "Invitation".to_owned(),
        body: RenderedMail {
            html: "<p>ünïcode</p>".to_owned(),
            text: "ünïcode".to_owned(),
        },
        queued_at: invitation_core::time::truncate_to_micros(now),
        attempts: 0,
    };
    let lease = now + chrono::Duration::minutes(10);

    let by_pg = mail("a@example.org");
    pg.enqueue(std::slice::from_ref(&by_pg)).await.unwrap();
    assert_eq!(
        sqlx.claim(now, lease, 10).await.unwrap(),
        [by_pg],
        "claimed through sqlx"
    );
    assert_eq!(
        pg.claim(now, lease, 10).await.unwrap(),
        [],
        "leased: not again"
    );

    let by_sqlx = mail("b@example.org");
    sqlx.enqueue(std::slice::from_ref(&by_sqlx)).await.unwrap();
    assert_eq!(
        pg.claim(now, lease, 10).await.unwrap(),
        [by_sqlx],
        "claimed through invitation-postgres"
    );
    assert_eq!(
        sqlx.claim(now, lease, 10).await.unwrap(),
        [],
        "leased: not again"
    );
}

/// Whether `result` is a corrupt-row error (naming `id`, when given).
fn is_corrupt<T: std::fmt::Debug>(
    result: &Result<T, StoreError>,
    id: Option<&InvitationId>,
) -> bool {
    matches!(result, Err(StoreError::Corrupt { id: named, .. }) if named.as_ref() == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instants_past_what_the_domain_holds_are_corrupt_rows_for_both_adapters_never_a_panic() {
    let Some((schema, pg, sqlx)) = both("sqlx").await else {
        return;
    };
    // Rows written by hand: a finite expiry past chrono's range (the table
    // only refuses infinity), and two mails queued at infinity.
    let id = InvitationId::from_uuid(uuid::Uuid::new_v4());
    let mut mails = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    mails.sort();
    let db = pg_support::PgTestStore {
        store: sqlx.clone(),
        schema: std::sync::Arc::new(schema),
    };
    db.sql(&format!(
        "INSERT INTO invitations (id, name, expires, fixed_data, single_use, flow, created_by) \
         VALUES ('{id}', 'far-future', '270000-01-01 00:00:00+00', '{{}}', false, NULL, 1); \
         INSERT INTO outbox (id, invitation, to_address, cc, bcc, subject, html, plain_text, \
                             queued_at, next_attempt_at) \
         VALUES ('{}', '{id}', 'a@example.org', '{{}}', '{{}}', 's', 'h', 't', 'infinity', now()), \
                ('{}', '{id}', 'a@example.org', '{{}}', '{{}}', 's', 'h', 't', 'infinity', now())",
        mails[0], mails[1]
    ))
    .await
    .unwrap();
    let now = Utc::now();
    let lease = now + chrono::Duration::minutes(10);
    for store in [&pg as &dyn InvitationStore, &sqlx] {
        assert!(is_corrupt(&store.get(&id).await, Some(&id)));
        assert!(is_corrupt(
            &store
                .list(&ListQuery {
                    search: Vec::new(),
                    ..first_page()
                })
                .await,
            Some(&id)
        ));
    }
    // Each adapter's claim meets one unreadable mail (oldest first: the
    // same instant, then by id) and gives it up.
    assert_eq!(sqlx.claim(now, lease, 1).await.unwrap(), []);
    assert_eq!(pg.claim(now, lease, 1).await.unwrap(), []);
    let states: Vec<(uuid::Uuid, String, String)> = invitation_sqlx::sqlx::query_as(&format!(
        "SELECT id, state, last_error FROM \"{}\".outbox ORDER BY id",
        db.schema.name
    ))
    .fetch_all(sqlx.pool())
    .await
    .unwrap();
    assert_eq!(states.len(), 2);
    for ((stored, state, error), mail) in states.iter().zip(mails) {
        assert_eq!((stored, state.as_str()), (&mail, "given_up"));
        assert!(error.contains(&mail.to_string()), "{error}");
    }
}

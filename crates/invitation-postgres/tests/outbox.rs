//! The PostgreSQL outbox beyond the conformance suite: a row edited by
//! hand, and mail queued inside the host's transaction.
// Tests: failing loudly is the point.
#![allow(clippy::expect_used, clippy::panic)]

mod support;

use invitation_core::chrono::{Duration, TimeZone, Utc};
use invitation_core::{MailOutbox, StoreError};
use invitation_testkit::outbox_conformance::MailFixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_row_that_cannot_be_read_is_given_up_naming_the_mail_not_the_address() {
    let Some(db) = support::store().await else {
        return;
    };
    let f = MailFixture::new(2000);
    let broken = f.mail("broken", f.at(1, 0, 0));
    let good = f.mail("good", f.at(1, 1, 0));
    db.store
        .enqueue(&[broken.clone(), good.clone()])
        .await
        .expect("enqueue");
    db.sql(&format!(
        "UPDATE outbox SET cc = ARRAY['Eve <secret.address@example.org>'] WHERE id = '{}'",
        broken.id
    ))
    .await
    .expect("the row is edited");
    let now = f.at(2, 0, 0);

    let claimed = db
        .store
        .claim(now, now + Duration::minutes(5), 10)
        .await
        .expect("the claim goes on past the unreadable row");

    assert_eq!(claimed, [good]);
    let client = db.store.pool().get().await.expect("a connection");
    let row = client
        .query_one(
            &format!(
                "SELECT state, last_error, attempts FROM \"{}\".outbox WHERE id = $1",
                db.schema.name()
            ),
            &[broken.id.as_uuid()],
        )
        .await
        .expect("the row is kept");
    let (state, error, attempts): (String, String, i32) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((state.as_str(), attempts), ("given_up", 1));
    assert!(error.contains(&broken.id.to_string()), "{error}");
    assert!(!error.contains("secret.address"), "{error}");
    let later = now + Duration::hours(1);
    let again = db.store.claim(later, later, 10).await.expect("claim");
    assert_eq!(again.len(), 1, "only the good mail is due again: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queued_in_the_hosts_transaction_is_claimable_only_once_it_commits() {
    let Some(db) = support::store().await else {
        return;
    };
    let f = MailFixture::new(2000);
    let now = Utc
        .with_ymd_and_hms(2200, 1, 1, 0, 0, 0)
        .single()
        .expect("an instant");
    let (kept, dropped) = (
        f.mail("kept", f.at(1, 0, 0)),
        f.mail("dropped", f.at(1, 1, 0)),
    );
    let mut client = db.store.pool().get().await.expect("a connection");

    let transaction = client.transaction().await.expect("a transaction");
    let scoped = db.store.in_transaction(&transaction);
    scoped
        .enqueue(std::slice::from_ref(&dropped))
        .await
        .expect("enqueue");
    transaction.rollback().await.expect("rollback");

    let transaction = client.transaction().await.expect("a transaction");
    let scoped = db.store.in_transaction(&transaction);
    scoped
        .enqueue(std::slice::from_ref(&kept))
        .await
        .expect("enqueue");
    let again = scoped.enqueue(&[dropped.clone(), kept.clone()]).await;
    assert!(
        matches!(again, Err(StoreError::MailConflict(id)) if id == kept.id),
        "{again:?}"
    );
    let elsewhere = db.another(2);
    let early = elsewhere.claim(now, now, 10).await.expect("claim");
    assert!(early.is_empty(), "seen before the commit: {early:?}");
    transaction
        .commit()
        .await
        .expect("the transaction is still usable");

    let claimed = elsewhere.claim(now, now, 10).await.expect("claim");
    assert_eq!(claimed, [kept]);
}

//! The PostgreSQL outbox beyond the conformance suite: a row edited by
//! hand, and mail queued inside the host's transaction.
// Tests: failing loudly is the point.
#![allow(clippy::expect_used, clippy::panic)]

mod support;

use invitation_core::chrono::{Duration, TimeZone, Utc};
use invitation_core::{MailOutbox, StoreError};
use invitation_testkit::outbox_conformance::MailFixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_row_whose_address_is_not_one_makes_claim_corrupt_naming_the_mail_not_the_address() {
    let Some(db) = support::store().await else {
        return;
    };
    let f = MailFixture::new(2000);
    let mail = f.mail("broken", f.at(1, 0, 0));
    db.store
        .enqueue(std::slice::from_ref(&mail))
        .await
        .expect("enqueue");
    db.sql(&format!(
        "UPDATE outbox SET cc = ARRAY['Eve <secret.address@example.org>'] WHERE id = '{}'",
        mail.id
    ))
    .await
    .expect("the row is edited");
    let now = f.at(2, 0, 0);
    match db.store.claim(now, now + Duration::minutes(5), 10).await {
        Err(StoreError::Corrupt {
            id: None, reason, ..
        }) => {
            assert!(reason.contains(&mail.id.to_string()), "{reason}");
            assert!(!reason.contains("secret.address"), "{reason}");
        }
        other => panic!("expected Corrupt naming the mail, got {other:?}"),
    }
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
        matches!(again, Err(StoreError::Conflict(id)) if id.as_uuid() == kept.id.as_uuid()),
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

//! The mail outbox conformance suite: one `pub async fn` per clause of the
//! [`MailOutbox`] contract, and one for [`dispatch_due`] over the outbox.
//! Run them all with [`crate::outbox_conformance_tests!`].
//!
//! # One outbox per clause
//!
//! `claim` returns any due mail of the outbox and `purge_finished` counts
//! every finished one, so clauses cannot keep out of each other's way by
//! their data alone, as the store suite's clauses do with their own users
//! and expiry years. Times do not help either: a clause that claims at
//! `now` must find its own mails due, and for two clauses running at once
//! each one's mails would have to be due at its own `now` and not at the
//! other's, which no pair of instants allows (a queued mail stays due from
//! its queue time on until someone claims it).
//!
//! So each clause runs on an outbox of its own: the macro's expression is
//! evaluated once per clause and must give an outbox holding no mail, which
//! nothing else writes to while the clause runs. The PostgreSQL adapter
//! gives each clause a fresh schema of the shared database (as its store
//! suite does), the memory adapter a new store; every clause checks first
//! that its outbox is empty, so a shared one fails at once rather than at
//! random. Within that, each clause still makes its own random ids and
//! addresses, and uses instants in a century of its own, so a failure
//! names mails and times that can only be its own.
//!
//! The clause with two outboxes
//! ([`claimers_on_two_outboxes_over_one_storage_claim_each_mail_exactly_once`])
//! takes a second outbox over the first one's storage (another pool,
//! another process): it stands for several server instances dispatching
//! one queue.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use invitation_core::{
    dispatch_due, Attempt, DispatchReport, EmailAddress, InvitationId, MailId, MailOutbox,
    QueuedMail, RenderedMail, RetryPolicy, StoreError,
};
use uuid::Uuid;

use crate::doubles::RecordingMailer;

/// An outbox behind `Arc<dyn MailOutbox>`, as a host holds one, as a
/// `MailOutbox` value the clauses take (the core implements the port for
/// no `Arc`): for running the suite through dynamic dispatch.
#[derive(Debug, Clone)]
pub struct DynOutbox(pub Arc<dyn MailOutbox>);

impl DynOutbox {
    fn inner(&self) -> &dyn MailOutbox {
        &*self.0
    }
}

invitation_core::forward_outbox!(DynOutbox => inner);

/// How many mails the concurrent claimers share.
pub const CLAIMED_MAILS: usize = 200;

/// How many claimers run at once.
pub const CLAIMERS: usize = 4;

/// Random data for one clause: a tag for its addresses, and its own
/// century of instants.
#[derive(Debug)]
pub struct MailFixture {
    /// A token unique to this clause, in every address it makes (`[a-z0-9]`).
    pub tag: String,
    /// The first year of the clause's century.
    pub century: i32,
}

impl MailFixture {
    /// Fresh random data in the century starting at `century`.
    pub fn new(century: i32) -> Self {
        Self {
            tag: Uuid::new_v4().simple().to_string()[..12].to_owned(),
            century,
        }
    }

    /// `<local>.<tag>@example.org`.
    pub fn address(&self, local: &str) -> EmailAddress {
        let text = format!("{local}.{}@example.org", self.tag);
        EmailAddress::parse(&text).unwrap_or_else(|e| panic!("bad test address {text:?}: {e:?}"))
    }

    /// An instant `year` years into the clause's century, plus `seconds`
    /// and `micros`.
    pub fn at(&self, year: i32, seconds: i64, micros: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.century + year, 3, 4, 5, 6, 7)
            .single()
            .map(|t| t + Duration::seconds(seconds) + Duration::microseconds(micros))
            .unwrap_or_else(|| panic!("bad test instant in {}", self.century + year))
    }

    /// A plain mail to `<local>.<tag>@example.org`, queued at `queued_at`:
    /// a random id and invitation, no cc or bcc, attempts 0.
    pub fn mail(&self, local: &str, queued_at: DateTime<Utc>) -> QueuedMail {
        QueuedMail {
            id: MailId::from_uuid(Uuid::new_v4()),
            invitation: InvitationId::from_uuid(Uuid::new_v4()),
            to: self.address(local),
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: format!("You have been invited ({local})"),
            body: RenderedMail {
                html: format!("<p>{local}</p>"),
                text: local.to_owned(),
            },
            queued_at,
            attempts: 0,
        }
    }
}

async fn enqueue<O: MailOutbox>(outbox: &O, mails: &[QueuedMail]) {
    outbox
        .enqueue(mails)
        .await
        .unwrap_or_else(|e| panic!("enqueue failed: {e:?}"));
}

async fn claim<O: MailOutbox>(
    outbox: &O,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Vec<QueuedMail> {
    outbox
        .claim(now, lease_until, limit)
        .await
        .unwrap_or_else(|e| panic!("claim failed: {e:?}"))
}

/// The ids of the mails `claim` returns at `now` (a lease of an hour, up to
/// 1,000 mails), in the order returned.
async fn claim_ids<O: MailOutbox>(outbox: &O, now: DateTime<Utc>) -> Vec<MailId> {
    claim(outbox, now, now + Duration::hours(1), 1000)
        .await
        .iter()
        .map(|m| m.id)
        .collect()
}

async fn record<O: MailOutbox>(outbox: &O, id: &MailId, attempt: &Attempt, now: DateTime<Utc>) {
    outbox
        .record(id, attempt, now)
        .await
        .unwrap_or_else(|e| panic!("record of {attempt:?} failed: {e:?}"));
}

fn retry(next: DateTime<Utc>) -> Attempt {
    Attempt::Retry {
        next,
        error: "mail delivery failed for now".to_owned(),
    }
}

fn gave_up() -> Attempt {
    Attempt::GaveUp {
        error: "mail delivery failed".to_owned(),
    }
}

/// Checks that the outbox holds no mail (see the module docs: every clause
/// needs an outbox of its own).
async fn assert_empty<O: MailOutbox>(outbox: &O) {
    let far = Utc
        .with_ymd_and_hms(9000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("year 9000"));
    let found = claim(outbox, far, far, 1).await;
    assert!(
        found.is_empty(),
        "the outbox given to the clause already holds mail ({found:?}): each clause needs an \
         outbox of its own"
    );
}

/// `enqueue` then `claim` gives back every field as given: to, cc and bcc
/// in their order, subject, HTML and text, `queued_at` to the microsecond,
/// and `attempts` 0.
pub async fn enqueue_then_claim_returns_every_field_intact<O: MailOutbox>(outbox: &O) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2100);
    let queued_at = f.at(1, 0, 123_456);
    let rich = QueuedMail {
        cc: vec![f.address("zed"), f.address("ann+cc"), f.address("mo")],
        bcc: vec![f.address("hidden"), f.address("a.b-c_d")],
        subject: "Du bist eingeladen: «Ünïcode» & 'quotes' \"double\" \\ 🎉".to_owned(),
        body: RenderedMail {
            html: "<p class=\"x\">Hello &amp; <b>welcome</b>\n\t'1' \\ é 🎉</p>".to_owned(),
            text: "Hello & welcome\r\nline two\n\n  indented 'é' \\ 🎉".to_owned(),
        },
        ..f.mail("rich", queued_at)
    };
    let plain = f.mail("plain", queued_at + Duration::microseconds(1));
    enqueue(outbox, &[rich.clone(), plain.clone()]).await;

    let now = f.at(1, 60, 0);
    let claimed = claim(outbox, now, now + Duration::minutes(5), 10).await;
    assert_eq!(claimed, [rich, plain]);
}

/// `enqueue` is all or none: a batch holding an id already queued is
/// [`StoreError::MailConflict`] naming a mail of the batch, and stores none of
/// the batch; the mail queued before is unchanged. An empty batch stores
/// nothing and is no error.
pub async fn an_enqueue_with_an_id_already_queued_is_a_conflict_and_stores_none_of_it<
    O: MailOutbox,
>(
    outbox: &O,
) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2200);
    let first = f.mail("first", f.at(1, 0, 1));
    enqueue(outbox, std::slice::from_ref(&first)).await;

    let before = f.mail("before", f.at(1, 1, 0));
    let again = QueuedMail {
        subject: "another subject".to_owned(),
        ..f.mail("again", f.at(1, 2, 0))
    };
    let again = QueuedMail {
        id: first.id,
        ..again
    };
    let after = f.mail("after", f.at(1, 3, 0));
    let batch = [before.clone(), again, after.clone()];
    let result = outbox.enqueue(&batch).await;
    let batch_ids: Vec<Uuid> = batch.iter().map(|m| *m.id.as_uuid()).collect();
    assert!(
        matches!(&result, Err(StoreError::MailConflict(id)) if batch_ids.contains(id.as_uuid())),
        "expected Conflict naming a mail of the batch, got {result:?}"
    );
    enqueue(outbox, &[]).await;

    let now = f.at(2, 0, 0);
    let claimed = claim(outbox, now, now + Duration::minutes(5), 10).await;
    assert_eq!(claimed, [first], "only the mail queued before is stored");
}

/// `claim` returns only the mails due at `now`, oldest (by `queued_at`)
/// first, at most `limit` of them: not one whose retry is later, not one
/// leased, not one sent; with `limit` 0, none.
pub async fn claim_returns_only_due_mails_oldest_first_and_at_most_limit<O: MailOutbox>(
    outbox: &O,
) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2300);
    let mails: Vec<QueuedMail> = (0..8)
        .map(|i| f.mail(&format!("m{i}"), f.at(1, i, 0)))
        .collect();
    // Queued out of order, in two batches.
    enqueue(
        outbox,
        &[mails[5].clone(), mails[1].clone(), mails[7].clone()],
    )
    .await;
    enqueue(
        outbox,
        &[
            mails[3].clone(),
            mails[0].clone(),
            mails[6].clone(),
            mails[2].clone(),
            mails[4].clone(),
        ],
    )
    .await;
    let now = f.at(2, 0, 0);
    let lease = now + Duration::minutes(5);
    // m7 waits for a retry next year; m6 is sent.
    record(outbox, &mails[7].id, &retry(f.at(3, 0, 0)), now).await;
    record(outbox, &mails[6].id, &Attempt::Sent, now).await;

    assert_eq!(claim(outbox, now, lease, 0).await, [], "limit 0");
    let ids = |claimed: Vec<QueuedMail>| claimed.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(claim(outbox, now, lease, 3).await),
        [mails[0].id, mails[1].id, mails[2].id]
    );
    assert_eq!(
        ids(claim(outbox, now, lease, 100).await),
        [mails[3].id, mails[4].id, mails[5].id],
        "the first three are leased, m6 sent, m7 not due"
    );
    assert_eq!(claim(outbox, now, lease, 100).await, []);
}

/// A claimed mail is leased until `lease_until`: no claim returns it
/// before then (whatever its `now`), and a claim at `lease_until` or later
/// returns it again, with `attempts` still 0 (a lease that ran out is no
/// attempt).
pub async fn a_claimed_mail_is_not_claimed_again_before_its_lease_ends_and_is_after<
    O: MailOutbox,
>(
    outbox: &O,
) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2400);
    let mail = f.mail("leased", f.at(1, 0, 0));
    enqueue(outbox, std::slice::from_ref(&mail)).await;
    let now = f.at(1, 10, 0);
    let lease_until = now + Duration::minutes(5);
    assert_eq!(
        claim(outbox, now, lease_until, 10).await,
        std::slice::from_ref(&mail)
    );

    for at in [
        now,
        now + Duration::minutes(1),
        lease_until - Duration::microseconds(1),
    ] {
        assert_eq!(claim_ids(outbox, at).await, [], "claimed again at {at}");
    }
    let again = claim(outbox, lease_until, lease_until + Duration::minutes(5), 10).await;
    assert_eq!(
        again,
        std::slice::from_ref(&mail),
        "due again when the lease ends"
    );
    let later = lease_until + Duration::hours(1);
    assert_eq!(claim_ids(outbox, later).await, [mail.id]);
}

/// `Sent` and `GaveUp` take a mail out of every later claim, however late.
pub async fn sent_and_given_up_mails_are_never_claimed_again<O: MailOutbox>(outbox: &O) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2500);
    let sent = f.mail("sent", f.at(1, 0, 0));
    let given_up = f.mail("given-up", f.at(1, 1, 0));
    let waiting = f.mail("waiting", f.at(1, 2, 0));
    enqueue(outbox, &[sent.clone(), given_up.clone(), waiting.clone()]).await;
    let now = f.at(1, 60, 0);
    assert_eq!(
        claim_ids(outbox, now).await,
        [sent.id, given_up.id, waiting.id]
    );
    record(outbox, &sent.id, &Attempt::Sent, now).await;
    record(outbox, &given_up.id, &gave_up(), now).await;
    for at in [now, f.at(1, 3600, 0), f.at(50, 0, 0), f.at(99, 0, 0)] {
        let claimed = claim_ids(outbox, at + Duration::hours(2)).await;
        assert!(
            !claimed.contains(&sent.id) && !claimed.contains(&given_up.id),
            "a finished mail was claimed at {at}: {claimed:?}"
        );
    }
}

/// `Retry` ends the lease and makes the mail due again at its `next` and
/// not before; every recorded attempt adds one to `attempts`.
pub async fn a_retry_makes_a_mail_due_at_its_next_and_not_before<O: MailOutbox>(outbox: &O) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2600);
    let mail = f.mail("retried", f.at(1, 0, 0));
    enqueue(outbox, std::slice::from_ref(&mail)).await;
    let now = f.at(1, 10, 0);
    assert_eq!(claim_ids(outbox, now).await, [mail.id]);

    let next = now + Duration::seconds(30);
    record(outbox, &mail.id, &retry(next), now).await;
    assert_eq!(
        claim_ids(outbox, next - Duration::microseconds(1)).await,
        [],
        "due only at next"
    );
    let first = claim(outbox, next, next + Duration::hours(1), 10).await;
    assert_eq!(first.iter().map(|m| m.attempts).collect::<Vec<_>>(), [1]);
    assert_eq!(
        first,
        [QueuedMail {
            attempts: 1,
            ..mail.clone()
        }],
        "a retry changes nothing but attempts"
    );

    // Recorded while the lease (an hour) still runs: the lease ends, and a
    // `next` at once makes it due at once.
    record(outbox, &mail.id, &retry(next), next).await;
    let second = claim(outbox, next, next + Duration::hours(1), 10).await;
    assert_eq!(second.iter().map(|m| m.attempts).collect::<Vec<_>>(), [2]);

    let far = f.at(2, 0, 0);
    record(outbox, &mail.id, &retry(far), next).await;
    assert_eq!(claim_ids(outbox, far - Duration::days(1)).await, []);
    let third = claim(outbox, far, far + Duration::hours(1), 10).await;
    assert_eq!(third.iter().map(|m| m.attempts).collect::<Vec<_>>(), [3]);
}

/// A mail sent or given up stays finished whatever is recorded for it
/// later (a process whose lease ran out recording a late `Retry`): it is
/// never claimed again.
pub async fn a_finished_mail_stays_finished_whatever_is_recorded_later<O: MailOutbox>(outbox: &O) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2700);
    let sent = f.mail("sent", f.at(1, 0, 0));
    let given_up = f.mail("given-up", f.at(1, 1, 0));
    enqueue(outbox, &[sent.clone(), given_up.clone()]).await;
    let now = f.at(1, 10, 0);
    assert_eq!(claim_ids(outbox, now).await, [sent.id, given_up.id]);
    record(outbox, &sent.id, &Attempt::Sent, now).await;
    record(outbox, &given_up.id, &gave_up(), now).await;
    for id in [&sent.id, &given_up.id] {
        record(outbox, id, &retry(now), now).await;
    }
    assert_eq!(claim_ids(outbox, f.at(2, 0, 0)).await, []);
}

/// Recording an attempt for an id the outbox does not hold is no error,
/// and queues nothing.
pub async fn recording_an_unknown_id_is_no_error<O: MailOutbox>(outbox: &O) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2800);
    let now = f.at(1, 0, 0);
    let ghost = MailId::from_uuid(Uuid::new_v4());
    for attempt in [Attempt::Sent, retry(now), gave_up()] {
        outbox
            .record(&ghost, &attempt, now)
            .await
            .unwrap_or_else(|e| panic!("record of an unknown id {attempt:?} failed: {e:?}"));
    }
    assert_eq!(claim_ids(outbox, f.at(2, 0, 0)).await, []);
}

/// `purge_finished(before)` deletes the mails sent or given up before
/// `before` (not one finished at `before` or later), returns how many, and
/// never deletes a mail still due (queued, leased or waiting for a retry).
pub async fn purging_deletes_only_mails_finished_before_the_instant<O: MailOutbox>(outbox: &O) {
    assert_empty(outbox).await;
    let f = MailFixture::new(2900);
    let t = |seconds: i64| f.at(1, seconds, 0);
    let sent_early = f.mail("sent-early", t(0));
    let given_up_early = f.mail("given-up-early", t(1));
    let sent_at_before = f.mail("sent-at-before", t(2));
    let sent_late = f.mail("sent-late", t(3));
    let leased = f.mail("leased", t(4));
    let retrying = f.mail("retrying", t(5));
    let queued = f.mail("queued", t(6));
    let first = [
        &sent_early,
        &given_up_early,
        &sent_at_before,
        &sent_late,
        &retrying,
    ];
    enqueue(outbox, &first.map(QueuedMail::clone)).await;
    assert_eq!(claim_ids(outbox, t(100)).await.len(), first.len());
    let before = t(2000);
    record(outbox, &sent_early.id, &Attempt::Sent, t(1000)).await;
    record(outbox, &given_up_early.id, &gave_up(), t(1500)).await;
    record(outbox, &sent_at_before.id, &Attempt::Sent, before).await;
    record(outbox, &sent_late.id, &Attempt::Sent, t(3000)).await;
    record(outbox, &retrying.id, &retry(t(5000)), t(1000)).await;
    enqueue(outbox, &[queued.clone(), leased.clone()]).await;
    // The older of the two is leased (until an hour later); `queued` is
    // never claimed.
    let claimed = claim(outbox, t(10), t(3610), 1).await;
    assert_eq!(
        claimed.iter().map(|m| m.id).collect::<Vec<_>>(),
        [leased.id]
    );

    let purged = outbox
        .purge_finished(before)
        .await
        .unwrap_or_else(|e| panic!("purge failed: {e:?}"));
    assert_eq!(purged, 2, "the mails finished before `before`");
    let again = outbox
        .purge_finished(before)
        .await
        .unwrap_or_else(|e| panic!("purge failed: {e:?}"));
    assert_eq!(again, 0, "nothing left to purge before `before`");

    // The unfinished mails are all still there, and due a year later.
    assert_eq!(
        claim_ids(outbox, f.at(2, 0, 0)).await,
        [leased.id, retrying.id, queued.id]
    );
    let rest = outbox
        .purge_finished(f.at(3, 0, 0))
        .await
        .unwrap_or_else(|e| panic!("purge failed: {e:?}"));
    assert_eq!(rest, 2, "the mails finished at and after `before`");
}

/// 200 queued mails, 4 claimers at once, each claiming a few at a time and
/// recording each `Sent` until nothing is due: every mail is claimed by
/// exactly one claimer, once. The claimers are clones of the outbox.
pub async fn concurrent_claimers_claim_each_mail_exactly_once<O: MailOutbox + Clone + 'static>(
    outbox: &O,
) {
    claimers_on_two_outboxes_over_one_storage_claim_each_mail_exactly_once(outbox, outbox).await;
}

/// [`concurrent_claimers_claim_each_mail_exactly_once`] with two of the
/// claimers on `first` and two on `second`, another outbox over the same
/// storage (another connection pool, as another process would have): still
/// every mail is claimed exactly once.
pub async fn claimers_on_two_outboxes_over_one_storage_claim_each_mail_exactly_once<
    A: MailOutbox + Clone + 'static,
    B: MailOutbox + Clone + 'static,
>(
    first: &A,
    second: &B,
) {
    assert_empty(first).await;
    let f = MailFixture::new(3000);
    let mails: Vec<QueuedMail> = (0..CLAIMED_MAILS)
        .map(|i| {
            let seconds = i64::try_from(i).unwrap_or(0);
            f.mail(&format!("c{i}"), f.at(1, seconds, 0))
        })
        .collect();
    for batch in mails.chunks(50) {
        enqueue(first, batch).await;
    }
    let now = f.at(2, 0, 0);
    // A lease far longer than the run: no mail is due again while it lasts.
    let lease_until = now + Duration::days(1);
    let outboxes: [Arc<dyn MailOutbox>; 2] = [Arc::new(first.clone()), Arc::new(second.clone())];
    let barrier = Arc::new(tokio::sync::Barrier::new(CLAIMERS));
    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|i| {
            let outbox = outboxes[i % 2].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let mut claimed = Vec::new();
                loop {
                    let batch = outbox.claim(now, lease_until, 7).await?;
                    if batch.is_empty() {
                        return Ok::<_, StoreError>(claimed);
                    }
                    for mail in batch {
                        outbox.record(&mail.id, &Attempt::Sent, now).await?;
                        claimed.push(mail.id);
                    }
                }
            })
        })
        .collect();
    let mut times: HashMap<MailId, usize> = HashMap::new();
    for claimer in claimers {
        let claimed = claimer
            .await
            .expect("claimer panicked")
            .unwrap_or_else(|e| panic!("a claimer failed: {e:?}"));
        for id in claimed {
            *times.entry(id).or_default() += 1;
        }
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} mails claimed more than once, among them {:?}",
        twice.len(),
        &twice[..twice.len().min(3)]
    );
    let missing = mails.iter().filter(|m| !times.contains_key(&m.id)).count();
    assert_eq!(
        missing, 0,
        "{missing} of {CLAIMED_MAILS} mails never claimed"
    );
    assert_eq!(times.len(), CLAIMED_MAILS);
    assert_eq!(claim_ids(first, f.at(3, 0, 0)).await, [], "all sent");
}

/// [`dispatch_due`] over the outbox, with a [`RecordingMailer`]: a mail the
/// server accepts is sent and never sent again; one refused transiently is
/// retried [`RetryPolicy::wait_after`]`(1)` later (not before) and
/// delivered then; one refused permanently is given up at once, and so is
/// one queued more than `give_up_after` ago that fails; both are in the
/// returned list with their address redacted, in the error text too.
pub async fn dispatch_due_sends_retries_and_gives_up_by_the_policy<O: MailOutbox>(outbox: &O) {
    assert_empty(outbox).await;
    let f = MailFixture::new(3100);
    let policy = RetryPolicy {
        batch: 2,
        ..RetryPolicy::default()
    };
    let now = f.at(1, 0, 0);
    let give_up_after = Duration::from_std(policy.give_up_after).unwrap_or(Duration::MAX);
    let accepted = f.mail("accepted", now - Duration::minutes(3));
    let transient = f.mail("transient", now - Duration::minutes(2));
    let permanent = f.mail("permanent", now - Duration::minutes(1));
    let stale = f.mail("stale", now - give_up_after - Duration::seconds(1));
    enqueue(
        outbox,
        &[
            accepted.clone(),
            transient.clone(),
            permanent.clone(),
            stale.clone(),
        ],
    )
    .await;
    let mailer = RecordingMailer::new();
    mailer.fail_transiently(&transient.to);
    mailer.fail_permanently(&permanent.to);
    mailer.fail_transiently(&stale.to);

    let dispatch = |at: DateTime<Utc>| dispatch_due(outbox, &mailer, at, &policy);
    let (report, given_up) = dispatch(now)
        .await
        .unwrap_or_else(|e| panic!("dispatch failed: {e:?}"));
    assert_eq!(
        report,
        DispatchReport {
            sent: 1,
            retrying: 1,
            given_up: 2,
        }
    );
    assert_eq!(mailer.sent(), std::slice::from_ref(&accepted));
    let mut gone: Vec<_> = given_up
        .iter()
        .map(|g| (g.mail, g.invitation, g.to.clone()))
        .collect();
    gone.sort_by_key(|(id, _, _)| *id);
    let mut expected = vec![
        (permanent.id, permanent.invitation, permanent.to.redacted()),
        (stale.id, stale.invitation, stale.to.redacted()),
    ];
    expected.sort_by_key(|(id, _, _)| *id);
    assert_eq!(gone, expected);
    for g in &given_up {
        for address in [&permanent.to, &stale.to] {
            assert!(
                !g.error.contains(address.as_str()),
                "an address in the error: {g:?}"
            );
        }
        assert!(g.to.contains("***@"), "not redacted: {g:?}");
    }

    mailer.accept(&transient.to);
    let wait = Duration::from_std(policy.wait_after(1)).unwrap_or(Duration::MAX);
    let early = dispatch(now + wait - Duration::microseconds(1))
        .await
        .unwrap_or_else(|e| panic!("dispatch failed: {e:?}"));
    assert_eq!(early, (DispatchReport::default(), Vec::new()), "not yet");
    let (report, given_up) = dispatch(now + wait)
        .await
        .unwrap_or_else(|e| panic!("dispatch failed: {e:?}"));
    assert_eq!(
        (report, given_up.len()),
        (
            DispatchReport {
                sent: 1,
                ..DispatchReport::default()
            },
            0
        )
    );
    let delivered = QueuedMail {
        attempts: 1,
        ..transient.clone()
    };
    assert_eq!(mailer.sent(), [accepted, delivered]);

    let later = dispatch(now + Duration::days(30))
        .await
        .unwrap_or_else(|e| panic!("dispatch failed: {e:?}"));
    assert_eq!(later, (DispatchReport::default(), Vec::new()), "all done");
    assert_eq!(mailer.tried().len(), 5);
}

/// Expands to one `#[test]` per clause of the outbox suite, each run by
/// [`crate::conformance::run`] on a tokio runtime of its own.
///
/// The argument is an expression evaluated inside each (async) test body
/// to get the outbox, so it may `.await`, and may `return` to skip. Each
/// evaluation must give an outbox of its own, holding no mail (see the
/// module docs of [`crate::outbox_conformance`]). The outbox must be
/// `MailOutbox + Clone + 'static`; clones share the mails.
///
/// ```text
/// invitation_testkit::outbox_conformance_tests!(invitation_memory::MemoryStore::new());
/// ```
///
/// An adapter whose outbox several processes share also names how to get
/// a second outbox over the first one's storage (another pool, as another
/// process would have), and runs
/// [`claimers_on_two_outboxes_over_one_storage_claim_each_mail_exactly_once`]:
///
/// ```text
/// invitation_testkit::outbox_conformance_tests!(
///     my_adapter::MyOutbox::for_tests().await,
///     another = |outbox: &my_adapter::MyOutbox| outbox.with_a_pool_of_its_own(),
/// );
/// ```
#[macro_export]
macro_rules! outbox_conformance_tests {
    ($outbox:expr, another = $another:expr $(,)?) => {
        $crate::outbox_conformance_tests!($outbox);

        #[test]
        fn claimers_on_two_outboxes_over_one_storage_claim_each_mail_exactly_once() {
            $crate::conformance::run(async {
                let outbox = $outbox;
                let second = ($another)(&outbox);
                $crate::outbox_conformance::claimers_on_two_outboxes_over_one_storage_claim_each_mail_exactly_once(
                    &outbox, &second,
                )
                .await;
            });
        }
    };
    ($outbox:expr $(,)?) => {
        $crate::outbox_conformance_tests!(@tests $outbox;
            enqueue_then_claim_returns_every_field_intact,
            an_enqueue_with_an_id_already_queued_is_a_conflict_and_stores_none_of_it,
            claim_returns_only_due_mails_oldest_first_and_at_most_limit,
            a_claimed_mail_is_not_claimed_again_before_its_lease_ends_and_is_after,
            sent_and_given_up_mails_are_never_claimed_again,
            a_retry_makes_a_mail_due_at_its_next_and_not_before,
            a_finished_mail_stays_finished_whatever_is_recorded_later,
            recording_an_unknown_id_is_no_error,
            purging_deletes_only_mails_finished_before_the_instant,
            concurrent_claimers_claim_each_mail_exactly_once,
            dispatch_due_sends_retries_and_gives_up_by_the_policy,
        );
    };
    (@tests $outbox:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::run(async {
                    let outbox = $outbox;
                    $crate::outbox_conformance::$name(&outbox).await;
                });
            }
        )*
    };
}

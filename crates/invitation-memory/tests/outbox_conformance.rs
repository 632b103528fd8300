//! The memory store runs the whole mail outbox conformance suite, directly
//! and through `Arc<dyn MailOutbox>`; each clause gets a new store.

mod direct {
    invitation_testkit::outbox_conformance_tests!(invitation_memory::MemoryStore::new());
}

mod through_dyn {
    use std::sync::Arc;

    use invitation_core::chrono::{DateTime, Utc};
    use invitation_core::{async_trait, Attempt, MailId, MailOutbox, QueuedMail, StoreError};

    /// The store as a host holds it, behind `Arc<dyn MailOutbox>` (the
    /// suite's clauses take a `MailOutbox` value, which the `Arc` is not).
    #[derive(Debug, Clone)]
    struct Dyn(Arc<dyn MailOutbox>);

    #[async_trait]
    impl MailOutbox for Dyn {
        async fn enqueue(&self, mails: &[QueuedMail]) -> Result<(), StoreError> {
            self.0.enqueue(mails).await
        }
        async fn claim(
            &self,
            now: DateTime<Utc>,
            lease_until: DateTime<Utc>,
            limit: u32,
        ) -> Result<Vec<QueuedMail>, StoreError> {
            self.0.claim(now, lease_until, limit).await
        }
        async fn record(
            &self,
            id: &MailId,
            attempt: &Attempt,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.0.record(id, attempt, now).await
        }
        async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
            self.0.purge_finished(before).await
        }
    }

    invitation_testkit::outbox_conformance_tests!(Dyn(Arc::new(
        invitation_memory::MemoryStore::new()
    )));
}

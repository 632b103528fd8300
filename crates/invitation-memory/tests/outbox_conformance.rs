//! The memory store runs the whole mail outbox conformance suite, directly
//! and through `Arc<dyn MailOutbox>`; each clause gets a new store.

mod direct {
    invitation_testkit::outbox_conformance_tests!(invitation_memory::MemoryStore::new());
}

mod through_dyn {
    use std::sync::Arc;

    use invitation_testkit::outbox_conformance::DynOutbox;

    invitation_testkit::outbox_conformance_tests!(DynOutbox(Arc::new(
        invitation_memory::MemoryStore::new()
    )));
}

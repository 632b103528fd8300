//! The memory store runs the whole storage conformance suite, directly and
//! through `Arc<dyn InvitationStore>`.
//!
//! All but the corrupt-row clause: the store holds `Invitation`s, which
//! cannot break the domain's rules, so it has no row it cannot read back.

mod direct {
    invitation_testkit::store_conformance_tests!(invitation_memory::MemoryStore::new());
}

mod through_dyn {
    use std::sync::Arc;

    use invitation_core::InvitationStore;

    fn store() -> Arc<dyn InvitationStore> {
        Arc::new(invitation_memory::MemoryStore::new())
    }

    invitation_testkit::store_conformance_tests!(store());
}

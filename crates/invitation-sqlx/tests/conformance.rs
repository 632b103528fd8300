//! The storage conformance suite from `invitation-testkit`, every clause,
//! against SQLite: on a fresh database file per clause (opened as a server
//! would, `SqliteStore::open`) and on a private in-memory database (one
//! connection), each directly and as `Arc<dyn InvitationStore>`.
//!
//! A row edited by hand can break the domain's rules where the table's
//! checks do not see it: the corrupt-row clause plants one whose name is
//! not a slug (the table checks only its length).
#![cfg(feature = "sqlite")]
// Tests: failing loudly is the point.
#![allow(clippy::expect_used)]

mod support;

mod on_a_file {
    use super::support;

    invitation_testkit::store_conformance_tests!(
        support::TestStore::new().await,
        plant_corrupt = |db: support::TestStore, invitation: invitation_core::Invitation| async move {
            support::plant_corrupt(&db.store, &invitation).await;
        },
    );
}

mod on_a_file_as_dyn {
    use std::sync::Arc;

    use invitation_core::InvitationStore;

    use super::support;

    invitation_testkit::store_conformance_tests!({
        let store: Arc<dyn InvitationStore> = Arc::new(support::TestStore::new().await);
        store
    });
}

mod in_memory {
    use invitation_sqlx::SqliteStore;

    invitation_testkit::store_conformance_tests!(
        SqliteStore::in_memory().await.expect("an in-memory store"),
        plant_corrupt = |store: SqliteStore, invitation: invitation_core::Invitation| async move {
            super::support::plant_corrupt(&store, &invitation).await;
        },
    );
}

mod in_memory_as_dyn {
    use std::sync::Arc;

    use invitation_core::InvitationStore;
    use invitation_sqlx::SqliteStore;

    invitation_testkit::store_conformance_tests!({
        let store: Arc<dyn InvitationStore> =
            Arc::new(SqliteStore::in_memory().await.expect("an in-memory store"));
        store
    });
}

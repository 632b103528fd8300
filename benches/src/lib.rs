//! Shared set-up for the benchmarks in `benches/`: the create use case wired
//! to the in-memory store, and its baseline (the same validation and a plain
//! `HashMap` insert, no ports).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Arc;

use invitation_core::{
    validate, IdGenerator, Invitation, InvitationId, InvitationInput, InvitationParts,
    InvitationService, Mode, Principal, RandomIds, UserId,
};
use invitation_memory::MemoryStore;
use invitation_testkit::doubles::{AllowAll, StaticDirectory};
use serde_json::{Map, Value};

/// The creating user.
pub const CREATOR: UserId = UserId::new(7);

/// A typical create request: a name, an expiry, a single-use flag and a
/// small `fixed_data` object.
pub fn sample_input() -> InvitationInput {
    let mut data = Map::new();
    data.insert("email".into(), Value::String("new.user@example.org".into()));
    InvitationInput::new()
        .name("welcome-new-user")
        .single_use(true)
        .fixed_data(data)
}

/// The create use case on a fresh in-memory store.
pub fn service() -> InvitationService {
    let directory = Arc::new(StaticDirectory::new().with_user(CREATOR.get(), "alice"));
    InvitationService::new(
        Arc::new(MemoryStore::new()),
        directory.clone(),
        directory,
        Arc::new(AllowAll),
    )
}

/// The baseline: the same validation, the same id generator, then a plain
/// `HashMap` insert (with the memory store's hasher, foldhash, so that the
/// two differ by the ports and the async, not by the hash); no ports, no
/// async.
#[derive(Debug, Default)]
pub struct Baseline {
    rows: HashMap<InvitationId, Invitation, foldhash::fast::RandomState>,
}

impl Baseline {
    /// Validates and stores; returns whether it stored.
    pub fn create(&mut self, input: InvitationInput) -> bool {
        let Ok(changes) = validate(input, Mode::Full) else {
            return false;
        };
        let Some(name) = changes.name else {
            return false;
        };
        let invitation = Invitation::from_parts(InvitationParts {
            id: RandomIds.new_id(),
            name,
            expires: changes.expires.flatten(),
            fixed_data: changes.fixed_data.unwrap_or_default(),
            single_use: changes.single_use.unwrap_or(false),
            flow: None,
            created_by: CREATOR,
            version: invitation_core::Version::FIRST,
        });
        self.rows.insert(*invitation.id(), invitation).is_none()
    }
}

/// Creates through the use case; returns whether it succeeded.
pub async fn create(service: &InvitationService, input: InvitationInput) -> bool {
    service
        .create(&Principal::user(CREATOR), input)
        .await
        .is_ok()
}

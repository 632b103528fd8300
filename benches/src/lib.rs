//! Shared set-up for the benchmarks in `benches/`: the create use case wired
//! to the in-memory store, and its baseline (the same validation and a plain
//! `HashMap` insert, no ports); and, in [`adapter`], what the storage
//! adapters' load benchmarks share.
#![forbid(unsafe_code)]

pub mod adapter;

use std::collections::HashMap;
use std::sync::Arc;

use invitation_core::{
    FixedData, IdGenerator, Invitation, InvitationId, InvitationInput, InvitationName,
    InvitationParts, InvitationService, Principal, RandomIds, UserId,
};
use invitation_memory::MemoryStore;
use serde_json::{Map, Value};

/// The creating user.
pub const CREATOR: UserId = UserId::new(7);

/// The sample request's name.
pub const SAMPLE_NAME: &str = "welcome-new-user";

/// The sample request's `fixed_data`, as a caller builds it.
pub fn sample_data() -> Value {
    let mut data = Map::new();
    data.insert("email".into(), Value::String("new.user@example.org".into()));
    Value::Object(data)
}

/// A typical create request: a name, a single-use flag and a small
/// `fixed_data` object.
pub fn sample_input() -> InvitationInput {
    InvitationInput::new()
        .name(SAMPLE_NAME)
        .single_use(true)
        .fixed_data_value(sample_data())
}

/// The create use case on a fresh in-memory store.
pub fn service() -> InvitationService {
    adapter::service_on(Arc::new(MemoryStore::new()))
}

/// The baseline: the same rules, the same id generator, then a plain
/// `HashMap` insert (with the memory store's hasher, foldhash, so that the
/// two differ by the ports and the async, not by the hash); no ports, no
/// async.
#[derive(Debug, Default)]
pub struct Baseline {
    rows: HashMap<InvitationId, Invitation, foldhash::fast::RandomState>,
}

impl Baseline {
    /// Builds and checks the sample request's values (the rules the use
    /// case applies) and stores them; returns whether it stored.
    pub fn create(&mut self) -> bool {
        let Ok(name) = InvitationName::parse(SAMPLE_NAME) else {
            return false;
        };
        let Ok(fixed_data) = FixedData::try_from(sample_data()) else {
            return false;
        };
        let invitation = Invitation::from_parts(InvitationParts {
            id: RandomIds.new_id(),
            name,
            expires: None,
            fixed_data,
            single_use: true,
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

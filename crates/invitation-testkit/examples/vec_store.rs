//! A storage adapter written from the testkit's README alone: every
//! invitation in one `Vec` behind one `Mutex`, with the core's reference
//! helpers doing each decision, and the whole conformance suite run
//! against it.
//!
//! `cargo test -p invitation-testkit --example vec_store` runs the suite
//! (the example is built as a test: `test = true` in the crate's
//! manifest); `cargo run -p invitation-testkit --example vec_store` stores
//! and redeems one invitation.

use std::sync::{Arc, Mutex, MutexGuard};

use invitation_core::chrono::{DateTime, Utc};
use invitation_core::{
    async_trait, DeleteOutcome, FlowId, Invitation, InvitationId, InvitationPatch, InvitationStore,
    ListQuery, RedeemOutcome, StoreError, StoredPage, UpdateOutcome, UserId, Version,
};

/// Every invitation, in insertion order. Clones share the rows.
#[derive(Debug, Clone, Default)]
pub struct VecStore {
    rows: Arc<Mutex<Vec<Invitation>>>,
}

impl VecStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The rows, locked. A writer that panicked left every row whole (each
    /// write below is one assignment, push or removal), so a poisoned lock
    /// is still safe to use.
    fn rows(&self) -> MutexGuard<'_, Vec<Invitation>> {
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn position(rows: &[Invitation], id: &InvitationId) -> Option<usize> {
    rows.iter().position(|row| row.id() == id)
}

#[async_trait]
impl InvitationStore for VecStore {
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let mut rows = self.rows();
        if position(&rows, invitation.id()).is_some() {
            return Err(StoreError::Conflict(*invitation.id()));
        }
        rows.push(invitation.clone());
        Ok(())
    }

    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        let rows = self.rows();
        Ok(position(&rows, id).map(|at| rows[at].clone()))
    }

    async fn update(
        &self,
        id: &InvitationId,
        patch: &InvitationPatch,
        expected: Option<Version>,
    ) -> Result<UpdateOutcome, StoreError> {
        let mut rows = self.rows();
        let row = position(&rows, id).map(|at| &mut rows[at]);
        Ok(UpdateOutcome::write(row, patch, expected))
    }

    async fn delete(
        &self,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut rows = self.rows();
        let at = position(&rows, id);
        let outcome = DeleteOutcome::check(at.map(|at| &rows[at]), expected);
        if let (DeleteOutcome::Deleted, Some(at)) = (outcome, at) {
            rows.remove(at);
        }
        Ok(outcome)
    }

    async fn list(&self, query: &ListQuery) -> Result<StoredPage, StoreError> {
        let rows = self.rows();
        let mut matching: Vec<&Invitation> = rows.iter().filter(|row| query.matches(row)).collect();
        matching.sort_by(|a, b| query.compare(a, b));
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        Ok(StoredPage {
            total: matching.len() as u64,
            items: matching
                .into_iter()
                .skip(offset)
                .take(limit)
                .cloned()
                .collect(),
        })
    }

    async fn redeem(
        &self,
        id: &InvitationId,
        flow: Option<&FlowId>,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        // One lock for the check and the removal: exactly one racer gets a
        // single-use invitation.
        let mut rows = self.rows();
        let Some(at) = position(&rows, id) else {
            return Ok(RedeemOutcome::NotFound);
        };
        let row = &rows[at];
        Ok(if row.is_expired_at(now) {
            RedeemOutcome::Expired
        } else if !row.redeemable_in(flow) {
            RedeemOutcome::WrongFlow
        } else if row.single_use() {
            RedeemOutcome::Redeemed(rows.remove(at))
        } else {
            RedeemOutcome::Redeemed(row.clone())
        })
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        let before = rows.len();
        rows.retain(|row| !row.is_expired_at(now));
        Ok((before - rows.len()) as u64)
    }

    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        // A patch, so that the version moves as on any other write.
        let unbind = InvitationPatch {
            flow: Some(None),
            ..InvitationPatch::default()
        };
        let mut changed = 0;
        for row in self
            .rows()
            .iter_mut()
            .filter(|row| row.flow() == Some(flow))
        {
            *row = unbind.apply(row);
            changed += 1;
        }
        Ok(changed)
    }

    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        let before = rows.len();
        rows.retain(|row| row.created_by() != *user);
        Ok((before - rows.len()) as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

// Every clause but the corrupt-row one: a `Vec<Invitation>` cannot hold a
// row that breaks the domain's rules.
#[cfg(test)]
invitation_testkit::store_conformance_tests!(VecStore::new());

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use invitation_core::{FixedData, InvitationName, InvitationParts};

    let name = InvitationName::parse("welcome-bob").map_err(|e| format!("{e:?}"))?;
    let invitation = Invitation::from_parts(InvitationParts {
        id: InvitationId::from_uuid(invitation_core::uuid::Uuid::new_v4()),
        name,
        expires: None,
        fixed_data: FixedData::new(),
        single_use: true,
        flow: None,
        created_by: UserId::new(7),
        version: Version::FIRST,
    });
    let store = VecStore::new();
    store.insert(&invitation).await?;
    let first = store.redeem(invitation.id(), None, Utc::now()).await?;
    let second = store.redeem(invitation.id(), None, Utc::now()).await?;
    println!("first redemption: {first:?}");
    println!("second redemption: {second:?}"); // single use: NotFound
    Ok(())
}

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod directory;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use invitation_core::{
    FlowId, Invitation, InvitationId, InvitationStore, ListQuery, RedeemOutcome, StoreError,
    StoredPage, UserId,
};

pub use directory::MemoryDirectory;

/// An in-memory invitation store. Clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    rows: Arc<RwLock<HashMap<InvitationId, Invitation>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many invitations are stored.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no invitation is stored.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    // A panic while holding the lock cannot leave a row half-written (every
    // write is one map operation), so a poisoned lock is still consistent.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<InvitationId, Invitation>> {
        self.rows.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<InvitationId, Invitation>> {
        self.rows.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl InvitationStore for MemoryStore {
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        match self.write().entry(*invitation.id()) {
            Entry::Occupied(_) => Err(StoreError::Conflict(*invitation.id())),
            Entry::Vacant(slot) => {
                // Cheap: the name and fixed_data are shared, not copied.
                slot.insert(invitation.clone());
                Ok(())
            }
        }
    }

    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        Ok(self.read().get(id).cloned())
    }

    async fn replace(&self, invitation: &Invitation) -> Result<bool, StoreError> {
        Ok(match self.write().get_mut(invitation.id()) {
            Some(row) => {
                *row = invitation.clone();
                true
            }
            None => false,
        })
    }

    async fn delete(&self, id: &InvitationId) -> Result<bool, StoreError> {
        Ok(self.write().remove(id).is_some())
    }

    async fn list(&self, query: &ListQuery) -> Result<StoredPage, StoreError> {
        let rows = self.read();
        let mut matching: Vec<&Invitation> = rows.values().filter(|i| query.matches(i)).collect();
        let total = matching.len() as u64;
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let end = offset.saturating_add(limit).min(matching.len());
        let items = if offset >= end {
            Vec::new()
        } else {
            // Only the rows up to the end of the page need to be in order.
            if end < matching.len() {
                matching.select_nth_unstable_by(end - 1, |a, b| query.compare(a, b));
                matching.truncate(end);
            }
            matching.sort_unstable_by(|a, b| query.compare(a, b));
            matching[offset..end].iter().map(|i| (*i).clone()).collect()
        };
        Ok(StoredPage { total, items })
    }

    async fn redeem(
        &self,
        id: &InvitationId,
        flow: &FlowId,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        // One write lock for check and consume: exactly one racer wins.
        let mut rows = self.write();
        let Some(invitation) = rows.get(id) else {
            return Ok(RedeemOutcome::NotFound);
        };
        if invitation.is_expired_at(now) {
            return Ok(RedeemOutcome::Expired);
        }
        if invitation.flow().is_some_and(|bound| bound != flow) {
            return Ok(RedeemOutcome::WrongFlow);
        }
        let redeemed = if invitation.single_use() {
            rows.remove(id)
        } else {
            Some(invitation.clone())
        };
        Ok(redeemed.map_or(RedeemOutcome::NotFound, RedeemOutcome::Redeemed))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut rows = self.write();
        let before = rows.len();
        rows.retain(|_, i| !i.is_expired_at(now));
        Ok((before - rows.len()) as u64)
    }

    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        let mut rows = self.write();
        let mut changed = 0;
        for row in rows.values_mut().filter(|i| i.flow() == Some(flow)) {
            let mut parts = row.clone().into_parts();
            parts.flow = None;
            *row = Invitation::from_parts(parts);
            changed += 1;
        }
        Ok(changed)
    }

    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        let mut rows = self.write();
        let before = rows.len();
        rows.retain(|_, i| i.created_by() != *user);
        Ok((before - rows.len()) as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod directory;
mod outbox;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use invitation_core::{
    DeleteOutcome, FlowId, Invitation, InvitationId, InvitationPatch, InvitationStore, ListQuery,
    RedeemOutcome, StoreError, StoredPage, UpdateOutcome, UserId, Version,
};

pub use directory::MemoryDirectory;

/// How many independently locked parts the rows are split into. A part
/// grows its table on its own, so the pause while a table is rehashed is a
/// sixty-fourth of what one table for every row would take (tens of
/// milliseconds at a few hundred thousand rows), and it holds up only the
/// requests for that part.
const SHARDS: usize = 64;

/// Ids are made by the server, not chosen by callers, so the rows need no
/// flooding-resistant hash: foldhash (hashbrown's default) is several times
/// cheaper than the standard library's SipHash on a 16-byte key.
type Rows = HashMap<InvitationId, Invitation, foldhash::fast::RandomState>;

/// An in-memory invitation store and mail outbox. Clones share the same
/// data; it lasts as long as the process, queued mail included.
///
/// Rows are split by id over 64 locks. An operation on one
/// invitation locks its part only; one that reads or changes many (list,
/// purge, the flow and user clean-ups) locks every part, always in the same
/// order, so it sees and leaves one consistent state.
///
/// As a [`MailOutbox`](invitation_core::MailOutbox), its mails are in one
/// map behind one lock of their own: each outbox operation is one step
/// under it, so every mail is claimed by one claim at a time.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    shards: Arc<[RwLock<Rows>]>,
    mails: Arc<Mutex<outbox::Mails>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            mails: Arc::default(),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many invitations are stored.
    pub fn len(&self) -> usize {
        self.read_all().iter().map(|rows| rows.len()).sum()
    }

    /// Whether no invitation is stored.
    pub fn is_empty(&self) -> bool {
        self.read_all().iter().all(|rows| rows.is_empty())
    }

    fn shard(&self, id: &InvitationId) -> &RwLock<Rows> {
        // The low bits of a v4 UUID are random; any id picks some part.
        let low = id.as_uuid().as_u128() as usize;
        &self.shards[low % SHARDS]
    }

    // A panic while holding a lock cannot leave a row half-written (every
    // write is one map operation), so a poisoned lock is still consistent.
    fn read(&self, id: &InvitationId) -> RwLockReadGuard<'_, Rows> {
        self.shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, id: &InvitationId) -> RwLockWriteGuard<'_, Rows> {
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every part, read-locked in order.
    fn read_all(&self) -> Vec<RwLockReadGuard<'_, Rows>> {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }

    /// Every part, write-locked in order.
    fn write_all(&self) -> Vec<RwLockWriteGuard<'_, Rows>> {
        self.shards
            .iter()
            .map(|s| s.write().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }
}

#[async_trait]
impl InvitationStore for MemoryStore {
    async fn insert(&self, invitation: &Invitation) -> Result<(), StoreError> {
        match self.write(invitation.id()).entry(*invitation.id()) {
            Entry::Occupied(_) => Err(StoreError::Conflict(*invitation.id())),
            Entry::Vacant(slot) => {
                // Cheap: the name and fixed_data are shared, not copied.
                slot.insert(invitation.clone());
                Ok(())
            }
        }
    }

    async fn get(&self, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        Ok(self.read(id).get(id).cloned())
    }

    async fn update(
        &self,
        id: &InvitationId,
        patch: &InvitationPatch,
        expected: Option<Version>,
    ) -> Result<UpdateOutcome, StoreError> {
        // Check and write under one write lock: the patch applies to the
        // row as it is, and no other write comes between.
        Ok(UpdateOutcome::write(
            self.write(id).get_mut(id),
            patch,
            expected,
        ))
    }

    async fn delete(
        &self,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut rows = self.write(id);
        let outcome = DeleteOutcome::check(rows.get(id), expected);
        if outcome == DeleteOutcome::Deleted {
            rows.remove(id);
        }
        Ok(outcome)
    }

    async fn list(&self, query: &ListQuery) -> Result<StoredPage, StoreError> {
        let shards = self.read_all();
        let mut matching: Vec<&Invitation> = shards
            .iter()
            .flat_map(|rows| rows.values())
            .filter(|i| query.matches(i))
            .collect();
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
        flow: Option<&FlowId>,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        // One write lock for check and consume: exactly one racer wins.
        let mut rows = self.write(id);
        let Some(invitation) = rows.get(id) else {
            return Ok(RedeemOutcome::NotFound);
        };
        if invitation.is_expired_at(now) {
            return Ok(RedeemOutcome::Expired);
        }
        if !invitation.redeemable_in(flow) {
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
        let mut removed = 0;
        for rows in &mut self.write_all() {
            let before = rows.len();
            rows.retain(|_, i| !i.is_expired_at(now));
            removed += before - rows.len();
        }
        Ok(removed as u64)
    }

    async fn unbind_flow(&self, flow: &FlowId) -> Result<u64, StoreError> {
        let mut shards = self.write_all();
        let mut changed = 0;
        let rows = shards.iter_mut().flat_map(|rows| rows.values_mut());
        for row in rows.filter(|i| i.flow() == Some(flow)) {
            let unbind = InvitationPatch {
                flow: Some(None),
                ..InvitationPatch::default()
            };
            *row = unbind.apply(row);
            changed += 1;
        }
        Ok(changed)
    }

    async fn delete_created_by(&self, user: &UserId) -> Result<u64, StoreError> {
        let mut removed = 0;
        for rows in &mut self.write_all() {
            let before = rows.len();
            rows.retain(|_, i| i.created_by() != *user);
            removed += before - rows.len();
        }
        Ok(removed as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

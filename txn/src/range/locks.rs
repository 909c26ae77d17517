//! Unreplicated locks taken by locking reads (`SELECT ... FOR UPDATE / FOR SHARE`, the row
//! reads of UPDATE and DELETE). They live in the range's memory only: losing them in a crash
//! loses no data, because a lock protects nothing its holder has written (writes are intents
//! in MVCC, which survive). Plain reads ignore them, as in PostgreSQL.
//!
//! Conflicts: an exclusive lock excludes every other transaction's lock and write; shared locks
//! admit other shared locks but exclude writes and exclusive locks.

use crate::LockStrength;
use kv::mvcc::{TxnId, TxnMeta};
use std::collections::BTreeMap;

/// The lock table of one range.
#[derive(Debug, Default)]
pub struct LockTable {
    locks: BTreeMap<Vec<u8>, Vec<(TxnMeta, LockStrength)>>,
}

impl LockTable {
    /// The first holder of a lock on `key` that conflicts with `txn` taking `want`
    /// (`None` = a write).
    pub fn conflict(&self, key: &[u8], txn: TxnId, want: Option<LockStrength>) -> Option<TxnMeta> {
        let holders = self.locks.get(key)?;
        holders
            .iter()
            .find(|(m, held)| {
                m.id != txn
                    && !(want == Some(LockStrength::Shared) && *held == LockStrength::Shared)
            })
            .map(|(m, _)| m.clone())
    }

    /// Takes (or upgrades) `txn`'s lock on `key`. The caller checked [`LockTable::conflict`].
    pub fn acquire(&mut self, key: &[u8], txn: &TxnMeta, strength: LockStrength) {
        let holders = self.locks.entry(key.to_vec()).or_default();
        match holders.iter_mut().find(|(m, _)| m.id == txn.id) {
            Some(h) => h.1 = h.1.max(strength),
            None => holders.push((txn.clone(), strength)),
        }
    }

    /// Releases `txn`'s lock on `key`.
    pub fn release(&mut self, key: &[u8], txn: TxnId) {
        if let Some(holders) = self.locks.get_mut(key) {
            holders.retain(|(m, _)| m.id != txn);
            if holders.is_empty() {
                self.locks.remove(key);
            }
        }
    }

    /// Number of locked keys (for tests and status).
    pub fn len(&self) -> usize {
        self.locks.len()
    }

    /// Whether no key is locked.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }
}

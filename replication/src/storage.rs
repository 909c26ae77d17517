//! A range replica's Raft log and Raft state on the node's engine.
//!
//! Keys (local, unreplicated: each replica keeps its own) under `0x01 'r' <range_id u64 BE>`:
//!
//! ```text
//! .. 'h'                 HardState (term, vote, commit), protobuf
//! .. 'c'                 ConfState (voters, learners, joint config), protobuf
//! .. 't'                 truncated state: index and term of the last entry removed from the log
//! .. 'a'                 applied index: written in the same batch as the applied commands
//! .. 'l' <index u64 BE>  log entries, protobuf
//! ```
//!
//! [`LogStore`] implements raft-rs's `Storage` from an in-memory copy of the log (loaded once
//! when the replica opens; the log is truncated behind the applied index so it stays short).
//! Writes never go to the engine directly: the multi-raft loop stages them into the one
//! `WriteBatch` it writes (and syncs) per iteration for every range, and updates the memory
//! copy at the same time. raft-rs reads the storage only between iterations, after that batch
//! is written.
//!
//! Snapshots carry the state machine's data, which only the layer above knows how to produce:
//! [`SnapshotSource`] supplies it. The snapshot's index is the applied index at the time the data
//! is read; both come from the same thread that applies, so they agree.

use crate::{Error, Result};
use kv::engine::{Engine, Visit, WriteBatch};
use kv::keys::LOCAL_PREFIX;
use kv::RangeId;
use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};
use std::sync::Arc;

/// Produces a range's state-machine snapshot for a replica that needs one.
pub trait SnapshotSource: Send + Sync {
    /// The range's replicated data as of the last applied command.
    fn snapshot_data(&self, range: RangeId) -> std::result::Result<Vec<u8>, String>;

    /// The snapshot data for replica `to` of the range (what raft-rs sends it). A source
    /// that streams the data out of band returns a small reference here and may refuse
    /// (raft-rs retries later) while a snapshot to `to` is still on its way. Defaults to
    /// [`SnapshotSource::snapshot_data`].
    fn snapshot_data_to(&self, range: RangeId, to: u64) -> std::result::Result<Vec<u8>, String> {
        let _ = to;
        self.snapshot_data(range)
    }
}

/// The key prefix of a range's Raft state.
pub fn range_state_prefix(range: RangeId) -> Vec<u8> {
    let mut k = Vec::with_capacity(11);
    k.push(LOCAL_PREFIX);
    k.push(b'r');
    k.extend_from_slice(&range.0.to_be_bytes());
    k
}

fn state_key(range: RangeId, suffix: u8) -> Vec<u8> {
    let mut k = range_state_prefix(range);
    k.push(suffix);
    k
}

fn entry_key(range: RangeId, index: u64) -> Vec<u8> {
    let mut k = state_key(range, b'l');
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The key of a range's applied index (the layer above writes it with each applied batch).
pub fn applied_key(range: RangeId) -> Vec<u8> {
    state_key(range, b'a')
}

fn decode_u64_pair(raw: &[u8]) -> Result<(u64, u64)> {
    if raw.len() != 16 {
        return Err(Error::Corrupt("truncated state".into()));
    }
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&raw[..8]);
    b.copy_from_slice(&raw[8..]);
    Ok((u64::from_be_bytes(a), u64::from_be_bytes(b)))
}

fn decode_u64(raw: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = raw
        .try_into()
        .map_err(|_| Error::Corrupt("applied index".into()))?;
    Ok(u64::from_be_bytes(arr))
}

/// One replica's Raft log and state.
pub struct LogStore {
    range: RangeId,
    hard: HardState,
    conf: ConfState,
    /// Index and term of the entry just before `entries[0]`.
    truncated: (u64, u64),
    entries: Vec<Entry>,
    applied: u64,
    source: Arc<dyn SnapshotSource>,
}

impl LogStore {
    /// Loads a replica's state from the engine (an empty, uninitialised state when none).
    pub fn open(
        engine: &dyn Engine,
        range: RangeId,
        source: Arc<dyn SnapshotSource>,
    ) -> Result<LogStore> {
        let mut hard = HardState::default();
        if let Some(raw) = engine.get(&state_key(range, b'h'))? {
            hard = HardState::parse_from_bytes(&raw).map_err(|e| Error::Corrupt(e.to_string()))?;
        }
        let mut conf = ConfState::default();
        if let Some(raw) = engine.get(&state_key(range, b'c'))? {
            conf = ConfState::parse_from_bytes(&raw).map_err(|e| Error::Corrupt(e.to_string()))?;
        }
        let truncated = match engine.get(&state_key(range, b't'))? {
            Some(raw) => decode_u64_pair(&raw)?,
            None => (0, 0),
        };
        let applied = match engine.get(&applied_key(range))? {
            Some(raw) => decode_u64(&raw)?,
            None => truncated.0,
        };
        let mut entries = Vec::new();
        let start = entry_key(range, truncated.0 + 1);
        let end = entry_key(range, u64::MAX);
        let mut bad = None;
        engine.scan(
            &start,
            Some(&end),
            &mut |_, v| match Entry::parse_from_bytes(v) {
                Ok(e) => {
                    entries.push(e);
                    Visit::Continue
                }
                Err(e) => {
                    bad = Some(e.to_string());
                    Visit::Stop
                }
            },
        )?;
        if let Some(e) = bad {
            return Err(Error::Corrupt(format!("log entry of {range}: {e}")));
        }
        for (i, e) in entries.iter().enumerate() {
            if e.index != truncated.0 + 1 + i as u64 {
                return Err(Error::Corrupt(format!(
                    "log of {range} has a gap at {}",
                    e.index
                )));
            }
        }
        Ok(LogStore {
            range,
            hard,
            conf,
            truncated,
            entries,
            applied,
            source,
        })
    }

    /// Stages a brand-new replica's initial state: a log that starts after `(index, term)`
    /// (entries up to there are covered by the state machine data written alongside), with
    /// the given configuration. Used at cluster bootstrap and for the right-hand side of a
    /// split, whose data is already in the engine.
    pub fn stage_initial(
        &mut self,
        batch: &mut WriteBatch,
        index: u64,
        term: u64,
        conf: ConfState,
    ) -> Result<()> {
        self.truncated = (index, term);
        self.entries.clear();
        self.applied = index;
        // An uninitialised replica may already have voted in a later term (it existed
        // before the split that creates it here applied): keep that vote.
        let (term_now, vote) = if self.hard.term > term {
            (self.hard.term, self.hard.vote)
        } else {
            (term, 0)
        };
        self.hard = HardState {
            term: term_now,
            vote,
            commit: index,
            ..HardState::default()
        };
        self.conf = conf;
        self.stage_hard_state(batch)?;
        self.stage_conf_state(batch)?;
        self.stage_truncated(batch);
        batch.put(applied_key(self.range), index.to_be_bytes().to_vec());
        Ok(())
    }

    /// The range.
    pub fn range(&self) -> RangeId {
        self.range
    }

    /// The last applied index.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The configuration.
    pub fn conf_state(&self) -> &ConfState {
        &self.conf
    }

    /// The hard state.
    pub fn hard_state(&self) -> &HardState {
        &self.hard
    }

    /// Entries held in the log (for status and truncation decisions).
    pub fn log_len(&self) -> usize {
        self.entries.len()
    }

    /// Records that commands up to `index` were applied; the layer above writes
    /// [`applied_key`] in the same batch as their effects (see [`LogStore::stage_applied`]).
    pub fn stage_applied(&mut self, batch: &mut WriteBatch, index: u64) {
        debug_assert!(index >= self.applied, "applied index moved backwards");
        self.applied = index;
        batch.put(applied_key(self.range), index.to_be_bytes().to_vec());
    }

    /// Stages new entries; entries at or after the first new index are replaced.
    pub fn stage_append(&mut self, batch: &mut WriteBatch, ents: &[Entry]) -> Result<()> {
        let Some(first) = ents.first() else {
            return Ok(());
        };
        let first_index = self.truncated.0 + 1;
        if first.index < first_index {
            return Err(Error::Corrupt(format!(
                "{}: append at {} before the log start {first_index}",
                self.range, first.index
            )));
        }
        let keep = (first.index - first_index) as usize;
        if keep > self.entries.len() {
            return Err(Error::Corrupt(format!(
                "{}: append at {} leaves a gap after {}",
                self.range,
                first.index,
                self.last()
            )));
        }
        // Entries past the new tail (a conflicting suffix) are removed from disk too.
        let old_last = self.last();
        self.entries.truncate(keep);
        for e in ents {
            batch.put(entry_key(self.range, e.index), e.write_to_bytes()?);
            self.entries.push(e.clone());
        }
        for i in self.last() + 1..=old_last {
            batch.delete(entry_key(self.range, i));
        }
        Ok(())
    }

    /// Stages a hard state.
    pub fn set_hard_state(&mut self, batch: &mut WriteBatch, hs: HardState) -> Result<()> {
        self.hard = hs;
        self.stage_hard_state(batch)
    }

    /// Stages a new commit index (from a light ready).
    pub fn set_commit(&mut self, batch: &mut WriteBatch, commit: u64) -> Result<()> {
        self.hard.commit = commit;
        self.stage_hard_state(batch)
    }

    /// Stages a configuration.
    pub fn set_conf_state(&mut self, batch: &mut WriteBatch, cs: ConfState) -> Result<()> {
        self.conf = cs;
        self.stage_conf_state(batch)
    }

    /// Stages a received snapshot's Raft side: the log restarts after it, the configuration
    /// and commit index come from it. (The layer above stages the data.)
    pub fn stage_snapshot(&mut self, batch: &mut WriteBatch, snap: &Snapshot) -> Result<()> {
        let meta = snap.get_metadata();
        for e in &self.entries {
            batch.delete(entry_key(self.range, e.index));
        }
        self.entries.clear();
        self.truncated = (meta.index, meta.term);
        self.stage_truncated(batch);
        self.conf = meta.get_conf_state().clone();
        self.stage_conf_state(batch)?;
        if self.hard.commit < meta.index {
            self.hard.commit = meta.index;
        }
        if self.hard.term < meta.term {
            self.hard.term = meta.term;
        }
        self.stage_hard_state(batch)?;
        self.stage_applied(batch, meta.index);
        Ok(())
    }

    /// Stages removal of log entries up to and including `index` (never past the applied
    /// index: those are still needed to apply).
    pub fn stage_truncate(&mut self, batch: &mut WriteBatch, index: u64) {
        let index = index.min(self.applied);
        if index <= self.truncated.0 {
            return;
        }
        let n = (index - self.truncated.0) as usize;
        let n = n.min(self.entries.len());
        if n == 0 {
            return;
        }
        let term = self.entries[n - 1].term;
        for e in self.entries.drain(..n) {
            batch.delete(entry_key(self.range, e.index));
        }
        self.truncated = (index, term);
        self.stage_truncated(batch);
    }

    /// Stages deletion of every key of this replica's Raft state (replica removed).
    pub fn stage_destroy(&mut self, batch: &mut WriteBatch) {
        for e in self.entries.drain(..) {
            batch.delete(entry_key(self.range, e.index));
        }
        for s in [b'h', b'c', b't', b'a'] {
            batch.delete(state_key(self.range, s));
        }
    }

    fn stage_hard_state(&self, batch: &mut WriteBatch) -> Result<()> {
        batch.put(state_key(self.range, b'h'), self.hard.write_to_bytes()?);
        Ok(())
    }

    fn stage_conf_state(&self, batch: &mut WriteBatch) -> Result<()> {
        batch.put(state_key(self.range, b'c'), self.conf.write_to_bytes()?);
        Ok(())
    }

    fn stage_truncated(&self, batch: &mut WriteBatch) {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&self.truncated.0.to_be_bytes());
        v.extend_from_slice(&self.truncated.1.to_be_bytes());
        batch.put(state_key(self.range, b't'), v);
    }

    fn last(&self) -> u64 {
        self.truncated.0 + self.entries.len() as u64
    }
}

fn storage_err(e: StorageError) -> raft::Error {
    raft::Error::Store(e)
}

impl raft::Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(self.hard.clone(), self.conf.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let first = self.truncated.0 + 1;
        if low < first {
            return Err(storage_err(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(storage_err(StorageError::Unavailable));
        }
        let lo = (low - first) as usize;
        let hi = (high - first) as usize;
        let mut ents = self.entries[lo..hi].to_vec();
        raft::util::limit_size(&mut ents, max_size.into());
        Ok(ents)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.truncated.0 {
            return Ok(self.truncated.1);
        }
        if idx < self.truncated.0 {
            return Err(storage_err(StorageError::Compacted));
        }
        if idx > self.last() {
            return Err(storage_err(StorageError::Unavailable));
        }
        Ok(self.entries[(idx - self.truncated.0 - 1) as usize].term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.truncated.0 + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        if self.applied < request_index {
            return Err(storage_err(StorageError::SnapshotTemporarilyUnavailable));
        }
        let term = self.term(self.applied)?;
        let data = self.source.snapshot_data_to(self.range, to).map_err(|e| {
            tracing::debug!(range = %self.range, error = %e, "cannot produce a snapshot");
            storage_err(StorageError::SnapshotTemporarilyUnavailable)
        })?;
        let mut snap = Snapshot::default();
        snap.set_data(data.into());
        let meta = snap.mut_metadata();
        meta.index = self.applied;
        meta.term = term;
        meta.set_conf_state(self.conf.clone());
        Ok(snap)
    }
}

//! A simulated disk: an [`Engine`] that remembers which writes were synced, so a crash can
//! lose the rest.
//!
//! Every write is visible at once (the page cache). A write with `sync` (or a later
//! [`Engine::sync`]) makes it and every earlier write durable. Unsynced writes form a queue in
//! write order (a write-ahead log not yet fsynced); a crash keeps a prefix of that queue,
//! chosen by the caller (any prefix may have reached the platter before power went), and
//! drops the rest. A batch is never torn: the engine contract says a batch applies atomically.

use kv::engine::{BatchStep, Engine, Visit, WriteBatch};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::ops::Bound;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Default)]
struct DiskState {
    /// What reads see.
    live: Map,
    /// What survives a crash.
    durable: Map,
    /// Writes after the last sync, oldest first.
    pending: Vec<WriteBatch>,
}

/// One node's disk. See the module docs.
#[derive(Default)]
pub struct SimDisk {
    st: Mutex<DiskState>,
}

fn apply(map: &mut Map, batch: WriteBatch) {
    for step in batch.into_steps() {
        match step {
            BatchStep::Put(k, v) => {
                map.insert(k, v);
            }
            BatchStep::Delete(k) => {
                map.remove(&k);
            }
            BatchStep::DeleteRange(s, e) => {
                let upper = match &e {
                    Some(e) => Bound::Excluded(e.clone()),
                    None => Bound::Unbounded,
                };
                let doomed: Vec<Vec<u8>> = map
                    .range((Bound::Included(s), upper))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in doomed {
                    map.remove(&k);
                }
            }
        }
    }
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    /// Writes not yet synced.
    pub fn unsynced(&self) -> usize {
        self.st.lock().pending.len()
    }

    /// A crash: the first `keep` unsynced writes reach the disk, the others are lost, and
    /// reads see the durable state. Returns how many writes were lost.
    pub fn crash(&self, keep: usize) -> usize {
        let mut st = self.st.lock();
        let pending = std::mem::take(&mut st.pending);
        let lost = pending.len().saturating_sub(keep);
        for b in pending.into_iter().take(keep) {
            apply(&mut st.durable, b);
        }
        st.live = st.durable.clone();
        lost
    }

    /// Every visible entry with `start <= key < end` (for checkers).
    pub fn entries(&self, start: &[u8], end: Option<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let _ = self.scan(start, end, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Visit::Continue
        });
        out
    }
}

impl Engine for SimDisk {
    fn get(&self, key: &[u8]) -> kv::Result<Option<Vec<u8>>> {
        Ok(self.st.lock().live.get(key).cloned())
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Visit,
    ) -> kv::Result<()> {
        let st = self.st.lock();
        let upper = match end {
            Some(e) if e <= start => return Ok(()),
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        for (k, v) in st.live.range::<[u8], _>((Bound::Included(start), upper)) {
            if visit(k, v) == Visit::Stop {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch, sync: bool) -> kv::Result<()> {
        let mut st = self.st.lock();
        apply(&mut st.live, batch.clone());
        st.pending.push(batch);
        if sync {
            drop(st);
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&self) -> kv::Result<()> {
        let mut st = self.st.lock();
        let pending = std::mem::take(&mut st.pending);
        for b in pending {
            apply(&mut st.durable, b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str) -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(k.as_bytes().to_vec(), b"v".to_vec());
        b
    }

    #[test]
    fn a_crash_keeps_synced_writes_and_a_prefix_of_the_rest() {
        let d = SimDisk::new();
        d.write(put("a"), true).unwrap();
        d.write(put("b"), false).unwrap();
        d.write(put("c"), false).unwrap();
        assert_eq!(d.entries(b"", None).len(), 3);
        assert_eq!(d.crash(1), 1);
        let keys: Vec<Vec<u8>> = d.entries(b"", None).into_iter().map(|e| e.0).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
        let mut del = WriteBatch::new();
        del.delete_range(b"a".to_vec(), None);
        d.write(del, false).unwrap();
        assert!(d.entries(b"", None).is_empty());
        d.crash(0);
        assert_eq!(d.entries(b"", None).len(), 2);
    }
}

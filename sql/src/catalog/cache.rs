//! The descriptor cache: namespace entries and decoded descriptors, per schema generation.
//!
//! Why: without it every statement reads two or three catalog keys per table through its
//! transaction and decodes the descriptor (17% of a node's CPU under TPC-C). With it, a
//! transaction reads one key, the [`super::generation`], and finds everything else here.
//!
//! Correctness rests on the generation (see its module): entries are filed under the generation
//! value of the transaction view they were read in, and in any view that value determines the
//! whole catalog, so an entry is valid for every transaction that reads the same value. Nothing
//! is ever invalidated in place: a DDL produces a new value, lookups under it miss, and the old
//! generation's entries age out. Negative entries (a name that does not exist) are cached too,
//! for the same reason.
//!
//! The cache is process-wide (several SQL nodes of one process share it, as do several stores
//! in tests: generation values are unique across stores, see the generation module). It keeps
//! up to [`MAX_GENERATIONS`] most recently used generations (a transaction reading at an older
//! timestamp, e.g. `AS OF SYSTEM TIME`, an uncommitted DDL's own view, or another store in the
//! same process should not evict the current one) holding at most [`MAX_ENTRIES`] entries in
//! all: when a new generation is added, the least recently used ones are dropped until both
//! bounds hold. A generation that is full stops filing entries; its lookups still work but
//! read through the transaction. (Generations still in use keep filing after a newer one was
//! added, so the entry bound is checked when generations are added, not continuously: the
//! pathological worst case is every held generation full.)

use super::generation::Generation;
use super::{DatabaseDesc, TableDesc};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// How many generations are kept at most.
pub const MAX_GENERATIONS: usize = 64;

/// Entries (names plus descriptors) kept at most, over all generations.
pub const MAX_ENTRIES: u64 = 50_000;

/// A decoded descriptor as cached.
#[derive(Debug, Clone)]
pub enum CachedDesc {
    /// A database.
    Database(DatabaseDesc),
    /// A table, shared with every plan that uses it.
    Table(Arc<TableDesc>),
}

/// The entries of one generation.
#[derive(Debug)]
pub struct GenEntries {
    generation: Generation,
    /// parent id -> name -> id (None: no such name).
    names: RwLock<HashMap<u64, HashMap<String, Option<u64>>>>,
    /// How many names and descriptors are filed.
    count: AtomicU64,
    /// id -> descriptor (None: no such descriptor).
    descs: RwLock<HashMap<u64, Option<CachedDesc>>>,
}

impl GenEntries {
    fn new(generation: Generation) -> Self {
        GenEntries {
            generation,
            names: RwLock::new(HashMap::new()),
            count: AtomicU64::new(0),
            descs: RwLock::new(HashMap::new()),
        }
    }

    /// The cached id of `name` under `parent` (outer None: not cached).
    pub fn name(&self, parent: u64, name: &str) -> Option<Option<u64>> {
        let hit = self
            .names
            .read()
            .get(&parent)
            .and_then(|m| m.get(name))
            .copied();
        count(hit.is_some());
        hit
    }

    /// Files the id of `name` under `parent`.
    pub fn put_name(&self, parent: u64, name: &str, id: Option<u64>) {
        if self.is_full() {
            return;
        }
        let mut names = self.names.write();
        if names
            .entry(parent)
            .or_default()
            .insert(name.to_string(), id)
            .is_none()
        {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The cached descriptor `id` (outer None: not cached).
    pub fn desc(&self, id: u64) -> Option<Option<CachedDesc>> {
        let hit = self.descs.read().get(&id).cloned();
        count(hit.is_some());
        hit
    }

    /// Files descriptor `id`.
    pub fn put_desc(&self, id: u64, desc: Option<CachedDesc>) {
        if self.is_full() {
            return;
        }
        if self.descs.write().insert(id, desc).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn len(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn is_full(&self) -> bool {
        self.len() >= MAX_ENTRIES
    }
}

/// The cache: the most recently used generations, most recent first.
#[derive(Debug, Default)]
pub struct DescCache {
    gens: Mutex<Vec<Arc<GenEntries>>>,
}

impl DescCache {
    /// An empty cache (tests; the catalog uses [`DescCache::global`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide cache.
    pub fn global() -> &'static DescCache {
        static CACHE: OnceLock<DescCache> = OnceLock::new();
        CACHE.get_or_init(DescCache::new)
    }

    /// The entries of `generation`, created (evicting the least recently used generation)
    /// when absent.
    pub fn at(&self, generation: Generation) -> Arc<GenEntries> {
        let mut gens = self.gens.lock();
        if let Some(pos) = gens.iter().position(|g| g.generation == generation) {
            if pos != 0 {
                let g = gens.remove(pos);
                gens.insert(0, g);
            }
            return gens[0].clone();
        }
        let entries = Arc::new(GenEntries::new(generation));
        gens.insert(0, entries.clone());
        gens.truncate(MAX_GENERATIONS);
        let mut total: u64 = gens.iter().map(|g| g.len()).sum();
        while total > MAX_ENTRIES && gens.len() > 1 {
            if let Some(old) = gens.pop() {
                total -= old.len();
            }
        }
        entries
    }

    /// The generations held, most recently used first.
    pub fn generations(&self) -> Vec<Generation> {
        self.gens.lock().iter().map(|g| g.generation).collect()
    }
}

static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

fn count(hit: bool) {
    if hit {
        HITS.fetch_add(1, Ordering::Relaxed);
    } else {
        MISSES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Process-wide (hits, misses) of cache lookups since start.
pub fn stats() -> (u64, u64) {
    (HITS.load(Ordering::Relaxed), MISSES.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(counter: u64) -> Generation {
        Generation {
            counter,
            nonce: u128::from(counter) * 7,
        }
    }

    #[test]
    fn entries_are_per_generation() {
        let c = DescCache::new();
        c.at(g(1)).put_name(5, "t", Some(10));
        c.at(g(1)).put_name(5, "missing", None);
        assert_eq!(c.at(g(1)).name(5, "t"), Some(Some(10)));
        assert_eq!(c.at(g(1)).name(5, "missing"), Some(None));
        assert_eq!(c.at(g(1)).name(6, "t"), None);
        assert_eq!(
            c.at(g(2)).name(5, "t"),
            None,
            "a new generation starts empty"
        );
    }

    #[test]
    fn keeps_the_most_recently_used_generations() {
        let c = DescCache::new();
        c.at(g(1)).put_desc(1, None);
        for i in 2..=MAX_GENERATIONS as u64 {
            c.at(g(i));
        }
        // Touch generation 1 so it is the most recent, then add one more: 2 is evicted.
        c.at(g(1));
        c.at(g(99));
        let held = c.generations();
        assert_eq!(held.len(), MAX_GENERATIONS);
        assert_eq!(held[0], g(99));
        assert!(held.contains(&g(1)));
        assert!(!held.contains(&g(2)));
        assert_eq!(c.at(g(1)).desc(1).map(|d| d.is_none()), Some(true));
    }
}

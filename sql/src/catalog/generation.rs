//! The schema generation: one system key that every catalog write rewrites.
//!
//! Why: caching descriptors is only correct if a transaction can tell, cheaply and
//! serializably, whether the descriptors it would read are the ones in the cache. Reading every
//! descriptor it uses through the transaction is what the cache is meant to avoid; reading one
//! key is not. Every function of [`super::Catalog`] that writes a namespace entry or a
//! descriptor also writes this key, in the same transaction, under the same lock of the
//! transaction (so no read of that transaction falls between the two writes). Hence, in any
//! transaction's view (its snapshot plus its own writes), the generation value determines the
//! whole catalog: two views with the same generation value see the same descriptors.
//!
//! A transaction that uses cached descriptors reads the generation through itself, so the read
//! is in its read set: a DDL transaction that commits a new generation underneath it either is
//! seen (another value, another cache entry) or makes its refresh fail (40001), exactly as if it
//! had read the descriptors themselves.
//!
//! The value is a counter plus a random 128-bit nonce, not just a counter: an uncommitted DDL
//! transaction sees its own new generation, and may fill cache entries under it from its own
//! uncommitted descriptors. If it rolls back, a later DDL writes the same counter value — but
//! never the same nonce, so those entries are never used by anyone else. The nonce also makes a
//! process-wide cache safe when one process serves several unrelated stores (tests): two stores
//! never share a generation value. An absent key (a store created before this key existed and
//! not yet bootstrapped by this version) is reported as `None`: such reads bypass the cache,
//! and the first catalog write (or [`super::bootstrap`]) creates the key.

use super::{counter_key, Result};
use crate::error::code;
use crate::Error;
use std::sync::OnceLock;

/// Name of the counter key holding the generation (`/System/0x03/"schema_gen"`).
const GENERATION_COUNTER: &[u8] = b"schema_gen";

/// Encoded length: counter (u64 BE) + nonce (u128 BE).
const ENCODED_LEN: usize = 24;

/// One value of the schema generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Generation {
    /// Incremented by every catalog write (for humans and ordering in logs).
    pub counter: u64,
    /// Random per write: makes values written by different transactions distinct.
    pub nonce: u128,
}

impl Generation {
    /// The generation that follows `prev` (None: the key is absent, generation 0).
    pub fn next(prev: Option<Generation>) -> Generation {
        Generation {
            counter: prev.map_or(0, |g| g.counter).saturating_add(1),
            nonce: uuid::Uuid::new_v4().as_u128(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Generation> {
        let malformed = || Error::new(code::DATA_CORRUPTED, "catalog: malformed schema generation");
        if bytes.len() != ENCODED_LEN {
            return Err(malformed());
        }
        let (c, n) = bytes.split_at(8);
        Ok(Generation {
            counter: u64::from_be_bytes(c.try_into().map_err(|_| malformed())?),
            nonce: u128::from_be_bytes(n.try_into().map_err(|_| malformed())?),
        })
    }
}

/// The key of the schema generation.
pub fn generation_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| counter_key(GENERATION_COUNTER))
}

/// Reads the generation through `txn` (None when the key is absent).
pub fn read(txn: &mut dyn txn::Transaction) -> Result<Option<Generation>> {
    match txn.get(generation_key())? {
        Some(v) => Generation::decode(&v).map(Some),
        None => Ok(None),
    }
}

/// Writes the next generation through `txn` and returns it. Every catalog write calls this.
pub fn bump(txn: &mut dyn txn::Transaction) -> Result<Generation> {
    let next = Generation::next(read(txn)?);
    txn.put(generation_key().to_vec(), next.encode())?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let g = Generation::next(None);
        assert_eq!(g.counter, 1);
        assert_eq!(Generation::decode(&g.encode()).unwrap(), g);
        let e = Generation::decode(b"short").unwrap_err();
        assert_eq!(e.code, code::DATA_CORRUPTED);
    }

    #[test]
    fn successive_generations_differ_even_from_the_same_predecessor() {
        let g = Generation::next(None);
        let a = Generation::next(Some(g));
        let b = Generation::next(Some(g));
        assert_eq!((a.counter, b.counter), (2, 2));
        assert_ne!(
            a, b,
            "two writers of the same counter must not share a value"
        );
    }
}

//! Write intents: the provisional writes of running transactions.
//!
//! An intent lives in the same engine span as the key's committed versions, under the key's
//! *meta key* `escaped(key) 0x00 0x00`, which sorts just before the key's first version
//! (`escaped(key) 0x00 0x01 !ts`). A reader therefore meets a key's intent before its versions in
//! one forward pass, and a key has at most one intent.
//!
//! The intent holds the writing transaction's [`TxnMeta`] (who to push, where its record lives,
//! the timestamp it would commit at) and the history of values the transaction wrote to the
//! key, one per sequence number. Keeping the history lets a transaction roll back to a savepoint
//! (its later sequence numbers become *ignored*) without rewriting the intent: readers of the
//! same transaction and intent resolution take the newest value whose sequence number is not
//! ignored.
//!
//! Resolving an intent deletes the meta key and, when the transaction committed, writes the
//! chosen value as an ordinary version at the commit timestamp, in one write batch.

use crate::{Error, Result, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A transaction's identity: 128 random bits, printed like a UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct TxnId(pub u128);

impl fmt::Debug for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 8 hex digits, as CockroachDB prints transactions in errors.
        write!(f, "{:08x}", (self.0 >> 96) as u32)
    }
}

/// What every intent and lock says about its transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMeta {
    /// The transaction.
    pub id: TxnId,
    /// The key whose range holds the transaction record (its first write or lock).
    pub anchor: Vec<u8>,
    /// The timestamp the transaction would commit at when it wrote this.
    pub write_ts: Timestamp,
    /// The transaction's start timestamp: a transaction without a record is treated as
    /// abandoned once this is older than the expiration.
    pub min_ts: Timestamp,
    /// Conflict priority: a pusher with a higher priority aborts a lower-priority pushee.
    pub priority: u32,
}

/// A write sequence number within a transaction.
pub type Seq = u32;

/// Inclusive ranges of sequence numbers undone by savepoint rollbacks.
pub type IgnoredSeqs = [(Seq, Seq)];

/// Whether `seq` falls in one of the ignored ranges.
pub fn is_ignored(seq: Seq, ignored: &IgnoredSeqs) -> bool {
    ignored.iter().any(|&(lo, hi)| lo <= seq && seq <= hi)
}

/// A provisional write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The writing transaction.
    pub txn: TxnMeta,
    /// The values written, oldest first: (sequence number, value or None for a delete).
    pub history: Vec<(Seq, Option<Vec<u8>>)>,
}

impl Intent {
    /// The newest written value that is not ignored: `Some(Some(v))` a value, `Some(None)` a
    /// delete, `None` when every write was rolled back (the key reads as before the txn).
    pub fn visible(&self, ignored: &IgnoredSeqs) -> Option<Option<&[u8]>> {
        self.history
            .iter()
            .rev()
            .find(|(seq, _)| !is_ignored(*seq, ignored))
            .map(|(_, v)| v.as_deref())
    }

    /// Serialises the intent for the engine.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Parses an intent read from the engine.
    pub fn decode(raw: &[u8]) -> Result<Intent> {
        postcard::from_bytes(raw).map_err(|e| Error::Decode(format!("bad intent: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_skips_ignored_sequence_numbers() {
        let i = Intent {
            txn: TxnMeta {
                id: TxnId(7),
                anchor: b"a".to_vec(),
                write_ts: Timestamp::from_parts(1, 0),
                min_ts: Timestamp::from_parts(1, 0),
                priority: 1,
            },
            history: vec![
                (1, Some(b"x".to_vec())),
                (3, None),
                (5, Some(b"z".to_vec())),
            ],
        };
        assert_eq!(i.visible(&[]), Some(Some(&b"z"[..])));
        assert_eq!(i.visible(&[(4, 5)]), Some(None));
        assert_eq!(i.visible(&[(2, 5)]), Some(Some(&b"x"[..])));
        assert_eq!(i.visible(&[(1, 9)]), None);
        assert_eq!(Intent::decode(&i.encode()).unwrap(), i);
        assert_eq!(
            format!("{:?}", TxnId(0x0123_4567_89ab_cdef_0011_2233_4455_6677)),
            "01234567-89ab-cdef-0011-223344556677"
        );
    }
}

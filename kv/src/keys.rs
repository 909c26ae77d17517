//! The layout of the keyspace.
//!
//! ```text
//! 0x01 ...                      local (per-store, unreplicated) keys: never MVCC user keys
//! 0x02 ...                      /Meta: range addressing (ranges-and-Raft issue)
//! 0x03 <kind> ...               /System: descriptors, id counters, settings
//! 0x10 <table_id> <index_id> .. /Table: table and index data, key columns order-encoded
//! ```
//!
//! Table ids and index ids are order-encoded unsigned integers, so a table's data and each of its
//! indexes are contiguous spans.

use crate::encoding;

/// Prefix of per-store local keys.
pub const LOCAL_PREFIX: u8 = 0x01;
/// Prefix of range addressing records.
pub const META_PREFIX: u8 = 0x02;
/// Prefix of system records (catalog descriptors and counters).
pub const SYSTEM_PREFIX: u8 = 0x03;
/// Prefix of table data.
pub const TABLE_PREFIX: u8 = 0x10;

/// The first key after every key that starts with `prefix` (None when no such key exists,
/// i.e. the prefix is all 0xff).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The key prefix of a system record kind, e.g. descriptors or sequences.
pub fn system_key(kind: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = vec![SYSTEM_PREFIX, kind];
    k.extend_from_slice(rest);
    k
}

/// The prefix of one index of one table: `/Table/<table_id>/<index_id>/`.
pub fn index_prefix(table_id: u64, index_id: u64) -> Vec<u8> {
    let mut k = vec![TABLE_PREFIX];
    encoding::encode_u64_asc(&mut k, table_id);
    encoding::encode_u64_asc(&mut k, index_id);
    k
}

/// The prefix of all data of one table (every index).
pub fn table_prefix(table_id: u64) -> Vec<u8> {
    let mut k = vec![TABLE_PREFIX];
    encoding::encode_u64_asc(&mut k, table_id);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_handles_carries() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }

    #[test]
    fn table_spans_are_ordered_and_disjoint() {
        let t1 = table_prefix(1);
        let t2 = table_prefix(2);
        assert!(t1 < t2);
        assert!(prefix_end(&t1).unwrap() <= t2);
        assert!(index_prefix(1, 1) < index_prefix(1, 2));
    }
}

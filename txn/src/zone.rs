//! Span configs: the placement the SQL layer asks of the cluster for a span of keys.
//!
//! Multi-region SQL (database regions, survival goals, table localities) is declarative; the
//! cluster only understands "this span wants N voters, M replicas in total, so many of them in
//! these regions, and its lease in that region". The SQL layer translates the first into the
//! second and writes one [`SpanConfig`] record per span, in the same transaction as the DDL
//! that caused it, under `/System/0x04/<span start>`. The cluster's allocator reads them all
//! (there are few: one per table, or per table and region for REGIONAL BY ROW tables), splits
//! ranges at their boundaries and enforces them. Spans without a record use the cluster's
//! default (its replication factor, voters anywhere).
//!
//! Records may nest (a table's record and, inside it, one per partition): the innermost record
//! covering a key applies ([`SpanConfigs::lookup`]). Deleting a table deletes its records.
//!
//! The translation follows CockroachDB's multi-region zone configs:
//! - ZONE survival: `num_voters = 3`, all in the home region; one replica (a non-voter) in
//!   every other database region; lease in the home region.
//! - REGION survival: `num_voters = 5`, at least 2 in the home region, replicas in every
//!   database region (the rest spread for diversity); lease in the home region.
//! - GLOBAL tables additionally set `global_reads`: their writes are made at a future timestamp
//!   so every replica can serve present-time reads.

use crate::{Error, Result};
use kv::keys::{prefix_end, system_key};
use serde::{Deserialize, Serialize};

/// The `/System` kind byte of span config records.
pub const KIND_SPAN_CONFIG: u8 = 0x04;

/// Format byte in front of every encoded record (bumped on incompatible changes).
const FORMAT: u8 = 1;

/// A minimum number of replicas in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionCount {
    /// The region, as in a node's `--locality region=...`.
    pub region: String,
    /// At least this many replicas there.
    pub count: u32,
}

/// The placement wanted for the keys `[start, end)` (the start is the record's key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanConfig {
    /// First key after the span.
    pub end: Vec<u8>,
    /// Voting replicas.
    pub num_voters: u32,
    /// All replicas, voters and non-voters (never below `num_voters`).
    pub num_replicas: u32,
    /// Minimum replicas (of either kind) per region.
    pub constraints: Vec<RegionCount>,
    /// Minimum voters per region.
    pub voter_constraints: Vec<RegionCount>,
    /// Regions where the lease should be, most preferred first.
    pub lease_preferences: Vec<String>,
    /// Writes happen at a future timestamp so every replica serves present-time reads
    /// (GLOBAL tables).
    pub global_reads: bool,
}

impl SpanConfig {
    /// Non-voting replicas wanted.
    pub fn num_non_voters(&self) -> u32 {
        self.num_replicas.saturating_sub(self.num_voters)
    }
}

/// The key of the record for a span starting at `start`.
pub fn key(start: &[u8]) -> Vec<u8> {
    system_key(KIND_SPAN_CONFIG, start)
}

/// The span holding every record: `[start, end)`.
pub fn records_span() -> (Vec<u8>, Vec<u8>) {
    let start = system_key(KIND_SPAN_CONFIG, &[]);
    let end = prefix_end(&start).unwrap_or_default();
    (start, end)
}

/// The span start encoded in a record key (None: not a record key).
pub fn start_of(record_key: &[u8]) -> Option<&[u8]> {
    let prefix = system_key(KIND_SPAN_CONFIG, &[]);
    record_key.strip_prefix(prefix.as_slice())
}

/// Encodes a record value.
pub fn encode(c: &SpanConfig) -> Vec<u8> {
    let mut out = vec![FORMAT];
    // Serialising plain structs of strings and integers into a Vec cannot fail.
    out.extend(postcard::to_stdvec(c).unwrap_or_default());
    out
}

/// Decodes a record value.
pub fn decode(bytes: &[u8]) -> Result<SpanConfig> {
    match bytes.split_first() {
        Some((&FORMAT, body)) => postcard::from_bytes(body)
            .map_err(|e| Error::Internal(format!("malformed span config: {e}"))),
        _ => Err(Error::Internal("span config of an unknown format".into())),
    }
}

/// Every span config record, in memory, for lookups by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanConfigs {
    /// (start, config), sorted by start.
    entries: Vec<(Vec<u8>, SpanConfig)>,
}

impl SpanConfigs {
    /// Builds the set from decoded records (any order).
    pub fn new(mut entries: Vec<(Vec<u8>, SpanConfig)>) -> Self {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        SpanConfigs { entries }
    }

    /// Builds the set from raw `(record key, value)` pairs, skipping malformed records
    /// (they are logged by the caller's choice; a bad record must not stop placement).
    pub fn from_records(rows: &[(Vec<u8>, Vec<u8>)]) -> Self {
        let entries = rows
            .iter()
            .filter_map(|(k, v)| Some((start_of(k)?.to_vec(), decode(v).ok()?)))
            .collect();
        Self::new(entries)
    }

    /// The configs, in the order of their starts.
    pub fn configs(&self) -> impl Iterator<Item = &SpanConfig> {
        self.entries.iter().map(|(_, c)| c)
    }

    /// The records, sorted by start.
    pub fn into_entries(self) -> Vec<(Vec<u8>, SpanConfig)> {
        self.entries
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The innermost config whose span contains `key`.
    pub fn lookup(&self, key: &[u8]) -> Option<&SpanConfig> {
        let upto = self.entries.partition_point(|(s, _)| s.as_slice() <= key);
        // Among the records starting at or before `key`, the innermost containing one is the
        // one with the greatest start whose end is past `key`.
        self.entries[..upto]
            .iter()
            .rev()
            .find(|(_, c)| key < c.end.as_slice())
            .map(|(_, c)| c)
    }

    /// The first config boundary strictly inside `(start, end)`: where a range spanning them
    /// must split so that each range has one config.
    pub fn split_point(&self, start: &[u8], end: Option<&[u8]>) -> Option<Vec<u8>> {
        let inside = |k: &[u8]| k > start && end.is_none_or(|e| k < e);
        self.entries
            .iter()
            .flat_map(|(s, c)| [s.as_slice(), c.end.as_slice()])
            .filter(|k| inside(k))
            .min()
            .map(<[u8]>::to_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(end: &[u8], voters: u32) -> SpanConfig {
        SpanConfig {
            end: end.to_vec(),
            num_voters: voters,
            num_replicas: voters + 2,
            constraints: vec![RegionCount {
                region: "us-east1".into(),
                count: 1,
            }],
            voter_constraints: vec![],
            lease_preferences: vec!["us-east1".into()],
            global_reads: false,
        }
    }

    #[test]
    fn records_round_trip() {
        let c = cfg(b"z", 3);
        assert_eq!(decode(&encode(&c)).unwrap(), c);
        assert!(decode(&[9, 1, 2]).is_err());
        assert!(decode(&[]).is_err());
        let k = key(b"abc");
        assert_eq!(start_of(&k), Some(&b"abc"[..]));
        let (s, e) = records_span();
        assert!(k >= s && k < e);
    }

    #[test]
    fn lookup_picks_the_innermost_containing_record() {
        let set = SpanConfigs::new(vec![
            (b"t".to_vec(), cfg(b"u", 3)),
            (b"t1".to_vec(), cfg(b"t2", 5)),
        ]);
        assert_eq!(set.lookup(b"a"), None);
        assert_eq!(set.lookup(b"t").unwrap().num_voters, 3);
        assert_eq!(set.lookup(b"t1").unwrap().num_voters, 5);
        assert_eq!(set.lookup(b"t15").unwrap().num_voters, 5);
        // After the nested record, the outer one applies again.
        assert_eq!(set.lookup(b"t2").unwrap().num_voters, 3);
        assert_eq!(set.lookup(b"u"), None);
    }

    #[test]
    fn split_points_are_boundaries_inside_the_range() {
        let set = SpanConfigs::new(vec![
            (b"t".to_vec(), cfg(b"u", 3)),
            (b"t1".to_vec(), cfg(b"t2", 5)),
        ]);
        assert_eq!(set.split_point(b"", None), Some(b"t".to_vec()));
        assert_eq!(set.split_point(b"t", None), Some(b"t1".to_vec()));
        assert_eq!(set.split_point(b"t1", Some(b"t2")), None);
        assert_eq!(set.split_point(b"t2", None), Some(b"u".to_vec()));
        assert_eq!(set.split_point(b"u", None), None);
    }
}

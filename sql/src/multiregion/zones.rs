//! Span configs: translating a database's regions and survival goal and a table's locality
//! into the per-span placement records the cluster's allocator enforces (see `txn::zone`).
//!
//! One record covers a table's whole keyspace `/Table/<id>` with the table's home region
//! (REGIONAL BY TABLE: its region or the primary region; GLOBAL: the primary region, with
//! `global_reads`). A REGIONAL BY ROW table additionally gets one record per index and region,
//! covering the keys of that index whose first column is that region, homed there; records
//! nest and the innermost applies. Tables of databases without regions get no record.
//!
//! The translation (CockroachDB's):
//! - ZONE survival: 3 voters, all in the home region (`voter_constraints = [home: 3]`), and
//!   one replica in every other database region (`num_replicas = 3 + regions - 1`).
//! - REGION survival: 5 voters, 2 in the home region; `num_replicas = max(5, regions)`.
//! - Every database region gets at least one replica (`constraints`), and the lease prefers
//!   the home region.
//!
//! Every placement-changing statement calls [`write_table`] (or [`rewrite_database`]) in its
//! own transaction, which deletes the table's old records and writes the new ones, so the
//! records always match the committed schema.

use crate::catalog::{Catalog, DatabaseDesc, RegionConfig, SurvivalGoal, TableDesc, TableLocality};
use crate::context::TxnRef;
use crate::storage;
use crate::types::{DataType, Datum};
use crate::Result;
use kv::encoding::Direction;
use txn::zone::{self, RegionCount, SpanConfig};

/// Voters under ZONE survival.
const ZONE_VOTERS: u32 = 3;
/// Voters under REGION survival.
const REGION_VOTERS: u32 = 5;
/// Voters kept in the home region under REGION survival.
const REGION_HOME_VOTERS: u32 = 2;

/// The config of a span homed in `home`.
pub fn config_for(rc: &RegionConfig, home: &str, end: Vec<u8>, global_reads: bool) -> SpanConfig {
    let n = rc.regions.len() as u32;
    let (num_voters, num_replicas, home_voters) = match rc.survival {
        SurvivalGoal::Zone => (ZONE_VOTERS, ZONE_VOTERS + n.saturating_sub(1), ZONE_VOTERS),
        SurvivalGoal::Region => (REGION_VOTERS, REGION_VOTERS.max(n), REGION_HOME_VOTERS),
    };
    SpanConfig {
        end,
        num_voters,
        num_replicas,
        constraints: rc
            .regions
            .iter()
            .map(|r| RegionCount {
                region: r.clone(),
                count: 1,
            })
            .collect(),
        voter_constraints: vec![RegionCount {
            region: home.to_string(),
            count: home_voters,
        }],
        lease_preferences: vec![home.to_string()],
        global_reads,
    }
}

/// The home region of a table (REGIONAL BY ROW tables: the primary region, for the keys
/// outside the per-region partitions).
pub fn home_region<'a>(rc: &'a RegionConfig, t: &'a TableDesc) -> &'a str {
    match &t.locality {
        Some(TableLocality::RegionalByTable(Some(r))) => r,
        _ => &rc.primary,
    }
}

/// The key prefix of `region`'s partition of index `index_id` of an RBR table.
pub fn partition_prefix(t: &TableDesc, index_id: u64, region: &str) -> Result<Vec<u8>> {
    let mut k = kv::keys::index_prefix(t.id, index_id);
    crate::storage::keycodec::encode_key_datum(
        &mut k,
        &Datum::Text(region.to_string()),
        &DataType::Text,
        Direction::Asc,
    )?;
    Ok(k)
}

/// Every record `t` should have: `(span start, config)`, the table-wide one first.
pub fn table_configs(db: &DatabaseDesc, t: &TableDesc) -> Result<Vec<(Vec<u8>, SpanConfig)>> {
    let Some(rc) = &db.regions else {
        return Ok(Vec::new());
    };
    let start = kv::keys::table_prefix(t.id);
    let end = kv::keys::prefix_end(&start).unwrap_or_default();
    let global = matches!(t.locality, Some(TableLocality::Global));
    let mut out = vec![(start, config_for(rc, home_region(rc, t), end, global))];
    if t.row_partitioning().is_some() {
        for idx in t.all_indexes() {
            for region in &rc.regions {
                let p = partition_prefix(t, idx.id, region)?;
                let end = kv::keys::prefix_end(&p).unwrap_or_default();
                out.push((p, config_for(rc, region, end, false)));
            }
        }
    }
    Ok(out)
}

/// Deletes every record inside table `table_id`'s keyspace.
pub fn delete_table(txn: &TxnRef, table_id: u64) -> Result<()> {
    let start = kv::keys::table_prefix(table_id);
    let end = kv::keys::prefix_end(&start).unwrap_or_default();
    storage::delete_span(txn, &zone::key(&start), Some(&zone::key(&end)))?;
    Ok(())
}

/// Replaces `t`'s records by the ones its database's regions and its locality call for.
pub fn write_table(txn: &TxnRef, db: &DatabaseDesc, t: &TableDesc) -> Result<()> {
    delete_table(txn, t.id)?;
    let configs = table_configs(db, t)?;
    let mut g = txn.lock();
    for (start, cfg) in configs {
        g.put(zone::key(&start), zone::encode(&cfg))?;
    }
    Ok(())
}

/// Rewrites the records of every table of `db` (after its regions or survival goal changed).
pub fn rewrite_database(txn: &TxnRef, db: &DatabaseDesc) -> Result<()> {
    for t in Catalog::list_tables_in(txn, db.id)? {
        write_table(txn, db, &t)?;
    }
    Ok(())
}

/// Every record in `[start, end)` of the record space, decoded (malformed ones skipped).
pub fn read_records(txn: &TxnRef, start: &[u8], end: &[u8]) -> Result<Vec<(Vec<u8>, SpanConfig)>> {
    let (from_key, to_key) = (zone::key(start), zone::key(end));
    let mut out = Vec::new();
    let mut from = from_key;
    loop {
        let page = txn.lock().scan(&from, Some(&to_key), 256)?;
        for (k, v) in &page.rows {
            if let (Some(s), Ok(c)) = (zone::start_of(k), zone::decode(v)) {
                out.push((s.to_vec(), c));
            }
        }
        match page.resume {
            Some(r) => from = r,
            None => return Ok(out),
        }
    }
}

/// CockroachDB's text of a config's constraints: `{+region=a: 1, +region=b: 1}`.
pub fn constraints_text(c: &[RegionCount]) -> String {
    let parts: Vec<String> = c
        .iter()
        .map(|rc| format!("+region={}: {}", rc.region, rc.count))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// CockroachDB's text of voter constraints: `[+region=a]` when every voter is there, else
/// `{+region=a: 2}`.
pub fn voter_constraints_text(c: &SpanConfig) -> String {
    match c.voter_constraints.as_slice() {
        [one] if one.count == c.num_voters => format!("[+region={}]", one.region),
        other => constraints_text(other),
    }
}

/// CockroachDB's text of lease preferences: `[[+region=a]]`.
pub fn lease_preferences_text(c: &SpanConfig) -> String {
    let parts: Vec<String> = c
        .lease_preferences
        .iter()
        .map(|r| format!("[+region={r}]"))
        .collect();
    format!("[{}]", parts.join(", "))
}

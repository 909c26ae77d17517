//! The allocator's copy of the span config records (txn/src/zone.rs) that the SQL layer
//! writes with its multi-region DDL.
//!
//! The records are ordinary MVCC data in the /System span, read with a read-only transaction
//! through the distributed sender, at most every [`REFRESH`]: placement converges over seconds
//! anyway, and there are few records (one per table, or per table and region). In a cluster
//! with nodes in several regions the catalog span gets a global placement of its own
//! ([`system_config`]).

use crate::dist::DistSender;
use kv::keys::SYSTEM_PREFIX;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};
use txn::coord::KvTxnSource;
use txn::zone::{self, RegionCount, SpanConfig, SpanConfigs};
use txn::{TxnOptions, TxnSource};

/// How old the copy may get before the allocator re-reads it.
pub const REFRESH: Duration = Duration::from_secs(2);

/// How far in the past the records are read.
const AS_OF_AGO_MS: u64 = 1_000;

/// Records read per page.
const PAGE: usize = 1000;

/// A periodically refreshed copy of every span config record.
#[derive(Default)]
pub struct SpanConfigCache {
    copy: Mutex<Option<(Instant, Arc<SpanConfigs>)>>,
    /// Held by the one thread re-reading the records.
    refreshing: Mutex<()>,
}

impl SpanConfigCache {
    /// The current copy without refreshing it (empty until the first [`Self::get`]).
    pub fn peek(&self) -> Arc<SpanConfigs> {
        self.copy
            .lock()
            .as_ref()
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }

    /// The records, re-read when the copy is older than [`REFRESH`]. When they cannot be read
    /// the previous copy is kept (an empty one at first): placement waits, it does not guess.
    pub fn get(&self, dist: &Arc<DistSender>) -> Arc<SpanConfigs> {
        // The lock is not held while reading: the read itself routes through the sender,
        // which peeks at this cache.
        let _one_reader = self.refreshing.lock();
        let previous = {
            let copy = self.copy.lock();
            match copy.as_ref() {
                Some((at, c)) if at.elapsed() < REFRESH => return c.clone(),
                other => other.map(|(_, c)| c.clone()),
            }
        };
        let fresh = match read_all(dist) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read span configs");
                previous.unwrap_or_default()
            }
        };
        *self.copy.lock() = Some((Instant::now(), fresh.clone()));
        fresh
    }
}

fn read_all(dist: &Arc<DistSender>) -> txn::Result<SpanConfigs> {
    let source = KvTxnSource::new(dist.clone());
    // A second in the past: a closed timestamp everywhere the records are global (a
    // multi-region catalog), so no uncertainty restart or commit-wait can slow the read, and
    // the records are anyway allowed to be a few seconds old.
    let now = dist.store().clock().now();
    let as_of = kv::Timestamp::from_parts(now.physical_ms().saturating_sub(AS_OF_AGO_MS), 0);
    let mut t = source.begin(TxnOptions {
        read_only: true,
        as_of: Some(as_of),
    })?;
    let (start, end) = zone::records_span();
    let mut rows = Vec::new();
    let mut from = start;
    loop {
        let page = t.scan(&from, Some(&end), PAGE)?;
        rows.extend(page.rows);
        match page.resume {
            Some(k) => from = k,
            None => break,
        }
    }
    let _ = t.commit();
    let mut entries = SpanConfigs::from_records(&rows).into_entries();
    let regions = dist.cluster_regions();
    if regions.len() > 1 {
        entries.push(system_config(
            &regions,
            dist.store().config().replication_factor,
        ));
    }
    Ok(SpanConfigs::new(entries))
}

/// The placement of the catalog (`/System`) in a cluster with several regions: like a GLOBAL
/// table, a replica in every region and reads served locally at present time, so that a
/// transaction's descriptor and schema-generation reads cost no cross-region round trip
/// (CockroachDB likewise makes its system database global in multi-region clusters). DDL pays
/// the commit-wait of a global write instead.
fn system_config(regions: &[String], replication_factor: usize) -> (Vec<u8>, SpanConfig) {
    let rf = replication_factor.max(1) as u32;
    let constraints = regions
        .iter()
        .map(|r| RegionCount {
            region: r.clone(),
            count: 1,
        })
        .collect();
    (
        vec![SYSTEM_PREFIX],
        SpanConfig {
            end: vec![SYSTEM_PREFIX + 1],
            num_voters: rf,
            num_replicas: rf.max(regions.len() as u32),
            constraints,
            voter_constraints: Vec::new(),
            lease_preferences: Vec::new(),
            global_reads: true,
        },
    )
}

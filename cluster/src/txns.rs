//! The SQL layer's view of a cluster node: transactions through the distributed sender, plus
//! the range and node listings and splits SQL asks for.

use crate::desc::{RangeDescriptor, ReplicaKind};
use crate::dist::DistSender;
use crate::rpc::{NodeRequest, NodeResponse};
use kv::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant};
use txn::coord::KvTxnSource;
use txn::{NodeInfo, RangeInfo, Result, Transaction, TxnOptions, TxnSource};

/// Transactions of a cluster node.
pub struct ClusterTxns {
    source: KvTxnSource,
    dist: Arc<DistSender>,
    locality: Vec<(String, String)>,
}

impl ClusterTxns {
    /// Transactions over `dist`, on a node at `locality`.
    pub fn new(dist: Arc<DistSender>, locality: Vec<(String, String)>) -> ClusterTxns {
        ClusterTxns {
            source: KvTxnSource::new(dist.clone()),
            dist,
            locality,
        }
    }

    /// The distributed sender.
    pub fn dist(&self) -> &Arc<DistSender> {
        &self.dist
    }

    /// The node holding `d`'s lease, as its replicas report it: None when it lapsed, or while
    /// the range is frozen for a merge (its lease is held by nobody, `FROZEN_HOLDER`).
    fn leaseholder(&self, d: &RangeDescriptor) -> Option<u64> {
        let now = self.dist.store().clock().now();
        d.replicas.iter().find_map(|r| {
            match self
                .dist
                .call(r.node_id, NodeRequest::ReplicaInfo { range: d.range_id })
            {
                Ok(NodeResponse::ReplicaInfo(Ok(i)))
                    if i.lease_holder.0 != 0
                        && i.lease_holder != crate::desc::FROZEN_HOLDER
                        && i.lease_expiration > now =>
                {
                    Some(i.lease_holder.0)
                }
                _ => None,
            }
        })
    }
}

impl TxnSource for ClusterTxns {
    fn begin(&self, opts: TxnOptions) -> Result<Box<dyn Transaction>> {
        self.source.begin(opts)
    }

    fn now(&self) -> Timestamp {
        self.source.now()
    }

    fn ranges(&self, start: &[u8], end: Option<&[u8]>) -> Result<Vec<RangeInfo>> {
        let all = self.dist.all_ranges()?;
        Ok(all
            .into_iter()
            .filter(|d| {
                let after_start = d.end.as_deref().is_none_or(|e| e > start);
                let before_end = end.is_none_or(|e| d.start.as_slice() < e);
                after_start && before_end
            })
            .map(|d| RangeInfo {
                range_id: d.range_id.0,
                start: d.start.clone(),
                end: d.end.clone(),
                replicas: of_kind(&d, ReplicaKind::Voter),
                non_voters: of_kind(&d, ReplicaKind::NonVoter),
                leaseholder: self.leaseholder(&d),
            })
            .collect())
    }

    fn split_at(&self, key: &[u8]) -> Result<()> {
        self.dist.split(key)
    }

    fn unsplit_at(&self, key: &[u8]) -> Result<bool> {
        self.unsplit(key)
    }

    fn locality(&self) -> Vec<(String, String)> {
        self.locality.clone()
    }

    fn nodes(&self) -> Result<Vec<NodeInfo>> {
        let now = self.dist.store().clock().now();
        let records = self.dist.node_records()?;
        let ranges = self.dist.all_ranges().unwrap_or_default();
        Ok(records
            .into_iter()
            .map(|n| NodeInfo {
                node_id: n.node_id.0,
                address: n.addr,
                sql_address: n.sql_addr,
                locality: n
                    .locality
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
                is_live: n.live_until > now,
                decommissioning: n.decommissioning,
                ranges: Some(
                    ranges
                        .iter()
                        .filter(|d| d.replica_on(n.node_id).is_some())
                        .count() as u64,
                ),
                leases: None,
            })
            .collect())
    }
}

/// How long `UNSPLIT AT` looks for a replica that can remove the split enforcement.
const UNSPLIT_DEADLINE: Duration = Duration::from_secs(10);

impl ClusterTxns {
    /// Removes the split enforcement at `key` at a replica of the range starting there (the
    /// leaseholder, or one that takes a lapsed lease): each replica is asked in turn, the
    /// range looked up again between rounds. Returns whether the split was enforced.
    fn unsplit(&self, key: &[u8]) -> Result<bool> {
        let deadline = Instant::now() + UNSPLIT_DEADLINE;
        loop {
            let d = self.dist.lookup(key)?;
            if d.start != key {
                return Err(txn::Error::RangeKeyMismatch(format!(
                    "{} does not start at the key",
                    d.range_id
                )));
            }
            let mut last = txn::Error::Unavailable(format!("{} has no replicas", d.range_id));
            for r in &d.replicas {
                let req = NodeRequest::Unsplit { key: key.to_vec() };
                match self.dist.call(r.node_id, req) {
                    Ok(NodeResponse::Unsplit(Ok(was))) => return Ok(was),
                    Ok(NodeResponse::Unsplit(Err(e))) => last = e.into_txn(),
                    Ok(other) => {
                        last = txn::Error::Internal(format!("unexpected answer: {other:?}"))
                    }
                    Err(e) => last = txn::Error::Unavailable(e.to_string()),
                }
            }
            if Instant::now() >= deadline {
                return Err(last);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The nodes holding replicas of `kind`.
fn of_kind(d: &RangeDescriptor, kind: ReplicaKind) -> Vec<u64> {
    let reps = d.replicas.iter().filter(|r| r.kind == kind);
    reps.map(|r| r.node_id.0).collect()
}

//! Serving requests at a replica: lease checks, taking and extending leases, and the
//! [`Replicate`] hook that turns evaluated writes into Raft proposals.

use super::{Replica, Store};
use crate::desc::{Command, Lease, RangeDescriptor};
use kv::engine::WriteBatch;
use kv::{NodeId, RangeId, ReplicaId, Timestamp};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use txn::api::{Header, Request, Response};
use txn::range::Replicate;

/// How long a request waits for a lease (an election, a lease proposal) before giving up.
const LEASE_WAIT: Duration = Duration::from_secs(5);
/// Pause between lease attempts while no leader is known.
const LEASE_RETRY: Duration = Duration::from_millis(20);

/// Why a request could not be served here, with what the sender needs to route better.
pub enum ServeError {
    /// A transaction-layer error (including NotLeaseholder with a hint).
    Txn(txn::Error),
    /// The key is not in this replica's span; `desc` is the local replica that holds it (if
    /// any), so the sender's cache can be corrected.
    Mismatch(Option<RangeDescriptor>),
}

impl From<txn::Error> for ServeError {
    fn from(e: txn::Error) -> Self {
        ServeError::Txn(e)
    }
}

/// Writes of a leaseholder's range, proposed under the lease and descriptor generation the
/// range object was created for.
struct ReplicaWriter {
    store: Weak<Store>,
    range: RangeId,
    lease_seq: u64,
    generation: u64,
}

impl Replicate for ReplicaWriter {
    fn write(&self, batch: WriteBatch, _sync: bool) -> txn::Result<()> {
        // Raft's log write is always synced (unless the store is configured otherwise); the
        // applied batch need not be.
        let store = self
            .store
            .upgrade()
            .ok_or_else(|| txn::Error::Unavailable("node stopping".into()))?;
        if batch.has_range_deletions() {
            // A Write command carries point writes only: replicating `ops` alone would drop
            // the range deletions.
            return Err(txn::Error::Internal(
                "a range's writes cannot include range deletions (not replicated)".into(),
            ));
        }
        let cmd = Command::Write {
            id: store.next_id(),
            lease_seq: self.lease_seq,
            generation: self.generation,
            ops: batch.ops,
        };
        store.propose_and_wait(self.range, &cmd)
    }
}

impl Store {
    /// Applies a descriptor and lease from an applied command or snapshot; a change of span or
    /// holder retires the range's transaction object (requests inside it fail and retry).
    pub(super) fn install_state(&self, rep: &Replica, desc: Option<RangeDescriptor>, lease: Lease) {
        let mut st = rep.state.lock();
        let changed =
            st.desc != desc || st.lease.seq != lease.seq || st.lease.holder != lease.holder;
        st.desc = desc;
        st.lease = lease;
        if changed {
            if let Some(r) = st.range.take() {
                r.retire();
            }
        }
    }

    /// Serves one request at the replica of `range`.
    pub fn serve(
        self: &Arc<Self>,
        range: RangeId,
        h: &Header,
        req: &Request,
        key: &[u8],
        gateway: NodeId,
    ) -> Result<Response, ServeError> {
        let Some(rep) = self.replica(range) else {
            return Err(ServeError::Mismatch(
                self.replica_for_key(key).and_then(|r| r.desc()),
            ));
        };
        match rep.desc() {
            Some(d) if d.contains(key) => {}
            _ => {
                return Err(ServeError::Mismatch(
                    self.replica_for_key(key).and_then(|r| r.desc()),
                ))
            }
        }
        self.observe(h)?;
        if let Some(resp) = self.try_follower_read(&rep, h, req)? {
            return Ok(resp);
        }
        // Read before the lease is checked: any value this node wrote before then is at or
        // below it.
        let arrived = self.clock.now();
        let r = self.ensure_lease(&rep)?;
        rep.load.record(key, gateway.0);
        let router = self
            .router
            .get()
            .and_then(|r| r.upgrade())
            .ok_or_else(|| txn::Error::Unavailable("node starting".into()))?;
        let node = self.node_id.0;
        let observed = h.observed.iter().find(|(n, _)| *n == node);
        let mut resp = match observed.map(|(_, at)| r.observed_limit(h, *at)) {
            Some(limit) if limit < h.uncertainty_limit => {
                let h = Header {
                    uncertainty_limit: limit,
                    ..h.clone()
                };
                r.execute(router.as_ref(), &h, req)?
            }
            _ => r.execute(router.as_ref(), h, req)?,
        };
        if observed.is_none() {
            resp.observed = Some((node, arrived));
        }
        Ok(resp)
    }

    /// Serves a plain read from this replica's applied state when its closed timestamp
    /// covers the read's uncertainty window and this node does not hold a valid lease (the
    /// leaseholder serves through its transaction object). None: serve normally.
    fn try_follower_read(
        &self,
        rep: &Replica,
        h: &Header,
        req: &Request,
    ) -> Result<Option<Response>, txn::Error> {
        if !matches!(
            req,
            Request::Get { lock: None, .. }
                | Request::GetMany { .. }
                | Request::Scan { lock: None, .. }
        ) {
            return Ok(None);
        }
        let (closed, desc, holder) = {
            let mut st = rep.state.lock();
            let applied = st.applied_index;
            (st.closed.at(applied), st.desc.clone(), st.lease.holder)
        };
        let Some(desc) = desc else { return Ok(None) };
        if holder == self.node_id || closed < h.uncertainty_limit.max(h.read_ts) {
            return Ok(None);
        }
        let span = txn::range::latch::Span {
            start: desc.start.clone(),
            end: desc.end.clone(),
        };
        let resp = txn::range::follower_read(&self.mvcc, &span, h, req)?;
        if resp.is_some() {
            tracing::trace!(range = %rep.range_id, "follower read");
            self.follower_reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(resp)
    }

    /// Moves the clock past the request's timestamps, so that a lease or timestamp-cache
    /// low-water mark taken later is above every read served.
    fn observe(&self, h: &Header) -> Result<(), txn::Error> {
        let mut ts = h.read_ts;
        if let Some(t) = &h.txn {
            ts = ts.max(t.write_ts);
        }
        if ts > Timestamp::ZERO {
            // A timestamp further ahead than the maximum offset is a future-time write of a
            // global range (or a read pushed there), not a clock: it must not move ours.
            // Leases and low-water marks of global ranges account for such timestamps.
            let ahead = ts.physical_ms() > self.clock.peek().physical_ms() + self.stasis();
            if !ahead {
                match self.clock.update(ts) {
                    // The clock measures the offset from its wall time, which may be behind
                    // its last reading (commits in the future moved it): such a timestamp is
                    // more than the offset ahead of wall time, so it is no clock either, and
                    // is skipped like the ones above (it failed GLOBAL statements with XX000).
                    Ok(_) | Err(kv::Error::ClockOffset { .. }) => {}
                    Err(e) => return Err(txn::Error::Internal(format!("remote clock: {e}"))),
                }
            }
        }
        Ok(())
    }

    fn stasis(&self) -> u64 {
        self.clock.max_offset_ms()
    }

    fn lease_ms(&self) -> u64 {
        self.cfg.lease_duration.as_millis() as u64
    }

    /// Returns the range's transaction object if this node holds a valid lease, taking or
    /// extending the lease first when this replica leads the Raft group.
    pub fn ensure_lease(
        self: &Arc<Self>,
        rep: &Arc<Replica>,
    ) -> Result<Arc<txn::range::Range>, txn::Error> {
        let deadline = Instant::now() + LEASE_WAIT;
        loop {
            let now = self.clock.now();
            let (lease, leader, desc) = {
                let st = rep.state.lock();
                (st.lease.clone(), st.leader, st.desc.clone())
            };
            let Some(desc) = desc else {
                return Err(txn::Error::NotLeaseholder { leaseholder: None });
            };
            let exp_ms = lease.expiration.physical_ms();
            let mine = lease.holder == self.node_id;
            let valid_for_me = mine && now.physical_ms() + self.stasis() < exp_ms;
            if valid_for_me {
                if now.physical_ms() + self.lease_ms() / 2 > exp_ms {
                    self.extend_lease_async(rep, &lease, now);
                }
                match self.txn_range(rep, &desc, &lease) {
                    Some(r) => return Ok(r),
                    // The descriptor or lease changed since we read them: look again.
                    None => continue,
                }
            }
            if !mine && lease.holder.0 != 0 && now.physical_ms() <= exp_ms {
                return Err(txn::Error::NotLeaseholder {
                    leaseholder: Some(lease.holder),
                });
            }
            if !leader.1 {
                // The group may be quiesced with a dead leader: let it tick (and elect).
                self.send_raft(super::RaftMsg::Wake(rep.range_id));
                let hint = desc.node_of(ReplicaId(leader.0));
                if hint.is_some() || Instant::now() >= deadline {
                    return Err(txn::Error::NotLeaseholder { leaseholder: hint });
                }
                std::thread::sleep(LEASE_RETRY);
                continue;
            }
            let new = Lease {
                seq: lease.seq,
                holder: self.node_id,
                replica: rep.replica_id,
                start: if mine { lease.start } else { now },
                expiration: Timestamp::from_parts(now.physical_ms() + self.lease_ms(), 0),
            };
            let cmd = Command::Lease {
                id: self.next_id(),
                prev_seq: lease.seq,
                lease: new,
            };
            match self.propose_and_wait(rep.range_id, &cmd) {
                Ok(()) => continue,
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(txn::Error::NotLeaseholder { .. }) => {
                    std::thread::sleep(LEASE_RETRY);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn extend_lease_async(self: &Arc<Self>, rep: &Arc<Replica>, lease: &Lease, now: Timestamp) {
        let longer = Lease {
            expiration: Timestamp::from_parts(now.physical_ms() + self.lease_ms(), 0),
            ..lease.clone()
        };
        self.propose_lease_async(rep, lease.seq, longer);
    }

    /// Fire and forget: the result shows in the applied lease.
    fn propose_lease_async(self: &Arc<Self>, rep: &Arc<Replica>, prev_seq: u64, lease: Lease) {
        let cmd = Command::Lease {
            id: self.next_id(),
            prev_seq,
            lease,
        };
        self.send_raft(super::RaftMsg::Propose {
            range: rep.range_id,
            pid: 0,
            data: crate::desc::encode(&cmd),
        });
    }

    /// Keeps a lease alive without requests: extends this node's lease once half of it has
    /// passed, or takes a lapsed lease when this replica leads the Raft group. For ranges
    /// whose other replicas serve reads (the closed-timestamp loop calls it): closed
    /// timestamps are published only under a live lease, so an idle range whose lease
    /// lapsed would stop serving follower and GLOBAL reads. Expiration-based leases make
    /// this one Raft proposal per range every half lease; CockroachDB's epoch-based leases
    /// (valid while the node's liveness record is) avoid that cost.
    /// Returns whether it proposed.
    pub(crate) fn keep_lease(self: &Arc<Self>, rep: &Arc<Replica>, now: Timestamp) -> bool {
        let (lease, leader) = {
            let st = rep.state.lock();
            if st.desc.is_none() {
                return false;
            }
            (st.lease.clone(), st.leader)
        };
        let exp_ms = lease.expiration.physical_ms();
        let mine = lease.holder == self.node_id;
        if mine {
            let due = now.physical_ms() + self.lease_ms() / 2 > exp_ms;
            if due {
                self.extend_lease_async(rep, &lease, now);
            }
            return due;
        }
        let held_elsewhere = lease.holder.0 != 0 && now.physical_ms() <= exp_ms;
        if held_elsewhere || !leader.1 {
            return false;
        }
        let new = Lease {
            seq: lease.seq,
            holder: self.node_id,
            replica: rep.replica_id,
            start: now,
            expiration: Timestamp::from_parts(now.physical_ms() + self.lease_ms(), 0),
        };
        self.propose_lease_async(rep, lease.seq, new);
        true
    }

    /// The leaseholder's transaction object, created on first use under this lease and span.
    fn txn_range(
        self: &Arc<Self>,
        rep: &Replica,
        desc: &RangeDescriptor,
        lease: &Lease,
    ) -> Option<Arc<txn::range::Range>> {
        let mut st = rep.state.lock();
        if let Some(r) = &st.range {
            return Some(r.clone());
        }
        // A split or lease change may have applied since the caller read `desc` and `lease`:
        // an object built from them would serve the old span under the old generation, and
        // nothing would ever retire it.
        let current = st.desc.as_ref() == Some(desc)
            && st.lease.seq == lease.seq
            && st.lease.holder == lease.holder;
        if !current {
            return None;
        }
        let span = txn::range::latch::Span {
            start: desc.start.clone(),
            end: desc.end.clone(),
        };
        let writer = Arc::new(ReplicaWriter {
            store: Arc::downgrade(self),
            range: rep.range_id,
            lease_seq: lease.seq,
            generation: desc.generation,
        });
        // Every read this node served is at or below `now` (requests move the clock), and
        // reads of an earlier holder are below its expiration, which is below our start.
        // `now` must be read here, under the state lock: a request that was still running
        // in the object this one replaces passed its last check before the replacement was
        // installed (under this lock), so its read timestamp is below a clock read now but
        // may be above one read when the caller started looking (a lost update otherwise).
        let now = self.clock.now();
        let mut low_water = now.max(lease.start);
        // The span config decides, not only the flag the closed-timestamp loop sets: that
        // loop visits ranges this node already leases, so a node that just took the lease
        // of a global range (leases of idle ranges lapse and move) has not set it yet, and
        // an object built without it let writes commit in the present, below what the
        // previous holder had closed.
        if !st.global_reads && self.is_global_span(&desc.start) {
            st.global_reads = true;
        }
        if st.global_reads {
            // Above anything an earlier holder of a global range can have closed.
            let lead = crate::closedts::lead_ms(self.clock.max_offset_ms());
            let future = now.physical_ms() + lead + self.clock.max_offset_ms();
            low_water = low_water.max(Timestamp::from_parts(future, 0));
        }
        let r = Arc::new(txn::range::Range::new(
            span,
            self.mvcc.clone(),
            self.clock.clone(),
            self.cfg.range.clone(),
            self.resolver.clone(),
            writer,
            low_water,
        ));
        // Earlier leaseholders may have written values up to a lead plus the offset ahead of
        // the clock (commits of transactions that also wrote a global range): observed
        // timestamps are no use below that (txn::range::Range::observed_limit).
        let lead = crate::closedts::lead_ms(self.clock.max_offset_ms());
        let future = now.physical_ms() + lead + 2 * self.clock.max_offset_ms();
        r.note_written(Timestamp::from_parts(future, 0));
        st.range = Some(r.clone());
        Some(r)
    }

    /// Transfers the lease of a range this node holds to `to` (and Raft leadership with it).
    pub fn transfer_lease(self: &Arc<Self>, range: RangeId, to: NodeId) -> Result<(), txn::Error> {
        let rep = self
            .replica(range)
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })?;
        let (lease, desc) = {
            let mut st = rep.state.lock();
            // Stop serving under the old lease at once.
            if let Some(r) = st.range.take() {
                r.retire();
            }
            (st.lease.clone(), st.desc.clone())
        };
        let desc = desc.ok_or(txn::Error::NotLeaseholder { leaseholder: None })?;
        let target = desc
            .replica_on(to)
            .filter(|r| r.kind == crate::desc::ReplicaKind::Voter)
            .ok_or_else(|| txn::Error::Internal(format!("{to} has no voter of {range}")))?
            .replica_id;
        if lease.holder != self.node_id {
            return Err(txn::Error::NotLeaseholder {
                leaseholder: Some(lease.holder),
            });
        }
        let now = self.clock.now();
        let cmd = Command::Lease {
            id: self.next_id(),
            prev_seq: lease.seq,
            lease: Lease {
                seq: lease.seq,
                holder: to,
                replica: target,
                start: now,
                expiration: Timestamp::from_parts(now.physical_ms() + self.lease_ms(), 0),
            },
        };
        self.propose_and_wait(range, &cmd)?;
        self.send_raft(super::RaftMsg::TransferLeader { range, to: target });
        Ok(())
    }
}

//! The store's Raft thread: the only owner of the store's [`MultiRaft`]. It drains its inbox
//! (incoming Raft messages, proposals, membership changes) in batches, ticks every group on
//! the tick interval, runs one multi-raft iteration (one write batch and one sync for all
//! ranges), performs what applying asked for (new groups after splits, removed replicas), and
//! sends the outgoing messages grouped by destination node.

use super::apply::{Applier, PostAction, Snapshots};
use super::{Replica, Store, INITIAL_LOG_INDEX};
use crate::desc::{self, RangeDescriptor, ReplicaKind};
use crate::transport::RaftEnvelope;
use kv::engine::WriteBatch;
use kv::{RangeId, ReplicaId};
use parking_lot::Mutex;
use protobuf::Message as _;
use raft::prelude::{ConfChangeV2, ConfState, Message, MessageType};
use replication::{LogStore, MultiRaft};
use std::collections::HashMap;
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};

/// Ticks between debug lines reporting how many groups are quiesced.
const STATUS_LOG_TICKS: u64 = 100;

/// Most inbox messages handled before an iteration runs (bounds latency under load).
const MAX_INBOX_BATCH: usize = 4096;

/// How often a replica reset to wait for a snapshot (merge_apply.rs) asks its leader again.
const SNAPSHOT_REQUEST_EVERY: Duration = Duration::from_millis(500);

/// How long a proposal waits for its replica to become the Raft leader (see
/// [`Loop::propose`]) before it fails, retryably, without having been proposed.
const PARK_LIMIT: Duration = Duration::from_secs(1);

/// How often a replica holding back proposals asks its leader for leadership again.
const ASK_LEADERSHIP_EVERY: Duration = Duration::from_millis(200);

/// A proposal held back until its replica leads the range.
struct Parked {
    pid: u64,
    data: Vec<u8>,
    since: Instant,
}

/// Work for the Raft thread.
pub enum RaftMsg {
    /// Messages from peers.
    Raft(Vec<RaftEnvelope>),
    /// A command to propose; `pid` identifies the waiter.
    Propose {
        /// The range.
        range: RangeId,
        /// The waiter's proposal id.
        pid: u64,
        /// The encoded command.
        data: Vec<u8>,
    },
    /// A membership change; `context` is the encoded new descriptor.
    ConfChange {
        /// The range.
        range: RangeId,
        /// The waiter's proposal id.
        pid: u64,
        /// The change.
        cc: ConfChangeV2,
        /// The new descriptor, encoded.
        context: Vec<u8>,
        /// Set (before the waiter is answered) when the leader refused the change for now:
        /// the previous change is unfinished or the learner to promote is behind. The
        /// proposer retries then (store/replicas.rs).
        refused: Arc<Mutex<bool>>,
    },
    /// Create a group whose state was just written (bootstrap).
    CreateGroup {
        /// The range.
        desc: RangeDescriptor,
        /// The local replica.
        replica: ReplicaId,
        /// Campaign at once (a single-replica range needs no election timeout).
        campaign: bool,
    },
    /// Hand Raft leadership of `range` to `to`.
    TransferLeader {
        /// The range.
        range: RangeId,
        /// The new leader's replica id.
        to: ReplicaId,
    },
    /// Wake a quiesced group (a request needs it, or its leader's node is dead).
    Wake(RangeId),
    /// Destroy a replica the replica GC queue proved removed (store/replica_gc.rs), if it is
    /// still replica `replica` at descriptor `generation`.
    GcReplica {
        /// The range.
        range: RangeId,
        /// The local replica's id.
        replica: ReplicaId,
        /// The descriptor generation it had (None: uninitialised).
        generation: Option<u64>,
    },
    /// Stop the thread.
    Stop,
}

struct Loop {
    store: Weak<Store>,
    raft: MultiRaft,
    /// Proposals in the log, by (range, index): the waiter's pid.
    pending: HashMap<(RangeId, u64), u64>,
    /// Nodes of peer replicas learned from incoming messages: an uninitialised replica has
    /// no descriptor yet but must answer the leader.
    peers: HashMap<(RangeId, u64), kv::NodeId>,
    /// When a reset replica last asked its leader for a snapshot.
    snapshot_asked: HashMap<RangeId, Instant>,
    /// Proposals waiting for their replica to lead the range, in arrival order.
    parked: HashMap<RangeId, Vec<Parked>>,
    /// When a replica with parked proposals last asked for leadership.
    leadership_asked: HashMap<RangeId, Instant>,
}

/// Starts the Raft thread.
pub fn spawn(store: Weak<Store>, raft: MultiRaft, rx: mpsc::Receiver<RaftMsg>) {
    let mut l = Loop {
        store,
        raft,
        pending: HashMap::new(),
        peers: HashMap::new(),
        snapshot_asked: HashMap::new(),
        parked: HashMap::new(),
        leadership_asked: HashMap::new(),
    };
    let spawned = std::thread::Builder::new()
        .name("raft".into())
        .spawn(move || l.run(rx));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the raft thread");
    }
}

impl Loop {
    fn run(&mut self, rx: mpsc::Receiver<RaftMsg>) {
        let tick = match self.store.upgrade() {
            Some(s) => s.cfg.tick,
            None => return,
        };
        let mut next_tick = Instant::now() + tick;
        let mut ticks: u64 = 0;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let mut msgs = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(m) => msgs.push(m),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            while msgs.len() < MAX_INBOX_BATCH {
                match rx.try_recv() {
                    Ok(m) => msgs.push(m),
                    Err(_) => break,
                }
            }
            let Some(store) = self.store.upgrade() else {
                return;
            };
            for m in msgs {
                if !self.handle(&store, m) {
                    return;
                }
            }
            let mut quiesce = Vec::new();
            if Instant::now() >= next_tick {
                quiesce = self.raft.tick();
                next_tick = Instant::now() + tick;
                ticks += 1;
                if ticks.is_multiple_of(STATUS_LOG_TICKS) {
                    let (groups, quiesced, awake_leading) = self.raft.quiesced_count();
                    tracing::debug!(groups, quiesced, awake_leading, "raft groups");
                    for b in self.raft.quiesce_blockers(3) {
                        tracing::trace!(blocker = %b, "awake leader");
                    }
                }
            }
            self.send(&store, quiesce);
            self.unpark(&store);
            if let Err(e) = self.iterate(&store) {
                // A failed write or corrupt state: stop serving rather than let this replica
                // diverge from the others.
                tracing::error!(error = %e, "raft iteration failed; the store stops replicating");
                return;
            }
        }
    }

    /// Handles one inbox message; false means stop.
    fn handle(&mut self, store: &Arc<Store>, m: RaftMsg) -> bool {
        match m {
            RaftMsg::Raft(envs) => {
                for env in envs {
                    self.step(store, env);
                }
            }
            RaftMsg::Propose { range, pid, data } => self.propose(store, range, pid, data),
            RaftMsg::ConfChange {
                range,
                pid,
                cc,
                context,
                refused,
            } => {
                let r = self.raft.propose_conf_change(range, context, cc);
                if matches!(
                    r,
                    Err(replication::Error::ChangeInProgress | replication::Error::LearnerBehind(_))
                ) {
                    *refused.lock() = true;
                }
                self.proposed(store, range, pid, r);
            }
            RaftMsg::CreateGroup {
                desc,
                replica,
                campaign,
            } => {
                if let Err(e) = self.open_group(store, &desc, replica) {
                    tracing::error!(range = %desc.range_id, error = %e, "cannot create group");
                } else if campaign {
                    let _ = self.raft.campaign(desc.range_id);
                }
            }
            RaftMsg::TransferLeader { range, to } => {
                let _ = self.raft.transfer_leader(range, to.0);
            }
            RaftMsg::Wake(range) => self.raft.wake(range),
            RaftMsg::GcReplica {
                range,
                replica,
                generation,
            } => self.gc_replica(store, range, replica, generation),
            RaftMsg::Stop => return false,
        }
        true
    }

    /// Proposes a command of this replica (a leaseholder's write or lease command) as the
    /// Raft leader. A follower would forward it to the leader, and a leader handing
    /// leadership over (to the new leaseholder, after a lease transfer) drops forwarded
    /// proposals without telling anyone: the writer would wait out the proposal timeout and
    /// fail as ambiguous. So a follower holds the command back, asks for leadership, and
    /// proposes once it leads ([`Loop::unpark`]); after [`PARK_LIMIT`] the command fails
    /// with a retryable NotLeaseholder error, certain never to apply since it was never
    /// proposed.
    fn propose(&mut self, store: &Store, range: RangeId, pid: u64, data: Vec<u8>) {
        match self.raft.leader(range) {
            Some((leader, false)) if leader != 0 => {
                self.ask_leadership(store, range);
                self.parked.entry(range).or_default().push(Parked {
                    pid,
                    data,
                    since: Instant::now(),
                });
            }
            _ => {
                let r = self.raft.propose(range, data);
                self.proposed(store, range, pid, r);
            }
        }
    }

    fn ask_leadership(&mut self, store: &Store, range: RangeId) {
        let now = Instant::now();
        let recent = self
            .leadership_asked
            .get(&range)
            .is_some_and(|t| now.duration_since(*t) < ASK_LEADERSHIP_EVERY);
        if recent {
            return;
        }
        self.leadership_asked.insert(range, now);
        if let Some(rep) = store.replica(range) {
            // raft-rs forwards a follower's transfer request to the leader.
            let _ = self.raft.transfer_leader(range, rep.replica_id.0);
        }
    }

    /// Proposes the parked commands of ranges this replica now leads; fails those that
    /// waited too long (or whose group is gone) without proposing them.
    fn unpark(&mut self, store: &Store) {
        if self.parked.is_empty() {
            return;
        }
        let now = Instant::now();
        let ranges: Vec<RangeId> = self.parked.keys().copied().collect();
        for range in ranges {
            let Some(waiting) = self.parked.remove(&range) else {
                continue;
            };
            match self.raft.leader(range) {
                Some((_, true)) | Some((0, false)) => {
                    // Leading (or no leader known: raft-rs refuses at once, and says so).
                    for p in waiting {
                        let r = self.raft.propose(range, p.data);
                        self.proposed(store, range, p.pid, r);
                    }
                }
                Some((leader, false)) => {
                    // Point the sender at the leader's node, as a refused proposal does: if
                    // this replica is cut off from it, its lease lapses and the leader's side
                    // takes over, rather than the sender coming back here until its deadline.
                    let hint = store
                        .replica(range)
                        .and_then(|r| r.desc().and_then(|d| d.node_of(ReplicaId(leader))));
                    let (expired, kept): (Vec<Parked>, Vec<Parked>) = waiting
                        .into_iter()
                        .partition(|p| now.duration_since(p.since) >= PARK_LIMIT);
                    for p in expired {
                        Self::fail_waiter(store, p.pid, hint);
                    }
                    if !kept.is_empty() {
                        self.parked.insert(range, kept);
                        self.ask_leadership(store, range);
                    }
                }
                None => {
                    for p in waiting {
                        Self::fail_waiter(store, p.pid, None);
                    }
                }
            }
        }
        self.leadership_asked
            .retain(|r, _| self.parked.contains_key(r));
    }

    /// Answers waiter `pid` with a retryable NotLeaseholder error (its command never
    /// reached the log).
    fn fail_waiter(store: &Store, pid: u64, leaseholder: Option<kv::NodeId>) {
        if let Some(w) = store.waiters.lock().remove(&pid) {
            let _ = w
                .reply
                .try_send(Err(txn::Error::NotLeaseholder { leaseholder }));
        }
    }

    fn proposed(&mut self, store: &Store, range: RangeId, pid: u64, r: replication::Result<u64>) {
        match r {
            Ok(0) => {}
            Ok(index) => {
                self.pending.insert((range, index), pid);
                if let Some(w) = store.waiters.lock().get_mut(&pid) {
                    w.index = Some(index);
                }
            }
            Err(e) => {
                let hint = store
                    .replica(range)
                    .and_then(|r| r.desc().and_then(|d| d.node_of(ReplicaId(r.leader().0))));
                let err = proposal_error(range, &e, hint);
                if let Some(w) = store.waiters.lock().remove(&pid) {
                    let _ = w.reply.try_send(Err(err));
                }
            }
        }
    }

    /// Creates (or re-creates over an uninitialised one) the group of a range whose
    /// descriptor and lease are already written.
    fn open_group(
        &mut self,
        store: &Arc<Store>,
        d: &RangeDescriptor,
        replica: ReplicaId,
    ) -> Result<(), String> {
        // An uninitialised replica that heard from a leader: that leader is told at once
        // that the replica now exists (see MultiRaft::nudge).
        let prior = self.raft.term_and_leader(d.range_id);
        if prior.is_some() {
            self.raft.remove_group_keep_state(d.range_id);
        }
        let log = LogStore::open(
            store.engine.as_ref(),
            d.range_id,
            Arc::new(Snapshots(Arc::downgrade(store))),
        )
        .map_err(|e| e.to_string())?;
        let of = |k: ReplicaKind| {
            let reps = d.replicas.iter().filter(|r| r.kind == k);
            reps.map(|r| r.replica_id.0).collect()
        };
        let conf = ConfState {
            voters: of(ReplicaKind::Voter),
            learners: of(ReplicaKind::NonVoter),
            ..ConfState::default()
        };
        self.raft
            .create_group(
                d.range_id,
                replica.0,
                log,
                INITIAL_LOG_INDEX,
                INITIAL_LOG_INDEX,
                conf,
            )
            .map_err(|e| e.to_string())?;
        let lease = store.read_lease(d.range_id)?;
        let rep = Arc::new(Replica::new(d.range_id, replica, Some(d.clone())));
        rep.state.lock().lease = lease;
        store.replicas.write().insert(d.range_id, rep);
        if let Some((term, leader)) = prior {
            let nudge = self.raft.nudge(d.range_id, leader, term);
            self.send(store, nudge.into_iter().collect());
        }
        Ok(())
    }

    /// Steps one incoming message, creating an uninitialised replica for a range this store
    /// does not know yet (it was just added to the range and will receive a snapshot).
    fn step(&mut self, store: &Arc<Store>, env: RaftEnvelope) {
        let Ok(msg) = Message::parse_from_bytes(&env.msg) else {
            tracing::warn!(from = %env.from, "undecodable raft message dropped");
            return;
        };
        self.peers.insert((env.range_id, msg.from), env.from);
        // A snapshot's data arrived in chunks first (store/snapshot.rs): step it only once
        // every chunk is staged.
        if msg.get_msg_type() == MessageType::MsgSnapshot
            && (!self.snapshot_fits(store, &env, &msg)
                || !store.snapshot_staged(env.range_id, env.from, &msg))
        {
            return;
        }
        if !self.raft.has_group(env.range_id) {
            if !matches!(
                msg.get_msg_type(),
                MessageType::MsgAppend
                    | MessageType::MsgHeartbeat
                    | MessageType::MsgSnapshot
                    // A voter just added must be able to vote before it has any data, or a
                    // range left with one old voter and one empty new one cannot elect.
                    | MessageType::MsgRequestVote
                    | MessageType::MsgRequestPreVote
            ) {
                return;
            }
            if store.replica_tombstoned(env.range_id, ReplicaId(msg.to)) {
                // A stray message for a replica destroyed here (store/replica_gc.rs).
                tracing::trace!(range = %env.range_id, replica = msg.to, "message for a destroyed replica dropped");
                return;
            }
            if let Err(e) = self.create_uninitialized(store, env.range_id, ReplicaId(msg.to)) {
                tracing::warn!(range = %env.range_id, error = %e, "cannot create replica");
                return;
            }
        }
        let from_leader = matches!(
            msg.get_msg_type(),
            MessageType::MsgAppend | MessageType::MsgHeartbeat
        );
        let (leader, me, term) = (msg.from, msg.to, msg.term);
        if let Err(e) = self.raft.step(env.range_id, msg) {
            tracing::debug!(range = %env.range_id, error = %e, "raft step failed");
        }
        if from_leader {
            self.maybe_request_snapshot(store, env.range_id, leader, me, term);
        }
    }

    /// A replica reset to wait for a snapshot (merge_apply.rs) asks the leader for one: its
    /// empty log alone would not get it one, since the leader's progress still has it caught
    /// up past the merge and ignores a rejection at that index. This is raft-rs's own
    /// snapshot request (an append rejection carrying `request_snapshot`), which the leader
    /// answers with a snapshot at or after index 1, i.e. its current state.
    fn maybe_request_snapshot(
        &mut self,
        store: &Arc<Store>,
        range: RangeId,
        leader: u64,
        me: u64,
        term: u64,
    ) {
        if store.replica(range).is_none_or(|r| r.initialized()) {
            self.snapshot_asked.remove(&range);
            return;
        }
        let key = desc::needs_snapshot_key(range);
        if !matches!(store.engine.get(&key), Ok(Some(_))) {
            return;
        }
        let now = Instant::now();
        let recent = self.snapshot_asked.get(&range);
        if recent.is_some_and(|t| now.duration_since(*t) < SNAPSHOT_REQUEST_EVERY) {
            return;
        }
        self.snapshot_asked.insert(range, now);
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppendResponse);
        m.to = leader;
        m.from = me;
        m.term = term;
        m.reject = true;
        // Above any index the leader has this replica matched at (a lower one is stale).
        m.index = u64::MAX;
        m.reject_hint = 0;
        m.request_snapshot = 1;
        tracing::info!(range = %range, "asking the leader for a snapshot");
        self.send(store, vec![(range, m)]);
    }

    /// Resets a replica that could not apply a merge (merge_apply.rs) to an uninitialised
    /// one waiting for a snapshot; its waiting proposers are told at once.
    fn reset_for_snapshot(&mut self, store: &Arc<Store>, range: RangeId) {
        let Some(rep) = store.replica(range) else {
            return;
        };
        self.raft.remove_group_keep_state(range);
        store.replicas.write().remove(&range);
        let stale: Vec<(RangeId, u64)> = self
            .pending
            .keys()
            .filter(|(r, _)| *r == range)
            .copied()
            .collect();
        for k in stale {
            if let Some(pid) = self.pending.remove(&k) {
                if let Some(w) = store.waiters.lock().remove(&pid) {
                    let err = txn::Error::NotLeaseholder { leaseholder: None };
                    let _ = w.reply.try_send(Err(err));
                }
            }
        }
        let reset = super::merge_apply::reset_stored_replica(store, range);
        let created = reset.and_then(|()| self.create_uninitialized(store, range, rep.replica_id));
        if let Err(e) = created {
            tracing::error!(range = %range, error = %e, "cannot reset the replica for a snapshot");
        }
    }

    /// Whether a snapshot's span is free on this store: a snapshot overlapping another local
    /// replica (typically the left side of a split this store has not applied yet) is dropped;
    /// the leader sends it again later. A frozen right-hand replica the snapshot's merged
    /// range subsumed does not count: the snapshot replaces it (merge_apply.rs).
    fn snapshot_fits(&self, store: &Store, env: &RaftEnvelope, msg: &Message) -> bool {
        let Some(snap_desc) = super::apply::snapshot_desc(msg.get_snapshot().get_data()) else {
            return false;
        };
        !store.replicas().iter().any(|r| {
            r.range_id != env.range_id
                && r.desc().is_some_and(|d| d.overlaps(&snap_desc))
                && !super::merge_apply::subsumed_by(store, r, &snap_desc)
        })
    }

    fn create_uninitialized(
        &mut self,
        store: &Arc<Store>,
        range: RangeId,
        replica: ReplicaId,
    ) -> Result<(), String> {
        let mut batch = WriteBatch::new();
        batch.put(desc::replica_list_key(range), desc::encode(&replica.0));
        store
            .engine
            .write(batch, false)
            .map_err(|e| e.to_string())?;
        let log = LogStore::open(
            store.engine.as_ref(),
            range,
            Arc::new(Snapshots(Arc::downgrade(store))),
        )
        .map_err(|e| e.to_string())?;
        self.raft
            .add_group(range, replica.0, log)
            .map_err(|e| e.to_string())?;
        store
            .replicas
            .write()
            .insert(range, Arc::new(Replica::new(range, replica, None)));
        Ok(())
    }

    fn iterate(&mut self, store: &Arc<Store>) -> Result<(), String> {
        let mut applier = Applier::new(store, &mut self.pending);
        let out = self.raft.process(&mut applier).map_err(|e| e.to_string())?;
        let post = applier.finish();
        for action in post {
            self.post(store, action);
        }
        store.snapshots_after_iteration();
        self.send(store, out);
        Ok(())
    }

    fn post(&mut self, store: &Arc<Store>, action: PostAction) {
        match action {
            PostAction::CreateGroup {
                parent,
                desc,
                replica,
            } => {
                if let Err(e) = self.open_group(store, &desc, replica) {
                    tracing::error!(range = %desc.range_id, error = %e, "cannot create split range");
                } else if self.raft.leader(parent).is_some_and(|(_, me)| me) {
                    // The left side's leader campaigns for the right side at once, so the new
                    // range has a leader (and its inherited lease a proposer) without waiting
                    // for an election timeout.
                    let _ = self.raft.campaign(desc.range_id);
                }
            }
            PostAction::Destroy(range) => {
                if let Err(e) = self.raft.destroy_group(range) {
                    tracing::error!(range = %range, error = %e, "cannot destroy replica");
                }
                store.replicas.write().remove(&range);
            }
            PostAction::ResetForSnapshot(range) => self.reset_for_snapshot(store, range),
        }
    }

    /// Replica GC (store/replica_gc.rs): the data, then the group and the replica.
    fn gc_replica(
        &mut self,
        store: &Arc<Store>,
        range: RangeId,
        replica: ReplicaId,
        generation: Option<u64>,
    ) {
        match store.destroy_replica_data(range, replica, generation) {
            Ok(true) => self.post(store, PostAction::Destroy(range)),
            Ok(false) => {}
            Err(e) => tracing::error!(range = %range, error = %e, "replica GC failed"),
        }
    }

    fn send(&mut self, store: &Store, out: Vec<(RangeId, Message)>) {
        if out.is_empty() {
            return;
        }
        let mut batch = Vec::with_capacity(out.len());
        for (range, msg) in out {
            let Some(to) = store
                .replica(range)
                .and_then(|r| r.desc())
                .and_then(|d| d.node_of(ReplicaId(msg.to)))
                .or_else(|| self.peers.get(&(range, msg.to)).copied())
            else {
                continue;
            };
            if msg.get_msg_type() == MessageType::MsgSnapshot {
                // The stream reports nothing back to raft-rs; let the leader go back to
                // probing (it asks for another snapshot if this one fails, which waits while
                // this stream runs). The data goes in chunks first (store/snapshot.rs).
                self.raft
                    .report_snapshot(range, msg.to, raft::SnapshotStatus::Finish);
                Store::send_snapshot(self.store.clone(), range, to, msg);
                continue;
            }
            let Ok(bytes) = msg.write_to_bytes() else {
                continue;
            };
            batch.push(RaftEnvelope {
                range_id: range,
                from: store.node_id,
                to,
                msg: bytes,
            });
        }
        if !batch.is_empty() {
            store.transport.send_raft(batch);
        }
    }
}

/// The error a refused proposal's waiter gets.
///
/// - Not the leader / no such group: `NotLeaseholder`, hinting at the Raft leader (the
///   sender retries there; leases follow leadership).
/// - A membership change refused because the previous one is unfinished
///   (`ChangeInProgress`) or the learner to promote has not caught up (`LearnerBehind`):
///   `Unavailable` with the reason, never "not leaseholder" (nothing about the lease
///   changed; a leader hint would name this very node). The proposer learns that it may
///   retry from the message's `refused` flag, not from this error ([`RaftMsg::ConfChange`],
///   `Store::change_retrying` in store/replicas.rs); if it gives up, this is the error its
///   caller (the allocator, the merge queue) sees. Membership changes run on the leader's
///   own store, so these never reach the DistSender or a SQL client.
/// - Anything else means the replica's Raft state cannot be trusted: `Internal`.
pub(crate) fn proposal_error(
    range: RangeId,
    e: &replication::Error,
    leader: Option<kv::NodeId>,
) -> txn::Error {
    match e {
        replication::Error::ChangeInProgress | replication::Error::LearnerBehind(_) => {
            tracing::debug!(range = %range, reason = %e, "membership change refused for now");
            txn::Error::Unavailable(format!(
                "the membership change of {range} was refused for now: {e}"
            ))
        }
        e if e.is_deterministic() => txn::Error::NotLeaseholder {
            leaseholder: leader,
        },
        e => txn::Error::Internal(format!("proposing to {range}: {e}")),
    }
}

#[cfg(test)]
mod proposal_error_tests {
    use super::proposal_error;
    use kv::{NodeId, RangeId};
    use replication::Error as R;

    #[test]
    fn refused_proposals_map_to_the_right_errors() {
        let (range, leader) = (RangeId(7), Some(NodeId(3)));
        let hint = |e: R| match proposal_error(range, &e, leader) {
            txn::Error::NotLeaseholder { leaseholder } => Ok(leaseholder),
            other => Err(other.to_string()),
        };
        assert_eq!(hint(R::NotLeader), Ok(leader));
        assert_eq!(hint(R::UnknownRange(range)), Ok(leader));
        // Refused by the leader itself: retried by the caller, the lease untouched.
        assert!(matches!(
            proposal_error(range, &R::ChangeInProgress, leader),
            txn::Error::Unavailable(_)
        ));
        assert!(matches!(
            proposal_error(range, &R::LearnerBehind(4), leader),
            txn::Error::Unavailable(_)
        ));
        let corrupt = hint(R::Corrupt("bad hard state".into()));
        assert_eq!(
            corrupt,
            Err(
                "internal transaction error: proposing to r7: corrupt raft state: bad hard state"
                    .into()
            )
        );
    }
}

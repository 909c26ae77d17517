//! The multi-raft loop's core: every Raft group of one store, processed together.
//!
//! The owner (the cluster layer's Raft thread) drives it:
//! 1. [`MultiRaft::step`] incoming messages, [`MultiRaft::propose`] commands,
//!    [`MultiRaft::tick`] on a timer;
//! 2. [`MultiRaft::process`] once per loop iteration: collect every group's ready, stage all
//!    their writes in one batch, write it with one sync, apply committed commands through the
//!    [`StateMachine`], advance the groups, and return the messages to send.
//!
//! Groups live in a `BTreeMap`, so iteration order (and therefore the order of messages and
//! applied commands across groups) is deterministic for the simulation tests.
//!
//! Idle groups cost nothing: a leader whose group has been idle for `quiesce_ticks` ticks
//! quiesces it and its followers ([`MultiRaft::tick`]); a tick visits only awake groups and an
//! iteration only groups touched since the last one, so a store's per-tick work is
//! proportional to its awake ranges, not to all of them.

use crate::storage::LogStore;
use crate::{Error, Result};
use kv::engine::{Engine, WriteBatch};
use kv::RangeId;
use protobuf::Message as _;
use raft::prelude::{
    ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Message, MessageType, Ready, Snapshot,
};
use raft::{RawNode, StateRole};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Timing and size settings of every group.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// Ticks without hearing from a leader before a follower campaigns (randomised up to 2x).
    pub election_ticks: usize,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_ticks: usize,
    /// Log entries kept behind the applied index before the log is truncated.
    pub max_log_entries: usize,
    /// Largest batch of entries in one append message.
    pub max_size_per_msg: u64,
    /// Whether the batch that holds log appends is fsynced (tests on memory engines say no).
    pub sync: bool,
    /// Idle ticks after which a leader quiesces its group (0: never).
    pub quiesce_ticks: usize,
    /// Bounds of the randomised election timeout in ticks (0: raft-rs's defaults, the
    /// election tick count and twice it). A simulation pins them to replay exactly.
    pub min_election_ticks: usize,
    /// See `min_election_ticks`.
    pub max_election_ticks: usize,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            election_ticks: 10,
            heartbeat_ticks: 2,
            max_log_entries: 1_000,
            max_size_per_msg: 1 << 20,
            sync: true,
            quiesce_ticks: 20,
            min_election_ticks: 0,
            max_election_ticks: 0,
        }
    }
}

/// One committed entry, as handed to the state machine.
pub enum Applied<'a> {
    /// A command (empty when it is the no-op a new leader appends).
    Normal {
        /// The entry's log index.
        index: u64,
        /// The entry's term.
        term: u64,
        /// The command bytes.
        data: &'a [u8],
    },
    /// A membership change, already applied to the Raft group.
    ConfChange {
        /// The entry's log index.
        index: u64,
        /// The change's context bytes (the proposer's description of the new membership).
        context: &'a [u8],
        /// The configuration after the change.
        conf_state: &'a ConfState,
    },
}

/// What the replicated state machine does with committed entries.
pub trait StateMachine {
    /// Applies one committed entry of `range`, staging its effects into `batch`.
    fn apply(&mut self, range: RangeId, entry: Applied<'_>, batch: &mut WriteBatch);
    /// Stages a received snapshot's data, replacing the range's state.
    fn apply_snapshot(&mut self, range: RangeId, snap: &Snapshot, batch: &mut WriteBatch);
    /// Called once the batch holding applied effects is written: waiters may be told.
    fn applied_written(&mut self);
    /// A group's leader changed (`leader` is a replica id, 0 when unknown).
    fn leader_changed(&mut self, range: RangeId, leader: u64, is_leader: bool);
}

/// One group.
struct Group {
    node: RawNode<LogStore>,
    /// Not ticked until a proposal or a message wakes it (see [`MultiRaft::tick`]).
    quiesced: bool,
    /// Consecutive ticks this leader found the group idle.
    idle_ticks: usize,
}

impl Group {
    fn new(node: RawNode<LogStore>) -> Group {
        Group {
            node,
            quiesced: false,
            idle_ticks: 0,
        }
    }

    /// Wakes the group; `why` names the cause in a trace event when it was quiesced (what
    /// keeps idle ranges awake is the first thing to look for when an idle store burns CPU).
    fn wake(&mut self, range: RangeId, why: &dyn std::fmt::Debug) {
        if self.quiesced {
            tracing::trace!(range = %range, why = ?why, "quiesced group woken");
        }
        self.quiesced = false;
        self.idle_ticks = 0;
    }

    /// Whether a leader may stop ticking: everything is committed, applied and replicated to
    /// every follower, and nothing is in flight.
    fn can_quiesce(&self) -> bool {
        let raft = &self.node.raft;
        let log = &raft.raft_log;
        let last = log.last_index();
        raft.state == StateRole::Leader
            && raft.lead_transferee.is_none()
            && !raft.has_pending_conf()
            && !crate::joint::is_joint(log.store.conf_state())
            && log.committed == last
            && log.store.applied() == last
            && !self.node.has_ready()
            && raft.prs().iter().all(|(_, p)| p.matched == last)
    }
}

/// Context bytes of the heartbeat a leader sends when it quiesces a group.
pub const QUIESCE_CONTEXT: &[u8] = b"quiesce";

/// Every Raft group of one store.
pub struct MultiRaft {
    groups: BTreeMap<RangeId, Group>,
    /// Groups touched (stepped, proposed to, ticked...) since the last `process`: only they
    /// can have a ready, so an iteration costs nothing for the idle rest.
    dirty: BTreeSet<RangeId>,
    /// Groups that may be awake (a superset of the groups not quiesced): only they are
    /// ticked, so a tick costs nothing for quiesced groups.
    awake: BTreeSet<RangeId>,
    engine: Arc<dyn Engine>,
    cfg: RaftConfig,
    logger: slog::Logger,
}

impl MultiRaft {
    /// An empty set of groups over `engine`.
    pub fn new(engine: Arc<dyn Engine>, cfg: RaftConfig) -> MultiRaft {
        MultiRaft {
            groups: BTreeMap::new(),
            dirty: BTreeSet::new(),
            awake: BTreeSet::new(),
            engine,
            cfg,
            logger: slog::Logger::root(slog::Discard, slog::o!()),
        }
    }

    /// The engine the groups persist to.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Adds a group for `range` whose local replica is `replica_id`, over its stored state.
    pub fn add_group(&mut self, range: RangeId, replica_id: u64, store: LogStore) -> Result<()> {
        let config = raft::Config {
            id: replica_id,
            election_tick: self.cfg.election_ticks,
            heartbeat_tick: self.cfg.heartbeat_ticks,
            applied: store.applied(),
            max_size_per_msg: self.cfg.max_size_per_msg,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            min_election_tick: self.cfg.min_election_ticks,
            max_election_tick: self.cfg.max_election_ticks,
            ..raft::Config::default()
        };
        let node = RawNode::new(&config, store, &self.logger)?;
        self.groups.insert(range, Group::new(node));
        self.dirty.insert(range);
        self.awake.insert(range);
        Ok(())
    }

    /// Removes a group and deletes its Raft state (the replica was removed from the range);
    /// the caller deletes the replica's data.
    pub fn destroy_group(&mut self, range: RangeId) -> Result<()> {
        let Some(mut g) = self.groups.remove(&range) else {
            return Ok(());
        };
        let mut batch = WriteBatch::new();
        g.node.mut_store().stage_destroy(&mut batch);
        self.engine.write(batch, self.cfg.sync)?;
        Ok(())
    }

    /// Removes a group from memory only (its state stays, e.g. to be re-created over it).
    pub fn remove_group_keep_state(&mut self, range: RangeId) {
        self.groups.remove(&range);
    }

    /// Reports the outcome of sending a snapshot to a peer.
    pub fn report_snapshot(
        &mut self,
        range: RangeId,
        replica_id: u64,
        status: raft::SnapshotStatus,
    ) {
        if let Some(g) = self.groups.get_mut(&range) {
            g.node.report_snapshot(replica_id, status);
            self.dirty.insert(range);
        }
    }

    /// Whether a group exists for `range`.
    pub fn has_group(&self, range: RangeId) -> bool {
        self.groups.contains_key(&range)
    }

    /// The ranges with a group here.
    pub fn ranges(&self) -> impl Iterator<Item = RangeId> + '_ {
        self.groups.keys().copied()
    }

    /// Steps an incoming message into its group. A quiescing heartbeat from the leader puts
    /// a follower to sleep; any other message except a heartbeat response wakes the group.
    pub fn step(&mut self, range: RangeId, msg: Message) -> Result<()> {
        let g = self.group(range)?;
        let quiesce =
            msg.get_msg_type() == MessageType::MsgHeartbeat && msg.get_context() == QUIESCE_CONTEXT;
        let wakes = !quiesce && msg.get_msg_type() != MessageType::MsgHeartbeatResponse;
        if wakes {
            g.wake(range, &msg.get_msg_type());
        }
        let from = msg.from;
        match g.node.step(msg) {
            // Messages from removed or unknown peers are dropped quietly: they are normal
            // around membership changes.
            // A forwarded proposal reaching a replica that stopped leading is dropped; its
            // proposer times out or learns from the applied log.
            Ok(())
            | Err(raft::Error::StepPeerNotFound)
            | Err(raft::Error::StepLocalMsg)
            | Err(raft::Error::ProposalDropped) => {}
            Err(e) => return Err(e.into()),
        }
        if quiesce && g.node.raft.leader_id == from && g.node.raft.state == StateRole::Follower {
            g.quiesced = true;
        }
        if wakes {
            self.awake.insert(range);
        }
        Ok(())
    }

    /// Wakes a quiesced group (a request needs it, or its leader's node died).
    pub fn wake(&mut self, range: RangeId) {
        if let Some(g) = self.groups.get_mut(&range) {
            g.wake(range, &"wake request");
            self.awake.insert(range);
        }
    }

    /// Why awake groups this store leads cannot quiesce (for status logs): up to `n` of
    /// them, highest range ids first (the lowest, range 1, is the busy system range).
    pub fn quiesce_blockers(&self, n: usize) -> Vec<String> {
        let awake = self.groups.iter().rev();
        let awake = awake.filter(|(_, g)| !g.quiesced && g.node.raft.state == StateRole::Leader);
        let ticked = |r: &RangeId| self.awake.contains(r);
        let list = awake.take(n);
        list.map(|(r, g)| format!("{} ticked {}", blocker(*r, g), ticked(r)))
            .collect()
    }

    /// How many groups exist, how many are quiesced, and how many awake ones this store
    /// leads (for status logs).
    pub fn quiesced_count(&self) -> (usize, usize, usize) {
        (
            self.groups.len(),
            self.groups.values().filter(|g| g.quiesced).count(),
            self.groups
                .values()
                .filter(|g| !g.quiesced && g.node.raft.state == StateRole::Leader)
                .count(),
        )
    }

    /// Whether the group is quiesced.
    pub fn is_quiesced(&self, range: RangeId) -> bool {
        self.groups.get(&range).is_some_and(|g| g.quiesced)
    }

    /// Proposes a command; returns the log index it was appended at, or 0 when a follower
    /// forwarded it to the leader (index unknown here). Fails when no leader is known.
    pub fn propose(&mut self, range: RangeId, data: Vec<u8>) -> Result<u64> {
        let g = self.woken(range, "proposal")?;
        if g.node.raft.state != StateRole::Leader {
            if g.node.raft.leader_id == raft::INVALID_ID {
                return Err(Error::NotLeader);
            }
            g.node
                .propose(Vec::new(), data)
                .map_err(dropped_is_not_leader)?;
            return Ok(0);
        }
        g.node
            .propose(Vec::new(), data)
            .map_err(dropped_is_not_leader)?;
        Ok(g.node.raft.raft_log.last_index())
    }

    /// Proposes a membership change on the leader; `context` travels with it to
    /// [`Applied::ConfChange`]. Returns the log index it was appended at. Several changes at
    /// once go through a joint configuration (see [`crate::joint`]); a change is refused with
    /// a retryable error while another is in flight or while it would promote a learner
    /// that has not caught up.
    pub fn propose_conf_change(
        &mut self,
        range: RangeId,
        context: Vec<u8>,
        cc: ConfChangeV2,
    ) -> Result<u64> {
        let g = self.woken(range, "membership change")?;
        if g.node.raft.state != StateRole::Leader {
            return Err(Error::NotLeader);
        }
        crate::joint::check_proposal(&g.node, &cc)?;
        g.node
            .propose_conf_change(context, cc)
            .map_err(dropped_is_not_leader)?;
        Ok(g.node.raft.raft_log.last_index())
    }

    /// Asks the leader of `range` to hand leadership to `replica_id`.
    pub fn transfer_leader(&mut self, range: RangeId, replica_id: u64) -> Result<()> {
        let g = self.woken(range, "leadership transfer")?;
        g.node.transfer_leader(replica_id);
        Ok(())
    }

    /// Makes the local replica campaign (used right after bootstrap so a single-replica range
    /// has a leader without waiting for an election timeout).
    pub fn campaign(&mut self, range: RangeId) -> Result<()> {
        let g = self.woken(range, "campaign")?;
        Ok(g.node.campaign()?)
    }

    /// Ticks every group that is not quiesced. A leader whose group stayed idle for
    /// `quiesce_ticks` ticks quiesces it: it stops ticking and returns a quiescing heartbeat
    /// for each follower (to send like any other message), after which they stop ticking too.
    /// Idle ranges then cost nothing until a proposal or message wakes them.
    pub fn tick(&mut self) -> Vec<(RangeId, Message)> {
        let mut out = Vec::new();
        let quiesce_ticks = self.cfg.quiesce_ticks;
        let groups = &mut self.groups;
        let dirty = &mut self.dirty;
        // Only awake groups are visited: a store of quiesced ranges ticks for nothing.
        self.awake.retain(|&range| {
            let Some(g) = groups.get_mut(&range) else {
                return false;
            };
            if g.quiesced {
                return false;
            }
            // Judge idleness before ticking: the tick itself may queue heartbeats.
            let idle = quiesce_ticks > 0 && g.can_quiesce();
            g.idle_ticks = if idle { g.idle_ticks + 1 } else { 0 };
            if g.idle_ticks < quiesce_ticks || quiesce_ticks == 0 {
                g.node.tick();
                dirty.insert(range);
                return true;
            }
            // Quiesce without ticking: a regular heartbeat queued by this tick would reach
            // the followers after the quiescing one and wake them again.
            g.quiesced = true;
            out.extend(quiesce_heartbeats(range, g));
            false
        });
        out
    }

    /// The group's applied membership (joint while `voters_outgoing` is not empty).
    pub fn conf_state(&self, range: RangeId) -> Option<ConfState> {
        let g = self.groups.get(&range)?;
        Some(g.node.store().conf_state().clone())
    }

    /// The group's term and the leader it knows in that term (0: none).
    pub fn term_and_leader(&self, range: RangeId) -> Option<(u64, u64)> {
        let g = self.groups.get(&range)?;
        Some((g.node.raft.term, g.node.raft.leader_id))
    }

    /// A heartbeat response from the local replica to `leader`, when the group is at `term`.
    ///
    /// A leader stops sending its log to a replica it tried to send a snapshot to (until the
    /// replica answers a heartbeat); a replica that was uninitialised (the right side of a
    /// split this store had not applied yet: its snapshot was refused) and has just been
    /// created by applying the split sends this so that the leader sends the log at once,
    /// instead of at its next heartbeat. After a burst of splits the right sides form a
    /// chain (each is created by applying the split in the one before), and waiting a
    /// heartbeat per link kept hundreds of groups awake for minutes.
    pub fn nudge(&mut self, range: RangeId, leader: u64, term: u64) -> Option<(RangeId, Message)> {
        let g = self.groups.get(&range)?;
        let raft = &g.node.raft;
        if leader == raft::INVALID_ID || leader == raft.id || raft.term != term {
            return None;
        }
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgHeartbeatResponse);
        m.to = leader;
        m.from = raft.id;
        m.term = term;
        Some((range, m))
    }

    /// The group's leader replica id (0 when unknown) and whether it is the local replica.
    pub fn leader(&self, range: RangeId) -> Option<(u64, bool)> {
        let g = self.groups.get(&range)?;
        Some((
            g.node.raft.leader_id,
            g.node.raft.state == StateRole::Leader,
        ))
    }

    /// The group's Raft status: term, commit index, applied index, and for a leader each
    /// peer's matched index.
    pub fn status(&self, range: RangeId) -> Option<GroupStatus> {
        let g = self.groups.get(&range)?;
        let raft = &g.node.raft;
        let progress = if raft.state == StateRole::Leader {
            raft.prs().iter().map(|(id, p)| (*id, p.matched)).collect()
        } else {
            Vec::new()
        };
        Some(GroupStatus {
            term: raft.term,
            commit: raft.raft_log.committed,
            applied: raft.raft_log.store.applied(),
            last_index: raft.raft_log.last_index(),
            progress,
        })
    }

    /// Reports that a peer could not be reached (the leader probes it instead of streaming).
    pub fn report_unreachable(&mut self, range: RangeId, replica_id: u64) {
        if let Some(g) = self.groups.get_mut(&range) {
            g.node.report_unreachable(replica_id);
            self.dirty.insert(range);
        }
    }

    /// Stages a brand-new group's initial state and adds it.
    pub fn create_group(
        &mut self,
        range: RangeId,
        replica_id: u64,
        mut store: LogStore,
        index: u64,
        term: u64,
        conf: ConfState,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        store.stage_initial(&mut batch, index, term, conf)?;
        self.engine.write(batch, self.cfg.sync)?;
        self.add_group(range, replica_id, store)
    }

    /// The group of `range`, marked as possibly having work.
    fn group(&mut self, range: RangeId) -> Result<&mut Group> {
        let g = self
            .groups
            .get_mut(&range)
            .ok_or(Error::UnknownRange(range))?;
        self.dirty.insert(range);
        Ok(g)
    }

    /// The group of `range`, woken up (it will be ticked) and marked as possibly having work.
    fn woken(&mut self, range: RangeId, why: &'static str) -> Result<&mut Group> {
        let g = self
            .groups
            .get_mut(&range)
            .ok_or(Error::UnknownRange(range))?;
        g.wake(range, &why);
        self.dirty.insert(range);
        self.awake.insert(range);
        Ok(g)
    }

    /// One iteration: persist, apply and advance every group with work; returns the messages
    /// to send, each with its range.
    pub fn process(&mut self, sm: &mut dyn StateMachine) -> Result<Vec<(RangeId, Message)>> {
        let mut batch = WriteBatch::new();
        let mut sync = false;
        let mut out = Vec::new();
        let mut after_persist = Vec::new();
        let mut readies: Vec<(RangeId, Ready)> = Vec::new();
        for range in std::mem::take(&mut self.dirty) {
            let Some(g) = self.groups.get_mut(&range) else {
                continue;
            };
            if !g.node.has_ready() {
                continue;
            }
            let mut rd = g.node.ready();
            out.extend(rd.take_messages().into_iter().map(|m| (range, m)));
            if let Some(ss) = rd.ss() {
                sm.leader_changed(range, ss.leader_id, ss.raft_state == StateRole::Leader);
            }
            if !rd.snapshot().is_empty() {
                sm.apply_snapshot(range, rd.snapshot(), &mut batch);
                g.node
                    .mut_store()
                    .stage_snapshot(&mut batch, rd.snapshot())?;
            }
            apply_entries(range, g, rd.take_committed_entries(), sm, &mut batch)?;
            g.node.mut_store().stage_append(&mut batch, rd.entries())?;
            if let Some(hs) = rd.hs() {
                g.node.mut_store().set_hard_state(&mut batch, hs.clone())?;
            }
            sync |= rd.must_sync();
            after_persist.extend(rd.take_persisted_messages().into_iter().map(|m| (range, m)));
            readies.push((range, rd));
        }
        if readies.is_empty() {
            return Ok(out);
        }
        self.engine.write(batch, sync && self.cfg.sync)?;
        sm.applied_written();
        out.extend(after_persist);

        let mut batch = WriteBatch::new();
        for (range, rd) in readies {
            let Some(g) = self.groups.get_mut(&range) else {
                continue;
            };
            let mut light = g.node.advance(rd);
            if let Some(commit) = light.commit_index() {
                g.node.mut_store().set_commit(&mut batch, commit)?;
            }
            out.extend(light.take_messages().into_iter().map(|m| (range, m)));
            apply_entries(range, g, light.take_committed_entries(), sm, &mut batch)?;
            g.node.advance_apply();
            // A leader never leaves its group joint (see crate::joint).
            crate::joint::maybe_leave(&mut g.node);
            maybe_truncate(g, &self.cfg, &mut batch);
            if g.node.has_ready() {
                self.dirty.insert(range);
            }
        }
        if !batch.is_empty() {
            self.engine.write(batch, false)?;
            sm.applied_written();
        }
        Ok(out)
    }
}

/// A proposal raft-rs drops (a leadership transfer is under way, or the leader is not in its
/// own configuration) is routine: report it as "not the leader".
fn dropped_is_not_leader(e: raft::Error) -> Error {
    match e {
        raft::Error::ProposalDropped => Error::NotLeader,
        e => e.into(),
    }
}

/// A group's Raft status.
#[derive(Debug, Clone)]
pub struct GroupStatus {
    /// Current term.
    pub term: u64,
    /// Commit index.
    pub commit: u64,
    /// Applied index.
    pub applied: u64,
    /// Last log index.
    pub last_index: u64,
    /// For a leader: (replica id, matched index) of every peer.
    pub progress: Vec<(u64, u64)>,
}

fn apply_entries(
    range: RangeId,
    g: &mut Group,
    entries: Vec<Entry>,
    sm: &mut dyn StateMachine,
    batch: &mut WriteBatch,
) -> Result<()> {
    for e in entries {
        match e.get_entry_type() {
            EntryType::EntryNormal => sm.apply(
                range,
                Applied::Normal {
                    index: e.index,
                    term: e.term,
                    data: &e.data,
                },
                batch,
            ),
            EntryType::EntryConfChangeV2 | EntryType::EntryConfChange => {
                let cs = if e.get_entry_type() == EntryType::EntryConfChangeV2 {
                    let cc = ConfChangeV2::parse_from_bytes(&e.data)
                        .map_err(|e| Error::Corrupt(e.to_string()))?;
                    g.node.apply_conf_change(&cc)?
                } else {
                    let cc = ConfChange::parse_from_bytes(&e.data)
                        .map_err(|e| Error::Corrupt(e.to_string()))?;
                    g.node.apply_conf_change(&cc)?
                };
                g.node.mut_store().set_conf_state(batch, cs.clone())?;
                // raft-rs leaves a leader that removed itself in the Leader state, and the
                // next advance would look up its own (gone) progress: step down now. An
                // outgoing voter of a joint configuration keeps leading until it is left.
                let raft = &mut g.node.raft;
                if !crate::joint::is_voter(&cs, raft.id) && raft.state == StateRole::Leader {
                    let term = raft.term;
                    raft.become_follower(term, raft::INVALID_ID);
                }
                sm.apply(
                    range,
                    Applied::ConfChange {
                        index: e.index,
                        context: &e.context,
                        conf_state: &cs,
                    },
                    batch,
                );
            }
        }
        g.node.mut_store().stage_applied(batch, e.index);
    }
    Ok(())
}

/// What stands between a leader's group and quiescence, for logs.
fn blocker(range: RangeId, g: &Group) -> String {
    let raft = &g.node.raft;
    let log = &raft.raft_log;
    format!(
        "{range}: last {} committed {} applied {} transferee {:?} pending_conf {} has_ready {} matched {:?} idle_ticks {}",
        log.last_index(),
        log.committed,
        log.store.applied(),
        raft.lead_transferee,
        raft.has_pending_conf(),
        g.node.has_ready(),
        raft.prs().iter().map(|(id, p)| (*id, p.matched)).collect::<Vec<_>>(),
        g.idle_ticks
    )
}

/// The quiescing heartbeats a leader sends to each follower of `g`.
fn quiesce_heartbeats(range: RangeId, g: &Group) -> Vec<(RangeId, Message)> {
    let raft = &g.node.raft;
    let peers = raft.prs().iter().filter(|(id, _)| **id != raft.id);
    peers
        .map(|(&id, _)| {
            let mut m = Message::default();
            m.set_msg_type(MessageType::MsgHeartbeat);
            m.to = id;
            m.from = raft.id;
            m.term = raft.term;
            m.commit = raft.raft_log.committed;
            m.set_context(QUIESCE_CONTEXT.to_vec().into());
            (range, m)
        })
        .collect()
}

/// Truncates the log behind the applied index once it holds more than the bound.
fn maybe_truncate(g: &mut Group, cfg: &RaftConfig, batch: &mut WriteBatch) {
    let store = g.node.mut_store();
    if store.log_len() > cfg.max_log_entries * 2 {
        let applied = store.applied();
        store.stage_truncate(batch, applied.saturating_sub(cfg.max_log_entries as u64));
    }
}

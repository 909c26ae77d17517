//! Membership changes with joint consensus (Raft thesis §4.3, as etcd and CockroachDB use it).
//!
//! Moving a voter from one replica to another in a single-voter-at-a-time world takes two
//! changes (add, then remove) and leaves the group with an even number of voters, or one
//! short, in between. Joint consensus makes the swap one step: the group enters a *joint*
//! configuration `C_old,new` in which every decision (commit, election) needs a majority of
//! both the outgoing and the incoming voters, and then leaves it for `C_new`. A failure at
//! any point leaves the group in a configuration in which the old majority and the new one
//! must both agree, so no two leaders and no lost commits are possible.
//!
//! How this crate drives it:
//! - [`joint_change`] builds a `ConfChangeV2` of several changes with the *implicit*
//!   transition: raft-rs enters the joint configuration and, when the leader applies it,
//!   appends the empty `ConfChangeV2` that leaves it (auto-leave).
//! - raft-rs proposes that leave only on the leader that applied the entering entry (its own
//!   TODO says a leader that steps down before may never leave). [`maybe_leave`] closes the
//!   gap: after every iteration, a leader that finds its group joint with no membership change
//!   pending proposes the leave itself, so a new leader after a crash or partition leaves too
//!   and no group stays joint. Both paths produce the same empty entry; raft-rs refuses a
//!   second one while the first is pending.
//! - [`check_proposal`] refuses (with a retryable error) a change while another is in flight
//!   or the group is joint, and the promotion of a learner that has not caught up with the
//!   leader (CockroachDB's rule: a voter is added as a learner, receives its snapshot, and
//!   only then becomes a voter, so the new quorum never waits on a replica with no data).
//!   Caught up means: the leader replicates to it from the log (`Replicate`: it has its
//!   snapshot) and it trails the commit index by at most [`LEARNER_MAX_LAG`] entries *or*
//!   every entry it lacks is still in the leader's log. The second half matters under load
//!   over slow links: a learner trails by about (write rate x round trip) entries, so with
//!   a fixed bound alone a range taking more than 64 entries per 300 ms round trip could never
//!   promote its learner and stayed under-replicated (found by tests/tests/simulated_latency.rs:
//!   a single-voter range taking fast writes never got its second voter).
//! - The joint `ConfState` (`voters_outgoing`, `learners_next`, `auto_leave`) is persisted
//!   with every applied change and travels in snapshots ([`crate::storage`]); raft-rs
//!   restores a joint configuration from it on restart.

use crate::storage::LogStore;
use crate::{Error, Result};
use raft::prelude::{
    ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
};
use raft::{ProgressState, RawNode, StateRole};

/// How far (in entries) a learner may trail the leader's commit index and still be promoted
/// even when the leader's log no longer holds everything it lacks (see the module doc).
pub const LEARNER_MAX_LAG: u64 = 64;

/// Whether a configuration is joint (it has outgoing voters).
pub fn is_joint(cs: &ConfState) -> bool {
    !cs.voters_outgoing.is_empty()
}

/// One change of a membership change.
pub fn single(change_type: ConfChangeType, replica_id: u64) -> ConfChangeSingle {
    let mut s = ConfChangeSingle::default();
    s.set_change_type(change_type);
    s.node_id = replica_id;
    s
}

/// A membership change of several changes at once, made through a joint configuration that
/// the group leaves by itself once the leader applies it (see the module doc). With one
/// change it is still joint (the caller asked for atomicity); use [`simple_change`] for a
/// one-voter change.
pub fn joint_change(changes: Vec<ConfChangeSingle>) -> ConfChangeV2 {
    let mut cc = ConfChangeV2::default();
    cc.set_transition(ConfChangeTransition::Implicit);
    cc.set_changes(changes.into());
    cc
}

/// A one-replica membership change without a joint configuration (safe for one voter).
pub fn simple_change(change: ConfChangeSingle) -> ConfChangeV2 {
    let mut cc = ConfChangeV2::default();
    cc.set_changes(vec![change].into());
    cc
}

/// The empty change that leaves a joint configuration.
pub fn leave_joint_change() -> ConfChangeV2 {
    ConfChangeV2::default()
}

/// Whether the leader `node` may propose `cc` now (see the module doc).
pub(crate) fn check_proposal(node: &RawNode<LogStore>, cc: &ConfChangeV2) -> Result<()> {
    let raft = &node.raft;
    let joint = is_joint(node.store().conf_state());
    if cc.leave_joint() {
        return if joint && !raft.has_pending_conf() {
            Ok(())
        } else {
            Err(Error::ChangeInProgress)
        };
    }
    if joint || raft.has_pending_conf() {
        return Err(Error::ChangeInProgress);
    }
    let learners = &node.store().conf_state().learners;
    let committed = raft.raft_log.committed;
    let first_index = raft.raft_log.first_index();
    for c in cc.get_changes() {
        let id = c.node_id;
        if c.get_change_type() != ConfChangeType::AddNode || !learners.contains(&id) {
            continue;
        }
        let caught_up = raft.prs().get(id).is_some_and(|p| {
            let close = p.matched + LEARNER_MAX_LAG >= committed;
            let from_log = p.matched + 1 >= first_index;
            p.state == ProgressState::Replicate && (close || from_log)
        });
        if !caught_up {
            return Err(Error::LearnerBehind(id));
        }
    }
    Ok(())
}

/// Proposes leaving the joint configuration when `node` leads a joint group with no change
/// pending (raft-rs's auto-leave did not, e.g. because leadership changed); true if it did.
pub(crate) fn maybe_leave(node: &mut RawNode<LogStore>) -> bool {
    let raft = &node.raft;
    if raft.state != StateRole::Leader
        || raft.lead_transferee.is_some()
        || raft.has_pending_conf()
        || !is_joint(node.store().conf_state())
    {
        return false;
    }
    match node.propose_conf_change(Vec::new(), leave_joint_change()) {
        Ok(()) => {
            tracing::debug!("leader proposes leaving the joint configuration");
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot propose leaving the joint configuration");
            false
        }
    }
}

/// Whether `id` is a voter of `cs`, in either half of a joint configuration.
pub fn is_voter(cs: &ConfState, id: u64) -> bool {
    cs.voters.contains(&id) || cs.voters_outgoing.contains(&id)
}

//! Replication: one Raft group per range, driven by a multi-raft loop.
//!
//! raft-rs (the `raft` crate) is the consensus core: a deterministic state machine per group
//! that we feed with ticks, messages and proposals, and that hands back `Ready` batches. This
//! crate adds what raft-rs leaves to its user:
//! - [`storage::LogStore`]: each replica's log, hard state, configuration and applied index on
//!   the node's storage engine, under local keys.
//! - [`multiraft::MultiRaft`]: every group of a store in one value, processed together: one
//!   iteration collects the readies of all groups, stages every log append, hard state,
//!   snapshot and applied command into **one** write batch with **one** fsync, then sends the
//!   messages that depended on it and advances the groups. Ticks, messages and disk writes are
//!   thus batched across ranges.
//!
//! Persistence order (raft-rs's contract, documented in its `lib.rs`): entries, hard state and
//! snapshots are durable before the messages that acknowledge them are sent (the
//! `persisted_messages` of a ready); a leader's own messages may go out before its append (the
//! Raft thesis' 10.2.1); committed entries are applied in order and their applied index is
//! written in the same batch as their effects, so a restart re-applies exactly what was lost.
//!
//! The crate moves opaque bytes: commands are `Vec<u8>` produced and applied by the cluster
//! layer through [`multiraft::StateMachine`]; it knows nothing of keys, transactions or SQL.
//!
//! Membership changes ([`joint`]): one replica at a time with a simple `ConfChangeV2`, or
//! several at once (a voter move: promote a caught-up learner and remove or demote the old
//! voter) through a joint configuration that the leader always leaves, even a leader elected
//! after the one that entered it crashed. The joint configuration is persisted with each
//! applied change and carried in snapshots, so a restart or a snapshot in the middle of a
//! move resumes it. Learners are promoted only once caught up.
//!
//! IMPLEMENTATION CAVEATS
//! - Every replica truncates its own log behind its applied index once it grows past a bound
//!   (Raft allows each server to compact independently); a follower that falls behind the
//!   leader's truncation catches up with a snapshot, which is built in memory in one piece
//!   (fine for ranges of tens of MiB, not for GiB).
//! - Idle groups quiesce (see [`multiraft::MultiRaft::tick`]); groups that are not idle send
//!   their own heartbeats (not coalesced per node pair yet).
//! - A voter move's descriptor bookkeeping (which replica is incoming or outgoing) is the
//!   cluster layer's: this crate only sees replica ids.

pub mod error;
pub mod joint;
pub mod multiraft;
pub mod storage;

pub use error::{Error, Result};
pub use multiraft::{Applied, MultiRaft, RaftConfig, StateMachine};
pub use raft;
pub use storage::{LogStore, SnapshotSource};

//! Replication: one Raft group per range.
//!
//! This crate will drive raft-rs state machines from a multi-raft loop that batches ticks,
//! messages and log writes across every range of a store, persists entries and hard state before
//! sending the messages that depend on them, and hands committed commands (opaque bytes) to the
//! cluster layer to apply. It knows nothing of SQL or transactions.
//!
//! IMPLEMENTATION CAVEATS
//! - Not built yet: Meridian runs as a single node whose store is the only replica of the one
//!   range (the ranges-and-Raft issue builds this crate). The crate exists so the layering and
//!   dependency direction are fixed from the start.

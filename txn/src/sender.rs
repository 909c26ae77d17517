//! What a transaction coordinator needs from the layer that delivers its requests: routing to
//! ranges ([`Router`]), the node's clock, range identity for the one-phase-commit decision, and
//! registration of running reads (garbage collection stays below them).
//!
//! The single-node [`crate::store::Store`] implements it over its local ranges; a cluster's
//! distributed sender implements it over range descriptors and the network.

use crate::range::Router;
use kv::{Clock, Timestamp};
use std::sync::Arc;

/// The coordinator's view of the KV layer.
pub trait Sender: Router {
    /// The node's clock.
    fn clock(&self) -> &Arc<Clock>;
    /// An identifier of the range holding `key` by current routing: two keys with equal ids
    /// are in one range (as far as the sender knows; the range checks again).
    fn range_of(&self, key: &[u8]) -> u64;
    /// The uncertainty limit of a transaction that reads at `read_ts`: values above it are
    /// certainly later; values between are uncertain. On a single node the clock that issued
    /// `read_ts` is the only clock, so the limit is `read_ts`; in a cluster it is
    /// `read_ts + max_offset`.
    fn uncertainty_limit(&self, read_ts: Timestamp) -> Timestamp;
    /// Registers a running transaction's read timestamp; returns a token for
    /// [`Sender::unregister`].
    fn register(&self, read_ts: Timestamp) -> u64;
    /// Forgets a registration.
    fn unregister(&self, token: u64);
    /// The node this sender runs on, when requests served there honour observed timestamps
    /// (a cluster node); None on a single node, where nothing is uncertain anyway.
    fn node_id(&self) -> Option<u64> {
        None
    }
}

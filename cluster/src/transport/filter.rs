//! A fault- and latency-injecting layer over any [`Transport`]: simulated geography and
//! failures for in-process clusters and tests, since these machines have no kernel traffic
//! shaping.
//!
//! One [`Filters`] value (cheap to clone, shared) holds the whole network's configuration:
//! - localities: each node's region ([`Filters::set_locality`]);
//! - a symmetric RTT matrix keyed by region pair ([`Filters::set_rtt`]); a message between two
//!   regions is delayed by the one-way delay, RTT/2. Pairs without an entry have no delay;
//! - partitions ([`Filters::partition`] between two node sets, both directions; [`Filters::heal`]
//!   removes them all);
//! - a drop probability for Raft messages, drawn from a seeded xorshift generator so a test
//!   with one seed drops the same share of messages;
//! - a drop rule ([`Filters::set_drop_rule`]): a predicate on each Raft envelope, for tests
//!   that lose one chosen message (a snapshot chunk, say);
//! - per (sender region, destination region) message counters ([`Filters::counts`]), counted
//!   when a message is sent, before any fault applies. A node without a locality counts under
//!   region "";
//! - finer counters by kind ([`Filters::traffic`], see [`super::traffic`]): request/response
//!   calls per (sender node, destination node, operation, range, calling thread), kept apart
//!   from one-way traffic (Raft messages per range and message type, closed-timestamp
//!   notifications). Only calls block anyone, so "a statement waited for no other region" is
//!   "the statement made no cross-region call", while Raft appends to non-voters in other
//!   regions go on in the background.
//!
//! Every node wraps its own transport in a [`FilteredTransport`] that names the node and shares
//! the network's `Filters`.
//!
//! Raft messages never block the sender: delayed ones go to a timer thread (started on first
//! use, stopped when the last `Filters` clone is dropped) that hands them to the inner
//! transport when due; messages due at the same instant keep their send order. Calls model the
//! round trip on the caller's thread: it sleeps the one-way delay before the request and again
//! after the response (RTT in total). A call whose RTT alone exceeds its timeout waits the
//! timeout and fails with [`TransportError::Timeout`], as it would on a slow link.
//!
//! IMPLEMENTATION CAVEATS
//! - A partitioned call fails at once with [`TransportError::Unreachable`] instead of waiting
//!   out its timeout, so tests with partitions stay fast; callers must treat both alike.
//! - Calls are never dropped by the drop probability (only Raft messages are): a lost call is
//!   indistinguishable from a partition, which tests model explicitly.
//! - Partitions and drops are decided when a message is sent; a message already delayed in the
//!   timer thread is still delivered if a partition starts before it is due.
//! - A call to a [`Target::Addr`] whose node is unknown to the filters (no `set_addr` went
//!   through this layer) gets no delay and no partition and counts under destination region "".

use super::traffic::{classify_call, CallKey, CallTrace, Counters, Traffic};
use super::{RaftEnvelope, Target, Transport, TransportError};
use kv::NodeId;
use parking_lot::{Condvar, Mutex};
use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The fault and latency configuration of one simulated network, shared by every node's
/// [`FilteredTransport`]. Cloning shares it.
#[derive(Clone)]
pub struct Filters {
    inner: Arc<FiltersInner>,
}

struct FiltersInner {
    state: Mutex<FilterState>,
    timer: Arc<Timer>,
}

struct FilterState {
    localities: HashMap<NodeId, String>,
    addrs: HashMap<String, NodeId>,
    /// Keyed by the region pair in sorted order (the matrix is symmetric).
    rtt: HashMap<(String, String), Duration>,
    partitions: Vec<(BTreeSet<NodeId>, BTreeSet<NodeId>)>,
    drop_probability: f64,
    drop_rule: Option<DropRule>,
    rng: XorShift,
    counts: BTreeMap<(String, String), u64>,
    traffic: Counters,
    raft_dropped: u64,
}

/// A test's rule for dropping Raft envelopes ([`Filters::set_drop_rule`]).
pub type DropRule = Arc<dyn Fn(&RaftEnvelope) -> bool + Send + Sync>;

/// What the filters decided for one message.
enum Verdict {
    Deliver(Duration),
    Blocked,
}

impl Filters {
    /// A network with no latency, no partitions and no loss; `seed` seeds the drop generator.
    pub fn new(seed: u64) -> Self {
        Filters {
            inner: Arc::new(FiltersInner {
                state: Mutex::new(FilterState {
                    localities: HashMap::new(),
                    addrs: HashMap::new(),
                    rtt: HashMap::new(),
                    partitions: Vec::new(),
                    drop_probability: 0.0,
                    drop_rule: None,
                    rng: XorShift::new(seed),
                    counts: BTreeMap::new(),
                    traffic: Counters::default(),
                    raft_dropped: 0,
                }),
                timer: Arc::new(Timer::default()),
            }),
        }
    }

    /// Places `node` in `region` (its locality's `region=` tier).
    pub fn set_locality(&self, node: NodeId, region: impl Into<String>) {
        self.inner
            .state
            .lock()
            .localities
            .insert(node, region.into());
    }

    /// Sets the round-trip time between regions `a` and `b` (both directions; `a == b` sets
    /// the latency inside one region).
    pub fn set_rtt(&self, a: &str, b: &str, rtt: Duration) {
        self.inner.state.lock().rtt.insert(region_pair(a, b), rtt);
    }

    /// The round-trip time between two regions (zero when not set).
    pub fn rtt(&self, a: &str, b: &str) -> Duration {
        let st = self.inner.state.lock();
        st.rtt.get(&region_pair(a, b)).copied().unwrap_or_default()
    }

    /// Cuts every link between a node of `a` and a node of `b`, in both directions. Several
    /// partitions add up; [`Filters::heal`] removes them all.
    pub fn partition(&self, a: &[NodeId], b: &[NodeId]) {
        let a: BTreeSet<NodeId> = a.iter().copied().collect();
        let b: BTreeSet<NodeId> = b.iter().copied().collect();
        self.inner.state.lock().partitions.push((a, b));
    }

    /// Removes all partitions.
    pub fn heal(&self) {
        self.inner.state.lock().partitions.clear();
    }

    /// Drops each Raft message with probability `p` (clamped to 0..=1).
    pub fn set_drop_probability(&self, p: f64) {
        self.inner.state.lock().drop_probability = p.clamp(0.0, 1.0);
    }

    /// Drops every Raft envelope for which `rule` returns true (None: no rule). The rule runs
    /// under the filters' lock: it must not call back into them.
    pub fn set_drop_rule(&self, rule: Option<DropRule>) {
        self.inner.state.lock().drop_rule = rule;
    }

    /// Messages sent per (sender region, destination region) since creation or the last
    /// [`Filters::reset_counts`]: each Raft envelope and each call counts once, faults or not.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.inner.state.lock().counts.clone()
    }

    /// Clears the message counters (those of [`Filters::traffic`] too).
    pub fn reset_counts(&self) {
        let mut st = self.inner.state.lock();
        st.counts.clear();
        st.traffic.clear();
    }

    /// The traffic since creation or the last [`Filters::reset_counts`], by kind: calls per
    /// (sender, destination, operation, range, thread), Raft messages per (sender,
    /// destination, range, type), with every node's region. Take two snapshots and subtract
    /// them ([`Traffic::since`]) to measure one operation.
    pub fn traffic(&self) -> Traffic {
        let st = self.inner.state.lock();
        Traffic {
            regions: st.localities.iter().map(|(n, r)| (*n, r.clone())).collect(),
            calls: st.traffic.calls.clone(),
            raft: st.traffic.raft.clone(),
        }
    }

    /// Raft messages dropped so far by partitions or the drop probability.
    pub fn raft_dropped(&self) -> u64 {
        self.inner.state.lock().raft_dropped
    }

    /// The most recent cross-region request/response calls (at most
    /// [`super::traffic::TRACE_CAPACITY`], oldest first), with their routing keys: which call
    /// a test's count came from.
    pub fn recent_cross_region_calls(&self) -> Vec<CallTrace> {
        self.inner
            .state
            .lock()
            .traffic
            .recent
            .iter()
            .cloned()
            .collect()
    }

    fn record_addr(&self, node: NodeId, addr: &str) {
        self.inner.state.lock().addrs.insert(addr.to_string(), node);
    }

    fn node_at(&self, to: &Target) -> Option<NodeId> {
        match to {
            Target::Node(n) => Some(*n),
            Target::Addr(a) => self.inner.state.lock().addrs.get(a).copied(),
        }
    }
}

impl FilterState {
    fn region(&self, node: NodeId) -> String {
        self.localities.get(&node).cloned().unwrap_or_default()
    }

    fn partitioned(&self, from: NodeId, to: NodeId) -> bool {
        self.partitions.iter().any(|(a, b)| {
            (a.contains(&from) && b.contains(&to)) || (b.contains(&from) && a.contains(&to))
        })
    }

    /// Counts one message from `from` to `to` and decides its fate; the duration is the RTT.
    fn judge(&mut self, from: NodeId, to: Option<NodeId>) -> Verdict {
        let from_region = self.region(from);
        let to_region = to.map(|n| self.region(n)).unwrap_or_default();
        let rtt = self
            .rtt
            .get(&region_pair(&from_region, &to_region))
            .copied()
            .unwrap_or_default();
        *self.counts.entry((from_region, to_region)).or_default() += 1;
        match to {
            Some(to) if self.partitioned(from, to) => Verdict::Blocked,
            _ => Verdict::Deliver(rtt),
        }
    }

    fn maybe_drop(&mut self) -> bool {
        self.drop_probability > 0.0 && self.rng.next_f64() < self.drop_probability
    }
}

fn region_pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// One node's transport seen through the network's [`Filters`].
pub struct FilteredTransport {
    node: NodeId,
    inner: Arc<dyn Transport>,
    filters: Filters,
}

impl FilteredTransport {
    /// Wraps `inner`, the transport of `node`, in the network's `filters`.
    pub fn new(node: NodeId, inner: Arc<dyn Transport>, filters: Filters) -> Self {
        FilteredTransport {
            node,
            inner,
            filters,
        }
    }

    /// The shared filters (also reachable through the methods below).
    pub fn filters(&self) -> &Filters {
        &self.filters
    }

    /// See [`Filters::set_locality`].
    pub fn set_locality(&self, node: NodeId, region: impl Into<String>) {
        self.filters.set_locality(node, region);
    }

    /// See [`Filters::partition`].
    pub fn partition(&self, a: &[NodeId], b: &[NodeId]) {
        self.filters.partition(a, b);
    }

    /// See [`Filters::heal`].
    pub fn heal(&self) {
        self.filters.heal();
    }

    /// See [`Filters::counts`].
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.filters.counts()
    }
}

impl Transport for FilteredTransport {
    fn send_raft(&self, batch: Vec<RaftEnvelope>) {
        let mut now_batch = Vec::new();
        let mut delayed: BTreeMap<(Duration, NodeId), Vec<RaftEnvelope>> = BTreeMap::new();
        {
            let mut st = self.filters.inner.state.lock();
            for env in batch {
                st.traffic.count_raft(&env);
                match st.judge(self.node, Some(env.to)) {
                    Verdict::Blocked => st.raft_dropped += 1,
                    Verdict::Deliver(_) if st.maybe_drop() => st.raft_dropped += 1,
                    Verdict::Deliver(_) if st.drop_rule.as_ref().is_some_and(|r| r(&env)) => {
                        st.raft_dropped += 1
                    }
                    Verdict::Deliver(rtt) if rtt.is_zero() => now_batch.push(env),
                    Verdict::Deliver(rtt) => {
                        delayed.entry((rtt / 2, env.to)).or_default().push(env)
                    }
                }
            }
        }
        if !now_batch.is_empty() {
            self.inner.send_raft(now_batch);
        }
        let now = Instant::now();
        for ((delay, _), envs) in delayed {
            self.filters
                .inner
                .timer
                .schedule(now + delay, self.inner.clone(), envs);
        }
    }

    fn call(
        &self,
        to: &Target,
        req: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let dest = self.filters.node_at(to);
        let node = dest.unwrap_or(NodeId(0));
        let call = classify_call(&req);
        let key = CallKey {
            from: self.node,
            to: node,
            op: call.op,
            range: call.range,
            thread: std::thread::current().name().unwrap_or("").to_string(),
        };
        let verdict = {
            let mut st = self.filters.inner.state.lock();
            let cross = st.region(self.node) != st.region(node);
            st.traffic
                .count_call(key, cross && !call.is_notification(), call.key);
            st.judge(self.node, dest)
        };
        let rtt = match verdict {
            Verdict::Blocked => {
                return Err(TransportError::Unreachable {
                    node,
                    detail: "partitioned (injected fault)".to_string(),
                })
            }
            Verdict::Deliver(rtt) => rtt,
        };
        if rtt >= timeout {
            std::thread::sleep(timeout);
            return Err(TransportError::Timeout(node));
        }
        let there = rtt / 2;
        std::thread::sleep(there);
        let result = self.inner.call(to, req, timeout - rtt);
        std::thread::sleep(rtt - there);
        result
    }

    fn set_addr(&self, node: NodeId, addr: String) {
        self.filters.record_addr(node, &addr);
        self.inner.set_addr(node, addr);
    }
}

impl Drop for FiltersInner {
    fn drop(&mut self) {
        self.timer.shutdown();
    }
}

/// Delivers delayed Raft batches when due, on one thread per [`Filters`].
#[derive(Default)]
struct Timer {
    state: Mutex<TimerState>,
    wake: Condvar,
}

#[derive(Default)]
struct TimerState {
    queue: BinaryHeap<Reverse<Pending>>,
    next_seq: u64,
    started: bool,
    shutdown: bool,
}

struct Pending {
    at: Instant,
    seq: u64,
    transport: Arc<dyn Transport>,
    batch: Vec<RaftEnvelope>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl Timer {
    fn schedule(
        self: &Arc<Self>,
        at: Instant,
        transport: Arc<dyn Transport>,
        batch: Vec<RaftEnvelope>,
    ) {
        let mut st = self.state.lock();
        if st.shutdown {
            return;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.queue.push(Reverse(Pending {
            at,
            seq,
            transport,
            batch,
        }));
        if !st.started {
            st.started = true;
            let timer = self.clone();
            let spawned = std::thread::Builder::new()
                .name("transport-delay".to_string())
                .spawn(move || timer.run());
            if spawned.is_err() {
                // No thread, no delays: deliver nothing rather than block the sender; Raft
                // retransmits. Allow a later send to try again.
                st.started = false;
                st.queue.clear();
            }
        }
        drop(st);
        self.wake.notify_one();
    }

    fn run(&self) {
        let mut st = self.state.lock();
        while !st.shutdown {
            let now = Instant::now();
            let due = st.queue.peek().map(|Reverse(p)| p.at);
            match due {
                Some(at) if at <= now => {
                    if let Some(Reverse(p)) = st.queue.pop() {
                        drop(st);
                        p.transport.send_raft(p.batch);
                        st = self.state.lock();
                    }
                }
                Some(at) => {
                    self.wake.wait_until(&mut st, at);
                }
                None => self.wake.wait(&mut st),
            }
        }
        st.queue.clear();
    }

    fn shutdown(&self) {
        self.state.lock().shutdown = true;
        self.wake.notify_all();
    }
}

/// xorshift64*: a tiny seeded generator, enough for drop decisions (no new dependency).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's fixed point; mix the seed so small seeds differ well.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::tests::{env, Recorder};
    use crate::transport::local::LocalNetwork;

    const T: Duration = Duration::from_secs(5);

    /// Three nodes on one local network, each behind a filter.
    fn cluster(f: &Filters) -> (LocalNetwork, Vec<Arc<Recorder>>, Vec<FilteredTransport>) {
        let net = LocalNetwork::new();
        let mut recs = Vec::new();
        let mut ts = Vec::new();
        for i in 1..=3u64 {
            let r = Recorder::new(&format!("n{i}"));
            net.register(NodeId(i), format!("n{i}:1"), r.clone());
            recs.push(r);
            let inner: Arc<dyn Transport> = net.transport(NodeId(i));
            ts.push(FilteredTransport::new(NodeId(i), inner, f.clone()));
        }
        (net, recs, ts)
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn partition_blocks_both_directions_until_healed() {
        let f = Filters::new(1);
        let (_net, recs, ts) = cluster(&f);
        f.partition(&[NodeId(1)], &[NodeId(2), NodeId(3)]);
        ts[0].send_raft(vec![env(1, 1, 2, b"a"), env(1, 1, 3, b"b")]);
        ts[1].send_raft(vec![env(1, 2, 1, b"c"), env(1, 2, 3, b"d")]);
        assert_eq!(recs[0].raft_len(), 0);
        assert_eq!(recs[1].raft_len(), 0);
        assert_eq!(recs[2].raft_len(), 1, "2 -> 3 is on the same side");
        assert_eq!(f.raft_dropped(), 3);
        for (from, to) in [(0usize, 2u64), (1, 1)] {
            let r = ts[from].call(&Target::Node(NodeId(to)), vec![], T);
            assert!(
                matches!(r, Err(TransportError::Unreachable { .. })),
                "{r:?}"
            );
        }
        assert_eq!(
            ts[1].call(&Target::Node(NodeId(3)), b"x".to_vec(), T),
            Ok(b"n3:x".to_vec())
        );
        ts[0].heal();
        assert_eq!(
            ts[0].call(&Target::Node(NodeId(2)), b"y".to_vec(), T),
            Ok(b"n2:y".to_vec())
        );
        ts[1].send_raft(vec![env(1, 2, 1, b"c")]);
        assert_eq!(recs[0].raft_len(), 1);
    }

    #[test]
    fn a_drop_rule_loses_only_the_messages_it_names() {
        let f = Filters::new(1);
        let (_net, recs, ts) = cluster(&f);
        f.set_drop_rule(Some(Arc::new(|e: &RaftEnvelope| e.msg == b"lost")));
        ts[0].send_raft(vec![
            env(1, 1, 2, b"a"),
            env(1, 1, 2, b"lost"),
            env(1, 1, 2, b"b"),
        ]);
        let got: Vec<Vec<u8>> = recs[1].raft.lock().iter().map(|e| e.msg.clone()).collect();
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(f.raft_dropped(), 1);
        f.set_drop_rule(None);
        ts[0].send_raft(vec![env(1, 1, 2, b"lost")]);
        assert_eq!(recs[1].raft_len(), 3);
    }

    #[test]
    fn counts_per_region_pair() {
        let f = Filters::new(1);
        let (_net, _recs, ts) = cluster(&f);
        ts[0].set_locality(NodeId(1), "us");
        f.set_locality(NodeId(2), "us");
        f.set_locality(NodeId(3), "eu");
        ts[0].send_raft(vec![
            env(1, 1, 2, b""),
            env(1, 1, 2, b""),
            env(1, 1, 3, b""),
        ]);
        ts[2].call(&Target::Node(NodeId(1)), vec![], T).unwrap();
        ts[1].set_addr(NodeId(3), "n3:1".into());
        ts[1].call(&Target::Addr("n3:1".into()), vec![], T).unwrap();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        let want: BTreeMap<_, _> = [
            (pair("us", "us"), 2),
            (pair("us", "eu"), 2),
            (pair("eu", "us"), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(f.counts(), want);
        f.reset_counts();
        ts[0].send_raft(vec![env(1, 1, 2, b"")]);
        assert!(
            !f.counts().keys().any(|(a, b)| a != b),
            "no cross-region message"
        );
    }

    #[test]
    fn traffic_keeps_calls_apart_from_raft_and_notifications() {
        use crate::rpc::NodeRequest;
        let f = Filters::new(1);
        let (_net, _recs, ts) = cluster(&f);
        f.set_locality(NodeId(1), "us");
        f.set_locality(NodeId(2), "us");
        f.set_locality(NodeId(3), "eu");
        let before = f.traffic();
        ts[0].send_raft(vec![env(4, 1, 3, b"\x08\x03"), env(4, 1, 2, b"\x08\x08")]);
        let lookup = crate::desc::encode(&NodeRequest::Lookup { key: b"k".to_vec() });
        ts[0].call(&Target::Node(NodeId(3)), lookup, T).unwrap();
        let closed = crate::desc::encode(&NodeRequest::Closed {
            from: NodeId(1),
            updates: vec![],
        });
        std::thread::scope(|sc| {
            std::thread::Builder::new()
                .name("closedts-send".into())
                .spawn_scoped(sc, || ts[0].call(&Target::Node(NodeId(3)), closed, T))
                .unwrap()
                .join()
                .unwrap()
                .unwrap();
        });
        let d = f.traffic().since(&before);
        let cross = d.cross_region_calls();
        assert_eq!(cross.len(), 1, "{cross:?}");
        assert_eq!(cross[0].0.op, "Lookup");
        assert_eq!(d.foreground_cross_region_call_count(), 1);
        let log = f.recent_cross_region_calls();
        assert_eq!(log.len(), 1, "notifications are not logged: {log:?}");
        assert_eq!(log[0].key.op, "Lookup");
        let notes: Vec<_> = d.calls.keys().filter(|k| k.is_notification()).collect();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].thread, "closedts-send");
        let raft = d.raft_by_region_pair();
        assert_eq!(raft.get(&("us".into(), "eu".into(), "MsgAppend")), Some(&1));
        assert_eq!(
            raft.get(&("us".into(), "us".into(), "MsgHeartbeat")),
            Some(&1)
        );
        f.reset_counts();
        assert_eq!(f.traffic().calls.len(), 0);
        assert!(f.recent_cross_region_calls().is_empty());
    }

    #[test]
    fn latency_applies_to_calls_and_raft_without_blocking_the_sender() {
        let f = Filters::new(1);
        let (_net, recs, ts) = cluster(&f);
        f.set_locality(NodeId(1), "us");
        f.set_locality(NodeId(2), "eu");
        f.set_locality(NodeId(3), "us");
        let rtt = Duration::from_millis(200);
        f.set_rtt("eu", "us", rtt);
        assert_eq!(f.rtt("us", "eu"), rtt);

        let start = Instant::now();
        assert_eq!(
            ts[0].call(&Target::Node(NodeId(2)), b"q".to_vec(), T),
            Ok(b"n2:q".to_vec())
        );
        assert!(start.elapsed() >= rtt, "call took {:?}", start.elapsed());

        let start = Instant::now();
        ts[0].send_raft(vec![env(1, 1, 2, b"late"), env(1, 1, 3, b"now")]);
        assert_eq!(
            recs[2].raft_len(),
            1,
            "same-region message is delivered at once"
        );
        assert_eq!(recs[1].raft_len(), 0);
        assert!(
            start.elapsed() < rtt / 2,
            "send_raft must not wait out the delay"
        );
        wait_until("delayed raft message", || recs[1].raft_len() == 1);
        assert!(
            start.elapsed() >= rtt / 2,
            "delivered after {:?}",
            start.elapsed()
        );

        // A round trip longer than the call's timeout times out.
        let r = ts[0].call(&Target::Node(NodeId(2)), vec![], Duration::from_millis(10));
        assert_eq!(r, Err(TransportError::Timeout(NodeId(2))));
    }

    #[test]
    fn seeded_drops_are_reproducible() {
        let run = |seed: u64| {
            let f = Filters::new(seed);
            let (_net, recs, ts) = cluster(&f);
            f.set_drop_probability(0.5);
            for i in 0..200u8 {
                ts[0].send_raft(vec![env(1, 1, 2, &[i])]);
            }
            let got: Vec<u8> = recs[1].raft.lock().iter().map(|e| e.msg[0]).collect();
            (got, f.raft_dropped())
        };
        let (a, dropped) = run(42);
        assert_eq!(run(42).0, a);
        assert!((50..150).contains(&dropped), "dropped {dropped} of 200");
        assert_eq!(a.len() as u64 + dropped, 200);
        assert_ne!(run(43).0, a);
    }
}

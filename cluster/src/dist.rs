//! The distributed sender: routes each request to the leaseholder of the range that holds its
//! key, anywhere in the cluster, and implements the transaction coordinator's
//! [`txn::sender::Sender`].
//!
//! Routing uses a cache of range descriptors (filled by lookups at range 1's leaseholder,
//! which keeps the meta records) and a cache of leaseholders. A request that reaches the wrong
//! node is retried: `NotLeaseholder` names the holder to try next; a key mismatch (the range
//! split) evicts the cached descriptor and looks it up again; an unreachable node is skipped
//! for the next replica. Retries back off up to [`ROUTE_DEADLINE`], then the request fails
//! with `Unavailable` (SQLSTATE XXUUU). A commit whose response is lost to a timeout is
//! reported ambiguous (40003), never retried.

use crate::desc::{self, NodeRecord, RangeDescriptor};
use crate::rpc::{NodeRequest, NodeResponse, NodeService, WireError};
use crate::store::Store;
use crate::transport::{Target, Transport, TransportError};
use kv::{Clock, NodeId, RangeId, Timestamp};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use txn::api::{Header, Request, Response};
use txn::range::Router;
use txn::sender::Sender;

/// How long a request keeps retrying through routing errors and unavailable ranges.
pub const ROUTE_DEADLINE: Duration = Duration::from_secs(20);
/// Timeout of one node-to-node call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// First and largest pause between routing attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// A read whose uncertainty window ends this long ago is below every ordinary range's
/// closed timestamp (lag 3 s, republished every second) and goes to the nearest replica;
/// `follower_read_timestamp()` (4.8 s ago) qualifies.
const FOLLOWER_READ_AGE_MS: u64 = 4_300;
/// How often a follower read may look up again a range whose cached descriptor has no
/// replica near this node.
const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// The node's router to every range.
pub struct DistSender {
    node_id: NodeId,
    store: Arc<Store>,
    service: Arc<NodeService>,
    transport: Arc<dyn Transport>,
    clock: Arc<Clock>,
    /// Cached descriptors by start key.
    cache: RwLock<BTreeMap<Vec<u8>, RangeDescriptor>>,
    leaseholders: RwLock<HashMap<RangeId, NodeId>>,
    /// When a follower read last looked a range up again because its cached descriptor had
    /// no replica near this node (see [`Self::recheck_for_follower`]).
    rechecked: RwLock<HashMap<RangeId, Instant>>,
    /// Nodes to ask when nothing better is known (range 1 lookups).
    nodes: RwLock<BTreeMap<NodeId, String>>,
    active: Mutex<(u64, BTreeMap<u64, Timestamp>)>,
    span_configs: crate::spancfg::SpanConfigCache,
    /// Each node's `region` locality tier, from the node records.
    regions: RwLock<HashMap<NodeId, String>>,
}

enum Attempt<T> {
    Done(T),
    Retry,
    Fail(txn::Error),
}

impl DistSender {
    /// A sender for node `node_id`.
    pub fn new(
        node_id: NodeId,
        store: Arc<Store>,
        service: Arc<NodeService>,
        transport: Arc<dyn Transport>,
    ) -> Arc<DistSender> {
        let clock = store.clock().clone();
        Arc::new(DistSender {
            node_id,
            store,
            service,
            transport,
            clock,
            cache: RwLock::new(BTreeMap::new()),
            leaseholders: RwLock::new(HashMap::new()),
            rechecked: RwLock::new(HashMap::new()),
            nodes: RwLock::new(BTreeMap::new()),
            active: Mutex::new((0, BTreeMap::new())),
            span_configs: Default::default(),
            regions: RwLock::new(HashMap::new()),
        })
    }

    /// The local store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The current copy of the span configs, without refreshing it.
    pub fn span_configs_cached(&self) -> Arc<txn::zone::SpanConfigs> {
        self.span_configs.peek()
    }

    /// The span configs written by multi-region SQL (a copy at most a few seconds old).
    pub fn span_configs(self: &Arc<Self>) -> Arc<txn::zone::SpanConfigs> {
        self.span_configs.get(self)
    }

    /// Remembers a node (and its address) to route to.
    pub fn add_node(&self, node: NodeId, addr: &str) {
        if node != self.node_id {
            self.transport.set_addr(node, addr.to_string());
        }
        self.nodes.write().insert(node, addr.to_string());
    }

    /// The nodes this sender knows, with their addresses.
    pub fn known_nodes(&self) -> Vec<(NodeId, String)> {
        self.nodes
            .read()
            .iter()
            .map(|(n, a)| (*n, a.clone()))
            .collect()
    }

    /// Calls `node` (this node directly, others over the transport).
    pub fn call(&self, node: NodeId, req: NodeRequest) -> Result<NodeResponse, TransportError> {
        if node == self.node_id {
            return Ok(self.service.call_local(req));
        }
        let raw = self
            .transport
            .call(&Target::Node(node), desc::encode(&req), CALL_TIMEOUT)?;
        desc::decode(&raw).map_err(|e| TransportError::Unreachable {
            node,
            detail: format!("bad response: {e}"),
        })
    }

    /// Calls the node at a gRPC address (join addresses, before node ids are known).
    pub fn call_addr(&self, addr: &str, req: NodeRequest) -> Result<NodeResponse, TransportError> {
        let raw = self.transport.call(
            &Target::Addr(addr.to_string()),
            desc::encode(&req),
            CALL_TIMEOUT,
        )?;
        desc::decode(&raw).map_err(|e| TransportError::Unreachable {
            node: NodeId(0),
            detail: format!("bad response: {e}"),
        })
    }

    fn cached(&self, key: &[u8]) -> Option<RangeDescriptor> {
        let cache = self.cache.read();
        cache
            .range(..=key.to_vec())
            .next_back()
            .map(|(_, d)| d)
            .filter(|d| d.contains(key))
            .cloned()
    }

    fn insert(&self, d: RangeDescriptor) {
        let mut cache = self.cache.write();
        // Drop every cached descriptor the new one overlaps (older views of the span).
        let stale: Vec<Vec<u8>> = cache
            .values()
            .filter(|c| c.overlaps(&d))
            .map(|c| c.start.clone())
            .collect();
        for s in stale {
            cache.remove(&s);
        }
        cache.insert(d.start.clone(), d);
    }

    fn evict(&self, d: &RangeDescriptor) {
        let mut cache = self.cache.write();
        if cache
            .get(&d.start)
            .is_some_and(|c| c.generation <= d.generation)
        {
            cache.remove(&d.start);
        }
    }

    /// Candidate nodes for range 1 (meta lookups, counters, node records).
    fn meta_nodes(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        if let Some(n) = self.leaseholders.read().get(&RangeId(1)) {
            out.push(*n);
        }
        if self.store.replica(RangeId(1)).is_some() {
            out.push(self.node_id);
        }
        if let Some(d) = self.cached(&[]) {
            out.extend(d.replicas.iter().map(|r| r.node_id));
        }
        out.extend(self.nodes.read().keys().copied());
        let mut seen = BTreeSet::new();
        out.retain(|n| seen.insert(*n));
        out
    }

    /// Sends a request to range 1's leaseholder, following hints.
    fn call_meta<T>(
        &self,
        req: impl Fn() -> NodeRequest,
        extract: impl Fn(NodeResponse) -> Option<Result<T, WireError>>,
    ) -> Result<T, txn::Error> {
        let deadline = Instant::now() + ROUTE_DEADLINE;
        let mut backoff = BACKOFF_MIN;
        let mut last = String::from("no node known");
        loop {
            let mut queue = self.meta_nodes();
            let mut tried = BTreeSet::new();
            while let Some(n) = queue.first().copied() {
                queue.remove(0);
                if !tried.insert(n) {
                    continue;
                }
                match self.call(n, req()).map(&extract) {
                    Ok(Some(Ok(v))) => {
                        self.leaseholders.write().insert(RangeId(1), n);
                        return Ok(v);
                    }
                    Ok(Some(Err(WireError::NotLeaseholder(Some(h))))) => {
                        last = format!("{n}: not leaseholder");
                        queue.insert(0, h);
                    }
                    Ok(Some(Err(
                        e @ (WireError::NotLeaseholder(None)
                        | WireError::Unavailable(_)
                        | WireError::Mismatch(_)),
                    ))) => {
                        last = format!("{n}: {e:?}");
                    }
                    Ok(Some(Err(e))) => return Err(e.into_txn()),
                    Ok(None) => last = format!("{n}: unexpected response"),
                    Err(e) => last = e.to_string(),
                }
            }
            if Instant::now() >= deadline {
                return Err(txn::Error::Unavailable(format!(
                    "range 1 (addressing) unreachable: {last}"
                )));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// The descriptor of the range holding `key`.
    pub fn lookup(&self, key: &[u8]) -> Result<RangeDescriptor, txn::Error> {
        if let Some(d) = self.cached(key) {
            return Ok(d);
        }
        let d = self.call_meta(
            || NodeRequest::Lookup { key: key.to_vec() },
            |r| match r {
                NodeResponse::Lookup(x) => Some(x),
                _ => None,
            },
        )?;
        self.insert(d.clone());
        Ok(d)
    }

    /// Sends a request for `key` to its range's leaseholder, retrying through routing errors.
    fn send_to_key<T>(
        &self,
        key: &[u8],
        ambiguous_on_timeout: bool,
        follower: bool,
        req: impl Fn(RangeId) -> NodeRequest,
        extract: impl Fn(NodeResponse) -> Option<Result<T, WireError>>,
    ) -> Result<T, txn::Error> {
        let deadline = Instant::now() + ROUTE_DEADLINE;
        let mut backoff = BACKOFF_MIN;
        loop {
            let mut d = self.lookup(key)?;
            if follower {
                d = self.recheck_for_follower(key, d)?;
            }
            match self.try_range(&d, ambiguous_on_timeout, follower, &req, &extract) {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry => {}
            }
            if Instant::now() >= deadline {
                return Err(txn::Error::Unavailable(format!(
                    "no replica of {} could serve the request within {ROUTE_DEADLINE:?}",
                    d.range_id
                )));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// A follower read whose cached descriptor has no replica near this node looks the range
    /// up again, at most once per [`RECHECK_EVERY`] per range: the descriptor may predate
    /// placement (a replica added in this region since), and nothing else would correct it,
    /// since the leaseholder, far away, keeps serving the reads without an error.
    fn recheck_for_follower(
        &self,
        key: &[u8],
        d: RangeDescriptor,
    ) -> Result<RangeDescriptor, txn::Error> {
        if self.nearest_replica(&d).is_some() || self.regions.read().is_empty() {
            return Ok(d);
        }
        let now = Instant::now();
        {
            let mut rechecked = self.rechecked.write();
            let due = rechecked
                .get(&d.range_id)
                .is_none_or(|t| now.duration_since(*t) >= RECHECK_EVERY);
            if !due {
                return Ok(d);
            }
            rechecked.insert(d.range_id, now);
        }
        self.evict(&d);
        self.lookup(key)
    }

    fn try_range<T>(
        &self,
        d: &RangeDescriptor,
        ambiguous_on_timeout: bool,
        follower: bool,
        req: &impl Fn(RangeId) -> NodeRequest,
        extract: &impl Fn(NodeResponse) -> Option<Result<T, WireError>>,
    ) -> Attempt<T> {
        let mut queue: Vec<NodeId> = Vec::new();
        // A follower read goes to the nearest replica first; it answers NotLeaseholder when
        // it cannot serve, and the request continues to the leaseholder.
        let nearest = follower.then(|| self.nearest_replica(d)).flatten();
        queue.extend(nearest);
        if let Some(n) = self.leaseholders.read().get(&d.range_id) {
            queue.push(*n);
        }
        if d.replica_on(self.node_id).is_some() {
            queue.push(self.node_id);
        }
        queue.extend(d.replicas.iter().map(|r| r.node_id));
        let mut tried = BTreeSet::new();
        while !queue.is_empty() {
            let n = queue.remove(0);
            if !tried.insert(n) {
                continue;
            }
            match self.call(n, req(d.range_id)).map(extract) {
                Ok(Some(Ok(v))) => {
                    if nearest != Some(n) {
                        self.leaseholders.write().insert(d.range_id, n);
                    }
                    return Attempt::Done(v);
                }
                Ok(Some(Err(WireError::NotLeaseholder(hint)))) => {
                    if let Some(h) = hint.filter(|h| d.replica_on(*h).is_some()) {
                        self.leaseholders.write().insert(d.range_id, h);
                        queue.insert(0, h);
                    } else if hint.is_some() {
                        // The holder is not in our descriptor: it is stale.
                        self.evict(d);
                        return Attempt::Retry;
                    }
                }
                Ok(Some(Err(WireError::Mismatch(found)))) => {
                    self.evict(d);
                    if let Some(f) = found {
                        self.insert(f);
                    }
                    return Attempt::Retry;
                }
                Ok(Some(Err(WireError::Unavailable(_)))) => {}
                Ok(Some(Err(e))) => return Attempt::Fail(e.into_txn()),
                Ok(None) => {
                    return Attempt::Fail(txn::Error::Internal("unexpected response".into()))
                }
                Err(TransportError::Timeout(node)) if ambiguous_on_timeout => {
                    return Attempt::Fail(txn::Error::Ambiguous(format!(
                        "the commit was sent to {node} but no answer came within {CALL_TIMEOUT:?}"
                    )))
                }
                Err(_) => {
                    self.leaseholders.write().remove(&d.range_id);
                }
            }
        }
        // Nobody served it: the descriptor may be stale too.
        self.evict(d);
        Attempt::Retry
    }

    /// Whether a request may be served by a replica other than the leaseholder: a plain
    /// read old enough to be below ordinary ranges' closed timestamps, or any plain read of a
    /// range whose span config asks for global reads (crate::closedts).
    fn follower_readable(&self, h: &Header, req: &Request, key: &[u8]) -> bool {
        if !matches!(
            req,
            Request::Get { lock: None, .. }
                | Request::GetMany { .. }
                | Request::Scan { lock: None, .. }
        ) {
            return false;
        }
        let limit = h.uncertainty_limit.max(h.read_ts).physical_ms();
        let old_enough = limit + FOLLOWER_READ_AGE_MS < self.clock.peek().physical_ms();
        old_enough
            || self
                .span_configs
                .peek()
                .lookup(key)
                .is_some_and(|c| c.global_reads)
    }

    /// The regions of the cluster's nodes (as of the last node-record read), sorted.
    pub fn cluster_regions(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.regions.read().values().cloned().collect();
        set.into_iter().collect()
    }

    /// This node's replica of `d`, or else one in this node's region (None: none nearby).
    fn nearest_replica(&self, d: &RangeDescriptor) -> Option<NodeId> {
        if d.replica_on(self.node_id).is_some() {
            return Some(self.node_id);
        }
        let regions = self.regions.read();
        let mine = regions.get(&self.node_id)?;
        d.replicas
            .iter()
            .find(|r| regions.get(&r.node_id) == Some(mine))
            .map(|r| r.node_id)
    }

    /// Allocates the next value of a counter in range 1.
    pub fn alloc_id(&self, key: Vec<u8>) -> Result<u64, txn::Error> {
        self.call_meta(
            || NodeRequest::AllocId { key: key.clone() },
            |r| match r {
                NodeResponse::Id(x) => Some(x),
                _ => None,
            },
        )
    }

    /// Writes addressing records in range 1.
    pub fn meta_write(&self, ops: Vec<kv::engine::BatchOp>) -> Result<(), txn::Error> {
        self.call_meta(
            || NodeRequest::MetaWrite { ops: ops.clone() },
            |r| match r {
                NodeResponse::Done(x) => Some(x),
                _ => None,
            },
        )
    }

    /// The node records in range 1.
    pub fn node_records(&self) -> Result<Vec<NodeRecord>, txn::Error> {
        let nodes = self.call_meta(
            || NodeRequest::Nodes,
            |r| match r {
                NodeResponse::Nodes(x) => Some(x),
                _ => None,
            },
        )?;
        let mut regions = HashMap::new();
        for n in &nodes {
            self.add_node(n.node_id, &n.addr);
            if let Some((_, r)) = n.locality.iter().find(|(k, _)| k == "region") {
                regions.insert(n.node_id, r.clone());
            }
        }
        *self.regions.write() = regions;
        Ok(nodes)
    }

    /// Splits the range holding `key` at `key` and updates the addressing records.
    pub fn split(&self, key: &[u8]) -> Result<(), txn::Error> {
        if let Some(d) = self.cached(key) {
            if d.start == key {
                return Ok(());
            }
        }
        let new_range = RangeId(self.alloc_id(desc::range_id_counter_key())?);
        let split = self.send_to_key(
            key,
            false,
            false,
            |_| NodeRequest::Split {
                key: key.to_vec(),
                new_range,
            },
            |r| match r {
                NodeResponse::Split(x) => Some(x),
                _ => None,
            },
        )?;
        if let Some((lhs, rhs)) = split {
            if lhs.range_id != RangeId(1) {
                self.meta_write(vec![
                    (desc::meta_key(lhs.end.as_deref()), Some(desc::encode(&lhs))),
                    (desc::meta_key(rhs.end.as_deref()), Some(desc::encode(&rhs))),
                ])?;
            }
            tracing::info!(left = %lhs.range_id, right = %rhs.range_id, "range split");
            self.insert(lhs);
            self.insert(rhs);
        }
        Ok(())
    }

    /// Every range descriptor (from the meta records), in key order.
    pub fn all_ranges(&self) -> Result<Vec<RangeDescriptor>, txn::Error> {
        let all = self.call_meta(
            || NodeRequest::Ranges,
            |r| match r {
                NodeResponse::Ranges(x) => Some(x),
                _ => None,
            },
        )?;
        // The listing is one consistent scan of the meta records: it replaces the cache.
        *self.cache.write() = all.iter().map(|d| (d.start.clone(), d.clone())).collect();
        Ok(all)
    }
}

impl Router for DistSender {
    fn route(&self, h: &Header, req: &Request) -> txn::Result<Response> {
        let key = txn::store::routing_key(h, req)?.to_vec();
        let commit = matches!(req, Request::EndTxn { commit: true, .. });
        let follower = self.follower_readable(h, req, &key);
        self.send_to_key(
            &key,
            commit,
            follower,
            |range| NodeRequest::Batch {
                range,
                key: key.clone(),
                header: h.clone(),
                request: req.clone(),
                gateway: self.node_id,
            },
            |r| match r {
                NodeResponse::Batch(x) => Some(x),
                _ => None,
            },
        )
    }
}

impl Sender for DistSender {
    fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    fn range_of(&self, key: &[u8]) -> u64 {
        self.lookup(key).map(|d| d.range_id.0).unwrap_or(u64::MAX)
    }

    fn uncertainty_limit(&self, read_ts: Timestamp) -> Timestamp {
        Timestamp::from_parts(read_ts.physical_ms() + self.clock.max_offset_ms(), 0)
    }

    fn register(&self, read_ts: Timestamp) -> u64 {
        let mut a = self.active.lock();
        a.0 += 1;
        let t = a.0;
        a.1.insert(t, read_ts);
        t
    }

    fn unregister(&self, token: u64) {
        self.active.lock().1.remove(&token);
    }

    fn node_id(&self) -> Option<u64> {
        Some(self.node_id.0)
    }
}

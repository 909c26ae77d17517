//! The in-process transport: every node of an in-process cluster (tests, `meridian demo`)
//! registers its [`Handler`] in one shared [`LocalNetwork`], and each node sends through its
//! own [`LocalTransport`] taken from that network.
//!
//! Delivery is a direct function call on the sender's thread: [`Transport::send_raft`] groups
//! the envelopes by destination and hands each group to the destination's `Handler::raft`
//! (which only queues, so the sender does not block); [`Transport::call`] runs the
//! destination's `Handler::call` on the calling thread and returns its answer. Nothing is
//! copied through sockets or serialised, so an in-process cluster costs little more than the
//! nodes themselves, and wrapping this transport in `filter::FilteredTransport` adds the
//! latency, loss and partitions a real network would have.
//!
//! Node lifecycle: [`LocalNetwork::register`] makes a node reachable (by id and by its
//! advertised address, for [`Target::Addr`] calls from joining nodes);
//! [`LocalNetwork::unregister`] models a stopped or crashed node: calls to it fail with
//! [`TransportError::Unreachable`] and Raft messages to it are dropped and counted.
//!
//! IMPLEMENTATION CAVEATS
//! - A call's `timeout` is not enforced: the handler runs to completion on the caller's thread
//!   (there is no second thread to abandon it on). Handlers of in-process nodes answer or fail
//!   on their own deadlines; use `FilteredTransport` to model slow links.
//! - A handler that calls back into the network from inside `Handler::raft` runs on the
//!   sender's thread; the contract that `raft` only queues keeps this free of re-entrancy.

use super::{Handler, RaftEnvelope, Target, Transport, TransportError};
use kv::NodeId;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The shared registry of an in-process cluster: handlers by node id, node ids by address.
/// Cloning is cheap and every clone sees the same nodes.
#[derive(Clone, Default)]
pub struct LocalNetwork {
    inner: Arc<NetworkInner>,
}

#[derive(Default)]
struct NetworkInner {
    handlers: RwLock<HashMap<NodeId, Arc<dyn Handler>>>,
    addrs: RwLock<HashMap<String, NodeId>>,
    raft_delivered: AtomicU64,
    raft_dropped: AtomicU64,
}

impl LocalNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `node` reachable at `addr` (its advertised address, for [`Target::Addr`]) with
    /// `handler` receiving its traffic. Registering again replaces the handler (a restart).
    pub fn register(&self, node: NodeId, addr: impl Into<String>, handler: Arc<dyn Handler>) {
        self.inner.addrs.write().insert(addr.into(), node);
        self.inner.handlers.write().insert(node, handler);
    }

    /// Makes `node` unreachable (stopped or crashed): calls to it fail with
    /// [`TransportError::Unreachable`] and Raft messages to it are dropped. Its address stays
    /// known, so a restart can register the same address again.
    pub fn unregister(&self, node: NodeId) {
        self.inner.handlers.write().remove(&node);
    }

    /// Whether `node` is currently registered.
    pub fn is_registered(&self, node: NodeId) -> bool {
        self.inner.handlers.read().contains_key(&node)
    }

    /// The sending side for `node`.
    pub fn transport(&self, node: NodeId) -> Arc<LocalTransport> {
        Arc::new(LocalTransport {
            net: self.clone(),
            node,
        })
    }

    /// Raft messages handed to a destination handler so far.
    pub fn raft_delivered(&self) -> u64 {
        self.inner.raft_delivered.load(Ordering::Relaxed)
    }

    /// Raft messages dropped so far because their destination was not registered.
    pub fn raft_dropped(&self) -> u64 {
        self.inner.raft_dropped.load(Ordering::Relaxed)
    }

    fn handler(&self, node: NodeId) -> Option<Arc<dyn Handler>> {
        self.inner.handlers.read().get(&node).cloned()
    }

    fn resolve(&self, to: &Target) -> Result<NodeId, TransportError> {
        match to {
            Target::Node(n) => Ok(*n),
            Target::Addr(addr) => self.inner.addrs.read().get(addr).copied().ok_or_else(|| {
                TransportError::Unreachable {
                    node: NodeId(0),
                    detail: format!("no node listens on {addr}"),
                }
            }),
        }
    }
}

/// One node's sending side of a [`LocalNetwork`].
pub struct LocalTransport {
    net: LocalNetwork,
    node: NodeId,
}

impl LocalTransport {
    /// The node this transport sends for.
    pub fn node_id(&self) -> NodeId {
        self.node
    }

    /// The network this transport belongs to.
    pub fn network(&self) -> &LocalNetwork {
        &self.net
    }
}

impl Transport for LocalTransport {
    fn send_raft(&self, batch: Vec<RaftEnvelope>) {
        // BTreeMap: destinations are served in a fixed order, which keeps in-process runs
        // reproducible.
        let mut by_dest: BTreeMap<NodeId, Vec<RaftEnvelope>> = BTreeMap::new();
        for env in batch {
            by_dest.entry(env.to).or_default().push(env);
        }
        for (dest, envs) in by_dest {
            let n = envs.len() as u64;
            // The handler is cloned out of the registry so no lock is held while it runs.
            match self.net.handler(dest) {
                Some(h) => {
                    h.raft(envs);
                    self.net
                        .inner
                        .raft_delivered
                        .fetch_add(n, Ordering::Relaxed);
                }
                None => {
                    self.net.inner.raft_dropped.fetch_add(n, Ordering::Relaxed);
                }
            }
        }
    }

    fn call(
        &self,
        to: &Target,
        req: Vec<u8>,
        _timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let node = self.net.resolve(to)?;
        let handler = self
            .net
            .handler(node)
            .ok_or_else(|| TransportError::Unreachable {
                node,
                detail: "node is not running".to_string(),
            })?;
        Ok(handler.call(req))
    }

    fn set_addr(&self, node: NodeId, addr: String) {
        // Registration already recorded the address; this records aliases learned elsewhere
        // (gossip) so `Target::Addr` resolves them too.
        self.net.inner.addrs.write().entry(addr).or_insert(node);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kv::RangeId;
    use parking_lot::Mutex;

    /// A handler that records Raft messages and echoes calls with a prefix naming its node.
    pub(crate) struct Recorder {
        pub(crate) name: String,
        pub(crate) raft: Mutex<Vec<RaftEnvelope>>,
        pub(crate) calls: AtomicU64,
    }

    impl Recorder {
        pub(crate) fn new(name: &str) -> Arc<Recorder> {
            Arc::new(Recorder {
                name: name.to_string(),
                raft: Mutex::new(Vec::new()),
                calls: AtomicU64::new(0),
            })
        }

        pub(crate) fn raft_len(&self) -> usize {
            self.raft.lock().len()
        }
    }

    impl Handler for Recorder {
        fn raft(&self, batch: Vec<RaftEnvelope>) {
            self.raft.lock().extend(batch);
        }
        fn call(&self, req: Vec<u8>) -> Vec<u8> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let mut out = self.name.as_bytes().to_vec();
            out.push(b':');
            out.extend(req);
            out
        }
    }

    pub(crate) fn env(range: u64, from: u64, to: u64, msg: &[u8]) -> RaftEnvelope {
        RaftEnvelope {
            range_id: RangeId(range),
            from: NodeId(from),
            to: NodeId(to),
            msg: msg.to_vec(),
        }
    }

    const T: Duration = Duration::from_secs(1);

    #[test]
    fn raft_messages_reach_their_destinations_in_order() {
        let net = LocalNetwork::new();
        let (a, b) = (Recorder::new("a"), Recorder::new("b"));
        net.register(NodeId(1), "a:1", a.clone());
        net.register(NodeId(2), "b:1", b.clone());
        let t1 = net.transport(NodeId(1));
        t1.send_raft(vec![
            env(7, 1, 2, b"x"),
            env(8, 1, 3, b"lost"),
            env(7, 1, 2, b"y"),
            env(9, 1, 1, b"self"),
        ]);
        let got: Vec<Vec<u8>> = b.raft.lock().iter().map(|e| e.msg.clone()).collect();
        assert_eq!(got, vec![b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(a.raft_len(), 1);
        assert_eq!(net.raft_delivered(), 3);
        assert_eq!(net.raft_dropped(), 1, "node 3 is not registered");
    }

    #[test]
    fn calls_by_node_and_by_address() {
        let net = LocalNetwork::new();
        net.register(NodeId(2), "10.0.0.2:26258", Recorder::new("b"));
        let t1 = net.transport(NodeId(1));
        assert_eq!(
            t1.call(&Target::Node(NodeId(2)), b"hi".to_vec(), T),
            Ok(b"b:hi".to_vec())
        );
        assert_eq!(
            t1.call(&Target::Addr("10.0.0.2:26258".into()), b"yo".to_vec(), T),
            Ok(b"b:yo".to_vec())
        );
        let err = t1.call(&Target::Addr("10.0.0.9:1".into()), vec![], T);
        assert!(
            matches!(err, Err(TransportError::Unreachable { .. })),
            "{err:?}"
        );
        t1.set_addr(NodeId(2), "alias:1".into());
        assert_eq!(
            t1.call(&Target::Addr("alias:1".into()), b"!".to_vec(), T),
            Ok(b"b:!".to_vec())
        );
    }

    #[test]
    fn unregistered_node_is_unreachable_and_drops_raft() {
        let net = LocalNetwork::new();
        let b = Recorder::new("b");
        net.register(NodeId(2), "b:1", b.clone());
        let t1 = net.transport(NodeId(1));
        net.unregister(NodeId(2));
        assert!(!net.is_registered(NodeId(2)));
        let err = t1.call(&Target::Node(NodeId(2)), vec![], T);
        assert!(
            matches!(
                err,
                Err(TransportError::Unreachable {
                    node: NodeId(2),
                    ..
                })
            ),
            "{err:?}"
        );
        t1.send_raft(vec![env(1, 1, 2, b"m")]);
        assert_eq!(b.raft_len(), 0);
        assert_eq!(net.raft_dropped(), 1);
        // A restart registers again under the same address.
        let b2 = Recorder::new("b2");
        net.register(NodeId(2), "b:1", b2.clone());
        assert_eq!(
            t1.call(&Target::Addr("b:1".into()), b"x".to_vec(), T),
            Ok(b"b2:x".to_vec())
        );
        t1.send_raft(vec![env(1, 1, 2, b"m")]);
        assert_eq!(b2.raft_len(), 1);
    }
}

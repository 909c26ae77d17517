//! The network transport: tonic (gRPC over HTTP/2), service `meridian.transport.Internal`
//! (proto/transport.proto), served on every node's listen address next to the Admin service.
//!
//! Sending side ([`GrpcTransport`]):
//! - Raft: one peer per destination node, each with a bounded queue ([`RAFT_QUEUE_LEN`]
//!   envelopes; on overflow the newest messages are dropped and counted, since Raft
//!   retransmits) and one background task that keeps a client-streaming `Raft` RPC open on its
//!   own HTTP/2 connection and drains the queue into it, everything queued at once as one
//!   `RaftBatch` (at most [`RAFT_BATCH_MAX_BYTES`]). When the stream breaks the task reconnects
//!   with exponential backoff ([`RECONNECT_BACKOFF_MIN`] to [`RECONNECT_BACKOFF_MAX`]); while a
//!   peer cannot be reached its queued messages are discarded rather than delivered stale.
//!   `send_raft` only appends to queues, so it never blocks on the network.
//! - Calls: a unary `Call` RPC over one lazily connected channel per address (tonic reconnects
//!   it after failures), bounded by the caller's timeout.
//!
//! How `call` blocks: the transaction layer calling it is synchronous and runs on plain std
//! threads, on `spawn_blocking` threads, or inside tokio `block_in_place` sections of the
//! node's runtime. `Handle::block_on` works in all of these (the runtime's workers drive the
//! sockets and timers while the caller waits), but it panics ("Cannot start a runtime from
//! within a runtime") when called straight from an async task. That is a bug in the caller
//! (the SQL server once rolled back a closing connection's transaction from its async task,
//! and the panic killed the connection task), and one caller's slip must not cost a task or
//! a connection, so [`GrpcTransport::call`] never panics on where it is called from:
//! - outside any runtime, or on a thread of one that is not driving tasks (a `spawn_blocking`
//!   thread, inside `block_in_place`): `Handle::block_on` directly;
//! - on a multi-thread runtime's worker (an async task): inside `block_in_place`, which hands
//!   the worker's other tasks to another thread first, so the call completes and only this
//!   task waits;
//! - on a current-thread runtime (`block_in_place` is not allowed there): on a scoped helper
//!   thread outside the runtime, which the caller joins; the caller's runtime is stalled for
//!   the call's duration (bounded by its timeout), as any synchronous work there is;
//! - refused with [`TransportError::Unreachable`] only when the transport's own runtime is a
//!   current-thread one and the caller is inside a runtime: nothing could drive the call.
//!
//! The transport's handle should belong to a multi-thread runtime, whose workers drive I/O
//! without the caller's help.
//!
//! Receiving side ([`service_with_shutdown`], or [`service`] for servers that never shut down
//! gracefully): `Call` runs `Handler::call` under `spawn_blocking` (handlers
//! may block); `Raft` hands each received batch to `Handler::raft`, which only queues.
//! Messages up to [`MAX_MESSAGE_BYTES`] are accepted (Raft snapshots travel as a header and
//! chunks of a few MiB each: crate::store::snapshot).
//!
//! IMPLEMENTATION CAVEATS
//! - A Raft message larger than [`MAX_MESSAGE_BYTES`] (minus framing) is dropped and counted
//!   (snapshots are chunked above the transport, so none comes near it).
//! - The server does not check that envelopes (or calls) are meant for its own node id; after
//!   an address is reused by another node the receiver must check `RaftEnvelope::to` (and the
//!   node layer should name the destination inside its call payloads).
//! - No TLS or authentication (`--insecure` only), like the rest of the node.
//! - Queue overflow drops the newest messages rather than the oldest.
//! - `call` after the runtime behind the handle has shut down fails inside tokio (its timers
//!   panic); stop calling before dropping the node's runtime.

use super::{Handler, RaftEnvelope, Target, Transport, TransportError};
use futures::Stream;
use kv::{NodeId, RangeId};
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::{watch, Notify};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

/// Code generated from proto/transport.proto.
pub mod proto {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("meridian.transport");
}

use proto::internal_client::InternalClient;
pub use proto::internal_server::InternalServer;

/// Raft envelopes queued per destination node before new ones are dropped.
pub const RAFT_QUEUE_LEN: usize = 10_000;
/// The most payload bytes one `RaftBatch` carries (a batch holds at least one message).
pub const RAFT_BATCH_MAX_BYTES: usize = 64 << 20;
/// The largest gRPC message sent or accepted (both directions, both RPCs).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;
/// How long establishing a TCP connection to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The first wait before reconnecting a broken Raft stream; doubled on each failure.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest wait between reconnection attempts.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A Raft stream that lived this long counts as healthy: the backoff starts over.
const STABLE_STREAM: Duration = Duration::from_secs(1);
/// HTTP/2 pings detect peers that vanished without closing their sockets.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(4);
/// Per-message framing bytes (ids and tags) assumed when sizing batches.
const ENVELOPE_OVERHEAD_BYTES: usize = 32;

/// Counters of one [`GrpcTransport`] (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrpcStats {
    /// Raft messages written into a stream.
    pub raft_sent: u64,
    /// Raft messages dropped: queue full, no address, oversized, or peer unreachable.
    pub raft_dropped: u64,
    /// Raft streams opened.
    pub stream_connects: u64,
    /// Failed connection attempts and streams that ended with an error.
    pub stream_failures: u64,
}

#[derive(Default)]
struct Counters {
    raft_sent: AtomicU64,
    raft_dropped: AtomicU64,
    stream_connects: AtomicU64,
    stream_failures: AtomicU64,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The gRPC sending side of one node.
pub struct GrpcTransport {
    self_id: NodeId,
    handle: Handle,
    addrs: RwLock<HashMap<NodeId, String>>,
    peers: Mutex<HashMap<NodeId, Arc<Peer>>>,
    channels: Mutex<HashMap<String, Channel>>,
    counters: Arc<Counters>,
    /// Dropped with the transport, which ends every peer task.
    _shutdown: watch::Sender<bool>,
    shutdown_rx: watch::Receiver<bool>,
}

/// One destination node's Raft queue, drained by its task.
struct Peer {
    node: NodeId,
    queue: Mutex<VecDeque<proto::RaftMessage>>,
    ready: Notify,
    addr: Mutex<String>,
    addr_changed: Notify,
}

impl GrpcTransport {
    /// The transport of node `self_id`; its background tasks run on `handle` (a multi-thread
    /// runtime, see the module docs).
    pub fn new(self_id: NodeId, handle: Handle) -> Self {
        let (tx, rx) = watch::channel(false);
        GrpcTransport {
            self_id,
            handle,
            addrs: RwLock::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            counters: Arc::new(Counters::default()),
            _shutdown: tx,
            shutdown_rx: rx,
        }
    }

    /// The node this transport sends for.
    pub fn node_id(&self) -> NodeId {
        self.self_id
    }

    /// The address recorded for `node`, if any.
    pub fn addr(&self, node: NodeId) -> Option<String> {
        self.addrs.read().get(&node).cloned()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> GrpcStats {
        let c = &self.counters;
        GrpcStats {
            raft_sent: c.raft_sent.load(Ordering::Relaxed),
            raft_dropped: c.raft_dropped.load(Ordering::Relaxed),
            stream_connects: c.stream_connects.load(Ordering::Relaxed),
            stream_failures: c.stream_failures.load(Ordering::Relaxed),
        }
    }

    fn peer(&self, node: NodeId) -> Option<Arc<Peer>> {
        let mut peers = self.peers.lock();
        if let Some(p) = peers.get(&node) {
            return Some(p.clone());
        }
        let addr = self.addr(node)?;
        let peer = Arc::new(Peer {
            node,
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            addr: Mutex::new(addr),
            addr_changed: Notify::new(),
        });
        peers.insert(node, peer.clone());
        let task = run_peer(
            peer.clone(),
            self.counters.clone(),
            self.shutdown_rx.clone(),
        );
        self.handle.spawn(task);
        Some(peer)
    }

    fn channel(&self, addr: &str, node: NodeId) -> Result<Channel, TransportError> {
        if let Some(c) = self.channels.lock().get(addr) {
            return Ok(c.clone());
        }
        let endpoint =
            endpoint(addr).map_err(|detail| TransportError::Unreachable { node, detail })?;
        // connect_lazy spawns the channel's worker, which needs the runtime's context.
        let _guard = self.handle.enter();
        let channel = endpoint.connect_lazy();
        Ok(self
            .channels
            .lock()
            .entry(addr.to_string())
            .or_insert(channel)
            .clone())
    }
}

impl GrpcTransport {
    /// Runs `fut` on the transport's runtime and waits for it from synchronous code, wherever
    /// the caller runs (see the module docs); never panics over the calling context.
    fn block_on<F>(&self, node: NodeId, fut: F) -> Result<F::Output, TransportError>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let Ok(current) = Handle::try_current() else {
            return Ok(self.handle.block_on(fut));
        };
        if current.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            // On a worker: step out of the async context first. Elsewhere (a blocking-pool
            // thread, a nested section) block_in_place just runs the closure.
            return Ok(tokio::task::block_in_place(|| self.handle.block_on(fut)));
        }
        if self.handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(TransportError::Unreachable {
                node,
                detail: "blocking call from inside a runtime, and the transport's runtime \
                         is current-thread (nothing could drive it)"
                    .into(),
            });
        }
        // A current-thread runtime's context (maybe its async task, maybe one of its
        // blocking threads; tokio does not say which): wait on a helper thread outside it.
        std::thread::scope(|scope| {
            let waiter = std::thread::Builder::new()
                .name("grpc-call".into())
                .spawn_scoped(scope, || self.handle.block_on(fut));
            match waiter.map(|w| w.join()) {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(_panicked)) => Err(TransportError::Unreachable {
                    node,
                    detail: "the call's helper thread panicked".into(),
                }),
                Err(e) => Err(TransportError::Unreachable {
                    node,
                    detail: format!("no helper thread for a blocking call: {e}"),
                }),
            }
        })
    }
}

impl Transport for GrpcTransport {
    fn send_raft(&self, batch: Vec<RaftEnvelope>) {
        let limit = MAX_MESSAGE_BYTES - 1024;
        let mut by_dest: HashMap<NodeId, Vec<proto::RaftMessage>> = HashMap::new();
        for env in batch {
            if env.msg.len() > limit {
                tracing::warn!(to = %env.to, range = %env.range_id, bytes = env.msg.len(),
                    "raft message too large for the transport, dropped");
                Counters::add(&self.counters.raft_dropped, 1);
                continue;
            }
            by_dest.entry(env.to).or_default().push(to_proto(env));
        }
        for (dest, msgs) in by_dest {
            let n = msgs.len() as u64;
            let Some(peer) = self.peer(dest) else {
                tracing::debug!(to = %dest, n, "no address for raft destination, dropped");
                Counters::add(&self.counters.raft_dropped, n);
                continue;
            };
            let dropped = peer.enqueue(msgs);
            Counters::add(&self.counters.raft_dropped, dropped);
        }
    }

    fn call(
        &self,
        to: &Target,
        req: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let (node, addr) = match to {
            Target::Node(n) => (*n, self.addr(*n).ok_or(TransportError::UnknownNode(*n))?),
            Target::Addr(a) => (NodeId(0), a.clone()),
        };
        let channel = self.channel(&addr, node)?;
        let fut = async move {
            let mut client = InternalClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES);
            let mut request = Request::new(proto::CallRequest { payload: req });
            request.set_timeout(timeout);
            tokio::time::timeout(timeout, client.call(request)).await
        };
        match self.block_on(node, fut)? {
            Err(_elapsed) => Err(TransportError::Timeout(node)),
            Ok(Err(status)) => Err(status_to_error(node, &status)),
            Ok(Ok(resp)) => Ok(resp.into_inner().payload),
        }
    }

    fn set_addr(&self, node: NodeId, addr: String) {
        let changed = self.addrs.write().insert(node, addr.clone()).as_ref() != Some(&addr);
        if changed {
            if let Some(peer) = self.peers.lock().get(&node) {
                *peer.addr.lock() = addr;
                peer.addr_changed.notify_one();
            }
        }
    }
}

fn to_proto(env: RaftEnvelope) -> proto::RaftMessage {
    proto::RaftMessage {
        range_id: env.range_id.0,
        from_node: env.from.0,
        to_node: env.to.0,
        msg: env.msg,
    }
}

fn from_proto(m: proto::RaftMessage) -> RaftEnvelope {
    RaftEnvelope {
        range_id: RangeId(m.range_id),
        from: NodeId(m.from_node),
        to: NodeId(m.to_node),
        msg: m.msg,
    }
}

fn endpoint(addr: &str) -> Result<Endpoint, String> {
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let ep = Endpoint::from_shared(uri).map_err(|e| format!("invalid address {addr:?}: {e}"))?;
    Ok(ep
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true))
}

/// Deadline and cancellation mean "may have executed, no answer"; everything else means the
/// call did not get an answer from a working handler.
fn status_to_error(node: NodeId, status: &Status) -> TransportError {
    match status.code() {
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => TransportError::Timeout(node),
        code => TransportError::Unreachable {
            node,
            detail: format!("{code:?}: {}", status.message()),
        },
    }
}

impl Peer {
    /// Appends to the queue; returns how many messages did not fit.
    fn enqueue(&self, msgs: Vec<proto::RaftMessage>) -> u64 {
        let mut q = self.queue.lock();
        let room = RAFT_QUEUE_LEN.saturating_sub(q.len());
        let dropped = msgs.len().saturating_sub(room) as u64;
        q.extend(msgs.into_iter().take(room));
        drop(q);
        self.ready.notify_one();
        dropped
    }

    /// Everything queued, up to [`RAFT_BATCH_MAX_BYTES`] (at least one message).
    fn take_batch(&self) -> Option<proto::RaftBatch> {
        let mut q = self.queue.lock();
        if q.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut n = 0;
        for m in q.iter() {
            bytes += m.msg.len() + ENVELOPE_OVERHEAD_BYTES;
            if n > 0 && bytes > RAFT_BATCH_MAX_BYTES {
                break;
            }
            n += 1;
        }
        let messages: Vec<_> = q.drain(..n).collect();
        if !q.is_empty() {
            // More remains for the next batch.
            self.ready.notify_one();
        }
        Some(proto::RaftBatch { messages })
    }

    fn discard(&self) -> u64 {
        let mut q = self.queue.lock();
        let n = q.len() as u64;
        q.clear();
        n
    }
}

async fn closed(rx: &mut watch::Receiver<bool>) {
    // Err means the transport was dropped: also the end.
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The request stream of one Raft RPC: waits for queued messages and yields them as batches.
fn batches(
    peer: Arc<Peer>,
    counters: Arc<Counters>,
    shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = proto::RaftBatch> + Send + 'static {
    futures::stream::unfold(
        (peer, counters, shutdown),
        |(peer, counters, mut shutdown)| async move {
            loop {
                if let Some(batch) = peer.take_batch() {
                    Counters::add(&counters.raft_sent, batch.messages.len() as u64);
                    return Some((batch, (peer, counters, shutdown)));
                }
                tokio::select! {
                    _ = peer.ready.notified() => {}
                    _ = closed(&mut shutdown) => return None,
                }
            }
        },
    )
}

/// Keeps one Raft stream to `peer` open until the transport is dropped.
async fn run_peer(peer: Arc<Peer>, counters: Arc<Counters>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = RECONNECT_BACKOFF_MIN;
    loop {
        let addr = peer.addr.lock().clone();
        let stream_shutdown = shutdown.clone();
        let stream_result = tokio::select! {
            r = stream_once(&peer, &addr, &counters, stream_shutdown) => r,
            _ = peer.addr_changed.notified() => {
                backoff = RECONNECT_BACKOFF_MIN;
                continue;
            }
            _ = closed(&mut shutdown) => return,
        };
        match stream_result {
            Ok(lived) if lived >= STABLE_STREAM => backoff = RECONNECT_BACKOFF_MIN,
            Ok(_) => {}
            Err(e) => {
                Counters::add(&counters.stream_failures, 1);
                let dropped = peer.discard();
                Counters::add(&counters.raft_dropped, dropped);
                tracing::debug!(to = %peer.node, %addr, dropped, "raft stream failed: {e}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = peer.addr_changed.notified() => {}
            _ = closed(&mut shutdown) => return,
        }
        backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
    }
}

/// Connects and runs one Raft stream until it ends; returns how long it lived.
async fn stream_once(
    peer: &Arc<Peer>,
    addr: &str,
    counters: &Arc<Counters>,
    shutdown: watch::Receiver<bool>,
) -> Result<Duration, String> {
    let channel = endpoint(addr)?
        .connect()
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    Counters::add(&counters.stream_connects, 1);
    let started = Instant::now();
    let mut client = InternalClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    client
        .raft(batches(peer.clone(), counters.clone(), shutdown))
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
    Ok(started.elapsed())
}

/// The server side of the transport, delivering to one node's [`Handler`].
pub struct InternalService {
    handler: Arc<dyn Handler>,
    shutdown: Option<watch::Receiver<bool>>,
}

/// The `Internal` service for the node's tonic server.
///
/// HAZARD: its Raft streams stay open as long as the peers keep them open, and tonic's
/// graceful shutdown (`serve_with_incoming_shutdown`) waits for open streams, so a server
/// using this never finishes shutting down while a peer is alive (verified). Servers that shut
/// down gracefully must use [`service_with_shutdown`].
pub fn service(handler: Arc<dyn Handler>) -> InternalServer<InternalService> {
    server(InternalService {
        handler,
        shutdown: None,
    })
}

/// Like [`service`], but incoming Raft streams end when `shutdown` becomes true (pass the
/// same receiver the server's graceful shutdown waits on).
pub fn service_with_shutdown(
    handler: Arc<dyn Handler>,
    shutdown: watch::Receiver<bool>,
) -> InternalServer<InternalService> {
    server(InternalService {
        handler,
        shutdown: Some(shutdown),
    })
}

fn server(svc: InternalService) -> InternalServer<InternalService> {
    InternalServer::new(svc)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

#[tonic::async_trait]
impl proto::internal_server::Internal for InternalService {
    async fn call(
        &self,
        req: Request<proto::CallRequest>,
    ) -> Result<Response<proto::CallResponse>, Status> {
        let handler = self.handler.clone();
        let payload = req.into_inner().payload;
        let out = tokio::task::spawn_blocking(move || handler.call(payload))
            .await
            .map_err(|e| Status::internal(format!("call handler failed: {e}")))?;
        Ok(Response::new(proto::CallResponse { payload: out }))
    }

    async fn raft(
        &self,
        req: Request<Streaming<proto::RaftBatch>>,
    ) -> Result<Response<proto::RaftAck>, Status> {
        let mut stream = req.into_inner();
        let mut shutdown = self.shutdown.clone();
        loop {
            let next = match shutdown.as_mut() {
                Some(rx) => tokio::select! {
                    m = stream.message() => m,
                    _ = closed(rx) => break,
                },
                None => stream.message().await,
            };
            match next? {
                Some(batch) => {
                    let envs: Vec<RaftEnvelope> =
                        batch.messages.into_iter().map(from_proto).collect();
                    if !envs.is_empty() {
                        self.handler.raft(envs);
                    }
                }
                None => break,
            }
        }
        Ok(Response::new(proto::RaftAck {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::tests::{env, Recorder};
    use tokio::runtime::Runtime;

    struct TestServer {
        addr: String,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    }

    fn runtime() -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn start_server(rt: &Runtime, handler: Arc<dyn Handler>) -> TestServer {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, rx) = watch::channel(false);
        let svc = service_with_shutdown(handler, rx.clone());
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = rt.spawn(async move {
            let mut rx = rx;
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, async move { closed(&mut rx).await })
                .await
        });
        TestServer { addr, stop, task }
    }

    fn stop_server(rt: &Runtime, s: TestServer) {
        let _ = s.stop.send(true);
        let done =
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), s.task).await });
        assert!(
            done.is_ok(),
            "server did not shut down with a raft stream open"
        );
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn raft_batches_and_calls_between_two_nodes() {
        let rt = runtime();
        let (r1, r2) = (Recorder::new("n1"), Recorder::new("n2"));
        let (s1, s2) = (start_server(&rt, r1.clone()), start_server(&rt, r2.clone()));
        let t1 = Arc::new(GrpcTransport::new(NodeId(1), rt.handle().clone()));
        let t2 = GrpcTransport::new(NodeId(2), rt.handle().clone());
        t1.set_addr(NodeId(2), s2.addr.clone());
        t2.set_addr(NodeId(1), s1.addr.clone());

        for i in 0..1000u32 {
            t1.send_raft(vec![env(u64::from(i % 7), 1, 2, &i.to_be_bytes())]);
        }
        t2.send_raft(vec![env(3, 2, 1, b"back")]);
        wait_until("1000 messages at n2", || r2.raft_len() == 1000);
        let order: Vec<u32> = r2
            .raft
            .lock()
            .iter()
            .map(|e| u32::from_be_bytes(e.msg[..4].try_into().unwrap_or_default()))
            .collect();
        assert_eq!(
            order,
            (0..1000).collect::<Vec<_>>(),
            "one stream keeps order"
        );
        wait_until("message at n1", || r1.raft_len() == 1);
        assert_eq!(r1.raft.lock()[0], env(3, 2, 1, b"back"));
        let st = t1.stats();
        assert_eq!(
            (st.raft_sent, st.raft_dropped, st.stream_connects),
            (1000, 0, 1)
        );

        assert_eq!(
            t1.call(&Target::Node(NodeId(2)), b"hi".to_vec(), T),
            Ok(b"n2:hi".to_vec())
        );
        let by_addr = Target::Addr(s1.addr.clone());
        assert_eq!(t2.call(&by_addr, b"yo".to_vec(), T), Ok(b"n1:yo".to_vec()));
        let big = vec![7u8; 8 << 20];
        let echoed = t1
            .call(&Target::Node(NodeId(2)), big.clone(), T)
            .expect("big call");
        assert_eq!(&echoed[3..], &big[..]);
        assert_eq!(
            t1.call(&Target::Node(NodeId(9)), vec![], T),
            Err(TransportError::UnknownNode(NodeId(9)))
        );

        // From inside a block_in_place section of the runtime itself.
        let t = t1.clone();
        let inside = rt.block_on(async move {
            tokio::spawn(async move {
                tokio::task::block_in_place(|| t.call(&Target::Node(NodeId(2)), b"bip".to_vec(), T))
            })
            .await
        });
        assert_eq!(inside.ok(), Some(Ok(b"n2:bip".to_vec())));

        stop_server(&rt, s1);
        stop_server(&rt, s2);
    }

    /// A call made straight from async code (a caller's bug) used to panic inside
    /// `Handle::block_on` ("Cannot start a runtime from within a runtime"), killing the
    /// calling task; now it completes from a multi-thread worker and from a current-thread
    /// runtime, and is refused with an error when nothing could drive it.
    #[test]
    fn calls_from_async_contexts_complete_or_fail_without_panicking() {
        let rt = runtime();
        let r2 = Recorder::new("n2");
        let s2 = start_server(&rt, r2.clone());
        let t1 = Arc::new(GrpcTransport::new(NodeId(1), rt.handle().clone()));
        t1.set_addr(NodeId(2), s2.addr.clone());
        let to2 = Target::Node(NodeId(2));

        // An async task on a worker of the transport's own (multi-thread) runtime.
        let (t, to) = (t1.clone(), to2.clone());
        let on_worker = rt.block_on(async move {
            tokio::spawn(async move { t.call(&to, b"task".to_vec(), T) }).await
        });
        assert_eq!(on_worker.ok(), Some(Ok(b"n2:task".to_vec())));

        // The async context of another, current-thread runtime (a #[tokio::test]).
        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("current-thread runtime");
        let got = current.block_on(async { t1.call(&to2, b"ct".to_vec(), T) });
        assert_eq!(got, Ok(b"n2:ct".to_vec()));
        // ... and one of its blocking threads.
        let t = t1.clone();
        let (to, call) = (to2.clone(), b"sb".to_vec());
        let got = current.block_on(async move {
            tokio::task::spawn_blocking(move || t.call(&to, call, T)).await
        });
        assert_eq!(got.ok(), Some(Ok(b"n2:sb".to_vec())));

        // A transport on a current-thread runtime, called from inside that runtime: refused.
        let stuck = GrpcTransport::new(NodeId(1), current.handle().clone());
        stuck.set_addr(NodeId(2), s2.addr.clone());
        let refused = current.block_on(async { stuck.call(&to2, vec![], T) });
        assert!(
            matches!(&refused, Err(TransportError::Unreachable { node: NodeId(2), detail })
                if detail.contains("current-thread")),
            "{refused:?}"
        );
        drop(stuck);
        drop(current);
        stop_server(&rt, s2);
    }

    #[test]
    fn stopped_server_fails_fast_and_a_restarted_one_is_reached_again() {
        let rt = runtime();
        let r2 = Recorder::new("n2");
        let s2 = start_server(&rt, r2.clone());
        let t1 = GrpcTransport::new(NodeId(1), rt.handle().clone());
        t1.set_addr(NodeId(2), s2.addr.clone());
        assert!(t1.call(&Target::Node(NodeId(2)), vec![], T).is_ok());
        t1.send_raft(vec![env(1, 1, 2, b"a")]);
        wait_until("first message", || r2.raft_len() == 1);

        stop_server(&rt, s2);
        let start = Instant::now();
        let err = t1.call(&Target::Node(NodeId(2)), vec![], T);
        assert!(
            matches!(
                err,
                Err(TransportError::Unreachable {
                    node: NodeId(2),
                    ..
                }) | Err(TransportError::Timeout(NodeId(2)))
            ),
            "{err:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "took {:?}",
            start.elapsed()
        );

        // The node comes back on another port; the raft stream follows the new address.
        let r2b = Recorder::new("n2b");
        let s2b = start_server(&rt, r2b.clone());
        t1.set_addr(NodeId(2), s2b.addr.clone());
        wait_until("delivery after restart", || {
            t1.send_raft(vec![env(1, 1, 2, b"b")]);
            std::thread::sleep(Duration::from_millis(20));
            r2b.raft_len() > 0
        });
        assert_eq!(
            t1.call(&Target::Node(NodeId(2)), b"x".to_vec(), T),
            Ok(b"n2b:x".to_vec())
        );
        stop_server(&rt, s2b);
    }

    #[test]
    fn queue_overflow_drops_and_batches_take_everything() {
        let peer = Peer {
            node: NodeId(2),
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            addr: Mutex::new(String::new()),
            addr_changed: Notify::new(),
        };
        let msgs = |n: usize| {
            (0..n)
                .map(|_| to_proto(env(1, 1, 2, b"m")))
                .collect::<Vec<_>>()
        };
        assert_eq!(peer.enqueue(msgs(RAFT_QUEUE_LEN - 5)), 0);
        assert_eq!(peer.enqueue(msgs(8)), 3);
        let batch = peer.take_batch().expect("batch");
        assert_eq!(batch.messages.len(), RAFT_QUEUE_LEN);
        assert!(peer.take_batch().is_none());
        let huge = proto::RaftMessage {
            msg: vec![0; RAFT_BATCH_MAX_BYTES],
            ..to_proto(env(1, 1, 2, b""))
        };
        peer.enqueue(vec![huge.clone(), huge]);
        assert_eq!(peer.take_batch().map(|b| b.messages.len()), Some(1));
        assert_eq!(peer.take_batch().map(|b| b.messages.len()), Some(1));
    }

    #[test]
    fn unknown_and_bad_addresses() {
        let rt = runtime();
        let t1 = GrpcTransport::new(NodeId(1), rt.handle().clone());
        t1.send_raft(vec![env(1, 1, 5, b"nowhere")]);
        assert_eq!(t1.stats().raft_dropped, 1);
        let err = t1.call(&Target::Addr("not an address".into()), vec![], T);
        assert!(
            matches!(err, Err(TransportError::Unreachable { .. })),
            "{err:?}"
        );
    }
}

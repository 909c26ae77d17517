//! The pgwire server: PostgreSQL's frontend/backend protocol 3.0 over TCP.
//!
//! [`serve`] accepts connections and runs each in its own tokio task ([`conn`]), so a client
//! sending garbage, a malformed startup packet or an oversized message loses only its own
//! connection. Messages are framed by [`codec`] (size-limited, bounds-checked) and decoded and
//! encoded with the `pgwire` crate's message types; the protocol state machine (startup, simple
//! query, extended query with portals, errors, cancel requests) is ours, because it must follow
//! the session's transaction state exactly (ReadyForQuery status, commit after the last row,
//! 40001 retries before the first row).
//!
//! Statements run synchronously (the executor and the KV layer are synchronous); the server
//! calls them through `block_in_place` on a multi-threaded runtime so a long scan does not
//! stall other connections, and streams rows to the socket batch by batch as they are produced.
//! Everything that may reach the KV layer goes through that `blocking` helper, not only
//! statements: finishing or failing a statement, committing at Sync, rolling back what a
//! closing connection left open, and dropping a portal's row stream (which may hold the last
//! reference to a transaction, whose drop rolls it back). HAZARD: the KV layer may block on
//! the network (a cluster's transport waits for a remote node); called from the async task
//! itself it would stall the worker, and a transport that uses `Handle::block_on` would panic
//! ("Cannot start a runtime from within a runtime"), taking the connection with it.
//!
//! Authentication is trust for `root` (insecure mode); any other user is rejected with 28000.
//!
//! IMPLEMENTATION CAVEATS
//! - No TLS: SSLRequest and GSSENCRequest are answered 'N'.
//! - No COPY sub-protocol; COPY statements fail in the planner.
//! - On a current-thread runtime statements block the runtime thread while they run (tests
//!   only; the `meridian` binary uses the multi-threaded runtime).
//! - A connection task that is dropped rather than finished (the runtime shutting down) drops
//!   its session where tokio drops the task: a transaction it left open is rolled back there,
//!   outside `blocking`; a cluster's gRPC transport copes (it never panics over its calling
//!   context), and a transaction not rolled back is left to expire.

mod codec;
mod conn;
mod encode;
mod extended;
#[cfg(test)]
mod tests;

pub use codec::DEFAULT_MAX_MESSAGE_BYTES;

use crate::context::VirtualTables;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest frontend message accepted; larger ones close the connection (08P01).
    pub max_message_bytes: usize,
    /// Per-query memory budget handed to the executor.
    pub memory_budget_bytes: usize,
    /// Users allowed to connect (trust authentication).
    pub users: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            memory_budget_bytes: crate::context::DEFAULT_QUERY_MEMORY_BYTES,
            users: vec!["root".to_string()],
        }
    }
}

/// A registered connection, for cancel requests.
struct CancelTarget {
    secret: i32,
    flag: Arc<AtomicBool>,
}

/// The state shared by every connection of one node's SQL server.
pub struct Node {
    txns: Arc<dyn txn::TxnSource>,
    vtables: Arc<dyn VirtualTables>,
    config: ServerConfig,
    cancels: Mutex<HashMap<i32, CancelTarget>>,
    next_pid: AtomicI32,
}

impl Node {
    /// A node serving SQL over `txns`, with the system tables of [`crate::vtable`].
    pub fn new(txns: Arc<dyn txn::TxnSource>) -> Arc<Node> {
        Node::with_config(txns, ServerConfig::default())
    }

    /// A node with explicit settings.
    pub fn with_config(txns: Arc<dyn txn::TxnSource>, config: ServerConfig) -> Arc<Node> {
        Arc::new(Node {
            txns,
            vtables: Arc::new(crate::vtable::SystemTables),
            config,
            cancels: Mutex::new(HashMap::new()),
            next_pid: AtomicI32::new(1000),
        })
    }

    /// The transaction source.
    pub fn txns(&self) -> &Arc<dyn txn::TxnSource> {
        &self.txns
    }

    /// Registers a connection's cancel flag; returns its (pid, secret) for BackendKeyData.
    fn register(&self, flag: Arc<AtomicBool>) -> (i32, i32) {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        let secret = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        self.cancels
            .lock()
            .insert(pid, CancelTarget { secret, flag });
        (pid, secret)
    }

    fn unregister(&self, pid: i32) {
        self.cancels.lock().remove(&pid);
    }

    /// Handles a CancelRequest: flips the target's cancel flag when the secret matches.
    fn cancel(&self, pid: i32, secret: i32) -> bool {
        match self.cancels.lock().get(&pid) {
            Some(t) if t.secret == secret => {
                t.flag.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }
}

/// Serves pgwire on `listener` forever (until accepting fails fatally).
pub async fn serve(listener: TcpListener, node: Arc<Node>) -> std::io::Result<()> {
    serve_until(listener, node, std::future::pending()).await
}

/// Serves pgwire on `listener` until `shutdown` completes; then stops accepting (connections
/// already open keep running until their clients leave or the runtime stops).
pub async fn serve_until(
    listener: TcpListener,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let node = node.clone();
                    tokio::spawn(async move {
                        if let Err(e) = conn::run(stream, node).await {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("sql accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// A server over an in-memory store, for tests: bootstrapped catalog, listening on
/// 127.0.0.1 on an ephemeral port.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its shared state.
    pub node: Arc<Node>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on its own thread and multi-threaded runtime (usable from sync and
    /// async tests alike).
    pub fn start() -> std::io::Result<TestServer> {
        TestServer::start_with_config(ServerConfig::default())
    }

    /// [`TestServer::start`] with explicit settings.
    pub fn start_with_config(config: ServerConfig) -> std::io::Result<TestServer> {
        let engine: Arc<dyn kv::engine::Engine> = Arc::new(kv::engine::MemoryEngine::new());
        let mvcc = kv::mvcc::Mvcc::new(engine);
        let clock = Arc::new(kv::Clock::system(500));
        let txns: Arc<dyn txn::TxnSource> =
            Arc::new(txn::local::LocalTxnManager::new(mvcc, clock, false));
        crate::catalog::bootstrap(txns.as_ref())
            .map_err(|e| std::io::Error::other(format!("bootstrap: {e}")))?;
        TestServer::start_on(txns, config)
    }

    /// A server over `txns` (bootstrapped by the caller), for tests that wrap or instrument
    /// the store.
    pub fn start_on(
        txns: Arc<dyn txn::TxnSource>,
        config: ServerConfig,
    ) -> std::io::Result<TestServer> {
        let node = Node::with_config(txns, config);
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve_node = node.clone();
        let thread = std::thread::Builder::new()
            .name("pgwire-test".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("test server runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let _ = serve_until(listener, serve_node, async {
                        let _ = rx.await;
                    })
                    .await;
                });
                rt.shutdown_background();
            })?;
        Ok(TestServer {
            addr,
            node,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// A libpq-style connection string for user root.
    pub fn url(&self) -> String {
        format!("postgresql://root@{}/defaultdb?sslmode=disable", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `f` (synchronous SQL work) without stalling the async runtime's other tasks.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

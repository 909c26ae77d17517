//! Starting and stopping a single node: open the store, build the transaction layer, bootstrap
//! the catalog, and serve pgwire, gRPC and HTTP.
//!
//! Startup order matters for what the user sees when something is wrong:
//! 1. Bind every listener first, so a taken port fails in milliseconds with a message naming the
//!    flag to change, before a store is touched.
//! 2. Open the store (RocksDB holds a lock file: a second node on the same directory fails here
//!    with a clear message instead of corrupting it).
//! 3. Build MVCC and the local transaction manager with synced commits: a commit is fsynced to
//!    the RocksDB WAL before the client hears COMMIT, so `kill -9` loses nothing acknowledged.
//! 4. Bootstrap the catalog (idempotent: creates `defaultdb`, `postgres` and `system` on a fresh
//!    store, nothing on a restart).
//! 5. Spawn the three servers; each stops when the shutdown signal flips.
//!
//! Shutdown ([`NodeHandle::shutdown`]) marks the node draining (readiness turns 503), stops the
//! listeners, waits a bounded time for the servers to finish, and syncs the store.

use crate::config::{NodeConfig, StoreSpec};
use crate::status::NodeInfo;
use crate::{admin, http, sqlserve};
use anyhow::{anyhow, Context, Result};
use kv::engine::{Engine, MemoryEngine, RocksEngine};
use kv::mvcc::Mvcc;
use kv::Clock;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use txn::local::LocalTxnManager;
use txn::TxnSource;

/// How often the store garbage collects versions older than the TTL.
const GC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

/// How long shutdown waits for the servers to stop before giving up on them.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A running node. Dropping it without [`NodeHandle::shutdown`] leaves the servers running
/// until the runtime stops.
pub struct NodeHandle {
    /// Identity, bound addresses and counters.
    pub info: Arc<NodeInfo>,
    /// The store this node serves.
    pub store: StoreSpec,
    /// The transaction layer (tests use it to inspect state directly).
    pub txns: Arc<dyn TxnSource>,
    engine: Arc<dyn Engine>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    /// Run at shutdown after the servers stopped, before the store is synced (cluster nodes
    /// stop their Raft thread and background queues here).
    stoppers: Vec<Box<dyn FnOnce() + Send>>,
}

impl NodeHandle {
    /// The bound pgwire address.
    pub fn sql_addr(&self) -> SocketAddr {
        self.info.sql_addr
    }

    /// The bound gRPC address.
    pub fn listen_addr(&self) -> SocketAddr {
        self.info.listen_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.info.http_addr
    }

    /// The connection URL for `root` on `defaultdb` (insecure mode).
    pub fn sql_url(&self) -> String {
        sql_url(self.info.sql_addr, "defaultdb")
    }

    /// Whether any server task has exited (normally only after shutdown began; earlier it
    /// means a server failed).
    pub fn any_server_exited(&self) -> bool {
        self.tasks.iter().any(|(_, t)| t.is_finished())
    }

    /// Stops the node: drain, stop the servers (bounded wait), sync the store.
    pub async fn shutdown(self) -> Result<()> {
        self.info.draining.store(true, Ordering::Relaxed);
        let _ = self.shutdown_tx.send(true);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_TIMEOUT;
        for (name, task) in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(
                    "{name} server did not stop within {SHUTDOWN_TIMEOUT:?}; aborting it"
                );
                abort.abort();
            }
        }
        for stop in self.stoppers {
            stop();
        }
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.sync())
            .await
            .map_err(|e| anyhow!("store sync task failed: {e}"))?
            .context("syncing the store")?;
        tracing::info!("node stopped; store synced");
        Ok(())
    }
}

/// `postgresql://root@<addr>/<db>?sslmode=disable`.
pub fn sql_url(addr: SocketAddr, database: &str) -> String {
    format!("postgresql://root@{addr}/{database}?sslmode=disable")
}

/// Starts a single node as configured and returns once it accepts SQL connections.
pub async fn start_single_node(cfg: NodeConfig) -> Result<NodeHandle> {
    let sql_listener = bind(cfg.sql_addr, "SQL", "--sql-addr").await?;
    let grpc_listener = bind(cfg.listen_addr, "gRPC", "--listen-addr").await?;
    let http_listener = bind(cfg.http_addr, "HTTP", "--http-addr").await?;

    let engine = open_store(&cfg.store).await?;
    let clock = Arc::new(Clock::system(cfg.max_offset_ms));
    let mvcc = Mvcc::new(engine.clone());
    let manager = LocalTxnManager::new(mvcc, clock, cfg.sync_commits);
    // MVCC garbage collection below now - 4h (never above a running transaction's reads).
    manager.store().start_gc(GC_INTERVAL);
    let txns: Arc<dyn TxnSource> = Arc::new(manager);
    {
        let txns = txns.clone();
        tokio::task::spawn_blocking(move || sqlserve::bootstrap(txns.as_ref()))
            .await
            .map_err(|e| anyhow!("catalog bootstrap task failed: {e}"))?
            .context("bootstrapping the catalog")?;
    }

    let info = Arc::new(NodeInfo {
        node_id: 1.into(),
        listen_addr: grpc_listener.local_addr()?,
        sql_addr: sql_listener.local_addr()?,
        http_addr: http_listener.local_addr()?,
        started_at: SystemTime::now(),
        started: Instant::now(),
        draining: AtomicBool::new(false),
        metrics: Default::default(),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let (i, rx) = (info.clone(), shutdown_rx.clone());
    let t = txns.clone();
    tasks.push((
        "SQL",
        tokio::spawn(async move {
            if let Err(e) = sqlserve::serve(sql_listener, t, i, rx).await {
                tracing::error!("SQL server stopped: {e:#}");
            }
        }),
    ));
    let (i, rx) = (info.clone(), shutdown_rx.clone());
    tasks.push((
        "gRPC",
        tokio::spawn(async move {
            if let Err(e) = admin::serve(grpc_listener, i, rx).await {
                tracing::error!("gRPC server stopped: {e}");
            }
        }),
    ));
    let i = info.clone();
    tasks.push((
        "HTTP",
        tokio::spawn(http::serve(http_listener, i, shutdown_rx)),
    ));
    tracing::info!(
        sql = %info.sql_addr, grpc = %info.listen_addr, http = %info.http_addr, store = %cfg.store,
        "node started"
    );
    Ok(NodeHandle {
        info,
        store: cfg.store,
        txns,
        engine,
        shutdown_tx,
        tasks,
        stoppers: Vec::new(),
    })
}

/// The parts of a running node, for [`NodeHandle::from_parts`].
pub(crate) struct NodeParts {
    pub info: Arc<NodeInfo>,
    pub store: StoreSpec,
    pub txns: Arc<dyn TxnSource>,
    pub engine: Arc<dyn Engine>,
    pub shutdown_tx: watch::Sender<bool>,
    pub tasks: Vec<(&'static str, JoinHandle<()>)>,
    pub stoppers: Vec<Box<dyn FnOnce() + Send>>,
}

impl NodeHandle {
    /// A handle over a node started elsewhere (cluster nodes, `crate::server`).
    pub(crate) fn from_parts(p: NodeParts) -> NodeHandle {
        NodeHandle {
            info: p.info,
            store: p.store,
            txns: p.txns,
            engine: p.engine,
            shutdown_tx: p.shutdown_tx,
            tasks: p.tasks,
            stoppers: p.stoppers,
        }
    }

    /// The shutdown signal, for tasks started next to the node's servers.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }
}

pub(crate) async fn bind(addr: SocketAddr, what: &str, flag: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(" (is another node or program using it? choose another with {flag})")
        } else {
            String::new()
        };
        anyhow!("cannot listen for {what} connections on {addr}: {e}{hint}")
    })
}

pub(crate) async fn open_store(store: &StoreSpec) -> Result<Arc<dyn Engine>> {
    match store {
        StoreSpec::Memory => Ok(Arc::new(MemoryEngine::new())),
        StoreSpec::Path(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&path)
                    .with_context(|| format!("creating store directory {}", path.display()))?;
                let engine = RocksEngine::open(&path).map_err(|e| {
                    let msg = e.to_string();
                    let hint = if msg.contains("lock") {
                        " (is another meridian node using this store?)"
                    } else {
                        ""
                    };
                    anyhow!("opening store {}: {msg}{hint}", path.display())
                })?;
                Ok(Arc::new(engine) as Arc<dyn Engine>)
            })
            .await
            .map_err(|e| anyhow!("store open task failed: {e}"))?
        }
    }
}

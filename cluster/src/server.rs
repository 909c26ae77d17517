//! Starting a cluster node: `meridian start` (join a cluster, or wait for `meridian init`)
//! and in-process clusters for tests and `demo`.
//!
//! Order of startup:
//! 1. Bind the listeners and open the store.
//! 2. Serve gRPC at once (a node waiting to be initialised must answer `init`).
//! 3. Find the node id: stored in the store (restart), or from `init` (this node bootstraps
//!    range 1 as node 1), or from a `Join` call to a `--join` address (a fresh id from the
//!    cluster's counter), or — with no join list — bootstrap at once (a one-node cluster).
//! 4. Open the cluster store (replicas, Raft thread), the distributed sender, SQL.
//! 5. Background: the liveness heartbeat (the node record in range 1, also how nodes learn
//!    each other's addresses) and the allocator/split queues.

use crate::config::NodeConfig;
use crate::desc::{self, NodeRecord};
use crate::dist::DistSender;
use crate::node::{bind, open_store, NodeHandle, NodeParts};
use crate::rpc::{NodeRequest, NodeResponse, NodeService};
use crate::status::NodeInfo;
use crate::store::{Store, StoreConfig};
use crate::transport::latency::region_of;
use crate::transport::{
    grpc, FilteredTransport, Filters, GrpcTransport, LocalNetwork, Target, Transport,
};
use crate::txns::ClusterTxns;
use crate::{admin, http, sqlserve};
use anyhow::{anyhow, Context, Result};
use kv::engine::WriteBatch;
use kv::{Clock, NodeId, Timestamp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;
use txn::range::Router;
use txn::TxnSource;

/// How often a node renews its liveness record.
pub const LIVENESS_INTERVAL: Duration = Duration::from_secs(2);
/// How long a liveness record stays valid.
pub const LIVENESS_TTL: Duration = Duration::from_secs(9);
/// How often the allocator and split queues run.
pub const QUEUE_INTERVAL: Duration = Duration::from_millis(500);
/// Pause between join attempts while waiting for `init` or a reachable cluster.
const JOIN_RETRY: Duration = Duration::from_millis(300);

/// How the node reaches its peers.
#[derive(Clone)]
pub enum Network {
    /// Real processes: tonic over TCP.
    Grpc,
    /// An in-process cluster (tests, demo).
    Local(LocalNetwork),
}

/// Everything needed to start a cluster node.
#[derive(Clone)]
pub struct ClusterConfig {
    /// Store, addresses, clock offset.
    pub node: NodeConfig,
    /// `--join` addresses (gRPC) of existing nodes.
    pub join: Vec<String>,
    /// `--locality`, e.g. [("region","us-east1"),("zone","a")].
    pub locality: Vec<(String, String)>,
    /// Replication, lease and split settings.
    pub store: StoreConfig,
    /// The transport.
    pub network: Network,
    /// Latency/partition filters applied to every message this node sends.
    pub filters: Option<Filters>,
    /// Bootstrap a new cluster at once when the store is empty and no join list is given.
    pub bootstrap_if_alone: bool,
}

/// A running cluster node.
pub struct ClusterNode {
    /// The node's servers and handle (shutdown, addresses).
    pub handle: NodeHandle,
    /// The distributed sender.
    pub dist: Arc<DistSender>,
    /// The node's store.
    pub store: Arc<Store>,
    /// This node's id.
    pub node_id: NodeId,
}

impl ClusterNode {
    /// The node's SQL URL.
    pub fn sql_url(&self) -> String {
        self.handle.sql_url()
    }

    /// Stops the node.
    pub async fn shutdown(self) -> Result<()> {
        self.handle.shutdown().await
    }
}

/// Starts a cluster node and returns once it serves SQL.
pub async fn start_node(cfg: ClusterConfig) -> Result<ClusterNode> {
    let sql_listener = bind(cfg.node.sql_addr, "SQL", "--sql-addr").await?;
    let grpc_listener = bind(cfg.node.listen_addr, "gRPC", "--listen-addr").await?;
    let http_listener = bind(cfg.node.http_addr, "HTTP", "--http-addr").await?;
    let listen_addr = grpc_listener.local_addr()?;
    let engine = open_store(&cfg.node.store).await?;
    let clock = Arc::new(Clock::system(cfg.node.max_offset_ms));
    let info = Arc::new(NodeInfo {
        node_id: 0.into(),
        listen_addr,
        sql_addr: sql_listener.local_addr()?,
        http_addr: http_listener.local_addr()?,
        started_at: SystemTime::now(),
        started: Instant::now(),
        draining: AtomicBool::new(false),
        metrics: Default::default(),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let service = Arc::new(NodeService::default());
    let (init_tx, init_rx) = std::sync::mpsc::channel::<()>();
    let init_tx = std::sync::Mutex::new(init_tx);
    service.set_init(Box::new(move || {
        init_tx
            .lock()
            .map_err(|_| "init unavailable".to_string())?
            .send(())
            .map_err(|_| "the cluster has already been initialized".to_string())
    }));
    // An in-process node keeps its (unused) gRPC listener open until shutdown: the address
    // names the node on the local network, so no later node may be given the same port.
    let mut reserved_port = None;
    if let Network::Grpc = cfg.network {
        let (i, rx, svc) = (info.clone(), shutdown_rx.clone(), service.clone());
        tasks.push((
            "gRPC",
            tokio::spawn(async move {
                let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
                let r = tonic::transport::Server::builder()
                    .add_service(admin::AdminServer::new(admin::AdminService::new(i)))
                    .add_service(grpc::service_with_shutdown(svc, rx.clone()))
                    .serve_with_incoming_shutdown(incoming, async move {
                        let mut rx = rx;
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
                if let Err(e) = r {
                    tracing::error!("gRPC server stopped: {e}");
                }
            }),
        ));
    } else {
        reserved_port = Some(grpc_listener);
    }

    // Find the node id (may wait for init or a join).
    let probe: Arc<dyn Transport> = match &cfg.network {
        Network::Grpc => Arc::new(GrpcTransport::new(
            NodeId(0),
            tokio::runtime::Handle::current(),
        )),
        Network::Local(net) => net.transport(NodeId(0)),
    };
    let (node_id, bootstrap, peers) = {
        let engine = engine.clone();
        let join = cfg.join.clone();
        let alone = cfg.bootstrap_if_alone;
        tokio::task::spawn_blocking(move || {
            find_identity(engine.as_ref(), &join, alone, probe, init_rx)
        })
        .await
        .map_err(|e| anyhow!("join task failed: {e}"))??
    };
    info.node_id.store(node_id.0, Ordering::Relaxed);
    if let (Some(f), Some(region)) = (&cfg.filters, region_of(&cfg.locality)) {
        // Other nodes' regions are learned from their node records (liveness loop).
        f.set_locality(node_id, region);
    }

    let transport: Arc<dyn Transport> = match &cfg.network {
        Network::Grpc => Arc::new(GrpcTransport::new(
            node_id,
            tokio::runtime::Handle::current(),
        )),
        Network::Local(net) => {
            net.register(node_id, listen_addr.to_string(), service.clone());
            net.transport(node_id)
        }
    };
    let transport: Arc<dyn Transport> = match &cfg.filters {
        Some(f) => Arc::new(FilteredTransport::new(node_id, transport, f.clone())),
        None => transport,
    };
    let store_cfg = StoreConfig {
        range: txn::range::RangeConfig {
            sync: cfg.node.sync_commits,
            ..cfg.store.range.clone()
        },
        raft: replication::RaftConfig {
            sync: cfg.node.sync_commits,
            ..cfg.store.raft.clone()
        },
        ..cfg.store.clone()
    };
    let store = {
        let (engine, clock, transport) = (engine.clone(), clock.clone(), transport.clone());
        tokio::task::spawn_blocking(move || {
            Store::open(node_id, engine, clock, store_cfg, transport)
        })
        .await
        .map_err(|e| anyhow!("store task failed: {e}"))?
        .map_err(|e| anyhow!("opening the cluster store: {e}"))?
    };
    service.set_store(&store);
    let dist = DistSender::new(node_id, store.clone(), service.clone(), transport.clone());
    let router: Arc<dyn Router> = dist.clone();
    store.set_router(Arc::downgrade(&router));
    // Keep the router alive as long as the sender.
    std::mem::forget(router);
    service.set_dist(&dist);
    let weak = Arc::downgrade(&dist);
    store.set_global_lookup(Arc::new(move |start: &[u8]| {
        weak.upgrade().is_some_and(|d| {
            d.span_configs_cached()
                .lookup(start)
                .is_some_and(|c| c.global_reads)
        })
    }));
    for p in &peers {
        dist.add_node(p.node_id, &p.addr);
    }
    // A node that bootstraps the cluster has no peer to learn yet: looking for one would hold
    // up range 1 for the whole discovery deadline while joiners' Join calls time out.
    if peers.is_empty() && !cfg.join.is_empty() && !bootstrap {
        let (dist, join) = (dist.clone(), cfg.join.clone());
        tokio::task::spawn_blocking(move || learn_peers(&dist, &join))
            .await
            .map_err(|e| anyhow!("peer discovery failed: {e}"))?;
    }
    let txns: Arc<dyn TxnSource> = Arc::new(ClusterTxns::new(dist.clone(), cfg.locality.clone()));
    {
        let (dist, store, txns) = (dist.clone(), store.clone(), txns.clone());
        let filters = cfg.filters.clone();
        let record = NodeRecord {
            node_id,
            addr: listen_addr.to_string(),
            sql_addr: info.sql_addr.to_string(),
            locality: cfg.locality.clone(),
            live_until: Timestamp::ZERO,
            decommissioning: false,
        };
        tokio::task::spawn_blocking(move || -> Result<()> {
            if bootstrap {
                store
                    .bootstrap()
                    .map_err(|e| anyhow!("bootstrapping: {e}"))?;
            }
            // The liveness loop renews the record every LIVENESS_INTERVAL; a failure here
            // (range 1 busy while replicas are being added) must not stop the node.
            match heartbeat(&dist, &record) {
                Ok(nodes) => {
                    if let Some(f) = &filters {
                        learn_localities(f, &nodes);
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "first liveness heartbeat failed; retrying in the background"
                ),
            }
            if bootstrap {
                sqlserve::bootstrap(txns.as_ref()).context("bootstrapping the catalog")?;
            }
            Ok(())
        })
        .await
        .map_err(|e| anyhow!("startup task failed: {e}"))??;
    }
    let stop = Arc::new(AtomicBool::new(false));
    spawn_background(&dist, &cfg, &info, stop.clone());

    let (i, rx, t) = (info.clone(), shutdown_rx.clone(), txns.clone());
    tasks.push((
        "SQL",
        tokio::spawn(async move {
            if let Err(e) = sqlserve::serve(sql_listener, t, i, rx).await {
                tracing::error!("SQL server stopped: {e:#}");
            }
        }),
    ));
    tasks.push((
        "HTTP",
        tokio::spawn(http::serve(http_listener, info.clone(), shutdown_rx)),
    ));
    tracing::info!(node = %node_id, sql = %info.sql_addr, grpc = %listen_addr, "node started");
    let stoppers: Vec<Box<dyn FnOnce() + Send>> = {
        let (store, net) = (store.clone(), cfg.network.clone());
        vec![Box::new(move || {
            drop(reserved_port);
            stop.store(true, Ordering::SeqCst);
            if let Network::Local(net) = net {
                net.unregister(node_id);
            }
            store.stop();
        })]
    };
    let handle = NodeHandle::from_parts(NodeParts {
        info,
        store: cfg.node.store.clone(),
        txns,
        engine,
        shutdown_tx,
        tasks,
        stoppers,
    });
    Ok(ClusterNode {
        handle,
        dist,
        store,
        node_id,
    })
}

/// Reads the stored node id, or waits for `init` or a successful join.
fn find_identity(
    engine: &dyn kv::engine::Engine,
    join: &[String],
    alone: bool,
    probe: Arc<dyn Transport>,
    init: std::sync::mpsc::Receiver<()>,
) -> Result<(NodeId, bool, Vec<NodeRecord>)> {
    if let Some(raw) = engine.get(&desc::store_ident_key())? {
        let id: u64 = desc::decode(&raw).map_err(|e| anyhow!("bad store identity: {e}"))?;
        // A restarted node learns its peers from its replicas' descriptors and the first
        // liveness round; the join addresses are only for the first start.
        return Ok((NodeId(id), false, Vec::new()));
    }
    let save = |id: NodeId| -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(desc::store_ident_key(), desc::encode(&id.0));
        engine.write(b, true)?;
        Ok(())
    };
    if join.is_empty() && alone {
        save(NodeId(1))?;
        return Ok((NodeId(1), true, Vec::new()));
    }
    let mut last_log = Instant::now();
    loop {
        if init.try_recv().is_ok() {
            save(NodeId(1))?;
            tracing::info!("initialising a new cluster");
            return Ok((NodeId(1), true, Vec::new()));
        }
        for addr in join {
            let Ok(raw) = probe.call(
                &Target::Addr(addr.clone()),
                desc::encode(&NodeRequest::Join),
                Duration::from_secs(5),
            ) else {
                continue;
            };
            match desc::decode::<NodeResponse>(&raw) {
                Ok(NodeResponse::Joined(Ok((id, peers)))) => {
                    save(NodeId(id))?;
                    tracing::info!(node = id, via = %addr, "joined the cluster");
                    return Ok((NodeId(id), false, peers));
                }
                Ok(NodeResponse::Joined(Err(e))) => {
                    tracing::debug!(via = %addr, error = ?e, "join refused");
                }
                _ => {}
            }
        }
        if last_log.elapsed() > Duration::from_secs(10) {
            tracing::info!("waiting for `meridian init` or a reachable --join node");
            last_log = Instant::now();
        }
        std::thread::sleep(JOIN_RETRY);
    }
}

/// Asks the `--join` addresses for the node records (a restarted node knows node ids from
/// its replicas but not their addresses). Best effort: the first that answers is enough.
fn learn_peers(dist: &DistSender, join: &[String]) {
    // The join targets may not know anyone yet (a cluster being initialized): retry briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !learn_peers_once(dist, join) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One pass over the join addresses; true once one of them named some node.
fn learn_peers_once(dist: &DistSender, join: &[String]) -> bool {
    for addr in join {
        if let Ok(NodeResponse::KnownNodes(nodes)) = dist.call_addr(addr, NodeRequest::KnownNodes) {
            if !nodes.is_empty() {
                for (n, a) in &nodes {
                    dist.add_node(*n, a);
                }
                return true;
            }
        }
    }
    false
}

/// Renews the node's liveness record; returns the node records read before the renewal
/// (empty if they could not be read).
fn heartbeat(dist: &DistSender, record: &NodeRecord) -> Result<Vec<NodeRecord>, txn::Error> {
    let now = dist.store().clock().now();
    let mut rec = record.clone();
    let nodes = dist.node_records().unwrap_or_default();
    // Keep the decommissioning flag someone else may have set.
    if let Some(cur) = nodes.iter().find(|n| n.node_id == rec.node_id) {
        rec.decommissioning = cur.decommissioning;
    }
    rec.live_until = Timestamp::from_parts(now.physical_ms() + LIVENESS_TTL.as_millis() as u64, 0);
    dist.meta_write(vec![(
        desc::node_key(rec.node_id),
        Some(desc::encode(&rec)),
    )])?;
    Ok(nodes)
}

/// Places every node with a `region` tier in the latency filters' matrix, so simulated
/// latency applies to messages to it (`--simulated-latency` on real processes).
fn learn_localities(filters: &Filters, nodes: &[NodeRecord]) {
    for n in nodes {
        if let Some(region) = region_of(&n.locality) {
            filters.set_locality(n.node_id, region);
        }
    }
}

fn spawn_background(
    dist: &Arc<DistSender>,
    cfg: &ClusterConfig,
    info: &Arc<NodeInfo>,
    stop: Arc<AtomicBool>,
) {
    let record = NodeRecord {
        node_id: NodeId(info.node_id()),
        addr: info.listen_addr.to_string(),
        sql_addr: info.sql_addr.to_string(),
        locality: cfg.locality.clone(),
        live_until: Timestamp::ZERO,
        decommissioning: false,
    };
    let weak: Weak<DistSender> = Arc::downgrade(dist);
    let s = stop.clone();
    let filters = cfg.filters.clone();
    let join = cfg.join.clone();
    let _ = std::thread::Builder::new()
        .name("liveness".into())
        .spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Some(d) = weak.upgrade() else { return };
                match heartbeat(&d, &record) {
                    Ok(nodes) => {
                        if let Some(f) = &filters {
                            learn_localities(f, &nodes);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "liveness heartbeat failed");
                        // A node that joined while its join target knew no other node yet
                        // (it was initializing) learned no peer, and cannot reach range 1
                        // to read the node records either: ask the join addresses again.
                        let alone = d.known_nodes().iter().all(|(n, _)| *n == record.node_id);
                        if alone {
                            learn_peers(&d, &join);
                        }
                    }
                }
                drop(d);
                std::thread::sleep(LIVENESS_INTERVAL);
            }
        });
    crate::closedts::spawn(dist, stop.clone());
    crate::gc::spawn(dist, stop.clone());
    crate::merge::spawn(dist, cfg.node.merge.clone(), stop.clone());
    let weak: Weak<DistSender> = Arc::downgrade(dist);
    let _ = std::thread::Builder::new()
        .name("queues".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(QUEUE_INTERVAL);
                let Some(d) = weak.upgrade() else { return };
                crate::allocator::run_once(&d);
            }
        });
}

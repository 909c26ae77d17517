//! A node's store in a cluster: the replicas it holds, each a Raft group plus the range's
//! replicated state, and the one Raft thread that drives all of them.
//!
//! Data flow of a write: a request reaches the leaseholder replica ([`serve`]); the range's
//! transaction code ([`txn::range::Range`]) evaluates it under latches and hands the resulting
//! write batch to [`Replicate`] here, which wraps it in a [`Command::Write`] (tagged with the
//! lease sequence and descriptor generation it was evaluated under) and sends it to the Raft
//! thread ([`raftloop`]). The thread proposes it, persists the log (one batch and one fsync
//! for every range with work), sends the messages, and when the entry commits applies it
//! ([`apply`]): the command is checked against the replica's current lease and generation
//! (so a command evaluated by a deposed leaseholder is rejected, deterministically, on every
//! replica) and its writes join the apply batch. Once that batch is written the proposer is
//! told, and the request returns.
//!
//! Reads are served by the leaseholder from its engine without a Raft round: every write it
//! acknowledged was applied locally first, and it holds the lease only after applying the
//! lease command, i.e. after every earlier command.
//!
//! HAZARD: leases are expiration-based and assume clocks within the maximum offset. A holder
//! stops serving `max_offset` before its lease expires (the stasis period) and a new lease
//! must start after the previous one's expiration, so two holders never serve at once if no
//! clock is further off than that; the HLC refuses remote timestamps further ahead.
//!
//! IMPLEMENTATION CAVEATS
//! - Leases are taken on demand by the Raft leader when a request needs one and extended while
//!   requests keep coming; an idle range's lease simply lapses (nothing to renew).
//! - A range's unreplicated state (timestamp cache, lock table) is rebuilt empty with a
//!   low-water mark at the lease start when the lease or the span changes.

pub mod apply;
pub mod merge;
pub mod merge_apply;
pub mod raftloop;
pub mod replica_gc;
pub mod replicas;
pub mod serve;
pub mod snapshot;
pub mod split;

use crate::desc::{self, Command, Lease, RangeDescriptor, ReplicaDesc};
use crate::transport::Transport;
use kv::engine::{Engine, Visit, WriteBatch};
use kv::mvcc::Mvcc;
use kv::{Clock, NodeId, RangeId, ReplicaId, Timestamp};
use parking_lot::{Mutex, RwLock};
use replication::RaftConfig;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock, Weak};
use std::time::Duration;
use txn::range::{RangeConfig, ResolveTask, Router};

pub use raftloop::RaftMsg;

/// Raft log index and term a range's log starts after, when the range is created by
/// bootstrap or a split (its state is in the engine already).
pub const INITIAL_LOG_INDEX: u64 = 5;

/// Settings of a cluster store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Raft timing and sizes.
    pub raft: RaftConfig,
    /// Real time between Raft ticks.
    pub tick: Duration,
    /// How long a lease lasts.
    pub lease_duration: Duration,
    /// Transaction settings of every range.
    pub range: RangeConfig,
    /// A range whose data grows past this many bytes is split.
    pub split_bytes: u64,
    /// How long a proposal may wait to apply before its outcome is reported ambiguous.
    pub proposal_timeout: Duration,
    /// How many voters each range should have.
    pub replication_factor: usize,
    /// How long a node may miss liveness heartbeats before its replicas are moved elsewhere.
    pub dead_after: Duration,
    /// How long old MVCC versions are kept (CockroachDB's `gc.ttlseconds`, default 4 h):
    /// reads older than this may fail with "batch timestamp ... must be after replica GC
    /// threshold" (crate::gc).
    pub gc_ttl: Duration,
    /// How often a leaseholder garbage-collects its ranges (crate::gc).
    pub gc_interval: Duration,
    /// How often the store checks, in the meta records, whether its replicas were removed
    /// from their ranges (crate::gc, [`replica_gc`]).
    pub replica_gc_interval: Duration,
    /// Load-based splitting and rebalancing (crate::load).
    pub load: crate::load::LoadConfig,
    /// Keys and values per Raft snapshot chunk ([`snapshot`]).
    pub snapshot_chunk_bytes: usize,
    /// Where a sender spills the snapshots it streams (None: the system temp directory).
    pub snapshot_dir: Option<std::path::PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            raft: RaftConfig::default(),
            tick: Duration::from_millis(100),
            lease_duration: Duration::from_secs(6),
            range: RangeConfig::default(),
            split_bytes: 64 << 20,
            proposal_timeout: Duration::from_secs(10),
            replication_factor: 3,
            dead_after: Duration::from_secs(60),
            gc_ttl: Duration::from_secs(4 * 3600),
            gc_interval: Duration::from_secs(600),
            replica_gc_interval: Duration::from_secs(10),
            load: crate::load::LoadConfig::default(),
            snapshot_chunk_bytes: snapshot::DEFAULT_CHUNK_BYTES,
            snapshot_dir: None,
        }
    }
}

/// One replica: the range's descriptor and lease as applied here, Raft leadership, and (while
/// this node holds the lease) the range's transaction state.
pub struct Replica {
    /// The range.
    pub range_id: RangeId,
    /// This replica's Raft peer id.
    pub replica_id: ReplicaId,
    pub(crate) state: Mutex<ReplicaState>,
    /// Requests served under the lease (crate::load).
    pub load: crate::load::ReplicaLoad,
}

/// The mutable part of a replica.
#[derive(Default)]
pub struct ReplicaState {
    /// The descriptor as of the last applied command (None until a snapshot initialised it).
    pub desc: Option<RangeDescriptor>,
    /// The lease as of the last applied command.
    pub lease: Lease,
    /// The Raft leader's replica id (0: unknown) and whether it is this replica.
    pub leader: (u64, bool),
    /// The transaction side of the range while this node holds the lease.
    pub range: Option<Arc<txn::range::Range>>,
    /// Bytes written through this replica since the last split check.
    pub written_bytes: u64,
    /// The Raft index of the last entry applied here (and visible in the engine).
    pub applied_index: u64,
    /// Closed timestamps learned from leaseholders (crate::closedts).
    pub closed: crate::closedts::Closed,
    /// The range's span config asks for global reads (GLOBAL tables): its leaseholder closes
    /// timestamps in the future.
    pub global_reads: bool,
}

impl Replica {
    fn new(range_id: RangeId, replica_id: ReplicaId, desc: Option<RangeDescriptor>) -> Self {
        Replica {
            range_id,
            replica_id,
            state: Mutex::new(ReplicaState {
                desc,
                ..ReplicaState::default()
            }),
            load: crate::load::ReplicaLoad::default(),
        }
    }

    /// A copy of the descriptor.
    pub fn desc(&self) -> Option<RangeDescriptor> {
        self.state.lock().desc.clone()
    }

    /// A copy of the lease.
    pub fn lease(&self) -> Lease {
        self.state.lock().lease.clone()
    }

    /// The Raft leader (replica id, is it us).
    pub fn leader(&self) -> (u64, bool) {
        self.state.lock().leader
    }
}

/// A proposal waiting to apply.
struct Waiter {
    /// The log index it was appended at (set by the Raft thread).
    index: Option<u64>,
    reply: mpsc::SyncSender<Result<(), txn::Error>>,
}

/// A node's store.
pub struct Store {
    /// This node.
    pub node_id: NodeId,
    engine: Arc<dyn Engine>,
    mvcc: Mvcc,
    clock: Arc<Clock>,
    cfg: StoreConfig,
    replicas: RwLock<BTreeMap<RangeId, Arc<Replica>>>,
    inbox: mpsc::Sender<RaftMsg>,
    waiters: Mutex<HashMap<u64, Waiter>>,
    next_proposal: AtomicU64,
    transport: Arc<dyn Transport>,
    resolver: mpsc::Sender<ResolveTask>,
    router: OnceLock<Weak<dyn Router>>,
    /// Whether a key's span config asks for global reads (set with
    /// [`Store::set_global_lookup`]).
    global_lookup: OnceLock<GlobalLookup>,
    /// Reads served here without the lease (closed timestamps), for metrics and tests.
    follower_reads: AtomicU64,
    /// What the allocator's last pass found settled (crate::allocator).
    pub(crate) queue_memo: Mutex<crate::allocator::QueueMemo>,
    /// Held by a GC run over a range and by a split (which copies the GC threshold to the
    /// right side), so a split never copies a threshold a concurrent run is raising.
    pub(crate) gc_lock: Mutex<()>,
    /// In-process state of splits, membership changes and merges ([`merge::MergeState`]).
    pub(crate) merge_state: merge::MergeState,
    /// Snapshot streams in both directions ([`snapshot`]).
    pub(crate) snap: snapshot::SnapshotQueues,
}

/// See [`Store::set_global_lookup`].
pub type GlobalLookup = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

impl Store {
    /// Opens the store of node `node_id` on `engine`: loads every replica it holds and starts
    /// the Raft thread. `router` (set later with [`Store::set_router`]) carries the requests
    /// ranges send to other ranges.
    pub fn open(
        node_id: NodeId,
        engine: Arc<dyn Engine>,
        clock: Arc<Clock>,
        cfg: StoreConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<Arc<Store>, String> {
        let (inbox, rx) = mpsc::channel();
        let (resolver, resolve_rx) = mpsc::channel::<ResolveTask>();
        let store = Arc::new(Store {
            node_id,
            mvcc: Mvcc::new(engine.clone()),
            engine: engine.clone(),
            clock,
            cfg: cfg.clone(),
            replicas: RwLock::new(BTreeMap::new()),
            inbox,
            waiters: Mutex::new(HashMap::new()),
            next_proposal: AtomicU64::new(1),
            transport,
            resolver,
            router: OnceLock::new(),
            global_lookup: OnceLock::new(),
            follower_reads: AtomicU64::new(0),
            queue_memo: Mutex::default(),
            gc_lock: Mutex::new(()),
            merge_state: merge::MergeState::default(),
            snap: snapshot::SnapshotQueues::new(node_id),
        });
        snapshot::clear_staging(engine.as_ref())?;
        let mut raft = replication::MultiRaft::new(engine.clone(), cfg.raft.clone());
        for range in store.stored_ranges()? {
            store.load_replica(&mut raft, range)?;
        }
        raftloop::spawn(Arc::downgrade(&store), raft, rx);
        let weak = Arc::downgrade(&store);
        std::thread::Builder::new()
            .name("intent-resolver".into())
            .spawn(move || resolver_loop(weak, resolve_rx))
            .map_err(|e| e.to_string())?;
        Ok(store)
    }

    /// Reads this store served as a follower (without the lease) since it started.
    pub fn follower_reads(&self) -> u64 {
        self.follower_reads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the router ranges use to reach other ranges (the node's distributed sender).
    pub fn set_router(&self, router: Weak<dyn Router>) {
        let _ = self.router.set(router);
    }

    /// Sets how the store tells a global range (span config `global_reads`) from the start
    /// key of its span: the node's span config cache, which the store cannot reach itself.
    pub fn set_global_lookup(&self, lookup: GlobalLookup) {
        let _ = self.global_lookup.set(lookup);
    }

    /// Whether the range starting at `start` is global, by the span configs (false until a
    /// lookup is set).
    pub(crate) fn is_global_span(&self, start: &[u8]) -> bool {
        self.global_lookup.get().is_some_and(|f| f(start))
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The MVCC view of the engine.
    pub fn mvcc(&self) -> &Mvcc {
        &self.mvcc
    }

    /// The node's clock.
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The replica of `range` on this store.
    pub fn replica(&self, range: RangeId) -> Option<Arc<Replica>> {
        self.replicas.read().get(&range).cloned()
    }

    /// Every replica on this store.
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.replicas.read().values().cloned().collect()
    }

    /// The initialised replica whose span holds `key`.
    pub fn replica_for_key(&self, key: &[u8]) -> Option<Arc<Replica>> {
        self.replicas
            .read()
            .values()
            .find(|r| r.desc().is_some_and(|d| d.contains(key)))
            .cloned()
    }

    fn stored_ranges(&self) -> Result<Vec<RangeId>, String> {
        let (start, end) = desc::replica_list_span();
        let mut out = Vec::new();
        self.engine
            .scan(&start, Some(&end), &mut |k, _| {
                if let Some(id) = k.get(3..11).and_then(|b| b.try_into().ok()) {
                    out.push(RangeId(u64::from_be_bytes(id)));
                }
                Visit::Continue
            })
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn read_desc(&self, range: RangeId) -> Result<Option<RangeDescriptor>, String> {
        match self
            .engine
            .get(&desc::desc_key(range))
            .map_err(|e| e.to_string())?
        {
            Some(raw) => desc::decode(&raw).map(Some),
            None => Ok(None),
        }
    }

    fn read_lease(&self, range: RangeId) -> Result<Lease, String> {
        match self
            .engine
            .get(&desc::lease_key(range))
            .map_err(|e| e.to_string())?
        {
            Some(raw) => desc::decode(&raw),
            None => Ok(Lease::default()),
        }
    }

    /// Loads a replica recorded in the store.
    fn load_replica(
        self: &Arc<Self>,
        raft: &mut replication::MultiRaft,
        range: RangeId,
    ) -> Result<(), String> {
        merge_apply::reset_if_marked(self, range)?;
        let desc = self.read_desc(range)?;
        let replica_id = match self
            .engine
            .get(&desc::replica_list_key(range))
            .map_err(|e| e.to_string())?
        {
            Some(raw) => ReplicaId(desc::decode::<u64>(&raw)?),
            None => return Ok(()),
        };
        let log = replication::LogStore::open(
            self.engine.as_ref(),
            range,
            Arc::new(apply::Snapshots(Arc::downgrade(self))),
        )
        .map_err(|e| e.to_string())?;
        raft.add_group(range, replica_id.0, log)
            .map_err(|e| e.to_string())?;
        let replica = Replica::new(range, replica_id, desc);
        replica.state.lock().lease = self.read_lease(range)?;
        self.replicas.write().insert(range, Arc::new(replica));
        Ok(())
    }

    /// Stages the records that make a new range exist on this store: its descriptor, lease and
    /// membership in the store's replica list.
    fn stage_new_range(
        batch: &mut WriteBatch,
        d: &RangeDescriptor,
        lease: &Lease,
        replica: ReplicaId,
    ) {
        batch.put(desc::desc_key(d.range_id), desc::encode(d));
        batch.put(desc::lease_key(d.range_id), desc::encode(lease));
        batch.put(desc::replica_list_key(d.range_id), desc::encode(&replica.0));
    }

    /// Creates range 1 (the whole keyspace) with this node as its only replica: the first
    /// step of `meridian init`. Fails if the store already holds ranges.
    pub fn bootstrap(&self) -> Result<(), String> {
        if !self.replicas.read().is_empty() || !self.stored_ranges()?.is_empty() {
            return Err("the store is already part of a cluster".into());
        }
        let d = RangeDescriptor {
            range_id: RangeId(1),
            start: Vec::new(),
            end: None,
            replicas: vec![ReplicaDesc {
                node_id: self.node_id,
                replica_id: ReplicaId(1),
                kind: crate::desc::ReplicaKind::Voter,
            }],
            next_replica_id: 2,
            generation: 0,
        };
        let mut batch = WriteBatch::new();
        Self::stage_new_range(&mut batch, &d, &Lease::default(), ReplicaId(1));
        batch.put(desc::meta_key(None), desc::encode(&d));
        batch.put(desc::range_id_counter_key(), desc::encode(&1u64));
        batch.put(desc::node_id_counter_key(), desc::encode(&self.node_id.0));
        self.engine.write(batch, true).map_err(|e| e.to_string())?;
        self.send_raft(RaftMsg::CreateGroup {
            desc: d,
            replica: ReplicaId(1),
            campaign: true,
        });
        Ok(())
    }

    fn send_raft(&self, msg: RaftMsg) {
        // The Raft thread only stops with the store; a send error means we are shutting down.
        let _ = self.inbox.send(msg);
    }

    /// Stops the Raft thread (the store's state stays on disk).
    pub fn stop(&self) {
        self.send_raft(RaftMsg::Stop);
    }

    /// Proposes `cmd` on `range` and waits until it applies here (or fails).
    pub fn propose_and_wait(&self, range: RangeId, cmd: &Command) -> Result<(), txn::Error> {
        let pid = cmd.id().1;
        let msg = RaftMsg::Propose {
            range,
            pid,
            data: desc::encode(cmd),
        };
        self.submit_and_wait(pid, msg, || {
            format!("a write to {range} was proposed but did not apply")
        })
    }

    /// Registers waiter `pid`, hands `msg` to the Raft thread and waits (bounded by the
    /// proposal timeout, then ambiguous) for the outcome the apply loop reports.
    pub(crate) fn submit_and_wait(
        &self,
        pid: u64,
        msg: RaftMsg,
        what: impl FnOnce() -> String,
    ) -> Result<(), txn::Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.waiters.lock().insert(
            pid,
            Waiter {
                index: None,
                reply: tx,
            },
        );
        self.send_raft(msg);
        let res = rx.recv_timeout(self.cfg.proposal_timeout);
        self.waiters.lock().remove(&pid);
        match res {
            Ok(r) => r,
            Err(_) => Err(txn::Error::Ambiguous(format!(
                "{} within {:?}",
                what(),
                self.cfg.proposal_timeout
            ))),
        }
    }

    /// A fresh node-local proposal id.
    pub fn next_id(&self) -> (NodeId, u64) {
        (
            self.node_id,
            self.next_proposal.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// The node's current timestamp.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

fn resolver_loop(store: Weak<Store>, rx: mpsc::Receiver<ResolveTask>) {
    while let Ok((h, req)) = rx.recv() {
        let Some(store) = store.upgrade() else { return };
        let Some(router) = store.router.get().and_then(|r| r.upgrade()) else {
            continue;
        };
        drop(store);
        if let Err(e) = txn::range::resolve_everywhere(router.as_ref(), &h, req) {
            tracing::debug!(error = %e, "async intent resolution failed; readers will resolve it");
        }
    }
}

impl Store {
    /// Hands incoming Raft messages to the Raft thread.
    pub fn deliver_raft(&self, batch: Vec<crate::transport::RaftEnvelope>) {
        let batch = self.take_snapshot_traffic(batch);
        if batch.is_empty() {
            return;
        }
        self.send_raft(RaftMsg::Raft(batch));
    }

    /// Writes plain (non-MVCC) keys through `range`'s Raft group at its leaseholder: the
    /// addressing records and counters of range 1.
    pub fn write_plain(
        self: &Arc<Self>,
        range: RangeId,
        ops: Vec<kv::engine::BatchOp>,
    ) -> Result<(), txn::Error> {
        let rep = self
            .replica(range)
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })?;
        self.ensure_lease(&rep)?;
        let (lease_seq, generation) = {
            let st = rep.state.lock();
            (st.lease.seq, st.desc.as_ref().map_or(0, |d| d.generation))
        };
        let cmd = Command::Write {
            id: self.next_id(),
            lease_seq,
            generation,
            ops,
        };
        self.propose_and_wait(range, &cmd)
    }
}

impl Replica {
    /// Returns and resets the bytes written since the last check if they exceed `threshold`.
    pub fn take_written_bytes_over(&self, threshold: u64) -> Option<u64> {
        let mut st = self.state.lock();
        if st.written_bytes > threshold {
            Some(std::mem::take(&mut st.written_bytes))
        } else {
            None
        }
    }
}

impl Store {
    /// Wakes a quiesced group.
    pub fn wake(&self, range: RangeId) {
        self.send_raft(RaftMsg::Wake(range));
    }

    /// Asks the Raft leader of `range` to hand leadership to this node's replica.
    pub fn transfer_leadership_to_self(&self, range: RangeId) {
        // raft-rs transfers from the leader: a follower's request is forwarded to it.
        if let Some(rep) = self.replica(range) {
            self.send_raft(RaftMsg::TransferLeader {
                range,
                to: rep.replica_id,
            });
        }
    }
}

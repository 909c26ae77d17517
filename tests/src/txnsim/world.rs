//! The simulated KV layer under the coordinators: the range objects of one store, the router
//! that hands requests to them (as the cluster's store and DistSender do), the queue of
//! asynchronous intent resolutions, and the range changes the driver injects (splits, merges,
//! lease transfers, store restarts, MVCC GC).
//!
//! Everything here runs on the driver's thread. Requests from any other thread (the
//! coordinators' heartbeat threads) are answered "pending" without touching anything: the
//! driver sends heartbeats itself, at chosen virtual times.

use super::driver::TxnState;
use super::util::{Rng, Trace};
use super::SimConfig;
use kv::engine::{Engine, MemoryEngine, WriteBatch};
use kv::mvcc::{Mvcc, TxnId};
use kv::{Clock, Timestamp};
use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use txn::api::{Header, Request, Response, TxnStatus};
use txn::range::latch::Span;
use txn::range::{Range, RangeConfig, Replicate, ResolveTask, Router};
use txn::{Error, Result};

thread_local! {
    /// Set on the thread that drives a simulation: only its requests are executed.
    pub(crate) static ON_DRIVER: Cell<bool> = const { Cell::new(false) };
}

/// Attempts to route one request before the driver declares a livelock.
const MAX_ROUTE_ATTEMPTS: usize = 64;

/// Writes of one range object; refuses them once the object was replaced, as the cluster's
/// replica writer refuses a command proposed under an old lease or descriptor generation.
struct SimWrite {
    engine: Arc<dyn Engine>,
    live: Arc<AtomicBool>,
}

impl Replicate for SimWrite {
    fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        if !self.live.load(Ordering::SeqCst) {
            return Err(Error::NotLeaseholder { leaseholder: None });
        }
        Ok(self.engine.write(batch, sync)?)
    }
}

/// One range object and the flag its writer checks.
#[derive(Clone)]
pub(crate) struct SimRange {
    pub(crate) obj: Arc<Range>,
    pub(crate) live: Arc<AtomicBool>,
    /// The node holding the lease: the object reads that node's clock.
    pub(crate) node: usize,
    /// The lease sequence it serves under (replicated mode; 0 otherwise).
    pub(crate) lease_seq: u64,
    /// Its Raft group's range id (replicated mode; 0 otherwise).
    pub(crate) range: u64,
}

/// One simulated transaction as the driver sees it.
pub(crate) struct SimTxn {
    /// Gateway (Elle's process).
    pub(crate) gateway: usize,
    pub(crate) state: TxnState,
    pub(crate) coord: Option<Box<dyn txn::Transaction>>,
    /// Operations done so far (Elle's micro-operations).
    pub(crate) ops: Vec<crate::elle::Op>,
    /// Operations still to do.
    pub(crate) plan: Vec<super::driver::PlannedOp>,
    /// The last header its requests carried (heartbeats reuse it).
    pub(crate) header: Option<Header>,
    /// Its transaction id, once a request showed it.
    pub(crate) id: Option<TxnId>,
    /// Virtual ms of its last heartbeat.
    pub(crate) last_beat_ms: u64,
    /// Pushes answered "pending" after it finished (a second one escalates).
    pub(crate) pending_pushes: u32,
    /// Driver step at which it began / finished (real-time order for the checker).
    pub(crate) began: u64,
    pub(crate) ended: Option<u64>,
    /// Commit timestamp (committed transactions).
    pub(crate) commit_ts: Option<Timestamp>,
    /// How it ended (None while running).
    pub(crate) outcome: Option<crate::elle::Outcome>,
}

/// Counters of what a run did.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Transactions begun.
    pub begun: u64,
    /// Transactions committed.
    pub committed: u64,
    /// Transactions that certainly did not commit (errors, rollbacks; not abandoned ones).
    pub failed: u64,
    /// Transactions whose coordinator crashed.
    pub abandoned: u64,
    /// Transactions with an unknown outcome (a commit error that is not a retry).
    pub unknown: u64,
    /// Range splits.
    pub splits: u64,
    /// Range merges.
    pub merges: u64,
    /// Lease transfers (range objects replaced).
    pub transfers: u64,
    /// Store restarts.
    pub restarts: u64,
    /// MVCC GC runs.
    pub gc_runs: u64,
    /// Requests whose range object was replaced between routing and evaluation.
    pub stale_routes: u64,
    /// Requests rerouted after a replaced object refused them.
    pub rerouted: u64,
    /// Pushes after which the holder finished first.
    pub push_finish_first: u64,
    /// Pushes after which the holder's coordinator crashed.
    pub push_abandon: u64,
    /// Pushes after which the holder stalled past its expiration.
    pub push_stall: u64,
    /// Pushes where the pusher gave up.
    pub push_give_up: u64,
    /// Pushes of a holder that was itself waiting on the pusher (the pusher aborts).
    pub push_deadlock: u64,
    /// Pushes passed to the real range code (holder finished or abandoned).
    pub push_through: u64,
    /// Virtual-time jumps past the transaction expiration.
    pub expiries: u64,
    /// Heartbeats sent by the driver.
    pub heartbeats: u64,
    /// Asynchronous intent resolutions run.
    pub resolves: u64,
    /// Asynchronous intent resolutions lost in store restarts.
    pub resolves_dropped: u64,
    /// Errors by kind (retry reason or error variant).
    pub errors: BTreeMap<String, u64>,
}

/// Mutable state of a run, behind one lock (held only briefly: never across a request).
pub(crate) struct Rt {
    pub(crate) rng: Rng,
    pub(crate) ranges: Vec<SimRange>,
    pub(crate) txns: Vec<SimTxn>,
    pub(crate) by_id: BTreeMap<TxnId, usize>,
    /// Transactions executing an operation, innermost last.
    pub(crate) stack: Vec<usize>,
    pub(crate) trace: Trace,
    pub(crate) stats: Stats,
    /// Registered read timestamps: token -> (transaction, ts).
    pub(crate) reads: BTreeMap<u64, (Option<usize>, Timestamp)>,
    pub(crate) next_token: u64,
    pub(crate) step: u64,
    /// Requests routed in the current driver step (livelock guard).
    pub(crate) routed_this_step: u64,
    /// Internal errors and broken invariants seen while running.
    pub(crate) violations: Vec<String>,
    /// Coordinators of abandoned transactions (never used again, dropped at the end).
    pub(crate) graveyard: Vec<Box<dyn txn::Transaction>>,
}

/// The simulated store and router.
pub struct World {
    pub(crate) cfg: SimConfig,
    /// Node 0's clock.
    pub(crate) clock: Arc<Clock>,
    /// Every node's clock: physical time is the virtual time plus the node's skew.
    pub(crate) clocks: Vec<Arc<Clock>>,
    skews: Vec<i64>,
    /// Virtual time (ms after the HLC epoch).
    base_ms: std::sync::atomic::AtomicU64,
    /// The one engine of the single-engine mode (unused when replicated).
    pub(crate) mvcc: Mvcc,
    engine: Arc<dyn Engine>,
    /// The replicated world (`SimConfig::replicas` > 0): every node its own engine.
    pub(crate) repl: Option<Arc<super::repl::Repl>>,
    pub(crate) rt: Mutex<Rt>,
    pub(crate) resolver_tx: mpsc::Sender<ResolveTask>,
    pub(crate) resolver_rx: Mutex<mpsc::Receiver<ResolveTask>>,
    /// Set at the end: every request is ignored (dropping leftover coordinators).
    pub(crate) dead: AtomicBool,
}

/// Virtual time starts here (ms after the HLC epoch).
const START_MS: u64 = 1_000_000;

impl World {
    /// A store over a fresh memory engine with ranges split at `splits`.
    pub(crate) fn new(cfg: SimConfig, splits: &[Vec<u8>]) -> Arc<World> {
        let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        let (tx, rx) = mpsc::channel();
        let mut skew_rng = Rng::new(cfg.seed ^ 0xc10c);
        let skews: Vec<i64> = (0..cfg.nodes.max(1))
            .map(|n| match n {
                0 => 0,
                _ => skew_rng.range(0, 2 * cfg.max_skew_ms) as i64 - cfg.max_skew_ms as i64,
            })
            .collect();
        let clocks: Vec<Arc<Clock>> = skews
            .iter()
            .map(|s| {
                Arc::new(Clock::manual(
                    (START_MS as i64 + s) as u64,
                    Clock::DEFAULT_MAX_OFFSET_MS,
                ))
            })
            .collect();
        let mut bounds: Vec<Vec<u8>> = splits.to_vec();
        bounds.sort();
        bounds.dedup();
        let mut start = Vec::new();
        let mut spans = Vec::new();
        for b in bounds.into_iter().map(Some).chain([None]) {
            spans.push(Span {
                start: std::mem::take(&mut start),
                end: b.clone(),
            });
            start = b.unwrap_or_default();
        }
        let repl = (cfg.replicas > 0).then(|| {
            let mut repl = super::repl::Repl::new(cfg.seed, cfg.nodes.max(1), cfg.replicas, &spans);
            repl.st.get_mut().serve_unapplied = cfg.bug == Some(super::Bug::ServeBeforeApplied);
            Arc::new(repl)
        });
        let world = Arc::new(World {
            clock: clocks[0].clone(),
            clocks,
            skews,
            base_ms: std::sync::atomic::AtomicU64::new(START_MS),
            mvcc: Mvcc::new(engine.clone()),
            engine,
            repl,
            rt: Mutex::new(Rt {
                rng: Rng::new(cfg.seed),
                ranges: Vec::new(),
                txns: Vec::new(),
                by_id: BTreeMap::new(),
                stack: Vec::new(),
                trace: Trace::default(),
                stats: Stats::default(),
                reads: BTreeMap::new(),
                next_token: 0,
                step: 0,
                routed_this_step: 0,
                violations: Vec::new(),
                graveyard: Vec::new(),
            }),
            resolver_tx: tx,
            resolver_rx: Mutex::new(rx),
            dead: AtomicBool::new(false),
            cfg,
        });
        if let Some(repl) = &world.repl {
            let ranges = world.replicated_ranges(repl, &spans);
            world.rt.lock().ranges = ranges;
            return world;
        }
        let ranges = spans.into_iter().map(|s| world.new_range(s, 0)).collect();
        world.rt.lock().ranges = ranges;
        world
    }

    /// A range object over `span` whose timestamp cache starts at the clock (every read
    /// served so far is at or below it: requests move the clock, as in the cluster's store).
    fn new_range(&self, span: Span, node: usize) -> SimRange {
        let live = Arc::new(AtomicBool::new(true));
        let writer = Arc::new(SimWrite {
            engine: self.engine.clone(),
            live: live.clone(),
        });
        self.range_object(span, node, self.mvcc.clone(), writer, live, 0)
    }

    /// A range object on `node` reading `mvcc` and writing through `writer` (see
    /// [`World::new_range`] for its timestamp cache).
    pub(crate) fn range_object(
        &self,
        span: Span,
        node: usize,
        mvcc: Mvcc,
        writer: Arc<dyn Replicate>,
        live: Arc<AtomicBool>,
        lease_seq: u64,
    ) -> SimRange {
        let clock = self.clocks[node].clone();
        let obj = Arc::new(Range::new(
            span,
            mvcc,
            clock.clone(),
            RangeConfig {
                txn_expiration_ms: self.cfg.expiration_ms,
                sync: false,
            },
            self.resolver_tx.clone(),
            writer,
            if self.cfg.bug == Some(super::Bug::LowWaterZero) {
                Timestamp::ZERO
            } else {
                clock.now()
            },
        ));
        SimRange {
            obj,
            live,
            node,
            lease_seq,
            range: 0,
        }
    }

    /// Retires a range object: it refuses to write and fails reads that were inside it.
    pub(crate) fn retire(_rt: &mut Rt, r: SimRange) {
        r.live.store(false, Ordering::SeqCst);
        r.obj.retire();
    }

    pub(crate) fn index_for(ranges: &[SimRange], key: &[u8]) -> usize {
        let i = ranges.partition_point(|r| r.obj.span.end.as_deref().is_some_and(|e| e <= key));
        i.min(ranges.len() - 1)
    }

    /// Splits the range holding `key` at `key` (nothing when a range starts there).
    pub(crate) fn split(&self, key: &[u8]) {
        if self.repl.is_some() {
            return self.repl_split(key);
        }
        let (left, right, node) = {
            let rt = self.rt.lock();
            let i = Self::index_for(&rt.ranges, key);
            let span = rt.ranges[i].obj.span.clone();
            if span.start == key {
                return;
            }
            let node = rt.ranges[i].node;
            (
                Span {
                    start: span.start.clone(),
                    end: Some(key.to_vec()),
                },
                Span {
                    start: key.to_vec(),
                    end: span.end.clone(),
                },
                node,
            )
        };
        let (l, r) = (self.new_range(left, node), self.new_range(right, node));
        let mut rt = self.rt.lock();
        let i = Self::index_for(&rt.ranges, key);
        let old = std::mem::replace(&mut rt.ranges[i], l);
        rt.ranges.insert(i + 1, r);
        Self::retire(&mut rt, old);
        rt.stats.splits += 1;
        rt.trace.event(format!("split at {}", show_key(key)));
    }

    /// Merges the range starting at `key` into its left neighbour.
    pub(crate) fn merge(&self, key: &[u8]) {
        if self.repl.is_some() {
            return; // Not in the replicated mode (see the module docs).
        }
        let (span, node, rhs_node) = {
            let rt = self.rt.lock();
            let i = Self::index_for(&rt.ranges, key);
            if i == 0 || rt.ranges[i].obj.span.start != key {
                return;
            }
            let span = Span {
                start: rt.ranges[i - 1].obj.span.start.clone(),
                end: rt.ranges[i].obj.span.end.clone(),
            };
            (span, rt.ranges[i - 1].node, rt.ranges[i].node)
        };
        // The merge carries the right-hand holder's clock: the merged object's timestamp
        // cache then starts above every read the right-hand side served.
        self.carry_clock(rhs_node, node);
        let merged = self.new_range(span, node);
        let mut rt = self.rt.lock();
        let i = Self::index_for(&rt.ranges, key);
        let right = rt.ranges.remove(i);
        let left = std::mem::replace(&mut rt.ranges[i - 1], merged);
        Self::retire(&mut rt, left);
        Self::retire(&mut rt, right);
        rt.stats.merges += 1;
        rt.trace.event(format!("merge at {}", show_key(key)));
    }

    /// Replaces the object of the range at index `i` (a lease transfer: the new holder starts
    /// with empty in-memory state and a low-water mark at its clock).
    pub(crate) fn transfer(&self, i: usize) {
        if self.repl.is_some() {
            return self.repl_transfer(i);
        }
        let (span, from, to) = {
            let mut rt = self.rt.lock();
            let to = rt.rng.below(self.clocks.len() as u64) as usize;
            match rt.ranges.get(i) {
                Some(r) => (r.obj.span.clone(), r.node, to),
                None => return,
            }
        };
        // The transfer carries the old holder's clock (the new lease starts above every
        // read the old holder served), as the cluster's lease start does.
        self.carry_clock(from, to);
        let fresh = self.new_range(span, to);
        let mut rt = self.rt.lock();
        let old = std::mem::replace(&mut rt.ranges[i], fresh);
        Self::retire(&mut rt, old);
        rt.stats.transfers += 1;
        rt.trace
            .event(format!("lease transfer of range {i}: node {from} -> {to}"));
    }

    /// Moves node `to`'s clock past node `from`'s.
    pub(crate) fn carry_clock(&self, from: usize, to: usize) {
        let at = self.clocks[from].now();
        let _ = self.clocks[to].update(at);
    }

    /// Advances virtual time by `ms` on every node.
    pub(crate) fn advance(&self, ms: u64) {
        let base = self.base_ms.fetch_add(ms, Ordering::SeqCst) + ms;
        for (c, s) in self.clocks.iter().zip(&self.skews) {
            c.set_physical_ms((base as i64 + s) as u64);
            if !self.cfg.idle_clocks {
                // A busy node reads its clock all the time (requests, liveness): its last
                // reading follows physical time.
                c.now();
            }
        }
        self.repl_steps(ms);
    }

    /// Virtual time (ms).
    pub(crate) fn virtual_ms(&self) -> u64 {
        self.base_ms.load(Ordering::SeqCst)
    }

    /// A store crash and restart: every range object (timestamp caches, lock tables, wait
    /// queues) is rebuilt from the engine, and queued asynchronous resolutions are lost. The
    /// engine keeps everything written (a replicated write is in a quorum's Raft log).
    pub(crate) fn restart_store(&self) {
        let spans: Vec<(Span, usize)> = self
            .rt
            .lock()
            .ranges
            .iter()
            .map(|r| (r.obj.span.clone(), r.node))
            .collect();
        let fresh: Vec<SimRange> = spans
            .into_iter()
            .map(|(s, n)| self.new_range(s, n))
            .collect();
        let dropped = self.resolver_rx.lock().try_iter().count() as u64;
        let mut rt = self.rt.lock();
        let old = std::mem::replace(&mut rt.ranges, fresh);
        for r in old {
            Self::retire(&mut rt, r);
        }
        rt.stats.restarts += 1;
        rt.stats.resolves_dropped += dropped;
        rt.trace
            .event(format!("store restart ({dropped} resolutions lost)"));
    }

    /// Runs up to `n` queued asynchronous intent resolutions, oldest first.
    pub(crate) fn resolve_some(&self, n: usize) {
        for _ in 0..n {
            let task = self.resolver_rx.lock().try_recv();
            let Ok((h, mut req)) = task else { return };
            if self.cfg.bug == Some(super::Bug::ResolveAbortAsCommit) {
                if let Request::Resolve { commit_ts, .. } = &mut req {
                    if commit_ts.is_none() {
                        *commit_ts = Some(self.clock.now());
                    }
                }
            }
            let r = txn::range::resolve_everywhere(self, &h, req.clone());
            let mut rt = self.rt.lock();
            rt.stats.resolves += 1;
            let desc = match &r {
                Ok(_) => "ok".to_string(),
                Err(e) => error_kind(e),
            };
            if let Request::Resolve { keys, .. } = &req {
                let shown: Vec<String> = keys.iter().map(|k| show_key(k)).collect();
                rt.trace
                    .event(format!("async resolve {} -> {desc}", shown.join(",")));
            }
        }
    }

    /// Number of queued asynchronous resolutions.
    pub(crate) fn resolve_all(&self) {
        self.resolve_some(usize::MAX);
    }

    /// Garbage collects every range below `ttl_ms` ago, never above the oldest registered
    /// read (as the store's GC does).
    pub(crate) fn gc(&self, ttl_ms: u64) {
        if self.repl.is_some() {
            self.sync_ranges();
            let n = self.rt.lock().ranges.len();
            for i in 0..n {
                let _ = self.ensure_holder(i);
            }
        }
        let now = self.clock.now();
        let (objs, oldest) = {
            let rt = self.rt.lock();
            let objs: Vec<Arc<Range>> = rt.ranges.iter().map(|r| r.obj.clone()).collect();
            (objs, rt.reads.values().map(|(_, ts)| *ts).min())
        };
        let mut threshold = Timestamp::from_parts(now.physical_ms().saturating_sub(ttl_ms), 0);
        if let Some(o) = oldest {
            threshold = threshold.min(o);
        }
        let mut removed = 0;
        for o in objs {
            match o.gc(threshold) {
                Ok(n) => removed += n,
                // A replicated range may have lost its lease or quorum meanwhile.
                Err(
                    Error::NotLeaseholder { .. }
                    | Error::RangeKeyMismatch(_)
                    | Error::Ambiguous(_)
                    | Error::Unavailable(_),
                ) if self.repl.is_some() => {}
                Err(e) => self.violation(format!("gc failed: {e}")),
            }
        }
        let mut rt = self.rt.lock();
        rt.stats.gc_runs += 1;
        rt.trace
            .event(format!("gc below {threshold}: {removed} versions"));
    }

    /// Records a broken invariant.
    pub(crate) fn violation(&self, msg: String) {
        let mut rt = self.rt.lock();
        rt.trace.event(format!("VIOLATION {msg}"));
        rt.violations.push(msg);
    }

    /// The current range objects, in key order.
    pub(crate) fn current_ranges(&self) -> Vec<Arc<Range>> {
        self.rt
            .lock()
            .ranges
            .iter()
            .map(|r| r.obj.clone())
            .collect()
    }

    /// Moves the clock past a request's timestamps (the cluster's store does this on every
    /// request, so a low-water mark taken later covers every read served).
    fn observe(clock: &Clock, h: &Header) {
        let mut ts = h.read_ts;
        if let Some(t) = &h.txn {
            ts = ts.max(t.write_ts);
        }
        if ts > Timestamp::ZERO {
            let _ = clock.update(ts);
        }
    }

    /// Remembers which simulated transaction a transaction id belongs to (the innermost one
    /// executing when the id first shows up) and its latest header.
    fn note_txn(&self, h: &Header) {
        let Some(meta) = &h.txn else { return };
        let mut rt = self.rt.lock();
        let idx = match rt.by_id.get(&meta.id) {
            Some(i) => *i,
            None => match rt.stack.last() {
                Some(&i) => {
                    rt.by_id.insert(meta.id, i);
                    rt.txns[i].id = Some(meta.id);
                    i
                }
                None => return,
            },
        };
        if rt.stack.last() == Some(&idx) {
            rt.txns[idx].header = Some(h.clone());
        }
    }

    /// Serves a request on the leaseholder's object as the cluster's store does: moves the
    /// holder's clock past the request, lowers the uncertainty limit to the holder's observed
    /// timestamp when the transaction has one for that node, and hands back a new observation.
    fn serve(&self, target: &SimRange, h: &Header, req: &Request) -> Result<Response> {
        let clock = &self.clocks[target.node];
        Self::observe(clock, h);
        let arrived = clock.now();
        let node = target.node as u64 + 1;
        let observed = h.observed.iter().find(|(n, _)| *n == node);
        let mut resp = match observed.map(|(_, at)| target.obj.observed_limit(h, *at)) {
            Some(limit) if limit < h.uncertainty_limit => {
                let h = Header {
                    uncertainty_limit: limit,
                    ..h.clone()
                };
                target.obj.execute(self, &h, req)?
            }
            _ => target.obj.execute(self, h, req)?,
        };
        if observed.is_none() {
            resp.observed = Some((node, arrived));
        }
        Ok(resp)
    }

    /// Routes a request to the range object owning its key, retrying on a replaced object
    /// (RangeKeyMismatch / NotLeaseholder from a retired object) like the DistSender.
    pub(crate) fn dispatch(&self, h: &Header, req: &Request) -> Result<Response> {
        let key = txn::store::routing_key(h, req)?.to_vec();
        for _ in 0..MAX_ROUTE_ATTEMPTS {
            if self.repl.is_some() {
                self.settle(&key)?;
            }
            let (target, i, race) = {
                let mut rt = self.rt.lock();
                rt.routed_this_step += 1;
                if rt.routed_this_step > 20_000 {
                    drop(rt);
                    panic!("livelock: over 20000 requests routed in one driver step");
                }
                let race = self.cfg.faults && rt.rng.chance(0.03);
                let i = Self::index_for(&rt.ranges, &key);
                (rt.ranges[i].clone(), i, race)
            };
            if race {
                // The request fetched this object, then a lease transfer replaced it before
                // the request evaluated (the race the cluster's store has).
                self.rt.lock().stats.stale_routes += 1;
                self.transfer(i);
            }
            let r = self.serve(&target, h, req);
            let replaced = !target.live.load(Ordering::SeqCst);
            match r {
                Err(Error::RangeKeyMismatch(_)) | Err(Error::NotLeaseholder { .. }) if replaced => {
                    self.rt.lock().stats.rerouted += 1;
                    continue;
                }
                other => return other,
            }
        }
        Err(Error::Unavailable(format!(
            "sim: no current range object served {} in {MAX_ROUTE_ATTEMPTS} attempts",
            show_key(&key)
        )))
    }
}

impl Router for World {
    fn route(&self, h: &Header, req: &Request) -> Result<Response> {
        if !ON_DRIVER.with(|d| d.get()) || self.dead.load(Ordering::SeqCst) {
            // A heartbeat thread (or the teardown): the driver beats itself.
            return Ok(Response {
                status: Some(TxnStatus::Pending),
                ..Response::default()
            });
        }
        self.note_txn(h);
        if let Request::Push { pushee, .. } = req {
            return self.intercept_push(h, req, pushee);
        }
        self.dispatch(h, req)
    }
}

/// A gateway node's view of the KV layer: the coordinators of one node send through it (the
/// DistSender role), with that node's clock and the cluster's uncertainty interval.
pub(crate) struct Gateway {
    pub(crate) world: Arc<World>,
    pub(crate) node: usize,
}

impl Router for Gateway {
    fn route(&self, h: &Header, req: &Request) -> Result<Response> {
        self.world.route(h, req)
    }
}

impl txn::sender::Sender for Gateway {
    fn clock(&self) -> &Arc<Clock> {
        &self.world.clocks[self.node]
    }

    /// One id for every key: the coordinator then sends each flush and refresh as one request
    /// that the ranges hand back piece by piece (re-routed on the calling thread), instead of
    /// fanning out over threads, and tries a one-phase commit that a range refuses when the
    /// keys span ranges (the path of a stale routing cache). See the module docs.
    fn range_of(&self, _key: &[u8]) -> u64 {
        0
    }

    /// As the cluster's: the read timestamp plus the maximum clock offset.
    fn uncertainty_limit(&self, read_ts: Timestamp) -> Timestamp {
        let clock = &self.world.clocks[self.node];
        Timestamp::from_parts(read_ts.physical_ms() + clock.max_offset_ms(), 0)
    }

    fn register(&self, read_ts: Timestamp) -> u64 {
        let mut rt = self.world.rt.lock();
        rt.next_token += 1;
        let token = rt.next_token;
        let owner = rt.stack.last().copied();
        rt.reads.insert(token, (owner, read_ts));
        token
    }

    fn unregister(&self, token: u64) {
        self.world.rt.lock().reads.remove(&token);
    }

    fn node_id(&self) -> Option<u64> {
        Some(self.node as u64 + 1)
    }
}

/// A key for traces: printable bytes as text, others in hex.
pub(crate) fn show_key(key: &[u8]) -> String {
    if key.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(key).into_owned()
    } else {
        key.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A short, deterministic name for an error (no transaction ids).
pub(crate) fn error_kind(e: &Error) -> String {
    match e {
        Error::Retry { reason, .. } => format!("retry:{reason}"),
        Error::ReadOnly => "read-only".into(),
        Error::Ambiguous(_) => "ambiguous".into(),
        Error::BelowGcThreshold { .. } => "below-gc-threshold".into(),
        Error::Internal(m) => format!("internal:{m}"),
        Error::RangeKeyMismatch(_) => "range-key-mismatch".into(),
        Error::NotLeaseholder { .. } => "not-leaseholder".into(),
        Error::Unavailable(_) => "unavailable".into(),
        Error::Storage(e) => format!("storage:{e}"),
    }
}

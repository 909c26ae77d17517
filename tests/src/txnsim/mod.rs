//! Deterministic simulation of transactions over ranges: the real coordinator
//! ([`txn::coord`]) and the real range code ([`txn::range`]: latches, timestamp cache, lock
//! table, records, pushes, refreshes, one- and two-phase commits, intent resolution, GC) driven
//! on ONE thread by one seeded RNG over a manual (virtual) clock, with splits, merges, lease
//! transfers, store restarts, coordinator crashes and stalls injected between and inside
//! operations. The same seed gives the same history, byte for byte (the trace hash).
//!
//! Pieces:
//! - [`world`]: the store: range objects over one memory engine, wired as the cluster wires
//!   them (requests move the clock; a new object's timestamp cache starts at the clock; a
//!   replaced object's writer refuses writes and its reads fail), a router that retries on a
//!   replaced object like the DistSender (and sometimes routes to a replaced one on purpose),
//!   and the asynchronous intent-resolution queue, run by the driver at chosen steps.
//! - [`push`]: what happens while a request would wait for another transaction (see there).
//! - [`driver`]: list-append transactions (appends, locking and plain reads, paged scans
//!   across ranges, writes undone by a savepoint) on several gateways' coordinators.
//! - [`repl`] and [`replworld`]: the full-stack mode ([`SimConfig::replicated`]): every range
//!   a Raft group over the nodes' own simulated disks and a simulated network, with node
//!   crashes, partitions, lease moves, splits through the log, voter moves and a
//!   replica-equality check (see there).
//! - [`check`]: after a final sweep that reads (and locks) every key, the Elle list-append
//!   checker ([`crate::elle`]) for serializability, a serial replay in commit-timestamp order
//!   (every read explained by the timestamp order), no stale reads (a read contains every
//!   append acknowledged before its transaction began: single-key linearizability in real
//!   time, whatever the skew), real-time timestamp order when clocks are exact, and
//!   leftovers (no intent, lock or read registration remains).
//!
//! Why one thread: the transaction layer blocks threads (latches, push waits, commit-wait) and
//! its coordinators fan requests out over threads. One thread makes every interleaving a
//! choice of the RNG, so a failure replays exactly. To get there:
//! - The world's `Sender::range_of` answers one id for all keys: flushes and refreshes go out
//!   as one request that each range answers for its part and hands back the rest, re-routed
//!   on the same thread (no fan-out threads); a one-phase commit is attempted for every
//!   transaction and a range refuses it when the keys span ranges (RangeKeyMismatch), and the
//!   coordinator falls back to two phases (the path a stale routing cache takes).
//! - Pushes never wait (see [`push`]); latches are never contended (one request at a time).
//! - Heartbeats come from the driver at virtual times; the coordinators' heartbeat threads
//!   are answered without effect. Commit-wait never sleeps (commits are not in the future). Transaction ids are random (txn::coord), so nothing in the
//!   trace or the checks depends on them.
//!
//! Nodes: each of `nodes` has its own manual clock, off by up to `max_skew_ms` from virtual
//! time. Gateways (coordinators) run on nodes round robin with the cluster's uncertainty
//! interval (read timestamp + max offset) and observed timestamps; each range's lease is on a
//! node whose clock its object reads, and a request moves that clock, as in the cluster's
//! store. A lease transfer moves the lease to a random node and carries the old holder's clock
//! (so the new object's timestamp cache starts above what the old one served); a merge carries
//! the right-hand holder's clock.
//!
//! IMPLEMENTATION CAVEATS (what is not covered)
//! - By default one engine is shared by every node: no Raft, no replicas, no network, no
//!   follower reads. A store restart keeps the engine's contents (a replicated write is
//!   durable in a quorum's log) and rebuilds every range object; a node's HLC is kept across
//!   it. The full-stack mode ([`repl`]) replicates and splits through the log, but has no
//!   merges (its own caveats are listed there).
//! - No truly concurrent evaluation: two requests never hold latches at once, a request never
//!   waits in a wait queue, so deadlock detection through the wait queues and latch waits are
//!   not exercised (a cycle of pushes aborts the pusher, as detection would abort one side).
//! - No parallel fan-out of flushes and refreshes, and no one-phase commit decided by the
//!   coordinator's routing (see above).
//! - No closed timestamps, global (future-time) ranges or AS OF SYSTEM TIME.
//! - By default every node reads its clock whenever virtual time moves (`idle_clocks`
//!   false): with idle clocks the coordinator's `anticipate` (txn/src/coord/mod.rs) takes a
//!   stale last reading for "now" and commits seconds in the future (docs/cluster.md).

pub mod check;
pub mod driver;
pub mod push;
pub mod repl;
pub mod replworld;
pub mod runner;
pub mod util;
pub mod world;

use driver::Driver;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use world::{World, ON_DRIVER};

/// What a run does.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed of every choice.
    pub seed: u64,
    /// Driver steps (then every open transaction ends and the final sweep runs).
    pub steps: u64,
    /// Keys (lists) `k000..`.
    pub keys: u64,
    /// Transactions open at once at most.
    pub max_open: usize,
    /// Operations per transaction at most.
    pub max_ops: usize,
    /// Gateways (transaction sources, each with its coordinators), on nodes round robin.
    pub gateways: usize,
    /// Nodes: each has a clock; range leases move between them.
    pub nodes: usize,
    /// Each node's clock is off by up to this (either way; node 0 is exact). Twice it must
    /// stay below the maximum offset (500 ms).
    pub max_skew_ms: u64,
    /// Inject faults: range changes, crashes, stalls, give-ups, stale routing, GC.
    pub faults: bool,
    /// Transaction expiration (virtual ms without a heartbeat).
    pub expiration_ms: u64,
    /// GC keeps versions younger than this (virtual ms).
    pub gc_ttl_ms: u64,
    /// Nodes read their clocks only when they serve or start something (an idle gateway's
    /// last HLC reading then lags physical time). False: every node reads its clock whenever
    /// virtual time moves, as a busy node does. See docs/cluster.md for the bug this exposes.
    pub idle_clocks: bool,
    /// A bug to inject on purpose (to show the checkers catch it); None in CI's seeds.
    pub bug: Option<Bug>,
    /// Voters per range: 0 runs every range on one shared engine; more runs every range as
    /// a Raft group over the nodes' own engines ([`repl`], the full-stack simulation).
    pub replicas: usize,
}

/// Bugs the simulation can inject, to prove that its checkers see what such bugs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// A new range object (split, merge, lease transfer, restart) starts its timestamp cache
    /// at zero instead of the clock: writes may land below reads the old object served.
    LowWaterZero,
    /// Asynchronous intent resolution of an aborted transaction commits its intents.
    ResolveAbortAsCommit,
    /// Replicated mode: a write reaches one follower's disk without going through Raft.
    DivergentReplica,
    /// Replicated mode: a new leaseholder serves before it applied its lease (so before it
    /// applied the writes committed under the previous lease).
    ServeBeforeApplied,
}

impl SimConfig {
    /// The CI configuration of `seed` with `steps` steps and every fault.
    pub fn with_faults(seed: u64, steps: u64) -> SimConfig {
        SimConfig {
            seed,
            steps,
            keys: 12,
            max_open: 6,
            max_ops: 5,
            gateways: 3,
            nodes: 3,
            max_skew_ms: 200,
            faults: true,
            expiration_ms: 5_000,
            gc_ttl_ms: 4_000,
            idle_clocks: false,
            bug: None,
            replicas: 0,
        }
    }

    /// The full-stack configuration: four nodes, three voters per range, node crashes,
    /// partitions, message loss and voter moves besides the transaction faults.
    pub fn replicated(seed: u64, steps: u64) -> SimConfig {
        SimConfig {
            nodes: 4,
            replicas: 3,
            ..SimConfig::with_faults(seed, steps)
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Driver steps run.
    pub steps: u64,
    /// Hash of the whole event trace (equal for equal seeds).
    pub trace_hash: u64,
    /// Trace lines.
    pub trace_lines: u64,
    /// Counters.
    pub stats: world::Stats,
    /// Committed transactions Elle checked.
    pub elle_committed: usize,
    /// Dependency edges in Elle's graph.
    pub elle_edges: usize,
    /// Failures of any checker or invariant (empty: the run passed).
    pub failures: Vec<String>,
    /// The last lines of the trace.
    pub tail: Vec<String>,
    /// The replicated world's counters (replicated mode).
    pub repl: Option<repl::ReplStats>,
}

impl Report {
    /// A failure message with the seed, the replay command and the trace tail.
    pub fn failure_message(&self) -> String {
        let mut s = format!(
            "transaction simulation seed {} failed ({} failures):\n",
            self.seed,
            self.failures.len()
        );
        for f in self.failures.iter().take(20) {
            let _ = writeln!(s, "  - {f}");
        }
        let _ = writeln!(s, "last trace lines:");
        for l in &self.tail {
            let _ = writeln!(s, "    {l}");
        }
        if self.repl.is_some() {
            s.push_str(&replicated_replay_command(self.seed));
        } else {
            s.push_str(&replay_command(self.seed));
        }
        s
    }
}

/// The command that replays one seed.
pub fn replay_command(seed: u64) -> String {
    format!(
        "replay: MERIDIAN_TXN_SIM_SEED={seed} cargo test -p meridian-tests --test \
         txn_simulation -- --nocapture simulated_seeds"
    )
}

/// The command that replays one seed of the full-stack (replicated) simulation.
pub fn replicated_replay_command(seed: u64) -> String {
    format!(
        "replay: MERIDIAN_FULL_SIM_SEED={seed} cargo test -p meridian-tests --test \
         full_simulation -- --nocapture replicated_seeds"
    )
}

/// Runs one seed on the calling thread.
pub fn run(cfg: SimConfig) -> Report {
    ON_DRIVER.with(|d| d.set(true));
    let splits = {
        let mut rng = util::Rng::new(cfg.seed ^ 0x5eed);
        let n = rng.below(4);
        (0..n)
            .map(|_| driver::key_bytes(rng.range(1, cfg.keys - 1)))
            .collect::<Vec<_>>()
    };
    let world = World::new(cfg.clone(), &splits);
    let mut d = Driver::new(world.clone());
    for step in 0..cfg.steps {
        {
            let mut rt = world.rt.lock();
            rt.step = step;
            rt.routed_this_step = 0;
        }
        one_step(&mut d);
    }
    let swept = wind_down(&mut d);
    let (replica_failures, repl_stats) = world.check_replicated();
    let mut report = finish(&world, cfg.steps);
    report.failures.extend(replica_failures);
    report.repl = repl_stats;
    if !swept {
        report
            .failures
            .push("the final sweep never committed (5 attempts)".into());
    }
    teardown(d);
    ON_DRIVER.with(|d| d.set(false));
    report
}

fn one_step(d: &mut Driver) {
    let w = d.world.clone();
    let cfg = w.cfg.clone();
    let (choice, pick, n) = {
        let mut rt = w.rt.lock();
        let c = rt.rng.below(100);
        let p = rt.rng.next_u64();
        let n = rt.rng.range(1, 3000);
        (c, p, n)
    };
    let live = d.live();
    let faults = cfg.faults;
    match choice {
        0..=19 if live.len() < cfg.max_open => d.begin_random(),
        0..=74 if !live.is_empty() => {
            let idx = live[(pick % live.len() as u64) as usize];
            w.step_txn(idx, 0.9);
        }
        0..=74 => d.begin_random(),
        75..=80 => {
            w.advance(n % 200 + 1);
            w.heartbeat_live(None, 1_000);
        }
        81..=85 => w.resolve_some((n % 4 + 1) as usize),
        86..=88 if faults => w.split(&driver::key_bytes(pick % (cfg.keys - 1) + 1)),
        89..=90 if faults => w.merge(&driver::key_bytes(pick % (cfg.keys - 1) + 1)),
        91..=93 if faults => {
            let ranges = w.current_ranges().len() as u64;
            w.transfer((pick % ranges) as usize);
        }
        94 if faults && !live.is_empty() => w.abandon(live[(pick % live.len() as u64) as usize]),
        95 if faults => {
            // A gateway crashes: all its coordinators are gone.
            let g = (pick % cfg.gateways.max(1) as u64) as usize;
            let victims: Vec<usize> = {
                let rt = w.rt.lock();
                live.iter()
                    .copied()
                    .filter(|&i| rt.txns[i].gateway == g)
                    .collect()
            };
            w.trace(format!("gateway {g} crashes"));
            for i in victims {
                w.abandon(i);
            }
        }
        96 if faults && w.repl.is_some() => w.node_fault(),
        96 if faults => w.restart_store(),
        97 if faults => w.gc(cfg.gc_ttl_ms),
        _ => {
            w.advance(n);
            w.heartbeat_live(None, 1_000);
        }
    }
}

/// Ends every live transaction, runs the queued resolutions, then a final transaction that
/// locks and reads every key (pushing away whatever abandoned transactions left) and scans.
fn wind_down(d: &mut Driver) -> bool {
    let w = d.world.clone();
    w.heal_faults();
    for idx in d.live() {
        while w.rt.lock().txns[idx].state == driver::TxnState::Live {
            w.step_txn(idx, 0.9);
        }
    }
    w.resolve_all();
    for attempt in 0..5 {
        let mut plan: Vec<driver::PlannedOp> = (0..w.cfg.keys)
            .map(|key| driver::PlannedOp::Read {
                key,
                lock: Some(txn::LockStrength::Exclusive),
            })
            .collect();
        plan.push(driver::PlannedOp::Scan {
            from: 0,
            to: w.cfg.keys,
            page: 3,
            lock: None,
        });
        w.trace(format!("final sweep, attempt {attempt}"));
        w.begin(&d.sources[0], 0, plan);
        let idx = w.rt.lock().txns.len() - 1;
        while w.rt.lock().txns[idx].state == driver::TxnState::Live {
            w.step_txn(idx, 1.0);
        }
        if w.rt.lock().txns[idx].outcome == Some(crate::elle::Outcome::Ok) {
            w.resolve_all();
            return true;
        }
    }
    false
}

/// Runs the checkers and builds the report.
fn finish(world: &World, steps: u64) -> Report {
    let mut failures = check::leftovers(world);
    let history = {
        let rt = world.rt.lock();
        let mut h = crate::elle::History::default();
        for t in &rt.txns {
            h.push(
                t.gateway,
                t.outcome.unwrap_or(crate::elle::Outcome::Unknown),
                t.ops.clone(),
            );
        }
        h
    };
    let elle = crate::elle::check(&history);
    if !elle.is_valid() {
        failures.push(format!(
            "Elle: {:?}\n{}",
            elle.counts(),
            elle.explain(&history)
        ));
    }
    let committed = check::committed(world);
    let view: Vec<check::Committed<'_>> = committed
        .iter()
        .map(|(idx, ts, ops, began, ended)| check::Committed {
            idx: *idx,
            ts: *ts,
            ops,
            began: *began,
            ended: *ended,
        })
        .collect();
    failures.extend(check::no_stale_reads(&view));
    if world.cfg.max_skew_ms == 0 {
        failures.extend(check::real_time(&view));
    }
    if elle.unknown == 0 {
        failures.extend(check::timestamp_order(view));
    }
    let mut rt = world.rt.lock();
    failures.extend(rt.violations.iter().cloned());
    let summary = format!(
        "end: {} committed, hash of checks {:?}",
        elle.committed,
        elle.counts()
    );
    rt.trace.event(summary);
    Report {
        seed: world.cfg.seed,
        steps,
        trace_hash: rt.trace.hash,
        trace_lines: rt.trace.lines,
        stats: rt.stats.clone(),
        elle_committed: elle.committed,
        elle_edges: elle.edges,
        failures,
        tail: rt.trace.tail.iter().cloned().collect(),
        repl: None,
    }
}

/// Breaks the reference cycles (coordinators hold the world) with every request ignored.
fn teardown(d: Driver) {
    d.world.dead.store(true, Ordering::SeqCst);
    let (txns, graveyard) = {
        let mut rt = d.world.rt.lock();
        (
            std::mem::take(&mut rt.txns),
            std::mem::take(&mut rt.graveyard),
        )
    };
    drop(txns);
    drop(graveyard);
}

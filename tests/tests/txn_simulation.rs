//! Deterministic simulation of transactions over ranges (tests/src/txnsim, docs/cluster.md
//! "Deterministic simulation of transactions").
//!
//! - `simulated_seeds`: CI runs a fixed set of seeds with every fault;
//!   `MERIDIAN_TXN_SIM_SEEDS=n` runs seeds 1..=n instead, `MERIDIAN_TXN_SIM_SEED=s` runs one
//!   seed (and prints its report), `MERIDIAN_TXN_SIM_STEPS=k` changes the steps per seed,
//!   `MERIDIAN_TXN_SIM_IDLE_CLOCKS=1` lets idle nodes' clocks lag (see docs/cluster.md),
//!   `MERIDIAN_TXN_SIM_TAIL=n` keeps the last n trace lines for the failure report.
//! - `one_seed_replays_identically`: a seed run twice gives the same trace hash.
//! - `checkers_catch_injected_bugs`: seeds run with a bug injected on purpose (a timestamp
//!   cache starting at zero after a range change; aborted intents resolved as committed) fail.
//! - `checkers_catch_a_broken_serial_order`: the timestamp-order and real-time checkers
//!   reject histories that are wrong on purpose.
//!
//! A failure panics with the seed, the failures, the trace tail and the replay command.

use meridian_tests::elle::Op;
use meridian_tests::txnsim::{self, check, replay_command, runner, Bug, SimConfig};
use std::time::Instant;

/// The seeds CI runs.
const CI_SEEDS: std::ops::RangeInclusive<u64> = 1..=100;
/// Driver steps per CI seed.
const CI_STEPS: u64 = 3_000;

fn run_seed(seed: u64, steps: u64) -> txnsim::Report {
    let mut cfg = SimConfig::with_faults(seed, steps);
    cfg.idle_clocks = runner::env_u64("MERIDIAN_TXN_SIM_IDLE_CLOCKS") == Some(1);
    runner::run_reporting(cfg, "transaction simulation", &replay_command(seed))
}

#[test]
fn simulated_seeds() {
    let steps = runner::env_u64("MERIDIAN_TXN_SIM_STEPS").unwrap_or(CI_STEPS);
    let seeds = runner::seeds("MERIDIAN_TXN_SIM", CI_SEEDS);
    let started = Instant::now();
    let mut total = txnsim::world::Stats::default();
    let (mut edges, mut committed) = (0, 0);
    for &seed in &seeds {
        let r = run_seed(seed, steps);
        if seeds.len() == 1 {
            println!("{r:#?}");
        }
        assert!(r.failures.is_empty(), "{}", r.failure_message());
        edges += r.elle_edges;
        committed += r.elle_committed;
        let s = &r.stats;
        total.begun += s.begun;
        total.abandoned += s.abandoned;
        total.splits += s.splits;
        total.merges += s.merges;
        total.transfers += s.transfers;
        total.restarts += s.restarts;
        total.push_finish_first += s.push_finish_first;
        total.push_abandon += s.push_abandon;
        total.push_stall += s.push_stall;
        total.push_give_up += s.push_give_up;
        total.push_deadlock += s.push_deadlock;
        total.stale_routes += s.stale_routes;
        total.gc_runs += s.gc_runs;
        for (k, v) in &s.errors {
            *total.errors.entry(k.clone()).or_default() += v;
        }
    }
    println!(
        "transaction simulation: {} seeds x {steps} steps in {:.1?}: {} transactions \
         ({committed} committed, {} abandoned), {edges} Elle edges; {} splits, {} merges, \
         {} lease transfers, {} store restarts, {} GC runs, {} stale routes; pushes: {} \
         holder finished first, {} holder crashed, {} holder stalled, {} gave up, {} \
         deadlocks; errors {:?}",
        seeds.len(),
        started.elapsed(),
        total.begun,
        total.abandoned,
        total.splits,
        total.merges,
        total.transfers,
        total.restarts,
        total.gc_runs,
        total.stale_routes,
        total.push_finish_first,
        total.push_abandon,
        total.push_stall,
        total.push_give_up,
        total.push_deadlock,
        total.errors,
    );
}

#[test]
fn one_seed_replays_identically() {
    let a = run_seed(7, 300);
    let b = run_seed(7, 300);
    assert!(a.failures.is_empty(), "{}", a.failure_message());
    assert_eq!(
        (a.trace_hash, a.trace_lines),
        (b.trace_hash, b.trace_lines),
        "seed 7 did not replay identically:\n{:?}\n{:?}",
        a.tail,
        b.tail
    );
    assert!(a.stats.committed > 10, "too little happened: {:?}", a.stats);
    let c = run_seed(8, 300);
    assert_ne!(a.trace_hash, c.trace_hash, "different seeds gave one trace");
}

/// Runs seeds 1..=20 with `bug` injected; returns how many failed and the first failure.
fn seeds_failing_with(bug: Bug) -> (usize, String) {
    let mut failed = 0;
    let mut first = String::new();
    for seed in 1..=20 {
        let mut cfg = SimConfig::with_faults(seed, 400);
        cfg.bug = Some(bug);
        let r = txnsim::run(cfg);
        if !r.failures.is_empty() {
            failed += 1;
            if first.is_empty() {
                first = r.failures.join("\n");
            }
        }
    }
    (failed, first)
}

#[test]
fn checkers_catch_injected_bugs() {
    let (failed, first) = seeds_failing_with(Bug::LowWaterZero);
    println!("low-water mark at zero: {failed}/20 seeds failed, first:\n{first}");
    assert!(
        failed > 0,
        "no seed caught a timestamp cache starting at zero"
    );
    let (failed, first) = seeds_failing_with(Bug::ResolveAbortAsCommit);
    println!("aborted intents committed: {failed}/20 seeds failed, first:\n{first}");
    assert!(
        failed > 0,
        "no seed caught aborted intents resolved as committed"
    );
}

#[test]
fn checkers_catch_a_broken_serial_order() {
    let append = |key, value| Op::Append { key, value };
    let read = |key, v: Vec<u64>| Op::Read {
        key,
        values: Some(v),
    };
    let ts = |ms| kv::Timestamp::from_parts(ms, 0);
    // T1 appends 1 at ts 10; T2 at ts 20 reads the key as empty: a stale read that Elle
    // accepts (T2 serialises before T1) but the timestamp order does not.
    let t1 = [append(0, 1)];
    let t2 = [read(0, vec![])];
    let mk = |idx, ms, ops: &'static [Op], began, ended| check::Committed {
        idx,
        ts: ts(ms),
        ops,
        began,
        ended,
    };
    let t1: &'static [Op] = Box::leak(Box::new(t1));
    let t2: &'static [Op] = Box::leak(Box::new(t2));
    let bad = check::timestamp_order(vec![mk(1, 10, t1, 0, 1), mk(2, 20, t2, 2, 3)]);
    assert_eq!(bad.len(), 1, "{bad:?}");
    let good = check::timestamp_order(vec![mk(1, 20, t1, 0, 1), mk(2, 10, t2, 2, 3)]);
    assert!(good.is_empty(), "{good:?}");
    // ... but then T2 began after T1's commit was acknowledged and committed below it.
    let late = check::real_time(&[mk(1, 20, t1, 0, 1), mk(2, 10, t2, 2, 3)]);
    assert_eq!(late.len(), 1, "{late:?}");
}

/// Regression (found by this simulation): with idle gateway clocks, the coordinator's
/// `anticipate` compared a push with the gateway's last HLC reading instead of its present
/// time, committed seconds in the future, and a later write landed below the committed read.
/// It now reads the clock (`txn/src/coord/mod.rs`, `commit_one_phase`).
#[test]
fn idle_gateway_clock_does_not_commit_in_the_future() {
    let mut cfg = SimConfig::with_faults(9, 2_000);
    cfg.idle_clocks = true;
    let r = txnsim::run(cfg);
    assert!(r.failures.is_empty(), "{}", r.failure_message());
}

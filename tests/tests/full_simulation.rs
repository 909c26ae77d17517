//! The full-stack deterministic simulation (docs/testing.md "Full-stack simulation"): the
//! transaction simulation (tests/src/txnsim) with every range a Raft group of three voters
//! over four nodes' own simulated disks, a lossy network with partitions, node crashes that
//! lose unsynced writes, restarts, lease transfers and voter moves; checked with Elle, the
//! serial replay, no stale reads, and equality of caught-up replicas.
//!
//! - `replicated_seeds`: CI runs a fixed set of seeds; `MERIDIAN_FULL_SIM_SEEDS=n` runs seeds
//!   1..=n instead, `MERIDIAN_FULL_SIM_SEED=s` runs one seed (and prints its report),
//!   `MERIDIAN_FULL_SIM_STEPS=k` changes the steps per seed, `MERIDIAN_TXN_SIM_TAIL=n` keeps
//!   the last n trace lines for the failure report.
//! - `replicated_seed_replays_identically`: a seed run twice gives the same trace hash.
//! - `replica_checker_catches_divergence`: the equality checker fails a run whose replica
//!   was changed behind Raft's back.
//!
//! A failure panics with the seed, the failures, the trace tail and the replay command.

use meridian_tests::txnsim::{self, replicated_replay_command, runner, SimConfig};
use std::time::Instant;

/// The seeds CI runs.
const CI_SEEDS: std::ops::RangeInclusive<u64> = 1..=12;
/// Driver steps per CI seed.
const CI_STEPS: u64 = 1_500;

fn run_seed(cfg: SimConfig) -> txnsim::Report {
    let replay = replicated_replay_command(cfg.seed);
    runner::run_reporting(cfg, "full-stack simulation", &replay)
}

#[test]
fn replicated_seeds() {
    let steps = runner::env_u64("MERIDIAN_FULL_SIM_STEPS").unwrap_or(CI_STEPS);
    let seeds = runner::seeds("MERIDIAN_FULL_SIM", CI_SEEDS);
    let started = Instant::now();
    let (mut committed, mut edges) = (0, 0);
    let mut total = txnsim::repl::ReplStats::default();
    let (mut transfers, mut splits) = (0, 0);
    for &seed in &seeds {
        let r = run_seed(SimConfig::replicated(seed, steps));
        if seeds.len() == 1 {
            println!("{r:#?}");
        }
        assert!(r.failures.is_empty(), "{}", r.failure_message());
        committed += r.elle_committed;
        edges += r.elle_edges;
        transfers += r.stats.transfers;
        splits += r.stats.splits;
        let s = r.repl.unwrap_or_default();
        total.steps += s.steps;
        total.proposals += s.proposals;
        total.ambiguous += s.ambiguous;
        total.refused += s.refused;
        total.acquisitions += s.acquisitions;
        total.crashes += s.crashes;
        total.lost_writes += s.lost_writes;
        total.partitions += s.partitions;
        total.moves += s.moves;
        total.moves_abandoned += s.moves_abandoned;
        total.liveness_expiries += s.liveness_expiries;
        total.snapshots_refused += s.snapshots_refused;
        total.msgs_sent += s.msgs_sent;
        total.msgs_lost += s.msgs_lost;
    }
    println!(
        "full-stack simulation: {} seeds x {steps} steps in {:.1?}: {committed} committed \
         transactions, {edges} Elle edges; {} network steps, {} proposals ({} ambiguous, {} \
         refused at apply), {} lease acquisitions, {transfers} lease transfers, {splits} \
         splits, {} crashes ({} unsynced writes lost), {} partitions ({} liveness expiries), \
         {} voter moves ({} abandoned), {} snapshots refused (overlap), {} messages ({} lost)",
        seeds.len(),
        started.elapsed(),
        total.steps,
        total.proposals,
        total.ambiguous,
        total.refused,
        total.acquisitions,
        total.crashes,
        total.lost_writes,
        total.partitions,
        total.liveness_expiries,
        total.moves,
        total.moves_abandoned,
        total.snapshots_refused,
        total.msgs_sent,
        total.msgs_lost,
    );
}

#[test]
fn replicated_seed_replays_identically() {
    let a = run_seed(SimConfig::replicated(5, 300));
    let b = run_seed(SimConfig::replicated(5, 300));
    assert!(a.failures.is_empty(), "{}", a.failure_message());
    assert_eq!(
        (a.trace_hash, a.trace_lines),
        (b.trace_hash, b.trace_lines),
        "seed 5 did not replay identically:\n{:?}\n{:?}",
        a.tail,
        b.tail
    );
    assert!(a.stats.committed > 10, "too little happened: {:?}", a.stats);
    let proposals = a.repl.map(|s| s.proposals).unwrap_or(0);
    assert!(proposals > 10, "too few proposals: {proposals}");
}

#[test]
fn replica_checker_catches_divergence() {
    let mut cfg = SimConfig::replicated(3, 200);
    cfg.bug = Some(txnsim::Bug::DivergentReplica);
    let r = txnsim::run(cfg);
    println!("divergent replica: {:?}", r.failures);
    assert!(
        r.failures.iter().any(|f| f.contains("replica on node")),
        "the replica-equality checker missed a replica written behind Raft: {:?}",
        r.failures
    );
}

/// Seeds run with an injected bug.
const BUG_SEEDS: u64 = 24;

#[test]
fn checkers_catch_a_leaseholder_serving_before_it_applied_its_lease() {
    let (mut failed, mut first) = (0, String::new());
    for seed in 1..=BUG_SEEDS {
        let mut cfg = SimConfig::replicated(seed, 600);
        cfg.bug = Some(txnsim::Bug::ServeBeforeApplied);
        let r = txnsim::run(cfg);
        if !r.failures.is_empty() {
            failed += 1;
            if first.is_empty() {
                first = r.failures.join("\n");
            }
        }
    }
    println!(
        "leaseholder serving before applying: {failed}/{BUG_SEEDS} seeds failed, first:\n{first}"
    );
    assert!(
        failed > 0,
        "no seed caught a leaseholder serving unapplied state"
    );
}

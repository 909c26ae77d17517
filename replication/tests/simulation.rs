//! Deterministic simulation of the replication layer (see `sim/mod.rs` and docs/testing.md).
//!
//! - `simulated_seeds`: CI runs a fixed set of seeds with every fault; `MERIDIAN_SIM_SEEDS=n`
//!   runs seeds 1..=n instead, `MERIDIAN_SIM_SEED=s` runs one seed (and prints its trace
//!   tail), `MERIDIAN_SIM_STEPS=k` changes the steps of workload and faults per seed.
//! - `one_seed_replays_identically`: a seed run twice gives the same trace hash.
//!
//! A failure panics with the seed and the command that replays it.

mod sim;

use sim::{replay_command, Report, Sim, SimConfig};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// The seeds CI runs.
const CI_SEEDS: std::ops::RangeInclusive<u64> = 1..=50;
/// Steps of workload and faults per CI seed (then healing and checks).
const CI_STEPS: u64 = 3_000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs one seed; panics with the seed and the replay command on any failure, including a
/// panic inside raft-rs or the replication crate.
fn run_seed(seed: u64, cfg: SimConfig) -> Report {
    match catch_unwind(AssertUnwindSafe(|| Sim::run(seed, cfg))) {
        Ok(Ok(report)) => report,
        Ok(Err(failure)) => panic!("{failure}"),
        Err(payload) => {
            let msg = sim::panic_message(&payload);
            panic!(
                "simulation seed {seed} panicked: {msg}\n{}",
                replay_command(seed)
            )
        }
    }
}

#[test]
fn simulated_seeds() {
    let steps = env_u64("MERIDIAN_SIM_STEPS").unwrap_or(CI_STEPS);
    let seeds: Vec<u64> = if let Some(s) = env_u64("MERIDIAN_SIM_SEED") {
        vec![s]
    } else if let Some(n) = env_u64("MERIDIAN_SIM_SEEDS") {
        (1..=n).collect()
    } else {
        CI_SEEDS.collect()
    };
    let started = Instant::now();
    let mut ops = 0;
    let mut acked = 0;
    let mut unknown = 0;
    let mut inconclusive = 0;
    let mut known = 0;
    let (mut joint_entered, mut joint_left) = (0, 0);
    let mut messages = 0;
    let mut sim_steps = 0;
    for &seed in &seeds {
        let r = run_seed(seed, SimConfig::with_faults(seed, steps));
        if seeds.len() == 1 {
            println!("{r:#?}");
        }
        ops += r.checked.ops;
        acked += r.ops.puts_ok + r.ops.reads_ok;
        unknown += r.ops.unknown;
        inconclusive += r.checked.inconclusive_keys;
        known += r.faults.known_bug_hits;
        joint_entered += r.faults.joint_entered;
        joint_left += r.faults.joint_left;
        messages += r.net.sent;
        sim_steps += r.steps;
        assert_eq!(r.seed, seed);
    }
    println!(
        "simulation: {} seeds x {steps} steps ({sim_steps} steps with healing, {messages} \
         messages), {ops} ops checked ({acked} acknowledged, \
         {unknown} unknown outcome), {inconclusive} keys inconclusive, {known} nodes killed by \
         the known leader-self-removal panic, {joint_entered} joint configurations entered \
         and {joint_left} left, {:.1} s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(ops > 0, "the workload produced no operations");
    if seeds.len() > 1 {
        assert!(
            joint_entered > 0,
            "no joint membership change was exercised"
        );
    }
}

#[test]
fn one_seed_replays_identically() {
    let seed = env_u64("MERIDIAN_SIM_SEED").unwrap_or(7);
    let a = run_seed(seed, SimConfig::replayable(seed, 600));
    let b = run_seed(seed, SimConfig::replayable(seed, 600));
    assert!(
        a.checked.ops > 0 && a.faults.transfers + a.faults.adds > 0,
        "{a:#?}"
    );
    assert_eq!(
        (a.trace_hash, a.events),
        (b.trace_hash, b.events),
        "seed {seed} did not replay identically\n{}",
        replay_command(seed)
    );
    // With every fault on (crashes, partitions, loss, elections by timeout) too.
    let a = run_seed(seed, SimConfig::with_faults(seed, 1500));
    let b = run_seed(seed, SimConfig::with_faults(seed, 1500));
    assert_eq!(
        (a.trace_hash, a.events),
        (b.trace_hash, b.events),
        "seed {seed} with faults did not replay identically\n{}",
        replay_command(seed)
    );
}

/// Regression (found by the simulation): a leader that applies a conf change removing its own
/// replica stays leader in raft-rs 0.7 (`post_conf_change` leaves it so), and the next
/// `advance` unwrapped its own, now missing, progress in `Raft::on_persist_entries`,
/// panicking the store's whole Raft loop. `MultiRaft` now steps such a leader down when it
/// applies the change.
#[test]
fn leader_that_removes_itself_steps_down() {
    use kv::RangeId;
    use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2};
    use sim::node::{Cmd, SimNode};
    let range = RangeId(1);
    let mut nodes: Vec<SimNode> = (1..=3)
        .map(|id| SimNode::open(id, SimNode::new_engine()).unwrap())
        .collect();
    for n in nodes.iter_mut() {
        let rid = n.id;
        n.bootstrap(range, rid, &[1, 2, 3]).unwrap();
    }
    nodes[0].raft.campaign(range).unwrap();
    let round = |nodes: &mut Vec<SimNode>| {
        let mut msgs = Vec::new();
        for n in nodes.iter_mut() {
            msgs.extend(n.raft.process(&mut n.sm).unwrap());
        }
        for (r, m) in msgs {
            let to = m.to as usize - 1;
            nodes[to].deliver(r, m).unwrap();
        }
    };
    for _ in 0..10 {
        round(&mut nodes);
    }
    assert_eq!(nodes[0].raft.leader(range), Some((1, true)));
    let mut single = ConfChangeSingle::default();
    single.set_change_type(ConfChangeType::RemoveNode);
    single.node_id = 1;
    let mut cc = ConfChangeV2::default();
    cc.set_changes(vec![single].into());
    nodes[0]
        .raft
        .propose_conf_change(range, b"remove r1".to_vec(), cc)
        .unwrap();
    // Keep proposing while the removal commits: the ready that applies it also persists
    // entries the leader appended, and advancing it panics.
    for i in 0..20u64 {
        let cmd = Cmd::Put {
            op: 100 + i,
            key: 0,
            value: 100 + i,
        }
        .encode();
        let _ = nodes[0].raft.propose(range, cmd);
        round(&mut nodes);
    }
    assert!(
        !nodes[0].raft.leader(range).is_some_and(|(_, me)| me),
        "a removed replica must not stay leader"
    );
}

/// The linearizability checker accepts what it should and rejects a stale read, a read of a
/// value never written, and a lost acknowledged write.
#[test]
fn checker_judges_small_histories() {
    use sim::checker::{check_key, CheckStats};
    use sim::workload::{Kind, Op, Outcome};
    let op = |kind, call, ret: Option<u64>, outcome| Op {
        client: 0,
        key: 0,
        kind,
        call,
        ret,
        outcome,
        proposed: true,
        start_step: 0,
    };
    let check = |ops: &[Op]| {
        let refs: Vec<&Op> = ops.iter().collect();
        check_key(&refs, 100_000, &mut CheckStats::default())
    };
    let put1 = op(Kind::Put(1), 1, Some(2), Outcome::Ok);
    let put2 = op(Kind::Put(2), 3, Some(4), Outcome::Ok);
    // Sequential: read after both puts must see 2.
    assert!(check(&[
        put1.clone(),
        put2.clone(),
        op(Kind::Read, 5, Some(6), Outcome::Read(Some(2)))
    ])
    .is_ok());
    assert!(check(&[
        put1.clone(),
        put2.clone(),
        op(Kind::Read, 5, Some(6), Outcome::Read(Some(1)))
    ])
    .is_err());
    assert!(check(&[
        put1.clone(),
        op(Kind::Read, 3, Some(4), Outcome::Read(Some(9)))
    ])
    .is_err());
    assert!(check(&[
        put1.clone(),
        op(Kind::Read, 3, Some(4), Outcome::Read(None))
    ])
    .is_err());
    // A read concurrent with a put may see either value.
    let put3 = op(Kind::Put(3), 3, Some(6), Outcome::Ok);
    for seen in [Some(1), Some(3)] {
        let r = op(Kind::Read, 4, Some(5), Outcome::Read(seen));
        assert!(check(&[put1.clone(), put3.clone(), r]).is_ok(), "{seen:?}");
    }
    // An unknown put may take effect late, or never; but not before it was invoked.
    let unknown = op(Kind::Put(4), 3, None, Outcome::Unknown);
    for seen in [Some(1), Some(4)] {
        let r = op(Kind::Read, 10, Some(11), Outcome::Read(seen));
        assert!(
            check(&[put1.clone(), unknown.clone(), r]).is_ok(),
            "{seen:?}"
        );
    }
    let early = op(Kind::Read, 0, Some(1), Outcome::Read(Some(4)));
    assert!(check(&[early, unknown.clone()]).is_err());
    // Two reads may not see the values in an order no single history allows.
    let a = op(Kind::Read, 7, Some(8), Outcome::Read(Some(3)));
    let b = op(Kind::Read, 9, Some(10), Outcome::Read(Some(1)));
    assert!(check(&[put1, put3, a, b]).is_err());
}

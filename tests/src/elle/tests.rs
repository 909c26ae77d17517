//! Hand-written histories: one per anomaly the checker must find, and valid ones it must not
//! flag.

use super::*;

fn a(key: Key, value: Value) -> Op {
    Op::Append { key, value }
}

fn r(key: Key, values: &[Value]) -> Op {
    Op::Read {
        key,
        values: Some(values.to_vec()),
    }
}

fn history(txns: Vec<(Outcome, Vec<Op>)>) -> History {
    let mut h = History::default();
    for (i, (outcome, ops)) in txns.into_iter().enumerate() {
        h.push(i, outcome, ops);
    }
    h
}

fn names(h: &History) -> Vec<&'static str> {
    let report = check(h);
    let mut v: Vec<_> = report.anomalies.iter().map(Anomaly::name).collect();
    v.sort_unstable();
    v.dedup();
    v
}

use Outcome::{Failed, Ok as Committed, Unknown};

#[test]
fn serial_history_is_valid() {
    let h = history(vec![
        (Committed, vec![a(1, 1), a(2, 1)]),
        (Committed, vec![r(1, &[1]), a(1, 2), r(1, &[1, 2])]),
        (Committed, vec![r(1, &[1, 2]), r(2, &[1]), a(2, 2)]),
        (Committed, vec![r(2, &[1, 2]), r(3, &[])]),
    ]);
    let report = check(&h);
    assert!(report.is_valid(), "{}", report.explain(&h));
    assert_eq!(report.committed, 4);
    assert!(report.edges > 0);
}

#[test]
fn failed_and_unknown_writes_nobody_saw_are_valid() {
    let h = history(vec![
        (Committed, vec![a(1, 1)]),
        (Failed, vec![a(1, 2)]),
        (
            Unknown,
            vec![
                a(1, 3),
                Op::Read {
                    key: 2,
                    values: None,
                },
            ],
        ),
        (Committed, vec![r(1, &[1])]),
    ]);
    assert!(check(&h).is_valid());
}

#[test]
fn unknown_outcome_writes_that_were_read_count_as_committed() {
    let h = history(vec![
        (Unknown, vec![a(1, 1)]),
        (Committed, vec![r(1, &[1]), a(1, 2)]),
        (Committed, vec![r(1, &[1, 2])]),
    ]);
    assert!(check(&h).is_valid());
}

#[test]
fn g0_write_cycle() {
    // T0 and T1 both append to x and y; x's order puts T0 first, y's puts T1 first.
    let h = history(vec![
        (Committed, vec![a(1, 1), a(2, 1)]),
        (Committed, vec![a(1, 2), a(2, 2)]),
        (Committed, vec![r(1, &[1, 2]), r(2, &[2, 1])]),
    ]);
    let report = check(&h);
    assert!(names(&h).contains(&"G0"), "{:?}", report.anomalies);
    let g0 = report
        .anomalies
        .iter()
        .find(|a| a.name() == "G0")
        .and_then(Anomaly::cycle)
        .expect("a G0 cycle");
    let mut nodes: Vec<_> = g0.iter().map(|s| s.from).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, vec![0, 1]);
    assert!(g0.iter().all(|s| s.kind == EdgeKind::Ww));
}

#[test]
fn g1a_aborted_read() {
    let h = history(vec![(Failed, vec![a(1, 1)]), (Committed, vec![r(1, &[1])])]);
    assert_eq!(names(&h), vec!["G1a"]);
}

#[test]
fn g1b_intermediate_read() {
    let h = history(vec![
        (Committed, vec![a(1, 1), a(1, 2)]),
        (Committed, vec![r(1, &[1])]),
        (Committed, vec![r(1, &[1, 2])]),
    ]);
    assert!(names(&h).contains(&"G1b"), "{:?}", check(&h).anomalies);
}

#[test]
fn g1c_circular_information_flow() {
    // Each transaction read the other's write.
    let h = history(vec![
        (Committed, vec![a(1, 1), r(2, &[2])]),
        (Committed, vec![a(2, 2), r(1, &[1])]),
    ]);
    assert_eq!(names(&h), vec!["G1c"]);
}

#[test]
fn g_single_read_skew() {
    // T1 saw T0's write to y but not its write to x (T2's read places T0's append in x's order).
    let h = history(vec![
        (Committed, vec![a(1, 1), a(2, 1)]),
        (Committed, vec![r(1, &[]), r(2, &[1])]),
        (Committed, vec![r(1, &[1])]),
    ]);
    let report = check(&h);
    assert_eq!(names(&h), vec!["G-single"], "{}", report.explain(&h));
    let c = report.anomalies[0].cycle().expect("cycle");
    assert_eq!(c.iter().filter(|s| s.kind == EdgeKind::Rw).count(), 1);
}

#[test]
fn g2_write_skew() {
    // Each read the key the other appended to as empty: two rw edges form a cycle.
    let h = history(vec![
        (Committed, vec![r(1, &[]), a(2, 1)]),
        (Committed, vec![r(2, &[]), a(1, 1)]),
        (Committed, vec![r(1, &[1]), r(2, &[1])]),
    ]);
    let report = check(&h);
    assert_eq!(names(&h), vec!["G2"], "{}", report.explain(&h));
    let c = report.anomalies[0].cycle().expect("cycle");
    assert_eq!(c.iter().filter(|s| s.kind == EdgeKind::Rw).count(), 2);
}

#[test]
fn lost_update_is_g_single() {
    // Both read [1] and appended: the order [1, 2, 3] says T2 overwrote what T1 read past.
    let h = history(vec![
        (Committed, vec![a(1, 1)]),
        (Committed, vec![r(1, &[1]), a(1, 2)]),
        (Committed, vec![r(1, &[1]), a(1, 3)]),
        (Committed, vec![r(1, &[1, 2, 3])]),
    ]);
    assert!(names(&h).contains(&"G-single"), "{:?}", check(&h).anomalies);
}

#[test]
fn incompatible_orders() {
    let h = history(vec![
        (Committed, vec![a(1, 1)]),
        (Committed, vec![a(1, 2)]),
        (Committed, vec![r(1, &[1, 2])]),
        (Committed, vec![r(1, &[2, 1])]),
    ]);
    assert!(names(&h).contains(&"incompatible-order"));
}

#[test]
fn duplicate_elements_garbage_and_duplicate_appends() {
    let h = history(vec![
        (Committed, vec![a(1, 1)]),
        (Committed, vec![r(1, &[1, 1])]),
        (Committed, vec![r(2, &[9])]),
        (Committed, vec![a(3, 5)]),
        (Committed, vec![a(3, 5)]),
    ]);
    assert_eq!(
        names(&h),
        vec!["duplicate-append", "duplicate-elements", "garbage-read"]
    );
}

#[test]
fn internal_inconsistency() {
    let h = history(vec![
        (Committed, vec![a(1, 1), r(1, &[])]),
        (Committed, vec![r(2, &[]), r(2, &[7])]),
        (Committed, vec![a(2, 7)]),
    ]);
    let report = check(&h);
    let internal = report
        .anomalies
        .iter()
        .filter(|a| a.name() == "internal")
        .count();
    assert_eq!(internal, 2, "{:?}", report.anomalies);
}

#[test]
fn reads_of_own_appends_are_not_intermediate() {
    let h = history(vec![
        (Committed, vec![a(1, 1), r(1, &[1]), a(1, 2), r(1, &[1, 2])]),
        (Committed, vec![r(1, &[1, 2]), a(1, 3), r(1, &[1, 2, 3])]),
    ]);
    let report = check(&h);
    assert!(report.is_valid(), "{}", report.explain(&h));
}

#[test]
fn long_valid_chain_has_no_cycles() {
    // 2000 transactions each reading the whole list then appending: one long serial chain.
    let mut h = History::default();
    let mut list = Vec::new();
    for i in 0..2000u64 {
        h.push(0, Outcome::Ok, vec![r(1, &list), a(1, i)]);
        list.push(i);
    }
    h.push(0, Outcome::Ok, vec![r(1, &list)]);
    let report = check(&h);
    assert!(report.is_valid());
    assert_eq!(report.committed, 2001);
}

//! Range merges on an in-process three-node cluster (local transport):
//! - a table split by `SPLIT AT` keeps its ranges (sticky splits) until SQL `UNSPLIT AT` /
//!   `UNSPLIT ALL` remove the enforcement; then the merge queue joins them back into one while
//!   a writer inserts rows: every acknowledged row is there exactly once, nothing else
//!   appears, `SHOW RANGES` shows one range, and no node keeps a replica of a merged-away
//!   range;
//! - a merge with a partitioned replica: the freeze cannot reach it, so the merge is
//!   abandoned and the right side serves again; a replica cut off after it applied the
//!   freeze applies the merge from the log when it comes back, and its data is then exactly
//!   the other nodes';
//! - a replica cut off after the freeze whose log the others truncated past the merge catches
//!   up by snapshot, which replaces its frozen right-hand replica; one that lost its frozen
//!   right-hand replica does not apply the merge (no panic): it is reset and catches up by
//!   snapshot, and its node serves throughout.

mod common;

use cluster::desc::RangeDescriptor;
use cluster::merge::MergeConfig;
use cluster::server::{start_node, ClusterNode};
use cluster::store::Store;
use cluster::transport::filter::Filters;
use cluster::transport::LocalNetwork;
use cluster::txns::ClusterTxns;
use common::{init_logging, node_config, sql, wait_for};
use kv::engine::Visit;
use kv::{NodeId, RangeId};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use txn::TxnSource;

/// The table every test creates first gets this id.
const TABLE_ID: u64 = 103;

async fn start(merge_enabled: bool, filters: Option<Filters>) -> Vec<ClusterNode> {
    start_with(merge_enabled, filters, None).await
}

/// [`start`], keeping at most `max_log_entries` Raft log entries behind the applied index.
async fn start_with(
    merge_enabled: bool,
    filters: Option<Filters>,
    max_log_entries: Option<usize>,
) -> Vec<ClusterNode> {
    let net = LocalNetwork::new();
    let cfg = |join: Vec<String>| {
        let mut c = node_config(&net, join);
        if let Some(n) = max_log_entries {
            c.store.raft.max_log_entries = n;
        }
        c.filters = filters.clone();
        c.node.merge = MergeConfig {
            enabled: merge_enabled,
            interval: Duration::from_millis(200),
            ..MergeConfig::default()
        };
        c
    };
    let first = start_node(cfg(vec![])).await.expect("node 1");
    let join = vec![first.handle.listen_addr().to_string()];
    let mut nodes = vec![first];
    for i in 1..3 {
        let node = start_node(cfg(join.clone()))
            .await
            .unwrap_or_else(|e| panic!("node {}: {e}", i + 1));
        nodes.push(node);
    }
    nodes
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

fn table_span() -> (Vec<u8>, Vec<u8>) {
    (
        kv::keys::table_prefix(TABLE_ID),
        kv::keys::table_prefix(TABLE_ID + 1),
    )
}

/// The ranges overlapping the table, from the meta records, once each has three voters.
async fn table_ranges(node: &ClusterNode) -> Result<Vec<RangeDescriptor>, String> {
    let dist = node.dist.clone();
    let all = blocking(move || dist.all_ranges())
        .await
        .map_err(|e| e.to_string())?;
    let (start, end) = table_span();
    let out: Vec<RangeDescriptor> = all
        .into_iter()
        .filter(|d| d.end.as_deref().is_none_or(|e| e > start.as_slice()) && d.start < end)
        .collect();
    if out.iter().any(|d| d.replicas.len() != 3) {
        return Err(format!("not fully replicated: {out:?}"));
    }
    Ok(out)
}

/// Creates table t, gives it its own range and splits it at each of `splits`.
async fn create_table(nodes: &[ClusterNode], rows: i64, splits: &[i64]) {
    let c = sql(&nodes[0]).await;
    c.batch_execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT)")
        .await
        .unwrap();
    let dist = nodes[0].dist.clone();
    blocking(move || dist.split(&kv::keys::table_prefix(TABLE_ID)))
        .await
        .expect("split");
    c.execute(
        "INSERT INTO t SELECT i, i FROM generate_series(0, $1) AS g(i)",
        &[&(rows - 1)],
    )
    .await
    .unwrap();
    for s in splits {
        c.batch_execute(&format!("ALTER TABLE t SPLIT AT VALUES ({s})"))
            .await
            .unwrap();
    }
    let want = splits.len() + 1;
    wait_for(30, "the table's ranges replicated", || async {
        let got = table_ranges(&nodes[0]).await?;
        if got.len() == want {
            Ok(())
        } else {
            Err(format!("{} ranges: {got:?}", got.len()))
        }
    })
    .await;
}

/// `SHOW RANGES FROM TABLE t`, as range ids.
async fn show_ranges(node: &ClusterNode) -> Vec<i64> {
    let c = sql(node).await;
    let rows = c.query("SHOW RANGES FROM TABLE t", &[]).await.unwrap();
    rows.iter().map(|r| r.get::<_, i64>("range_id")).collect()
}

/// The rows of table t, by id.
async fn rows(node: &ClusterNode) -> Vec<(i64, i64)> {
    let c = sql(node).await;
    let rows = c
        .query("SELECT id, v FROM t ORDER BY id", &[])
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// What the writer did: acknowledged inserts and updates, and inserts whose outcome it does
/// not know (an error may hide a commit).
#[derive(Debug, Clone, Default)]
struct Log {
    inserted: Vec<i64>,
    updated: Vec<i64>,
    maybe_inserted: Vec<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unsplit_ranges_merge_under_a_writer_without_losing_rows() {
    init_logging();
    let nodes = start(true, None).await;
    create_table(&nodes, 200, &[50, 100, 150]).await;
    let before = table_ranges(&nodes[0]).await.unwrap();
    assert_eq!(show_ranges(&nodes[1]).await.len(), 4);
    // Sticky: several queue passes later the splits are all still there.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(table_ranges(&nodes[0]).await.unwrap().len(), 4);

    // A writer works in every range throughout the merges: inserts below and above the
    // existing rows (first and last range), updates of rows 50..150 (the middle ranges).
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let writer = {
        let (stop, log) = (stop.clone(), log.clone());
        let c = sql(&nodes[2]).await;
        tokio::spawn(async move {
            let mut i = 0i64;
            while !stop.load(Ordering::SeqCst) {
                let (insert, id) = match i % 3 {
                    0 => (true, -1 - i),
                    1 => (true, 1_000_000 + i),
                    _ => (false, 50 + (i / 3) % 100),
                };
                let r = if insert {
                    c.execute("INSERT INTO t VALUES ($1, $1)", &[&id]).await
                } else {
                    c.execute("UPDATE t SET v = -id WHERE id = $1", &[&id])
                        .await
                };
                let mut log = log.lock().unwrap();
                match (r, insert) {
                    (Ok(_), true) => log.inserted.push(id),
                    (Ok(_), false) => log.updated.push(id),
                    (Err(_), true) => log.maybe_inserted.push(id),
                    (Err(_), false) => {}
                }
                i += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = sql(&nodes[1]).await;
    let e = c
        .batch_execute("ALTER TABLE t UNSPLIT AT VALUES (75)")
        .await
        .expect_err("no range starts at 75");
    assert_eq!(e.code().map(|c| c.code()), Some("22023"), "{e:?}");
    let out = c
        .query("ALTER TABLE t UNSPLIT AT VALUES (50), (100)", &[])
        .await
        .expect("unsplit at");
    let pretty: Vec<String> = out.iter().map(|r| r.get("pretty")).collect();
    assert_eq!(
        pretty,
        [
            format!("/Table/{TABLE_ID}/1/50"),
            format!("/Table/{TABLE_ID}/1/100")
        ]
    );
    // UNSPLIT ALL lists the splits still enforced: 150 (50 and 100 may be merged already).
    let out = c
        .query("ALTER TABLE t UNSPLIT ALL", &[])
        .await
        .expect("unsplit all");
    let pretty: Vec<String> = out.iter().map(|r| r.get("pretty")).collect();
    assert_eq!(pretty, [format!("/Table/{TABLE_ID}/1/150")]);
    wait_for(60, "SHOW RANGES shows the table in one range", || async {
        let c = sql(&nodes[0]).await;
        let shown = c
            .query("SHOW RANGES FROM TABLE t", &[])
            .await
            .map_err(|e| e.to_string())?;
        if shown.len() == 1 && table_ranges(&nodes[0]).await?.len() == 1 {
            Ok(())
        } else {
            Err(format!("{} ranges", shown.len()))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();

    assert_eq!(show_ranges(&nodes[0]).await.len(), 1);
    let log = log.lock().unwrap().clone();
    assert!(
        log.inserted.len() > 10 && log.updated.len() > 5,
        "the writer made progress: {log:?}"
    );
    let inserted: BTreeSet<i64> = log.inserted.iter().copied().collect();
    let maybe: BTreeSet<i64> = log.maybe_inserted.iter().copied().collect();
    for node in &nodes {
        let got = rows(node).await;
        let ids: BTreeSet<i64> = got.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), got.len(), "no duplicates");
        for id in (0..200).chain(inserted.iter().copied()) {
            assert!(
                ids.contains(&id),
                "row {id} missing through {}",
                node.node_id
            );
        }
        for (id, v) in &got {
            let known = (0..200).contains(id) || inserted.contains(id) || maybe.contains(id);
            assert!(known, "row {id} was never written");
            if log.updated.contains(id) {
                assert_eq!(*v, -*id, "acknowledged update of row {id} lost");
            } else {
                assert!(*v == *id || *v == -*id, "row {id} has {v}");
            }
        }
    }
    // Every node dropped its replicas of the merged-away ranges.
    let merged = table_ranges(&nodes[0]).await.unwrap().remove(0);
    wait_for(30, "right-hand replicas dropped everywhere", || async {
        for n in &nodes {
            for d in &before[1..] {
                if n.store.replica(d.range_id).is_some() {
                    return Err(format!("{} still has {}", n.node_id, d.range_id));
                }
            }
            let local = n.store.replica(merged.range_id).and_then(|r| r.desc());
            if local.as_ref() != Some(&merged) {
                return Err(format!("{} has {local:?}", n.node_id));
            }
        }
        Ok(())
    })
    .await;
}

/// The raw engine contents of the table's data on `store`.
fn table_data(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (start, end) = table_span();
    let (start, end) = (kv::mvcc::meta_key(&start), kv::mvcc::meta_key(&end));
    let mut out = Vec::new();
    let _ = store.engine().scan(&start, Some(&end), &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Visit::Continue
    });
    out
}

/// The node leading both ranges' Raft groups (the merge runs there), and another node.
fn runner_and_other(nodes: &[ClusterNode], l: RangeId, r: RangeId) -> Option<(usize, usize)> {
    let leads = |n: &ClusterNode, range| n.store.replica(range).is_some_and(|x| x.leader().1);
    let runner = nodes.iter().position(|n| leads(n, l) && leads(n, r))?;
    Some((runner, (runner + 1) % nodes.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_never_outruns_a_partitioned_replica() {
    init_logging();
    let filters = Filters::new(11);
    let nodes = start(false, Some(filters.clone())).await;
    create_table(&nodes, 200, &[100]).await;
    let ranges = table_ranges(&nodes[0]).await.unwrap();
    let (l, r) = (ranges[0].range_id, ranges[1].range_id);
    let all: Vec<NodeId> = nodes.iter().map(|n| n.node_id).collect();

    // 1. The cut-off replica cannot apply the freeze: the merge is abandoned.
    let picked = Arc::new(Mutex::new(None));
    wait_for(30, "one node leading both ranges", || async {
        let p = runner_and_other(&nodes, l, r).ok_or("no common leader yet")?;
        *picked.lock().unwrap() = Some(p);
        Ok(())
    })
    .await;
    let (runner, other) = picked.lock().unwrap().expect("picked");
    let cut = nodes[other].node_id;
    let rest: Vec<NodeId> = all.iter().copied().filter(|n| *n != cut).collect();
    filters.partition(&[cut], &rest);
    let dist = nodes[runner].dist.clone();
    let res = blocking(move || cluster::merge::merge_at(&dist, l, None)).await;
    assert!(res.is_err(), "merged without the cut-off replica: {res:?}");
    let c = sql(&nodes[runner]).await;
    c.execute("INSERT INTO t VALUES (1000, 1)", &[])
        .await
        .expect("the right side serves again after the abandoned merge");
    assert!(!nodes[runner]
        .store
        .replica(r)
        .expect("right side")
        .lease()
        .is_frozen());
    filters.heal();

    // 2. Cut off after it applied the freeze: the merge commits with the others, and the
    // node applies it from the log when it comes back.
    wait_for(30, "one node leading both ranges again", || async {
        let p = runner_and_other(&nodes, l, r).ok_or("no common leader yet")?;
        *picked.lock().unwrap() = Some(p);
        Ok(())
    })
    .await;
    let (runner, other) = picked.lock().unwrap().expect("picked");
    let cut = nodes[other].node_id;
    let rest: Vec<NodeId> = all.iter().copied().filter(|n| *n != cut).collect();
    let dist = nodes[runner].dist.clone();
    let f = filters.clone();
    let merged = blocking(move || {
        // Every replica applied the freeze: cut one off before the merge is proposed.
        let hook = move |_: &RangeDescriptor| f.partition(&[cut], &rest);
        cluster::merge::merge_at(&dist, l, Some(&hook))
    })
    .await
    .expect("merge with a quorum");
    assert_eq!(merged.end, ranges[1].end);
    let c = sql(&nodes[runner]).await;
    for i in 2000..2020i64 {
        c.execute("INSERT INTO t VALUES ($1, $1)", &[&i])
            .await
            .unwrap();
    }
    let cut_node = &nodes[other];
    assert!(
        cut_node.store.replica(r).is_some(),
        "the cut-off node still holds its frozen right-hand replica"
    );
    filters.heal();
    wait_for(30, "the cut-off node applied the merge", || async {
        let local = cut_node.store.replica(l).and_then(|x| x.desc());
        if cut_node.store.replica(r).is_some()
            || local.as_ref().map(|d| &d.end) != Some(&merged.end)
        {
            return Err(format!("{local:?}"));
        }
        // No node keeps a replica of the merged-away range (not even an empty one
        // re-created by the cut-off node's messages).
        if let Some(n) = nodes.iter().find(|n| n.store.replica(r).is_some()) {
            return Err(format!("{} still has {r}", n.node_id));
        }
        let want = table_data(&nodes[runner].store);
        if table_data(&cut_node.store) != want {
            return Err("data differs".into());
        }
        Ok(())
    })
    .await;
    let got: Vec<i64> = rows(&nodes[other]).await.iter().map(|r| r.0).collect();
    let want: Vec<i64> = (0..200).chain([1000]).chain(2000..2020).collect();
    assert_eq!(got, want);
    assert_eq!(show_ranges(&nodes[0]).await.len(), 1);
}

/// A split the size check (or load) chose is not sticky: once the two sides are small, the
/// queue merges them back without any unsplit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_automatic_split_of_small_ranges_is_merged_back() {
    init_logging();
    let nodes = start(true, None).await;
    create_table(&nodes, 100, &[]).await;
    let key = {
        let mut k = kv::keys::table_prefix(TABLE_ID);
        k.extend_from_slice(b"\xff");
        k
    };
    let before = table_ranges(&nodes[0]).await.unwrap().remove(0);
    for n in &nodes {
        n.store.note_automatic_split(&key);
    }
    let dist = nodes[0].dist.clone();
    let k = key.clone();
    blocking(move || dist.split(&k)).await.expect("split");
    wait_for(30, "the automatic split merged back", || async {
        let got = table_ranges(&nodes[0]).await?;
        // Split (generation + 1) then merged (+ 1 more), under the same range id.
        let merged = got.len() == 1
            && got[0].range_id == before.range_id
            && got[0].generation >= before.generation + 2;
        if merged {
            Ok(())
        } else {
            Err(format!("{} ranges", got.len()))
        }
    })
    .await;
    let got: Vec<i64> = rows(&nodes[1]).await.iter().map(|r| r.0).collect();
    assert_eq!(got, (0..100).collect::<Vec<i64>>());
}

/// The index of the last entry `store` removed from `range`'s Raft log, and its applied index.
fn log_bounds(store: &Store, range: RangeId) -> (u64, u64) {
    let get = |k: Vec<u8>, at: usize| {
        let raw = store.engine().get(&k).ok().flatten().unwrap_or_default();
        raw.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    };
    let mut truncated = replication::storage::range_state_prefix(range);
    truncated.push(b't');
    (
        get(truncated, 0),
        get(replication::storage::applied_key(range), 0),
    )
}

/// Merges the table's two ranges while one node is cut off after the freeze, then heals.
/// `lose_rhs`: the cut-off node loses its frozen right-hand replica first (it must not apply
/// the merge, but reset and take a snapshot); otherwise the others write until their logs
/// are truncated past the merge (a snapshot must replace the frozen right-hand replica).
async fn merge_then_heal(lose_rhs: bool) {
    init_logging();
    let filters = Filters::new(12);
    let max_log = if lose_rhs { None } else { Some(8) };
    let nodes = start_with(false, Some(filters.clone()), max_log).await;
    create_table(&nodes, 100, &[50]).await;
    let ranges = table_ranges(&nodes[0]).await.unwrap();
    let (l, r) = (ranges[0].range_id, ranges[1].range_id);
    let all: Vec<NodeId> = nodes.iter().map(|n| n.node_id).collect();
    let picked = Arc::new(Mutex::new(None));
    wait_for(30, "one node leading both ranges", || async {
        let p = runner_and_other(&nodes, l, r).ok_or("no common leader yet")?;
        *picked.lock().unwrap() = Some(p);
        Ok(())
    })
    .await;
    let (runner, other) = picked.lock().unwrap().expect("picked");
    let cut = nodes[other].node_id;
    let rest: Vec<NodeId> = all.iter().copied().filter(|n| *n != cut).collect();
    let dist = nodes[runner].dist.clone();
    let f = filters.clone();
    let frozen_holder = Arc::new(Mutex::new(None));
    let seen = frozen_holder.clone();
    let merged = blocking(move || {
        let txns = ClusterTxns::new(dist.clone(), Vec::new());
        let hook = move |_: &RangeDescriptor| {
            // SHOW RANGES while the right side is frozen: no lease holder, not a made-up one.
            let (start, end) = table_span();
            let shown = txns.ranges(&start, Some(&end)).expect("ranges");
            *seen.lock().unwrap() = shown
                .iter()
                .find(|x| x.range_id == r.0)
                .map(|x| x.leaseholder);
            f.partition(&[cut], &rest)
        };
        cluster::merge::merge_at(&dist, l, Some(&hook))
    })
    .await
    .expect("merge with a quorum");
    assert_eq!(
        *frozen_holder.lock().unwrap(),
        Some(None),
        "frozen range's lease holder"
    );
    let cut_node = &nodes[other];
    let c = sql(&nodes[runner]).await;
    if lose_rhs {
        assert!(cut_node.store.destroy_replica_for_testing(r));
        wait_for(10, "the frozen right-hand replica destroyed", || async {
            match cut_node.store.replica(r) {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            }
        })
        .await;
    } else {
        for i in 1000..1060i64 {
            c.execute("INSERT INTO t VALUES ($1, $1)", &[&i])
                .await
                .unwrap();
        }
        let (_, cut_applied) = log_bounds(&cut_node.store, l);
        wait_for(
            10,
            "the others truncated their logs past the merge",
            || async {
                for n in nodes.iter().filter(|n| n.node_id != cut) {
                    let (truncated, _) = log_bounds(&n.store, l);
                    if truncated <= cut_applied + 1 {
                        return Err(format!("{} truncated at {truncated}", n.node_id));
                    }
                }
                Ok(())
            },
        )
        .await;
        assert!(
            cut_node.store.replica(r).is_some(),
            "frozen right side kept"
        );
    }
    filters.heal();
    wait_for(30, "the cut-off node caught up by snapshot", || async {
        let local = cut_node.store.replica(l).and_then(|x| x.desc());
        if local.as_ref().map(|d| &d.end) != Some(&merged.end) {
            return Err(format!("{local:?}"));
        }
        if let Some(n) = nodes.iter().find(|n| n.store.replica(r).is_some()) {
            return Err(format!("{} still has {r}", n.node_id));
        }
        if table_data(&cut_node.store) != table_data(&nodes[runner].store) {
            return Err("data differs".into());
        }
        Ok(())
    })
    .await;
    // The node that was cut off serves (its Raft thread did not stop) and reads every row.
    let extra: Vec<i64> = if lose_rhs {
        Vec::new()
    } else {
        (1000..1060).collect()
    };
    let want: Vec<i64> = (0..100).chain(extra).collect();
    let got: Vec<i64> = rows(cut_node).await.iter().map(|r| r.0).collect();
    assert_eq!(got, want);
    let c = sql(cut_node).await;
    c.execute("INSERT INTO t VALUES (5000, 1)", &[])
        .await
        .expect("a write through the node that was cut off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_past_a_merge_replaces_the_frozen_right_side() {
    merge_then_heal(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_without_the_frozen_right_side_waits_for_a_snapshot() {
    merge_then_heal(true).await;
}

//! Multi-region placement, follower reads and GLOBAL tables on a nine-node in-process cluster
//! (three regions, three zones each), end to end through SQL:
//! - a REGIONAL BY TABLE table of a ZONE-survival database converges to three voters in its
//!   home region (distinct zones) and a non-voter in each other region, lease at home;
//! - `AS OF SYSTEM TIME follower_read_timestamp()` from another region is served by a replica
//!   there, not by the leaseholder;
//! - a GLOBAL table's write waits out its future timestamp, and a present-time read from
//!   another region right after it is served locally and sees it;
//! - `SURVIVE REGION FAILURE` moves to five voters over three regions, two at home, and the
//!   database stays writable, with every acknowledged write, when the home region is lost.

mod common;

use cluster::desc::{RangeDescriptor, ReplicaKind};
use cluster::harness::cluster::{LocalCluster, LocalClusterConfig};
use common::{connect, init_logging, wait_for_every};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// How often the waits check: nine nodes share two cores, so less often than usual.
const POLL: Duration = Duration::from_millis(100);

/// The range ids of a table, from SHOW RANGES.
async fn table_ranges(c: &Client, table: &str) -> Result<Vec<i64>, String> {
    let rows = c
        .query(&format!("SHOW RANGES FROM TABLE {table}"), &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows.iter().map(|r| r.get::<_, i64>("range_id")).collect())
}

/// Regions of a descriptor's voters and non-voters, sorted.
fn regions(
    d: &RangeDescriptor,
    region_of: &BTreeMap<u64, String>,
    kind: ReplicaKind,
) -> Vec<String> {
    let mut out: Vec<String> = d
        .replicas
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| region_of.get(&r.node_id.0).cloned().unwrap_or_default())
        .collect();
    out.sort();
    out
}

struct Ctx {
    cluster: LocalCluster,
    region_of: BTreeMap<u64, String>,
}

impl Ctx {
    async fn descriptors(&self, c: &Client, table: &str) -> Result<Vec<RangeDescriptor>, String> {
        let ids = table_ranges(c, table).await?;
        let dist = self.cluster.node(0).ok_or("node 1 stopped")?.dist.clone();
        let all = tokio::task::spawn_blocking(move || dist.all_ranges())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok(all
            .into_iter()
            .filter(|d| ids.contains(&(d.range_id.0 as i64)))
            .collect())
    }

    /// Follower reads served by the nodes of `region`.
    fn follower_reads(&self, region: &str) -> u64 {
        let nodes = self.cluster.nodes_in_region(region);
        let stores = nodes.iter().filter_map(|i| self.cluster.node(*i));
        stores.map(|n| n.store.follower_reads()).sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn placement_follower_reads_and_global_tables() {
    init_logging();
    let cluster = LocalCluster::start(LocalClusterConfig::new(9).fast_timing())
        .await
        .expect("cluster");
    let region_of = (0..cluster.len())
        .filter_map(|i| Some((cluster.node_id(i)?.0, cluster.region(i).to_string())))
        .collect();
    let ctx = Ctx { cluster, region_of };
    let east = connect(&ctx.cluster.url(0, "defaultdb").unwrap()).await;
    east.batch_execute(
        r#"CREATE DATABASE mr PRIMARY REGION "us-east1" REGIONS "us-west1", "europe-west1";
           USE mr;
           CREATE TABLE t (k INT PRIMARY KEY, v INT);
           CREATE TABLE g (k INT PRIMARY KEY, v INT) LOCALITY GLOBAL;"#,
    )
    .await
    .expect("multi-region schema");

    // ZONE survival, REGIONAL BY TABLE in us-east1.
    for table in ["t", "g"] {
        wait_for_every(POLL, 90, &format!("placement of {table}"), || async {
            let ds = ctx.descriptors(&east, table).await?;
            if ds.is_empty() {
                return Err("no ranges".into());
            }
            for d in &ds {
                let voters = regions(d, &ctx.region_of, ReplicaKind::Voter);
                let others = regions(d, &ctx.region_of, ReplicaKind::NonVoter);
                if voters != ["us-east1"; 3] || others != ["europe-west1", "us-west1"] {
                    let dist = ctx.cluster.node(0).unwrap().dist.clone();
                    let cfgs = tokio::task::spawn_blocking(move || dist.span_configs()).await.unwrap();
                    return Err(format!(
                        "{} [{:x?}, {:x?}) voters {voters:?} non-voters {others:?}; configs {cfgs:x?}",
                        d.range_id, d.start, d.end
                    ));
                }
            }
            Ok(())
        })
        .await;
    }

    // Follower reads from europe-west1.
    east.batch_execute("INSERT INTO t VALUES (1, 10), (2, 20)")
        .await
        .unwrap();
    let eu_node = ctx.cluster.nodes_in_region("europe-west1")[0];
    let eu = connect(&ctx.cluster.url(eu_node, "mr").unwrap()).await;
    let before = ctx.follower_reads("europe-west1");
    wait_for_every(POLL, 30, "follower read sees the rows", || async {
        let rows = eu
            .query(
                "SELECT k, v FROM t AS OF SYSTEM TIME follower_read_timestamp() ORDER BY k",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        if rows.len() == 2 {
            Ok(())
        } else {
            Err(format!("{} rows", rows.len()))
        }
    })
    .await;
    assert!(
        ctx.follower_reads("europe-west1") > before,
        "the read was not served in europe-west1"
    );

    // GLOBAL: the write waits out its future timestamp; a present-time read elsewhere right
    // after sees it, served by a local replica.
    let start = Instant::now();
    east.batch_execute("INSERT INTO g VALUES (1, 100)")
        .await
        .unwrap();
    let took = start.elapsed();
    let before = ctx.follower_reads("europe-west1");
    let v: i32 = eu
        .query_one("SELECT v FROM g WHERE k = 1", &[])
        .await
        .expect("global read")
        .get(0);
    assert_eq!(
        v, 100,
        "a GLOBAL read after the write committed must see it"
    );
    assert!(
        took >= Duration::from_millis(200),
        "a GLOBAL write commits in the future and waits ({took:?})"
    );
    assert!(
        ctx.follower_reads("europe-west1") > before,
        "the GLOBAL read was not served in europe-west1"
    );

    // REGION survival: five voters over three regions, two at home, no non-voters.
    east.batch_execute("ALTER DATABASE mr SURVIVE REGION FAILURE")
        .await
        .unwrap();
    wait_for_every(POLL, 90, "region survival placement", || async {
        for d in ctx.descriptors(&east, "t").await? {
            let voters = regions(&d, &ctx.region_of, ReplicaKind::Voter);
            let count = |r: &str| voters.iter().filter(|v| *v == r).count();
            let ok = voters.len() == 5
                && count("us-east1") == 2
                && count("us-west1") >= 1
                && count("europe-west1") >= 1;
            if !ok {
                return Err(format!("{} voters {voters:?}", d.range_id));
            }
        }
        Ok(())
    })
    .await;

    // Lose the whole home region: the database stays writable through the survivors and no
    // acknowledged write is lost. Every system range (replication factor 3, spread over the
    // three regions) keeps a majority too.
    for k in 10..20 {
        east.execute("INSERT INTO t VALUES ($1, $1)", &[&k])
            .await
            .unwrap();
    }
    let mut ctx = ctx;
    let home = ctx.cluster.nodes_in_region("us-east1");
    ctx.cluster.stop(&home).await;
    let west_node = ctx.cluster.nodes_in_region("us-west1")[0];
    let west = connect(&ctx.cluster.url(west_node, "mr").unwrap()).await;
    wait_for_every(POLL, 60, "a write after losing us-east1", || async {
        west.execute("UPSERT INTO t VALUES (100, 100)", &[])
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    let n: i64 = west
        .query_one("SELECT count(*) FROM t WHERE k >= 10", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 11, "the ten acknowledged rows and the new one");
    ctx.cluster.shutdown().await;
}

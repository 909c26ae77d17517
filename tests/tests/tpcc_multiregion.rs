//! `meridian workload ... tpcc --partitions/--regions` on an in-process three-region cluster
//! (one node per region): `init --warehouses=3 --regions=...` makes the database multi-region,
//! homes warehouse w's rows in partition w-1's region (REGIONAL BY ROW, `crdb_region` set on
//! every insert) and makes `item` GLOBAL; `run` drives each partition through its own region's
//! gateway for a few seconds; the four consistency checks pass; every row, those the run
//! inserted included, carries its warehouse's region, and the allocator moves each
//! partition's leases into its region (SHOW RANGES). The binary's flag shapes
//! (`--partition-affinity`, several URLs) are exercised by a short run of `meridian workload
//! run tpcc` against one partition.
//!
//! NON-SPEC `--scale 0.01` (1,000 items, 30 customers per district) keeps the load to seconds.

use cluster::harness::cluster::{LocalCluster, LocalClusterConfig};
use cluster::workload::tpcc::{self, CheckOpts, InitOpts, RunOpts, Scale};
use meridian_tests::process::meridian_bin;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const REGIONS: [(&str, &str); 3] = [
    ("us-east1", "us-east1-b"),
    ("us-west1", "us-west1-a"),
    ("europe-west1", "europe-west1-b"),
];

/// Tables keyed by warehouse, with their warehouse column.
const TABLES: [(&str, &str); 8] = [
    ("warehouse", "w_id"),
    ("district", "d_w_id"),
    ("customer", "c_w_id"),
    ("history", "h_w_id"),
    ("\"order\"", "o_w_id"),
    ("new_order", "no_w_id"),
    ("order_line", "ol_w_id"),
    ("stock", "s_w_id"),
];

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(conn);
    client
}

/// The rows of `sql` as text.
async fn rows(c: &Client, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let msgs = c
        .simple_query(sql)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{sql}: {}: {}", db.code().code(), db.message()),
            None => format!("{sql}: {e}"),
        })?;
    Ok(msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// Waits for `cond`, failing with its last complaint after `secs`.
async fn wait_for<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match cond().await {
            Ok(()) => return,
            Err(last) if Instant::now() > deadline => panic!("{what}: timed out; last: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Every partition's ranges of `table` (start key naming a region) lease-held in that region,
/// and all three partitions split out.
async fn leases_at_home(c: &Client, table: &str) -> Result<(), String> {
    let ranges: Vec<(String, String)> = c
        .query(&format!("SHOW RANGES FROM TABLE {table}"), &[])
        .await
        .map_err(|e| format!("SHOW RANGES FROM TABLE {table}: {e}"))?
        .iter()
        .map(|r| {
            let start: Option<String> = r.get("start_key");
            let lease: Option<String> = r.get("lease_holder_locality");
            (start.unwrap_or_default(), lease.unwrap_or_default())
        })
        .collect();
    let mut homes = BTreeSet::new();
    for (start, lease) in &ranges {
        let Some((region, _)) = REGIONS
            .iter()
            .find(|(reg, _)| start.contains(&format!("\"{reg}\"")))
        else {
            continue;
        };
        if !lease.contains(&format!("region={region}")) {
            return Err(format!("{table} range {start} leased at {lease}"));
        }
        homes.insert(*region);
    }
    if homes.len() < REGIONS.len() {
        return Err(format!("{table}: partitions not split out yet: {ranges:?}"));
    }
    Ok(())
}

/// The span config records of `table`'s primary index partitions: one per region, each with
/// its lease preference in that region.
async fn partitions_placed(c: &Client, table: &str) -> Result<(), String> {
    let all = rows(c, "SHOW ZONE CONFIGURATIONS").await?;
    let name = table.trim_matches('"');
    for (region, _) in REGIONS {
        let target = format!("PARTITION \"{region}\" OF INDEX tpcc.public.{name}@{name}_pkey");
        let rec = all
            .iter()
            .find(|r| r[0] == target)
            .ok_or(format!("no record {target}"))?;
        let pref = format!("lease_preferences = '[[+region={region}]]'");
        if !rec[1].contains(&pref) {
            return Err(format!("{target}: {}", rec[1]));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpcc_partitioned_across_three_regions() {
    let started = Instant::now();
    let mut cfg = LocalClusterConfig::new(3).fast_timing();
    cfg.localities = REGIONS
        .iter()
        .map(|(r, z)| {
            vec![
                ("region".to_string(), r.to_string()),
                ("zone".to_string(), z.to_string()),
            ]
        })
        .collect();
    let cluster = LocalCluster::start(cfg).await.expect("start cluster");
    let admin = connect(&cluster.url(0, "defaultdb").expect("url")).await;
    wait_for(30, "every node's region registered", || async {
        let got = rows(&admin, "SHOW REGIONS FROM CLUSTER").await?;
        (got.len() == 3).then_some(()).ok_or(format!("{got:?}"))
    })
    .await;
    admin
        .batch_execute("CREATE DATABASE tpcc")
        .await
        .expect("create database");
    let urls: Vec<String> = (0..3)
        .map(|i| cluster.url(i, "tpcc").expect("url"))
        .collect();
    let regions: Vec<String> = REGIONS.iter().map(|(r, _)| r.to_string()).collect();
    let scale = Scale::with_factor(0.01).expect("scale");

    tpcc::init(&InitOpts {
        warehouses: 3,
        drop: false,
        load_concurrency: 2,
        scale,
        partitions: Some(3),
        regions: regions.clone(),
        survival_goal: "zone".into(),
        url: urls[0].clone(),
    })
    .await
    .expect("init tpcc --partitions=3 --regions=...");
    let loaded = started.elapsed();

    let east = connect(&urls[0]).await;
    let db_regions = rows(&east, "SHOW REGIONS FROM DATABASE tpcc")
        .await
        .unwrap();
    let names: Vec<&str> = db_regions.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(names[0], "us-east1", "primary region first: {db_regions:?}");
    assert_eq!(db_regions[0][2], "t", "{db_regions:?}");
    assert_eq!(names.len(), 3, "{db_regions:?}");
    let item = rows(&east, "SHOW CREATE TABLE item").await.unwrap();
    assert!(item[0][1].contains("LOCALITY GLOBAL"), "{item:?}");
    let stock = rows(&east, "SHOW CREATE TABLE stock").await.unwrap();
    assert!(
        stock[0][1].contains("LOCALITY REGIONAL BY ROW"),
        "{stock:?}"
    );

    let check = || async {
        let conditions = tpcc::check(&CheckOpts {
            warehouses: 3,
            url: urls[1].clone(),
        })
        .await
        .expect("check");
        assert_eq!(conditions.len(), 4);
        assert!(
            conditions.iter().all(|c| c.violations.is_empty()),
            "{conditions:?}"
        );
    };
    check().await;

    // Each of the six terminals works on a warehouse of one partition through the gateway in
    // that partition's region.
    let result = tpcc::run(&RunOpts {
        warehouses: 3,
        duration: Duration::from_secs(4),
        ramp: Duration::ZERO,
        concurrency: Some(6),
        wait: false,
        wait_scale: 1.0,
        isolation: "serializable".into(),
        scale,
        seed: Some(7),
        json: true,
        partitions: Some(3),
        partition_affinity: Vec::new(),
        regions: regions.clone(),
        urls: urls.clone(),
    })
    .await
    .expect("run tpcc --partitions=3");
    assert_eq!((result.partitions, result.active_warehouses), (3, 3));
    assert_eq!(result.concurrency, 6, "{result:?}");
    assert!(
        result.transactions[0].summary.ops > 0,
        "no New-Order completed: {result:?}"
    );
    assert!(result.transactions[1].summary.ops > 0, "{result:?}");
    assert_eq!(result.errors, 0, "{result:?}");
    check().await;

    // Every row, loaded or written by the run, is homed in its warehouse's partition's region.
    for (table, col) in TABLES {
        let got = rows(
            &east,
            &format!("SELECT DISTINCT {col}, crdb_region FROM {table} ORDER BY {col}"),
        )
        .await
        .unwrap();
        let want: Vec<Vec<String>> = regions
            .iter()
            .enumerate()
            .map(|(i, r)| vec![(i + 1).to_string(), r.clone()])
            .collect();
        assert_eq!(got, want, "{table}");
    }
    let history: i64 = east
        .query_one("SELECT count(*) FROM history", &[])
        .await
        .expect("history")
        .get(0);
    assert!(
        history > 3 * 10 * scale.customers as i64,
        "payments added history"
    );

    // The binary: one partition's terminals through its gateway (--partition-affinity=1 with
    // one URL: all URLs belong to that partition).
    let out = Command::new(meridian_bin())
        .args([
            "workload",
            "run",
            "tpcc",
            "--warehouses=3",
            "--scale=0.01",
            "--regions=us-east1,us-west1,europe-west1",
            "--partition-affinity=1",
            "--duration=1s",
            "--concurrency=2",
            "--json",
            &urls[1],
        ])
        .output()
        .expect("meridian workload run tpcc");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("\"active_warehouses\":1") && stdout.contains("\"partitions\":3"),
        "{stdout}"
    );
    check().await;

    // Each table's partitions are placed in their regions: the span config records the
    // allocator follows, and (init split each table at the region boundaries) the leases it
    // moves there. Reading a partition through its own gateway makes sure an idle range has
    // a leaseholder to show.
    for (table, _) in TABLES {
        partitions_placed(&east, table).await.unwrap();
    }
    let gateways: Vec<Client> = futures::future::join_all(urls.iter().map(|u| connect(u))).await;
    for (table, col) in TABLES {
        wait_for(30, &format!("{table} leases at home"), || async {
            for (i, g) in gateways.iter().enumerate() {
                rows(
                    g,
                    &format!("SELECT count(*) FROM {table} WHERE {col} = {}", i + 1),
                )
                .await?;
            }
            leases_at_home(&east, table).await
        })
        .await;
    }
    cluster.shutdown().await;
    eprintln!(
        "tpcc multi-region test: loaded in {loaded:?}, total {:?}, {} New-Orders",
        started.elapsed(),
        result.transactions[0].summary.ops
    );
}

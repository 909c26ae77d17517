//! The multi-region promise, counted message by message: on a nine-node in-process cluster
//! (three regions, three zones each, the built-in RTT matrix at half scale: 33-73 ms between
//! regions) with a ZONE-survival database, none of these statements makes a synchronous
//! cross-region call:
//! - a point SELECT, an INSERT and an UPDATE of REGIONAL BY ROW rows homed in us-east1, from
//!   a us-east1 gateway;
//! - a present-time SELECT of a GLOBAL table from a gateway in each of the three regions;
//! - a follower read (`AS OF SYSTEM TIME follower_read_timestamp()`) of a row homed in
//!   us-west1, from us-east1.
//!
//! "Synchronous" means a request/response call through the transport (KV batches, pushes,
//! range lookups, meta reads and writes): the only traffic anyone waits for. Excluded, by the
//! calling thread's name, are the node's periodic loops ([`BACKGROUND_THREADS`]: liveness
//! heartbeats, the allocator and span config refresh, closed-timestamp publication); they
//! run whether or not a statement does. Raft messages and closed-timestamp notifications are
//! one-way: they are measured and printed, and for the tables' ranges the test checks that
//! every Raft append that crossed regions went to a non-voter, so a write's commit quorum (a
//! majority of the three voters) was entirely in the home region. Independently of the
//! counters, the fastest of three runs of each statement must be faster than the smallest
//! cross-region RTT: any wait for another region, counted or not, would fail that.
//!
//! Each statement first runs until a run is clean (at most five times): gateways' range
//! caches still hold descriptors from before the tables were split and placed, and the first
//! correction costs a range lookup at range 1's leaseholder (see [`warm_up`]).
//!
//! A control shows the counter is not vacuous: the same UPDATE from a us-west1 gateway makes
//! cross-region calls and takes at least a round trip.
//!
//! Leases last 60 s in the main test, so that no lease moves while it measures.
//! `idle_ranges_keep_serving_follower_reads` uses 1.5 s leases: the closed-timestamp loop
//! keeps the leases of multi-region ranges alive, so idle ranges keep publishing closed
//! timestamps and their followers keep serving follower and GLOBAL reads.

use cluster::desc::{RangeDescriptor, ReplicaKind};
use cluster::harness::cluster::{LocalCluster, LocalClusterConfig};
use cluster::transport::traffic::BACKGROUND_THREADS;
use cluster::transport::{LatencyMatrix, Traffic};
use kv::{NodeId, RangeId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

const REGIONS: [&str; 3] = ["us-east1", "us-west1", "europe-west1"];

/// Most runs of one statement to settle the caches before measuring.
const WARM_UP_RUNS: usize = 5;

/// The built-in RTT matrix (us-east1 <-> us-west1 66 ms, <-> europe-west1 88 ms, us-west1
/// <-> europe-west1 146 ms) is applied at this scale.
const LATENCY_SCALE: f64 = 0.5;

/// The smallest cross-region RTT at [`LATENCY_SCALE`] (us-east1 <-> us-west1).
const MIN_CROSS_REGION_RTT: Duration = Duration::from_millis(33);

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

/// Waits for `cond`, failing with the last state seen after `secs`.
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
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The first column of the first row of a simple query, as text.
async fn one(c: &Client, sql: &str) -> Result<Option<String>, String> {
    let msgs = c
        .simple_query(sql)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        })?;
    Ok(msgs
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        })
        .flatten())
}

/// What one statement did.
struct Measured {
    /// The traffic counted while it ran.
    traffic: Traffic,
    /// Its foreground cross-region calls, from the filters' log, one line each.
    calls: Vec<String>,
    /// Its latency as the client saw it.
    took: Duration,
}

struct Ctx {
    cluster: LocalCluster,
    region_of: BTreeMap<NodeId, String>,
}

/// One range of a table as SHOW RANGES and the meta records see it.
struct Placed {
    start_key: String,
    desc: RangeDescriptor,
    lease_holder: Option<NodeId>,
}

impl Ctx {
    fn region(&self, n: NodeId) -> &str {
        self.region_of.get(&n).map(String::as_str).unwrap_or("")
    }

    async fn ranges(&self, c: &Client, table: &str) -> Result<Vec<Placed>, String> {
        let rows = c
            .query(&format!("SHOW RANGES FROM TABLE {table}"), &[])
            .await
            .map_err(|e| e.to_string())?;
        let dist = self.cluster.node(0).ok_or("node 1 stopped")?.dist.clone();
        let all = tokio::task::spawn_blocking(move || dist.all_ranges())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for r in rows {
            let id = r.get::<_, i64>("range_id") as u64;
            let desc = all
                .iter()
                .find(|d| d.range_id == RangeId(id))
                .ok_or(format!("r{id} not in the meta records"))?;
            out.push(Placed {
                start_key: r.get("start_key"),
                desc: desc.clone(),
                lease_holder: r
                    .get::<_, Option<i64>>("lease_holder")
                    .map(|n| NodeId(n as u64)),
            });
        }
        Ok(out)
    }

    /// Checks that `p` has three voters in `home`, a non-voter in each other region and its
    /// lease, if any, at home.
    fn placed_in(&self, p: &Placed, home: &str) -> Result<(), String> {
        let of_kind = |k: ReplicaKind| -> Vec<&str> {
            let mut v: Vec<&str> = p
                .desc
                .replicas
                .iter()
                .filter(|r| r.kind == k)
                .map(|r| self.region(r.node_id))
                .collect();
            v.sort();
            v
        };
        let (voters, others) = (of_kind(ReplicaKind::Voter), of_kind(ReplicaKind::NonVoter));
        let mut want_others: Vec<&str> = REGIONS.iter().copied().filter(|r| *r != home).collect();
        want_others.sort();
        let lease = p.lease_holder.map(|n| self.region(n));
        // A quiet range's lease lapses (expiration-based leases); the next request makes a
        // voter take it, and every voter is at home.
        if voters != [home; 3] || others != want_others || lease.is_some_and(|l| l != home) {
            return Err(format!(
                "{} {:?}: voters {voters:?} non-voters {others:?} lease {lease:?} (want {home})",
                p.desc.range_id, p.start_key
            ));
        }
        Ok(())
    }

    /// Every range of the REGIONAL BY ROW table placed in the region its start key names
    /// (the primary region for ranges outside any partition), with a partition per region.
    async fn rbr_placed(&self, c: &Client) -> Result<(), String> {
        let ranges = self.ranges(c, "users").await?;
        let mut homes = BTreeSet::new();
        for p in &ranges {
            let home = REGIONS
                .iter()
                .find(|r| p.start_key.contains(&format!("\"{r}\"")))
                .copied();
            homes.extend(home);
            self.placed_in(p, home.unwrap_or(REGIONS[0]))?;
        }
        if homes.len() != REGIONS.len() {
            let starts: Vec<&str> = ranges.iter().map(|p| p.start_key.as_str()).collect();
            return Err(format!("partitions not split yet: {starts:?}"));
        }
        Ok(())
    }

    fn traffic(&self) -> Traffic {
        self.cluster.filters.traffic()
    }

    /// Runs `sql` on `c` and returns the traffic it caused, after checking the Raft rule:
    /// every Raft message of `table_ranges` that crossed regions went to a non-voter.
    async fn measure(
        &self,
        what: &str,
        c: &Client,
        sql: &str,
        table_ranges: &[RangeDescriptor],
    ) -> Measured {
        let before = self.traffic();
        let start = Instant::now();
        c.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let took = start.elapsed();
        let d = self.traffic().since(&before);
        let calls: Vec<String> = (self.cluster.filters.recent_cross_region_calls().iter())
            .filter(|t| t.at >= start && !t.key.is_background())
            .map(|t| t.to_string())
            .collect();
        let raft: Vec<String> = d
            .cross_region_raft()
            .iter()
            .filter(|(k, _)| table_ranges.iter().any(|t| t.range_id == k.range))
            .map(|(k, n)| {
                let to = table_ranges
                    .iter()
                    .find(|t| t.range_id == k.range)
                    .and_then(|t| t.replica_on(k.to));
                let kind = to.map(|r| r.kind);
                if k.msg_type == "MsgAppend" || k.msg_type == "MsgSnapshot" {
                    assert_eq!(
                        kind,
                        Some(ReplicaKind::NonVoter),
                        "{what}: {} {} from n{} crossed regions to a voter n{}",
                        k.range,
                        k.msg_type,
                        k.from.0,
                        k.to.0
                    );
                }
                format!(
                    "{} n{}->n{} {:?} {}: {n}",
                    k.range, k.from.0, k.to.0, kind, k.msg_type
                )
            })
            .collect();
        println!("{what} ({took:?}): cross-region calls {calls:?}; table Raft {raft:?}");
        Measured {
            traffic: d,
            calls,
            took,
        }
    }
}

/// A started cluster with the schema, one row homed in us-east1 and one in us-west1, both
/// tables placed, and the us-west1 row visible to follower reads.
struct Setup {
    ctx: Ctx,
    /// One client per region, connected to the region's first node, database `mr`.
    clients: BTreeMap<&'static str, Client>,
    east_id: String,
    west_id: String,
    table_ranges: Vec<RangeDescriptor>,
}

impl Setup {
    fn client(&self, region: &str) -> &Client {
        &self.clients[region]
    }

    fn follower_read(&self) -> String {
        format!(
            "SELECT v FROM users AS OF SYSTEM TIME follower_read_timestamp() WHERE id = {}",
            self.west_id
        )
    }
}

async fn setup(lease_duration: Duration) -> Setup {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut cfg = LocalClusterConfig::new(9).fast_timing();
    cfg.store.lease_duration = lease_duration;
    cfg.latency = Some(LatencyMatrix::global().scaled(LATENCY_SCALE));
    let cluster = LocalCluster::start(cfg).await.expect("cluster");
    let region_of = (0..cluster.len())
        .filter_map(|i| Some((cluster.node_id(i)?, cluster.region(i).to_string())))
        .collect();
    let ctx = Ctx { cluster, region_of };
    let url = |r: &str, db: &str| {
        let first = ctx.cluster.nodes_in_region(r)[0];
        ctx.cluster.url(first, db).unwrap()
    };
    let east = connect(&url("us-east1", "defaultdb")).await;
    east.batch_execute(
        r#"CREATE DATABASE mr PRIMARY REGION "us-east1" REGIONS "us-west1", "europe-west1";
           USE mr;
           CREATE TABLE users (id INT8 PRIMARY KEY DEFAULT unique_rowid(), v INT)
               LOCALITY REGIONAL BY ROW;
           CREATE TABLE g (k INT PRIMARY KEY, v INT) LOCALITY GLOBAL;
           INSERT INTO g VALUES (1, 100);"#,
    )
    .await
    .expect("multi-region schema");
    let mut clients = BTreeMap::new();
    clients.insert("us-east1", east);
    for r in &REGIONS[1..] {
        clients.insert(*r, connect(&url(r, "mr")).await);
    }
    // One row homed in each of us-east1 and us-west1 (crdb_region defaults to the gateway's;
    // the key defaults to unique_rowid(), so no uniqueness check visits other regions).
    let insert = "INSERT INTO users (v) VALUES (1) RETURNING id";
    let east_id = one(&clients["us-east1"], insert)
        .await
        .unwrap()
        .expect("id");
    let west_id = one(&clients["us-west1"], insert)
        .await
        .unwrap()
        .expect("id");
    let east = &clients["us-east1"];
    wait_for(60, "REGIONAL BY ROW placement", || ctx.rbr_placed(east)).await;
    wait_for(60, "GLOBAL placement", || async {
        for p in ctx.ranges(east, "g").await? {
            ctx.placed_in(&p, "us-east1")?;
        }
        Ok(())
    })
    .await;
    let mut table_ranges = Vec::new();
    for t in ["users", "g"] {
        for p in ctx.ranges(east, t).await.unwrap() {
            let reps: Vec<String> = (p.desc.replicas.iter())
                .map(|r| format!("n{}:{:?}", r.node_id.0, r.kind))
                .collect();
            println!("{t} {} {:?}: {reps:?}", p.desc.range_id, p.start_key);
            table_ranges.push(p.desc);
        }
    }
    let s = Setup {
        ctx,
        clients,
        east_id,
        west_id,
        table_ranges,
    };
    // follower_read_timestamp() is 4.8 s in the past: wait until it passes the row's write.
    wait_for(30, "follower read of the us-west1 row", || async {
        match one(s.client("us-east1"), &s.follower_read()).await? {
            Some(_) => Ok(()),
            None => Err("not visible yet".into()),
        }
    })
    .await;
    s
}

/// Runs each statement until one run makes no foreground cross-region call, at most
/// [`WARM_UP_RUNS`] times. A gateway's range cache may still hold descriptors from before the
/// tables' ranges were split and placed; correcting one evicts it, and the next statement
/// needing it looks the range up at range 1's leaseholder, in us-east1 (printed as
/// `warm-up ...`). That is a one-time cost per gateway and range, not a per-statement one.
async fn warm_up(s: &Setup, statements: &[(&str, &str, String)]) {
    for (region, what, sql) in statements {
        for run in 1..=WARM_UP_RUNS {
            let what = format!("warm-up {run} {what} from {region}");
            let m = s
                .ctx
                .measure(&what, s.client(region), sql, &s.table_ranges)
                .await;
            if m.traffic.foreground_cross_region_call_count() == 0 {
                break;
            }
        }
    }
}

/// Warms the caches ([`warm_up`]), then runs each statement three times measured; returns
/// what went wrong: statements that made foreground cross-region calls (with the calls), and
/// statements whose fastest run was not faster than a cross-region round trip.
async fn foreground_calls(s: &Setup, statements: &[(&str, &str, String)]) -> Vec<String> {
    warm_up(s, statements).await;
    let mut failures = Vec::new();
    let mut fastest = vec![Duration::MAX; statements.len()];
    for round in 0..3 {
        for (i, (region, what, sql)) in statements.iter().enumerate() {
            let what = format!("{what} from {region}");
            let m = s
                .ctx
                .measure(&what, s.client(region), sql, &s.table_ranges)
                .await;
            if m.traffic.foreground_cross_region_call_count() > 0 {
                failures.push(format!("round {round} {what}: {:?}", m.calls));
            }
            fastest[i] = fastest[i].min(m.took);
        }
    }
    // A synchronous wait for another region of any kind (a call, or a Raft quorum that
    // needs a remote voter) makes every run last at least the smallest cross-region RTT.
    for ((region, what, _), took) in statements.iter().zip(fastest) {
        if took >= MIN_CROSS_REGION_RTT {
            failures.push(format!(
                "{what} from {region}: fastest of 3 runs took {took:?}, not below the \
                 smallest cross-region RTT {MIN_CROSS_REGION_RTT:?}"
            ));
        }
    }
    failures
}

/// The main test. Leases last 60 s here, longer than the test: see
/// `idle_ranges_keep_serving_follower_reads` for why that matters.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn home_region_statements_make_no_cross_region_call() {
    let s = setup(Duration::from_secs(60)).await;
    let (east_id, east) = (&s.east_id, "us-east1");
    let statements = [
        (
            east,
            "point SELECT",
            format!("SELECT v FROM users WHERE id = {east_id}"),
        ),
        (
            east,
            "INSERT",
            "INSERT INTO users (v) VALUES (2)".to_string(),
        ),
        (
            east,
            "UPDATE",
            format!("UPDATE users SET v = v + 1 WHERE id = {east_id}"),
        ),
        (
            east,
            "GLOBAL SELECT",
            "SELECT v FROM g WHERE k = 1".to_string(),
        ),
        (
            "us-west1",
            "GLOBAL SELECT",
            "SELECT v FROM g WHERE k = 1".to_string(),
        ),
        (
            "europe-west1",
            "GLOBAL SELECT",
            "SELECT v FROM g WHERE k = 1".to_string(),
        ),
        (east, "follower read of a us-west1 row", s.follower_read()),
    ];
    let failures = foreground_calls(&s, &statements).await;
    assert!(
        failures.is_empty(),
        "synchronous cross-region calls (excluding threads {BACKGROUND_THREADS:?}):\n{}",
        failures.join("\n")
    );

    // Control: the same UPDATE from us-west1 must reach the us-east1 leaseholder.
    let read = format!("SELECT v FROM users WHERE id = {east_id}");
    let v = |x: Option<String>| x.and_then(|v| v.parse::<i64>().ok());
    let before = v(one(s.client(east), &read).await.unwrap()).expect("row");
    let update = format!("UPDATE users SET v = v + 1 WHERE id = {east_id}");
    let west = s.client("us-west1");
    let ranges = &s.table_ranges;
    s.ctx
        .measure("warm-up remote UPDATE", west, &update, ranges)
        .await;
    let m = s
        .ctx
        .measure("remote UPDATE (control)", west, &update, ranges)
        .await;
    assert!(
        m.took >= MIN_CROSS_REGION_RTT,
        "the remote UPDATE waited for us-east1 ({:?})",
        m.took
    );
    assert!(
        m.traffic.foreground_cross_region_call_count() >= 1,
        "an UPDATE of a us-east1 row from us-west1 must call us-east1"
    );
    let after = v(one(s.client(east), &read).await.unwrap());
    assert_eq!(after, Some(before + 2), "both remote updates applied");
    s.ctx.cluster.shutdown().await;
}

/// Leases are expiration-based (1.5 s here) and closed timestamps are published only under a
/// live lease: unless the closed-timestamp loop kept the leases of idle multi-region ranges
/// alive (cluster/src/closedts.rs, `keep_leases`), their other replicas could no longer serve
/// `follower_read_timestamp()` reads (4.8 s in the past) nor present-time GLOBAL reads after a
/// few idle seconds: the reads would fall back to the leaseholder in the home region, a
/// synchronous cross-region call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_ranges_keep_serving_follower_reads() {
    let s = setup(Duration::from_millis(1500)).await;
    let statements = [
        (
            "us-west1",
            "GLOBAL SELECT",
            "SELECT v FROM g WHERE k = 1".to_string(),
        ),
        (
            "us-east1",
            "follower read of a us-west1 row",
            s.follower_read(),
        ),
    ];
    warm_up(&s, &statements).await;
    // Let every lease of the two tables (and of the catalog) lapse.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut failures = Vec::new();
    for (region, what, sql) in &statements {
        let what = format!("{what} from {region} after 4 s idle");
        let m = s
            .ctx
            .measure(&what, s.client(region), sql, &s.table_ranges)
            .await;
        if m.traffic.foreground_cross_region_call_count() > 0 {
            failures.push(format!("{what}: {:?}", m.calls));
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    s.ctx.cluster.shutdown().await;
}

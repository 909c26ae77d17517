//! CockroachDB's multi-region SQL through pgwire against three real `meridian start`
//! processes, one per region (`--locality region=...,zone=...`): SHOW REGIONS, database
//! regions and survival goals with their errors, a REGIONAL BY ROW table whose rows default to
//! the region of the node they were inserted through, cross-region uniqueness, and the span
//! config records the statements write (seen through SHOW ZONE CONFIGURATION[S]).
//!
//! The nodes are launched here rather than with `ProcessCluster::start`, which gives every
//! node the same flags.

use meridian_tests::cluster::try_connect;
use meridian_tests::process::meridian_bin;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, SimpleQueryMessage};

const REGIONS: [(&str, &str); 3] = [
    ("us-east1", "us-east1-b"),
    ("us-west1", "us-west1-a"),
    ("europe-west1", "europe-west1-c"),
];

struct Node {
    child: Child,
    grpc: SocketAddr,
    sql: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr(ip: [u8; 4]) -> SocketAddr {
    let port = TcpListener::bind(SocketAddr::from((ip, 0)))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    SocketAddr::from((ip, port))
}

/// Starts one node per region and initialises the cluster.
fn start_cluster(dir: &std::path::Path) -> Vec<Node> {
    let addrs: Vec<_> = (0..REGIONS.len())
        .map(|i| {
            let ip = [127, 0, 0, 41 + i as u8];
            (free_addr(ip), free_addr(ip), free_addr(ip))
        })
        .collect();
    let join = addrs
        .iter()
        .map(|a| a.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes = Vec::new();
    for (i, ((grpc, sql, http), (region, zone))) in addrs.into_iter().zip(REGIONS).enumerate() {
        let log = dir.join(format!("n{}.log", i + 1));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(meridian_bin())
            .arg("start")
            .arg("--insecure")
            .arg(format!(
                "--store={}",
                dir.join(format!("n{}", i + 1)).display()
            ))
            .arg(format!("--listen-addr={grpc}"))
            .arg(format!("--sql-addr={sql}"))
            .arg(format!("--http-addr={http}"))
            .arg(format!("--join={join}"))
            .arg(format!("--locality=region={region},zone={zone}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn meridian start");
        nodes.push(Node {
            child,
            grpc,
            sql,
            log,
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(meridian_bin())
            .args(["init", "--insecure"])
            .arg(format!("--host={}", nodes[0].grpc))
            .output()
            .expect("run meridian init");
        if out.status.success() {
            return nodes;
        }
        assert!(
            Instant::now() < deadline,
            "meridian init kept failing: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            logs(&nodes)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn logs(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| std::fs::read_to_string(&n.log).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

async fn connect(node: &Node, db: &str) -> Client {
    let url = format!("postgresql://root@{}/{db}?sslmode=disable", node.sql);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(c) = try_connect(&url).await {
            if c.simple_query("SELECT 1").await.is_ok() {
                return c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node {} never served SQL; its log:\n{}",
            node.sql,
            std::fs::read_to_string(&node.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The rows of `sql` as text (NULL as "NULL").
async fn rows(c: &Client, sql: &str) -> Vec<Vec<String>> {
    try_rows(c, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
}

async fn try_rows(c: &Client, sql: &str) -> Result<Vec<Vec<String>>, tokio_postgres::Error> {
    let mut out = Vec::new();
    for m in c.simple_query(sql).await? {
        if let SimpleQueryMessage::Row(r) = m {
            out.push(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// The SQLSTATE of a statement that must fail.
async fn sqlstate(c: &Client, sql: &str) -> String {
    match c.simple_query(sql).await {
        Ok(_) => panic!("{sql}: expected an error"),
        Err(e) => e
            .code()
            .map(|s| s.code().to_string())
            .unwrap_or_else(|| panic!("{sql}: {e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_region_statements_on_three_regions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nodes = start_cluster(dir.path());
    let mut clients = Vec::new();
    for n in &nodes {
        clients.push(connect(n, "defaultdb").await);
    }
    let east = &clients[0];

    // Every node's region shows up once the nodes have registered.
    let want: Vec<Vec<String>> = vec![
        vec!["europe-west1".into(), "{europe-west1-c}".into()],
        vec!["us-east1".into(), "{us-east1-b}".into()],
        vec!["us-west1".into(), "{us-west1-a}".into()],
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = rows(east, "SHOW REGIONS FROM CLUSTER").await;
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SHOW REGIONS FROM CLUSTER: {got:?}\n{}",
            logs(&nodes)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (c, (region, _)) in clients.iter().zip(REGIONS) {
        assert_eq!(rows(c, "SELECT gateway_region()").await, [[region]]);
    }

    // Database regions and their errors.
    assert_eq!(
        sqlstate(east, r#"CREATE DATABASE bad PRIMARY REGION "mars""#).await,
        "42602"
    );
    assert_eq!(
        sqlstate(
            east,
            r#"CREATE DATABASE bad PRIMARY REGION "us-east1" REGIONS "us-west1" SURVIVE REGION FAILURE"#
        )
        .await,
        "22023"
    );
    rows(
        east,
        r#"CREATE DATABASE movr PRIMARY REGION "us-east1" REGIONS "us-west1", "europe-west1""#,
    )
    .await;
    assert_eq!(
        rows(east, "SHOW REGIONS FROM DATABASE movr").await,
        [
            ["movr", "us-east1", "t", "f", "{us-east1-b}"],
            ["movr", "europe-west1", "f", "f", "{europe-west1-c}"],
            ["movr", "us-west1", "f", "f", "{us-west1-a}"],
        ]
    );
    assert_eq!(
        rows(east, "SHOW SURVIVAL GOAL FROM DATABASE movr").await,
        [["movr", "zone"]]
    );
    rows(east, "ALTER DATABASE movr SURVIVE REGION FAILURE").await;
    assert_eq!(
        sqlstate(east, r#"ALTER DATABASE movr DROP REGION "europe-west1""#).await,
        "22023"
    );

    // A REGIONAL BY ROW table: rows default to the region of the node they came through.
    let mut movr = Vec::new();
    for n in &nodes {
        movr.push(connect(n, "movr").await);
    }
    rows(
        &movr[0],
        "CREATE TABLE users (id INT PRIMARY KEY, name STRING) LOCALITY REGIONAL BY ROW",
    )
    .await;
    for (i, c) in movr.iter().enumerate() {
        rows(
            c,
            &format!("INSERT INTO users (id, name) VALUES ({}, 'user{i}')", i + 1),
        )
        .await;
    }
    assert_eq!(
        rows(&movr[1], "SELECT * FROM users ORDER BY id").await,
        [["1", "user0"], ["2", "user1"], ["3", "user2"]]
    );
    assert_eq!(
        rows(&movr[2], "SELECT id, crdb_region FROM users ORDER BY id").await,
        [["1", "us-east1"], ["2", "us-west1"], ["3", "europe-west1"]]
    );
    // The primary key is unique across regions; unknown regions are rejected.
    assert_eq!(
        sqlstate(&movr[2], "INSERT INTO users (id, name) VALUES (2, 'dup')").await,
        "23505"
    );
    assert_eq!(
        sqlstate(
            &movr[0],
            "INSERT INTO users (id, crdb_region) VALUES (9, 'mars')"
        )
        .await,
        "22P02"
    );
    assert_eq!(
        rows(&movr[0], "SELECT name FROM users WHERE id = 2").await,
        [["user1"]]
    );
    assert_eq!(
        sqlstate(&movr[0], r#"ALTER DATABASE movr DROP REGION "us-west1""#).await,
        "22023"
    );

    // The span configs the allocator reads.
    let zone = rows(&movr[0], "SHOW ZONE CONFIGURATION FROM TABLE users").await;
    assert_eq!(zone[0][0], "TABLE movr.public.users");
    for want in [
        "num_replicas = 5",
        "num_voters = 5",
        "voter_constraints = '{+region=us-east1: 2}'",
        "lease_preferences = '[[+region=us-east1]]'",
    ] {
        assert!(zone[0][1].contains(want), "{want} not in {}", zone[0][1]);
    }
    let all = rows(&movr[0], "SHOW ZONE CONFIGURATIONS").await;
    let west = all
        .iter()
        .find(|r| r[0] == "PARTITION \"us-west1\" OF INDEX movr.public.users@users_pkey")
        .unwrap_or_else(|| panic!("no us-west1 partition in {all:?}"));
    assert!(west[1].contains("lease_preferences = '[[+region=us-west1]]'"));

    // Back to ZONE survival; a region with rows cannot be dropped, an empty one can.
    rows(&movr[0], "ALTER DATABASE movr SURVIVE ZONE FAILURE").await;
    assert_eq!(
        sqlstate(&movr[0], r#"ALTER DATABASE movr DROP REGION "us-west1""#).await,
        "2BP01"
    );
    rows(&movr[0], "DELETE FROM users WHERE id = 2").await;
    rows(&movr[0], r#"ALTER DATABASE movr DROP REGION "us-west1""#).await;
    assert_eq!(
        rows(&movr[1], "SHOW REGIONS FROM DATABASE movr")
            .await
            .len(),
        2
    );
    // us-west1 is no longer a database region: its rows now default to the primary region.
    rows(&movr[1], "INSERT INTO users (id, name) VALUES (4, 'w')").await;
    assert_eq!(
        rows(&movr[1], "SELECT crdb_region FROM users WHERE id = 4").await,
        [["us-east1"]]
    );
}

//! A node started in-process (as tests and the slt runner do): SQL on port 0, the HTTP
//! endpoints, the Admin RPC, and a clean shutdown that releases the store for a restart.

mod common;

use cluster::{start_single_node, NodeConfig, StoreSpec};
use common::connect;
use std::io::{Read, Write};

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

async fn query_one(url: &str, sql: &str) -> String {
    let client = connect(url).await;
    let rows = client.simple_query(sql).await.unwrap();
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .expect("a row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_query_status_shutdown_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreSpec::Path(dir.path().join("store"));
    let node = start_single_node(NodeConfig::for_tests(store.clone()))
        .await
        .unwrap();
    assert_ne!(node.sql_addr().port(), 0);
    let url = node.sql_url();
    let client = connect(&url).await;
    client
        .batch_execute("CREATE TABLE t (k INT PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        .await
        .unwrap();
    drop(client);

    let addr = node.http_addr();
    let health = tokio::task::spawn_blocking(move || http_get(addr, "/health"))
        .await
        .unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let status = cluster::admin::node_status(&node.listen_addr().to_string())
        .await
        .unwrap();
    assert_eq!(status.node_id, 1);
    assert_eq!(status.sql_address, node.sql_addr().to_string());
    assert!(!status.draining);

    node.shutdown().await.unwrap();
    // The store is released: a new node opens it and sees the rows.
    let node = start_single_node(NodeConfig::for_tests(store))
        .await
        .unwrap();
    assert_eq!(
        query_one(&node.sql_url(), "SELECT count(*) FROM t").await,
        "2"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_port_names_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = NodeConfig::for_tests(StoreSpec::Memory);
    cfg.http_addr = taken.local_addr().unwrap();
    let err = match start_single_node(cfg).await {
        Ok(_) => panic!("started on a taken port"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("--http-addr"), "{err}");
}

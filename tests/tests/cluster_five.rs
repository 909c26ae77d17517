//! Five node processes with five replicas per range (`--replication-factor=5`) survive two
//! simultaneous node losses: after SIGKILL of two nodes at once, the remaining three still
//! read every acknowledged row and accept writes.

use meridian_tests::cluster::{try_connect as connect, ProcessCluster};
use std::time::{Duration, Instant};

/// Runs `sql` on `url` until it succeeds (bounded), returning the rows.
async fn retry(url: &str, sql: &str, cluster: &ProcessCluster) -> Vec<tokio_postgres::Row> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(c) = connect(url).await {
            match c.query(sql, &[]).await {
                Ok(rows) => return rows,
                Err(e) => last = format!("{e:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{sql}: {last}\n{}", cluster.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_replicas_survive_two_node_losses() {
    let mut cluster = ProcessCluster::start(5, &["--replication-factor=5"]);
    cluster.init();
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url("defaultdb")).collect();
    retry(
        &urls[0],
        "CREATE TABLE t (k INT8 PRIMARY KEY, v TEXT)",
        &cluster,
    )
    .await;
    for i in 0..20i64 {
        retry(
            &urls[(i % 5) as usize],
            &format!("INSERT INTO t VALUES ({i}, 'v{i}')"),
            &cluster,
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rows = retry(&urls[0], "SHOW RANGES", &cluster).await;
        let five = rows.iter().all(|r| {
            r.try_get::<_, Vec<i64>>("replicas")
                .is_ok_and(|v| v.len() == 5)
        });
        if five && !rows.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ranges never reached 5 replicas\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    cluster.nodes[0].kill9();
    cluster.nodes[1].kill9();
    let rows = retry(&urls[3], "SELECT count(*) FROM t", &cluster).await;
    assert_eq!(rows[0].get::<_, i64>(0), 20);
    retry(&urls[4], "INSERT INTO t VALUES (100, 'after')", &cluster).await;
    let rows = retry(&urls[2], "SELECT count(*) FROM t", &cluster).await;
    assert_eq!(rows[0].get::<_, i64>(0), 21);
}

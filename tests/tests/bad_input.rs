//! Bad input gets PostgreSQL's SQLSTATEs, and neither the connection nor the server is harmed.

use meridian_tests::process::MeridianProcess;
use meridian_tests::{must_connect, query_one_text, sqlstate};
use std::io::{Read, Write};
use std::time::Duration;

async fn expect_code(client: &tokio_postgres::Client, sql: &str, code: &str) {
    match client.simple_query(sql).await {
        Ok(_) => panic!("{sql}: expected SQLSTATE {code}, succeeded"),
        Err(e) => assert_eq!(sqlstate(&e), code, "{sql}: {e:?}"),
    }
    // The connection stays usable.
    assert_eq!(
        query_one_text(client, "SELECT 1").await.as_deref(),
        Some("1"),
        "after {sql}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstates_and_connections_survive() {
    let dir = tempfile::tempdir().unwrap();
    let node = MeridianProcess::start(&dir.path().join("store"));
    let client = must_connect(&node.url("defaultdb")).await;
    client
        .batch_execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(5), n INT NOT NULL)")
        .await
        .expect("create");
    client
        .batch_execute("INSERT INTO t VALUES (1, 'a', 1)")
        .await
        .expect("insert");

    expect_code(&client, "SELEC 1", "42601").await;
    expect_code(&client, "SELECT * FROM t WHERE", "42601").await;
    expect_code(&client, "SELECT * FROM nosuchtable", "42P01").await;
    expect_code(&client, "SELECT nosuchcolumn FROM t", "42703").await;
    expect_code(&client, "INSERT INTO t VALUES (2, 'toolong', 1)", "22001").await;
    expect_code(&client, "INSERT INTO t VALUES (3, 'x', 'abc')", "22P02").await;
    expect_code(&client, "SELECT 'a'::TEXT + 1", "42883").await;
    expect_code(&client, "INSERT INTO t VALUES (1, 'dup', 1)", "23505").await;
    expect_code(&client, "INSERT INTO t VALUES (4, 'x', NULL)", "23502").await;
    expect_code(&client, "SELECT 1 / 0", "22012").await;
    expect_code(&client, "SELECT 2147483647::INT4 + 1", "22003").await;

    // Extended protocol: a type mismatch in a parameter.
    let err = client
        .query("SELECT * FROM t WHERE id = $1", &[&"not a number"])
        .await;
    assert!(err.is_err(), "text bound to an INT parameter must fail");

    // In an explicit transaction an error aborts it (25P02) until ROLLBACK.
    client.batch_execute("BEGIN").await.unwrap();
    assert!(client
        .batch_execute("SELECT * FROM nosuchtable")
        .await
        .is_err());
    match client.simple_query("SELECT 1").await {
        Err(e) => assert_eq!(sqlstate(&e), "25P02"),
        Ok(_) => panic!("statement in an aborted transaction succeeded"),
    }
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        query_one_text(&client, "SELECT count(*) FROM t")
            .await
            .as_deref(),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_wire_does_not_kill_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = MeridianProcess::start(&dir.path().join("store"));
    let garbage: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0xff; 64],
        &[0, 0, 0, 8, 0, 0, 0, 0], // length 8, unknown protocol 0.0
        &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0], // absurd length
    ];
    for g in garbage {
        let mut s = std::net::TcpStream::connect(node.sql_addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(g);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf); // an error response or a close, within the timeout
    }
    // Half a startup packet, then a hang-up.
    {
        let mut s = std::net::TcpStream::connect(node.sql_addr).unwrap();
        let _ = s.write_all(&[0, 0, 0, 40, 0, 3]);
    }
    assert!(node.is_running(), "node died; log:\n{}", node.log());
    let client = must_connect(&node.url("defaultdb")).await;
    assert_eq!(
        query_one_text(&client, "SELECT 1").await.as_deref(),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_of_several_megabytes() {
    let dir = tempfile::tempdir().unwrap();
    let node = MeridianProcess::start(&dir.path().join("store"));
    let client = must_connect(&node.url("defaultdb")).await;
    client
        .batch_execute("CREATE TABLE big (id INT PRIMARY KEY, s TEXT)")
        .await
        .unwrap();
    // One 4 MB string literal.
    let payload = "x".repeat(4 << 20);
    client
        .batch_execute(&format!("INSERT INTO big VALUES (1, '{payload}')"))
        .await
        .expect("4 MB literal");
    let len = query_one_text(&client, "SELECT length(s) FROM big WHERE id = 1").await;
    assert_eq!(len.as_deref(), Some(&*(4usize << 20).to_string()));
    // A statement text of several MB made of many rows.
    let rows: Vec<String> = (2..60_000).map(|i| format!("({i}, 'row {i}')")).collect();
    let sql = format!("INSERT INTO big VALUES {}", rows.join(", "));
    assert!(sql.len() > 1 << 20);
    client.batch_execute(&sql).await.expect("multi-MB INSERT");
    assert_eq!(
        query_one_text(&client, "SELECT count(*) FROM big")
            .await
            .as_deref(),
        Some("59999")
    );
    // A malformed multi-MB statement errors cleanly.
    let bad = format!("SELECT '{payload}' FROM");
    match client.simple_query(&bad).await {
        Err(e) => assert_eq!(sqlstate(&e), "42601"),
        Ok(_) => panic!("malformed statement succeeded"),
    }
    assert_eq!(
        query_one_text(&client, "SELECT 1").await.as_deref(),
        Some("1")
    );
}

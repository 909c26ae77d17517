//! End-to-end tests of the pgwire server with a real driver (tokio-postgres).

use super::{ServerConfig, TestServer};
use std::io::{Read, Write};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

async fn connect(server: &TestServer) -> Client {
    connect_url(&server.url()).await
}

/// A client connected to `url` (its connection driven by a spawned task).
async fn connect_url(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_string())
        .unwrap_or_else(|| format!("not a db error: {e}"))
}

/// The values of a simple query's rows, as text.
async fn simple_rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let msgs = client.simple_query(sql).await.expect(sql);
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn simple_protocol_tags_and_rows() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    let msgs = client
        .simple_query(
            "CREATE TABLE t (a INT PRIMARY KEY, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, NULL); SELECT a, b FROM t ORDER BY a",
        )
        .await
        .unwrap();
    let tags: Vec<u64> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(tags, vec![0, 2, 2]);
    let rows = simple_rows(&client, "SELECT a, b FROM t ORDER BY a").await;
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into()), Some("x".into())],
            vec![Some("2".into()), None]
        ]
    );
    // Empty query.
    // Empty queries answer EmptyQueryResponse (no rows, no error).
    assert!(simple_rows(&client, "").await.is_empty());
    assert!(simple_rows(&client, " ; ").await.is_empty());
}

#[tokio::test]
async fn extended_protocol_binary_params_and_results() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    client
        .batch_execute("CREATE TABLE kv (k INT8 PRIMARY KEY, v TEXT, f FLOAT8, ok BOOL)")
        .await
        .unwrap();
    let stmt = client
        .prepare("INSERT INTO kv VALUES ($1, $2, $3, $4)")
        .await
        .unwrap();
    for i in 0..5i64 {
        let n = client
            .execute(
                &stmt,
                &[&i, &format!("v{i}"), &(i as f64 / 2.0), &(i % 2 == 0)],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    let rows = client
        .query(
            "SELECT k, v, f, ok FROM kv WHERE k >= $1 ORDER BY k",
            &[&3i64],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let k: i64 = rows[0].get(0);
    let v: String = rows[0].get(1);
    let f: f64 = rows[0].get(2);
    let ok: bool = rows[0].get(3);
    assert_eq!((k, v.as_str(), f, ok), (3, "v3", 1.5, false));
    // The prepared statement reports its parameter and column types.
    let stmt = client
        .prepare("SELECT k, v FROM kv WHERE k = $1")
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[tokio_postgres::types::Type::INT8]);
    assert_eq!(
        stmt.columns()[1].type_(),
        &tokio_postgres::types::Type::TEXT
    );
}

#[tokio::test]
async fn show_indexes_and_deallocate_reach_their_handlers() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    client
        .batch_execute("CREATE TABLE si (a INT PRIMARY KEY, b INT); CREATE INDEX si_b ON si (b)")
        .await
        .unwrap();
    // Parsed as SHOW <variable>, but served by the DDL layer, not as a session setting.
    let rows = simple_rows(&client, "SHOW INDEXES FROM si").await;
    assert!(
        rows.iter().any(|r| r[1].as_deref() == Some("si_b")),
        "{rows:?}"
    );
    client.batch_execute("DEALLOCATE ALL").await.unwrap();
    let err = client.batch_execute("DEALLOCATE nope").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("26000"));
}

#[tokio::test]
async fn declared_parameter_types_are_used_at_execution() {
    use tokio_postgres::types::Type;
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    // Bare parameters take the types the client declared in Parse, at Describe and at Execute.
    let stmt = client
        .prepare_typed("SELECT $1 + $2", &[Type::INT2, Type::INT2])
        .await
        .unwrap();
    assert_eq!(stmt.columns()[0].type_(), &Type::INT2);
    let row = client.query_one(&stmt, &[&1i16, &2i16]).await.unwrap();
    assert_eq!(row.get::<_, i16>(0), 3);
    let stmt = client
        .prepare_typed("SELECT -$1", &[Type::FLOAT8])
        .await
        .unwrap();
    let row = client.query_one(&stmt, &[&1.5f64]).await.unwrap();
    assert_eq!(row.get::<_, f64>(0), -1.5);
}

#[tokio::test]
async fn portal_suspension_with_row_limits() {
    let server = TestServer::start().unwrap();
    let mut client = connect(&server).await;
    client
        .batch_execute("CREATE TABLE p (a INT PRIMARY KEY)")
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO p VALUES (1), (2), (3), (4), (5)")
        .await
        .unwrap();
    let txn = client.transaction().await.unwrap();
    let portal = txn.bind("SELECT a FROM p ORDER BY a", &[]).await.unwrap();
    let first = txn.query_portal(&portal, 2).await.unwrap();
    let second = txn.query_portal(&portal, 2).await.unwrap();
    let rest = txn.query_portal(&portal, 10).await.unwrap();
    let got: Vec<Vec<i32>> = [first, second, rest]
        .iter()
        .map(|rows| rows.iter().map(|r| r.get::<_, i32>(0)).collect())
        .collect();
    assert_eq!(got, vec![vec![1, 2], vec![3, 4], vec![5]]);
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn errors_carry_sqlstate_and_leave_the_connection_usable() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    let e = client.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(code(&e), "42601");
    let e = client
        .simple_query("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P01");
    let e = client.query("SELECT 1/0", &[]).await.unwrap_err();
    assert_eq!(code(&e), "22012");
    let e = client
        .simple_query("SET no_such_setting = 1")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42704");
    let e = client
        .simple_query("SET TimeZone = 'America/New_York'")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22023");
    // An error in a multi-statement string skips the rest.
    client
        .batch_execute("CREATE TABLE e (a INT PRIMARY KEY)")
        .await
        .unwrap();
    assert!(client
        .batch_execute("INSERT INTO e VALUES (1); SELECT 1/0; INSERT INTO e VALUES (2)")
        .await
        .is_err());
    assert_eq!(
        simple_rows(&client, "SELECT a FROM e").await,
        vec![vec![Some("1".into())]]
    );
    // Still usable.
    assert_eq!(
        simple_rows(&client, "SELECT 42").await,
        vec![vec![Some("42".into())]]
    );
    let row = client.query_one("SELECT 7", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 7);
}

#[tokio::test]
async fn session_variables() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    assert_eq!(
        simple_rows(&client, "SHOW TimeZone").await,
        vec![vec![Some("UTC".into())]]
    );
    assert_eq!(
        simple_rows(&client, "SHOW server_version").await,
        vec![vec![Some("15.0".into())]]
    );
    client
        .batch_execute("SET application_name = 'tests'; SET DateStyle TO 'ISO, DMY'")
        .await
        .unwrap();
    assert_eq!(
        simple_rows(&client, "SHOW application_name").await,
        vec![vec![Some("tests".into())]]
    );
    assert_eq!(
        simple_rows(&client, "SHOW datestyle").await,
        vec![vec![Some("ISO, DMY".into())]]
    );
    client
        .batch_execute("SET TIME ZONE 'Etc/UTC'; RESET DateStyle")
        .await
        .unwrap();
    assert_eq!(
        simple_rows(&client, "SHOW DateStyle").await,
        vec![vec![Some("ISO, MDY".into())]]
    );
    client
        .batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await
        .unwrap();
    assert_eq!(
        simple_rows(&client, "SHOW transaction_isolation").await,
        vec![vec![Some("serializable".into())]]
    );
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        simple_rows(&client, "SHOW database").await,
        vec![vec![Some("defaultdb".into())]]
    );
    let e = client
        .simple_query("SET database = nosuchdb")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "3D000");
    assert!(simple_rows(&client, "SHOW ALL").await.len() > 10);
}

#[tokio::test]
async fn transactions_rollback_failed_state_and_savepoints() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    client
        .batch_execute("CREATE TABLE x (a INT PRIMARY KEY)")
        .await
        .unwrap();
    client
        .batch_execute("BEGIN; INSERT INTO x VALUES (1); ROLLBACK")
        .await
        .unwrap();
    assert!(simple_rows(&client, "SELECT a FROM x").await.is_empty());
    client
        .batch_execute("BEGIN; INSERT INTO x VALUES (1); COMMIT")
        .await
        .unwrap();
    assert_eq!(simple_rows(&client, "SELECT a FROM x").await.len(), 1);

    // Failed transaction: everything is refused until ROLLBACK; COMMIT answers ROLLBACK.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("INSERT INTO x VALUES (2)")
        .await
        .unwrap();
    assert_eq!(
        code(
            &client
                .batch_execute("INSERT INTO x VALUES (1)")
                .await
                .unwrap_err()
        ),
        "23505"
    );
    assert_eq!(
        code(&client.batch_execute("SELECT 1").await.unwrap_err()),
        "25P02"
    );
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(simple_rows(&client, "SELECT a FROM x").await.len(), 1);

    // Savepoints undo a failed statement and keep earlier work.
    client
        .batch_execute("BEGIN; INSERT INTO x VALUES (10); SAVEPOINT s1")
        .await
        .unwrap();
    assert!(client
        .batch_execute("INSERT INTO x VALUES (1)")
        .await
        .is_err());
    client
        .batch_execute(
            "ROLLBACK TO SAVEPOINT s1; INSERT INTO x VALUES (11); RELEASE SAVEPOINT s1; COMMIT",
        )
        .await
        .unwrap();
    let rows = simple_rows(&client, "SELECT a FROM x ORDER BY a").await;
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into())],
            vec![Some("10".into())],
            vec![Some("11".into())]
        ]
    );
    assert_eq!(
        code(
            &client
                .batch_execute("ROLLBACK TO SAVEPOINT nope")
                .await
                .unwrap_err()
        ),
        "25P01"
    );
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        code(
            &client
                .batch_execute("ROLLBACK TO SAVEPOINT nope")
                .await
                .unwrap_err()
        ),
        "3B001"
    );
    client.batch_execute("ROLLBACK").await.unwrap();

    // CockroachDB's restart protocol.
    client
        .batch_execute("BEGIN; SAVEPOINT cockroach_restart; INSERT INTO x VALUES (20); ROLLBACK TO SAVEPOINT cockroach_restart; INSERT INTO x VALUES (21); RELEASE SAVEPOINT cockroach_restart; COMMIT")
        .await
        .unwrap();
    let rows = simple_rows(&client, "SELECT a FROM x WHERE a >= 20").await;
    assert_eq!(rows, vec![vec![Some("21".into())]]);

    // tokio-postgres' transaction API (extended protocol).
    let mut client = client;
    let t = client.transaction().await.unwrap();
    t.execute("INSERT INTO x VALUES ($1)", &[&30i32])
        .await
        .unwrap();
    t.rollback().await.unwrap();
    assert!(simple_rows(&client, "SELECT a FROM x WHERE a = 30")
        .await
        .is_empty());
}

#[tokio::test]
async fn unknown_users_and_databases_are_rejected() {
    let server = TestServer::start().unwrap();
    let url = format!("postgresql://alice@{}/defaultdb", server.addr);
    let e = tokio_postgres::connect(&url, NoTls)
        .await
        .err()
        .expect("alice rejected");
    assert_eq!(code(&e), "28000");
    let url = format!("postgresql://root@{}/nosuchdb", server.addr);
    let e = tokio_postgres::connect(&url, NoTls)
        .await
        .err()
        .expect("db rejected");
    assert_eq!(code(&e), "3D000");
}

#[test]
fn garbage_startup_packets_do_not_hurt_the_server() {
    let server = TestServer::start().unwrap();
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0xff; 64][..],
        &[0, 0, 0, 8, 0, 1, 0, 0][..],
        &[0, 0, 0, 3][..],
    ] {
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(garbage).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        if let Some(first) = buf.first() {
            assert_eq!(*first, b'E', "expected an ErrorResponse, got {buf:?}");
        }
    }
    // A valid startup followed by a garbage message type.
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let body = b"user\0root\0\0";
    let mut pkt = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    pkt.extend_from_slice(&196608u32.to_be_bytes());
    pkt.extend_from_slice(body);
    pkt.extend_from_slice(b"Zgarbage");
    s.write_all(&pkt).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        buf.windows(5).any(|w| w == b"08P01"),
        "protocol violation reported"
    );
    // The server still serves others.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = connect(&server).await;
        assert_eq!(
            simple_rows(&client, "SELECT 1").await,
            vec![vec![Some("1".into())]]
        );
    });
}

#[tokio::test]
async fn large_queries_and_the_message_size_limit() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    let big = "x".repeat(5 << 20);
    let rows = simple_rows(&client, &format!("SELECT '{big}'")).await;
    assert_eq!(rows[0][0].as_ref().map(String::len), Some(5 << 20));

    let config = ServerConfig {
        max_message_bytes: 1 << 20,
        ..ServerConfig::default()
    };
    let small = TestServer::start_with_config(config).unwrap();
    let client = connect(&small).await;
    let e = client
        .simple_query(&format!("SELECT '{}'", "y".repeat(2 << 20)))
        .await
        .unwrap_err();
    assert!(
        e.as_db_error().is_some_and(|d| d.code().code() == "08P01") || e.is_closed(),
        "{e}"
    );
    let client = connect(&small).await;
    assert_eq!(
        simple_rows(&client, "SELECT 1").await,
        vec![vec![Some("1".into())]]
    );
}

#[tokio::test]
async fn system_tables_answer_psql_style_queries() {
    let server = TestServer::start().unwrap();
    let client = connect(&server).await;
    client
        .batch_execute("CREATE TABLE cat (a INT PRIMARY KEY, b VARCHAR(10) NOT NULL)")
        .await
        .unwrap();
    let rows = simple_rows(
        &client,
        "SELECT relname, relkind FROM pg_catalog.pg_class WHERE relname = 'cat'",
    )
    .await;
    assert_eq!(rows, vec![vec![Some("cat".into()), Some("r".into())]]);
    let rows = simple_rows(
        &client,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'cat' ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            vec![Some("a".into()), Some("integer".into()), Some("NO".into())],
            vec![
                Some("b".into()),
                Some("character varying".into()),
                Some("NO".into())
            ],
        ]
    );
}

mod blocking;
mod follower_reads;
mod plan_cache;
mod txn_retry;

//! pgwire tests of prepared statements across schema changes made by another connection: the
//! cached plan is dropped, and a changed result type fails like PostgreSQL (0A000).

use super::{code, connect};
use crate::server::TestServer;

#[tokio::test]
async fn prepared_statements_follow_another_connections_ddl() {
    let server = TestServer::start().unwrap();
    let ddl = connect(&server).await;
    let app = connect(&server).await;
    ddl.batch_execute("CREATE TABLE t (k INT8 PRIMARY KEY, v INT8); INSERT INTO t VALUES (1, 10)")
        .await
        .unwrap();
    let select = app.prepare("SELECT * FROM t WHERE k = $1").await.unwrap();
    let insert = app.prepare("INSERT INTO t VALUES ($1, $2)").await.unwrap();
    for _ in 0..3 {
        let row = app.query_one(&select, &[&1i64]).await.unwrap();
        assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (1, 10));
    }
    // A new index: the same statements re-plan and still answer.
    ddl.batch_execute("CREATE INDEX t_v_idx ON t (v)")
        .await
        .unwrap();
    app.execute(&insert, &[&2i64, &20i64]).await.unwrap();
    let row = app.query_one(&select, &[&2i64]).await.unwrap();
    assert_eq!(row.get::<_, i64>(1), 20);
    // Dropped: the planner's error, and the connection stays usable.
    ddl.batch_execute("DROP TABLE t").await.unwrap();
    let e = app.query_one(&select, &[&1i64]).await.unwrap_err();
    assert_eq!(code(&e), "42P01");
    let e = app.execute(&insert, &[&3i64, &30i64]).await.unwrap_err();
    assert_eq!(code(&e), "42P01");
    // Recreated with another column: the prepared SELECT * would change its result type.
    ddl.batch_execute("CREATE TABLE t (k INT8 PRIMARY KEY, v INT8, w TEXT)")
        .await
        .unwrap();
    let e = app.query_one(&select, &[&1i64]).await.unwrap_err();
    assert_eq!(code(&e), "0A000");
    assert_eq!(
        e.as_db_error().map(|d| d.message()),
        Some("cached plan must not change result type")
    );
    // The INSERT's result (none) did not change: it re-plans against the new table.
    app.execute(&insert, &[&4i64, &40i64]).await.unwrap();
    let again = app.prepare("SELECT * FROM t WHERE k = $1").await.unwrap();
    let row = app.query_one(&again, &[&4i64]).await.unwrap();
    assert_eq!(row.get::<_, Option<String>>(2), None);
}

//! Meridian's end-to-end tests and the tools they share.
//!
//! - [`slt`]: the sqllogictest runner (binary `slt-runner`) used on ../shared/slt.
//! - [`process`]: start the real `meridian` binary as a child process, read its bound
//!   addresses, kill -9 it, run psql against it.
//! - [`cluster`]: clusters of `meridian start` processes on 127.0.0.x (kill tests).
//! - [`connect`]: a tokio-postgres connection for assertions.
//! - [`elle`]: an Elle-style checker for list-append transaction histories.
//! - [`txnsim`]: the deterministic simulation of transactions over ranges (one thread, one
//!   seeded RNG, virtual time), checked with [`elle`] and timestamp-order replay.
//!
//! The tests themselves live in tests/tests/*.rs; the client-library scripts (psycopg, asyncpg,
//! node-postgres) in tests/clients/.

pub mod cluster;
pub mod elle;
pub mod process;
pub mod slt;
pub mod txnsim;

/// Connects with tokio-postgres (no TLS), panicking with context on failure.
pub async fn must_connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// The SQLSTATE of a failed statement, or a panic with the error when it has none.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.code().code().to_string(),
        None => panic!("expected a server error with a SQLSTATE, got: {e}"),
    }
}

/// The text of the single value returned by a simple query (None for NULL).
pub async fn query_one_text(client: &tokio_postgres::Client, sql: &str) -> Option<String> {
    let msgs = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    msgs.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no rows"))
}

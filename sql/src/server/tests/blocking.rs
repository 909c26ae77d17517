//! The server never lets a transaction go (commit, rollback, or the drop of its last
//! reference) from its async task: in a cluster that reaches the transport, which blocks on
//! the network, and a transport blocking with `Handle::block_on` from async code panicked
//! ("Cannot start a runtime from within a runtime") and killed the connection's task. Seen in
//! CI when a client disconnected inside BEGIN ... and the server rolled the transaction back
//! at connection close.
//!
//! The probe stands in for such a KV layer: whenever a transaction is released it blocks on a
//! future with `Handle::block_on`, as the gRPC transport did, and counts the releases where
//! that would have panicked.

use crate::server::{ServerConfig, TestServer};
use crate::testutil::{self, Hooked, TxnHooks};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct BlockingProbe {
    released: AtomicUsize,
    from_async: AtomicUsize,
}

impl TxnHooks for BlockingProbe {
    fn released(&self) {
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            let blocked = std::panic::catch_unwind(|| h.block_on(async {}));
            if blocked.is_err() {
                self.from_async.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

fn start() -> (TestServer, Arc<BlockingProbe>) {
    let txns = Hooked::new(testutil::local_store(), BlockingProbe::default());
    let probe = txns.hooks.clone();
    let server = TestServer::start_on(txns, ServerConfig::default()).expect("server");
    (server, probe)
}

/// A bare pgwire client: enough of the protocol to drive portals by hand.
struct Raw(TcpStream);

impl Raw {
    fn connect(server: &TestServer) -> Raw {
        let s = TcpStream::connect(server.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut raw = Raw(s);
        let mut body = 196_608i32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0root\0database\0defaultdb\0\0");
        let len = i32::try_from(body.len() + 4).expect("len");
        raw.0.write_all(&len.to_be_bytes()).expect("write");
        raw.0.write_all(&body).expect("write");
        raw.until_ready();
        raw
    }

    fn send(&mut self, tag: u8, body: &[u8]) {
        let len = i32::try_from(body.len() + 4).expect("len");
        let mut msg = vec![tag];
        msg.extend_from_slice(&len.to_be_bytes());
        msg.extend_from_slice(body);
        self.0.write_all(&msg).expect("write");
    }

    fn parse(&mut self, sql: &str) {
        let mut b = b"\0".to_vec();
        b.extend_from_slice(sql.as_bytes());
        b.extend_from_slice(b"\0\0\0");
        self.send(b'P', &b);
    }

    /// Binds the unnamed statement to the unnamed portal (no parameters, text results).
    fn bind(&mut self) {
        self.send(b'B', b"\0\0\0\0\0\0\0\0");
    }

    fn execute(&mut self, max_rows: i32) {
        let mut b = b"\0".to_vec();
        b.extend_from_slice(&max_rows.to_be_bytes());
        self.send(b'E', &b);
    }

    fn query(&mut self, sql: &str) -> Vec<u8> {
        let mut b = sql.as_bytes().to_vec();
        b.push(0);
        self.send(b'Q', &b);
        self.until_ready()
    }

    /// The type bytes of every message up to and including ReadyForQuery.
    fn until_ready(&mut self) -> Vec<u8> {
        let mut types = Vec::new();
        loop {
            let mut head = [0u8; 5];
            self.0.read_exact(&mut head).expect("message header");
            let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
            let mut body = vec![0u8; usize::try_from(len - 4).expect("length")];
            self.0.read_exact(&mut body).expect("message body");
            types.push(head[0]);
            if head[0] == b'Z' {
                return types;
            }
        }
    }
}

fn wait_for_release(probe: &BlockingProbe, after: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while probe.released.load(Ordering::SeqCst) <= after {
        assert!(Instant::now() < deadline, "{what}: no transaction released");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_transaction_left_open_is_rolled_back_where_blocking_is_allowed() {
    let (server, probe) = start();
    let mut c = Raw::connect(&server);
    c.query("CREATE TABLE t (k INT PRIMARY KEY)");
    let types = c.query("BEGIN; INSERT INTO t VALUES (1)");
    assert!(!types.contains(&b'E'), "{types:?}");
    let before = probe.released.load(Ordering::SeqCst);
    drop(c);
    wait_for_release(&probe, before, "rollback at connection close");
    assert_eq!(probe.from_async.load(Ordering::SeqCst), 0);

    // The server is fine, and the row was never committed.
    let mut c = Raw::connect(&server);
    let types = c.query("INSERT INTO t VALUES (1)");
    assert!(!types.contains(&b'E'), "{types:?}");
    assert_eq!(probe.from_async.load(Ordering::SeqCst), 0);
}

#[test]
fn a_suspended_portal_holding_the_last_reference_is_dropped_where_blocking_is_allowed() {
    let (server, probe) = start();
    let mut c = Raw::connect(&server);
    c.query("CREATE TABLE t (k INT PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3)");
    // An implicit transaction kept open by a suspended portal; then a failing Parse rolls
    // the transaction back, but the portal still holds it until Sync drops every portal.
    c.parse("SELECT k FROM t");
    c.bind();
    c.execute(1);
    c.parse("SELEC nothing");
    let before = probe.released.load(Ordering::SeqCst);
    c.send(b'S', b"");
    let types = c.until_ready();
    assert_eq!(types, b"12DsEZ".to_vec(), "messages: {types:?}");
    assert!(probe.released.load(Ordering::SeqCst) > before);
    assert_eq!(probe.from_async.load(Ordering::SeqCst), 0);
    // The connection is still usable.
    let types = c.query("SELECT 1");
    assert!(!types.contains(&b'E'), "{types:?}");
}

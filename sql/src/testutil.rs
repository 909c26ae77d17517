//! Test support shared by the crate's unit tests.
//!
//! Many tests need to watch or disturb what SQL asks of the KV layer: which keys a statement
//! reads, which reads lock, whether a commit fails, what a read hands back (a fault), when a
//! transaction is let go, what ranges and nodes the cluster reports.
//! Rather than each test writing its own pass-through `TxnSource` and `Transaction` (a dozen
//! forwarding methods that drift apart), they wrap the real source (normally the local store)
//! in [`Hooked`] and implement only the [`TxnHooks`] they are about; every other call goes
//! through to the wrapped source or transaction unchanged.
//!
//! Also here: a bootstrapped local store ([`local_store`]) and a statement runner that drives
//! a [`Session`] as the pgwire server does and renders rows as `a|b` text ([`run`]).
//!
//! The catalog's own helpers (a manual-clock store and `ddl::execute` without a session) stay
//! in `catalog::testutil`, for tests of layers below the session.

use crate::context::{Column, ExecResult};
use crate::session::Session;
use crate::types::Row;
use crate::Error;
use kv::{Clock, Timestamp};
use std::sync::Arc;
use txn::local::LocalTxnManager;
use txn::{LockStrength, NodeInfo, RangeInfo, ScanPage, Transaction, TxnOptions, TxnSource};

/// What a test observes or changes in the calls that pass through [`Hooked`] and
/// [`HookedTxn`]. Every method defaults to doing nothing (or to asking the wrapped source),
/// so a test implements only the ones it is about.
pub(crate) trait TxnHooks: Send + Sync + 'static {
    /// Called before every read, with the key read (for a scan: its start key), the lock
    /// strength of a locking read (`None` for a plain one) and whether it is a scan.
    fn read(&self, key: &[u8], lock: Option<LockStrength>, scan: bool) {
        let _ = (key, lock, scan);
    }

    /// Called with the rows a locking scan returned (after it succeeded).
    fn locked_rows(&self, page: &ScanPage) {
        let _ = page;
    }

    /// Changes what a scan (plain or locking) hands back, to inject faults.
    fn scan_page(&self, page: ScanPage) -> ScanPage {
        page
    }

    /// Changes what a point read (plain or locking) of `key` hands back, to inject faults.
    fn got(&self, key: &[u8], value: Option<Vec<u8>>) -> Option<Vec<u8>> {
        let _ = key;
        value
    }

    /// Called before a commit. `Some(error)`: the transaction is rolled back instead and the
    /// commit fails with `error`.
    fn commit(&self) -> Option<txn::Error> {
        None
    }

    /// Called when a transaction goes away (after its commit or rollback, or when it is
    /// dropped without either, which rolls it back), on the thread that let it go.
    fn released(&self) {}

    /// Answers [`TxnSource::ranges`].
    fn ranges(
        &self,
        inner: &dyn TxnSource,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> txn::Result<Vec<RangeInfo>> {
        inner.ranges(start, end)
    }

    /// Answers [`TxnSource::split_at`].
    fn split_at(&self, inner: &dyn TxnSource, key: &[u8]) -> txn::Result<()> {
        inner.split_at(key)
    }

    /// Answers [`TxnSource::nodes`].
    fn nodes(&self, inner: &dyn TxnSource) -> txn::Result<Vec<NodeInfo>> {
        inner.nodes()
    }

    /// Answers [`TxnSource::locality`].
    fn locality(&self, inner: &dyn TxnSource) -> Vec<(String, String)> {
        inner.locality()
    }
}

/// A transaction source that wraps `inner`, calls `hooks` and wraps every transaction it
/// begins in a [`HookedTxn`] with the same hooks.
pub(crate) struct Hooked<H> {
    inner: Arc<dyn TxnSource>,
    /// The hooks, and with them whatever state the test keeps in them.
    pub(crate) hooks: Arc<H>,
}

impl<H: TxnHooks> Hooked<H> {
    /// `inner` with `hooks`.
    pub(crate) fn new(inner: Arc<dyn TxnSource>, hooks: H) -> Arc<Self> {
        Arc::new(Hooked {
            inner,
            hooks: Arc::new(hooks),
        })
    }
}

impl<H: TxnHooks> TxnSource for Hooked<H> {
    fn begin(&self, opts: TxnOptions) -> txn::Result<Box<dyn Transaction>> {
        let hooks: Arc<dyn TxnHooks> = self.hooks.clone();
        Ok(HookedTxn::wrap(self.inner.begin(opts)?, hooks))
    }
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
    fn ranges(&self, start: &[u8], end: Option<&[u8]>) -> txn::Result<Vec<RangeInfo>> {
        self.hooks.ranges(self.inner.as_ref(), start, end)
    }
    fn split_at(&self, key: &[u8]) -> txn::Result<()> {
        self.hooks.split_at(self.inner.as_ref(), key)
    }
    fn nodes(&self) -> txn::Result<Vec<NodeInfo>> {
        self.hooks.nodes(self.inner.as_ref())
    }
    fn locality(&self) -> Vec<(String, String)> {
        self.hooks.locality(self.inner.as_ref())
    }
}

/// A transaction that calls its hooks and otherwise passes every call to `inner`.
pub(crate) struct HookedTxn {
    // Declared first: dropped (commit, rollback or drop done) before `_released` fires.
    inner: Box<dyn Transaction>,
    hooks: Arc<dyn TxnHooks>,
    _released: Released,
}

/// Calls [`TxnHooks::released`] when dropped.
struct Released(Arc<dyn TxnHooks>);

impl Drop for Released {
    fn drop(&mut self) {
        self.0.released();
    }
}

impl HookedTxn {
    /// `inner` with `hooks`.
    pub(crate) fn wrap(
        inner: Box<dyn Transaction>,
        hooks: Arc<dyn TxnHooks>,
    ) -> Box<dyn Transaction> {
        let _released = Released(hooks.clone());
        Box::new(HookedTxn {
            inner,
            hooks,
            _released,
        })
    }
}

impl Transaction for HookedTxn {
    fn read_ts(&self) -> Timestamp {
        self.inner.read_ts()
    }
    fn is_read_only(&self) -> bool {
        self.inner.is_read_only()
    }
    fn get(&mut self, key: &[u8]) -> txn::Result<Option<Vec<u8>>> {
        self.hooks.read(key, None, false);
        let v = self.inner.get(key)?;
        Ok(self.hooks.got(key, v))
    }
    fn scan(&mut self, s: &[u8], e: Option<&[u8]>, limit: usize) -> txn::Result<ScanPage> {
        self.hooks.read(s, None, true);
        let page = self.inner.scan(s, e, limit)?;
        Ok(self.hooks.scan_page(page))
    }
    fn get_locking(&mut self, key: &[u8], l: LockStrength) -> txn::Result<Option<Vec<u8>>> {
        self.hooks.read(key, Some(l), false);
        let v = self.inner.get_locking(key, l)?;
        Ok(self.hooks.got(key, v))
    }
    fn scan_locking(
        &mut self,
        s: &[u8],
        e: Option<&[u8]>,
        limit: usize,
        l: LockStrength,
    ) -> txn::Result<ScanPage> {
        self.hooks.read(s, Some(l), true);
        let page = self.inner.scan_locking(s, e, limit, l)?;
        self.hooks.locked_rows(&page);
        Ok(self.hooks.scan_page(page))
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> txn::Result<()> {
        self.inner.put(key, value)
    }
    fn delete(&mut self, key: Vec<u8>) -> txn::Result<()> {
        self.inner.delete(key)
    }
    fn savepoint(&mut self) -> usize {
        self.inner.savepoint()
    }
    fn rollback_to(&mut self, savepoint: usize) {
        self.inner.rollback_to(savepoint)
    }
    fn commit(self: Box<Self>) -> txn::Result<Timestamp> {
        match self.hooks.commit() {
            Some(e) => {
                self.inner.rollback();
                Err(e)
            }
            None => self.inner.commit(),
        }
    }
    fn rollback(self: Box<Self>) {
        self.inner.rollback()
    }
}

/// A fresh in-memory local store on `clock`, with the catalog bootstrapped.
pub(crate) fn local_store_on(clock: Arc<Clock>) -> Arc<LocalTxnManager> {
    let mvcc = kv::mvcc::Mvcc::new(Arc::new(kv::engine::MemoryEngine::new()));
    let m = Arc::new(LocalTxnManager::new(mvcc, clock, false));
    crate::catalog::bootstrap(m.as_ref()).expect("bootstrap");
    m
}

/// A fresh in-memory local store on the system clock (500 ms max offset), bootstrapped.
pub(crate) fn local_store() -> Arc<LocalTxnManager> {
    local_store_on(Arc::new(Clock::system(500)))
}

/// One row as `a|b` text, each value in PostgreSQL's text form (NULL as `NULL`).
pub(crate) fn row_text(row: &Row, columns: &[Column]) -> String {
    row.iter()
        .zip(columns)
        .map(|(d, c)| d.to_pg_text(&c.ty).unwrap_or_else(|| "NULL".into()))
        .collect::<Vec<_>>()
        .join("|")
}

/// Ends a statement started on `session` as the server does: drains its rows as `a|b`
/// text, then finishes the statement, with the error of the first failing row if one
/// fails (which is then returned).
/// The row stream is dropped before the statement is finished, so that an implicit
/// transaction is not held open by it.
pub(crate) fn finish(session: &mut Session, result: ExecResult) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut failed = None;
    if let ExecResult::Rows { columns, rows, .. } = result {
        for r in rows {
            match r {
                Ok(r) => out.push(row_text(&r, &columns)),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    if let Some(e) = failed {
        session.finish_statement(Err(&e))?;
        return Err(e);
    }
    session.finish_statement(Ok(()))?;
    Ok(out)
}

/// Runs every statement of `sql` on `session`; the last statement's rows as `a|b` text.
pub(crate) fn run(session: &mut Session, sql: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for stmt in crate::parser::parse(sql)? {
        let result = session.execute(&stmt, &[])?;
        out = finish(session, result)?;
    }
    Ok(out)
}

/// [`run`] that must succeed.
pub(crate) fn ok(session: &mut Session, sql: &str) -> Vec<String> {
    run(session, sql).unwrap_or_else(|e| panic!("{sql}: {} {}", e.code, e.message))
}

/// [`run`] that must fail; its error.
pub(crate) fn err(session: &mut Session, sql: &str) -> Error {
    match run(session, sql) {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(e) => e,
    }
}

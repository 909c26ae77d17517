//! One client connection: startup and authentication, the message loop, the simple query
//! protocol, and the statement-streaming core shared with the extended protocol.

use super::codec::{self, ProtocolError, StartupPacket};
use super::encode::{self, Format};
use super::extended::{Portal, Prepared};
use super::{blocking, Node};
use crate::context::{Column, ExecResult, RowStream};
use crate::error::code;
use crate::plan::cache::PlanSlot;
use crate::session::{Session, TxnStatus, MAX_IMPLICIT_RETRIES};
use crate::types::{DataType, Datum};
use crate::Error;
use bytes::{BufMut, BytesMut};
use pgwire::messages::data::DataRow;
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, ReadyForQuery, TransactionStatus,
};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, ParameterStatus, SecretKey,
};
use pgwire::messages::{PgWireBackendMessage as Be, PgWireFrontendMessage as Fe};
use sqlparser::ast::Statement;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client must finish the startup handshake within this time.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Output is written to the socket whenever this much is buffered.
const OUT_FLUSH_BYTES: usize = 64 << 10;
/// Rows encoded per blocking batch (bounded also by BATCH_BYTES).
const BATCH_ROWS: usize = 1024;
const BATCH_BYTES: usize = 256 << 10;

/// Why reading the next message failed.
enum ReadError {
    Io(io::Error),
    Protocol(ProtocolError),
}

/// Buffered socket I/O.
pub(super) struct Wire {
    stream: TcpStream,
    inbuf: BytesMut,
    out: BytesMut,
    max_message: usize,
}

impl Wire {
    async fn fill(&mut self) -> Result<bool, ReadError> {
        let n = self
            .stream
            .read_buf(&mut self.inbuf)
            .await
            .map_err(ReadError::Io)?;
        Ok(n > 0)
    }

    async fn read_startup(&mut self) -> Result<Option<StartupPacket>, ReadError> {
        loop {
            if let Some(p) = codec::decode_startup(&mut self.inbuf).map_err(ReadError::Protocol)? {
                return Ok(Some(p));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    async fn read_message(&mut self) -> Result<Option<Fe>, ReadError> {
        loop {
            if let Some(m) = codec::decode_message(&mut self.inbuf, self.max_message)
                .map_err(ReadError::Protocol)?
            {
                return Ok(Some(m));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Queues a message; writes when enough is buffered.
    pub(super) async fn send(&mut self, msg: Be) -> io::Result<()> {
        codec::encode(msg, &mut self.out)?;
        if self.out.len() >= OUT_FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    pub(super) async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        self.stream.flush().await
    }

    async fn fatal(&mut self, e: &Error) -> io::Result<()> {
        self.send(Be::ErrorResponse(encode::error_response(e, "FATAL")))
            .await?;
        self.flush().await
    }
}

/// Rows of a statement still being streamed (a suspended portal, or the rest of a result).
pub(super) struct RunningRows {
    columns: Vec<Column>,
    rows: RowStream,
    tag: String,
    formats: Vec<Format>,
}

/// What running a statement (or part of it) produced.
pub(super) enum Outcome {
    /// Finished; the complete CommandComplete tag.
    Done(String),
    /// Stopped at the Execute row limit.
    Suspended(RunningRows),
}

/// A connection after startup.
pub(super) struct Conn {
    pub(super) wire: Wire,
    pub(super) session: Session,
    pub(super) statements: HashMap<String, Arc<Prepared>>,
    pub(super) portals: HashMap<String, Portal>,
    pub(super) skip_until_sync: bool,
    timed_out: Arc<AtomicBool>,
    timer: Option<tokio::task::JoinHandle<()>>,
}

/// Serves one TCP connection to the end.
pub(super) async fn run(stream: TcpStream, node: Arc<Node>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut wire = Wire {
        stream,
        inbuf: BytesMut::with_capacity(8 << 10),
        out: BytesMut::with_capacity(8 << 10),
        max_message: node.config.max_message_bytes,
    };
    let started = match tokio::time::timeout(STARTUP_TIMEOUT, startup(&mut wire, &node)).await {
        Err(_) => return Ok(()),
        Ok(r) => r?,
    };
    let Some((session, pid)) = started else {
        return Ok(());
    };
    let mut conn = Conn {
        wire,
        session,
        statements: HashMap::new(),
        portals: HashMap::new(),
        skip_until_sync: false,
        timed_out: Arc::new(AtomicBool::new(false)),
        timer: None,
    };
    let result = conn.serve().await;
    // Rolling back a transaction left open calls into the KV layer, which blocks (a remote
    // EndTxn through the transport): never from this async task. A portal's row stream may
    // hold the last reference to the transaction, so it goes too.
    let Conn {
        mut portals,
        mut session,
        ..
    } = conn;
    blocking(move || {
        portals.clear();
        session.close();
    });
    node.unregister(pid);
    result
}

/// The startup phase: SSL negotiation, StartupMessage, authentication, session setup.
/// Returns None when the connection ends here (cancel request, rejected client, EOF).
async fn startup(wire: &mut Wire, node: &Arc<Node>) -> io::Result<Option<(Session, i32)>> {
    loop {
        let packet = match wire.read_startup().await {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(None),
            Err(ReadError::Io(e)) => return Err(e),
            Err(ReadError::Protocol(p)) => {
                wire.fatal(&Error::new(code::PROTOCOL_VIOLATION, p.0))
                    .await?;
                return Ok(None);
            }
        };
        match packet {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest => {
                wire.out.put_u8(b'N');
                wire.flush().await?;
            }
            StartupPacket::Cancel { pid, secret } => {
                node.cancel(pid, secret);
                return Ok(None);
            }
            StartupPacket::Startup { minor, params, .. } => {
                if minor > 0 {
                    let unsupported = params
                        .keys()
                        .filter(|k| k.starts_with("_pq_."))
                        .cloned()
                        .collect();
                    wire.send(Be::NegotiateProtocolVersion(NegotiateProtocolVersion::new(
                        196_608,
                        unsupported,
                    )))
                    .await?;
                }
                return match open_session(node, &params) {
                    Ok(session) => Ok(Some(accept(wire, node, session).await?)),
                    Err(e) => {
                        wire.fatal(&e).await?;
                        Ok(None)
                    }
                };
            }
        }
    }
}

/// Authenticates (trust for the configured users) and builds the session.
fn open_session(node: &Arc<Node>, params: &BTreeMap<String, String>) -> crate::Result<Session> {
    let user = params
        .get("user")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Error::new(
                code::INVALID_AUTHORIZATION,
                "no PostgreSQL user name specified in startup packet",
            )
        })?;
    if !node.config.users.iter().any(|u| u == user) {
        return Err(Error::new(
            code::INVALID_AUTHORIZATION,
            format!("role \"{user}\" does not exist"),
        )
        .with_hint("In insecure mode only the root user may connect."));
    }
    let database = params.get("database").filter(|d| !d.is_empty()).cloned();
    let database = database.unwrap_or_else(|| "defaultdb".to_string());
    let mut session = Session::new(node.txns.clone(), node.vtables.clone(), user, &database);
    session.set_memory_budget(node.config.memory_budget_bytes);
    blocking(|| session.check_database(&database))?;
    let mut settings: Vec<(String, String)> = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "user" | "database" | "replication" => {}
            "options" => settings.extend(parse_options(v)),
            _ => settings.push((k.clone(), v.clone())),
        }
    }
    for (k, v) in settings {
        if k.eq_ignore_ascii_case("database") {
            continue;
        }
        if let Err(e) = session.vars.set(&k, &v) {
            // Be lenient at startup: drivers send settings we only partly support (JDBC
            // sends the JVM's TimeZone). Report and keep the default.
            if e.code != code::UNDEFINED_OBJECT {
                session.notice(
                    "NOTICE",
                    "00000",
                    format!("ignoring startup parameter {k}={v}: {}", e.message),
                );
            }
        }
    }
    Ok(session)
}

/// `-c name=value` / `--name=value` pairs from the startup `options` parameter.
fn parse_options(options: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        let kv = if w == "-c" {
            words.next().unwrap_or("")
        } else if let Some(rest) = w.strip_prefix("-c") {
            rest
        } else if let Some(rest) = w.strip_prefix("--") {
            rest
        } else {
            continue;
        };
        if let Some((k, v)) = kv.split_once('=') {
            out.push((k.replace('-', "_"), v.to_string()));
        }
    }
    out
}

/// Completes the handshake: AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery.
async fn accept(
    wire: &mut Wire,
    node: &Arc<Node>,
    mut session: Session,
) -> io::Result<(Session, i32)> {
    wire.send(Be::Authentication(Authentication::Ok)).await?;
    for (name, value) in session.vars.startup_reports() {
        wire.send(Be::ParameterStatus(ParameterStatus::new(name, value)))
            .await?;
    }
    session.vars.take_reports();
    let (pid, secret) = node.register(session.cancel_flag());
    wire.send(Be::BackendKeyData(BackendKeyData::new(
        pid,
        SecretKey::I32(secret),
    )))
    .await?;
    for n in session.take_notices() {
        wire.send(Be::NoticeResponse(encode::notice_response(&n)))
            .await?;
    }
    wire.send(Be::ReadyForQuery(ReadyForQuery::new(
        TransactionStatus::Idle,
    )))
    .await?;
    wire.flush().await?;
    Ok((session, pid))
}

fn is_blank(sql: &str) -> bool {
    sql.chars().all(|c| c == ';' || c.is_whitespace())
}

/// What a statement runs with besides its text: parameter values and types, and the prepared
/// statement's plan cache (extended protocol).
#[derive(Clone, Copy)]
pub(super) struct Bound<'a> {
    /// Parameter values.
    pub params: &'a [Datum],
    /// Parameter types.
    pub param_types: &'a [DataType],
    /// The prepared statement's cached plan.
    pub plan: Option<&'a PlanSlot>,
}

impl Bound<'_> {
    /// A simple-protocol statement: no parameters, no plan cache.
    pub const NONE: Bound<'static> = Bound {
        params: &[],
        param_types: &[],
        plan: None,
    };
}

impl Conn {
    async fn serve(&mut self) -> io::Result<()> {
        loop {
            let msg = match self.wire.read_message().await {
                Ok(Some(m)) => m,
                Ok(None) => return Ok(()),
                Err(ReadError::Io(e)) => return Err(e),
                Err(ReadError::Protocol(p)) => {
                    return self
                        .wire
                        .fatal(&Error::new(code::PROTOCOL_VIOLATION, p.0))
                        .await;
                }
            };
            if self.skip_until_sync && msg.is_extended_query() && !matches!(msg, Fe::Sync(_)) {
                continue;
            }
            match msg {
                Fe::Query(q) => self.simple_query(q.query).await?,
                Fe::Parse(p) => self.on_parse(p).await?,
                Fe::Bind(b) => self.on_bind(b).await?,
                Fe::Describe(d) => self.on_describe(d).await?,
                Fe::Execute(e) => self.on_execute(e).await?,
                Fe::Close(c) => self.on_close(c).await?,
                Fe::Flush(_) => self.wire.flush().await?,
                Fe::Sync(_) => self.on_sync().await?,
                Fe::Terminate(_) => return Ok(()),
                Fe::CopyData(_) | Fe::CopyDone(_) | Fe::CopyFail(_) => {}
                _ => {
                    let e = Error::new(code::PROTOCOL_VIOLATION, "unexpected message type");
                    return self.wire.fatal(&e).await;
                }
            }
        }
    }

    /// `DEALLOCATE [PREPARE] name | ALL`: drops named prepared statements of this connection
    /// (drivers such as psycopg send `DEALLOCATE ALL` after a rollback).
    fn deallocate(&mut self, name: &sqlparser::ast::Ident) -> Result<Outcome, Error> {
        if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
            self.statements.clear();
            return Ok(Outcome::Done("DEALLOCATE ALL".into()));
        }
        match self.statements.remove(&name.value) {
            Some(_) => Ok(Outcome::Done("DEALLOCATE".into())),
            None => Err(Error::new(
                crate::error::code::INVALID_SQL_STATEMENT_NAME,
                format!("prepared statement \"{}\" does not exist", name.value),
            )),
        }
    }

    /// The simple query protocol: every statement of the string in turn; an error ends it.
    async fn simple_query(&mut self, sql: String) -> io::Result<()> {
        self.portals.remove("");
        if is_blank(&sql) {
            self.wire
                .send(Be::EmptyQueryResponse(EmptyQueryResponse::new()))
                .await?;
            return self.ready_for_query().await;
        }
        let parsed = blocking(|| crate::parser::parse(&sql));
        match parsed {
            Err(e) => {
                let _ = blocking(|| self.session.finish_statement(Err(&e)));
                self.send_error(&e).await?;
            }
            Ok(stmts) if stmts.is_empty() => {
                self.wire
                    .send(Be::EmptyQueryResponse(EmptyQueryResponse::new()))
                    .await?;
            }
            Ok(stmts) => {
                for stmt in &stmts {
                    match self.run_statement(stmt, Bound::NONE, &[], true, 0).await? {
                        Ok(Outcome::Done(tag)) => {
                            self.wire
                                .send(Be::CommandComplete(CommandComplete::new(tag)))
                                .await?;
                        }
                        Ok(Outcome::Suspended(_)) => {
                            return Err(io::Error::other("simple query suspended"));
                        }
                        Err(e) => {
                            self.send_error(&e).await?;
                            break;
                        }
                    }
                }
            }
        }
        if let Err(e) = blocking(|| self.session.end_implicit()) {
            self.send_error(&e).await?;
        }
        self.ready_for_query().await
    }

    pub(super) async fn send_error(&mut self, e: &Error) -> io::Result<()> {
        self.wire
            .send(Be::ErrorResponse(encode::error_response(e, "ERROR")))
            .await
    }

    pub(super) async fn send_notices(&mut self) -> io::Result<()> {
        for n in self.session.take_notices() {
            self.wire
                .send(Be::NoticeResponse(encode::notice_response(&n)))
                .await?;
        }
        Ok(())
    }

    pub(super) async fn ready_for_query(&mut self) -> io::Result<()> {
        self.send_notices().await?;
        for (name, value) in self.session.vars.take_reports() {
            self.wire
                .send(Be::ParameterStatus(ParameterStatus::new(name, value)))
                .await?;
        }
        let status = match self.session.status() {
            TxnStatus::Idle => TransactionStatus::Idle,
            TxnStatus::InBlock => TransactionStatus::Transaction,
            TxnStatus::Failed => TransactionStatus::Error,
        };
        self.wire
            .send(Be::ReadyForQuery(ReadyForQuery::new(status)))
            .await?;
        self.wire.flush().await
    }

    /// Drops every suspended portal's row stream (before the transaction they read from ends).
    pub(super) fn close_running_portals(&mut self) {
        if self.portals.values().any(Portal::is_running) {
            let portals = &mut self.portals;
            blocking(|| portals.retain(|_, p| !p.is_running()));
        }
    }

    /// Drops a portal taken out of the map. One still streaming rows may hold the last
    /// reference to its transaction (after the session rolled back its own), and dropping
    /// that rolls the transaction back through the KV layer, which blocks.
    pub(super) fn release_portal(portal: Option<Portal>) {
        if let Some(p) = portal.filter(Portal::is_running) {
            blocking(move || drop(p));
        }
    }

    /// Starts a statement statement_timeout would cancel.
    fn arm_timeout(&mut self) {
        self.disarm_timeout();
        let ms = self.session.vars.statement_timeout_ms();
        if ms == 0 {
            return;
        }
        let flag = self.session.cancel_flag();
        let timed_out = self.timed_out.clone();
        self.timer = Some(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            timed_out.store(true, Ordering::Relaxed);
            flag.store(true, Ordering::Relaxed);
        }));
    }

    fn disarm_timeout(&mut self) {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
    }

    /// Rewrites a cancellation caused by statement_timeout with PostgreSQL's message.
    fn map_error(&self, mut e: Error) -> Error {
        if e.code == code::QUERY_CANCELED && self.timed_out.swap(false, Ordering::Relaxed) {
            e.message = "canceling statement due to statement timeout".into();
        }
        e
    }

    /// Runs `stmt`: executes it (retrying an implicit statement on 40001 while nothing has
    /// been sent), sends RowDescription when `describe`, and streams up to `max_rows` rows
    /// (0: all). The caller sends CommandComplete / PortalSuspended.
    pub(super) async fn run_statement(
        &mut self,
        stmt: &Statement,
        bound: Bound<'_>,
        result_formats: &[i16],
        describe: bool,
        max_rows: usize,
    ) -> io::Result<Result<Outcome, Error>> {
        if is_txn_end(stmt) {
            self.close_running_portals();
        }
        if let Statement::Deallocate { name, .. } = stmt {
            return Ok(self.deallocate(name));
        }
        self.timed_out.store(false, Ordering::Relaxed);
        let mut attempt = 0;
        loop {
            if attempt > 0 {
                // A retry of an implicit statement that failed with 40001: spread contenders out.
                let n = u32::try_from(attempt).unwrap_or(u32::MAX);
                tokio::time::sleep(crate::session::retry_backoff(n)).await;
            }
            let was_idle = self.session.is_idle();
            self.arm_timeout();
            let session = &mut self.session;
            let res = blocking(|| {
                session.execute_prepared(stmt, bound.params, bound.param_types, bound.plan)
            });
            self.send_notices().await?;
            let (columns, rows, tag) = match res {
                Err(e) => {
                    self.disarm_timeout();
                    if self.session.can_retry(was_idle, &e) && attempt < MAX_IMPLICIT_RETRIES {
                        attempt += 1;
                        continue;
                    }
                    return Ok(Err(self.map_error(e)));
                }
                Ok(ExecResult::Command { tag }) => {
                    self.disarm_timeout();
                    match blocking(|| self.session.finish_statement(Ok(()))) {
                        Ok(()) => return Ok(Ok(Outcome::Done(tag))),
                        Err(e)
                            if self.session.can_retry(was_idle, &e)
                                && attempt < MAX_IMPLICIT_RETRIES =>
                        {
                            attempt += 1;
                            continue;
                        }
                        Err(e) => return Ok(Err(e)),
                    }
                }
                Ok(ExecResult::Rows { columns, rows, tag }) => (columns, rows, tag),
            };
            let formats = match encode::resolve_formats(result_formats, columns.len(), "result") {
                Ok(f) => f,
                Err(e) => {
                    self.disarm_timeout();
                    let session = &mut self.session;
                    let _ = blocking(|| {
                        drop(rows);
                        session.finish_statement(Err(&e))
                    });
                    return Ok(Err(e));
                }
            };
            let mut running = RunningRows {
                columns,
                rows,
                tag,
                formats,
            };
            let limit = if max_rows == 0 {
                BATCH_ROWS
            } else {
                max_rows.min(BATCH_ROWS)
            };
            let cancel = self.session.cancel_flag();
            let first = blocking(|| pull_batch(&mut running, limit, &cancel));
            let (batch, exhausted) = match first {
                Ok(b) => b,
                Err(e) => {
                    self.disarm_timeout();
                    let e = self.map_error(e);
                    let session = &mut self.session;
                    let _ = blocking(|| {
                        drop(running);
                        session.finish_statement(Err(&e))
                    });
                    if self.session.can_retry(was_idle, &e) && attempt < MAX_IMPLICIT_RETRIES {
                        attempt += 1;
                        continue;
                    }
                    return Ok(Err(e));
                }
            };
            if exhausted {
                // The whole result is in hand: commit before sending anything, so a 40001
                // at commit can still be retried invisibly.
                let RunningRows {
                    columns,
                    rows,
                    tag,
                    formats,
                } = running;
                self.disarm_timeout();
                let session = &mut self.session;
                let finished = blocking(|| {
                    drop(rows);
                    session.finish_statement(Ok(()))
                });
                if let Err(e) = finished {
                    if self.session.can_retry(was_idle, &e) && attempt < MAX_IMPLICIT_RETRIES {
                        attempt += 1;
                        continue;
                    }
                    return Ok(Err(e));
                }
                if describe {
                    let desc = encode::row_description(&columns, &formats);
                    self.wire.send(Be::RowDescription(desc)).await?;
                }
                let n = batch.len();
                self.send_rows(batch).await?;
                return Ok(Ok(Outcome::Done(encode::complete_tag(&tag, n))));
            }
            if describe {
                let desc = encode::row_description(&running.columns, &running.formats);
                self.wire.send(Be::RowDescription(desc)).await?;
            }
            let n = batch.len();
            self.send_rows(batch).await?;
            return self.continue_rows(running, n, max_rows).await;
        }
    }

    async fn send_rows(&mut self, rows: Vec<DataRow>) -> io::Result<()> {
        for r in rows {
            self.wire.send(Be::DataRow(r)).await?;
        }
        Ok(())
    }

    /// Streams the rest of a result (or up to `max_rows` of it, counting `sent` already
    /// sent by this Execute), then ends the statement.
    pub(super) async fn continue_rows(
        &mut self,
        mut running: RunningRows,
        mut sent: usize,
        max_rows: usize,
    ) -> io::Result<Result<Outcome, Error>> {
        let cancel = self.session.cancel_flag();
        loop {
            if max_rows > 0 && sent >= max_rows {
                self.disarm_timeout();
                return Ok(Ok(Outcome::Suspended(running)));
            }
            let limit = if max_rows == 0 {
                BATCH_ROWS
            } else {
                (max_rows - sent).min(BATCH_ROWS)
            };
            let batch = blocking(|| pull_batch(&mut running, limit, &cancel));
            match batch {
                Err(e) => {
                    self.disarm_timeout();
                    let e = self.map_error(e);
                    let session = &mut self.session;
                    let _ = blocking(|| {
                        drop(running);
                        session.finish_statement(Err(&e))
                    });
                    return Ok(Err(e));
                }
                Ok((rows, exhausted)) => {
                    sent += rows.len();
                    self.send_rows(rows).await?;
                    if exhausted {
                        let tag = encode::complete_tag(&running.tag, sent);
                        self.disarm_timeout();
                        let session = &mut self.session;
                        let finished = blocking(|| {
                            drop(running);
                            session.finish_statement(Ok(()))
                        });
                        if let Err(e) = finished {
                            return Ok(Err(e));
                        }
                        return Ok(Ok(Outcome::Done(tag)));
                    }
                }
            }
        }
    }
}

/// Pulls and encodes up to `limit` rows (and about BATCH_BYTES); `true` when the stream ended.
fn pull_batch(
    running: &mut RunningRows,
    limit: usize,
    cancel: &AtomicBool,
) -> crate::Result<(Vec<DataRow>, bool)> {
    let mut out = Vec::new();
    let mut bytes = 0;
    while out.len() < limit && bytes < BATCH_BYTES {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::new(
                code::QUERY_CANCELED,
                "canceling statement due to user request",
            ));
        }
        match running.rows.next() {
            None => return Ok((out, true)),
            Some(Err(e)) => return Err(e),
            Some(Ok(row)) => {
                let r = encode::data_row(&row, &running.columns, &running.formats)?;
                bytes += r.data.len() + 8;
                out.push(r);
            }
        }
    }
    Ok((out, false))
}

/// Statements that end (or may end) the transaction suspended portals read from.
fn is_txn_end(stmt: &Statement) -> bool {
    matches!(
        stmt,
        Statement::Commit { .. } | Statement::Rollback { .. } | Statement::ReleaseSavepoint { .. }
    )
}

impl RunningRows {
    /// The result columns.
    pub(super) fn columns(&self) -> &[Column] {
        &self.columns
    }
}

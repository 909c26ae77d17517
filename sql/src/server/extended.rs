//! The extended query protocol: Parse, Bind, Describe, Execute (with row limits and portal
//! suspension), Close and Sync.
//!
//! Parse plans the statement far enough to know its parameter and result types
//! ([`crate::session::Session::describe`]): client-supplied parameter OIDs win, the planner
//! infers the rest, and parameters nobody could type are reported as `text`. After an error
//! every message up to the next Sync is discarded, as PostgreSQL does.

use super::blocking;
use super::conn::{Bound, Conn, Outcome, RunningRows};
use super::encode::{self, Format};
use crate::context::Column;
use crate::error::code;
use crate::plan::cache::PlanSlot;
use crate::types::{DataType, Datum};
use crate::Error;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Execute, Parse, ParseComplete,
    PortalSuspended,
};
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse};
use pgwire::messages::PgWireBackendMessage as Be;
use sqlparser::ast::Statement;
use std::io;
use std::sync::Arc;

/// A prepared statement.
pub(super) struct Prepared {
    /// None for an empty query string.
    stmt: Option<Statement>,
    params: Vec<DataType>,
    columns: Vec<Column>,
    /// The statement's cached plan (crate::plan::cache).
    plan: PlanSlot,
}

/// A bound portal.
pub(super) struct Portal {
    prepared: Arc<Prepared>,
    params: Vec<Datum>,
    result_codes: Vec<i16>,
    state: PortalState,
}

enum PortalState {
    Ready,
    Running(RunningRows),
    Done(String),
}

impl Portal {
    pub(super) fn is_running(&self) -> bool {
        matches!(self.state, PortalState::Running(_))
    }
}

fn name_of(name: &Option<String>) -> String {
    name.clone().unwrap_or_default()
}

impl Conn {
    /// Reports an extended-protocol error and discards messages until Sync.
    async fn extended_error(&mut self, e: Error) -> io::Result<()> {
        self.skip_until_sync = true;
        self.send_error(&e).await
    }

    pub(super) async fn on_parse(&mut self, p: Parse) -> io::Result<()> {
        match self.parse(p) {
            Ok(()) => {
                self.wire
                    .send(Be::ParseComplete(ParseComplete::new()))
                    .await
            }
            Err(e) => {
                let _ = blocking(|| self.session.finish_statement(Err(&e)));
                self.extended_error(e).await
            }
        }
    }

    fn parse(&mut self, p: Parse) -> crate::Result<()> {
        let name = name_of(&p.name);
        if !name.is_empty() && self.statements.contains_key(&name) {
            return Err(Error::new(
                "42P05",
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        let hints: Vec<DataType> = p
            .type_oids
            .iter()
            .map(|oid| DataType::from_oid(*oid).unwrap_or(DataType::Unknown))
            .collect();
        let mut stmts = blocking(|| crate::parser::parse(&p.query))?;
        if stmts.len() > 1 {
            return Err(Error::syntax(
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let prepared = match stmts.pop() {
            None => Prepared {
                stmt: None,
                params: hints,
                columns: Vec::new(),
                plan: PlanSlot::new(None, Vec::new()),
            },
            Some(stmt) => {
                let session = &mut self.session;
                let d = blocking(|| session.describe(&stmt, &hints))?;
                let n = d.params.len().max(hints.len());
                let params = (0..n)
                    .map(|i| match (hints.get(i), d.params.get(i)) {
                        (Some(h), _) if *h != DataType::Unknown => h.clone(),
                        (_, Some(t)) if *t != DataType::Unknown => t.clone(),
                        _ => DataType::Text,
                    })
                    .collect();
                Prepared {
                    stmt: Some(stmt),
                    params,
                    plan: PlanSlot::new(d.generation, d.columns.clone()),
                    columns: d.columns,
                }
            }
        };
        self.statements.insert(name, Arc::new(prepared));
        Ok(())
    }

    pub(super) async fn on_bind(&mut self, b: Bind) -> io::Result<()> {
        match self.bind(b) {
            Ok(()) => self.wire.send(Be::BindComplete(BindComplete::new())).await,
            Err(e) => self.extended_error(e).await,
        }
    }

    fn bind(&mut self, b: Bind) -> crate::Result<()> {
        let stmt_name = name_of(&b.statement_name);
        let prepared = self.statements.get(&stmt_name).cloned().ok_or_else(|| {
            Error::new(
                "26000",
                format!("prepared statement \"{stmt_name}\" does not exist"),
            )
        })?;
        if b.parameters.len() != prepared.params.len() {
            return Err(Error::new(
                code::PROTOCOL_VIOLATION,
                format!(
                    "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
                    b.parameters.len(),
                    stmt_name,
                    prepared.params.len()
                ),
            ));
        }
        if prepared.stmt.is_some() && self.session.status() == crate::session::TxnStatus::Failed {
            // Bind of anything but a transaction-ending statement fails in an aborted
            // transaction; those are allowed so clients can roll back.
            if !prepared
                .stmt
                .as_ref()
                .is_some_and(crate::session::is_session_statement)
            {
                return Err(crate::session::transaction::aborted_error());
            }
        }
        let formats =
            encode::resolve_formats(&b.parameter_format_codes, b.parameters.len(), "parameter")?;
        let mut params = Vec::with_capacity(b.parameters.len());
        for (i, value) in b.parameters.iter().enumerate() {
            let d = encode::decode_param(value.as_deref(), &prepared.params[i], formats[i])
                .map_err(|e| {
                    let msg = format!("error in argument for ${}: {}", i + 1, e.message);
                    Error { message: msg, ..e }
                })?;
            params.push(d);
        }
        if !prepared.columns.is_empty() {
            encode::resolve_formats(
                &b.result_column_format_codes,
                prepared.columns.len(),
                "result",
            )?;
        }
        let portal_name = name_of(&b.portal_name);
        if !portal_name.is_empty() && self.portals.contains_key(&portal_name) {
            return Err(Error::new(
                "42P03",
                format!("cursor \"{portal_name}\" already exists"),
            ));
        }
        let portal = Portal {
            prepared,
            params,
            result_codes: b.result_column_format_codes,
            state: PortalState::Ready,
        };
        // Binding the unnamed portal replaces the previous one.
        Conn::release_portal(self.portals.insert(portal_name, portal));
        Ok(())
    }

    pub(super) async fn on_describe(&mut self, d: Describe) -> io::Result<()> {
        let name = name_of(&d.name);
        match d.target_type {
            b'S' => {
                let Some(p) = self.statements.get(&name).cloned() else {
                    let e = Error::new(
                        "26000",
                        format!("prepared statement \"{name}\" does not exist"),
                    );
                    return self.extended_error(e).await;
                };
                let oids = p
                    .params
                    .iter()
                    .map(|t| encode::wire_type(t).oid())
                    .collect();
                self.wire
                    .send(Be::ParameterDescription(ParameterDescription::new(oids)))
                    .await?;
                self.describe_columns(&p.columns, &[]).await
            }
            b'P' => {
                let Some(portal) = self.portals.get(&name) else {
                    let e = Error::new(
                        code::INVALID_CURSOR_NAME,
                        format!("portal \"{name}\" does not exist"),
                    );
                    return self.extended_error(e).await;
                };
                let columns = match &portal.state {
                    PortalState::Running(r) => r.columns().to_vec(),
                    _ => portal.prepared.columns.clone(),
                };
                let codes = portal.result_codes.clone();
                self.describe_columns(&columns, &codes).await
            }
            other => {
                let e = Error::new(
                    code::PROTOCOL_VIOLATION,
                    format!("invalid DESCRIBE message subtype {other}"),
                );
                self.extended_error(e).await
            }
        }
    }

    async fn describe_columns(&mut self, columns: &[Column], codes: &[i16]) -> io::Result<()> {
        if columns.is_empty() {
            return self.wire.send(Be::NoData(NoData::new())).await;
        }
        let formats = encode::resolve_formats(codes, columns.len(), "result")
            .unwrap_or_else(|_| vec![Format::Text; columns.len()]);
        self.wire
            .send(Be::RowDescription(encode::row_description(
                columns, &formats,
            )))
            .await
    }

    pub(super) async fn on_execute(&mut self, e: Execute) -> io::Result<()> {
        let name = name_of(&e.name);
        let Some(mut portal) = self.portals.remove(&name) else {
            let err = Error::new(
                code::INVALID_CURSOR_NAME,
                format!("portal \"{name}\" does not exist"),
            );
            return self.extended_error(err).await;
        };
        let max_rows = usize::try_from(e.max_rows).unwrap_or(0);
        let outcome = match std::mem::replace(&mut portal.state, PortalState::Done(String::new())) {
            PortalState::Ready => {
                let prepared = portal.prepared.clone();
                let Some(stmt) = prepared.stmt.as_ref() else {
                    self.portals.insert(name, portal);
                    return self
                        .wire
                        .send(Be::EmptyQueryResponse(EmptyQueryResponse::new()))
                        .await;
                };
                let bound = Bound {
                    params: &portal.params,
                    param_types: &prepared.params,
                    plan: Some(&prepared.plan),
                };
                self.run_statement(stmt, bound, &portal.result_codes, false, max_rows)
                    .await?
            }
            PortalState::Running(r) => self.continue_rows(r, 0, max_rows).await?,
            PortalState::Done(tag) => Ok(Outcome::Done(tag)),
        };
        match outcome {
            Ok(Outcome::Done(tag)) => {
                let done_tag = done_again_tag(&tag);
                self.wire
                    .send(Be::CommandComplete(CommandComplete::new(tag)))
                    .await?;
                portal.state = PortalState::Done(done_tag);
                self.portals.insert(name, portal);
                Ok(())
            }
            Ok(Outcome::Suspended(r)) => {
                portal.state = PortalState::Running(r);
                self.portals.insert(name, portal);
                self.wire
                    .send(Be::PortalSuspended(PortalSuspended::new()))
                    .await
            }
            Err(err) => self.extended_error(err).await,
        }
    }

    pub(super) async fn on_close(&mut self, c: Close) -> io::Result<()> {
        let name = name_of(&c.name);
        match c.target_type {
            b'S' => {
                self.statements.remove(&name);
            }
            b'P' => {
                Conn::release_portal(self.portals.remove(&name));
            }
            other => {
                let e = Error::new(
                    code::PROTOCOL_VIOLATION,
                    format!("invalid CLOSE message subtype {other}"),
                );
                return self.extended_error(e).await;
            }
        }
        self.wire
            .send(Be::CloseComplete(CloseComplete::new()))
            .await
    }

    pub(super) async fn on_sync(&mut self) -> io::Result<()> {
        self.skip_until_sync = false;
        if self.session.status() == crate::session::TxnStatus::Idle {
            // The implicit transaction ends here, and with it every portal (one of which
            // may hold the last reference to a rolled-back transaction: see release_portal).
            let (portals, session) = (&mut self.portals, &mut self.session);
            let ended = blocking(|| {
                portals.clear();
                session.end_implicit()
            });
            if let Err(e) = ended {
                self.send_error(&e).await?;
            }
        } else {
            Conn::release_portal(self.portals.remove(""));
        }
        self.ready_for_query().await
    }
}

/// The tag a finished portal reports if executed again: PostgreSQL sends the verb with
/// zero rows.
fn done_again_tag(tag: &str) -> String {
    match tag.rsplit_once(' ') {
        Some((verb, n)) if n.chars().all(|c| c.is_ascii_digit()) => format!("{verb} 0"),
        _ => tag.to_string(),
    }
}

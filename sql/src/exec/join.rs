//! Joins: hash join, index lookup join and nested loops, for INNER/LEFT/RIGHT/FULL.
//!
//! The left input streams. Hash and nested-loop joins materialize the right input (within
//! the memory budget); a hash join indexes it by the right key values (rows with a NULL key
//! never match, as `=` is never true on NULL). A lookup join materializes nothing: for each
//! left row it reads the matching right rows by index prefix (or one primary-key point
//! lookup). The residual ON condition is checked on each joined candidate. RIGHT and FULL
//! joins remember which right rows matched and emit the others, NULL-extended, at the end.

use crate::catalog::TableDesc;
use crate::context::RowStream;
use crate::exec::eval::{eval, eval_pred};
use crate::exec::scan::{index_desc, key_value, scan_rows};
use crate::exec::{build, row_bytes, Env, CANCEL_CHECK_ROWS};
use crate::plan::{Expr, IndexChoice, JoinKind, JoinStrategy, Plan};
use crate::storage::{self, IndexSpan};
use crate::types::{DataType, Datum, Row};
use crate::{Error, Result};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Left rows whose primary-key lookups are fetched together (one request per range).
const LOOKUP_BATCH: usize = 100;

/// How candidates for a left row are found.
enum Matcher {
    /// Every right row.
    Nested,
    /// Right rows by key.
    Hash {
        table: HashMap<Row, Vec<usize>>,
        lkeys: Vec<Expr>,
    },
    /// Index lookups into a table.
    Lookup {
        table: Arc<TableDesc>,
        index: IndexChoice,
        lkeys: Vec<Expr>,
        key_types: Vec<DataType>,
        filter: Option<Expr>,
        point: bool,
        lock: Option<txn::LockStrength>,
    },
}

struct JoinIter {
    left: RowStream,
    matcher: Matcher,
    right_rows: Vec<Row>,
    matched: Vec<bool>,
    kind: JoinKind,
    left_width: usize,
    right_width: usize,
    on: Option<Expr>,
    env: Env,
    queue: VecDeque<Row>,
    left_done: bool,
    seen: usize,
}

fn concat(l: &[Datum], r: &[Datum]) -> Row {
    let mut row = Vec::with_capacity(l.len() + r.len());
    row.extend_from_slice(l);
    row.extend_from_slice(r);
    row
}

impl JoinIter {
    /// The lookup key values of `lrow` (None: a NULL or out-of-range value, no match).
    fn lookup_key(&self, lrow: &[Datum]) -> Result<Option<Vec<Datum>>> {
        let Matcher::Lookup {
            lkeys, key_types, ..
        } = &self.matcher
        else {
            return Ok(None);
        };
        let mut vals = Vec::with_capacity(lkeys.len());
        for (e, t) in lkeys.iter().zip(key_types) {
            match key_value(eval(e, lrow, &self.env)?, &e.ty(), t) {
                Some(v) => vals.push(v),
                None => return Ok(None),
            }
        }
        Ok(Some(vals))
    }

    /// Whether lookups are plain primary-key point reads, which are fetched for a batch of
    /// left rows at once ([`LOOKUP_BATCH`]).
    fn batched(&self) -> bool {
        matches!(
            self.matcher,
            Matcher::Lookup {
                point: true,
                lock: None,
                ..
            }
        )
    }

    /// Joins a batch of left rows by point lookups: one `get_many` for all their keys.
    fn process_batch(&mut self, lrows: Vec<Row>) -> Result<()> {
        let Matcher::Lookup { table, .. } = &self.matcher else {
            return Err(Error::internal("batched lookup without a lookup matcher"));
        };
        let table = table.clone();
        let mut keys = Vec::with_capacity(lrows.len());
        let mut slots = Vec::with_capacity(lrows.len());
        for lrow in &lrows {
            match self.lookup_key(lrow)? {
                Some(k) => {
                    slots.push(Some(keys.len()));
                    keys.push(k);
                }
                None => slots.push(None),
            }
        }
        let mut found = storage::get_many_by_primary_key(&self.env.ctx().txn, &table, &keys)?;
        for (lrow, slot) in lrows.into_iter().zip(slots) {
            let rows = match slot.and_then(|i| found.get_mut(i).and_then(Option::take)) {
                Some(r) => self.filter_right(vec![r])?,
                None => Vec::new(),
            };
            self.join_right(lrow, rows)?;
        }
        Ok(())
    }

    /// Keeps the looked-up rows that pass the right side's own filter.
    fn filter_right(&self, rows: Vec<Row>) -> Result<Vec<Row>> {
        let Matcher::Lookup { filter, .. } = &self.matcher else {
            return Ok(rows);
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(f) = filter {
                if !eval_pred(f, &r, &self.env)? {
                    continue;
                }
            }
            out.push(r);
        }
        Ok(out)
    }

    /// Right rows fetched by index lookup for `lrow`.
    fn lookup(&self, lrow: &[Datum]) -> Result<Vec<Row>> {
        let Matcher::Lookup {
            table,
            index,
            point,
            lock,
            ..
        } = &self.matcher
        else {
            return Ok(vec![]);
        };
        let Some(vals) = self.lookup_key(lrow)? else {
            return Ok(vec![]);
        };
        let txn = &self.env.ctx().txn;
        let rows: Vec<Row> = if *point {
            storage::get_by_primary_key_locking(txn, table, &vals, *lock)?
                .into_iter()
                .collect()
        } else {
            let prefix = storage::index_key_prefix(table, index_desc(table, *index)?, &vals)?;
            let end = kv::keys::prefix_end(&prefix);
            scan_rows(
                table,
                *index,
                vec![IndexSpan { start: prefix, end }],
                *lock,
                &self.env,
            )?
            .collect::<Result<_>>()?
        };
        self.filter_right(rows)
    }

    /// Joins one left row with the rows looked up for it, queueing output rows.
    fn join_right(&mut self, lrow: Row, rows: Vec<Row>) -> Result<()> {
        let mut any = false;
        for r in rows {
            let joined = concat(&lrow, &r);
            if self.check_on(&joined)? {
                any = true;
                self.queue.push_back(joined);
            }
        }
        if !any && matches!(self.kind, JoinKind::Left | JoinKind::Full) {
            self.queue
                .push_back(concat(&lrow, &vec![Datum::Null; self.right_width]));
        }
        Ok(())
    }

    /// Joins one left row, queueing output rows.
    fn process(&mut self, lrow: Row) -> Result<()> {
        if let Matcher::Lookup { .. } = self.matcher {
            let rows = self.lookup(&lrow)?;
            return self.join_right(lrow, rows);
        }
        let mut any = false;
        let candidates: Vec<usize> = match &self.matcher {
            Matcher::Hash { table, lkeys } => {
                let key = lkeys
                    .iter()
                    .map(|e| eval(e, &lrow, &self.env))
                    .collect::<Result<Row>>()?;
                if key.iter().any(Datum::is_null) {
                    vec![]
                } else {
                    table.get(&key).cloned().unwrap_or_default()
                }
            }
            _ => (0..self.right_rows.len()).collect(),
        };
        for i in candidates {
            let joined = concat(&lrow, &self.right_rows[i]);
            if self.check_on(&joined)? {
                any = true;
                if let Some(m) = self.matched.get_mut(i) {
                    *m = true;
                }
                self.queue.push_back(joined);
            }
        }
        if !any && matches!(self.kind, JoinKind::Left | JoinKind::Full) {
            self.queue
                .push_back(concat(&lrow, &vec![Datum::Null; self.right_width]));
        }
        Ok(())
    }

    fn check_on(&self, joined: &[Datum]) -> Result<bool> {
        match &self.on {
            Some(on) => eval_pred(on, joined, &self.env),
            None => Ok(true),
        }
    }

    fn emit_unmatched_right(&mut self) {
        if !matches!(self.kind, JoinKind::Right | JoinKind::Full) {
            return;
        }
        let nulls = vec![Datum::Null; self.left_width];
        for (i, r) in self.right_rows.iter().enumerate() {
            if !self.matched.get(i).copied().unwrap_or(true) {
                self.queue.push_back(concat(&nulls, r));
            }
        }
        self.matched.clear();
    }
}

impl JoinIter {
    /// Pulls up to [`LOOKUP_BATCH`] left rows (starting with `first`) and joins them with one
    /// batched lookup.
    fn next_batch(&mut self, first: Row) -> Result<()> {
        let mut lrows = vec![first];
        while lrows.len() < LOOKUP_BATCH {
            match self.left.next() {
                Some(Ok(r)) => lrows.push(r),
                Some(Err(e)) => return Err(e),
                None => {
                    self.left_done = true;
                    break;
                }
            }
        }
        self.env.ctx().check_cancel()?;
        self.seen += lrows.len();
        self.process_batch(lrows)?;
        if self.left_done {
            self.emit_unmatched_right();
        }
        Ok(())
    }
}

impl Iterator for JoinIter {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            if let Some(r) = self.queue.pop_front() {
                return Some(Ok(r));
            }
            if self.left_done {
                return None;
            }
            match self.left.next() {
                Some(Ok(lrow)) if self.batched() => {
                    if let Err(e) = self.next_batch(lrow) {
                        return Some(Err(e));
                    }
                }
                Some(Ok(lrow)) => {
                    self.seen += 1;
                    if self.seen.is_multiple_of(CANCEL_CHECK_ROWS) {
                        if let Err(e) = self.env.ctx().check_cancel() {
                            return Some(Err(e));
                        }
                    }
                    if let Err(e) = self.process(lrow) {
                        return Some(Err(e));
                    }
                }
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    self.left_done = true;
                    self.emit_unmatched_right();
                }
            }
        }
    }
}

/// Materializes a stream within the memory budget.
fn collect(stream: RowStream, env: &Env) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (n, r) in stream.enumerate() {
        let r = r?;
        if n.is_multiple_of(CANCEL_CHECK_ROWS) {
            env.ctx().check_cancel()?;
        }
        env.shared.mem.grow(row_bytes(&r))?;
        rows.push(r);
    }
    Ok(rows)
}

/// Join node.
pub fn build_join(plan: &Plan, env: &Env) -> Result<RowStream> {
    let Plan::Join {
        left,
        right,
        kind,
        on,
        strategy,
    } = plan
    else {
        return Err(Error::internal("build_join on a non-join"));
    };
    let llayout = Arc::new(left.layout());
    let rlayout = Arc::new(right.layout());
    let all = Arc::new(plan.layout());
    let on = on.as_ref().map(|e| env.compile(e, &all)).transpose()?;
    let (matcher, right_rows) = match strategy {
        JoinStrategy::NestedLoop => (Matcher::Nested, collect(build(right, env)?, env)?),
        JoinStrategy::Hash {
            left_keys,
            right_keys,
        } => {
            let rkeys: Vec<Expr> = right_keys
                .iter()
                .map(|e| env.compile(e, &rlayout))
                .collect::<Result<_>>()?;
            let lkeys: Vec<Expr> = left_keys
                .iter()
                .map(|e| env.compile(e, &llayout))
                .collect::<Result<_>>()?;
            let rows = collect(build(right, env)?, env)?;
            let mut table: HashMap<Row, Vec<usize>> = HashMap::new();
            for (i, r) in rows.iter().enumerate() {
                let key = rkeys
                    .iter()
                    .map(|e| eval(e, r, env))
                    .collect::<Result<Row>>()?;
                if key.iter().any(Datum::is_null) {
                    continue;
                }
                table.entry(key).or_default().push(i);
            }
            (Matcher::Hash { table, lkeys }, rows)
        }
        JoinStrategy::Lookup { index, left_keys } => {
            let Plan::Scan(s) = &**right else {
                return Err(Error::internal("lookup join into a non-scan"));
            };
            let idx = index_desc(&s.table, *index)?;
            let key_types = idx
                .columns
                .iter()
                .take(left_keys.len())
                .map(|(p, _)| s.table.columns[*p].ty.clone())
                .collect();
            let point =
                *index == IndexChoice::Primary && left_keys.len() == s.table.primary.columns.len();
            let filter = s
                .filter
                .as_ref()
                .map(|f| env.compile(f, &rlayout))
                .transpose()?;
            let lkeys = left_keys
                .iter()
                .map(|e| env.compile(e, &llayout))
                .collect::<Result<_>>()?;
            (
                Matcher::Lookup {
                    table: s.table.clone(),
                    index: *index,
                    lkeys,
                    key_types,
                    filter,
                    point,
                    lock: s.lock,
                },
                vec![],
            )
        }
    };
    let matched = if matches!(kind, JoinKind::Right | JoinKind::Full) {
        vec![false; right_rows.len()]
    } else {
        vec![]
    };
    Ok(Box::new(JoinIter {
        left: build(left, env)?,
        matcher,
        right_rows,
        matched,
        kind: *kind,
        left_width: llayout.len(),
        right_width: rlayout.len(),
        on,
        env: env.clone(),
        queue: VecDeque::new(),
        left_done: false,
        seen: 0,
    }))
}

//! Hash aggregation: GROUP BY keys -> per-group aggregate states.
//!
//! Groups are kept in first-seen order (deterministic output). Without GROUP BY, an empty
//! input still yields one row (count 0, other aggregates NULL), as SQL requires. DISTINCT
//! aggregates keep a per-group set of the argument values seen. Arithmetic goes through
//! [types]'s operators so overflow and numeric precision follow PostgreSQL (SUM(int4) is
//! int8, SUM(int8) and AVG(int) are numeric).

use crate::context::RowStream;
use crate::exec::eval::{eval, eval_pred};
use crate::exec::{build, row_bytes, Env, CANCEL_CHECK_ROWS};
use crate::plan::{AggCall, AggFunc, Expr, Plan};
use crate::types::{self, BinaryOp, DataType, Datum, Row};
use crate::Result;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One aggregate's running state.
#[derive(Debug, Clone)]
enum State {
    Count(i64),
    Sum(Datum),
    Avg(Datum, i64),
    Min(Datum),
    Max(Datum),
    Bool(Option<bool>),
    StringAgg(Option<String>),
}

/// A compiled aggregate call.
struct Agg {
    func: AggFunc,
    args: Vec<Expr>,
    arg_types: Vec<DataType>,
    distinct: bool,
    filter: Option<Expr>,
    ty: DataType,
}

impl Agg {
    fn init(&self) -> State {
        match self.func {
            AggFunc::CountStar | AggFunc::Count => State::Count(0),
            AggFunc::Sum => State::Sum(Datum::Null),
            AggFunc::Avg => State::Avg(Datum::Null, 0),
            AggFunc::Min => State::Min(Datum::Null),
            AggFunc::Max => State::Max(Datum::Null),
            AggFunc::BoolAnd | AggFunc::BoolOr => State::Bool(None),
            AggFunc::StringAgg => State::StringAgg(None),
        }
    }

    /// The type sums are accumulated in.
    fn acc_type(&self) -> DataType {
        match self.func {
            AggFunc::Avg => match self.ty {
                DataType::Numeric(_) => DataType::Numeric(None),
                ref t => t.clone(),
            },
            _ => self.ty.clone(),
        }
    }

    fn add(&self, st: &mut State, vals: &[Datum]) -> Result<()> {
        let v = vals.first().cloned().unwrap_or(Datum::Null);
        if self.func != AggFunc::CountStar && v.is_null() {
            return Ok(());
        }
        match st {
            State::Count(n) => *n += 1,
            State::Sum(acc) | State::Avg(acc, _) => {
                let at = self.acc_type();
                let v = if self.arg_types[0] == at {
                    v
                } else {
                    types::cast(v, &self.arg_types[0], &at, true)?
                };
                *acc = if acc.is_null() {
                    v
                } else {
                    types::eval_binary(BinaryOp::Plus, acc, &at, &v, &at, &at)?
                };
                if let State::Avg(_, n) = st {
                    *n += 1;
                }
            }
            State::Min(cur) => {
                if cur.is_null() || v.sql_cmp(cur) == Some(Ordering::Less) {
                    *cur = v;
                }
            }
            State::Max(cur) => {
                if cur.is_null() || v.sql_cmp(cur) == Some(Ordering::Greater) {
                    *cur = v;
                }
            }
            State::Bool(cur) => {
                let b = v.truthy()?.unwrap_or(false);
                *cur = Some(match (*cur, self.func) {
                    (None, _) => b,
                    (Some(c), AggFunc::BoolAnd) => c && b,
                    (Some(c), _) => c || b,
                });
            }
            State::StringAgg(cur) => {
                let s = v.to_pg_text(&self.arg_types[0]).unwrap_or_default();
                let sep = vals
                    .get(1)
                    .and_then(|d| d.to_pg_text(&DataType::Text))
                    .unwrap_or_default();
                match cur {
                    None => *cur = Some(s),
                    Some(c) => {
                        c.push_str(&sep);
                        c.push_str(&s);
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(&self, st: State) -> Result<Datum> {
        Ok(match st {
            State::Count(n) => Datum::Int(n),
            State::Sum(d) | State::Min(d) | State::Max(d) => d,
            State::Avg(sum, n) => {
                if n == 0 {
                    Datum::Null
                } else {
                    let at = self.acc_type();
                    types::eval_binary(
                        BinaryOp::Divide,
                        &sum,
                        &at,
                        &Datum::Int(n),
                        &DataType::Int8,
                        &self.ty,
                    )?
                }
            }
            State::Bool(b) => b.map(Datum::Bool).unwrap_or(Datum::Null),
            State::StringAgg(s) => s.map(Datum::Text).unwrap_or(Datum::Null),
        })
    }
}

/// One group's states (and DISTINCT sets).
struct Group {
    states: Vec<State>,
    seen: Vec<HashSet<Row>>,
}

/// Aggregate node.
pub fn build_aggregate(
    input: &Plan,
    group: &[Expr],
    aggs: &[AggCall],
    env: &Env,
) -> Result<RowStream> {
    let layout = Arc::new(input.layout());
    let keys: Vec<Expr> = group
        .iter()
        .map(|e| env.compile(e, &layout))
        .collect::<Result<_>>()?;
    let calls: Vec<Agg> = aggs
        .iter()
        .map(|a| {
            Ok(Agg {
                func: a.func,
                arg_types: a.args.iter().map(|e| e.ty()).collect(),
                args: a
                    .args
                    .iter()
                    .map(|e| env.compile(e, &layout))
                    .collect::<Result<_>>()?,
                distinct: a.distinct,
                filter: a
                    .filter
                    .as_ref()
                    .map(|f| env.compile(f, &layout))
                    .transpose()?,
                ty: a.ty.clone(),
            })
        })
        .collect::<Result<_>>()?;
    let mut index: HashMap<Row, usize> = HashMap::new();
    let mut groups: Vec<(Row, Group)> = Vec::new();
    let new_group = |calls: &[Agg]| Group {
        states: calls.iter().map(Agg::init).collect(),
        seen: calls.iter().map(|_| HashSet::new()).collect(),
    };
    for (n, r) in build(input, env)?.enumerate() {
        let row = r?;
        if n.is_multiple_of(CANCEL_CHECK_ROWS) {
            env.ctx().check_cancel()?;
        }
        let key = keys
            .iter()
            .map(|e| eval(e, &row, env))
            .collect::<Result<Row>>()?;
        let gi = match index.get(&key) {
            Some(i) => *i,
            None => {
                env.shared
                    .mem
                    .grow(row_bytes(&key) * 2 + 64 * calls.len())?;
                groups.push((key.clone(), new_group(&calls)));
                index.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        let g = &mut groups[gi].1;
        for (i, a) in calls.iter().enumerate() {
            if let Some(f) = &a.filter {
                if !eval_pred(f, &row, env)? {
                    continue;
                }
            }
            let vals = a
                .args
                .iter()
                .map(|e| eval(e, &row, env))
                .collect::<Result<Row>>()?;
            if a.distinct {
                if vals.first().is_some_and(Datum::is_null) || g.seen[i].contains(&vals) {
                    continue;
                }
                env.shared.mem.grow(row_bytes(&vals))?;
                g.seen[i].insert(vals.clone());
            }
            a.add(&mut g.states[i], &vals)?;
        }
    }
    if groups.is_empty() && keys.is_empty() {
        groups.push((vec![], new_group(&calls)));
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, g) in groups {
        let mut row = key;
        for (a, st) in calls.iter().zip(g.states) {
            row.push(a.finish(st)?);
        }
        out.push(Ok(row));
    }
    Ok(Box::new(out.into_iter()))
}

//! The optimizer: filter pushdown, greedy inner-join ordering, join strategy selection, and
//! index/span selection for scans (see [`crate::plan::spans`]).
//!
//! Filters are split into conjuncts and pushed as far down as the columns they reference
//! allow: into a scan's filter (where they may become key spans), into one side of a join,
//! or kept as a join's residual condition. Inner joins (including comma-separated FROM items)
//! are flattened and rebuilt greedily: start from the relation with the most selective-looking
//! access path, then repeatedly add a relation connected to the joined set by an equality
//! predicate. Each join becomes an index lookup join when the new relation is a table with
//! an index (or primary key) whose leading columns are bound by the equalities and the outer
//! side is filtered; a hash join when there are equalities; nested loops otherwise.

use crate::plan::expr::{ColId, Expr};
use crate::plan::spans::{choose_access_path, lookup_index};
use crate::plan::{JoinKind, JoinStrategy, Plan, Spans};
use crate::types::BinaryOp;
use crate::Result;
use std::collections::HashSet;

/// Optimizes a plan tree: filter pushdown, join ordering and access paths, then the
/// ordering rewrites of [`crate::plan::order`] (sort elision, limit pushdown).
pub fn optimize(plan: Plan) -> Result<Plan> {
    Ok(crate::plan::order::apply(rewrite(plan)?))
}

/// The filter, join and access-path rewrites of [`optimize`].
fn rewrite(plan: Plan) -> Result<Plan> {
    Ok(match plan {
        Plan::Filter { input, predicate } => {
            let mut preds = Vec::new();
            predicate.split_conjuncts(&mut preds);
            push(*input, preds)?
        }
        Plan::Join { .. } => push(plan, vec![])?,
        Plan::Scan(mut s) => {
            choose_access_path(&mut s);
            Plan::Scan(s)
        }
        Plan::Project { input, exprs, cols } => Plan::Project {
            input: Box::new(rewrite(*input)?),
            exprs,
            cols,
        },
        Plan::Aggregate {
            input,
            group,
            aggs,
            cols,
        } => Plan::Aggregate {
            input: Box::new(rewrite(*input)?),
            group,
            aggs,
            cols,
        },
        Plan::Sort { input, keys } => Plan::Sort {
            input: Box::new(rewrite(*input)?),
            keys,
        },
        Plan::Limit {
            input,
            limit,
            offset,
        } => Plan::Limit {
            input: Box::new(rewrite(*input)?),
            limit,
            offset,
        },
        Plan::Distinct { input, on } => Plan::Distinct {
            input: Box::new(rewrite(*input)?),
            on,
        },
        Plan::SetOp {
            left,
            right,
            op,
            all,
            cols,
        } => Plan::SetOp {
            left: Box::new(rewrite(*left)?),
            right: Box::new(rewrite(*right)?),
            op,
            all,
            cols,
        },
        other @ (Plan::VirtualScan { .. }
        | Plan::Values { .. }
        | Plan::Series { .. }
        | Plan::Unnest { .. }) => other,
    })
}

/// The referenced ids of `e` restricted to `universe`.
fn refs_in(e: &Expr, universe: &HashSet<ColId>) -> HashSet<ColId> {
    let mut r = HashSet::new();
    e.col_refs(&mut r);
    r.retain(|c| universe.contains(c));
    r
}

fn wrap_filter(plan: Plan, preds: Vec<Expr>) -> Plan {
    match Expr::conjunction(preds) {
        Some(p) => Plan::Filter {
            input: Box::new(plan),
            predicate: p,
        },
        None => plan,
    }
}

/// Pushes conjuncts `preds` into `plan` as far as possible and optimizes it.
fn push(plan: Plan, mut preds: Vec<Expr>) -> Result<Plan> {
    match plan {
        Plan::Scan(mut s) => {
            if let Some(f) = s.filter.take() {
                f.split_conjuncts(&mut preds);
            }
            s.filter = Expr::conjunction(preds);
            choose_access_path(&mut s);
            Ok(Plan::Scan(s))
        }
        Plan::Filter { input, predicate } => {
            predicate.split_conjuncts(&mut preds);
            push(*input, preds)
        }
        Plan::Join {
            kind: JoinKind::Inner,
            ..
        } => {
            let mut rels = Vec::new();
            flatten_inner(plan, &mut rels, &mut preds);
            join_order(rels, preds)
        }
        Plan::Join {
            left,
            right,
            kind,
            on,
            ..
        } => push_outer(*left, *right, kind, on, preds),
        other => Ok(wrap_filter(rewrite(other)?, preds)),
    }
}

/// Collects the relations and conditions of a tree of inner joins.
fn flatten_inner(plan: Plan, rels: &mut Vec<Plan>, preds: &mut Vec<Expr>) {
    match plan {
        Plan::Join {
            left,
            right,
            kind: JoinKind::Inner,
            on,
            ..
        } => {
            if let Some(on) = on {
                on.split_conjuncts(preds);
            }
            flatten_inner(*left, rels, preds);
            flatten_inner(*right, rels, preds);
        }
        Plan::Filter { input, predicate }
            if matches!(
                *input,
                Plan::Join {
                    kind: JoinKind::Inner,
                    ..
                }
            ) =>
        {
            predicate.split_conjuncts(preds);
            flatten_inner(*input, rels, preds);
        }
        other => rels.push(other),
    }
}

fn push_outer(
    left: Plan,
    right: Plan,
    kind: JoinKind,
    on: Option<Expr>,
    preds: Vec<Expr>,
) -> Result<Plan> {
    let lcols: HashSet<ColId> = left.layout().into_iter().collect();
    let rcols: HashSet<ColId> = right.layout().into_iter().collect();
    let all: HashSet<ColId> = lcols.union(&rcols).copied().collect();
    let (mut to_left, mut to_right, mut above) = (vec![], vec![], vec![]);
    for p in preds {
        let r = refs_in(&p, &all);
        // WHERE predicates may move only to the preserved side of an outer join.
        if r.is_subset(&lcols) && kind == JoinKind::Left {
            to_left.push(p);
        } else if r.is_subset(&rcols) && kind == JoinKind::Right {
            to_right.push(p);
        } else {
            above.push(p);
        }
    }
    let mut residual = vec![];
    if let Some(on) = on {
        let mut conds = vec![];
        on.split_conjuncts(&mut conds);
        for c in conds {
            let r = refs_in(&c, &all);
            // ON conditions may move only to the non-preserved side.
            if kind == JoinKind::Left && r.is_subset(&rcols) && !r.is_empty() {
                to_right.push(c);
            } else if kind == JoinKind::Right && r.is_subset(&lcols) && !r.is_empty() {
                to_left.push(c);
            } else {
                residual.push(c);
            }
        }
    }
    let left = push(left, to_left)?;
    let right = push(right, to_right)?;
    let join = make_join(left, right, kind, residual, &lcols, &rcols, false);
    Ok(wrap_filter(join, above))
}

/// Builds a join node choosing its strategy from the applicable conditions.
fn make_join(
    left: Plan,
    right: Plan,
    kind: JoinKind,
    conds: Vec<Expr>,
    lcols: &HashSet<ColId>,
    rcols: &HashSet<ColId>,
    allow_lookup: bool,
) -> Plan {
    let all: HashSet<ColId> = lcols.union(rcols).copied().collect();
    let (mut lkeys, mut rkeys, mut residual) = (vec![], vec![], vec![]);
    for c in conds {
        if let Expr::Binary {
            op: BinaryOp::Eq,
            left: a,
            right: b,
            ..
        } = &c
        {
            let (ra, rb) = (refs_in(a, &all), refs_in(b, &all));
            let usable = |x: &HashSet<ColId>| !x.is_empty();
            if usable(&ra) && usable(&rb) && !a.has_subquery() && !b.has_subquery() {
                if ra.is_subset(lcols) && rb.is_subset(rcols) {
                    lkeys.push((**a).clone());
                    rkeys.push((**b).clone());
                    residual.push(c);
                    continue;
                }
                if ra.is_subset(rcols) && rb.is_subset(lcols) {
                    lkeys.push((**b).clone());
                    rkeys.push((**a).clone());
                    residual.push(c);
                    continue;
                }
            }
        }
        residual.push(c);
    }
    if lkeys.is_empty() {
        return Plan::Join {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            on: Expr::conjunction(residual),
            strategy: JoinStrategy::NestedLoop,
        };
    }
    if allow_lookup && matches!(kind, JoinKind::Inner | JoinKind::Left) && is_filtered(&left) {
        if let Plan::Scan(s) = &right {
            if s.spans == Spans::Full {
                if let Some((index, keys)) = lookup_index(s, &lkeys, &rkeys) {
                    return Plan::Join {
                        left: Box::new(left),
                        right: Box::new(right),
                        kind,
                        on: Expr::conjunction(residual),
                        strategy: JoinStrategy::Lookup {
                            index,
                            left_keys: keys,
                        },
                    };
                }
            }
        }
    }
    // Hash keys are exact equalities; they need not be re-checked, but other conditions do.
    let residual: Vec<Expr> = residual
        .into_iter()
        .filter(|c| match c {
            Expr::Binary {
                op: BinaryOp::Eq,
                left: a,
                right: b,
                ..
            } => {
                !(lkeys
                    .iter()
                    .zip(&rkeys)
                    .any(|(l, r)| (**a == *l && **b == *r) || (**a == *r && **b == *l)))
            }
            _ => true,
        })
        .collect();
    Plan::Join {
        left: Box::new(left),
        right: Box::new(right),
        kind,
        on: Expr::conjunction(residual),
        strategy: JoinStrategy::Hash {
            left_keys: lkeys,
            right_keys: rkeys,
        },
    }
}

/// Whether a plan reads a restricted part of its input (so an index lookup per row beats a
/// full scan of the inner table).
fn is_filtered(p: &Plan) -> bool {
    match p {
        Plan::Scan(s) => s.spans != Spans::Full || s.filter.is_some(),
        Plan::Filter { .. } | Plan::Limit { .. } | Plan::Values { .. } => true,
        Plan::Join { left, strategy, .. } => {
            is_filtered(left)
                && matches!(
                    strategy,
                    JoinStrategy::Lookup { .. } | JoinStrategy::Hash { .. }
                )
        }
        Plan::Project { input, .. } | Plan::Sort { input, .. } | Plan::Distinct { input, .. } => {
            is_filtered(input)
        }
        _ => false,
    }
}

/// A heuristic selectivity score of a relation's access path (higher = fewer rows).
fn score(p: &Plan) -> u32 {
    match p {
        Plan::Scan(s) => match &s.spans {
            Spans::Ranges(r) if r.iter().all(|sp| sp.lo.is_none() && sp.hi.is_none()) => 4,
            Spans::Ranges(_) => 3,
            Spans::Full if s.filter.is_some() => 1,
            Spans::Full => 0,
        },
        Plan::Values { .. } => 2,
        Plan::Filter { .. } => 1,
        _ => 0,
    }
}

/// Rebuilds a set of inner-joined relations greedily along equality predicates.
fn join_order(rels: Vec<Plan>, preds: Vec<Expr>) -> Result<Plan> {
    let rel_cols: Vec<HashSet<ColId>> = rels
        .iter()
        .map(|r| r.layout().into_iter().collect())
        .collect();
    let all: HashSet<ColId> = rel_cols.iter().flatten().copied().collect();
    // Which relations each predicate touches.
    let mut per_rel: Vec<Vec<Expr>> = vec![Vec::new(); rels.len()];
    let mut multi: Vec<(Expr, HashSet<usize>)> = Vec::new();
    for p in preds {
        let r = refs_in(&p, &all);
        let touched: HashSet<usize> = (0..rels.len())
            .filter(|i| !r.is_disjoint(&rel_cols[*i]))
            .collect();
        match touched.len() {
            0 => per_rel[0].push(p),
            1 => {
                let i = *touched.iter().next().unwrap_or(&0);
                per_rel[i].push(p);
            }
            _ => multi.push((p, touched)),
        }
    }
    let mut pending: Vec<Option<Plan>> = Vec::with_capacity(rels.len());
    for (r, ps) in rels.into_iter().zip(per_rel) {
        pending.push(Some(push(r, ps)?));
    }
    if pending.len() == 1 {
        let only = pending
            .pop()
            .flatten()
            .ok_or_else(|| crate::Error::internal("empty join"))?;
        return Ok(wrap_filter(
            only,
            multi.into_iter().map(|(p, _)| p).collect(),
        ));
    }
    let start = (0..pending.len())
        .max_by_key(|i| {
            (
                pending[*i].as_ref().map(score).unwrap_or(0),
                std::cmp::Reverse(*i),
            )
        })
        .unwrap_or(0);
    let mut joined: HashSet<usize> = HashSet::from([start]);
    let mut cur = pending[start]
        .take()
        .ok_or_else(|| crate::Error::internal("join relation taken twice"))?;
    let mut cur_cols = rel_cols[start].clone();
    while joined.len() < pending.len() {
        let connected = |i: usize| {
            multi
                .iter()
                .any(|(_, t)| t.contains(&i) && t.iter().all(|x| *x == i || joined.contains(x)))
        };
        let candidates: Vec<usize> = (0..pending.len()).filter(|i| !joined.contains(i)).collect();
        let next = candidates
            .iter()
            .copied()
            .filter(|i| connected(*i))
            .max_by_key(|i| {
                (
                    pending[*i].as_ref().map(score).unwrap_or(0),
                    std::cmp::Reverse(*i),
                )
            })
            .or_else(|| {
                candidates.iter().copied().max_by_key(|i| {
                    (
                        pending[*i].as_ref().map(score).unwrap_or(0),
                        std::cmp::Reverse(*i),
                    )
                })
            })
            .ok_or_else(|| crate::Error::internal("no relation left to join"))?;
        joined.insert(next);
        let mut conds = Vec::new();
        let mut rest = Vec::new();
        for (p, t) in multi.drain(..) {
            if t.iter().all(|x| joined.contains(x)) {
                conds.push(p);
            } else {
                rest.push((p, t));
            }
        }
        multi = rest;
        let right = pending[next]
            .take()
            .ok_or_else(|| crate::Error::internal("join relation taken twice"))?;
        cur = make_join(
            cur,
            right,
            JoinKind::Inner,
            conds,
            &cur_cols,
            &rel_cols[next],
            true,
        );
        cur_cols.extend(rel_cols[next].iter().copied());
    }
    Ok(wrap_filter(
        cur,
        multi.into_iter().map(|(p, _)| p).collect(),
    ))
}

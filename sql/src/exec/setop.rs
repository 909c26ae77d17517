//! UNION / INTERSECT / EXCEPT [ALL]. Rows compare as in DISTINCT: NULLs are equal.
//!
//! UNION ALL streams both inputs; UNION streams with a seen-set. INTERSECT and EXCEPT hash
//! the right input into row counts, then stream the left input against it.

use crate::context::RowStream;
use crate::exec::{build, row_bytes, Env};
use crate::plan::{Plan, SetOpKind};
use crate::types::Row;
use crate::Result;
use std::collections::{HashMap, HashSet};

/// Set operation node.
pub fn build_setop(
    left: &Plan,
    right: &Plan,
    op: SetOpKind,
    all: bool,
    env: &Env,
) -> Result<RowStream> {
    let l = build(left, env)?;
    match op {
        SetOpKind::Union => {
            let both = l.chain(LazyStream::new(right.clone(), env.clone()));
            if all {
                return Ok(Box::new(both));
            }
            let mut seen: HashSet<Row> = HashSet::new();
            let env = env.clone();
            Ok(Box::new(both.filter_map(move |r| match r {
                Err(e) => Some(Err(e)),
                Ok(row) => {
                    if seen.contains(&row) {
                        return None;
                    }
                    if let Err(e) = env.shared.mem.grow(row_bytes(&row)) {
                        return Some(Err(e));
                    }
                    seen.insert(row.clone());
                    Some(Ok(row))
                }
            })))
        }
        SetOpKind::Intersect | SetOpKind::Except => {
            let mut counts: HashMap<Row, usize> = HashMap::new();
            for r in build(right, env)? {
                let r = r?;
                if !counts.contains_key(&r) {
                    env.shared.mem.grow(row_bytes(&r))?;
                }
                *counts.entry(r).or_default() += 1;
            }
            let mut emitted: HashSet<Row> = HashSet::new();
            let intersect = op == SetOpKind::Intersect;
            Ok(Box::new(l.filter_map(move |r| {
                let row = match r {
                    Ok(row) => row,
                    Err(e) => return Some(Err(e)),
                };
                let c = counts.get_mut(&row);
                let keep = match (intersect, all, c) {
                    (true, true, Some(n)) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    (true, false, Some(n)) if *n > 0 => emitted.insert(row.clone()),
                    (true, _, _) => false,
                    (false, true, Some(n)) if *n > 0 => {
                        *n -= 1;
                        false
                    }
                    (false, true, _) => true,
                    (false, false, Some(n)) if *n > 0 => false,
                    (false, false, _) => emitted.insert(row.clone()),
                };
                keep.then_some(Ok(row))
            })))
        }
    }
}

/// A stream built on first use (the right side of UNION starts after the left ends).
struct LazyStream {
    plan: Option<Plan>,
    env: Env,
    inner: Option<RowStream>,
}

impl LazyStream {
    fn new(plan: Plan, env: Env) -> Self {
        LazyStream {
            plan: Some(plan),
            env,
            inner: None,
        }
    }
}

impl Iterator for LazyStream {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        if self.inner.is_none() {
            let plan = self.plan.take()?;
            match build(&plan, &self.env) {
                Ok(s) => self.inner = Some(s),
                Err(e) => return Some(Err(e)),
            }
        }
        self.inner.as_mut()?.next()
    }
}

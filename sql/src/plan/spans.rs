//! Index selection: turning predicates on index columns into key spans.
//!
//! For each index of the table (primary first), the leading columns constrained by equality
//! to a constant (`=`, `IN (...)`) and then at most one column constrained by a range
//! (`<`, `<=`, `>`, `>=`, BETWEEN, which the binder expands to `>= AND <=`) determine spans.
//! The index with the most constrained columns wins (equalities count double; a primary key
//! wins ties, since it needs no lookup back to the row). Constants may be `$n` parameters:
//! span bounds are expressions evaluated when the scan starts.
//!
//! The scan keeps its whole filter as a residual predicate, so spans only need to be a
//! superset of the matching rows (e.g. a range includes NULLs sorted inside it, and a bound
//! whose value cannot be represented exactly in the column type is widened at execution).

use crate::catalog::IndexDesc;
use crate::plan::expr::{ColId, Expr};
use crate::plan::{IndexChoice, Scan, SpanExpr, Spans};
use crate::types::BinaryOp;

/// Bound on the number of point spans an IN list product may expand to.
const MAX_SPANS: usize = 512;

/// A range bound: (value, inclusive).
type Bound = (Expr, bool);

/// What the filter says about one column.
#[derive(Default, Clone)]
struct ColConstraint {
    /// Equal to one of these values (IN list or `=`).
    eq: Option<Vec<Expr>>,
    lo: Option<(Expr, bool)>,
    hi: Option<(Expr, bool)>,
}

fn flip(op: BinaryOp) -> Option<BinaryOp> {
    Some(match op {
        BinaryOp::Eq => BinaryOp::Eq,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        _ => return None,
    })
}

/// Gathers constraints on `col` from the conjuncts.
fn constraints_for(col: ColId, conjuncts: &[Expr]) -> ColConstraint {
    let mut c = ColConstraint::default();
    for p in conjuncts {
        match p {
            Expr::Binary {
                op, left, right, ..
            } => {
                let (op, val) = match (&**left, &**right) {
                    (Expr::Col(id, _), v) if *id == col && v.is_const() => (*op, v.clone()),
                    (v, Expr::Col(id, _)) if *id == col && v.is_const() => match flip(*op) {
                        Some(o) => (o, v.clone()),
                        None => continue,
                    },
                    _ => continue,
                };
                match op {
                    BinaryOp::Eq if c.eq.is_none() => c.eq = Some(vec![val]),
                    BinaryOp::Gt | BinaryOp::GtEq if c.lo.is_none() => {
                        c.lo = Some((val, op == BinaryOp::GtEq))
                    }
                    BinaryOp::Lt | BinaryOp::LtEq if c.hi.is_none() => {
                        c.hi = Some((val, op == BinaryOp::LtEq))
                    }
                    _ => {}
                }
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } if matches!(&**expr, Expr::Col(id, _) if *id == col)
                && list.iter().all(Expr::is_const)
                && c.eq.is_none() =>
            {
                c.eq = Some(list.clone());
            }
            _ => {}
        }
    }
    c
}

/// The region column of a REGIONAL BY ROW table and its values: an unconstrained leading
/// region column is read as `IN (every region)`, so the columns after it can still give
/// spans (one per region: CockroachDB's locality-optimised search then reads the gateway's
/// region first, see `exec::scan`).
type Partitioning<'a> = Option<(usize, &'a [String])>;

/// Spans over `index` from the filter, and a score (0: no useful constraint).
fn spans_for(
    index: &IndexDesc,
    cols: &[ColId],
    conjuncts: &[Expr],
    partitioning: Partitioning,
) -> (u32, Vec<SpanExpr>) {
    let mut prefixes: Vec<Vec<Expr>> = vec![vec![]];
    let mut score = 0;
    let mut range: (Option<Bound>, Option<Bound>) = (None, None);
    for (i, (pos, _dir)) in index.columns.iter().enumerate() {
        let Some(col) = cols.get(*pos) else { break };
        let mut c = constraints_for(*col, conjuncts);
        let mut implicit = false;
        if let Some((rpos, regions)) = partitioning {
            if i == 0 && *pos == rpos && c.eq.is_none() {
                let ty = crate::types::DataType::Text;
                let values = regions
                    .iter()
                    .map(|r| Expr::Literal(crate::types::Datum::Text(r.clone()), ty.clone()))
                    .collect();
                c = ColConstraint {
                    eq: Some(values),
                    ..ColConstraint::default()
                };
                implicit = true;
            }
        }
        if let Some(vals) = c.eq {
            if prefixes.len() * vals.len() > MAX_SPANS {
                break;
            }
            let mut next = Vec::with_capacity(prefixes.len() * vals.len());
            for p in &prefixes {
                for v in &vals {
                    let mut q = p.clone();
                    q.push(v.clone());
                    next.push(q);
                }
            }
            prefixes = next;
            if !implicit {
                score += 2;
            }
            continue;
        }
        if c.lo.is_some() || c.hi.is_some() {
            range = (c.lo, c.hi);
            score += 1;
        }
        break;
    }
    let spans = prefixes
        .into_iter()
        .map(|eq| SpanExpr {
            eq,
            lo: range.0.clone(),
            hi: range.1.clone(),
        })
        .collect();
    (score, spans)
}

/// Chooses the index and spans of a scan from its filter.
pub fn choose_access_path(scan: &mut Scan) {
    let Some(filter) = &scan.filter else { return };
    let mut conj = Vec::new();
    filter.clone().split_conjuncts(&mut conj);
    let partitioning = scan.table.row_partitioning();
    let (mut best_score, mut best) = {
        let (s, sp) = spans_for(&scan.table.primary, &scan.cols, &conj, partitioning);
        // A full primary key equality is a point lookup: nothing beats it.
        (s * 2 + u32::from(s > 0), (IndexChoice::Primary, sp))
    };
    for (i, idx) in scan.table.indexes.iter().enumerate() {
        let (s, sp) = spans_for(idx, &scan.cols, &conj, partitioning);
        if s * 2 > best_score {
            best_score = s * 2;
            best = (IndexChoice::Secondary(i), sp);
        }
    }
    if best_score > 0 {
        scan.index = best.0;
        scan.spans = Spans::Ranges(best.1);
    }
}

/// For an index lookup join into `scan`: an index whose leading columns are all bound by
/// the equalities `lkeys[i] = rkeys[i]` (rkeys over the scan's columns). Returns the index
/// and the left-side expressions giving its leading column values, in index order.
pub fn lookup_index(
    scan: &Scan,
    lkeys: &[Expr],
    rkeys: &[Expr],
) -> Option<(IndexChoice, Vec<Expr>)> {
    let key_for = |pos: usize| -> Option<Expr> {
        let id = *scan.cols.get(pos)?;
        rkeys
            .iter()
            .position(|r| matches!(r, Expr::Col(c, _) if *c == id))
            .map(|i| lkeys[i].clone())
    };
    let try_index = |idx: &IndexDesc| -> Option<Vec<Expr>> {
        let mut keys = Vec::new();
        for (pos, _) in &idx.columns {
            match key_for(*pos) {
                Some(k) => keys.push(k),
                None => break,
            }
        }
        if keys.is_empty() {
            None
        } else {
            Some(keys)
        }
    };
    let mut best: Option<(IndexChoice, Vec<Expr>)> =
        try_index(&scan.table.primary).map(|k| (IndexChoice::Primary, k));
    for (i, idx) in scan.table.indexes.iter().enumerate() {
        if let Some(k) = try_index(idx) {
            if best.as_ref().is_none_or(|(_, b)| k.len() > b.len()) {
                best = Some((IndexChoice::Secondary(i), k));
            }
        }
    }
    best
}

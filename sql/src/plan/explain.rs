//! EXPLAIN: the chosen plan as indented text lines, one operator per line, with the table,
//! index and key spans of each scan (CockroachDB's style: `scan t@t_pkey spans: [/1 - /1]`).

use crate::plan::expr::{AggFunc, ColId, Expr, SubqueryKind};
use crate::plan::{IndexChoice, JoinKind, JoinStrategy, Plan, Scan, SetOpKind, SpanExpr, Spans};
use crate::types::{BinaryOp, DataType, Datum, UnaryOp};
use std::collections::HashMap;

/// Column display names (from the binder).
pub type Names = HashMap<ColId, (Option<String>, String)>;

/// Renders a plan as EXPLAIN lines.
pub fn explain(plan: &Plan, names: &Names) -> Vec<String> {
    let mut out = Vec::new();
    render(plan, names, 0, &mut out);
    out
}

fn line(out: &mut Vec<String>, depth: usize, s: String) {
    let indent = if depth == 0 {
        String::new()
    } else {
        format!("{}└── ", "    ".repeat(depth - 1))
    };
    out.push(format!("{indent}{s}"));
}

fn detail(out: &mut Vec<String>, depth: usize, s: String) {
    out.push(format!("{}│ {s}", "    ".repeat(depth)));
}

fn index_name(s: &Scan) -> String {
    match s.index {
        IndexChoice::Primary => s.table.primary.name.clone(),
        IndexChoice::Secondary(i) => s
            .table
            .indexes
            .get(i)
            .map(|x| x.name.clone())
            .unwrap_or_default(),
    }
}

fn render(plan: &Plan, names: &Names, depth: usize, out: &mut Vec<String>) {
    match plan {
        Plan::Scan(s) => {
            let spans = match &s.spans {
                Spans::Full => "FULL SCAN".to_string(),
                Spans::Ranges(r) => r.iter().map(span_text).collect::<Vec<_>>().join(" "),
            };
            line(
                out,
                depth,
                format!("scan {}@{} spans: {spans}", s.table.name, index_name(s)),
            );
            if let Some(l) = s.lock {
                detail(out, depth, format!("locking strength: {}", lock_text(l)));
            }
            if let Some(f) = &s.filter {
                detail(out, depth, format!("filter: {}", expr_text(f, names)));
            }
            if let Some(l) = &s.limit {
                let mut text = format!("limit: {}", expr_text(&l.count, names));
                if let Some(o) = &l.offset {
                    text += &format!(" offset: {}", expr_text(o, names));
                }
                detail(out, depth, text);
            }
        }
        Plan::Series { .. } => line(out, depth, "generate_series".into()),
        Plan::Unnest { .. } => line(out, depth, "unnest".into()),
        Plan::VirtualScan { schema, name, .. } => {
            line(out, depth, format!("virtual table {schema}.{name}"))
        }
        Plan::Values { rows, .. } => line(out, depth, format!("values ({} rows)", rows.len())),
        Plan::Filter { input, predicate } => {
            line(
                out,
                depth,
                format!("filter: {}", expr_text(predicate, names)),
            );
            render(input, names, depth + 1, out);
        }
        Plan::Project { input, exprs, .. } => {
            let cols: Vec<String> = exprs.iter().map(|e| expr_text(e, names)).collect();
            line(out, depth, format!("project: {}", cols.join(", ")));
            render(input, names, depth + 1, out);
        }
        Plan::Join {
            left,
            right,
            kind,
            on,
            strategy,
        } => {
            let k = match kind {
                JoinKind::Inner => "inner",
                JoinKind::Left => "left outer",
                JoinKind::Right => "right outer",
                JoinKind::Full => "full outer",
            };
            let (name, extra) = match strategy {
                JoinStrategy::NestedLoop => (
                    "cross join"
                        .replace("cross", if on.is_some() { "nested loop" } else { "cross" }),
                    String::new(),
                ),
                JoinStrategy::Hash {
                    left_keys,
                    right_keys,
                } => {
                    let eq: Vec<String> = left_keys
                        .iter()
                        .zip(right_keys)
                        .map(|(l, r)| format!("{} = {}", expr_text(l, names), expr_text(r, names)))
                        .collect();
                    (
                        "hash join".to_string(),
                        format!(" equality: ({})", eq.join(", ")),
                    )
                }
                JoinStrategy::Lookup { left_keys, .. } => {
                    let keys: Vec<String> = left_keys.iter().map(|e| expr_text(e, names)).collect();
                    (
                        "lookup join".to_string(),
                        format!(" keys: ({})", keys.join(", ")),
                    )
                }
            };
            line(out, depth, format!("{name} ({k}){extra}"));
            if let Some(on) = on {
                detail(out, depth, format!("on: {}", expr_text(on, names)));
            }
            render(left, names, depth + 1, out);
            match (strategy, &**right) {
                (JoinStrategy::Lookup { index, .. }, Plan::Scan(s)) => {
                    let s2 = Scan {
                        index: *index,
                        ..s.clone()
                    };
                    line(
                        out,
                        depth + 1,
                        format!("lookup {}@{}", s.table.name, index_name(&s2)),
                    );
                    if let Some(f) = &s.filter {
                        detail(out, depth + 1, format!("filter: {}", expr_text(f, names)));
                    }
                    if let Some(l) = s.lock {
                        detail(
                            out,
                            depth + 1,
                            format!("locking strength: {}", lock_text(l)),
                        );
                    }
                }
                _ => render(right, names, depth + 1, out),
            }
        }
        Plan::Aggregate {
            input, group, aggs, ..
        } => {
            let g: Vec<String> = group.iter().map(|e| expr_text(e, names)).collect();
            let a: Vec<String> = aggs
                .iter()
                .map(|c| {
                    let args: Vec<String> = c.args.iter().map(|e| expr_text(e, names)).collect();
                    let f = format!("{:?}", c.func).to_lowercase();
                    let f = if c.func == AggFunc::CountStar {
                        "count(*)".to_string()
                    } else {
                        format!(
                            "{f}({}{})",
                            if c.distinct { "DISTINCT " } else { "" },
                            args.join(", ")
                        )
                    };
                    f
                })
                .collect();
            let kind = if group.is_empty() {
                "scalar group"
            } else {
                "group (hash)"
            };
            line(
                out,
                depth,
                format!("{kind}: [{}] aggregates: [{}]", g.join(", "), a.join(", ")),
            );
            render(input, names, depth + 1, out);
        }
        Plan::Sort { input, keys } => {
            let k: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}{}",
                        if k.desc { "-" } else { "+" },
                        expr_text(&k.expr, names)
                    )
                })
                .collect();
            line(out, depth, format!("sort: {}", k.join(", ")));
            render(input, names, depth + 1, out);
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let mut s = "limit".to_string();
            if let Some(l) = limit {
                s += &format!(" count: {}", expr_text(l, names));
            }
            if let Some(o) = offset {
                s += &format!(" offset: {}", expr_text(o, names));
            }
            line(out, depth, s);
            render(input, names, depth + 1, out);
        }
        Plan::Distinct { input, on } => {
            line(
                out,
                depth,
                if on.is_some() {
                    "distinct on".into()
                } else {
                    "distinct".into()
                },
            );
            render(input, names, depth + 1, out);
        }
        Plan::SetOp {
            left,
            right,
            op,
            all,
            ..
        } => {
            let o = match op {
                SetOpKind::Union => "union",
                SetOpKind::Intersect => "intersect",
                SetOpKind::Except => "except",
            };
            line(out, depth, format!("{o}{}", if *all { " all" } else { "" }));
            render(left, names, depth + 1, out);
            render(right, names, depth + 1, out);
        }
    }
}

fn bound_text(e: &Expr) -> String {
    match e {
        Expr::Literal(d, t) => d
            .to_pg_text(&if *t == DataType::Unknown {
                DataType::Text
            } else {
                t.clone()
            })
            .unwrap_or_else(|| "NULL".into()),
        Expr::Param(i, _) => format!("${}", i + 1),
        Expr::Cast { expr, .. } => bound_text(expr),
        Expr::Unary {
            op: UnaryOp::Minus,
            expr,
            ..
        } => format!("-{}", bound_text(expr)),
        _ => "?".into(),
    }
}

/// `[/1 - /1]`, `[/1/5 - /1]`, `(/3 - ]`...
pub fn span_text(s: &SpanExpr) -> String {
    let prefix: String = s.eq.iter().map(|e| format!("/{}", bound_text(e))).collect();
    let (open, lo) = match &s.lo {
        Some((e, incl)) => (
            if *incl { "[" } else { "(" },
            format!("{prefix}/{}", bound_text(e)),
        ),
        None => ("[", prefix.clone()),
    };
    let (close, hi) = match &s.hi {
        Some((e, incl)) => (
            if *incl { "]" } else { ")" },
            format!("{prefix}/{}", bound_text(e)),
        ),
        None => ("]", prefix.clone()),
    };
    format!("{open}{lo} - {hi}{close}")
}

fn op_text(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
        Plus => "+",
        Minus => "-",
        Multiply => "*",
        Divide => "/",
        Modulo => "%",
        Eq => "=",
        NotEq => "!=",
        Lt => "<",
        LtEq => "<=",
        Gt => ">",
        GtEq => ">=",
        And => "AND",
        Or => "OR",
        Concat => "||",
        BitAnd => "&",
        BitOr => "|",
        BitXor => "#",
        ShiftLeft => "<<",
        ShiftRight => ">>",
        Like => "LIKE",
        NotLike => "NOT LIKE",
        ILike => "ILIKE",
        NotILike => "NOT ILIKE",
        JsonGet => "->",
        JsonGetText => "->>",
        Pow => "^",
        RegexMatch | RegexIMatch | NotRegexMatch | NotRegexIMatch => op.symbol(),
    }
}

/// A readable rendering of a bound expression.
pub fn expr_text(e: &Expr, names: &Names) -> String {
    let t = |x: &Expr| expr_text(x, names);
    match e {
        Expr::Col(id, _) => match names.get(id) {
            Some((_, n)) => n.clone(),
            None => format!("@{id}"),
        },
        Expr::Slot(i, _) => format!("@{}", i + 1),
        Expr::Outer { slot, .. } => format!("outer@{}", slot + 1),
        Expr::Literal(Datum::Null, _) => "NULL".into(),
        Expr::Literal(Datum::Text(s), _) => format!("'{s}'"),
        Expr::Literal(..) | Expr::Param(..) => bound_text(e),
        Expr::Binary {
            op, left, right, ..
        } => format!("({} {} {})", t(left), op_text(*op), t(right)),
        Expr::Unary { op, expr, .. } => match op {
            UnaryOp::Not => format!("NOT {}", t(expr)),
            UnaryOp::Minus => format!("-{}", t(expr)),
            UnaryOp::Plus => t(expr),
            UnaryOp::BitNot => format!("~{}", t(expr)),
        },
        Expr::Func { name, args, .. } => format!(
            "{name}({})",
            args.iter().map(t).collect::<Vec<_>>().join(", ")
        ),
        Expr::Cast { expr, ty, .. } => format!("{}::{}", t(expr), ty.pg_name()),
        Expr::Case { .. } => "CASE ... END".into(),
        Expr::IsNull { expr, negated } => {
            format!("{} IS {}NULL", t(expr), if *negated { "NOT " } else { "" })
        }
        Expr::IsBool {
            expr,
            value,
            negated,
        } => format!(
            "{} IS {}{}",
            t(expr),
            if *negated { "NOT " } else { "" },
            if *value { "TRUE" } else { "FALSE" }
        ),
        Expr::IsDistinct {
            left,
            right,
            negated,
        } => format!(
            "{} IS {}DISTINCT FROM {}",
            t(left),
            if *negated { "NOT " } else { "" },
            t(right)
        ),
        Expr::InList {
            expr,
            list,
            negated,
        } => format!(
            "{} {}IN ({})",
            t(expr),
            if *negated { "NOT " } else { "" },
            list.iter().map(t).collect::<Vec<_>>().join(", ")
        ),
        Expr::Coalesce(args, _) => format!(
            "COALESCE({})",
            args.iter().map(t).collect::<Vec<_>>().join(", ")
        ),
        Expr::NullIf(a, b, _) => format!("NULLIF({}, {})", t(a), t(b)),
        Expr::Subquery(sq, _) => match &sq.kind {
            SubqueryKind::Scalar => "(subquery)".into(),
            SubqueryKind::Exists => "EXISTS (subquery)".into(),
            SubqueryKind::Array => "ARRAY(subquery)".into(),
            SubqueryKind::In { lhs, negated } => format!(
                "{} {}IN (subquery)",
                t(lhs),
                if *negated { "NOT " } else { "" }
            ),
        },
    }
}

/// CockroachDB's EXPLAIN wording for a lock strength.
fn lock_text(l: txn::LockStrength) -> &'static str {
    match l {
        txn::LockStrength::Exclusive => "for update",
        txn::LockStrength::Shared => "for share",
    }
}

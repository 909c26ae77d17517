//! Bound scalar expressions.
//!
//! The binder turns sqlparser expressions into [`Expr`]: names resolved, every node typed.
//! Column references are by [`ColId`] — a statement-wide unique id for each column a plan node
//! produces — not by position, so the optimizer may reorder joins and push filters without
//! rewriting expressions. When the executor builds an operator it *compiles* each expression
//! against the operator's input layout ([`Expr::compile`]): `Col(id)` becomes `Slot(i)` (a
//! position in the input row) or `Outer { level, slot }` (a column of an enclosing query's
//! current row, for correlated subqueries).

use crate::plan::Plan;
use crate::types::{BinaryOp, DataType, Datum, UnaryOp};
use std::collections::HashSet;
use std::sync::Arc;

/// Statement-wide id of a column produced by some plan node.
pub type ColId = usize;

/// What a subquery expression computes.
#[derive(Debug, Clone, PartialEq)]
pub enum SubqueryKind {
    /// `(SELECT x ...)`: the single value (NULL when no row; 21000 when several).
    Scalar,
    /// `EXISTS (...)` / `NOT EXISTS (...)` (the negation is a surrounding NOT).
    Exists,
    /// `lhs [NOT] IN (SELECT ...)` with SQL's NULL semantics.
    In { lhs: Box<Expr>, negated: bool },
    /// `ARRAY(SELECT x ...)`: the values as an array (empty when no row).
    Array,
}

/// The cached result of an uncorrelated subquery (computed once per execution and kept in the
/// execution's state, [`crate::exec::Shared`], never in the plan: a prepared statement's plan is
/// reused across executions).
#[derive(Debug, Clone)]
pub enum SubqueryCache {
    /// A scalar value.
    Scalar(Datum),
    /// Whether any row exists.
    Exists(bool),
    /// The set of values and whether a NULL was among them.
    Set(Arc<HashSet<Datum>>, bool),
}

/// A subquery used as an expression.
#[derive(Debug, Clone)]
pub struct Subquery {
    /// The subquery's plan (bound with the enclosing scopes as outer scopes).
    pub plan: Arc<Plan>,
    /// What is computed.
    pub kind: SubqueryKind,
    /// Whether the plan references columns of enclosing queries.
    pub correlated: bool,
    /// The enclosing operator's input layout, filled by [`Expr::compile`], so the subquery can
    /// resolve its outer references against the row it is evaluated for.
    pub outer_layout: Option<Arc<Vec<ColId>>>,
}

impl PartialEq for Subquery {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.plan, &other.plan) && self.kind == other.kind
    }
}

/// A bound, typed scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A column by id (before compilation).
    Col(ColId, DataType),
    /// A column of the input row by position (after compilation).
    Slot(usize, DataType),
    /// A column of an enclosing query's current row: `level` 0 is the innermost enclosing row.
    Outer {
        level: usize,
        slot: usize,
        ty: DataType,
    },
    /// A constant.
    Literal(Datum, DataType),
    /// `$n` (0-based index here).
    Param(usize, DataType),
    /// A binary operator; `ty` is the result type.
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
        ty: DataType,
    },
    /// A unary operator.
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
        ty: DataType,
    },
    /// A scalar function call.
    Func {
        name: String,
        args: Vec<Expr>,
        ty: DataType,
    },
    /// A cast; `explicit` for CAST/:: (truncating), false for assignment-like implicit casts.
    Cast {
        expr: Box<Expr>,
        ty: DataType,
        explicit: bool,
    },
    /// `CASE [operand] WHEN .. THEN .. ELSE .. END`.
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        else_: Option<Box<Expr>>,
        ty: DataType,
    },
    /// `x IS [NOT] NULL`.
    IsNull { expr: Box<Expr>, negated: bool },
    /// `x IS [NOT] TRUE/FALSE`: `value` is the compared boolean.
    IsBool {
        expr: Box<Expr>,
        value: bool,
        negated: bool,
    },
    /// `a IS [NOT] DISTINCT FROM b`.
    IsDistinct {
        left: Box<Expr>,
        right: Box<Expr>,
        negated: bool,
    },
    /// `x [NOT] IN (list)` with SQL's NULL semantics.
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `COALESCE(a, b, ...)` (lazy).
    Coalesce(Vec<Expr>, DataType),
    /// `NULLIF(a, b)`.
    NullIf(Box<Expr>, Box<Expr>, DataType),
    /// A subquery.
    Subquery(Box<Subquery>, DataType),
}

impl Expr {
    /// The expression's type.
    pub fn ty(&self) -> DataType {
        match self {
            Expr::Col(_, t) | Expr::Slot(_, t) | Expr::Literal(_, t) | Expr::Param(_, t) => {
                t.clone()
            }
            Expr::Outer { ty, .. }
            | Expr::Binary { ty, .. }
            | Expr::Unary { ty, .. }
            | Expr::Func { ty, .. }
            | Expr::Cast { ty, .. }
            | Expr::Case { ty, .. } => ty.clone(),
            Expr::IsNull { .. }
            | Expr::IsBool { .. }
            | Expr::IsDistinct { .. }
            | Expr::InList { .. } => DataType::Bool,
            Expr::Coalesce(_, t) | Expr::NullIf(_, _, t) | Expr::Subquery(_, t) => t.clone(),
        }
    }

    /// A boolean constant.
    pub fn bool(b: bool) -> Expr {
        Expr::Literal(Datum::Bool(b), DataType::Bool)
    }

    /// `a AND b`.
    pub fn and(a: Expr, b: Expr) -> Expr {
        Expr::Binary {
            op: BinaryOp::And,
            left: Box::new(a),
            right: Box::new(b),
            ty: DataType::Bool,
        }
    }

    /// The conjunction of `parts` (TRUE when empty).
    pub fn conjunction(parts: Vec<Expr>) -> Option<Expr> {
        parts.into_iter().reduce(Expr::and)
    }

    /// Splits a conjunction into its terms.
    pub fn split_conjuncts(self, out: &mut Vec<Expr>) {
        match self {
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
                ..
            } => {
                left.split_conjuncts(out);
                right.split_conjuncts(out);
            }
            other => out.push(other),
        }
    }

    /// Whether the expression is a constant for the statement (literals, params, and
    /// expressions over them), so it can bound an index span.
    pub fn is_const(&self) -> bool {
        match self {
            Expr::Literal(..) | Expr::Param(..) => true,
            Expr::Cast { expr, .. } | Expr::Unary { expr, .. } => expr.is_const(),
            Expr::Binary { left, right, .. } => left.is_const() && right.is_const(),
            _ => false,
        }
    }

    /// Calls `f` on every direct child expression (not into subquery plans).
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Col(..)
            | Expr::Slot(..)
            | Expr::Outer { .. }
            | Expr::Literal(..)
            | Expr::Param(..) => vec![],
            Expr::Binary { left, right, .. } | Expr::IsDistinct { left, right, .. } => {
                vec![left, right]
            }
            Expr::NullIf(a, b, _) => vec![a, b],
            Expr::Unary { expr, .. }
            | Expr::Cast { expr, .. }
            | Expr::IsNull { expr, .. }
            | Expr::IsBool { expr, .. } => vec![expr],
            Expr::Func { args, .. } | Expr::Coalesce(args, _) => args.iter().collect(),
            Expr::Case {
                operand,
                whens,
                else_,
                ..
            } => {
                let mut v: Vec<&Expr> = operand.iter().map(|b| &**b).collect();
                for (w, t) in whens {
                    v.push(w);
                    v.push(t);
                }
                v.extend(else_.iter().map(|b| &**b));
                v
            }
            Expr::InList { expr, list, .. } => {
                let mut v = vec![&**expr];
                v.extend(list.iter());
                v
            }
            Expr::Subquery(sq, _) => match &sq.kind {
                SubqueryKind::In { lhs, .. } => vec![lhs],
                _ => vec![],
            },
        }
    }

    /// Rebuilds the expression bottom-up, applying `f` to every node after its children.
    pub fn transform(self, f: &mut dyn FnMut(Expr) -> crate::Result<Expr>) -> crate::Result<Expr> {
        let rebuilt = match self {
            Expr::Binary {
                op,
                left,
                right,
                ty,
            } => Expr::Binary {
                op,
                left: tb(left, f)?,
                right: tb(right, f)?,
                ty,
            },
            Expr::Unary { op, expr, ty } => Expr::Unary {
                op,
                expr: tb(expr, f)?,
                ty,
            },
            Expr::Func { name, args, ty } => Expr::Func {
                name,
                args: transform_vec(args, f)?,
                ty,
            },
            Expr::Cast { expr, ty, explicit } => Expr::Cast {
                expr: tb(expr, f)?,
                ty,
                explicit,
            },
            Expr::Case {
                operand,
                whens,
                else_,
                ty,
            } => {
                let operand = match operand {
                    Some(o) => Some(tb(o, f)?),
                    None => None,
                };
                let mut nw = Vec::with_capacity(whens.len());
                for (w, r) in whens {
                    nw.push((w.transform(f)?, r.transform(f)?));
                }
                let else_ = match else_ {
                    Some(e) => Some(tb(e, f)?),
                    None => None,
                };
                Expr::Case {
                    operand,
                    whens: nw,
                    else_,
                    ty,
                }
            }
            Expr::IsNull { expr, negated } => Expr::IsNull {
                expr: tb(expr, f)?,
                negated,
            },
            Expr::IsBool {
                expr,
                value,
                negated,
            } => Expr::IsBool {
                expr: tb(expr, f)?,
                value,
                negated,
            },
            Expr::IsDistinct {
                left,
                right,
                negated,
            } => Expr::IsDistinct {
                left: tb(left, f)?,
                right: tb(right, f)?,
                negated,
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => Expr::InList {
                expr: tb(expr, f)?,
                list: transform_vec(list, f)?,
                negated,
            },
            Expr::Coalesce(args, ty) => Expr::Coalesce(transform_vec(args, f)?, ty),
            Expr::NullIf(a, b, ty) => Expr::NullIf(tb(a, f)?, tb(b, f)?, ty),
            Expr::Subquery(mut sq, ty) => {
                if let SubqueryKind::In { lhs, negated } = sq.kind {
                    sq.kind = SubqueryKind::In {
                        lhs: tb(lhs, f)?,
                        negated,
                    };
                }
                Expr::Subquery(sq, ty)
            }
            leaf => leaf,
        };
        f(rebuilt)
    }

    /// Collects the column ids referenced, including those inside subquery plans (which
    /// includes the subquery's own columns; callers intersect with the ids they care about).
    pub fn col_refs(&self, out: &mut HashSet<ColId>) {
        match self {
            Expr::Col(id, _) => {
                out.insert(*id);
            }
            Expr::Subquery(sq, _) => {
                sq.plan.col_refs(out);
                if let SubqueryKind::In { lhs, .. } = &sq.kind {
                    lhs.col_refs(out);
                }
            }
            other => {
                for c in other.children() {
                    c.col_refs(out);
                }
            }
        }
    }

    /// Whether the expression contains a subquery.
    pub fn has_subquery(&self) -> bool {
        matches!(self, Expr::Subquery(..)) || self.children().iter().any(|c| c.has_subquery())
    }

    /// Compiles column ids to positions in `layout`, or to outer-row references through
    /// `outer` (the layouts of enclosing rows, innermost first). See the module docs.
    pub fn compile(
        self,
        layout: &Arc<Vec<ColId>>,
        outer: &[Arc<Vec<ColId>>],
    ) -> crate::Result<Expr> {
        self.transform(&mut |e| match e {
            Expr::Col(id, ty) => {
                if let Some(i) = layout.iter().position(|c| *c == id) {
                    return Ok(Expr::Slot(i, ty));
                }
                for (level, l) in outer.iter().enumerate() {
                    if let Some(i) = l.iter().position(|c| *c == id) {
                        return Ok(Expr::Outer { level, slot: i, ty });
                    }
                }
                Err(crate::Error::internal(format!(
                    "column #{id} is not available here"
                )))
            }
            Expr::Subquery(mut sq, ty) => {
                sq.outer_layout = Some(layout.clone());
                Ok(Expr::Subquery(sq, ty))
            }
            other => Ok(other),
        })
    }
}

#[allow(clippy::boxed_local)] // the Box is reused: children arrive and leave boxed
fn tb(e: Box<Expr>, f: &mut dyn FnMut(Expr) -> crate::Result<Expr>) -> crate::Result<Box<Expr>> {
    Ok(Box::new(e.transform(f)?))
}

fn transform_vec(
    v: Vec<Expr>,
    f: &mut dyn FnMut(Expr) -> crate::Result<Expr>,
) -> crate::Result<Vec<Expr>> {
    v.into_iter().map(|e| e.transform(f)).collect()
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// `count(*)`
    CountStar,
    /// `count(x)`
    Count,
    /// `sum(x)`
    Sum,
    /// `avg(x)`
    Avg,
    /// `min(x)`
    Min,
    /// `max(x)`
    Max,
    /// `bool_and(x)` / `every(x)`
    BoolAnd,
    /// `bool_or(x)`
    BoolOr,
    /// `string_agg(x, sep)`
    StringAgg,
}

impl AggFunc {
    /// The aggregate named `name`, if it is one.
    pub fn from_name(name: &str) -> Option<AggFunc> {
        Some(match name {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "bool_and" | "every" => AggFunc::BoolAnd,
            "bool_or" => AggFunc::BoolOr,
            "string_agg" => AggFunc::StringAgg,
            _ => return None,
        })
    }

    /// PostgreSQL's result type for an argument of type `arg`.
    pub fn result_type(self, arg: Option<&DataType>) -> crate::Result<DataType> {
        use DataType::*;
        let arg = arg.cloned().unwrap_or(Int8);
        let bad = |f: &str| {
            crate::Error::new(
                crate::error::code::UNDEFINED_FUNCTION,
                format!("function {f}({}) does not exist", arg.pg_name()),
            )
        };
        Ok(match self {
            AggFunc::CountStar | AggFunc::Count => Int8,
            AggFunc::Sum => match arg {
                Int2 | Int4 => Int8,
                Int8 | Numeric(_) => Numeric(None),
                Float4 => Float4,
                Float8 => Float8,
                Interval => Interval,
                Unknown => Float8,
                _ => return Err(bad("sum")),
            },
            AggFunc::Avg => match arg {
                Int2 | Int4 | Int8 | Numeric(_) => Numeric(None),
                Float4 | Float8 | Unknown => Float8,
                Interval => Interval,
                _ => return Err(bad("avg")),
            },
            AggFunc::Min | AggFunc::Max => {
                if arg == Unknown {
                    Text
                } else {
                    arg
                }
            }
            AggFunc::BoolAnd | AggFunc::BoolOr => {
                if arg != Bool && arg != Unknown {
                    return Err(bad(if self == AggFunc::BoolAnd {
                        "bool_and"
                    } else {
                        "bool_or"
                    }));
                }
                Bool
            }
            AggFunc::StringAgg => Text,
        })
    }
}

/// One aggregate computed by an Aggregate node.
#[derive(Debug, Clone, PartialEq)]
pub struct AggCall {
    /// The function.
    pub func: AggFunc,
    /// Arguments (empty for count(*)).
    pub args: Vec<Expr>,
    /// `agg(DISTINCT x)`.
    pub distinct: bool,
    /// `FILTER (WHERE ...)`.
    pub filter: Option<Expr>,
    /// Result type.
    pub ty: DataType,
}

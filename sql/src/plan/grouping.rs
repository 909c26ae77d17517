//! Rewriting expressions over an Aggregate's output: whole GROUP BY expressions become
//! references to the group columns, and any other reference to a FROM column is a 42803
//! grouping error (PostgreSQL's "must appear in the GROUP BY clause" rule).

use crate::error::code;
use crate::plan::binder::Binder;
use crate::plan::expr::{ColId, Expr};
use crate::{Error, Result};
use std::collections::HashSet;

/// Rewrites post-aggregation expressions over the Aggregate's output.
pub struct GroupRewrite<'a> {
    /// The GROUP BY expressions.
    pub group: &'a [Expr],
    /// Their output ids.
    pub group_ids: &'a [ColId],
    /// Ids of the FROM scope's columns (must be grouped or aggregated).
    pub local: &'a HashSet<ColId>,
}

impl GroupRewrite<'_> {
    /// Rewrites one expression.
    pub fn apply(&self, e: Expr, b: &Binder) -> Result<Expr> {
        if let Some(i) = self.group.iter().position(|g| *g == e) {
            return Ok(Expr::Col(self.group_ids[i], e.ty()));
        }
        match e {
            Expr::Col(id, ty) => {
                if self.local.contains(&id) && !self.group_ids.contains(&id) {
                    return Err(Error::new(
                        code::GROUPING_ERROR,
                        format!("column \"{}\" must appear in the GROUP BY clause or be used in an aggregate function", b.col_display(id)),
                    ));
                }
                Ok(Expr::Col(id, ty))
            }
            Expr::Subquery(..) => Ok(e),
            other => {
                // Rebuild children through the same rule (top-down, so whole group
                // expressions are matched before their parts).
                let mut err = None;
                let rebuilt = rebuild_children(other, &mut |c| match self.apply(c, b) {
                    Ok(x) => x,
                    Err(e) => {
                        err.get_or_insert(e);
                        Expr::bool(false)
                    }
                });
                match err {
                    Some(e) => Err(e),
                    None => Ok(rebuilt),
                }
            }
        }
    }
}

/// Applies `f` to each direct child of `e` (top-down rewriting helper).
fn rebuild_children(e: Expr, f: &mut dyn FnMut(Expr) -> Expr) -> Expr {
    let mut b = |x: Box<Expr>| Box::new(f(*x));
    match e {
        Expr::Binary {
            op,
            left,
            right,
            ty,
        } => {
            let left = b(left);
            let right = b(right);
            Expr::Binary {
                op,
                left,
                right,
                ty,
            }
        }
        Expr::Unary { op, expr, ty } => Expr::Unary {
            op,
            expr: b(expr),
            ty,
        },
        Expr::Func { name, args, ty } => Expr::Func {
            name,
            args: args.into_iter().map(&mut *f).collect(),
            ty,
        },
        Expr::Cast { expr, ty, explicit } => Expr::Cast {
            expr: b(expr),
            ty,
            explicit,
        },
        Expr::Case {
            operand,
            whens,
            else_,
            ty,
        } => {
            let operand = operand.map(&mut b);
            let whens = whens.into_iter().map(|(w, t)| (f(w), f(t))).collect();
            let else_ = else_.map(|x| Box::new(f(*x)));
            Expr::Case {
                operand,
                whens,
                else_,
                ty,
            }
        }
        Expr::IsNull { expr, negated } => Expr::IsNull {
            expr: b(expr),
            negated,
        },
        Expr::IsBool {
            expr,
            value,
            negated,
        } => Expr::IsBool {
            expr: b(expr),
            value,
            negated,
        },
        Expr::IsDistinct {
            left,
            right,
            negated,
        } => {
            let left = b(left);
            let right = b(right);
            Expr::IsDistinct {
                left,
                right,
                negated,
            }
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let expr = b(expr);
            Expr::InList {
                expr,
                list: list.into_iter().map(&mut *f).collect(),
                negated,
            }
        }
        Expr::Coalesce(args, ty) => Expr::Coalesce(args.into_iter().map(&mut *f).collect(), ty),
        Expr::NullIf(x, y, ty) => {
            let x = b(x);
            let y = b(y);
            Expr::NullIf(x, y, ty)
        }
        other => other,
    }
}

//! Binding function calls: aggregates (collected into the SELECT's [`AggCollector`]),
//! special forms (COALESCE, NULLIF) and scalar functions resolved through `func`.
//!
//! [`AggCollector`]: crate::plan::binder::AggCollector

use crate::error::code;
use crate::func;
use crate::plan::bind_expr::{coerce, coerce_unknown, common_of};
use crate::plan::binder::{ident_name, Binder, Scope};
use crate::plan::expr::{AggCall, AggFunc, Expr};
use crate::types::DataType;
use crate::{Error, Result};
use sqlparser::ast;

impl Binder<'_> {
    /// Binds a function call.
    pub fn bind_function(
        &mut self,
        f: &ast::Function,
        scope: &Scope,
        hint: Option<&DataType>,
    ) -> Result<Expr> {
        let name = f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident_name)
            .ok_or_else(|| Error::syntax(format!("invalid function name {}", f.name)))?;
        if f.over.is_some() {
            return Err(Error::unsupported("window functions are not supported"));
        }
        let (args, distinct, star) = match &f.args {
            ast::FunctionArguments::None => (vec![], false, false),
            ast::FunctionArguments::Subquery(_) => {
                return Err(Error::unsupported(
                    "function arguments as a bare subquery are not supported",
                ))
            }
            ast::FunctionArguments::List(l) => {
                let mut out = Vec::with_capacity(l.args.len());
                let mut star = false;
                for a in &l.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => out.push(e),
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                        other => {
                            return Err(Error::unsupported(format!(
                                "unsupported function argument {other}"
                            )))
                        }
                    }
                }
                let distinct = matches!(
                    l.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                (out, distinct, star)
            }
        };
        if let Some(agg) = AggFunc::from_name(&name) {
            return self.bind_aggregate(
                agg,
                &name,
                &args,
                distinct,
                star,
                f.filter.as_deref(),
                scope,
            );
        }
        if star {
            return Err(Error::syntax(format!(
                "{name}(*) specified, but {name} is not an aggregate function"
            )));
        }
        match name.as_str() {
            "coalesce" => {
                let mut bound = Vec::with_capacity(args.len());
                for a in &args {
                    bound.push(self.bind_expr_hint(a, scope, hint)?);
                }
                let ty = common_of(bound.iter().map(|e| e.ty()))?;
                let bound = bound
                    .into_iter()
                    .map(|e| coerce(e, &ty))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Expr::Coalesce(bound, ty))
            }
            // Like COALESCE, the arguments (NULL and untyped literals too) take their common type.
            "greatest" | "least" if !args.is_empty() => {
                let mut bound = Vec::with_capacity(args.len());
                for a in &args {
                    bound.push(self.bind_expr_hint(a, scope, hint)?);
                }
                let ty = common_of(bound.iter().map(|e| e.ty()))?;
                let bound = bound
                    .into_iter()
                    .map(|e| coerce(e, &ty))
                    .collect::<Result<Vec<_>>>()?;
                self.make_function(&name, bound)
            }
            "nullif" if args.len() == 2 => {
                let a = self.bind_expr_hint(args[0], scope, hint)?;
                let b = self.bind_expr_hint(args[1], scope, Some(&a.ty()))?;
                let ty = common_of([a.ty(), b.ty()].into_iter())?;
                let a = coerce(a, &ty)?;
                let b = coerce(b, &ty)?;
                Ok(Expr::NullIf(Box::new(a), Box::new(b), ty))
            }
            _ => self.call_function(&name, &args, scope),
        }
    }

    /// Binds and resolves a scalar function over AST arguments.
    pub fn call_function(
        &mut self,
        name: &str,
        args: &[&ast::Expr],
        scope: &Scope,
    ) -> Result<Expr> {
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            bound.push(self.bind_expr(a, scope)?);
        }
        self.make_function(name, bound)
    }

    /// Resolves a scalar function over bound arguments (untyped literals become text).
    pub fn make_function(&mut self, name: &str, args: Vec<Expr>) -> Result<Expr> {
        let args = args
            .into_iter()
            .map(|e| coerce_unknown(e, &DataType::Text))
            .collect::<Result<Vec<_>>>()?;
        let tys: Vec<DataType> = args.iter().map(|e| e.ty()).collect();
        if name == "unique_rowid" && args.is_empty() {
            // Evaluated by the executor through storage (the rowid generator lives there).
            return Ok(Expr::Func {
                name: name.to_string(),
                args,
                ty: DataType::Int8,
            });
        }
        // Catalog functions (pg_get_userbyid, format_type, ...) run in exec::pgcompat.
        if let Some(ty) = crate::vtable::functions::catalog_function_type(name) {
            return Ok(Expr::Func {
                name: name.to_string(),
                args,
                ty,
            });
        }
        let ty = func::resolve_function(name, &tys)?;
        Ok(Expr::Func {
            name: name.to_string(),
            args,
            ty,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn bind_aggregate(
        &mut self,
        agg: AggFunc,
        name: &str,
        args: &[&ast::Expr],
        distinct: bool,
        star: bool,
        filter: Option<&ast::Expr>,
        scope: &Scope,
    ) -> Result<Expr> {
        let Some(mut collector) = self.aggs.take() else {
            let msg = if self.agg_context == "nested" {
                "aggregate function calls cannot be nested".to_string()
            } else {
                format!(
                    "aggregate functions are not allowed in {}",
                    self.agg_context
                )
            };
            return Err(Error::new(code::GROUPING_ERROR, msg));
        };
        let saved_ctx = self.agg_context;
        self.agg_context = "nested";
        let r = self.bind_agg_args(agg, name, args, star, filter, scope);
        self.agg_context = saved_ctx;
        let (func, bound, filter) = match r {
            Ok(v) => v,
            Err(e) => {
                self.aggs = Some(collector);
                return Err(e);
            }
        };
        let ty = match func.result_type(bound.first().map(|e| e.ty()).as_ref()) {
            Ok(t) => t,
            Err(e) => {
                self.aggs = Some(collector);
                return Err(e);
            }
        };
        let call = AggCall {
            func,
            args: bound,
            distinct,
            filter,
            ty: ty.clone(),
        };
        let id = match collector.calls.iter().find(|(c, _)| *c == call) {
            Some((_, id)) => *id,
            None => {
                let id = self.new_col(None, name);
                collector.calls.push((call, id));
                id
            }
        };
        self.aggs = Some(collector);
        Ok(Expr::Col(id, ty))
    }

    fn bind_agg_args(
        &mut self,
        agg: AggFunc,
        name: &str,
        args: &[&ast::Expr],
        star: bool,
        filter: Option<&ast::Expr>,
        scope: &Scope,
    ) -> Result<(AggFunc, Vec<Expr>, Option<Expr>)> {
        let want = match agg {
            AggFunc::StringAgg => 2,
            _ => 1,
        };
        let func = if star {
            if agg != AggFunc::Count {
                return Err(Error::syntax(format!("{name}(*) is only valid for count")));
            }
            AggFunc::CountStar
        } else {
            if args.len() != want {
                return Err(Error::new(
                    code::UNDEFINED_FUNCTION,
                    format!(
                        "function {name} with {} arguments does not exist",
                        args.len()
                    ),
                ));
            }
            agg
        };
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            let e = self.bind_expr(a, scope)?;
            let e = match func {
                AggFunc::StringAgg => coerce(e, &DataType::Text)?,
                AggFunc::BoolAnd | AggFunc::BoolOr => coerce(e, &DataType::Bool)?,
                _ => coerce_unknown(e, &DataType::Text)?,
            };
            bound.push(e);
        }
        let filter = match filter {
            Some(f) => Some(coerce(self.bind_expr(f, scope)?, &DataType::Bool)?),
            None => None,
        };
        Ok((func, bound, filter))
    }
}

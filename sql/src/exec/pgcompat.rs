//! Evaluation of the PostgreSQL forms `plan::bind_pg` binds to internal `#` functions
//! (array constructor, subscripts, `op ANY/ALL (array)`, name lookups behind `::regclass`
//! and friends), of `ARRAY(SELECT ...)`, and of the catalog functions in
//! `vtable::functions` (which need the statement's context, so they cannot live in `func`).

use crate::context::RowStream;
use crate::exec::Env;
use crate::plan::Expr;
use crate::types::{self, BinaryOp, DataType, Datum};
use crate::vtable::{functions, oids};
use crate::{Error, Result};

/// Evaluates function `name` on already evaluated arguments when it is one of the forms
/// this module owns; None otherwise (the caller then uses `func::eval_function`).
pub fn eval_func(
    name: &str,
    vals: &[Datum],
    tys: &[DataType],
    call: &Expr,
    env: &Env,
) -> Option<Result<Datum>> {
    if let Some(internal) = name.strip_prefix('#') {
        return Some(eval_internal(internal, vals, tys, call, env));
    }
    functions::catalog_function_type(name)?;
    functions::call_catalog_function(&env.shared.ctx, name, vals)
}

fn eval_internal(
    name: &str,
    vals: &[Datum],
    tys: &[DataType],
    call: &Expr,
    env: &Env,
) -> Result<Datum> {
    let arg = |i: usize| vals.get(i).cloned().unwrap_or(Datum::Null);
    match name {
        "array" => Ok(Datum::Array(vals.to_vec())),
        "subscript" => Ok(match (arg(0), arg(1)) {
            (Datum::Array(items), Datum::Int(i)) if i >= 1 => usize::try_from(i - 1)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .unwrap_or(Datum::Null),
            _ => Datum::Null,
        }),
        "regclass" => reg_lookup(&call.ty(), arg(0), env),
        "regnamespace" | "regproc" => reg_lookup(&call.ty(), arg(0), env),
        "regname" => match arg(0) {
            Datum::Int(oid) => reg_name(tys.first().unwrap_or(&DataType::Int8), oid, env),
            Datum::Null => Ok(Datum::Null),
            other => Ok(Datum::Text(
                other.to_pg_text(&DataType::Text).unwrap_or_default(),
            )),
        },
        q => {
            let (kind, op) = q
                .split_once(':')
                .ok_or_else(|| Error::internal(format!("unknown internal function #{q}")))?;
            let op = crate::plan::bind_pg::op_from_name(op)
                .ok_or_else(|| Error::internal(format!("unknown operator in #{q}")))?;
            quantified(kind == "any", op, &arg(0), tys.first(), &arg(1), tys.get(1))
        }
    }
}

/// `x op ANY (a)` / `x op ALL (a)` with SQL's three-valued logic: ANY is true when some
/// comparison is true, NULL when none is but some is NULL; ALL dually.
fn quantified(
    any: bool,
    op: BinaryOp,
    x: &Datum,
    xt: Option<&DataType>,
    a: &Datum,
    at: Option<&DataType>,
) -> Result<Datum> {
    let items = match a {
        Datum::Null => return Ok(Datum::Null),
        Datum::Array(items) => items,
        _ => return Err(Error::internal("ANY/ALL over a non-array")),
    };
    let xt = xt.cloned().unwrap_or(DataType::Text);
    let et = at
        .and_then(|t| t.array_elem().cloned())
        .unwrap_or(DataType::Text);
    let mut saw_null = false;
    for item in items {
        match types::eval_binary(op, x, &xt, item, &et, &DataType::Bool)? {
            Datum::Bool(b) if b == any => return Ok(Datum::Bool(any)),
            Datum::Bool(_) => {}
            _ => saw_null = true,
        }
    }
    Ok(if saw_null {
        Datum::Null
    } else {
        Datum::Bool(!any)
    })
}

/// `'name'::regclass` / `::regnamespace` / `::regproc`: the object's OID (a numeric string
/// is taken as the OID itself).
fn reg_lookup(ty: &DataType, v: Datum, env: &Env) -> Result<Datum> {
    let s = match v {
        Datum::Null => return Ok(Datum::Null),
        Datum::Text(s) => s,
        Datum::Int(i) => return Ok(Datum::Int(i)),
        other => other.to_pg_text(&DataType::Text).unwrap_or_default(),
    };
    if let Ok(oid) = s.trim().parse::<i64>() {
        return Ok(Datum::Int(oid));
    }
    let ctx = &env.shared.ctx;
    match ty {
        DataType::RegClass => functions::regclass_oid(ctx, &s).map(Datum::Int),
        DataType::RegNamespace => {
            let n = s.trim().trim_matches('"');
            oids::namespace_oid(n).map(Datum::Int).ok_or_else(|| {
                Error::new(
                    crate::error::code::UNDEFINED_OBJECT,
                    format!("schema \"{n}\" does not exist"),
                )
            })
        }
        _ => Err(Error::new(
            crate::error::code::UNDEFINED_FUNCTION,
            format!("function \"{}\" does not exist", s.trim()),
        )),
    }
}

/// `oid::regclass::text` and friends: the object's name (the number when there is none).
fn reg_name(ty: &DataType, oid: i64, env: &Env) -> Result<Datum> {
    Ok(Datum::Text(match ty {
        DataType::RegClass => functions::regclass_name(&env.shared.ctx, oid)?,
        other => Datum::Int(oid).to_pg_text(other).unwrap_or_default(),
    }))
}

/// Collects a subquery's single column into an array (`ARRAY(SELECT ...)`).
pub fn array_result(stream: RowStream, env: &Env) -> Result<Datum> {
    let mut items = Vec::new();
    for r in stream {
        let x = r?.into_iter().next().unwrap_or(Datum::Null);
        env.shared
            .mem
            .grow(crate::exec::row_bytes(std::slice::from_ref(&x)))?;
        items.push(x);
    }
    Ok(Datum::Array(items))
}

/// `unnest(array)` in FROM: the elements as rows (the argument may reference outer rows).
pub fn build_unnest(arg: &Expr, env: &Env) -> Result<RowStream> {
    let empty = std::sync::Arc::new(Vec::new());
    match crate::exec::eval::eval(&env.compile(arg, &empty)?, &[], env)? {
        Datum::Array(items) => Ok(Box::new(items.into_iter().map(|d| Ok(vec![d])))),
        Datum::Null => Ok(Box::new(std::iter::empty())),
        other => Err(Error::internal(format!("unnest of a non-array {other:?}"))),
    }
}

//! Bounded-staleness reads (CockroachDB's `AS OF SYSTEM TIME with_max_staleness(...)` and
//! `with_min_timestamp(...)`) and the `default_transaction_use_follower_reads` setting.
//!
//! Both exist so that a read can be served by the nearest replica instead of the leaseholder.
//! The cluster serves a plain read from the nearest replica when its timestamp is older than
//! what every range has closed (about 4.3 s behind the leaseholders' clocks, see
//! `cluster/src/closedts.rs`); `follower_read_timestamp()`, 4.8 s ago
//! ([`crate::func::FOLLOWER_READ_LAG_MS`]), is old enough with a margin. So the SQL
//! layer's only job is to choose the read timestamp; routing follows from it.
//!
//! **Bounded staleness** ([`choose`]): the statement reads at one timestamp chosen when it
//! starts, never older than the bound:
//! - `with_max_staleness(d)`: bound = now - d. If d >= 4.8 s the read is at
//!   `follower_read_timestamp()` (now - 4.8 s, served by the nearest replica); otherwise at
//!   the bound itself, now - d, which is too recent for followers, so the leaseholder serves
//!   it (still within the bound, just not local).
//! - `with_min_timestamp(t)`: at max(t, now - 4.8 s); a `t` in the future is an error.
//! - The optional second argument `nearest_only`: when true, a read the nearest replica
//!   cannot be relied on to serve (a bound more recent than now - 4.8 s) fails with
//!   CockroachDB's "could not be satisfied by a local resolved timestamp" error instead of
//!   going to the leaseholder.
//!
//! As in CockroachDB, bounded staleness is allowed only in a single-statement, read-only,
//! implicit transaction: a SELECT outside a transaction block. Inside BEGIN ... COMMIT, in
//! `BEGIN AS OF SYSTEM TIME` and in `SET TRANSACTION AS OF SYSTEM TIME` it is 0A000.
//!
//! **Follower reads by default** ([`Session::follower_reads_as_of`]): with
//! `default_transaction_use_follower_reads = on`, every *read-only* transaction (BEGIN READ
//! ONLY, SET TRANSACTION READ ONLY, any transaction while `default_transaction_read_only` is
//! on, including implicit single statements) reads `AS OF SYSTEM TIME
//! follower_read_timestamp()`, CockroachDB's documented rule. Read-write transactions, and
//! implicit statements in a read-write session, are unaffected. An explicit AOST clause wins.
//!
//! IMPLEMENTATION CAVEATS
//! - The timestamp is not negotiated with the replicas (CockroachDB asks the nearest replica
//!   for its resolved timestamp and reads at the newest time it can serve without blocking):
//!   Meridian always reads at max(bound, now - 4.8 s). So a bounded read is never fresher than
//!   `follower_read_timestamp()` when the bound allows that, and a nearest replica that lags
//!   more than 4.8 s behind sends the read on to the leaseholder instead of failing it.
//! - For the same reason `nearest_only = true` is decided from the bound alone: a bound more
//!   recent than now - 4.8 s fails even when the gateway happens to hold the lease or a fresh
//!   enough replica; a bound at or older than it always runs (and falls back to the leaseholder
//!   if the nearest replica lags, which CockroachDB would fail).
//! - CockroachDB also restricts bounded-staleness statements to plans that read a single row
//!   without an index join; Meridian accepts any read-only SELECT.

use super::Session;
use crate::error::code;
use crate::types::{DataType, Datum};
use crate::{Error, Result};
use kv::Timestamp;
use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments};

/// CockroachDB's name of the max-staleness function.
pub const WITH_MAX_STALENESS: &str = "with_max_staleness";
/// CockroachDB's name of the min-timestamp function.
pub const WITH_MIN_TIMESTAMP: &str = "with_min_timestamp";

/// A bounded-staleness clause, evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `with_max_staleness(interval [, nearest_only])`, the interval in milliseconds.
    MaxStaleness { ms: i64, nearest_only: bool },
    /// `with_min_timestamp(timestamptz [, nearest_only])`.
    MinTimestamp { ts: Timestamp, nearest_only: bool },
}

/// The timestamp a bounded-staleness read runs at, and whether the nearest replica serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The read timestamp.
    pub ts: Timestamp,
    /// Whether it is at or below `follower_read_timestamp()` (served by the nearest replica).
    pub nearest: bool,
}

/// `now - FOLLOWER_READ_LAG_MS`, the newest timestamp Meridian relies on followers to serve.
pub fn follower_read_ts(now: Timestamp) -> Timestamp {
    back(now, crate::func::FOLLOWER_READ_LAG_MS)
}

fn back(now: Timestamp, ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(now.unix_ms().saturating_sub(ms.max(0)))
}

/// The function name of a bounded-staleness AOST expression, if `expr` is one.
pub fn bounded_function(expr: &Expr) -> Option<&'static str> {
    let Expr::Function(f) = expr else {
        return None;
    };
    if f.name.0.len() != 1 {
        return None;
    }
    let name = f.name.0[0].as_ident()?.value.to_ascii_lowercase();
    [WITH_MAX_STALENESS, WITH_MIN_TIMESTAMP]
        .into_iter()
        .find(|n| *n == name)
}

/// The unnamed argument expressions of a function call.
fn call_args(expr: &Expr) -> Result<Vec<&Expr>> {
    let Expr::Function(f) = expr else {
        return Ok(Vec::new());
    };
    let list = match &f.args {
        FunctionArguments::List(l) => &l.args,
        FunctionArguments::None => return Ok(Vec::new()),
        FunctionArguments::Subquery(_) => {
            return Err(Error::new(
                code::FEATURE_NOT_SUPPORTED,
                "subqueries are not allowed in AS OF SYSTEM TIME",
            ))
        }
    };
    list.iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
            other => Err(Error::syntax(format!(
                "unsupported argument in AS OF SYSTEM TIME: {other}"
            ))),
        })
        .collect()
}

/// The read timestamp for `bound` at `now` (see the module docs).
pub fn choose(bound: Bound, now: Timestamp) -> Result<Choice> {
    let follower = follower_read_ts(now);
    let (min, nearest_only) = match bound {
        Bound::MaxStaleness { ms, nearest_only } => {
            if ms < 0 {
                return Err(Error::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!(
                        "interval duration for {WITH_MAX_STALENESS} must be greater or equal to 0"
                    ),
                ));
            }
            (back(now, ms), nearest_only)
        }
        Bound::MinTimestamp { ts, nearest_only } => {
            if ts > now {
                return Err(Error::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!(
                        "timestamp for {WITH_MIN_TIMESTAMP} must be less than or equal to now()"
                    ),
                ));
            }
            (ts, nearest_only)
        }
    };
    if min <= follower {
        return Ok(Choice {
            ts: follower,
            nearest: true,
        });
    }
    if nearest_only {
        return Err(unsatisfiable(min, follower));
    }
    Ok(Choice {
        ts: min,
        nearest: false,
    })
}

/// CockroachDB's error for a `nearest_only` read the nearest replica cannot serve.
fn unsatisfiable(min: Timestamp, local: Timestamp) -> Error {
    Error::new(
        code::RANGE_UNAVAILABLE,
        format!(
            "bounded staleness read with minimum timestamp bound of {} could not be satisfied \
             by a local resolved timestamp of {}",
            super::as_of::decimal_text(min),
            super::as_of::decimal_text(local)
        ),
    )
    .with_hint(
        "Meridian serves from the nearest replica only reads at or before \
         follower_read_timestamp() (4.8 s ago); use a larger bound or nearest_only = false",
    )
}

/// 0A000: bounded staleness outside a single-statement implicit transaction.
pub fn explicit_txn_error(name: &str) -> Error {
    Error::new(
        code::FEATURE_NOT_SUPPORTED,
        format!("{name} can only be used with single-statement read-only implicit transactions"),
    )
    .with_hint("run the SELECT outside BEGIN ... COMMIT")
}

/// Milliseconds of an evaluated interval argument (`'10s'` text or an INTERVAL).
fn interval_ms(v: Datum, ty: &DataType) -> Result<i64> {
    let iv = match v {
        Datum::Interval(iv) => iv,
        Datum::Text(s) => match crate::types::cast(
            Datum::Text(s.clone()),
            &DataType::Text,
            &DataType::Interval,
            true,
        ) {
            Ok(Datum::Interval(iv)) => iv,
            _ => {
                return Err(Error::new(
                    code::INVALID_DATETIME_FORMAT,
                    format!("could not parse \"{s}\" as type interval"),
                ))
            }
        },
        _ => return Err(arg_type_error(WITH_MAX_STALENESS, ty, "interval")),
    };
    let micros = i128::from(iv.micros)
        + i128::from(iv.days) * 86_400_000_000
        + i128::from(iv.months) * 30 * 86_400_000_000;
    Ok(i64::try_from(micros / 1000).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX }))
}

fn arg_type_error(name: &str, ty: &DataType, want: &str) -> Error {
    Error::new(
        code::UNDEFINED_FUNCTION,
        format!(
            "unknown signature: {name}({}); expected {name}({want}[, bool])",
            ty.pg_name()
        ),
    )
}

impl Session {
    /// Evaluates a bounded-staleness AOST expression (`name` from [`bounded_function`]) into
    /// its bound. NULL arguments are errors, as in CockroachDB.
    pub(crate) fn eval_bound(&mut self, name: &str, expr: &Expr) -> Result<Bound> {
        let args = call_args(expr)?;
        if args.is_empty() || args.len() > 2 {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!("unknown signature: {name}() with {} arguments", args.len()),
            ));
        }
        let nearest_only = match args.get(1) {
            None => false,
            Some(e) => match self.eval_constant(e)? {
                (Datum::Bool(b), _) => b,
                (Datum::Text(s), _) => super::vars::parse_bool(&s)
                    .ok_or_else(|| arg_type_error(name, &DataType::Text, "..., bool"))?,
                (_, ty) => return Err(arg_type_error(name, &ty, "..., bool")),
            },
        };
        let (v, ty) = self.eval_constant(args[0])?;
        if v == Datum::Null {
            return Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!("AS OF SYSTEM TIME: {name} argument cannot be NULL"),
            ));
        }
        if name == WITH_MAX_STALENESS {
            return Ok(Bound::MaxStaleness {
                ms: interval_ms(v, &ty)?,
                nearest_only,
            });
        }
        let ts = match v {
            Datum::TimestampTz(_) | Datum::Timestamp(_) | Datum::Text(_) => {
                super::as_of::to_timestamp(v, &ty, self.txns.now())?
            }
            _ => return Err(arg_type_error(name, &ty, "timestamptz")),
        };
        Ok(Bound::MinTimestamp { ts, nearest_only })
    }

    /// The AOST timestamp a transaction with access mode `read_only` gets from
    /// `default_transaction_use_follower_reads` (None when off or read-write).
    pub(crate) fn follower_reads_as_of(&self, read_only: bool) -> Option<Timestamp> {
        (read_only && self.vars.use_follower_reads()).then(|| follower_read_ts(self.txns.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_unix_ms(1_800_000_000_000)
    }

    fn ago(ms: i64) -> Timestamp {
        back(now(), ms)
    }

    fn max(ms: i64, nearest_only: bool) -> Result<Choice> {
        choose(Bound::MaxStaleness { ms, nearest_only }, now())
    }

    fn min(ts: Timestamp, nearest_only: bool) -> Result<Choice> {
        choose(Bound::MinTimestamp { ts, nearest_only }, now())
    }

    #[test]
    fn max_staleness_reads_at_follower_time_when_the_bound_allows() {
        let c = max(10_000, false).unwrap();
        assert_eq!((c.ts, c.nearest), (ago(4_800), true));
        assert_eq!(max(4_800, true).unwrap().ts, ago(4_800));
        // A bound too recent for followers reads at the bound (the leaseholder serves it).
        let c = max(1_000, false).unwrap();
        assert_eq!((c.ts, c.nearest), (ago(1_000), false));
        assert_eq!(max(0, false).unwrap().ts, now());
        // ... or fails with nearest_only.
        let e = max(4_799, true).unwrap_err();
        assert_eq!(e.code, "XXUUU");
        assert!(e
            .message
            .contains("could not be satisfied by a local resolved timestamp"));
        let e = max(-1, false).unwrap_err();
        assert_eq!(e.code, "22023");
        assert!(
            e.message.contains("must be greater or equal to 0"),
            "{}",
            e.message
        );
    }

    #[test]
    fn min_timestamp_reads_at_the_later_of_the_bound_and_follower_time() {
        assert_eq!(min(ago(60_000), false).unwrap().ts, ago(4_800));
        assert!(min(ago(60_000), true).unwrap().nearest);
        let c = min(ago(2_000), false).unwrap();
        assert_eq!((c.ts, c.nearest), (ago(2_000), false));
        assert_eq!(min(now(), false).unwrap().ts, now());
        assert_eq!(min(ago(2_000), true).unwrap_err().code, "XXUUU");
        let e = min(Timestamp::from_unix_ms(now().unix_ms() + 1_000), false).unwrap_err();
        assert_eq!(e.code, "22023");
        assert!(e.message.contains("must be less than or equal to now()"));
    }

    #[test]
    fn recognises_only_the_two_functions() {
        let parse = |s: &str| {
            let stmts = crate::parser::parse(&format!("SELECT 1 FROM t AS OF SYSTEM TIME {s}"))
                .expect("parse");
            crate::parser::select_as_of(&stmts[0])
                .cloned()
                .expect("aost")
        };
        assert_eq!(
            bounded_function(&parse("with_max_staleness('10s')")),
            Some(WITH_MAX_STALENESS)
        );
        assert_eq!(
            bounded_function(&parse("WITH_MIN_TIMESTAMP(now() - '5s'::interval, true)")),
            Some(WITH_MIN_TIMESTAMP)
        );
        assert_eq!(bounded_function(&parse("follower_read_timestamp()")), None);
        assert_eq!(bounded_function(&parse("'-10s'")), None);
        let e = parse("with_max_staleness('10s', true)");
        assert_eq!(call_args(&e).unwrap().len(), 2);
    }
}

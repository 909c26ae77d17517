//! `AS OF SYSTEM TIME` (CockroachDB): reading a consistent past snapshot.
//!
//! The clause's expression is evaluated once, when the statement (or BEGIN / SET TRANSACTION)
//! runs, into a kv [`Timestamp`]; the transaction then reads at it (`TxnOptions { as_of:
//! Some(ts), read_only: true }`), so writes and locking reads fail with 25006. Accepted
//! values, as in CockroachDB:
//!
//! - a timestamp (`'2026-11-26 10:00:00'`, a TIMESTAMP/TIMESTAMPTZ expression such as
//!   `now() - interval '10s'` or `follower_read_timestamp()`), in UTC;
//! - a negative interval relative to the node's clock (`'-10s'`, `'-1m30s'`, `'-100ms'`, or
//!   an INTERVAL value);
//! - a decimal number of nanoseconds since the Unix epoch, optionally with the HLC logical
//!   counter as a 10-digit fraction (`'1764151200000000000.0000000002'`), as a string or a
//!   number: what CockroachDB's `cluster_logical_timestamp()` prints.
//!
//! A time in the future is an error, as is a non-negative interval. Inside an explicit
//! transaction a SELECT's clause must name the transaction's own AOST timestamp.
//!
//! IMPLEMENTATION CAVEATS
//! - HLC timestamps have millisecond resolution: sub-millisecond parts of a timestamp or of
//!   nanoseconds are truncated (the snapshot is at most 1 ms older than asked).
//! - Relative intervals count months as 30 days.

use super::Session;
use crate::error::code;
use crate::exec::eval::eval;
use crate::exec::Env;
use crate::plan::binder::{Binder, Scope};
use crate::types::{DataType, Datum, Interval};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use kv::Timestamp;
use std::sync::Arc;

/// Digits of the logical counter in CockroachDB's decimal timestamp form.
const LOGICAL_DIGITS: usize = 10;

fn aost_error(msg: impl Into<String>) -> Error {
    Error::new(
        code::INVALID_PARAMETER_VALUE,
        format!("AS OF SYSTEM TIME: {}", msg.into()),
    )
}

/// The wall time of a timestamp (for now() in an AOST transaction).
pub fn wall_time(ts: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ts.unix_ms()).unwrap_or_default()
}

/// CockroachDB's decimal rendering of a timestamp: nanoseconds since the epoch, a dot, and
/// the logical counter in 10 digits. [`parse_decimal`] reads it back exactly.
pub fn decimal_text(ts: Timestamp) -> String {
    format!(
        "{}.{:0width$}",
        i128::from(ts.unix_ms()) * 1_000_000,
        ts.logical(),
        width = LOGICAL_DIGITS
    )
}

impl Session {
    /// Evaluates an AOST expression to the timestamp to read at.
    /// Bounded-staleness functions are refused here: they are valid only on a SELECT
    /// outside a transaction block, which [`Session::statement_as_of`] handles.
    pub(crate) fn as_of_timestamp(&mut self, expr: &sqlparser::ast::Expr) -> Result<Timestamp> {
        if let Some(name) = super::staleness::bounded_function(expr) {
            return Err(super::staleness::explicit_txn_error(name));
        }
        let now = self.txns.now();
        let (value, ty) = self.eval_constant(expr)?;
        let ts = to_timestamp(value, &ty, now)?;
        if ts > now {
            return Err(aost_error(format!(
                "cannot specify timestamp in the future ({} > {})",
                decimal_text(ts),
                decimal_text(now)
            )));
        }
        Ok(ts)
    }
}

impl Session {
    /// Evaluates an expression without columns (an AOST clause or one of its arguments).
    pub(crate) fn eval_constant(
        &mut self,
        expr: &sqlparser::ast::Expr,
    ) -> Result<(Datum, DataType)> {
        self.with_read_txn(|ctx| {
            let mut b = Binder::new(ctx, &[]);
            let e = b.bind_expr(expr, &Scope::default())?;
            let ty = e.ty();
            let env = Env::new(ctx, &[]);
            let compiled = env.compile(&e, &Arc::new(Vec::new()))?;
            Ok((eval(&compiled, &[], &env)?, ty))
        })
    }

    /// The AOST timestamp of a SELECT's clause: an exact time ([`Session::as_of_timestamp`])
    /// or, outside a transaction block, a bounded-staleness choice
    /// ([`super::staleness::choose`]).
    pub(crate) fn statement_as_of(&mut self, expr: &sqlparser::ast::Expr) -> Result<Timestamp> {
        let Some(name) = super::staleness::bounded_function(expr) else {
            return self.as_of_timestamp(expr);
        };
        if !self.state.is_idle() {
            return Err(super::staleness::explicit_txn_error(name));
        }
        let bound = self.eval_bound(name, expr)?;
        Ok(super::staleness::choose(bound, self.txns.now())?.ts)
    }
}

/// Converts the evaluated clause to a timestamp (`now` is the node's clock).
pub fn to_timestamp(value: Datum, ty: &DataType, now: Timestamp) -> Result<Timestamp> {
    match value {
        Datum::Text(s) => parse_text(&s, now),
        Datum::Int(n) => parse_decimal(&n.to_string()),
        Datum::Decimal(d) => parse_decimal(&d.normalize().to_string()),
        Datum::TimestampTz(t) => Ok(Timestamp::from_unix_ms(t.timestamp_millis())),
        Datum::Timestamp(t) => Ok(Timestamp::from_unix_ms(t.and_utc().timestamp_millis())),
        Datum::Interval(iv) => relative(&iv, now, &crate::types::format_interval(&iv)),
        Datum::Null => Err(aost_error(
            "expected timestamp, decimal, or interval, got NULL",
        )),
        _ => Err(aost_error(format!(
            "expected timestamp, decimal, or interval, got {}",
            ty.pg_name()
        ))),
    }
}

/// A string: decimal nanoseconds, a (negative) interval, or a timestamp.
fn parse_text(s: &str, now: Timestamp) -> Result<Timestamp> {
    let t = s.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return parse_decimal(t);
    }
    if t.starts_with('-') || t.starts_with('+') {
        if let Some(micros) = go_duration_micros(t) {
            return relative_micros(micros, now, t);
        }
        if let Ok(Datum::Interval(iv)) = crate::types::cast(
            Datum::Text(t.to_string()),
            &DataType::Text,
            &DataType::Interval,
            true,
        ) {
            return relative(&iv, now, t);
        }
    }
    match crate::types::cast(
        Datum::Text(t.to_string()),
        &DataType::Text,
        &DataType::TimestampTz,
        true,
    ) {
        Ok(Datum::TimestampTz(ts)) => Ok(Timestamp::from_unix_ms(ts.timestamp_millis())),
        _ => Err(aost_error(format!(
            "value is neither timestamp, decimal, nor interval: \"{t}\""
        ))),
    }
}

/// A Go-style duration as CockroachDB writes them (`-1m30s`, `-100ms`, `-1.5h`): the sign
/// applies to the whole value. In microseconds; None if `s` is not one.
fn go_duration_micros(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_nanos += num * nanos_per;
    }
    let micros = (total_nanos / 1e3).round() as i128;
    Some(if neg { -micros } else { micros })
}

/// `now` moved back by a negative interval.
fn relative(iv: &Interval, now: Timestamp, text: &str) -> Result<Timestamp> {
    let micros = i128::from(iv.micros)
        + i128::from(iv.days) * 86_400_000_000
        + i128::from(iv.months) * 30 * 86_400_000_000;
    relative_micros(micros, now, text)
}

fn relative_micros(micros: i128, now: Timestamp, text: &str) -> Result<Timestamp> {
    if micros >= 0 {
        return Err(aost_error(format!(
            "interval value '{text}' too large, must be <= -1µs"
        )));
    }
    let back_ms = i64::try_from((-micros) / 1000).unwrap_or(i64::MAX);
    Ok(Timestamp::from_unix_ms(
        now.unix_ms().saturating_sub(back_ms),
    ))
}

/// `nanos[.logical]` since the Unix epoch.
pub fn parse_decimal(s: &str) -> Result<Timestamp> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let bad = || aost_error(format!("invalid decimal timestamp \"{s}\""));
    if int.is_empty() || frac.len() > LOGICAL_DIGITS {
        return Err(bad());
    }
    let nanos: i128 = int.parse().map_err(|_| bad())?;
    if nanos == 0 {
        return Err(aost_error("zero timestamp is invalid"));
    }
    let logical: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = LOGICAL_DIGITS)
            .parse()
            .map_err(|_| bad())?
    };
    let ms = i64::try_from(nanos / 1_000_000).map_err(|_| bad())?;
    let base = Timestamp::from_unix_ms(ms);
    Ok(Timestamp::from_parts(base.physical_ms(), logical))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_unix_ms(1_800_000_000_000).next()
    }

    #[test]
    fn decimal_round_trips() {
        let ts = Timestamp::from_parts(123_456_789, 7);
        assert_eq!(parse_decimal(&decimal_text(ts)).unwrap(), ts);
        assert_eq!(
            parse_decimal("1800000000000000000").unwrap(),
            Timestamp::from_unix_ms(1_800_000_000_000)
        );
        assert!(parse_decimal("0").is_err());
        assert!(parse_decimal("12.345678901234").is_err());
    }

    #[test]
    fn strings_intervals_and_timestamps() {
        let n = now();
        let at = |s: &str| parse_text(s, n).map(|t| n.unix_ms() - t.unix_ms());
        assert_eq!(at("-10s").unwrap(), 10_000);
        assert_eq!(at("-1m30s").unwrap(), 90_000);
        assert_eq!(at("-100ms").unwrap(), 100);
        assert_eq!(at("-1h").unwrap(), 3_600_000);
        assert_eq!(at("-1.5s").unwrap(), 1_500);
        // PostgreSQL interval syntax works too.
        assert_eq!(at("-10 seconds").unwrap(), 10_000);
        assert_eq!(at("-00:00:02").unwrap(), 2_000);
        assert!(at("10s").is_err());
        assert_eq!(at("+10s").unwrap_err().code, "22023");
        assert_eq!(
            parse_text("2026-11-26 10:00:00", n).unwrap().unix_ms(),
            1_795_687_200_000
        );
        assert_eq!(parse_text("not a time", n).unwrap_err().code, "22023");
    }
}

//! Date/time functions: the transaction clock (now() and friends, fixed for the
//! transaction as in PostgreSQL; clock_timestamp() reads the wall clock), date_trunc,
//! date_part/extract, age, make_date, make_timestamp and to_timestamp. Everything is in UTC,
//! Meridian's only session time zone. CockroachDB's follower_read_timestamp(),
//! with_max_staleness() and with_min_timestamp() are here too.

use super::{is_int, is_num, is_text, Call};
use crate::error::code;
use crate::types::{add_interval, date_to_timestamp, days_in_month, DataType, Datum, Interval};
use crate::{Error, Result};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use rust_decimal::prelude::*;

/// The names this module implements.
pub(crate) const NAMES: &[&str] = &[
    "now",
    "current_timestamp",
    "transaction_timestamp",
    "statement_timestamp",
    "clock_timestamp",
    "localtimestamp",
    "current_date",
    "date_trunc",
    "date_part",
    "extract",
    "age",
    "make_date",
    "make_timestamp",
    "to_timestamp",
    "isfinite",
    "justify_days",
    "justify_hours",
    "follower_read_timestamp",
    "with_max_staleness",
    "with_min_timestamp",
];

/// How far behind the transaction time follower_read_timestamp() is: CockroachDB's value
/// (closed timestamp target 3 s, side-transport interval 200 ms, times a safety margin).
pub const FOLLOWER_READ_LAG_MS: i64 = 4_800;

fn is_time_src(t: &DataType) -> bool {
    t.is_datetime() || matches!(t, DataType::Interval | DataType::Unknown) || t.is_string()
}

pub(crate) fn resolve(name: &str, a: &[DataType]) -> Option<Result<DataType>> {
    use DataType as T;
    let ty = match (name, a.len()) {
        (
            "now"
            | "current_timestamp"
            | "transaction_timestamp"
            | "statement_timestamp"
            | "clock_timestamp"
            | "follower_read_timestamp",
            0,
        ) => T::TimestampTz,
        ("with_max_staleness", 1 | 2)
            if (matches!(a[0], T::Interval | T::Unknown) || a[0].is_string())
                && a.get(1).is_none_or(|b| matches!(b, T::Bool | T::Unknown)) =>
        {
            T::TimestampTz
        }
        ("with_min_timestamp", 1 | 2)
            if is_time_src(&a[0])
                && a[0] != T::Interval
                && a.get(1).is_none_or(|b| matches!(b, T::Bool | T::Unknown)) =>
        {
            T::TimestampTz
        }
        ("localtimestamp", 0) => T::Timestamp,
        ("current_date", 0) => T::Date,
        ("date_trunc", 2) if is_text(&a[0]) && is_time_src(&a[1]) => match &a[1] {
            T::Date | T::TimestampTz => T::TimestampTz,
            T::Interval => T::Interval,
            _ => T::Timestamp,
        },
        ("date_part", 2) if is_text(&a[0]) && is_time_src(&a[1]) => T::Float8,
        ("extract", 2) if is_text(&a[0]) && is_time_src(&a[1]) => T::Numeric(None),
        ("age", 1 | 2) if a.iter().all(|t| t.is_datetime() || *t == T::Unknown) => T::Interval,
        ("make_date", 3) if a.iter().all(is_int) => T::Date,
        ("make_timestamp", 6) if a[..5].iter().all(is_int) && is_num(&a[5]) => T::Timestamp,
        ("to_timestamp", 1) if is_num(&a[0]) => T::TimestampTz,
        ("isfinite", 1) if is_time_src(&a[0]) => T::Bool,
        ("justify_days" | "justify_hours", 1) if matches!(a[0], T::Interval | T::Unknown) => {
            T::Interval
        }
        _ => return None,
    };
    Some(Ok(ty))
}

pub(crate) fn eval(c: &Call) -> Option<Result<Datum>> {
    if !NAMES.contains(&c.name) {
        return None;
    }
    Some(eval_inner(c))
}

fn eval_inner(c: &Call) -> Result<Datum> {
    let now = c.ctx.txn_time;
    match c.name {
        "now" | "current_timestamp" | "transaction_timestamp" | "statement_timestamp" => {
            Ok(Datum::TimestampTz(now))
        }
        "clock_timestamp" => Ok(Datum::TimestampTz(Utc::now())),
        "follower_read_timestamp" => Ok(Datum::TimestampTz(
            now - Duration::milliseconds(FOLLOWER_READ_LAG_MS),
        )),
        "with_max_staleness" | "with_min_timestamp" => staleness_bound(c),
        "localtimestamp" => Ok(Datum::Timestamp(now.naive_utc())),
        "current_date" => Ok(Datum::Date(now.date_naive())),
        "date_trunc" => date_trunc(c),
        "date_part" | "extract" => {
            let field = c.text(0)?.to_ascii_lowercase();
            let v = match &c.args[1] {
                Datum::Interval(i) => interval_part(&field, i)?,
                _ => {
                    let is_date = matches!(c.args[1], Datum::Date(_));
                    timestamp_part(&field, source_timestamp(c, 1)?, c.ty(1), is_date)?
                }
            };
            if c.name == "extract" {
                Ok(Datum::Decimal(v))
            } else {
                Ok(Datum::Float(v.to_f64().unwrap_or(f64::NAN)))
            }
        }
        "age" => {
            let a = if c.args.len() == 2 {
                source_timestamp(c, 0)?
            } else {
                now.date_naive().and_time(NaiveTime::MIN)
            };
            let b = source_timestamp(c, c.args.len() - 1)?;
            Ok(Datum::Interval(age(a, b)?))
        }
        "make_date" => Ok(Datum::Date(make_date(c.int(0)?, c.int(1)?, c.int(2)?)?)),
        "make_timestamp" => make_timestamp(c),
        "to_timestamp" => to_timestamp(c.float(0)?),
        "isfinite" => Ok(Datum::Bool(match &c.args[0] {
            Datum::Interval(_) => true,
            _ => {
                let t = source_timestamp(c, 0)?;
                t != NaiveDateTime::MAX && t != NaiveDateTime::MIN
            }
        })),
        "justify_days" | "justify_hours" => {
            let Datum::Interval(i) =
                crate::types::cast(c.args[0].clone(), c.ty(0), &DataType::Interval, true)?
            else {
                return Err(Error::internal("justify: not an interval"));
            };
            Ok(Datum::Interval(justify(i, c.name == "justify_days")))
        }
        other => Err(Error::internal(format!(
            "time function {other} not dispatched"
        ))),
    }
}

fn justify(i: Interval, days_to_months: bool) -> Interval {
    const DAY: i64 = 86_400_000_000;
    let mut r = i;
    if days_to_months {
        r.months = r.months.saturating_add(r.days / 30);
        r.days %= 30;
    } else {
        r.days = r.days.saturating_add((r.micros / DAY) as i32);
        r.micros %= DAY;
    }
    r
}

/// The i-th argument as a UTC timestamp (dates at midnight; untyped text parsed).
fn source_timestamp(c: &Call, i: usize) -> Result<NaiveDateTime> {
    match &c.args[i] {
        Datum::Timestamp(t) => Ok(*t),
        Datum::TimestampTz(t) => Ok(t.naive_utc()),
        Datum::Date(d) => Ok(date_to_timestamp(*d)),
        Datum::Text(s) => match Datum::from_pg_text(s, &DataType::Timestamp)? {
            Datum::Timestamp(t) => Ok(t),
            _ => Err(Error::internal("timestamp parse")),
        },
        other => Err(Error::internal(format!(
            "{}: not a timestamp: {other:?}",
            c.name
        ))),
    }
}

/// CockroachDB's bounded-staleness functions evaluated as ordinary functions: the oldest
/// timestamp the bound allows (`now() - interval`, resp. the timestamp itself). In an AS OF
/// SYSTEM TIME clause the session evaluates them instead (`session::staleness`).
fn staleness_bound(c: &Call) -> Result<Datum> {
    let now = c.ctx.txn_time;
    if matches!(c.args.first(), Some(Datum::Null) | None) {
        return Ok(Datum::Null);
    }
    if c.name == "with_min_timestamp" {
        let t = source_timestamp(c, 0)?.and_utc();
        if t > now {
            return Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                "timestamp for with_min_timestamp must be less than or equal to now()",
            ));
        }
        return Ok(Datum::TimestampTz(t));
    }
    let iv = match &c.args[0] {
        Datum::Interval(iv) => *iv,
        _ => match Datum::from_pg_text(&c.text(0)?, &DataType::Interval)? {
            Datum::Interval(iv) => iv,
            _ => return Err(Error::internal("interval parse")),
        },
    };
    if iv.months < 0 || iv.days < 0 || iv.micros < 0 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "interval duration for with_max_staleness must be greater or equal to 0",
        ));
    }
    let neg = Interval {
        months: -iv.months,
        days: -iv.days,
        micros: -iv.micros,
    };
    Ok(Datum::TimestampTz(
        add_interval(now.naive_utc(), &neg)?.and_utc(),
    ))
}

/// Canonical unit names (PostgreSQL's DecodeUnits aliases).
fn canonical_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => "microseconds",
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => "milliseconds",
        "second" | "seconds" | "s" | "sec" | "secs" => "second",
        "minute" | "minutes" | "m" | "min" | "mins" => "minute",
        "hour" | "hours" | "h" | "hr" | "hrs" => "hour",
        "day" | "days" | "d" => "day",
        "week" | "weeks" | "w" => "week",
        "month" | "months" | "mon" | "mons" => "month",
        "quarter" | "qtr" => "quarter",
        "year" | "years" | "y" | "yr" | "yrs" => "year",
        "decade" | "decades" | "dec" => "decade",
        "century" | "centuries" | "c" => "century",
        "millennium" | "millennia" | "mil" | "mils" => "millennium",
        "epoch" => "epoch",
        "dow" => "dow",
        "isodow" => "isodow",
        "doy" => "doy",
        "isoyear" => "isoyear",
        "julian" => "julian",
        "timezone" => "timezone",
        "timezone_hour" => "timezone_hour",
        "timezone_minute" => "timezone_minute",
        _ => return None,
    })
}

fn unit_not_recognized(unit: &str, ty: &DataType) -> Error {
    Error::new(
        code::INVALID_PARAMETER_VALUE,
        format!(
            "unit \"{unit}\" not recognized for type {}",
            ty.pg_base_name()
        ),
    )
}

fn unit_not_supported(unit: &str, ty: &DataType) -> Error {
    Error::unsupported(format!(
        "unit \"{unit}\" not supported for type {}",
        ty.pg_base_name()
    ))
}

fn date_trunc(c: &Call) -> Result<Datum> {
    let raw = c.text(0)?.to_ascii_lowercase();
    let ty = if *c.ret == DataType::Interval {
        DataType::Interval
    } else {
        c.ret.clone()
    };
    let unit = canonical_unit(&raw).ok_or_else(|| unit_not_recognized(&raw, &ty))?;
    if let Datum::Interval(i) = &c.args[1] {
        return Ok(Datum::Interval(
            trunc_interval(unit, i).ok_or_else(|| unit_not_supported(&raw, &ty))?,
        ));
    }
    let t = source_timestamp(c, 1)?;
    let r = if t == NaiveDateTime::MAX || t == NaiveDateTime::MIN {
        t
    } else {
        trunc_timestamp(unit, t).ok_or_else(|| unit_not_supported(&raw, &ty))?
    };
    Ok(match c.ret {
        DataType::TimestampTz => Datum::TimestampTz(Utc.from_utc_datetime(&r)),
        _ => Datum::Timestamp(r),
    })
}

fn trunc_timestamp(unit: &str, t: NaiveDateTime) -> Option<NaiveDateTime> {
    let d = t.date();
    let ymd = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).map(|d| d.and_time(NaiveTime::MIN));
    let y = d.year();
    let micros = t.nanosecond() as i64 / 1000;
    Some(match unit {
        "microseconds" => t.with_nanosecond((micros * 1000) as u32)?,
        "milliseconds" => t.with_nanosecond((micros / 1000 * 1_000_000) as u32)?,
        "second" => t.with_nanosecond(0)?,
        "minute" => t.with_nanosecond(0)?.with_second(0)?,
        "hour" => t.with_nanosecond(0)?.with_second(0)?.with_minute(0)?,
        "day" => d.and_time(NaiveTime::MIN),
        "week" => {
            (d - Duration::days(d.weekday().num_days_from_monday() as i64)).and_time(NaiveTime::MIN)
        }
        "month" => ymd(y, d.month())?,
        "quarter" => ymd(y, (d.month0() / 3) * 3 + 1)?,
        "year" => ymd(y, 1)?,
        "decade" => ymd(y.div_euclid(10) * 10, 1)?,
        "century" => ymd(((y + 99).div_euclid(100) - 1) * 100 + 1, 1)?,
        "millennium" => ymd(((y + 999).div_euclid(1000) - 1) * 1000 + 1, 1)?,
        _ => return None,
    })
}

fn trunc_interval(unit: &str, i: &Interval) -> Option<Interval> {
    let m = i.micros;
    let per = |p: i64| Interval {
        micros: m / p * p,
        ..*i
    };
    Some(match unit {
        "microseconds" => *i,
        "milliseconds" => per(1000),
        "second" => per(1_000_000),
        "minute" => per(60_000_000),
        "hour" => per(3_600_000_000),
        "day" => Interval { micros: 0, ..*i },
        "month" => Interval {
            months: i.months,
            days: 0,
            micros: 0,
        },
        "quarter" => Interval {
            months: i.months / 3 * 3,
            days: 0,
            micros: 0,
        },
        "year" => Interval {
            months: i.months / 12 * 12,
            days: 0,
            micros: 0,
        },
        "decade" => Interval {
            months: i.months / 120 * 120,
            days: 0,
            micros: 0,
        },
        "century" => Interval {
            months: i.months / 1200 * 1200,
            days: 0,
            micros: 0,
        },
        "millennium" => Interval {
            months: i.months / 12000 * 12000,
            days: 0,
            micros: 0,
        },
        _ => return None,
    })
}

/// A field of a timestamp, as extract()'s numeric.
fn timestamp_part(raw: &str, t: NaiveDateTime, ty: &DataType, is_date: bool) -> Result<Decimal> {
    let ty = if is_date { &DataType::Date } else { ty };
    let unit = canonical_unit(raw).ok_or_else(|| unit_not_recognized(raw, ty))?;
    if t == NaiveDateTime::MAX || t == NaiveDateTime::MIN {
        return Err(Error::unsupported(
            "extracting fields from infinite timestamps is not supported",
        ));
    }
    if is_date
        && matches!(
            unit,
            "microseconds" | "milliseconds" | "second" | "minute" | "hour"
        )
    {
        return Err(unit_not_supported(raw, ty));
    }
    let sec_micros = t.second() as i64 * 1_000_000 + t.nanosecond() as i64 / 1000;
    let year = t.year();
    let disp_year = if year <= 0 {
        year as i64 - 1
    } else {
        year as i64
    };
    let int = |v: i64| Decimal::from(v);
    Ok(match unit {
        "microseconds" => int(sec_micros),
        "milliseconds" => Decimal::new(sec_micros, 3),
        "second" => Decimal::new(sec_micros, 6),
        "minute" => int(t.minute() as i64),
        "hour" => int(t.hour() as i64),
        "day" => int(t.day() as i64),
        "month" => int(t.month() as i64),
        "quarter" => int(t.month0() as i64 / 3 + 1),
        "year" => int(disp_year),
        "week" => int(t.iso_week().week() as i64),
        "isoyear" => int(t.iso_week().year() as i64),
        "dow" => int(t.weekday().num_days_from_sunday() as i64),
        "isodow" => int(t.weekday().number_from_monday() as i64),
        "doy" => int(t.ordinal() as i64),
        "decade" => int(disp_year.div_euclid(10)),
        "century" => int(if year > 0 {
            (year as i64 + 99) / 100
        } else {
            -((99 - (year as i64 - 1)) / 100)
        }),
        "millennium" => int(if year > 0 {
            (year as i64 + 999) / 1000
        } else {
            -((999 - (year as i64 - 1)) / 1000)
        }),
        "epoch" => {
            let micros = (t - NaiveDate::from_ymd_opt(1970, 1, 1)
                .unwrap_or(NaiveDate::MIN)
                .and_time(NaiveTime::MIN))
            .num_microseconds()
            .ok_or_else(crate::types::numeric_overflow)?;
            if is_date {
                int(micros / 1_000_000)
            } else {
                Decimal::new(micros, 6)
            }
        }
        "julian" => {
            let jd = t.date().num_days_from_ce() as i64 + 1_721_425;
            let day_micros =
                (t.num_seconds_from_midnight() as i64) * 1_000_000 + t.nanosecond() as i64 / 1000;
            int(jd)
                + crate::types::numeric_round(
                    Decimal::new(day_micros, 6) / Decimal::from(86_400),
                    20,
                )
        }
        "timezone" | "timezone_hour" | "timezone_minute" if *ty == DataType::TimestampTz => int(0),
        _ => return Err(unit_not_supported(raw, ty)),
    })
}

/// A field of an interval, as extract()'s numeric.
fn interval_part(raw: &str, i: &Interval) -> Result<Decimal> {
    let ty = DataType::Interval;
    let unit = canonical_unit(raw).ok_or_else(|| unit_not_recognized(raw, &ty))?;
    let int = |v: i64| Decimal::from(v);
    let sec_micros = i.micros % 60_000_000;
    let years = i.months as i64 / 12;
    Ok(match unit {
        "microseconds" => int(sec_micros),
        "milliseconds" => Decimal::new(sec_micros, 3),
        "second" => Decimal::new(sec_micros, 6),
        "minute" => int((i.micros / 60_000_000) % 60),
        "hour" => int(i.micros / 3_600_000_000),
        "day" => int(i.days as i64),
        "month" => int(i.months as i64 % 12),
        "quarter" => int((i.months as i64 % 12) / 3 + 1),
        "year" => int(years),
        "decade" => int(years / 10),
        "century" => int(years / 100),
        "millennium" => int(years / 1000),
        "epoch" => {
            // PostgreSQL counts a year as 365.25 days and a leftover month as 30 days.
            let secs_years = Decimal::from(years) * Decimal::new(3_155_760_000, 2);
            let rest = (i.months as i64 % 12) * 30 * 86_400 + i.days as i64 * 86_400;
            secs_years + Decimal::from(rest) + Decimal::new(i.micros, 6)
        }
        _ => return Err(unit_not_supported(raw, &ty)),
    })
}

/// age(a, b): the symbolic difference in years, months and days, as PostgreSQL computes it.
fn age(a: NaiveDateTime, b: NaiveDateTime) -> Result<Interval> {
    let flip = a < b;
    let s = if flip { -1 } else { 1 };
    let micros_of = |t: &NaiveDateTime| t.nanosecond() as i64 / 1000;
    let mut fsec = s * (micros_of(&a) - micros_of(&b));
    let mut sec = s * (a.second() as i64 - b.second() as i64);
    let mut min = s * (a.minute() as i64 - b.minute() as i64);
    let mut hour = s * (a.hour() as i64 - b.hour() as i64);
    let mut mday = s * (a.day() as i64 - b.day() as i64);
    let mut mon = s * (a.month() as i64 - b.month() as i64);
    let mut year = s * (a.year() as i64 - b.year() as i64);
    while fsec < 0 {
        fsec += 1_000_000;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        mday -= 1;
    }
    while mday < 0 {
        let base = if flip { a } else { b };
        mday += days_in_month(base.year(), base.month()) as i64;
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    let months = s * (year * 12 + mon);
    let oor = || Error::new(code::DATETIME_FIELD_OVERFLOW, "interval out of range");
    Ok(Interval {
        months: i32::try_from(months).map_err(|_| oor())?,
        days: i32::try_from(s * mday).map_err(|_| oor())?,
        micros: s * (((hour * 60 + min) * 60 + sec) * 1_000_000 + fsec),
    })
}

fn make_date(y: i64, m: i64, d: i64) -> Result<NaiveDate> {
    let err = || {
        Error::new(
            code::DATETIME_FIELD_OVERFLOW,
            format!("date field value out of range: {y}-{m:02}-{d:02}"),
        )
    };
    if y == 0 {
        return Err(err());
    }
    let cy = if y < 0 { y + 1 } else { y };
    let (cy, m, d) = (
        i32::try_from(cy).map_err(|_| err())?,
        u32::try_from(m).map_err(|_| err())?,
        u32::try_from(d).map_err(|_| err())?,
    );
    NaiveDate::from_ymd_opt(cy, m, d).ok_or_else(err)
}

fn make_timestamp(c: &Call) -> Result<Datum> {
    let date = make_date(c.int(0)?, c.int(1)?, c.int(2)?)?;
    let (h, mi, s) = (c.int(3)?, c.int(4)?, c.float(5)?);
    if !(0..=23).contains(&h) || !(0..=59).contains(&mi) || !(0.0..60.0).contains(&s) {
        return Err(Error::new(
            code::DATETIME_FIELD_OVERFLOW,
            format!("time field value out of range: {h}:{mi:02}:{s:02}"),
        ));
    }
    let micros = (h * 3600 + mi * 60) * 1_000_000 + (s * 1e6).round() as i64;
    Ok(Datum::Timestamp(
        date.and_time(NaiveTime::MIN) + Duration::microseconds(micros),
    ))
}

fn to_timestamp(secs: f64) -> Result<Datum> {
    if secs.is_nan() {
        return Err(Error::new(
            code::DATETIME_FIELD_OVERFLOW,
            "timestamp cannot be NaN",
        ));
    }
    if secs.is_infinite() {
        let t = if secs > 0.0 {
            NaiveDateTime::MAX
        } else {
            NaiveDateTime::MIN
        };
        return Ok(Datum::TimestampTz(Utc.from_utc_datetime(&t)));
    }
    let oor = || {
        Error::new(
            code::DATETIME_FIELD_OVERFLOW,
            format!(
                "timestamp out of range: \"{}\"",
                crate::types::format_float8(secs)
            ),
        )
    };
    let micros = (secs * 1e6).round();
    if micros.abs() > 9.2e18 {
        return Err(oor());
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)
        .unwrap_or(NaiveDate::MIN)
        .and_time(NaiveTime::MIN);
    let t = add_interval(
        epoch,
        &Interval {
            months: 0,
            days: 0,
            micros: micros as i64,
        },
    )
    .map_err(|_| oor())?;
    Ok(Datum::TimestampTz(Utc.from_utc_datetime(&t)))
}

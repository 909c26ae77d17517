//! Date, timestamp and interval input parsing and calendar arithmetic.
//!
//! Accepted input (PostgreSQL's DateStyle ISO, MDY): `2024-01-31`, `01/31/2024`,
//! `2024/01/31`, `20240131`, each optionally followed by ` ` or `T` and a time
//! `HH:MM[:SS[.fraction]]`, an optional zone (`Z`, `UTC`, `GMT`, `+05`, `+05:30`, `-0800`) and
//! `BC`; the special strings `epoch`, `infinity`, `-infinity`, `now`, `today`, `tomorrow`,
//! `yesterday`. ±infinity are represented by chrono's MIN/MAX values, which print back as
//! `infinity`. Intervals accept PostgreSQL's verbose style (`1 year 2 mons`, `@ 1 day ago`,
//! `2 hours 30 minutes`, `1.5 days`), time fields (`01:02:03`, `-1 day 02:00`), SQL
//! year-month (`1-2`), bare numbers as seconds, and ISO 8601 (`P1Y2M3DT4H5M6.5S`, `P2W`).
//!
//! IMPLEMENTATION CAVEATS: named time zones (`America/New_York`) and month names
//! (`Jan 5 2024`) are not recognised (22007); `now`/`today` read the wall clock rather than
//! the transaction timestamp (the planner should prefer now()); the session time zone is
//! always UTC; ISO 8601's alternative format (`P0001-02-03T04:05:06`) is not supported.

use super::Interval;
use crate::error::code;
use crate::{Error, Result};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Microseconds per day.
pub(crate) const USECS_PER_DAY: i64 = 86_400_000_000;
/// 22015 interval_field_overflow.
const INTERVAL_FIELD_OVERFLOW: &str = "22015";

/// 2000-01-01, PostgreSQL's epoch for binary dates and timestamps.
pub(crate) fn pg_epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// A parsed date/time: the local date and time and an optional UTC offset in seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParsedDateTime {
    pub dt: NaiveDateTime,
    pub offset_secs: Option<i32>,
}

fn syntax_err(tyname: &str, s: &str) -> Error {
    Error::new(
        code::INVALID_DATETIME_FORMAT,
        format!("invalid input syntax for type {tyname}: \"{s}\""),
    )
}

fn range_err(s: &str) -> Error {
    Error::new(
        code::DATETIME_FIELD_OVERFLOW,
        format!("date/time field value out of range: \"{s}\""),
    )
}

/// Parses date/time input for `tyname` ("date", "timestamp without time zone"...).
pub(crate) fn parse_datetime(input: &str, tyname: &str) -> Result<ParsedDateTime> {
    let lower = input.trim().to_ascii_lowercase();
    if let Some(dt) = special_datetime(&lower) {
        return Ok(ParsedDateTime {
            dt,
            offset_secs: None,
        });
    }
    let (body, bc) = match lower.strip_suffix("bc") {
        Some(b) => (b.trim_end(), true),
        None => (
            lower
                .strip_suffix("ad")
                .map(str::trim_end)
                .unwrap_or(&lower),
            false,
        ),
    };
    let mut cur = Cursor {
        s: body.as_bytes(),
        pos: 0,
    };
    let (y, m, d) = parse_date_fields(&mut cur).ok_or_else(|| syntax_err(tyname, input))?;
    let y = if bc { 1 - y } else { y };
    let date = NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| range_err(input))?;
    // Optional time.
    let had_sep = cur.eat(b'T') || cur.eat(b't') || cur.skip_spaces();
    let mut time_micros: i64 = 0;
    if had_sep && cur.peek().is_some_and(|c| c.is_ascii_digit()) {
        time_micros = parse_time_of_day(&mut cur, input, tyname)?;
    }
    cur.skip_spaces();
    let offset_secs = parse_zone(&mut cur).ok_or_else(|| syntax_err(tyname, input))?;
    cur.skip_spaces();
    if !cur.done() {
        return Err(syntax_err(tyname, input));
    }
    let dt = date
        .and_time(NaiveTime::MIN)
        .checked_add_signed(Duration::microseconds(time_micros))
        .ok_or_else(|| range_err(input))?;
    Ok(ParsedDateTime { dt, offset_secs })
}

fn special_datetime(s: &str) -> Option<NaiveDateTime> {
    let today = || Utc::now().date_naive().and_time(NaiveTime::MIN);
    Some(match s {
        "epoch" => NaiveDate::from_ymd_opt(1970, 1, 1)?.and_time(NaiveTime::MIN),
        "infinity" | "+infinity" => NaiveDateTime::MAX,
        "-infinity" => NaiveDateTime::MIN,
        "now" => Utc::now().naive_utc(),
        "today" => today(),
        "tomorrow" => today() + Duration::days(1),
        "yesterday" => today() - Duration::days(1),
        _ => return None,
    })
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn skip_spaces(&mut self) -> bool {
        let start = self.pos;
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        self.pos > start
    }
    fn digits(&mut self) -> Option<&str> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            None
        } else {
            std::str::from_utf8(&self.s[start..self.pos]).ok()
        }
    }
    fn number(&mut self) -> Option<i64> {
        self.digits()
            .and_then(|d| if d.len() > 9 { None } else { d.parse().ok() })
    }
    fn done(&self) -> bool {
        self.pos >= self.s.len()
    }
}

/// `Y-M-D`, `M/D/Y`, `Y/M/D`, or `YYYYMMDD`.
fn parse_date_fields(cur: &mut Cursor) -> Option<(i32, u32, u32)> {
    let first = cur.digits()?.to_string();
    if first.len() == 8 && !matches!(cur.peek(), Some(b'-' | b'/')) {
        let y = first[..4].parse().ok()?;
        return Some((y, first[4..6].parse().ok()?, first[6..].parse().ok()?));
    }
    let sep = cur.peek()?;
    if sep != b'-' && sep != b'/' && sep != b'.' {
        return None;
    }
    cur.pos += 1;
    let second = cur.number()?;
    if !cur.eat(sep) {
        return None;
    }
    let third_s = cur.digits()?.to_string();
    let third: i64 = third_s.parse().ok()?;
    let first_n: i64 = first.parse().ok()?;
    if first.len() >= 3 || sep == b'-' {
        Some((
            i32::try_from(first_n).ok()?,
            u32::try_from(second).ok()?,
            u32::try_from(third).ok()?,
        ))
    } else {
        // MDY, with two-digit years mapped as PostgreSQL does (70-99 -> 19xx, else 20xx).
        let mut y = i32::try_from(third).ok()?;
        if third_s.len() <= 2 {
            y += if y >= 70 { 1900 } else { 2000 };
        }
        Some((y, u32::try_from(first_n).ok()?, u32::try_from(second).ok()?))
    }
}

/// `HH:MM[:SS[.frac]]` as microseconds since midnight (24:00:00 allowed).
fn parse_time_of_day(cur: &mut Cursor, input: &str, tyname: &str) -> Result<i64> {
    let err = || syntax_err(tyname, input);
    let h = cur.number().ok_or_else(err)?;
    if !cur.eat(b':') {
        return Err(err());
    }
    let m = cur.number().ok_or_else(err)?;
    let mut s = 0;
    let mut frac = 0;
    if cur.eat(b':') {
        s = cur.number().ok_or_else(err)?;
        if cur.eat(b'.') {
            frac = parse_fraction(cur.digits().unwrap_or(""));
        }
    }
    if h > 24 || m > 59 || s > 60 || (h == 24 && (m > 0 || s > 0 || frac > 0)) {
        return Err(range_err(input));
    }
    Ok(((h * 60 + m) * 60 + s) * 1_000_000 + frac)
}

/// A fraction's digits as microseconds, rounded half up at the sixth digit.
fn parse_fraction(digits: &str) -> i64 {
    let mut micros: i64 = 0;
    for (i, c) in digits.bytes().take(6).enumerate() {
        micros += (c - b'0') as i64 * 10i64.pow(5 - i as u32);
    }
    if digits.len() > 6 && digits.as_bytes()[6] >= b'5' {
        micros += 1;
    }
    micros
}

/// An optional zone suffix; Some(None) when absent, None when malformed.
fn parse_zone(cur: &mut Cursor) -> Option<Option<i32>> {
    let rest = std::str::from_utf8(&cur.s[cur.pos..]).ok()?.trim_end();
    if rest.is_empty() {
        return Some(None);
    }
    if matches!(rest, "z" | "utc" | "gmt" | "zulu") {
        cur.pos = cur.s.len();
        return Some(Some(0));
    }
    let sign = match rest.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &rest[1..];
    let parts: Vec<&str> = body.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [hm] if hm.len() == 4 => (hm[..2].parse().ok()?, hm[2..].parse().ok()?, 0),
        [h] if h.len() <= 2 => (h.parse().ok()?, 0, 0),
        [h, m] => (h.parse().ok()?, m.parse().ok()?, 0),
        [h, m, s] => (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?),
        _ => return None,
    };
    let (h, m, s): (i32, i32, i32) = (h, m, s);
    if h > 15 || m > 59 || s > 59 {
        return None;
    }
    cur.pos = cur.s.len();
    Some(Some(sign * (h * 3600 + m * 60 + s)))
}

/// Adds an interval to a timestamp as PostgreSQL does: months first (clamping the day to the
/// month's length), then days, then microseconds. 22008 "timestamp out of range" on overflow.
pub(crate) fn add_interval(ts: NaiveDateTime, iv: &Interval) -> Result<NaiveDateTime> {
    if ts == NaiveDateTime::MAX || ts == NaiveDateTime::MIN {
        return Ok(ts);
    }
    let oor = || Error::new(code::DATETIME_FIELD_OVERFLOW, "timestamp out of range");
    let mut t = ts;
    if iv.months != 0 {
        let total = t.year() as i64 * 12 + t.month0() as i64 + iv.months as i64;
        let y = i32::try_from(total.div_euclid(12)).map_err(|_| oor())?;
        let m = total.rem_euclid(12) as u32 + 1;
        let d = t.day().min(days_in_month(y, m));
        t = NaiveDate::from_ymd_opt(y, m, d)
            .ok_or_else(oor)?
            .and_time(t.time());
    }
    t = t
        .checked_add_signed(Duration::days(iv.days as i64))
        .ok_or_else(oor)?;
    t.checked_add_signed(Duration::microseconds(iv.micros))
        .ok_or_else(oor)
}

/// Number of days in month `m` (1-12) of year `y`.
pub(crate) fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    match (
        NaiveDate::from_ymd_opt(ny, nm, 1),
        NaiveDate::from_ymd_opt(y, m, 1),
    ) {
        (Some(a), Some(b)) => (a - b).num_days() as u32,
        _ => 31,
    }
}

/// `a - b` for timestamps: an interval of days and microseconds (interval_justify_hours).
pub(crate) fn timestamp_diff(a: NaiveDateTime, b: NaiveDateTime) -> Result<Interval> {
    let micros = (a - b)
        .num_microseconds()
        .ok_or_else(|| Error::new(code::DATETIME_FIELD_OVERFLOW, "interval out of range"))?;
    Ok(Interval {
        months: 0,
        days: (micros / USECS_PER_DAY) as i32,
        micros: micros % USECS_PER_DAY,
    })
}

/// Accumulates interval fields, cascading fractional units down as PostgreSQL does.
#[derive(Default)]
struct IntervalAcc {
    months: f64,
    days: f64,
    micros: f64,
}

impl IntervalAcc {
    fn add_months(&mut self, v: f64) {
        let whole = v.trunc();
        self.months += whole;
        self.add_days((v - whole) * 30.0);
    }
    fn add_days(&mut self, v: f64) {
        let whole = v.trunc();
        self.days += whole;
        self.micros += ((v - whole) * USECS_PER_DAY as f64).round();
    }
    fn add_unit(&mut self, v: f64, unit: &str) -> bool {
        match unit {
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "microsecon" => {
                self.micros += v.round()
            }
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "millisecon" => {
                self.micros += (v * 1e3).round()
            }
            "second" | "seconds" | "s" | "sec" | "secs" => self.micros += (v * 1e6).round(),
            "minute" | "minutes" | "m" | "min" | "mins" => self.micros += (v * 6e7).round(),
            "hour" | "hours" | "h" | "hr" | "hrs" => self.micros += (v * 3.6e9).round(),
            "day" | "days" | "d" => self.add_days(v),
            "week" | "weeks" | "w" => self.add_days(v * 7.0),
            "month" | "months" | "mon" | "mons" => self.add_months(v),
            "year" | "years" | "y" | "yr" | "yrs" => self.add_months(v * 12.0),
            "decade" | "decades" => self.add_months(v * 120.0),
            "century" | "centuries" => self.add_months(v * 1200.0),
            "millennium" | "millennia" | "millenniums" => self.add_months(v * 12000.0),
            _ => return false,
        }
        true
    }
    fn finish(self, negate: bool, input: &str) -> Result<Interval> {
        let sign = if negate { -1.0 } else { 1.0 };
        let oor = || {
            Error::new(
                INTERVAL_FIELD_OVERFLOW,
                format!("interval field value out of range: \"{input}\""),
            )
        };
        let months = self.months * sign;
        let days = self.days * sign;
        let micros = self.micros * sign;
        if months.abs() > i32::MAX as f64 || days.abs() > i32::MAX as f64 || micros.abs() > 9.2e18 {
            return Err(oor());
        }
        Ok(Interval {
            months: months as i32,
            days: days as i32,
            micros: micros as i64,
        })
    }
}

/// Parses interval input (PostgreSQL verbose style, time fields, or ISO 8601).
pub(crate) fn parse_interval(input: &str) -> Result<Interval> {
    let err = || {
        Error::new(
            code::INVALID_DATETIME_FORMAT,
            format!("invalid input syntax for type interval: \"{input}\""),
        )
    };
    let lower = input.trim().to_ascii_lowercase();
    if let Some(iso) = lower.strip_prefix('p') {
        return parse_iso_interval(iso, input).ok_or_else(err)?;
    }
    let body = lower.strip_prefix('@').unwrap_or(&lower);
    let mut tokens: Vec<String> = split_tokens(body);
    let negate = tokens.last().is_some_and(|t| t == "ago");
    if negate {
        tokens.pop();
    }
    if tokens.is_empty() {
        return Err(err());
    }
    let mut acc = IntervalAcc::default();
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i].as_str();
        if tok.contains(':') {
            acc.micros += parse_time_span(tok).ok_or_else(err)? as f64;
            i += 1;
            continue;
        }
        if let Some(months) = parse_year_month(tok) {
            acc.months += months as f64;
            i += 1;
            continue;
        }
        let v: f64 = tok.parse().map_err(|_| err())?;
        match tokens.get(i + 1) {
            Some(unit) if !unit.contains(':') && unit.parse::<f64>().is_err() => {
                if !acc.add_unit(v, unit) {
                    return Err(err());
                }
                i += 2;
            }
            Some(next) if next.contains(':') => {
                acc.add_days(v);
                i += 1;
            }
            None => {
                acc.micros += (v * 1e6).round();
                i += 1;
            }
            Some(_) => return Err(err()),
        }
    }
    acc.finish(negate, input)
}

/// Splits on whitespace and between a number and a unit written together ("10s", "1day").
fn split_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in s.split_whitespace() {
        if word.contains(':') || parse_year_month(word).is_some() {
            out.push(word.to_string());
            continue;
        }
        let split = word
            .char_indices()
            .find(|(i, c)| c.is_ascii_alphabetic() && *i > 0)
            .map(|(i, _)| i);
        match split {
            Some(i) if word[..i].parse::<f64>().is_ok() => {
                out.push(word[..i].to_string());
                out.push(word[i..].to_string());
            }
            _ => out.push(word.to_string()),
        }
    }
    out
}

/// `[-]H:M[:S[.f]]` as microseconds.
fn parse_time_span(tok: &str) -> Option<i64> {
    let (neg, body) = match tok.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, tok.strip_prefix('+').unwrap_or(tok)),
    };
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let h: i64 = parts[0].parse().ok()?;
    let m: i64 = parts[1].parse().ok()?;
    let (s, frac) = match parts.get(2) {
        Some(sec) => match sec.split_once('.') {
            Some((s, f)) => (s.parse::<i64>().ok()?, parse_fraction(f)),
            None => (sec.parse::<i64>().ok()?, 0),
        },
        None => (0, 0),
    };
    if m > 59 || s > 59 || !frac_ok(parts.get(2)) {
        return None;
    }
    let micros = h
        .checked_mul(3_600_000_000)?
        .checked_add((m * 60 + s) * 1_000_000 + frac)?;
    Some(if neg { -micros } else { micros })
}

fn frac_ok(sec: Option<&&str>) -> bool {
    sec.and_then(|s| s.split_once('.'))
        .is_none_or(|(_, f)| f.bytes().all(|c| c.is_ascii_digit()))
}

/// SQL-standard year-month `Y-M` (e.g. `1-2` = 1 year 2 months) as months.
fn parse_year_month(tok: &str) -> Option<i64> {
    let (neg, body) = match tok.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, tok.strip_prefix('+').unwrap_or(tok)),
    };
    let (y, m) = body.split_once('-')?;
    let y: i64 = y.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    if m > 11 {
        return None;
    }
    let months = y.checked_mul(12)?.checked_add(m)?;
    Some(if neg { -months } else { months })
}

/// ISO 8601 `P...` (the `p` already stripped): `1Y2M3W4DT5H6M7.5S`.
fn parse_iso_interval(s: &str, input: &str) -> Option<Result<Interval>> {
    if s.is_empty() {
        return None;
    }
    let mut acc = IntervalAcc::default();
    let mut in_time = false;
    let mut num = String::new();
    for c in s.chars() {
        match c {
            't' if !in_time && num.is_empty() => in_time = true,
            '0'..='9' | '.' | '-' | '+' => num.push(c),
            _ => {
                let v: f64 = num.parse().ok()?;
                num.clear();
                let unit = match (c, in_time) {
                    ('y', false) => "year",
                    ('m', false) => "month",
                    ('w', false) => "week",
                    ('d', false) => "day",
                    ('h', true) => "hour",
                    ('m', true) => "minute",
                    ('s', true) => "second",
                    _ => return None,
                };
                acc.add_unit(v, unit);
            }
        }
    }
    if !num.is_empty() {
        return None;
    }
    Some(acc.finish(false, input))
}

//! Session variables: `SET`, `SHOW`, `RESET` and the startup packet's options.
//!
//! Drivers set and read a handful of PostgreSQL settings when they connect (psycopg reads
//! `client_encoding` and `DateStyle`, JDBC sends `TimeZone` and `extra_float_digits`, ORMs set
//! `application_name` and `search_path`), so every one of them must be accepted with
//! PostgreSQL's spelling and validation, even when Meridian supports a single value.
//!
//! Choices, deliberately explicit:
//! - `TimeZone` is UTC only. `SET TimeZone` to any other zone fails with 22023 and a hint; a
//!   non-UTC `TimeZone` in the startup packet (JDBC sends the JVM's zone) is ignored with a
//!   NOTICE so such clients can still connect. UTC spellings accepted: UTC, Etc/UTC, GMT,
//!   Etc/GMT, Z, Zulu, Universal, UCT, +00, +00:00, 0.
//! - `client_encoding` is UTF8 only (also accepted as `UTF-8`/`unicode`); others fail with 22023.
//! - `DateStyle` output is always ISO; the `MDY`/`DMY`/`YMD` part is recorded and reported.
//! - Every isolation level is accepted and runs as SERIALIZABLE, as in CockroachDB.
//!
//! IMPLEMENTATION CAVEATS
//! - `SET` is not transactional: a `SET` inside a transaction that later rolls back keeps its
//!   value, and `SET LOCAL` behaves like `SET` (PostgreSQL undoes both at transaction end).
//! - `statement_timeout` is enforced by the server (it cancels the statement), but only at the
//!   granularity of the executor's cancellation checks.

use crate::error::code;
use crate::{Error, Result};
use std::collections::BTreeMap;

/// How a setting may be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// SET/RESET allowed.
    User,
    /// Read-only: SHOW only (server_version...).
    ReadOnly,
}

/// One known setting: canonical name, default, access, whether changes are reported to the
/// client with ParameterStatus, and a one-line description for pg_settings.
struct Spec {
    name: &'static str,
    default: &'static str,
    access: Access,
    report: bool,
    description: &'static str,
}

const SPECS: &[Spec] = &[
    spec(
        "application_name",
        "",
        Access::User,
        true,
        "Sets the application name to be reported in statistics and logs.",
    ),
    spec(
        "bytea_output",
        "hex",
        Access::User,
        false,
        "Sets the output format for bytea.",
    ),
    spec(
        "client_encoding",
        "UTF8",
        Access::User,
        true,
        "Sets the client's character set encoding.",
    ),
    spec(
        "client_min_messages",
        "notice",
        Access::User,
        false,
        "Sets the message levels that are sent to the client.",
    ),
    spec(
        "database",
        "defaultdb",
        Access::User,
        false,
        "The current database (CockroachDB's SET database / USE).",
    ),
    spec(
        "DateStyle",
        "ISO, MDY",
        Access::User,
        true,
        "Sets the display format for date and time values.",
    ),
    spec(
        "default_transaction_isolation",
        "serializable",
        Access::User,
        false,
        "Sets the transaction isolation level of each new transaction.",
    ),
    spec(
        "default_transaction_read_only",
        "off",
        Access::User,
        false,
        "Sets the default read-only status of new transactions.",
    ),
    spec(
        "default_transaction_use_follower_reads",
        "off",
        Access::User,
        false,
        "Whether read-only transactions read AS OF SYSTEM TIME follower_read_timestamp() (CockroachDB).",
    ),
    spec(
        "enable_implicit_select_for_update",
        "on",
        Access::User,
        false,
        "Whether UPDATE, DELETE and UPSERT lock the rows they read (CockroachDB).",
    ),
    spec(
        "extra_float_digits",
        "1",
        Access::User,
        false,
        "Sets the number of digits displayed for floating-point values.",
    ),
    spec(
        "idle_in_transaction_session_timeout",
        "0",
        Access::User,
        false,
        "Sets the maximum allowed idle time between queries, when in a transaction.",
    ),
    spec(
        "integer_datetimes",
        "on",
        Access::ReadOnly,
        true,
        "Shows whether datetimes are integer based.",
    ),
    spec(
        "IntervalStyle",
        "postgres",
        Access::User,
        true,
        "Sets the display format for interval values.",
    ),
    spec(
        "is_superuser",
        "on",
        Access::ReadOnly,
        true,
        "Shows whether the current user is a superuser.",
    ),
    spec(
        "lc_collate",
        "C.UTF-8",
        Access::ReadOnly,
        false,
        "Shows the collation order locale.",
    ),
    spec(
        "lc_ctype",
        "C.UTF-8",
        Access::ReadOnly,
        false,
        "Shows the character classification and case conversion locale.",
    ),
    spec(
        "lc_messages",
        "C.UTF-8",
        Access::User,
        false,
        "Sets the language in which messages are displayed.",
    ),
    spec(
        "lock_timeout",
        "0",
        Access::User,
        false,
        "Sets the maximum allowed duration of any wait for a lock.",
    ),
    spec(
        "max_identifier_length",
        "63",
        Access::ReadOnly,
        false,
        "Shows the maximum identifier length.",
    ),
    spec(
        "search_path",
        "\"$user\", public",
        Access::User,
        false,
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    spec(
        "server_encoding",
        "UTF8",
        Access::ReadOnly,
        true,
        "Shows the server (database) character set encoding.",
    ),
    spec(
        "server_version",
        "15.0",
        Access::ReadOnly,
        true,
        "Shows the server version.",
    ),
    spec(
        "server_version_num",
        "150000",
        Access::ReadOnly,
        false,
        "Shows the server version as an integer.",
    ),
    spec(
        "session_authorization",
        "root",
        Access::ReadOnly,
        true,
        "Sets the session user name.",
    ),
    spec(
        "standard_conforming_strings",
        "on",
        Access::User,
        true,
        "Causes '...' strings to treat backslashes literally.",
    ),
    spec(
        "statement_timeout",
        "0",
        Access::User,
        false,
        "Sets the maximum allowed duration of any statement (milliseconds).",
    ),
    spec(
        "TimeZone",
        "UTC",
        Access::User,
        true,
        "Sets the time zone for displaying and interpreting time stamps.",
    ),
    spec(
        "transaction_isolation",
        "serializable",
        Access::User,
        false,
        "Sets the current transaction's isolation level.",
    ),
    spec(
        "transaction_read_only",
        "off",
        Access::User,
        false,
        "Sets the current transaction's read-only status.",
    ),
];

const fn spec(
    name: &'static str,
    default: &'static str,
    access: Access,
    report: bool,
    description: &'static str,
) -> Spec {
    Spec {
        name,
        default,
        access,
        report,
        description,
    }
}

fn find(name: &str) -> Option<&'static Spec> {
    let lower = name.to_ascii_lowercase();
    let lower = match lower.as_str() {
        // Aliases PostgreSQL and CockroachDB accept.
        "time zone" | "time_zone" | "timezone" => "timezone",
        "transaction isolation level" => "transaction_isolation",
        "names" => "client_encoding",
        other => other,
    }
    .to_string();
    SPECS.iter().find(|s| s.name.eq_ignore_ascii_case(&lower))
}

/// 42704 for a setting nobody knows.
pub fn unrecognized(name: &str) -> Error {
    Error::new(
        code::UNDEFINED_OBJECT,
        format!(
            "unrecognized configuration parameter \"{}\"",
            name.to_ascii_lowercase()
        ),
    )
}

fn invalid_value(name: &str, value: &str) -> Error {
    Error::new(
        code::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{name}\": \"{value}\""),
    )
}

/// Whether `zone` names UTC.
pub fn is_utc(zone: &str) -> bool {
    matches!(
        zone.trim().to_ascii_lowercase().as_str(),
        "utc"
            | "etc/utc"
            | "gmt"
            | "etc/gmt"
            | "z"
            | "zulu"
            | "universal"
            | "etc/universal"
            | "uct"
            | "etc/uct"
            | "+00"
            | "+00:00"
            | "-00"
            | "0"
            | "+0"
            | "-0"
            | "00:00"
            | "gmt0"
            | "utc0"
            | "etc/gmt0"
            | "etc/gmt+0"
            | "etc/gmt-0"
            | "greenwich"
            | "etc/zulu"
    )
}

/// A setting's value after validation (canonical spelling), or the error PostgreSQL gives.
fn validate(spec: &Spec, value: &str) -> Result<String> {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    match spec.name {
        "client_encoding" => match lower.replace(['-', '_'], "").as_str() {
            "utf8" | "unicode" => Ok("UTF8".into()),
            _ => Err(invalid_value(spec.name, v)
                .with_detail("Meridian supports only the UTF8 client encoding.")),
        },
        "TimeZone" => {
            if is_utc(v) {
                Ok("UTC".into())
            } else {
                Err(invalid_value(spec.name, v).with_hint("Meridian supports only the UTC time zone."))
            }
        }
        "DateStyle" => {
            let mut order = "MDY";
            for part in lower.split(',').map(str::trim) {
                match part {
                    "iso" | "" => {}
                    "mdy" | "us" | "noneuropean" | "non-european" => order = "MDY",
                    "dmy" | "european" | "euro" => order = "DMY",
                    "ymd" => order = "YMD",
                    _ => {
                        return Err(invalid_value(spec.name, v)
                            .with_detail("Meridian supports only the ISO output format."))
                    }
                }
            }
            Ok(format!("ISO, {order}"))
        }
        "IntervalStyle" => match lower.as_str() {
            "postgres" => Ok(lower),
            _ => Err(invalid_value(spec.name, v)
                .with_detail("Meridian supports only the postgres interval style.")),
        },
        "standard_conforming_strings" => match parse_bool(&lower) {
            Some(true) => Ok("on".into()),
            _ => Err(invalid_value(spec.name, v)
                .with_detail("Meridian supports only standard_conforming_strings = on.")),
        },
        "default_transaction_read_only"
        | "transaction_read_only"
        | "default_transaction_use_follower_reads"
        | "enable_implicit_select_for_update" => match parse_bool(&lower) {
            Some(b) => Ok(if b { "on" } else { "off" }.into()),
            None => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!("parameter \"{}\" requires a Boolean value", spec.name),
            )),
        },
        "extra_float_digits" => match v.parse::<i32>() {
            Ok(n) if (-15..=3).contains(&n) => Ok(n.to_string()),
            Ok(n) => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!("{n} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"),
            )),
            Err(_) => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"extra_float_digits\": \"{v}\""),
            )),
        },
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            parse_duration_ms(v).map(|ms| ms.to_string()).ok_or_else(|| invalid_value(spec.name, v))
        }
        "transaction_isolation" | "default_transaction_isolation" => {
            match lower.replace('_', " ").as_str() {
                "serializable" | "repeatable read" | "read committed" | "read uncommitted"
                | "snapshot" | "default" => Ok("serializable".into()),
                _ => Err(invalid_value(spec.name, v)),
            }
        }
        "bytea_output" => match lower.as_str() {
            "hex" => Ok(lower),
            _ => Err(invalid_value(spec.name, v).with_detail("Meridian supports only hex.")),
        },
        "client_min_messages" => match lower.as_str() {
            "debug5" | "debug4" | "debug3" | "debug2" | "debug1" | "debug" | "log" | "notice"
            | "warning" | "error" => Ok(lower),
            _ => Err(invalid_value(spec.name, v)),
        },
        _ => Ok(v.to_string()),
    }
}

/// PostgreSQL's boolean spellings for settings.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Some(true),
        "off" | "false" | "no" | "0" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// A duration setting in milliseconds: a bare number is milliseconds; units ms, s, min, h, d.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// One row of SHOW ALL / pg_settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingRow {
    /// Canonical name.
    pub name: String,
    /// Current value.
    pub value: String,
    /// Description.
    pub description: String,
}

/// The session's settings.
#[derive(Debug, Clone)]
pub struct Vars {
    values: BTreeMap<&'static str, String>,
    /// Changed reportable settings not yet sent as ParameterStatus.
    pending_reports: Vec<(String, String)>,
}

impl Vars {
    /// Defaults, with the user and database of the connection.
    pub fn new(user: &str, database: &str) -> Vars {
        let mut values: BTreeMap<&'static str, String> = SPECS
            .iter()
            .map(|s| (s.name, s.default.to_string()))
            .collect();
        values.insert("session_authorization", user.to_string());
        values.insert("database", database.to_string());
        Vars {
            values,
            pending_reports: Vec::new(),
        }
    }

    /// The canonical name of a known setting.
    pub fn canonical_name(name: &str) -> Result<&'static str> {
        find(name).map(|s| s.name).ok_or_else(|| unrecognized(name))
    }

    /// The current value of `name` (42704 if unknown).
    pub fn get(&self, name: &str) -> Result<String> {
        let spec = find(name).ok_or_else(|| unrecognized(name))?;
        Ok(self.values.get(spec.name).cloned().unwrap_or_default())
    }

    /// Validates and sets `name`; returns the canonical name. Read-only settings fail with
    /// 55P02 like PostgreSQL's "cannot be changed". `database` is validated by the session.
    pub fn set(&mut self, name: &str, value: &str) -> Result<&'static str> {
        let spec = find(name).ok_or_else(|| unrecognized(name))?;
        if spec.access == Access::ReadOnly {
            return Err(Error::new(
                "55P02",
                format!("parameter \"{}\" cannot be changed", spec.name),
            ));
        }
        let v = validate(spec, value)?;
        self.store(spec, v);
        Ok(spec.name)
    }

    /// Sets without validation (the session's own bookkeeping, e.g. `database`).
    pub fn set_internal(&mut self, name: &'static str, value: String) {
        if let Some(spec) = find(name) {
            self.store(spec, value);
        }
    }

    fn store(&mut self, spec: &'static Spec, v: String) {
        let changed = self.values.get(spec.name) != Some(&v);
        self.values.insert(spec.name, v.clone());
        if changed && spec.report {
            self.pending_reports.push((spec.name.to_string(), v));
        }
    }

    /// Resets `name` to its default (the connection's database for `database`).
    pub fn reset(&mut self, name: &str) -> Result<&'static str> {
        let spec = find(name).ok_or_else(|| unrecognized(name))?;
        if spec.access == Access::ReadOnly {
            return Err(Error::new(
                "55P02",
                format!("parameter \"{}\" cannot be changed", spec.name),
            ));
        }
        self.store(spec, spec.default.to_string());
        Ok(spec.name)
    }

    /// Resets every user-settable setting except `database` (RESET ALL / DISCARD ALL).
    pub fn reset_all(&mut self) {
        for spec in SPECS {
            if spec.access == Access::User && spec.name != "database" {
                self.store(spec, spec.default.to_string());
            }
        }
    }

    /// Every setting, sorted by name (SHOW ALL, pg_settings).
    pub fn all(&self) -> Vec<SettingRow> {
        SPECS
            .iter()
            .map(|s| SettingRow {
                name: s.name.to_string(),
                value: self.values.get(s.name).cloned().unwrap_or_default(),
                description: s.description.to_string(),
            })
            .collect()
    }

    /// The settings reported to the client at startup (ParameterStatus).
    pub fn startup_reports(&self) -> Vec<(String, String)> {
        SPECS
            .iter()
            .filter(|s| s.report)
            .map(|s| {
                (
                    s.name.to_string(),
                    self.values.get(s.name).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Takes the reportable settings changed since the last call.
    pub fn take_reports(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.pending_reports)
    }

    /// statement_timeout in milliseconds (0: none).
    pub fn statement_timeout_ms(&self) -> u64 {
        self.values
            .get("statement_timeout")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Whether new transactions default to read-only.
    pub fn default_read_only(&self) -> bool {
        self.values
            .get("default_transaction_read_only")
            .map(|v| v == "on")
            .unwrap_or(false)
    }

    /// `default_transaction_use_follower_reads`: whether read-only transactions read at
    /// `follower_read_timestamp()` (see [`super::staleness`]).
    pub fn use_follower_reads(&self) -> bool {
        self.values
            .get("default_transaction_use_follower_reads")
            .is_some_and(|v| v == "on")
    }

    /// `enable_implicit_select_for_update`: whether UPDATE/DELETE/UPSERT lock what they read.
    pub fn implicit_select_for_update(&self) -> bool {
        self.values
            .get("enable_implicit_select_for_update")
            .map(|v| v == "on")
            .unwrap_or(true)
    }

    /// The static description of a setting (pg_settings).
    pub fn description(name: &str) -> Option<&'static str> {
        find(name).map(|s| s.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_show_reset_with_postgres_spellings() {
        let mut v = Vars::new("root", "defaultdb");
        assert_eq!(v.get("datestyle").unwrap(), "ISO, MDY");
        v.set("DATESTYLE", "iso, dmy").unwrap();
        assert_eq!(v.get("DateStyle").unwrap(), "ISO, DMY");
        v.set("timezone", "Etc/UTC").unwrap();
        assert_eq!(v.get("TimeZone").unwrap(), "UTC");
        assert_eq!(
            v.set("TimeZone", "America/New_York").unwrap_err().code,
            "22023"
        );
        assert_eq!(
            v.set("client_encoding", "LATIN1").unwrap_err().code,
            "22023"
        );
        assert_eq!(v.set("no_such_thing", "1").unwrap_err().code, "42704");
        assert_eq!(v.get("no_such_thing").unwrap_err().code, "42704");
        assert_eq!(v.set("server_version", "16").unwrap_err().code, "55P02");
        v.set("transaction_isolation", "read committed").unwrap();
        assert_eq!(v.get("transaction_isolation").unwrap(), "serializable");
        v.set("statement_timeout", "2s").unwrap();
        assert_eq!(v.statement_timeout_ms(), 2000);
        assert_eq!(v.set("extra_float_digits", "9").unwrap_err().code, "22023");
        v.reset("DateStyle").unwrap();
        assert_eq!(v.get("DateStyle").unwrap(), "ISO, MDY");
        let reports = v.take_reports();
        assert!(reports.iter().any(|(n, _)| n == "DateStyle"));
        assert!(v.take_reports().is_empty());
    }
}

//! Turning a query's text results into sqllogictest values and comparing them with a record's
//! expectation: value formatting per column type and dialect, sort modes, result modes, and
//! the "N values hashing to <md5>" form.

use super::parse::{Dialect, Extra};
use md5::{Digest, Md5};
use sqllogictest::{DefaultColumnType, ResultMode, SortMode};

/// Formats one text value from the server as the test file expects to see it.
///
/// - NULL prints as `NULL`;
/// - the empty string as `(empty)` (SQLite) or `·` (CockroachDB);
/// - `R` columns with three decimals in SQLite files (its C runner's `%.3f`);
/// - `B` columns as `true`/`false` in CockroachDB files (PostgreSQL's text form is `t`/`f`).
pub fn format_value(v: Option<&str>, ty: Option<&DefaultColumnType>, dialect: Dialect) -> String {
    let Some(v) = v else {
        return "NULL".to_string();
    };
    if v.is_empty() {
        return match dialect {
            Dialect::Sqlite => "(empty)".to_string(),
            Dialect::Cockroach => "·".to_string(),
        };
    }
    match (dialect, ty) {
        (Dialect::Sqlite, Some(DefaultColumnType::FloatingPoint)) => match v.parse::<f64>() {
            Ok(f) => format!("{f:.3}"),
            Err(_) => v.to_string(),
        },
        (Dialect::Sqlite, Some(DefaultColumnType::Integer)) => {
            // SQLite's runner prints integer columns with sqlite3_column_int64: a float or
            // decimal result in an I column prints truncated.
            if v.parse::<i64>().is_err() {
                if let Ok(f) = v.parse::<f64>() {
                    if f.is_finite() && f.abs() < 9.2e18 {
                        return format!("{}", f.trunc() as i64);
                    }
                }
            }
            v.to_string()
        }
        (Dialect::Cockroach, Some(DefaultColumnType::Any)) if v == "t" || v == "f" => {
            if v == "t" { "true" } else { "false" }.to_string()
        }
        _ => v.to_string(),
    }
}

/// What a query returned, already formatted.
#[derive(Debug, Clone, Default)]
pub struct Actual {
    /// Column names.
    pub columns: Vec<String>,
    /// Formatted rows.
    pub rows: Vec<Vec<String>>,
}

/// How results are to be compared.
#[derive(Debug, Clone, Copy)]
pub struct CompareMode {
    /// The record's (or file's) sort mode.
    pub sort: SortMode,
    /// Value-per-line or row-per-line expectations.
    pub result_mode: ResultMode,
    /// Hash results with more values than this (0: never).
    pub hash_threshold: u64,
    /// The file's dialect.
    pub dialect: Dialect,
}

/// Whether `actual` matches `expected` lines. On mismatch returns the actual output as lines,
/// ready for a failure report.
pub fn compare(
    actual: &Actual,
    expected: &[String],
    ncols: usize,
    mode: CompareMode,
    extra: &Extra,
) -> Result<(), Vec<String>> {
    let mut expected = expected.to_vec();
    let mut header = None;
    if extra.colnames && !expected.is_empty() {
        header = Some(normalize(&expected.remove(0)));
    }
    let mut rows = actual.rows.clone();
    let values_sorted = match mode.sort {
        SortMode::NoSort => false,
        SortMode::RowSort => {
            rows.sort();
            false
        }
        SortMode::ValueSort => {
            let mut values: Vec<String> = rows.iter().flatten().cloned().collect();
            values.sort();
            rows = values.into_iter().map(|v| vec![v]).collect();
            true
        }
    };
    let nvalues = if values_sorted {
        rows.len()
    } else {
        rows.len() * ncols.max(1)
    };
    let lines: Vec<String> = if mode.hash_threshold > 0 && nvalues as u64 > mode.hash_threshold {
        let mut h = Md5::new();
        for v in rows.iter().flatten() {
            h.update(v.as_bytes());
            h.update(b"\n");
        }
        vec![format!(
            "{} values hashing to {:x}",
            rows.iter().flatten().count(),
            h.finalize()
        )]
    } else {
        match mode.result_mode {
            ResultMode::ValueWise => rows.iter().flatten().map(|v| normalize(v)).collect(),
            ResultMode::RowWise => rows.iter().map(|r| normalize(&r.join(" "))).collect(),
        }
    };
    let want: Vec<String> = expected.iter().map(|l| normalize(l)).collect();
    let header_ok = match &header {
        Some(h) => *h == normalize(&actual.columns.join(" ")),
        None => true,
    };
    if header_ok && (lines == want || cockroach_match(&want, &rows, mode)) {
        return Ok(());
    }
    let mut shown = Vec::new();
    if header.is_some() {
        shown.push(actual.columns.join(" "));
    }
    shown.extend(rows.iter().map(|r| r.join(" ")));
    Err(shown)
}

/// CockroachDB's runner compares whitespace-separated fields, whether the expectation lists
/// one value per line or one row per line, and sorts expected rows too under rowsort.
fn cockroach_match(want: &[String], rows: &[Vec<String>], mode: CompareMode) -> bool {
    if mode.dialect != Dialect::Cockroach {
        return false;
    }
    let actual_rows: Vec<String> = rows.iter().map(|r| normalize(&r.join(" "))).collect();
    if matches!(mode.sort, SortMode::RowSort) && want.len() == actual_rows.len() {
        let mut w = want.to_vec();
        w.sort();
        let mut a = actual_rows.clone();
        a.sort();
        if w == a {
            return true;
        }
    }
    let fields = |ls: &[String]| -> Vec<String> {
        ls.iter()
            .flat_map(|l| l.split_whitespace().map(str::to_string))
            .collect()
    };
    fields(&actual_rows) == fields(want)
}

/// Trims and collapses runs of whitespace (sqllogictest-rs's default normaliser).
pub fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(sort: SortMode, rm: ResultMode, hash: u64) -> CompareMode {
        CompareMode {
            sort,
            result_mode: rm,
            hash_threshold: hash,
            dialect: Dialect::Sqlite,
        }
    }

    #[test]
    fn values() {
        use DefaultColumnType::*;
        assert_eq!(format_value(None, Some(&Integer), Dialect::Sqlite), "NULL");
        assert_eq!(
            format_value(Some(""), Some(&Text), Dialect::Sqlite),
            "(empty)"
        );
        assert_eq!(format_value(Some(""), Some(&Text), Dialect::Cockroach), "·");
        assert_eq!(
            format_value(Some("1.5"), Some(&FloatingPoint), Dialect::Sqlite),
            "1.500"
        );
        assert_eq!(
            format_value(Some("-7.9"), Some(&Integer), Dialect::Sqlite),
            "-7"
        );
        assert_eq!(
            format_value(Some("t"), Some(&Any), Dialect::Cockroach),
            "true"
        );
        assert_eq!(
            format_value(Some("t"), Some(&Text), Dialect::Cockroach),
            "t"
        );
    }

    #[test]
    fn sorting_and_hashing() {
        let actual = Actual {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec!["2".into(), "x".into()], vec!["1".into(), "y".into()]],
        };
        let e = Extra::default();
        let vw = ResultMode::ValueWise;
        let exp = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(compare(
            &actual,
            &exp(&["1", "y", "2", "x"]),
            2,
            mode(SortMode::RowSort, vw, 8),
            &e
        )
        .is_ok());
        assert!(compare(
            &actual,
            &exp(&["2", "x", "1", "y"]),
            2,
            mode(SortMode::NoSort, vw, 8),
            &e
        )
        .is_ok());
        assert!(compare(
            &actual,
            &exp(&["1", "2", "x", "y"]),
            2,
            mode(SortMode::ValueSort, vw, 8),
            &e
        )
        .is_ok());
        assert!(compare(
            &actual,
            &exp(&["2 x", "1 y"]),
            2,
            mode(SortMode::NoSort, ResultMode::RowWise, 0),
            &e
        )
        .is_ok());
        assert!(compare(
            &actual,
            &exp(&["1", "y", "2", "x"]),
            2,
            mode(SortMode::NoSort, vw, 8),
            &e
        )
        .is_err());
        // md5("1\ny\n2\nx\n")
        let hashed = compare(
            &actual,
            &exp(&["4 values hashing to 0"]),
            2,
            mode(SortMode::RowSort, vw, 2),
            &e,
        );
        let shown = hashed.unwrap_err();
        assert_eq!(shown, vec!["1 y".to_string(), "2 x".to_string()]);
        let digest = format!("{:x}", Md5::digest(b"1\ny\n2\nx\n"));
        let line = format!("4 values hashing to {digest}");
        assert!(compare(&actual, &[line], 2, mode(SortMode::RowSort, vw, 2), &e).is_ok());
    }
}

//! A sqllogictest runner that counts every record.
//!
//! The stock runner of the sqllogictest crate stops a file at its first failure, which says
//! nothing about how much of the file passes. This one uses the crate's parser ([`parse`]) but
//! its own loop: every statement and query is run and counted as passed or failed, and the run
//! continues. Records skipped by `skipif`/`onlyif` are counted apart and are not "run". Blocks
//! that cannot be parsed, and records using features the runner does not support (`user
//! testuser`, `let`, `system`, `include`), count as failed: the pass rate never flatters.
//!
//! Each file runs in a fresh database (`CREATE DATABASE slt_<pid>_<n>`, then a connection with
//! that dbname), over pgwire with the simple query protocol; values are compared in text form,
//! formatted as the file's dialect expects ([`compare`]).
//!
//! Defaults per dialect (see /work/shared/slt/README.md): SQLite files run with
//! `resultmode valuewise` and `hash-threshold 8` unless they say otherwise; CockroachDB files
//! row-wise without hashing. Labels: `postgresql` and `meridian`.

pub mod compare;
pub mod parse;

use compare::{Actual, CompareMode};
use parse::{Dialect, Extra, Item};
use sqllogictest::{
    Control, DefaultColumnType, ExpectedError, QueryExpect, Record, ResultMode, SortMode,
    StatementExpect,
};
use std::path::Path;
use std::time::Duration;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Runner settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Labels for `skipif`/`onlyif`.
    pub labels: Vec<String>,
    /// Longest a single record may run before it counts as failed.
    pub record_timeout: Duration,
    /// How many failures per file to keep for the report.
    pub keep_failures: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            labels: vec!["postgresql".into(), "meridian".into()],
            record_timeout: Duration::from_secs(60),
            keep_failures: 0,
        }
    }
}

/// One failed record.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 1-based line of the record's block.
    pub line: usize,
    /// The SQL (or block text).
    pub sql: String,
    /// What went wrong.
    pub message: String,
}

/// The outcome of one file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// The file, as given.
    pub path: String,
    /// Records run (passed + failed; includes unparseable/unsupported ones).
    pub run: usize,
    /// Records that passed.
    pub passed: usize,
    /// Records skipped by conditions.
    pub skipped: usize,
    /// Of the failed, how many could not be parsed or use unsupported features.
    pub unsupported: usize,
    /// The first failures (up to [`Options::keep_failures`]).
    pub failures: Vec<Failure>,
    /// Set when the file could not run at all (e.g. the database could not be created).
    pub aborted: Option<String>,
}

impl FileReport {
    /// Records that failed.
    pub fn failed(&self) -> usize {
        self.run - self.passed
    }

    /// Pass rate in percent (100 when nothing ran and nothing aborted).
    pub fn pct(&self) -> f64 {
        if self.run == 0 {
            if self.aborted.is_some() {
                0.0
            } else {
                100.0
            }
        } else {
            100.0 * self.passed as f64 / self.run as f64
        }
    }

    fn fail(&mut self, keep: usize, line: usize, sql: &str, message: String) {
        self.run += 1;
        if self.failures.len() < keep {
            self.failures.push(Failure {
                line,
                sql: sql.to_string(),
                message,
            });
        }
    }

    fn pass(&mut self) {
        self.run += 1;
        self.passed += 1;
    }
}

/// Which dialect a file is written in: CockroachDB's for files under a `cockroach` directory.
pub fn dialect_of(path: &Path) -> Dialect {
    if path.components().any(|c| c.as_os_str() == "cockroach") {
        Dialect::Cockroach
    } else {
        Dialect::Sqlite
    }
}

/// Per-file mutable state of the loop.
struct FileState {
    dialect: Dialect,
    sort: SortMode,
    result_mode: ResultMode,
    hash_threshold: u64,
    /// Set by `user <name>` for a user other than root: records then count as unsupported.
    foreign_user: Option<String>,
}

/// Runs one file against the server at `base` in a fresh database `db`.
pub async fn run_file(
    base: &tokio_postgres::Config,
    path: &Path,
    db: &str,
    opts: &Options,
) -> FileReport {
    let mut report = FileReport {
        path: path.display().to_string(),
        ..Default::default()
    };
    let script = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            report.aborted = Some(format!("cannot read file: {e}"));
            return report;
        }
    };
    let dialect = dialect_of(path);
    let items = parse::parse_script(&script, dialect);
    if let Err(e) = create_database(base, db).await {
        report.aborted = Some(format!("cannot create database {db}: {e}"));
        return report;
    }
    let mut cfg = base.clone();
    cfg.dbname(db);
    let mut client = connect(&cfg).await.ok();
    let mut state = FileState {
        dialect,
        sort: SortMode::NoSort,
        result_mode: if dialect == Dialect::Sqlite {
            ResultMode::ValueWise
        } else {
            ResultMode::RowWise
        },
        hash_threshold: if dialect == Dialect::Sqlite { 8 } else { 0 },
        foreign_user: None,
    };
    'items: for item in items {
        match item {
            Item::User(u) => state.foreign_user = (u != "root").then_some(u),
            Item::Unparseable { line, reason, text } => {
                report.unsupported += 1;
                report.fail(
                    opts.keep_failures,
                    line,
                    &text,
                    format!("unparseable: {reason}"),
                );
            }
            Item::Records {
                line,
                records,
                extra,
            } => {
                let mut halt_conditions_hold = true;
                for record in records {
                    if client.is_none() {
                        client = connect(&cfg).await.ok();
                    }
                    match record {
                        Record::Condition(c) => {
                            halt_conditions_hold &= !should_skip(&[c], &opts.labels)
                        }
                        Record::Halt { .. } if halt_conditions_hold => break 'items,
                        Record::HashThreshold { threshold, .. } => state.hash_threshold = threshold,
                        Record::Control(Control::SortMode(m)) => state.sort = m,
                        Record::Control(Control::ResultMode(m)) => state.result_mode = m,
                        r @ (Record::Statement { .. } | Record::Query { .. }) => {
                            run_record(&mut client, r, line, &extra, &state, opts, &mut report)
                                .await
                        }
                        Record::Let { sql, .. } | Record::System { command: sql, .. } => {
                            report.unsupported += 1;
                            report.fail(
                                opts.keep_failures,
                                line,
                                &sql,
                                "unsupported record kind".into(),
                            );
                        }
                        Record::Include { filename, .. } => {
                            report.unsupported += 1;
                            report.fail(
                                opts.keep_failures,
                                line,
                                &filename,
                                "include unsupported".into(),
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    drop(client);
    drop_database(base, db).await;
    report
}

fn should_skip(conditions: &[sqllogictest::Condition], labels: &[String]) -> bool {
    conditions.iter().any(|c| match c {
        sqllogictest::Condition::OnlyIf { label } => !labels.contains(label),
        sqllogictest::Condition::SkipIf { label } => labels.contains(label),
    })
}

/// Runs a statement or query record and counts it.
async fn run_record(
    client: &mut Option<Client>,
    record: Record<DefaultColumnType>,
    line: usize,
    extra: &Extra,
    state: &FileState,
    opts: &Options,
    report: &mut FileReport,
) {
    let (conditions, sql) = match &record {
        Record::Statement {
            conditions, sql, ..
        }
        | Record::Query {
            conditions, sql, ..
        } => (conditions, sql.clone()),
        _ => return,
    };
    if should_skip(conditions, &opts.labels) {
        report.skipped += 1;
        return;
    }
    let keep = opts.keep_failures;
    if let Some(u) = &state.foreign_user {
        report.unsupported += 1;
        return report.fail(keep, line, &sql, format!("runs as user {u}: unsupported"));
    }
    let Some(c) = client.as_ref() else {
        return report.fail(keep, line, &sql, "no connection to the server".into());
    };
    let result = match tokio::time::timeout(opts.record_timeout, c.simple_query(&sql)).await {
        Ok(r) => r,
        Err(_) => {
            // The connection may still be busy with the statement: start a fresh one.
            *client = None;
            return report.fail(
                keep,
                line,
                &sql,
                format!("timed out after {:?}", opts.record_timeout),
            );
        }
    };
    if let Err(e) = &result {
        if e.as_db_error().is_none() {
            *client = None;
        }
    }
    let verdict = match record {
        Record::Statement { expected, .. } => check_statement(result, &expected, extra),
        Record::Query { expected, .. } => check_query(result, &expected, extra, state),
        _ => Ok(()),
    };
    match verdict {
        Ok(()) => report.pass(),
        Err(msg) => report.fail(keep, line, &sql, msg),
    }
}

type SimpleResult = Result<Vec<SimpleQueryMessage>, tokio_postgres::Error>;

fn check_statement(
    result: SimpleResult,
    expected: &StatementExpect,
    extra: &Extra,
) -> Result<(), String> {
    match (result, expected) {
        (Ok(_), StatementExpect::Ok) => Ok(()),
        (Ok(msgs), StatementExpect::Count(n)) => {
            let got = msgs.iter().rev().find_map(|m| match m {
                SimpleQueryMessage::CommandComplete(c) => Some(*c),
                _ => None,
            });
            if got == Some(*n) {
                Ok(())
            } else {
                Err(format!("expected {n} rows affected, got {got:?}"))
            }
        }
        (Ok(_), StatementExpect::Error(e)) => {
            Err(format!("expected error {e}, statement succeeded"))
        }
        (Err(e), StatementExpect::Error(want)) => check_error(&e, want, extra),
        (Err(e), _) => Err(error_text(&e)),
    }
}

fn check_query(
    result: SimpleResult,
    expected: &QueryExpect<DefaultColumnType>,
    extra: &Extra,
    state: &FileState,
) -> Result<(), String> {
    let msgs = match (result, expected) {
        (Err(e), QueryExpect::Error(want)) => return check_error(&e, want, extra),
        (Err(e), _) => return Err(error_text(&e)),
        (Ok(_), QueryExpect::Error(e)) => {
            return Err(format!("expected error {e}, query succeeded"))
        }
        (Ok(msgs), _) => msgs,
    };
    let QueryExpect::Results {
        types,
        sort_mode,
        result_mode,
        results,
        ..
    } = expected
    else {
        return Ok(());
    };
    let mut actual = Actual::default();
    for m in &msgs {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                actual.columns = cols.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(r) => actual.rows.push(
                (0..r.len())
                    .map(|i| compare::format_value(r.get(i), types.get(i), state.dialect))
                    .collect(),
            ),
            _ => {}
        }
    }
    let ncols = actual
        .rows
        .first()
        .map(Vec::len)
        .unwrap_or(actual.columns.len());
    let mode = CompareMode {
        sort: sort_mode.unwrap_or(state.sort),
        result_mode: result_mode.unwrap_or(state.result_mode),
        hash_threshold: state.hash_threshold,
        dialect: state.dialect,
    };
    compare::compare(&actual, results, ncols, mode, extra).map_err(|shown| {
        format!(
            "result mismatch\n    expected:\n{}\n    actual:\n{}",
            indent(results),
            indent(&shown)
        )
    })
}

fn indent(lines: &[String]) -> String {
    let mut out: Vec<String> = lines
        .iter()
        .take(20)
        .map(|l| format!("        {l}"))
        .collect();
    if lines.len() > 20 {
        out.push(format!("        ... ({} lines)", lines.len()));
    }
    out.join("\n")
}

fn check_error(
    e: &tokio_postgres::Error,
    want: &ExpectedError,
    extra: &Extra,
) -> Result<(), String> {
    let Some(db) = e.as_db_error() else {
        return Err(format!("connection error: {e}"));
    };
    let code = db.code().code();
    if let Some(pgcode) = &extra.pgcode {
        if pgcode != code {
            return Err(format!("expected SQLSTATE {pgcode}, got {}", error_text(e)));
        }
    }
    let msg = db.message();
    if want.is_match(msg, Some(code)) || want.is_match(&format!("pq: {msg}"), Some(code)) {
        Ok(())
    } else {
        Err(format!("expected error {want}, got {}", error_text(e)))
    }
}

fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("ERROR: {} (SQLSTATE {})", db.message(), db.code().code()),
        None => format!("ERROR: {e}"),
    }
}

async fn connect(cfg: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = cfg.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn create_database(base: &tokio_postgres::Config, db: &str) -> Result<(), String> {
    let client = connect(base).await.map_err(|e| e.to_string())?;
    let _ = client
        .simple_query(&format!("DROP DATABASE IF EXISTS {db}"))
        .await;
    client
        .simple_query(&format!("CREATE DATABASE {db}"))
        .await
        .map(|_| ())
        .map_err(|e| error_text(&e))
}

async fn drop_database(base: &tokio_postgres::Config, db: &str) {
    if let Ok(client) = connect(base).await {
        if client
            .simple_query(&format!("DROP DATABASE IF EXISTS {db} CASCADE"))
            .await
            .is_err()
        {
            let _ = client
                .simple_query(&format!("DROP DATABASE IF EXISTS {db}"))
                .await;
        }
    }
}

/// Runs `files` (up to `jobs` at a time), each in its own database, and returns the reports
/// in the order given.
pub async fn run_files(
    base: &tokio_postgres::Config,
    files: &[std::path::PathBuf],
    jobs: usize,
    opts: &Options,
) -> Vec<FileReport> {
    use futures::stream::{self, StreamExt};
    let pid = std::process::id();
    stream::iter(files.iter().enumerate())
        .map(|(i, f)| {
            let db = format!("slt_{pid}_{i}");
            async move { run_file(base, f, &db, opts).await }
        })
        .buffered(jobs.max(1))
        .collect()
        .await
}

/// One line per file: `path: passed/run (pct%)` plus skipped/unsupported counts.
pub fn summary_line(r: &FileReport) -> String {
    let mut s = format!("{}: {}/{} ({:.1}%)", r.path, r.passed, r.run, r.pct());
    if r.skipped > 0 || r.unsupported > 0 {
        s.push_str(&format!(
            "  [skipped by condition: {}, unparseable/unsupported: {}]",
            r.skipped, r.unsupported
        ));
    }
    if let Some(a) = &r.aborted {
        s.push_str(&format!("  ABORTED: {a}"));
    }
    s
}

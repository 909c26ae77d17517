//! `meridian sql`: a SQL shell for people without psql.
//!
//! It speaks pgwire through tokio-postgres with the simple query protocol, so it works against
//! Meridian and PostgreSQL alike. Three modes:
//! - interactive (stdin is a terminal): rustyline line editing, history in `~/.meridian_history`,
//!   statements may span lines and run when a top-level `;` ends them ([`split`]), results print
//!   as psql-style tables ([`format`]), Ctrl-C clears the input (or cancels a running query),
//!   Ctrl-D or `\q` quits;
//! - `-e <stmt>` (repeatable): run the statements, print results, exit 1 on the first error;
//! - piped stdin: run the script, exit 1 on the first error (CockroachDB's `errexit`).
//!
//! Errors print as `ERROR: <message>` then `SQLSTATE: <code>` on stderr, plus DETAIL/HINT
//! lines when the server sent them.
//!
//! IMPLEMENTATION CAVEATS
//! - The simple protocol's CommandComplete tag is not exposed by tokio-postgres, only its row
//!   count, so the tag printed for a command ("INSERT 0 3", "CREATE TABLE") is rebuilt from the
//!   statement's leading keywords and that count.
//! - No TLS (the server has none yet): URLs must use `sslmode=disable` or `prefer`.

pub mod format;
pub mod split;

use anyhow::{anyhow, Context, Result};
use format::ResultTable;
use std::io::{IsTerminal, Read, Write};
use std::time::Instant;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// What `meridian sql` was asked to do.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    /// Connection URL (`postgresql://root@host:port/db?sslmode=disable`).
    pub url: String,
    /// Statements given with `-e`; empty for interactive/stdin mode.
    pub execute: Vec<String>,
}

/// What one statement produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Rows with a header.
    Table(ResultTable),
    /// A command's tag.
    Command(String),
}

/// Runs the shell; returns the process exit code.
pub async fn run(opts: ShellOptions) -> Result<i32> {
    let mut conn = Connection::open(&opts.url).await?;
    if !opts.execute.is_empty() {
        for stmts in &opts.execute {
            let code = run_script(&mut conn, stmts).await;
            if code != 0 {
                return Ok(code);
            }
        }
        return Ok(0);
    }
    if std::io::stdin().is_terminal() {
        interactive(conn).await
    } else {
        let mut script = String::new();
        std::io::stdin()
            .read_to_string(&mut script)
            .context("reading stdin")?;
        Ok(run_script(&mut conn, &script).await)
    }
}

/// A connection and what the prompt shows about it.
pub struct Connection {
    client: Client,
    config: tokio_postgres::Config,
    database: String,
    timing: bool,
}

impl Connection {
    /// Connects to `url` (no TLS).
    pub async fn open(url: &str) -> Result<Connection> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow!("invalid connection URL {url:?}: {e}"))?;
        if config.get_user().is_none() {
            config.user("root");
        }
        if config.get_dbname().is_none() {
            config.dbname("defaultdb");
        }
        config.application_name("meridian sql");
        Self::with_config(config).await
    }

    async fn with_config(config: tokio_postgres::Config) -> Result<Connection> {
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            anyhow!(
                "cannot connect to {}: {}",
                describe(&config),
                error_text(&e)
            )
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed: {e}");
            }
        });
        let database = config.get_dbname().unwrap_or("defaultdb").to_string();
        Ok(Connection {
            client,
            config,
            database,
            timing: false,
        })
    }

    /// Runs one statement.
    pub async fn execute(&mut self, sql: &str) -> Result<Vec<Outcome>, tokio_postgres::Error> {
        let messages = self.client.simple_query(sql).await?;
        let outcomes = collect_outcomes(sql, messages);
        let lower = sql.trim_start().to_ascii_lowercase();
        if lower.starts_with("use ") || lower.starts_with("set ") {
            if let Ok(rows) = self.client.simple_query("SELECT current_database()").await {
                if let Some(SimpleQueryMessage::Row(r)) = rows
                    .iter()
                    .find(|m| matches!(m, SimpleQueryMessage::Row(_)))
                {
                    self.database = r.get(0).unwrap_or_default().to_string();
                }
            }
        }
        Ok(outcomes)
    }

    fn prompt(&self) -> String {
        let user = self.config.get_user().unwrap_or("root");
        format!("{user}@{}/{}> ", describe(&self.config), self.database)
    }
}

/// Turns simple-query messages into outcomes, one per statement.
fn collect_outcomes(sql: &str, messages: Vec<SimpleQueryMessage>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut table: Option<ResultTable> = None;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                table = Some(ResultTable {
                    columns: cols.iter().map(|c| c.name().to_string()).collect(),
                    rows: Vec::new(),
                });
            }
            SimpleQueryMessage::Row(r) => {
                let t = table.get_or_insert_with(|| ResultTable {
                    columns: r.columns().iter().map(|c| c.name().to_string()).collect(),
                    rows: Vec::new(),
                });
                t.rows
                    .push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
            }
            SimpleQueryMessage::CommandComplete(n) => match table.take() {
                Some(t) => outcomes.push(Outcome::Table(t)),
                None => outcomes.push(Outcome::Command(command_tag(sql, n))),
            },
            _ => {}
        }
    }
    outcomes
}

/// Rebuilds a CommandComplete tag from the statement and its row count.
pub fn command_tag(sql: &str, rows: u64) -> String {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    let first = words.first().map(String::as_str).unwrap_or("");
    match first {
        "INSERT" | "UPSERT" => format!("INSERT 0 {rows}"),
        "UPDATE" | "DELETE" | "MOVE" | "FETCH" | "COPY" => format!("{first} {rows}"),
        "CREATE" | "DROP" | "ALTER" => {
            let second = words.get(1).map(String::as_str).unwrap_or("");
            match second {
                "UNIQUE" => format!("{first} INDEX"),
                "" => first.to_string(),
                _ => format!("{first} {second}"),
            }
        }
        "" => "EMPTY".to_string(),
        _ => first.to_string(),
    }
}

/// Prints outcomes to stdout.
fn print_outcomes(outcomes: &[Outcome]) {
    let mut out = std::io::stdout().lock();
    for o in outcomes {
        let _ = match o {
            Outcome::Table(t) => writeln!(out, "{}", format::render(t)),
            Outcome::Command(tag) => writeln!(out, "{tag}"),
        };
    }
}

/// The error as the shell prints it: `ERROR: msg`, optional DETAIL/HINT, `SQLSTATE: code`.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("ERROR: {}", db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!("\nDETAIL: {d}"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("\nHINT: {h}"));
            }
            s.push_str(&format!("\nSQLSTATE: {}", db.code().code()));
            s
        }
        None => format!("ERROR: {e}"),
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(26257);
    format!("{host}:{port}")
}

/// Runs a script statement by statement; stops at the first error. Returns the exit code.
async fn run_script(conn: &mut Connection, script: &str) -> i32 {
    for item in split::split_all(script) {
        let ok = if item.starts_with('\\') {
            match meta_command(conn, &item).await {
                Meta::Continue(ok) => ok,
                Meta::Quit => return 0,
            }
        } else {
            run_one(conn, &item).await
        };
        if !ok {
            return 1;
        }
    }
    0
}

/// Runs and prints one statement; false on error.
async fn run_one(conn: &mut Connection, stmt: &str) -> bool {
    let start = Instant::now();
    let result = conn.execute(stmt).await;
    match result {
        Ok(outcomes) => {
            print_outcomes(&outcomes);
            if conn.timing {
                println!("Time: {:.3} ms\n", start.elapsed().as_secs_f64() * 1000.0);
            }
            true
        }
        Err(e) => {
            eprintln!("{}", error_text(&e));
            false
        }
    }
}

/// What a backslash command asks of the loop.
enum Meta {
    /// Keep going; whether the command succeeded.
    Continue(bool),
    Quit,
}

const HELP: &str = "\
You are using 'meridian sql', Meridian's SQL shell.
Type SQL statements ending with a semicolon; they may span several lines.
  \\q, quit, exit   leave the shell (also Ctrl-D)
  \\?               this help
  \\l               list databases
  \\dt              list tables in the current database
  \\d [TABLE]       list tables, or describe TABLE's columns
  \\c DATABASE      connect to another database
  \\timing          toggle printing how long each statement took
Ctrl-C clears the current input, or cancels a running statement.";

async fn meta_command(conn: &mut Connection, line: &str) -> Meta {
    let mut parts = line.split_whitespace();
    let cmd = parts.next().unwrap_or("");
    let arg = parts.next();
    let sql = match (cmd, arg) {
        ("\\q", _) => return Meta::Quit,
        ("\\?", _) | ("\\h", _) => {
            println!("{HELP}");
            return Meta::Continue(true);
        }
        ("\\timing", _) => {
            conn.timing = !conn.timing;
            println!("Timing is {}.", if conn.timing { "on" } else { "off" });
            return Meta::Continue(true);
        }
        ("\\c" | "\\connect", Some(db)) => {
            let mut config = conn.config.clone();
            config.dbname(db);
            return match Connection::with_config(config).await {
                Ok(new) => {
                    let timing = conn.timing;
                    *conn = new;
                    conn.timing = timing;
                    println!("You are now connected to database \"{db}\".");
                    Meta::Continue(true)
                }
                Err(e) => {
                    eprintln!("{e:#}");
                    Meta::Continue(false)
                }
            };
        }
        ("\\l", _) => "SHOW DATABASES".to_string(),
        ("\\dt", _) | ("\\d", None) => "SHOW TABLES".to_string(),
        ("\\d", Some(t)) => format!("SHOW COLUMNS FROM {t}"),
        _ => {
            eprintln!("invalid command {cmd}. Try \\? for help.");
            return Meta::Continue(false);
        }
    };
    Meta::Continue(run_one(conn, &sql).await)
}

/// The interactive loop.
async fn interactive(mut conn: Connection) -> Result<i32> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new().context("initialising line editor")?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".meridian_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("# Welcome to the Meridian SQL shell.\n# Enter \\? for a brief introduction.\n#");
    let mut splitter = split::Splitter::new();
    loop {
        let prompt = if splitter.is_empty() {
            conn.prompt()
        } else {
            format!("{}-> ", " ".repeat(conn.prompt().len().saturating_sub(3)))
        };
        let line = match tokio::task::block_in_place(|| editor.readline(&prompt)) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                splitter.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("reading input"),
        };
        let trimmed = line.trim();
        if splitter.is_empty() {
            if trimmed.is_empty() {
                continue;
            }
            if matches!(trimmed, "quit" | "exit" | "quit;" | "exit;") {
                break;
            }
        }
        for item in splitter.push(&format!("{line}\n")) {
            if item.starts_with('\\') {
                let _ = editor.add_history_entry(item.as_str());
                if let Meta::Quit = meta_command(&mut conn, &item).await {
                    return finish(editor, history);
                }
                continue;
            }
            let _ = editor.add_history_entry(format!("{item};"));
            run_interruptible(&mut conn, &item).await;
        }
    }
    finish(editor, history)
}

fn finish(
    mut editor: rustyline::DefaultEditor,
    history: Option<std::path::PathBuf>,
) -> Result<i32> {
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(0)
}

/// Runs a statement; Ctrl-C sends a cancel request to the server.
async fn run_interruptible(conn: &mut Connection, stmt: &str) {
    let token = conn.client.cancel_token();
    let cancel = async {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = token.cancel_query(NoTls).await;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = run_one(conn, stmt) => {}
        _ = cancel => {}
    }
}

#[cfg(test)]
mod tests {
    use super::command_tag;

    #[test]
    fn tags() {
        assert_eq!(command_tag("insert into t values (1)", 3), "INSERT 0 3");
        assert_eq!(command_tag("UPSERT INTO t VALUES (1)", 1), "INSERT 0 1");
        assert_eq!(command_tag("update t set a = 1", 2), "UPDATE 2");
        assert_eq!(command_tag("create table t (a int)", 0), "CREATE TABLE");
        assert_eq!(
            command_tag("create unique index i on t (a)", 0),
            "CREATE INDEX"
        );
        assert_eq!(command_tag("begin", 0), "BEGIN");
    }
}

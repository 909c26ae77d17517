//! Small SQL-client helpers shared by the demo and the harness: connecting, and running
//! statements that may not be supported yet, recording what happened instead of failing.

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::{Client, NoTls};

/// Connects to `url` and drives the connection in the background.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// One line of an error: the server's message and SQLSTATE, or the client error.
pub fn short_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// What became of one statement run with [`try_statements`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The statement (first line only for long ones).
    pub statement: String,
    /// `None`: it succeeded. Otherwise the error, or why it was skipped.
    pub error: Option<String>,
}

impl Outcome {
    /// Whether the statement ran successfully.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default().trim();
    if s.lines().nth(1).is_some() {
        format!("{line} ...")
    } else {
        line.to_string()
    }
}

/// Runs `groups` of statements in order. A failing statement skips the rest of its group
/// (they depend on it); with `stop_all_on_first_group` a failure in the first group skips
/// every later group too. Never fails: every statement's fate is in the result.
pub async fn try_statements(
    client: &Client,
    groups: &[Vec<String>],
    stop_all_on_first_group: bool,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut skip_all: Option<String> = None;
    for (gi, group) in groups.iter().enumerate() {
        let mut skip_group: Option<String> = skip_all.clone();
        for stmt in group {
            let statement = first_line(stmt);
            if let Some(why) = &skip_group {
                out.push(Outcome {
                    statement,
                    error: Some(format!("skipped: {why}")),
                });
                continue;
            }
            match client.simple_query(stmt).await {
                Ok(_) => out.push(Outcome {
                    statement,
                    error: None,
                }),
                Err(e) => {
                    let err = short_error(&e);
                    tracing::warn!(%statement, error = %err, "statement not applied");
                    skip_group = Some(format!("`{statement}` failed"));
                    if gi == 0 && stop_all_on_first_group {
                        skip_all = skip_group.clone();
                    }
                    out.push(Outcome {
                        statement,
                        error: Some(err),
                    });
                }
            }
        }
    }
    out
}

//! The harness's schema: one database per survival goal, each with one table per table
//! locality, and rows homed in every region.
//!
//! Each statement is tried in its multi-region form first; when the SQL layer rejects it
//! (the statement is not supported yet), the plain form is run instead so the workload still
//! measures something, and the rejection is recorded for the report. A table whose
//! multi-region form failed is measured as an ordinary table: the report marks it so.

use super::sqlutil::{short_error, Outcome};
use anyhow::{anyhow, Result};
use serde::Serialize;
use tokio_postgres::Client;

/// A survival goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Survival {
    /// `SURVIVE ZONE FAILURE` (CockroachDB's default).
    Zone,
    /// `SURVIVE REGION FAILURE`.
    Region,
}

impl Survival {
    /// Both goals, in report order.
    pub const ALL: [Survival; 2] = [Survival::Zone, Survival::Region];

    /// `zone` / `region`.
    pub fn name(self) -> &'static str {
        match self {
            Survival::Zone => "zone",
            Survival::Region => "region",
        }
    }

    /// The database measuring this goal.
    pub fn database(self) -> String {
        format!("mr_{}", self.name())
    }

    fn clause(self) -> &'static str {
        match self {
            Survival::Zone => "SURVIVE ZONE FAILURE",
            Survival::Region => "SURVIVE REGION FAILURE",
        }
    }
}

/// A table locality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Locality {
    /// `REGIONAL BY TABLE IN PRIMARY REGION`.
    #[serde(rename = "REGIONAL BY TABLE")]
    RegionalByTable,
    /// `REGIONAL BY ROW` (rows homed in the region of the gateway that inserted them).
    #[serde(rename = "REGIONAL BY ROW")]
    RegionalByRow,
    /// `GLOBAL`.
    #[serde(rename = "GLOBAL")]
    Global,
}

impl Locality {
    /// Every locality, in report order.
    pub const ALL: [Locality; 3] = [
        Locality::RegionalByTable,
        Locality::RegionalByRow,
        Locality::Global,
    ];

    /// The table measuring this locality.
    pub fn table(self) -> &'static str {
        match self {
            Locality::RegionalByTable => "rbt",
            Locality::RegionalByRow => "rbr",
            Locality::Global => "glob",
        }
    }

    /// As written in SQL and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Locality::RegionalByTable => "REGIONAL BY TABLE",
            Locality::RegionalByRow => "REGIONAL BY ROW",
            Locality::Global => "GLOBAL",
        }
    }

    fn clause(self) -> &'static str {
        match self {
            Locality::RegionalByTable => "LOCALITY REGIONAL BY TABLE IN PRIMARY REGION",
            Locality::RegionalByRow => "LOCALITY REGIONAL BY ROW",
            Locality::Global => "LOCALITY GLOBAL",
        }
    }
}

/// The first row id of `region_index`'s rows: each region's client touches its own rows.
pub fn row_base(region_index: usize) -> i64 {
    region_index as i64 * 1_000_000
}

/// Bound on one setup statement: a statement that hangs fails the run with its text instead
/// of stalling it.
pub const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs one statement, bounded by [`SETUP_TIMEOUT`]; the error is one line.
async fn exec(client: &Client, stmt: &str) -> std::result::Result<(), String> {
    match tokio::time::timeout(SETUP_TIMEOUT, client.simple_query(stmt)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(short_error(&e)),
        Err(_) => Err(format!("no answer within {SETUP_TIMEOUT:?}")),
    }
}

/// Makes `db` the session's current database.
pub async fn use_database(client: &Client, db: &str) -> Result<()> {
    exec(client, &format!("SET database = {db}"))
        .await
        .map_err(|e| anyhow!("SET database = {db}: {e}"))
}

/// Runs `stmt`; on failure records it and runs `fallback` (if any) instead.
async fn with_fallback(
    client: &Client,
    stmt: String,
    fallback: Option<String>,
    log: &mut Vec<Outcome>,
) -> Result<()> {
    match exec(client, &stmt).await {
        Ok(()) => {
            log.push(Outcome {
                statement: stmt,
                error: None,
            });
            Ok(())
        }
        Err(err) => {
            tracing::warn!(statement = %stmt, error = %err, "harness statement rejected");
            log.push(Outcome {
                statement: stmt.clone(),
                error: Some(err.clone()),
            });
            let Some(fb) = fallback else {
                return Err(anyhow!("{stmt}: {err}"));
            };
            exec(client, &fb).await.map_err(|e| anyhow!("{fb}: {e}"))?;
            log.push(Outcome {
                statement: fb,
                error: None,
            });
            Ok(())
        }
    }
}

/// Creates the databases and tables through `client` (any database) and returns what
/// happened to each statement. `regions[0]` is the primary region.
pub async fn create(client: &Client, regions: &[String]) -> Result<Vec<Outcome>> {
    let mut log = Vec::new();
    let (primary, others) = regions
        .split_first()
        .ok_or_else(|| anyhow!("the harness needs at least one region"))?;
    let quoted: Vec<String> = others.iter().map(|r| format!("\"{r}\"")).collect();
    let regions_clause = if quoted.is_empty() {
        String::new()
    } else {
        format!(" REGIONS {}", quoted.join(", "))
    };
    for goal in Survival::ALL {
        let db = goal.database();
        exec(client, &format!("DROP DATABASE IF EXISTS {db} CASCADE"))
            .await
            .map_err(|e| anyhow!("dropping {db} from an earlier run: {e}"))?;
        let mr = format!(
            "CREATE DATABASE {db} PRIMARY REGION \"{primary}\"{regions_clause} {}",
            goal.clause()
        );
        with_fallback(client, mr, Some(format!("CREATE DATABASE {db}")), &mut log).await?;
        use_database(client, &db).await?;
        for loc in Locality::ALL {
            let plain = format!(
                "CREATE TABLE {} (id INT8 PRIMARY KEY, v INT8 NOT NULL)",
                loc.table()
            );
            let mr = format!("{plain} {}", loc.clause());
            with_fallback(client, mr, Some(plain), &mut log).await?;
        }
    }
    Ok(log)
}

/// Inserts `rows` rows homed in region `region_index` into every table, through `client`
/// connected to a gateway in that region (so a REGIONAL BY ROW row's home defaults to it).
/// A table that cannot be loaded is recorded and skipped (its operations will fail and be
/// counted), so one broken path does not stop the measurement of the others.
pub async fn load_rows(client: &Client, region_index: usize, rows: usize) -> Result<Vec<Outcome>> {
    let base = row_base(region_index);
    let values: Vec<String> = (0..rows as i64)
        .map(|k| format!("({}, 0)", base + k))
        .collect();
    let mut log = Vec::new();
    for goal in Survival::ALL {
        use_database(client, &goal.database()).await?;
        for loc in Locality::ALL {
            let stmt = format!(
                "INSERT INTO {} (id, v) VALUES {}",
                loc.table(),
                values.join(", ")
            );
            if let Err(e) = exec(client, &stmt).await {
                tracing::warn!(db = %goal.database(), table = loc.table(), error = %e, "loading rows failed");
                log.push(Outcome {
                    statement: format!(
                        "INSERT INTO {}.{} ({rows} rows)",
                        goal.database(),
                        loc.table()
                    ),
                    error: Some(e),
                });
            }
        }
    }
    Ok(log)
}

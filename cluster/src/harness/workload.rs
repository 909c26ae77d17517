//! The harness's scripted workload: one client per (region, survival goal), each cycling
//! through every table locality and operation on rows homed in its own region, recording
//! latency per (survival goal, locality, operation, client region, phase).
//!
//! A client connects to a node of its region; when the connection fails (the node stopped)
//! it moves to the next node of the region, as a client behind a regional load balancer
//! would. An operation the SQL layer rejects as unsupported (SQLSTATE 0A000, 42601 or 42883)
//! is reported once and not tried again; every other error is counted in its phase.

use super::schema::{row_base, use_database, Locality, Survival};
use super::sqlutil::{connect, short_error};
use crate::workload::OpStats;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, Statement};

/// SQLSTATEs that mean "this statement is not supported (yet)".
const UNSUPPORTED_CODES: [&str; 3] = ["0A000", "42601", "42883"];

/// How long a client waits after a failed connection before trying the next node.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// One operation of the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `SELECT v FROM t WHERE id = $1` (a row homed in the client's region).
    PointRead,
    /// `UPDATE t SET v = v + 1 WHERE id = $1`.
    PointWrite,
    /// `SELECT ... AS OF SYSTEM TIME follower_read_timestamp() WHERE id = $1`.
    FollowerRead,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 3] = [Op::PointRead, Op::PointWrite, Op::FollowerRead];

    /// As printed in the report.
    pub fn name(self) -> &'static str {
        match self {
            Op::PointRead => "point read",
            Op::PointWrite => "point write",
            Op::FollowerRead => "follower read",
        }
    }

    /// The statement on `table`.
    pub fn sql(self, table: &str) -> String {
        match self {
            Op::PointRead => format!("SELECT v FROM {table} WHERE id = $1"),
            Op::PointWrite => format!("UPDATE {table} SET v = v + 1 WHERE id = $1"),
            Op::FollowerRead => format!(
                "SELECT v FROM {table} AS OF SYSTEM TIME follower_read_timestamp() WHERE id = $1"
            ),
        }
    }
}

/// What the latencies are keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The database's survival goal.
    pub survival: Survival,
    /// The table's locality.
    pub locality: Locality,
    /// The operation.
    pub op: Op,
    /// The client's region.
    pub region: String,
    /// The phase (index into the phase names).
    pub phase: usize,
}

/// Everything the clients record, shared between them.
#[derive(Default)]
pub struct Recorder {
    /// Latencies and error counts per key.
    pub stats: Mutex<BTreeMap<Key, OpStats>>,
    /// Error counts per phase and message.
    pub errors: Mutex<BTreeMap<(usize, String), u64>>,
    /// Operations found unsupported, with the server's message.
    pub unsupported: Mutex<BTreeMap<(Survival, Locality, Op), String>>,
}

/// The shared settings of a run.
pub struct Script {
    /// When the workload started.
    pub start: Instant,
    /// When it stops.
    pub end: Instant,
    /// Offset of the failure from `start` (phase 1 begins there).
    pub fail_at: Option<Duration>,
    /// Follower reads start here (their timestamp must be after the rows were loaded).
    pub follower_ready: Instant,
    /// Rows homed in each region.
    pub rows: usize,
    /// Bound on one operation.
    pub op_timeout: Duration,
}

impl Script {
    fn phase(&self, at: Instant) -> usize {
        match self.fail_at {
            Some(f) if at >= self.start + f => 1,
            _ => 0,
        }
    }
}

/// One client: its region, the nodes it may use there, and its database.
pub struct ClientSpec {
    /// The client's region.
    pub region: String,
    /// Index of the region (selects the client's rows).
    pub region_index: usize,
    /// SQL URLs of the region's nodes, in preference order.
    pub urls: Vec<String>,
    /// The survival goal (selects the database).
    pub survival: Survival,
}

struct Conn {
    client: Client,
    prepared: HashMap<(Locality, Op), Statement>,
}

impl Recorder {
    fn error(&self, phase: usize, what: String) {
        *self.errors.lock().entry((phase, what)).or_default() += 1;
    }
}

/// Runs one client until the script ends.
pub async fn run_client(spec: ClientSpec, script: Arc<Script>, rec: Arc<Recorder>) {
    let mut conn: Option<Conn> = None;
    let mut url_idx = 0usize;
    let mut counter = 0u64;
    let db = spec.survival.database();
    while Instant::now() < script.end {
        let Some(c) = conn.as_mut() else {
            let url = &spec.urls[url_idx % spec.urls.len().max(1)];
            match open(url, &db).await {
                Ok(client) => {
                    conn = Some(Conn {
                        client,
                        prepared: HashMap::new(),
                    })
                }
                Err(e) => {
                    let phase = script.phase(Instant::now());
                    rec.error(phase, format!("{}: connect: {e:#}", spec.region));
                    url_idx += 1;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
            continue;
        };
        let mut lost = false;
        'ops: for loc in Locality::ALL {
            for op in Op::ALL {
                let now = Instant::now();
                if now >= script.end {
                    break 'ops;
                }
                if (op == Op::FollowerRead && now < script.follower_ready)
                    || rec
                        .unsupported
                        .lock()
                        .contains_key(&(spec.survival, loc, op))
                {
                    continue;
                }
                let id = row_base(spec.region_index) + (counter % script.rows.max(1) as u64) as i64;
                counter += 1;
                if !one_op(c, &spec, loc, op, id, &script, &rec).await {
                    lost = true;
                    break 'ops;
                }
            }
        }
        if lost {
            conn = None;
            url_idx += 1;
        }
    }
}

async fn open(url: &str, db: &str) -> anyhow::Result<Client> {
    let client = connect(url).await?;
    use_database(&client, db).await?;
    Ok(client)
}

/// Runs one operation and records it; false when the connection must be replaced.
async fn one_op(
    c: &mut Conn,
    spec: &ClientSpec,
    loc: Locality,
    op: Op,
    id: i64,
    script: &Script,
    rec: &Recorder,
) -> bool {
    let started = Instant::now();
    let phase = script.phase(started);
    let key = Key {
        survival: spec.survival,
        locality: loc,
        op,
        region: spec.region.clone(),
        phase,
    };
    let result = tokio::time::timeout(script.op_timeout, async {
        if !c.prepared.contains_key(&(loc, op)) {
            let stmt = c.client.prepare(&op.sql(loc.table())).await?;
            c.prepared.insert((loc, op), stmt);
        }
        match c.prepared.get(&(loc, op)) {
            Some(stmt) => c.client.query(stmt, &[&id]).await.map(|_| ()),
            None => Ok(()),
        }
    })
    .await;
    let what = format!(
        "{} {} {} ({} survival)",
        spec.region,
        op.name(),
        loc.name(),
        spec.survival.name()
    );
    match result {
        Ok(Ok(())) => {
            rec.stats
                .lock()
                .entry(key)
                .or_default()
                .record(started.elapsed());
            true
        }
        Ok(Err(e)) => {
            let unsupported = e
                .as_db_error()
                .is_some_and(|d| UNSUPPORTED_CODES.contains(&d.code().code()));
            if unsupported {
                rec.unsupported
                    .lock()
                    .entry((spec.survival, loc, op))
                    .or_insert_with(|| format!("{}: {}", op.sql(loc.table()), short_error(&e)));
                return true;
            }
            rec.stats.lock().entry(key).or_default().errors += 1;
            rec.error(phase, format!("{what}: {}", short_error(&e)));
            // A server error leaves the connection usable; a closed one does not.
            e.as_db_error().is_some()
        }
        Err(_) => {
            rec.stats.lock().entry(key).or_default().errors += 1;
            rec.error(
                phase,
                format!("{what}: no answer within {:?}", script.op_timeout),
            );
            false
        }
    }
}

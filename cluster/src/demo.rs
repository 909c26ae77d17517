//! `meridian demo`: a node on a temporary store, loaded with a small `movr` data set (a
//! ride-sharing company's users, vehicles and rides, after CockroachDB's demo), served until
//! Ctrl-C. The store directory is deleted when the demo exits.
//!
//! The data is loaded over pgwire through the node's own SQL port, so the demo exercises the
//! same path as any client. It is generated deterministically (a fixed-seed linear
//! congruential generator), so every demo shows the same rows.

use crate::config::{NodeConfig, StoreSpec};
use crate::node::{sql_url, start_single_node, NodeHandle};
use anyhow::{anyhow, Context, Result};
use tokio_postgres::NoTls;

/// Number of users loaded.
pub const DEMO_USERS: usize = 100;
/// Number of vehicles loaded.
pub const DEMO_VEHICLES: usize = 50;
/// Number of rides loaded.
pub const DEMO_RIDES: usize = 500;
/// Rows per INSERT statement while loading.
const INSERT_BATCH_ROWS: usize = 50;

const CITIES: [&str; 6] = [
    "new york",
    "boston",
    "washington dc",
    "seattle",
    "san francisco",
    "los angeles",
];
const FIRST: [&str; 10] = [
    "Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jo",
];
const LAST: [&str; 8] = [
    "Smith", "Garcia", "Nguyen", "Okafor", "Kowalski", "Rossi", "Kim", "Silva",
];
const STREETS: [&str; 6] = [
    "Main St",
    "Oak Ave",
    "Pine St",
    "Elm St",
    "Lake Rd",
    "Hill Blvd",
];
const VEHICLE_TYPES: [&str; 3] = ["scooter", "bike", "skateboard"];
const STATUSES: [&str; 3] = ["available", "in_use", "lost"];

/// The schema, created in database `movr`.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE users (
        id INT PRIMARY KEY,
        city VARCHAR(40) NOT NULL,
        name TEXT NOT NULL,
        address TEXT,
        credit_card TEXT
    )",
    "CREATE TABLE vehicles (
        id INT PRIMARY KEY,
        city VARCHAR(40) NOT NULL,
        type TEXT NOT NULL,
        owner_id INT NOT NULL,
        creation_time TIMESTAMP NOT NULL,
        status TEXT NOT NULL DEFAULT 'available',
        current_location TEXT
    )",
    "CREATE INDEX vehicles_city_status_idx ON vehicles (city, status)",
    "CREATE TABLE rides (
        id INT PRIMARY KEY,
        city VARCHAR(40) NOT NULL,
        vehicle_id INT NOT NULL,
        rider_id INT NOT NULL,
        start_address TEXT,
        end_address TEXT,
        start_time TIMESTAMP NOT NULL,
        end_time TIMESTAMP,
        revenue DECIMAL(10,2)
    )",
    "CREATE INDEX rides_rider_idx ON rides (rider_id)",
];

/// A fixed-seed generator: the demo data is the same every time.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next(xs.len())]
    }
}

/// The INSERT statements that load the data set, in dependency order.
pub fn data_statements() -> Vec<String> {
    let mut rng = Lcg(20_250_101);
    let mut stmts = Vec::new();
    let users: Vec<String> = (1..=DEMO_USERS)
        .map(|id| {
            let (city, f, l) = (rng.pick(&CITIES), rng.pick(&FIRST), rng.pick(&LAST));
            let addr = format!("{} {}", 1 + rng.next(9999), rng.pick(&STREETS));
            let card = format!("{:04}", rng.next(10_000));
            format!("({id}, '{city}', '{f} {l}', '{addr}', '{card}')")
        })
        .collect();
    push_batches(
        &mut stmts,
        "users (id, city, name, address, credit_card)",
        &users,
    );
    let vehicles: Vec<String> = (1..=DEMO_VEHICLES)
        .map(|id| {
            let (city, ty, status) =
                (rng.pick(&CITIES), rng.pick(&VEHICLE_TYPES), rng.pick(&STATUSES));
            let owner = 1 + rng.next(DEMO_USERS);
            let day = 1 + rng.next(28);
            let loc = format!("{} {}", 1 + rng.next(9999), rng.pick(&STREETS));
            format!(
                "({id}, '{city}', '{ty}', {owner}, '2025-01-{day:02} 08:00:00', '{status}', '{loc}')"
            )
        })
        .collect();
    let cols = "vehicles (id, city, type, owner_id, creation_time, status, current_location)";
    push_batches(&mut stmts, cols, &vehicles);
    let rides: Vec<String> = (1..=DEMO_RIDES)
        .map(|id| {
            let city = rng.pick(&CITIES);
            let (vehicle, rider) = (1 + rng.next(DEMO_VEHICLES), 1 + rng.next(DEMO_USERS));
            let from = format!("{} {}", 1 + rng.next(9999), rng.pick(&STREETS));
            let to = format!("{} {}", 1 + rng.next(9999), rng.pick(&STREETS));
            let (day, hour, mins) = (1 + rng.next(28), rng.next(23), 5 + rng.next(50));
            let cents = 200 + rng.next(9800);
            format!(
                "({id}, '{city}', {vehicle}, {rider}, '{from}', '{to}', \
                 '2025-02-{day:02} {hour:02}:00:00', '2025-02-{day:02} {hour:02}:{mins:02}:00', \
                 {}.{:02})",
                cents / 100,
                cents % 100
            )
        })
        .collect();
    let cols = "rides (id, city, vehicle_id, rider_id, start_address, end_address, start_time, \
                end_time, revenue)";
    push_batches(&mut stmts, cols, &rides);
    stmts
}

fn push_batches(stmts: &mut Vec<String>, target: &str, rows: &[String]) {
    for chunk in rows.chunks(INSERT_BATCH_ROWS) {
        stmts.push(format!("INSERT INTO {target} VALUES {}", chunk.join(", ")));
    }
}

/// Creates database `movr` and loads the data set through the node at `node`.
pub async fn load_movr(node: &NodeHandle) -> Result<()> {
    run_statements(
        &sql_url(node.sql_addr(), "defaultdb"),
        &["CREATE DATABASE movr".into()],
    )
    .await?;
    let mut stmts: Vec<String> = SCHEMA.iter().map(|s| s.to_string()).collect();
    stmts.extend(data_statements());
    run_statements(&sql_url(node.sql_addr(), "movr"), &stmts).await
}

async fn run_statements(url: &str, stmts: &[String]) -> Result<()> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let task = tokio::spawn(conn);
    for s in stmts {
        client.simple_query(s).await.map_err(|e| {
            let first_line = s.lines().next().unwrap_or_default();
            anyhow!(
                "loading demo data: {first_line}...: {}",
                crate::shell::error_text(&e)
            )
        })?;
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

/// A running demo: the node plus the temporary directory its store lives in (deleted on drop).
pub struct Demo {
    /// The node.
    pub node: NodeHandle,
    dir: tempfile::TempDir,
}

impl Demo {
    /// Stops the node, then deletes the store directory.
    pub async fn shutdown(self) -> Result<()> {
        let result = self.node.shutdown().await;
        drop(self.dir);
        result
    }
}

/// Starts the demo node (store in a fresh temporary directory) and, when `load` is set, loads
/// the movr data set.
pub async fn start_demo(mut cfg: NodeConfig, load: bool) -> Result<Demo> {
    let dir = tempfile::Builder::new()
        .prefix("meridian-demo-")
        .tempdir()
        .context("creating a temporary store directory")?;
    cfg.store = StoreSpec::Path(dir.path().to_path_buf());
    let node = start_single_node(cfg).await?;
    if load {
        load_movr(&node).await?;
    }
    Ok(Demo { node, dir })
}

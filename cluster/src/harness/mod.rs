//! The multi-region harness (`meridian harness multiregion`): measures what each table
//! locality and survival goal costs a client in each region, under a simulated geography,
//! optionally through the failure of a zone or a whole region.
//!
//! A run:
//! 1. Starts the nine-node global cluster in-process ([`cluster::LocalCluster`], the RTT
//!    matrix of `demo --global` scaled by `--latency-scale`), or uses the region URLs given
//!    with `--url region=url,...` (the first region is the primary region).
//! 2. Creates database `mr_zone` (`SURVIVE ZONE FAILURE`) and `mr_region` (`SURVIVE REGION
//!    FAILURE`), each with tables `rbt` (REGIONAL BY TABLE IN PRIMARY REGION), `rbr`
//!    (REGIONAL BY ROW) and `glob` (GLOBAL), and loads rows homed in every region through a
//!    gateway in that region ([`schema`]). Statements the SQL layer rejects are reported and
//!    replaced by their plain forms.
//! 3. Runs one client per (region, survival goal) for `--duration` ([`workload`]): point
//!    reads, point writes and follower reads (`AS OF SYSTEM TIME follower_read_timestamp()`,
//!    from [`FOLLOWER_READ_DELAY`] after loading on) on each table, its own region's rows.
//! 4. With `--fail-zone Z` or `--fail-region R`, at `--fail-at` stops those nodes (or, with
//!    `--fail-mode partition`, cuts them off through the transport filters); the run is then
//!    reported in two phases.
//! 5. Prints the report ([`report`]): p50/p99 per operation, locality, survival goal, client
//!    region and phase next to the injected RTTs to the primary and the nearest region; errors
//!    per phase; cross-region message counts per phase (from the transport's per-region-pair
//!    counters); the SQL that was not supported.
//!
//! IMPLEMENTATION CAVEATS
//! - Failures can only be injected into the in-process cluster, not into a cluster given
//!   by URL.
//! - Message counts include background traffic (liveness heartbeats, Raft heartbeats, the
//!   allocator's scans), not only the workload's.
//! - Each client runs one operation at a time (no concurrency within a region): the numbers
//!   are latencies, not throughput.

pub mod cluster;
pub mod report;
pub mod schema;
pub mod settle;
pub mod sqlutil;
pub mod workload;

use anyhow::{anyhow, bail, Context as _, Result};
use cluster::{LocalCluster, LocalClusterConfig};
use report::Report;
use schema::Survival;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::{ClientSpec, Recorder, Script};

/// How long after the rows were loaded follower reads start: `follower_read_timestamp()`
/// is 4.8 s in the past, and the rows must exist at that timestamp.
pub const FOLLOWER_READ_DELAY: Duration = Duration::from_millis(5_000);

/// What to fail mid-run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Every node of a zone.
    Zone(String),
    /// Every node of a region.
    Region(String),
}

/// How a failure is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailMode {
    /// Shut the nodes down.
    #[default]
    Stop,
    /// Cut every link between them and the other nodes (their SQL ports stay open).
    Partition,
}

/// Options of a harness run.
#[derive(Debug, Clone)]
pub struct HarnessOptions {
    /// How long the workload runs.
    pub duration: Duration,
    /// Multiplies the built-in RTT matrix (in-process cluster only).
    pub latency_scale: f64,
    /// What to fail, if anything.
    pub failure: Option<Failure>,
    /// When to fail it, from the start of the workload.
    pub fail_at: Duration,
    /// How to fail it.
    pub fail_mode: FailMode,
    /// `(region, url)` of an existing cluster; empty: start the in-process cluster.
    pub urls: Vec<(String, String)>,
    /// Rows homed in each region, per table.
    pub rows: usize,
    /// Bound on one operation.
    pub op_timeout: Duration,
    /// Faster Raft ticks and leases in the in-process cluster (tests).
    pub fast_timing: bool,
    /// How long to wait for placement to settle before measuring (0: do not wait).
    pub settle_timeout: Duration,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            duration: Duration::from_secs(30),
            latency_scale: 1.0,
            failure: None,
            fail_at: Duration::from_secs(10),
            fail_mode: FailMode::Stop,
            urls: Vec::new(),
            rows: 10,
            op_timeout: Duration::from_secs(10),
            fast_timing: false,
            settle_timeout: Duration::from_secs(60),
        }
    }
}

/// Parses `--url us-east1=postgresql://...,us-west1=...`.
pub fn parse_urls(s: &str) -> Result<Vec<(String, String)>> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| match t.split_once('=') {
            Some((r, u)) if !r.trim().is_empty() && u.trim().starts_with("postgres") => {
                Ok((r.trim().to_string(), u.trim().to_string()))
            }
            _ => bail!("--url: expected region=postgresql://..., got {t:?}"),
        })
        .collect()
}

/// The nodes to fail, as indexes into the cluster.
fn failed_nodes(c: &LocalCluster, f: &Failure) -> Result<Vec<usize>> {
    let (idx, kind, name) = match f {
        Failure::Zone(z) => (c.nodes_in_zone(z), "zone", z),
        Failure::Region(r) => (c.nodes_in_region(r), "region", r),
    };
    if idx.is_empty() {
        let known: Vec<String> = match f {
            Failure::Zone(_) => (0..c.len()).map(|i| c.zone(i).to_string()).collect(),
            Failure::Region(_) => c.regions(),
        };
        bail!("no node in {kind} {name:?} (known: {})", known.join(", "));
    }
    Ok(idx)
}

fn describe(f: &Failure, mode: FailMode, at: Duration) -> String {
    let what = match f {
        Failure::Zone(z) => format!("zone {z}"),
        Failure::Region(r) => format!("region {r}"),
    };
    let how = match mode {
        FailMode::Stop => "stopped",
        FailMode::Partition => "partitioned away",
    };
    format!("{what} {how} at {:.1} s", at.as_secs_f64())
}

fn cross_region(c: &BTreeMap<(String, String), u64>) -> BTreeMap<String, u64> {
    c.iter()
        .filter(|((a, b), _)| a != b)
        .map(|((a, b), n)| (format!("{a} -> {b}"), *n))
        .collect()
}

/// Runs the harness and returns its report.
pub async fn run(opts: &HarnessOptions) -> Result<Report> {
    if opts.failure.is_some() && opts.fail_at >= opts.duration {
        bail!("--fail-at must be shorter than --duration");
    }
    let mut cluster = None;
    let targets: Vec<(String, Vec<String>)> = if opts.urls.is_empty() {
        let mut cfg = LocalClusterConfig::global(opts.latency_scale);
        if opts.fast_timing {
            cfg = cfg.fast_timing();
        }
        eprintln!("# starting the nine-node global cluster...");
        let c = LocalCluster::start(cfg).await?;
        let t = c
            .regions()
            .into_iter()
            .map(|r| {
                let urls = c
                    .nodes_in_region(&r)
                    .into_iter()
                    .filter_map(|i| c.url(i, "defaultdb"))
                    .collect();
                (r, urls)
            })
            .collect();
        cluster = Some(c);
        t
    } else {
        if opts.failure.is_some() {
            bail!("--fail-zone/--fail-region need the in-process cluster (drop --url)");
        }
        opts.urls
            .iter()
            .map(|(r, u)| (r.clone(), vec![u.clone()]))
            .collect()
    };
    let result = run_on(opts, cluster.as_mut(), &targets).await;
    if let Some(c) = cluster {
        c.shutdown().await;
    }
    result
}

async fn run_on(
    opts: &HarnessOptions,
    mut cluster: Option<&mut LocalCluster>,
    targets: &[(String, Vec<String>)],
) -> Result<Report> {
    let regions: Vec<String> = targets.iter().map(|(r, _)| r.clone()).collect();
    let first_url = |i: usize| -> Result<&String> {
        targets
            .get(i)
            .and_then(|(_, u)| u.first())
            .ok_or_else(|| anyhow!("no URL for region {i}"))
    };
    let fail_idx = match (&cluster, &opts.failure) {
        (Some(c), Some(f)) => failed_nodes(c, f)?,
        _ => Vec::new(),
    };
    eprintln!("# creating the schema and loading rows in every region...");
    let mut setup = {
        let client = sqlutil::connect(first_url(0)?).await?;
        schema::create(&client, &regions).await?
    };
    for (i, region) in regions.iter().enumerate() {
        let client = sqlutil::connect(first_url(i)?).await?;
        let failed = schema::load_rows(&client, i, opts.rows)
            .await
            .with_context(|| format!("loading rows in {region}"))?;
        setup.extend(failed.into_iter().map(|mut o| {
            o.statement = format!("{} from {region}", o.statement);
            o
        }));
    }
    let misplaced = if opts.settle_timeout.is_zero() {
        0
    } else {
        eprintln!("# waiting for placement to settle (SHOW RANGES of every table)...");
        let client = sqlutil::connect(first_url(0)?).await?;
        // Tests (fast timing) keep CI short: a bounded look, then measure anyway.
        let limit = if opts.fast_timing {
            opts.settle_timeout.min(Duration::from_secs(10))
        } else {
            opts.settle_timeout
        };
        settle::wait_for_placement(&client, &regions, limit).await?
    };
    if misplaced > 0 {
        eprintln!("# placement had not settled ({misplaced} ranges misplaced); measuring anyway");
    }
    let loaded = Instant::now();
    let start = Instant::now();
    let script = Arc::new(Script {
        start,
        end: start + opts.duration,
        fail_at: opts.failure.as_ref().map(|_| opts.fail_at),
        follower_ready: loaded + FOLLOWER_READ_DELAY,
        rows: opts.rows.max(1),
        op_timeout: opts.op_timeout,
    });
    let rec = Arc::new(Recorder::default());
    if let Some(c) = &cluster {
        c.filters.reset_counts();
    }
    eprintln!(
        "# running the workload from {} regions for {:.0?}...",
        regions.len(),
        opts.duration
    );
    let mut clients = Vec::new();
    for (i, (region, urls)) in targets.iter().enumerate() {
        for survival in Survival::ALL {
            let spec = ClientSpec {
                region: region.clone(),
                region_index: i,
                urls: urls.clone(),
                survival,
            };
            clients.push(tokio::spawn(workload::run_client(
                spec,
                script.clone(),
                rec.clone(),
            )));
        }
    }
    let mut counts = Vec::new();
    let mut failure = None;
    if let (Some(f), Some(c)) = (&opts.failure, cluster.as_deref_mut()) {
        tokio::time::sleep_until((start + opts.fail_at).into()).await;
        let desc = describe(f, opts.fail_mode, opts.fail_at);
        eprintln!("# failing {desc}");
        counts.push(cross_region(&c.filters.counts()));
        c.filters.reset_counts();
        match opts.fail_mode {
            FailMode::Stop => c.stop(&fail_idx).await,
            FailMode::Partition => c.partition(&fail_idx),
        }
        failure = Some(desc);
    }
    for t in clients {
        let _ = t.await;
    }
    if let Some(c) = &cluster {
        counts.push(cross_region(&c.filters.counts()));
    }
    let phase_names = match &failure {
        Some(d) => vec!["before failure".to_string(), format!("after {d}")],
        None => vec!["run".to_string()],
    };
    let empty = crate::transport::LatencyMatrix::default();
    let ctx = report::Context {
        regions: &regions,
        latency: cluster.as_ref().map(|c| &c.latency).unwrap_or(&empty),
        latency_scale: if cluster.is_some() {
            opts.latency_scale
        } else {
            0.0
        },
        duration_s: start.elapsed().as_secs_f64(),
        failure,
        phase_names,
        counts,
        setup,
    };
    Ok(report::build(ctx, &rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_lists() {
        let u = parse_urls("us-east1=postgresql://a:1/x, eu=postgres://b:2").unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[1], ("eu".to_string(), "postgres://b:2".to_string()));
        assert!(parse_urls("us-east1").is_err());
        assert!(parse_urls("=postgresql://a").is_err());
        assert!(parse_urls("r=http://a").is_err());
    }
}

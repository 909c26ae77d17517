//! The `meridian` command: CockroachDB's command shapes over Meridian's node library.
//! Parsing and process concerns (logging, signals, exit codes) live here; everything else is
//! in the `cluster` library so tests can drive it in-process.

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use cluster::config::{self, parse_addr, NodeConfig, StoreSpec};
use cluster::{banner, demo, shell, NodeHandle};
use std::net::SocketAddr;
use std::time::Instant;

/// mimalloc instead of glibc's malloc: under TPC-C a node spent about 14% of its CPU in
/// glibc's allocator (malloc, free, consolidation), much of it contended across the request
/// threads (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Meridian: a distributed SQL database speaking the PostgreSQL wire protocol.
#[derive(Parser)]
#[command(name = "meridian", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node of a multi-node cluster (joins --join nodes, or waits for `meridian init`).
    Start(ClusterStartArgs),
    /// Initialise a new cluster on the node at --host (once, after starting the nodes).
    Init(InitArgs),
    /// Start a single-node cluster (no replication) serving SQL on --sql-addr.
    StartSingleNode(StartArgs),
    /// Start a temporary in-process cluster (in memory) with sample data; serve until Ctrl-C.
    Demo(DemoArgs),
    /// Measure a simulated multi-region cluster (latency per locality, survival goal, region).
    #[command(subcommand)]
    Harness(HarnessCommand),
    /// Open a SQL shell, or run statements with -e / from stdin.
    Sql(SqlArgs),
    /// Inspect nodes over gRPC.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Generate load against a SQL server (benchmarks).
    #[command(subcommand)]
    Workload(WorkloadCommand),
    /// Print the version of this binary.
    Version,
}

#[derive(Subcommand)]
enum HarnessCommand {
    /// Every table locality under both survival goals, a client in every region; can fail a
    /// zone or a region mid-run. Prints a latency table next to the injected RTTs.
    Multiregion(HarnessArgs),
}

#[derive(Args)]
struct HarnessArgs {
    /// How long the workload runs (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = cluster::workload::parse_duration)]
    duration: std::time::Duration,
    /// Multiply the built-in RTT matrix (us-east1/us-west1/europe-west1) by this factor.
    #[arg(long, default_value_t = 1.0)]
    latency_scale: f64,
    /// Fail every node of this zone at --fail-at (e.g. us-east1-b).
    #[arg(long, conflicts_with = "fail_region")]
    fail_zone: Option<String>,
    /// Fail every node of this region at --fail-at (e.g. us-west1).
    #[arg(long)]
    fail_region: Option<String>,
    /// When to inject the failure, from the start of the workload.
    #[arg(long, default_value = "10s", value_parser = cluster::workload::parse_duration)]
    fail_at: std::time::Duration,
    /// How to fail: stop the nodes, or partition them away through the transport filter.
    #[arg(long, value_enum, default_value_t = cluster::harness::FailMode::Stop)]
    fail_mode: cluster::harness::FailMode,
    /// Use an existing cluster: region=url,... (first region is the primary region).
    #[arg(long)]
    url: Option<String>,
    /// Rows homed in each region, per table.
    #[arg(long, default_value_t = 10)]
    rows: usize,
    /// How long to wait, after loading, for every table's ranges to reach their placement
    /// (SHOW RANGES) before measuring; 0s measures at once.
    #[arg(long, default_value = "60s", value_parser = cluster::workload::parse_duration)]
    settle_timeout: std::time::Duration,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum WorkloadCommand {
    /// Create and load a workload's tables.
    #[command(subcommand)]
    Init(WorkloadInit),
    /// Run a workload and report throughput and latency.
    #[command(subcommand)]
    Run(WorkloadRun),
    /// Check a workload's consistency conditions after a run.
    #[command(subcommand)]
    Check(WorkloadCheck),
}

#[derive(Subcommand)]
enum WorkloadInit {
    /// Point reads and inserts on kv (k INT8 PRIMARY KEY, v BYTEA).
    Kv(cluster::workload::kv::InitOpts),
    /// Transfers between accounts in bank (id INT8 PRIMARY KEY, balance INT8).
    Bank(cluster::workload::bank::InitOpts),
    /// The nine TPC-C tables, loaded per the spec for --warehouses.
    Tpcc(cluster::workload::tpcc::InitOpts),
}

#[derive(Subcommand)]
enum WorkloadRun {
    /// Point reads and inserts on kv (k INT8 PRIMARY KEY, v BYTEA).
    Kv(cluster::workload::kv::RunOpts),
    /// Transfers between accounts in SERIALIZABLE transactions, retried on 40001.
    Bank(cluster::workload::bank::RunOpts),
    /// TPC-C-like: the five transactions with the spec's mix; reports tpmC.
    Tpcc(cluster::workload::tpcc::RunOpts),
}

#[derive(Subcommand)]
enum WorkloadCheck {
    /// TPC-C consistency conditions 1-4.
    Tpcc(cluster::workload::tpcc::CheckOpts),
}

#[derive(Args)]
struct StartArgs {
    /// Run without TLS or authentication (required: TLS is not built yet).
    #[arg(long)]
    insecure: bool,
    /// Store directory: `<dir>`, `path=<dir>`, or `type=mem` (in memory, lost on exit).
    #[arg(long, default_value = config::DEFAULT_STORE_DIR, value_parser = StoreSpec::parse)]
    store: StoreSpec,
    /// Address for inter-node gRPC traffic and the Admin service (host:port).
    #[arg(long, default_value = config::DEFAULT_LISTEN_ADDR, value_parser = parse_addr)]
    listen_addr: SocketAddr,
    /// Address for SQL (pgwire) clients (host:port).
    #[arg(long, default_value = config::DEFAULT_SQL_ADDR, value_parser = parse_addr)]
    sql_addr: SocketAddr,
    /// Address for HTTP: /health and /_status/vars (host:port).
    #[arg(long, default_value = config::DEFAULT_HTTP_ADDR, value_parser = parse_addr)]
    http_addr: SocketAddr,
}

#[derive(Args)]
struct ClusterStartArgs {
    #[command(flatten)]
    base: StartArgs,
    /// gRPC addresses of nodes to join, comma-separated (host:port,...).
    #[arg(long, value_delimiter = ',')]
    join: Vec<String>,
    /// This node's locality, e.g. region=us-east1,zone=us-east1-b.
    #[arg(long, default_value = "")]
    locality: String,
    /// Voters per range (CockroachDB's num_replicas zone setting; 5 survives two node losses).
    #[arg(long, default_value_t = 3)]
    replication_factor: usize,
    /// Split ranges larger than this many bytes (CockroachDB's range_max_bytes).
    #[arg(long, default_value_t = 64 << 20)]
    range_max_bytes: u64,
    /// Merge adjacent ranges holding fewer bytes than this together (default: a quarter of
    /// --range-max-bytes; CockroachDB's range_min_bytes).
    #[arg(long)]
    range_min_bytes: Option<u64>,
    /// Whether the merge queue joins small adjacent ranges (CockroachDB's
    /// kv.range_merge.queue_enabled): --merge-queue-enabled=false turns it off.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    merge_queue_enabled: bool,
    /// Move a dead node's replicas elsewhere after this long (e.g. 60s, 5m).
    #[arg(long, default_value = "60s", value_parser = cluster::workload::parse_duration)]
    dead_after: std::time::Duration,
    /// Split a range serving more requests per second than this (for 5 s) where its load
    /// divides evenly (CockroachDB's kv.range_split.load_qps_threshold); 0 turns it off.
    #[arg(long, default_value_t = 2500.0)]
    load_split_qps_threshold: f64,
    /// Whether leases and replicas are rebalanced by count between nodes
    /// (--rebalance=false turns it off; placement by locality always runs).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    rebalance: bool,
    /// Maximum clock offset tolerated between nodes, in milliseconds.
    #[arg(long, default_value_t = config::DEFAULT_MAX_OFFSET_MS)]
    max_offset_ms: u64,
    /// Delay messages to other nodes by a region-to-region RTT matrix (testing only):
    /// `a:b=66ms,a:c=88ms,...`, `global` (the demo's matrix) or `@file`.
    #[arg(long)]
    simulated_latency: Option<String>,
    /// Multiply --simulated-latency by this factor.
    #[arg(long, default_value_t = 1.0)]
    latency_scale: f64,
}

#[derive(Args)]
struct InitArgs {
    /// The gRPC address (--listen-addr) of the node to initialise.
    #[arg(long, default_value = config::DEFAULT_LISTEN_ADDR)]
    host: String,
    /// Connect without TLS (the only mode for now).
    #[arg(long)]
    insecure: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Address for SQL (pgwire) clients of node 1; node i uses the port + i - 1.
    #[arg(long, default_value = config::DEFAULT_SQL_ADDR, value_parser = parse_addr)]
    sql_addr: SocketAddr,
    /// Address for HTTP of node 1, numbered like --sql-addr (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0", value_parser = parse_addr)]
    http_addr: SocketAddr,
    /// Accepted for compatibility; in-process nodes talk without gRPC.
    #[arg(long, default_value = "127.0.0.1:0", value_parser = parse_addr)]
    listen_addr: SocketAddr,
    /// Number of nodes (default 1; 9 with --global).
    #[arg(long)]
    nodes: Option<usize>,
    /// Nine nodes in us-east1, us-west1 and europe-west1 with simulated round trips.
    #[arg(long)]
    global: bool,
    /// Multiply the simulated round trips of --global by this factor.
    #[arg(long, default_value_t = 1.0)]
    latency_scale: f64,
    /// Start with an empty cluster instead of loading the movr data set.
    #[arg(long)]
    no_example_database: bool,
}

#[derive(Args)]
struct SqlArgs {
    /// Connection URL; default postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable.
    #[arg(long)]
    url: Option<String>,
    /// Connect without TLS (the only mode for now; accepted for CockroachDB compatibility).
    #[arg(long)]
    insecure: bool,
    /// Server address host:port (overrides the URL's).
    #[arg(long)]
    host: Option<String>,
    /// Database to connect to (overrides the URL's).
    #[arg(long, short = 'd')]
    database: Option<String>,
    /// User to connect as (overrides the URL's).
    #[arg(long, short = 'u')]
    user: Option<String>,
    /// Execute these statements and exit (repeatable); exits non-zero on the first error.
    #[arg(long = "execute", short = 'e')]
    execute: Vec<String>,
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Show a node's id, addresses, version and start time (Admin.NodeStatus RPC).
    Status {
        /// The node's gRPC address (its --listen-addr).
        #[arg(long, default_value = config::DEFAULT_LISTEN_ADDR)]
        host: String,
        /// Connect without TLS (the only mode for now).
        #[arg(long)]
        insecure: bool,
    },
    /// Move every replica off a node so it can be removed; waits and shows progress.
    Decommission {
        /// The node id to decommission.
        node_id: u64,
        /// Any node's gRPC address.
        #[arg(long, default_value = config::DEFAULT_LISTEN_ADDR)]
        host: String,
        /// Connect without TLS (the only mode for now).
        #[arg(long)]
        insecure: bool,
        /// Return after marking the node instead of waiting for its replicas to move.
        #[arg(long)]
        no_wait: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::StartSingleNode(_) | Command::Start(_) => "info",
        _ => "warn",
    };
    init_logging(default_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => fail(anyhow::anyhow!("starting the async runtime: {e}")),
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => fail(e),
    };
    std::process::exit(code);
}

fn fail(e: anyhow::Error) -> ! {
    eprintln!("ERROR: {e:#}");
    std::process::exit(1);
}

/// Logs go to stderr; RUST_LOG overrides the default level (e.g. RUST_LOG=debug).
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Dependencies log per request at INFO and below; keep them quiet by default.
        tracing_subscriber::EnvFilter::new(format!(
            "{default_level},h2=warn,hyper=warn,tower=warn,tonic=warn,pgwire=warn"
        ))
    });
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::StartSingleNode(args) => start(args).await.map(|_| 0),
        Command::Start(args) => start_cluster_node(args).await.map(|_| 0),
        Command::Init(args) => {
            let host = args.host.clone();
            tokio::task::spawn_blocking(move || cluster::clusterctl::init(&host)).await??;
            println!("Cluster successfully initialized");
            Ok(0)
        }
        Command::Node(NodeCommand::Decommission {
            node_id,
            host,
            no_wait,
            ..
        }) => {
            tokio::task::spawn_blocking(move || {
                cluster::clusterctl::decommission(&host, node_id, !no_wait)
            })
            .await??;
            Ok(0)
        }
        Command::Demo(args) => run_demo(args).await.map(|_| 0),
        Command::Harness(HarnessCommand::Multiregion(args)) => run_harness(args).await,
        Command::Sql(args) => sql(args).await,
        Command::Node(NodeCommand::Status { host, .. }) => {
            let h = host.clone();
            if let Ok(Ok(rows)) =
                tokio::task::spawn_blocking(move || cluster::clusterctl::status(&h)).await
            {
                print!("{}", cluster::clusterctl::render_status(&rows));
                return Ok(0);
            }
            // A single-node server (start-single-node) answers only the Admin service.
            let s = cluster::admin::node_status(&host).await?;
            let started = chrono::DateTime::from_timestamp_millis(s.started_at_unix_ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            let table = shell::format::ResultTable {
                columns: [
                    "id",
                    "address",
                    "sql_address",
                    "http_address",
                    "build",
                    "started_at",
                    "draining",
                ]
                .map(String::from)
                .to_vec(),
                rows: vec![[
                    s.node_id.to_string(),
                    s.address,
                    s.sql_address,
                    s.http_address,
                    s.build_version,
                    started,
                    s.draining.to_string(),
                ]
                .map(Some)
                .to_vec()],
            };
            print!("{}", shell::format::render(&table));
            Ok(0)
        }
        Command::Workload(WorkloadCommand::Init(WorkloadInit::Kv(opts))) => {
            cluster::workload::kv::init(&opts).await.map(|_| 0)
        }
        Command::Workload(WorkloadCommand::Run(WorkloadRun::Kv(opts))) => {
            let summaries = cluster::workload::kv::run(&opts).await?;
            if opts.json {
                println!("{}", serde_json::to_string(&summaries)?);
            } else {
                cluster::workload::kv::print_summary(&summaries);
            }
            Ok(0)
        }
        Command::Workload(WorkloadCommand::Init(WorkloadInit::Bank(opts))) => {
            cluster::workload::bank::init(&opts).await.map(|_| 0)
        }
        Command::Workload(WorkloadCommand::Run(WorkloadRun::Bank(opts))) => {
            let result = cluster::workload::bank::run(&opts).await?;
            if opts.json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                cluster::workload::bank::print_result(&result);
            }
            if !result.invariant_ok {
                eprintln!(
                    "ERROR: the total balance changed from {} to {}: a transaction anomaly",
                    result.total_before, result.total_after
                );
                return Ok(1);
            }
            Ok(0)
        }
        Command::Workload(WorkloadCommand::Init(WorkloadInit::Tpcc(opts))) => {
            cluster::workload::tpcc::init(&opts).await.map(|_| 0)
        }
        Command::Workload(WorkloadCommand::Run(WorkloadRun::Tpcc(opts))) => {
            let result = cluster::workload::tpcc::run(&opts).await?;
            if opts.json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                cluster::workload::tpcc::print_result(&result);
            }
            Ok(0)
        }
        Command::Workload(WorkloadCommand::Check(WorkloadCheck::Tpcc(opts))) => {
            let conditions = cluster::workload::tpcc::check(&opts).await?;
            if cluster::workload::tpcc::check::print_check(&conditions) {
                Ok(0)
            } else {
                eprintln!("ERROR: TPC-C consistency check failed");
                Ok(1)
            }
        }
        Command::Version => {
            println!("meridian v{}", cluster::status::BUILD_VERSION);
            println!(
                "Build target: {}",
                std::env::consts::ARCH.to_owned() + "-" + std::env::consts::OS
            );
            Ok(0)
        }
    }
}

async fn start(args: StartArgs) -> Result<()> {
    if !args.insecure {
        bail!(
            "TLS is not built yet: start the node with --insecure \
             (plaintext connections, no passwords; user root connects without one)"
        );
    }
    let cfg = NodeConfig {
        store: args.store,
        listen_addr: args.listen_addr,
        sql_addr: args.sql_addr,
        http_addr: args.http_addr,
        ..NodeConfig::new(StoreSpec::Memory)?
    };
    let began = Instant::now();
    let restarted = banner::store_exists(&cfg.store);
    let node = cluster::start_single_node(cfg).await?;
    print!("{}", banner::render(&node, began.elapsed(), restarted));
    serve_until_signal(&[&node]).await;
    node.shutdown().await
}

async fn start_cluster_node(args: ClusterStartArgs) -> Result<()> {
    if !args.base.insecure {
        bail!(
            "TLS is not built yet: start the node with --insecure \
             (plaintext connections, no passwords; user root connects without one)"
        );
    }
    let locality = parse_locality(&args.locality)?;
    let filters = match &args.simulated_latency {
        None => None,
        Some(spec) => {
            let matrix = cluster::transport::LatencyMatrix::parse(spec)
                .map_err(|e| anyhow::anyhow!("--simulated-latency: {e:#}"))?
                .scaled(args.latency_scale);
            if cluster::transport::latency::region_of(&locality).is_none() {
                tracing::warn!("--simulated-latency without a region in --locality: messages from this node count as region \"\"");
            }
            tracing::warn!(matrix = ?matrix.describe(), "simulating inter-region latency (testing only)");
            let f = cluster::transport::Filters::new(1);
            matrix.apply(&f);
            Some(f)
        }
    };
    let node = NodeConfig {
        store: args.base.store,
        listen_addr: args.base.listen_addr,
        sql_addr: args.base.sql_addr,
        http_addr: args.base.http_addr,
        max_offset_ms: args.max_offset_ms,
        merge: cluster::merge::MergeConfig {
            enabled: args.merge_queue_enabled,
            range_min_bytes: args.range_min_bytes,
            ..Default::default()
        },
        ..NodeConfig::new(StoreSpec::Memory)?
    };
    let cfg = cluster::server::ClusterConfig {
        node,
        join: args.join,
        locality,
        store: cluster::store::StoreConfig {
            replication_factor: args.replication_factor.max(1),
            split_bytes: args.range_max_bytes.max(1),
            dead_after: args.dead_after,
            load: cluster::load::LoadConfig {
                split_qps_threshold: args.load_split_qps_threshold.max(0.0),
                rebalance: args.rebalance,
                ..Default::default()
            },
            ..Default::default()
        },
        network: cluster::server::Network::Grpc,
        filters,
        bootstrap_if_alone: false,
    };
    let began = Instant::now();
    let restarted = banner::store_exists(&cfg.node.store);
    let node = cluster::server::start_node(cfg).await?;
    print!(
        "{}",
        banner::render(&node.handle, began.elapsed(), restarted)
    );
    serve_until_signal(&[&node.handle]).await;
    node.shutdown().await
}

/// Parses `--locality region=us-east1,zone=b`.
fn parse_locality(s: &str) -> Result<Vec<(String, String)>> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => bail!("--locality: expected key=value tiers separated by commas, got {t:?}"),
        })
        .collect()
}

async fn run_demo(args: DemoArgs) -> Result<()> {
    let opts = demo::DemoOptions {
        nodes: args.nodes,
        global: args.global,
        latency_scale: args.latency_scale,
        sql_addr: args.sql_addr,
        http_addr: args.http_addr,
        load: !args.no_example_database,
        fast_timing: false,
    };
    let _ = args.listen_addr;
    eprintln!("# Starting the demo cluster and loading the movr data set...");
    let demo = demo::start_demo(opts).await?;
    print!("{}", demo.welcome());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let handles: Vec<&NodeHandle> = (0..demo.cluster.len())
        .filter_map(|i| demo.cluster.node(i).map(|n| &n.handle))
        .collect();
    serve_until_signal(&handles).await;
    demo.shutdown().await;
    Ok(())
}

async fn run_harness(args: HarnessArgs) -> Result<i32> {
    let failure = match (args.fail_zone, args.fail_region) {
        (Some(z), _) => Some(cluster::harness::Failure::Zone(z)),
        (None, Some(r)) => Some(cluster::harness::Failure::Region(r)),
        (None, None) => None,
    };
    let urls = match &args.url {
        Some(u) => cluster::harness::parse_urls(u)?,
        None => Vec::new(),
    };
    let opts = cluster::harness::HarnessOptions {
        duration: args.duration,
        latency_scale: args.latency_scale,
        failure,
        fail_at: args.fail_at,
        fail_mode: args.fail_mode,
        urls,
        rows: args.rows.max(1),
        settle_timeout: args.settle_timeout,
        ..Default::default()
    };
    let report = cluster::harness::run(&opts).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", cluster::harness::report::render(&report));
    }
    Ok(0)
}

/// Waits for SIGINT/SIGTERM (or a server dying); a second signal exits at once.
async fn serve_until_signal(nodes: &[&NodeHandle]) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    let server_died = async {
        loop {
            ticker.tick().await;
            if nodes.iter().any(|n| n.any_server_exited()) {
                break;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("received interrupt; shutting down"),
        _ = sigterm => tracing::info!("received SIGTERM; shutting down"),
        _ = server_died => tracing::error!("a server stopped unexpectedly; shutting down"),
    }
    eprintln!("initiating graceful shutdown of server (press Ctrl-C again to stop at once)");
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("received second interrupt; exiting without a clean shutdown");
            std::process::exit(1);
        }
    });
}

async fn sql(args: SqlArgs) -> Result<i32> {
    let url = args.url.unwrap_or_else(|| {
        cluster::sql_url(
            config::DEFAULT_SQL_ADDR
                .parse()
                .expect("valid default address"),
            "defaultdb",
        )
    });
    let url = if args.host.is_some() || args.database.is_some() || args.user.is_some() {
        // tokio-postgres adds hosts rather than replacing them, so rebuild the URL.
        let parsed: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid connection URL {url:?}: {e}"))?;
        let addr = match &args.host {
            Some(h) => parse_addr(h)?.to_string(),
            None => {
                let host = match parsed.get_hosts().first() {
                    Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                    _ => "127.0.0.1".to_string(),
                };
                format!(
                    "{host}:{}",
                    parsed.get_ports().first().copied().unwrap_or(26257)
                )
            }
        };
        let user = args.user.as_deref().or(parsed.get_user()).unwrap_or("root");
        let db = args
            .database
            .as_deref()
            .or(parsed.get_dbname())
            .unwrap_or("defaultdb");
        format!("postgresql://{user}@{addr}/{db}?sslmode=disable")
    } else {
        url
    };
    shell::run(shell::ShellOptions {
        url,
        execute: args.execute,
    })
    .await
}

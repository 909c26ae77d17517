//! `slt-runner`: runs sqllogictest files against Meridian and prints records passed/run per
//! file. Without `--url` it starts an in-process node on a temporary store.
//!
//! ```text
//! cargo run -p meridian-tests --bin slt-runner -- --min-pass 95 ../shared/slt/sqlite/select*.test
//! cargo run -p meridian-tests --bin slt-runner -- --show-failures 5 ../shared/slt/cockroach
//! ```

use anyhow::{bail, Context, Result};
use clap::Parser;
use meridian_tests::slt::{self, Options};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Run sqllogictest files over pgwire, counting every record.
#[derive(Parser)]
#[command(name = "slt-runner")]
struct Args {
    /// Test files, or directories to search for them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Server to test (default: start an in-process node on a temporary store).
    #[arg(long)]
    url: Option<String>,
    /// Exit non-zero if any file passes fewer than this percentage of the records it runs.
    #[arg(long)]
    min_pass: Option<f64>,
    /// Print the first N failures of each file.
    #[arg(long, default_value_t = 0)]
    show_failures: usize,
    /// Files run concurrently.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Seconds one record may take before it counts as failed.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Labels for skipif/onlyif (comma-separated).
    #[arg(long, default_value = "postgresql,meridian")]
    labels: String,
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("slt-runner: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn run(args: Args) -> Result<i32> {
    let files = collect_files(&args.paths)?;
    if files.is_empty() {
        bail!("no test files found under {:?}", args.paths);
    }
    let opts = Options {
        labels: args
            .labels
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
        record_timeout: Duration::from_secs(args.timeout_secs),
        keep_failures: args.show_failures,
    };
    let mut node = None;
    let mut store = None;
    let url = match &args.url {
        Some(u) => u.clone(),
        None => {
            let dir = tempfile::tempdir().context("temporary store")?;
            let cfg = cluster::NodeConfig::for_tests(cluster::StoreSpec::Path(dir.path().into()));
            let n = cluster::start_single_node(cfg).await?;
            let url = n.sql_url();
            node = Some(n);
            store = Some(dir);
            url
        }
    };
    let base: tokio_postgres::Config = url.parse().context("parsing --url")?;
    let started = Instant::now();
    let reports = slt::run_files(&base, &files, args.jobs, &opts).await;
    let (mut passed, mut run, mut below) = (0, 0, Vec::new());
    for r in &reports {
        println!("{}", slt::summary_line(r));
        for f in &r.failures {
            println!(
                "  FAILED at line {}: {}\n    {}\n",
                f.line,
                f.sql.replace('\n', "\n    "),
                f.message
            );
        }
        passed += r.passed;
        run += r.run;
        if args.min_pass.is_some_and(|m| r.pct() < m) {
            below.push(r.path.clone());
        }
    }
    let pct = if run == 0 {
        0.0
    } else {
        100.0 * passed as f64 / run as f64
    };
    println!(
        "total: {passed}/{run} records passed ({pct:.1}%) in {} files, {:.0}s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(n) = node {
        n.shutdown().await?;
    }
    drop(store);
    if let Some(m) = args.min_pass {
        if !below.is_empty() {
            println!("FAIL: below {m}%: {}", below.join(", "));
            return Ok(1);
        }
    }
    Ok(0)
}

/// Files given directly, plus test files found under directories (sorted; license and
/// provenance notes skipped).
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{} does not exist", p.display());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if p.is_dir() {
            walk(&p, out)?;
        } else if !(name.ends_with(".md") || name.ends_with(".txt") || name.starts_with('.')) {
            out.push(p);
        }
    }
    Ok(())
}

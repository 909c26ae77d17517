//! The harness's report: the latency table (p50/p99 per survival goal, table locality,
//! operation and client region, next to the injected round trips), errors per phase,
//! cross-region message counts per phase, and the SQL that was not supported.

use super::schema::{Locality, Survival};
use super::sqlutil::Outcome;
use super::workload::{Op, Recorder};
use crate::transport::LatencyMatrix;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One line of the latency table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Survival goal of the database.
    pub survival: Survival,
    /// Locality of the table.
    pub locality: Locality,
    /// The operation.
    pub op: Op,
    /// The client's region.
    pub region: String,
    /// The phase's name.
    pub phase: String,
    /// Successful operations.
    pub ops: usize,
    /// Failed operations.
    pub errors: u64,
    /// Median latency (ms).
    pub p50_ms: f64,
    /// 99th percentile latency (ms).
    pub p99_ms: f64,
    /// Injected RTT from the client's region to the primary region (ms).
    pub rtt_primary_ms: f64,
    /// Injected RTT from the client's region to the nearest other region (ms).
    pub rtt_nearest_ms: f64,
}

/// One phase of the run (before and after the injected failure).
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `run`, `before failure` or `after <failure>`.
    pub name: String,
    /// Successful operations.
    pub ops: usize,
    /// Failed operations.
    pub errors: u64,
    /// The most frequent errors, with counts.
    pub top_errors: Vec<(String, u64)>,
    /// Messages sent between different regions (`a -> b`), Raft and calls, background
    /// traffic (liveness, Raft heartbeats) included. Empty for a cluster given by URL.
    pub cross_region_messages: BTreeMap<String, u64>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The regions, primary first.
    pub regions: Vec<String>,
    /// Injected RTTs as `(a, b, ms)` (empty for a cluster given by URL).
    pub injected_rtt_ms: Vec<(String, String, f64)>,
    /// The factor the built-in matrix was scaled by.
    pub latency_scale: f64,
    /// Seconds the workload ran.
    pub duration_s: f64,
    /// The injected failure, described.
    pub failure: Option<String>,
    /// Setup statements that were rejected (the plain form ran instead).
    pub setup_rejected: Vec<Outcome>,
    /// Operations the SQL layer rejected as unsupported (not retried).
    pub unsupported: Vec<String>,
    /// The latency table.
    pub rows: Vec<Row>,
    /// Errors and traffic per phase.
    pub phases: Vec<Phase>,
}

/// Inputs of [`build`] besides the recorder.
pub struct Context<'a> {
    /// Regions, primary first.
    pub regions: &'a [String],
    /// The injected matrix.
    pub latency: &'a LatencyMatrix,
    /// Its scale.
    pub latency_scale: f64,
    /// Workload seconds.
    pub duration_s: f64,
    /// The failure, described.
    pub failure: Option<String>,
    /// Phase names.
    pub phase_names: Vec<String>,
    /// Cross-region counts per phase.
    pub counts: Vec<BTreeMap<String, u64>>,
    /// Every setup statement's fate.
    pub setup: Vec<Outcome>,
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Summarises what the clients recorded.
pub fn build(ctx: Context<'_>, rec: &Recorder) -> Report {
    let primary = ctx.regions.first().cloned().unwrap_or_default();
    let nearest = |r: &str| {
        ctx.regions
            .iter()
            .filter(|o| o.as_str() != r)
            .map(|o| ctx.latency.rtt(r, o))
            .min()
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    let mut phase_ops = vec![0usize; ctx.phase_names.len()];
    for (key, stats) in rec.stats.lock().iter_mut() {
        if let Some(n) = phase_ops.get_mut(key.phase) {
            *n += stats.count();
        }
        rows.push(Row {
            survival: key.survival,
            locality: key.locality,
            op: key.op,
            region: key.region.clone(),
            phase: ctx.phase_names.get(key.phase).cloned().unwrap_or_default(),
            ops: stats.count(),
            errors: stats.errors,
            p50_ms: stats.percentile_ms(50.0),
            p99_ms: stats.percentile_ms(99.0),
            rtt_primary_ms: ms(ctx.latency.rtt(&key.region, &primary)),
            rtt_nearest_ms: ms(nearest(&key.region)),
        });
    }
    let region_pos = |r: &str| ctx.regions.iter().position(|x| x == r);
    let phase_pos = |p: &str| ctx.phase_names.iter().position(|x| x == p);
    let order = |r: &Row| {
        let (region, phase) = (region_pos(&r.region), phase_pos(&r.phase));
        (r.survival, r.locality, r.op, region, phase)
    };
    rows.sort_by_key(order);
    let errors = rec.errors.lock();
    let phases = ctx
        .phase_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut errs: Vec<(String, u64)> = errors
                .iter()
                .filter(|((p, _), _)| *p == i)
                .map(|((_, m), n)| (m.clone(), *n))
                .collect();
            let total = errs.iter().map(|(_, n)| n).sum();
            errs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            errs.truncate(8);
            Phase {
                name: name.clone(),
                ops: phase_ops.get(i).copied().unwrap_or_default(),
                errors: total,
                top_errors: errs,
                cross_region_messages: ctx.counts.get(i).cloned().unwrap_or_default(),
            }
        })
        .collect();
    Report {
        regions: ctx.regions.to_vec(),
        injected_rtt_ms: ctx
            .latency
            .entries()
            .iter()
            .map(|(a, b, d)| (a.clone(), b.clone(), ms(*d)))
            .collect(),
        latency_scale: ctx.latency_scale,
        duration_s: ctx.duration_s,
        failure: ctx.failure,
        setup_rejected: ctx.setup.into_iter().filter(|o| !o.ok()).collect(),
        unsupported: rec.unsupported.lock().values().cloned().collect(),
        rows,
        phases,
    }
}

/// The report as text: the injected RTTs, the latency table, phases, unsupported SQL.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "injected round-trip times (scale {}):", r.latency_scale);
    if r.injected_rtt_ms.is_empty() {
        let _ = writeln!(s, "  none (cluster given by URL)");
    }
    for (a, b, ms) in &r.injected_rtt_ms {
        if a == b {
            let _ = writeln!(s, "  inside {a}: {ms:.1} ms");
        } else {
            let _ = writeln!(s, "  {a} <-> {b}: {ms:.1} ms");
        }
    }
    if let Some(f) = &r.failure {
        let _ = writeln!(s, "failure: {f}");
    }
    let _ = writeln!(
        s,
        "\nlatency over {:.1} s (primary region {}):",
        r.duration_s,
        r.regions.first().map(String::as_str).unwrap_or("?")
    );
    s.push_str(&table(r));
    for p in &r.phases {
        let _ = writeln!(s, "\nphase {}: {} ops, {} errors", p.name, p.ops, p.errors);
        for (m, n) in &p.top_errors {
            let _ = writeln!(s, "  {n} x {m}");
        }
        if !p.cross_region_messages.is_empty() {
            let pairs: Vec<String> = p
                .cross_region_messages
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = writeln!(s, "  cross-region messages: {}", pairs.join(", "));
        }
    }
    if !r.setup_rejected.is_empty() || !r.unsupported.is_empty() {
        let _ = writeln!(
            s,
            "\nSQL not supported yet or failing (the harness measured without it):"
        );
        for o in &r.setup_rejected {
            let err = o.error.as_deref().unwrap_or_default();
            let label = if o.statement.starts_with("INSERT") {
                "FAILED"
            } else {
                "UNSUPPORTED"
            };
            let _ = writeln!(s, "  {label}: {}: {err}", o.statement);
        }
        for u in &r.unsupported {
            let _ = writeln!(s, "  UNSUPPORTED: {u}");
        }
    }
    s
}

fn table(r: &Report) -> String {
    let header = [
        "survival",
        "locality",
        "operation",
        "client region",
        "phase",
        "ops",
        "errors",
        "p50 ms",
        "p99 ms",
        "rtt primary",
        "rtt nearest",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in &r.rows {
        let lat = |v: f64| {
            if row.ops == 0 {
                "-".to_string()
            } else {
                format!("{v:.1}")
            }
        };
        cells.push(vec![
            row.survival.name().to_string(),
            row.locality.name().to_string(),
            row.op.name().to_string(),
            row.region.clone(),
            row.phase.clone(),
            row.ops.to_string(),
            row.errors.to_string(),
            lat(row.p50_ms),
            lat(row.p99_ms),
            format!("{:.1}", row.rtt_primary_ms),
            format!("{:.1}", row.rtt_nearest_ms),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| cells.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for (i, row) in cells.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c >= 5 {
                    format!("{v:>w$}", w = widths[c])
                } else {
                    format!("{v:<w$}", w = widths[c])
                }
            })
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
        if i == 0 {
            let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            let _ = writeln!(s, "{}", "-".repeat(total));
        }
    }
    s
}

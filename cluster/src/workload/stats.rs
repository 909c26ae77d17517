//! Latency recording and percentiles for workloads.

use std::time::Duration;

/// Latencies of one operation type, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct OpStats {
    latencies_us: Vec<u32>,
    /// Operations that failed.
    pub errors: u64,
}

impl OpStats {
    /// Records one successful operation.
    pub fn record(&mut self, d: Duration) {
        self.latencies_us
            .push(d.as_micros().min(u32::MAX as u128) as u32);
    }

    /// Number of successful operations.
    pub fn count(&self) -> usize {
        self.latencies_us.len()
    }

    /// Merges another recorder into this one.
    pub fn merge(&mut self, other: &OpStats) {
        self.latencies_us.extend_from_slice(&other.latencies_us);
        self.errors += other.errors;
    }

    /// The p-th percentile latency in milliseconds (0 when empty).
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let idx = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[idx.min(self.latencies_us.len() - 1)] as f64 / 1000.0
    }
}

/// The end-of-run summary of one operation type.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Operation name.
    pub op: String,
    /// Successful operations.
    pub ops: usize,
    /// Failed operations.
    pub errors: u64,
    /// Operations per second over the run.
    pub ops_per_sec: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Largest latency.
    pub max_ms: f64,
}

impl Summary {
    /// Summarises `stats` over a run of `elapsed`.
    pub fn from_stats(op: &str, stats: &mut OpStats, elapsed: Duration) -> Self {
        Summary {
            op: op.to_string(),
            ops: stats.count(),
            errors: stats.errors,
            ops_per_sec: stats.count() as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: stats.percentile_ms(50.0),
            p95_ms: stats.percentile_ms(95.0),
            p99_ms: stats.percentile_ms(99.0),
            max_ms: stats.percentile_ms(100.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranked_values() {
        let mut s = OpStats::default();
        for ms in 1..=100u64 {
            s.record(Duration::from_millis(ms));
        }
        assert_eq!(s.percentile_ms(50.0), 51.0);
        assert_eq!(s.percentile_ms(99.0), 99.0);
        assert_eq!(s.percentile_ms(100.0), 100.0);
    }
}

//! A region-to-region round-trip-time matrix: the simulated geography that `meridian demo
//! --global`, the multi-region harness and `meridian start --simulated-latency` apply through
//! the transport's [`Filters`].
//!
//! The matrix is written `a:b=RTT` pairs separated by commas (or newlines in a file), e.g.
//! `us-east1:us-west1=66ms,us-east1:europe-west1=88ms,us-west1:europe-west1=146ms`; a pair
//! `a:a=1ms` sets the round trip between two nodes of the same region. Pairs are symmetric.
//! [`LatencyMatrix::global`] is the built-in three-region matrix (public cloud round trips
//! between South Carolina, Oregon and Belgium), and [`LatencyMatrix::scaled`] multiplies every
//! entry, so CI can run the same geography at a small fraction of the real delays.

use super::Filters;
use crate::workload::parse_duration;
use anyhow::{anyhow, bail, Context, Result};
use std::time::Duration;

/// The regions of the built-in global topology, in gateway order.
pub const GLOBAL_REGIONS: [&str; 3] = ["us-east1", "us-west1", "europe-west1"];

/// Round trip inside one region of the built-in matrix (between zones).
pub const GLOBAL_INTRA_REGION_RTT: Duration = Duration::from_millis(1);

/// A symmetric RTT matrix keyed by region pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyMatrix {
    /// `(a, b, rtt)` with `a <= b`, sorted, one entry per pair.
    entries: Vec<(String, String, Duration)>,
}

impl LatencyMatrix {
    /// The built-in matrix of `demo --global`: us-east1<->us-west1 66 ms,
    /// us-east1<->europe-west1 88 ms, us-west1<->europe-west1 146 ms, 1 ms inside a region.
    pub fn global() -> Self {
        let mut m = LatencyMatrix::default();
        m.set("us-east1", "us-west1", Duration::from_millis(66));
        m.set("us-east1", "europe-west1", Duration::from_millis(88));
        m.set("us-west1", "europe-west1", Duration::from_millis(146));
        for r in GLOBAL_REGIONS {
            m.set(r, r, GLOBAL_INTRA_REGION_RTT);
        }
        m
    }

    /// Parses `a:b=RTT,...` (see the module docs). `global` names the built-in matrix and
    /// `@path` reads the pairs from a file (commas or newlines between pairs, `#` comments).
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        if spec == "global" {
            return Ok(Self::global());
        }
        if let Some(path) = spec.strip_prefix('@') {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the latency matrix from {path}"))?;
            let pairs: Vec<&str> = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or_default())
                .collect();
            return Self::parse_pairs(&pairs.join(","));
        }
        Self::parse_pairs(spec)
    }

    fn parse_pairs(spec: &str) -> Result<Self> {
        let mut m = LatencyMatrix::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (pair, rtt) = item
                .split_once('=')
                .ok_or_else(|| anyhow!("expected region:region=RTT, got {item:?}"))?;
            let (a, b) = pair
                .split_once(':')
                .ok_or_else(|| anyhow!("expected region:region before '=', got {pair:?}"))?;
            let (a, b) = (a.trim(), b.trim());
            if a.is_empty() || b.is_empty() {
                bail!("empty region name in {item:?}");
            }
            let rtt = parse_duration(rtt).map_err(|e| anyhow!("{e} in {item:?}"))?;
            m.set(a, b, rtt);
        }
        if m.entries.is_empty() {
            bail!("no region pairs given (expected e.g. us-east1:us-west1=66ms)");
        }
        Ok(m)
    }

    /// Sets the RTT between `a` and `b` (both directions).
    pub fn set(&mut self, a: &str, b: &str, rtt: Duration) {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        match self
            .entries
            .binary_search_by(|(x, y, _)| (x.as_str(), y.as_str()).cmp(&(a, b)))
        {
            Ok(i) => self.entries[i].2 = rtt,
            Err(i) => self.entries.insert(i, (a.to_string(), b.to_string(), rtt)),
        }
    }

    /// The RTT between two regions (zero when the pair is not in the matrix).
    pub fn rtt(&self, a: &str, b: &str) -> Duration {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        self.entries
            .iter()
            .find(|(x, y, _)| x == a && y == b)
            .map(|e| e.2)
            .unwrap_or_default()
    }

    /// Every pair, `a <= b`, sorted.
    pub fn entries(&self) -> &[(String, String, Duration)] {
        &self.entries
    }

    /// The same matrix with every RTT multiplied by `factor` (clamped at zero).
    pub fn scaled(&self, factor: f64) -> Self {
        let factor = if factor.is_finite() {
            factor.max(0.0)
        } else {
            1.0
        };
        LatencyMatrix {
            entries: self
                .entries
                .iter()
                .map(|(a, b, d)| (a.clone(), b.clone(), d.mul_f64(factor)))
                .collect(),
        }
    }

    /// Installs every pair in `filters`.
    pub fn apply(&self, filters: &Filters) {
        for (a, b, rtt) in &self.entries {
            filters.set_rtt(a, b, *rtt);
        }
    }

    /// One line per cross-region pair, e.g. `us-east1 <-> us-west1: 66.0 ms`, then the
    /// intra-region entries.
    pub fn describe(&self) -> Vec<String> {
        let (cross, intra): (Vec<_>, Vec<_>) = self.entries.iter().partition(|(a, b, _)| a != b);
        cross
            .into_iter()
            .chain(intra)
            .map(|(a, b, d)| {
                let ms = d.as_secs_f64() * 1000.0;
                if a == b {
                    format!("inside {a}: {ms:.1} ms")
                } else {
                    format!("{a} <-> {b}: {ms:.1} ms")
                }
            })
            .collect()
    }
}

/// The `region` tier of a locality, if any.
pub fn region_of(locality: &[(String, String)]) -> Option<&str> {
    locality
        .iter()
        .find(|(k, _)| k == "region")
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_symmetric_and_scales() {
        let m = LatencyMatrix::parse("a:b=66ms, b:c=0.1s,a:a=1ms").unwrap();
        assert_eq!(m.rtt("b", "a"), Duration::from_millis(66));
        assert_eq!(m.rtt("c", "b"), Duration::from_millis(100));
        assert_eq!(m.rtt("a", "a"), Duration::from_millis(1));
        assert_eq!(m.rtt("a", "c"), Duration::ZERO);
        let half = m.scaled(0.5);
        assert_eq!(half.rtt("a", "b"), Duration::from_millis(33));
        assert_eq!(
            m.describe(),
            vec!["a <-> b: 66.0 ms", "b <-> c: 100.0 ms", "inside a: 1.0 ms"]
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in ["", "a:b", "a=1ms", ":b=1ms", "a:b=fast", "a:b=1parsec"] {
            assert!(LatencyMatrix::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn global_and_file_forms() {
        let g = LatencyMatrix::parse("global").unwrap();
        assert_eq!(
            g.rtt("europe-west1", "us-west1"),
            Duration::from_millis(146)
        );
        assert_eq!(g.rtt("us-east1", "us-east1"), GLOBAL_INTRA_REGION_RTT);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rtt.txt");
        std::fs::write(&path, "# the matrix\nx:y=10ms\ny:z=20ms # comment\n").unwrap();
        let m = LatencyMatrix::parse(&format!("@{}", path.display())).unwrap();
        assert_eq!(m.rtt("z", "y"), Duration::from_millis(20));
        assert!(LatencyMatrix::parse("@/nonexistent/file").is_err());
        let f = Filters::new(1);
        g.scaled(0.1).apply(&f);
        assert_eq!(f.rtt("us-east1", "us-west1"), Duration::from_micros(6600));
    }
}

//! Per-replica load: how many requests a range's leaseholder serves per second, measured
//! cheaply enough to sit on the request path, and the settings of the two things that use it,
//! load-based splitting ([`crate::load_split`]) and rebalancing ([`crate::rebalance`]).
//!
//! The hot path ([`ReplicaLoad::record`], called by `Store::serve` for every request served
//! under the lease) is one relaxed atomic increment; only while the range is above the split
//! threshold does it also offer the request's key to the split sampler, and then only if the
//! sampler's lock is free (`try_lock`: a busy sampler skips the sample rather than make a
//! request wait, which costs the statistics nothing). The allocator's pass ([`tick`], every
//! 500 ms) folds the counter into a requests-per-second rate at most once a second, smoothed
//! over the last seconds (each second's rate counts half, the past the other half), so a
//! burst does not split a range and an idle range's rate decays to zero.
//!
//! Follower reads are not counted: they cost the leaseholder nothing.
//!
//! IMPLEMENTATION CAVEATS
//! - Load is requests per second only (CockroachDB's QPS); rows or bytes read and written
//!   (its CPU-based split and rebalance signals) are not measured.
//! - The rate lives in memory on the leaseholder: a new leaseholder starts from zero.

use crate::load_split::SplitSampler;
use crate::store::Store;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Settings of load-based splitting and rebalancing (`meridian start
/// --load-split-qps-threshold`, `--rebalance`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// A range serving more requests per second than this for [`LoadConfig::split_after`]
    /// is split where its load divides evenly (CockroachDB's
    /// `kv.range_split.load_qps_threshold`, default 2500). 0 turns load splits off.
    pub split_qps_threshold: f64,
    /// How long a range must stay above the threshold (the time its split sampler gets to
    /// collect keys) before it is split.
    pub split_after: Duration,
    /// Whether replicas and leases are rebalanced by count (CockroachDB's
    /// `kv.allocator.load_based_rebalancing`, here by count only).
    pub rebalance: bool,
    /// How often a node looks for a replica or lease to rebalance.
    pub rebalance_interval: Duration,
    /// How far from the mean a node's count may be before it sheds or receives (CockroachDB's
    /// `kv.allocator.range_rebalance_threshold`, 5%).
    pub rebalance_threshold: f64,
    /// A node gets rebalanced replicas only once this node has seen it live this long (a
    /// node that just joined, or flaps, is not piled onto at once).
    pub rebalance_target_min_live: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            split_qps_threshold: 2500.0,
            split_after: Duration::from_secs(5),
            rebalance: true,
            rebalance_interval: Duration::from_secs(5),
            rebalance_threshold: 0.05,
            rebalance_target_min_live: Duration::from_secs(10),
        }
    }
}

/// Shortest time between two rate measurements of one replica.
const TICK: Duration = Duration::from_secs(1);

/// The load of one replica (kept on every replica, counted where the lease is).
#[derive(Default)]
pub struct ReplicaLoad {
    /// Requests served since the last tick.
    requests: AtomicU64,
    /// The smoothed rate, as `f64` bits.
    qps_bits: AtomicU64,
    /// Whether requests' keys go to the sampler (the range is above the split threshold).
    sampling: AtomicBool,
    /// Requests since the last tick by the node they came from (see [`OriginSlot`]).
    origins: [OriginSlot; ORIGIN_SLOTS],
    state: Mutex<LoadState>,
}

/// How many origin nodes a replica tells apart (a range's requests come from the gateways
/// of its clients; more than this many are counted under none).
const ORIGIN_SLOTS: usize = 8;

/// Requests from one origin node since the last tick: a slot claimed lock-free by the first
/// request from that node (node 0: free), released at a tick that found it idle. A request
/// racing that release may be counted for the next node to claim the slot: one request in a
/// statistic.
#[derive(Default)]
struct OriginSlot {
    node: AtomicU64,
    requests: AtomicU64,
}

#[derive(Default)]
struct LoadState {
    last_tick: Option<Instant>,
    /// Since when the rate has been above the split threshold.
    above_since: Option<Instant>,
    sampler: SplitSampler,
    /// Smoothed requests per second by origin node (as the total rate is smoothed).
    origin_rates: Vec<(u64, f64)>,
}

impl ReplicaLoad {
    /// Counts one request served under the lease (and samples its key while the range is
    /// above the split threshold). Never blocks.
    /// `origin` is the node whose DistSender sent it (0: unknown).
    pub fn record(&self, key: &[u8], origin: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if origin != 0 {
            self.count_origin(origin);
        }
        if self.sampling.load(Ordering::Relaxed) {
            if let Some(mut st) = self.state.try_lock() {
                st.sampler.record(key);
            }
        }
    }

    fn count_origin(&self, origin: u64) {
        for slot in &self.origins {
            let n = slot.node.load(Ordering::Relaxed);
            let mine = n == origin
                || (n == 0
                    && match slot.node.compare_exchange(
                        0,
                        origin,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => true,
                        Err(now) => now == origin,
                    });
            if mine {
                slot.requests.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }

    /// Smoothed requests per second by the node they came from (nodes not seen lately are
    /// absent).
    pub fn origin_rates(&self) -> Vec<(u64, f64)> {
        self.state.lock().origin_rates.clone()
    }

    /// Folds the per-origin counts of the last `secs` seconds into `st`'s rates, smoothed
    /// like the total: each rate is the mean of this interval's and the previous rate.
    fn tick_origins(&self, st: &mut LoadState, secs: f64) {
        let mut raw: Vec<(u64, f64)> = Vec::new();
        for slot in &self.origins {
            let node = slot.node.load(Ordering::Relaxed);
            if node == 0 {
                continue;
            }
            let n = slot.requests.swap(0, Ordering::Relaxed);
            if n == 0 {
                slot.node.store(0, Ordering::Relaxed);
            }
            raw.push((node, n as f64 / secs));
        }
        let mut nodes: Vec<u64> = raw
            .iter()
            .chain(&st.origin_rates)
            .map(|(n, _)| *n)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let rate_in = |v: &[(u64, f64)], n: u64| -> f64 {
            v.iter().filter(|(o, _)| *o == n).map(|(_, r)| r).sum()
        };
        st.origin_rates = nodes
            .into_iter()
            .map(|n| (n, (rate_in(&raw, n) + rate_in(&st.origin_rates, n)) / 2.0))
            .filter(|(_, r)| *r >= 0.1)
            .collect();
    }

    /// Requests per second, smoothed (0 until measured).
    pub fn qps(&self) -> f64 {
        f64::from_bits(self.qps_bits.load(Ordering::Relaxed))
    }

    /// Folds the requests counted since the last measurement into the rate (at most once a
    /// second) and starts or stops key sampling against `cfg`'s split threshold.
    pub fn tick(&self, now: Instant, cfg: &LoadConfig) {
        let mut st = self.state.lock();
        let Some(last) = st.last_tick else {
            st.last_tick = Some(now);
            self.requests.store(0, Ordering::Relaxed);
            for slot in &self.origins {
                slot.requests.store(0, Ordering::Relaxed);
            }
            return;
        };
        let elapsed = now.saturating_duration_since(last);
        if elapsed < TICK {
            return;
        }
        st.last_tick = Some(now);
        let n = self.requests.swap(0, Ordering::Relaxed) as f64;
        let rate = n / elapsed.as_secs_f64();
        self.tick_origins(&mut st, elapsed.as_secs_f64());
        let qps = (self.qps() + rate) / 2.0;
        // Below one request in ten seconds is idle: let it reach zero.
        let qps = if qps < 0.1 { 0.0 } else { qps };
        self.qps_bits.store(qps.to_bits(), Ordering::Relaxed);
        let above = cfg.split_qps_threshold > 0.0 && qps > cfg.split_qps_threshold;
        match (above, st.above_since) {
            (true, None) => {
                st.above_since = Some(now);
                st.sampler = SplitSampler::default();
                self.sampling.store(true, Ordering::Relaxed);
            }
            (false, Some(_)) => {
                st.above_since = None;
                st.sampler = SplitSampler::default();
                self.sampling.store(false, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// The key to split the range `[start, end)` at, once its rate stayed above the threshold
    /// for `cfg.split_after` and the sampler found a key dividing the load (see
    /// [`SplitSampler::best`]). Sampling starts over after a key is handed out.
    pub fn split_key(
        &self,
        now: Instant,
        cfg: &LoadConfig,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Option<Vec<u8>> {
        let mut st = self.state.lock();
        let since = st.above_since?;
        if now.saturating_duration_since(since) < cfg.split_after {
            return None;
        }
        let key = st.sampler.best(start, end)?;
        st.above_since = Some(now);
        st.sampler = SplitSampler::default();
        Some(key)
    }
}

/// Measures every replica of `store` (cheap: one uncontended lock per replica, a real
/// measurement at most once a second each).
pub fn tick(store: &Store) {
    let cfg = &store.config().load;
    let now = Instant::now();
    for rep in store.replicas() {
        rep.load.tick(now, cfg);
    }
}

/// Requests per second of each replica of `store` whose lease it holds, by range.
pub fn leaseholder_qps(store: &Store) -> Vec<(kv::RangeId, f64)> {
    let now = store.clock().now();
    store
        .replicas()
        .into_iter()
        .filter(|r| {
            let l = r.lease();
            l.holder == store.node_id && l.expiration > now
        })
        .map(|r| (r.range_id, r.load.qps()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(threshold: f64) -> LoadConfig {
        LoadConfig {
            split_qps_threshold: threshold,
            split_after: Duration::from_secs(2),
            ..LoadConfig::default()
        }
    }

    #[test]
    fn rate_is_smoothed_and_decays_to_zero() {
        let l = ReplicaLoad::default();
        let t0 = Instant::now();
        let c = cfg(0.0);
        l.tick(t0, &c);
        for _ in 0..200 {
            l.record(b"k", 0);
        }
        l.tick(t0 + Duration::from_millis(500), &c);
        assert_eq!(l.qps(), 0.0, "measured more than once a second");
        l.tick(t0 + Duration::from_secs(2), &c);
        assert_eq!(l.qps(), 50.0, "half of 100/s");
        let mut t = t0 + Duration::from_secs(2);
        for _ in 0..12 {
            t += Duration::from_secs(1);
            l.tick(t, &c);
        }
        assert_eq!(l.qps(), 0.0);
    }

    #[test]
    fn sampling_runs_only_above_the_threshold_and_yields_a_balanced_key() {
        let l = ReplicaLoad::default();
        let c = cfg(100.0);
        let mut t = Instant::now();
        l.tick(t, &c);
        let keys: Vec<Vec<u8>> = (0..100u8).map(|i| vec![0x10, i]).collect();
        let serve_one_second = |l: &ReplicaLoad| {
            for _ in 0..5 {
                for k in &keys {
                    l.record(k, 0);
                }
            }
        };
        serve_one_second(&l);
        t += Duration::from_secs(1);
        l.tick(t, &c); // 250/s
        assert!(l.sampling.load(Ordering::Relaxed));
        assert_eq!(l.split_key(t, &c, &[0x10], None), None, "too early");
        for _ in 0..3 {
            serve_one_second(&l);
            t += Duration::from_secs(1);
            l.tick(t, &c);
        }
        let key = l.split_key(t, &c, &[0x10], None).expect("a split key");
        assert!(key.as_slice() > &[0x10, 25][..] && key.as_slice() < &[0x10, 75][..]);
        // Idle again: sampling stops.
        for _ in 0..6 {
            t += Duration::from_secs(1);
            l.tick(t, &c);
        }
        assert!(!l.sampling.load(Ordering::Relaxed));
    }
}

//! What a node knows about itself, shared by its status surfaces: the HTTP endpoints
//! ([`crate::http`]) and the gRPC Admin service ([`crate::admin`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The build version reported by `meridian version`, the Admin service and `/_status/vars`.
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Counters exported at `/_status/vars`. Relaxed atomics: they are statistics, not
/// synchronisation.
#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP requests answered.
    pub http_requests: AtomicU64,
    /// Admin gRPC calls answered.
    pub admin_rpcs: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Identity, addresses and counters of a running node.
#[derive(Debug)]
pub struct NodeInfo {
    /// The node id (1 until nodes join clusters).
    pub node_id: std::sync::atomic::AtomicU64,
    /// gRPC address (bound).
    pub listen_addr: SocketAddr,
    /// pgwire address (bound).
    pub sql_addr: SocketAddr,
    /// HTTP address (bound).
    pub http_addr: SocketAddr,
    /// Wall-clock start time.
    pub started_at: SystemTime,
    /// Monotonic start time, for uptime.
    pub started: Instant,
    /// Set when shutdown begins: health checks report not-ready from then on.
    pub draining: AtomicBool,
    /// Counters.
    pub metrics: Metrics,
}

impl NodeInfo {
    /// The node id (0 while a joining node waits for one).
    pub fn node_id(&self) -> u64 {
        self.node_id.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Milliseconds since the Unix epoch at start.
    pub fn started_at_unix_ms(&self) -> i64 {
        self.started_at
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    /// Whether the node is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The metrics in Prometheus text exposition format.
    pub fn prometheus_text(&self) -> String {
        let m = &self.metrics;
        let counters = [
            (
                "http_requests_total",
                "HTTP requests answered",
                &m.http_requests,
            ),
            (
                "admin_rpcs_total",
                "Admin gRPC calls answered",
                &m.admin_rpcs,
            ),
        ];
        let mut out = String::new();
        out.push_str("# HELP meridian_build_info Build version of the running binary.\n");
        out.push_str("# TYPE meridian_build_info gauge\n");
        out.push_str(&format!(
            "meridian_build_info{{version=\"{BUILD_VERSION}\"}} 1\n"
        ));
        out.push_str("# HELP meridian_node_id This node's id.\n# TYPE meridian_node_id gauge\n");
        out.push_str(&format!("meridian_node_id {}\n", self.node_id()));
        out.push_str("# HELP meridian_uptime_seconds Seconds since the node started.\n");
        out.push_str("# TYPE meridian_uptime_seconds gauge\n");
        out.push_str(&format!(
            "meridian_uptime_seconds {:.3}\n",
            self.started.elapsed().as_secs_f64()
        ));
        for (name, help, counter) in counters {
            out.push_str(&format!("# HELP meridian_{name} {help}.\n"));
            out.push_str(&format!("# TYPE meridian_{name} counter\n"));
            out.push_str(&format!(
                "meridian_{name} {}\n",
                counter.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

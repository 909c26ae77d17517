//! Node configuration: what `meridian start-single-node` and `meridian demo` parse from their
//! flags, and what tests build directly.
//!
//! Flag syntax follows CockroachDB's so its users feel at home: `--store=<dir>` or
//! `--store=path=<dir>` (and `--store=type=mem` for a throwaway in-memory store), addresses as
//! `host:port` where port 0 asks the OS for a free port (tests read the bound address back from
//! the [`crate::NodeHandle`]).

use anyhow::{anyhow, bail, Result};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// Default pgwire port (CockroachDB's).
pub const DEFAULT_SQL_ADDR: &str = "127.0.0.1:26257";
/// Default inter-node gRPC port.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:26258";
/// Default HTTP (health, metrics) port.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Default store directory, relative to the working directory.
pub const DEFAULT_STORE_DIR: &str = "meridian-data";
/// Default maximum clock offset tolerated between nodes (CockroachDB's default).
pub const DEFAULT_MAX_OFFSET_MS: u64 = 500;

/// Where a node keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A RocksDB store in this directory (created if missing).
    Path(PathBuf),
    /// An in-memory store: everything is lost when the node stops.
    Memory,
}

impl StoreSpec {
    /// Parses CockroachDB's `--store` value: `<dir>`, `path=<dir>`, or `type=mem[,size=..]`.
    pub fn parse(s: &str) -> Result<StoreSpec> {
        let s = s.trim();
        if s.is_empty() {
            bail!("--store: empty value");
        }
        if !s.contains('=') {
            return Ok(StoreSpec::Path(PathBuf::from(s)));
        }
        let mut path = None;
        let mut mem = false;
        for field in s.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| anyhow!("--store: expected key=value, got {field:?}"))?;
            match k.trim() {
                "path" => path = Some(PathBuf::from(v.trim())),
                "type" if v.trim() == "mem" => mem = true,
                "type" => bail!("--store: unknown store type {:?} (only \"mem\")", v.trim()),
                // Accepted for compatibility; an in-memory store grows as needed.
                "size" | "attrs" => {}
                other => bail!("--store: unknown field {other:?} (expected path, type, size)"),
            }
        }
        match (path, mem) {
            (Some(_), true) => bail!("--store: give either path=<dir> or type=mem, not both"),
            (Some(p), false) if p.as_os_str().is_empty() => bail!("--store: empty path"),
            (Some(p), false) => Ok(StoreSpec::Path(p)),
            (None, true) => Ok(StoreSpec::Memory),
            (None, false) => bail!("--store: missing path=<dir>"),
        }
    }
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Path(p) => write!(f, "{}", p.display()),
            StoreSpec::Memory => write!(f, "(in memory)"),
        }
    }
}

/// Everything needed to start one node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the data lives.
    pub store: StoreSpec,
    /// The gRPC address for inter-node traffic and the Admin service.
    pub listen_addr: SocketAddr,
    /// The pgwire address.
    pub sql_addr: SocketAddr,
    /// The HTTP address (health and metrics).
    pub http_addr: SocketAddr,
    /// Whether commits are fsynced before they are acknowledged. Always true for real nodes;
    /// only benchmarks of the layers above may turn it off.
    pub sync_commits: bool,
    /// Maximum clock offset tolerated between nodes, in milliseconds.
    pub max_offset_ms: u64,
    /// The merge queue of a cluster node (crate::merge).
    pub merge: crate::merge::MergeConfig,
}

impl NodeConfig {
    /// A config with the default addresses and a RocksDB store at `store`.
    pub fn new(store: StoreSpec) -> Result<NodeConfig> {
        Ok(NodeConfig {
            store,
            listen_addr: parse_addr(DEFAULT_LISTEN_ADDR)?,
            sql_addr: parse_addr(DEFAULT_SQL_ADDR)?,
            http_addr: parse_addr(DEFAULT_HTTP_ADDR)?,
            sync_commits: true,
            max_offset_ms: DEFAULT_MAX_OFFSET_MS,
            merge: crate::merge::MergeConfig::default(),
        })
    }

    /// A config for tests: every listener on 127.0.0.1 port 0 (the OS picks free ports).
    pub fn for_tests(store: StoreSpec) -> NodeConfig {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        NodeConfig {
            store,
            listen_addr: any,
            sql_addr: any,
            http_addr: any,
            sync_commits: true,
            max_offset_ms: DEFAULT_MAX_OFFSET_MS,
            merge: crate::merge::MergeConfig::default(),
        }
    }
}

/// Parses `host:port` (a name such as `localhost` is resolved; `:26257` means all interfaces).
pub fn parse_addr(s: &str) -> Result<SocketAddr> {
    let s = s.trim();
    let with_host = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    if let Ok(addr) = with_host.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !with_host.contains(':') {
        bail!("invalid address {s:?}: expected host:port");
    }
    with_host
        .to_socket_addrs()
        .map_err(|e| anyhow!("invalid address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| anyhow!("invalid address {s:?}: host resolves to nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_forms() {
        assert_eq!(StoreSpec::parse("d").unwrap(), StoreSpec::Path("d".into()));
        assert_eq!(
            StoreSpec::parse("path=/x/y").unwrap(),
            StoreSpec::Path("/x/y".into())
        );
        assert_eq!(
            StoreSpec::parse("type=mem,size=1GiB").unwrap(),
            StoreSpec::Memory
        );
        assert_eq!(
            StoreSpec::parse("path=/a,attrs=ssd").unwrap(),
            StoreSpec::Path("/a".into())
        );
        assert!(StoreSpec::parse("").is_err());
        assert!(StoreSpec::parse("path=").is_err());
        assert!(StoreSpec::parse("type=disk").is_err());
        assert!(StoreSpec::parse("foo=bar").is_err());
        assert!(StoreSpec::parse("path=/a,type=mem").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("127.0.0.1:1").unwrap().port(), 1);
        assert_eq!(parse_addr(":26257").unwrap().to_string(), "0.0.0.0:26257");
        assert!(parse_addr("localhost:5").unwrap().ip().is_loopback());
        assert!(parse_addr("nohost").is_err());
        assert!(parse_addr("127.0.0.1:99999").is_err());
    }
}

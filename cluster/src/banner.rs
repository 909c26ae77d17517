//! The startup banner printed to stdout once a node serves, in CockroachDB's layout so its
//! users find the URL where they expect it.

use crate::config::StoreSpec;
use crate::node::NodeHandle;
use crate::status::BUILD_VERSION;
use std::time::Duration;

/// Whether `store` already holds a RocksDB database (so the node restarts rather than
/// initialising a new cluster). Call before starting the node.
pub fn store_exists(store: &StoreSpec) -> bool {
    match store {
        StoreSpec::Path(p) => p.join("CURRENT").exists(),
        StoreSpec::Memory => false,
    }
}

/// The banner for a started node.
pub fn render(node: &NodeHandle, took: Duration, restarted: bool) -> String {
    let i = &node.info;
    let store = match &node.store {
        StoreSpec::Path(p) => {
            let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            format!("path={}", abs.display())
        }
        StoreSpec::Memory => "type=mem".to_string(),
    };
    let status = if restarted {
        "restarted pre-existing node"
    } else {
        "initialized new cluster"
    };
    let lines = [
        ("build", format!("meridian v{BUILD_VERSION}")),
        ("webui", format!("http://{}", i.http_addr)),
        ("sql", node.sql_url()),
        (
            "sql (JDBC)",
            format!(
                "jdbc:postgresql://{}/defaultdb?sslmode=disable&user=root",
                i.sql_addr
            ),
        ),
        (
            "RPC client flags",
            format!("meridian <client cmd> --host={} --insecure", i.listen_addr),
        ),
        ("logs", "(stderr)".to_string()),
        ("store[0]", store),
        ("storage engine", "rocksdb".to_string()),
        ("status", status.to_string()),
        ("nodeID", i.node_id().to_string()),
    ];
    let mut out = format!(
        "Meridian node starting at {} (took {:.1}s)\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f %z"),
        took.as_secs_f64()
    );
    for (k, v) in lines {
        out.push_str(&format!("{:<21}{v}\n", format!("{k}:")));
    }
    out
}

//! Real multi-node clusters of `meridian start` processes on 127.0.0.x, for kill tests.
//!
//! Each node gets its own loopback address (127.0.0.11, .12, ...) and ports picked free by the
//! OS at launch time, so several clusters can run at once. Nodes join each other through
//! `--join`; [`ProcessCluster::init`] runs `meridian init` against the first.

use crate::process::meridian_bin;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Connects with a 5-second bound; None when the node does not answer (it may be down).
pub async fn try_connect(url: &str) -> Option<tokio_postgres::Client> {
    let connecting = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, conn) = tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .ok()?
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(client)
}

/// One node process.
pub struct NodeProcess {
    child: Option<Child>,
    /// Store directory.
    pub store: PathBuf,
    /// gRPC address.
    pub grpc: SocketAddr,
    /// SQL address.
    pub sql: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// stderr log file.
    pub log: PathBuf,
}

/// A cluster of node processes.
pub struct ProcessCluster {
    /// The nodes, in start order (node 1 is the one initialised).
    pub nodes: Vec<NodeProcess>,
    join: String,
    extra: Vec<String>,
    _dir: tempfile::TempDir,
}

fn free_port(ip: [u8; 4]) -> u16 {
    TcpListener::bind(SocketAddr::from((ip, 0)))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl NodeProcess {
    /// `postgresql://root@<sql>/<db>?sslmode=disable`.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://root@{}/{db}?sslmode=disable", self.sql)
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

impl ProcessCluster {
    /// Starts `n` nodes (not initialised yet); `extra` flags go to every `meridian start`.
    pub fn start(n: usize, extra: &[&str]) -> ProcessCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut specs = Vec::new();
        for i in 0..n {
            let ip = [127, 0, 0, 11 + i as u8];
            let addr = |p| SocketAddr::from((ip, p));
            specs.push((
                addr(free_port(ip)),
                addr(free_port(ip)),
                addr(free_port(ip)),
            ));
        }
        let join = specs
            .iter()
            .map(|s| s.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut c = ProcessCluster {
            nodes: Vec::new(),
            join,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            _dir: dir,
        };
        for (i, (grpc, sql, http)) in specs.into_iter().enumerate() {
            let store = c._dir.path().join(format!("n{}", i + 1));
            let log = c._dir.path().join(format!("n{}.log", i + 1));
            let mut node = NodeProcess {
                child: None,
                store,
                grpc,
                sql,
                http,
                log,
            };
            c.launch(&mut node);
            c.nodes.push(node);
        }
        c
    }

    fn launch(&self, node: &mut NodeProcess) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("log file");
        let child = Command::new(meridian_bin())
            .arg("start")
            .arg("--insecure")
            .arg(format!("--store={}", node.store.display()))
            .arg(format!("--listen-addr={}", node.grpc))
            .arg(format!("--sql-addr={}", node.sql))
            .arg(format!("--http-addr={}", node.http))
            .arg(format!("--join={}", self.join))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn meridian start");
        node.child = Some(child);
    }

    /// Restarts node `i` (0-based) on its store and addresses.
    pub fn restart(&mut self, i: usize) {
        let mut node = std::mem::replace(
            &mut self.nodes[i],
            NodeProcess {
                child: None,
                store: PathBuf::new(),
                grpc: SocketAddr::from(([127, 0, 0, 1], 0)),
                sql: SocketAddr::from(([127, 0, 0, 1], 0)),
                http: SocketAddr::from(([127, 0, 0, 1], 0)),
                log: PathBuf::new(),
            },
        );
        node.kill9();
        self.launch(&mut node);
        self.nodes[i] = node;
    }

    /// Runs `meridian init` against the first node, retrying until it answers.
    pub fn init(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new(meridian_bin())
                .args(["init", "--insecure"])
                .arg(format!("--host={}", self.nodes[0].grpc))
                .output()
                .expect("run meridian init");
            if out.status.success() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "meridian init kept failing: {}\nlog:\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    self.nodes[0].log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("--- node {} ---\n{}", i + 1, n.log_text()))
            .collect()
    }
}

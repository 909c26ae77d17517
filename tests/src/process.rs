//! Running the real `meridian` binary as a child process, for end-to-end tests.
//!
//! The binary is found next to the test executable (`target/debug/meridian`, one directory
//! above `target/debug/deps/<test>`), or at `$MERIDIAN_BIN`. Cargo builds binaries of the
//! package under test only, so CI builds it first: `cargo build -p cluster --bin meridian`.
//!
//! Nodes listen on port 0 for every address; the test reads the bound SQL, gRPC and HTTP
//! addresses from the startup banner on the child's stdout, then waits (bounded) until a SQL
//! connection succeeds. The child's stderr (logs) goes to a file in the store's parent
//! directory and is printed when a wait times out.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a node may take to print its banner and accept SQL.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The path of the `meridian` binary (panics with instructions when it is missing).
pub fn meridian_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MERIDIAN_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current test executable");
    let mut candidates = Vec::new();
    // target/debug/deps/<test> -> target/debug/meridian
    if let Some(debug) = exe.parent().and_then(Path::parent) {
        candidates.push(debug.join("meridian"));
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug").join("meridian"));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the meridian binary was not found next to {}; build it first with \
             `cargo build -p cluster --bin meridian` or set MERIDIAN_BIN",
                exe.display()
            )
        })
}

/// A `meridian start-single-node` child process.
pub struct MeridianProcess {
    child: Child,
    /// The store directory.
    pub store: PathBuf,
    /// Bound pgwire address.
    pub sql_addr: SocketAddr,
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Where the child's stderr goes.
    pub log_path: PathBuf,
    /// The banner lines printed at startup.
    pub banner: Vec<String>,
}

impl MeridianProcess {
    /// Starts a node on `store` with every address on 127.0.0.1 port 0, and waits until it
    /// accepts SQL connections.
    pub fn start(store: &Path) -> MeridianProcess {
        let log_path = store.with_extension(format!("log.{}", unique()));
        let log = std::fs::File::create(&log_path).expect("create node log file");
        let mut child = Command::new(meridian_bin())
            .arg("start-single-node")
            .arg("--insecure")
            .arg(format!("--store={}", store.display()))
            .args([
                "--listen-addr=127.0.0.1:0",
                "--sql-addr=127.0.0.1:0",
                "--http-addr=127.0.0.1:0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn meridian");
        let stdout = child.stdout.take().expect("child stdout");
        let banner = read_banner(stdout, &log_path);
        let addr = |key: &str| -> SocketAddr {
            let line = banner
                .iter()
                .find(|l| l.starts_with(key))
                .unwrap_or_else(|| {
                    panic!(
                        "banner has no {key:?} line: {banner:#?}\nlog:\n{}",
                        read_log(&log_path)
                    )
                });
            let v = line[key.len()..].trim();
            let v = v
                .trim_start_matches("http://")
                .trim_start_matches("postgresql://root@");
            let v = v.split('/').next().unwrap_or(v);
            let v = v.split_whitespace().next().unwrap_or(v);
            v.parse()
                .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"))
        };
        let sql_addr = addr("sql:");
        let http_addr = addr("webui:");
        let grpc_addr = banner
            .iter()
            .find_map(|l| l.split("--host=").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("banner has no --host= address: {banner:#?}"));
        let p = MeridianProcess {
            child,
            store: store.to_path_buf(),
            sql_addr,
            grpc_addr,
            http_addr,
            log_path,
            banner,
        };
        p.wait_for_sql();
        p
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `postgresql://root@addr/<db>?sslmode=disable`.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://root@{}/{db}?sslmode=disable", self.sql_addr)
    }

    /// The node's stderr so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// Waits (bounded) until a TCP connection to the SQL port succeeds and the server answers a
    /// startup with something.
    pub fn wait_for_sql(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            match std::net::TcpStream::connect_timeout(&self.sql_addr, Duration::from_secs(1)) {
                Ok(_) => return,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "node never accepted SQL on {} (last error: {last})\nlog:\n{}",
            self.sql_addr,
            self.log()
        );
    }

    /// Sends SIGKILL and reaps the child: no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for MeridianProcess {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// Reads stdout lines until the banner's `nodeID:` line (bounded by [`START_TIMEOUT`]); keeps
/// draining stdout afterwards so the child never blocks on a full pipe.
fn read_banner(stdout: std::process::ChildStdout, log_path: &Path) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // After the banner nobody listens: keep draining so the child never blocks.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.starts_with("nodeID:");
                lines.push(line);
                if done {
                    return lines;
                }
            }
            Err(_) => panic!(
                "node did not print its banner within {START_TIMEOUT:?}; stdout so far: {lines:#?}\nlog:\n{}",
                read_log(log_path)
            ),
        }
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `psql` against the node as root with `args` appended; returns (success, stdout, stderr).
pub fn psql(addr: SocketAddr, db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("psql")
        .args([
            "-h",
            &addr.ip().to_string(),
            "-p",
            &addr.port().to_string(),
            "-U",
            "root",
            "-d",
            db,
        ])
        .args(["-X", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGSSLMODE", "disable")
        .output()
        .expect("run psql (install postgresql-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

//! `meridian demo --global` as a user or a script runs it: the process prints exactly one
//! `region <name>: postgresql://...` line per region on stdout, each URL accepts queries on
//! the movr data, and SIGTERM stops the demo cleanly.

use meridian_tests::cluster::try_connect;
use meridian_tests::process::meridian_bin;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the demo if the test fails before terminating it.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_global_prints_a_connectable_url_per_region() {
    let mut child = Command::new(meridian_bin())
        .args([
            "demo",
            "--global",
            "--latency-scale=0.1",
            "--sql-addr=127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn meridian demo --global");
    let stdout = child.stdout.take().expect("stdout");
    let mut demo = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("Press Ctrl-C")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(e) => panic!("demo did not finish starting ({e}); stdout so far: {lines:#?}"),
        }
    }
    let regions: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("region "))
        .filter_map(|l| l.split_once(": "))
        .map(|(r, u)| (r.to_string(), u.to_string()))
        .collect();
    let names: Vec<&str> = regions.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        names,
        ["us-east1", "us-west1", "europe-west1"],
        "{lines:#?}"
    );
    for (region, url) in &regions {
        assert!(url.starts_with("postgresql://"), "{url}");
        let client = try_connect(url)
            .await
            .unwrap_or_else(|| panic!("cannot connect to {region} at {url}"));
        let query = client.query_one("SELECT count(*) FROM rides", &[]);
        let n: i64 = tokio::time::timeout(Duration::from_secs(30), query)
            .await
            .unwrap_or_else(|_| panic!("{region}: no answer within 30 s"))
            .unwrap_or_else(|e| panic!("{region}: {e}"))
            .get(0);
        assert_eq!(n, 500, "{region}");
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(demo.0.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(s)) = demo.0.try_wait() {
            break s;
        }
        assert!(Instant::now() < deadline, "demo did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "demo exited with {status}");
}

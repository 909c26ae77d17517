//! The `meridian` binary's plumbing: help and version, flag validation, the HTTP and gRPC
//! endpoints, clean shutdown on SIGTERM, and refusing a store another node holds.

use meridian_tests::process::{meridian_bin, MeridianProcess};
use std::io::{Read, Write};
use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(meridian_bin())
        .args(args)
        .output()
        .expect("run meridian");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_on_every_command() {
    let commands: [&[&str]; 7] = [
        &[],
        &["start-single-node"],
        &["demo"],
        &["sql"],
        &["node"],
        &["node", "status"],
        &["version"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let (ok, out, err) = run(&args);
        assert!(ok, "{args:?} --help failed: {err}");
        assert!(out.contains("Usage: meridian"), "{args:?}: {out}");
    }
    let (_, out, _) = run(&["start-single-node", "--help"]);
    for flag in [
        "--insecure",
        "--store",
        "--listen-addr",
        "--sql-addr",
        "--http-addr",
    ] {
        assert!(
            out.contains(flag),
            "start-single-node --help lacks {flag}: {out}"
        );
    }
}

#[test]
fn version_prints_the_build() {
    let (ok, out, _) = run(&["version"]);
    assert!(ok);
    assert!(out.starts_with("meridian v"), "{out}");
}

#[test]
fn start_requires_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("--store={}", dir.path().join("s").display());
    let (ok, _, err) = run(&["start-single-node", &store, "--sql-addr=127.0.0.1:0"]);
    assert!(!ok);
    assert!(
        err.contains("TLS is not built yet") && err.contains("--insecure"),
        "{err}"
    );
}

#[test]
fn bad_flags_are_rejected_clearly() {
    let (ok, _, err) = run(&["start-single-node", "--insecure", "--sql-addr=nonsense"]);
    assert!(!ok);
    assert!(err.contains("invalid address"), "{err}");
    let (ok, _, err) = run(&["start-single-node", "--insecure", "--store=type=disk"]);
    assert!(!ok);
    assert!(err.contains("unknown store type"), "{err}");
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn http_grpc_and_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut node = MeridianProcess::start(&store);
    assert!(
        node.banner
            .iter()
            .any(|l| l.contains("initialized new cluster")),
        "{:?}",
        node.banner
    );

    let health = http_get(node.http_addr, "/health");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let vars = http_get(node.http_addr, "/_status/vars");
    assert!(vars.contains("meridian_uptime_seconds"), "{vars}");
    assert!(vars.contains("meridian_http_requests_total"), "{vars}");
    assert!(http_get(node.http_addr, "/nope").starts_with("HTTP/1.1 404"));

    let (ok, out, err) = run(&[
        "node",
        "status",
        "--insecure",
        &format!("--host={}", node.grpc_addr),
    ]);
    assert!(ok, "node status failed: {err}");
    assert!(out.contains(&node.sql_addr.to_string()), "{out}");

    // A second node on the same store must refuse, not corrupt it.
    let second = Command::new(meridian_bin())
        .args([
            "start-single-node",
            "--insecure",
            &format!("--store={}", store.display()),
        ])
        .args([
            "--listen-addr=127.0.0.1:0",
            "--sql-addr=127.0.0.1:0",
            "--http-addr=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another meridian node"), "{err}");

    let status = node.terminate().expect("node did not exit after SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        node.log()
    );
    assert!(node.log().contains("store synced"), "{}", node.log());

    // Restarting on the same store reports a pre-existing node.
    let node = MeridianProcess::start(&store);
    assert!(
        node.banner
            .iter()
            .any(|l| l.contains("restarted pre-existing node")),
        "{:?}",
        node.banner
    );
}

#[test]
fn taken_port_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(meridian_bin())
        .args([
            "start-single-node",
            "--insecure",
            &format!("--store={}", dir.path().display()),
        ])
        .arg(format!("--sql-addr={addr}"))
        .args(["--listen-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sql-addr") && err.contains(&addr.to_string()),
        "{err}"
    );
}

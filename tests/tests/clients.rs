//! Client libraries against a real node: psycopg 3 (server-side parameters), asyncpg and
//! node-postgres each run the create/insert/select/update/delete script in tests/clients/.
//!
//! When a library is not installed the test says so and passes, unless
//! MERIDIAN_REQUIRE_CLIENTS=1 (set by .ci/run, which installs them) makes that a failure.

use meridian_tests::process::MeridianProcess;
use std::path::PathBuf;
use std::process::Command;

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients")
}

fn required() -> bool {
    std::env::var("MERIDIAN_REQUIRE_CLIENTS").is_ok_and(|v| v == "1")
}

/// Whether `probe` (a command) succeeds; otherwise skip or fail depending on [`required`].
fn available(what: &str, program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .current_dir(clients_dir())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required(),
            "{what} is not installed but MERIDIAN_REQUIRE_CLIENTS=1"
        );
        eprintln!("SKIPPED: {what} is not installed (bash .ci/run installs it)");
    }
    ok
}

fn run_script(node: &MeridianProcess, program: &str, script: &str) {
    let out = Command::new(program)
        .arg(clients_dir().join(script))
        .arg(node.url("defaultdb"))
        .current_dir(clients_dir())
        .output()
        .unwrap_or_else(|e| panic!("running {program} {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(": ok"),
        "{script} failed:\nstdout: {stdout}\nstderr: {stderr}\nnode log:\n{}",
        node.log()
    );
}

#[test]
fn psycopg_crud() {
    if !available("psycopg 3", "python3", &["-c", "import psycopg"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let node = MeridianProcess::start(&dir.path().join("store"));
    run_script(&node, "python3", "psycopg_crud.py");
}

#[test]
fn asyncpg_crud() {
    if !available("asyncpg", "python3", &["-c", "import asyncpg"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let node = MeridianProcess::start(&dir.path().join("store"));
    run_script(&node, "python3", "asyncpg_crud.py");
}

#[test]
fn node_postgres_crud() {
    if !available(
        "node-postgres (npm ci in tests/clients)",
        "node",
        &["-e", "require('pg')"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let node = MeridianProcess::start(&dir.path().join("store"));
    run_script(&node, "node", "node_pg_crud.js");
}

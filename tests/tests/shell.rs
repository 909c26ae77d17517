//! `meridian sql` against a real node: -e statements, piped scripts, tables like psql, and
//! errors with their SQLSTATE.

use meridian_tests::process::{meridian_bin, MeridianProcess};
use std::io::Write;
use std::process::{Command, Stdio};

fn sql(node: &MeridianProcess, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(meridian_bin())
        .arg("sql")
        .arg("--insecure")
        .arg(format!("--url={}", node.url("defaultdb")))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meridian sql");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn execute_pipe_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = MeridianProcess::start(&dir.path().join("store"));
    let (code, out, err) = sql(
        &node,
        &[
            "-e",
            "CREATE TABLE t (id INT PRIMARY KEY, name TEXT)",
            "-e",
            "INSERT INTO t VALUES (1, 'ana'), (22, NULL)",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("CREATE TABLE") && out.contains("INSERT 0 2"),
        "{out}"
    );

    let (code, out, err) = sql(&node, &["-e", "SELECT id, name FROM t ORDER BY id"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        " id | name\n----+------\n  1 | ana\n 22 |\n(2 rows)\n\n"
    );

    // A piped multi-line script; it stops at the first error with exit code 1.
    let script = "SELECT\n  count(*) AS n\nFROM t;\nSELECT * FROM nosuch;\nSELECT 'not reached';\n";
    let (code, out, err) = sql(&node, &[], Some(script));
    assert_eq!(code, 1);
    assert!(out.contains(" n\n---\n 2\n(1 row)"), "{out}");
    assert!(!out.contains("not reached"));
    assert!(
        err.contains("ERROR: ") && err.contains("SQLSTATE: 42P01"),
        "{err}"
    );

    let (code, _, err) = sql(&node, &["-e", "SELEC 1"], None);
    assert_eq!(code, 1);
    assert!(err.contains("SQLSTATE: 42601"), "{err}");
}

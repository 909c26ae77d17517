//! psql against a real node: plain statements, and the catalog queries behind `\l`, `\dt`,
//! `\d <table>` and `\di` (pg_catalog must be rich enough for them).

use meridian_tests::process::{psql, MeridianProcess};

fn must_psql(node: &MeridianProcess, args: &[&str]) -> String {
    let (ok, out, err) = psql(node.sql_addr, "defaultdb", args);
    assert!(
        ok,
        "psql {args:?} failed:\nstdout: {out}\nstderr: {err}\nnode log:\n{}",
        node.log()
    );
    out
}

#[test]
fn psql_statements_and_meta_commands() {
    let dir = tempfile::tempdir().unwrap();
    let node = MeridianProcess::start(&dir.path().join("store"));
    must_psql(
        &node,
        &["-c", "CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(20) NOT NULL, balance DECIMAL(10,2))"],
    );
    must_psql(
        &node,
        &["-c", "CREATE INDEX accounts_owner_idx ON accounts (owner)"],
    );
    let out = must_psql(
        &node,
        &[
            "-c",
            "INSERT INTO accounts VALUES (1, 'ana', 10.50), (2, 'ben', 20)",
        ],
    );
    assert!(out.contains("INSERT 0 2"), "{out}");
    let out = must_psql(
        &node,
        &[
            "-At",
            "-c",
            "SELECT owner, balance FROM accounts ORDER BY id",
        ],
    );
    assert_eq!(out, "ana|10.50\nben|20.00\n");
    let out = must_psql(
        &node,
        &[
            "-c",
            "UPDATE accounts SET balance = balance + 1 WHERE id = 2",
        ],
    );
    assert!(out.contains("UPDATE 1"), "{out}");

    let out = must_psql(&node, &["-c", "\\l"]);
    assert!(out.contains("defaultdb"), "\\l: {out}");
    let out = must_psql(&node, &["-c", "\\dt"]);
    assert!(
        out.contains("accounts") && out.contains("table"),
        "\\dt: {out}"
    );
    let out = must_psql(&node, &["-c", "\\d accounts"]);
    for want in [
        "id",
        "owner",
        "character varying(20)",
        "balance",
        "numeric(10,2)",
        "not null",
    ] {
        assert!(out.contains(want), "\\d accounts lacks {want:?}: {out}");
    }
    let out = must_psql(&node, &["-c", "\\di"]);
    assert!(out.contains("accounts_owner_idx"), "\\di: {out}");

    // A script on stdin-like input with an error stops with psql's exit code 3 and SQLSTATE shown.
    let (ok, _, err) = psql(
        node.sql_addr,
        "defaultdb",
        &["-v", "VERBOSITY=verbose", "-c", "SELECT * FROM missing"],
    );
    assert!(!ok);
    assert!(err.contains("42P01"), "{err}");
}

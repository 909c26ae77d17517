//! End-to-end tests of the query engine: SQL text -> parse -> plan -> execute, in process,
//! on a LocalTxnManager over a MemoryEngine. DDL goes through `ddl::execute`.

use crate::catalog::testutil;
use crate::context::{ExecContext, ExecResult};
use crate::types::{DataType, Datum};
use crate::{ddl, exec, parser, Error};

/// Column names, rows as text, command tag.
type Outcome = (Vec<String>, Vec<Vec<String>>, String);

struct Db {
    ctx: ExecContext,
}

impl Db {
    fn new() -> Db {
        let m = testutil::store();
        Db {
            ctx: testutil::context(&m),
        }
    }

    fn run(&self, sql: &str, params: &[Datum]) -> Result<Outcome, Error> {
        let mut last = (vec![], vec![], String::new());
        for stmt in parser::parse(sql)? {
            let res = match ddl::execute(&self.ctx, &stmt)? {
                Some(r) => r,
                None => exec::execute(&self.ctx, &stmt, params)?,
            };
            last = match res {
                ExecResult::Command { tag } => (vec![], vec![], tag),
                ExecResult::Rows { columns, rows, tag } => {
                    let mut out = Vec::new();
                    for r in rows {
                        let r = r?;
                        out.push(
                            r.iter()
                                .zip(&columns)
                                .map(|(d, c)| d.to_pg_text(&c.ty).unwrap_or_else(|| "NULL".into()))
                                .collect(),
                        );
                    }
                    let n = out.len();
                    (
                        columns.iter().map(|c| c.name.clone()).collect(),
                        out,
                        format!("{tag} {n}"),
                    )
                }
            };
        }
        Ok(last)
    }

    /// Runs and returns rows as `a|b` strings.
    fn q(&self, sql: &str) -> Vec<String> {
        match self.run(sql, &[]) {
            Ok((_, rows, _)) => rows.into_iter().map(|r| r.join("|")).collect(),
            Err(e) => panic!("{sql}: {} {}", e.code, e.message),
        }
    }

    fn ok(&self, sql: &str) -> String {
        match self.run(sql, &[]) {
            Ok((_, _, tag)) => tag,
            Err(e) => panic!("{sql}: {} {}", e.code, e.message),
        }
    }

    fn err(&self, sql: &str) -> Error {
        match self.run(sql, &[]) {
            Ok(r) => panic!("{sql}: expected an error, got {:?}", r.1),
            Err(e) => e,
        }
    }
}

fn sample() -> Db {
    let db = Db::new();
    db.ok("CREATE TABLE t (a INT PRIMARY KEY, b INT, c TEXT)");
    db.ok("INSERT INTO t VALUES (1, 10, 'one'), (2, 20, 'two'), (3, NULL, 'three'), (4, 40, NULL)");
    db
}

#[test]
fn vertical_slice_insert_select_where_order() {
    let db = sample();
    assert_eq!(
        db.q("SELECT a, c FROM t WHERE b > 15 ORDER BY a DESC"),
        vec!["4|NULL", "2|two"]
    );
    assert_eq!(db.q("SELECT * FROM t WHERE a = 3"), vec!["3|NULL|three"]);
    assert_eq!(
        db.q("SELECT b FROM t ORDER BY b"),
        vec!["10", "20", "40", "NULL"]
    );
    assert_eq!(
        db.q("SELECT b FROM t ORDER BY b DESC"),
        vec!["NULL", "40", "20", "10"]
    );
    assert_eq!(
        db.q("SELECT b FROM t ORDER BY b NULLS FIRST LIMIT 2"),
        vec!["NULL", "10"]
    );
    assert_eq!(
        db.q("SELECT a FROM t ORDER BY a LIMIT 2 OFFSET 1"),
        vec!["2", "3"]
    );
    assert_eq!(
        db.q("SELECT a FROM t ORDER BY a FETCH FIRST ROW ONLY"),
        vec!["1"]
    );
    assert_eq!(
        db.q("SELECT a FROM t ORDER BY a OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY"),
        vec!["2", "3"]
    );
    assert_eq!(
        db.err("SELECT a FROM t LIMIT 1 FETCH FIRST ROW ONLY").code,
        crate::error::code::SYNTAX_ERROR
    );
}

#[test]
fn select_without_from_and_arithmetic() {
    let db = Db::new();
    assert_eq!(db.q("SELECT 1 + 2, 7 / 2, 7 % 3, -5"), vec!["3|3|1|-5"]);
    assert_eq!(
        db.q("SELECT NULL IS NULL, 1 IS DISTINCT FROM NULL, NULL IS NOT DISTINCT FROM NULL"),
        vec!["t|t|t"]
    );
    assert_eq!(
        db.q("SELECT CASE WHEN 1 > 2 THEN 'a' ELSE 'b' END, COALESCE(NULL, 3), NULLIF(1, 1)"),
        vec!["b|3|NULL"]
    );
    assert_eq!(
        db.q("SELECT 5 BETWEEN 1 AND 10, 5 NOT BETWEEN 1 AND 10, 3 IN (1, 2, NULL)"),
        vec!["t|f|NULL"]
    );
    assert_eq!(
        db.q("SELECT 'abc' LIKE 'a%', CAST('12' AS INT) + 1, '7'::int * 2"),
        vec!["t|13|14"]
    );
    assert_eq!(db.err("SELECT 1/0").code, "22012");
}

#[test]
fn aggregates_and_grouping() {
    let db = sample();
    assert_eq!(
        db.q("SELECT count(*), count(b), sum(b), min(c), max(b) FROM t"),
        vec!["4|3|70|one|40"]
    );
    assert_eq!(
        db.q("SELECT count(*), sum(b), avg(b) FROM t WHERE a > 100"),
        vec!["0|NULL|NULL"]
    );
    db.ok("INSERT INTO t VALUES (5, 10, 'x'), (6, 20, 'x')");
    assert_eq!(
        db.q("SELECT b, count(*) FROM t GROUP BY b ORDER BY b"),
        vec!["10|2", "20|2", "40|1", "NULL|1"]
    );
    assert_eq!(
        db.q("SELECT b, count(*) FROM t GROUP BY 1 HAVING count(*) > 1 ORDER BY 1"),
        vec!["10|2", "20|2"]
    );
    assert_eq!(
        db.q("SELECT count(DISTINCT b), sum(DISTINCT b) FROM t"),
        vec!["3|70"]
    );
    assert_eq!(
        db.q("SELECT b * 2 AS d FROM t GROUP BY b * 2 ORDER BY d LIMIT 1"),
        vec!["20"]
    );
    let e = db.err("SELECT a, count(*) FROM t");
    assert_eq!(e.code, "42803");
    assert_eq!(
        e.message,
        "column \"t.a\" must appear in the GROUP BY clause or be used in an aggregate function"
    );
    assert_eq!(db.err("SELECT a FROM t WHERE count(*) > 1").code, "42803");
}

#[test]
fn joins_of_every_kind() {
    let db = sample();
    db.ok("CREATE TABLE u (x INT PRIMARY KEY, y INT)");
    db.ok("INSERT INTO u VALUES (1, 100), (2, 200), (7, 700)");
    assert_eq!(
        db.q("SELECT a, y FROM t JOIN u ON a = x ORDER BY a"),
        vec!["1|100", "2|200"]
    );
    assert_eq!(
        db.q("SELECT a, y FROM t, u WHERE t.a = u.x AND u.y > 150"),
        vec!["2|200"]
    );
    assert_eq!(
        db.q("SELECT a, y FROM t LEFT JOIN u ON a = x ORDER BY a"),
        vec!["1|100", "2|200", "3|NULL", "4|NULL"]
    );
    assert_eq!(
        db.q("SELECT a, x FROM t RIGHT JOIN u ON a = x ORDER BY x"),
        vec!["1|1", "2|2", "NULL|7"]
    );
    assert_eq!(
        db.q("SELECT count(*) FROM t FULL JOIN u ON a = x"),
        vec!["5"]
    );
    assert_eq!(db.q("SELECT count(*) FROM t CROSS JOIN u"), vec!["12"]);
    assert_eq!(db.q("SELECT count(*) FROM t JOIN u ON a < x"), vec!["5"]);
    assert_eq!(
        db.q("SELECT t1.a, t2.a FROM t AS t1 JOIN t AS t2 ON t1.a = t2.a + 1 ORDER BY 1"),
        vec!["2|1", "3|2", "4|3"]
    );
    assert_eq!(db.err("SELECT a FROM t, t AS t2").code, "42702");
}

#[test]
fn subqueries() {
    let db = sample();
    assert_eq!(
        db.q("SELECT a FROM t WHERE b > (SELECT avg(b) FROM t) ORDER BY a"),
        vec!["4"]
    );
    assert_eq!(
        db.q("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM t AS x WHERE x.b < t.b) ORDER BY a"),
        vec!["2", "4"]
    );
    assert_eq!(
        db.q("SELECT a FROM t WHERE NOT EXISTS (SELECT 1 FROM t AS x WHERE x.b < t.b) ORDER BY a"),
        vec!["1", "3"]
    );
    assert_eq!(
        db.q("SELECT a FROM t WHERE b IN (SELECT b FROM t WHERE a < 3) ORDER BY a"),
        vec!["1", "2"]
    );
    // NOT IN over a set containing NULL is never true.
    assert_eq!(
        db.q("SELECT a FROM t WHERE a NOT IN (SELECT b FROM t)"),
        Vec::<String>::new()
    );
    assert_eq!(
        db.q("SELECT a, (SELECT count(*) FROM t AS x WHERE x.a <= t.a) FROM t ORDER BY a"),
        vec!["1|1", "2|2", "3|3", "4|4"]
    );
    assert_eq!(db.err("SELECT (SELECT a FROM t)").code, "21000");
}

#[test]
fn set_operations_ctes_values() {
    let db = sample();
    assert_eq!(
        db.q("SELECT a FROM t WHERE a < 3 UNION SELECT a FROM t WHERE a < 2 ORDER BY 1"),
        vec!["1", "2"]
    );
    assert_eq!(db.q("SELECT 1 UNION ALL SELECT 1"), vec!["1", "1"]);
    assert_eq!(
        db.q("SELECT a FROM t INTERSECT SELECT a + 1 FROM t ORDER BY 1"),
        vec!["2", "3", "4"]
    );
    assert_eq!(
        db.q("SELECT a FROM t EXCEPT SELECT a + 1 FROM t"),
        vec!["1"]
    );
    assert_eq!(db.q("WITH w AS (SELECT a, b FROM t WHERE b IS NOT NULL) SELECT count(*) FROM w AS w1 JOIN w AS w2 ON w1.a = w2.a"), vec!["3"]);
    assert_eq!(db.q("VALUES (1, 'a'), (2, 'b')"), vec!["1|a", "2|b"]);
    assert_eq!(
        db.q("SELECT DISTINCT b IS NULL FROM t ORDER BY 1"),
        vec!["f", "t"]
    );
    assert_eq!(
        db.q("SELECT x.c FROM (SELECT c FROM t WHERE a = 1) AS x"),
        vec!["one"]
    );
}

#[test]
fn dml_update_delete_returning() {
    let db = sample();
    assert_eq!(db.ok("UPDATE t SET b = b + 1 WHERE a <= 2"), "UPDATE 2");
    assert_eq!(
        db.q("SELECT b FROM t WHERE a <= 2 ORDER BY a"),
        vec!["11", "21"]
    );
    assert_eq!(
        db.q("UPDATE t SET c = 'z' WHERE a = 4 RETURNING a, c"),
        vec!["4|z"]
    );
    assert_eq!(db.q("DELETE FROM t WHERE b IS NULL RETURNING a"), vec!["3"]);
    assert_eq!(db.ok("DELETE FROM t WHERE a > 100"), "DELETE 0");
    assert_eq!(
        db.q("INSERT INTO t (a) VALUES (9) RETURNING a, b"),
        vec!["9|NULL"]
    );
    assert_eq!(
        db.ok("INSERT INTO t (a, b) SELECT a + 100, b FROM t"),
        "INSERT 0 4"
    );
    assert_eq!(db.q("SELECT count(*) FROM t"), vec!["8"]);
}

#[test]
fn constraints_defaults_and_conflicts() {
    let db = Db::new();
    db.ok("CREATE TABLE k (id INT PRIMARY KEY, v VARCHAR(3) NOT NULL DEFAULT 'abc', n INT CHECK (n > 0))");
    db.ok("INSERT INTO k (id) VALUES (1)");
    assert_eq!(db.q("SELECT * FROM k"), vec!["1|abc|NULL"]);
    assert_eq!(
        db.err("INSERT INTO k VALUES (2, 'toolong', 1)").code,
        "22001"
    );
    let e = db.err("INSERT INTO k VALUES (2, NULL, 1)");
    assert_eq!(e.code, "23502");
    assert_eq!(
        e.message,
        "null value in column \"v\" of relation \"k\" violates not-null constraint"
    );
    let e = db.err("INSERT INTO k VALUES (2, 'a', -1)");
    assert_eq!(e.code, "23514");
    assert_eq!(db.err("INSERT INTO k VALUES (1, 'a', 1)").code, "23505");
    assert_eq!(
        db.err("INSERT INTO k VALUES (3000000000, 'a', 1)").code,
        "22003"
    );
    assert_eq!(
        db.ok("INSERT INTO k VALUES (1, 'a', 1) ON CONFLICT DO NOTHING"),
        "INSERT 0 0"
    );
    db.ok(
        "INSERT INTO k VALUES (1, 'b', 5) ON CONFLICT (id) DO UPDATE SET v = excluded.v, n = k.n",
    );
    assert_eq!(db.q("SELECT * FROM k"), vec!["1|b|NULL"]);
    db.ok("UPSERT INTO k (id, v) VALUES (1, 'u'), (2, 'w')");
    assert_eq!(db.q("SELECT id, v FROM k ORDER BY id"), vec!["1|u", "2|w"]);
    db.ok("INSERT INTO k VALUES (3, DEFAULT, 2)");
    assert_eq!(db.q("SELECT v FROM k WHERE id = 3"), vec!["abc"]);
}

/// A multi-row INSERT checks uniqueness in one batch but fails like rows inserted one by one:
/// the first offending row decides the error, including collisions inside the statement.
#[test]
fn multi_row_insert_fails_at_the_first_offending_row() {
    let db = Db::new();
    db.ok("CREATE TABLE m (a INT PRIMARY KEY, b TEXT UNIQUE, c INT NOT NULL, d INT CHECK (d > 0))");
    db.ok("INSERT INTO m VALUES (1, 'x', 1, 1)");
    // A duplicate of an earlier row in the same statement.
    let e = db.err("INSERT INTO m VALUES (2, 'y', 1, 1), (3, 'z', 1, 1), (2, 'w', 1, 1)");
    assert_eq!(e.code, "23505");
    assert_eq!(e.detail.as_deref(), Some("Key (a)=(2) already exists."));
    // Of a unique secondary entry, against the same statement's rows.
    let e = db.err("INSERT INTO m VALUES (4, 'q', 1, 1), (5, 'q', 1, 1)");
    assert_eq!(e.detail.as_deref(), Some("Key (b)=(q) already exists."));
    // A collision with an existing row before a later row's NOT NULL or CHECK violation.
    let e = db.err("INSERT INTO m VALUES (6, 'r', 1, 1), (1, 's', 1, 1), (7, 't', NULL, 1)");
    assert_eq!(e.code, "23505");
    let e = db.err("INSERT INTO m VALUES (6, 'r', 1, 1), (1, 's', 1, 1), (7, 't', 1, -1)");
    assert_eq!(e.code, "23505");
    // And a NOT NULL violation before a later row's collision.
    let e = db.err("INSERT INTO m VALUES (6, 'r', NULL, 1), (1, 's', 1, 1)");
    assert_eq!(e.code, "23502");
    // NULLs in a UNIQUE column do not collide; nothing failed above was written.
    db.ok("CREATE TABLE n (a INT PRIMARY KEY, b INT UNIQUE)");
    assert_eq!(
        db.ok("INSERT INTO n VALUES (1, NULL), (2, NULL), (3, 3)"),
        "INSERT 0 3"
    );
    assert_eq!(db.q("SELECT a FROM m ORDER BY a"), vec!["1"]);
    // With a conflict clause each row sees the statement's earlier rows.
    assert_eq!(
        db.ok("INSERT INTO m VALUES (8, 'u', 1, 1), (8, 'v', 1, 1) ON CONFLICT DO NOTHING"),
        "INSERT 0 1"
    );
    assert_eq!(db.q("SELECT a, b FROM m WHERE a = 8"), vec!["8|u"]);
    // Many rows (more than one batch), RETURNING in order.
    db.ok("CREATE TABLE big (a INT PRIMARY KEY)");
    let rows = db.q("INSERT INTO big SELECT * FROM generate_series(1, 2500) RETURNING a");
    assert_eq!(rows.len(), 2500);
    assert_eq!((rows[0].as_str(), rows[2499].as_str()), ("1", "2500"));
    let e =
        db.err("INSERT INTO big SELECT * FROM generate_series(2501, 4000) UNION ALL SELECT 2600");
    assert_eq!(e.code, "23505");
}

#[test]
fn hidden_rowid_tables() {
    let db = Db::new();
    db.ok("CREATE TABLE h (a INT, b INT)");
    db.ok("INSERT INTO h VALUES (1, 2), (1, 2), (NULL, 3)");
    assert_eq!(
        db.q("SELECT * FROM h ORDER BY b, a"),
        vec!["1|2", "1|2", "NULL|3"]
    );
    assert_eq!(db.q("SELECT count(*) FROM h WHERE a = 1"), vec!["2"]);
}

#[test]
fn errors_carry_sqlstates() {
    let db = sample();
    assert_eq!(db.err("SELECT * FROM nope").code, "42P01");
    assert_eq!(db.err("SELECT nope FROM t").code, "42703");
    assert_eq!(db.err("SELECT a + 'x' FROM t").code, "22P02");
    assert_eq!(db.err("SELECT c + 1 FROM t").code, "42883");
}

#[test]
fn explain_shows_spans() {
    let db = sample();
    db.ok("CREATE INDEX t_b_idx ON t (b)");
    let lines = db.q("EXPLAIN SELECT * FROM t WHERE a = 1");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("scan t@t_pkey spans: [/1 - /1]")),
        "{lines:?}"
    );
    let lines = db.q("EXPLAIN SELECT * FROM t WHERE b BETWEEN 10 AND 20");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("scan t@t_b_idx spans: [/10 - /20]")),
        "{lines:?}"
    );
    assert_eq!(
        db.q("SELECT a FROM t WHERE b >= 10 AND b < 40 ORDER BY a"),
        vec!["1", "2"]
    );
    assert_eq!(
        db.q("SELECT a FROM t WHERE a IN (4, 2, 9) ORDER BY a"),
        vec!["2", "4"]
    );
    assert_eq!(db.q("SELECT a FROM t WHERE a > 2"), vec!["3", "4"]);
    db.ok("CREATE TABLE u (x INT PRIMARY KEY, y INT)");
    db.ok("INSERT INTO u VALUES (1, 100), (2, 200)");
    let lines = db.q("EXPLAIN SELECT * FROM t JOIN u ON t.a = u.x WHERE t.b = 10");
    assert!(lines.iter().any(|l| l.contains("lookup join")), "{lines:?}");
    assert_eq!(
        db.q("SELECT y FROM t JOIN u ON t.a = u.x WHERE t.b = 10"),
        vec!["100"]
    );
    let lines = db.q("EXPLAIN SELECT * FROM t JOIN u ON t.b = u.y");
    assert!(lines.iter().any(|l| l.contains("hash join")), "{lines:?}");
}

#[test]
fn parameters_are_typed_from_context() {
    let db = sample();
    let stmt = parser::parse("SELECT c FROM t WHERE a = $1 AND c LIKE $2")
        .unwrap()
        .remove(0);
    let d = crate::plan::describe(&db.ctx, &stmt, &[]).unwrap();
    assert_eq!(d.params, vec![DataType::Int4, DataType::Text]);
    assert_eq!(d.columns[0].name, "c");
    let (_, rows, _) = db
        .run(
            "SELECT c FROM t WHERE a = $1 LIMIT $2",
            &[Datum::Int(2), Datum::Int(5)],
        )
        .unwrap();
    assert_eq!(rows, vec![vec!["two".to_string()]]);
}

#[test]
fn memory_budget_is_enforced() {
    let mut db = sample();
    db.ctx.memory_budget_bytes = 64;
    assert_eq!(db.err("SELECT * FROM t ORDER BY c").code, "53200");
}

#[test]
fn generate_series_streams() {
    let db = Db::new();
    assert_eq!(
        db.q("SELECT * FROM generate_series(1, 3)"),
        vec!["1", "2", "3"]
    );
    assert_eq!(
        db.q("SELECT i * 2 FROM generate_series(5, 1, -2) AS g(i)"),
        vec!["10", "6", "2"]
    );
    db.ok("CREATE TABLE s (k INT PRIMARY KEY, v INT)");
    assert_eq!(
        db.ok("INSERT INTO s SELECT i, i % 3 FROM generate_series(1, 100) AS g(i)"),
        "INSERT 0 100"
    );
    assert_eq!(
        db.q("SELECT v, count(*) FROM s GROUP BY v ORDER BY v"),
        vec!["0|33", "1|34", "2|33"]
    );
    assert_eq!(
        db.err("SELECT * FROM generate_series(1, 3, 0)").code,
        "22023"
    );
}

#[test]
fn cast_column_names_follow_postgres() {
    let db = sample();
    let (names, _, _) = db
        .run(
            "SELECT '2024-01-15'::date::text, interval '90 minutes', c::varchar, 1::int, \
             (SELECT 2::int8), now()::date, ARRAY[1, 2], (ARRAY[1, 2])[1], \
             substr(c, 2), substring(c, 2) FROM t LIMIT 1",
            &[],
        )
        .unwrap();
    assert_eq!(
        names,
        vec![
            "text",
            "interval",
            "c",
            "int4",
            "int8",
            "now",
            "array",
            "array",
            "substr",
            "substring"
        ]
    );
}

#[test]
fn greatest_least_with_null_and_untyped_arguments() {
    let db = sample();
    assert_eq!(
        db.q("SELECT greatest(1, 2, NULL), least(NULL, 3), greatest(NULL, NULL), greatest(b, '15') FROM t WHERE a = 1"),
        vec!["2|3|NULL|15"]
    );
    assert_eq!(db.err("SELECT greatest(1, 'x'::text)").code, "42804");
}

#[test]
fn explicit_cast_of_literal_truncates_to_length() {
    let db = sample();
    assert_eq!(
        db.q("SELECT 'abcd'::varchar(2), CAST('abcd' AS char(3)) || '|', 'ab'::char(4) || '|'"),
        vec!["ab|abc||ab|"]
    );
    db.ok("CREATE TABLE v (k INT PRIMARY KEY, s VARCHAR(2))");
    assert_eq!(db.err("INSERT INTO v VALUES (1, 'abcd')").code, "22001");
    db.ok("INSERT INTO v VALUES (1, 'abcd'::varchar(2))");
    assert_eq!(db.q("SELECT s FROM v"), vec!["ab"]);
}

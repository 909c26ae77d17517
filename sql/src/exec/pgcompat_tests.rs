//! Tests of the PostgreSQL forms of `plan::bind_pg` / `exec::pgcompat`: arrays, ANY/ALL,
//! regular expressions, OPERATOR(), COLLATE, reg* casts, catalog functions, and the queries
//! psql 15 sends for `\l`, `\dt`, `\d t`, `\di`, `\dn` (taken verbatim from `psql -E`, as a
//! client would send them; nothing in the engine recognises them).

use crate::catalog::testutil;
use crate::context::{ExecContext, ExecResult};
use crate::{ddl, exec, parser, Error};
use std::sync::Arc;

struct Db {
    ctx: ExecContext,
}

impl Db {
    fn new() -> Db {
        let m = testutil::store();
        let mut ctx = testutil::context(&m);
        ctx.vtables = Arc::new(crate::vtable::SystemTables);
        Db { ctx }
    }

    fn run(&self, sql: &str) -> Result<Vec<String>, Error> {
        let mut last = Vec::new();
        for stmt in parser::parse(sql)? {
            let res = match ddl::execute(&self.ctx, &stmt)? {
                Some(r) => r,
                None => exec::execute(&self.ctx, &stmt, &[])?,
            };
            last = match res {
                ExecResult::Command { .. } => vec![],
                ExecResult::Rows { columns, rows, .. } => {
                    let mut out = Vec::new();
                    for r in rows {
                        let r = r?;
                        let cells: Vec<String> = r
                            .iter()
                            .zip(&columns)
                            .map(|(d, c)| d.to_pg_text(&c.ty).unwrap_or_else(|| "NULL".into()))
                            .collect();
                        out.push(cells.join("|"));
                    }
                    out
                }
            };
        }
        Ok(last)
    }

    fn q(&self, sql: &str) -> Vec<String> {
        self.run(sql)
            .unwrap_or_else(|e| panic!("{sql}: {} {}", e.code, e.message))
    }

    fn one(&self, sql: &str) -> String {
        self.q(sql).join("\n")
    }

    fn err(&self, sql: &str) -> String {
        match self.run(sql) {
            Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
            Err(e) => e.code.to_string(),
        }
    }
}

#[test]
fn array_values_and_text_form() {
    let db = Db::new();
    assert_eq!(db.one("SELECT ARRAY[1,2,NULL]"), "{1,2,NULL}");
    assert_eq!(
        db.one("SELECT ARRAY['a b','c','','NULL']"),
        r#"{"a b",c,"","NULL"}"#
    );
    assert_eq!(db.one("SELECT '{1, 2}'::int2[]"), "{1,2}");
    assert_eq!(
        db.one(r#"SELECT '{"x,y",NULL,z}'::text[]"#),
        r#"{"x,y",NULL,z}"#
    );
    assert_eq!(db.one("SELECT '{}'::int4[]"), "{}");
    assert_eq!(
        db.one("SELECT (ARRAY[10,20,30])[2], (ARRAY[1])[5]"),
        "20|NULL"
    );
    assert_eq!(
        db.one("SELECT ARRAY[1,2] || ARRAY[3], ARRAY[1] || 2, 0 || ARRAY[1]"),
        "{1,2,3}|{1,2}|{0,1}"
    );
    assert_eq!(
        db.one("SELECT ARRAY[1,2] = ARRAY[1,2], ARRAY[1,2] < ARRAY[1,3]"),
        "t|t"
    );
    assert_eq!(db.one("SELECT ARRAY[1,2]::text"), "{1,2}");
    assert_eq!(db.err("SELECT '{1,2'::int4[]"), "22P02");
    assert_eq!(db.err("SELECT '{{1},{2}}'::int4[]"), "0A000");
    assert_eq!(db.err("CREATE TABLE arr (a INT[])"), "0A000");
}

#[test]
fn array_functions() {
    let db = Db::new();
    assert_eq!(
        db.one("SELECT array_to_string(ARRAY['a',NULL,'c'], ','), array_to_string(ARRAY['a',NULL], ',', '*')"),
        "a,c|a,*"
    );
    assert_eq!(
        db.one("SELECT array_length(ARRAY[1,2,3], 1), array_upper(ARRAY[1,2], 1), array_lower(ARRAY[1], 1), cardinality(ARRAY[1,2])"),
        "3|2|1|2"
    );
    assert_eq!(db.one("SELECT array_length('{}'::int4[], 1)"), "NULL");
    assert_eq!(
        db.one("SELECT array_position(ARRAY['a','b'], 'b'), array_append(ARRAY[1], 2), array_cat(ARRAY[1], ARRAY[2])"),
        "2|{1,2}|{1,2}"
    );
    assert_eq!(db.one("SELECT string_to_array('a,b', ',')"), "{a,b}");
}

#[test]
fn array_subquery_any_all_unnest() {
    let db = Db::new();
    db.q("CREATE TABLE n (a INT PRIMARY KEY); INSERT INTO n VALUES (3), (1), (2)");
    assert_eq!(
        db.one("SELECT ARRAY(SELECT a FROM n ORDER BY a)"),
        "{1,2,3}"
    );
    assert_eq!(db.one("SELECT ARRAY(SELECT a FROM n WHERE a > 5)"), "{}");
    assert_eq!(
        db.one("SELECT 2 = ANY(ARRAY[1,2]), 5 = ANY(ARRAY[1,2]), 5 = ANY(ARRAY[1,NULL]), 3 > ALL(ARRAY[1,2])"),
        "t|f|NULL|t"
    );
    assert_eq!(db.one("SELECT 'a' = ANY('{a,b}')"), "t");
    assert_eq!(
        db.q("SELECT a FROM n WHERE a = ANY(ARRAY[1,3]) ORDER BY a"),
        vec!["1", "3"]
    );
    assert_eq!(
        db.q("SELECT a FROM n WHERE a = ANY(SELECT 2) ORDER BY a"),
        vec!["2"]
    );
    assert_eq!(
        db.q("SELECT a FROM n WHERE a <> ALL(SELECT 2) ORDER BY a"),
        vec!["1", "3"]
    );
    assert_eq!(
        db.q("SELECT x FROM pg_catalog.unnest(ARRAY[5,6]) x"),
        vec!["5", "6"]
    );
    assert_eq!(
        db.q("SELECT u FROM unnest(ARRAY['a','b']) AS u ORDER BY 1"),
        vec!["a", "b"]
    );
    assert_eq!(
        db.q("SELECT n.a, (SELECT count(*) FROM pg_catalog.unnest(ARRAY[n.a, n.a]) u) FROM n ORDER BY 1"),
        vec!["1|2", "2|2", "3|2"]
    );
    assert_eq!(db.err("SELECT 1 = ANY(1)"), "42804");
}

#[test]
fn regex_operators_operator_syntax_and_collate() {
    let db = Db::new();
    assert_eq!(
        db.one("SELECT 'abc' ~ '^a', 'abc' !~ '^a', 'ABC' ~* 'b', 'ABC' !~* 'b'"),
        "t|f|t|f"
    );
    assert_eq!(
        db.one("SELECT 't' OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default"),
        "t"
    );
    assert_eq!(db.one("SELECT 1 OPERATOR(pg_catalog.+) 2"), "3");
    assert_eq!(db.one("SELECT 'b' COLLATE \"C\" > 'a'"), "t");
    assert_eq!(db.err("SELECT 'a' ~ '('"), "2201B");
    assert_eq!(db.err("SELECT 'a' COLLATE \"de_DE\""), "42704");
}

#[test]
fn reg_casts_and_catalog_functions() {
    let db = Db::new();
    db.q("CREATE TABLE t (a INT PRIMARY KEY, b TEXT)");
    let oid = db.one("SELECT oid FROM pg_catalog.pg_class WHERE relname = 't'");
    assert_eq!(
        db.one("SELECT 't'::regclass = oid FROM pg_class WHERE relname = 't'"),
        "t"
    );
    assert_eq!(
        db.one(&format!(
            "SELECT {oid}::pg_catalog.regclass::pg_catalog.text"
        )),
        "t"
    );
    assert_eq!(
        db.one("SELECT 23::regtype, 'integer'::regtype::oid, 11::regnamespace"),
        "integer|23|pg_catalog"
    );
    assert_eq!(db.err("SELECT 'nosuch'::regclass"), "42P01");
    assert_eq!(
        db.one("SELECT pg_catalog.pg_get_userbyid(10), pg_catalog.format_type(23, -1)"),
        "root|integer"
    );
    assert_eq!(
        db.one("SELECT attname FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum = 2"),
        "b"
    );
}

#[test]
fn psql_describe_queries() {
    let db = Db::new();
    db.q("CREATE TABLE t (a INT PRIMARY KEY, b TEXT NOT NULL DEFAULT 'x'); CREATE INDEX t_b ON t (b)");
    // \l
    let l = db.q(r#"SELECT d.datname as "Name",
       pg_catalog.pg_get_userbyid(d.datdba) as "Owner",
       pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",
       d.datcollate as "Collate",
       CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS "Locale Provider",
       pg_catalog.array_to_string(d.datacl, E'\n') AS "Access privileges"
FROM pg_catalog.pg_database d
ORDER BY 1;"#);
    assert!(
        l.iter().any(|r| r.starts_with("defaultdb|root|UTF8|")),
        "{l:?}"
    );
    // \dt
    let dt = db.q(r#"SELECT n.nspname as "Schema", c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'i' THEN 'index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;"#);
    assert_eq!(dt, vec!["public|t|table|root"]);
    // \d t: lookup, then the policy, statistics and publication queries (arrays everywhere).
    let found = db.q(r"SELECT c.oid, n.nspname, c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;");
    assert_eq!(found.len(), 1);
    let oid = found[0].split('|').next().unwrap_or_default().to_string();
    db.q(&format!(r"SELECT pol.polname, pol.polpermissive,
  CASE WHEN pol.polroles = '{{0}}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,
  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid)
FROM pg_catalog.pg_policy pol
WHERE pol.polrelid = '{oid}' ORDER BY 1;"));
    db.q(&format!(r"SELECT oid, stxrelid::pg_catalog.regclass, stxnamespace::pg_catalog.regnamespace::pg_catalog.text AS nsp, stxname,
  'd' = any(stxkind) AS ndist_enabled
FROM pg_catalog.pg_statistic_ext
WHERE stxrelid = '{oid}'
ORDER BY nsp, stxname;"));
    db.q(&format!(r"SELECT pubname, pg_get_expr(pr.prqual, c.oid),
  (CASE WHEN pr.prattrs IS NOT NULL THEN
    (SELECT string_agg(attname, ', ')
       FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
            pg_catalog.pg_attribute
      WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
   ELSE NULL END)
FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
     JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
WHERE pr.prrelid = '{oid}' ORDER BY 1;"));
    let opts = db.q(&format!(r"SELECT pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')
FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
WHERE c.oid = '{oid}';"));
    assert_eq!(opts.len(), 1);
    // \dn
    let dn = db.q(
        r#"SELECT n.nspname AS "Name", pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1;"#,
    );
    assert_eq!(dn, vec!["public|root"]);
}

//! Tests of the multi-region statements on a fake cluster: a local store whose nodes report
//! localities in three regions, with a settable gateway locality.

use super::parse::{classify, AlterDatabase, LocalitySpec, MrStatement, RegionsTarget};
use crate::catalog::{Catalog, SurvivalGoal, TableDesc};
use crate::session::Session;
use crate::testutil::{self, Hooked, TxnHooks};
use crate::Error;
use parking_lot::Mutex;
use std::sync::Arc;
use txn::zone::{self, SpanConfig};
use txn::{LockStrength, NodeInfo, TxnOptions, TxnSource};

/// A cluster of five nodes in three regions over one local store; the gateway's locality is
/// settable.
struct FakeCluster {
    gateway: Mutex<String>,
    /// The keys every transaction read (point reads and scan starts), in order.
    reads: Mutex<Vec<Vec<u8>>>,
}

impl TxnHooks for FakeCluster {
    fn read(&self, key: &[u8], _lock: Option<LockStrength>, _scan: bool) {
        self.reads.lock().push(key.to_vec());
    }
    fn nodes(&self, _inner: &dyn TxnSource) -> txn::Result<Vec<NodeInfo>> {
        let localities = [
            "region=us-east1,zone=us-east1-b",
            "region=us-east1,zone=us-east1-c",
            "region=us-west1,zone=us-west1-a",
            "region=europe-west1,zone=europe-west1-b",
            "region=europe-west1,zone=europe-west1-c",
        ];
        Ok(localities
            .iter()
            .enumerate()
            .map(|(i, l)| NodeInfo {
                node_id: i as u64 + 1,
                address: format!("127.0.0.{}:26258", i + 1),
                sql_address: format!("127.0.0.{}:26257", i + 1),
                locality: l.to_string(),
                is_live: true,
                decommissioning: false,
                ranges: None,
                leases: None,
            })
            .collect())
    }
    fn locality(&self, _inner: &dyn TxnSource) -> Vec<(String, String)> {
        super::parse_locality(&self.gateway.lock())
    }
}

struct Harness {
    session: Session,
    txns: Arc<Hooked<FakeCluster>>,
    cluster: Arc<FakeCluster>,
}

fn harness() -> Harness {
    let txns = Hooked::new(
        testutil::local_store(),
        FakeCluster {
            gateway: Mutex::new("region=us-east1,zone=us-east1-b".into()),
            reads: Mutex::new(Vec::new()),
        },
    );
    let session = Session::new(
        txns.clone(),
        Arc::new(crate::vtable::SystemTables),
        "root",
        "defaultdb",
    );
    let cluster = txns.hooks.clone();
    Harness {
        session,
        txns,
        cluster,
    }
}

impl Harness {
    fn ok(&mut self, sql: &str) -> Vec<String> {
        testutil::ok(&mut self.session, sql)
    }

    /// The SQLSTATE and message of a failing statement.
    fn err(&mut self, sql: &str) -> Error {
        testutil::err(&mut self.session, sql)
    }

    fn gateway(&self, locality: &str) {
        *self.cluster.gateway.lock() = locality.to_string();
    }

    fn table(&self, db: &str, name: &str) -> Arc<TableDesc> {
        let txn = Arc::new(Mutex::new(
            self.txns.begin(TxnOptions::default()).expect("begin"),
        ));
        Catalog::must_table(&txn, db, name).expect("table")
    }

    /// Every span config record, decoded, in key order.
    fn records(&self) -> Vec<(Vec<u8>, SpanConfig)> {
        let mut txn = self.txns.begin(TxnOptions::default()).expect("begin");
        let (s, e) = zone::records_span();
        let page = txn.scan(&s, Some(&e), 10_000).expect("scan");
        page.rows
            .into_iter()
            .map(|(k, v)| {
                let start = zone::start_of(&k).expect("record key").to_vec();
                (start, zone::decode(&v).expect("record"))
            })
            .collect()
    }

    /// The records inside table `t`'s keyspace.
    fn table_records(&self, t: &TableDesc) -> Vec<(Vec<u8>, SpanConfig)> {
        let p = kv::keys::table_prefix(t.id);
        self.records()
            .into_iter()
            .filter(|(s, _)| s.starts_with(&p))
            .collect()
    }
}

fn mr(sql: &str) -> MrStatement {
    let stmts = crate::parser::parse(sql).unwrap_or_else(|e| panic!("{sql}: {}", e.message));
    classify(&stmts[0]).unwrap_or_else(|| panic!("{sql}: not a multi-region statement"))
}

#[test]
fn parses_every_statement_form() {
    assert_eq!(
        mr("SHOW REGIONS"),
        MrStatement::ShowRegions(RegionsTarget::All)
    );
    assert_eq!(
        mr("show regions from cluster"),
        MrStatement::ShowRegions(RegionsTarget::Cluster)
    );
    assert_eq!(
        mr("SHOW REGIONS FROM DATABASE"),
        MrStatement::ShowRegions(RegionsTarget::Database(None))
    );
    assert_eq!(
        mr("SHOW REGIONS FROM DATABASE MovR"),
        MrStatement::ShowRegions(RegionsTarget::Database(Some("movr".into())))
    );
    assert_eq!(
        mr("SHOW REGIONS FROM ALL DATABASES"),
        MrStatement::ShowRegions(RegionsTarget::AllDatabases)
    );
    assert_eq!(
        mr("SHOW SURVIVAL GOAL FROM DATABASE d"),
        MrStatement::ShowSurvivalGoal(Some("d".into()))
    );
    assert_eq!(
        mr(
            r#"CREATE DATABASE IF NOT EXISTS d PRIMARY REGION "us-east1" REGIONS "us-west1", 'europe-west1' SURVIVE REGION FAILURE"#
        ),
        MrStatement::CreateDatabase {
            name: "d".into(),
            if_not_exists: true,
            primary: Some("us-east1".into()),
            regions: vec!["us-west1".into(), "europe-west1".into()],
            survival: Some(SurvivalGoal::Region),
        }
    );
    let alter = |sql: &str| match mr(sql) {
        MrStatement::AlterDatabase { action, .. } => action,
        other => panic!("{sql}: {other:?}"),
    };
    assert_eq!(
        alter(r#"ALTER DATABASE d SET PRIMARY REGION "us-west1""#),
        AlterDatabase::SetPrimary("us-west1".into())
    );
    assert_eq!(
        alter(r#"ALTER DATABASE d PRIMARY REGION = "us-west1""#),
        AlterDatabase::SetPrimary("us-west1".into())
    );
    assert_eq!(
        alter(r#"ALTER DATABASE d ADD REGION IF NOT EXISTS "x""#),
        AlterDatabase::AddRegion {
            region: "x".into(),
            if_not_exists: true
        }
    );
    assert_eq!(
        alter(r#"ALTER DATABASE d DROP REGION "x""#),
        AlterDatabase::DropRegion {
            region: "x".into(),
            if_exists: false
        }
    );
    assert_eq!(
        alter("ALTER DATABASE d SURVIVE ZONE FAILURE"),
        AlterDatabase::Survive(SurvivalGoal::Zone)
    );
    let locality = |sql: &str| match mr(sql) {
        MrStatement::SetLocality { locality, .. } => locality,
        other => panic!("{sql}: {other:?}"),
    };
    assert_eq!(
        locality("ALTER TABLE t SET LOCALITY GLOBAL"),
        LocalitySpec::Global
    );
    assert_eq!(
        locality("ALTER TABLE t SET LOCALITY REGIONAL BY ROW"),
        LocalitySpec::ByRow(None)
    );
    assert_eq!(
        locality("ALTER TABLE t SET LOCALITY REGIONAL BY ROW AS Reg"),
        LocalitySpec::ByRow(Some("reg".into()))
    );
    assert_eq!(
        locality(r#"ALTER TABLE t SET LOCALITY REGIONAL BY TABLE IN "us-west1""#),
        LocalitySpec::ByTableIn("us-west1".into())
    );
    assert_eq!(
        locality("ALTER TABLE t SET LOCALITY REGIONAL BY TABLE IN PRIMARY REGION"),
        LocalitySpec::ByTablePrimary
    );
    assert_eq!(
        locality(r#"ALTER TABLE t SET LOCALITY REGIONAL IN "us-west1""#),
        LocalitySpec::ByTableIn("us-west1".into())
    );
    let stmts = crate::parser::parse("CREATE TABLE t (a INT PRIMARY KEY) LOCALITY GLOBAL").unwrap();
    let sqlparser::ast::Statement::CreateTable(ct) = &stmts[0] else {
        panic!("not a create table")
    };
    assert_eq!(
        super::parse::create_table_locality(ct),
        Some(LocalitySpec::Global)
    );
    // Ordinary statements are untouched.
    for sql in [
        "CREATE DATABASE d",
        "ALTER TABLE t ADD COLUMN b INT",
        "SHOW TABLES",
        "SHOW ALL",
    ] {
        let stmts = crate::parser::parse(sql).unwrap();
        assert!(classify(&stmts[0]).is_none(), "{sql}");
    }
    for bad in [
        "SHOW REGIONS FROM NOWHERE",
        "ALTER DATABASE d SURVIVE TABLE FAILURE",
        "CREATE TABLE t (a INT) LOCALITY SOMEWHERE",
        "ALTER TABLE t SET LOCALITY REGIONAL BY COLUMN",
    ] {
        assert_eq!(
            crate::parser::parse(bad).unwrap_err().code,
            "42601",
            "{bad}"
        );
    }
}

#[test]
fn shows_cluster_regions_and_gateway_region() {
    let mut h = harness();
    assert_eq!(
        h.ok("SHOW REGIONS FROM CLUSTER"),
        [
            "europe-west1|{europe-west1-b,europe-west1-c}",
            "us-east1|{us-east1-b,us-east1-c}",
            "us-west1|{us-west1-a}",
        ]
    );
    assert_eq!(h.ok("SELECT gateway_region()"), ["us-east1"]);
    h.gateway("region=us-west1,zone=us-west1-a");
    assert_eq!(h.ok("SELECT gateway_region()"), ["us-west1"]);
    h.gateway("");
    assert_eq!(h.err("SELECT gateway_region()").code, "22023");
    // A database without regions.
    assert_eq!(h.ok("SHOW REGIONS FROM DATABASE"), Vec::<String>::new());
    assert_eq!(h.ok("SHOW SURVIVAL GOAL FROM DATABASE"), ["defaultdb|NULL"]);
    assert_eq!(
        h.err("SELECT default_to_database_primary_region('us-east1')")
            .code,
        "42P12"
    );
}

#[test]
fn creates_multi_region_databases() {
    let mut h = harness();
    h.ok(r#"CREATE DATABASE movr PRIMARY REGION "us-east1" REGIONS "us-west1", "europe-west1""#);
    assert_eq!(
        h.ok("SHOW REGIONS FROM DATABASE movr"),
        [
            "movr|us-east1|t|f|{us-east1-b,us-east1-c}",
            "movr|europe-west1|f|f|{europe-west1-b,europe-west1-c}",
            "movr|us-west1|f|f|{us-west1-a}",
        ]
    );
    assert_eq!(h.ok("SHOW SURVIVAL GOAL FROM DATABASE movr"), ["movr|zone"]);
    assert_eq!(
        h.ok("SHOW REGIONS FROM ALL DATABASES"),
        [
            "defaultdb|{}|NULL|NULL|NULL",
            "movr|{europe-west1,us-east1,us-west1}|us-east1|NULL|zone",
            "postgres|{}|NULL|NULL|NULL",
            "system|{}|NULL|NULL|NULL",
        ]
    );
    assert_eq!(
        h.ok("SHOW REGIONS"),
        [
            "europe-west1|{europe-west1-b,europe-west1-c}|{movr}|{}|{}",
            "us-east1|{us-east1-b,us-east1-c}|{movr}|{movr}|{}",
            "us-west1|{us-west1-a}|{movr}|{}|{}",
        ]
    );
    h.ok("USE movr");
    assert_eq!(
        h.ok("SELECT default_to_database_primary_region('us-west1'), default_to_database_primary_region('mars')"),
        ["us-west1|us-east1"]
    );
    let e = h.err(r#"CREATE DATABASE d2 PRIMARY REGION "mars""#);
    assert_eq!(
        (e.code, e.message.as_str()),
        ("42602", "region \"mars\" does not exist")
    );
    assert!(e.hint.unwrap_or_default().contains("us-east1"));
    let e = h.err(
        r#"CREATE DATABASE d2 PRIMARY REGION "us-east1" REGIONS "us-west1" SURVIVE REGION FAILURE"#,
    );
    assert_eq!(e.code, "22023");
    assert_eq!(
        e.message,
        "at least 3 regions are required for surviving a region failure"
    );
    assert_eq!(
        h.err(r#"CREATE DATABASE movr PRIMARY REGION "us-east1""#)
            .code,
        "42P04"
    );
    h.ok(r#"CREATE DATABASE IF NOT EXISTS movr PRIMARY REGION "us-east1""#);
    assert_eq!(
        h.err(r#"CREATE DATABASE d3 REGIONS "us-east1""#).code,
        "42P12"
    );
    assert_eq!(
        h.ok("SHOW DATABASES")[1],
        "movr|root|us-east1|{europe-west1,us-east1,us-west1}|zone"
    );
}

#[test]
fn alters_database_regions() {
    let mut h = harness();
    h.ok("CREATE DATABASE d");
    let e = h.err(r#"ALTER DATABASE d ADD REGION "us-west1""#);
    assert_eq!(e.code, "42P12");
    let e = h.err("ALTER DATABASE d SURVIVE REGION FAILURE");
    assert_eq!(
        (e.code, e.message.as_str()),
        ("42P12", "database d is not multi-region enabled")
    );
    assert_eq!(
        h.err(r#"ALTER DATABASE d DROP REGION "us-west1""#).code,
        "42P12"
    );
    h.ok(r#"ALTER DATABASE d SET PRIMARY REGION "us-east1""#);
    h.ok(r#"ALTER DATABASE d ADD REGION "us-west1""#);
    assert_eq!(
        h.err(r#"ALTER DATABASE d ADD REGION "us-west1""#).code,
        "42710"
    );
    h.ok(r#"ALTER DATABASE d ADD REGION IF NOT EXISTS "us-west1""#);
    assert_eq!(h.err(r#"ALTER DATABASE d ADD REGION "mars""#).code, "42602");
    assert_eq!(
        h.err("ALTER DATABASE d SURVIVE REGION FAILURE").code,
        "22023"
    );
    h.ok(r#"ALTER DATABASE d ADD REGION "europe-west1""#);
    h.ok("ALTER DATABASE d SURVIVE REGION FAILURE");
    assert_eq!(h.ok("SHOW SURVIVAL GOAL FROM DATABASE d"), ["d|region"]);
    // Region survival needs three regions to stay.
    assert_eq!(
        h.err(r#"ALTER DATABASE d DROP REGION "us-west1""#).code,
        "22023"
    );
    h.ok("ALTER DATABASE d SURVIVE ZONE FAILURE");
    let e = h.err(r#"ALTER DATABASE d DROP REGION "us-east1""#);
    assert_eq!(
        (e.code, e.message.as_str()),
        ("42P12", "cannot drop region \"us-east1\"")
    );
    assert_eq!(
        h.err(r#"ALTER DATABASE d SET PRIMARY REGION "mars""#).code,
        "42602"
    );
    h.ok(r#"ALTER DATABASE d SET PRIMARY REGION "us-west1""#);
    h.ok(r#"ALTER DATABASE d DROP REGION "us-east1""#);
    h.ok(r#"ALTER DATABASE d DROP REGION IF EXISTS "us-east1""#);
    assert_eq!(
        h.err(r#"ALTER DATABASE d DROP REGION "us-east1""#).code,
        "42704"
    );
    assert_eq!(
        h.ok("SHOW REGIONS FROM DATABASE d"),
        [
            "d|us-west1|t|f|{us-west1-a}",
            "d|europe-west1|f|f|{europe-west1-b,europe-west1-c}"
        ]
    );
    h.ok(r#"ALTER DATABASE d DROP REGION "europe-west1""#);
    h.ok(r#"ALTER DATABASE d DROP REGION "us-west1""#);
    assert_eq!(h.ok("SHOW SURVIVAL GOAL FROM DATABASE d"), ["d|NULL"]);
}

#[test]
fn table_localities_and_their_span_configs() {
    let mut h = harness();
    h.ok(r#"CREATE DATABASE d PRIMARY REGION "us-east1" REGIONS "us-west1", "europe-west1""#);
    h.ok("USE d");
    h.ok("CREATE TABLE plain (a INT PRIMARY KEY)");
    h.ok(r#"CREATE TABLE west (a INT PRIMARY KEY) LOCALITY REGIONAL BY TABLE IN "us-west1""#);
    h.ok("CREATE TABLE g (a INT PRIMARY KEY) LOCALITY GLOBAL");
    let show = |h: &mut Harness, t: &str| h.ok(&format!("SHOW CREATE TABLE {t}"))[0].clone();
    assert!(show(&mut h, "plain").ends_with(") LOCALITY REGIONAL BY TABLE IN PRIMARY REGION"));
    assert!(show(&mut h, "west").ends_with(") LOCALITY REGIONAL BY TABLE IN \"us-west1\""));
    assert!(show(&mut h, "g").ends_with(") LOCALITY GLOBAL"));

    let plain = h.table("d", "plain");
    let recs = h.table_records(&plain);
    assert_eq!(recs.len(), 1);
    let c = &recs[0].1;
    assert_eq!((c.num_voters, c.num_replicas), (3, 5));
    assert_eq!(c.voter_constraints[0].region, "us-east1");
    assert_eq!(c.voter_constraints[0].count, 3);
    assert_eq!(c.constraints.len(), 3);
    assert_eq!(c.lease_preferences, ["us-east1"]);
    assert!(!c.global_reads);
    let west = h.table_records(&h.table("d", "west"));
    assert_eq!(west[0].1.lease_preferences, ["us-west1"]);
    let g = h.table_records(&h.table("d", "g"));
    assert!(g[0].1.global_reads);
    assert_eq!(g[0].1.lease_preferences, ["us-east1"]);
    let zone_text = h.ok("SHOW ZONE CONFIGURATION FROM TABLE plain");
    assert_eq!(
        zone_text,
        ["TABLE d.public.plain|ALTER TABLE d.public.plain CONFIGURE ZONE USING\n\tnum_replicas = 5,\n\tnum_voters = 3,\n\tconstraints = '{+region=europe-west1: 1, +region=us-east1: 1, +region=us-west1: 1}',\n\tvoter_constraints = '[+region=us-east1]',\n\tlease_preferences = '[[+region=us-east1]]'"]
    );

    // Survival and primary changes rewrite every record.
    h.ok("ALTER DATABASE d SURVIVE REGION FAILURE");
    let c = h.table_records(&plain)[0].1.clone();
    assert_eq!((c.num_voters, c.num_replicas), (5, 5));
    assert_eq!(
        (
            c.voter_constraints[0].region.as_str(),
            c.voter_constraints[0].count
        ),
        ("us-east1", 2)
    );
    h.ok(r#"ALTER DATABASE d SET PRIMARY REGION "europe-west1""#);
    assert_eq!(
        h.table_records(&plain)[0].1.lease_preferences,
        ["europe-west1"]
    );
    assert_eq!(
        h.table_records(&h.table("d", "west"))[0]
            .1
            .lease_preferences,
        ["us-west1"]
    );

    // A region in use by a table cannot be dropped; ALTER TABLE moves the table first.
    h.ok("ALTER DATABASE d SURVIVE ZONE FAILURE");
    let e = h.err(r#"ALTER DATABASE d DROP REGION "us-west1""#);
    assert_eq!(e.code, "2BP01", "{}", e.message);
    h.ok("ALTER TABLE west SET LOCALITY REGIONAL BY TABLE IN PRIMARY REGION");
    h.ok(r#"ALTER DATABASE d DROP REGION "us-west1""#);
    assert_eq!(h.table_records(&plain)[0].1.num_replicas, 4);
    assert_eq!(
        h.err(r#"CREATE TABLE x (a INT) LOCALITY REGIONAL BY TABLE IN "us-west1""#)
            .code,
        "42602"
    );

    // Dropping tables deletes their records; tables outside multi-region databases get none.
    h.ok("DROP TABLE plain");
    assert!(h.table_records(&plain).is_empty());
    h.ok("USE defaultdb");
    h.ok("CREATE TABLE t (a INT PRIMARY KEY)");
    assert!(h.table_records(&h.table("defaultdb", "t")).is_empty());
    assert_eq!(
        h.err("CREATE TABLE t2 (a INT) LOCALITY GLOBAL").code,
        "42P16"
    );
    assert_eq!(h.err("ALTER TABLE t SET LOCALITY GLOBAL").code, "42P12");
    h.ok("DROP DATABASE d CASCADE");
    assert!(h.records().is_empty());
}

#[test]
fn regional_by_row_tables() {
    let mut h = harness();
    h.ok(r#"CREATE DATABASE d PRIMARY REGION "us-east1" REGIONS "us-west1", "europe-west1""#);
    h.ok("USE d");
    h.ok("CREATE TABLE users (id INT PRIMARY KEY, email STRING UNIQUE, name STRING) LOCALITY REGIONAL BY ROW");
    assert_eq!(
        h.ok("SHOW CREATE TABLE users")[0],
        "users|CREATE TABLE public.users (\n\tid INT8 NOT NULL,\n\temail STRING NULL,\n\tname STRING NULL,\n\tcrdb_region public.crdb_internal_region NOT VISIBLE NOT NULL DEFAULT default_to_database_primary_region(gateway_region())::public.crdb_internal_region,\n\tCONSTRAINT users_pkey PRIMARY KEY (id ASC),\n\tUNIQUE INDEX users_email_key (email ASC)\n) LOCALITY REGIONAL BY ROW"
            .replace("INT8", &crate::types::DataType::Int4.sql_name())
            .replace("STRING", &crate::types::DataType::Text.sql_name())
    );
    h.ok("INSERT INTO users (id, email, name) VALUES (1, 'a@x', 'east')");
    h.gateway("region=us-west1,zone=us-west1-a");
    h.ok("INSERT INTO users (id, email, name) VALUES (2, 'b@x', 'west')");
    h.gateway("region=asia-east1,zone=a");
    h.ok("INSERT INTO users (id, email, name) VALUES (3, 'c@x', 'elsewhere')");
    h.ok(
        "INSERT INTO users (id, email, name, crdb_region) VALUES (4, 'd@x', 'eu', 'europe-west1')",
    );
    assert_eq!(
        h.ok("SELECT * FROM users ORDER BY id"),
        ["1|a@x|east", "2|b@x|west", "3|c@x|elsewhere", "4|d@x|eu"]
    );
    assert_eq!(
        h.ok("SELECT id, crdb_region FROM users ORDER BY id"),
        ["1|us-east1", "2|us-west1", "3|us-east1", "4|europe-west1"]
    );
    // Uniqueness holds across regions, for the primary key and for UNIQUE columns.
    h.gateway("region=us-east1,zone=us-east1-b");
    let e = h.err("INSERT INTO users (id, email) VALUES (2, 'z@x')");
    assert_eq!(e.code, "23505");
    assert_eq!(e.detail.as_deref(), Some("Key (id)=(2) already exists."));
    assert_eq!(
        h.err("INSERT INTO users (id, email, crdb_region) VALUES (5, 'd@x', 'us-west1')")
            .code,
        "23505"
    );
    assert_eq!(h.err("UPDATE users SET id = 4 WHERE id = 1").code, "23505");
    let e = h.err("INSERT INTO users (id, crdb_region) VALUES (9, 'mars')");
    assert_eq!(e.code, "22P02");
    // Moving a row to another region keeps its key unique and finds it there.
    h.ok("UPDATE users SET crdb_region = 'europe-west1' WHERE id = 2");
    assert_eq!(
        h.ok("SELECT name, crdb_region FROM users WHERE id = 2"),
        ["west|europe-west1"]
    );
    assert_eq!(h.ok("SELECT id FROM users WHERE email = 'd@x'"), ["4"]);
    h.ok(
        "UPSERT INTO users (id, email, name, crdb_region) VALUES (4, 'd@x', 'eu2', 'europe-west1')",
    );
    assert_eq!(h.ok("SELECT name FROM users WHERE id = 4"), ["eu2"]);
    h.ok("DELETE FROM users WHERE id = 3");
    assert_eq!(h.ok("SELECT count(*) FROM users"), ["3"]);

    // One table record plus one per index and region, homed there.
    let t = h.table("d", "users");
    let recs = h.table_records(&t);
    assert_eq!(recs.len(), 1 + 2 * 3);
    let west = super::zones::partition_prefix(&t, 1, "us-west1").unwrap();
    let (_, c) = recs
        .iter()
        .find(|(s, _)| *s == west)
        .expect("us-west1 partition");
    assert_eq!(c.lease_preferences, ["us-west1"]);
    assert_eq!(c.voter_constraints[0].region, "us-west1");
    // A new index is partitioned too.
    h.ok("CREATE INDEX users_name_idx ON users (name)");
    assert_eq!(h.table_records(&h.table("d", "users")).len(), 1 + 3 * 3);
    assert_eq!(h.ok("SELECT id FROM users WHERE name = 'east'"), ["1"]);

    // Regions with rows cannot be dropped.
    let e = h.err(r#"ALTER DATABASE d DROP REGION "europe-west1""#);
    assert_eq!(e.code, "2BP01", "{}", e.message);
    h.ok(r#"ALTER DATABASE d DROP REGION "us-west1""#);
    assert_eq!(
        h.err("INSERT INTO users (id, crdb_region) VALUES (10, 'us-west1')")
            .code,
        "22P02"
    );
    h.ok(r#"ALTER DATABASE d ADD REGION "us-west1""#);
    h.ok("INSERT INTO users (id, crdb_region) VALUES (10, 'us-west1')");
}

#[test]
fn set_locality_rewrites_rows() {
    let mut h = harness();
    h.ok(r#"CREATE DATABASE d PRIMARY REGION "us-east1" REGIONS "us-west1", "europe-west1""#);
    h.ok("USE d");
    h.ok("CREATE TABLE kv (k INT PRIMARY KEY, v STRING, UNIQUE (v))");
    h.ok("INSERT INTO kv VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    h.gateway("region=us-west1,zone=us-west1-a");
    h.ok("ALTER TABLE kv SET LOCALITY REGIONAL BY ROW");
    assert_eq!(
        h.ok("SELECT k, v, crdb_region FROM kv ORDER BY k"),
        ["1|a|us-west1", "2|b|us-west1", "3|c|us-west1"]
    );
    assert_eq!(
        h.err("INSERT INTO kv (k, v, crdb_region) VALUES (1, 'z', 'us-east1')")
            .code,
        "23505"
    );
    h.ok("UPDATE kv SET crdb_region = 'europe-west1' WHERE k = 2");
    assert!(h.ok("SHOW CREATE TABLE kv")[0].ends_with("LOCALITY REGIONAL BY ROW"));
    h.ok("ALTER TABLE kv SET LOCALITY GLOBAL");
    assert_eq!(h.ok("SELECT k, v FROM kv WHERE k = 2"), ["2|b"]);
    assert_eq!(h.ok("SELECT count(*) FROM kv"), ["3"]);
    assert_eq!(h.err("INSERT INTO kv VALUES (1, 'q')").code, "23505");
    let t = h.table("d", "kv");
    assert_eq!(h.table_records(&t).len(), 1);
    assert!(h.table_records(&t)[0].1.global_reads);
    // REGIONAL BY ROW AS an existing column.
    h.ok("CREATE TABLE r (id INT PRIMARY KEY, home STRING NOT NULL)");
    h.ok("INSERT INTO r VALUES (1, 'europe-west1')");
    h.ok("ALTER TABLE r SET LOCALITY REGIONAL BY ROW AS home");
    assert!(h.ok("SHOW CREATE TABLE r")[0].ends_with("LOCALITY REGIONAL BY ROW AS home"));
    assert_eq!(h.ok("SELECT * FROM r WHERE id = 1"), ["1|europe-west1"]);
    assert_eq!(
        h.err("ALTER TABLE r SET LOCALITY REGIONAL BY ROW AS nope")
            .code,
        "42703"
    );
    h.ok("CREATE TABLE n (id INT PRIMARY KEY, home STRING)");
    assert_eq!(
        h.err("ALTER TABLE n SET LOCALITY REGIONAL BY ROW AS home")
            .code,
        "42P16"
    );
    assert_eq!(
        h.err("ALTER TABLE missing SET LOCALITY GLOBAL").code,
        "42P01"
    );
    h.ok("ALTER TABLE IF EXISTS missing SET LOCALITY GLOBAL");
}

#[test]
fn point_lookups_search_the_gateway_region_first() {
    let mut h = harness();
    h.ok(r#"CREATE DATABASE d PRIMARY REGION "us-east1" REGIONS "us-west1", "europe-west1""#);
    h.ok("USE d");
    h.ok("CREATE TABLE t (id INT PRIMARY KEY, v STRING) LOCALITY REGIONAL BY ROW");
    h.ok("INSERT INTO t (id, v) VALUES (1, 'east')");
    h.ok("INSERT INTO t (id, v, crdb_region) VALUES (2, 'west', 'us-west1')");
    let t = h.table("d", "t");
    let prefix = |r: &str| super::zones::partition_prefix(&t, 1, r).unwrap();
    let read_in = |h: &Harness, r: &str| {
        let p = prefix(r);
        h.cluster.reads.lock().iter().any(|k| k.starts_with(&p))
    };
    // Found at home: no other region is read.
    h.cluster.reads.lock().clear();
    assert_eq!(h.ok("SELECT v FROM t WHERE id = 1"), ["east"]);
    assert!(read_in(&h, "us-east1"));
    assert!(!read_in(&h, "us-west1") && !read_in(&h, "europe-west1"));
    // Not at home: every region is searched.
    h.cluster.reads.lock().clear();
    assert_eq!(h.ok("SELECT v FROM t WHERE id = 2"), ["west"]);
    assert!(read_in(&h, "us-west1") && read_in(&h, "europe-west1"));
    // Naming the region reads only that region; a missing key reads every region.
    h.cluster.reads.lock().clear();
    assert_eq!(
        h.ok("SELECT v FROM t WHERE id = 2 AND crdb_region = 'us-west1'"),
        ["west"]
    );
    assert!(!read_in(&h, "us-east1") && !read_in(&h, "europe-west1"));
    assert_eq!(h.ok("SELECT v FROM t WHERE id = 3"), Vec::<String>::new());
    // Inserting a generated key reads no other region; an explicit key checks them all.
    h.ok("CREATE TABLE u (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), v STRING) LOCALITY REGIONAL BY ROW");
    let u = h.table("d", "u");
    let u_read_elsewhere = |h: &Harness| {
        let (w, e) = (
            super::zones::partition_prefix(&u, 1, "us-west1").unwrap(),
            super::zones::partition_prefix(&u, 1, "europe-west1").unwrap(),
        );
        h.cluster
            .reads
            .lock()
            .iter()
            .any(|k| k.starts_with(&w) || k.starts_with(&e))
    };
    h.cluster.reads.lock().clear();
    h.ok("INSERT INTO u (v) VALUES ('x')");
    assert!(!u_read_elsewhere(&h));
    h.cluster.reads.lock().clear();
    h.ok("INSERT INTO t (id, v) VALUES (5, 'e')");
    assert!(read_in(&h, "us-west1") && read_in(&h, "europe-west1"));
    // Range scans over every region keep SQL's order and limits.
    h.ok("INSERT INTO t (id, v, crdb_region) VALUES (6, 'eu', 'europe-west1'), (7, 'w', 'us-west1'), (8, 'e', 'us-east1')");
    assert_eq!(
        h.ok("SELECT id FROM t WHERE id > 1 ORDER BY id LIMIT 3"),
        ["2", "5", "6"]
    );
    assert_eq!(
        h.ok("SELECT id FROM t WHERE id >= 6 ORDER BY id DESC"),
        ["8", "7", "6"]
    );
    assert_eq!(h.ok("SELECT id FROM t ORDER BY id LIMIT 2"), ["1", "2"]);
    // From the west, the west row is found without reading the east.
    h.gateway("region=us-west1,zone=us-west1-a");
    h.cluster.reads.lock().clear();
    assert_eq!(
        h.ok("UPDATE t SET v = 'w2' WHERE id = 2 RETURNING v"),
        ["w2"]
    );
    assert!(!read_in(&h, "us-east1") && !read_in(&h, "europe-west1"));
}

#[test]
fn reads_descriptors_written_before_regions() {
    // A format-1 descriptor (before regions and localities) as an older node wrote it.
    #[derive(serde::Serialize)]
    struct DbV1 {
        id: u64,
        name: String,
        owner: String,
    }
    #[derive(serde::Serialize)]
    enum DescV1 {
        Database(DbV1),
    }
    let mut bytes = vec![1u8];
    bytes.extend(
        postcard::to_stdvec(&DescV1::Database(DbV1 {
            id: 500,
            name: "old".into(),
            owner: "root".into(),
        }))
        .unwrap(),
    );
    let h = harness();
    let mut txn = h.txns.begin(TxnOptions::default()).unwrap();
    let mut id_key = Vec::new();
    kv::encoding::encode_u64_asc(&mut id_key, 500);
    txn.put(kv::keys::system_key(0x02, &id_key), bytes).unwrap();
    let mut ns = Vec::new();
    kv::encoding::encode_u64_asc(&mut ns, 0);
    ns.extend_from_slice(b"old");
    txn.put(
        kv::keys::system_key(0x01, &ns),
        500u64.to_be_bytes().to_vec(),
    )
    .unwrap();
    crate::catalog::generation::bump(txn.as_mut()).unwrap();
    txn.commit().unwrap();
    let txn = Arc::new(Mutex::new(h.txns.begin(TxnOptions::default()).unwrap()));
    let db = Catalog::must_database(&txn, "old").unwrap();
    assert_eq!((db.id, db.regions), (500, None));
}

#[test]
fn movr_tutorial_statements() {
    // What CockroachDB's multi-region movr tutorial (and `meridian demo --global`) runs on an
    // existing single-region database.
    let mut h = harness();
    h.ok("CREATE DATABASE movr");
    h.ok("USE movr");
    h.ok("CREATE TABLE users (id INT PRIMARY KEY, city VARCHAR(40) NOT NULL, name TEXT NOT NULL)");
    h.ok("CREATE TABLE vehicles (id INT PRIMARY KEY, city VARCHAR(40) NOT NULL, status TEXT NOT NULL DEFAULT 'available')");
    h.ok("CREATE INDEX vehicles_city_status_idx ON vehicles (city, status)");
    h.ok("CREATE TABLE promo_codes (code TEXT PRIMARY KEY, percent_off INT NOT NULL)");
    h.ok("INSERT INTO users VALUES (1, 'new york', 'a'), (2, 'seattle', 'b'), (3, 'paris', 'c')");
    h.ok("INSERT INTO vehicles (id, city) VALUES (1, 'new york'), (2, 'paris')");
    h.ok(r#"ALTER DATABASE movr SET PRIMARY REGION "us-east1""#);
    assert!(h.ok("SHOW CREATE TABLE users")[0]
        .ends_with("LOCALITY REGIONAL BY TABLE IN PRIMARY REGION"));
    h.ok(r#"ALTER DATABASE movr ADD REGION "us-west1""#);
    h.ok(r#"ALTER DATABASE movr ADD REGION "europe-west1""#);
    let case = "CASE WHEN city IN ('seattle') THEN 'us-west1' WHEN city IN ('paris') THEN 'europe-west1' ELSE 'us-east1' END";
    for t in ["users", "vehicles"] {
        h.ok(&format!("ALTER TABLE {t} SET LOCALITY REGIONAL BY ROW"));
        h.ok(&format!("UPDATE {t} SET crdb_region = {case}"));
    }
    h.ok("ALTER TABLE promo_codes SET LOCALITY GLOBAL");
    assert_eq!(
        h.ok("SELECT id, crdb_region FROM users ORDER BY id"),
        ["1|us-east1", "2|us-west1", "3|europe-west1"]
    );
    assert_eq!(
        h.ok("SELECT id FROM vehicles WHERE city = 'paris' AND status = 'available'"),
        ["2"]
    );
    assert_eq!(
        h.ok("SHOW COLUMNS FROM users")[3]
            .split('|')
            .take(2)
            .collect::<Vec<_>>(),
        ["crdb_region", "public.crdb_internal_region"]
    );
    let users = h.table("movr", "users");
    assert_eq!(h.table_records(&users).len(), 1 + 3);
    let vehicles = h.table("movr", "vehicles");
    assert_eq!(h.table_records(&vehicles).len(), 1 + 2 * 3);
}

//! Declarations of the system tables: names and column types, PostgreSQL's spelling.

use crate::context::Column;
use crate::types::{DataType, Datum, Row};

/// Column type shorthands (see the module docs of [`super`] for the approximations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// oid, regproc, xid: INT8.
    Oid,
    /// name, text, "char", arrays in text form.
    Text,
    /// bool.
    Bool,
    /// int2.
    I2,
    /// int4.
    I4,
    /// int8.
    I8,
    /// float4.
    F4,
    /// text[] (aclitem[], name[], "char"[] and option lists).
    TextArr,
    /// oid[] (as int8[]).
    OidArr,
    /// int2[] (also int2vector columns that psql subscripts).
    I2Arr,
}

impl Ty {
    fn data_type(self) -> DataType {
        match self {
            Ty::Oid | Ty::I8 => DataType::Int8,
            Ty::Text => DataType::Text,
            Ty::Bool => DataType::Bool,
            Ty::I2 => DataType::Int2,
            Ty::I4 => DataType::Int4,
            Ty::F4 => DataType::Float4,
            Ty::TextArr => DataType::Array(Box::new(DataType::Text)),
            Ty::OidArr => DataType::Array(Box::new(DataType::Int8)),
            Ty::I2Arr => DataType::Array(Box::new(DataType::Int2)),
        }
    }

    /// The value of a column a row builder did not set: zero for numbers (PostgreSQL's
    /// catalogs use 0 for "no object"), false for booleans, NULL for text.
    fn default(self) -> Datum {
        match self {
            Ty::Oid | Ty::I8 | Ty::I2 | Ty::I4 => Datum::Int(0),
            Ty::F4 => Datum::Float(0.0),
            Ty::Bool => Datum::Bool(false),
            Ty::Text | Ty::TextArr | Ty::OidArr | Ty::I2Arr => Datum::Null,
        }
    }
}

/// One system table.
pub struct TableSpec {
    /// "pg_catalog" or "information_schema".
    pub schema: &'static str,
    /// Table name.
    pub name: &'static str,
    /// Columns in order.
    pub cols: &'static [(&'static str, Ty)],
}

impl TableSpec {
    /// The columns as the planner sees them.
    pub fn columns(&self) -> Vec<Column> {
        self.cols
            .iter()
            .map(|(n, t)| Column::new(*n, t.data_type()))
            .collect()
    }
}

/// A row under construction: named values; unnamed columns get defaults.
#[derive(Default)]
pub struct RowBuilder(Vec<(&'static str, Datum)>);

impl RowBuilder {
    /// An empty row.
    pub fn new() -> Self {
        RowBuilder(Vec::new())
    }

    /// Sets a column.
    pub fn set(mut self, col: &'static str, v: Datum) -> Self {
        self.0.push((col, v));
        self
    }

    /// Sets a text column.
    pub fn text(self, col: &'static str, v: impl Into<String>) -> Self {
        self.set(col, Datum::Text(v.into()))
    }

    /// Sets an integer column.
    pub fn int(self, col: &'static str, v: i64) -> Self {
        self.set(col, Datum::Int(v))
    }

    /// Sets a boolean column.
    pub fn bool(self, col: &'static str, v: bool) -> Self {
        self.set(col, Datum::Bool(v))
    }

    /// The row in `spec`'s column order.
    pub fn finish(self, spec: &TableSpec) -> Row {
        spec.cols
            .iter()
            .map(|(name, ty)| {
                self.0
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| ty.default())
            })
            .collect()
    }
}

/// The table `schema.name` (case-insensitive).
pub fn find(schema: &str, name: &str) -> Option<&'static TableSpec> {
    TABLES
        .iter()
        .find(|t| t.schema.eq_ignore_ascii_case(schema) && t.name.eq_ignore_ascii_case(name))
}

use Ty::*;

macro_rules! table {
    ($schema:literal, $name:literal, [$(($c:literal, $t:ident)),* $(,)?]) => {
        TableSpec { schema: $schema, name: $name, cols: &[$(($c, $t)),*] }
    };
}

static TABLES: &[TableSpec] = &[
    table!(
        "pg_catalog",
        "pg_namespace",
        [
            ("oid", Oid),
            ("nspname", Text),
            ("nspowner", Oid),
            ("nspacl", TextArr)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_class",
        [
            ("oid", Oid),
            ("relname", Text),
            ("relnamespace", Oid),
            ("reltype", Oid),
            ("reloftype", Oid),
            ("relowner", Oid),
            ("relam", Oid),
            ("relfilenode", Oid),
            ("reltablespace", Oid),
            ("relpages", I4),
            ("reltuples", F4),
            ("relallvisible", I4),
            ("reltoastrelid", Oid),
            ("relhasindex", Bool),
            ("relisshared", Bool),
            ("relpersistence", Text),
            ("relkind", Text),
            ("relnatts", I2),
            ("relchecks", I2),
            ("relhasrules", Bool),
            ("relhastriggers", Bool),
            ("relhassubclass", Bool),
            ("relrowsecurity", Bool),
            ("relforcerowsecurity", Bool),
            ("relispopulated", Bool),
            ("relreplident", Text),
            ("relispartition", Bool),
            ("relrewrite", Oid),
            ("relfrozenxid", Oid),
            ("relminmxid", Oid),
            ("relacl", TextArr),
            ("reloptions", TextArr),
            ("relpartbound", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_attribute",
        [
            ("attrelid", Oid),
            ("attname", Text),
            ("atttypid", Oid),
            ("attstattarget", I4),
            ("attlen", I2),
            ("attnum", I2),
            ("attndims", I4),
            ("attcacheoff", I4),
            ("atttypmod", I4),
            ("attbyval", Bool),
            ("attalign", Text),
            ("attstorage", Text),
            ("attcompression", Text),
            ("attnotnull", Bool),
            ("atthasdef", Bool),
            ("atthasmissing", Bool),
            ("attidentity", Text),
            ("attgenerated", Text),
            ("attisdropped", Bool),
            ("attislocal", Bool),
            ("attinhcount", I4),
            ("attcollation", Oid),
            ("attacl", TextArr),
            ("attoptions", TextArr),
            ("attfdwoptions", TextArr),
            ("attmissingval", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_type",
        [
            ("oid", Oid),
            ("typname", Text),
            ("typnamespace", Oid),
            ("typowner", Oid),
            ("typlen", I2),
            ("typbyval", Bool),
            ("typtype", Text),
            ("typcategory", Text),
            ("typispreferred", Bool),
            ("typisdefined", Bool),
            ("typdelim", Text),
            ("typrelid", Oid),
            ("typsubscript", Oid),
            ("typelem", Oid),
            ("typarray", Oid),
            ("typinput", Text),
            ("typoutput", Text),
            ("typreceive", Text),
            ("typsend", Text),
            ("typmodin", Text),
            ("typmodout", Text),
            ("typanalyze", Text),
            ("typalign", Text),
            ("typstorage", Text),
            ("typnotnull", Bool),
            ("typbasetype", Oid),
            ("typtypmod", I4),
            ("typndims", I4),
            ("typcollation", Oid),
            ("typdefaultbin", Text),
            ("typdefault", Text),
            ("typacl", TextArr),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_index",
        [
            ("indexrelid", Oid),
            ("indrelid", Oid),
            ("indnatts", I2),
            ("indnkeyatts", I2),
            ("indisunique", Bool),
            ("indnullsnotdistinct", Bool),
            ("indisprimary", Bool),
            ("indisexclusion", Bool),
            ("indimmediate", Bool),
            ("indisclustered", Bool),
            ("indisvalid", Bool),
            ("indcheckxmin", Bool),
            ("indisready", Bool),
            ("indislive", Bool),
            ("indisreplident", Bool),
            ("indkey", Text),
            ("indcollation", Text),
            ("indclass", Text),
            ("indoption", Text),
            ("indexprs", Text),
            ("indpred", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_database",
        [
            ("oid", Oid),
            ("datname", Text),
            ("datdba", Oid),
            ("encoding", I4),
            ("datlocprovider", Text),
            ("datistemplate", Bool),
            ("datallowconn", Bool),
            ("datconnlimit", I4),
            ("datfrozenxid", Oid),
            ("datminmxid", Oid),
            ("dattablespace", Oid),
            ("datcollate", Text),
            ("datctype", Text),
            ("daticulocale", Text),
            ("datcollversion", Text),
            ("datacl", TextArr),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_settings",
        [
            ("name", Text),
            ("setting", Text),
            ("unit", Text),
            ("category", Text),
            ("short_desc", Text),
            ("extra_desc", Text),
            ("context", Text),
            ("vartype", Text),
            ("source", Text),
            ("min_val", Text),
            ("max_val", Text),
            ("enumvals", Text),
            ("boot_val", Text),
            ("reset_val", Text),
            ("sourcefile", Text),
            ("sourceline", I4),
            ("pending_restart", Bool),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_attrdef",
        [
            ("oid", Oid),
            ("adrelid", Oid),
            ("adnum", I2),
            ("adbin", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_constraint",
        [
            ("oid", Oid),
            ("conname", Text),
            ("connamespace", Oid),
            ("contype", Text),
            ("condeferrable", Bool),
            ("condeferred", Bool),
            ("convalidated", Bool),
            ("conrelid", Oid),
            ("contypid", Oid),
            ("conindid", Oid),
            ("conparentid", Oid),
            ("confrelid", Oid),
            ("confupdtype", Text),
            ("confdeltype", Text),
            ("confmatchtype", Text),
            ("conislocal", Bool),
            ("coninhcount", I4),
            ("connoinherit", Bool),
            ("conkey", I2Arr),
            ("confkey", I2Arr),
            ("conbin", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_description",
        [
            ("objoid", Oid),
            ("classoid", Oid),
            ("objsubid", I4),
            ("description", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_shdescription",
        [("objoid", Oid), ("classoid", Oid), ("description", Text)]
    ),
    table!(
        "pg_catalog",
        "pg_am",
        [
            ("oid", Oid),
            ("amname", Text),
            ("amhandler", Text),
            ("amtype", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_roles",
        [
            ("rolname", Text),
            ("rolsuper", Bool),
            ("rolinherit", Bool),
            ("rolcreaterole", Bool),
            ("rolcreatedb", Bool),
            ("rolcanlogin", Bool),
            ("rolreplication", Bool),
            ("rolconnlimit", I4),
            ("rolpassword", Text),
            ("rolvaliduntil", Text),
            ("rolbypassrls", Bool),
            ("rolconfig", Text),
            ("oid", Oid),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_authid",
        [
            ("oid", Oid),
            ("rolname", Text),
            ("rolsuper", Bool),
            ("rolinherit", Bool),
            ("rolcreaterole", Bool),
            ("rolcreatedb", Bool),
            ("rolcanlogin", Bool),
            ("rolreplication", Bool),
            ("rolbypassrls", Bool),
            ("rolconnlimit", I4),
            ("rolpassword", Text),
            ("rolvaliduntil", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_user",
        [
            ("usename", Text),
            ("usesysid", Oid),
            ("usecreatedb", Bool),
            ("usesuper", Bool),
            ("userepl", Bool),
            ("usebypassrls", Bool),
            ("passwd", Text),
            ("valuntil", Text),
            ("useconfig", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_auth_members",
        [
            ("roleid", Oid),
            ("member", Oid),
            ("grantor", Oid),
            ("admin_option", Bool)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_proc",
        [
            ("oid", Oid),
            ("proname", Text),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prolang", Oid),
            ("procost", F4),
            ("prorows", F4),
            ("provariadic", Oid),
            ("prosupport", Text),
            ("prokind", Text),
            ("prosecdef", Bool),
            ("proleakproof", Bool),
            ("proisstrict", Bool),
            ("proretset", Bool),
            ("provolatile", Text),
            ("proparallel", Text),
            ("pronargs", I2),
            ("pronargdefaults", I2),
            ("prorettype", Oid),
            ("proargtypes", Text),
            ("proallargtypes", Text),
            ("proargmodes", Text),
            ("proargnames", Text),
            ("proargdefaults", Text),
            ("protrftypes", Text),
            ("prosrc", Text),
            ("probin", Text),
            ("prosqlbody", Text),
            ("proconfig", Text),
            ("proacl", TextArr),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_tables",
        [
            ("schemaname", Text),
            ("tablename", Text),
            ("tableowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("hasrules", Bool),
            ("hastriggers", Bool),
            ("rowsecurity", Bool),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_indexes",
        [
            ("schemaname", Text),
            ("tablename", Text),
            ("indexname", Text),
            ("tablespace", Text),
            ("indexdef", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_views",
        [
            ("schemaname", Text),
            ("viewname", Text),
            ("viewowner", Text),
            ("definition", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_matviews",
        [
            ("schemaname", Text),
            ("matviewname", Text),
            ("matviewowner", Text),
            ("definition", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_sequence",
        [
            ("seqrelid", Oid),
            ("seqtypid", Oid),
            ("seqstart", I8),
            ("seqincrement", I8),
            ("seqmax", I8),
            ("seqmin", I8),
            ("seqcache", I8),
            ("seqcycle", Bool)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_inherits",
        [
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", I4),
            ("inhdetachpending", Bool)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_collation",
        [
            ("oid", Oid),
            ("collname", Text),
            ("collnamespace", Oid),
            ("collowner", Oid),
            ("collprovider", Text),
            ("collisdeterministic", Bool),
            ("collencoding", I4),
            ("collcollate", Text),
            ("collctype", Text),
            ("colliculocale", Text),
            ("collversion", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_tablespace",
        [
            ("oid", Oid),
            ("spcname", Text),
            ("spcowner", Oid),
            ("spcacl", TextArr),
            ("spcoptions", TextArr)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_policy",
        [
            ("oid", Oid),
            ("polname", Text),
            ("polrelid", Oid),
            ("polcmd", Text),
            ("polpermissive", Bool),
            ("polroles", OidArr),
            ("polqual", Text),
            ("polwithcheck", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_statistic_ext",
        [
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Text),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", I4),
            ("stxkeys", Text),
            ("stxkind", TextArr),
            ("stxexprs", Text),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_publication",
        [
            ("oid", Oid),
            ("pubname", Text),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ]
    ),
    table!(
        "pg_catalog",
        "pg_publication_namespace",
        [("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)]
    ),
    table!(
        "pg_catalog",
        "pg_publication_rel",
        [
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", I2Arr)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_trigger",
        [
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgparentid", Oid),
            ("tgname", Text),
            ("tgfoid", Oid),
            ("tgtype", I2),
            ("tgenabled", Text),
            ("tgisinternal", Bool),
            ("tgconstrrelid", Oid),
            ("tgconstrindid", Oid),
            ("tgconstraint", Oid),
            ("tgdeferrable", Bool),
            ("tginitdeferred", Bool),
            ("tgnargs", I2),
            ("tgattr", Text),
            ("tgargs", Text),
            ("tgqual", Text),
            ("tgoldtable", Text),
            ("tgnewtable", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_rewrite",
        [
            ("oid", Oid),
            ("rulename", Text),
            ("ev_class", Oid),
            ("ev_type", Text),
            ("ev_enabled", Text),
            ("is_instead", Bool),
            ("ev_qual", Text),
            ("ev_action", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_enum",
        [
            ("oid", Oid),
            ("enumtypid", Oid),
            ("enumsortorder", F4),
            ("enumlabel", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_range",
        [
            ("rngtypid", Oid),
            ("rngsubtype", Oid),
            ("rngmultitypid", Oid),
            ("rngcollation", Oid),
            ("rngsubopc", Oid),
            ("rngcanonical", Text),
            ("rngsubdiff", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_extension",
        [
            ("oid", Oid),
            ("extname", Text),
            ("extowner", Oid),
            ("extnamespace", Oid),
            ("extrelocatable", Bool),
            ("extversion", Text),
            ("extconfig", Text),
            ("extcondition", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_depend",
        [
            ("classid", Oid),
            ("objid", Oid),
            ("objsubid", I4),
            ("refclassid", Oid),
            ("refobjid", Oid),
            ("refobjsubid", I4),
            ("deptype", Text)
        ]
    ),
    table!(
        "pg_catalog",
        "pg_stat_activity",
        [
            ("datid", Oid),
            ("datname", Text),
            ("pid", I4),
            ("leader_pid", I4),
            ("usesysid", Oid),
            ("usename", Text),
            ("application_name", Text),
            ("client_addr", Text),
            ("client_port", I4),
            ("backend_start", Text),
            ("xact_start", Text),
            ("query_start", Text),
            ("state_change", Text),
            ("wait_event_type", Text),
            ("wait_event", Text),
            ("state", Text),
            ("backend_xid", Oid),
            ("backend_xmin", Oid),
            ("query_id", I8),
            ("query", Text),
            ("backend_type", Text),
        ]
    ),
    table!(
        "information_schema",
        "schemata",
        [
            ("catalog_name", Text),
            ("schema_name", Text),
            ("schema_owner", Text),
            ("default_character_set_catalog", Text),
            ("default_character_set_schema", Text),
            ("default_character_set_name", Text),
            ("sql_path", Text),
        ]
    ),
    table!(
        "information_schema",
        "tables",
        [
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("table_type", Text),
            ("self_referencing_column_name", Text),
            ("reference_generation", Text),
            ("user_defined_type_catalog", Text),
            ("user_defined_type_schema", Text),
            ("user_defined_type_name", Text),
            ("is_insertable_into", Text),
            ("is_typed", Text),
            ("commit_action", Text),
        ]
    ),
    table!(
        "information_schema",
        "columns",
        [
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("ordinal_position", I4),
            ("column_default", Text),
            ("is_nullable", Text),
            ("data_type", Text),
            ("character_maximum_length", I4),
            ("character_octet_length", I4),
            ("numeric_precision", I4),
            ("numeric_precision_radix", I4),
            ("numeric_scale", I4),
            ("datetime_precision", I4),
            ("interval_type", Text),
            ("interval_precision", I4),
            ("character_set_catalog", Text),
            ("character_set_schema", Text),
            ("character_set_name", Text),
            ("collation_catalog", Text),
            ("collation_schema", Text),
            ("collation_name", Text),
            ("domain_catalog", Text),
            ("domain_schema", Text),
            ("domain_name", Text),
            ("udt_catalog", Text),
            ("udt_schema", Text),
            ("udt_name", Text),
            ("scope_catalog", Text),
            ("scope_schema", Text),
            ("scope_name", Text),
            ("maximum_cardinality", I4),
            ("dtd_identifier", Text),
            ("is_self_referencing", Text),
            ("is_identity", Text),
            ("identity_generation", Text),
            ("identity_start", Text),
            ("identity_increment", Text),
            ("identity_maximum", Text),
            ("identity_minimum", Text),
            ("identity_cycle", Text),
            ("is_generated", Text),
            ("generation_expression", Text),
            ("is_updatable", Text),
        ]
    ),
    table!(
        "information_schema",
        "table_constraints",
        [
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("constraint_type", Text),
            ("is_deferrable", Text),
            ("initially_deferred", Text),
            ("enforced", Text),
            ("nulls_distinct", Text),
        ]
    ),
    table!(
        "information_schema",
        "key_column_usage",
        [
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("ordinal_position", I4),
            ("position_in_unique_constraint", I4),
        ]
    ),
    table!(
        "information_schema",
        "views",
        [
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("view_definition", Text),
            ("check_option", Text),
            ("is_updatable", Text),
            ("is_insertable_into", Text),
            ("is_trigger_updatable", Text),
            ("is_trigger_deletable", Text),
            ("is_trigger_insertable_into", Text),
        ]
    ),
    table!(
        "information_schema",
        "routines",
        [
            ("specific_catalog", Text),
            ("specific_schema", Text),
            ("specific_name", Text),
            ("routine_catalog", Text),
            ("routine_schema", Text),
            ("routine_name", Text),
            ("routine_type", Text),
            ("data_type", Text),
        ]
    ),
    table!(
        "information_schema",
        "character_sets",
        [
            ("character_set_catalog", Text),
            ("character_set_schema", Text),
            ("character_set_name", Text),
            ("character_repertoire", Text),
            ("form_of_use", Text),
            ("default_collate_catalog", Text),
            ("default_collate_schema", Text),
            ("default_collate_name", Text),
        ]
    ),
];

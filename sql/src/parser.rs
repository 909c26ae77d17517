//! SQL text -> sqlparser AST, in PostgreSQL's dialect extended with CockroachDB's statements.
//!
//! We parse with sqlparser's `PostgreSqlDialect`, wrapped by [`MeridianDialect`] whose
//! `parse_statement` hook recognises statements PostgreSQL does not have:
//!
//! - `UPSERT INTO t [(cols)] VALUES ... | SELECT ...` (CockroachDB) is parsed exactly like
//!   `INSERT INTO ...` and returned as a [`Statement::Insert`] whose `replace_into` flag is set.
//!   That flag is MySQL's `REPLACE INTO` marker and is never set by the PostgreSQL dialect, so
//!   the executor reads `replace_into == true` as "this is an UPSERT" (see [`is_upsert`]).
//!
//! - `AS OF SYSTEM TIME` (CockroachDB) after a query's FROM list, in `BEGIN` and in
//!   `SET TRANSACTION`, and PostgreSQL's `FOR NO KEY UPDATE`, `FOR KEY SHARE` and
//!   `FOR UPDATE OF a, b`: see [`crdb`] for how they are parsed and where they are carried
//!   ([`select_as_of`], [`begin_as_of`], [`set_as_of`]).
//!
//! - `SHOW RANGES ...` and `ALTER TABLE|INDEX ... SPLIT AT ...` (CockroachDB): parsed by
//!   [`crate::ranges::parse::statement`], which documents how they travel in the AST.
//!
//! - CockroachDB's multi-region statements (`SHOW REGIONS`, `CREATE DATABASE ... PRIMARY
//!   REGION`, `ALTER DATABASE ... ADD REGION`, `CREATE TABLE ... LOCALITY`, `ALTER TABLE ...
//!   SET LOCALITY`, ...): parsed by [`crate::multiregion::parse::statement`].
//!
//! Parse errors become SQLSTATE 42601 with the parser's message, prefixed the way PostgreSQL
//! users expect (`at or near "x": syntax error: ...`) when the failing token is known.

use crate::error::Error;
use crate::Result;
use sqlparser::ast::{Expr, Statement};
use sqlparser::dialect::{BindPlaceholderStyle, Dialect, PostgreSqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};
use std::any::TypeId;

pub mod crdb;

pub use crdb::{begin_as_of, is_marker_name, query_as_of, AOST_MARKER};

/// PostgreSQL's dialect plus CockroachDB's `UPSERT` and `AS OF SYSTEM TIME`.
#[derive(Debug, Default)]
pub struct MeridianDialect {
    pg: PostgreSqlDialect,
    aost: crdb::AostState,
}

impl Dialect for MeridianDialect {
    /// Keeps PostgreSQL's identity for the parser's `dialect_of!` checks.
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn parse_statement(
        &self,
        parser: &mut Parser,
    ) -> Option<std::result::Result<Statement, ParserError>> {
        let tok = parser.peek_token();
        match &tok.token {
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("upsert") => {
                let upsert_token = parser.next_token();
                Some(parser.parse_insert(upsert_token).map(|stmt| match stmt {
                    Statement::Insert(mut ins) => {
                        ins.replace_into = true;
                        Statement::Insert(ins)
                    }
                    other => other,
                }))
            }
            _ => crate::ranges::parse::statement(parser)
                .or_else(|| crate::multiregion::parse::statement(parser))
                .or_else(|| self.aost.statement(parser))
                .or_else(|| self.pg.parse_statement(parser)),
        }
    }

    fn is_table_factor_alias(&self, explicit: bool, kw: &Keyword, parser: &mut Parser) -> bool {
        if self.aost.table_alias(explicit, *kw, parser) {
            return true;
        }
        let ok = explicit || self.pg.is_table_alias(kw, parser);
        if ok {
            self.aost.after_alias(parser);
        }
        ok
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<std::result::Result<Expr, ParserError>> {
        self.pg.parse_prefix(parser)
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        precedence: u8,
    ) -> Option<std::result::Result<Expr, ParserError>> {
        self.aost
            .infix(parser, expr)
            .or_else(|| self.pg.parse_infix(parser, expr, precedence))
    }

    fn supports_cte_materialization(&self) -> bool {
        self.pg.supports_cte_materialization()
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.pg.identifier_quote_style(identifier)
    }

    fn ordered_bind_placeholder_style(&self) -> Option<BindPlaceholderStyle> {
        self.pg.ordered_bind_placeholder_style()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.pg.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.pg.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.pg.is_identifier_part(ch)
    }

    fn supports_unicode_string_literal(&self) -> bool {
        self.pg.supports_unicode_string_literal()
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        self.pg.is_reserved_for_identifier(kw)
    }

    fn is_table_alias(&self, kw: &Keyword, parser: &mut Parser) -> bool {
        self.pg.is_table_alias(kw, parser)
    }

    fn supports_string_literal_column_alias(&self, explicit: bool) -> bool {
        self.pg.supports_string_literal_column_alias(explicit)
    }

    fn supports_string_literal_table_alias(&self, explicit: bool) -> bool {
        self.pg.supports_string_literal_table_alias(explicit)
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        self.pg.is_custom_operator_part(ch)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<std::result::Result<u8, ParserError>> {
        self.aost
            .next_precedence(parser)
            .or_else(|| self.pg.get_next_precedence(parser))
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        self.pg.supports_filter_during_aggregation()
    }

    fn supports_group_by_expr(&self) -> bool {
        self.pg.supports_group_by_expr()
    }

    fn supports_drop_group(&self) -> bool {
        self.pg.supports_drop_group()
    }

    fn supports_alter_user_as_alter_role(&self) -> bool {
        self.pg.supports_alter_user_as_alter_role()
    }

    fn supports_create_group(&self) -> bool {
        self.pg.supports_create_group()
    }

    fn supports_create_role_if_not_exists(&self) -> bool {
        self.pg.supports_create_role_if_not_exists()
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        self.pg.prec_value(prec)
    }

    fn allow_extract_custom(&self) -> bool {
        self.pg.allow_extract_custom()
    }

    fn allow_extract_single_quotes(&self) -> bool {
        self.pg.allow_extract_single_quotes()
    }

    fn supports_create_index_with_clause(&self) -> bool {
        self.pg.supports_create_index_with_clause()
    }

    fn supports_sql_option_without_value(&self) -> bool {
        self.pg.supports_sql_option_without_value()
    }

    fn supports_explain_with_utility_options(&self) -> bool {
        self.pg.supports_explain_with_utility_options()
    }

    fn supports_listen_notify(&self) -> bool {
        self.pg.supports_listen_notify()
    }

    fn supports_exclude_constraint(&self) -> bool {
        self.pg.supports_exclude_constraint()
    }

    fn supports_factorial_operator(&self) -> bool {
        self.pg.supports_factorial_operator()
    }

    fn supports_bitwise_shift_operators(&self) -> bool {
        self.pg.supports_bitwise_shift_operators()
    }

    fn supports_tilde_like_match_operator(&self) -> bool {
        self.pg.supports_tilde_like_match_operator()
    }

    fn supports_comparison_in_between_low_bound(&self) -> bool {
        self.pg.supports_comparison_in_between_low_bound()
    }

    fn supports_comment_on(&self) -> bool {
        self.pg.supports_comment_on()
    }

    fn supports_load_extension(&self) -> bool {
        self.pg.supports_load_extension()
    }

    fn supports_named_fn_args_with_colon_operator(&self) -> bool {
        self.pg.supports_named_fn_args_with_colon_operator()
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
        self.pg.supports_named_fn_args_with_expr_name()
    }

    fn supports_named_fn_args_with_assignment_operator(&self) -> bool {
        self.pg.supports_named_fn_args_with_assignment_operator()
    }

    fn supports_empty_projections(&self) -> bool {
        self.pg.supports_empty_projections()
    }

    fn supports_nested_comments(&self) -> bool {
        self.pg.supports_nested_comments()
    }

    fn supports_copy_from_stdin_data(&self) -> bool {
        self.pg.supports_copy_from_stdin_data()
    }

    fn supports_string_escape_constant(&self) -> bool {
        self.pg.supports_string_escape_constant()
    }

    fn supports_numeric_literal_underscores(&self) -> bool {
        self.pg.supports_numeric_literal_underscores()
    }

    fn supports_non_decimal_integer_literals(&self) -> bool {
        self.pg.supports_non_decimal_integer_literals()
    }

    fn supports_array_typedef_with_brackets(&self) -> bool {
        self.pg.supports_array_typedef_with_brackets()
    }

    fn supports_geometric_types(&self) -> bool {
        self.pg.supports_geometric_types()
    }

    fn supports_order_by_using_operator(&self) -> bool {
        self.pg.supports_order_by_using_operator()
    }

    fn supports_set_names(&self) -> bool {
        self.pg.supports_set_names()
    }

    fn supports_alter_column_type_using(&self) -> bool {
        self.pg.supports_alter_column_type_using()
    }

    fn supports_left_associative_joins_without_parens(&self) -> bool {
        self.pg.supports_left_associative_joins_without_parens()
    }

    fn supports_notnull_operator(&self) -> bool {
        self.pg.supports_notnull_operator()
    }

    fn supports_interval_options(&self) -> bool {
        self.pg.supports_interval_options()
    }

    fn is_interval_qualifier(&self, kw: Keyword) -> bool {
        self.pg.is_interval_qualifier(kw)
    }

    fn supports_insert_table_alias(&self) -> bool {
        self.pg.supports_insert_table_alias()
    }

    fn supports_create_table_like_parenthesized(&self) -> bool {
        self.pg.supports_create_table_like_parenthesized()
    }

    fn supports_select_wildcard_with_alias(&self) -> bool {
        self.pg.supports_select_wildcard_with_alias()
    }

    fn supports_comma_separated_trim(&self) -> bool {
        self.pg.supports_comma_separated_trim()
    }

    fn supports_xml_expressions(&self) -> bool {
        self.pg.supports_xml_expressions()
    }

    fn is_custom_type_typed_string(&self, first_keyword: Keyword, qualified: bool) -> bool {
        self.pg
            .is_custom_type_typed_string(first_keyword, qualified)
    }

    fn supports_aliased_function_args(&self) -> bool {
        self.pg.supports_aliased_function_args()
    }

    fn supports_comment_optimizer_hint(&self) -> bool {
        self.pg.supports_comment_optimizer_hint()
    }

    fn supports_add_column_if_not_exists(&self) -> bool {
        self.pg.supports_add_column_if_not_exists()
    }

    fn supports_attach_partition_of(&self) -> bool {
        self.pg.supports_attach_partition_of()
    }

    fn supports_detach_partition_of(&self) -> bool {
        self.pg.supports_detach_partition_of()
    }

    fn supports_table_inheritance_markers(&self) -> bool {
        self.pg.supports_table_inheritance_markers()
    }

    fn supports_column_generic_options(&self) -> bool {
        self.pg.supports_column_generic_options()
    }
}

/// Whether a parsed INSERT is CockroachDB's `UPSERT` (see the module docs).
pub fn is_upsert(ins: &sqlparser::ast::Insert) -> bool {
    ins.replace_into
}

/// The `AS OF SYSTEM TIME` expression of a SELECT (or EXPLAIN SELECT), if any.
pub fn select_as_of(stmt: &Statement) -> Option<&Expr> {
    match stmt {
        Statement::Query(q) => query_as_of(q),
        _ => None,
    }
}

/// The `AS OF SYSTEM TIME` expression of `SET TRANSACTION AS OF SYSTEM TIME x [, modes]`,
/// which parses as `SET "as of system time" = x [, transaction_isolation = ...,
/// transaction_read_only = ...]`, if `set` is one.
pub fn set_as_of(set: &sqlparser::ast::Set) -> Option<&Expr> {
    match set {
        sqlparser::ast::Set::MultipleAssignments { assignments } => assignments
            .iter()
            .find(|a| is_marker_name(&a.name))
            .map(|a| &a.value),
        _ => None,
    }
}

/// Parses a string of `;`-separated statements. Errors are 42601.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    let dialect = MeridianDialect::default();
    let tokens = Tokenizer::new(&dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| syntax_error(e.into()))?;
    Parser::new(&dialect)
        .with_tokens_with_locations(crdb::normalise_locking(tokens))
        .parse_statements()
        .map_err(syntax_error)
}

/// Turns a sqlparser error into PostgreSQL's 42601 shape.
fn syntax_error(e: ParserError) -> Error {
    let msg = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => {
            return Error::new(
                crate::error::code::PROGRAM_LIMIT_EXCEEDED,
                "statement is too deeply nested",
            )
        }
    };
    // sqlparser says `Expected: X, found: Y at Line: 1, Column: 8`.
    let near = msg.split("found: ").nth(1).map(|rest| {
        rest.split(" at Line")
            .next()
            .unwrap_or(rest)
            .trim()
            .to_string()
    });
    match near {
        Some(tok) if tok == "EOF" => {
            Error::syntax(format!("at or near \"EOF\": syntax error: {msg}"))
        }
        Some(tok) => Error::syntax(format!("at or near \"{tok}\": syntax error: {msg}")),
        None => Error::syntax(format!("syntax error: {msg}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_statements() {
        let stmts = parse("SELECT 1; INSERT INTO t VALUES (1)").unwrap();
        assert_eq!(stmts.len(), 2);
        match &stmts[1] {
            Statement::Insert(ins) => assert!(!is_upsert(ins)),
            other => panic!("not an insert: {other:?}"),
        }
    }

    #[test]
    fn parses_upsert_as_flagged_insert() {
        for sql in [
            "UPSERT INTO t VALUES (1, 2)",
            "upsert into t (a, b) values (1, 2), (3, 4)",
            "UPSERT INTO t SELECT * FROM u",
            "UPSERT INTO t (a) VALUES ($1) RETURNING a",
        ] {
            let stmts = parse(sql).unwrap();
            match &stmts[0] {
                Statement::Insert(ins) => assert!(is_upsert(ins), "{sql}"),
                other => panic!("{sql}: not an insert: {other:?}"),
            }
        }
    }

    #[test]
    fn upsert_as_identifier_still_works() {
        let stmts = parse("SELECT upsert FROM \"upsert\"").unwrap();
        assert!(matches!(stmts[0], Statement::Query(_)));
    }

    #[test]
    fn syntax_errors_are_42601() {
        let e = parse("SELEC 1").unwrap_err();
        assert_eq!(e.code, "42601");
        assert!(e.message.contains("syntax error"), "{}", e.message);
        let e = parse("SELECT * FROM").unwrap_err();
        assert_eq!(e.code, "42601");
        let e = parse("UPSERT t VALUES").unwrap_err();
        assert_eq!(e.code, "42601");
    }

    fn aost_text(sql: &str) -> String {
        let stmts = parse(sql).unwrap_or_else(|e| panic!("{sql}: {}", e.message));
        select_as_of(&stmts[0])
            .unwrap_or_else(|| panic!("{sql}: no AS OF SYSTEM TIME"))
            .to_string()
    }

    #[test]
    fn parses_as_of_system_time_after_the_from_list() {
        for (sql, want) in [
            ("SELECT * FROM t AS OF SYSTEM TIME '-10s'", "'-10s'"),
            (
                "SELECT * FROM t AS OF SYSTEM TIME '-10s' WHERE a = 1",
                "'-10s'",
            ),
            (
                "SELECT * FROM t x AS OF SYSTEM TIME '-1m30s' WHERE x.a = 1",
                "'-1m30s'",
            ),
            (
                "SELECT * FROM t AS x AS OF SYSTEM TIME follower_read_timestamp()",
                "follower_read_timestamp()",
            ),
            (
                "SELECT * FROM t, u AS OF SYSTEM TIME now() - INTERVAL '10s' ORDER BY 1",
                "now() - INTERVAL '10s'",
            ),
            (
                "SELECT * FROM t JOIN u ON t.a = u.a AS OF SYSTEM TIME '-1s' WHERE t.b > 2",
                "'-1s'",
            ),
            (
                "select a from (select a from t) s as of system time '2026-01-01 10:00:00'",
                "'2026-01-01 10:00:00'",
            ),
            (
                "SELECT * FROM t AS OF SYSTEM TIME 1700000000000000000.0000000001",
                "1700000000000000000.0000000001",
            ),
        ] {
            assert_eq!(aost_text(sql), want, "{sql}");
        }
    }

    #[test]
    fn aost_leaves_aliases_alone() {
        let stmts = parse("SELECT x.a FROM t AS x AS OF SYSTEM TIME '-1s'").unwrap();
        assert!(stmts[0].to_string().contains("FROM t AS x"), "{}", stmts[0]);
        let stmts = parse("SELECT * FROM t AS OF SYSTEM TIME '-1s'").unwrap();
        assert!(!stmts[0].to_string().contains("AS OF FROM"), "{}", stmts[0]);
        let Statement::Query(q) = &stmts[0] else {
            panic!()
        };
        let sqlparser::ast::SetExpr::Select(sel) = q.body.as_ref() else {
            panic!()
        };
        match &sel.from[0].relation {
            sqlparser::ast::TableFactor::Table { alias, .. } => assert!(alias.is_none()),
            other => panic!("{other:?}"),
        }
        // Without the clause nothing is attached; an alias called "of" still works quoted.
        let stmts = parse("SELECT * FROM t AS \"of\"").unwrap();
        assert!(select_as_of(&stmts[0]).is_none());
        // Statements in one string each get their own clause.
        let stmts = parse("SELECT * FROM t AS OF SYSTEM TIME '-1s'; SELECT * FROM t").unwrap();
        assert!(select_as_of(&stmts[0]).is_some());
        assert!(select_as_of(&stmts[1]).is_none());
    }

    #[test]
    fn aost_errors() {
        let e = parse("SELECT * FROM t AS OF SYSTEM TIME").unwrap_err();
        assert_eq!(e.code, "42601");
        let e = parse("INSERT INTO t SELECT * FROM u AS OF SYSTEM TIME '-1s'").unwrap_err();
        assert_eq!(e.code, "42601");
        assert!(e.message.contains("top-level"), "{}", e.message);
    }

    #[test]
    fn parses_begin_and_set_transaction_as_of() {
        for sql in [
            "BEGIN AS OF SYSTEM TIME '-10s'",
            "BEGIN TRANSACTION AS OF SYSTEM TIME '-10s', READ ONLY",
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE AS OF SYSTEM TIME '-10s'",
        ] {
            let stmts = parse(sql).unwrap();
            assert!(
                matches!(stmts[0], Statement::StartTransaction { .. }),
                "{sql}"
            );
            assert_eq!(
                begin_as_of(&stmts[0]).unwrap().to_string(),
                "'-10s'",
                "{sql}"
            );
        }
        assert!(begin_as_of(&parse("BEGIN").unwrap()[0]).is_none());
        let stmts = parse("SET TRANSACTION AS OF SYSTEM TIME '-5s', READ ONLY").unwrap();
        let Statement::Set(set) = &stmts[0] else {
            panic!()
        };
        assert_eq!(set_as_of(set).unwrap().to_string(), "'-5s'");
        let stmts = parse("SET TRANSACTION READ ONLY").unwrap();
        let Statement::Set(set) = &stmts[0] else {
            panic!()
        };
        assert!(set_as_of(set).is_none());
    }

    fn lock_clauses(sql: &str) -> Vec<String> {
        let stmts = parse(sql).unwrap_or_else(|e| panic!("{sql}: {}", e.message));
        let Statement::Query(q) = &stmts[0] else {
            panic!()
        };
        q.locks.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn parses_every_locking_clause() {
        assert_eq!(lock_clauses("SELECT * FROM t FOR UPDATE"), ["FOR UPDATE"]);
        assert_eq!(
            lock_clauses("SELECT * FROM t FOR NO KEY UPDATE"),
            ["FOR UPDATE"]
        );
        assert_eq!(lock_clauses("SELECT * FROM t for key share"), ["FOR SHARE"]);
        assert_eq!(
            lock_clauses("SELECT * FROM a, s.b FOR UPDATE OF a, s.b NOWAIT"),
            ["FOR UPDATE OF a", "FOR UPDATE OF s.b NOWAIT"]
        );
        assert_eq!(
            lock_clauses("SELECT * FROM a, b FOR SHARE OF a FOR UPDATE OF b"),
            ["FOR SHARE OF a", "FOR UPDATE OF b"]
        );
        // Strings are tokens, not clauses.
        let stmts = parse("SELECT 'FOR NO KEY UPDATE'").unwrap();
        assert!(stmts[0].to_string().contains("'FOR NO KEY UPDATE'"));
    }
}

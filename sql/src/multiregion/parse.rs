//! Parsing CockroachDB's multi-region statements inside the dialect's statement hook, and
//! reading them back from the AST.
//!
//! sqlparser's AST has no node for these statements, so (like `SHOW RANGES` in
//! [`crate::ranges::parse`]) they travel in an existing node under a marker that no ordinary
//! statement produces: a `ShowVariable` whose first word is the quoted marker
//! [`STATEMENT_MARKER`] and whose second word is the parsed [`MrStatement`] as JSON. The one
//! exception is `CREATE TABLE ... LOCALITY ...`, which is an ordinary CREATE TABLE with a
//! clause after it: sqlparser parses the table, this hook parses the clause and stores it in
//! the table's (Hive-only, never set by the PostgreSQL dialect) `location` field behind
//! [`LOCALITY_MARKER`]; [`create_table_locality`] reads it back.
//!
//! Names are normalized here (unquoted identifiers folded to lower case); region names may be
//! quoted identifiers (`"us-east1"`, CockroachDB's form) or string literals (`'us-east1'`).

use crate::catalog::SurvivalGoal;
use serde::{Deserialize, Serialize};
use sqlparser::ast::{CreateTable, Ident, ObjectName, Statement};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// First word of the `ShowVariable` carrying a multi-region statement.
const STATEMENT_MARKER: &str = "meridian multi-region";
/// Prefix of `CreateTable::location` carrying a LOCALITY clause.
const LOCALITY_MARKER: &str = "meridian locality:";

/// A name as written: its parts, each with whether it was quoted.
pub type NameParts = Vec<(String, bool)>;

/// A table locality as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocalitySpec {
    /// `REGIONAL BY TABLE IN PRIMARY REGION` (or without IN).
    ByTablePrimary,
    /// `REGIONAL BY TABLE IN "r"`.
    ByTableIn(String),
    /// `GLOBAL`.
    Global,
    /// `REGIONAL BY ROW [AS column]`.
    ByRow(Option<String>),
}

/// What `SHOW REGIONS` is asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegionsTarget {
    /// `SHOW REGIONS`.
    All,
    /// `FROM CLUSTER`.
    Cluster,
    /// `FROM DATABASE [d]` (None: the current database).
    Database(Option<String>),
    /// `FROM ALL DATABASES`.
    AllDatabases,
}

/// What `SHOW ZONE CONFIGURATION` is asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZoneTarget {
    /// `FROM TABLE t`.
    Table(NameParts),
    /// `FROM DATABASE d`.
    Database(String),
    /// `SHOW ZONE CONFIGURATIONS` / `SHOW ALL ZONE CONFIGURATIONS`.
    All,
}

/// An `ALTER DATABASE` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlterDatabase {
    /// `SET PRIMARY REGION r` / `PRIMARY REGION r`.
    SetPrimary(String),
    /// `ADD REGION [IF NOT EXISTS] r`.
    AddRegion {
        /// The region.
        region: String,
        /// IF NOT EXISTS.
        if_not_exists: bool,
    },
    /// `DROP REGION [IF EXISTS] r`.
    DropRegion {
        /// The region.
        region: String,
        /// IF EXISTS.
        if_exists: bool,
    },
    /// `SURVIVE ZONE|REGION FAILURE`.
    Survive(SurvivalGoal),
}

/// A multi-region statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MrStatement {
    /// `SHOW REGIONS ...`.
    ShowRegions(RegionsTarget),
    /// `SHOW SURVIVAL GOAL FROM DATABASE [d]`.
    ShowSurvivalGoal(Option<String>),
    /// `SHOW ZONE CONFIGURATION ...`.
    ShowZone(ZoneTarget),
    /// `CREATE DATABASE d PRIMARY REGION r [REGIONS ...] [SURVIVE ...]`.
    CreateDatabase {
        /// The database.
        name: String,
        /// IF NOT EXISTS.
        if_not_exists: bool,
        /// PRIMARY REGION.
        primary: Option<String>,
        /// REGIONS (may repeat the primary).
        regions: Vec<String>,
        /// SURVIVE ... FAILURE.
        survival: Option<SurvivalGoal>,
    },
    /// `ALTER DATABASE d ...`.
    AlterDatabase {
        /// The database.
        name: String,
        /// What to change.
        action: AlterDatabase,
    },
    /// `ALTER TABLE [IF EXISTS] t SET LOCALITY ...`.
    SetLocality {
        /// The table.
        table: NameParts,
        /// IF EXISTS.
        if_exists: bool,
        /// The new locality.
        locality: LocalitySpec,
    },
}

impl MrStatement {
    /// Whether the statement only reads (a SHOW).
    pub fn is_show(&self) -> bool {
        matches!(
            self,
            MrStatement::ShowRegions(_)
                | MrStatement::ShowSurvivalGoal(_)
                | MrStatement::ShowZone(_)
        )
    }
}

fn is_word(t: &Token, word: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn peek_is(parser: &Parser, n: usize, word: &str) -> bool {
    is_word(&parser.peek_nth_token_ref(n).token, word)
}

/// Consumes `word` (unquoted, any case) if it is next.
fn eat(parser: &mut Parser, word: &str) -> bool {
    if peek_is(parser, 0, word) {
        parser.next_token();
        true
    } else {
        false
    }
}

fn expect(parser: &mut Parser, word: &str) -> Result<(), ParserError> {
    if eat(parser, word) {
        Ok(())
    } else {
        parser.expected(&word.to_uppercase(), parser.peek_token())
    }
}

/// The dialect's statement hook: parses the statements of this module, `None` for others.
pub fn statement(parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
    if peek_is(parser, 0, "show") {
        let regions = peek_is(parser, 1, "regions");
        let survival = peek_is(parser, 1, "survival") && peek_is(parser, 2, "goal");
        let zone = (peek_is(parser, 1, "zone")
            && (peek_is(parser, 2, "configuration") || peek_is(parser, 2, "configurations")))
            || (peek_is(parser, 1, "all") && peek_is(parser, 2, "zone"));
        if regions || survival || zone {
            return Some(parse_show(parser).map(wrap));
        }
        return None;
    }
    if peek_is(parser, 0, "create") && peek_is(parser, 1, "database") && has_region_clause(parser) {
        return Some(parse_create_database(parser).map(wrap));
    }
    if peek_is(parser, 0, "create") && peek_is(parser, 1, "table") {
        return Some(parse_create_table(parser));
    }
    if peek_is(parser, 0, "alter") && peek_is(parser, 1, "database") && is_region_alter(parser) {
        return Some(parse_alter_database(parser).map(wrap));
    }
    if peek_is(parser, 0, "alter") && peek_is(parser, 1, "table") && is_set_locality(parser) {
        return Some(parse_set_locality(parser).map(wrap));
    }
    None
}

fn wrap(stmt: MrStatement) -> Statement {
    // Serialising a plain enum of strings cannot fail.
    let json = serde_json::to_string(&stmt).unwrap_or_default();
    Statement::ShowVariable {
        variable: vec![Ident::with_quote('"', STATEMENT_MARKER), Ident::new(json)],
    }
}

/// Reads a multi-region statement back from the AST (`None` for every other statement).
pub fn classify(stmt: &Statement) -> Option<MrStatement> {
    match stmt {
        Statement::ShowVariable { variable } => match variable.as_slice() {
            [m, json] if m.quote_style == Some('"') && m.value == STATEMENT_MARKER => {
                serde_json::from_str(&json.value).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether `stmt` is a statement of this module (cheaper than [`classify`]).
pub fn is_statement(stmt: &Statement) -> bool {
    matches!(stmt, Statement::ShowVariable { variable }
        if variable.first().is_some_and(|m| m.quote_style == Some('"') && m.value == STATEMENT_MARKER))
}

/// The LOCALITY clause of a CREATE TABLE, if it had one.
pub fn create_table_locality(ct: &CreateTable) -> Option<LocalitySpec> {
    let json = ct.location.as_deref()?.strip_prefix(LOCALITY_MARKER)?;
    serde_json::from_str(json).ok()
}

/// Index of the first token after `name` (`word (. word)*`) starting at token `n`.
fn skip_name(parser: &Parser, mut n: usize) -> Option<usize> {
    let tok = |n: usize| &parser.peek_nth_token_ref(n).token;
    if !matches!(tok(n), Token::Word(_)) {
        return None;
    }
    n += 1;
    while matches!(tok(n), Token::Period) && matches!(tok(n + 1), Token::Word(_)) {
        n += 2;
    }
    Some(n)
}

/// `CREATE DATABASE [IF NOT EXISTS] name` followed by a region or survival clause.
fn has_region_clause(parser: &Parser) -> bool {
    let mut n = 2;
    if peek_is(parser, 2, "if") {
        n = 5;
    }
    let Some(after) = skip_name(parser, n) else {
        return false;
    };
    ["primary", "regions", "survive", "survival"]
        .iter()
        .any(|w| peek_is(parser, after, w))
}

fn is_region_alter(parser: &Parser) -> bool {
    let Some(n) = skip_name(parser, 2) else {
        return false;
    };
    let w = |k: usize, s: &str| peek_is(parser, n + k, s);
    (w(0, "set") && w(1, "primary"))
        || w(0, "primary")
        || ((w(0, "add") || w(0, "drop")) && w(1, "region"))
        || w(0, "survive")
}

fn is_set_locality(parser: &Parser) -> bool {
    let mut n = 2;
    if peek_is(parser, 2, "if") {
        n = 4;
    }
    let Some(after) = skip_name(parser, n) else {
        return false;
    };
    peek_is(parser, after, "set") && peek_is(parser, after + 1, "locality")
}

/// A normalized identifier: unquoted folded to lower case.
fn normalize(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn name_parts(name: &ObjectName) -> Result<NameParts, ParserError> {
    name.0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(|i| (i.value.clone(), i.quote_style.is_some()))
                .ok_or_else(|| ParserError::ParserError(format!("invalid name: {p}")))
        })
        .collect()
}

/// Rebuilds an [`ObjectName`] from parts.
pub fn object_name(parts: &NameParts) -> ObjectName {
    ObjectName::from(
        parts
            .iter()
            .map(|(v, quoted)| {
                if *quoted {
                    Ident::with_quote('"', v.clone())
                } else {
                    Ident::new(v.clone())
                }
            })
            .collect::<Vec<_>>(),
    )
}

/// A database name (one identifier).
fn database_name(parser: &mut Parser) -> Result<String, ParserError> {
    Ok(normalize(&parser.parse_identifier()?))
}

/// A region name: an identifier (usually quoted) or a string literal.
fn region_name(parser: &mut Parser) -> Result<String, ParserError> {
    let tok = parser.next_token();
    match tok.token {
        Token::SingleQuotedString(s) => Ok(s),
        Token::Word(w) => Ok(if w.quote_style.is_some() {
            w.value
        } else {
            w.value.to_lowercase()
        }),
        _ => parser.expected("a region name", tok),
    }
}

fn parse_show(parser: &mut Parser) -> Result<MrStatement, ParserError> {
    expect(parser, "show")?;
    if eat(parser, "regions") {
        let target = if parser.parse_keyword(Keyword::FROM) {
            if eat(parser, "cluster") {
                RegionsTarget::Cluster
            } else if eat(parser, "all") {
                expect(parser, "databases")?;
                RegionsTarget::AllDatabases
            } else if eat(parser, "database") {
                RegionsTarget::Database(optional_database(parser)?)
            } else {
                return parser.expected("CLUSTER, DATABASE or ALL DATABASES", parser.peek_token());
            }
        } else {
            RegionsTarget::All
        };
        return Ok(MrStatement::ShowRegions(target));
    }
    if eat(parser, "survival") {
        expect(parser, "goal")?;
        expect(parser, "from")?;
        expect(parser, "database")?;
        return Ok(MrStatement::ShowSurvivalGoal(optional_database(parser)?));
    }
    let all = eat(parser, "all");
    expect(parser, "zone")?;
    if eat(parser, "configurations") {
        return Ok(MrStatement::ShowZone(ZoneTarget::All));
    }
    expect(parser, "configuration")?;
    if all {
        return Ok(MrStatement::ShowZone(ZoneTarget::All));
    }
    if !(eat(parser, "from") || eat(parser, "for")) {
        return parser.expected("FROM", parser.peek_token());
    }
    if eat(parser, "table") {
        let name = parser.parse_object_name(false)?;
        return Ok(MrStatement::ShowZone(ZoneTarget::Table(name_parts(&name)?)));
    }
    if eat(parser, "database") {
        return Ok(MrStatement::ShowZone(ZoneTarget::Database(database_name(
            parser,
        )?)));
    }
    parser.expected("TABLE or DATABASE", parser.peek_token())
}

/// An optional database name before the end of the statement.
fn optional_database(parser: &mut Parser) -> Result<Option<String>, ParserError> {
    match parser.peek_token().token {
        Token::EOF | Token::SemiColon => Ok(None),
        _ => database_name(parser).map(Some),
    }
}

fn parse_survival(parser: &mut Parser) -> Result<SurvivalGoal, ParserError> {
    let _ = parser.consume_token(&Token::Eq);
    let goal = if eat(parser, "region") {
        SurvivalGoal::Region
    } else if eat(parser, "zone") {
        SurvivalGoal::Zone
    } else if eat(parser, "availability") {
        expect(parser, "zone")?;
        SurvivalGoal::Zone
    } else {
        return parser.expected("ZONE or REGION", parser.peek_token());
    };
    expect(parser, "failure")?;
    Ok(goal)
}

fn parse_create_database(parser: &mut Parser) -> Result<MrStatement, ParserError> {
    expect(parser, "create")?;
    expect(parser, "database")?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = database_name(parser)?;
    let (mut primary, mut regions, mut survival) = (None, Vec::new(), None);
    loop {
        if eat(parser, "primary") {
            expect(parser, "region")?;
            let _ = parser.consume_token(&Token::Eq);
            primary = Some(region_name(parser)?);
        } else if eat(parser, "regions") {
            let _ = parser.consume_token(&Token::Eq);
            loop {
                regions.push(region_name(parser)?);
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
        } else if eat(parser, "survive") {
            survival = Some(parse_survival(parser)?);
        } else if eat(parser, "survival") {
            expect(parser, "goal")?;
            survival = Some(parse_survival(parser)?);
        } else {
            break;
        }
    }
    Ok(MrStatement::CreateDatabase {
        name,
        if_not_exists,
        primary,
        regions,
        survival,
    })
}

fn parse_alter_database(parser: &mut Parser) -> Result<MrStatement, ParserError> {
    expect(parser, "alter")?;
    expect(parser, "database")?;
    let name = database_name(parser)?;
    let action = if eat(parser, "set") || peek_is(parser, 0, "primary") {
        expect(parser, "primary")?;
        expect(parser, "region")?;
        let _ = parser.consume_token(&Token::Eq);
        AlterDatabase::SetPrimary(region_name(parser)?)
    } else if eat(parser, "add") {
        expect(parser, "region")?;
        let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        AlterDatabase::AddRegion {
            region: region_name(parser)?,
            if_not_exists,
        }
    } else if eat(parser, "drop") {
        expect(parser, "region")?;
        let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        AlterDatabase::DropRegion {
            region: region_name(parser)?,
            if_exists,
        }
    } else {
        expect(parser, "survive")?;
        AlterDatabase::Survive(parse_survival(parser)?)
    };
    Ok(MrStatement::AlterDatabase { name, action })
}

/// `GLOBAL | REGIONAL [BY TABLE] [IN PRIMARY REGION | IN r] | REGIONAL BY ROW [AS col]`.
fn parse_locality(parser: &mut Parser) -> Result<LocalitySpec, ParserError> {
    if eat(parser, "global") {
        return Ok(LocalitySpec::Global);
    }
    expect(parser, "regional")?;
    if eat(parser, "by") {
        if eat(parser, "row") {
            let column = if parser.parse_keyword(Keyword::AS) {
                Some(normalize(&parser.parse_identifier()?))
            } else {
                None
            };
            return Ok(LocalitySpec::ByRow(column));
        }
        expect(parser, "table")?;
    }
    if !parser.parse_keyword(Keyword::IN) {
        return Ok(LocalitySpec::ByTablePrimary);
    }
    if peek_is(parser, 0, "primary") && peek_is(parser, 1, "region") {
        parser.next_token();
        parser.next_token();
        return Ok(LocalitySpec::ByTablePrimary);
    }
    Ok(LocalitySpec::ByTableIn(region_name(parser)?))
}

fn parse_set_locality(parser: &mut Parser) -> Result<MrStatement, ParserError> {
    expect(parser, "alter")?;
    expect(parser, "table")?;
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let table = name_parts(&parser.parse_object_name(false)?)?;
    expect(parser, "set")?;
    expect(parser, "locality")?;
    let locality = parse_locality(parser)?;
    Ok(MrStatement::SetLocality {
        table,
        if_exists,
        locality,
    })
}

/// `CREATE TABLE ...` as sqlparser parses it, plus an optional `LOCALITY ...` clause.
fn parse_create_table(parser: &mut Parser) -> Result<Statement, ParserError> {
    parser.next_token(); // CREATE
    let mut stmt = parser.parse_create()?;
    if eat(parser, "locality") {
        let locality = parse_locality(parser)?;
        let Statement::CreateTable(ct) = &mut stmt else {
            return parser.expected("end of statement", parser.peek_token());
        };
        if ct.location.is_some() {
            return Err(ParserError::ParserError(
                "LOCATION is not supported with LOCALITY".into(),
            ));
        }
        let json = serde_json::to_string(&locality).unwrap_or_default();
        ct.location = Some(format!("{LOCALITY_MARKER}{json}"));
    }
    Ok(stmt)
}

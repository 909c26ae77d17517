//! Parsing `SHOW RANGES ...` and `ALTER TABLE|INDEX ... SPLIT AT ...` inside the dialect's
//! statement hook, and reading them back from the AST.
//!
//! sqlparser's AST has no node for either statement, so (like `UPSERT` in `replace_into` and
//! `AS OF SYSTEM TIME` in `Query::settings`, see [`crate::parser`]) they travel in fields of
//! existing nodes under quoted marker names that contain spaces, which no ordinary statement
//! produces:
//!
//! - `SHOW RANGES [FROM TABLE t | FROM INDEX t@i | FROM INDEX i | FROM DATABASE d |
//!   FROM CURRENT_CATALOG]` is a `ShowVariable` whose words are
//!   `["meridian show ranges", kind, name parts..., ["@", index]]`.
//! - `ALTER TABLE t SPLIT AT <query>` and `ALTER INDEX t@i | i SPLIT AT <query>` are the
//!   `<query>` (`VALUES ...` or `SELECT ...`) with `Query::settings` naming the target;
//!   `... UNSPLIT AT <query>` the same with one more setting, [`UNSPLIT`].
//! - `ALTER TABLE t UNSPLIT ALL` and `ALTER INDEX t@i | i UNSPLIT ALL` are a `ShowVariable`
//!   whose words are `["meridian unsplit all", "table" | "index", name parts...,
//!   ["@", index]]`.
//!
//! [`classify`] turns either back into a [`RangesStatement`]; the session routes on it before
//! anything else looks at the statement.

use sqlparser::ast::{Expr, Ident, ObjectName, Query, Setting, Statement};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// First word of a `SHOW RANGES` statement's variable list.
const SHOW_MARKER: &str = "meridian show ranges";
/// Settings key naming the table of `ALTER TABLE ... SPLIT AT`.
const SPLIT_TABLE: &str = "meridian split at table";
/// Settings key naming the (possibly qualified) index of `ALTER INDEX i SPLIT AT`, or the
/// table of `ALTER INDEX t@i SPLIT AT`.
const SPLIT_INDEX: &str = "meridian split at index";
/// Settings key holding `i` of `ALTER INDEX t@i SPLIT AT`.
const SPLIT_AT_INDEX: &str = "meridian split at @";
/// Settings key marking `ALTER ... UNSPLIT AT` (with the split keys naming the target).
const UNSPLIT: &str = "meridian unsplit at";
/// First word of an `ALTER ... UNSPLIT ALL` statement's variable list.
const UNSPLIT_ALL: &str = "meridian unsplit all";
/// Separator between a table name and its index in a `SHOW RANGES FROM INDEX` word list.
const AT_SEPARATOR: &str = "@";

/// An index named in a statement: `t@i` (`index` is Some and `name` is the table) or a bare,
/// possibly schema-qualified index name (`index` is None).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRef {
    /// The table (with `index`) or the index itself (without).
    pub name: ObjectName,
    /// The index of `t@i`.
    pub index: Option<Ident>,
}

/// What `SHOW RANGES` is asked about.
#[derive(Debug, Clone, PartialEq)]
pub enum ShowTarget {
    /// `SHOW RANGES` / `FROM CURRENT_CATALOG`: the current database.
    Current,
    /// `FROM DATABASE d`.
    Database(ObjectName),
    /// `FROM TABLE t`.
    Table(ObjectName),
    /// `FROM INDEX t@i` or `FROM INDEX i`.
    Index(IndexRef),
}

/// Where `SPLIT AT` splits.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitTarget {
    /// `ALTER TABLE t`: the primary index.
    Table(ObjectName),
    /// `ALTER INDEX t@i` / `ALTER INDEX i`.
    Index(IndexRef),
}

/// A statement of this module, read back from the AST.
#[derive(Debug, Clone, PartialEq)]
pub enum RangesStatement {
    /// `SHOW RANGES ...`.
    Show(ShowTarget),
    /// `ALTER ... SPLIT AT <rows>`; `rows` is the VALUES or SELECT without the markers.
    Split {
        /// The index to split.
        target: SplitTarget,
        /// The rows giving split points.
        rows: Box<Query>,
    },
    /// `ALTER ... UNSPLIT AT <rows>` (`rows` as for `Split`) or `UNSPLIT ALL` (`rows` None).
    Unsplit {
        /// The index to unsplit.
        target: SplitTarget,
        /// The rows giving the split points to unsplit; None: every split of the index.
        rows: Option<Box<Query>>,
    },
}

fn marker(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

fn is_marker(i: &Ident, name: &str) -> bool {
    i.quote_style == Some('"') && i.value == name
}

/// An unquoted word equal (ignoring case) to `word`.
fn is_word(t: &Token, word: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn is_keyword(t: &Token, kw: Keyword) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.keyword == kw)
}

/// The dialect's statement hook: parses the statements of this module, `None` for others.
pub fn statement(parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
    let first = parser.peek_nth_token_ref(0).token.clone();
    let second = parser.peek_nth_token_ref(1).token.clone();
    if is_keyword(&first, Keyword::SHOW) && is_word(&second, "ranges") {
        return Some(parse_show_ranges(parser));
    }
    if is_keyword(&first, Keyword::ALTER)
        && (is_keyword(&second, Keyword::TABLE) || is_keyword(&second, Keyword::INDEX))
    {
        return match verb_after_name(parser) {
            Some(Verb::Split) | Some(Verb::UnsplitAt) => Some(parse_split(parser)),
            Some(Verb::UnsplitAll) => Some(parse_unsplit_all(parser)),
            None => None,
        };
    }
    None
}

/// What follows `ALTER TABLE|INDEX name [@ index]`.
enum Verb {
    Split,
    UnsplitAt,
    UnsplitAll,
}

/// The statement of this module the tokens after `ALTER TABLE|INDEX` start, if any.
fn verb_after_name(parser: &Parser) -> Option<Verb> {
    let n = name_end(parser)?;
    let tok = |n: usize| &parser.peek_nth_token_ref(n).token;
    if is_word(tok(n), "split") && is_keyword(tok(n + 1), Keyword::AT) {
        Some(Verb::Split)
    } else if is_word(tok(n), "unsplit") && is_keyword(tok(n + 1), Keyword::AT) {
        Some(Verb::UnsplitAt)
    } else if is_word(tok(n), "unsplit") && is_keyword(tok(n + 1), Keyword::ALL) {
        Some(Verb::UnsplitAll)
    } else {
        None
    }
}

/// The token position after `ALTER TABLE|INDEX name [@ index]` (None: no name there).
fn name_end(parser: &Parser) -> Option<usize> {
    let tok = |n: usize| &parser.peek_nth_token_ref(n).token;
    let mut n = 2;
    if !matches!(tok(n), Token::Word(_)) {
        return None;
    }
    n += 1;
    while matches!(tok(n), Token::Period) && matches!(tok(n + 1), Token::Word(_)) {
        n += 2;
    }
    if matches!(tok(n), Token::AtSign) && matches!(tok(n + 1), Token::Word(_)) {
        n += 2;
    }
    Some(n)
}

/// `name [@ index]`.
fn parse_index_ref(parser: &mut Parser) -> Result<IndexRef, ParserError> {
    let name = parser.parse_object_name(false)?;
    let index = if parser.consume_token(&Token::AtSign) {
        Some(parser.parse_identifier()?)
    } else {
        None
    };
    Ok(IndexRef { name, index })
}

fn parse_show_ranges(parser: &mut Parser) -> Result<Statement, ParserError> {
    parser.expect_keyword(Keyword::SHOW)?;
    parser.next_token(); // RANGES
    let target = if parser.parse_keyword(Keyword::FROM) {
        if parser.parse_keyword(Keyword::TABLE) {
            ShowTarget::Table(parser.parse_object_name(false)?)
        } else if parser.parse_keyword(Keyword::INDEX) {
            ShowTarget::Index(parse_index_ref(parser)?)
        } else if parser.parse_keyword(Keyword::DATABASE) {
            ShowTarget::Database(parser.parse_object_name(false)?)
        } else if parser.parse_keyword(Keyword::CURRENT_CATALOG) {
            ShowTarget::Current
        } else {
            return parser.expected(
                "TABLE, INDEX, DATABASE or CURRENT_CATALOG",
                parser.peek_token(),
            );
        }
    } else {
        ShowTarget::Current
    };
    let mut words = vec![marker(SHOW_MARKER)];
    let (kind, name, index): (&str, Option<ObjectName>, Option<Ident>) = match target {
        ShowTarget::Current => ("current", None, None),
        ShowTarget::Database(n) => ("database", Some(n), None),
        ShowTarget::Table(n) => ("table", Some(n), None),
        ShowTarget::Index(r) => ("index", Some(r.name), r.index),
    };
    words.push(Ident::new(kind));
    for part in name.iter().flat_map(|n| n.0.iter()) {
        let ident = part
            .as_ident()
            .cloned()
            .ok_or_else(|| ParserError::ParserError(format!("invalid name: {part}")))?;
        words.push(ident);
    }
    if let Some(i) = index {
        words.push(marker(AT_SEPARATOR));
        words.push(i);
    }
    Ok(Statement::ShowVariable { variable: words })
}

fn parse_split(parser: &mut Parser) -> Result<Statement, ParserError> {
    parser.expect_keyword(Keyword::ALTER)?;
    let is_index = parser.parse_keyword(Keyword::INDEX);
    if !is_index {
        parser.expect_keyword(Keyword::TABLE)?;
    }
    let target = parse_index_ref(parser)?;
    let unsplit = is_word(&parser.next_token().token, "unsplit"); // SPLIT or UNSPLIT
    parser.expect_keyword(Keyword::AT)?;
    let mut rows = parser.parse_query()?;
    if rows.settings.is_some() {
        return Err(ParserError::ParserError(
            "SETTINGS are not allowed in SPLIT AT".into(),
        ));
    }
    let name = Expr::CompoundIdentifier(
        target
            .name
            .0
            .iter()
            .map(|p| {
                p.as_ident()
                    .cloned()
                    .ok_or_else(|| ParserError::ParserError(format!("invalid name: {p}")))
            })
            .collect::<Result<_, _>>()?,
    );
    let key = if is_index { SPLIT_INDEX } else { SPLIT_TABLE };
    let mut settings = vec![Setting {
        key: marker(key),
        value: name,
    }];
    match (target.index, is_index) {
        (Some(i), true) => settings.push(Setting {
            key: marker(SPLIT_AT_INDEX),
            value: Expr::Identifier(i),
        }),
        (Some(_), false) => {
            return Err(ParserError::ParserError(
                "ALTER TABLE takes a table name; use ALTER INDEX t@idx to split an index".into(),
            ))
        }
        (None, _) => {}
    }
    if unsplit {
        settings.push(Setting {
            key: marker(UNSPLIT),
            value: Expr::Identifier(Ident::new("true")),
        });
    }
    rows.settings = Some(settings);
    Ok(Statement::Query(rows))
}

/// `ALTER TABLE t UNSPLIT ALL` / `ALTER INDEX t@i | i UNSPLIT ALL`.
fn parse_unsplit_all(parser: &mut Parser) -> Result<Statement, ParserError> {
    parser.expect_keyword(Keyword::ALTER)?;
    let is_index = parser.parse_keyword(Keyword::INDEX);
    if !is_index {
        parser.expect_keyword(Keyword::TABLE)?;
    }
    let target = parse_index_ref(parser)?;
    parser.next_token(); // UNSPLIT
    parser.expect_keyword(Keyword::ALL)?;
    if target.index.is_some() && !is_index {
        return Err(ParserError::ParserError(
            "ALTER TABLE takes a table name; use ALTER INDEX t@idx to unsplit an index".into(),
        ));
    }
    let mut words = vec![
        marker(UNSPLIT_ALL),
        Ident::new(if is_index { "index" } else { "table" }),
    ];
    for part in &target.name.0 {
        let ident = part
            .as_ident()
            .cloned()
            .ok_or_else(|| ParserError::ParserError(format!("invalid name: {part}")))?;
        words.push(ident);
    }
    if let Some(i) = target.index {
        words.push(marker(AT_SEPARATOR));
        words.push(i);
    }
    Ok(Statement::ShowVariable { variable: words })
}

/// Reads a statement of this module back from the AST (`None` for every other statement).
pub fn classify(stmt: &Statement) -> Option<RangesStatement> {
    match stmt {
        Statement::ShowVariable { variable } => match variable.first() {
            Some(w) if is_marker(w, UNSPLIT_ALL) => classify_unsplit_all(variable),
            _ => classify_show(variable).map(RangesStatement::Show),
        },
        Statement::Query(q) => classify_split(q),
        _ => None,
    }
}

/// Whether `stmt` is a statement of this module (cheaper than [`classify`]: no cloning).
pub fn is_ranges_statement(stmt: &Statement) -> bool {
    match stmt {
        Statement::ShowVariable { variable } => variable
            .first()
            .is_some_and(|w| is_marker(w, SHOW_MARKER) || is_marker(w, UNSPLIT_ALL)),
        Statement::Query(q) => q.settings.as_ref().is_some_and(|s| {
            s.iter()
                .any(|s| is_marker(&s.key, SPLIT_TABLE) || is_marker(&s.key, SPLIT_INDEX))
        }),
        _ => false,
    }
}

fn classify_show(words: &[Ident]) -> Option<ShowTarget> {
    let (first, rest) = words.split_first()?;
    if !is_marker(first, SHOW_MARKER) {
        return None;
    }
    let (kind, rest) = rest.split_first()?;
    let sep = rest.iter().position(|w| is_marker(w, AT_SEPARATOR));
    let (name, index) = match sep {
        Some(p) => (&rest[..p], rest.get(p + 1).cloned()),
        None => (rest, None),
    };
    let name = ObjectName::from(name.to_vec());
    Some(match kind.value.as_str() {
        "database" => ShowTarget::Database(name),
        "table" => ShowTarget::Table(name),
        "index" => ShowTarget::Index(IndexRef { name, index }),
        _ => ShowTarget::Current,
    })
}

fn classify_unsplit_all(words: &[Ident]) -> Option<RangesStatement> {
    let (kind, rest) = words.get(1..)?.split_first()?;
    let sep = rest.iter().position(|w| is_marker(w, AT_SEPARATOR));
    let (name, index) = match sep {
        Some(p) => (&rest[..p], rest.get(p + 1).cloned()),
        None => (rest, None),
    };
    let name = ObjectName::from(name.to_vec());
    let target = if kind.value == "index" {
        SplitTarget::Index(IndexRef { name, index })
    } else {
        SplitTarget::Table(name)
    };
    Some(RangesStatement::Unsplit { target, rows: None })
}

fn classify_split(q: &Query) -> Option<RangesStatement> {
    let settings = q.settings.as_ref()?;
    let name_of = |key: &str| {
        settings
            .iter()
            .find(|s| is_marker(&s.key, key))
            .map(|s| match &s.value {
                Expr::CompoundIdentifier(parts) => ObjectName::from(parts.clone()),
                Expr::Identifier(i) => ObjectName::from(vec![i.clone()]),
                _ => ObjectName::from(Vec::<Ident>::new()),
            })
    };
    let target = if let Some(t) = name_of(SPLIT_TABLE) {
        SplitTarget::Table(t)
    } else {
        let name = name_of(SPLIT_INDEX)?;
        let index = settings
            .iter()
            .find(|s| is_marker(&s.key, SPLIT_AT_INDEX))
            .and_then(|s| match &s.value {
                Expr::Identifier(i) => Some(i.clone()),
                _ => None,
            });
        SplitTarget::Index(IndexRef { name, index })
    };
    let unsplit = settings.iter().any(|s| is_marker(&s.key, UNSPLIT));
    let mut rows = Box::new(q.clone());
    rows.settings = None;
    Some(if unsplit {
        RangesStatement::Unsplit {
            target,
            rows: Some(rows),
        }
    } else {
        RangesStatement::Split { target, rows }
    })
}

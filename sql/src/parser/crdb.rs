//! CockroachDB's `AS OF SYSTEM TIME` and PostgreSQL's full row-locking clause, on top of
//! sqlparser's PostgreSQL dialect.
//!
//! sqlparser reads `FROM t AS OF SYSTEM TIME '-10s'` as the alias `OF` followed by garbage,
//! and knows only `FOR UPDATE` / `FOR SHARE` with a single `OF` table. This module extends
//! parsing without rewriting SQL text:
//!
//! - **AOST in a query** is recognised by three dialect hooks, one for each place the clause
//!   can follow the FROM list: the table-alias hook (after a table or an alias:
//!   `FROM t AS OF ...`, `FROM t x AS OF ...`), the infix hook (after an expression:
//!   `... JOIN u ON t.a = u.a AS OF ...`), and the statement hook (a trailing clause the
//!   others did not see). Each hook consumes `AS OF SYSTEM TIME <expr>` and stashes `<expr>`; the
//!   statement hook then attaches it to the statement ([`attach`]).
//! - **Where it is stored**: sqlparser has no field for it, so it travels in fields the
//!   PostgreSQL dialect never sets, under the marker name [`AOST_MARKER`] (as UPSERT travels in
//!   `replace_into`): a `SELECT`'s `Query::settings`; `BEGIN`'s `statements` (one
//!   `SET <marker> = <expr>`); `SET TRANSACTION ... AS OF SYSTEM TIME` becomes
//!   `SET <marker> = <expr>[, transaction_isolation = ..., transaction_read_only = ...]`.
//!   Read them back with [`super::select_as_of`], [`super::begin_as_of`],
//!   [`super::set_as_of`].
//! - **Locking clauses** are normalised on the token stream before parsing (tokens, not
//!   text: strings and comments cannot be confused): `FOR NO KEY UPDATE` is read as
//!   `FOR UPDATE` and `FOR KEY SHARE` as `FOR SHARE` (Meridian takes the same lock for each
//!   pair: exclusive, resp. shared), and `FOR UPDATE OF a, b` as `FOR UPDATE OF a FOR UPDATE
//!   OF b` (PostgreSQL's meaning).
//!
//! IMPLEMENTATION CAVEATS
//! - An AOST clause inside a subquery is accepted and applies to the whole statement
//!   (CockroachDB requires it on the top-level statement).
//! - After `JOIN ... USING (cols)` the clause is not recognised (sqlparser reads `AS` there as
//!   the join's alias): write `ON` instead.
//! - Error messages for `FOR NO KEY UPDATE` / `FOR KEY SHARE` name `FOR UPDATE` / `FOR SHARE`.

use sqlparser::ast::{
    BeginTransactionKind, Expr, Ident, ObjectName, Query, Set, SetAssignment, Setting, Statement,
    TableFactor, TransactionAccessMode, TransactionIsolationLevel, TransactionMode, Value,
    VisitMut, VisitorMut,
};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Span, Token, TokenWithSpan, Whitespace};
use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;

/// The name under which an `AS OF SYSTEM TIME` expression is carried in the AST (a quoted
/// identifier with spaces, so no ordinary setting can collide with it).
pub const AOST_MARKER: &str = "as of system time";

/// Precedence the infix hook claims for `AS OF SYSTEM TIME`: above every operator, so the
/// clause is consumed wherever an expression ends.
const AOST_PREC: u8 = 250;

/// Tokens scanned ahead for `AS OF SYSTEM TIME` in a BEGIN/SET TRANSACTION statement.
const MAX_LOOKAHEAD_TOKENS: usize = 256;

/// Per-parse state of the hooks (the dialect is shared by `&self`, hence the cells).
#[derive(Debug, Default)]
pub(super) struct AostState {
    /// Expressions found in the statement being parsed.
    pending: RefCell<Vec<Expr>>,
    /// Spans of `OF` tokens that the alias hook had to return as an alias (to remove).
    fake_aliases: RefCell<Vec<Span>>,
    /// An error found inside the alias hook (which cannot return one).
    error: RefCell<Option<ParserError>>,
    /// Set while the statement hook parses the statement itself (re-entrant call).
    in_statement: Cell<bool>,
}

/// The marker identifier.
pub fn marker_ident() -> Ident {
    Ident::with_quote('"', AOST_MARKER)
}

fn is_marker(i: &Ident) -> bool {
    i.quote_style == Some('"') && i.value == AOST_MARKER
}

fn is_word(t: &Token, kw: Keyword) -> bool {
    matches!(t, Token::Word(w) if w.keyword == kw && w.quote_style.is_none())
}

/// Whether the next tokens are `AS OF SYSTEM TIME`.
pub(super) fn at_aost(parser: &Parser) -> bool {
    let [a, o, s, t] = parser.peek_tokens::<4>();
    is_word(&a, Keyword::AS)
        && is_word(&o, Keyword::OF)
        && is_word(&s, Keyword::SYSTEM)
        && is_word(&t, Keyword::TIME)
}

impl AostState {
    fn push(&self, e: Expr) {
        let mut p = self.pending.borrow_mut();
        // A speculative parse that backtracked may have stashed the same clause already.
        if !p.contains(&e) {
            p.push(e);
        }
    }

    /// Consumes `AS OF SYSTEM TIME <expr>` if it comes next.
    pub(super) fn maybe_consume(&self, parser: &mut Parser) -> Result<bool, ParserError> {
        if !at_aost(parser) {
            return Ok(false);
        }
        let _ = parser.parse_keywords(&[Keyword::AS, Keyword::OF, Keyword::SYSTEM, Keyword::TIME]);
        let e = parser.parse_expr()?;
        self.push(e);
        Ok(true)
    }

    /// The table-alias hook: `explicit` is true after `AS`, and the alias word (with keyword
    /// `kw`) has just been consumed.
    pub(super) fn table_alias(&self, explicit: bool, kw: Keyword, parser: &mut Parser) -> bool {
        let [s, t] = parser.peek_tokens::<2>();
        if explicit
            && kw == Keyword::OF
            && is_word(&s, Keyword::SYSTEM)
            && is_word(&t, Keyword::TIME)
        {
            // `t AS OF SYSTEM TIME x`: sqlparser insists on an alias after AS, so hand it
            // `OF` and remove that alias after the statement is parsed.
            self.fake_aliases
                .borrow_mut()
                .push(parser.get_current_token().span);
            let _ = parser.parse_keywords(&[Keyword::SYSTEM, Keyword::TIME]);
            match parser.parse_expr() {
                Ok(e) => self.push(e),
                Err(e) => {
                    self.error.borrow_mut().get_or_insert(e);
                }
            }
            return true;
        }
        false
    }

    /// After an accepted alias: swallow a following clause.
    pub(super) fn after_alias(&self, parser: &mut Parser) {
        if let Err(e) = self.maybe_consume(parser) {
            self.error.borrow_mut().get_or_insert(e);
        }
    }

    /// The precedence hook.
    pub(super) fn next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        at_aost(parser).then_some(Ok(AOST_PREC))
    }

    /// The infix hook: consumes the clause and returns the expression unchanged.
    pub(super) fn infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
    ) -> Option<Result<Expr, ParserError>> {
        if !at_aost(parser) {
            return None;
        }
        Some(self.maybe_consume(parser).map(|_| expr.clone()))
    }

    /// The statement hook: `None` lets the caller (the PostgreSQL dialect) parse.
    pub(super) fn statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        if self.in_statement.get() {
            return None;
        }
        let first = parser.peek_token().token;
        if is_word(&first, Keyword::BEGIN) || is_word(&first, Keyword::START) {
            if statement_has_aost(parser) {
                return Some(self.parse_begin(parser));
            }
            return None;
        }
        if is_word(&first, Keyword::SET) && statement_has_aost(parser) {
            let [_, t] = parser.peek_tokens::<2>();
            if is_word(&t, Keyword::TRANSACTION) {
                return Some(self.parse_set_transaction(parser));
            }
        }
        self.pending.borrow_mut().clear();
        self.fake_aliases.borrow_mut().clear();
        self.error.borrow_mut().take();
        self.in_statement.set(true);
        let parsed = parser.parse_statement();
        self.in_statement.set(false);
        let mut stmt = match parsed {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        if let Some(e) = self.error.borrow_mut().take() {
            return Some(Err(e));
        }
        if let Err(e) = self.maybe_consume(parser) {
            return Some(Err(e));
        }
        let fakes = std::mem::take(&mut *self.fake_aliases.borrow_mut());
        if !fakes.is_empty() {
            let _ = stmt.visit(&mut ClearFakeAliases(&fakes));
        }
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        Some(attach(stmt, pending))
    }

    /// `BEGIN [TRANSACTION | WORK] modes` / `START TRANSACTION modes` with an AOST mode.
    fn parse_begin(&self, parser: &mut Parser) -> Result<Statement, ParserError> {
        let begin = parser.parse_keyword(Keyword::BEGIN);
        let transaction = if begin {
            match parser.parse_one_of_keywords(&[Keyword::TRANSACTION, Keyword::WORK]) {
                Some(Keyword::TRANSACTION) => Some(BeginTransactionKind::Transaction),
                Some(Keyword::WORK) => Some(BeginTransactionKind::Work),
                _ => None,
            }
        } else {
            parser.expect_keywords(&[Keyword::START, Keyword::TRANSACTION])?;
            Some(BeginTransactionKind::Transaction)
        };
        let (modes, aost) = parse_modes(parser)?;
        let value =
            aost.ok_or_else(|| ParserError::ParserError("expected AS OF SYSTEM TIME".into()))?;
        Ok(Statement::StartTransaction {
            modes,
            begin,
            transaction,
            modifier: None,
            statements: vec![Statement::Set(Set::SingleAssignment {
                scope: None,
                hivevar: false,
                variable: ObjectName::from(vec![marker_ident()]),
                values: vec![value],
            })],
            exception: None,
            has_end_keyword: false,
        })
    }

    /// `SET TRANSACTION modes` with an AOST mode, as `SET <marker> = x, ...`.
    fn parse_set_transaction(&self, parser: &mut Parser) -> Result<Statement, ParserError> {
        parser.expect_keywords(&[Keyword::SET, Keyword::TRANSACTION])?;
        let (modes, aost) = parse_modes(parser)?;
        let value =
            aost.ok_or_else(|| ParserError::ParserError("expected AS OF SYSTEM TIME".into()))?;
        let mut assignments = vec![SetAssignment {
            scope: None,
            name: ObjectName::from(vec![marker_ident()]),
            value,
        }];
        for m in modes {
            let (name, v) = match m {
                TransactionMode::IsolationLevel(l) => ("transaction_isolation", l.to_string()),
                TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => {
                    ("transaction_read_only", "on".to_string())
                }
                TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => {
                    ("transaction_read_only", "off".to_string())
                }
            };
            assignments.push(SetAssignment {
                scope: None,
                name: ObjectName::from(vec![Ident::new(name)]),
                value: Expr::value(Value::SingleQuotedString(v)),
            });
        }
        Ok(Statement::Set(Set::MultipleAssignments { assignments }))
    }
}

/// Whether `AS OF SYSTEM TIME` occurs before the end of the statement.
fn statement_has_aost(parser: &Parser) -> bool {
    for n in 0..MAX_LOOKAHEAD_TOKENS {
        let t = parser.peek_nth_token_ref(n);
        match &t.token {
            Token::EOF | Token::SemiColon => return false,
            tok if is_word(tok, Keyword::AS) => {
                let next: Vec<Token> = (1..4)
                    .map(|k| parser.peek_nth_token_ref(n + k).token.clone())
                    .collect();
                if is_word(&next[0], Keyword::OF)
                    && is_word(&next[1], Keyword::SYSTEM)
                    && is_word(&next[2], Keyword::TIME)
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Transaction modes (PostgreSQL's plus CockroachDB's AOST and PRIORITY), comma-separated or
/// not. Returns the modes and the AOST expression.
fn parse_modes(parser: &mut Parser) -> Result<(Vec<TransactionMode>, Option<Expr>), ParserError> {
    let mut modes = Vec::new();
    let mut aost = None;
    loop {
        if parser.parse_keywords(&[Keyword::AS, Keyword::OF, Keyword::SYSTEM, Keyword::TIME]) {
            let e = parser.parse_expr()?;
            if aost.replace(e).is_some() {
                return Err(ParserError::ParserError(
                    "AS OF SYSTEM TIME specified more than once".into(),
                ));
            }
        } else if parser.parse_keywords(&[Keyword::ISOLATION, Keyword::LEVEL]) {
            modes.push(TransactionMode::IsolationLevel(parse_level(parser)?));
        } else if parser.parse_keywords(&[Keyword::READ, Keyword::ONLY]) {
            modes.push(TransactionMode::AccessMode(TransactionAccessMode::ReadOnly));
        } else if parser.parse_keywords(&[Keyword::READ, Keyword::WRITE]) {
            modes.push(TransactionMode::AccessMode(
                TransactionAccessMode::ReadWrite,
            ));
        } else if parser.parse_keywords(&[Keyword::NOT, Keyword::DEFERRABLE])
            || parser.parse_keyword(Keyword::DEFERRABLE)
        {
            // Meaningless at SERIALIZABLE without READ ONLY, and harmless with it.
        } else if matches!(&parser.peek_token().token,
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("priority"))
        {
            parser.next_token();
            // CockroachDB's PRIORITY LOW | NORMAL | HIGH: accepted, no effect.
            parser.parse_identifier()?;
        } else {
            break;
        }
        let _ = parser.consume_token(&Token::Comma);
    }
    match parser.peek_token().token {
        Token::EOF | Token::SemiColon => Ok((modes, aost)),
        _ => parser.expected("a transaction mode", parser.peek_token()),
    }
}

fn parse_level(parser: &mut Parser) -> Result<TransactionIsolationLevel, ParserError> {
    if parser.parse_keyword(Keyword::SERIALIZABLE) {
        Ok(TransactionIsolationLevel::Serializable)
    } else if parser.parse_keyword(Keyword::SNAPSHOT) {
        Ok(TransactionIsolationLevel::Snapshot)
    } else if parser.parse_keywords(&[Keyword::REPEATABLE, Keyword::READ]) {
        Ok(TransactionIsolationLevel::RepeatableRead)
    } else if parser.parse_keywords(&[Keyword::READ, Keyword::COMMITTED]) {
        Ok(TransactionIsolationLevel::ReadCommitted)
    } else if parser.parse_keywords(&[Keyword::READ, Keyword::UNCOMMITTED]) {
        Ok(TransactionIsolationLevel::ReadUncommitted)
    } else {
        parser.expected("isolation level", parser.peek_token())
    }
}

/// Removes the `OF` aliases the alias hook had to produce.
struct ClearFakeAliases<'a>(&'a [Span]);

impl VisitorMut for ClearFakeAliases<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        let alias = match tf {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::TableFunction { alias, .. }
            | TableFactor::Function { alias, .. }
            | TableFactor::UNNEST { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => alias,
            _ => return ControlFlow::Continue(()),
        };
        if alias
            .as_ref()
            .is_some_and(|a| self.0.contains(&a.name.span) && a.name.quote_style.is_none())
        {
            *alias = None;
        }
        ControlFlow::Continue(())
    }
}

/// Attaches the AOST expressions found while parsing `stmt` to it.
fn attach(mut stmt: Statement, mut pending: Vec<Expr>) -> Result<Statement, ParserError> {
    let Some(value) = pending.pop() else {
        return Ok(stmt);
    };
    if !pending.is_empty() {
        return Err(ParserError::ParserError(
            "inconsistent AS OF SYSTEM TIME: a statement has one AS OF SYSTEM TIME clause".into(),
        ));
    }
    let query: &mut Query = match &mut stmt {
        Statement::Query(q) => q,
        Statement::Explain { statement, .. } => match statement.as_mut() {
            Statement::Query(q) => q,
            _ => return Err(top_level_error()),
        },
        _ => return Err(top_level_error()),
    };
    query.settings = Some(vec![Setting {
        key: marker_ident(),
        value,
    }]);
    Ok(stmt)
}

fn top_level_error() -> ParserError {
    ParserError::ParserError(
        "AS OF SYSTEM TIME must be provided on a top-level SELECT statement".into(),
    )
}

/// The AOST expression carried by a query.
pub fn query_as_of(q: &Query) -> Option<&Expr> {
    q.settings
        .as_ref()?
        .iter()
        .find(|s| is_marker(&s.key))
        .map(|s| &s.value)
}

/// The AOST expression carried by a BEGIN.
pub fn begin_as_of(stmt: &Statement) -> Option<&Expr> {
    let Statement::StartTransaction { statements, .. } = stmt else {
        return None;
    };
    statements.iter().find_map(|s| match s {
        Statement::Set(Set::SingleAssignment {
            variable, values, ..
        }) if variable.0.len() == 1 && variable.0[0].as_ident().is_some_and(is_marker) => {
            values.first()
        }
        _ => None,
    })
}

/// Whether a SET assignment's name is the AOST marker.
pub fn is_marker_name(name: &ObjectName) -> bool {
    name.0.len() == 1 && name.0[0].as_ident().is_some_and(is_marker)
}

/// Normalises the locking clauses on the token stream (see the module docs). Whitespace
/// tokens are kept.
pub(super) fn normalise_locking(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let sig: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect();
    let word_at =
        |k: usize, kw: Keyword| sig.get(k).is_some_and(|&i| is_word(&tokens[i].token, kw));
    // Token indexes to drop, and commas to replace by `FOR <strength> OF`.
    let mut drop = vec![false; tokens.len()];
    let mut replace: Vec<(usize, &'static str)> = Vec::new();
    let mut k = 0;
    while k < sig.len() {
        if !word_at(k, Keyword::FOR) {
            k += 1;
            continue;
        }
        let mut j = k + 1;
        if word_at(j, Keyword::NO)
            && word_at(j + 1, Keyword::KEY)
            && word_at(j + 2, Keyword::UPDATE)
        {
            drop[sig[j]] = true;
            drop[sig[j + 1]] = true;
            j += 2;
        } else if word_at(j, Keyword::KEY) && word_at(j + 1, Keyword::SHARE) {
            drop[sig[j]] = true;
            j += 1;
        }
        let strength = if word_at(j, Keyword::UPDATE) {
            "UPDATE"
        } else if word_at(j, Keyword::SHARE) {
            "SHARE"
        } else {
            k = j;
            continue;
        };
        j += 1;
        if !word_at(j, Keyword::OF) {
            k = j;
            continue;
        }
        j += 1;
        // OF name[.name]... [, name[.name]...]...
        loop {
            let is_name = |k: usize| {
                sig.get(k)
                    .is_some_and(|&i| matches!(tokens[i].token, Token::Word(_)))
            };
            if !is_name(j) {
                break;
            }
            j += 1;
            while sig
                .get(j)
                .is_some_and(|&i| tokens[i].token == Token::Period)
                && is_name(j + 1)
            {
                j += 2;
            }
            if sig.get(j).is_some_and(|&i| tokens[i].token == Token::Comma) && is_name(j + 1) {
                replace.push((sig[j], strength));
                j += 1;
            } else {
                break;
            }
        }
        k = j;
    }
    let mut out = Vec::with_capacity(tokens.len() + replace.len() * 4);
    for (i, t) in tokens.into_iter().enumerate() {
        if drop[i] {
            continue;
        }
        if let Some((_, strength)) = replace.iter().find(|(at, _)| *at == i) {
            for w in ["FOR", strength, "OF"] {
                out.push(TokenWithSpan::new(Token::make_keyword(w), t.span));
                out.push(TokenWithSpan::new(
                    Token::Whitespace(Whitespace::Space),
                    t.span,
                ));
            }
            continue;
        }
        out.push(t);
    }
    out
}

//! LIKE / ILIKE pattern matching: `%` matches any run of characters, `_` exactly one, and
//! backslash (PostgreSQL's default ESCAPE) makes the next character literal. A pattern ending
//! in a lone backslash fails with 22025, as in PostgreSQL.
//!
//! The matcher is the classic greedy-with-backtrack-to-last-% algorithm: linear in the common
//! case and O(n·m) at worst, never exponential.
//!
//! IMPLEMENTATION CAVEATS: ILIKE folds case with Unicode simple lowercase per character
//! (PostgreSQL uses the collation's rules).

use crate::error::code;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Lit(char),
    Any,
    Many,
}

fn compile(pattern: &str, fold: bool) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '%' => {
                if toks.last() == Some(&Tok::Many) {
                    continue;
                }
                Tok::Many
            }
            '_' => Tok::Any,
            '\\' => match chars.next() {
                Some(e) => Tok::Lit(fold_char(e, fold)),
                None => {
                    return Err(Error::new(
                        code::INVALID_ESCAPE_SEQUENCE,
                        "LIKE pattern must not end with escape character",
                    ))
                }
            },
            c => Tok::Lit(fold_char(c, fold)),
        });
    }
    Ok(toks)
}

fn fold_char(c: char, fold: bool) -> char {
    if fold {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

/// Whether `s` matches the LIKE `pattern` (ILIKE when `case_insensitive`).
pub fn like_match(s: &str, pattern: &str, case_insensitive: bool) -> Result<bool> {
    let toks = compile(pattern, case_insensitive)?;
    let text: Vec<char> = s.chars().map(|c| fold_char(c, case_insensitive)).collect();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < text.len() {
        match toks.get(pi) {
            Some(Tok::Many) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(Tok::Any) => {
                ti += 1;
                pi += 1;
            }
            Some(Tok::Lit(c)) if *c == text[ti] => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return Ok(false),
            },
        }
    }
    Ok(toks[pi..].iter().all(|t| *t == Tok::Many))
}

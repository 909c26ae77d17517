//! POSIX regular-expression match operators: `~`, `~*`, `!~`, `!~*`.
//!
//! psql's `\d` family filters names with them (`relname OPERATOR(pg_catalog.~) '^(t)$'`,
//! `nspname !~ '^pg_toast'`), and applications use them directly. Patterns are compiled
//! with the `regex` crate, whose syntax covers what PostgreSQL's advanced regular
//! expressions (AREs) are normally used for: anchors, classes, `[[:alpha:]]`, quantifiers,
//! alternation, `(?i)`, `\d`/`\w`/`\s`. Compiled patterns are cached per thread, because the
//! same pattern is matched against every row.
//!
//! IMPLEMENTATION CAVEATS: back-references (`\1`), lookahead (`(?=...)`), PostgreSQL's
//! `\m`/`\M`/`\y` word anchors and embedded options other than `(?i)` are not supported
//! (2201B "invalid regular expression"); matching runs in linear time, so there is no
//! catastrophic backtracking either.

use crate::{Error, Result};
use regex::{Regex, RegexBuilder};
use std::cell::RefCell;
use std::collections::HashMap;

/// SQLSTATE 2201B (not in `error::code`, which another module owns).
pub const INVALID_REGULAR_EXPRESSION: &str = "2201B";
/// Most patterns kept per thread before the cache is cleared.
const CACHE_LIMIT: usize = 256;
/// Compiled program size limit (bytes): keeps a hostile pattern from exhausting memory.
const SIZE_LIMIT: usize = 10 << 20;

thread_local! {
    static CACHE: RefCell<HashMap<(String, bool), Regex>> = RefCell::new(HashMap::new());
}

/// Compiles (or fetches from the cache) `pattern`, case-insensitive when `icase`.
fn compiled(pattern: &str, icase: bool) -> Result<Regex> {
    let key = (pattern.to_string(), icase);
    if let Some(r) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(r);
    }
    let re = RegexBuilder::new(pattern)
        .case_insensitive(icase)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let msg = e.to_string();
            let first = msg.lines().last().unwrap_or("invalid pattern").trim();
            Error::new(
                INVALID_REGULAR_EXPRESSION,
                format!("invalid regular expression: {first}"),
            )
        })?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(key, re.clone());
    });
    Ok(re)
}

/// Whether `text` contains a match of `pattern` (PostgreSQL's `~`; `~*` when `icase`).
pub fn regex_match(text: &str, pattern: &str, icase: bool) -> Result<bool> {
    Ok(compiled(pattern, icase)?.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_postgres() {
        assert!(regex_match("pg_toast", "^pg_toast", false).unwrap());
        assert!(!regex_match("public", "^pg_", false).unwrap());
        assert!(regex_match("t", "^(t)$", false).unwrap());
        assert!(!regex_match("tt", "^(t)$", false).unwrap());
        assert!(regex_match("ABC", "b", true).unwrap());
        assert!(!regex_match("ABC", "b", false).unwrap());
        assert!(regex_match("a1", "[[:digit:]]", false).unwrap());
    }

    #[test]
    fn invalid_pattern_is_2201b() {
        let e = regex_match("x", "(", false).unwrap_err();
        assert_eq!(e.code, INVALID_REGULAR_EXPRESSION);
        assert!(e.message.starts_with("invalid regular expression"));
    }
}

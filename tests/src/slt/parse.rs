//! Reading a sqllogictest file into records, one blank-line-separated block at a time.
//!
//! The sqllogictest crate's parser rejects a whole file at its first unknown line, so each block
//! is parsed on its own: a block the parser rejects becomes [`Item::Unparseable`] and is counted
//! as a failed record, and the rest of the file still runs. Before parsing, a block's header is
//! translated from CockroachDB's dialect (`statement error pgcode XXXXX ...`, `query T
//! colnames,rowsort`, `partialsort(..)`, `statement OK`) into what the crate understands, with
//! the extra expectations kept beside it in [`Extra`].
//!
//! Also handled here: a trailing `# comment` on `onlyif`/`skipif` lines (SQLite's files have
//! them; the crate rejects them).

use sqllogictest::{DefaultColumnType, Record};

/// Which flavour of the format a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite's original format (and sqllogictest-rs's).
    Sqlite,
    /// CockroachDB's logic-test format.
    Cockroach,
}

/// Expectations the crate's parser has no place for (CockroachDB dialect).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extra {
    /// `pgcode XXXXX`: the SQLSTATE the error must carry.
    pub pgcode: Option<String>,
    /// `colnames`: the first result line holds the column names.
    pub colnames: bool,
    /// `partialsort(..)`: compared as rowsort (a weaker check than CockroachDB's).
    pub partialsort: bool,
}

/// One unit of a file.
#[derive(Debug)]
pub enum Item {
    /// A parsed record (and the conditions/controls that came with it in its block).
    Records {
        /// The 1-based line where the block starts.
        line: usize,
        /// The records of the block, in order.
        records: Vec<Record<DefaultColumnType>>,
        /// Dialect extras for the block's statement or query.
        extra: Extra,
    },
    /// `user <name>` (CockroachDB): switch the session user.
    User(String),
    /// A block that could not be parsed or uses an unsupported directive.
    Unparseable {
        /// The 1-based line where the block starts.
        line: usize,
        /// Why.
        reason: String,
        /// The block's text (for failure reports).
        text: String,
    },
}

/// Splits `script` into items.
pub fn parse_script(script: &str, dialect: Dialect) -> Vec<Item> {
    let mut items = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    let mut block_line = 1;
    for (i, line) in script.lines().enumerate() {
        if line.trim().is_empty() {
            if !block.is_empty() {
                items.extend(parse_block(&block, block_line, dialect));
                block.clear();
            }
            continue;
        }
        if block.is_empty() {
            block_line = i + 1;
        }
        block.push(line);
    }
    if !block.is_empty() {
        items.extend(parse_block(&block, block_line, dialect));
    }
    items
}

fn parse_block(lines: &[&str], line: usize, dialect: Dialect) -> Vec<Item> {
    let mut extra = Extra::default();
    let mut out_lines: Vec<String> = Vec::with_capacity(lines.len());
    let mut header_seen = false;
    let mut items = Vec::new();
    for raw in lines {
        let trimmed = raw.trim_start();
        if header_seen || trimmed.starts_with('#') {
            out_lines.push(raw.to_string());
            continue;
        }
        let tokens: Vec<&str> = trimmed.split_whitespace().collect();
        match tokens.first().copied() {
            Some("onlyif") | Some("skipif") => {
                // Drop a trailing comment: `onlyif sqlite # comment`.
                let kept: Vec<&str> = tokens
                    .iter()
                    .take_while(|t| !t.starts_with('#'))
                    .copied()
                    .collect();
                out_lines.push(kept.join(" "));
            }
            Some("user") if dialect == Dialect::Cockroach && tokens.len() == 2 => {
                items.push(Item::User(tokens[1].to_string()));
            }
            Some("statement") | Some("query") => {
                header_seen = true;
                match translate_header(&tokens, dialect, &mut extra) {
                    Ok(h) => out_lines.push(h),
                    Err(reason) => {
                        items.push(unparseable(lines, line, reason));
                        return items;
                    }
                }
            }
            // Directives (hash-threshold, halt, control, subtest, ...).
            _ => out_lines.push(raw.to_string()),
        }
    }
    if out_lines.iter().all(|l| l.trim_start().starts_with('#')) {
        return items;
    }
    let text = out_lines.join("\n") + "\n";
    match sqllogictest::parse::<DefaultColumnType>(&text) {
        Ok(records) => items.push(Item::Records {
            line,
            records,
            extra,
        }),
        Err(e) => items.push(unparseable(lines, line, e.kind().to_string())),
    }
    items
}

fn unparseable(lines: &[&str], line: usize, reason: String) -> Item {
    Item::Unparseable {
        line,
        reason,
        text: lines.join("\n"),
    }
}

/// Rewrites a `statement`/`query` header line into the crate's syntax.
fn translate_header(
    tokens: &[&str],
    dialect: Dialect,
    extra: &mut Extra,
) -> Result<String, String> {
    let kind = tokens[0];
    let rest = &tokens[1..];
    match rest.first().copied() {
        Some("OK") if kind == "statement" => return Ok("statement ok".into()),
        Some("error") => {
            let mut msg = &rest[1..];
            if msg.first() == Some(&"pgcode") && msg.len() >= 2 {
                extra.pgcode = Some(msg[1].to_string());
                msg = &msg[2..];
            }
            return Ok(format!("{kind} error {}", msg.join(" "))
                .trim_end()
                .to_string());
        }
        _ => {}
    }
    if kind == "statement" || dialect == Dialect::Sqlite || rest.is_empty() {
        return Ok(tokens.join(" "));
    }
    // query <types> [options, comma-separated or not] [label]
    let mut sort = None;
    let mut label = None;
    for opt in rest[1..]
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|o| !o.is_empty())
    {
        match opt {
            "colnames" => extra.colnames = true,
            "rowsort" | "valuesort" | "nosort" => sort = Some(opt.to_string()),
            o if o.starts_with("partialsort") => {
                extra.partialsort = true;
                sort = Some("rowsort".into());
            }
            "retry" | "kvtrace" | "noticetrace" => return Err(format!("unsupported option {opt}")),
            o if o.starts_with("kvtrace") => return Err(format!("unsupported option {o}")),
            o => label = Some(o.to_string()),
        }
    }
    let mut h = format!("query {}", rest[0]);
    if let Some(s) = sort {
        h.push(' ');
        h.push_str(&s);
    }
    if let Some(l) = label {
        h.push(' ');
        h.push_str(&l);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(script: &str, d: Dialect) -> Vec<String> {
        parse_script(script, d)
            .into_iter()
            .map(|i| match i {
                Item::Records { records, extra, .. } => format!("{} {:?}", records.len(), extra),
                Item::User(u) => format!("user {u}"),
                Item::Unparseable { reason, .. } => format!("unparseable {reason}"),
            })
            .collect()
    }

    #[test]
    fn sqlite_blocks() {
        let s = "hash-threshold 8\n\nstatement ok\nCREATE TABLE t(a INT)\n\nonlyif sqlite # c\nquery I nosort\nSELECT 1\n----\n1\n\nbogus line\n";
        let h = headers(s, Dialect::Sqlite);
        assert_eq!(h.len(), 4, "{h:?}");
        assert!(h[0].starts_with("1 "));
        assert!(h[2].starts_with("2 "), "condition plus query: {h:?}");
        assert!(h[3].starts_with("unparseable"));
    }

    #[test]
    fn cockroach_headers() {
        let s = "statement error pgcode 42P01 relation \"x\" does not exist\nSELECT * FROM x\n\n\
                 query IT colnames,rowsort\nSELECT 1, 'a'\n----\na b\n1 a\n\n\
                 user testuser\n\nstatement OK\nSELECT 1\n\nquery I partialsort(1)\nSELECT 1\n----\n1\n";
        let items = parse_script(s, Dialect::Cockroach);
        assert_eq!(items.len(), 5);
        match &items[0] {
            Item::Records { extra, .. } => assert_eq!(extra.pgcode.as_deref(), Some("42P01")),
            other => panic!("{other:?}"),
        }
        match &items[1] {
            Item::Records { extra, records, .. } => {
                assert!(extra.colnames);
                assert!(matches!(&records[0], Record::Query { .. }));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[2], Item::User(u) if u == "testuser"));
        assert!(matches!(&items[3], Item::Records { .. }));
        assert!(matches!(&items[4], Item::Records { extra, .. } if extra.partialsort));
    }
}

//! Splits SQL text into statements at top-level semicolons, the way psql decides that a
//! statement is complete: semicolons inside quotes ('..', "..", E'..' with backslash escapes,
//! $tag$..$tag$), comments (`--` to end of line, nested `/* */`) do not end a statement.

/// Lexical state carried across lines of input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum State {
    #[default]
    Normal,
    /// Inside '..'; `escapes` for E'..' strings.
    Single {
        escapes: bool,
    },
    Double,
    /// Inside $tag$..$tag$ (the tag includes the dollars).
    Dollar(String),
    LineComment,
    /// Inside /* */ at this nesting depth.
    Block(u32),
}

/// Accumulates input and hands back complete statements.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: String,
    /// Scan position in `buf` and the state there.
    pos: usize,
    state: State,
}

impl Splitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds input (typically a line including its newline) and returns the statements it
    /// completed, without their terminating semicolons; empty statements are dropped.
    /// Backslash commands (`\dt`, `\q`) come back as their own items, starting with `\`.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = self.buf.as_bytes();
        let mut i = self.pos;
        while i < bytes.len() {
            let c = bytes[i];
            let next = bytes.get(i + 1).copied();
            match &mut self.state {
                State::Normal => match c {
                    b'\'' => {
                        let escapes = i > 0
                            && matches!(bytes[i - 1], b'e' | b'E')
                            && !ident_char_before(bytes, i - 1);
                        self.state = State::Single { escapes };
                    }
                    b'"' => self.state = State::Double,
                    b'-' if next == Some(b'-') => self.state = State::LineComment,
                    b'/' if next == Some(b'*') => {
                        self.state = State::Block(1);
                        i += 1;
                    }
                    b'$' => {
                        if let Some(tag) = dollar_tag(&self.buf[i..]) {
                            if !ident_char_before(bytes, i) {
                                i += tag.len() - 1;
                                self.state = State::Dollar(tag);
                            }
                        }
                    }
                    b'\\' => {
                        // A backslash command runs to the end of its line (as in psql); wait
                        // for the newline before taking it.
                        let Some(end) = self.buf[i..].find('\n').map(|n| i + n) else {
                            break;
                        };
                        let pending = self.buf[start..i].trim();
                        if !pending.is_empty() {
                            out.push(pending.to_string());
                        }
                        out.push(self.buf[i..end].trim().trim_end_matches(';').to_string());
                        start = end + 1;
                        i = end;
                    }
                    b';' => {
                        let stmt = self.buf[start..i].trim();
                        if !stmt.is_empty() {
                            out.push(stmt.to_string());
                        }
                        start = i + 1;
                    }
                    _ => {}
                },
                State::Single { escapes } => {
                    if *escapes && c == b'\\' {
                        i += 1;
                    } else if c == b'\'' {
                        if next == Some(b'\'') {
                            i += 1;
                        } else {
                            self.state = State::Normal;
                        }
                    }
                }
                State::Double => {
                    if c == b'"' {
                        if next == Some(b'"') {
                            i += 1;
                        } else {
                            self.state = State::Normal;
                        }
                    }
                }
                State::Dollar(tag) => {
                    if c == b'$' && self.buf[i..].starts_with(tag.as_str()) {
                        i += tag.len() - 1;
                        self.state = State::Normal;
                    }
                }
                State::LineComment => {
                    if c == b'\n' {
                        self.state = State::Normal;
                    }
                }
                State::Block(depth) => {
                    if c == b'*' && next == Some(b'/') {
                        *depth -= 1;
                        i += 1;
                        if *depth == 0 {
                            self.state = State::Normal;
                        }
                    } else if c == b'/' && next == Some(b'*') {
                        *depth += 1;
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        self.buf.drain(..start);
        self.pos = i - start;
        out
    }

    /// Whether nothing but whitespace and comments is pending.
    pub fn is_empty(&self) -> bool {
        matches!(self.state, State::Normal | State::LineComment)
            && strip_comments(&self.buf).trim().is_empty()
    }

    /// Takes whatever is pending (a final statement without a semicolon), resetting the state.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        self.pos = 0;
        self.state = State::Normal;
        let stmt = rest.trim();
        (!strip_comments(stmt).trim().is_empty()).then(|| stmt.to_string())
    }

    /// Discards pending input (Ctrl-C in the shell).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.state = State::Normal;
    }
}

/// `$tag$` at the start of `s` (tag: letters, digits, underscores, not starting with a digit).
fn dollar_tag(s: &str) -> Option<String> {
    let rest = &s[1..];
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let valid = tag.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !tag.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| format!("${tag}$"))
}

/// Whether the byte before `i` continues an identifier (so `$1`/`x$` are not dollar quotes
/// and `name'..'` is not an E-string).
fn ident_char_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b'$')
}

/// Drops `--` line comments (good enough to decide whether input is blank).
fn strip_comments(s: &str) -> String {
    s.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits a whole script into statements (the last may lack a semicolon).
pub fn split_all(script: &str) -> Vec<String> {
    let mut s = Splitter::new();
    let mut out = s.push(script);
    out.extend(s.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons() {
        assert_eq!(
            split_all("select 1; select 2"),
            vec!["select 1", "select 2"]
        );
        assert_eq!(
            split_all("select ';'; select \"a;b\";"),
            vec!["select ';'", "select \"a;b\""]
        );
        assert_eq!(split_all("select 'it''s;'; ;;"), vec!["select 'it''s;'"]);
        assert_eq!(split_all("select E'\\';'; x"), vec!["select E'\\';'", "x"]);
        assert_eq!(
            split_all("select $$a;b$$; select $f$;$f$"),
            vec!["select $$a;b$$", "select $f$;$f$"]
        );
        assert_eq!(
            split_all("select 1 -- c;\n+1; x"),
            vec!["select 1 -- c;\n+1", "x"]
        );
        assert_eq!(
            split_all("select /* a /* ; */ ; */ 1; x"),
            vec!["select /* a /* ; */ ; */ 1", "x"]
        );
        assert_eq!(split_all("select $1; x"), vec!["select $1", "x"]);
        assert_eq!(
            split_all("select 1; \\dt\nselect 2;"),
            vec!["select 1", "\\dt", "select 2"]
        );
        assert_eq!(split_all("\\d t;\n\\q"), vec!["\\d t", "\\q"]);
        assert_eq!(split_all("select '\\x';"), vec!["select '\\x'"]);
    }

    #[test]
    fn incremental_lines() {
        let mut s = Splitter::new();
        assert!(s.push("select\n").is_empty());
        assert!(s.push("'a;\n").is_empty());
        assert!(!s.is_empty());
        assert_eq!(
            s.push("b'; select 2;\n"),
            vec!["select\n'a;\nb'", "select 2"]
        );
        assert!(s.is_empty());
        assert!(s.push("-- only a comment\n").is_empty());
        assert!(s.is_empty());
        assert_eq!(s.finish(), None);
    }
}

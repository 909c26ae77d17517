//! A small runner for data-driven golden scripts.
//!
//! A script is a sequence of blocks; each is one command line, a `----` line, and the expected
//! output up to the next blank line:
//!
//! ```text
//! # What this scenario checks (comment lines and blank lines are kept as they are).
//!
//! put k=a v=1 ts=10
//! ----
//! ok
//! ```
//!
//! Arguments are `name=value` or bare words; values may be double-quoted with `\xNN`, `\\`,
//! `\"`, `\n` and `\t` escapes, so keys with 0x00 bytes can be written (`k="a\x00"`).
//!
//! `UPDATE_GOLDEN=1 cargo test -p kv` rewrites every script with the actual output; review the
//! diff (`git diff kv/tests/testdata`) before committing.

#![allow(dead_code)] // each test binary uses a different subset

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One parsed command.
#[derive(Debug)]
pub struct Command {
    /// The first word.
    pub name: String,
    /// `name=value` pairs and bare words (with an empty value), in order.
    pub args: Vec<(String, String)>,
    /// 1-based line number in the script.
    pub line: usize,
}

impl Command {
    /// The value of a named argument.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a required argument.
    pub fn must(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("line {}: missing argument {name}=", self.line))
    }

    /// A required argument parsed as a number.
    pub fn must_parse<T: std::str::FromStr>(&self, name: &str) -> Result<T, String> {
        let raw = self.must(name)?;
        raw.parse()
            .map_err(|_| format!("line {}: bad value {name}={raw}", self.line))
    }

    /// Whether a bare word (flag) is present.
    pub fn flag(&self, name: &str) -> bool {
        self.args.iter().any(|(k, v)| k == name && v.is_empty())
    }
}

/// Splits a command line into words, honouring double quotes and escapes.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote".into()),
                        Some('"') => break,
                        Some('\\') => cur.push(unescape_one(&mut chars)?),
                        Some(c) => cur.push(c),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Decodes one escape after a backslash. `\xNN` yields the char U+00NN, which
/// [`arg_bytes`] turns back into the byte NN.
fn unescape_one(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<char, String> {
    match chars.next() {
        Some('n') => Ok('\n'),
        Some('t') => Ok('\t'),
        Some('\\') => Ok('\\'),
        Some('"') => Ok('"'),
        Some('x') => {
            let hex: String = chars.by_ref().take(2).collect();
            u8::from_str_radix(&hex, 16)
                .map(char::from)
                .map_err(|_| format!("bad escape \\x{hex}"))
        }
        other => Err(format!("bad escape \\{}", other.unwrap_or(' '))),
    }
}

/// The bytes of an argument value: each char below U+0100 is one byte (so `\xff` is 0xff).
/// Other chars are written as UTF-8.
pub fn arg_bytes(v: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in v.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(c.to_string().as_bytes()),
        }
    }
    out
}

/// Formats bytes for output: bare when plain printable ASCII, else quoted with `\xNN` escapes.
pub fn fmt_bytes(b: &[u8]) -> String {
    let plain = !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-./:".contains(c));
    if plain {
        return String::from_utf8_lossy(b).into_owned();
    }
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(c)),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// Lowercase hex, bytes separated by spaces.
pub fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|c| format!("{c:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_command(line: &str, line_no: usize) -> Result<Command, String> {
    let mut words = split_words(line)
        .map_err(|e| format!("line {line_no}: {e}"))?
        .into_iter();
    let name = words
        .next()
        .ok_or_else(|| format!("line {line_no}: empty command"))?;
    let args = words
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (w, String::new()),
        })
        .collect();
    Ok(Command {
        name,
        args,
        line: line_no,
    })
}

/// Runs one script through `run` (a fresh runner per file) and returns the regenerated text.
fn regenerate(
    text: &str,
    run: &mut dyn FnMut(&Command) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let cmd = parse_command(line, i + 1)?;
        match lines.next() {
            Some((_, "----")) => {}
            _ => return Err(format!("line {}: expected ---- after the command", i + 1)),
        }
        // Skip the old expected output.
        while lines.peek().is_some_and(|(_, l)| !l.trim().is_empty()) {
            lines.next();
        }
        let result = match run(&cmd) {
            Ok(s) => s,
            Err(e) => format!("error: {e}"),
        };
        out.push_str(line);
        out.push_str("\n----\n");
        for l in result.lines() {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The `.txt` scripts of a directory, sorted.
pub fn scripts(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    files
}

/// Runs every script of `dir`, each with a fresh runner from `make`. Panics with a line diff
/// of every script whose output changed, unless UPDATE_GOLDEN=1 (then rewrites them).
pub fn run_dir<R>(dir: &str, mut make: impl FnMut() -> R)
where
    R: FnMut(&Command) -> Result<String, String>,
{
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for path in scripts(dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut runner = make();
        let actual =
            regenerate(&text, &mut runner).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if actual == text {
            continue;
        }
        if update {
            std::fs::write(&path, &actual).unwrap();
        } else {
            failures.push(format!("{}:\n{}", path.display(), diff(&text, &actual)));
        }
    }
    assert!(
        failures.is_empty(),
        "golden output changed (rerun with UPDATE_GOLDEN=1 and review the diff):\n{}",
        failures.join("\n")
    );
}

/// A minimal line diff: the changed lines of each side, with line numbers.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let prefix = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = e[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = String::new();
    for (n, l) in e[prefix..e.len() - suffix].iter().enumerate() {
        let _ = writeln!(out, "  -{:4} {l}", prefix + n + 1);
    }
    for (n, l) in a[prefix..a.len() - suffix].iter().enumerate() {
        let _ = writeln!(out, "  +{:4} {l}", prefix + n + 1);
    }
    out
}

//! Prints query results as aligned tables, the way psql does:
//!
//! ```text
//!  id | name
//! ----+-------
//!   1 | alice
//! (1 row)
//! ```
//!
//! Headers are centred; columns whose every non-NULL value is a number are right-aligned, the
//! rest left-aligned (psql aligns by type; the simple query protocol gives us only text, so the
//! values decide). NULL prints as an empty cell, as in psql. A value containing a newline is
//! printed over several lines with a `+` in the margin, as psql does.

/// A result set in text form.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResultTable {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of text values (None = NULL).
    pub rows: Vec<Vec<Option<String>>>,
}

/// Renders `t` as psql would, ending with `(N rows)` and a newline.
pub fn render(t: &ResultTable) -> String {
    let ncols = t.columns.len();
    let mut widths: Vec<usize> = t.columns.iter().map(|c| display_width(c)).collect();
    let mut numeric = vec![true; ncols];
    for row in &t.rows {
        for (i, v) in row.iter().enumerate().take(ncols) {
            if let Some(v) = v {
                for line in v.split('\n') {
                    widths[i] = widths[i].max(display_width(line));
                }
                numeric[i] &= looks_numeric(v);
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| center(c, widths[i]))
        .collect();
    out.push_str(format!(" {}", header.join(" | ")).trim_end());
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    out.push_str(&rule.join("+"));
    out.push('\n');
    for row in &t.rows {
        render_row(&mut out, row, &widths, &numeric);
    }
    let n = t.rows.len();
    out.push_str(&format!("({n} {})\n", if n == 1 { "row" } else { "rows" }));
    out
}

/// One row, possibly over several lines when a value contains newlines.
fn render_row(out: &mut String, row: &[Option<String>], widths: &[usize], numeric: &[bool]) {
    let cells: Vec<Vec<&str>> = (0..widths.len())
        .map(|i| match row.get(i).and_then(|v| v.as_deref()) {
            Some(v) => v.split('\n').collect(),
            None => vec![""],
        })
        .collect();
    let height = cells.iter().map(Vec::len).max().unwrap_or(1);
    for line in 0..height {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let v = cell.get(line).copied().unwrap_or("");
            let more = line + 1 < cell.len();
            text.push(if i == 0 { ' ' } else { '|' });
            if i > 0 {
                text.push(' ');
            }
            let pad = widths[i].saturating_sub(display_width(v));
            if numeric[i] {
                text.push_str(&" ".repeat(pad));
                text.push_str(v);
            } else {
                text.push_str(v);
                text.push_str(&" ".repeat(pad));
            }
            text.push(if more { '+' } else { ' ' });
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
}

fn center(s: &str, width: usize) -> String {
    let pad = width.saturating_sub(display_width(s));
    let left = pad / 2;
    format!("{}{}{}", " ".repeat(left), s, " ".repeat(pad - left))
}

/// Characters, not bytes (no East Asian width tables: close enough for a shell).
fn display_width(s: &str) -> usize {
    s.chars().count()
}

fn looks_numeric(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty()
        && (v.parse::<f64>().is_ok() || v.parse::<i128>().is_ok())
        && !v.eq_ignore_ascii_case("nan")
        && !v.eq_ignore_ascii_case("inf")
        && !v.eq_ignore_ascii_case("infinity")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cols: &[&str], rows: &[&[Option<&str>]]) -> ResultTable {
        ResultTable {
            columns: cols.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
        }
    }

    #[test]
    fn like_psql() {
        let t = table(
            &["id", "name"],
            &[&[Some("1"), Some("alice")], &[Some("22"), None]],
        );
        let expected = " id | name\n----+-------\n  1 | alice\n 22 |\n(2 rows)\n";
        assert_eq!(render(&t), expected);
    }

    #[test]
    fn empty_and_single() {
        let t = table(&["?column?"], &[]);
        assert_eq!(render(&t), " ?column?\n----------\n(0 rows)\n");
        let t = table(&["a"], &[&[Some("x")]]);
        assert_eq!(render(&t), " a\n---\n x\n(1 row)\n");
    }

    #[test]
    fn multiline_values() {
        let t = table(&["a", "b"], &[&[Some("x\nyy"), Some("1")]]);
        assert_eq!(render(&t), " a  | b\n----+---\n x +| 1\n yy |\n(1 row)\n");
    }
}

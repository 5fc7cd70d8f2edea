//! Shared two-column TSV reader.

use crate::error::{CodeError, TableErrorReason};

/// One data row: 1-based line number, first column, second column (without any
/// further columns).
pub(crate) struct Row<'a> {
    pub line: usize,
    pub first: &'a str,
    pub second: &'a str,
}

/// Iterates the data rows of a two-column TSV table.
///
/// - A leading byte-order mark and `\r` line ends are accepted.
/// - Blank (whitespace-only) lines are skipped.
/// - The first non-blank line is a header, and skipped, when its first column is
///   non-empty and contains no ASCII digit (codes always do; headers such as `code` or `诊断编码` do not).
/// - Columns after the second are ignored.
pub(crate) fn rows(src: &str) -> impl Iterator<Item = Result<Row<'_>, CodeError>> {
    let src = src.strip_prefix('\u{FEFF}').unwrap_or(src);
    let mut seen_first = false;
    src.lines().enumerate().filter_map(move |(i, raw)| {
        let line = i + 1;
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        if text.trim().is_empty() {
            return None;
        }
        let is_first = !seen_first;
        seen_first = true;
        let Some((first, rest)) = text.split_once('\t') else {
            if is_first && !text.bytes().any(|b| b.is_ascii_digit()) {
                return None; // a one-column header
            }
            return Some(Err(CodeError::Table {
                line,
                reason: TableErrorReason::MissingTab,
            }));
        };
        if is_first && !first.trim().is_empty() && !first.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let second = rest.split('\t').next().unwrap_or(rest);
        Some(Ok(Row {
            line,
            first,
            second,
        }))
    })
}

/// Reads a whole source into a string.
pub(crate) fn read_all(mut r: impl std::io::Read) -> Result<String, CodeError> {
    let mut s = String::new();
    r.read_to_string(&mut s)?;
    Ok(s)
}

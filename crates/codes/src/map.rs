//! Maps from 国家临床版 codes to 医保版 codes.

use rustc_hash::FxHashMap;

use crate::error::{CodeError, TableErrorReason};
use crate::normalize::normalize;
use crate::tsv;

/// Result of mapping a clinical code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapResult<'a> {
    /// The clinical code maps to this 医保版 code.
    Mapped(&'a str),
    /// The clinical code is listed, but with an empty right side: no 医保版 code exists.
    NoMapping,
    /// The clinical code is not listed in the map.
    Unknown,
}

impl<'a> MapResult<'a> {
    /// The mapped code, if any.
    pub fn mapped(self) -> Option<&'a str> {
        match self {
            MapResult::Mapped(c) => Some(c),
            _ => None,
        }
    }
}

/// A clinical → insurance code map (`clinical_code\tinsurance_code`), both sides
/// normalised. A row with an empty right side records that no mapping exists.
#[derive(Debug, Clone, Default)]
pub struct CodeMap {
    /// Clinical code → insurance code; an empty value means "no mapping".
    map: FxHashMap<Box<str>, Box<str>>,
}

impl CodeMap {
    /// Parses a two-column table (see the crate docs for the TSV conventions).
    ///
    /// Errors, with 1-based line numbers: a line without a tab, an empty clinical code,
    /// and a clinical code listed twice (the error names both lines).
    pub fn parse_tsv(src: &str) -> Result<CodeMap, CodeError> {
        let mut map: FxHashMap<Box<str>, Box<str>> = FxHashMap::default();
        let mut lines: FxHashMap<Box<str>, usize> = FxHashMap::default();
        for row in tsv::rows(src) {
            let row = row?;
            let from = normalize(row.first);
            if from.is_empty() {
                return Err(CodeError::Table {
                    line: row.line,
                    reason: TableErrorReason::EmptyCode,
                });
            }
            if let Some(&first_line) = lines.get(from.as_ref()) {
                return Err(CodeError::Table {
                    line: row.line,
                    reason: TableErrorReason::DuplicateCode {
                        code: from.into_owned(),
                        first_line,
                    },
                });
            }
            let from: Box<str> = from.into();
            lines.insert(from.clone(), row.line);
            map.insert(from, normalize(row.second).into());
        }
        map.shrink_to_fit();
        Ok(CodeMap { map })
    }

    /// Like [`parse_tsv`](Self::parse_tsv), reading the table from `reader` (UTF-8).
    pub fn from_reader(reader: impl std::io::Read) -> Result<CodeMap, CodeError> {
        Self::parse_tsv(&tsv::read_all(reader)?)
    }

    /// Maps a clinical code (normalised first).
    pub fn map(&self, clinical: &str) -> MapResult<'_> {
        match self.map.get(normalize(clinical).as_ref()) {
            None => MapResult::Unknown,
            Some(to) if to.is_empty() => MapResult::NoMapping,
            Some(to) => MapResult::Mapped(to),
        }
    }

    /// Number of listed clinical codes (including those without a mapping).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map lists no codes.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All rows as `(clinical, insurance)`, `None` for "no mapping"; arbitrary order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.map.iter().map(|(k, v)| {
            (
                k.as_ref(),
                if v.is_empty() { None } else { Some(v.as_ref()) },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_outcomes() {
        let m = CodeMap::parse_tsv(
            "clinical_code\tinsurance_code\nA00.000\tA00.000\nB37.600I39.8\tB37.600+I39.8*\nZ99.999\t\nC22.101m81600/3\tC22.101\n",
        )
        .expect("parse");
        assert_eq!(m.len(), 4);
        assert_eq!(m.map("a00.000"), MapResult::Mapped("A00.000"));
        assert_eq!(m.map("B37.600I39.8"), MapResult::Mapped("B37.600+I39.8*"));
        assert_eq!(m.map("Z99.999"), MapResult::NoMapping);
        assert_eq!(m.map("C22.101M81600/3").mapped(), Some("C22.101"));
        assert_eq!(m.map("K35.800"), MapResult::Unknown);
        assert_eq!(m.iter().filter(|(_, v)| v.is_none()).count(), 1);
    }

    #[test]
    fn errors() {
        let e = CodeMap::parse_tsv("clinical_code\tinsurance_code\nA00.000\n").expect_err("tab");
        assert_eq!(
            (e.line(), e.table_reason()),
            (Some(2), Some(&TableErrorReason::MissingTab))
        );
        let e = CodeMap::parse_tsv("A00.000\tA00.000\nA00.000\t\n").expect_err("dup");
        assert_eq!(
            e.table_reason(),
            Some(&TableErrorReason::DuplicateCode {
                code: "A00.000".into(),
                first_line: 1
            })
        );
        assert_eq!(e.line(), Some(2));
    }
}

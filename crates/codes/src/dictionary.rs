//! Versioned code dictionaries.

use rustc_hash::FxHashMap;

use crate::error::{CodeError, TableErrorReason};
use crate::normalize::normalize;
use crate::tsv;

/// Which code system a dictionary holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    /// ICD-10 医保版 diagnoses.
    Diagnosis,
    /// ICD-9-CM-3 医保版 procedures.
    Procedure,
}

/// Interned id of a code within one [`Dictionary`]: its row index in file order.
/// Ids are only meaningful for the dictionary that issued them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeId(pub u32);

impl CodeId {
    /// The id as a `usize` index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One dictionary entry, as yielded by [`Dictionary::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The entry's id.
    pub id: CodeId,
    /// The canonical code.
    pub code: &'a str,
    /// The name (Chinese description).
    pub name: &'a str,
}

/// A code dictionary of one kind and version: the set of valid codes with their names.
///
/// Codes are normalised when loaded and when queried, so `is_valid("a01.000X004")`
/// finds `A01.000x004`.
#[derive(Debug, Clone)]
pub struct Dictionary {
    kind: CodeKind,
    version: Box<str>,
    codes: Vec<Box<str>>,
    names: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
}

impl Dictionary {
    /// Parses a `code\tname` table (see the crate docs for the TSV conventions).
    ///
    /// Errors, with 1-based line numbers: a line without a tab, an empty code, and a code
    /// that (after normalisation) repeats an earlier one — the error names both lines.
    pub fn parse_tsv(kind: CodeKind, version: &str, src: &str) -> Result<Dictionary, CodeError> {
        let mut d = Dictionary {
            kind,
            version: version.into(),
            codes: Vec::new(),
            names: Vec::new(),
            index: FxHashMap::default(),
        };
        // Line of each entry, kept only during parsing for duplicate messages.
        let mut lines: Vec<usize> = Vec::new();
        for row in tsv::rows(src) {
            let row = row?;
            let code = normalize(row.first);
            if code.is_empty() {
                return Err(CodeError::Table {
                    line: row.line,
                    reason: TableErrorReason::EmptyCode,
                });
            }
            if let Some(&prev) = d.index.get(code.as_ref()) {
                return Err(CodeError::Table {
                    line: row.line,
                    reason: TableErrorReason::DuplicateCode {
                        code: code.into_owned(),
                        first_line: lines[prev as usize],
                    },
                });
            }
            let id = u32::try_from(d.codes.len()).map_err(|_| CodeError::Table {
                line: row.line,
                reason: TableErrorReason::TooManyRows,
            })?;
            let code: Box<str> = code.into();
            d.index.insert(code.clone(), id);
            d.codes.push(code);
            d.names.push(row.second.trim().into());
            lines.push(row.line);
        }
        d.codes.shrink_to_fit();
        d.names.shrink_to_fit();
        Ok(d)
    }

    /// Like [`parse_tsv`](Self::parse_tsv), reading the table from `reader` (UTF-8).
    pub fn from_reader(
        kind: CodeKind,
        version: &str,
        reader: impl std::io::Read,
    ) -> Result<Dictionary, CodeError> {
        Self::parse_tsv(kind, version, &tsv::read_all(reader)?)
    }

    /// The kind of codes held.
    pub fn kind(&self) -> CodeKind {
        self.kind
    }

    /// The version label given at parse time (e.g. `"医保版2.0"`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the dictionary has no codes.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The id of `code` (normalised first), if the dictionary has it.
    pub fn lookup(&self, code: &str) -> Option<CodeId> {
        self.index.get(normalize(code).as_ref()).map(|&i| CodeId(i))
    }

    /// Whether `code` (normalised first) is in the dictionary.
    pub fn is_valid(&self, code: &str) -> bool {
        self.lookup(code).is_some()
    }

    /// The name of `code` (normalised first).
    pub fn name(&self, code: &str) -> Option<&str> {
        self.lookup(code).map(|id| self.names[id.index()].as_ref())
    }

    /// The canonical code of an id issued by this dictionary.
    pub fn code_of(&self, id: CodeId) -> Option<&str> {
        self.codes.get(id.index()).map(AsRef::as_ref)
    }

    /// The name of an id issued by this dictionary.
    pub fn name_of(&self, id: CodeId) -> Option<&str> {
        self.names.get(id.index()).map(AsRef::as_ref)
    }

    /// All entries in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Entry<'_>> + '_ {
        self.codes
            .iter()
            .zip(&self.names)
            .enumerate()
            .map(|(i, (c, n))| Entry {
                id: CodeId(i as u32),
                code: c,
                name: n,
            })
    }
}

impl<'a> IntoIterator for &'a Dictionary {
    type Item = Entry<'a>;
    type IntoIter = Box<dyn ExactSizeIterator<Item = Entry<'a>> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dx(src: &str) -> Result<Dictionary, CodeError> {
        Dictionary::parse_tsv(CodeKind::Diagnosis, "test", src)
    }

    #[test]
    fn parses_and_queries() {
        let d = dx("code\tname\nA01.000x004\t伤寒\r\nK35.800\t急性阑尾炎\n\nA01.000x005+J17.0*\t伤寒肺炎\n").expect("parse");
        assert_eq!(d.len(), 3);
        assert_eq!(d.version(), "test");
        assert_eq!(d.kind(), CodeKind::Diagnosis);
        assert!(d.is_valid("a01.000X004"));
        assert!(d.is_valid("Ｋ３５．８００"));
        assert!(!d.is_valid("K35.8"));
        assert_eq!(d.name("K35.800"), Some("急性阑尾炎"));
        assert_eq!(d.name("a01.000x005 + j17.0*"), Some("伤寒肺炎"));
        let id = d.lookup("K35.800").expect("id");
        assert_eq!(id, CodeId(1));
        assert_eq!(d.code_of(id), Some("K35.800"));
        assert_eq!(d.name_of(CodeId(9)), None);
        let codes: Vec<_> = d.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["A01.000x004", "K35.800", "A01.000x005+J17.0*"]);
        assert_eq!((&d).into_iter().len(), 3);
    }

    #[test]
    fn headerless_and_bom() {
        let d = dx("\u{FEFF}A01.000x004\t伤寒\n").expect("parse");
        assert!(d.is_valid("A01.000x004"));
        let d = dx("").expect("empty");
        assert!(d.is_empty());
    }

    #[test]
    fn located_errors() {
        let cases: &[(&str, usize, TableErrorReason)] = &[
            ("code\tname\nA01.000\n", 2, TableErrorReason::MissingTab),
            (
                "code\tname\nA01.000\tx\n\tname\n",
                3,
                TableErrorReason::EmptyCode,
            ),
            ("code\tname\n  \tname\n", 2, TableErrorReason::EmptyCode),
            (
                "code\tname\nA01.000x004\ta\nK35.800\tb\na01.000X004\tc\n",
                4,
                TableErrorReason::DuplicateCode {
                    code: "A01.000x004".into(),
                    first_line: 2,
                },
            ),
        ];
        for (src, line, reason) in cases {
            let err = dx(src).expect_err(src);
            assert_eq!(err.line(), Some(*line), "{src:?}: {err}");
            assert_eq!(err.table_reason(), Some(reason), "{src:?}");
        }
        let msg = dx("code\tname\nA01.000\ta\nA01.000\tb\n")
            .expect_err("dup")
            .to_string();
        assert_eq!(
            msg,
            "line 3: duplicate code \"A01.000\", first defined on line 2"
        );
    }
}

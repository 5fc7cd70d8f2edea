//! Category-level code ranges for QC rules (`O00-O9A`, `V01-Y98`).

use std::fmt;

use crate::error::CodeError;
use crate::normalize::normalize;
use crate::syntax::parts;

/// An inclusive range of ICD-10 categories, such as `O00-O9A` or `N40-N51`.
///
/// Categories are three characters: a letter and two digits or letters. They compare
/// letter first, then the two following characters lexically with digits before letters,
/// so `O9A` sorts after `O99` (as in ICD-10-CM). A code is in the range when its
/// category (of its primary half, for a dagger/asterisk pair) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeRange {
    start: [u8; 3],
    end: [u8; 3],
}

impl CodeRange {
    /// Parses `START-END` or a single category `K35` (whitespace and full-width
    /// characters are tolerated, letters may be lower case). Errors when a bound is not
    /// a category or when start > end.
    ///
    /// ```
    /// let r = codes::CodeRange::parse("O00-O9A").unwrap();
    /// assert!(r.contains("O99.000") && r.contains("O9A.1") && !r.contains("P00.0"));
    /// ```
    pub fn parse(spec: &str) -> Result<CodeRange, CodeError> {
        let err = |reason| CodeError::Range {
            spec: spec.to_owned(),
            reason,
        };
        let norm = normalize(spec);
        let (a, b) = match norm.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (norm.as_ref(), norm.as_ref()),
        };
        let start =
            parse_category(a).ok_or_else(|| err("start is not a 3-character category like K35"))?;
        let end =
            parse_category(b).ok_or_else(|| err("end is not a 3-character category like K35"))?;
        if start > end {
            return Err(err("start sorts after end"));
        }
        Ok(CodeRange { start, end })
    }

    /// Parses a comma-separated list of ranges: `"N40-N51, C60-C63"`.
    pub fn parse_list(spec: &str) -> Result<Vec<CodeRange>, CodeError> {
        spec.split([',', '，', ';', '；'])
            .filter(|s| !s.trim().is_empty())
            .map(CodeRange::parse)
            .collect()
    }

    /// The first category of the range.
    pub fn start(&self) -> &str {
        std::str::from_utf8(&self.start).unwrap_or("")
    }

    /// The last category of the range.
    pub fn end(&self) -> &str {
        std::str::from_utf8(&self.end).unwrap_or("")
    }

    /// Whether the category of `code` lies in the range. Only the first three characters
    /// of the (primary half of the) code are examined, case-insensitively, so the code
    /// need not be normalised beyond trimming; codes not starting with a category are
    /// never contained.
    pub fn contains(&self, code: &str) -> bool {
        let primary = parts(code.trim()).primary;
        match category_prefix(primary) {
            Some(cat) => self.start <= cat && cat <= self.end,
            None => false,
        }
    }
}

impl fmt::Display for CodeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            f.write_str(self.start())
        } else {
            write!(f, "{}-{}", self.start(), self.end())
        }
    }
}

impl std::str::FromStr for CodeRange {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CodeRange::parse(s)
    }
}

/// The upper-cased first three bytes of `s` if they form a category.
fn category_prefix(s: &str) -> Option<[u8; 3]> {
    let b = s.as_bytes();
    if b.len() < 3 {
        return None;
    }
    let cat = [
        b[0].to_ascii_uppercase(),
        b[1].to_ascii_uppercase(),
        b[2].to_ascii_uppercase(),
    ];
    let ok = cat[0].is_ascii_uppercase()
        && cat[1..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    ok.then_some(cat)
}

/// Exactly a category.
fn parse_category(s: &str) -> Option<[u8; 3]> {
    if s.len() == 3 {
        category_prefix(s)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("O00-O9A", "O00.000", true),
            ("O00-O9A", "O99.800x001", true),
            ("O00-O9A", "O9A.1", true),
            ("O00-O9A", "N99.0", false),
            ("O00-O9A", "P00.000", false),
            ("O00-O9A", "o20.000", true),
            ("N40-N51", "N40.x00", true),
            ("N40-N51", "N51.8", true),
            ("N40-N51", "N52.0", false),
            ("N40-N51", "N39.000", false),
            ("V01-Y98", "W19.x00", true),
            ("V01-Y98", "X59.900", true),
            ("V01-Y98", "Y98", true),
            ("V01-Y98", "Y99.0", false),
            ("V01-Y98", "V00.0", false),
            ("P00-P96", "P07.100", true),
            ("R00-R99", "R99.x00", true),
            ("Z00-Z99", "Z99.900", true),
            ("Z00-Z99", "33.6x00", false),
            ("Z00-Z99", "", false),
            ("Z00-Z99", "Z", false),
            ("K35", "K35.800", true),
            ("K35", "K36.000", false),
            // pairs: the primary half decides
            ("A00-B99", "A01.000x005+J17.0*", true),
            ("J00-J99", "A01.000x005+J17.0*", false),
        ];
        for &(spec, code, want) in cases {
            let r = CodeRange::parse(spec).expect(spec);
            assert_eq!(r.contains(code), want, "{spec} contains {code}");
        }
    }

    #[test]
    fn parse_forms_and_errors() {
        let r: CodeRange = " ｏ００－ｏ９ａ ".parse().expect("full-width");
        assert_eq!((r.start(), r.end()), ("O00", "O9A"));
        assert_eq!(r.to_string(), "O00-O9A");
        assert_eq!(CodeRange::parse("k35").expect("single").to_string(), "K35");
        let list = CodeRange::parse_list("N40-N51, C60-C63；Z00").expect("list");
        assert_eq!(list.len(), 3);
        for bad in [
            "",
            "O00-",
            "-O9A",
            "O9A-O00",
            "O00-O9A-P00",
            "O0-O9",
            "O00.0-O9A",
            "000-099",
            "K35.8",
        ] {
            let e = CodeRange::parse(bad).expect_err(bad);
            assert!(matches!(e, CodeError::Range { .. }), "{bad}: {e}");
        }
    }
}

//! Procedure classes (操作属性) for comprehensive groups (综合病种).
//!
//! The national DIP specification sends cases below the case-count threshold to
//! comprehensive groups keyed by the main diagnosis category and the *kind* of
//! intervention: 保守治疗 (conservative: no procedure), 诊断性操作 (diagnostic),
//! 治疗性操作 (therapeutic, non-surgical) and 相关手术 (surgery). A case's class is the
//! highest of its procedures' classes in that order.
//!
//! Classification is a data table loadable at run time (`proc_classes.tsv`:
//! `prefix<TAB>class`, longest matching prefix wins) plus an optional list of surgical
//! procedure codes (e.g. the CHS-DRG `surgical_procedures.tsv`), which, when given,
//! decides surgery exactly: a listed code is surgery; an unlisted code that the prefix
//! table would call surgery is demoted to therapeutic.
//!
//! The built-in table ([`ProcClassifier::builtin`]) follows the ICD-9-CM-3 chapters:
//! 00–86 are operations (相关手术); 87–91 are diagnostic imaging and examinations
//! (诊断性操作, with 88.4–88.6 angiography counted diagnostic); 92.0–92.1 radioisotope
//! scans diagnostic; 92.2–92.3 radiotherapy and 93–99 therapeutic and other
//! non-operative procedures (治疗性操作); a few diagnostic procedures inside 00–86
//! (endoscopies and closed biopsies such as 45.1x, 45.2x, 33.2x) are diagnostic, and
//! 17.9 (miscellaneous, including the 医保版 TCM procedures) is therapeutic.

use std::fmt;

use rustc_hash::FxHashSet;

/// The intervention class of a procedure or a case, ordered by intensity.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ProcClass {
    /// 保守治疗: no procedure.
    Conservative = 0,
    /// 诊断性操作.
    Diagnostic = 1,
    /// 治疗性操作.
    Therapeutic = 2,
    /// 相关手术.
    Surgical = 3,
}

impl ProcClass {
    pub const ALL: [ProcClass; 4] = [
        ProcClass::Conservative,
        ProcClass::Diagnostic,
        ProcClass::Therapeutic,
        ProcClass::Surgical,
    ];

    /// The Chinese name used in published libraries.
    pub fn zh(self) -> &'static str {
        match self {
            ProcClass::Conservative => "保守治疗",
            ProcClass::Diagnostic => "诊断性操作",
            ProcClass::Therapeutic => "治疗性操作",
            ProcClass::Surgical => "相关手术",
        }
    }

    /// The English key used in the library files.
    pub fn key(self) -> &'static str {
        match self {
            ProcClass::Conservative => "conservative",
            ProcClass::Diagnostic => "diagnostic",
            ProcClass::Therapeutic => "therapeutic",
            ProcClass::Surgical => "surgical",
        }
    }

    /// Reads an English key, a Chinese name, or `0`..`3`.
    pub fn parse(s: &str) -> Option<ProcClass> {
        let s = s.trim();
        ProcClass::ALL.into_iter().find(|c| {
            s.eq_ignore_ascii_case(c.key())
                || s == c.zh()
                || s == (*c as u8).to_string()
                || s == c.zh().trim_end_matches("治疗")
        })
    }

    pub(crate) fn from_bits(b: u64) -> ProcClass {
        ProcClass::ALL[(b & 3) as usize]
    }
}

impl fmt::Display for ProcClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Why a classification table could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("proc_classes.tsv line {line}: {reason}")]
pub struct ClassTableError {
    pub line: usize,
    pub reason: String,
}

/// Classifies procedure codes (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct ProcClassifier {
    /// (prefix, class), sorted by descending prefix length.
    prefixes: Vec<(String, ProcClass)>,
    surgical: Option<FxHashSet<String>>,
}

/// The built-in prefix table: ICD-9-CM-3 chapters (see the module docs).
pub const BUILTIN_TABLE: &str = "\
prefix\tclass
# ICD-9-CM-3 chapters 00-86: operations
0\tsurgical
1\tsurgical
2\tsurgical
3\tsurgical
4\tsurgical
5\tsurgical
6\tsurgical
7\tsurgical
80\tsurgical
81\tsurgical
82\tsurgical
83\tsurgical
84\tsurgical
85\tsurgical
86\tsurgical
# 87-91: diagnostic radiology, other diagnostic procedures, examinations, laboratory
87\tdiagnostic
88\tdiagnostic
89\tdiagnostic
90\tdiagnostic
91\tdiagnostic
# 92: nuclear medicine: 92.0-92.1 scans are diagnostic, 92.2-92.3 radiotherapy therapeutic
92\ttherapeutic
92.0\tdiagnostic
92.1\tdiagnostic
# 93-99: therapeutic and other non-operative procedures
93\ttherapeutic
94\ttherapeutic
95\ttherapeutic
96\ttherapeutic
97\ttherapeutic
98\ttherapeutic
99\ttherapeutic
# diagnostic endoscopies and closed biopsies inside the operative chapters
01.1\tdiagnostic
31.4\tdiagnostic
33.2\tdiagnostic
42.2\tdiagnostic
44.1\tdiagnostic
45.1\tdiagnostic
45.2\tdiagnostic
48.2\tdiagnostic
50.1\tdiagnostic
51.1\tdiagnostic
52.1\tdiagnostic
55.2\tdiagnostic
57.3\tdiagnostic
60.1\tdiagnostic
68.1\tdiagnostic
70.2\tdiagnostic
# 17.9: other miscellaneous procedures (医保版 TCM procedures such as 17.912A0)
17.9\ttherapeutic
";

impl ProcClassifier {
    /// The built-in table, no surgical list.
    pub fn builtin() -> ProcClassifier {
        ProcClassifier::parse_tsv(BUILTIN_TABLE).expect("built-in table parses")
    }

    /// Reads `prefix<TAB>class` lines. A header line whose first column is `prefix`,
    /// blank lines and `#` comments are skipped. Classes: `conservative`, `diagnostic`,
    /// `therapeutic`, `surgical` or the Chinese names.
    pub fn parse_tsv(src: &str) -> Result<ProcClassifier, ClassTableError> {
        let mut prefixes = Vec::new();
        for (i, line) in src.lines().enumerate() {
            let line = line.trim_start_matches('\u{feff}').trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with("prefix\t") {
                continue;
            }
            let mut cols = line.split('\t');
            let prefix = cols.next().unwrap_or("").trim();
            let class = cols.next().unwrap_or("").trim();
            if prefix.is_empty() {
                return Err(ClassTableError {
                    line: i + 1,
                    reason: "empty prefix".into(),
                });
            }
            let class = ProcClass::parse(class).ok_or_else(|| ClassTableError {
                line: i + 1,
                reason: format!("unknown class {class:?}"),
            })?;
            prefixes.push((codes::normalize(prefix).into_owned(), class));
        }
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(ProcClassifier {
            prefixes,
            surgical: None,
        })
    }

    /// Adds an exact list of surgical procedure codes (see the module docs).
    pub fn with_surgical_list<'a>(
        mut self,
        codes: impl IntoIterator<Item = &'a str>,
    ) -> ProcClassifier {
        self.surgical = Some(
            codes
                .into_iter()
                .map(|c| codes::normalize(c.trim()).into_owned())
                .filter(|c| !c.is_empty())
                .collect(),
        );
        self
    }

    /// Whether a surgical list decides surgery.
    pub fn has_surgical_list(&self) -> bool {
        self.surgical.is_some()
    }

    /// The class of one (normalised) procedure code. A code no prefix matches is
    /// therapeutic (it is an intervention, but not known to be an operation).
    pub fn classify(&self, code: &str) -> ProcClass {
        let by_prefix = self
            .prefixes
            .iter()
            .find(|(p, _)| code.starts_with(p.as_str()))
            .map(|(_, c)| *c)
            .unwrap_or(ProcClass::Therapeutic);
        match &self.surgical {
            Some(list) if list.contains(code) => ProcClass::Surgical,
            Some(_) if by_prefix == ProcClass::Surgical => ProcClass::Therapeutic,
            _ => by_prefix,
        }
    }

    /// The table as TSV (the surgical list is not included; it is its own file).
    pub fn to_tsv(&self) -> String {
        let mut rows: Vec<&(String, ProcClass)> = self.prefixes.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut s = String::from("prefix\tclass\n");
        for (p, c) in rows {
            s.push_str(p);
            s.push('\t');
            s.push_str(c.key());
            s.push('\n');
        }
        s
    }

    /// The surgical list, sorted, one code a line (empty when there is none).
    pub fn surgical_list(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.surgical.iter().flatten().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

impl Default for ProcClassifier {
    fn default() -> Self {
        ProcClassifier::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_chapters() {
        let c = ProcClassifier::builtin();
        let table = [
            ("47.0100", ProcClass::Surgical),
            ("81.5100x001", ProcClass::Surgical),
            ("45.1300", ProcClass::Diagnostic),
            ("87.4400", ProcClass::Diagnostic),
            ("88.7200", ProcClass::Diagnostic),
            ("92.0200", ProcClass::Diagnostic),
            ("92.2400", ProcClass::Therapeutic),
            ("99.2500", ProcClass::Therapeutic),
            ("93.3900", ProcClass::Therapeutic),
            ("17.912A0", ProcClass::Therapeutic),
        ];
        for (code, want) in table {
            assert_eq!(c.classify(code), want, "{code}");
        }
    }

    #[test]
    fn surgical_list_decides_surgery() {
        let c = ProcClassifier::builtin().with_surgical_list(["47.0100"]);
        assert_eq!(c.classify("47.0100"), ProcClass::Surgical);
        assert_eq!(c.classify("47.0900"), ProcClass::Therapeutic);
        assert_eq!(c.classify("87.4400"), ProcClass::Diagnostic);
    }

    #[test]
    fn table_round_trips_and_rejects_bad_rows() {
        let c = ProcClassifier::builtin();
        let again = ProcClassifier::parse_tsv(&c.to_tsv()).unwrap();
        assert_eq!(again.to_tsv(), c.to_tsv());
        let e = ProcClassifier::parse_tsv("prefix\tclass\n47\tsurgery-ish\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(ProcClass::parse("相关手术"), Some(ProcClass::Surgical));
        assert_eq!(ProcClass::parse("保守"), Some(ProcClass::Conservative));
    }
}

//! Code dictionaries for the DRG/DIP payment system: ICD-10 医保版 diagnoses,
//! ICD-9-CM-3 医保版 procedures, clinical → insurance code maps, and helpers that QC
//! rules need (normalisation, categories, dagger/asterisk pairs, category ranges).
//!
//! The crate is pure: it parses text supplied by the caller (`&str` or [`std::io::Read`])
//! and does no file IO of its own.
//!
//! # Table format
//!
//! Tables are UTF-8 TSV with two columns (`code\tname` or
//! `clinical_code\tinsurance_code`). A leading byte-order mark, `\r\n` line ends and
//! blank lines are accepted; columns after the second are ignored. The first non-blank
//! line is a header when its first column is non-empty and contains no ASCII digit.
//! Codes are [normalised](normalize) when loaded and when queried.

mod dictionary;
mod error;
mod map;
mod normalize;
mod range;
mod syntax;
mod tsv;

pub use dictionary::{CodeId, CodeKind, Dictionary, Entry};
pub use error::{CodeError, TableErrorReason};
pub use map::{CodeMap, MapResult};
pub use normalize::{is_normal, normalize, normalize_into};
pub use range::CodeRange;
pub use syntax::{
    category, has_asterisk, is_asterisk, is_pair, looks_like_diagnosis, looks_like_procedure,
    parts, subcategory, CodeParts,
};

/// The full set of code data a grouper or QC run works with.
#[derive(Debug, Clone)]
pub struct Dictionaries {
    /// The ICD-10 医保版 diagnosis dictionary.
    pub diagnoses: Dictionary,
    /// The ICD-9-CM-3 医保版 procedure dictionary.
    pub procedures: Dictionary,
    /// Clinical → insurance diagnosis code map, if available.
    pub dx_map: Option<CodeMap>,
    /// Clinical → insurance procedure code map, if available.
    pub proc_map: Option<CodeMap>,
}

impl Dictionaries {
    /// The dictionary for `kind`.
    pub fn get(&self, kind: CodeKind) -> &Dictionary {
        match kind {
            CodeKind::Diagnosis => &self.diagnoses,
            CodeKind::Procedure => &self.procedures,
        }
    }

    /// The clinical → insurance map for `kind`, if available.
    pub fn map_for(&self, kind: CodeKind) -> Option<&CodeMap> {
        match kind {
            CodeKind::Diagnosis => self.dx_map.as_ref(),
            CodeKind::Procedure => self.proc_map.as_ref(),
        }
    }
}

//! The project's own small demo DRG scheme and demo code dictionary.
//!
//! Both are data files under `crates/synth/data/` (made once by
//! `data/make_demo.py` from public code lists), in exactly the formats the
//! project's importers read: the scheme in the `chs-drg-1.1` layout, the
//! dictionaries as `code\tname` TSV. They are compiled into the binary so the
//! demo, the generator and the tests run without `../shared`.

use codes::{CodeError, CodeKind, Dictionaries, Dictionary};
use drg::{Scheme, SchemeError, SchemeFiles};

/// Text of the demo scheme's files.
pub const SCHEME_FILES: SchemeFiles<'static> = SchemeFiles {
    scheme_json: include_str!("../data/demo-scheme/scheme.json"),
    cc_tsv: include_str!("../data/demo-scheme/cc.tsv"),
    mcc_tsv: include_str!("../data/demo-scheme/mcc.tsv"),
    main_dx_exclusion_tsv: include_str!("../data/demo-scheme/main_dx_exclusion.tsv"),
    surgical_procedures_tsv: include_str!("../data/demo-scheme/surgical_procedures.tsv"),
    drg_names_tsv: include_str!("../data/demo-scheme/drg_names.tsv"),
};

/// The demo diagnosis dictionary (`icd10_diagnoses.tsv` layout).
pub const DIAGNOSES_TSV: &str = include_str!("../data/demo-codes/icd10_diagnoses.tsv");
/// The demo procedure dictionary (`icd9cm3_procedures.tsv` layout).
pub const PROCEDURES_TSV: &str = include_str!("../data/demo-codes/icd9cm3_procedures.tsv");

/// Version label of the demo dictionaries.
pub const DICTIONARY_VERSION: &str = "drgdip-demo";

/// The demo scheme.
pub fn scheme() -> Result<Scheme, SchemeError> {
    Scheme::from_files(SCHEME_FILES)
}

/// The demo dictionaries (no clinical → insurance maps).
pub fn dictionaries() -> Result<Dictionaries, CodeError> {
    Ok(Dictionaries {
        diagnoses: Dictionary::parse_tsv(CodeKind::Diagnosis, DICTIONARY_VERSION, DIAGNOSES_TSV)?,
        procedures: Dictionary::parse_tsv(CodeKind::Procedure, DICTIONARY_VERSION, PROCEDURES_TSV)?,
        dx_map: None,
        proc_map: None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_data_loads_and_covers_every_scheme_code() {
        let s = super::scheme().unwrap();
        let d = super::dictionaries().unwrap();
        let (_, adrgs, drgs) = s.counts();
        assert!(adrgs >= 30 && drgs >= adrgs, "{adrgs} ADRGs, {drgs} DRGs");
        let mut missing = Vec::new();
        for m in &s.mdcs {
            for (name, list) in m
                .lists
                .iter()
                .chain(m.adrgs.iter().flat_map(|a| a.lists.iter()))
            {
                let dict = if name.contains("ss") {
                    &d.procedures
                } else {
                    &d.diagnoses
                };
                missing.extend(
                    list.iter()
                        .filter(|c| !dict.is_valid(c))
                        .map(|c| c.to_string()),
                );
            }
        }
        for c in s.cc.keys().chain(s.mcc.keys()) {
            if !d.diagnoses.is_valid(c) {
                missing.push(c.to_string());
            }
        }
        for c in &s.surgical_procedures {
            if !d.procedures.is_valid(c) {
                missing.push(c.to_string());
            }
        }
        assert!(
            missing.is_empty(),
            "codes missing from the demo dictionary: {missing:?}"
        );
    }
}

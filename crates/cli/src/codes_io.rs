//! Loading code dictionaries from a directory laid out like
//! `../shared/reference/codes/` (the layout the project's importers write).

use std::path::Path;

use anyhow::Context;
use codes::{CodeKind, CodeMap, Dictionaries, Dictionary};

pub const DIAGNOSES: &str = "icd10_diagnoses.tsv";
pub const PROCEDURES: &str = "icd9cm3_procedures.tsv";
pub const DX_MAP: &str = "diagnosis_clinical_to_insurance.tsv";
pub const PROC_MAP: &str = "procedure_clinical_to_insurance.tsv";

/// Read the two dictionaries (required) and the two clinical maps (optional).
/// The directory name is the dictionary version.
pub fn load(dir: &Path) -> anyhow::Result<Dictionaries> {
    let version = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let read = |name: &str| -> anyhow::Result<String> {
        let p = dir.join(name);
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    };
    let dict = |kind, name: &str| -> anyhow::Result<Dictionary> {
        Dictionary::parse_tsv(kind, &version, &read(name)?).with_context(|| format!("{}", dir.join(name).display()))
    };
    let map = |name: &str| -> anyhow::Result<Option<CodeMap>> {
        if !dir.join(name).exists() {
            return Ok(None);
        }
        Ok(Some(CodeMap::parse_tsv(&read(name)?).with_context(|| format!("{}", dir.join(name).display()))?))
    };
    Ok(Dictionaries {
        diagnoses: dict(CodeKind::Diagnosis, DIAGNOSES)?,
        procedures: dict(CodeKind::Procedure, PROCEDURES)?,
        dx_map: map(DX_MAP)?,
        proc_map: map(PROC_MAP)?,
    })
}

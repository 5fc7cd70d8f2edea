//! The national CHS-DRG schemes of `shared/reference` as the default configuration.
//!
//! Seed 003 moves every region to the 2.0 schemes from 2025-01-01. When `drgdip serve`
//! is given the reference directory (and the store has no scheme configuration yet), it
//! stores and activates CHS-DRG 1.1 from 2000-01-01 and CHS-DRG 2.0 from 2025-01-01, as
//! the system actor (audited like any upload): each case is then grouped by the version
//! in force on its discharge date. Without the reference directory the embedded demo
//! scheme stays the default ([`crate::engines`]).

use std::path::{Path, PathBuf};

use store::{Actor, ConfigKind, Store};

use crate::error::ApiError;
use crate::pipeline::SchemeUpload;

/// The versions put in force: (name, directory under the reference root, effective from).
pub const IN_FORCE: [(&str, &str, &str); 2] = [
    ("CHS-DRG 1.1", "chs-drg-1.1", "2000-01-01"),
    ("CHS-DRG 2.0", "schemes/chs-drg-2.0", "2025-01-01"),
];

/// One scheme of the reference directory, read and checked.
#[derive(Clone, Debug)]
pub struct ReferenceScheme {
    /// E.g. `CHS-DRG 2.0`.
    pub name: String,
    /// Where it was read from.
    pub dir: PathBuf,
    /// `YYYY-MM-DD`.
    pub effective_from: String,
    /// The six files, as a scheme configuration.
    pub upload: SchemeUpload,
}

impl ReferenceScheme {
    /// The configuration text (JSON of the six files) as the service stores it.
    pub fn config_text(&self) -> String {
        serde_json::to_string(&self.upload).unwrap_or_default()
    }

    /// The scheme compiled.
    pub fn grouper(&self) -> Result<drg::Grouper, ApiError> {
        SchemeUpload::compile_text(&self.config_text())
    }
}

/// Reads the schemes of [`IN_FORCE`] under `root`; each must load (a refusal names the
/// file and the place).
pub fn read(root: &Path) -> Result<Vec<ReferenceScheme>, String> {
    use drg::scheme::file_names::*;
    let mut out = Vec::new();
    for (name, sub, eff) in IN_FORCE {
        let dir = root.join(sub);
        let read = |f: &str| {
            let p = dir.join(f);
            std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
        };
        let upload = SchemeUpload {
            scheme_json: read(SCHEME_JSON)?,
            cc_tsv: read(CC_TSV)?,
            mcc_tsv: read(MCC_TSV)?,
            main_dx_exclusion_tsv: read(MAIN_DX_EXCLUSION_TSV)?,
            surgical_procedures_tsv: read(SURGICAL_PROCEDURES_TSV)?,
            drg_names_tsv: read(DRG_NAMES_TSV)?,
        };
        upload.compile().map_err(|e| format!("{}: {e}", dir.display()))?;
        out.push(ReferenceScheme { name: name.to_owned(), dir, effective_from: eff.to_owned(), upload });
    }
    Ok(out)
}

/// On a store without any scheme configuration, stores and activates each scheme from
/// its effective date; returns (name, config id, effective from) of each. A store that
/// has a scheme configuration (even an inactive one) is left as it is: the agency's own
/// choice wins.
pub async fn seed(store: &Store, schemes: &[ReferenceScheme]) -> Result<Vec<(String, i64, String)>, ApiError> {
    if !store.configs(Some(ConfigKind::Scheme)).await?.is_empty() {
        return Ok(Vec::new());
    }
    let sys = Actor::system();
    let mut done = Vec::new();
    for s in schemes {
        let id = store
            .add_config(&sys, ConfigKind::Scheme, &format!("{} (shared/reference)", s.name), &s.config_text())
            .await?;
        store.activate_config(&sys, id, &s.effective_from).await?;
        done.push((s.name.clone(), id, s.effective_from.clone()));
    }
    Ok(done)
}

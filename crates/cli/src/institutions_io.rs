//! Reading an institutions table (`institutions.csv`, the layout `drgdip synth`
//! writes): id, level, TCM flag and county-alliance lead.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// Institutions by id. Columns looked up by name: `institution_id`, `level`
/// (三级/二级/一级/基层), `tcm` (1/0, true/false, 是/否), `alliance_lead_id`.
pub fn load(path: &Path) -> anyhow::Result<BTreeMap<String, points::Institution>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let id = col("institution_id").with_context(|| format!("{}: no institution_id column", path.display()))?;
    let level = col("level").with_context(|| format!("{}: no level column", path.display()))?;
    let tcm = col("tcm");
    let lead = col("alliance_lead_id");
    let mut out = BTreeMap::new();
    for (i, row) in r.records().enumerate() {
        let row = row.with_context(|| format!("{} line {}", path.display(), i + 2))?;
        let get = |c: Option<usize>| c.and_then(|c| row.get(c)).map(str::trim).unwrap_or("");
        let inst_id = get(Some(id)).to_owned();
        let lead_id = get(lead);
        out.insert(
            inst_id.clone(),
            points::Institution {
                level: get(Some(level)).to_owned(),
                tcm: matches!(get(tcm), "1" | "true" | "TRUE" | "是" | "Y"),
                alliance_lead: (!lead_id.is_empty() && lead_id != inst_id).then(|| lead_id.to_owned()),
                id: inst_id,
            },
        );
    }
    Ok(out)
}

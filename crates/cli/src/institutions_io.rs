//! Reading an institutions table (`institutions.csv`, the layout `drgdip synth`
//! writes): id, level, TCM flag and county-alliance lead. Strict: a bad row is an
//! error naming the file, line and column, never a skipped or defaulted row.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// Located problems of a table: "FILE line N, column C: reason", every one listed
/// (at most `MAX_LISTED`, then how many more).
pub struct TableErrors {
    file: String,
    list: Vec<String>,
}

/// How many problems of one table an error lists.
pub const MAX_LISTED: usize = 20;

impl TableErrors {
    pub fn new(path: &Path) -> TableErrors {
        TableErrors { file: path.display().to_string(), list: Vec::new() }
    }

    /// A problem of `line` (1-based, the header is line 1) in `column` (may be empty).
    pub fn at(&mut self, line: usize, column: &str, reason: impl std::fmt::Display) {
        let col = if column.is_empty() { String::new() } else { format!(", column {column}") };
        self.list.push(format!("{} line {line}{col}: {reason}", self.file));
    }

    /// A problem of the whole table.
    pub fn file(&mut self, reason: impl std::fmt::Display) {
        self.list.push(format!("{}: {reason}", self.file));
    }

    /// Ok, or every problem as one error.
    pub fn finish(self) -> anyhow::Result<()> {
        match self.list.len() {
            0 => Ok(()),
            1 => anyhow::bail!("{}", self.list[0]),
            n => {
                let mut s = format!("{}: {n} problems", self.file);
                for l in self.list.iter().take(MAX_LISTED) {
                    s.push_str("\n  - ");
                    s.push_str(l);
                }
                if n > MAX_LISTED {
                    s.push_str(&format!("\n  … and {} more", n - MAX_LISTED));
                }
                anyhow::bail!("{s}")
            }
        }
    }
}

/// A yes/no cell: 1/0, true/false, 是/否, Y/N.
pub fn yes_no(s: &str) -> Option<bool> {
    match s {
        "1" | "true" | "TRUE" | "是" | "Y" | "y" => Some(true),
        "0" | "false" | "FALSE" | "否" | "N" | "n" => Some(false),
        _ => None,
    }
}

/// Institutions by id. Columns looked up by name: `institution_id`, `level`
/// (三级/二级/一级/基层), optional `tcm` (1/0, true/false, 是/否; without the column
/// no institution is TCM), optional `alliance_lead_id` with optional
/// `is_alliance_lead`.
///
/// Refused, with file, line and column: an empty or repeated id; a level outside
/// 三级/二级/一级/基层; a `tcm` or `is_alliance_lead` cell that is not a yes/no; an
/// `alliance_lead_id` that names no institution of the table, or the institution
/// itself without `is_alliance_lead` = 1, or an institution that is itself a member
/// of another alliance; `is_alliance_lead` = 1 with another institution as lead.
pub fn load(path: &Path) -> anyhow::Result<BTreeMap<String, points::Institution>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = r.headers().with_context(|| format!("{}: header", path.display()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim().trim_start_matches('\u{feff}') == name);
    let id = col("institution_id").with_context(|| format!("{}: no institution_id column", path.display()))?;
    let level = col("level").with_context(|| format!("{}: no level column", path.display()))?;
    let tcm = col("tcm");
    let lead = col("alliance_lead_id");
    let is_lead = col("is_alliance_lead");
    let mut errors = TableErrors::new(path);
    let mut out: BTreeMap<String, points::Institution> = BTreeMap::new();
    let mut line_of: BTreeMap<String, usize> = BTreeMap::new();
    // (line, member, lead) to check once every id is known.
    let mut leads: Vec<(usize, String, String)> = Vec::new();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                errors.at(line, "", e);
                continue;
            }
        };
        let get = |c: Option<usize>| c.and_then(|c| row.get(c)).map(str::trim).unwrap_or("");
        let inst_id = get(Some(id)).to_owned();
        if inst_id.is_empty() {
            errors.at(line, "institution_id", "empty");
            continue;
        }
        if let Some(first) = line_of.get(&inst_id) {
            errors.at(line, "institution_id", format!("{inst_id} repeats line {first} (one row per institution)"));
            continue;
        }
        line_of.insert(inst_id.clone(), line);
        let lv = get(Some(level));
        if !points::LEVELS.contains(&lv) {
            errors.at(line, "level", format!("{lv:?} of {inst_id}: must be one of {}", points::LEVELS.join(", ")));
        }
        let is_tcm = match tcm {
            None => false,
            Some(_) => yes_no(get(tcm)).unwrap_or_else(|| {
                errors.at(line, "tcm", format!("{:?} of {inst_id}: must be 1 or 0 (true/false, 是/否)", get(tcm)));
                false
            }),
        };
        let says_lead = match is_lead {
            None => None,
            Some(_) if get(is_lead).is_empty() => Some(false),
            Some(_) => yes_no(get(is_lead)).or_else(|| {
                errors.at(line, "is_alliance_lead", format!("{:?} of {inst_id}: must be 1 or 0", get(is_lead)));
                None
            }),
        };
        let lead_id = get(lead);
        let alliance_lead = if lead_id.is_empty() {
            if says_lead == Some(true) {
                errors.at(line, "alliance_lead_id", format!("empty, but {inst_id} has is_alliance_lead = 1: a lead names itself"));
            }
            None
        } else if lead_id == inst_id {
            if says_lead != Some(true) {
                errors.at(
                    line,
                    "alliance_lead_id",
                    format!("{inst_id} names itself as its alliance lead (only a lead may, with is_alliance_lead = 1)"),
                );
            }
            None
        } else {
            if says_lead == Some(true) {
                errors.at(line, "is_alliance_lead", format!("1, but {inst_id}'s alliance_lead_id is {lead_id}"));
            }
            leads.push((line, inst_id.clone(), lead_id.to_owned()));
            Some(lead_id.to_owned())
        };
        out.insert(
            inst_id.clone(),
            points::Institution { level: lv.to_owned(), tcm: is_tcm, alliance_lead, id: inst_id },
        );
    }
    for (line, member, lead_id) in &leads {
        match out.get(lead_id) {
            None => errors.at(*line, "alliance_lead_id", format!("{lead_id} (lead of {member}) is not in the table")),
            Some(l) => {
                if let Some(up) = &l.alliance_lead {
                    errors.at(
                        *line,
                        "alliance_lead_id",
                        format!("{lead_id} (lead of {member}) is itself a member of the alliance led by {up}"),
                    );
                }
            }
        }
    }
    if out.is_empty() && errors.list.is_empty() {
        errors.file("no institutions");
    }
    errors.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "institution_id,name,level,alliance_lead_id,is_alliance_lead,tcm\n";

    fn load_text(name: &str, rows: &str) -> anyhow::Result<BTreeMap<String, points::Institution>> {
        let p = std::env::temp_dir().join(format!("drgdip-inst-{}-{name}.csv", std::process::id()));
        std::fs::write(&p, format!("{HEAD}{rows}")).unwrap();
        let r = load(&p);
        let _ = std::fs::remove_file(&p);
        r
    }

    #[test]
    fn good_table_loads_with_leads() {
        let m = load_text("good", "H1,a,三级,H1,1,0\nH2,b,一级,H1,0,1\nH3,c,基层,,0,否\n").unwrap();
        assert_eq!(m["H2"].alliance_lead.as_deref(), Some("H1"));
        assert_eq!(m["H1"].alliance_lead, None);
        assert!(m["H2"].tcm && !m["H3"].tcm);
    }

    #[test]
    fn bad_rows_are_refused_with_line_and_column() {
        for (name, rows, want) in [
            ("dup", "H1,a,三级,,0,0\nH1,b,二级,,0,0\n", "line 3, column institution_id: H1 repeats line 2"),
            ("empty", ",a,三级,,0,0\n", "line 2, column institution_id: empty"),
            ("level", "H1,a,三甲,,0,0\n", "line 2, column level: \"三甲\" of H1: must be one of 三级, 二级, 一级, 基层"),
            ("nolevel", "H1,a,,,0,0\n", "line 2, column level: \"\" of H1"),
            ("tcm", "H1,a,三级,,0,maybe\n", "line 2, column tcm: \"maybe\" of H1: must be 1 or 0"),
            ("lead", "H1,a,三级,H9,0,0\n", "line 2, column alliance_lead_id: H9 (lead of H1) is not in the table"),
            ("self", "H1,a,三级,H1,0,0\n", "line 2, column alliance_lead_id: H1 names itself as its alliance lead"),
            ("chain", "H1,a,三级,,0,0\nH2,b,二级,H1,0,0\nH3,c,一级,H2,0,0\n", "line 4, column alliance_lead_id: H2 (lead of H3) is itself a member of the alliance led by H1"),
            ("islead", "H1,a,三级,,0,0\nH2,b,二级,H1,1,0\n", "line 3, column is_alliance_lead: 1, but H2's alliance_lead_id is H1"),
            ("none", "", ": no institutions"),
        ] {
            let e = load_text(name, rows).expect_err(name).to_string();
            assert!(e.contains(want), "{name}: wanted {want:?} in\n{e}");
        }
        // Every problem is listed.
        let e = load_text("many", "H1,a,三甲,,0,0\nH1,b,二级,,0,0\nH3,c,一级,H9,0,x\n").unwrap_err().to_string();
        assert!(e.contains(": 4 problems"), "{e}");
    }
}

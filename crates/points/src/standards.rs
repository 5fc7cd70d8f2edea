//! Group standards (RW or score and group average cost per group) from a
//! weights table, the file `drgdip weights calibrate` writes.

use std::collections::HashMap;

use claims::Fen;
use rust_decimal::Decimal;

use crate::price::GroupStandard;

/// Read a weights table (columns `code`, `rw`, `mean_cost` in yuan, optional
/// `base_level` 1/0 for 基层病种). Groups with weight 0 have no data and are
/// left out (their cases are priced as ungroupable). Errors name the line.
pub fn parse_standards(text: &str) -> Result<HashMap<String, GroupStandard>, String> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r
        .headers()
        .map_err(|e| format!("weights: header: {e}"))?
        .clone();
    let col = |n: &str| {
        h.iter()
            .position(|x| x.trim_start_matches('\u{feff}').trim() == n)
    };
    let code = col("code").ok_or("weights: no code column")?;
    let rw = col("rw").ok_or("weights: no rw column")?;
    let mean = col("mean_cost").ok_or("weights: no mean_cost column")?;
    let base = col("base_level");
    let mut out = HashMap::new();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| format!("weights line {line}: {e}"))?;
        let get = |c: usize| row.get(c).unwrap_or("").trim();
        let weight: Decimal = get(rw)
            .parse()
            .map_err(|e| format!("weights line {line}: rw {:?}: {e}", get(rw)))?;
        let mean_cost = Fen::parse_yuan(get(mean))
            .map_err(|e| format!("weights line {line}: mean_cost {:?}: {e}", get(mean)))?;
        if weight.is_zero() {
            continue;
        }
        out.insert(
            get(code).to_owned(),
            GroupStandard {
                code: get(code).to_owned(),
                weight,
                mean_cost,
                base_level: base.is_some_and(|b| matches!(get(b), "1" | "true" | "是")),
            },
        );
    }
    Ok(out)
}


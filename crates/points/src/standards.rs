//! Group standards (RW or score and group average cost per group) from a
//! weights table, the file `drgdip weights calibrate` writes.

use std::collections::HashMap;

use claims::Fen;
use rust_decimal::Decimal;

use crate::price::GroupStandard;

/// Read a weights table (columns `code`, `rw`, `mean_cost` in yuan, optional
/// `base_level` 1/0 for 基层病种, optional `source`). Groups with weight 0 have no
/// data (`drgdip weights calibrate` writes them with mean cost 0 and source
/// `no_data`) and are left out: their cases are priced as ungroupable.
///
/// Strict: an empty or repeated group code, an unreadable, negative or (with data)
/// zero RW, a mean cost that is not above zero for a group with a weight, a weight of
/// 0 for a group that has a mean cost or a source other than `no_data`, and a
/// `base_level` other than 1/0 (true/false, 是/否) are errors naming the line.
/// Every bad line is reported (one per line of the error text).
pub fn parse_standards(text: &str) -> Result<HashMap<String, GroupStandard>, String> {
    Ok(parse_standards_located(text)?.into_iter().map(|(_, g)| (g.code.clone(), g)).collect())
}

/// [`parse_standards`] keeping the line of each group (in file order), so that a
/// caller that knows the scheme can name the line of a group it does not have.
pub fn parse_standards_located(text: &str) -> Result<Vec<(usize, GroupStandard)>, String> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().map_err(|e| format!("weights: header: {e}"))?.clone();
    let col = |n: &str| h.iter().position(|x| x.trim_start_matches('\u{feff}').trim() == n);
    let code = col("code").ok_or("weights: no code column")?;
    let rw = col("rw").ok_or("weights: no rw column")?;
    let mean = col("mean_cost").ok_or("weights: no mean_cost column")?;
    let base = col("base_level");
    let source = col("source");
    let mut out = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                errors.push(format!("weights line {line}: {e}"));
                continue;
            }
        };
        let get = |c: usize| row.get(c).unwrap_or("").trim();
        let mut err = |what: String| errors.push(format!("weights line {line}: {what}"));
        let g = get(code);
        if g.is_empty() {
            err("code: empty".into());
            continue;
        }
        if let Some(first) = first_line.get(g) {
            err(format!("code {g}: repeats line {first} (one row per group)"));
            continue;
        }
        first_line.insert(g.to_owned(), line);
        let weight: Decimal = match get(rw).parse() {
            Ok(w) => w,
            Err(e) => {
                err(format!("rw {:?}: {e}", get(rw)));
                continue;
            }
        };
        let mean_cost = match Fen::parse_yuan(get(mean)) {
            Ok(m) => m,
            Err(e) => {
                err(format!("mean_cost {:?}: {e}", get(mean)));
                continue;
            }
        };
        let base_level = match base.map(get) {
            None => false,
            Some("1" | "true" | "TRUE" | "是") => true,
            Some("0" | "false" | "FALSE" | "否") => false,
            Some(v) => {
                err(format!("base_level {v:?}: must be 1 or 0"));
                continue;
            }
        };
        if weight < Decimal::ZERO {
            err(format!("code {g}: rw {weight}: must not be negative"));
            continue;
        }
        if weight.is_zero() {
            // A group without data: left out, but only when it says so.
            let src = source.map(get).unwrap_or("no_data");
            if mean_cost != Fen::ZERO || src != "no_data" {
                err(format!(
                    "code {g}: rw 0 with mean_cost {mean_cost} and source {src:?}: a group with data must have rw above 0 (rw 0 means no data: mean_cost 0, source no_data)"
                ));
            }
            continue;
        }
        if mean_cost <= Fen::ZERO {
            err(format!("code {g}: mean_cost {mean_cost}: must be above 0 for a group with rw {weight}"));
            continue;
        }
        out.push((line, GroupStandard { code: g.to_owned(), weight, mean_cost, base_level }));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "code,rw,mean_cost,base_level,source\n";

    #[test]
    fn good_tables_parse() {
        let s = parse_standards(&format!("{HEAD}BR21,1.2345,12000.50,0,own\nXX,0,0.00,0,no_data\nGB1,0.5,5000,1,own\n")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s["BR21"].mean_cost, Fen(1_200_050));
        assert!(s["GB1"].base_level && !s["BR21"].base_level);
    }

    #[test]
    fn bad_rows_are_refused_with_their_line() {
        for (rows, want) in [
            ("A1,1,100,0,own\nA1,2,200,0,own\n", "line 3: code A1: repeats line 2"),
            (",1,100,0,own\n", "line 2: code: empty"),
            ("A1,-1,100,0,own\n", "line 2: code A1: rw -1: must not be negative"),
            ("A1,0,100,0,own\n", "line 2: code A1: rw 0 with mean_cost 100.00"),
            ("A1,0,0,0,own\n", "source \"own\""),
            ("A1,1,0,0,own\n", "line 2: code A1: mean_cost 0.00: must be above 0"),
            ("A1,1,-5,0,own\n", "mean_cost -5.00: must be above 0"),
            ("A1,1,100,2,own\n", "line 2: base_level \"2\": must be 1 or 0"),
            ("A1,1,100,,own\n", "base_level \"\""),
            ("A1,x,100,0,own\n", "line 2: rw \"x\""),
            ("A1,1,1.005,0,own\n", "line 2: mean_cost \"1.005\""),
        ] {
            let e = parse_standards(&format!("{HEAD}{rows}")).unwrap_err();
            assert!(e.contains(want), "{rows:?}: {e}");
        }
        // Every bad line is reported.
        let e = parse_standards(&format!("{HEAD}A1,-1,100,0,own\nA2,1,0,0,own\nA3,1,100,0,own\n")).unwrap_err();
        assert_eq!(e.lines().count(), 2, "{e}");
    }
}

//! `drgdip drg group` under several schemes in one pass and `drgdip drg diff`
//! against separate runs, on the reference schemes (skipped with a printed reason
//! without `../shared/reference`), and `drg group`/`explain` on settlement lists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn reference() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/reference not found");
        None
    }
}

fn drgdip(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(args).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "{err}");
    (out, err)
}

fn table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().iter().map(str::to_owned).collect();
    (h, r.records().map(|x| x.unwrap().iter().map(str::to_owned).collect()).collect())
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("drgdip-drg-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn several_schemes_in_one_pass_equal_separate_runs_and_the_diff_counts_them() {
    let Some(r) = reference() else { return };
    let d = tmp("multi");
    let (old, new, cases) = (r.join("schemes/chs-drg-1.0"), r.join("chs-drg-1.1"), r.join("drg-cases/cases.csv"));
    let (both, a, b) = (d.join("both.csv"), d.join("a.csv"), d.join("b.csv"));
    drgdip(&[&"drg", &"group", &"--scheme", &old, &"--scheme", &new, &"--cases", &cases, &"--out", &both]);
    drgdip(&[&"drg", &"group", &"--scheme", &old, &"--cases", &cases, &"--out", &a]);
    drgdip(&[&"drg", &"group", &"--scheme", &new, &"--cases", &cases, &"--out", &b]);
    let (hb, rows) = table(&both);
    let (ha, ra) = table(&a);
    let (_, rb) = table(&b);
    assert_eq!(rows.len(), 5000);
    let col = |h: &[String], n: &str| h.iter().position(|c| c == n).unwrap_or_else(|| panic!("no {n} in {h:?}"));
    for (i, row) in rows.iter().enumerate() {
        for c in ["mdc", "adrg", "drg", "status", "reason"] {
            assert_eq!(row[col(&hb, &format!("chs-drg-1.0.{c}"))], ra[i][col(&ha, c)], "case {} {c}", row[0]);
            assert_eq!(row[col(&hb, &format!("chs-drg-1.1.{c}"))], rb[i][col(&ha, c)], "case {} {c}", row[0]);
        }
    }
    // The diff's count of cases changing DRG is the separate runs' count.
    let changed = (0..rows.len()).filter(|&i| ra[i][col(&ha, "drg")] != rb[i][col(&ha, "drg")]).count();
    let mut moves: HashMap<(String, String), usize> = HashMap::new();
    for i in 0..rows.len() {
        let (x, y) = (ra[i][col(&ha, "drg")].clone(), rb[i][col(&ha, "drg")].clone());
        if x != y {
            *moves.entry((x, y)).or_default() += 1;
        }
    }
    let (top, k) = moves.iter().max_by(|p, q| p.1.cmp(q.1).then_with(|| q.0.cmp(p.0))).map(|(m, k)| (m.clone(), *k)).unwrap();
    let (out, _) = drgdip(&[&"drg", &"diff", &"--from", &old, &"--to", &new, &"--cases", &cases, &"--limit", &"3"]);
    assert!(out.contains(&format!("changing DRG: {changed} (")), "{out}");
    assert!(out.contains(&format!("{} -> {}: {k}", top.0, top.1)), "{out}");
    assert!(out.contains("old DRGs split over several new DRGs") && out.contains("DRGs added:"), "{out}");
    // With weights of both schemes (calibrated on the same cases): the RW impact.
    let claims = d.join("claims.csv");
    drgdip(&[&"synth", &"--hospitals", &"10", &"--cases", &"6000", &"--years", &"2024", &"--seed", &"3", &"--scheme", &new, &"--out", &d.join("region")]);
    std::fs::copy(d.join("region/claims-2024.csv"), &claims).unwrap();
    let (wa, wb) = (d.join("wa.csv"), d.join("wb.csv"));
    drgdip(&[&"weights", &"calibrate", &"--cases", &claims, &"--scheme", &old, &"--out", &wa]);
    drgdip(&[&"weights", &"calibrate", &"--cases", &claims, &"--scheme", &new, &"--out", &wb]);
    let (out, _) = drgdip(&[&"drg", &"diff", &"--from", &old, &"--to", &new, &"--cases", &claims, &"--weights-from", &wa, &"--weights-to", &wb]);
    assert!(out.contains("weight impact (Σ RW of the cases):") && out.contains("CMI"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn group_and_explain_read_settlement_lists_in_every_format() {
    let d = tmp("formats");
    drgdip(&[&"synth", &"--hospitals", &"6", &"--cases", &"800", &"--years", &"2025", &"--seed", &"4", &"--out", &d.join("r")]);
    let scheme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../synth/data/demo-scheme");
    let csv_in = d.join("r/claims-2025.csv");
    let text = std::fs::read_to_string(&csv_in).unwrap();
    // The same lists as GBK and with Chinese headers.
    let zh_header: Vec<&str> = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(|h| claims::Field::from_header(h).map_or(h, |f| f.zh()))
        .collect();
    let zh = format!("{}\n{}", zh_header.join(","), text.split_once('\n').unwrap().1);
    let (gbk, _, _) = encoding_rs::GBK.encode(&zh);
    let gbk_in = d.join("gbk.csv");
    std::fs::write(&gbk_in, &gbk).unwrap();
    // And as JSON Lines.
    let (h, rows) = table(&csv_in);
    let jsonl: String = rows
        .iter()
        .map(|r| {
            let m: serde_json::Map<String, serde_json::Value> =
                h.iter().zip(r).filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
            serde_json::Value::Object(m).to_string() + "\n"
        })
        .collect();
    let jsonl_in = d.join("claims.jsonl");
    std::fs::write(&jsonl_in, jsonl).unwrap();
    let mut outs = Vec::new();
    for (i, input) in [&csv_in, &gbk_in, &jsonl_in].iter().enumerate() {
        let o = d.join(format!("g{i}.csv"));
        drgdip(&[&"drg", &"group", &"--scheme", &scheme, &"--cases", input, &"--out", &o]);
        outs.push(std::fs::read_to_string(&o).unwrap());
    }
    assert!(outs[0] == outs[1], "GBK with Chinese headers groups as UTF-8");
    assert!(outs[0] == outs[2], "JSON Lines group as CSV:\n{}\n---\n{}", &outs[0][..300], &outs[2][..300.min(outs[2].len())]);
    assert!(outs[0].starts_with("case_id,institution_id,mdc,adrg,drg,status,drg_name,reason\n"), "{}", &outs[0][..80]);
    let id = &rows[0][h.iter().position(|c| c == "case_id").unwrap()];
    let (out, _) = drgdip(&[&"drg", &"explain", &"--scheme", &scheme, &"--cases", &gbk_in, &"--case-id", id]);
    assert!(out.contains(&format!("病例 {id}")) && out.contains("结果："), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

/// Every scheme under `schemes/` through `drgdip drg group` on its own `cases.csv` (the
/// grouping-case layout with `los`, `discharge_way`, `dept`, `icu_hours`): the CLI
/// reproduces `expected.csv` on all cases, and an explain of an ambiguous case says so.
#[test]
fn every_reference_scheme_through_the_cli_agrees_with_expected() {
    let Some(r) = reference() else { return };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(r.join("schemes"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("scheme.json").is_file()).collect())
        .unwrap_or_default();
    dirs.sort();
    assert!(!dirs.is_empty(), "no scheme under {}", r.join("schemes").display());
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let out = tmp(&format!("ref-{name}")).join("groups.csv");
        let cases = dir.join("cases/cases.csv");
        let (_, err) = drgdip(&[&"drg", &"group", &"--scheme", dir, &"--cases", &cases, &"--out", &out]);
        assert!(err.contains("5,001 lines = 1 header + 5,000 read + 0 rejected"), "{name}: {err}");
        let (h, rows) = table(&out);
        let col = |c: &str| h.iter().position(|x| x == c).unwrap_or_else(|| panic!("{name}: no column {c}"));
        let (id, mdc, adrg, drg, status) = (col("case_id"), col("mdc"), col("adrg"), col("drg"), col("status"));
        let got: HashMap<String, [String; 4]> = rows
            .iter()
            .map(|r| (r[id].clone(), [r[mdc].clone(), r[adrg].clone(), r[drg].clone(), r[status].clone()]))
            .collect();
        let (eh, erows) = table(&dir.join("cases/expected.csv"));
        assert_eq!(eh, ["case_id", "mdc", "adrg", "drg", "status"]);
        let bad: Vec<String> = erows
            .iter()
            .filter(|e| got.get(&e[0]).map(|g| g[..] != e[1..]) != Some(false))
            .map(|e| format!("{}: expected {:?}, got {:?}", e[0], &e[1..], got.get(&e[0])))
            .collect();
        eprintln!("{name}: {} of {} cases agree through the CLI", erows.len() - bad.len(), erows.len());
        if !bad.is_empty() {
            failures.push(format!("{name}: {} differ, e.g. {}", bad.len(), bad[..bad.len().min(3)].join("; ")));
        }
        if let Some(amb) = erows.iter().find(|e| e[4] == "歧义病案") {
            let (text, err) = drgdip(&[&"drg", &"explain", &"--scheme", dir, &"--cases", &cases, &"--case-id", &amb[0]]);
            assert!(text.contains("歧义病案") && text.contains(&amb[3]), "{name} {}: {text}\n{err}", amb[0]);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! `drgdip dip` end to end: build → group, export → import → identical grouping,
//! and errors for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

fn drgdip(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(args.iter().map(|a| a.as_ref())).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drgdip-dip-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 40 appendectomies, 20 conservative pneumonias, 3 rare combinations, 1 without cost.
fn cases(dir: &Path) -> PathBuf {
    let mut s = String::from("case_id,institution_id,age,main_diagnosis,other_diagnoses,procedures,total_cost\n");
    for i in 0..40 {
        s += &format!("A{i},H1,{},K35.800,,47.0100,{}.00\n", 20 + i, 8000 + 100 * i);
    }
    for i in 0..20 {
        s += &format!("P{i},H2,{},J18.900,I10.x00|E11.900,,{}.50\n", 60 + i, 3000 + 50 * i);
    }
    s += "R1,H1,50,K35.800,,47.0100|54.1100,15000.00\nR2,H1,50,K35.300,,47.0900,9000.00\nR3,H2,70,J18.000,,,2500.00\nN1,H1,30,K35.800,,47.0100,\n";
    let p = dir.join("cases.csv");
    std::fs::write(&p, s).unwrap();
    p
}

fn column(csv: &str, name: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    r.records().map(|x| x.unwrap()[i].to_owned()).collect()
}

#[test]
fn build_group_export_import() {
    let dir = tmp("e2e");
    let input = cases(&dir);
    let lib = dir.join("lib");
    let (ok, out, err) = drgdip(&[&"dip", &"build", &"--cases", &input, &"--min-cases", &"15", &"--out", &lib]);
    assert!(ok, "{err}");
    assert!(out.contains("cases read 64") && out.contains("used 63") && out.contains("no cost 1"), "{out}");
    assert!(out.contains("core groups (核心病种) 2, comprehensive groups (综合病种) 2"), "{out}");
    assert!(out.contains("weighted mean score 1000.0000"), "{out}");
    for f in ["manifest.json", "groups.tsv", "proc_classes.tsv", "cci_weights.tsv", "aux.tsv", "build_report.json"] {
        assert!(lib.join(f).is_file(), "{f}");
    }
    let grouped = dir.join("grouped.csv");
    let (ok, out, err) = drgdip(&[&"dip", &"group", &"--library", &lib, &"--cases", &input, &"--out", &grouped]);
    assert!(ok, "{err}");
    assert!(out.contains("64 cases: grouped 64"), "{out}");
    let g1 = std::fs::read_to_string(&grouped).unwrap();
    let groups = column(&g1, "group");
    assert_eq!(groups[0], "K35.8/47.0100");
    assert_eq!(groups[45], "J18.9/conservative");
    // 47.0100+54.1100 is below min-cases (comprehensive at build time), but grouping
    // finds the core group whose procedures are all present (the default rule).
    assert_eq!(groups[60], "K35.8/47.0100");
    assert_eq!(column(&g1, "match")[60], "subset 1/2");
    assert_eq!(groups[61], "K35/*surgical");
    assert_eq!(groups[62], "J18/*conservative");
    assert_eq!(column(&g1, "deviation")[63], "not_assessed");

    // Export → import → the same groups and group scores.
    let published = dir.join("published.csv");
    let (ok, _, err) = drgdip(&[&"dip", &"export", &"--library", &lib, &"--out", &published]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&published).unwrap();
    assert!(text.starts_with("病种编码,病种类型,主要诊断编码,手术操作编码,分值"), "{text}");
    let lib2 = dir.join("lib2");
    let (ok, out, err) = drgdip(&[&"dip", &"import", &"--file", &published, &"--out", &lib2]);
    assert!(ok, "{err}");
    assert!(out.contains("4 rows: 2 core, 2 comprehensive, 0 rejected"), "{out}");
    let grouped2 = dir.join("grouped2.csv");
    let (ok, _, err) = drgdip(&[&"dip", &"group", &"--library", &lib2, &"--cases", &input, &"--out", &grouped2, &"--no-aux"]);
    assert!(ok, "{err}");
    let g2 = std::fs::read_to_string(&grouped2).unwrap();
    assert_eq!(column(&g2, "group"), groups);
    assert_eq!(column(&g2, "group_score"), column(&g1, "group_score"));
}

#[test]
fn bad_input_is_reported() {
    let dir = tmp("bad");
    let input = cases(&dir);
    let (ok, _, err) = drgdip(&[&"dip", &"build", &"--cases", &input, &"--out", &dir.join("l"), &"--trim", &"percentile:60:40"]);
    assert!(!ok && err.contains("percentiles must satisfy"), "{err}");
    let (ok, _, err) = drgdip(&[&"dip", &"group", &"--library", &dir, &"--cases", &input, &"--out", &dir.join("g.csv")]);
    assert!(!ok && err.contains("not a DIP library directory"), "{err}");
    let published = dir.join("p.csv");
    std::fs::write(&published, "主要诊断编码,手术操作编码,备注\nK35.8,47.0100,x\n").unwrap();
    let (ok, _, err) = drgdip(&[&"dip", &"import", &"--file", &published, &"--out", &dir.join("l3")]);
    assert!(!ok && err.contains("no `score` column"), "{err}");
    std::fs::write(&published, "主要诊断编码,手术操作编码,分值,备注\nK35.8,47.0100,800,x\nK35.8,47.0100,abc,\n").unwrap();
    let (ok, out, err) = drgdip(&[&"dip", &"import", &"--file", &published, &"--out", &dir.join("l4")]);
    assert!(ok, "{err}");
    assert!(err.contains("unknown columns (ignored): 备注") && err.contains("line 3: score"), "{err}");
    assert!(out.contains("2 rows: 1 core, 0 comprehensive, 1 rejected"), "{out}");
}

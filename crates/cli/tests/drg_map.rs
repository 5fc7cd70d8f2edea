//! `drgdip drg group --map-codes`: clinical-edition codes are mapped before grouping.

use std::path::Path;
use std::process::Command;

#[test]
fn clinical_codes_group_like_their_insurance_codes() {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    if !reference.exists() {
        eprintln!("skipped: ../shared/reference not found");
        return;
    }
    // Pairs of (clinical, insurance) codes that differ, from the reference map.
    let map = std::fs::read_to_string(reference.join("codes/diagnosis_clinical_to_insurance.tsv")).unwrap();
    let pairs: Vec<(&str, &str)> = map
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.trim(), b.trim()))
        .filter(|(a, b)| !b.is_empty() && a != b && !a.contains('+'))
        .take(200)
        .collect();
    assert!(pairs.len() >= 50);
    let dir = std::env::temp_dir().join(format!("drgdip-drg-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let head = "case_id,sex,age,age_days,weight_g,los,discharge_way,diagnoses,procedures\n";
    let (mut clinical, mut insurance) = (head.to_string(), head.to_string());
    for (i, (c, ins)) in pairs.iter().enumerate() {
        clinical.push_str(&format!("M{i},1,45,,,5,1,{c}|I10.x00,\n"));
        insurance.push_str(&format!("M{i},1,45,,,5,1,{ins}|I10.x00,\n"));
    }
    clinical.push_str("U1,1,45,,,5,1,NOT.A.CODE,\n");
    insurance.push_str("U1,1,45,,,5,1,NOT.A.CODE,\n");
    std::fs::write(dir.join("clinical.csv"), clinical).unwrap();
    std::fs::write(dir.join("insurance.csv"), insurance).unwrap();
    let run = |cases: &str, out: &str, map: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drgdip"));
        cmd.args(["drg", "group", "--scheme"]).arg(reference.join("chs-drg-1.1"));
        cmd.arg("--cases").arg(dir.join(cases)).arg("--out").arg(dir.join(out));
        if map {
            cmd.arg("--map-codes").arg(reference.join("codes"));
        }
        assert!(cmd.status().unwrap().success());
        std::fs::read_to_string(dir.join(out)).unwrap()
    };
    let mapped = run("clinical.csv", "mapped.csv", true);
    let direct = run("insurance.csv", "direct.csv", false);
    let first4 = |s: &str| s.lines().map(|l| l.split(',').take(4).collect::<Vec<_>>().join(",")).collect::<Vec<_>>();
    assert_eq!(first4(&mapped), first4(&direct));
    assert!(mapped.lines().next().unwrap().ends_with(",unmapped"));
    // I10.x00 is an insurance code the clinical map may not list; NOT.A.CODE is never mapped.
    let last = mapped.lines().last().unwrap();
    assert!(last.starts_with("U1,") && last.ends_with("NOT.A.CODE"), "{last}");
}

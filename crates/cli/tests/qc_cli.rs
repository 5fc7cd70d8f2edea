//! `drgdip qc` end to end: malformed files give located errors, never a panic,
//! and the rest of the batch is still checked.

use std::path::{Path, PathBuf};
use std::process::Command;

fn drgdip() -> Command {
    Command::new(env!("CARGO_BIN_EXE_drgdip"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drgdip-qc-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
    findings: String,
}

fn qc(dir: &Path, file_name: &str, bytes: &[u8]) -> Run {
    let input = dir.join(file_name);
    std::fs::write(&input, bytes).unwrap();
    let out = dir.join("out");
    let o = drgdip().arg("qc").arg(&input).arg("--out").arg(&out).output().unwrap();
    Run {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        findings: std::fs::read_to_string(out.join("qc-findings.csv")).unwrap_or_default(),
    }
}

const HEADER: &str = "case_id,institution_id,sex,age,diagnoses,total_cost\n";

#[test]
fn malformed_files_give_located_errors() {
    let dir = tmp("malformed");
    let mut big = HEADER.as_bytes().to_vec();
    big.extend(b"A1,H1,1,40,K35.800,\"");
    big.extend(std::iter::repeat_n(b'9', 10 * 1024 * 1024));
    big.extend(b"\"\nA2,H1,1,40,K35.800,100.00\n");
    let (gbk, _, _) = encoding_rs::GBK.encode("病案号,性别,主要诊断编码\nA1,男,K35.800\n");
    // (name, bytes, must succeed, text expected in findings or output)
    let table: Vec<(&str, Vec<u8>, bool, Vec<&str>)> = vec![
        ("empty.csv", vec![], false, vec!["empty file"]),
        ("truncated.csv", format!("{HEADER}A1,H1,1,40,K35.800,100.00\nA2,H1,1").into_bytes(), true, vec!["x.csv,3,,,IMPORT", "3 cells where the header has 6"]),
        ("garbage.csv", [HEADER.as_bytes(), b"A1,H1,1,40,K35.8\xff\xfe\x00,1.00\nA2,H1,1,40,K35.800,1.00\n"].concat(), true, vec!["x.csv,2,,,IMPORT"]),
        ("bigfield.csv", big, true, vec!["x.csv,2,,,IMPORT", "longer than the limit"]),
        ("gbk.csv", gbk.into_owned(), true, vec!["records read (读入清单)        1"]),
        ("binary.xlsx", b"PK\x03\x04\x00\x00garbage".to_vec(), false, vec!["not a readable XLSX workbook"]),
        ("nocols.csv", b"\x00\x01\x02\xff\n\x03".to_vec(), false, vec!["FILE"]),
    ];
    for (name, bytes, ok, want) in table {
        let sub = dir.join(name.replace('.', "_"));
        std::fs::create_dir_all(&sub).unwrap();
        let run = qc(&sub, "x.csv", &bytes);
        assert_eq!(run.ok, ok, "{name}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
        let all = format!("{}\n{}\n{}", run.stdout, run.stderr, run.findings);
        for w in want {
            assert!(all.contains(w), "{name}: {w:?} not in\n{all}");
        }
    }
}

#[test]
fn grouping_only_file_reports_absent_columns_once_and_checks_the_rest() {
    let dir = tmp("cases");
    let csv = "case_id,sex,age,age_days,weight_g,los,discharge_way,diagnoses,procedures\n\
               C1,1,30,,,5,1,O80.000|I10.x00,\n\
               C2,2,40,,,5,1,K35.800,47.0100\n";
    let run = qc(&dir, "cases.csv", csv.as_bytes());
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stderr.matches("required columns absent").count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("institution_id (定点医药机构编码, C002)"), "{}", run.stderr);
    // The sex/diagnosis rule still runs on what the file has.
    assert!(run.findings.contains("C1,,L010,error"), "{}", run.findings);
    assert!(!run.findings.contains("C2,"), "{}", run.findings);
}

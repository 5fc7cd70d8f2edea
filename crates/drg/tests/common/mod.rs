//! Shared helpers for the integration tests: the reference data under `../shared/reference`.
#![allow(dead_code)]

use std::path::PathBuf;

use drg::{Scheme, SchemeFiles};

/// `/work/shared/reference` seen from this crate, if present.
pub fn reference_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/reference not found");
        None
    }
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Loads `chs-drg-1.1/` from the reference directory.
pub fn load_scheme(reference: &std::path::Path) -> Scheme {
    let dir = reference.join("chs-drg-1.1");
    let f = |n: &str| read(dir.join(n));
    let (s, cc, mcc, ex, sp, names) = (
        f("scheme.json"),
        f("cc.tsv"),
        f("mcc.tsv"),
        f("main_dx_exclusion.tsv"),
        f("surgical_procedures.tsv"),
        f("drg_names.tsv"),
    );
    Scheme::from_files(SchemeFiles {
        scheme_json: &s,
        cc_tsv: &cc,
        mcc_tsv: &mcc,
        main_dx_exclusion_tsv: &ex,
        surgical_procedures_tsv: &sp,
        drg_names_tsv: &names,
    })
    .expect("reference scheme loads")
}

/// One row of `cases.csv` with its expected result.
#[derive(Debug, Clone)]
pub struct RefCase {
    pub id: String,
    pub sex: Option<u8>,
    pub age: Option<u32>,
    pub age_days: Option<u32>,
    pub weight_g: Option<u32>,
    pub dx: Vec<String>,
    pub procs: Vec<String>,
    pub expected: [String; 4],
}

impl RefCase {
    pub fn with_case<R>(&self, f: impl FnOnce(&drg::Case<'_>) -> R) -> R {
        let dx: Vec<&str> = self.dx.iter().map(String::as_str).collect();
        let procs: Vec<&str> = self.procs.iter().map(String::as_str).collect();
        f(&drg::Case {
            sex: self.sex,
            age: self.age,
            age_days: self.age_days,
            weight_g: self.weight_g,
            dx: &dx,
            procs: &procs,
            ..Default::default()
        })
    }
}

fn opt<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() {
        None
    } else {
        Some(s.parse().ok().expect("a number"))
    }
}

fn split(s: &str) -> Vec<String> {
    s.split('|')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// `drg-cases/cases.csv` joined with `expected.csv`.
pub fn load_cases(reference: &std::path::Path) -> Vec<RefCase> {
    let dir = reference.join("drg-cases");
    let mut expected = std::collections::HashMap::new();
    let mut rd = csv::Reader::from_path(dir.join("expected.csv")).expect("expected.csv");
    for r in rd.records() {
        let r = r.expect("expected.csv row");
        expected.insert(
            r[0].to_string(),
            [
                r[1].to_string(),
                r[2].to_string(),
                r[3].to_string(),
                r[4].to_string(),
            ],
        );
    }
    let mut rd = csv::Reader::from_path(dir.join("cases.csv")).expect("cases.csv");
    let mut out = Vec::new();
    for r in rd.records() {
        let r = r.expect("cases.csv row");
        out.push(RefCase {
            id: r[0].to_string(),
            sex: opt(&r[1]),
            age: opt(&r[2]),
            age_days: opt(&r[3]),
            weight_g: opt(&r[4]),
            dx: split(&r[7]),
            procs: split(&r[8]),
            expected: expected
                .remove(&r[0])
                .expect("every case has an expected row"),
        });
    }
    assert!(expected.is_empty(), "expected.csv has rows without a case");
    out
}

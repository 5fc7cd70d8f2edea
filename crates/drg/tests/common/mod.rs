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
    load_scheme_dir(&reference.join("chs-drg-1.1")).expect("reference scheme loads")
}

/// The text of the six files of a scheme directory.
pub fn scheme_texts(dir: &std::path::Path) -> [String; 6] {
    let f = |n: &str| read(dir.join(n));
    [
        f("scheme.json"),
        f("cc.tsv"),
        f("mcc.tsv"),
        f("main_dx_exclusion.tsv"),
        f("surgical_procedures.tsv"),
        f("drg_names.tsv"),
    ]
}

/// Loads the scheme of a directory in the `chs-drg-1.1/` format.
pub fn load_scheme_dir(dir: &std::path::Path) -> Result<Scheme, drg::SchemeError> {
    let t = scheme_texts(dir);
    from_texts(&t)
}

/// Loads a scheme from the six texts of [`scheme_texts`].
pub fn from_texts(t: &[String; 6]) -> Result<Scheme, drg::SchemeError> {
    Scheme::from_files(SchemeFiles {
        scheme_json: &t[0],
        cc_tsv: &t[1],
        mcc_tsv: &t[2],
        main_dx_exclusion_tsv: &t[3],
        surgical_procedures_tsv: &t[4],
        drg_names_tsv: &t[5],
    })
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
    pub los: Option<u32>,
    pub discharge_way: Option<String>,
    pub dept: Option<String>,
    pub icu_hours: Option<f64>,
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
            los: self.los,
            discharge_way: self.discharge_way.as_deref(),
            dept: self.dept.as_deref(),
            icu_hours: self.icu_hours,
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
    load_cases_dir(&reference.join("drg-cases"))
}

/// `cases.csv` joined with `expected.csv` of a directory; columns found by header name
/// (`los`, `discharge_way`, `dept` and `icu_hours` are optional).
pub fn load_cases_dir(dir: &std::path::Path) -> Vec<RefCase> {
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
    let header: Vec<String> = rd.headers().expect("header").iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let known = [
        "case_id", "sex", "age", "age_days", "weight_g", "los", "discharge_way", "diagnoses",
        "procedures", "dept", "icu_hours",
    ];
    for h in &header {
        assert!(known.contains(&h.as_str()), "{}: unknown column `{h}`", dir.display());
    }
    let need = |name: &str| col(name).unwrap_or_else(|| panic!("{}: no column {name}", dir.display()));
    let (id, sex, age, age_days, weight_g, dx, procs) = (
        need("case_id"),
        need("sex"),
        need("age"),
        need("age_days"),
        need("weight_g"),
        need("diagnoses"),
        need("procedures"),
    );
    let (los, dw, dept, icu) = (col("los"), col("discharge_way"), col("dept"), col("icu_hours"));
    let text = |r: &csv::StringRecord, c: Option<usize>| {
        c.map(|c| r[c].trim().to_string()).filter(|s| !s.is_empty())
    };
    let mut out = Vec::new();
    for r in rd.records() {
        let r = r.expect("cases.csv row");
        out.push(RefCase {
            id: r[id].to_string(),
            sex: opt(&r[sex]),
            age: opt(&r[age]),
            age_days: opt(&r[age_days]),
            weight_g: opt(&r[weight_g]),
            dx: split(&r[dx]),
            procs: split(&r[procs]),
            los: los.and_then(|c| opt(&r[c])),
            discharge_way: text(&r, dw),
            dept: text(&r, dept),
            icu_hours: icu.and_then(|c| opt(&r[c])),
            expected: expected
                .remove(&r[id])
                .expect("every case has an expected row"),
        });
    }
    assert!(expected.is_empty(), "expected.csv has rows without a case");
    out
}

/// The scheme directories under `reference/schemes/`, sorted.
pub fn scheme_dirs(reference: &std::path::Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(reference.join("schemes"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("scheme.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

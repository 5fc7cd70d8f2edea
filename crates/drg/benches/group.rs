//! Grouping throughput, in memory, one thread: the 5,000 reference cases of
//! `chs-drg-1.1` and of every scheme under `schemes/`, each under its own scheme.
//!
//! Run with `cargo bench -p drgdip-drg --bench group`; one scheme with
//! `cargo bench -p drgdip-drg --bench group -- chs-drg-2.0`. Skipped (with a message)
//! when `../shared/reference` is absent.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drg::{Grouper, Scheme, SchemeFiles, Scratch};

struct Owned {
    sex: Option<u8>,
    age: Option<u32>,
    age_days: Option<u32>,
    weight_g: Option<u32>,
    los: Option<u32>,
    discharge_way: Option<String>,
    dept: Option<String>,
    icu_hours: Option<f64>,
    dx: Vec<String>,
    procs: Vec<String>,
}

fn load_scheme(dir: &Path) -> Grouper {
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).expect("reference file");
    let files = [
        "scheme.json",
        "cc.tsv",
        "mcc.tsv",
        "main_dx_exclusion.tsv",
        "surgical_procedures.tsv",
        "drg_names.tsv",
    ]
    .map(read);
    let scheme = Scheme::from_files(SchemeFiles {
        scheme_json: &files[0],
        cc_tsv: &files[1],
        mcc_tsv: &files[2],
        main_dx_exclusion_tsv: &files[3],
        surgical_procedures_tsv: &files[4],
        drg_names_tsv: &files[5],
    })
    .expect("scheme");
    Grouper::new(scheme).expect("compile")
}

/// `cases.csv` with columns found by header name.
fn load_cases(path: &Path) -> Vec<Owned> {
    let mut rd = csv::Reader::from_path(path).expect("cases.csv");
    let header: Vec<String> = rd.headers().expect("header").iter().map(str::to_string).collect();
    let col = |n: &str| header.iter().position(|h| h == n);
    let list = |s: &str| s.split('|').filter(|c| !c.is_empty()).map(str::to_string).collect();
    let num = |r: &csv::StringRecord, c: Option<usize>| c.and_then(|c| r[c].parse::<u32>().ok());
    let text = |r: &csv::StringRecord, c: Option<usize>| c.map(|c| r[c].to_string()).filter(|s| !s.is_empty());
    let (sex, age, ad, w, los, dw, dept, icu, dx, pr) = (
        col("sex"),
        col("age"),
        col("age_days"),
        col("weight_g"),
        col("los"),
        col("discharge_way"),
        col("dept"),
        col("icu_hours"),
        col("diagnoses").expect("diagnoses"),
        col("procedures").expect("procedures"),
    );
    rd.records()
        .map(|r| {
            let r = r.expect("row");
            Owned {
                sex: num(&r, sex).map(|v| v as u8),
                age: num(&r, age),
                age_days: num(&r, ad),
                weight_g: num(&r, w),
                los: num(&r, los),
                discharge_way: text(&r, dw),
                dept: text(&r, dept),
                icu_hours: icu.and_then(|c| r[c].parse().ok()),
                dx: list(&r[dx]),
                procs: list(&r[pr]),
            }
        })
        .collect()
}

fn schemes() -> Vec<(String, PathBuf, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    if !dir.is_dir() {
        eprintln!("skipped: ../shared/reference not found");
        return Vec::new();
    }
    let mut out = vec![("chs-drg-1.1".to_string(), dir.join("chs-drg-1.1"), dir.join("drg-cases/cases.csv"))];
    let mut more: Vec<PathBuf> = std::fs::read_dir(dir.join("schemes"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("scheme.json").is_file()).collect())
        .unwrap_or_default();
    more.sort();
    for p in more {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let cases = p.join("cases/cases.csv");
        out.push((name, p, cases));
    }
    out
}

fn bench(c: &mut Criterion) {
    for (name, dir, cases_csv) in schemes() {
        let grouper = load_scheme(&dir);
        let cases = load_cases(&cases_csv);
        let mut g = c.benchmark_group(format!("group_5000_reference_cases/{name}"));
        g.throughput(Throughput::Elements(cases.len() as u64));
        let views: Vec<(Vec<&str>, Vec<&str>)> = cases
            .iter()
            .map(|o| (o.dx.iter().map(String::as_str).collect(), o.procs.iter().map(String::as_str).collect()))
            .collect();
        // Codes as strings: interning (hash lookups) included.
        g.bench_function("strings", |b| {
            let mut scratch = Scratch::default();
            b.iter(|| {
                let mut n = 0u32;
                for (o, (dx, procs)) in cases.iter().zip(&views) {
                    let case = drg::Case {
                        sex: o.sex,
                        age: o.age,
                        age_days: o.age_days,
                        weight_g: o.weight_g,
                        dx,
                        procs,
                        los: o.los,
                        discharge_way: o.discharge_way.as_deref(),
                        dept: o.dept.as_deref(),
                        icu_hours: o.icu_hours,
                    };
                    n += u32::from(grouper.group_with(&case, &mut scratch).drg.unwrap_or(0));
                }
                n
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

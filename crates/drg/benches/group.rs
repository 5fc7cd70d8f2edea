//! Grouping throughput on the 5,000 reference cases, in memory, one thread.
//!
//! Run with `cargo bench -p drgdip-drg --bench group`. Skipped (with a message) when
//! `../shared/reference` is absent.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drg::{CodeId, Grouper, Scheme, SchemeFiles, Scratch};

struct Owned {
    sex: Option<u8>,
    age: Option<u32>,
    age_days: Option<u32>,
    weight_g: Option<u32>,
    dx: Vec<String>,
    procs: Vec<String>,
}

fn load() -> Option<(Grouper, Vec<Owned>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    if !dir.is_dir() {
        eprintln!("skipped: ../shared/reference not found");
        return None;
    }
    let s = dir.join("chs-drg-1.1");
    let read = |n: &str| std::fs::read_to_string(s.join(n)).expect("reference file");
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
    let grouper = Grouper::new(scheme).expect("compile");
    let mut rd = csv::Reader::from_path(dir.join("drg-cases/cases.csv")).expect("cases.csv");
    let num = |s: &str| s.parse().ok();
    let list = |s: &str| {
        s.split('|')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    let cases = rd
        .records()
        .map(|r| {
            let r = r.expect("row");
            Owned {
                sex: num(&r[1]).map(|v: u32| v as u8),
                age: num(&r[2]),
                age_days: num(&r[3]),
                weight_g: num(&r[4]),
                dx: list(&r[7]),
                procs: list(&r[8]),
            }
        })
        .collect();
    Some((grouper, cases))
}

fn bench(c: &mut Criterion) {
    let Some((grouper, cases)) = load() else {
        return;
    };
    let mut g = c.benchmark_group("group_5000_reference_cases");
    g.throughput(Throughput::Elements(cases.len() as u64));

    // Codes as strings: interning (hash lookups) included.
    let views: Vec<(Vec<&str>, Vec<&str>)> = cases
        .iter()
        .map(|o| {
            (
                o.dx.iter().map(String::as_str).collect(),
                o.procs.iter().map(String::as_str).collect(),
            )
        })
        .collect();
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
                    ..Default::default()
                };
                n += u32::from(grouper.group_with(&case, &mut scratch).drg.unwrap_or(0));
            }
            n
        })
    });

    // Codes pre-interned: the grouping logic alone.
    let ids: Vec<(Vec<CodeId>, Vec<CodeId>)> = views
        .iter()
        .map(|(dx, procs)| {
            let (mut d, mut p) = (Vec::new(), Vec::new());
            grouper.intern_into(dx.iter().copied(), &mut d);
            grouper.intern_into(procs.iter().copied(), &mut p);
            (d, p)
        })
        .collect();
    g.bench_function("interned", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for (o, (dx, procs)) in cases.iter().zip(&ids) {
                let case = drg::CaseIds {
                    sex: o.sex,
                    age: o.age,
                    age_days: o.age_days,
                    weight_g: o.weight_g,
                    dx,
                    procs,
                    ..Default::default()
                };
                n += u32::from(grouper.group_ids(&case).drg.unwrap_or(0));
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

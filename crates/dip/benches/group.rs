//! DIP grouping and building throughput, in memory, one thread.
//!
//! `cargo bench -p drgdip-dip --bench group`. The cases come from the test
//! generator (`tests/common`): 400 diseases, up to three treatment patterns each,
//! secondary diagnoses for the CCI catalogue, 2 % rare extra procedures.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dip::aux::CciTable;
use dip::params::BuildParams;
use dip::{Builder, Grouper, ProcClassifier, Scratch};

#[path = "../tests/common/mod.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let cases = common::region(200_000, 400, 11);
    let build = || {
        let mut b = Builder::new(
            BuildParams::default(),
            ProcClassifier::builtin(),
            CciTable::builtin(),
        );
        for x in &cases {
            let _ = b.add(&x.view(), Some(x.level));
        }
        b.finish("bench").expect("cases")
    };
    let (lib, report) = build();
    eprintln!(
        "library: {} core, {} comprehensive groups; core share {:.1} %",
        report.core_groups,
        report.comprehensive_groups,
        report.core_share * 100.0
    );
    let grouper = Grouper::new(lib).expect("compiles");
    let sample = &cases[..100_000];
    let views: Vec<_> = sample.iter().map(|x| (x.view(), x.level)).collect();

    let mut g = c.benchmark_group("dip");
    g.throughput(Throughput::Elements(views.len() as u64));
    g.sample_size(20);
    g.bench_function("group_100k_cases", |b| {
        let mut s = Scratch::default();
        b.iter(|| {
            let mut total = 0i64;
            for (v, level) in &views {
                total += grouper.group(v, Some(*level), &mut s).score.0;
            }
            total
        })
    });
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.sample_size(10);
    g.bench_function("build_200k_cases", |b| b.iter(build));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Import + QC throughput on in-memory settlement lists (all 68 rules, no dictionary
//! and with the reference dictionaries when ../shared is present).

use claims::import::Reader;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const HEADER: &str = "case_id,institution_id,region_id,insurance_type,patient_id,sex,birth_date,age,age_days,birth_weight_g,admitted_at,discharged_at,los,admission_route,discharge_way,department,main_diagnosis,other_diagnoses,procedures,procedure_dates,total_cost,bed_fee,exam_fee,inspection_fee,lab_fee,treatment_fee,surgery_fee,nursing_fee,material_fee,western_drug_fee,herbal_fee,patent_medicine_fee,general_service_fee,registration_fee,other_fee,fund_paid,self_pay,self_expense,personal_account,cash,offsite,innovative_drug_cost\n";

/// `n` complete, clean records with varying codes and amounts.
fn records(n: usize) -> String {
    let dx = ["K35.800", "I10.x00", "J18.900", "E11.900", "I63.900", "N18.500", "C34.900", "I25.100"];
    let mut s = String::from(HEADER);
    let mut x: u64 = 42;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..n {
        let day = 1 + next() % 27;
        let parts: Vec<u64> = (0..14).map(|_| next() % 100_000).collect();
        let total: u64 = parts.iter().sum();
        let fund = total * 7 / 10;
        let share = total - fund;
        let y = |f: u64| format!("{}.{:02}", f / 100, f % 100);
        let main = dx[(next() % 8) as usize];
        let other = dx[(next() % 8) as usize];
        let other = if other == main { "R50.900" } else { other };
        s.push_str(&format!(
            "C{i:08},H{:03},220100,职工,P{},1,1970-05-01,54,,,2025-01-{day:02} 08:00:00,2025-01-{:02} 10:00:00,1,2,1,普外科,{main},{other}|E78.500,47.0100|54.1100,2025-01-{day:02}|2025-01-{day:02},{},{},{},{},0.00,0.00,{},0,0\n",
            i % 200,
            i / 3,
            day + 1,
            y(total),
            parts.iter().map(|p| y(*p)).collect::<Vec<_>>().join(","),
            y(fund),
            y(share),
            y(share),
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let n = 20_000;
    let data = records(n);
    let rules = qc::RuleSet::builtin();
    let mut g = c.benchmark_group("import_qc");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("import_only", |b| {
        b.iter(|| {
            let reader = Reader::open("b.csv", data.as_bytes(), None).unwrap();
            reader.filter(|r| r.is_ok()).count()
        })
    });
    g.bench_function("import_and_check", |b| {
        b.iter(|| {
            let mut reader = Reader::open("b.csv", data.as_bytes(), None).unwrap();
            let mut checker = qc::Checker::new(&rules, None);
            checker.begin_file(0, reader.header.present);
            let mut out = Vec::new();
            for item in reader.by_ref() {
                checker.check(&item.unwrap(), &mut out);
            }
            checker.finish(&mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

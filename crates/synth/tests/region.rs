//! Generated regions read back through the project's own importer, QC checker
//! and grouper, and checked by summary statistics.

use std::collections::BTreeMap;
use std::path::PathBuf;

use claims::import::{Reader, Record};
use codes::{CodeKind, CodeMap, Dictionaries, Dictionary};
use drg::{Case, Grouper, Scheme, SchemeFiles, Status};
use qc::{Checker, RuleSet};
use synth::{Config, Generator, Pattern};

struct Output {
    institutions: String,
    claims: Vec<Vec<u8>>,
    anomalies: String,
}

fn generate(cfg: Config, grouper: &Grouper, dicts: Option<&Dictionaries>) -> (Generator, Output) {
    let gen = Generator::new(cfg, grouper, dicts);
    let mut inst = Vec::new();
    gen.write_institutions(&mut inst).unwrap();
    let mut anomalies = synth::ANOMALIES_HEADER.as_bytes().to_vec();
    let mut claims = Vec::new();
    for i in 0..gen.config().years.len() {
        let mut out = Vec::new();
        gen.write_year(i, &mut out, &mut anomalies, &|_| {})
            .unwrap();
        claims.push(out);
    }
    let out = Output {
        institutions: String::from_utf8(inst).unwrap(),
        claims,
        anomalies: String::from_utf8(anomalies).unwrap(),
    };
    (gen, out)
}

fn demo() -> (Grouper, Dictionaries) {
    (
        Grouper::new(synth::demo::scheme().unwrap()).unwrap(),
        synth::demo::dictionaries().unwrap(),
    )
}

fn reference_dir() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    if p.join("chs-drg-1.1/scheme.json").exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} not found (reference data absent)", p.display());
        None
    }
}

fn reference() -> Option<(Grouper, Dictionaries)> {
    let dir = reference_dir()?;
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let (s, cc, mcc, ex, ss, names) = (
        read("chs-drg-1.1/scheme.json"),
        read("chs-drg-1.1/cc.tsv"),
        read("chs-drg-1.1/mcc.tsv"),
        read("chs-drg-1.1/main_dx_exclusion.tsv"),
        read("chs-drg-1.1/surgical_procedures.tsv"),
        read("chs-drg-1.1/drg_names.tsv"),
    );
    let scheme = Scheme::from_files(SchemeFiles {
        scheme_json: &s,
        cc_tsv: &cc,
        mcc_tsv: &mcc,
        main_dx_exclusion_tsv: &ex,
        surgical_procedures_tsv: &ss,
        drg_names_tsv: &names,
    })
    .unwrap();
    let dicts = Dictionaries {
        diagnoses: Dictionary::parse_tsv(
            CodeKind::Diagnosis,
            "ref",
            &read("codes/icd10_diagnoses.tsv"),
        )
        .unwrap(),
        procedures: Dictionary::parse_tsv(
            CodeKind::Procedure,
            "ref",
            &read("codes/icd9cm3_procedures.tsv"),
        )
        .unwrap(),
        dx_map: Some(
            CodeMap::parse_tsv(&read("codes/diagnosis_clinical_to_insurance.tsv")).unwrap(),
        ),
        proc_map: Some(
            CodeMap::parse_tsv(&read("codes/procedure_clinical_to_insurance.tsv")).unwrap(),
        ),
    };
    Some((Grouper::new(scheme).unwrap(), dicts))
}

/// Read every file back: zero rejected records, zero cell issues.
fn read_back(out: &Output) -> Vec<Vec<Record>> {
    out.claims
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut r = Reader::open("claims.csv", &bytes[..], None).unwrap();
            assert!(
                r.header.unknown.is_empty() && r.header.duplicates.is_empty(),
                "{:?}",
                r.header
            );
            let recs: Vec<Record> = r
                .by_ref()
                .map(|x| x.unwrap_or_else(|e| panic!("file {i}: {e}")))
                .collect();
            for rec in &recs {
                assert!(
                    rec.issues.is_empty(),
                    "file {i} line {}: {:?}",
                    rec.line,
                    rec.issues
                );
            }
            recs
        })
        .collect()
}

fn anomaly_ids(out: &Output) -> BTreeMap<String, String> {
    out.anomalies
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[3].to_owned())
        })
        .collect()
}

/// QC over all files in one run: (findings on labelled cases, findings on the rest).
fn qc(
    files: &[Vec<Record>],
    dicts: &Dictionaries,
    labelled: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<String>) {
    let rules = RuleSet::builtin();
    let mut checker = Checker::new(&rules, Some(dicts));
    let mut out = Vec::new();
    let present = {
        let header = Generator::claims_header();
        let r = Reader::open("x.csv", header.as_bytes(), None).unwrap();
        r.header.present
    };
    for (i, recs) in files.iter().enumerate() {
        let plan = checker.begin_file(i as u32, present);
        assert!(
            plan.missing_columns.is_empty() && plan.skipped_rules.is_empty(),
            "{plan:?}"
        );
        for rec in recs {
            checker.check(rec, &mut out);
        }
    }
    checker.finish(&mut out);
    let mut on_labelled = Vec::new();
    let mut on_clean = Vec::new();
    for f in out {
        let s = format!(
            "{} {} {} {}",
            rules.rules[f.rule as usize].id, f.case_id, f.value, f.detail
        );
        if labelled.contains_key(&f.case_id) {
            on_labelled.push(s);
        } else {
            on_clean.push(s);
        }
    }
    (on_labelled, on_clean)
}

/// Group every record: DRG code per record.
fn group_all<'g>(grouper: &'g Grouper, files: &[Vec<Record>]) -> Vec<&'g str> {
    let mut out = Vec::new();
    for rec in files.iter().flatten() {
        let c = &rec.claim;
        let dx: Vec<&str> = c.diagnoses().collect();
        let procs: Vec<&str> = c.procedures.iter().map(|p| p.code.as_str()).collect();
        let g = grouper.group(&Case {
            sex: c.sex.map(|s| s as u8),
            age: c.age,
            age_days: c.age_days,
            weight_g: c.birth_weight_g,
            dx: &dx,
            procs: &procs,
            ..Default::default()
        });
        out.push(if g.status == Status::Grouped {
            grouper.codes_of(&g).drg
        } else {
            "0000"
        });
    }
    out
}

fn small(seed: u64) -> Config {
    Config {
        hospitals: 40,
        cases: 30_000,
        years: vec![2024, 2025],
        seed,
        ..Config::default()
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (g, d) = demo();
    let cfg = Config {
        cases: 20_000,
        chunk: 1000,
        ..small(11)
    };
    let (_, a) = generate(cfg.clone(), &g, Some(&d));
    let (_, b) = generate(cfg.clone(), &g, Some(&d));
    assert_eq!(a.institutions, b.institutions);
    assert_eq!(a.claims, b.claims);
    assert_eq!(a.anomalies, b.anomalies);
    // The thread pool size does not matter.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (_, c) = pool.install(|| generate(cfg.clone(), &g, Some(&d)));
    assert_eq!(a.claims, c.claims);
    let (_, e) = generate(Config { seed: 12, ..cfg }, &g, Some(&d));
    assert_ne!(a.claims, e.claims);
}

#[test]
fn demo_region_reads_back_clean_and_groups() {
    let (g, d) = demo();
    let (gen, out) = generate(small(3), &g, Some(&d));
    let files = read_back(&out);
    let n: usize = files.iter().map(Vec::len).sum();
    assert_eq!(n as u64, 30_000);
    assert_eq!(
        files.iter().map(|f| f.len() as u64).collect::<Vec<_>>(),
        gen.year_cases()
    );
    let labels = anomaly_ids(&out);
    let (on_labelled, on_clean) = qc(&files, &d, &labels);
    assert!(
        on_clean.is_empty(),
        "{} findings on unlabelled records, e.g. {:?}",
        on_clean.len(),
        &on_clean[..on_clean.len().min(10)]
    );
    assert!(
        on_labelled.is_empty(),
        "injected patterns are behavioural, not data errors: {on_labelled:?}"
    );
    let drgs = group_all(&g, &files);
    let ungroupable = drgs.iter().filter(|d| **d == "0000").count();
    assert!(
        (ungroupable as f64) < 0.02 * n as f64,
        "{ungroupable} of {n} ungroupable"
    );
    let distinct: std::collections::BTreeSet<&&str> = drgs.iter().collect();
    assert!(distinct.len() >= 40, "only {} DRGs", distinct.len());
    // Every pattern is labelled.
    for p in Pattern::ALL {
        let k = labels.values().filter(|v| *v == p.label()).count();
        assert!(k >= 5, "pattern {} has {k} labels", p.label());
    }
    assert!(out.institutions.lines().count() == 41);
}

#[test]
fn reference_scheme_region_is_clean_and_groupable() {
    let Some((g, d)) = reference() else { return };
    let cfg = Config {
        hospitals: 60,
        cases: 40_000,
        ..small(5)
    };
    let (gen, out) = generate(cfg, &g, Some(&d));
    let cat = gen.catalog();
    assert!(
        cat.unverified.len() * 20 < cat.adrgs.len(),
        "unverified ADRGs: {:?}",
        cat.unverified
    );
    let files = read_back(&out);
    let labels = anomaly_ids(&out);
    let (on_labelled, on_clean) = qc(&files, &d, &labels);
    assert!(
        on_clean.is_empty(),
        "{} findings, e.g. {:?}",
        on_clean.len(),
        &on_clean[..on_clean.len().min(10)]
    );
    assert!(on_labelled.is_empty(), "{on_labelled:?}");
    let drgs = group_all(&g, &files);
    let n = drgs.len();
    let ungroupable = drgs.iter().filter(|d| **d == "0000").count();
    println!("reference scheme: {ungroupable} of {n} ungroupable");
    assert!(
        (ungroupable as f64) < 0.02 * n as f64,
        "{ungroupable} of {n} ungroupable"
    );
    let mut per_drg: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &drgs {
        *per_drg.entry(d).or_default() += 1;
    }
    assert!(per_drg.len() >= 300, "only {} distinct DRGs", per_drg.len());
    // No single DRG dominates.
    let top = per_drg.values().max().copied().unwrap_or(0);
    assert!(top * 20 < n, "largest DRG has {top} of {n} cases");
    // Both severity levels occur: DRGs ending in 1 (MCC) and 3 (CC).
    let with = |end: char| drgs.iter().filter(|d| d.ends_with(end)).count() as f64 / n as f64;
    assert!(
        with('1') > 0.03 && with('3') > 0.08,
        "MCC {:.3}, CC {:.3}",
        with('1'),
        with('3')
    );
}

#[test]
fn cost_and_stay_statistics_are_plausible() {
    let (g, d) = demo();
    let (gen, out) = generate(small(8), &g, Some(&d));
    let files = read_back(&out);
    let labels = anomaly_ids(&out);
    let drgs = group_all(&g, &files);
    let recs: Vec<&Record> = files.iter().flatten().collect();
    // Cost by DRG (unlabelled cases): coefficient of variation within sane bounds.
    let mut by_drg: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (rec, drg) in recs.iter().zip(&drgs) {
        if !labels.contains_key(&rec.claim.case_id) {
            by_drg
                .entry(drg)
                .or_default()
                .push(rec.claim.total_cost.unwrap().0 as f64 / 100.0);
        }
    }
    let mut checked = 0;
    for (drg, costs) in &by_drg {
        if costs.len() < 100 {
            continue;
        }
        // The generator adds a few extreme-cost stays on purpose (special cases
        // for case-by-case review, 0.15 %, ×5–15): one of them can dominate a
        // DRG's standard deviation, so they are left out of the CV (above 8 × the median).
        let mut sorted = costs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let body: Vec<f64> = costs.iter().copied().filter(|c| *c <= 8.0 * median).collect();
        // 0.15 % are expected: at most 1 %, or 3 stays in a DRG of a few hundred.
        let extreme = costs.len() - body.len();
        assert!(extreme * 100 <= costs.len() || extreme <= 3, "DRG {drg}: {extreme} of {} extreme costs", costs.len());
        let n = body.len() as f64;
        let mean = body.iter().sum::<f64>() / n;
        let sd = (body.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n).sqrt();
        let cv = sd / mean;
        assert!(
            (0.15..2.0).contains(&cv),
            "DRG {drg}: CV {cv:.2} over {} cases",
            costs.len()
        );
        assert!(
            (300.0..300_000.0).contains(&mean),
            "DRG {drg}: mean {mean:.0}"
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} DRGs with 100+ cases");
    // Shares of discharge ways, offsite patients, long stays.
    let n = recs.len() as f64;
    let share =
        |f: &dyn Fn(&claims::Claim) -> bool| recs.iter().filter(|r| f(&r.claim)).count() as f64 / n;
    let deaths = share(&|c| c.discharge_way == Some(claims::DischargeWay::Death));
    let transfers = share(&|c| c.discharge_way == Some(claims::DischargeWay::Transfer));
    let offsite = share(&|c| c.offsite == Some(true));
    let long = share(&|c| c.los.unwrap() >= 30);
    let newborn = share(&|c| c.age_days.is_some());
    let innovative = share(&|c| c.innovative_drug_cost.unwrap().0 > 0);
    println!("deaths {deaths:.4} transfers {transfers:.4} offsite {offsite:.4} long {long:.4} newborn {newborn:.4} innovative {innovative:.4}");
    assert!((0.002..0.03).contains(&deaths), "deaths {deaths}");
    assert!((0.005..0.05).contains(&transfers), "transfers {transfers}");
    assert!((0.01..0.08).contains(&offsite), "offsite {offsite}");
    assert!((0.01..0.2).contains(&long), "long stays {long}");
    assert!(newborn > 0.001, "newborns {newborn}");
    assert!(innovative > 0.0005, "innovative drugs {innovative}");
    // Employees are reimbursed at a higher rate than residents.
    let ratio = |emp: bool| {
        let (f, t) = recs
            .iter()
            .filter(|r| (r.claim.insurance_type == Some(claims::InsuranceType::Employee)) == emp)
            .fold((0i64, 0i64), |(f, t), r| {
                (
                    f + r.claim.fund_paid.unwrap().0,
                    t + r.claim.total_cost.unwrap().0,
                )
            });
        f as f64 / t as f64
    };
    let (e, r) = (ratio(true), ratio(false));
    assert!(
        e > r + 0.05 && (0.5..0.95).contains(&e) && (0.35..0.85).contains(&r),
        "employee {e:.3}, resident {r:.3}"
    );
    // LOS correlates with cost within a DRG (pooled log-log correlation over big DRGs).
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut groups: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for (rec, drg) in recs.iter().zip(&drgs) {
        let c = &rec.claim;
        groups.entry(drg).or_default().push((
            (c.los.unwrap() as f64).ln(),
            (c.total_cost.unwrap().0 as f64).ln(),
        ));
    }
    for v in groups.values().filter(|v| v.len() >= 100) {
        let mx = v.iter().map(|p| p.0).sum::<f64>() / v.len() as f64;
        let my = v.iter().map(|p| p.1).sum::<f64>() / v.len() as f64;
        for p in v {
            xs.push(p.0 - mx);
            ys.push(p.1 - my);
        }
    }
    let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| x * y).sum();
    let corr = cov
        / (xs.iter().map(|x| x * x).sum::<f64>().sqrt()
            * ys.iter().map(|y| y * y).sum::<f64>().sqrt());
    assert!(corr > 0.3, "LOS/cost correlation within DRGs {corr:.2}");
    // Yearly growth of the mean cost of unlabelled cases.
    let mean_cost = |f: &Vec<Record>| {
        let v: Vec<f64> = f
            .iter()
            .filter(|r| !labels.contains_key(&r.claim.case_id))
            .map(|r| r.claim.total_cost.unwrap().0 as f64)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let growth = mean_cost(&files[1]) / mean_cost(&files[0]);
    assert!((1.0..1.12).contains(&growth), "growth {growth:.3}");
    let _ = gen;
}

#[test]
fn shirking_hospital_loses_high_weight_cases_and_transfers_out() {
    let (g, d) = demo();
    let (gen, out) = generate(
        Config {
            hospitals: 30,
            cases: 60_000,
            ..small(21)
        },
        &g,
        Some(&d),
    );
    let shirker = (0..gen.region().institutions.len())
        .find(|&h| gen.plan(h).1)
        .expect("a shirking hospital");
    let id = gen.region().institutions[shirker].id.clone();
    let files = read_back(&out);
    let drgs = group_all(&g, &files);
    // Mean cost per case as a proxy for case weight, and transfer share, per year.
    let mut i = 0;
    let mut stats = Vec::new();
    for f in &files {
        let (mut n, mut transfers, mut cost) = (0.0, 0.0, 0.0);
        for rec in f {
            let _drg = drgs[i];
            i += 1;
            if rec.claim.institution_id == id {
                n += 1.0;
                cost += rec.claim.total_cost.unwrap().0 as f64;
                if rec.claim.discharge_way == Some(claims::DischargeWay::Transfer) {
                    transfers += 1.0;
                }
            }
        }
        stats.push((cost / n, transfers / n));
    }
    println!("shirker {id}: {stats:?}");
    assert!(stats[1].0 < stats[0].0, "mean cost should drop: {stats:?}");
    assert!(
        stats[1].1 > 2.0 * stats[0].1,
        "transfers should rise: {stats:?}"
    );
}

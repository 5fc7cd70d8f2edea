//! A library built from a region made by the workspace's synthetic-region generator
//! (`synth`), read back through the settlement-list importer: core share, scores,
//! and the write → read → group round trip. Uses the reference CHS-DRG scheme and
//! dictionaries when `../shared/reference` exists, the built-in demo ones otherwise.

use std::path::PathBuf;

use claims::import::Reader;
use dip::aux::CciTable;
use dip::library::Library;
use dip::params::BuildParams;
use dip::{Builder, Fixed, Grouper, ProcClassifier, Scratch};
use synth::{Config, Generator};

fn reference() -> Option<(drg::Grouper, codes::Dictionaries, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    if !dir.join("chs-drg-1.1/scheme.json").exists() {
        eprintln!("reference data absent: using the built-in demo scheme");
        return None;
    }
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let scheme = drg::Scheme::from_files(drg::SchemeFiles {
        scheme_json: &read("chs-drg-1.1/scheme.json"),
        cc_tsv: &read("chs-drg-1.1/cc.tsv"),
        mcc_tsv: &read("chs-drg-1.1/mcc.tsv"),
        main_dx_exclusion_tsv: &read("chs-drg-1.1/main_dx_exclusion.tsv"),
        surgical_procedures_tsv: &read("chs-drg-1.1/surgical_procedures.tsv"),
        drg_names_tsv: &read("chs-drg-1.1/drg_names.tsv"),
    })
    .unwrap();
    let dicts = codes::Dictionaries {
        diagnoses: codes::Dictionary::parse_tsv(
            codes::CodeKind::Diagnosis,
            "ref",
            &read("codes/icd10_diagnoses.tsv"),
        )
        .unwrap(),
        procedures: codes::Dictionary::parse_tsv(
            codes::CodeKind::Procedure,
            "ref",
            &read("codes/icd9cm3_procedures.tsv"),
        )
        .unwrap(),
        dx_map: None,
        proc_map: None,
    };
    Some((
        drg::Grouper::new(scheme).unwrap(),
        dicts,
        read("chs-drg-1.1/surgical_procedures.tsv"),
    ))
}

#[test]
fn library_from_synthetic_region() {
    let (grouper, dicts, surgical) = match reference() {
        Some((g, d, s)) => (g, d, Some(s)),
        None => (
            drg::Grouper::new(synth::demo::scheme().unwrap()).unwrap(),
            synth::demo::dictionaries().unwrap(),
            None,
        ),
    };
    let cfg = Config {
        cases: 60_000,
        hospitals: 30,
        ..Config::default()
    };
    let gen = Generator::new(cfg, &grouper, Some(&dicts));
    let mut inst = Vec::new();
    gen.write_institutions(&mut inst).unwrap();
    let inst = String::from_utf8(inst).unwrap();
    // institution_id → level (三级/二级/基层 …) from the institutions file.
    let mut lines = inst.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let (id_col, lv_col) = (
        header.iter().position(|h| *h == "institution_id").unwrap(),
        header.iter().position(|h| *h == "level").unwrap(),
    );
    let levels: std::collections::HashMap<String, u8> = lines
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let lv = match c[lv_col] {
                "三级" => 3,
                "二级" => 2,
                "一级" | "基层" => 1,
                _ => return None,
            };
            Some((c[id_col].to_owned(), lv))
        })
        .collect();
    let mut claims = Vec::new();
    for y in 0..gen.config().years.len() {
        let mut out = Vec::new();
        gen.write_year(y, &mut out, &mut Vec::new(), &|_| {})
            .unwrap();
        let rdr = Reader::open("claims.csv", &out[..], None).unwrap();
        claims.extend(rdr.map(|r| r.unwrap().claim));
    }
    let mut classifier = ProcClassifier::builtin();
    if let Some(s) = &surgical {
        classifier =
            classifier.with_surgical_list(s.lines().skip(1).filter_map(|l| l.split('\t').next()));
    }
    let mut b = Builder::new(BuildParams::default(), classifier, CciTable::builtin());
    for c in &claims {
        let _ = b.add(c, levels.get(&c.institution_id).copied());
    }
    let (lib, report) = b.finish("synth").unwrap();
    eprintln!(
        "synth region ({}): {} cases used of {}, {} core + {} comprehensive groups, core share {:.2} %, CV core {:.3}",
        if surgical.is_some() { "reference scheme" } else { "demo scheme" },
        report.cases_used,
        report.cases_read,
        report.core_groups,
        report.comprehensive_groups,
        report.core_share * 100.0,
        report.cv_core
    );
    assert_eq!(report.cases_read, claims.len() as u64);
    assert!(report.cases_used as f64 >= 0.99 * claims.len() as f64);
    assert!(
        report.core_share >= 0.90,
        "core share {:.4}",
        report.core_share
    );
    assert!(lib.groups.iter().all(|g| g.score > Fixed::ZERO));
    assert!((lib.weighted_mean_score().unwrap().0 - 10_000_000).abs() <= 1);
    assert!(
        lib.groups
            .iter()
            .any(|g| g.avg_by_level.iter().any(Option::is_some)),
        "per-level averages expected"
    );

    // build → write → read → identical grouping, every case grouped.
    let files = lib.to_files();
    let back =
        Library::from_files(|n| files.iter().find(|f| f.0 == n).map(|f| f.1.clone())).unwrap();
    let (g1, g2) = (Grouper::new(lib).unwrap(), Grouper::new(back).unwrap());
    let mut s = Scratch::default();
    let mut grouped = 0usize;
    for c in &claims {
        let level = levels.get(&c.institution_id).copied();
        let (a, b) = (g1.group(c, level, &mut s), g2.group(c, level, &mut s));
        assert_eq!(a, b, "{}", c.case_id);
        grouped += a.group.is_some() as usize;
    }
    assert!(
        grouped as f64 >= 0.99 * claims.len() as f64,
        "grouped {grouped} of {}",
        claims.len()
    );
}

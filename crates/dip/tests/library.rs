//! Build → write → read → group round trips, core share, match rules, deviation
//! and auxiliary adjustments.

mod common;

use claims::Fen;
use dip::aux::{CciTable, Coefficients};
use dip::import::{import, to_published_csv, ImportOptions};
use dip::library::Library;
use dip::params::{BuildParams, DeviationParams, GroupParams, MatchRule};
use dip::{
    Builder, Deviation, Fixed, Group, GroupKind, Grouper, ListCase, Match, ProcClass,
    ProcClassifier, Scratch,
};

fn build(cases: &[common::SynthCase], params: BuildParams) -> (Library, dip::BuildReport) {
    let mut b = Builder::new(params, ProcClassifier::builtin(), CciTable::builtin());
    for c in cases {
        b.add(&c.view(), Some(c.level)).unwrap();
    }
    b.finish("test").unwrap()
}

fn group_all(g: &Grouper, cases: &[common::SynthCase]) -> Vec<dip::Outcome> {
    let mut s = Scratch::default();
    cases
        .iter()
        .map(|c| g.group(&c.view(), Some(c.level), &mut s))
        .collect()
}

#[test]
fn synthetic_region_core_share_and_round_trip() {
    let cases = common::region(60_000, 400, 7);
    let (lib, report) = build(&cases, BuildParams::default());
    eprintln!(
        "synthetic region: {} cases, {} core groups, {} comprehensive, core share {:.1} %, CV core {:.3}, comprehensive {:.3}",
        report.cases_used,
        report.core_groups,
        report.comprehensive_groups,
        report.core_share * 100.0,
        report.cv_core,
        report.cv_comprehensive
    );
    assert_eq!(report.cases_used, 60_000);
    assert!(
        report.core_share >= 0.90,
        "core share {}",
        report.core_share
    );
    assert!(
        report.comprehensive_groups > 0,
        "the rare extra procedures must create comprehensive groups"
    );
    assert!(report.cv_core > 0.0 && report.cv_core < 1.0);
    // The share at the threshold used equals the core share; shares fall as the threshold rises.
    let at15 = report
        .threshold_shares
        .iter()
        .find(|t| t.0 == 15)
        .unwrap()
        .1;
    assert!((at15 - report.core_share).abs() < 1e-12);
    assert_eq!(report.threshold_shares[0].1, 1.0);
    assert!(report.threshold_shares.windows(2).all(|w| w[0].1 >= w[1].1));
    // Scores: positive, volume-weighted mean = base within rounding.
    assert!(lib.groups.iter().all(|g| g.score > Fixed::ZERO));
    let mean = lib.weighted_mean_score().unwrap();
    assert!(
        (mean.0 - 10_000_000).abs() <= 1,
        "weighted mean score {mean}"
    );

    // Directory round trip: identical files and identical grouping.
    let files = lib.to_files();
    let back =
        Library::from_files(|n| files.iter().find(|f| f.0 == n).map(|f| f.1.clone())).unwrap();
    assert_eq!(back.to_files(), files);
    let (g1, g2) = (
        Grouper::new(lib.clone()).unwrap(),
        Grouper::new(back).unwrap(),
    );
    let (o1, o2) = (group_all(&g1, &cases), group_all(&g2, &cases));
    assert_eq!(o1, o2);
    // Every build case is grouped; the core ones exactly.
    let core = o1.iter().filter(|o| o.how == Match::Exact).count();
    assert_eq!(core as u64, report.core_cases);
    assert!(o1.iter().all(|o| o.group.is_some()));

    // Published-CSV round trip: same groups and group scores.
    let csv = to_published_csv(&lib);
    let (imported, rep) = import("lib.csv", csv.as_bytes(), ImportOptions::default()).unwrap();
    assert!(
        rep.unknown_columns.is_empty() && rep.rejected.is_empty(),
        "{rep:?}"
    );
    assert_eq!(imported.groups.len(), lib.groups.len());
    let g3 = Grouper::with_params(
        imported,
        GroupParams {
            apply_aux: false,
            ..GroupParams::default()
        },
    )
    .unwrap();
    let g1_plain = Grouper::with_params(
        lib,
        GroupParams {
            apply_aux: false,
            ..GroupParams::default()
        },
    )
    .unwrap();
    let mut s = Scratch::default();
    for c in &cases {
        let (a, b) = (
            g1_plain.group(&c.view(), None, &mut s),
            g3.group(&c.view(), None, &mut s),
        );
        assert_eq!(g1_plain.code(&a), g3.code(&b), "{}", c.case_id);
        assert_eq!(
            (a.group_score, a.score, a.deviation),
            (b.group_score, b.score, b.deviation),
            "{}",
            c.case_id
        );
    }
}

#[test]
fn cases_missing_data_are_counted_not_used() {
    let mut b = Builder::new(
        BuildParams::default(),
        ProcClassifier::builtin(),
        CciTable::builtin(),
    );
    let ok = ListCase {
        main_diagnosis: "K35.800",
        total_cost: Some(Fen(100)),
        ..ListCase::default()
    };
    assert!(b.add(&ok, None).is_ok());
    assert_eq!(
        b.add(
            &ListCase {
                main_diagnosis: "??",
                ..ok
            },
            None
        ),
        Err(dip::build::Skip::MainDiagnosis)
    );
    assert_eq!(
        b.add(
            &ListCase {
                total_cost: None,
                ..ok
            },
            None
        ),
        Err(dip::build::Skip::Cost)
    );
    assert_eq!(
        b.add(
            &ListCase {
                total_cost: Some(Fen(0)),
                ..ok
            },
            None
        ),
        Err(dip::build::Skip::Cost)
    );
    let (lib, rep) = b.finish("t").unwrap();
    assert_eq!(
        (
            rep.cases_read,
            rep.cases_used,
            rep.skipped_cost,
            rep.skipped_main_diagnosis
        ),
        (4, 1, 2, 1)
    );
    // One case is below min_cases: it is in a comprehensive group.
    assert_eq!(lib.groups.len(), 1);
    assert_eq!(lib.groups[0].kind, GroupKind::Comprehensive);
    assert_eq!(lib.groups[0].code, "K35/*conservative");
    assert_eq!(lib.groups[0].score, Fixed::from_int(1000));
}

fn group(
    code: &str,
    kind: GroupKind,
    dx: &str,
    procs: &[&str],
    score: i64,
    avg_yuan: i64,
) -> Group {
    let procedures: Vec<String> = procs.iter().map(|p| p.to_string()).collect();
    let class = if kind == GroupKind::Comprehensive {
        ProcClass::Surgical
    } else {
        ProcClass::Conservative
    };
    Group {
        code: code.into(),
        kind,
        dx: dx.into(),
        procedures,
        class,
        cases: 100,
        avg_cost: Some(Fen(avg_yuan * 100)),
        avg_by_level: [None, None, Some(Fen(avg_yuan * 200))],
        score: Fixed::from_int(score),
        cv: None,
        base_level: false,
        tcm: false,
        name: String::new(),
    }
}

fn hand_library() -> Library {
    let groups = vec![
        group("A", GroupKind::Core, "K35.8", &["47.0100"], 500, 5_000),
        group(
            "AB",
            GroupKind::Core,
            "K35.8",
            &["47.0100", "54.1100"],
            800,
            8_000,
        ),
        group("C", GroupKind::Core, "K35.8", &["45.7300"], 900, 9_000),
        group("CONS", GroupKind::Core, "K35.8", &[], 300, 3_000),
        group("K35S", GroupKind::Comprehensive, "K35", &[], 700, 7_000),
    ];
    Library {
        manifest: dip::library::Manifest::default(),
        groups,
        classifier: ProcClassifier::builtin(),
        cci: CciTable::builtin(),
        coefficients: Coefficients::default(),
    }
}

#[test]
fn match_rules_table() {
    // (procedures, rule, expected group code, how)
    let table: &[(&str, MatchRule, &str, &str)] = &[
        ("47.0100", MatchRule::ExactThenHighestScore, "A", "exact"),
        (
            "54.1100|47.0100",
            MatchRule::ExactThenHighestScore,
            "AB",
            "exact",
        ),
        ("", MatchRule::ExactThenHighestScore, "CONS", "exact"),
        (
            "47.0100|54.1100|45.7300",
            MatchRule::ExactThenHighestScore,
            "C",
            "subset",
        ),
        (
            "47.0100|54.1100|45.7300",
            MatchRule::ExactThenMostProcedures,
            "AB",
            "subset",
        ),
        (
            "47.0100|54.1100|45.7300",
            MatchRule::ExactOnly,
            "K35S",
            "comprehensive",
        ),
        (
            "47.0100|99.9999",
            MatchRule::ExactThenHighestScore,
            "A",
            "subset",
        ),
        // A surgical case matching no core procedure never falls into the conservative group.
        (
            "51.2300",
            MatchRule::ExactThenHighestScore,
            "K35S",
            "comprehensive",
        ),
    ];
    for (procs, rule, want, how) in table {
        let g = Grouper::with_params(
            hand_library(),
            GroupParams {
                match_rule: *rule,
                ..GroupParams::default()
            },
        )
        .unwrap();
        let case = ListCase {
            main_diagnosis: "K35.800x002",
            procedures: procs,
            ..ListCase::default()
        };
        let o = g.group(&case, None, &mut Scratch::default());
        assert_eq!(g.code(&o), *want, "{procs} {rule:?}");
        let got = match o.how {
            Match::Exact => "exact",
            Match::Subset { .. } => "subset",
            Match::Comprehensive => "comprehensive",
            _ => "other",
        };
        assert_eq!(got, *how, "{procs} {rule:?}");
    }
    // Conservative case of a category without comprehensive conservative group: ungrouped.
    let g = Grouper::new(hand_library()).unwrap();
    let o = g.group(
        &ListCase {
            main_diagnosis: "K35.300",
            ..ListCase::default()
        },
        None,
        &mut Scratch::default(),
    );
    assert_eq!(o.how, Match::NoComprehensiveGroup);
    assert!(g.trace(&o).contains("未入组"));
}

#[test]
fn deviation_formulas_table() {
    // Group A: score 500, average 5,000 yuan (level 3: 10,000 yuan).
    // (cost yuan, hospital level, deviation, score)
    let table: &[(i64, Option<u8>, Deviation, &str)] = &[
        (5_000, None, Deviation::Normal, "500.0000"),
        (10_000, None, Deviation::Normal, "500.0000"), // ratio exactly 2: not high
        (15_000, None, Deviation::High, "1000.0000"),  // 500 + (3 − 2) × 500
        (12_500, None, Deviation::High, "750.0000"),   // ratio 2.5
        (2_500, None, Deviation::Normal, "500.0000"),  // ratio exactly 0.5: not low
        (2_000, None, Deviation::Low, "200.0000"),     // 0.4 × 500
        (15_000, Some(3), Deviation::Normal, "500.0000"), // level-3 average 10,000: ratio 1.5
        (25_000, Some(3), Deviation::High, "750.0000"), // ratio 2.5 at level 3
        (15_000, Some(2), Deviation::High, "1000.0000"), // no level-2 average: overall
    ];
    let g = Grouper::new(hand_library()).unwrap();
    for (yuan, level, dev, score) in table {
        let case = ListCase {
            main_diagnosis: "K35.800",
            procedures: "47.0100",
            total_cost: Some(Fen(yuan * 100)),
            ..ListCase::default()
        };
        let o = g.group(&case, *level, &mut Scratch::default());
        assert_eq!(
            (o.deviation, o.score.to_string().as_str()),
            (*dev, *score),
            "{yuan} {level:?}: {}",
            g.trace(&o)
        );
    }
    // Base-level groups ignore the hospital level; thresholds are parameters.
    let mut lib = hand_library();
    lib.flag_base_level(["A"]);
    let params = GroupParams {
        deviation: DeviationParams {
            high: Fixed::from_int(3),
            ..DeviationParams::default()
        },
        ..GroupParams::default()
    };
    let g = Grouper::with_params(lib, params).unwrap();
    let case = ListCase {
        main_diagnosis: "K35.800",
        procedures: "47.0100",
        total_cost: Some(Fen(1_500_000)),
        ..ListCase::default()
    };
    let o = g.group(&case, Some(3), &mut Scratch::default());
    assert!(!o.level_average);
    assert_eq!(
        (o.deviation, o.score),
        (Deviation::Normal, Fixed::from_int(500))
    );
    // No cost: not assessed, group score paid.
    let o = g.group(
        &ListCase {
            total_cost: None,
            ..case
        },
        None,
        &mut Scratch::default(),
    );
    assert_eq!(
        (o.deviation, o.score),
        (Deviation::NotAssessed, Fixed::from_int(500))
    );
}

#[test]
fn auxiliary_coefficients_apply_and_shift_expected_cost() {
    let mut lib = hand_library();
    lib.coefficients.values[1][2] = Fixed(12_000); // tumour level 2 (metastasis) × 1.2
    lib.coefficients.values[2][3] = Fixed(11_000); // age ≥ 80 × 1.1
    lib.groups
        .push(group("LUNG", GroupKind::Core, "C34.9", &[], 1000, 10_000));
    let g = Grouper::new(lib).unwrap();
    let case = ListCase {
        main_diagnosis: "C34.900",
        other_diagnoses: "C78.000",
        age_years: Some(85),
        total_cost: Some(Fen(1_320_000)),
        ..ListCase::default()
    };
    let o = g.group(&case, None, &mut Scratch::default());
    assert_eq!(g.code(&o), "LUNG");
    assert_eq!(
        (o.levels.tumour, o.levels.age, o.levels.severity),
        (2, 3, 3)
    ); // C78: CCI 6
    assert_eq!(o.aux_coefficient, Fixed(13_200));
    assert_eq!(o.adjusted_score, Fixed::from_int(1320));
    assert_eq!(o.expected_cost, Some(Fen(1_320_000)));
    assert_eq!(
        (o.deviation, o.score),
        (Deviation::Normal, Fixed::from_int(1320))
    );
    let t = g.trace(&o);
    assert!(
        t.contains("肿瘤严重程度 level 2 ×1.2000") && t.contains("score 1320.0000"),
        "{t}"
    );
    // Switched off: the group score.
    let g = Grouper::with_params(
        g.library().clone(),
        GroupParams {
            apply_aux: false,
            ..GroupParams::default()
        },
    )
    .unwrap();
    assert_eq!(
        g.group(&case, None, &mut Scratch::default()).score,
        Fixed::from_int(1000)
    );
}

#[test]
fn duplicate_keys_are_rejected() {
    let mut lib = hand_library();
    lib.groups.push(group(
        "A2",
        GroupKind::Core,
        "K35.8",
        &["47.0100"],
        600,
        6_000,
    ));
    assert!(matches!(
        Grouper::new(lib),
        Err(dip::group::CompileError::DuplicateKey(..))
    ));
}

#[test]
fn xlsx_published_library_imports() {
    use rust_xlsxwriter::Workbook;
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let header = [
        "病种编码",
        "主要诊断编码",
        "主要诊断名称",
        "手术操作编码",
        "分值",
        "基层病种",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let rows: &[(&str, &str, &str, &str, f64, &str)] = &[
        ("D001", "K35.8", "急性阑尾炎", "47.0100", 812.25, "否"),
        ("D002", "J18.9", "肺炎", "保守治疗", 350.0, "是"),
        ("D003", "J18", "肺炎", "治疗性操作", 420.5, "否"),
    ];
    for (r, (code, dx, name, procs, score, base)) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        ws.write_string(r, 0, *code).unwrap();
        ws.write_string(r, 1, *dx).unwrap();
        ws.write_string(r, 2, *name).unwrap();
        ws.write_string(r, 3, *procs).unwrap();
        ws.write_number(r, 4, *score).unwrap();
        ws.write_string(r, 5, *base).unwrap();
    }
    let bytes = wb.save_to_buffer().unwrap();
    let (lib, rep) = import("library.xlsx", &bytes, ImportOptions::default()).unwrap();
    assert_eq!(rep.unknown_columns, ["主要诊断名称"]);
    assert!(rep.rejected.is_empty(), "{rep:?}");
    assert_eq!((rep.core, rep.comprehensive), (2, 1));
    let by = |c: &str| lib.groups.iter().find(|g| g.code == c).unwrap();
    assert_eq!(by("D001").score, Fixed(8_122_500));
    assert_eq!(by("D001").procedures, ["47.0100"]);
    assert!(by("D002").base_level && by("D002").procedures.is_empty());
    assert_eq!(
        (by("D003").kind, by("D003").class),
        (GroupKind::Comprehensive, ProcClass::Therapeutic)
    );
    let g = Grouper::new(lib).unwrap();
    let case = ListCase {
        main_diagnosis: "J18.000",
        procedures: "99.2500",
        ..ListCase::default()
    };
    let o = g.group(&case, None, &mut Scratch::default());
    assert_eq!((g.code(&o), o.score), ("D003", Fixed(4_205_000)));
}

#[test]
fn library_does_not_depend_on_input_order() {
    let mut cases = common::region(20_000, 150, 5);
    let (a, ra) = build(&cases, BuildParams::default());
    cases.reverse();
    let (b, rb) = build(&cases, BuildParams::default());
    assert_eq!(a.to_files(), b.to_files());
    assert_eq!(ra.cv_all.to_bits(), rb.cv_all.to_bits());
}

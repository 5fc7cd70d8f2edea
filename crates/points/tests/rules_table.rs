//! Each pricing rule with hand-computed expected points (built-in parameters:
//! 100 points per RW, 三级 1.00, 二级 0.85, k = 3/2/1.5 by RW band, low 0.4,
//! a conversion rate of 100 yuan per point).

use claims::Fen;
use points::{price, CaseInput, Conversion, GroupStandard, Institution, Method, Params, Points};
use rust_decimal::Decimal;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// The built-in parameters with the per-diem standards the hand-computed figures
/// use (精神类疾病 350, 医疗康复 500, 安宁疗护 450 yuan per day).
fn fixed_params() -> Params {
    let mut src = points::DEFAULT_PARAMS.to_owned();
    for v in ["350.00", "500.00", "450.00"] {
        src = src.replacen("yuan_per_day = \"derived\", min_los", &format!("yuan_per_day = \"{v}\", min_los"), 1);
    }
    Params::from_toml(&src).unwrap()
}

/// The rate the hand-computed figures use: 100 yuan per point.
fn conv() -> Conversion {
    Conversion::fixed(d("100"))
}

fn yuan(s: &str) -> Fen {
    Fen::parse_yuan(s).unwrap()
}

fn std(code: &str, w: &str, mean: &str, base_level: bool) -> GroupStandard {
    GroupStandard { code: code.into(), weight: d(w), mean_cost: yuan(mean), base_level }
}

fn inst(id: &str, level: &str, tcm: bool, lead: Option<&str>) -> Institution {
    Institution { id: id.into(), level: level.into(), tcm, alliance_lead: lead.map(Into::into) }
}

struct Row {
    name: &'static str,
    inst: Institution,
    group: Option<GroupStandard>,
    cost: &'static str,
    drug: &'static str,
    los: u32,
    dx: &'static str,
    special: bool,
    want_rule: &'static str,
    want_total: &'static str,
}

fn run(params: &Params, rows: &[Row]) -> Vec<Points> {
    let mut failures = Vec::new();
    let mut out = Vec::new();
    for r in rows {
        let case = CaseInput {
            case_id: r.name,
            group: r.group.as_ref(),
            total_cost: yuan(r.cost),
            innovative_drug_cost: yuan(r.drug),
            los: r.los,
            main_dx: r.dx,
            special_case: r.special,
            withheld: &[],
        };
        let p = price(params, &conv(), &r.inst, &case);
        if p.rule.as_str() != r.want_rule || p.total != d(r.want_total) {
            failures.push(format!("{}: want {} {}, got {} {} ({})", r.name, r.want_rule, r.want_total, p.rule.as_str(), p.total, p.explain(false)));
        }
        assert!(p.total >= Decimal::ZERO);
        out.push(p);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    out
}

#[test]
fn drg_rules() {
    let mut params = fixed_params();
    params.coefficients.overrides.insert("H9".into(), d("1.10"));
    let g1 = || Some(std("G1", "0.8", "8000.00", false));
    let g2 = || Some(std("G2", "1.5", "15000.00", false));
    let g3 = || Some(std("G3", "2.5", "25000.00", false));
    let bl = || Some(std("BL", "0.5", "5000.00", true));
    let t3 = || inst("H1", "三级", false, None);
    let t2 = || inst("H2", "二级", false, None);
    let row = |name, inst, group, cost, want_rule, want_total| Row {
        name,
        inst,
        group,
        cost,
        drug: "0",
        los: 5,
        dx: "K35.800",
        special: false,
        want_rule,
        want_total,
    };
    let rows = vec![
        // 0.8 × 100 × 1.00
        row("normal 三级", t3(), g1(), "8000.00", "normal", "80"),
        // 80 × 0.85
        row("normal 二级", t2(), g1(), "8000.00", "normal", "68"),
        // ratio 4 > k 3: 80 × 1 + (4 − 3) × 80
        row("high RW ≤ 1", t3(), g1(), "32000.00", "high_ratio", "160"),
        // ratio 3 > k 2: 150 × 0.85 + (3 − 2) × 150 = 127.5 + 150
        row("high 1 < RW ≤ 2", t2(), g2(), "45000.00", "high_ratio", "277.5"),
        // ratio 2 > k 1.5: 250 + 0.5 × 250
        row("high RW > 2", t3(), g3(), "50000.00", "high_ratio", "375"),
        // ratio exactly 3 is not above k
        row("at the high threshold", t3(), g1(), "24000.00", "normal", "80"),
        // ratio 0.25 < 0.4: 80 × 0.25
        row("low", t3(), g1(), "2000.00", "low_ratio", "20"),
        // ratio exactly 0.4 is not below
        row("at the low threshold", t3(), g1(), "3200.00", "normal", "80"),
        // base-level group: coefficient 1 at 二级: 0.5 × 100 × 1
        row("base-level group", t2(), bl(), "5000.00", "normal", "50"),
        // institution override 1.10: 80 × 1.1
        row("override", inst("H9", "二级", false, None), g1(), "8000.00", "normal", "88"),
        // 3456.78 / 100 yuan per point
        row("ungroupable TCM", inst("T1", "二级", true, None), None, "3456.78", "ungroupable_tcm", "34.5678"),
        row("ungroupable other", t2(), None, "3456.78", "ungroupable_other", "34.5678"),
    ];
    let out = run(&params, &rows);
    assert_eq!(out[8].coefficient_source, points::CoefSource::BaseLevelGroup);
    assert_eq!(out[9].coefficient_source, points::CoefSource::Override);

    let mut other = vec![
        // approved special case: 60000 / 100
        Row { special: true, ..row("special case", t3(), g2(), "60000.00", "special_case", "600") },
        // per-diem: 350 × 60 / 100 yuan per point
        Row { los: 60, dx: "F20.000", ..row("per-diem", t3(), g1(), "30000.00", "per_diem", "210") },
        // below the category's minimum stay: priced by its group
        Row { los: 10, dx: "F20.000", ..row("per-diem too short", t3(), g1(), "8000.00", "normal", "80") },
        // drug 5000 excluded: ratio 15000/15000 = 1 → 150; add-on 5000 / 100 = 50
        Row { drug: "5000.00", ..row("innovative drug add-on", t3(), g2(), "20000.00", "normal", "200") },
    ];
    let alliance = row("alliance member", inst("M1", "基层", false, Some("L1")), g1(), "8000.00", "normal", "64");
    other.push(alliance);
    let out = run(&params, &other);
    assert_eq!(out[4].credited_to, "L1");
    assert_eq!(out[3].addon_points, d("50"));

    params.fee_for_service.ungroupable_other = points::params::UngroupablePay::Zero;
    run(&params, &[row("ungroupable withheld", t2(), None, "3456.78", "ungroupable_withheld", "0")]);
}

#[test]
fn dip_rules() {
    let mut params = fixed_params();
    params.method = Method::Dip;
    let g = || Some(std("K35.8:47.01", "850", "8500.00", false));
    let t3 = || inst("H1", "三级", false, None);
    let row = |name, cost, want_rule, want_total| Row {
        name,
        inst: t3(),
        group: g(),
        cost,
        drug: "0",
        los: 5,
        dx: "K35.800",
        special: false,
        want_rule,
        want_total,
    };
    run(
        &params,
        &[
            row("normal", "8500.00", "normal", "850"),
            // ratio 20000/8500 > 2: 850 + (ratio − 2) × 850 = 850 + 300
            row("high deviation", "20000.00", "high_ratio", "1150"),
            // ratio 4000/8500 < 0.5: 850 × ratio = 400
            row("low deviation", "4000.00", "low_ratio", "400"),
        ],
    );
}

#[test]
fn capitation_and_fee_for_service_conversions() {
    let params = Params::builtin();
    // 1,000,000 yuan / 10,000 × 100
    // 1,000,000 yuan / 100 yuan per point
    assert_eq!(points::capitation_points(&conv(), yuan("1000000.00")), d("10000"));
    assert_eq!(points::fee_for_service_points(&conv(), yuan("0.01")), d("0.0001"));
    // The default parameters derive the rate: without a history it is refused, naming the key.
    let e = Conversion::resolve(&params, None).unwrap_err();
    assert!(e.contains("fee_for_service.yuan_per_point") && e.contains("--history-cases"), "{e}");
    let empty = points::RateBasis::default();
    assert!(Conversion::resolve(&params, Some(&empty)).unwrap_err().contains("no rate can be derived"));
    // 1,234,567.89 yuan over 8,000.0001 points → 154.320984 (6 places, half away from zero)
    let b = points::RateBasis { cases: 10, cost: yuan("1234567.89"), points: 80_000_001, ..Default::default() };
    let c = Conversion::resolve(&params, Some(&b)).unwrap();
    assert_eq!(c.yuan_per_point, d("154.320984"));
    assert!(c.describe().contains("154.320984 yuan per point = history cost 1234567.89 / 8000.0001 points of 10"));
    let fixed = Params::from_toml(&points::DEFAULT_PARAMS.replace("yuan_per_point = \"derived\"", "yuan_per_point = \"150.5\"")).unwrap();
    let f = Conversion::resolve(&fixed, Some(&b)).unwrap();
    assert_eq!((f.yuan_per_point, f.basis), (d("150.5"), None));
    let bad = points::DEFAULT_PARAMS.replace("yuan_per_point = \"derived\"", "yuan_per_point = \"derive\"");
    assert!(Params::from_toml(&bad).unwrap_err().to_string().contains("must be \"derived\" or a decimal"));
}

#[test]
fn per_diem_standards_are_derived_from_the_history_year() {
    let params = Params::builtin();
    let mut b = points::RateBasis { cases: 1, cost: yuan("10000.00"), points: 1_000_000, ..Default::default() };
    // 精神类疾病: two history stays, 20,000.00 over 60 days and 13,000.00 over 40 days → 330.00 a day.
    b.per_diem.insert("精神类疾病".into(), (yuan("33000.00"), 100, 2));
    let c = Conversion::resolve(&params, Some(&b)).unwrap();
    assert_eq!(c.yuan_per_point, d("100"));
    assert_eq!(c.per_diem_standard(&params, 0), Some(d("330.00")));
    assert_eq!(c.per_diem_standard(&params, 1), None);
    let lines = c.describe_per_diem();
    assert!(lines[0].contains("330.00 yuan per day = history cost 33000.00 / 100 days of 2 cases"), "{lines:?}");
    assert!(lines[1].contains("no standard"), "{lines:?}");
    let g = std("G1", "0.8", "8000.00", false);
    let case = |dx: &'static str| CaseInput {
        case_id: "pd",
        group: Some(&g),
        total_cost: yuan("20000.00"),
        innovative_drug_cost: Fen::ZERO,
        los: 40,
        main_dx: dx,
        special_case: false,
        withheld: &[],
    };
    let i = inst("H1", "三级", false, None);
    // 330.00 × 40 / 100 = 132 points, payable.
    let p = price(&params, &c, &i, &case("F20.000"));
    assert_eq!((p.rule.as_str(), p.total, p.payable), ("per_diem", d("132"), true));
    // 医疗康复 has no history case: priced as per-diem, not payable, and it says why.
    let p = price(&params, &c, &i, &case("Z50.000"));
    assert_eq!((p.rule.as_str(), p.payable), ("per_diem", false));
    assert_eq!(p.withheld_reason, vec!["per_diem_standard".to_owned()]);
    // Without a history at all the derived standard is refused, naming the key.
    let fixed_rate = Params::from_toml(&points::DEFAULT_PARAMS.replace("yuan_per_point = \"derived\"", "yuan_per_point = \"100\"")).unwrap();
    let e = Conversion::resolve(&fixed_rate, None).unwrap_err();
    assert!(e.contains("per_diem.categories[0].yuan_per_day"), "{e}");
}

#[test]
fn withheld_cases_are_priced_but_not_payable() {
    let params = Params::builtin();
    let g = std("G1", "0.8", "8000.00", false);
    let rules = vec!["L005".to_owned(), "M001".to_owned()];
    let case = CaseInput {
        case_id: "w",
        group: Some(&g),
        total_cost: yuan("8000.00"),
        innovative_drug_cost: Fen::ZERO,
        los: 5,
        main_dx: "K35.800",
        special_case: false,
        withheld: &rules,
    };
    let p = price(&params, &conv(), &inst("H1", "三级", false, None), &case);
    assert_eq!(p.total, d("80"));
    assert!(!p.payable);
    assert_eq!(p.withheld_reason, rules);
    assert!(p.explain(true).contains("暂缓支付") && p.explain(true).contains("M001"));
    let ok = CaseInput { withheld: &[], ..case };
    assert!(price(&params, &conv(), &inst("H1", "三级", false, None), &ok).payable);
}

#[test]
fn parameter_files_are_validated() {
    let bad = points::DEFAULT_PARAMS.replace("points_per_rw = \"100\"", "points_per_rw = \"0\"");
    assert!(Params::from_toml(&bad).unwrap_err().to_string().contains("drg.points_per_rw"));
    let bad = points::DEFAULT_PARAMS.replace("{ k = \"1.5\" }", "{ rw_max = \"3\", k = \"1.5\" }");
    assert!(Params::from_toml(&bad).unwrap_err().to_string().contains("last band"));
    let bad = points::DEFAULT_PARAMS.replace("[alliance]", "[alliance]\nsurprise = 1");
    assert!(Params::from_toml(&bad).is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Points are never negative, and for normal cases the case points equal
        /// RW × 100 × coefficient.
        #[test]
        fn never_negative_and_normal_is_base_times_coefficient(
            rw_milli in 1i64..10_000, mean in 100i64..10_000_000, cost in 0i64..100_000_000,
            drug in 0i64..1_000_000, los in 0u32..400, level in 0usize..4, base_level: bool, tcm: bool,
            grouped: bool, special: bool,
        ) {
            let params = fixed_params();
            let levels = ["三级", "二级", "一级", "基层"];
            let g = GroupStandard { code: "G".into(), weight: Decimal::new(rw_milli, 3), mean_cost: Fen(mean), base_level };
            let i = inst("H", levels[level], tcm, None);
            let case = CaseInput {
                case_id: "c",
                group: grouped.then_some(&g),
                total_cost: Fen(cost),
                innovative_drug_cost: Fen(drug.min(cost)),
                los,
                main_dx: "K35.800",
                special_case: special,
                withheld: &[],
            };
            let p = price(&params, &conv(), &i, &case);
            prop_assert!(p.total >= Decimal::ZERO && p.case_points >= Decimal::ZERO && p.addon_points >= Decimal::ZERO);
            prop_assert_eq!(p.total, p.case_points + p.addon_points);
            if p.rule == points::Rule::Normal {
                let (coef, _) = points::coefficient(&params, &i, base_level);
                prop_assert_eq!(p.case_points, (g.weight * Decimal::ONE_HUNDRED * coef).round_dp(4));
            }
        }
    }
}

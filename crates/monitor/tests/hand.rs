//! Indicator definitions on a hand-computed small region.
//!
//! Two institutions (A 三级, B 二级), two DRGs (X with RW 2, Y with RW 0.5,
//! plus Z with RW 1 and W with RW 0.1 only to make the ln(RW) z-scores), one
//! ungrouped case. All cases discharged in March 2025, one case of A in March 2024.
//!
//! | case | inst | DRG | cost (fen) | LOS | self_pay | self_expense | fund | way |
//! |------|------|-----|-----------:|----:|---------:|-------------:|-----:|-----|
//! | a1   | A    | X   | 10000      | 10  | 1000     | 500          | 8500 | 1   |
//! | a2   | A    | X   | 14000      | 14  | 1000     | 1000         | 12000| 1   |
//! | a3   | A    | Y   | 3000       | 2   | 300      | 0            | 2700 | 5   |
//! | b1   | B    | X   | 8000       | 6   | 800      | 200          | 7000 | 2   |
//! | b2   | B    | Y   | 1000       | 4   | 100      | 100          | 800  | 1   |
//! | b3   | B    | —   | 2000       | 3   | 0        | 0            | 2000 | 1   |
//! | a0   | A    | X   | 9000       | 9   | 0        | 0            | 9000 | 1   | (2024-03)
//!
//! Region averages 2025-03: X cost (10000+14000+8000)/3 = 32000/3, LOS 30/3 = 10;
//! Y cost (3000+1000)/2 = 2000, LOS 3.
//! A: cost index = (10000+14000)/(32000/3) + 3000/2000 = 2.25 + 1.5 = 3.75, / 3 = 1.25;
//!    time index = (10+14)/10 + 2/3 = 2.4 + 0.6667 = 3.0667, / 3 = 1.02222.
//!    CMI = (2+2+0.5)/3 = 1.5; total weight 4.5; group-in rate 1.
//!    self-pay ratio = (2300 + 1500) / 27000; out-of-scope = 1500 / 27000.
//!    Low risk: ln RW = ln2, ln0.5, ln1, ln0.1 → mean −0.8664, sd 1.2389;
//!    z(Y) = (−0.6931 + 0.8664)/1.2389 = 0.14, z(W) = (−2.3026 + 0.8664)/1.2389 = −1.16 → only W is low-risk.
//! B: cost index = (8000/(32000/3) + 1000/2000) / 2 = (0.75 + 0.5) / 2 = 0.625;
//!    time index = (6/10 + 4/3) / 2 = 0.96667; group-in rate 2/3; CMI = 2.5/2 = 1.25.
//! Region: cost index = (Σ cost / region avg) / 5 = (3 + 2) / 5 = 1 exactly (same-period norms).

use monitor::indicators::{compute, Dim, Period};
use monitor::model::{Case, Group, Institution, Severity, NO_GROUP};
use monitor::{Dataset, DatasetBuilder};

fn day(y: i32, m: u32, d: u32) -> i32 {
    use chrono::Datelike;
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .num_days_from_ce()
}

fn region() -> Dataset {
    let mut b = DatasetBuilder::new([
        Institution {
            id: "A".into(),
            level: "三级".into(),
            drg_dip: Some(true),
            ..Default::default()
        },
        Institution {
            id: "B".into(),
            level: "二级".into(),
            drg_dip: Some(false),
            ..Default::default()
        },
    ]);
    {
        let d = b.data_mut();
        d.adrgs = vec!["XX1".into(), "YY1".into(), "ZZ1".into(), "WW1".into()];
        for (i, code) in ["XX19", "YY19", "ZZ19", "WW19"].iter().enumerate() {
            d.groups.push(Group {
                code: code.to_string(),
                name: String::new(),
                adrg: i as u32,
                severity: Severity::Unsplit,
            });
        }
        d.departments = vec!["内科".into()];
        d.patients = ["P"].into_iter().collect();
        d.diagnoses = vec!["I10".into()];
        d.dx_categories = vec!["I10".into()];
    }
    let mk = |inst: u32,
              drg: u32,
              total: i64,
              los: u32,
              sp: i64,
              se: i64,
              fund: i64,
              way: u8,
              y: i32| Case {
        inst,
        drg,
        total,
        los,
        self_pay: sp,
        self_expense: se,
        fund,
        way,
        admitted: day(y, 3, 1),
        discharged: day(y, 3, 20),
        ..Default::default()
    };
    b.push_case("a1", mk(0, 0, 10000, 10, 1000, 500, 8500, 1, 2025));
    b.push_case("a2", mk(0, 0, 14000, 14, 1000, 1000, 12000, 1, 2025));
    b.push_case("a3", mk(0, 1, 3000, 2, 300, 0, 2700, 5, 2025));
    b.push_case("b1", mk(1, 0, 8000, 6, 800, 200, 7000, 2, 2025));
    b.push_case("b2", mk(1, 1, 1000, 4, 100, 100, 800, 1, 2025));
    b.push_case("b3", mk(1, NO_GROUP, 2000, 3, 0, 0, 2000, 1, 2025));
    b.push_case("a0", mk(0, 0, 9000, 9, 0, 0, 9000, 1, 2024));
    b.finish()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn hand_computed_region() {
    let data = region();
    let rw = [2.0, 0.5, 1.0, 0.1];
    let ind = compute(&data, &rw);
    assert_eq!(ind.low_risk, vec![false, false, false, true]);
    close(
        ind.rw_z[3],
        (0.1f64.ln() - (2.0f64.ln() + 0.5f64.ln() + 0.1f64.ln()) / 4.0) / {
            let l = [2.0f64.ln(), 0.5f64.ln(), 0.0, 0.1f64.ln()];
            let m = l.iter().sum::<f64>() / 4.0;
            (l.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 3.0).sqrt()
        },
    );

    for p in [
        Period::month(2025, 3),
        Period::quarter(2025, 1),
        Period::year(2025),
    ] {
        let a = &ind.get(Dim::Institution(0), p).unwrap().v;
        assert_eq!(a.cases, 3);
        close(a.group_in_rate, 1.0);
        assert_eq!(a.drg_count, 2);
        close(a.total_weight, 4.5);
        close(a.cmi, 1.5);
        close(a.cost_index, 1.25);
        close(a.time_index, (2.4 + 2.0 / 3.0) / 3.0);
        close(a.avg_los, 26.0 / 3.0);
        assert_eq!(a.total_cost, 27000);
        assert_eq!(a.avg_cost, 9000);
        close(a.self_pay_ratio, 3800.0 / 27000.0);
        close(a.out_of_scope_ratio, 1500.0 / 27000.0);
        assert_eq!(a.deaths, 1);
        assert_eq!(a.low_risk_cases, 0);
        assert_eq!(a.low_risk_mortality, None);
        close(a.fund_coverage.unwrap(), 1.0);

        let b = &ind.get(Dim::Institution(1), p).unwrap().v;
        assert_eq!(b.cases, 3);
        close(b.group_in_rate, 2.0 / 3.0);
        close(b.cmi, 1.25);
        close(b.cost_index, 0.625);
        close(b.time_index, (0.6 + 4.0 / 3.0) / 2.0);
        close(b.transfer_rate, 1.0 / 3.0);
        assert_eq!(b.avg_cost, 3667); // 11000 / 3 = 3666.67, half up
        close(b.fund_coverage.unwrap(), 0.0);

        let r = &ind.get(Dim::Region, p).unwrap().v;
        assert_eq!(r.cases, 6);
        close(r.cost_index, 1.0);
        close(r.time_index, 1.0);
        close(r.cmi, 7.0 / 5.0);
        // Fund of grouped cases in DRG/DIP-paid institutions / all fund.
        close(r.fund_coverage.unwrap(), 23200.0 / 33000.0);

        // Levels: 三级 = A, 二级 = B.
        assert_eq!(ind.get(Dim::Level(0), p).unwrap().v, *a);
        assert_eq!(ind.get(Dim::Level(1), p).unwrap().v, *b);
        // DRG X across the region: cost index 1 by construction.
        let x = &ind.get(Dim::Group(0), p).unwrap().v;
        assert_eq!(x.cases, 3);
        close(x.cost_index, 1.0);
    }
    // Year on year: A had one case (9000) in March 2024.
    let row = ind
        .get(Dim::Institution(0), Period::month(2025, 3))
        .unwrap();
    let prev = row.prev.as_ref().unwrap();
    assert_eq!(prev.cases, 1);
    assert_eq!(prev.avg_cost, 9000);
    close(prev.cost_index, 1.0);
    assert!(ind
        .get(Dim::Institution(1), Period::month(2025, 3))
        .unwrap()
        .prev
        .is_none());
    // Group cost growth: X average 2025-03 = 32000/3 → 10667 vs 9000 in 2024-03.
    let x = ind.get(Dim::Group(0), Period::year(2025)).unwrap();
    close(
        monitor::indicators::change(
            x.v.avg_cost as f64,
            x.prev.as_ref().map(|p| p.avg_cost as f64),
        )
        .unwrap(),
        10667.0 / 9000.0 - 1.0,
    );
    // Institution coverage: A paid by DRG/DIP, B not.
    assert_eq!(
        ind.institution_coverage,
        vec![(2024, Some(1.0)), (2025, Some(0.5))]
    );
}

#[test]
fn low_risk_mortality_counts_deaths_in_low_risk_groups() {
    let mut data = region();
    // Move a3 (a death) into W, the low-risk group.
    data.cases[2].drg = 3;
    let ind = compute(&data, &[2.0, 0.5, 1.0, 0.1]);
    let a = &ind.get(Dim::Institution(0), Period::year(2025)).unwrap().v;
    assert_eq!((a.low_risk_cases, a.low_risk_deaths), (1, 1));
    assert_eq!(a.low_risk_mortality, Some(1.0));
    let r = &ind.get(Dim::Region, Period::year(2025)).unwrap().v;
    assert_eq!(r.low_risk_mortality, Some(1.0));
}

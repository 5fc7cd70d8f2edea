//! Property tests on random regions: exactness to the fen, determinism, and the
//! prepayment + quarterly + annual identity.

use std::collections::BTreeMap;

use claims::Fen;
use proptest::prelude::*;
use settle::statement;
use settle::{
    build_budget, settle, CaseRow, HistoryRow, HospitalInputs, Insurance, Key, Ledger, Method, Pts,
    SettleParams, SubCategory,
};

#[derive(Clone, Debug)]
struct GenCase {
    inst: usize,
    resident: bool,
    month: u8,
    method: usize,
    points: i64,
    total: i64,
    fund_pct: i64,
}

fn case() -> impl Strategy<Value = GenCase> {
    (
        0usize..5,
        any::<bool>(),
        1u8..=12,
        0usize..5,
        0i64..2_000_000,
        0i64..50_000_000,
        0i64..=100,
    )
        .prop_map(
            |(inst, resident, month, method, points, total, fund_pct)| GenCase {
                inst,
                resident,
                month,
                method,
                points,
                total,
                fund_pct,
            },
        )
}

fn ins(resident: bool) -> Insurance {
    if resident {
        Insurance::Resident
    } else {
        Insurance::Employee
    }
}

/// A region: history for the budget and this year's cases; every line gets one
/// case with points in every quarter so that every budget can be settled.
/// History rows: (hospital, resident, total fen, fund %).
type History = Vec<(usize, bool, i64, i64)>;

fn region() -> impl Strategy<Value = (History, Vec<GenCase>, Vec<i64>, bool)> {
    (
        proptest::collection::vec(
            (0usize..5, any::<bool>(), 1i64..10_000_000_000, 0i64..=100),
            1..12,
        ),
        proptest::collection::vec(case(), 0..120),
        proptest::collection::vec(0i64..=100, 5),
        any::<bool>(),
    )
}

fn run(
    history: &[(usize, bool, i64, i64)],
    cases: &[GenCase],
    scores: &[i64],
    split: bool,
    reverse: bool,
) -> (settle::Budget, settle::Settlement, Ledger) {
    run_with(SettleParams::builtin(), history, cases, scores, split, reverse, &[])
}

/// Outpatient history rows (budgeted, never settled by points): (hospital, resident, total fen).
type Outpatient = [(usize, bool, i64)];

fn run_with(
    mut p: SettleParams,
    history: &[(usize, bool, i64, i64)],
    cases: &[GenCase],
    scores: &[i64],
    split: bool,
    reverse: bool,
    outpatient: &Outpatient,
) -> (settle::Budget, settle::Settlement, Ledger) {
    p.budget.split_by_class = split;
    let class = |i: usize| {
        if i.is_multiple_of(2) {
            "三级"
        } else {
            "二级"
        }
    };
    let hist: Vec<HistoryRow> = history
        .iter()
        .map(|(i, r, total, pct)| HistoryRow {
            institution_id: format!("H{i}"),
            class: class(*i).into(),
            insurance: ins(*r),
            category: SubCategory::Inpatient,
            total_cost: Fen(*total),
            fund_paid: Fen(total * pct / 100),
        })
        .chain(outpatient.iter().map(|(i, r, total)| HistoryRow {
            institution_id: format!("H{i}"),
            class: class(*i).into(),
            insurance: ins(*r),
            category: SubCategory::GeneralOutpatient,
            total_cost: Fen(*total),
            fund_paid: Fen(total / 2),
        }))
        .collect();
    let budget = build_budget(&p.budget, 2025, &hist).expect("budget");
    // Cases of lines without history have no budget (settling them is refused, see
    // `cases_without_a_budget_line_are_refused`): keep the cases of budgeted lines.
    let line_of = |c: &GenCase| Key::new(ins(c.resident), SubCategory::Inpatient, if split { class(c.inst) } else { "" });
    let mut all: Vec<GenCase> = cases.iter().filter(|c| budget.line(&line_of(c)).is_some()).cloned().collect();
    // One case with points in every quarter of every budget line, at its first institution.
    for l in budget.lines.iter().filter(|l| !l.key.category.outpatient()) {
        let inst = history
            .iter()
            .find(|h| ins(h.1) == l.key.insurance && (!split || class(h.0) == l.key.class))
            .unwrap()
            .0;
        for q in 0..4u8 {
            all.push(GenCase {
                inst,
                resident: l.key.insurance == Insurance::Resident,
                month: q * 3 + 1,
                method: 0,
                points: 10_000,
                total: 100_000,
                fund_pct: 70,
            });
        }
    }
    if reverse {
        all.reverse();
    }
    let mut ledger = Ledger::new();
    let ids: Vec<String> = (0..5).map(|i| format!("H{i}")).collect();
    for c in &all {
        ledger.add_case(&CaseRow {
            institution_id: &ids[c.inst],
            key: Key::new(
                ins(c.resident),
                SubCategory::Inpatient,
                if split { class(c.inst) } else { "" },
            ),
            month: c.month,
            group: ["A01", "B02", "C03"][c.method % 3],
            method: Method::ALL[c.method],
            points: Pts(c.points),
            total_cost: Fen(c.total),
            fund_paid: Fen(c.total * c.fund_pct / 100),
        });
    }
    let inputs = HospitalInputs {
        scores: scores
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("H{i}"), rust_decimal::Decimal::from(*s)))
            .collect(),
        fund_shares: BTreeMap::new(),
    };
    let s = settle(&p, &budget, &ledger, &inputs).expect("settles");
    (budget, s, ledger)
}

fn all_statements(b: &settle::Budget, s: &settle::Settlement, l: &Ledger) -> Vec<u8> {
    let rate = SettleParams::builtin().deposit.rate;
    let mut out = Vec::new();
    for h in &s.hospitals {
        out.extend(statement::hospital_csv(s, rate, &h.institution_id).into_bytes());
        out.extend(statement::hospital_xlsx(s, rate, &h.institution_id).unwrap());
    }
    out.extend(statement::summary_table(b, s).to_csv().into_bytes());
    out.extend(statement::point_values_table(s).to_csv().into_bytes());
    out.extend(
        statement::simulation_table(s.year, &settle::simulate::simulate(l, s))
            .to_csv()
            .into_bytes(),
    );
    out
}

#[test]
fn cases_without_a_budget_line_are_refused() {
    let p = SettleParams::builtin();
    let hist = vec![HistoryRow {
        institution_id: "H1".into(),
        class: String::new(),
        insurance: Insurance::Employee,
        category: SubCategory::Inpatient,
        total_cost: Fen(1_000_000),
        fund_paid: Fen(700_000),
    }];
    let budget = build_budget(&p.budget, 2025, &hist).expect("budget");
    let mut ledger = Ledger::new();
    ledger.add_case(&CaseRow {
        institution_id: "H1",
        key: Key::new(Insurance::Resident, SubCategory::Inpatient, ""),
        month: 3,
        group: "A01",
        method: Method::Drg,
        points: Pts(1_000_000),
        total_cost: Fen(500_000),
        fund_paid: Fen(300_000),
    });
    let e = settle(&p, &budget, &ledger, &HospitalInputs::default()).unwrap_err().to_string();
    assert!(e.contains("居民/住院: 1 cases (100.0000 points) but no budget line"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn settlements_add_up_to_the_budget_every_quarter_and_year((history, cases, scores, split) in region()) {
        let (b, s, _) = run(&history, &cases, &scores, split, false);
        for l in &b.lines {
            for q in 1..=4u8 {
                let sum: Fen = s.quarters.iter().filter(|r| r.key == l.key && r.period == q).map(|r| r.amount).sum();
                prop_assert_eq!(sum, l.quarters[usize::from(q - 1)], "{} Q{}", l.key, q);
            }
            let sum: Fen = s.annual.iter().filter(|a| a.year.key == l.key).map(|a| a.year.amount).sum();
            prop_assert_eq!(sum, l.annual, "{} year", l.key);
            prop_assert_eq!(l.quarters.iter().copied().sum::<Fen>(), l.annual);
        }
        for i in &b.insurance {
            let lines: Fen = b.lines.iter().filter(|l| l.key.insurance == i.insurance).map(|l| l.annual).sum();
            prop_assert_eq!(lines, i.net);
        }
        prop_assert!(!s.notes.iter().any(|n| n.contains("unallocated")), "{:?}", s.notes);
    }

    #[test]
    fn prepayments_quarterly_payouts_and_annual_adjustment_make_the_entitlement((history, cases, scores, split) in region()) {
        let (_, s, _) = run(&history, &cases, &scores, split, false);
        for a in &s.annual {
            let (inst, key) = (&a.year.institution_id, &a.year.key);
            let months: Fen = s.months.iter().filter(|m| &m.institution_id == inst && &m.key == key).map(|m| m.prepayment).sum();
            let quarters: Fen = s.quarters.iter().filter(|q| &q.institution_id == inst && &q.key == key).map(|q| q.payout).sum();
            prop_assert_eq!(months + quarters + a.annual_adjustment, a.year.fund_settlement, "{} {}", inst, key);
            // what the hospital finally gets for the line
            prop_assert_eq!(a.final_fund, a.year.fund_settlement + a.risk_sharing - a.deposit_withheld + a.redistributed);
            prop_assert_eq!(a.fund_types.iter().map(|f| f.1).sum::<Fen>(), a.final_fund);
            prop_assert!(a.deposit_withheld >= Fen::ZERO && a.deposit_withheld <= a.deposit_held);
        }
        for m in &s.months {
            prop_assert_eq!(m.deposit + m.prepayment, m.fund_incurred);
        }
        for h in &s.hospitals {
            let finals: Fen = s.annual.iter().filter(|a| a.year.institution_id == h.institution_id).map(|a| a.final_fund).sum();
            prop_assert_eq!(finals, h.total_received);
        }
    }

    /// The budget identity, recomputed here from the rows: for each insurance type,
    /// budget = paid + retained surplus + retained deposits + reserves kept + carried
    /// over, to the fen, over random regions (with outpatient lines) and random
    /// parameters (growth, reserves, deposit rate, bands, clearing rules).
    #[test]
    fn every_yuan_of_the_budget_is_accounted_for(
        (history, cases, scores, split) in region(),
        outpatient in proptest::collection::vec((0usize..5, any::<bool>(), 1i64..1_000_000_000), 0..4),
        growth in -100i64..200, reserves in proptest::collection::vec(0i64..80, 3), deposit in 0i64..200,
        keep1 in 0i64..=100, bear1 in 0i64..=100, band in 1i64..50, rules in (any::<bool>(), any::<bool>()),
    ) {
        use rust_decimal::Decimal;
        let mut p = SettleParams::builtin();
        let pm = |x: i64| Decimal::new(x, 3);
        p.budget.employee.cost_growth = pm(growth);
        p.budget.resident.cost_growth = pm(growth);
        p.budget.employee.fund_revenue_growth = pm(growth.max(0) + 10);
        p.budget.resident.fund_revenue_growth = pm(growth.max(0) + 10);
        p.budget.reserves.risk_adjustment = pm(reserves[0]);
        p.budget.reserves.offsite = pm(reserves[1]);
        p.budget.reserves.sporadic = pm(reserves[2]);
        p.deposit.rate = pm(deposit);
        p.risk_sharing.surplus[0].up_to = Some(Decimal::new(band, 2));
        p.risk_sharing.surplus[0].hospital_keeps = Decimal::new(keep1, 2);
        p.risk_sharing.overrun[0].up_to = Some(Decimal::new(band, 2));
        p.risk_sharing.overrun[0].fund_bears = Decimal::new(bear1, 2);
        let leftover = |b: bool| if b { settle::Leftover::Redistribute } else { settle::Leftover::Reserve };
        p.clearing.recovered_surplus = leftover(rules.0);
        p.clearing.withheld_deposits = leftover(rules.1);
        let (b, s, _) = run_with(p, &history, &cases, &scores, split, false, &outpatient);
        for ib in &b.insurance {
            let ins = ib.insurance;
            let lines: Fen = b.lines.iter().filter(|l| l.key.insurance == ins).map(|l| l.annual).sum();
            let budget = lines + ib.risk_adjustment + ib.offsite + ib.sporadic;
            let rows: Vec<_> = s.annual.iter().filter(|a| a.year.key.insurance == ins).collect();
            let paid: Fen = rows.iter().map(|a| a.year.amount + a.risk_sharing - a.deposit_withheld + a.redistributed).sum();
            let recovered: Fen = rows.iter().map(|a| Fen((-a.risk_sharing.0).max(0))).sum();
            let withheld: Fen = rows.iter().map(|a| a.deposit_withheld).sum();
            let overrun: Fen = rows.iter().map(|a| Fen(a.risk_sharing.0.max(0))).sum();
            let requested: Fen = rows.iter().map(|a| Fen(a.risk_sharing_uncapped.0.max(0))).sum();
            let redistributed: Fen = rows.iter().map(|a| a.redistributed).sum();
            let allocated: Fen = rows.iter().map(|a| a.year.amount).sum();
            let carried = lines - allocated;
            let retained_s = if rules.0 { Fen::ZERO } else { recovered };
            let retained_d = if rules.1 { Fen::ZERO } else { withheld };
            prop_assert_eq!(redistributed, (recovered - retained_s) + (withheld - retained_d), "{:?}", ins);
            let kept = ib.risk_adjustment - overrun + ib.offsite + ib.sporadic;
            prop_assert_eq!(budget, paid + retained_s + retained_d + kept + carried, "{:?}", ins);
            prop_assert!(overrun <= ib.risk_adjustment && overrun <= requested);
            let acc = s.accounts.iter().find(|a| a.insurance == ins).expect("an account per insurance type");
            prop_assert!(acc.holds());
            prop_assert_eq!((acc.budget, acc.paid, acc.carried_over, acc.overrun_paid), (budget, paid, carried, overrun));
            if overrun > Fen::ZERO {
                // Overrun sharing never takes the fund above its budget.
                prop_assert!(acc.final_fund <= acc.fund_budget, "{:?}: final {} fund budget {}", ins, acc.final_fund, acc.fund_budget);
            }
            if overrun < requested {
                prop_assert!(s.notes.iter().any(|n| n.contains("overrun sharing capped")));
            }
            for l in b.lines.iter().filter(|l| l.key.insurance == ins && l.key.category.outpatient()) {
                prop_assert!(acc.carried_lines.iter().any(|(k, v, why)| k == &l.key && *v == l.annual && why.contains("outpatient")));
            }
        }
    }

    #[test]
    fn statements_are_byte_identical_on_rerun_and_case_order((history, cases, scores, split) in region()) {
        let (b1, s1, l1) = run(&history, &cases, &scores, split, false);
        let (b2, s2, l2) = run(&history, &cases, &scores, split, true);
        prop_assert_eq!(&s1, &s2);
        prop_assert!(all_statements(&b1, &s1, &l1) == all_statements(&b2, &s2, &l2));
    }
}

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
    let mut p = SettleParams::builtin();
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
        .collect();
    let budget = build_budget(&p.budget, 2025, &hist).expect("budget");
    let mut all = cases.to_vec();
    // One case with points in every quarter of every budget line, at its first institution.
    for l in &budget.lines {
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
    let s = settle(&p, &budget, &ledger, &inputs);
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
            prop_assert_eq!(a.final_fund, a.year.fund_settlement + a.risk_sharing - a.deposit_withheld);
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

    #[test]
    fn statements_are_byte_identical_on_rerun_and_case_order((history, cases, scores, split) in region()) {
        let (b1, s1, l1) = run(&history, &cases, &scores, split, false);
        let (b2, s2, l2) = run(&history, &cases, &scores, split, true);
        prop_assert_eq!(&s1, &s2);
        prop_assert!(all_statements(&b1, &s1, &l1) == all_statements(&b2, &s2, &l2));
    }
}

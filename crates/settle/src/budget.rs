//! The year's budget (seed 002 chapter 2, §9–§14): from last year's totals per
//! institution and sub-category, grown by the insurance type's factor, less the
//! reserves, split into sub-budgets in proportion to last year, then into quarters,
//! with mid-year adjustments. Every step is recorded in [`Budget::derivation`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use claims::Fen;
use rust_decimal::Decimal;

use crate::alloc::{decimal_weights, largest_remainder, round_fen};
use crate::model::{Insurance, Key, SubCategory};
use crate::params::BudgetParams;

/// Last year's totals of one institution in one sub-category and insurance type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    pub institution_id: String,
    /// Institution class (e.g. level 三级/二级/一级/基层); used when budgets are split by class.
    pub class: String,
    pub insurance: Insurance,
    pub category: SubCategory,
    /// Total medical cost (fund and individual payments).
    pub total_cost: Fen,
    pub fund_paid: Fen,
}

/// Totals per insurance type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsuranceBudget {
    pub insurance: Insurance,
    pub last_year: Fen,
    pub demand: Decimal,
    pub capacity: Decimal,
    pub factor: Decimal,
    /// Last year × factor (统筹区定点机构预算总额 before reserves).
    pub grown: Fen,
    pub risk_adjustment: Fen,
    pub offsite: Fen,
    pub sporadic: Fen,
    /// Grown less reserves: what the sub-budgets share.
    pub net: Fen,
}

/// A recorded mid-year adjustment (seed 002 §14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedAdjustment {
    pub amount: Fen,
    pub from_quarter: u8,
    pub reason: String,
    /// The amount per quarter.
    pub by_quarter: [Fen; 4],
}

/// One sub-budget line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetLine {
    pub key: Key,
    pub last_year: Fen,
    pub last_year_fund: Fen,
    /// Before adjustments.
    pub initial: Fen,
    pub adjustments: Vec<AppliedAdjustment>,
    /// After adjustments; = Σ quarters.
    pub annual: Fen,
    pub quarters: [Fen; 4],
    /// Fund share of the sub-budget at last year's fund ratio (统筹区基金支出预算, §11).
    pub fund_budget: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    pub year: u16,
    pub insurance: Vec<InsuranceBudget>,
    pub lines: Vec<BudgetLine>,
    /// Last year's (total, fund) per institution.
    pub by_institution: BTreeMap<String, (Fen, Fen)>,
    /// Every step with its numbers.
    pub derivation: String,
}

impl Budget {
    pub fn line(&self, key: &Key) -> Option<&BudgetLine> {
        self.lines.iter().find(|l| &l.key == key)
    }
}

/// `1+r` or `1−r` for the derivation text.
fn one_plus(r: Decimal) -> String {
    if r < Decimal::ZERO {
        format!("1−{}", (-r).normalize())
    } else {
        format!("1+{}", r.normalize())
    }
}

fn fen_mul(f: Fen, d: Decimal) -> Fen {
    Fen(round_fen(Decimal::from(f.0) * d))
}

/// A budget that cannot be built: every problem (a history row with negative money or
/// more fund than cost, an adjustment for a line the history does not have, an
/// adjustment that would take a line or a quarter below zero) with where and why.
pub type BudgetError = check::Invalid;

/// Build the budget of `year` from last year's `history`.
///
/// Refused ([`BudgetError`], every problem listed): a history row with a negative
/// total or fund, or a fund above its total; a mid-year adjustment for a line
/// (insurance × category × class) that has no history, since the budget has no such
/// line to adjust; an adjustment that would make a line's annual budget or any of its
/// quarters negative. An insurance type without history simply has no lines.
pub fn build(params: &BudgetParams, year: u16, history: &[HistoryRow]) -> Result<Budget, BudgetError> {
    let mut problems = check::Problems::new();
    for r in history {
        let line = || {
            let class = if r.class.is_empty() { String::new() } else { format!("/{}", r.class) };
            format!("{} {}/{}{class}", r.institution_id, r.insurance.zh(), r.category.zh())
        };
        if r.total_cost < Fen::ZERO || r.fund_paid < Fen::ZERO {
            problems.bad("history", format!("{}: total {}, fund {}", line(), r.total_cost, r.fund_paid), "money must not be negative");
        } else if r.fund_paid > r.total_cost {
            problems.bad(
                "history",
                format!("{}: total {}, fund {}", line(), r.total_cost, r.fund_paid),
                "the fund paid more than the total cost",
            );
        }
    }
    let mut d = String::new();
    let mut last: BTreeMap<Key, (Fen, Fen)> = BTreeMap::new();
    let mut by_institution: BTreeMap<String, (Fen, Fen)> = BTreeMap::new();
    for r in history {
        let class = if params.split_by_class {
            r.class.as_str()
        } else {
            ""
        };
        let e = last
            .entry(Key::new(r.insurance, r.category, class))
            .or_default();
        e.0 = e.0 + r.total_cost;
        e.1 = e.1 + r.fund_paid;
        let e = by_institution.entry(r.institution_id.clone()).or_default();
        e.0 = e.0 + r.total_cost;
        e.1 = e.1 + r.fund_paid;
    }
    for (i, a) in params.adjustments.iter().enumerate() {
        let class = if params.split_by_class { a.class.as_str() } else { "" };
        let key = Key::new(a.insurance, a.category, class);
        if !last.contains_key(&key) {
            let lines: Vec<String> = last.keys().map(ToString::to_string).collect();
            problems.bad(
                format!("budget.adjustments[{i}]"),
                format!("{key} {}", a.amount),
                format!(
                    "there is no budget line {key}: last year's history has no such rows (lines: {})",
                    if lines.is_empty() { "none".to_owned() } else { lines.join(", ") }
                ),
            );
        }
    }
    let _ = writeln!(
        d,
        "budget {year} (seed 002 §9–§14), from {} history rows",
        history.len()
    );
    let res = &params.reserves;
    let mut insurance = Vec::new();
    let mut lines = Vec::new();
    for ins in Insurance::ALL {
        let keys: Vec<(&Key, &(Fen, Fen))> =
            last.iter().filter(|(k, _)| k.insurance == ins).collect();
        if keys.is_empty() {
            continue;
        }
        let g = params.growth(ins);
        let last_year: Fen = keys.iter().map(|(_, v)| v.0).sum();
        let grown = fen_mul(last_year, g.factor());
        let risk_adjustment = fen_mul(grown, res.risk_adjustment);
        let offsite = fen_mul(grown, res.offsite);
        let sporadic = fen_mul(grown, res.sporadic);
        let net = grown - risk_adjustment - offsite - sporadic;
        let z = ins.zh();
        let _ = writeln!(d, "\n[{z}] (§10–§11)");
        let _ = writeln!(
            d,
            "  1. last year's total at designated institutions           {last_year}"
        );
        let _ = writeln!(
            d,
            "  2. demand factor ({})({})({})({}) = {}   (cost growth, price index, new technology, insured growth)",
            one_plus(g.cost_growth),
            one_plus(g.price_index),
            one_plus(g.new_technology),
            one_plus(g.insured_growth),
            g.demand().normalize()
        );
        let _ = writeln!(
            d,
            "     capacity factor {} = {}   (fund revenue growth)",
            one_plus(g.fund_revenue_growth),
            g.capacity().normalize()
        );
        let _ = writeln!(
            d,
            "     factor = min(demand, capacity) = {}",
            g.factor().normalize()
        );
        let _ = writeln!(d, "  3. grown total = {last_year} × {} = {grown}  (rounded half away from zero to the fen)", g.factor().normalize());
        let _ = writeln!(d, "  4. reserves (§10): risk adjustment {} → {risk_adjustment}; off-site {} → {offsite}; sporadic {} → {sporadic}", res.risk_adjustment, res.offsite, res.sporadic);
        let _ = writeln!(d, "  5. net for sub-budgets = {grown} − {risk_adjustment} − {offsite} − {sporadic} = {net}");
        let weights: Vec<i128> = keys
            .iter()
            .map(|(_, v)| i128::from(v.0 .0.max(0)))
            .collect();
        let split = largest_remainder(net.0, &weights).unwrap_or_else(|| {
            // No history at all: split equally.
            largest_remainder(net.0, &vec![1; keys.len()]).expect("non-empty")
        });
        let _ = writeln!(
            d,
            "  6. split in proportion to last year (§12), largest remainder:"
        );
        for ((key, (ly, lyf)), initial) in keys.iter().zip(&split) {
            let initial = Fen(*initial);
            let base_q = largest_remainder(initial.0, &decimal_weights(&params.quarter_shares))
                .unwrap_or_else(|| vec![initial.0, 0, 0, 0]);
            let mut quarters = [
                Fen(base_q[0]),
                Fen(base_q[1]),
                Fen(base_q[2]),
                Fen(base_q[3]),
            ];
            let _ = writeln!(
                d,
                "     {key}: {net} × {ly}/{last_year} → {initial}; quarters {} {} {} {}",
                quarters[0], quarters[1], quarters[2], quarters[3]
            );
            let mut adjustments = Vec::new();
            let mut applied = Vec::new();
            for (ai, a) in params.adjustments.iter().enumerate() {
                let class = if params.split_by_class {
                    a.class.as_str()
                } else {
                    ""
                };
                if a.insurance != ins || a.category != key.category || class != key.class {
                    continue;
                }
                let amount = Fen(round_fen(a.amount * Decimal::ONE_HUNDRED));
                let from = usize::from(a.from_quarter - 1);
                let mut w = decimal_weights(&params.quarter_shares[from..]);
                if w.iter().all(|x| *x == 0) {
                    w = vec![1; w.len()];
                }
                let parts = largest_remainder(amount.0, &w).expect("non-zero weights");
                let mut by_quarter = [Fen::ZERO; 4];
                for (i, p) in parts.iter().enumerate() {
                    by_quarter[from + i] = Fen(*p);
                    quarters[from + i] = quarters[from + i] + Fen(*p);
                }
                let _ = writeln!(
                    d,
                    "     mid-year adjustment (§14) {key}: {amount} from Q{} ({} {} {} {}), reason: {}",
                    a.from_quarter, by_quarter[0], by_quarter[1], by_quarter[2], by_quarter[3], a.reason
                );
                applied.push(ai);
                adjustments.push(AppliedAdjustment {
                    amount,
                    from_quarter: a.from_quarter,
                    reason: a.reason.clone(),
                    by_quarter,
                });
            }
            let annual: Fen = quarters.iter().copied().sum();
            if !applied.is_empty() && (annual < Fen::ZERO || quarters.iter().any(|q| *q < Fen::ZERO)) {
                let which: Vec<String> = applied.iter().map(|i| format!("budget.adjustments[{i}]")).collect();
                let amounts: Vec<String> = adjustments.iter().map(|a| a.amount.to_string()).collect();
                let q: Vec<String> = quarters.iter().enumerate().map(|(i, q)| format!("Q{} {q}", i + 1)).collect();
                problems.bad(
                    which.join(", "),
                    format!("{key} {}", amounts.join(" + ")),
                    format!(
                        "would take the line below zero: initial {initial}, after the adjustment annual {annual}, {}; an adjustment may reduce a line or a quarter at most to 0",
                        q.join(", ")
                    ),
                );
            }
            let fund_budget = if ly.0 > 0 {
                Fen(round_fen(
                    Decimal::from(annual.0) * Decimal::from(lyf.0) / Decimal::from(ly.0),
                ))
            } else {
                Fen::ZERO
            };
            lines.push(BudgetLine {
                key: (*key).clone(),
                last_year: *ly,
                last_year_fund: *lyf,
                initial,
                adjustments,
                annual,
                quarters,
                fund_budget,
            });
        }
        insurance.push(InsuranceBudget {
            insurance: ins,
            last_year,
            demand: g.demand(),
            capacity: g.capacity(),
            factor: g.factor(),
            grown,
            risk_adjustment,
            offsite,
            sporadic,
            net,
        });
    }
    let _ = writeln!(
        d,
        "\n  7. fund budget per line (§11) = annual × last year's fund / last year's total:"
    );
    for l in &lines {
        let _ = writeln!(
            d,
            "     {}: {} × {}/{} = {}",
            l.key, l.annual, l.last_year_fund, l.last_year, l.fund_budget
        );
    }
    problems.finish("budget")?;
    Ok(Budget {
        year,
        insurance,
        lines,
        by_institution,
        derivation: d,
    })
}

/// The budget table as CSV.
pub fn budget_csv(b: &Budget) -> String {
    let mut s = String::from(
        "insurance,category,class,last_year_total,last_year_fund,initial_budget,adjustments,annual_budget,q1,q2,q3,q4,fund_budget,adjustment_reasons\n",
    );
    for l in &b.lines {
        let adj: Fen = l.adjustments.iter().map(|a| a.amount).sum();
        let reasons: Vec<&str> = l.adjustments.iter().map(|a| a.reason.as_str()).collect();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            l.key.insurance.zh(),
            l.key.category.zh(),
            l.key.class,
            l.last_year,
            l.last_year_fund,
            l.initial,
            adj,
            l.annual,
            l.quarters[0],
            l.quarters[1],
            l.quarters[2],
            l.quarters[3],
            l.fund_budget,
            crate::statement::csv_field(&reasons.join("; "))
        );
    }
    s.push_str("\ninsurance,last_year_total,demand_factor,capacity_factor,factor,grown_total,risk_adjustment,offsite,sporadic,net_for_sub_budgets\n");
    for i in &b.insurance {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{}",
            i.insurance.zh(),
            i.last_year,
            i.demand.normalize(),
            i.capacity.normalize(),
            i.factor.normalize(),
            i.grown,
            i.risk_adjustment,
            i.offsite,
            i.sporadic,
            i.net
        );
    }
    s
}

#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)] // yuan_fen: 10_000_000_00 is ten million yuan
mod tests {
    use super::*;
    use crate::params::SettleParams;

    fn row(inst: &str, ins: Insurance, cat: SubCategory, total: i64, fund: i64) -> HistoryRow {
        HistoryRow {
            institution_id: inst.into(),
            class: "三级".into(),
            insurance: ins,
            category: cat,
            total_cost: Fen(total),
            fund_paid: Fen(fund),
        }
    }

    #[test]
    fn budget_reconciles_and_records_adjustments() {
        let mut p = SettleParams::builtin().budget;
        p.adjustments.push(crate::params::Adjustment {
            insurance: Insurance::Resident,
            category: SubCategory::Inpatient,
            class: String::new(),
            amount: "1000.01".parse().unwrap(),
            from_quarter: 3,
            reason: "疫情".into(),
        });
        let h = vec![
            row(
                "A",
                Insurance::Employee,
                SubCategory::Inpatient,
                10_000_000_00,
                7_000_000_00,
            ),
            row(
                "A",
                Insurance::Employee,
                SubCategory::GeneralOutpatient,
                3_000_000_00,
                1_500_000_00,
            ),
            row(
                "B",
                Insurance::Resident,
                SubCategory::Inpatient,
                5_000_000_00,
                3_000_000_00,
            ),
            row(
                "B",
                Insurance::Resident,
                SubCategory::DayCare,
                333_333_33,
                200_000_00,
            ),
        ];
        let b = build(&p, 2025, &h).unwrap();
        for i in &b.insurance {
            let lines: Fen = b
                .lines
                .iter()
                .filter(|l| l.key.insurance == i.insurance)
                .map(|l| l.initial)
                .sum();
            assert_eq!(lines, i.net, "{:?}", i.insurance);
            assert_eq!(i.grown - i.risk_adjustment - i.offsite - i.sporadic, i.net);
        }
        // employee: 13,000,000.00 × 1.035351 = 13,459,563.00
        assert_eq!(b.insurance[0].grown, Fen(13_459_563_00));
        assert_eq!(b.insurance[0].risk_adjustment, Fen(269_191_26));
        for l in &b.lines {
            assert_eq!(l.quarters.iter().copied().sum::<Fen>(), l.annual);
        }
        let l = b
            .line(&Key::new(Insurance::Resident, SubCategory::Inpatient, ""))
            .unwrap();
        assert_eq!(l.annual - l.initial, Fen(1000_01));
        assert_eq!(
            l.adjustments[0].by_quarter,
            [Fen(0), Fen(0), Fen(500_01), Fen(500_00)]
        );
        assert!(b.derivation.contains("reason: 疫情"));
        assert!(budget_csv(&b).contains("居民,住院,"));
    }

    fn adj(ins: Insurance, cat: SubCategory, class: &str, amount: &str, from_quarter: u8) -> crate::params::Adjustment {
        crate::params::Adjustment {
            insurance: ins,
            category: cat,
            class: class.into(),
            amount: amount.parse().unwrap(),
            from_quarter,
            reason: "test".into(),
        }
    }

    #[test]
    fn impossible_adjustments_and_history_are_refused() {
        use Insurance::*;
        use SubCategory::*;
        // Employee inpatient only: 1,000,000.00 last year.
        let h = vec![row("A", Employee, Inpatient, 1_000_000_00, 700_000_00)];
        let ok = |a: Vec<crate::params::Adjustment>, h: &[HistoryRow]| {
            let mut p = SettleParams::builtin().budget;
            p.adjustments = a;
            build(&p, 2025, h)
        };
        // Fine: a cut to exactly zero of Q4, a rise, no resident history at all.
        assert!(ok(vec![adj(Employee, Inpatient, "", "10000", 1)], &h).is_ok());
        let b = ok(vec![], &h).unwrap();
        assert_eq!(b.lines.len(), 1, "no phantom lines");
        let q4 = b.lines[0].quarters[3];
        let cut = format!("-{q4}");
        assert!(ok(vec![adj(Employee, Inpatient, "", &cut, 4)], &h).is_ok());
        let rows: Vec<(Vec<crate::params::Adjustment>, Vec<HistoryRow>, &str)> = vec![
            (vec![adj(Resident, Inpatient, "", "1000", 1)], h.clone(), "budget.adjustments[0] = 居民/住院 1000: there is no budget line 居民/住院: last year's history has no such rows (lines: 职工/住院)"),
            (vec![adj(Employee, DayCare, "", "1000", 1)], h.clone(), "budget.adjustments[0] = 职工/日间医疗 1000: there is no budget line"),
            (vec![adj(Employee, Inpatient, "", "10000", 1), adj(Employee, Inpatient, "", "-5000000", 1)], h.clone(), "budget.adjustments[0], budget.adjustments[1] = 职工/住院 10000.00 + -5000000.00: would take the line below zero"),
            (vec![adj(Employee, Inpatient, "", &format!("-{}", Fen(q4.0 + 1)), 4)], h.clone(), "Q4 -0.01"),
            (vec![], vec![row("A", Employee, Inpatient, 100_00, 200_00)], "history = A 职工/住院/三级: total 100.00, fund 200.00: the fund paid more than the total cost"),
            (vec![], vec![row("A", Employee, Inpatient, -100_00, 0)], "history = A 职工/住院/三级: total -100.00, fund 0.00: money must not be negative"),
        ];
        for (a, h, want) in rows {
            let e = ok(a, &h).expect_err(want).to_string();
            assert!(e.contains(want), "wanted {want:?} in\n{e}");
        }
        // Every problem is listed.
        let e = ok(vec![adj(Resident, Inpatient, "", "1", 1), adj(Employee, Inpatient, "", "-99999999", 2)], &h).unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
    }
}

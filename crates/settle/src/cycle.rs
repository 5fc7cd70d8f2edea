//! The settlement cycle of one year (seed 002 chapter 5, §29–§34; seed 003 二):
//! monthly prepayment less a retained quality deposit, quarterly pre-settlement by
//! point value, annual settlement netted against the quarters, risk sharing
//! (结余留用、合理超支分担), deposit release by assessment score, fund-type shares,
//! and the prepayment fund (预付金). All money in fen; every allocation of a budget
//! is a largest-remainder split, so hospital amounts add up to the budget exactly.

use std::collections::BTreeMap;

use claims::Fen;
use rust_decimal::Decimal;

use crate::alloc::{decimal_weights, largest_remainder, round_fen};
use crate::budget::Budget;
use crate::ledger::{Cell, Ledger, OffsiteTally, WithheldCase};
use crate::model::{Insurance, Key, Pts};
use crate::params::{Leftover, SettleParams};

/// A settlement that cannot be made: it would pay a wrong figure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    #[error(
        "{key}: {cases} cases ({points} points) but no budget line: last year's history has no {key} rows, so there \
         is no budget to settle them from (they would be paid at point value 0); give last year's totals for this \
         line (--history / --history-cases), or check the cases' insurance type and institution class"
    )]
    NoBudgetLine { key: Key, cases: u64, points: Pts },
    #[error("budget identity does not hold for {insurance}: {detail} (a defect: please report it)")]
    Identity { insurance: &'static str, detail: String },
}

/// Places a point value is shown with (the allocation itself is exact).
pub const POINT_VALUE_PLACES: u32 = 6;

/// Per-hospital inputs that do not come from the cases.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HospitalInputs {
    /// Assessment score 0–100 per institution (§48); missing → `deposit.default_score`.
    pub scores: BTreeMap<String, Decimal>,
    /// Fund-type proportions per institution (§34); missing → `fund_types.default`.
    pub fund_shares: BTreeMap<String, Vec<(String, Decimal)>>,
}

/// Monthly prepayment (月度预付, §30).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthRow {
    pub institution_id: String,
    pub key: Key,
    pub month: u8,
    pub cases: u64,
    /// Fund amount the hospital incurred that month.
    pub fund_incurred: Fen,
    /// Retained quality deposit = round(fund × rate).
    pub deposit: Fen,
    /// Paid = fund − deposit.
    pub prepayment: Fen,
}

/// A point value of one budget line and period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointValue {
    pub key: Key,
    /// 1–4 for quarters, 0 for the year.
    pub period: u8,
    pub budget: Fen,
    pub points: Pts,
    /// budget (yuan) / points, shown to [`POINT_VALUE_PLACES`]; `None` without points.
    pub value: Option<Decimal>,
    /// Σ hospital amounts (= budget when there are points).
    pub allocated: Fen,
}

/// A hospital's settlement of one budget line in one period (quarter or year).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodRow {
    pub institution_id: String,
    pub key: Key,
    /// 1–4 for quarters, 0 for the year.
    pub period: u8,
    pub cases: u64,
    pub points_by_method: [Pts; 5],
    pub points: Pts,
    pub point_value: Option<Decimal>,
    /// Settlement amount (结算额度) = points × point value, by largest remainder.
    pub amount: Fen,
    pub total_cost: Fen,
    /// Individual payments (个人负担) = total cost − fund paid.
    pub individual: Fen,
    /// Fund settlement (医保基金结算额度) = amount − individual.
    pub fund_settlement: Fen,
    /// Fund amount incurred in the period (monthly prepayment basis).
    pub fund_incurred: Fen,
    /// Deposit retained from the period's monthly prepayments.
    pub deposit: Fen,
    /// Monthly prepayments made for the period.
    pub prepaid: Fen,
    /// Quarter: fund settlement − deposit − prepaid. Year: see [`AnnualRow`].
    pub payout: Fen,
}

/// The annual settlement of a hospital in one budget line (§32–§34).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnualRow {
    pub year: PeriodRow,
    /// Σ monthly prepayments.
    pub prepaid_months: Fen,
    /// Σ quarterly payouts.
    pub quarterly_payouts: Fen,
    /// Annual adjustment = annual fund settlement − prepaid − quarterly payouts
    /// (includes the deposit, still held).
    pub annual_adjustment: Fen,
    /// Entitlement − actual cost: > 0 surplus, < 0 overrun.
    pub balance: Fen,
    /// Risk-sharing amount: negative = recovered from a surplus, positive = the
    /// fund's share of an overrun (paid from the risk adjustment fund), after the cap.
    pub risk_sharing: Fen,
    /// The risk-sharing amount the bands give, before the overrun cap.
    pub risk_sharing_uncapped: Fen,
    /// Deposit held over the year.
    pub deposit_held: Fen,
    pub score: Decimal,
    pub release_fraction: Decimal,
    pub deposit_released: Fen,
    /// Deposit not released (deducted).
    pub deposit_withheld: Fen,
    /// The hospital's share (by annual points) of the line's recovered surplus and
    /// withheld deposits, when the clearing rule redistributes them.
    pub redistributed: Fen,
    /// Final fund cost of the line = fund settlement + risk sharing − deposit
    /// withheld + redistributed.
    pub final_fund: Fen,
    /// `final_fund` split by fund type (§34).
    pub fund_types: Vec<(String, Fen)>,
}

/// A hospital's year across its budget lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HospitalYear {
    pub institution_id: String,
    /// Prepayment fund paid at the start of the year (预付金) = round(last year's fund × months / 12).
    pub prepayment_fund: Fen,
    /// Σ annual adjustments + risk sharing − deposit withheld + redistributed −
    /// prepayment fund recovered.
    pub annual_payout: Fen,
    /// Everything the hospital received for the year, net of the prepayment fund
    /// (= Σ final_fund).
    pub total_received: Fen,
}

/// Where every yuan of one insurance type's budget went (the budget identity):
///
/// `budget = paid + retained_surplus + retained_deposits + reserves_kept + carried_over`
///
/// to the fen, where `paid` = Σ (amount + risk sharing − deposit withheld +
/// redistributed) over the hospitals (what they are settled, fund and individual
/// payments together) and `reserves_kept` = risk adjustment − overrun paid + off-site
/// + sporadic reserves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub insurance: Insurance,
    /// Σ sub-budget lines (after mid-year adjustments) + reserves.
    pub budget: Fen,
    /// Σ sub-budget lines.
    pub lines: Fen,
    /// Σ annual settlement amounts (lines with points).
    pub allocated: Fen,
    /// Budget of lines settled by no points, with the reason per line.
    pub carried_over: Fen,
    pub carried_lines: Vec<(Key, Fen, &'static str)>,
    /// Surplus recovered by risk sharing (as a positive amount).
    pub recovered_surplus: Fen,
    /// Quality deposits not released.
    pub deposits_withheld: Fen,
    /// Recovered surplus and withheld deposits given back by points.
    pub redistributed: Fen,
    /// Recovered surplus kept by the fund (rule `reserve`).
    pub retained_surplus: Fen,
    /// Withheld deposits kept by the fund (rule `reserve`).
    pub retained_deposits: Fen,
    /// The fund's overrun shares the bands give, before the cap.
    pub overrun_requested: Fen,
    /// The cap: min(risk adjustment reserve, fund budget headroom).
    pub overrun_cap: Fen,
    /// Overrun shares paid (≤ cap).
    pub overrun_paid: Fen,
    pub risk_reserve: Fen,
    pub offsite_reserve: Fen,
    pub sporadic_reserve: Fen,
    /// risk reserve − overrun paid + off-site + sporadic reserves.
    pub reserves_kept: Fen,
    /// Σ (amount + risk sharing − deposit withheld + redistributed).
    pub paid: Fen,
    /// Fund budget of the settled lines + the fund's part of the risk reserve.
    pub fund_budget: Fen,
    /// Σ final fund.
    pub final_fund: Fen,
    /// Lines a reader must see: when a cap binds, when the fund budget is exceeded.
    pub notes: Vec<String>,
}

impl Account {
    /// Σ of the right-hand side of the identity.
    pub fn accounted(&self) -> Fen {
        self.paid + self.retained_surplus + self.retained_deposits + self.reserves_kept + self.carried_over
    }

    pub fn holds(&self) -> bool {
        self.budget == self.accounted()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub year: u16,
    pub months: Vec<MonthRow>,
    pub point_values: Vec<PointValue>,
    pub quarters: Vec<PeriodRow>,
    pub annual: Vec<AnnualRow>,
    pub hospitals: Vec<HospitalYear>,
    /// The budget identity per insurance type.
    pub accounts: Vec<Account>,
    /// Cases withheld by QC: not settled, listed with what they would get.
    pub withheld: Vec<WithheldCase>,
    /// Off-site cases and whether they were settled here.
    pub offsite: OffsiteTally,
    /// The clearing rules applied (recovered surplus, withheld deposits).
    pub clearing: (Leftover, Leftover),
    /// Things a reader must know (budgets without points, caps that bind).
    pub notes: Vec<String>,
}

impl Settlement {
    /// The annual point value of a line.
    pub fn annual_point_value(&self, key: &Key) -> Option<Decimal> {
        self.point_values.iter().find(|p| p.period == 0 && &p.key == key).and_then(|p| p.value)
    }
}

fn quarter_of(month: u8) -> u8 {
    (month - 1) / 3 + 1
}

fn fen_mul(f: Fen, d: Decimal) -> Fen {
    Fen(round_fen(Decimal::from(f.0) * d))
}

fn point_value(budget: Fen, points: Pts) -> Option<Decimal> {
    if points.0 <= 0 {
        return None;
    }
    // yuan / points = (fen/100) / (units/10⁴) = fen × 100 / units
    let v = Decimal::from(budget.0) * Decimal::ONE_HUNDRED / Decimal::from(points.0);
    Some(v.round_dp_with_strategy(
        POINT_VALUE_PLACES,
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    ))
}

/// Allocate `budget` over hospitals by points. Returns the amounts (in the
/// order of `cells`) and the point value. Without points nothing is allocated.
fn allocate(budget: Fen, cells: &[(&String, Cell)]) -> (Vec<Fen>, Option<Decimal>, Pts) {
    let pts: Vec<i128> = cells
        .iter()
        .map(|(_, c)| i128::from(c.total_points().0.max(0)))
        .collect();
    let total = Pts(cells.iter().map(|(_, c)| c.total_points().0.max(0)).sum());
    match largest_remainder(budget.0, &pts) {
        Some(parts) if total.0 > 0 => (
            parts.into_iter().map(Fen).collect(),
            point_value(budget, total),
            total,
        ),
        _ => (vec![Fen::ZERO; cells.len()], None, total),
    }
}

/// Risk sharing of one balance (entitlement − cost) given the entitlement (§33).
pub fn risk_sharing(params: &SettleParams, entitlement: Fen, balance: Fen) -> Fen {
    let base = Decimal::from(entitlement.0.max(0));
    let amount = Decimal::from(balance.0.abs());
    let mut lower = Decimal::ZERO;
    let mut r = Decimal::ZERO;
    let bands: Vec<(Option<Decimal>, Decimal)> = if balance.0 >= 0 {
        params
            .risk_sharing
            .surplus
            .iter()
            .map(|b| (b.up_to, Decimal::ONE - b.hospital_keeps))
            .collect()
    } else {
        params
            .risk_sharing
            .overrun
            .iter()
            .map(|b| (b.up_to, b.fund_bears))
            .collect()
    };
    for (up_to, share) in bands {
        let lo = lower * base;
        let hi = up_to.map(|u| u * base);
        let top = hi.map_or(amount, |h| amount.min(h));
        if top > lo {
            r += (top - lo) * share;
        }
        if let Some(u) = up_to {
            lower = u;
        }
    }
    let r = Fen(round_fen(r));
    if balance.0 >= 0 {
        Fen(-r.0)
    } else {
        r
    }
}

/// Settle the year. Refused when cases fall on a line without budget; the
/// budget identity of every insurance type is checked before returning.
pub fn settle(
    params: &SettleParams,
    budget: &Budget,
    ledger: &Ledger,
    inputs: &HospitalInputs,
) -> Result<Settlement, SettleError> {
    let mut notes = Vec::new();
    let rate = params.deposit.rate;

    // Monthly prepayments.
    let mut months = Vec::new();
    for ((inst, key, month), c) in &ledger.cells {
        let deposit = fen_mul(c.fund_paid, rate);
        months.push(MonthRow {
            institution_id: inst.clone(),
            key: key.clone(),
            month: *month,
            cases: c.cases,
            fund_incurred: c.fund_paid,
            deposit,
            prepayment: c.fund_paid - deposit,
        });
    }

    // Aggregate per (key, period, institution); prepaid/deposit per (inst, key, quarter).
    let mut by_q: BTreeMap<(Key, u8), BTreeMap<&String, Cell>> = BTreeMap::new();
    let mut by_y: BTreeMap<Key, BTreeMap<&String, Cell>> = BTreeMap::new();
    let mut paid_q: BTreeMap<(&String, &Key, u8), (Fen, Fen)> = BTreeMap::new();
    for (((inst, key, month), c), m) in ledger.cells.iter().zip(&months) {
        let q = quarter_of(*month);
        by_q.entry((key.clone(), q))
            .or_default()
            .entry(inst)
            .or_default()
            .merge(c);
        by_y.entry(key.clone())
            .or_default()
            .entry(inst)
            .or_default()
            .merge(c);
        let e = paid_q.entry((inst, key, q)).or_default();
        e.0 = e.0 + m.deposit;
        e.1 = e.1 + m.prepayment;
    }
    for (key, cells) in &by_y {
        if budget.line(key).is_none() {
            let cases = cells.values().map(|c| c.cases).sum();
            let points = cells.values().map(|c| c.total_points()).sum();
            return Err(SettleError::NoBudgetLine { key: key.clone(), cases, points });
        }
    }

    let mut point_values = Vec::new();
    let mut quarters = Vec::new();
    let period_row =
        |inst: &String, key: &Key, period: u8, c: &Cell, amount: Fen, pv: Option<Decimal>| {
            PeriodRow {
                institution_id: inst.clone(),
                key: key.clone(),
                period,
                cases: c.cases,
                points_by_method: c.points,
                points: c.total_points(),
                point_value: pv,
                amount,
                total_cost: c.total_cost,
                individual: c.individual(),
                fund_settlement: amount - c.individual(),
                fund_incurred: c.fund_paid,
                deposit: Fen::ZERO,
                prepaid: Fen::ZERO,
                payout: Fen::ZERO,
            }
        };
    // Budget lines in key order, with quarters; lines with budget but no cases too.
    let mut keys: Vec<Key> = budget.lines.iter().map(|l| l.key.clone()).collect();
    keys.extend(by_y.keys().cloned());
    keys.sort();
    keys.dedup();
    for key in &keys {
        let line = budget.line(key);
        for q in 1..=4u8 {
            let b = line.map_or(Fen::ZERO, |l| l.quarters[usize::from(q - 1)]);
            let cells: Vec<(&String, Cell)> = by_q
                .get(&(key.clone(), q))
                .map(|m| m.iter().map(|(i, c)| (*i, *c)).collect())
                .unwrap_or_default();
            let (amounts, pv, total) = allocate(b, &cells);
            let allocated: Fen = amounts.iter().copied().sum();
            if allocated != b {
                notes.push(format!(
                    "{key} Q{q}: budget {b} has no points to settle; {} left unallocated",
                    b - allocated
                ));
            }
            point_values.push(PointValue {
                key: key.clone(),
                period: q,
                budget: b,
                points: total,
                value: pv,
                allocated,
            });
            for ((inst, c), amount) in cells.iter().zip(amounts) {
                let mut r = period_row(inst, key, q, c, amount, pv);
                let (dep, pre) = paid_q.get(&(*inst, key, q)).copied().unwrap_or_default();
                r.deposit = dep;
                r.prepaid = pre;
                r.payout = r.fund_settlement - dep - pre;
                quarters.push(r);
            }
        }
    }

    // Annual settlement, pass 1: amounts, adjustments, uncapped risk sharing, deposits.
    let mut q_sums: BTreeMap<(&str, &Key), (Fen, Fen, Fen)> = BTreeMap::new(); // deposit, prepaid, payouts
    for r in &quarters {
        let e = q_sums
            .entry((r.institution_id.as_str(), &r.key))
            .or_default();
        e.0 = e.0 + r.deposit;
        e.1 = e.1 + r.prepaid;
        e.2 = e.2 + r.payout;
    }
    let mut annual = Vec::new();
    let mut allocated_by_key: BTreeMap<&Key, Fen> = BTreeMap::new();
    for key in &keys {
        let b = budget.line(key).map_or(Fen::ZERO, |l| l.annual);
        let cells: Vec<(&String, Cell)> = by_y
            .get(key)
            .map(|m| m.iter().map(|(i, c)| (*i, *c)).collect())
            .unwrap_or_default();
        let (amounts, pv, total) = allocate(b, &cells);
        let allocated: Fen = amounts.iter().copied().sum();
        allocated_by_key.insert(key, allocated);
        if allocated != b {
            notes.push(format!(
                "{key} year: budget {b} has no points to settle; {} carried over (not settled by points)",
                b - allocated
            ));
        }
        point_values.push(PointValue {
            key: key.clone(),
            period: 0,
            budget: b,
            points: total,
            value: pv,
            allocated,
        });
        for ((inst, c), amount) in cells.iter().zip(amounts) {
            let mut y = period_row(inst, key, 0, c, amount, pv);
            let (dep, pre, qp) = q_sums
                .get(&(inst.as_str(), key))
                .copied()
                .unwrap_or_default();
            y.deposit = dep;
            y.prepaid = pre;
            let annual_adjustment = y.fund_settlement - pre - qp;
            y.payout = annual_adjustment;
            let balance = y.amount - y.total_cost;
            let rs = risk_sharing(params, y.amount, balance);
            let score = inputs
                .scores
                .get(inst.as_str())
                .copied()
                .unwrap_or(params.deposit.default_score);
            let fraction = params.deposit.release_fraction(score);
            let released = fen_mul(dep, fraction);
            let withheld = dep - released;
            annual.push(AnnualRow {
                year: y,
                prepaid_months: pre,
                quarterly_payouts: qp,
                annual_adjustment,
                balance,
                risk_sharing: rs,
                risk_sharing_uncapped: rs,
                deposit_held: dep,
                score,
                release_fraction: fraction,
                deposit_released: released,
                deposit_withheld: withheld,
                redistributed: Fen::ZERO,
                final_fund: Fen::ZERO,
                fund_types: Vec::new(),
            });
        }
    }
    annual.sort_by(|a, b| {
        (&a.year.institution_id, &a.year.key).cmp(&(&b.year.institution_id, &b.year.key))
    });

    // Pass 2: the clearing rule — recovered surplus and withheld deposits of each
    // line given back over the line's hospitals by annual points, or kept.
    let (rule_surplus, rule_deposit) = (params.clearing.recovered_surplus, params.clearing.withheld_deposits);
    // Lines whose pot could not be given back (no points): the fund keeps it.
    let mut kept_lines: std::collections::BTreeSet<&Key> = std::collections::BTreeSet::new();
    for key in &keys {
        let idx: Vec<usize> = (0..annual.len()).filter(|&i| &annual[i].year.key == key).collect();
        let mut pot = Fen::ZERO;
        for &i in &idx {
            let a = &annual[i];
            if rule_surplus == Leftover::Redistribute {
                pot = pot + Fen((-a.risk_sharing.0).max(0));
            }
            if rule_deposit == Leftover::Redistribute {
                pot = pot + a.deposit_withheld;
            }
        }
        if pot.0 == 0 {
            continue;
        }
        let w: Vec<i128> = idx.iter().map(|&i| i128::from(annual[i].year.points.0.max(0))).collect();
        if let Some(parts) = largest_remainder(pot.0, &w) {
            for (&i, p) in idx.iter().zip(parts) {
                annual[i].redistributed = Fen(p);
            }
            notes.push(format!(
                "{key}: {pot} (recovered surplus: {}, withheld deposits: {}) given back over the line's hospitals by annual points (seed 003 二(一))",
                rule_surplus.as_str(),
                rule_deposit.as_str()
            ));
        } else {
            kept_lines.insert(key);
            notes.push(format!("{key}: {pot} to give back but the line has no points; kept by the fund"));
        }
    }

    // Pass 3, per insurance type: cap the fund's overrun shares by the risk
    // adjustment reserve and by the fund budget; then the accounts.
    let mut accounts = Vec::new();
    for ib in &budget.insurance {
        let ins = ib.insurance;
        let lines: Vec<_> = budget.lines.iter().filter(|l| l.key.insurance == ins).collect();
        let idx: Vec<usize> = (0..annual.len()).filter(|&i| annual[i].year.key.insurance == ins).collect();
        let requested: Fen = idx.iter().map(|&i| Fen(annual[i].risk_sharing.0.max(0))).sum();
        // Fund budget of the lines that were settled by points, and the fund's part of
        // the risk adjustment reserve (at last year's fund share of the insurance type).
        let settled = |k: &Key| allocated_by_key.get(k).is_some_and(|a| a.0 != 0);
        let fb_lines: Fen = lines.iter().filter(|l| settled(&l.key)).map(|l| l.fund_budget).sum();
        let (ly, lyf) = lines.iter().fold((Fen::ZERO, Fen::ZERO), |(t, f), l| (t + l.last_year, f + l.last_year_fund));
        let risk_fund = if ly.0 > 0 {
            Fen(round_fen(Decimal::from(ib.risk_adjustment.0) * Decimal::from(lyf.0) / Decimal::from(ly.0)))
        } else {
            Fen::ZERO
        };
        let fund_budget = fb_lines + risk_fund;
        let before: Fen = idx
            .iter()
            .map(|&i| {
                let a = &annual[i];
                a.year.fund_settlement + Fen(a.risk_sharing.0.min(0)) - a.deposit_withheld + a.redistributed
            })
            .sum();
        let headroom = Fen((fund_budget - before).0.max(0));
        let cap = Fen(ib.risk_adjustment.0.min(headroom.0));
        let mut acc_notes = Vec::new();
        if before > fund_budget {
            acc_notes.push(format!(
                "{}: the fund pays {before} before overrun sharing, {} above its fund budget {fund_budget} (individual payments below last year's share; seed 002 §35 allows adjusting the fund budget)",
                ins.zh(),
                before - fund_budget
            ));
        }
        let mut paid_overrun = requested;
        if requested > cap {
            let over: Vec<usize> = idx.iter().copied().filter(|&i| annual[i].risk_sharing.0 > 0).collect();
            let w: Vec<i128> = over.iter().map(|&i| i128::from(annual[i].risk_sharing.0)).collect();
            let parts = largest_remainder(cap.0, &w).unwrap_or_else(|| vec![0; over.len()]);
            for (&i, p) in over.iter().zip(parts) {
                annual[i].risk_sharing = Fen(p);
            }
            paid_overrun = cap;
            let which = if ib.risk_adjustment.0 <= headroom.0 {
                format!("the risk adjustment reserve {}", ib.risk_adjustment)
            } else {
                format!("the fund budget headroom {headroom} = fund budget {fund_budget} − fund paid before overrun sharing {before}")
            };
            acc_notes.push(format!(
                "{}: overrun sharing capped — the bands give {requested}, the cap is {cap} ({which}); each hospital's share scaled by largest remainder",
                ins.zh()
            ));
        }
        let mut acc = Account {
            insurance: ins,
            budget: Fen::ZERO,
            lines: lines.iter().map(|l| l.annual).sum(),
            allocated: Fen::ZERO,
            carried_over: Fen::ZERO,
            carried_lines: Vec::new(),
            recovered_surplus: Fen::ZERO,
            deposits_withheld: Fen::ZERO,
            redistributed: Fen::ZERO,
            retained_surplus: Fen::ZERO,
            retained_deposits: Fen::ZERO,
            overrun_requested: requested,
            overrun_cap: cap,
            overrun_paid: paid_overrun,
            risk_reserve: ib.risk_adjustment,
            offsite_reserve: ib.offsite,
            sporadic_reserve: ib.sporadic,
            reserves_kept: ib.risk_adjustment - paid_overrun + ib.offsite + ib.sporadic,
            paid: Fen::ZERO,
            fund_budget,
            final_fund: Fen::ZERO,
            notes: acc_notes,
        };
        acc.budget = acc.lines + ib.risk_adjustment + ib.offsite + ib.sporadic;
        for l in &lines {
            let alloc = allocated_by_key.get(&l.key).copied().unwrap_or_default();
            acc.allocated = acc.allocated + alloc;
            if alloc != l.annual {
                let why = if l.key.category.outpatient() {
                    "not settled by points (outpatient sub-budget: settlement lists are inpatient)"
                } else {
                    "no points in the year"
                };
                acc.carried_over = acc.carried_over + (l.annual - alloc);
                acc.carried_lines.push((l.key.clone(), l.annual - alloc, why));
            }
        }
        for &i in &idx {
            let a = &mut annual[i];
            a.final_fund = a.year.fund_settlement + a.risk_sharing - a.deposit_withheld + a.redistributed;
            let recovered = Fen((-a.risk_sharing.0).max(0));
            acc.recovered_surplus = acc.recovered_surplus + recovered;
            acc.deposits_withheld = acc.deposits_withheld + a.deposit_withheld;
            acc.redistributed = acc.redistributed + a.redistributed;
            let kept = kept_lines.contains(&a.year.key);
            if rule_surplus == Leftover::Reserve || kept {
                acc.retained_surplus = acc.retained_surplus + recovered;
            }
            if rule_deposit == Leftover::Reserve || kept {
                acc.retained_deposits = acc.retained_deposits + a.deposit_withheld;
            }
            acc.paid = acc.paid + a.year.amount + a.risk_sharing - a.deposit_withheld + a.redistributed;
            acc.final_fund = acc.final_fund + a.final_fund;
        }
        if !acc.holds() {
            return Err(SettleError::Identity {
                insurance: ins.zh(),
                detail: format!("budget {} but {} accounted for", acc.budget, acc.accounted()),
            });
        }
        notes.extend(acc.notes.iter().cloned());
        accounts.push(acc);
    }

    // Pass 4: fund types (§34).
    for a in &mut annual {
        let inst = a.year.institution_id.as_str();
        let shares = inputs
            .fund_shares
            .get(inst)
            .unwrap_or(&params.fund_types.default);
        let w = decimal_weights(
            &shares
                .iter()
                .map(|s| s.1.max(Decimal::ZERO))
                .collect::<Vec<_>>(),
        );
        let final_fund = a.final_fund;
        let parts = largest_remainder(final_fund.0, &w).unwrap_or_else(|| {
            let mut v = vec![0; shares.len()];
            if let Some(f) = v.first_mut() {
                *f = final_fund.0;
            }
            v
        });
        a.fund_types = shares
            .iter()
            .zip(parts)
            .map(|(s, p)| (s.0.clone(), Fen(p)))
            .collect();
    }

    // Per hospital: prepayment fund and the year's net.
    let mut hosp: BTreeMap<&str, (Fen, Fen)> = BTreeMap::new();
    for a in &annual {
        let e = hosp.entry(a.year.institution_id.as_str()).or_default();
        e.0 = e.0 + a.annual_adjustment + a.risk_sharing - a.deposit_withheld + a.redistributed;
        e.1 = e.1 + a.final_fund;
    }
    let twelve = Decimal::from(12);
    let hospitals = hosp
        .into_iter()
        .map(|(inst, (adj, total))| {
            let base = budget.by_institution.get(inst).map_or(Fen::ZERO, |v| v.1);
            let pf = if params.prepayment_fund.is_eligible(inst) {
                Fen(round_fen(
                    Decimal::from(base.0) * params.prepayment_fund.months / twelve,
                ))
            } else {
                Fen::ZERO
            };
            HospitalYear {
                institution_id: inst.to_owned(),
                prepayment_fund: pf,
                annual_payout: adj - pf,
                total_received: total,
            }
        })
        .collect();

    let offsite = ledger.offsite;
    if offsite.cases > 0 {
        notes.push(format!(
            "off-site cases (异地就医): {} cases, total cost {}, fund {} — {} (parameter offsite.cases = {})",
            offsite.cases,
            offsite.total_cost,
            offsite.fund_paid,
            if offsite.included { "settled in this pool by its method and standards" } else { "left out of this pool" },
            params.offsite.cases.as_str()
        ));
    }
    if !ledger.withheld.is_empty() {
        let cost: Fen = ledger.withheld.iter().map(|w| w.total_cost).sum();
        notes.push(format!(
            "{} cases withheld by QC (total cost {cost}): not settled until a corrected list arrives",
            ledger.withheld.len()
        ));
    }

    Ok(Settlement {
        year: budget.year,
        months,
        point_values,
        quarters,
        annual,
        hospitals,
        accounts,
        withheld: ledger.withheld.clone(),
        offsite,
        clearing: (rule_surplus, rule_deposit),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::SettleParams;

    #[test]
    fn risk_sharing_bands() {
        let p = SettleParams::builtin();
        // (entitlement, balance, expected) in fen; bands 10 % of the entitlement.
        let table = [
            (100_000, 5_000, 0),        // surplus within 10 %: kept
            (100_000, 10_000, 0),       // exactly 10 %: kept
            (100_000, 30_000, -10_000), // 20 000 beyond 10 %: half recovered
            (100_000, -5_000, 3_500),   // overrun within 10 %: fund bears 70 %
            (100_000, -30_000, 7_000),  // beyond 10 %: hospital bears it all
            (100_000, 0, 0),
            (0, -1_000, 0), // no entitlement: every fen beyond band 1
            (333, -1, 1),   // 0.7 fen rounds half away from zero to 1
        ];
        for (ent, bal, want) in table {
            assert_eq!(
                risk_sharing(&p, Fen(ent), Fen(bal)),
                Fen(want),
                "entitlement {ent} balance {bal}"
            );
        }
    }
}

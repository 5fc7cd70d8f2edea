//! The history year (last year's cases) as the budget, the conversion rate and the
//! expected point value need it — the one accumulator `drgdip settle`/`points` and
//! the service's settlement runs and estimates share.

use std::collections::BTreeMap;

use claims::Fen;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::budget::HistoryRow;
use crate::model::{Insurance, SubCategory};

/// Last year's cases, totalled per settled institution (alliance members credited
/// to their lead) and insurance type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryYear {
    /// The history year, when known.
    pub year: i32,
    /// Cases of the 职工/居民 insurance types.
    pub cases: u64,
    /// Cases of other insurance types (not in the budgets).
    pub other_insurance: u64,
    /// Earlier versions of a case left out (the later counts).
    pub replaced: u64,
    /// (settled institution, insurance) → (total cost, fund paid).
    pub totals: BTreeMap<(String, Insurance), (Fen, Fen)>,
    /// (settled institution, insurance) → (points of DRG/DIP cases, yuan that converts
    /// to points at the rate: fee-for-service, per-diem, add-ons), in ten-thousandths.
    pub points: BTreeMap<(String, Insurance), (i64, i64)>,
    /// The conversion-rate basis: the history's DRG/DIP cases priced with this year's
    /// weights, coefficients and outlier rules, and its per-diem stays.
    pub basis: points::RateBasis,
}

fn tt(d: Decimal) -> i64 {
    (d * Decimal::from(10_000)).to_i64().unwrap_or(0)
}

/// A history case's (group points, yuan that converts) in ten-thousandths, from its
/// points priced at a rate of 1 yuan per point (so that converted points are yuan).
/// A per-diem stay whose standard is derived is worth its own cost: the derived
/// standard is the history's cost per day.
pub fn history_points(p: &points::Points) -> (i64, i64) {
    match p.method {
        points::PayMethod::Drg | points::PayMethod::Dip => (tt(p.case_points), tt(p.addon_points)),
        points::PayMethod::PerDiem if p.no_standard => (0, tt(Decimal::new(p.priced_cost.0, 2) + p.addon_points)),
        _ => (0, tt(p.total)),
    }
}

impl HistoryYear {
    /// Count one case of `settled` (the institution its points are credited to):
    /// its money, and — when priced (`points` at a rate of 1, with its length of
    /// stay) — its points and its share of the conversion-rate basis.
    pub fn add(&mut self, settled: &str, ins: Insurance, total: Fen, fund: Fen, priced: Option<(&points::Points, u32)>) {
        match priced {
            Some((p, los)) => {
                let mut b = points::RateBasis::default();
                b.add(p, los);
                self.add_priced(settled, ins, total, fund, Some((history_points(p), &b)));
            }
            None => self.add_priced(settled, ins, total, fund, None),
        }
    }

    /// [`HistoryYear::add`] of a case whose points ([`history_points`]) and share of
    /// the rate basis were taken already (e.g. on another thread).
    pub fn add_priced(&mut self, settled: &str, ins: Insurance, total: Fen, fund: Fen, priced: Option<((i64, i64), &points::RateBasis)>) {
        self.cases += 1;
        let e = self.totals.entry((settled.to_owned(), ins)).or_default();
        e.0 = e.0 + total;
        e.1 = e.1 + fund;
        if let Some(((g, y), b)) = priced {
            self.basis.merge(b);
            let e = self.points.entry((settled.to_owned(), ins)).or_default();
            e.0 += g;
            e.1 += y;
        }
    }

    /// The 住院 history rows of the budget, each with its institution's class.
    pub fn rows(&self, class: impl Fn(&str) -> String) -> Vec<HistoryRow> {
        self.totals
            .iter()
            .map(|((inst, ins), (total, fund))| HistoryRow {
                class: class(inst),
                institution_id: inst.clone(),
                insurance: *ins,
                category: SubCategory::Inpatient,
                total_cost: *total,
                fund_paid: *fund,
            })
            .collect()
    }

    /// Expected points of the history cases of the (institution, insurance) pairs
    /// `pick` chooses, at the conversion rate.
    pub fn expected_points(&self, conv: &points::Conversion, pick: impl Fn(&str, Insurance) -> bool) -> Decimal {
        let (mut group, mut yuan) = (0i64, 0i64);
        for ((inst, ins), (g, y)) in &self.points {
            if pick(inst, *ins) {
                group += g;
                yuan += y;
            }
        }
        Decimal::new(group, 4) + Decimal::new(yuan, 4) / conv.yuan_per_point
    }
}

//! Simulated payment (模拟付费, seed 001): what each hospital and group would have
//! been paid under points for a past year, against what fee-for-service paid.
//!
//! A hospital's annual settlement amount of a budget line is split over its groups
//! by points (largest remainder, groups in code order), so group amounts add up to
//! the hospital's amount exactly; the points-based fund payment is that amount less
//! the group's individual payments.

use std::collections::BTreeMap;

use claims::Fen;

use crate::alloc::largest_remainder;
use crate::cycle::Settlement;
use crate::ledger::Ledger;
use crate::model::{Key, Pts};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRow {
    pub institution_id: String,
    pub key: Key,
    /// Group code; "" for ungrouped cases.
    pub group: String,
    pub cases: u64,
    pub points: Pts,
    /// Points-based settlement amount.
    pub points_amount: Fen,
    pub total_cost: Fen,
    pub individual: Fen,
    /// Points-based fund payment = amount − individual.
    pub points_fund: Fen,
    /// Fund actually paid under fee-for-service.
    pub actual_fund: Fen,
    /// points_fund − actual_fund.
    pub difference: Fen,
}

/// One row per hospital, line and group.
pub fn simulate(ledger: &Ledger, settlement: &Settlement) -> Vec<SimRow> {
    let amounts: BTreeMap<(&str, &Key), Fen> = settlement
        .annual
        .iter()
        .map(|a| ((a.year.institution_id.as_str(), &a.year.key), a.year.amount))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    let entries: Vec<_> = ledger.groups.iter().collect();
    while i < entries.len() {
        let ((inst, key, _), _) = entries[i];
        let mut j = i;
        while j < entries.len() && (&entries[j].0 .0, &entries[j].0 .1) == (inst, key) {
            j += 1;
        }
        let slice = &entries[i..j];
        let amount = amounts
            .get(&(inst.as_str(), key))
            .copied()
            .unwrap_or_default();
        let w: Vec<i128> = slice
            .iter()
            .map(|(_, c)| i128::from(c.total_points().0.max(0)))
            .collect();
        let parts = largest_remainder(amount.0, &w).unwrap_or_else(|| vec![0; slice.len()]);
        for (((inst, key, group), c), p) in slice.iter().zip(parts) {
            let points_fund = Fen(p) - c.individual();
            out.push(SimRow {
                institution_id: inst.clone(),
                key: key.clone(),
                group: group.clone(),
                cases: c.cases,
                points: c.total_points(),
                points_amount: Fen(p),
                total_cost: c.total_cost,
                individual: c.individual(),
                points_fund,
                actual_fund: c.fund_paid,
                difference: points_fund - c.fund_paid,
            });
        }
        i = j;
    }
    out
}

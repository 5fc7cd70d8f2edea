//! What settlement reads: each case's points and money, aggregated per
//! institution, budget line and month (and per group for the simulated payment).

use std::collections::BTreeMap;

use claims::Fen;

use crate::model::{Key, Method, Pts};

/// One case as settlement needs it.
#[derive(Clone, Debug)]
pub struct CaseRow<'a> {
    /// The institution the points are credited to (the alliance lead, seed 002 §26).
    pub institution_id: &'a str,
    pub key: Key,
    /// Month of discharge, 1–12.
    pub month: u8,
    /// DRG/DIP group code, or "" when ungrouped.
    pub group: &'a str,
    pub method: Method,
    pub points: Pts,
    pub total_cost: Fen,
    pub fund_paid: Fen,
}

/// Totals of a set of cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub cases: u64,
    /// Points by [`Method`] (indexed by `Method::index`).
    pub points: [Pts; 5],
    pub total_cost: Fen,
    pub fund_paid: Fen,
}

impl Cell {
    pub fn add(&mut self, method: Method, points: Pts, total_cost: Fen, fund_paid: Fen) {
        self.cases += 1;
        self.points[method.index()] += points;
        self.total_cost = self.total_cost + total_cost;
        self.fund_paid = self.fund_paid + fund_paid;
    }

    pub fn merge(&mut self, o: &Cell) {
        self.cases += o.cases;
        for i in 0..5 {
            self.points[i] += o.points[i];
        }
        self.total_cost = self.total_cost + o.total_cost;
        self.fund_paid = self.fund_paid + o.fund_paid;
    }

    /// Effective points (all methods).
    pub fn total_points(&self) -> Pts {
        self.points.iter().copied().sum()
    }

    /// Individual payments (个人负担: 自付 + 自费) = total cost − fund paid.
    pub fn individual(&self) -> Fen {
        self.total_cost - self.fund_paid
    }
}

/// A case that is priced but not payable: its settlement list breaks a QC rule
/// that withholds payment (seed 000). It enters no period's points or payment
/// until a corrected version arrives; statements list it with what it would get.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WithheldCase {
    /// The institution the points would be credited to.
    pub institution_id: String,
    pub key: Key,
    pub month: u8,
    pub case_id: String,
    pub group: String,
    pub method: Method,
    pub points: Pts,
    pub total_cost: Fen,
    pub fund_paid: Fen,
    /// The withholding QC rule ids, e.g. "M001; M002".
    pub rules: String,
}

/// Off-site cases (异地就医) met in the input, and what was done with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffsiteTally {
    /// True: settled in this pool; false: left out.
    pub included: bool,
    pub cases: u64,
    pub points: Pts,
    pub total_cost: Fen,
    pub fund_paid: Fen,
}

/// Cases aggregated for settlement. Ordered maps: iteration is by institution id,
/// then budget line, then month (or group) — the order every allocation uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    pub cells: BTreeMap<(String, Key, u8), Cell>,
    pub groups: BTreeMap<(String, Key, String), Cell>,
    /// Cases withheld by QC (not in `cells` or `groups`), in (institution, line, month, case) order.
    pub withheld: Vec<WithheldCase>,
    /// Off-site cases: included in `cells` or left out, per the parameters.
    pub offsite: OffsiteTally,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    pub fn add_case(&mut self, c: &CaseRow<'_>) {
        assert!((1..=12).contains(&c.month), "month {}", c.month);
        self.cells
            .entry((c.institution_id.to_owned(), c.key.clone(), c.month))
            .or_default()
            .add(c.method, c.points, c.total_cost, c.fund_paid);
        self.groups
            .entry((
                c.institution_id.to_owned(),
                c.key.clone(),
                c.group.to_owned(),
            ))
            .or_default()
            .add(c.method, c.points, c.total_cost, c.fund_paid);
    }

    /// Add pre-aggregated totals of one institution, line and month.
    pub fn merge_cell(&mut self, inst: &str, key: &Key, month: u8, cell: &Cell) {
        assert!((1..=12).contains(&month), "month {month}");
        self.cells
            .entry((inst.to_owned(), key.clone(), month))
            .or_default()
            .merge(cell);
    }

    /// Record a case withheld by QC (kept sorted when [`Ledger::sort_withheld`] is called).
    pub fn add_withheld(&mut self, w: WithheldCase) {
        assert!((1..=12).contains(&w.month), "month {}", w.month);
        self.withheld.push(w);
    }

    /// Put the withheld cases in institution, line, month, case order.
    pub fn sort_withheld(&mut self) {
        self.withheld.sort();
    }

    /// Add pre-aggregated totals of one institution, line and group.
    pub fn merge_group(&mut self, inst: &str, key: &Key, group: &str, cell: &Cell) {
        self.groups
            .entry((inst.to_owned(), key.clone(), group.to_owned()))
            .or_default()
            .merge(cell);
    }
}

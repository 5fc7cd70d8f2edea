//! What the builder and the grouper read from a case.

use claims::model::split_list;
use claims::{Claim, Fen};

/// The fields DIP needs from one inpatient case. Codes are given as submitted; the
/// library normalises them. Implemented for [`Claim`] and for [`ListCase`] (codes in
/// `|`-joined cells, as in a CSV row), so callers need not allocate per case.
pub trait CaseSource {
    fn main_diagnosis(&self) -> Option<&str>;
    /// Calls `f` with each secondary diagnosis, in order.
    fn other_diagnoses(&self, f: &mut dyn FnMut(&str));
    /// Calls `f` with each procedure, in order.
    fn procedures(&self, f: &mut dyn FnMut(&str));
    fn total_cost(&self) -> Option<Fen>;
    /// Age in whole years.
    fn age_years(&self) -> Option<u32>;
    /// Age in days (patients under one year).
    fn age_days(&self) -> Option<u32>;
}

impl CaseSource for Claim {
    fn main_diagnosis(&self) -> Option<&str> {
        self.main_diagnosis.as_deref()
    }
    fn other_diagnoses(&self, f: &mut dyn FnMut(&str)) {
        self.other_diagnoses.iter().for_each(|d| f(d));
    }
    fn procedures(&self, f: &mut dyn FnMut(&str)) {
        self.procedures.iter().for_each(|p| f(&p.code));
    }
    fn total_cost(&self) -> Option<Fen> {
        self.total_cost
    }
    fn age_years(&self) -> Option<u32> {
        self.age
    }
    fn age_days(&self) -> Option<u32> {
        self.age_days
    }
}

/// A case whose code lists are single cells separated by `|`, `,`, `;` (or the
/// full-width forms), as [`claims::model::split_list`] reads them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListCase<'a> {
    pub main_diagnosis: &'a str,
    pub other_diagnoses: &'a str,
    pub procedures: &'a str,
    pub total_cost: Option<Fen>,
    pub age_years: Option<u32>,
    pub age_days: Option<u32>,
}

impl<'a> ListCase<'a> {
    /// From an all-diagnoses cell (main first), as in the `diagnoses` column.
    pub fn from_diagnoses(diagnoses: &'a str, procedures: &'a str) -> ListCase<'a> {
        let t = diagnoses.trim_start();
        let end = t.find(['|', ',', ';', '，', '；', '｜']).unwrap_or(t.len());
        ListCase {
            main_diagnosis: t[..end].trim(),
            other_diagnoses: &t[end..],
            procedures,
            ..ListCase::default()
        }
    }
}

impl CaseSource for ListCase<'_> {
    fn main_diagnosis(&self) -> Option<&str> {
        let m = self.main_diagnosis.trim();
        (!m.is_empty()).then_some(m)
    }
    fn other_diagnoses(&self, f: &mut dyn FnMut(&str)) {
        split_list(self.other_diagnoses).for_each(f);
    }
    fn procedures(&self, f: &mut dyn FnMut(&str)) {
        split_list(self.procedures).for_each(f);
    }
    fn total_cost(&self) -> Option<Fen> {
        self.total_cost
    }
    fn age_years(&self) -> Option<u32> {
        self.age_years
    }
    fn age_days(&self) -> Option<u32> {
        self.age_days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_case_splits_cells() {
        let c = ListCase::from_diagnoses("K35.800|E11.900,I10.x00", "47.0100|54.1100");
        assert_eq!(c.main_diagnosis(), Some("K35.800"));
        let mut d = Vec::new();
        c.other_diagnoses(&mut |x| d.push(x.to_owned()));
        assert_eq!(d, ["E11.900", "I10.x00"]);
        let mut p = Vec::new();
        c.procedures(&mut |x| p.push(x.to_owned()));
        assert_eq!(p, ["47.0100", "54.1100"]);
        assert_eq!(ListCase::from_diagnoses("", "").main_diagnosis(), None);
    }
}

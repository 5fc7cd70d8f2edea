//! Data quality per institution (数据质量评分).
//!
//! For each institution:
//! - completeness rate = filled required cells / required cells, over the
//!   `required` and `required_if` rules that apply to the file and record;
//! - pass rate = records without an error finding / records;
//! - warning rate = warning findings / records (capped at 1 in the score);
//! - score (0–100) = 100 × (0.3 × completeness + 0.5 × pass rate + 0.2 × (1 − min(1, warning rate))),
//!   rounded to one decimal. Weights are parameters of [`ScoreWeights`].

use std::collections::BTreeMap;

use crate::engine::Finding;
use crate::rules::{Check, RuleSet, Severity};

/// Weights of the data-quality score; they sum to 1.
#[derive(Clone, Copy, Debug)]
pub struct ScoreWeights {
    pub completeness: f64,
    pub pass_rate: f64,
    pub warnings: f64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        ScoreWeights { completeness: 0.3, pass_rate: 0.5, warnings: 0.2 }
    }
}

/// Counts for one institution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstitutionQuality {
    pub records: u64,
    pub records_with_errors: u64,
    pub required_cells: u64,
    pub filled_cells: u64,
    pub errors: u64,
    pub warnings: u64,
    /// Findings per rule id.
    pub by_rule: BTreeMap<String, u64>,
}

impl InstitutionQuality {
    pub fn completeness(&self) -> f64 {
        if self.required_cells == 0 {
            1.0
        } else {
            self.filled_cells as f64 / self.required_cells as f64
        }
    }
    pub fn pass_rate(&self) -> f64 {
        if self.records == 0 {
            1.0
        } else {
            (self.records - self.records_with_errors) as f64 / self.records as f64
        }
    }
    pub fn warning_rate(&self) -> f64 {
        if self.records == 0 {
            0.0
        } else {
            self.warnings as f64 / self.records as f64
        }
    }
    pub fn error_rate(&self, rule: &str) -> f64 {
        if self.records == 0 {
            0.0
        } else {
            *self.by_rule.get(rule).unwrap_or(&0) as f64 / self.records as f64
        }
    }
    pub fn score(&self, w: ScoreWeights) -> f64 {
        let s = 100.0
            * (w.completeness * self.completeness()
                + w.pass_rate * self.pass_rate()
                + w.warnings * (1.0 - self.warning_rate().min(1.0)));
        (s * 10.0).round() / 10.0
    }
}

/// Accumulates quality figures per institution, record by record.
#[derive(Clone, Debug, Default)]
pub struct QualityReport {
    pub institutions: BTreeMap<String, InstitutionQuality>,
}

impl QualityReport {
    /// Count one record and its findings. `required` / `filled`: the record's
    /// required cells and how many were filled (from [`required_cells`]).
    pub fn add_record(&mut self, institution: &str, required: u32, filled: u32, findings: &[Finding], rules: &RuleSet) {
        let q = self.entry(institution);
        q.records += 1;
        q.required_cells += u64::from(required);
        q.filled_cells += u64::from(filled);
        let mut has_error = false;
        for f in findings {
            has_error |= q.count(f, rules);
        }
        if has_error {
            q.records_with_errors += 1;
        }
    }

    /// Count a cross-record finding reported after its record was added. Its
    /// record turns from passing to failing when it had no error before.
    pub fn add_late_finding(&mut self, f: &Finding, rules: &RuleSet, record_already_failed: bool) {
        let q = self.entry(&f.institution_id);
        if q.count(f, rules) && !record_already_failed {
            q.records_with_errors += 1;
        }
    }

    fn entry(&mut self, institution: &str) -> &mut InstitutionQuality {
        if !self.institutions.contains_key(institution) {
            self.institutions.insert(institution.to_owned(), InstitutionQuality::default());
        }
        self.institutions.get_mut(institution).expect("inserted")
    }

    pub fn total(&self) -> InstitutionQuality {
        let mut t = InstitutionQuality::default();
        for q in self.institutions.values() {
            t.records += q.records;
            t.records_with_errors += q.records_with_errors;
            t.required_cells += q.required_cells;
            t.filled_cells += q.filled_cells;
            t.errors += q.errors;
            t.warnings += q.warnings;
            for (k, v) in &q.by_rule {
                *t.by_rule.entry(k.clone()).or_default() += v;
            }
        }
        t
    }
}

impl InstitutionQuality {
    /// Count a finding; true when it is an error.
    fn count(&mut self, f: &Finding, rules: &RuleSet) -> bool {
        let rule = &rules.rules[f.rule as usize];
        match self.by_rule.get_mut(&rule.id) {
            Some(n) => *n += 1,
            None => {
                self.by_rule.insert(rule.id.clone(), 1);
            }
        }
        match rule.severity {
            Severity::Error => {
                self.errors += 1;
                true
            }
            Severity::Warning => {
                self.warnings += 1;
                false
            }
        }
    }
}

/// The required cells of a record under the rules active for its file, and how
/// many are filled. Missing columns do not count: they are reported per file.
pub fn required_cells(rules: &RuleSet, present: claims::FieldSet, c: &claims::Claim) -> (u32, u32) {
    let (mut req, mut filled) = (0, 0);
    for rule in &rules.rules {
        let applies = match &rule.check {
            Check::Required { .. } => true,
            Check::RequiredIf { when, .. } => match when {
                crate::rules::Cond::AgeYearsLt(n) => c.age.is_some_and(|a| a < *n),
                crate::rules::Cond::AgeDaysLe(n) => c.age_days.is_some_and(|d| d <= *n),
            },
            _ => false,
        };
        if !applies || !rule.fields.iter().all(|f| present.contains(*f)) {
            continue;
        }
        let f = rule.target.expect("required rules have a target");
        req += 1;
        if c.has(f) {
            filled += 1;
        }
    }
    (req, filled)
}

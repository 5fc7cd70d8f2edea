//! Which codes fit which patients, read from the project's own QC rules so the
//! generator and the checker can never disagree.

use claims::Sex;
use codes::CodeRange;
use qc::rules::{Check, SexName};
use qc::RuleSet;

/// Sex- and age-specific code ranges and main-diagnosis restrictions.
#[derive(Clone, Debug, Default)]
pub struct CodeRules {
    female_dx: Vec<CodeRange>,
    male_dx: Vec<CodeRange>,
    female_proc: Vec<(u8, u8)>,
    male_proc: Vec<(u8, u8)>,
    /// Diagnosis ranges allowed only for ages in `min..=max`.
    age_dx: Vec<(Vec<CodeRange>, u32, u32)>,
    /// Ranges that may not be the main diagnosis (external causes, delivery outcomes).
    not_main: Vec<CodeRange>,
    /// Symptom ranges (not used as main diagnosis by the generator).
    symptom: Vec<CodeRange>,
    /// Diagnoses that allow a coma duration (brain injury).
    coma: Vec<CodeRange>,
}

impl CodeRules {
    /// Collect the ranges of the QC rule set's code rules.
    pub fn from_rules(rules: &RuleSet) -> CodeRules {
        let mut c = CodeRules::default();
        for r in &rules.rules {
            match &r.check {
                Check::SexSpecificDx {
                    sex: SexName::Female,
                    ..
                } => c.female_dx.extend(r.ranges.iter().copied()),
                Check::SexSpecificDx {
                    sex: SexName::Male, ..
                } => c.male_dx.extend(r.ranges.iter().copied()),
                Check::SexSpecificProc {
                    sex: SexName::Female,
                    ..
                } => c.female_proc.extend(r.proc_ranges.iter().copied()),
                Check::SexSpecificProc {
                    sex: SexName::Male, ..
                } => c.male_proc.extend(r.proc_ranges.iter().copied()),
                Check::AgeSpecificDx {
                    min_age, max_age, ..
                } => c.age_dx.push((r.ranges.clone(), *min_age, *max_age)),
                Check::NotMainDx { .. } => c.not_main.extend(r.ranges.iter().copied()),
                Check::SymptomMainDx { .. } => c.symptom.extend(r.ranges.iter().copied()),
                Check::PresentRequiresDx { .. } => c.coma.extend(r.ranges.iter().copied()),
                _ => {}
            }
        }
        c
    }

    /// The built-in QC rules' ranges.
    pub fn builtin() -> CodeRules {
        CodeRules::from_rules(&RuleSet::builtin())
    }

    /// The only sex a diagnosis fits, if it is sex-specific.
    pub fn dx_sex(&self, code: &str) -> Option<Sex> {
        if self.female_dx.iter().any(|r| r.contains(code)) {
            Some(Sex::Female)
        } else if self.male_dx.iter().any(|r| r.contains(code)) {
            Some(Sex::Male)
        } else {
            None
        }
    }

    /// The only sex a procedure fits, if it is sex-specific.
    pub fn proc_sex(&self, code: &str) -> Option<Sex> {
        let cat = proc_category(code)?;
        let hit = |rs: &[(u8, u8)]| rs.iter().any(|(a, b)| (*a..=*b).contains(&cat));
        if hit(&self.female_proc) {
            Some(Sex::Female)
        } else if hit(&self.male_proc) {
            Some(Sex::Male)
        } else {
            None
        }
    }

    /// Allowed ages (years, inclusive) for a diagnosis.
    pub fn dx_ages(&self, code: &str) -> (u32, u32) {
        let mut lo = 0;
        let mut hi = 150;
        for (ranges, min, max) in &self.age_dx {
            if ranges.iter().any(|r| r.contains(code)) {
                lo = lo.max(*min);
                hi = hi.min(*max);
            }
        }
        (lo, hi)
    }

    /// Whether the code may be a main diagnosis on a record the generator writes:
    /// not an external cause or delivery outcome, not a lone asterisk code, not a symptom.
    pub fn main_ok(&self, code: &str) -> bool {
        !codes::is_asterisk(code)
            && !self.not_main.iter().any(|r| r.contains(code))
            && !self.symptom.iter().any(|r| r.contains(code))
    }

    /// Whether the code may be a secondary diagnosis for any adult of either sex.
    pub fn plain_secondary_ok(&self, code: &str) -> bool {
        !code.contains('*')
            && !code.contains('+')
            && self.dx_sex(code).is_none()
            && self.dx_ages(code) == (0, 150)
            && !self.not_main.iter().any(|r| r.contains(code))
            && !self.symptom.iter().any(|r| r.contains(code))
    }

    /// Whether a diagnosis allows a coma duration.
    pub fn allows_coma(&self, code: &str) -> bool {
        self.coma.iter().any(|r| r.contains(code))
    }
}

/// Two-digit category of a procedure code (`33` of `33.6x00`).
fn proc_category(code: &str) -> Option<u8> {
    let b = code.as_bytes();
    if b.len() >= 2
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && (b.len() == 2 || b[2] == b'.')
    {
        Some((b[0] - b'0') * 10 + (b[1] - b'0'))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_come_from_the_qc_rules() {
        let c = CodeRules::builtin();
        assert_eq!(c.dx_sex("O80.000"), Some(Sex::Female));
        assert_eq!(c.dx_sex("N40.x00"), Some(Sex::Male));
        assert_eq!(c.dx_sex("I10.x00"), None);
        assert_eq!(c.proc_sex("74.1x00"), Some(Sex::Female));
        assert_eq!(c.proc_sex("60.2100"), Some(Sex::Male));
        assert_eq!(c.dx_ages("P07.300"), (0, 0));
        assert_eq!(c.dx_ages("O80.000"), (10, 60));
        assert!(
            !c.main_ok("Z37.000")
                && !c.main_ok("V89.200")
                && !c.main_ok("R50.900")
                && c.main_ok("K35.800")
        );
        assert!(c.allows_coma("S06.000"));
    }
}

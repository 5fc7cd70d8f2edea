//! QC rules as data: the rule file format and its loading.
//!
//! A rule file (TOML) lists rules; each names one [`Check`] kind of the engine
//! with its parameters. The check kinds are the engine's vocabulary; which
//! rules run, their severity, messages, ranges and thresholds are data.

use claims::Field;
use codes::CodeRange;
use serde::Deserialize;

/// The rules shipped with drgdip (`crates/qc/rules/qc-rules.toml`).
pub const BUILTIN_RULES: &str = include_str!("../rules/qc-rules.toml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Rule families, as a QC desk groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// 完整性
    Completeness,
    /// 规范性 (formats)
    Format,
    /// 逻辑性
    Logic,
    /// 编码合规
    Coding,
    /// 费用
    Money,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Completeness => "completeness",
            Family::Format => "format",
            Family::Logic => "logic",
            Family::Coding => "coding",
            Family::Money => "money",
        }
    }
}

/// A condition on the patient's age.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cond {
    /// Age in years is below n.
    AgeYearsLt(u32),
    /// Age in days is given and at most n.
    AgeDaysLe(u32),
}

/// The kind of cell-level problem the importer found (see `claims::IssueKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellIssue {
    Date,
    Integer,
    Money,
    Value,
    ListLength,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeList {
    Diagnoses,
    Procedures,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DictTarget {
    MainDiagnosis,
    OtherDiagnoses,
    Procedures,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SexName {
    Male,
    Female,
}

/// The engine's check vocabulary. Field names are settlement-list column names.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    Required { field: String },
    RequiredIf { field: String, when: Cond },
    PresentOnlyIf { field: String, when: Cond },
    ProcedureDatesPresent,
    Cell { issue: CellIssue },
    CodeSyntax { of: CodeList },
    CodeNotNormal,
    DischargeAfterAdmission,
    LosMatchesDates { tolerance_days: u32 },
    AgeMatchesBirthDate,
    AgeDaysOnlyInfant,
    IntRange { field: String, min: u32, max: u32 },
    SexSpecificDx { sex: SexName, ranges: String },
    SexSpecificProc { sex: SexName, ranges: String },
    AgeSpecificDx { ranges: String, min_age: u32, max_age: u32 },
    NotMainDx { ranges: String },
    AsteriskMainDx,
    SymptomMainDx { ranges: String },
    DuplicateDiagnosis,
    DuplicateProcedure,
    ProcedureDateWithinStay,
    VentHoursWithinStay,
    BirthBeforeAdmission,
    StayAfterDeath,
    DuplicateCaseId,
    PresentRequiresDx { field: String, ranges: String },
    InDictionary { of: DictTarget },
    ClinicalCode { of: CodeList },
    CostsSumToTotal,
    PaymentsSumToTotal,
    SourcesSumToShare,
    NonNegative,
    TotalPositive,
    NotAboveTotal { field: String },
    SurgeryFeeNeedsProcedure,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    id: String,
    family: Family,
    severity: Severity,
    /// A list breaking the rule is not payable until corrected (only errors may withhold).
    withhold: bool,
    fields: Vec<String>,
    zh: String,
    en: String,
    check: Check,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    version: String,
    rule: Vec<RuleDef>,
}

/// A loaded rule: its data, with field names and code ranges resolved.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub family: Family,
    pub severity: Severity,
    /// A list that breaks the rule is grouped and priced but withheld from payment
    /// until a corrected version arrives (seed 000: compliance is a condition of payment).
    pub withhold: bool,
    /// Fields the rule reads; it runs only when a file provides them all.
    pub fields: Vec<Field>,
    pub zh: String,
    pub en: String,
    pub check: Check,
    /// The check's own field (for `required`, `int_range`, ...), resolved.
    pub target: Option<Field>,
    /// The check's diagnosis ranges, parsed.
    pub ranges: Vec<CodeRange>,
    /// The check's procedure category ranges (two-digit ICD-9-CM-3 categories), parsed.
    pub proc_ranges: Vec<(u8, u8)>,
}

impl Rule {
    /// The message with `{value}` and `{detail}` filled in.
    pub fn message(&self, zh: bool, value: &str, detail: &str) -> String {
        let t = if zh { &self.zh } else { &self.en };
        t.replace("{value}", value).replace("{detail}", detail)
    }
}

/// A versioned set of rules.
#[derive(Clone, Debug)]
pub struct RuleSet {
    pub version: String,
    pub rules: Vec<Rule>,
}

/// A rule file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule file is not valid TOML for the rule format: {0}")]
    Toml(String),
    #[error("rule {rule}: unknown field name {field:?}")]
    UnknownField { rule: String, field: String },
    #[error("rule {rule}: bad code range {spec:?}: {reason}")]
    BadRange { rule: String, spec: String, reason: String },
    #[error("rule id {0} is used twice")]
    DuplicateId(String),
    #[error("rule {0}: withhold = true needs severity = \"error\" (a warning never withholds payment)")]
    WarningWithholds(String),
}

impl RuleSet {
    pub fn builtin() -> RuleSet {
        // The built-in file is tested to load; failing here is a build defect.
        RuleSet::from_toml(BUILTIN_RULES).expect("built-in QC rules load")
    }

    pub fn from_toml(src: &str) -> Result<RuleSet, RuleError> {
        let file: RuleFile = toml::from_str(src).map_err(|e| RuleError::Toml(e.to_string()))?;
        let mut rules = Vec::with_capacity(file.rule.len());
        let mut ids = std::collections::HashSet::new();
        for def in file.rule {
            if !ids.insert(def.id.clone()) {
                return Err(RuleError::DuplicateId(def.id));
            }
            if def.withhold && def.severity != Severity::Error {
                return Err(RuleError::WarningWithholds(def.id));
            }
            let field = |name: &str| {
                Field::from_header(name).ok_or_else(|| RuleError::UnknownField { rule: def.id.clone(), field: name.into() })
            };
            let fields = def.fields.iter().map(|f| field(f)).collect::<Result<Vec<_>, _>>()?;
            let target = match &def.check {
                Check::Required { field: f }
                | Check::RequiredIf { field: f, .. }
                | Check::PresentOnlyIf { field: f, .. }
                | Check::IntRange { field: f, .. }
                | Check::PresentRequiresDx { field: f, .. }
                | Check::NotAboveTotal { field: f } => Some(field(f)?),
                _ => None,
            };
            let bad = |spec: &str, reason: String| RuleError::BadRange { rule: def.id.clone(), spec: spec.into(), reason };
            let mut ranges = Vec::new();
            let mut proc_ranges = Vec::new();
            match &def.check {
                Check::SexSpecificProc { ranges: spec, .. } => {
                    for part in spec.split(',') {
                        let (a, b) = part.trim().split_once('-').unwrap_or((part.trim(), part.trim()));
                        let (a, b) = (a.trim().parse::<u8>(), b.trim().parse::<u8>());
                        match (a, b) {
                            (Ok(a), Ok(b)) if a <= b && b <= 99 => proc_ranges.push((a, b)),
                            _ => return Err(bad(spec, "expected two-digit categories like 65-75".into())),
                        }
                    }
                }
                Check::SexSpecificDx { ranges: spec, .. }
                | Check::AgeSpecificDx { ranges: spec, .. }
                | Check::NotMainDx { ranges: spec }
                | Check::SymptomMainDx { ranges: spec }
                | Check::PresentRequiresDx { ranges: spec, .. } => {
                    ranges = CodeRange::parse_list(spec).map_err(|e| bad(spec, e.to_string()))?;
                }
                _ => {}
            }
            rules.push(Rule {
                id: def.id,
                family: def.family,
                severity: def.severity,
                withhold: def.withhold,
                fields,
                zh: def.zh,
                en: def.en,
                check: def.check,
                target,
                ranges,
                proc_ranges,
            });
        }
        Ok(RuleSet { version: file.version, rules })
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The ids of the withholding rules among `findings` (sorted, each once):
    /// non-empty means the case is not payable.
    pub fn withheld_by<'f>(&self, findings: impl IntoIterator<Item = &'f crate::Finding>) -> Vec<String> {
        let mut ids: Vec<String> = findings
            .into_iter()
            .filter_map(|f| self.rules.get(f.rule as usize))
            .filter(|r| r.withhold)
            .map(|r| r.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_load_and_cover_every_family() {
        let set = RuleSet::builtin();
        assert!(set.rules.len() >= 40, "{} rules", set.rules.len());
        for fam in [Family::Completeness, Family::Format, Family::Logic, Family::Coding, Family::Money] {
            assert!(set.rules.iter().filter(|r| r.family == fam).count() >= 5, "{fam:?}");
        }
    }

    #[test]
    fn bad_rule_files_are_rejected_with_the_rule_named() {
        let table = [
            ("version='x'\n[[rule]]\nid='A'\nfamily='logic'\nseverity='warning'\nwithhold=true\nfields=[]\nzh=''\nen=''\ncheck={kind='total_positive'}", "rule A: withhold = true needs severity"),
            ("version='x'\n[[rule]]\nid='A'\nfamily='logic'\nseverity='error'\nfields=[]\nzh=''\nen=''\ncheck={kind='total_positive'}", "missing field `withhold`"),
            ("version='x'\n[[rule]]\nid='A'\nfamily='logic'\nseverity='error'\nwithhold=true\nfields=['nope']\nzh=''\nen=''\ncheck={kind='total_positive'}", "unknown field name \"nope\""),
            ("version='x'\n[[rule]]\nid='A'\nfamily='logic'\nseverity='error'\nwithhold=true\nfields=[]\nzh=''\nen=''\ncheck={kind='not_main_dx', ranges='Q-'}", "rule A: bad code range"),
            ("version='x'\n[[rule]]\nid='A'\nfamily='logic'\nseverity='fatal'\nwithhold=false\nfields=[]\nzh=''\nen=''\ncheck={kind='total_positive'}", "not valid TOML"),
            ("version='x'\n[[rule]]\nid='A'\nfamily='logic'\nseverity='error'\nwithhold=true\nfields=[]\nzh=''\nen=''\ncheck={kind='teleport'}", "not valid TOML"),
        ];
        for (src, want) in table {
            let err = RuleSet::from_toml(src).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}

#[cfg(test)]
mod doc_tests {
    /// docs/QC.md lists every built-in rule.
    #[test]
    fn qc_doc_lists_every_rule() {
        let doc = include_str!("../../../docs/QC.md");
        for rule in super::RuleSet::builtin().rules {
            assert!(doc.contains(&format!("| {} |", rule.id)), "docs/QC.md lacks rule {}", rule.id);
        }
    }
}

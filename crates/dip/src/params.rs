//! Parameters of building and grouping. Every choice the method makes is here, with
//! its default and the source it follows (see `docs/DIP.md`).

use crate::aux::AuxParams;
use crate::classify::ProcClass;
use crate::score::Fixed;

/// The level at which the main diagnosis keys a core group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DxLevel {
    /// 亚目 (`K35.8`), as the national specification (default).
    #[default]
    Subcategory,
    /// 类目 (`K35`).
    Category,
}

/// How much of a procedure code keys a core group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcLevel {
    /// The full 医保版 code (`47.0100x001`) (default).
    #[default]
    Full,
    /// The ICD-9-CM-3 细目 without extension (`47.01`): the first five characters.
    Detail,
}

/// Which of a case's procedures form its core-group key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyProcedures {
    /// Every procedure (default; the national specification combines all of them).
    #[default]
    All,
    /// Leave out diagnostic procedures (imaging, endoscopy, biopsy).
    NonDiagnostic,
    /// Only surgery (相关手术).
    SurgicalOnly,
}

impl KeyProcedures {
    pub fn keeps(self, class: ProcClass) -> bool {
        match self {
            KeyProcedures::All => true,
            KeyProcedures::NonDiagnostic => class != ProcClass::Diagnostic,
            KeyProcedures::SurgicalOnly => class == ProcClass::Surgical,
        }
    }
}

/// Outlier trimming before a group's average cost is taken.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Trim {
    /// Keep every case.
    None,
    /// Drop `floor(n × lower / 100)` cheapest and `floor(n × (100 − upper) / 100)` dearest
    /// cases of a group of `n` (default 2.5 and 97.5).
    Percentile { lower: f64, upper: f64 },
    /// Drop cases whose `ln(cost)` lies more than `k` standard deviations from the
    /// group's mean `ln(cost)`.
    LogSd { k: f64 },
}

impl Default for Trim {
    fn default() -> Self {
        Trim::Percentile {
            lower: 2.5,
            upper: 97.5,
        }
    }
}

/// The all-case average cost scores are relative to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// `Σ n_g × avg_g / N` over all groups `g` (`n_g` all cases of the group, `avg_g`
    /// its trimmed average): the mean on the same trimmed basis as the group
    /// averages, so the case-weighted mean score equals the base (default).
    #[default]
    GroupWeighted,
    /// The plain mean cost of all build cases (untrimmed).
    RawMean,
}

/// How a case is matched when its procedures fit several core groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    /// The core group with exactly the case's key procedures; otherwise the
    /// highest-scoring core group whose procedures are all among the case's;
    /// otherwise a comprehensive group (default, as the issue describes).
    #[default]
    ExactThenHighestScore,
    /// Exact; otherwise the core group matching the most of the case's procedures
    /// (ties: higher score); otherwise comprehensive.
    ExactThenMostProcedures,
    /// Exact only; otherwise comprehensive.
    ExactOnly,
}

/// Parameters of `build`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct BuildParams {
    /// Cases a combination needs to become a core group (national: 15).
    pub min_cases: u32,
    pub dx_level: DxLevel,
    pub proc_level: ProcLevel,
    pub key_procedures: KeyProcedures,
    pub trim: Trim,
    /// The score of a group whose average equals the reference (1000; some regions 100).
    pub base: Fixed,
    pub reference: Reference,
    /// Cases a hospital level needs within a group for a per-level average.
    pub min_level_cases: u32,
    pub aux: AuxParams,
}

impl Default for BuildParams {
    fn default() -> Self {
        BuildParams {
            min_cases: 15,
            dx_level: DxLevel::Subcategory,
            proc_level: ProcLevel::Full,
            key_procedures: KeyProcedures::All,
            trim: Trim::default(),
            base: Fixed::from_int(1000),
            reference: Reference::GroupWeighted,
            min_level_cases: 5,
            aux: AuxParams::default(),
        }
    }
}

/// Deviation cases (偏差病例).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DeviationParams {
    pub enabled: bool,
    /// Cost ratio above which a case is a high-cost case (2).
    pub high: Fixed,
    /// Cost ratio below which a case is a low-cost case (0.5).
    pub low: Fixed,
    /// Compare with the group's average at the case's hospital level when known.
    pub same_level: bool,
}

impl Default for DeviationParams {
    fn default() -> Self {
        DeviationParams {
            enabled: true,
            high: Fixed::from_int(2),
            low: Fixed(5_000),
            same_level: true,
        }
    }
}

/// Parameters of grouping, stored in the library manifest and overridable per run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GroupParams {
    pub match_rule: MatchRule,
    pub deviation: DeviationParams,
    /// Apply the auxiliary catalogues' coefficients.
    pub apply_aux: bool,
}

impl Default for GroupParams {
    fn default() -> Self {
        GroupParams {
            match_rule: MatchRule::default(),
            deviation: DeviationParams::default(),
            apply_aux: true,
        }
    }
}

/// Reads a unit enum from its snake_case name (`"exact_only"`), for command lines.
pub fn parse_name<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().replace('-', "_")))
        .map_err(|_| format!("unknown value {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_params_serialise() {
        assert_eq!(
            parse_name::<MatchRule>("exact-only"),
            Ok(MatchRule::ExactOnly)
        );
        assert_eq!(parse_name::<DxLevel>("category"), Ok(DxLevel::Category));
        assert!(parse_name::<DxLevel>("chapter").is_err());
        let p = BuildParams::default();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<BuildParams>(&json).unwrap(), p);
        // Missing fields take defaults.
        let q: BuildParams = serde_json::from_str(r#"{"min_cases": 30}"#).unwrap();
        assert_eq!(q.min_cases, 30);
        assert_eq!(q.base, Fixed::from_int(1000));
    }
}

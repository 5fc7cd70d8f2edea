//! Quality control of settlement lists (结算清单质控): rules as data, an
//! engine that streams records through them, and per-institution data-quality
//! scores.

pub mod engine;
pub mod report;
pub mod rules;

pub use engine::{Checker, FilePlan, Finding};
pub use report::{required_cells, InstitutionQuality, QualityReport, ScoreWeights};
pub use rules::{Family, Rule, RuleError, RuleSet, Severity, BUILTIN_RULES};

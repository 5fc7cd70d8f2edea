//! The settlement list (医保结算清单): its fields, the record model, exact
//! money, and readers for the file layouts hospitals send (CSV in UTF-8 or
//! GBK, JSON Lines, XLSX).
//!
//! Pure: readers take any `Read` supplied by the caller; no file system, no clock.

pub mod field;
pub mod import;
pub mod model;
pub mod money;
pub mod versions;

pub use field::{Field, FieldSet, COST_CATEGORIES, FIELDS};
pub use model::{AdmissionRoute, Claim, ClaimBuilder, DischargeWay, FieldIssue, InsuranceType, IssueKind, Procedure, Sex};
pub use money::{Fen, MoneyError};
pub use versions::Versions;

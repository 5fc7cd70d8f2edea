//! CHS-DRG grouping (DRG 分组).
//!
//! * [`Scheme`]: a grouping scheme as data, loaded from the text of its files
//!   ([`Scheme::from_files`]); the format is that of `shared/reference/chs-drg-1.1/`.
//! * [`Grouper`]: the scheme compiled for fast, allocation-free grouping of [`Case`]s.
//! * [`explain`]: a step-by-step [`Trace`] of one case, rendered in Chinese or English.
//! * [`diff::diff`]: what changed between two schemes.
//! * [`import`]: a scheme from the published table layout (`*_grouper_rule.xlsx`).
//!
//! The crate is pure: no file IO, no clocks, no global state.
//!
//! ```
//! use drg::{Case, Grouper, Lang, Scheme, SchemeFiles, Scratch, Status};
//!
//! let scheme = Scheme::from_files(SchemeFiles {
//!     scheme_json: r#"{"name": "demo", "mdcs": [{"code": "MDCB", "when": {"in": ["main_dx", "zd"]},
//!         "lists": {"zd": ["I63.900"]},
//!         "adrgs": [{"code": "BR2", "when": true, "lists": {}, "drgs": [
//!             {"code": "BR21", "name": "脑缺血性疾患，伴严重并发症或合并症", "rule": "mcc"},
//!             {"code": "BR25", "name": "脑缺血性疾患，不伴并发症或合并症", "rule": "always"}]}]}]}"#,
//!     cc_tsv: "code\texclusion_table\n",
//!     mcc_tsv: "code\texclusion_table\nJ96.000\t7\n",
//!     main_dx_exclusion_tsv: "main_dx\texclusion_table\n",
//!     surgical_procedures_tsv: "code\tname\n",
//!     drg_names_tsv: "drg\tname\n",
//! })?;
//! let grouper = Grouper::new(scheme)?;
//! let case = Case { sex: Some(1), age: Some(70), dx: &["I63.900", "J96.000"], ..Case::default() };
//!
//! // Fast path: no allocation with a reused `Scratch`.
//! let mut scratch = Scratch::default();
//! let g = grouper.group_with(&case, &mut scratch);
//! assert_eq!(g.status, Status::Grouped);
//! assert_eq!(grouper.codes_of(&g).drg, "BR21");
//!
//! // Unknown codes match nothing; a case no MDC takes is DRG 0000.
//! let other = Case { dx: &["XYZ"], ..case };
//! assert_eq!(grouper.codes_of(&grouper.group(&other)).drg, "0000");
//!
//! // Why: the trace, in Chinese or English.
//! let trace = drg::explain(grouper.scheme(), &case);
//! assert!(trace.render(Lang::En).contains("J96.000: MCC (exclusion table 7), counts"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod case;
pub mod diff;
mod explain;
mod grouper;
pub mod import;
pub mod scheme;

pub use case::{Case, CaseIds, Limits, Reason, Status};
pub use explain::{explain, explain_with, CondTrace, Evidence, Lang, SecondaryDx, Step, Trace};
pub use grouper::{
    CodeId, CodeMapping, CompileError, GroupCodes, Grouper, Grouping, MapFn, Scratch,
    AMBIGUOUS_ADRG, UNGROUPABLE_ADRG, UNGROUPABLE_DRG, UNGROUPABLE_MDC, UNKNOWN_CODE,
};
pub use scheme::{Scheme, SchemeError, SchemeFiles, SchemeText};

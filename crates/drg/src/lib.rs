//! CHS-DRG grouping (DRG 分组).
//!
//! * [`Scheme`]: a grouping scheme as data, loaded from the text of its files
//!   ([`Scheme::from_files`]); the format is that of `shared/reference/chs-drg-1.1/`.
//! * [`Grouper`]: the scheme compiled for fast, allocation-free grouping of [`Case`]s.
//! * [`explain`]: a step-by-step [`Trace`] of one case, rendered in Chinese or English.
//! * [`diff::diff`]: what changed between two schemes.
//!
//! The crate is pure: no file IO, no clocks, no global state.

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
    UNGROUPABLE_ADRG, UNGROUPABLE_DRG, UNGROUPABLE_MDC, UNKNOWN_CODE,
};
pub use scheme::{Scheme, SchemeError, SchemeFiles, SchemeText};

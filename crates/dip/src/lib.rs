//! DIP (按病种分值付费, Diagnosis-Intervention Packet): build a disease–intervention
//! library from historical settlement lists, score it, import a published one, and
//! group new cases with auxiliary and deviation adjustments.
//!
//! The method follows the national DIP technical specification (国家医疗保障按病种分值
//! 付费(DIP)技术规范, 医保办发〔2020〕50号) and the DIP handling rules (经办管理规程,
//! 医保办发〔2021〕27号); every choice is a parameter in [`params`] and is described
//! in `docs/DIP.md`.
//!
//! * [`build::Builder`] streams cases into per-key accumulators and makes a
//!   [`library::Library`] with a [`build::BuildReport`].
//! * [`library::Library::to_files`] / [`library::Library::from_files`] write and read
//!   the versioned directory format; [`import::import`] reads a published CSV/XLSX.
//! * [`group::Grouper`] groups cases (allocation-free per case for canonical codes).
//!
//! Pure: no file IO; callers supply text and bytes. Money is [`claims::Fen`]; scores
//! are [`score::Fixed`] (four decimals, rounding half away from zero).

pub mod aux;
pub mod build;
pub mod case;
pub mod classify;
pub mod group;
pub mod import;
pub mod library;
pub mod params;
pub mod score;

pub use build::{BuildReport, Builder};
pub use case::{CaseSource, ListCase};
pub use classify::{ProcClass, ProcClassifier};
pub use group::{Deviation, Grouper, Match, Outcome, Scratch};
pub use library::{Group, GroupKind, Library};
pub use params::{BuildParams, GroupParams, MatchRule};
pub use score::Fixed;

//! Monitoring of DRG/DIP payment (医保支付方式运行监测): indicators, abuse
//! detection and public reports (issue 9; seeds 001, 002 §46–§47, 003 三(三), 004).
//!
//! Pure: no file IO, no clock. The caller builds a [`Dataset`] from settlement
//! lists and their groupings ([`DatasetBuilder`]), then computes
//! [`indicators::compute`], runs [`detect::detect`] and renders
//! [`report`]s into strings and byte buffers.
//!
//! Money is integer fen throughout; indicators that are ratios (CMI, the
//! consumption indices, rates) are `f64`, as documented in `docs/MONITORING.md`.

pub mod detect;
pub mod eval;
pub mod indicators;
pub mod model;
pub mod report;

pub use model::{Case, Dataset, DatasetBuilder, Group, Institution, Prepared, Severity, Strings};

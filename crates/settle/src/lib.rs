//! The budget and settlement cycle of a region under the point-method total
//! budget (区域点数法总额预算), seed 002 chapters 2 and 5 and seed 003 part 二.
//!
//! * [`budget::build`]: the year's budget by insurance type and sub-category,
//!   with reserves, quarters and mid-year adjustments, and its derivation.
//! * [`cycle::settle`]: monthly prepayment, quarterly pre-settlement, annual
//!   settlement, risk sharing, deposit release, fund-type shares, prepayment fund.
//! * [`simulate::simulate`]: simulated payment (模拟付费) per hospital and group.
//! * [`statement`]: statements as CSV and XLSX bytes, and the region summary.
//!
//! Pure: no IO, no clock. Money is integer fen ([`claims::Fen`]); ratios and point
//! values are decimals; budgets are split by largest remainder ([`alloc`]) so the
//! hospitals' amounts add up to the budget to the fen. See docs/SETTLEMENT.md.

pub mod alloc;
pub mod budget;
pub mod cycle;
pub mod history;
pub mod ledger;
pub mod model;
pub mod params;
pub mod simulate;
pub mod statement;

pub use budget::{build as build_budget, Budget, BudgetError, BudgetLine, HistoryRow};
pub use history::HistoryYear;
pub use cycle::{settle, Account, HospitalInputs, SettleError, Settlement};
pub use ledger::{CaseRow, Cell, Ledger, OffsiteTally, WithheldCase};
pub use model::{Insurance, Key, Method, Pts, SubCategory};
pub use params::{Leftover, OffsiteRule, ParamsError, SettleParams, DEFAULT_PARAMS};

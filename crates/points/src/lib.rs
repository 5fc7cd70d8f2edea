//! Points (点数) for every payment method on one scale: seed 002 chapter 4.
//!
//! * [`Params`]: the region-and-year parameter file, each value citing its seed article.
//! * [`price`]: points of one case with their derivation ([`Points`]): DRG (RW × 100) or
//!   DIP (score × scale) with the institution coefficient, high/low-ratio outliers,
//!   per-diem long stays, fee-for-service (ungroupable TCM cases, special cases),
//!   add-on points for excluded innovative drugs, crediting to the alliance lead.
//! * [`Conversion`]: the rate money converts to points at (fee-for-service, per-diem,
//!   capitation, add-on), derived from the history year's DRG/DIP cases
//!   ([`RateBasis`]) or fixed by the parameters; [`capitation_points`],
//!   [`fee_for_service_points`].
//! * QC gating: a case whose list breaks a withholding QC rule is priced but not
//!   payable ([`Points::payable`]).
//!
//! Parameter files are checked when loaded (unknown keys, types, ranges, consistency;
//! [`Params::check_roster`] against the institutions to price): see docs/PARAMS.md.
//!
//! Pure and exact: decimals, points rounded half away from zero to 4 places.

pub mod params;
pub mod price;
pub mod standards;

pub use params::{Method, Params, ParamsError, RateSetting, DEFAULT_PARAMS, LEVELS};
pub use standards::{parse_standards, parse_standards_located};
pub use price::{
    capitation_points, coefficient, fee_for_service_points, price, CaseInput, CoefSource, Conversion, GroupStandard,
    Institution, PayMethod, Points, RateBasis, Rule, POINT_PLACES, RATE_PLACES,
};

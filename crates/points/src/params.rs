//! The parameter file: one per region and year, every value citing its seed article
//! (see `crates/points/params/default.toml` and docs/PARAMS.md).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

/// The built-in defaults (`crates/points/params/default.toml`).
pub const DEFAULT_PARAMS: &str = include_str!("../params/default.toml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Drg,
    Dip,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub region: String,
    pub year: u16,
    pub version: String,
    pub method: Method,
    pub drg: DrgParams,
    pub dip: DipParams,
    pub coefficients: Coefficients,
    pub outliers: Outliers,
    pub fee_for_service: FeeForService,
    pub per_diem: PerDiem,
    pub innovative_drugs: InnovativeDrugs,
    pub alliance: Alliance,
    pub special_cases: SpecialCases,
}

/// The special-case quota (特例单议, seed 003 三(一)): at most this share of an
/// institution's discharges in a quarter, rounded up.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialCases {
    /// Share of DRG discharges (5 %).
    pub drg_quota: Decimal,
    /// Share of DIP discharges (5 ‰).
    pub dip_quota: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrgParams {
    pub points_per_rw: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DipParams {
    pub score_scale: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coefficients {
    pub by_level: BTreeMap<String, Decimal>,
    #[serde(default)]
    pub overrides: BTreeMap<String, Decimal>,
    pub base_level_group: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Upper bound of RW for this band (inclusive); absent for the last band.
    pub rw_max: Option<Decimal>,
    pub k: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outliers {
    pub drg_high: Vec<Band>,
    pub drg_low: Decimal,
    pub dip_high: Decimal,
    pub dip_low: Decimal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UngroupablePay {
    FeeForService,
    Zero,
}

/// How money converts to points for the methods priced in yuan (fee-for-service,
/// per-diem, capitation, drug add-on): seed 002 §24–§25.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateSetting {
    /// The history year's cost per point of its DRG/DIP cases, computed at run
    /// time ([`crate::Conversion::resolve`]): the same base as the group points.
    Derived,
    /// A rate fixed for the year (yuan per point), e.g. agreed in negotiation.
    Fixed(Decimal),
}

impl<'de> Deserialize<'de> for RateSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "derived" {
            return Ok(RateSetting::Derived);
        }
        s.trim().parse::<Decimal>().map(RateSetting::Fixed).map_err(|_| {
            serde::de::Error::custom(format!("yuan_per_point must be \"derived\" or a decimal number of yuan, is {s:?}"))
        })
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeForService {
    /// Yuan per point: `"derived"` (default) or a fixed rate.
    pub yuan_per_point: RateSetting,
    pub ungroupable_other: UngroupablePay,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerDiemCategory {
    pub name: String,
    pub dx_prefixes: Vec<String>,
    pub yuan_per_day: Decimal,
    pub min_los: u32,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerDiem {
    /// Long-stay categories; their points are yuan_per_day × days converted at the
    /// region's rate (yuan per point), i.e. the per-diem standard compared with the
    /// all-group average cost per case (seed 002 §25).
    pub categories: Vec<PerDiemCategory>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InnovativeDrugs {
    pub add_on: bool,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alliance {
    pub credit_to_lead: bool,
}

/// A parameter file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("parameter file: {0}")]
    Toml(String),
    #[error("parameter {0}: {1}")]
    Invalid(&'static str, String),
}

impl Params {
    pub fn from_toml(src: &str) -> Result<Params, ParamsError> {
        let p: Params = toml::from_str(src).map_err(|e| ParamsError::Toml(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn builtin() -> Params {
        // Tested to load; failing here is a build defect.
        Params::from_toml(DEFAULT_PARAMS).expect("built-in parameters load")
    }

    fn validate(&self) -> Result<(), ParamsError> {
        let pos = |name: &'static str, v: Decimal| {
            if v > Decimal::ZERO {
                Ok(())
            } else {
                Err(ParamsError::Invalid(name, format!("must be above zero, is {v}")))
            }
        };
        pos("drg.points_per_rw", self.drg.points_per_rw)?;
        pos("dip.score_scale", self.dip.score_scale)?;
        if let RateSetting::Fixed(r) = self.fee_for_service.yuan_per_point {
            pos("fee_for_service.yuan_per_point", r)?;
        }
        pos("outliers.drg_low", self.outliers.drg_low)?;
        pos("outliers.dip_high", self.outliers.dip_high)?;
        pos("outliers.dip_low", self.outliers.dip_low)?;
        pos("coefficients.base_level_group", self.coefficients.base_level_group)?;
        for v in self.coefficients.by_level.values().chain(self.coefficients.overrides.values()) {
            pos("coefficients", *v)?;
        }
        if self.outliers.drg_high.is_empty() || self.outliers.drg_high.last().is_some_and(|b| b.rw_max.is_some()) {
            return Err(ParamsError::Invalid("outliers.drg_high", "the last band must have no rw_max".into()));
        }
        let mut prev = None;
        for b in &self.outliers.drg_high {
            pos("outliers.drg_high.k", b.k)?;
            if let (Some(p), Some(m)) = (prev, b.rw_max) {
                if m <= p {
                    return Err(ParamsError::Invalid("outliers.drg_high", "rw_max must increase".into()));
                }
            }
            prev = b.rw_max.or(prev);
        }
        for (name, q) in [("special_cases.drg_quota", self.special_cases.drg_quota), ("special_cases.dip_quota", self.special_cases.dip_quota)] {
            if q < Decimal::ZERO || q > Decimal::ONE {
                return Err(ParamsError::Invalid(name, format!("must lie in [0, 1], is {q}")));
            }
        }
        for c in &self.per_diem.categories {
            pos("per_diem.categories.yuan_per_day", c.yuan_per_day)?;
        }
        Ok(())
    }

    /// The special-case quota rate of the region's method.
    pub fn special_case_rate(&self) -> Decimal {
        match self.method {
            Method::Drg => self.special_cases.drg_quota,
            Method::Dip => self.special_cases.dip_quota,
        }
    }

    /// The special-case quota of an institution with `discharges` discharges in a
    /// quarter: rate × discharges, rounded up.
    pub fn special_case_quota(&self, discharges: u64) -> u64 {
        use rust_decimal::prelude::ToPrimitive;
        (self.special_case_rate() * Decimal::from(discharges)).ceil().to_u64().unwrap_or(u64::MAX)
    }

    /// The high-ratio threshold k for a DRG of weight `rw`.
    pub fn drg_high_k(&self, rw: Decimal) -> Decimal {
        self.outliers
            .drg_high
            .iter()
            .find(|b| b.rw_max.is_none_or(|m| rw <= m))
            .map(|b| b.k)
            .unwrap_or(Decimal::ONE)
    }
}

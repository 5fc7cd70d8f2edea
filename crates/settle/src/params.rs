//! The budget-and-settlement parameter file (`crates/settle/params/default.toml`),
//! every value citing its seed article.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{Insurance, SubCategory};

/// The built-in defaults.
pub const DEFAULT_PARAMS: &str = include_str!("../params/default.toml");

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleParams {
    pub region: String,
    pub year: u16,
    pub version: String,
    pub budget: BudgetParams,
    pub deposit: DepositParams,
    pub risk_sharing: RiskSharing,
    pub fund_types: FundTypes,
    pub prepayment_fund: PrepaymentFund,
    pub clearing: Clearing,
    pub offsite: Offsite,
}

/// Where money the annual settlement takes back goes (seed 003 二(一): 确保既定的
/// 基金预算支出全部用于结算清算).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leftover {
    /// Allocated over the line's hospitals by their annual points (largest remainder).
    Redistribute,
    /// Kept by the fund (reported in the budget identity as retained).
    Reserve,
}

impl Leftover {
    pub fn as_str(self) -> &'static str {
        match self {
            Leftover::Redistribute => "redistribute",
            Leftover::Reserve => "reserve",
        }
    }
}

/// The annual clearing of money taken back from hospitals.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clearing {
    /// Surplus recovered by risk sharing (§33).
    pub recovered_surplus: Leftover,
    /// Quality deposits not released (§48).
    pub withheld_deposits: Leftover,
}

/// Off-site cases (异地就医: the patient is insured in another region).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsiteRule {
    /// Priced and settled in this (the treatment) region's pool (seed 003 二(五)).
    Include,
    /// Left out of this pool (settled through the insured region); listed.
    Exclude,
}

impl OffsiteRule {
    pub fn as_str(self) -> &'static str {
        match self {
            OffsiteRule::Include => "include",
            OffsiteRule::Exclude => "exclude",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offsite {
    pub cases: OffsiteRule,
}

/// Growth factors of one insurance type (seed 002 §10).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Growth {
    pub cost_growth: Decimal,
    pub price_index: Decimal,
    pub new_technology: Decimal,
    pub insured_growth: Decimal,
    pub fund_revenue_growth: Decimal,
}

impl Growth {
    /// Demand factor (1+cost)(1+price)(1+tech)(1+insured).
    pub fn demand(&self) -> Decimal {
        (Decimal::ONE + self.cost_growth)
            * (Decimal::ONE + self.price_index)
            * (Decimal::ONE + self.new_technology)
            * (Decimal::ONE + self.insured_growth)
    }

    /// Capacity factor 1 + fund revenue growth.
    pub fn capacity(&self) -> Decimal {
        Decimal::ONE + self.fund_revenue_growth
    }

    /// The applied factor: the smaller of demand and capacity (以收定支).
    pub fn factor(&self) -> Decimal {
        self.demand().min(self.capacity())
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reserves {
    pub risk_adjustment: Decimal,
    pub offsite: Decimal,
    pub sporadic: Decimal,
}

impl Reserves {
    pub fn total(&self) -> Decimal {
        self.risk_adjustment + self.offsite + self.sporadic
    }
}

/// A mid-year adjustment (seed 002 §14).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    pub insurance: Insurance,
    pub category: SubCategory,
    #[serde(default)]
    pub class: String,
    /// Yuan, signed, at most two decimals.
    pub amount: Decimal,
    pub from_quarter: u8,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetParams {
    pub employee: Growth,
    pub resident: Growth,
    pub reserves: Reserves,
    #[serde(default)]
    pub split_by_class: bool,
    pub quarter_shares: [Decimal; 4],
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
}

impl BudgetParams {
    pub fn growth(&self, ins: Insurance) -> &Growth {
        match ins {
            Insurance::Employee => &self.employee,
            Insurance::Resident => &self.resident,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositParams {
    pub rate: Decimal,
    /// (score, release fraction) points, scores increasing.
    pub release: Vec<(Decimal, Decimal)>,
    pub default_score: Decimal,
}

impl DepositParams {
    /// The release fraction for a score: piecewise linear through the points, flat
    /// outside them.
    pub fn release_fraction(&self, score: Decimal) -> Decimal {
        let pts = &self.release;
        let Some(first) = pts.first() else {
            return Decimal::ONE;
        };
        if score <= first.0 {
            return first.1;
        }
        for w in pts.windows(2) {
            let ((s0, f0), (s1, f1)) = (w[0], w[1]);
            if score <= s1 {
                return f0 + (f1 - f0) * (score - s0) / (s1 - s0);
            }
        }
        pts[pts.len() - 1].1
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurplusBand {
    /// Upper bound as a fraction of the entitlement; absent for the last band.
    pub up_to: Option<Decimal>,
    pub hospital_keeps: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrunBand {
    pub up_to: Option<Decimal>,
    pub fund_bears: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSharing {
    pub surplus: Vec<SurplusBand>,
    pub overrun: Vec<OverrunBand>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundTypes {
    /// (fund type, proportion); proportions sum to 1.
    pub default: Vec<(String, Decimal)>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepaymentFund {
    pub months: Decimal,
    pub eligible: Vec<String>,
}

impl PrepaymentFund {
    pub fn is_eligible(&self, inst: &str) -> bool {
        self.eligible.iter().any(|e| e == "*" || e == inst)
    }
}

/// A parameter file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("parameter file: {0}")]
    Toml(String),
    #[error("parameter {0}: {1}")]
    Invalid(&'static str, String),
}

fn bands_ok<'a>(
    name: &'static str,
    ups: impl Iterator<Item = Option<Decimal>> + 'a,
    shares: Vec<Decimal>,
) -> Result<(), ParamsError> {
    let ups: Vec<Option<Decimal>> = ups.collect();
    if ups.is_empty() || ups.last().is_some_and(|u| u.is_some()) {
        return Err(ParamsError::Invalid(
            name,
            "the last band must have no up_to".into(),
        ));
    }
    let mut prev = Decimal::ZERO;
    for u in ups.iter().flatten() {
        if *u <= prev {
            return Err(ParamsError::Invalid(
                name,
                "up_to must be above zero and increase".into(),
            ));
        }
        prev = *u;
    }
    if ups[..ups.len() - 1].iter().any(Option::is_none) {
        return Err(ParamsError::Invalid(
            name,
            "only the last band may omit up_to".into(),
        ));
    }
    if shares
        .iter()
        .any(|s| *s < Decimal::ZERO || *s > Decimal::ONE)
    {
        return Err(ParamsError::Invalid(
            name,
            "shares must lie in [0, 1]".into(),
        ));
    }
    Ok(())
}

impl SettleParams {
    pub fn from_toml(src: &str) -> Result<SettleParams, ParamsError> {
        let p: SettleParams = toml::from_str(src).map_err(|e| ParamsError::Toml(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn builtin() -> SettleParams {
        SettleParams::from_toml(DEFAULT_PARAMS).expect("built-in settlement parameters load")
    }

    fn validate(&self) -> Result<(), ParamsError> {
        let unit = |name: &'static str, v: Decimal| {
            if (Decimal::ZERO..Decimal::ONE).contains(&v) {
                Ok(())
            } else {
                Err(ParamsError::Invalid(
                    name,
                    format!("must lie in [0, 1), is {v}"),
                ))
            }
        };
        unit("deposit.rate", self.deposit.rate)?;
        unit("budget.reserves", self.budget.reserves.total())?;
        let qs: Decimal = self.budget.quarter_shares.iter().sum();
        if qs != Decimal::ONE
            || self
                .budget
                .quarter_shares
                .iter()
                .any(|q| *q < Decimal::ZERO)
        {
            return Err(ParamsError::Invalid(
                "budget.quarter_shares",
                format!("must be non-negative and sum to 1, sum {qs}"),
            ));
        }
        for a in &self.budget.adjustments {
            if !(1..=4).contains(&a.from_quarter) {
                return Err(ParamsError::Invalid(
                    "budget.adjustments.from_quarter",
                    format!("{} not in 1–4", a.from_quarter),
                ));
            }
            if a.amount.scale() > 2 && a.amount.normalize().scale() > 2 {
                return Err(ParamsError::Invalid(
                    "budget.adjustments.amount",
                    "finer than one fen".into(),
                ));
            }
            if a.reason.trim().is_empty() {
                return Err(ParamsError::Invalid(
                    "budget.adjustments.reason",
                    "a reason must be recorded (§14)".into(),
                ));
            }
        }
        if self.deposit.release.windows(2).any(|w| w[1].0 <= w[0].0)
            || self
                .deposit
                .release
                .iter()
                .any(|(_, f)| *f < Decimal::ZERO || *f > Decimal::ONE)
        {
            return Err(ParamsError::Invalid(
                "deposit.release",
                "scores must increase, fractions lie in [0, 1]".into(),
            ));
        }
        bands_ok(
            "risk_sharing.surplus",
            self.risk_sharing.surplus.iter().map(|b| b.up_to),
            self.risk_sharing
                .surplus
                .iter()
                .map(|b| b.hospital_keeps)
                .collect(),
        )?;
        bands_ok(
            "risk_sharing.overrun",
            self.risk_sharing.overrun.iter().map(|b| b.up_to),
            self.risk_sharing
                .overrun
                .iter()
                .map(|b| b.fund_bears)
                .collect(),
        )?;
        let fs: Decimal = self.fund_types.default.iter().map(|f| f.1).sum();
        if fs != Decimal::ONE || self.fund_types.default.is_empty() {
            return Err(ParamsError::Invalid(
                "fund_types.default",
                format!("proportions must sum to 1, sum {fs}"),
            ));
        }
        if self.prepayment_fund.months < Decimal::ZERO {
            return Err(ParamsError::Invalid(
                "prepayment_fund.months",
                "must not be negative".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_loads() {
        let p = SettleParams::builtin();
        assert_eq!(p.deposit.rate, Decimal::new(5, 2));
        // employee: demand 1.02*1.01*1.005*1.00 = 1.0353510 < 1.04
        assert_eq!(p.budget.employee.factor(), Decimal::new(1035351, 6));
        // resident: demand 1.02*1.01*1.005*0.99 = 1.02499749 < 1.03
        assert_eq!(p.budget.resident.factor(), Decimal::new(102499749, 8));
    }

    #[test]
    fn release_fraction_table() {
        let p = SettleParams::builtin();
        for (score, want) in [
            ("100", "1"),
            ("90", "1"),
            ("75", "0.5"),
            ("60", "0"),
            ("0", "0"),
            ("84", "0.8"),
        ] {
            let got = p.deposit.release_fraction(score.parse().unwrap());
            assert_eq!(
                got.normalize(),
                want.parse::<Decimal>().unwrap().normalize(),
                "score {score}"
            );
        }
    }

    #[test]
    fn invalid_files_are_refused() {
        let bad = [
            ("rate = \"0.05\"", "rate = \"1.5\""),
            (
                "quarter_shares = [\"0.25\", \"0.25\", \"0.25\", \"0.25\"]",
                "quarter_shares = [\"0.25\", \"0.25\", \"0.25\", \"0.20\"]",
            ),
            (
                "{ hospital_keeps = \"0.50\" }",
                "{ up_to = \"0.2\", hospital_keeps = \"0.50\" }",
            ),
            ("[\"医疗救助\", \"0.03\"]", "[\"医疗救助\", \"0.04\"]"),
        ];
        for (from, to) in bad {
            assert!(DEFAULT_PARAMS.contains(from), "{from}");
            let src = DEFAULT_PARAMS.replacen(from, to, 1);
            assert!(SettleParams::from_toml(&src).is_err(), "accepted {to}");
        }
    }
}

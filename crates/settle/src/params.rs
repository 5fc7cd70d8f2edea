//! The budget-and-settlement parameter file (`crates/settle/params/default.toml`),
//! every value citing its seed article.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{Insurance, SubCategory};

/// A two-element array `[a, b]` as a pair: exactly two elements (serde's tuples
/// would ignore a third).
fn pairs<'de, D, A, B>(d: D) -> Result<Vec<(A, B)>, D::Error>
where
    D: serde::Deserializer<'de>,
    A: Deserialize<'de>,
    B: Deserialize<'de>,
{
    struct Pair<A, B>(A, B);
    impl<'de, A: Deserialize<'de>, B: Deserialize<'de>> Deserialize<'de> for Pair<A, B> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<A, B>(std::marker::PhantomData<(A, B)>);
            impl<'de, A: Deserialize<'de>, B: Deserialize<'de>> serde::de::Visitor<'de> for V<A, B> {
                type Value = Pair<A, B>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a pair [a, b]")
                }
                fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                    use serde::de::Error;
                    let a = seq.next_element()?.ok_or_else(|| S::Error::invalid_length(0, &self))?;
                    let b = seq.next_element()?.ok_or_else(|| S::Error::invalid_length(1, &self))?;
                    let mut n = 2;
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                        n += 1;
                    }
                    if n > 2 {
                        return Err(S::Error::invalid_length(n, &self));
                    }
                    Ok(Pair(a, b))
                }
            }
            d.deserialize_seq(V(std::marker::PhantomData))
        }
    }
    let v: Vec<Pair<A, B>> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|p| (p.0, p.1)).collect())
}

/// Exactly four quarter shares (serde's arrays would ignore a fifth).
fn four<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[Decimal; 4], D::Error> {
    use serde::de::Error;
    let v: Vec<Decimal> = Vec::deserialize(d)?;
    <[Decimal; 4]>::try_from(v.as_slice()).map_err(|_| D::Error::invalid_length(v.len(), &"four quarter shares"))
}

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
    #[serde(deserialize_with = "four")]
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
    #[serde(deserialize_with = "pairs")]
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
    #[serde(deserialize_with = "pairs")]
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

/// A parameter file that cannot be used: every problem with its key path, value, line
/// and reason (see [`check::Invalid`]).
pub type ParamsError = check::Invalid;

/// The allowed ranges, as documented in docs/SETTLEMENT.md.
pub mod bounds {
    use check::{dec, Interval};

    /// Region years.
    pub const YEARS: (u16, u16) = (2000, 2100);
    /// Every growth rate of `budget.employee` / `budget.resident`: the factor 1 + r
    /// must be positive (r > −1), and a year's growth outside −50 %…+100 % is taken
    /// to be a mistake (`0.05` is 5 %).
    pub fn growth() -> Interval {
        Interval::closed(dec("-0.5"), dec("1"))
    }
    /// Each reserve rate; their sum must stay below 1.
    pub fn reserve() -> Interval {
        Interval::closed_open(dec("0"), dec("1"))
    }
    /// Fractions: quarter shares, deposit rate, release fractions, band shares, fund-type shares.
    pub fn fraction() -> Interval {
        Interval::closed(dec("0"), dec("1"))
    }
    /// Assessment scores.
    pub fn score() -> Interval {
        Interval::closed(dec("0"), dec("100"))
    }
    /// `risk_sharing.*[].up_to`: a fraction of the entitlement, above 0.
    pub fn up_to() -> Interval {
        Interval::open_closed(dec("0"), dec("10"))
    }
    /// `prepayment_fund.months`
    pub fn months() -> Interval {
        Interval::closed(dec("0"), dec("12"))
    }
}

fn bands(p: &mut check::Problems, name: &str, bands: &[(Option<Decimal>, Decimal)], share: &str) {
    if bands.is_empty() {
        p.push(name, "needs at least one band (the last without up_to)");
        return;
    }
    let mut prev: Option<Decimal> = None;
    for (i, (up, sh)) in bands.iter().enumerate() {
        let key = |k: &str| format!("{name}[{i}].{k}");
        let last = i + 1 == bands.len();
        match up {
            Some(u) if last => p.bad(key("up_to"), u, "the last band must have no up_to (it covers the rest)"),
            Some(u) => {
                p.range(key("up_to"), *u, bounds::up_to(), "a fraction of the entitlement");
                if let Some(pu) = prev {
                    p.ensure(*u > pu, key("up_to"), u, format!("must be above the previous band's up_to {pu}"));
                }
                prev = Some(*u);
            }
            None if !last => p.push(key("up_to"), "missing: only the last band may omit up_to"),
            None => {}
        }
        p.range(key(share), *sh, bounds::fraction(), "a share of the band");
    }
}

impl SettleParams {
    /// Parse and check a parameter file: unknown keys, types, ranges and consistency;
    /// every problem found is reported with its key, value, line and reason.
    pub fn from_toml(src: &str) -> Result<SettleParams, ParamsError> {
        let p: SettleParams = toml::from_str(src).map_err(|e| check::Invalid {
            what: "settlement parameters",
            problems: vec![check::toml_problem(src, &e)],
        })?;
        let mut problems = p.problems();
        problems.locate(src);
        problems.finish("settlement parameters")?;
        Ok(p)
    }

    pub fn builtin() -> SettleParams {
        SettleParams::from_toml(DEFAULT_PARAMS).expect("built-in settlement parameters load")
    }

    /// Check parameters built in code (as [`SettleParams::from_toml`] does after parsing).
    pub fn validate(&self) -> Result<(), ParamsError> {
        self.problems().finish("settlement parameters")
    }

    fn problems(&self) -> check::Problems {
        let mut p = check::Problems::new();
        p.nonempty("region", &self.region);
        p.nonempty("version", &self.version);
        p.int_range("year", self.year, bounds::YEARS.0, bounds::YEARS.1, "the budget year");

        let b = &self.budget;
        for (name, g) in [("employee", &b.employee), ("resident", &b.resident)] {
            for (k, v) in [
                ("cost_growth", g.cost_growth),
                ("price_index", g.price_index),
                ("new_technology", g.new_technology),
                ("insured_growth", g.insured_growth),
                ("fund_revenue_growth", g.fund_revenue_growth),
            ] {
                let key = format!("budget.{name}.{k}");
                if v <= -Decimal::ONE {
                    p.bad(key, v, "must be above -1 (the growth factor 1+r must be positive)");
                } else {
                    p.range(key, v, bounds::growth(), "a year's growth as a fraction, 0.05 = 5 %");
                }
            }
        }
        let r = &b.reserves;
        for (k, v) in [("risk_adjustment", r.risk_adjustment), ("offsite", r.offsite), ("sporadic", r.sporadic)] {
            p.range(format!("budget.reserves.{k}"), v, bounds::reserve(), "a fraction of the grown total");
        }
        if r.total() >= Decimal::ONE {
            p.bad(
                "budget.reserves",
                format!("{} + {} + {} = {}", r.risk_adjustment, r.offsite, r.sporadic, r.total()),
                "the reserves together must stay below 1 (else nothing is left for the sub-budgets)",
            );
        }
        for (i, q) in b.quarter_shares.iter().enumerate() {
            p.range(format!("budget.quarter_shares[{i}]"), *q, bounds::fraction(), "");
        }
        let qs: Decimal = b.quarter_shares.iter().sum();
        if qs != Decimal::ONE {
            p.bad("budget.quarter_shares", format!("sum {qs}"), "the four shares must sum to exactly 1");
        }
        for (i, a) in b.adjustments.iter().enumerate() {
            let key = |k: &str| format!("budget.adjustments[{i}].{k}");
            p.int_range(key("from_quarter"), a.from_quarter, 1, 4, "");
            p.places(key("amount"), a.amount, 2, "yuan to the fen");
            if a.amount.is_zero() {
                p.bad(key("amount"), a.amount, "an adjustment of 0 changes nothing");
            }
            if a.reason.trim().is_empty() {
                p.bad(key("reason"), format!("{:?}", a.reason), "a reason must be recorded (§14)");
            }
            match (b.split_by_class, a.class.trim().is_empty()) {
                (false, false) => p.bad(
                    key("class"),
                    format!("{:?}", a.class),
                    "budgets are not split by class (budget.split_by_class = false): leave class empty",
                ),
                (true, true) => p.push(key("class"), "missing: budgets are split by class, name the class of the line"),
                _ => {}
            }
        }

        let d = &self.deposit;
        p.range("deposit.rate", d.rate, bounds::fraction(), "a fraction of the fund incurred");
        if d.release.is_empty() {
            p.push("deposit.release", "needs at least one (score, fraction) point; [[\"0\", \"1\"]] releases everything");
        }
        for (i, (score, frac)) in d.release.iter().enumerate() {
            p.range(format!("deposit.release[{i}].score"), *score, bounds::score(), "");
            p.range(format!("deposit.release[{i}].fraction"), *frac, bounds::fraction(), "");
            if i > 0 {
                let (ps, pf) = d.release[i - 1];
                p.ensure(*score > ps, format!("deposit.release[{i}].score"), score, format!("scores must increase (the previous is {ps})"));
                p.ensure(*frac >= pf, format!("deposit.release[{i}].fraction"), frac, format!("fractions must not decrease (the previous is {pf})"));
            }
        }
        p.range("deposit.default_score", d.default_score, bounds::score(), "");

        let rs = &self.risk_sharing;
        bands(&mut p, "risk_sharing.surplus", &rs.surplus.iter().map(|b| (b.up_to, b.hospital_keeps)).collect::<Vec<_>>(), "hospital_keeps");
        bands(&mut p, "risk_sharing.overrun", &rs.overrun.iter().map(|b| (b.up_to, b.fund_bears)).collect::<Vec<_>>(), "fund_bears");

        let ft = &self.fund_types.default;
        if ft.is_empty() {
            p.push("fund_types.default", "needs at least one fund type");
        }
        for (i, (name, share)) in ft.iter().enumerate() {
            p.nonempty(format!("fund_types.default[{i}].name"), name);
            p.range(format!("fund_types.default[{i}].share"), *share, bounds::fraction(), "a proportion");
        }
        check::unique(&mut p, ft.iter().map(|f| f.0.as_str()), |i| format!("fund_types.default[{i}].name"));
        let fs: Decimal = ft.iter().map(|f| f.1).sum();
        if !ft.is_empty() && fs != Decimal::ONE {
            p.bad("fund_types.default", format!("sum {fs}"), "the proportions must sum to exactly 1 (they are not rescaled)");
        }

        let pf = &self.prepayment_fund;
        p.range("prepayment_fund.months", pf.months, bounds::months(), "months of last year's fund payments");
        for (i, e) in pf.eligible.iter().enumerate() {
            p.nonempty(format!("prepayment_fund.eligible[{i}]"), e);
        }
        if pf.eligible.iter().any(|e| e == "*") && pf.eligible.len() > 1 {
            p.push("prepayment_fund.eligible", "\"*\" (every institution) cannot be combined with ids");
        }
        check::unique(&mut p, pf.eligible.iter().map(String::as_str), |i| format!("prepayment_fund.eligible[{i}]"));
        p
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

    fn with(from: &str, to: &str) -> String {
        assert!(DEFAULT_PARAMS.contains(from), "the default file has no {from:?}");
        DEFAULT_PARAMS.replacen(from, to, 1)
    }

    /// One row per bad value: (text in the default file, replacement, what the error says).
    const BAD: &[(&str, &str, &str)] = &[
        ("region = \"990100\"", "region = \"\"", "region = \"\" (line 6): must not be empty"),
        ("year = 2025", "year = 20250", "year = 20250 (line 7): must lie in 2000–2100"),
        ("cost_growth = \"0.020\"", "cost_growth = \"-1.5\"", "budget.employee.cost_growth = -1.5 (line 26): must be above -1 (the growth factor 1+r must be positive)"),
        ("cost_growth = \"0.020\"", "cost_growth = \"-1\"", "budget.employee.cost_growth = -1 (line 26): must be above -1"),
        ("cost_growth = \"0.020\"", "cost_growth = \"-0.6\"", "budget.employee.cost_growth = -0.6 (line 26): must lie in [-0.5, 1]"),
        ("cost_growth = \"0.020\"", "cost_growth = \"2\"", "budget.employee.cost_growth = 2 (line 26): must lie in [-0.5, 1]"),
        ("insured_growth = \"-0.010\"", "insured_growth = \"-3\"", "budget.resident.insured_growth = -3 (line 36): must be above -1"),
        ("fund_revenue_growth = \"0.030\"", "fund_revenue_growth = \"-1.01\"", "budget.resident.fund_revenue_growth = -1.01"),
        ("risk_adjustment = \"0.020\"", "risk_adjustment = \"-0.020\"", "budget.reserves.risk_adjustment = -0.020 (line 43): must lie in [0, 1)"),
        ("offsite = \"0.030\"", "offsite = \"0.990\"", "budget.reserves = 0.020 + 0.990 + 0.010 = 1.020 (line 42): the reserves together must stay below 1"),
        ("quarter_shares = [\"0.25\", \"0.25\", \"0.25\", \"0.25\"]", "quarter_shares = [\"0.25\", \"0.25\", \"0.25\", \"0.20\"]", "budget.quarter_shares = sum 0.95 (line 18): the four shares must sum to exactly 1"),
        ("quarter_shares = [\"0.25\", \"0.25\", \"0.25\", \"0.25\"]", "quarter_shares = [\"0.5\", \"0.5\", \"0.25\", \"-0.25\"]", "budget.quarter_shares[3] = -0.25 (line 18): must lie in [0, 1]"),
        ("quarter_shares = [\"0.25\", \"0.25\", \"0.25\", \"0.25\"]", "quarter_shares = [\"0.5\", \"0.5\"]", "budget.quarter_shares (line 18): invalid length 2"),
        ("quarter_shares = [\"0.25\", \"0.25\", \"0.25\", \"0.25\"]", "quarter_shares = [\"0.25\", \"0.25\", \"0.25\", \"0.25\", \"0\"]", "budget.quarter_shares (line 18): invalid length 5"),
        ("rate = \"0.05\"", "rate = \"1.5\"", "deposit.rate = 1.5 (line 61): must lie in [0, 1]"),
        ("release = [[\"60\", \"0\"], [\"90\", \"1\"]]", "release = [[\"90\", \"0\"], [\"60\", \"1\"]]", "deposit.release[1].score = 60 (line 64): scores must increase (the previous is 90)"),
        ("release = [[\"60\", \"0\"], [\"90\", \"1\"]]", "release = [[\"60\", \"1\"], [\"90\", \"0.5\"]]", "deposit.release[1].fraction = 0.5 (line 64): fractions must not decrease"),
        ("release = [[\"60\", \"0\"], [\"90\", \"1\"]]", "release = [[\"60\", \"0\"], [\"190\", \"1\"]]", "deposit.release[1].score = 190 (line 64): must lie in [0, 100]"),
        ("release = [[\"60\", \"0\"], [\"90\", \"1\"]]", "release = [[\"60\", \"0\"], [\"90\", \"1.2\"]]", "deposit.release[1].fraction = 1.2"),
        ("release = [[\"60\", \"0\"], [\"90\", \"1\"]]", "release = []", "deposit.release (line 64): needs at least one"),
        ("release = [[\"60\", \"0\"], [\"90\", \"1\"]]", "release = [[\"60\", \"0\", \"7\"]]", "deposit.release (line 64): invalid length 3"),
        ("default_score = \"100\"", "default_score = \"101\"", "deposit.default_score = 101 (line 66): must lie in [0, 100]"),
        ("{ hospital_keeps = \"0.50\" }", "{ up_to = \"0.2\", hospital_keeps = \"0.50\" }", "risk_sharing.surplus[1].up_to = 0.2 (line 73): the last band must have no up_to"),
        ("{ up_to = \"0.10\", hospital_keeps = \"1.00\" }", "{ hospital_keeps = \"1.00\" }", "risk_sharing.surplus[0].up_to (line 73): missing: only the last band may omit up_to"),
        ("{ up_to = \"0.10\", hospital_keeps = \"1.00\" }", "{ up_to = \"0\", hospital_keeps = \"1.00\" }", "risk_sharing.surplus[0].up_to = 0 (line 73): must lie in (0, 10]"),
        ("{ up_to = \"0.10\", fund_bears = \"0.70\" }", "{ up_to = \"0.10\", fund_bears = \"-0.70\" }", "risk_sharing.overrun[0].fund_bears = -0.70 (line 79): must lie in [0, 1]"),
        ("overrun = [\n  { up_to = \"0.10\", fund_bears = \"0.70\" },\n  { fund_bears = \"0.00\" },\n]", "overrun = []", "risk_sharing.overrun (line 79): needs at least one band"),
        ("[\"医疗救助\", \"0.03\"]", "[\"医疗救助\", \"0.04\"]", "fund_types.default = sum 1.01 (line 89): the proportions must sum to exactly 1"),
        ("[\"统筹基金\", \"0.92\"], [\"大病保险\", \"0.05\"]", "[\"统筹基金\", \"1.02\"], [\"大病保险\", \"-0.05\"]", "fund_types.default[1].share = -0.05 (line 89): must lie in [0, 1]"),
        ("[\"大病保险\", \"0.05\"]", "[\"统筹基金\", \"0.05\"]", "fund_types.default[1].name = \"统筹基金\" (line 89): repeats fund_types.default[0].name"),
        ("[\"大病保险\", \"0.05\"]", "[\"\", \"0.05\"]", "fund_types.default[1].name = \"\" (line 89): must not be empty"),
        ("months = \"1\"", "months = \"13\"", "prepayment_fund.months = 13 (line 94): must lie in [0, 12]"),
        ("months = \"1\"", "months = \"-1\"", "prepayment_fund.months = -1"),
        ("eligible = [\"*\"]", "eligible = [\"*\", \"H1\"]", "prepayment_fund.eligible (line 96): \"*\" (every institution) cannot be combined"),
        ("eligible = [\"*\"]", "eligible = [\"H1\", \"H1\"]", "prepayment_fund.eligible[1] = \"H1\" (line 96): repeats"),
        ("split_by_class = false", "split_by_class = \"no\"", "budget.split_by_class (line 15): invalid type"),
        ("cost_growth = \"0.020\"", "cost_growth = \"2 %\"", "budget.employee.cost_growth (line 26): "),
        ("sporadic = \"0.010\"", "sporadic = \"0.010\"\nsporadc = \"0\"", "budget.reserves.sporadc (line 46): unknown key"),
        ("[budget.employee]", "[budget.employe]", "budget.employe (line 25): unknown key"),
        ("{ fund_bears = \"0.00\" },", "{ fund_bears = \"0.00\", cap = \"1\" },", "risk_sharing.overrun.cap (line 81): unknown key"),
        ("[prepayment_fund]", "[prepayment_fund]\nmonth = \"1\"", "prepayment_fund.month (line 94): unknown key"),
        ("[fund_types]", "[fund_type]", "fund_type (line 88): unknown key"),
    ];

    #[test]
    fn bad_values_are_refused_with_key_line_and_reason() {
        let mut failures = Vec::new();
        for (from, to, want) in BAD {
            match SettleParams::from_toml(&with(from, to)) {
                Ok(_) => failures.push(format!("accepted {to:?}")),
                Err(e) if !e.to_string().contains(want) => failures.push(format!("{to:?}: wanted {want:?} in\n{e}")),
                Err(_) => {}
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The adjustments of the default file are commented out: one is added for these.
    fn adjustment(fields: &str) -> String {
        format!("{DEFAULT_PARAMS}\n[[budget.adjustments]]\n{fields}\n")
    }

    #[test]
    fn adjustments_are_checked() {
        let ok = "insurance = \"居民\"\ncategory = \"住院\"\namount = \"1000000.00\"\nfrom_quarter = 3\nreason = \"疫情\"";
        assert!(SettleParams::from_toml(&adjustment(ok)).is_ok());
        for (from, to, want) in [
            ("from_quarter = 3", "from_quarter = 5", "budget.adjustments[0].from_quarter = 5 (line 120): must lie in 1–4"),
            ("\"1000000.00\"", "\"1000000.001\"", "budget.adjustments[0].amount = 1000000.001 (line 119): at most 2 decimal places"),
            ("\"1000000.00\"", "\"0\"", "budget.adjustments[0].amount = 0 (line 119): an adjustment of 0 changes nothing"),
            ("reason = \"疫情\"", "reason = \" \"", "budget.adjustments[0].reason = \" \" (line 121): a reason must be recorded"),
            ("reason = \"疫情\"", "reason = \"疫情\"\nclass = \"三级\"", "budget.adjustments[0].class = \"三级\" (line 122): budgets are not split by class"),
            ("insurance = \"居民\"", "insurance = \"农民\"", "budget.adjustments[0].insurance (line 117): unknown variant"),
            ("category = \"住院\"", "category = \"门诊\"", "budget.adjustments[0].category (line 118): unknown variant"),
            ("reason = \"疫情\"", "reason = \"疫情\"\nnote = \"x\"", "budget.adjustments[0].note (line 122): unknown key"),
        ] {
            let src = adjustment(&ok.replacen(from, to, 1));
            match SettleParams::from_toml(&src) {
                Ok(_) => panic!("accepted {to}"),
                Err(e) => assert!(e.to_string().contains(want), "{to}: wanted {want:?} in\n{e}"),
            }
        }
        let split = adjustment(ok).replacen("split_by_class = false", "split_by_class = true", 1);
        let e = SettleParams::from_toml(&split).unwrap_err().to_string();
        assert!(e.contains("budget.adjustments[0].class (line 116): missing: budgets are split by class"), "{e}");
    }

    #[test]
    fn every_table_refuses_unknown_keys() {
        let src = adjustment("insurance = \"居民\"\ncategory = \"住院\"\namount = \"1\"\nfrom_quarter = 3\nreason = \"x\"");
        let headers: Vec<&str> = src.lines().filter(|l| l.starts_with('[')).collect();
        assert!(headers.len() >= 9, "{headers:?}");
        for h in headers.iter().copied().chain(["region = \"990100\""]) {
            let bad = src.replacen(h, &format!("{h}\nzz_surprise = 1"), 1);
            let e = SettleParams::from_toml(&bad).expect_err(h).to_string();
            assert!(e.contains("zz_surprise") && e.contains("unknown key"), "{h}: {e}");
        }
    }

    #[test]
    fn all_problems_of_a_file_are_reported() {
        let src = with("cost_growth = \"0.020\"", "cost_growth = \"-1.5\"").replacen("rate = \"0.05\"", "rate = \"-1\"", 1);
        let e = SettleParams::from_toml(&src).unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
    }
}

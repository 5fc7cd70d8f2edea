//! Points for one case: a pure function of the case, its group standard, the
//! institution and the parameters, with its derivation.

use claims::Fen;
use rust_decimal::prelude::*;
use rust_decimal::Decimal;

use crate::params::{Method, Params, RateSetting, UngroupablePay};

/// Decimal places of points.
pub const POINT_PLACES: u32 = 4;

fn round(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(POINT_PLACES, RoundingStrategy::MidpointAwayFromZero)
}

fn yuan(f: Fen) -> Decimal {
    Decimal::new(f.0, 2)
}

/// An institution as pricing needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Institution {
    pub id: String,
    /// 三级 / 二级 / 一级 / 基层.
    pub level: String,
    /// TCM institution (中医类别, incl. integrated and ethnic medicine).
    pub tcm: bool,
    /// The lead institution of its county alliance (医共体), when it is a member.
    pub alliance_lead: Option<String>,
}

/// The payment standard of a DRG or DIP group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStandard {
    pub code: String,
    /// RW (DRG) or score (DIP).
    pub weight: Decimal,
    /// The group's average cost.
    pub mean_cost: Fen,
    /// Base-level group (基层病种): the same coefficient at every level.
    pub base_level: bool,
}

/// A case as pricing needs it.
#[derive(Clone, Debug)]
pub struct CaseInput<'a> {
    pub case_id: &'a str,
    /// The group standard, or None when the case is ungroupable.
    pub group: Option<&'a GroupStandard>,
    pub total_cost: Fen,
    pub innovative_drug_cost: Fen,
    pub los: u32,
    pub main_dx: &'a str,
    /// An approved special case (特例单议), paid by item.
    pub special_case: bool,
    /// Ids of the QC rules with `withhold = true` that the settlement list breaks
    /// (seed 000: a compliant list is a condition of payment). Non-empty: the case
    /// is priced and shown but not payable until a corrected version arrives.
    pub withheld: &'a [String],
}

/// Which cases the conversion rate is derived from: the history year's cases
/// priced by their DRG/DIP group (normal, high and low ratio), with this year's
/// weights, coefficients and outlier rules; and, for the per-diem standards the
/// parameters derive, the history cases of each per-diem category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateBasis {
    pub cases: u64,
    /// Σ priced cost (total cost less excluded drug cost), fen.
    pub cost: Fen,
    /// Σ case points, in ten-thousandths of a point.
    pub points: i64,
    /// Per-diem category name → (Σ priced cost, Σ days, cases).
    pub per_diem: std::collections::BTreeMap<String, (Fen, u64, u64)>,
}

impl RateBasis {
    /// Count a case if it is priced by its group, or by a per-diem category
    /// (`los`: its length of stay).
    pub fn add(&mut self, p: &Points, los: u32) {
        match p.method {
            PayMethod::Drg | PayMethod::Dip => {
                self.cases += 1;
                self.cost = self.cost + p.priced_cost;
                self.points += (p.case_points * Decimal::from(10_000)).to_i64().unwrap_or(0);
            }
            PayMethod::PerDiem => {
                if let Some(cat) = &p.per_diem_category {
                    let e = self.per_diem.entry(cat.clone()).or_default();
                    e.0 = e.0 + p.priced_cost;
                    e.1 += u64::from(los);
                    e.2 += 1;
                }
            }
            _ => {}
        }
    }

    pub fn merge(&mut self, o: &RateBasis) {
        self.cases += o.cases;
        self.cost = self.cost + o.cost;
        self.points += o.points;
        for (k, v) in &o.per_diem {
            let e = self.per_diem.entry(k.clone()).or_default();
            e.0 = e.0 + v.0;
            e.1 += v.1;
            e.2 += v.2;
        }
    }

    /// Σ points as a decimal.
    pub fn points_decimal(&self) -> Decimal {
        Decimal::new(self.points, 4)
    }
}

/// Decimal places of a conversion rate (as of a point value).
pub const RATE_PLACES: u32 = 6;

/// The per-diem standard of one category, as resolved for the year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerDiemStandard {
    pub name: String,
    /// Yuan per day; None when it is to be derived and the history year has no case
    /// of the category (a case of it is then not payable, and says why).
    pub yuan_per_day: Option<Decimal>,
    /// (Σ cost, Σ days, cases) of the history it was derived from; None when fixed.
    pub derived_from: Option<(Fen, u64, u64)>,
}

/// The conversion rate of money into points for one region and year, and the
/// per-diem standards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// Yuan per point, rounded to [`RATE_PLACES`].
    pub yuan_per_point: Decimal,
    /// The history it was derived from; None when the parameters fix it.
    pub basis: Option<RateBasis>,
    /// Per-diem standards by category index; empty: the parameters' fixed standards.
    pub per_diem: Vec<PerDiemStandard>,
}

impl Conversion {
    /// The rate the parameters ask for: fixed, or derived from `basis` (the
    /// history year's cases priced by group). Derived without a usable basis is
    /// an error saying what is missing.
    pub fn resolve(params: &Params, basis: Option<&RateBasis>) -> Result<Conversion, String> {
        let mut c = Self::resolve_rate(params, basis)?;
        c.per_diem = params
            .per_diem
            .categories
            .iter()
            .enumerate()
            .map(|(i, cat)| match cat.yuan_per_day {
                RateSetting::Fixed(v) => Ok(PerDiemStandard { name: cat.name.clone(), yuan_per_day: Some(v), derived_from: None }),
                RateSetting::Derived => {
                    let b = basis.ok_or_else(|| {
                        format!(
                            "per_diem.categories[{i}].yuan_per_day = \"derived\": the {} standard is the history year's \
                             cost per day of its cases; give the history year's settlement lists (--history-cases), or fix \
                             the standard in the parameters",
                            cat.name
                        )
                    })?;
                    let d = b.per_diem.get(&cat.name).copied().filter(|d| d.1 > 0 && d.0.0 > 0);
                    Ok(PerDiemStandard {
                        name: cat.name.clone(),
                        yuan_per_day: d.map(|(cost, days, _)| {
                            (Decimal::new(cost.0, 2) / Decimal::from(days))
                                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
                        }),
                        derived_from: d,
                    })
                }
            })
            .collect::<Result<_, String>>()?;
        Ok(c)
    }

    fn resolve_rate(params: &Params, basis: Option<&RateBasis>) -> Result<Conversion, String> {
        match params.fee_for_service.yuan_per_point {
            RateSetting::Fixed(r) => Ok(Conversion { yuan_per_point: r, basis: None, per_diem: Vec::new() }),
            RateSetting::Derived => {
                let b = basis.ok_or_else(|| {
                    "fee_for_service.yuan_per_point = \"derived\": the conversion rate is derived from the history year's \
                     settlement lists (Σ cost / Σ points of its DRG/DIP cases); give them (--history-cases), or fix the \
                     rate in the parameters"
                        .to_owned()
                })?;
                if b.points <= 0 || b.cost.0 <= 0 {
                    return Err(format!(
                        "fee_for_service.yuan_per_point = \"derived\": the history year has {} cases priced by group \
                         ({} points, cost {}): no rate can be derived; give the history year's settlement lists, or fix \
                         the rate in the parameters",
                        b.cases,
                        b.points_decimal(),
                        b.cost
                    ));
                }
                // yuan / points = (fen / 100) / (units / 10⁴) = fen × 100 / units
                let r = (Decimal::from(b.cost.0) * Decimal::ONE_HUNDRED / Decimal::from(b.points))
                    .round_dp_with_strategy(RATE_PLACES, RoundingStrategy::MidpointAwayFromZero);
                Ok(Conversion { yuan_per_point: r, basis: Some(b.clone()), per_diem: Vec::new() })
            }
        }
    }

    /// A fixed rate (tests, fixed parameters); per-diem standards as the parameters
    /// fix them.
    pub fn fixed(yuan_per_point: Decimal) -> Conversion {
        Conversion { yuan_per_point, basis: None, per_diem: Vec::new() }
    }

    /// The per-diem standard of category `i` (None: derived but not derivable).
    pub fn per_diem_standard(&self, params: &Params, i: usize) -> Option<Decimal> {
        match self.per_diem.get(i) {
            Some(s) => s.yuan_per_day,
            None => match params.per_diem.categories.get(i)?.yuan_per_day {
                RateSetting::Fixed(v) => Some(v),
                RateSetting::Derived => None,
            },
        }
    }

    /// The per-diem standards in one line each.
    pub fn describe_per_diem(&self) -> Vec<String> {
        self.per_diem
            .iter()
            .map(|s| match (&s.yuan_per_day, &s.derived_from) {
                (Some(v), Some((cost, days, n))) => {
                    format!("{}: {v} yuan per day = history cost {cost} / {days} days of {n} cases", s.name)
                }
                (Some(v), None) => format!("{}: {v} yuan per day (fixed by the parameters)", s.name),
                (None, _) => format!(
                    "{}: no standard (derived, but the history year has no case of the category): its cases are not payable",
                    s.name
                ),
            })
            .collect()
    }

    /// The derivation in one line.
    pub fn describe(&self) -> String {
        match &self.basis {
            None => format!("{} yuan per point (fixed by the parameters)", self.yuan_per_point),
            Some(b) => format!(
                "{} yuan per point = history cost {} / {} points of {} DRG/DIP cases",
                self.yuan_per_point,
                b.cost,
                b.points_decimal(),
                b.cases
            ),
        }
    }
}

/// How a case is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    Drg,
    Dip,
    PerDiem,
    FeeForService,
    /// Withheld: no points (ungroupable, pending review).
    None,
}

impl PayMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::Drg => "drg",
            PayMethod::Dip => "dip",
            PayMethod::PerDiem => "per_diem",
            PayMethod::FeeForService => "fee_for_service",
            PayMethod::None => "none",
        }
    }
}

/// Which rule priced the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Normal,
    High,
    Low,
    PerDiem,
    SpecialCase,
    UngroupableTcm,
    UngroupableOther,
    UngroupableWithheld,
    /// Withheld: the institution's level has no coefficient (`coefficients.by_level`)
    /// and it has no override, so DRG/DIP points cannot be computed. Loaders refuse
    /// such an institution ([`crate::Params::check_roster`]); this rule only shows
    /// where an unchecked institution reached pricing.
    NoCoefficient,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Normal => "normal",
            Rule::High => "high_ratio",
            Rule::Low => "low_ratio",
            Rule::PerDiem => "per_diem",
            Rule::SpecialCase => "special_case",
            Rule::UngroupableTcm => "ungroupable_tcm",
            Rule::UngroupableOther => "ungroupable_other",
            Rule::UngroupableWithheld => "ungroupable_withheld",
            Rule::NoCoefficient => "no_coefficient",
        }
    }

    /// The seed article the rule implements.
    pub fn cite(self) -> &'static str {
        match self {
            Rule::Normal => "seed 002 §22–§23",
            Rule::High | Rule::Low => "seed 002 §17(三)",
            Rule::PerDiem => "seed 002 §17(一), §25",
            Rule::SpecialCase => "seed 002 §36; seed 003 三(一)",
            Rule::UngroupableTcm | Rule::UngroupableOther | Rule::UngroupableWithheld => "seed 002 §17(三)",
            Rule::NoCoefficient => "seed 002 §23",
        }
    }

    /// Chinese name of the rule.
    pub fn zh(self) -> &'static str {
        match self {
            Rule::Normal => "正常病例",
            Rule::High => "高倍率病例",
            Rule::Low => "低倍率病例",
            Rule::PerDiem => "床日付费",
            Rule::SpecialCase => "特例单议(按项目)",
            Rule::UngroupableTcm => "中医机构未入组(按项目)",
            Rule::UngroupableOther => "未入组(按项目)",
            Rule::UngroupableWithheld => "未入组(暂不计点)",
            Rule::NoCoefficient => "无调节系数(暂不计点)",
        }
    }
}

/// Where the coefficient came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoefSource {
    Level,
    Override,
    BaseLevelGroup,
    /// Not applied (fee-for-service, per-diem).
    NotApplied,
    /// None: the level has no `coefficients.by_level` entry and there is no override.
    Missing,
}

impl CoefSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CoefSource::Level => "level",
            CoefSource::Override => "override",
            CoefSource::BaseLevelGroup => "base_level_group",
            CoefSource::NotApplied => "not_applied",
            CoefSource::Missing => "missing",
        }
    }
}

/// A case's points with their derivation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Points {
    pub case_id: String,
    pub method: PayMethod,
    pub rule: Rule,
    pub group: Option<String>,
    /// RW or score.
    pub weight: Option<Decimal>,
    pub mean_cost: Option<Fen>,
    /// Cost (less excluded drug cost) / group average.
    pub ratio: Option<Decimal>,
    /// The threshold that applied (k for high, the low bound for low).
    pub threshold: Option<Decimal>,
    pub coefficient: Decimal,
    pub coefficient_source: CoefSource,
    /// RW × points_per_rw, or score × scale.
    pub base_points: Decimal,
    /// Points for the case before add-ons.
    pub case_points: Decimal,
    /// Add-on points for excluded innovative / dual-channel drugs.
    pub addon_points: Decimal,
    pub total: Decimal,
    /// The institution the points are credited to (the alliance lead or itself).
    pub credited_to: String,
    /// Per-diem category name, when per-diem.
    pub per_diem_category: Option<String>,
    /// The cost the case is priced on (total cost less excluded drug cost).
    pub priced_cost: Fen,
    /// Yuan per point used where money converts to points (fee-for-service,
    /// per-diem, add-on); None when nothing was converted.
    pub yuan_per_point: Option<Decimal>,
    /// False while a QC rule that withholds payment is broken: the points are
    /// shown but do not enter the period's points or payment.
    pub payable: bool,
    /// The withholding QC rule ids (empty when payable); `per_diem_standard` when
    /// the case's per-diem category has no standard (see [`PerDiemStandard`]).
    pub withheld_reason: Vec<String>,
    /// A per-diem case whose category has no standard this year.
    pub no_standard: bool,
    /// The institution's level has no coefficient (refused at load by
    /// `Params::check_roster`; never payable).
    pub no_coefficient: bool,
}

/// The coefficient of an institution for a group. There is no default: an institution
/// whose level has no `coefficients.by_level` entry and no override gets
/// `(0, CoefSource::Missing)`, and [`price`] withholds its DRG/DIP points
/// ([`Rule::NoCoefficient`]); [`Params::check_roster`] refuses such institutions
/// when a roster is loaded.
pub fn coefficient(params: &Params, inst: &Institution, base_level_group: bool) -> (Decimal, CoefSource) {
    if base_level_group {
        return (params.coefficients.base_level_group, CoefSource::BaseLevelGroup);
    }
    if let Some(c) = params.coefficients.overrides.get(&inst.id) {
        return (*c, CoefSource::Override);
    }
    match params.coefficients.by_level.get(&inst.level) {
        Some(c) => (*c, CoefSource::Level),
        None => (Decimal::ZERO, CoefSource::Missing),
    }
}

/// Points of an amount paid by item: cost / yuan per point.
pub fn fee_for_service_points(conv: &Conversion, cost: Fen) -> Decimal {
    round(yuan(cost) / conv.yuan_per_point)
}

/// Points of an agreed capitation total (人头付费, seed 002 §25: 按照一定比价关系转化):
/// total / yuan per point.
pub fn capitation_points(conv: &Conversion, total: Fen) -> Decimal {
    round(yuan(total) / conv.yuan_per_point)
}

/// Price one case.
pub fn price(params: &Params, conv: &Conversion, inst: &Institution, case: &CaseInput<'_>) -> Points {
    let mut p = price_inner(params, conv, inst, case);
    p.withheld_reason = case.withheld.to_vec();
    if p.no_standard {
        p.withheld_reason.push("per_diem_standard".to_owned());
    }
    if p.no_coefficient {
        p.withheld_reason.push("no_coefficient".to_owned());
    }
    p.payable = p.withheld_reason.is_empty();
    p
}

fn price_inner(params: &Params, conv: &Conversion, inst: &Institution, case: &CaseInput<'_>) -> Points {
    let credited_to = match (&inst.alliance_lead, params.alliance.credit_to_lead) {
        (Some(lead), true) => lead.clone(),
        _ => inst.id.clone(),
    };
    let addon_cost = if params.innovative_drugs.add_on { case.innovative_drug_cost.max(Fen::ZERO) } else { Fen::ZERO };
    let addon_points = if addon_cost.0 > 0 { fee_for_service_points(conv, addon_cost) } else { Decimal::ZERO };
    let cost = (case.total_cost - addon_cost).max(Fen::ZERO);
    let rate = conv.yuan_per_point;
    let mut p = Points {
        case_id: case.case_id.to_owned(),
        method: PayMethod::FeeForService,
        rule: Rule::Normal,
        group: case.group.map(|g| g.code.clone()),
        weight: case.group.map(|g| g.weight),
        mean_cost: case.group.map(|g| g.mean_cost),
        ratio: None,
        threshold: None,
        coefficient: Decimal::ONE,
        coefficient_source: CoefSource::NotApplied,
        base_points: Decimal::ZERO,
        case_points: Decimal::ZERO,
        addon_points,
        total: Decimal::ZERO,
        credited_to,
        per_diem_category: None,
        priced_cost: cost,
        yuan_per_point: (addon_cost.0 > 0).then_some(rate),
        payable: true,
        withheld_reason: Vec::new(),
        no_standard: false,
        no_coefficient: false,
    };

    // 1. Approved special cases are paid by item, the whole cost (add-on included).
    if case.special_case {
        p.rule = Rule::SpecialCase;
        p.case_points = fee_for_service_points(conv, case.total_cost.max(Fen::ZERO));
        p.priced_cost = case.total_cost.max(Fen::ZERO);
        p.yuan_per_point = Some(rate);
        p.addon_points = Decimal::ZERO;
        p.total = p.case_points;
        return p;
    }

    // 2. Long-stay per-diem categories.
    if let Some((i, cat)) = params
        .per_diem
        .categories
        .iter()
        .enumerate()
        .find(|(_, c)| case.los >= c.min_los && c.dx_prefixes.iter().any(|pre| case.main_dx.starts_with(pre.as_str())))
    {
        p.method = PayMethod::PerDiem;
        p.rule = Rule::PerDiem;
        p.per_diem_category = Some(cat.name.clone());
        p.yuan_per_point = Some(rate);
        let Some(standard) = conv.per_diem_standard(params, i) else {
            // Derived, but the history has no case of the category: no standard to pay by.
            p.no_standard = true;
            p.total = p.addon_points;
            return p;
        };
        p.case_points = round(standard * Decimal::from(case.los) / rate);
        p.total = p.case_points + p.addon_points;
        return p;
    }

    // 3. Ungroupable.
    let Some(g) = case.group else {
        if inst.tcm {
            p.rule = Rule::UngroupableTcm;
        } else if params.fee_for_service.ungroupable_other == UngroupablePay::Zero {
            p.method = PayMethod::None;
            p.rule = Rule::UngroupableWithheld;
            p.total = p.addon_points;
            return p;
        } else {
            p.rule = Rule::UngroupableOther;
        }
        p.yuan_per_point = Some(rate);
        p.case_points = fee_for_service_points(conv, cost);
        p.total = p.case_points + p.addon_points;
        return p;
    };

    // 4. DRG / DIP points with outlier rules.
    let (method, base) = match params.method {
        Method::Drg => (PayMethod::Drg, g.weight * params.drg.points_per_rw),
        Method::Dip => (PayMethod::Dip, g.weight * params.dip.score_scale),
    };
    let (coef, source) = coefficient(params, inst, g.base_level);
    if source == CoefSource::Missing {
        p.method = PayMethod::None;
        p.rule = Rule::NoCoefficient;
        p.coefficient = coef;
        p.coefficient_source = source;
        p.addon_points = Decimal::ZERO;
        p.no_coefficient = true;
        return p;
    }
    p.method = method;
    p.coefficient = coef;
    p.coefficient_source = source;
    p.base_points = base;
    let ratio = if g.mean_cost.0 > 0 { Decimal::from(cost.0) / Decimal::from(g.mean_cost.0) } else { Decimal::ONE };
    p.ratio = Some(ratio.round_dp_with_strategy(POINT_PLACES, RoundingStrategy::MidpointAwayFromZero));
    let (high, low) = match params.method {
        Method::Drg => (params.drg_high_k(g.weight), params.outliers.drg_low),
        Method::Dip => (params.outliers.dip_high, params.outliers.dip_low),
    };
    if ratio > high {
        p.rule = Rule::High;
        p.threshold = Some(high);
        p.case_points = round(base * coef + (ratio - high) * base);
    } else if ratio < low {
        p.rule = Rule::Low;
        p.threshold = Some(low);
        p.case_points = round(base * ratio);
    } else {
        p.rule = Rule::Normal;
        p.case_points = round(base * coef);
    }
    p.total = p.case_points + p.addon_points;
    p
}

impl Points {
    /// A one-paragraph derivation in Chinese and English.
    pub fn explain(&self, zh: bool) -> String {
        let w = self.weight.map(|w| w.to_string()).unwrap_or_else(|| "-".into());
        let m = self.mean_cost.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
        let r = self.ratio.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
        let t = self.threshold.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
        let g = self.group.as_deref().unwrap_or("0000");
        let rate = self.yuan_per_point.map(|r| r.normalize().to_string());
        let withheld = self.withheld_reason.join("、");
        if zh {
            let rate = rate.map(|r| format!("；折算率 {r} 元/点")).unwrap_or_default();
            let pay = if self.payable { String::new() } else { format!("；暂缓支付：结算清单未通过质控规则 {withheld}，更正后重新上传方可支付") };
            format!(
                "病例 {}：{}（{}，依据 {}）；病组 {g}，权重/分值 {w}，组均费用 {m} 元，费用比 {r}，阈值 {t}；基准点数 {}，调节系数 {}（{}）；病例点数 {}，除外药品加点 {}，合计 {}，计入机构 {}{rate}{pay}",
                self.case_id, self.rule.zh(), self.method.as_str(), self.rule.cite(), self.base_points, self.coefficient,
                self.coefficient_source.as_str(), self.case_points, self.addon_points, self.total, self.credited_to
            )
        } else {
            let rate = rate.map(|r| format!("; conversion {r} yuan per point")).unwrap_or_default();
            let pay = if self.payable { String::new() } else { format!("; withheld: the list breaks QC rule(s) {}, payable once a corrected version arrives", self.withheld_reason.join(", ")) };
            format!(
                "case {}: {} ({}, per {}); group {g}, weight {w}, group mean {m} yuan, cost ratio {r}, threshold {t}; base points {}, coefficient {} ({}); case points {}, drug add-on {}, total {}, credited to {}{rate}{pay}",
                self.case_id, self.rule.as_str(), self.method.as_str(), self.rule.cite(), self.base_points, self.coefficient,
                self.coefficient_source.as_str(), self.case_points, self.addon_points, self.total, self.credited_to
            )
        }
    }
}

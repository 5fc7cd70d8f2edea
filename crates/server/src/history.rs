//! The history year as the service prices and settles year Y with it — the same
//! derivation as `drgdip settle --history-cases` (`crates/cli/src/pricing.rs`,
//! `history_pass`):
//!
//! * the store's cases discharged in Y−1 (the latest version of each), every one
//!   priced with the configuration that prices the year-Y case (this year's
//!   weights, coefficients and outlier rules) at a unit rate, without QC gating
//!   (the budget is last year's spending, whatever its lists);
//! * the **conversion rate** of money into points (fee-for-service, per-diem,
//!   add-ons, seed 002 §24–§25): the parameters' fixed rate, or — when
//!   `fee_for_service.yuan_per_point = "derived"` — Σ priced cost / Σ case points of
//!   the history's DRG/DIP cases ([`points::Conversion::resolve`]);
//! * the **budget** of Y from the history's totals per settled institution
//!   (alliance members credited to their lead, seed 002 §26) and insurance type;
//! * the **expected point value** of each budget line = its annual budget / the
//!   history's points on that line under this year's parameters (DRG/DIP points +
//!   converted yuan / the rate): what the estimated payment (预估支付) uses before
//!   the year is settled.
//!
//! Institutions the history names but the store does not hold are an error naming
//! them (never a default level).

use std::collections::BTreeMap;

use claims::{Claim, Fen};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use settle::{Budget, Insurance, Key, SubCategory};

use crate::pipeline::{yuan_to_fen, Engine};

/// The insurance type of a claim, when it is one the budgets are built for.
pub fn insurance_of(c: &Claim) -> Option<Insurance> {
    match c.insurance_type {
        Some(claims::InsuranceType::Employee) => Some(Insurance::Employee),
        Some(claims::InsuranceType::Resident) => Some(Insurance::Resident),
        _ => None,
    }
}

/// The institutions and the crediting and class rules (as the CLI's roster).
pub struct Roster<'a> {
    pub institutions: &'a BTreeMap<String, points::Institution>,
    /// `alliance.credit_to_lead` of the points parameters.
    pub credit_to_lead: bool,
    /// `budget.split_by_class` of the settlement parameters.
    pub split_by_class: bool,
}

impl Roster<'_> {
    /// The institution a case's points and history are credited to.
    pub fn settled_with<'b>(&'b self, id: &'b str) -> &'b str {
        match self.institutions.get(id).and_then(|i| i.alliance_lead.as_deref()) {
            Some(lead) if self.credit_to_lead => lead,
            _ => id,
        }
    }

    pub fn class(&self, id: &str) -> &str {
        self.institutions.get(id).map_or("", |i| i.level.as_str())
    }

    /// The inpatient budget line of a settled institution and insurance type.
    pub fn key(&self, settled: &str, ins: Insurance) -> Key {
        Key::new(ins, SubCategory::Inpatient, if self.split_by_class { self.class(settled) } else { "" })
    }
}

pub use settle::HistoryYear;

/// Price the history year's cases with `engine` at a unit rate. Institutions the
/// store does not hold are refused with their list.
pub fn pass(engine: &Engine, cases: &[Claim], roster: &Roster<'_>, year: i32) -> Result<HistoryYear, String> {
    let unit = points::Conversion::fixed(Decimal::ONE);
    let mut h = HistoryYear { year, ..HistoryYear::default() };
    let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
    for c in cases {
        let Some(inst) = roster.institutions.get(&c.institution_id) else {
            *unknown.entry(c.institution_id.as_str()).or_default() += 1;
            continue;
        };
        let Some(ins) = insurance_of(c) else {
            h.other_insurance += 1;
            continue;
        };
        let (g, _) = engine.group(c, inst, false);
        let p = engine.points(c, inst, &g, false, &unit, &[]);
        let (total, fund) = (c.total_cost.unwrap_or_default(), c.fund_paid.unwrap_or_default());
        h.add(roster.settled_with(&c.institution_id), ins, total, fund, Some((&p, c.los.unwrap_or(0))));
    }
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().take(20).map(|(i, n)| format!("{i}（{n} 例）")).collect();
        return Err(format!(
            "{year} 年（上年）的结算清单中有 {} 个机构未登记，其级别与系数未知，不能计算上年点数与预算：{}；请先登记这些机构",
            unknown.len(),
            list.join("、")
        ));
    }
    Ok(h)
}


/// The conversion rate the parameters ask for, or why there is none (in Chinese).
pub fn conversion(params: &points::Params, h: &HistoryYear) -> Result<points::Conversion, String> {
    match params.fee_for_service.yuan_per_point {
        points::RateSetting::Fixed(r) => Ok(points::Conversion::fixed(r)),
        points::RateSetting::Derived if h.basis.cases == 0 => Err(format!(
            "折算率未知：参数 fee_for_service.yuan_per_point = \"derived\"，折算率由上年（{} 年）按 DRG/DIP 付费病例推导\
             （Σ 费用 / Σ 病例点数），但库中没有 {} 年出院的此类病例；请先上传 {} 年的结算清单，或在点数参数中固定折算率",
            h.year, h.year, h.year
        )),
        points::RateSetting::Derived => points::Conversion::resolve(params, Some(&h.basis)).map_err(|e| {
            format!("折算率未知（上年 {} 年 {} 例按病组付费，费用 {}，点数 {}）：{e}", h.year, h.basis.cases, h.basis.cost, h.basis.points_decimal())
        }),
    }
}

/// One budget line with its expected point value.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedLine {
    pub key: Key,
    pub annual: Fen,
    /// The history's points on the line under this year's parameters.
    pub points: Decimal,
    /// annual / points, 6 places; None without history points.
    pub value: Option<Decimal>,
}

/// Expected point values of the inpatient lines of `budget` (as `drgdip settle` step 9).
pub fn expected_lines(budget: &Budget, h: &HistoryYear, conv: &points::Conversion, roster: &Roster<'_>) -> Vec<ExpectedLine> {
    budget
        .lines
        .iter()
        .filter(|l| !l.key.category.outpatient())
        .map(|l| {
            let pts = h.expected_points(conv, |inst, ins| roster.key(inst, ins) == l.key);
            let value = (pts > Decimal::ZERO).then(|| (Decimal::new(l.annual.0, 2) / pts).round_dp(6));
            ExpectedLine { key: l.key.clone(), annual: l.annual, points: pts.round_dp(4), value }
        })
        .collect()
}

/// What the service prices and estimates year-Y cases with, for one engine:
/// the rate and the expected point values, derived from the store's Y−1 cases.
#[derive(Clone, Debug)]
pub struct YearBasis {
    /// The year of the cases priced (Y).
    pub year: u16,
    pub history: HistoryYear,
    /// The conversion rate, or why it is unknown.
    pub conv: Result<points::Conversion, String>,
    /// The budget lines with their expected point values, or why there are none.
    pub lines: Result<Vec<ExpectedLine>, String>,
    /// Version of the settlement parameters the budget is built with.
    pub settle_params: String,
    /// `drgdip serve --point-value`: an explicit point value replacing the expected one.
    pub override_value: Option<Decimal>,
    pub split_by_class: bool,
    pub credit_to_lead: bool,
}

/// Derive the basis of year `year` from the history year's cases (the latest
/// version of each). Problems (no history, unknown institutions) are recorded as
/// the reason the rate or the estimate is unavailable, never replaced by a default.
pub fn year_basis(
    engine: &Engine,
    history: &[Claim],
    institutions: &BTreeMap<String, points::Institution>,
    year: u16,
    settle_params: &settle::SettleParams,
    override_value: Option<Decimal>,
) -> YearBasis {
    let roster = Roster {
        institutions,
        credit_to_lead: engine.params.alliance.credit_to_lead,
        split_by_class: settle_params.budget.split_by_class,
    };
    let hy = i32::from(year) - 1;
    let (history, conv, lines) = match pass(engine, history, &roster, hy) {
        Err(e) => (HistoryYear { year: hy, ..HistoryYear::default() }, Err(e.clone()), Err(e)),
        Ok(h) => {
            let conv = conversion(&engine.params, &h);
            let lines = if h.totals.is_empty() {
                Err(format!(
                    "预估点值不可得：库中没有 {hy} 年（上年）出院的职工/居民病例，无法按上年总额编制 {year} 年预算（seed 002 §9）"
                ))
            } else {
                match &conv {
                    Err(e) => Err(format!("预估点值不可得：{e}")),
                    Ok(c) => {
                        match settle::build_budget(&settle_params.budget, year, &h.rows(|i| roster.class(i).to_owned())) {
                            Ok(budget) => Ok(expected_lines(&budget, &h, c, &roster)),
                            Err(e) => Err(format!("预估点值不可得：预算无法编制：{e}")),
                        }
                    }
                }
            };
            (h, conv, lines)
        }
    };
    YearBasis {
        year,
        history,
        conv,
        lines,
        settle_params: settle_params.version.clone(),
        override_value,
        split_by_class: settle_params.budget.split_by_class,
        credit_to_lead: engine.params.alliance.credit_to_lead,
    }
}

/// The estimated payment of one case (预估支付) with its derivation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Estimate {
    /// `expected` (points × the expected point value of the case's budget line),
    /// `override` (points × the point value `drgdip serve --point-value` fixes), or
    /// `unavailable` (see `reason`: nothing is made up).
    pub status: &'static str,
    pub points: Option<String>,
    pub point_value: Option<String>,
    /// Yuan, two decimals.
    pub yuan: Option<String>,
    pub fen: Option<i64>,
    /// The budget line (险种/住院[/级别]).
    pub line: Option<String>,
    /// The numbers behind the point value.
    pub basis: Option<Value>,
    /// Why there is no estimate (status `unavailable`), or the override's label.
    pub reason: Option<String>,
}

impl YearBasis {
    /// The derivation as JSON (`GET /api/engine`, the case page, the upload answer).
    pub fn describe(&self) -> Value {
        let rate = match &self.conv {
            Ok(c) => json!({
                "status": if c.basis.is_some() { "derived" } else { "fixed" },
                "yuan_per_point": c.yuan_per_point.to_string(),
                "history_cases": c.basis.as_ref().map(|b| b.cases),
                "history_cost": c.basis.as_ref().map(|b| b.cost.to_string()),
                "history_points": c.basis.as_ref().map(|b| b.points_decimal().to_string()),
                "text": c.describe(),
            }),
            Err(e) => json!({"status": "unavailable", "reason": e}),
        };
        let lines = match &self.lines {
            Ok(ls) => json!(ls
                .iter()
                .map(|l| json!({
                    "line": l.key.to_string(),
                    "budget": l.annual.to_string(),
                    "history_points": l.points.to_string(),
                    "expected_point_value": l.value.map(|v| v.to_string()),
                }))
                .collect::<Vec<_>>()),
            Err(_) => json!([]),
        };
        json!({
            "year": self.year,
            "history_year": self.history.year,
            "history_cases": self.history.cases,
            "history_other_insurance": self.history.other_insurance,
            "settle_params": self.settle_params,
            "conversion": rate,
            "expected_point_values": lines,
            "expected_unavailable": self.lines.as_ref().err(),
            "point_value_override": self.override_value.map(|v| v.to_string()),
            "formula": "预估支付 = 病例点数 × 预估点值；预估点值 = 病例所在预算线的年度预算（按上年病例与结算参数编制，同结算） / 上年病例按本年参数计算的点数（按病组付费点数 + 按项目/床日/加点金额 ÷ 折算率）；折算率 = 上年按病组付费病例 Σ 费用 / Σ 病例点数",
        })
    }

    /// The estimate of a case: `total` points (None: pending, the rate is unknown),
    /// its insurance type and the institution its points are credited to.
    pub fn estimate(
        &self,
        total: Option<Decimal>,
        pending: Option<&str>,
        ins: Option<Insurance>,
        credited: &str,
        institutions: &BTreeMap<String, points::Institution>,
    ) -> Estimate {
        let unavailable = |reason: String| Estimate {
            status: "unavailable",
            points: total.map(|t| t.to_string()),
            point_value: None,
            yuan: None,
            fen: None,
            line: None,
            basis: None,
            reason: Some(reason),
        };
        let Some(total) = total else {
            return unavailable(format!("点数待定，无法预估：{}", pending.unwrap_or("折算率未知")));
        };
        let money = |pv: Decimal| {
            let f = yuan_to_fen(total * pv);
            (Decimal::new(f.0, 2).to_string(), f.0)
        };
        if let Some(pv) = self.override_value {
            let (yuan, fen) = money(pv);
            return Estimate {
                status: "override",
                points: Some(total.to_string()),
                point_value: Some(pv.to_string()),
                yuan: Some(yuan),
                fen: Some(fen),
                line: None,
                basis: None,
                reason: Some(format!("点值 {pv} 元/点由启动参数 --point-value 指定（人工设定，非按预算与上年数据推算）")),
            };
        }
        let Some(ins) = ins else {
            return unavailable("险种不是职工或居民医保，不在统筹区点数法预算内，无预估点值".into());
        };
        let roster = Roster { institutions, credit_to_lead: self.credit_to_lead, split_by_class: self.split_by_class };
        let key = roster.key(credited, ins);
        let lines = match &self.lines {
            Ok(l) => l,
            Err(e) => return unavailable(e.clone()),
        };
        let Some(line) = lines.iter().find(|l| l.key == key) else {
            return unavailable(format!(
                "上年（{} 年）没有 {key} 的病例，该预算线无预算，无预估点值（结算时这类病例将被拒绝）",
                self.history.year
            ));
        };
        let Some(pv) = line.value else {
            return unavailable(format!("预算线 {key} 的上年病例点数为 0，无预估点值"));
        };
        let (yuan, fen) = money(pv);
        let rate = self.conv.as_ref().ok();
        Estimate {
            status: "expected",
            points: Some(total.to_string()),
            point_value: Some(pv.to_string()),
            yuan: Some(yuan),
            fen: Some(fen),
            line: Some(key.to_string()),
            basis: Some(json!({
                "history_year": self.history.year,
                "line_budget": line.annual.to_string(),
                "line_history_points": line.points.to_string(),
                "settle_params": self.settle_params,
                "yuan_per_point": rate.map(|c| c.yuan_per_point.to_string()),
                "rate": rate.map(|c| c.describe()),
                "text": format!(
                    "预估点值 {pv} = {key} 年度预算 {} 元 / 上年（{} 年）该线按本年参数计算的点数 {}；折算率 {}",
                    line.annual,
                    self.history.year,
                    line.points,
                    rate.map(|c| format!("{} 元/点", c.yuan_per_point)).unwrap_or_else(|| "—".into())
                ),
            })),
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basis(override_value: Option<Decimal>) -> YearBasis {
        YearBasis {
            year: 2025,
            history: HistoryYear { year: 2024, cases: 10, ..HistoryYear::default() },
            conv: Ok(points::Conversion::fixed(Decimal::new(150, 0))),
            lines: Ok(vec![ExpectedLine {
                key: Key::new(Insurance::Employee, SubCategory::Inpatient, ""),
                annual: Fen(100_000_000),
                points: Decimal::new(80_000_000, 4),
                value: Some(Decimal::new(125, 0)),
            }]),
            settle_params: "t".into(),
            override_value,
            split_by_class: false,
            credit_to_lead: true,
        }
    }

    #[test]
    fn estimates_use_the_expected_point_value_of_the_line_or_say_why_not() {
        let insts = BTreeMap::new();
        let b = basis(None);
        let e = b.estimate(Some(Decimal::new(1005, 1)), None, Some(Insurance::Employee), "H1", &insts);
        assert_eq!((e.status, e.fen, e.line.as_deref()), ("expected", Some(1_256_250), Some("职工/住院")));
        assert!(e.basis.as_ref().is_some_and(|b| b["text"].as_str().is_some_and(|t| t.contains("8000"))), "{:?}", e.basis);
        // No line of that insurance type, no insurance type, pending points: no figure, a reason.
        let e = b.estimate(Some(Decimal::ONE), None, Some(Insurance::Resident), "H1", &insts);
        assert_eq!((e.status, e.fen), ("unavailable", None));
        assert!(e.reason.as_deref().is_some_and(|r| r.contains("居民/住院") && r.contains("2024")), "{:?}", e.reason);
        assert_eq!(b.estimate(Some(Decimal::ONE), None, None, "H1", &insts).status, "unavailable");
        let e = b.estimate(None, Some("折算率未知"), Some(Insurance::Employee), "H1", &insts);
        assert!(e.status == "unavailable" && e.points.is_none() && e.reason.as_deref().is_some_and(|r| r.contains("点数待定")));
        // An explicit point value is labelled as the override it is.
        let e = basis(Some(Decimal::new(200, 0))).estimate(Some(Decimal::TEN), None, Some(Insurance::Employee), "H1", &insts);
        assert_eq!((e.status, e.fen), ("override", Some(200_000)));
        assert!(e.reason.as_deref().is_some_and(|r| r.contains("--point-value")));
    }
}

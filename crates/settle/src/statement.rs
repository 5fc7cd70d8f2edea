//! Statements (结算单): per hospital and period, and the region summary that
//! reconciles to the budget — as CSV text and XLSX bytes. Deterministic: the same
//! settlement gives byte-identical output (the XLSX creation time is fixed to
//! 1 January of the year after the settlement year).
//!
//! In XLSX, amounts are written as numbers (yuan, format `#,##0.00`) so that a
//! spreadsheet can add them; a spreadsheet cell is an IEEE double, so the CSV,
//! written from integer fen, is the authoritative copy.

use std::fmt::Write as _;

use claims::Fen;
use rust_decimal::Decimal;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};

use crate::budget::Budget;
use crate::cycle::{Account, AnnualRow, PeriodRow, Settlement};
use crate::model::{Method, Pts};
use crate::simulate::SimRow;

/// A CSV field, quoted when needed.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A table cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Text(String),
    Money(Fen),
    Points(Pts),
    Dec(Decimal),
    Int(u64),
    Empty,
}

impl Val {
    /// The cell as plain text (money in yuan with two decimals, points with four).
    pub fn text(&self) -> String {
        match self {
            Val::Text(s) => s.clone(),
            v => v.csv(),
        }
    }

    fn csv(&self) -> String {
        match self {
            Val::Text(s) => csv_field(s),
            Val::Money(f) => f.to_string(),
            Val::Points(p) => p.to_string(),
            Val::Dec(d) => d.to_string(),
            Val::Int(n) => n.to_string(),
            Val::Empty => String::new(),
        }
    }
}

/// A titled table with English column names (CSV) and Chinese ones (XLSX).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub title: String,
    pub columns: Vec<(&'static str, &'static str)>,
    pub rows: Vec<Vec<Val>>,
}

impl Table {
    pub fn to_csv(&self) -> String {
        let mut s = String::new();
        let head: Vec<&str> = self.columns.iter().map(|c| c.0).collect();
        s.push_str(&head.join(","));
        s.push('\n');
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(Val::csv).collect();
            s.push_str(&cells.join(","));
            s.push('\n');
        }
        s
    }
}

/// Several tables as one XLSX workbook, a sheet per table.
pub fn to_xlsx(year: u16, sheets: &[(&str, &Table)]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let created = ExcelDateTime::from_ymd(year + 1, 1, 1)?;
    wb.set_properties(
        &DocProperties::new()
            .set_creation_datetime(&created)
            .set_title("医保结算单"),
    );
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let pts = Format::new().set_num_format("0.0000");
    for (name, t) in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(*name)?;
        ws.write_string_with_format(0, 0, &t.title, &bold)?;
        for (c, (en, zh)) in t.columns.iter().enumerate() {
            let c = c as u16;
            ws.write_string_with_format(1, c, *zh, &bold)?;
            ws.write_string(2, c, *en)?;
            ws.set_column_width(c, 14)?;
        }
        for (i, r) in t.rows.iter().enumerate() {
            let row = (i + 3) as u32;
            for (c, v) in r.iter().enumerate() {
                let c = c as u16;
                match v {
                    Val::Text(s) => {
                        ws.write_string(row, c, s)?;
                    }
                    // Display only: see the module documentation.
                    Val::Money(f) => {
                        ws.write_number_with_format(row, c, f.0 as f64 / 100.0, &money)?;
                    }
                    Val::Points(p) => {
                        ws.write_number_with_format(row, c, p.0 as f64 / 10_000.0, &pts)?;
                    }
                    Val::Dec(d) => {
                        ws.write_string(row, c, d.to_string())?;
                    }
                    Val::Int(n) => {
                        ws.write_number(row, c, *n as f64)?;
                    }
                    Val::Empty => {}
                }
            }
        }
    }
    wb.save_to_buffer()
}

const MONTH_COLS: [(&str, &str); 10] = [
    ("institution_id", "机构编码"),
    ("period", "期间"),
    ("insurance", "险种"),
    ("category", "细分类别"),
    ("class", "机构类别"),
    ("cases", "病例数"),
    ("fund_incurred", "基金发生额"),
    ("deposit_rate", "保证金比例"),
    ("deposit", "预留保证金"),
    ("prepayment", "月度预付"),
];

/// Monthly prepayments, optionally of one hospital.
pub fn months_table(s: &Settlement, rate: Decimal, inst: Option<&str>) -> Table {
    let rows = s
        .months
        .iter()
        .filter(|m| inst.is_none_or(|i| m.institution_id == i))
        .map(|m| {
            vec![
                Val::Text(m.institution_id.clone()),
                Val::Text(format!("{}-{:02}", s.year, m.month)),
                Val::Text(m.key.insurance.zh().into()),
                Val::Text(m.key.category.zh().into()),
                Val::Text(m.key.class.clone()),
                Val::Int(m.cases),
                Val::Money(m.fund_incurred),
                Val::Dec(rate),
                Val::Money(m.deposit),
                Val::Money(m.prepayment),
            ]
        })
        .collect();
    Table {
        title: format!("{} 月度预付 (monthly prepayment, seed 002 §30)", s.year),
        columns: MONTH_COLS.to_vec(),
        rows,
    }
}

fn period_cols() -> Vec<(&'static str, &'static str)> {
    let mut c = vec![
        ("institution_id", "机构编码"),
        ("period", "期间"),
        ("insurance", "险种"),
        ("category", "细分类别"),
        ("class", "机构类别"),
        ("cases", "病例数"),
    ];
    c.extend([
        ("points_drg", "DRG点数"),
        ("points_dip", "DIP点数"),
        ("points_per_diem", "床日点数"),
        ("points_fee_for_service", "项目点数"),
        ("points_none", "不计点"),
    ]);
    c.extend([
        ("points", "有效点数"),
        ("point_value", "点值"),
        ("amount", "结算额度"),
        ("total_cost", "医疗总费用"),
        ("individual", "个人负担"),
        ("fund_settlement", "基金结算额度"),
        ("fund_incurred", "基金发生额"),
        ("deposit", "预留保证金"),
        ("prepaid", "已预付"),
        ("payout", "本期拨付"),
    ]);
    c
}

fn period_vals(year: u16, r: &PeriodRow) -> Vec<Val> {
    let period = if r.period == 0 {
        format!("{year}")
    } else {
        format!("{year}Q{}", r.period)
    };
    let mut v = vec![
        Val::Text(r.institution_id.clone()),
        Val::Text(period),
        Val::Text(r.key.insurance.zh().into()),
        Val::Text(r.key.category.zh().into()),
        Val::Text(r.key.class.clone()),
        Val::Int(r.cases),
    ];
    for m in Method::ALL {
        v.push(Val::Points(r.points_by_method[m.index()]));
    }
    v.extend([
        Val::Points(r.points),
        r.point_value.map_or(Val::Empty, Val::Dec),
        Val::Money(r.amount),
        Val::Money(r.total_cost),
        Val::Money(r.individual),
        Val::Money(r.fund_settlement),
        Val::Money(r.fund_incurred),
        Val::Money(r.deposit),
        Val::Money(r.prepaid),
        Val::Money(r.payout),
    ]);
    v
}

/// Quarterly pre-settlements, optionally of one hospital.
pub fn quarters_table(s: &Settlement, inst: Option<&str>) -> Table {
    let rows = s
        .quarters
        .iter()
        .filter(|r| inst.is_none_or(|i| r.institution_id == i))
        .map(|r| period_vals(s.year, r))
        .collect();
    Table {
        title: format!(
            "{} 季度预结 (quarterly pre-settlement, seed 002 §31)",
            s.year
        ),
        columns: period_cols(),
        rows,
    }
}

/// Annual settlements, optionally of one hospital.
pub fn annual_table(s: &Settlement, inst: Option<&str>) -> Table {
    let mut cols = period_cols();
    cols.pop(); // payout: replaced by the annual columns
    cols.extend([
        ("quarterly_payouts", "季度拨付合计"),
        ("annual_adjustment", "年终清算差额"),
        ("balance", "结余(+)/超支(-)"),
        ("risk_sharing_uncapped", "结余留用/超支分担(封顶前)"),
        ("risk_sharing", "结余留用/超支分担"),
        ("score", "考核得分"),
        ("release_fraction", "保证金返还比例"),
        ("deposit_released", "返还保证金"),
        ("deposit_withheld", "扣除保证金"),
        ("redistributed", "按点数返还(收回结余与扣除保证金)"),
        ("final_fund", "年度基金支付"),
        ("fund_types", "各类基金分担"),
    ]);
    let rows = s
        .annual
        .iter()
        .filter(|a| inst.is_none_or(|i| a.year.institution_id == i))
        .map(|a: &AnnualRow| {
            let mut v = period_vals(s.year, &a.year);
            v.pop();
            let ft: Vec<String> = a
                .fund_types
                .iter()
                .map(|(n, f)| format!("{n}:{f}"))
                .collect();
            v.extend([
                Val::Money(a.quarterly_payouts),
                Val::Money(a.annual_adjustment),
                Val::Money(a.balance),
                Val::Money(a.risk_sharing_uncapped),
                Val::Money(a.risk_sharing),
                Val::Dec(a.score),
                Val::Dec(a.release_fraction.round_dp(4).normalize()),
                Val::Money(a.deposit_released),
                Val::Money(a.deposit_withheld),
                Val::Money(a.redistributed),
                Val::Money(a.final_fund),
                Val::Text(ft.join("; ")),
            ]);
            v
        })
        .collect();
    Table {
        title: format!("{} 年终结算 (annual settlement, seed 002 §32–§34)", s.year),
        columns: cols,
        rows,
    }
}

/// Per hospital: the prepayment fund and the year's net.
pub fn hospitals_table(s: &Settlement, inst: Option<&str>) -> Table {
    let rows = s
        .hospitals
        .iter()
        .filter(|h| inst.is_none_or(|i| h.institution_id == i))
        .map(|h| {
            let ann: Vec<&AnnualRow> = s
                .annual
                .iter()
                .filter(|a| a.year.institution_id == h.institution_id)
                .collect();
            let sum = |f: fn(&AnnualRow) -> Fen| ann.iter().map(|a| f(a)).sum::<Fen>();
            vec![
                Val::Text(h.institution_id.clone()),
                Val::Money(sum(|a| a.year.fund_settlement)),
                Val::Money(sum(|a| a.prepaid_months)),
                Val::Money(sum(|a| a.quarterly_payouts)),
                Val::Money(sum(|a| a.annual_adjustment)),
                Val::Money(sum(|a| a.risk_sharing)),
                Val::Money(sum(|a| a.deposit_withheld)),
                Val::Money(sum(|a| a.redistributed)),
                Val::Money(h.prepayment_fund),
                Val::Money(h.annual_payout),
                Val::Money(h.total_received),
            ]
        })
        .collect();
    Table {
        title: format!(
            "{} 机构年度汇总 (hospital year, with the prepayment fund, seed 003 二(六))",
            s.year
        ),
        columns: vec![
            ("institution_id", "机构编码"),
            ("fund_settlement", "年度基金结算额度"),
            ("prepaid_months", "月度预付合计"),
            ("quarterly_payouts", "季度拨付合计"),
            ("annual_adjustment", "年终清算差额"),
            ("risk_sharing", "结余留用/超支分担"),
            ("deposit_withheld", "扣除保证金"),
            ("redistributed", "按点数返还"),
            ("prepayment_fund", "预付金(年初拨付,年终收回)"),
            ("annual_payout", "年终实际拨付"),
            ("total_received", "全年基金支付"),
        ],
        rows,
    }
}

/// Point values of every line and period.
pub fn point_values_table(s: &Settlement) -> Table {
    let rows = s
        .point_values
        .iter()
        .map(|p| {
            vec![
                Val::Text(if p.period == 0 {
                    format!("{}", s.year)
                } else {
                    format!("{}Q{}", s.year, p.period)
                }),
                Val::Text(p.key.insurance.zh().into()),
                Val::Text(p.key.category.zh().into()),
                Val::Text(p.key.class.clone()),
                Val::Money(p.budget),
                Val::Points(p.points),
                p.value.map_or(Val::Empty, Val::Dec),
                Val::Money(p.allocated),
                Val::Text(if p.allocated == p.budget {
                    "OK".into()
                } else {
                    format!("unallocated {}", p.budget - p.allocated)
                }),
            ]
        })
        .collect();
    Table {
        title: format!("{} 点值 (point values, seed 002 §31–§32)", s.year),
        columns: vec![
            ("period", "期间"),
            ("insurance", "险种"),
            ("category", "细分类别"),
            ("class", "机构类别"),
            ("budget", "预算"),
            ("points", "有效点数"),
            ("point_value", "点值"),
            ("allocated", "已分配结算额度"),
            ("check", "核对"),
        ],
        rows,
    }
}

/// The region summary: per budget line, the budget and what was settled, and the
/// reconciliation of the year (budget = Σ settlement amounts; fund flows).
pub fn summary_table(b: &Budget, s: &Settlement) -> Table {
    let mut rows = Vec::new();
    for l in &b.lines {
        let ann: Vec<&AnnualRow> = s.annual.iter().filter(|a| a.year.key == l.key).collect();
        let sum = |f: &dyn Fn(&AnnualRow) -> Fen| ann.iter().map(|a| f(a)).sum::<Fen>();
        let amount = sum(&|a| a.year.amount);
        let months: Fen = s
            .months
            .iter()
            .filter(|m| m.key == l.key)
            .map(|m| m.prepayment)
            .sum();
        let qp: Fen = s
            .quarters
            .iter()
            .filter(|q| q.key == l.key)
            .map(|q| q.payout)
            .sum();
        rows.push(vec![
            Val::Text(l.key.insurance.zh().into()),
            Val::Text(l.key.category.zh().into()),
            Val::Text(l.key.class.clone()),
            Val::Money(l.annual),
            Val::Money(amount),
            Val::Text(if amount == l.annual {
                "OK".into()
            } else {
                format!("unallocated {}", l.annual - amount)
            }),
            Val::Money(sum(&|a| a.year.individual)),
            Val::Money(sum(&|a| a.year.fund_settlement)),
            Val::Money(months),
            Val::Money(qp),
            Val::Money(sum(&|a| a.annual_adjustment)),
            Val::Money(sum(&|a| a.risk_sharing)),
            Val::Money(sum(&|a| a.deposit_withheld)),
            Val::Money(sum(&|a| a.redistributed)),
            Val::Money(sum(&|a| a.final_fund)),
            Val::Money(l.fund_budget),
        ]);
    }
    Table {
        title: format!(
            "{} 统筹区结算汇总 (region summary, reconciles to the budget)",
            s.year
        ),
        columns: vec![
            ("insurance", "险种"),
            ("category", "细分类别"),
            ("class", "机构类别"),
            ("annual_budget", "年度预算"),
            ("settled_amount", "结算额度合计"),
            ("check", "核对"),
            ("individual", "个人负担"),
            ("fund_settlement", "基金结算额度"),
            ("monthly_prepayments", "月度预付"),
            ("quarterly_payouts", "季度拨付"),
            ("annual_adjustment", "年终清算差额"),
            ("risk_sharing", "结余留用/超支分担"),
            ("deposit_withheld", "扣除保证金"),
            ("redistributed", "按点数返还"),
            ("final_fund", "年度基金支付"),
            ("fund_budget", "基金支出预算"),
        ],
        rows,
    }
}

/// The budget identity of each insurance type, one row per term (seed 003 二(一):
/// every yuan of the budget is accounted for):
/// budget = paid + retained surplus + retained deposits + reserves kept + carried over.
pub fn identity_table(s: &Settlement) -> Table {
    let mut rows = Vec::new();
    let row = |ins: &Account, item: &str, zh: &str, v: Fen, note: String| {
        vec![
            Val::Text(ins.insurance.zh().into()),
            Val::Text(item.into()),
            Val::Text(zh.into()),
            Val::Money(v),
            Val::Text(note),
        ]
    };
    for a in &s.accounts {
        let (rs, rd) = (s.clearing.0.as_str(), s.clearing.1.as_str());
        rows.push(row(a, "budget", "预算总额(细分预算+预留)", a.budget, format!("sub-budgets {} + reserves {}", a.lines, a.risk_reserve + a.offsite_reserve + a.sporadic_reserve)));
        rows.push(row(a, "paid", "结算给定点机构", a.paid, "Σ (amount + risk sharing − deposit withheld + redistributed)".into()));
        rows.push(row(a, "retained_surplus", "收回结余(基金留存)", a.retained_surplus, format!("recovered {}; rule {rs}", a.recovered_surplus)));
        rows.push(row(a, "retained_deposits", "扣除保证金(基金留存)", a.retained_deposits, format!("withheld {}; rule {rd}", a.deposits_withheld)));
        rows.push(row(a, "reserves_kept", "预留结余", a.reserves_kept, format!(
            "risk adjustment {} − overrun paid {} + off-site {} + sporadic {}",
            a.risk_reserve, a.overrun_paid, a.offsite_reserve, a.sporadic_reserve
        )));
        let carried: Vec<String> = a.carried_lines.iter().map(|(k, v, why)| format!("{k} {v}: {why}")).collect();
        rows.push(row(a, "carried_over", "结转(未按点数结算)", a.carried_over, carried.join("; ")));
        rows.push(row(a, "check", "核对", a.accounted(), if a.holds() { "OK: budget = Σ terms".into() } else { format!("MISMATCH {}", a.budget - a.accounted()) }));
        rows.push(row(a, "redistributed", "按点数返还", a.redistributed, "recovered surplus and withheld deposits given back by annual points".into()));
        rows.push(row(a, "overrun_requested", "超支分担(按分段)", a.overrun_requested, String::new()));
        rows.push(row(a, "overrun_cap", "超支分担上限", a.overrun_cap, "min(risk adjustment reserve, fund budget − fund paid before overrun sharing)".into()));
        rows.push(row(a, "overrun_paid", "超支分担(实付)", a.overrun_paid, if a.overrun_paid < a.overrun_requested { "cap binds".into() } else { String::new() }));
        rows.push(row(a, "fund_budget", "基金支出预算(已结算细分+风险调节金基金部分)", a.fund_budget, String::new()));
        rows.push(row(a, "final_fund", "年度基金支付合计", a.final_fund, if a.final_fund > a.fund_budget { format!("above the fund budget by {}", a.final_fund - a.fund_budget) } else { String::new() }));
    }
    Table {
        title: format!("{} 预算核对 (budget identity: every yuan accounted for, seed 003 二(一))", s.year),
        columns: vec![
            ("insurance", "险种"),
            ("item", "项目"),
            ("item_zh", "项目名称"),
            ("amount", "金额"),
            ("note", "说明"),
        ],
        rows,
    }
}

/// What a withheld case would get at its line's annual point value.
pub fn withheld_value(s: &Settlement, w: &crate::ledger::WithheldCase) -> Option<Fen> {
    let pv = s.annual_point_value(&w.key)?;
    Some(Fen(crate::alloc::round_fen(Decimal::new(w.points.0, 4) * pv * Decimal::ONE_HUNDRED)))
}

/// Cases withheld by QC (暂缓支付), optionally of one hospital: not settled; the
/// amount is what the points would get at the line's annual point value.
pub fn withheld_table(s: &Settlement, inst: Option<&str>) -> Table {
    let rows = s
        .withheld
        .iter()
        .filter(|w| inst.is_none_or(|i| w.institution_id == i))
        .map(|w| {
            vec![
                Val::Text(w.institution_id.clone()),
                Val::Text(w.case_id.clone()),
                Val::Text(format!("{}-{:02}", s.year, w.month)),
                Val::Text(w.key.insurance.zh().into()),
                Val::Text(w.key.category.zh().into()),
                Val::Text(w.key.class.clone()),
                Val::Text(w.group.clone()),
                Val::Text(w.method.as_str().into()),
                Val::Points(w.points),
                withheld_value(s, w).map_or(Val::Empty, Val::Money),
                Val::Money(w.total_cost),
                Val::Money(w.fund_paid),
                Val::Text(w.rules.clone()),
            ]
        })
        .collect();
    Table {
        title: format!(
            "{} 暂缓支付病例 (cases withheld by QC: not settled until a corrected list arrives, seed 000)",
            s.year
        ),
        columns: vec![
            ("institution_id", "机构编码"),
            ("case_id", "病案号"),
            ("period", "出院月份"),
            ("insurance", "险种"),
            ("category", "细分类别"),
            ("class", "机构类别"),
            ("group", "病组"),
            ("method", "付费方式"),
            ("points", "点数"),
            ("withheld_amount", "暂缓金额(按年度点值)"),
            ("total_cost", "医疗总费用"),
            ("fund_paid", "基金支付"),
            ("rules", "未通过的质控规则"),
        ],
        rows,
    }
}

/// Simulated payment rows.
pub fn simulation_table(year: u16, rows: &[SimRow]) -> Table {
    let rows = rows
        .iter()
        .map(|r| {
            vec![
                Val::Text(r.institution_id.clone()),
                Val::Text(r.key.insurance.zh().into()),
                Val::Text(r.key.category.zh().into()),
                Val::Text(r.key.class.clone()),
                Val::Text(r.group.clone()),
                Val::Int(r.cases),
                Val::Points(r.points),
                Val::Money(r.points_amount),
                Val::Money(r.total_cost),
                Val::Money(r.individual),
                Val::Money(r.points_fund),
                Val::Money(r.actual_fund),
                Val::Money(r.difference),
            ]
        })
        .collect();
    Table {
        title: format!("{year} 模拟付费 (simulated payment: points vs fee-for-service)"),
        columns: vec![
            ("institution_id", "机构编码"),
            ("insurance", "险种"),
            ("category", "细分类别"),
            ("class", "机构类别"),
            ("group", "病组"),
            ("cases", "病例数"),
            ("points", "点数"),
            ("points_amount", "点数结算额度"),
            ("total_cost", "医疗总费用"),
            ("individual", "个人负担"),
            ("points_fund", "点数法基金支付"),
            ("actual_fund", "按项目基金支付"),
            ("difference", "差额"),
        ],
        rows,
    }
}

/// One hospital's statement as CSV: its months, quarters, year and totals, one
/// section after another.
pub fn hospital_csv(s: &Settlement, rate: Decimal, inst: &str) -> String {
    let mut out = String::new();
    for t in [
        months_table(s, rate, Some(inst)),
        quarters_table(s, Some(inst)),
        annual_table(s, Some(inst)),
        hospitals_table(s, Some(inst)),
        withheld_table(s, Some(inst)),
    ] {
        let _ = writeln!(out, "# {}", t.title);
        out.push_str(&t.to_csv());
        out.push('\n');
    }
    out
}

/// One hospital's statement as XLSX, a sheet per section.
pub fn hospital_xlsx(s: &Settlement, rate: Decimal, inst: &str) -> Result<Vec<u8>, XlsxError> {
    let m = months_table(s, rate, Some(inst));
    let q = quarters_table(s, Some(inst));
    let a = annual_table(s, Some(inst));
    let h = hospitals_table(s, Some(inst));
    let w = withheld_table(s, Some(inst));
    to_xlsx(
        s.year,
        &[
            ("月度预付", &m),
            ("季度预结", &q),
            ("年终结算", &a),
            ("年度汇总", &h),
            ("暂缓支付病例", &w),
        ],
    )
}

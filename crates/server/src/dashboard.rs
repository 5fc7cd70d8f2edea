//! What the web pages show: the region or institution dashboard (cases, 入组率,
//! points, estimated payment, CMI, QC findings, special cases, the latest
//! settlement's budget and point values), its SVG charts, the half-year
//! special-case bulletin, and XLSX export of any table a page shows.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::Response;
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize)]
pub struct DashQuery {
    pub year: Option<i32>,
    pub institution_id: Option<String>,
}

/// Totals of a set of cases, maintained by the store per institution and month
/// (`store::stats::Totals`: one definition of what a case contributes).
#[derive(Default, Clone)]
struct Agg(store::stats::Totals);

impl Agg {
    fn ratio(a: i64, b: i64) -> Option<Decimal> {
        (b > 0).then(|| (Decimal::from(a) / Decimal::from(b)).round_dp(4))
    }

    fn json(&self) -> Value {
        let t = &self.0;
        json!({
            "cases": t.cases,
            "grouped": t.grouped,
            "group_rate": Agg::ratio(t.grouped, t.cases),
            "points": t.points.round_dp(4).to_string(),
            "estimated_yuan": Decimal::new(t.fen, 2).to_string(),
            "withheld_cases": t.withheld,
            "withheld_estimated_yuan": Decimal::new(t.withheld_fen, 2).to_string(),
            "estimate_unavailable_cases": t.no_estimate,
            "points_pending_cases": t.points_pending,
            "estimate_override_cases": t.override_pv,
            "drg_payment_share": Agg::ratio(t.drg_fen, t.fen),
            "total_weight": t.weight.round_dp(4).to_string(),
            "cmi": (t.weighted > 0).then(|| (t.weight / Decimal::from(t.weighted)).round_dp(4).to_string()),
        })
    }
}

/// The year asked for, else the year of the newest settlement, else the newest discharge year.
async fn year_of(s: &AppState, q: Option<i32>) -> Result<i32, ApiError> {
    if let Some(y) = q {
        return Ok(y);
    }
    if let Some(r) = s.store.latest_settlement(None).await? {
        return Ok(r.year as i32);
    }
    Ok(s
        .store
        .cases(&store::CaseQuery { limit: 1, ..Default::default() })
        .await?
        .first()
        .and_then(|c| c.period.get(..4).and_then(|y| y.parse().ok()))
        .unwrap_or(2025))
}

/// The year's totals, its months and its institutions, from the maintained rows: for
/// one institution its twelve months; for the region the region's months and each
/// institution's year row (a few hundred rows however many cases are stored).
async fn monthly(s: &AppState, year: i32, inst: Option<&str>) -> Result<(Agg, BTreeMap<String, Agg>, BTreeMap<String, Agg>), ApiError> {
    let (from, to) = (format!("{year}-01"), format!("{year}-12"));
    let mut total = Agg::default();
    let mut months: BTreeMap<String, Agg> = (1..=12).map(|m| (format!("{year}-{m:02}"), Agg::default())).collect();
    let mut by_inst: BTreeMap<String, Agg> = BTreeMap::new();
    let who = inst.unwrap_or(store::stats::REGION);
    for (_, period, t) in s.store.case_stats(&from, &to, Some(who)).await? {
        if t.cases != 0 {
            total.0.merge(&t, 1);
            months.entry(period).or_default().0.merge(&t, 1);
        }
    }
    match inst {
        Some(i) => {
            if total.0.cases != 0 {
                by_inst.insert(i.to_owned(), total.clone());
            }
        }
        None => {
            for (i, t) in s.store.year_stats(year).await? {
                if t.cases != 0 && i != store::stats::REGION {
                    by_inst.insert(i, Agg(t));
                }
            }
        }
    }
    Ok((total, months, by_inst))
}

/// `GET /api/dashboard`: the region (agency) or one institution.
pub async fn dashboard(State(s): State<AppState>, a: Auth, Query(q): Query<DashQuery>) -> Result<Json<Value>, ApiError> {
    let inst = a.scope(q.institution_id.as_deref())?;
    let year = year_of(&s, q.year).await?;
    let (total, months, by_inst) = monthly(&s, year, inst.as_deref()).await?;
    let qc_by: BTreeMap<String, (i64, i64)> = by_inst.iter().map(|(i, a)| (i.clone(), (a.0.qc_errors, a.0.qc_warnings))).collect();
    let sc = s.store.special_case_counts(&year.to_string()).await?;
    let mut sc_by: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (i, st, n) in sc {
        if inst.as_deref().is_none_or(|x| x == i) {
            *sc_by.entry(i).or_default().entry(st).or_default() += n;
        }
    }
    let names: BTreeMap<String, store::Institution> =
        s.store.institutions().await?.into_iter().map(|i| (i.id.clone(), i)).collect();
    let institutions: Vec<Value> = by_inst
        .iter()
        .map(|(id, g)| {
            let mut v = g.json();
            let i = names.get(id);
            v["institution_id"] = json!(id);
            v["name"] = json!(i.map(|i| i.name.clone()).unwrap_or_default());
            v["level"] = json!(i.map(|i| i.level.clone()).unwrap_or_default());
            let q = qc_by.get(id).copied().unwrap_or_default();
            v["qc_errors"] = json!(q.0);
            v["qc_warnings"] = json!(q.1);
            v["special_cases"] = json!(sc_by.get(id).cloned().unwrap_or_default());
            v
        })
        .collect();
    let months: Vec<Value> = months
        .iter()
        .map(|(p, g)| {
            let mut v = g.json();
            v["period"] = json!(p);
            v
        })
        .collect();
    let settlement = match s.store.latest_settlement(Some(i64::from(year))).await? {
        Some(mut r) => {
            if let (Some(i), Some(sum)) = (inst.as_deref(), r.summary.as_mut()) {
                crate::settlement::own_summary(sum, i);
            }
            json!({"run_id": r.id, "finished_at": r.finished_at, "cases": r.cases, "special_cases": r.special_cases, "summary": r.summary})
        }
        None => Value::Null,
    };
    // One institution: its QC findings by rule (latest case versions of the year).
    let mut qc_rules: Vec<Value> = Vec::new();
    if let Some(i) = inst.as_deref() {
        let mut by: BTreeMap<String, (i64, String, String)> = BTreeMap::new();
        for (case, rule, msg) in s.store.qc_messages(&format!("{year}-01"), &format!("{year}-12"), i).await? {
            let e = by.entry(rule).or_insert_with(|| (0, case, msg));
            e.0 += 1;
        }
        qc_rules = by
            .into_iter()
            .map(|(rule, (n, case, msg))| json!({"rule_id": rule, "count": n, "example_case": case, "example": msg}))
            .collect();
    }
    let mut totals = total.json();
    totals["institutions_with_cases"] = json!(by_inst.len());
    totals["institutions"] = json!(if inst.is_some() { 1 } else { names.len() });
    let (qe, qw) = qc_by.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    totals["qc_errors"] = json!(qe);
    totals["qc_warnings"] = json!(qw);
    Ok(Json(json!({
        "year": year,
        "institution_id": inst,
        "totals": totals,
        "months": months,
        "institutions": institutions,
        "qc_rules": qc_rules,
        "settlement": settlement,
    })))
}

fn svg(body: String) -> Result<Response, ApiError> {
    Response::builder()
        .header(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")
        .body(Body::from(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `GET /api/charts/{chart}`: `monthly.svg` (cases and 入组率 per month) or
/// `point-values.svg` (quarterly point values of the latest settlement).
pub async fn chart(
    State(s): State<AppState>,
    a: Auth,
    Path(chart): Path<String>,
    Query(q): Query<DashQuery>,
) -> Result<Response, ApiError> {
    let inst = a.scope(q.institution_id.as_deref())?;
    let year = year_of(&s, q.year).await?;
    match chart.as_str() {
        "monthly.svg" => {
            let (_, months, _) = monthly(&s, year, inst.as_deref()).await?;
            let labels: Vec<String> = (1..=12).map(|m| format!("{m}月")).collect();
            let cases: Vec<f64> = months.values().map(|g| g.0.cases as f64).collect();
            let rate: Vec<f64> = months
                .values()
                .map(|g| if g.0.cases > 0 { g.0.grouped as f64 / g.0.cases as f64 } else { 0.0 })
                .collect();
            let title = match &inst {
                Some(i) => format!("{i} {year}年 月度出院病例与入组率"),
                None => format!("统筹区 {year}年 月度出院病例与入组率"),
            };
            svg(crate::charts::bars(&title, "病例数", &labels, &cases, Some(("入组率", &rate))))
        }
        "point-values.svg" => {
            let run = s.store.latest_settlement(Some(i64::from(year))).await?;
            let labels: Vec<String> = (1..=4).map(|q| format!("{year}Q{q}")).collect();
            let mut series: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
            if let Some(sum) = run.as_ref().and_then(|r| r.summary.as_ref()) {
                for row in sum["point_values"]["rows"].as_array().into_iter().flatten() {
                    let cell = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or("");
                    let Some(qi) = labels.iter().position(|l| l == cell(0)) else { continue };
                    let name = format!("{}{}{}", cell(1), cell(2), if cell(3).is_empty() { String::new() } else { format!("/{}", cell(3)) });
                    let v = series.entry(name).or_insert_with(|| vec![None; 4]);
                    v[qi] = cell(6).parse::<f64>().ok();
                }
            }
            let series: Vec<(String, Vec<Option<f64>>)> = series.into_iter().collect();
            svg(crate::charts::lines(&format!("{year}年 季度点值(元/点)"), "元/点", &labels, &series))
        }
        other => Err(ApiError::not_found(format!("chart {other}: monthly.svg or point-values.svg"))),
    }
}

#[derive(Deserialize)]
pub struct BulletinQuery {
    pub year: i32,
    /// 1: January–June, 2: July–December.
    pub half: u8,
}

/// `GET /api/special-cases/bulletin`: the half-year special-case bulletin (特例单议
/// 半年通报): per hospital, applications by reason and their results.
pub async fn bulletin(State(s): State<AppState>, a: Auth, Query(q): Query<BulletinQuery>) -> Result<Json<Value>, ApiError> {
    let inst = a.scope(None)?;
    let quarters: Vec<String> = match q.half {
        1 => vec![format!("{}-Q1", q.year), format!("{}-Q2", q.year)],
        2 => vec![format!("{}-Q3", q.year), format!("{}-Q4", q.year)],
        h => return Err(ApiError::bad_request(format!("half {h}: 1 or 2"))),
    };
    let mut rows: BTreeMap<String, BTreeMap<&str, i64>> = BTreeMap::new();
    let mut overrides: Vec<Value> = Vec::new();
    for quarter in &quarters {
        for sc in s.store.special_cases(inst.as_deref(), None, Some(quarter)).await? {
            if let Some(reason) = &sc.qc_override {
                overrides.push(json!({"id": sc.id, "institution_id": sc.institution_id, "case_id": sc.case_id, "quarter": sc.quarter,
                    "qc_withheld": sc.qc_withheld, "qc_override": reason, "reviewed_by": sc.reviewed_by, "reviewed_at": sc.reviewed_at}));
            }
            let r = rows.entry(sc.institution_id.clone()).or_default();
            *r.entry("applied").or_default() += 1;
            let st = match sc.status.as_str() {
                "approved" => "approved",
                "rejected" => "rejected",
                _ => "pending",
            };
            *r.entry(st).or_default() += 1;
            if let Some(p) = sc.pay_as.as_deref() {
                *r.entry(if p == "fee_for_service" { "fee_for_service" } else { "adjusted_standard" }).or_default() += 1;
            }
            let reason = match sc.reason.as_str() {
                "long_stay" => "long_stay",
                "high_cost" => "high_cost",
                "new_technology" => "new_technology",
                _ => "critical_care",
            };
            *r.entry(reason).or_default() += 1;
            if sc.qc_override.is_some() {
                *r.entry("qc_override").or_default() += 1;
            }
        }
    }
    let cols = [
        ("institution_id", "机构"),
        ("applied", "申请例数"),
        ("approved", "通过"),
        ("rejected", "不通过"),
        ("pending", "待审核"),
        ("fee_for_service", "按项目付费"),
        ("adjusted_standard", "调整支付标准"),
        ("long_stay", "住院时间长"),
        ("high_cost", "医疗费用高"),
        ("new_technology", "新药耗新技术"),
        ("critical_care", "危重/多学科"),
        ("qc_override", "质控未通过特批"),
    ];
    let table: Vec<Vec<Value>> = rows
        .iter()
        .map(|(i, m)| {
            let mut r = vec![json!(i)];
            for (k, _) in &cols[1..] {
                r.push(json!(m.get(k).copied().unwrap_or(0)));
            }
            r
        })
        .collect();
    Ok(Json(json!({
        "title": format!("{}年{}特例单议情况通报", q.year, if q.half == 1 { "上半年" } else { "下半年" }),
        "quarters": quarters,
        "columns": cols.iter().map(|c| json!({"name": c.0, "label": c.1})).collect::<Vec<_>>(),
        "rows": table,
        "qc_overrides": overrides,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportTable {
    title: String,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// The most characters an XLSX cell holds.
const XLSX_CELL_MAX: usize = 32_767;

/// `POST /api/export.xlsx`: a table a page shows, as an XLSX workbook (numbers stay numbers).
pub async fn export(_a: Auth, body: Bytes) -> Result<Response, ApiError> {
    let t: ExportTable = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("table: {e}")))?;
    if t.rows.len() > 1_000_000 || t.columns.len() > 200 {
        return Err(ApiError::bad_request("table too large: at most 1,000,000 rows and 200 columns"));
    }
    // What XLSX cannot hold is refused naming the cell, not answered 500.
    crate::validate::text("title", &t.title, XLSX_CELL_MAX, false)?;
    for (c, h) in t.columns.iter().enumerate() {
        crate::validate::text(&format!("columns[{c}]"), h, XLSX_CELL_MAX, false)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        if row.len() > 200 {
            return Err(ApiError::invalid_field(&format!("rows[{r}]"), format!("rows[{r}]: {} cells (at most 200)", row.len()), format!("第 {} 行超过 200 列", r + 1)));
        }
        for (c, v) in row.iter().enumerate() {
            match v {
                Value::String(x) => crate::validate::text(&format!("rows[{r}][{c}]"), x, XLSX_CELL_MAX, false)?,
                Value::Number(n) if n.as_f64().is_none_or(|f| !f.is_finite()) => {
                    return Err(ApiError::invalid_field(&format!("rows[{r}][{c}]"), format!("rows[{r}][{c}]: not a finite number"), "数值超出范围"));
                }
                Value::Array(_) | Value::Object(_) if v.to_string().chars().count() > XLSX_CELL_MAX => {
                    return Err(ApiError::invalid_field(&format!("rows[{r}][{c}]"), format!("rows[{r}][{c}]: over {XLSX_CELL_MAX} characters"), "单元格内容过长"));
                }
                _ => {}
            }
        }
    }
    let bytes = tokio::task::spawn_blocking(move || xlsx(&t))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("xlsx: {e}")))?;
    Response::builder()
        .header(header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .header(header::CONTENT_DISPOSITION, "attachment; filename=\"export.xlsx\"")
        .body(Body::from(bytes))
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn xlsx(t: &ExportTable) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let bold = Format::new().set_bold();
    ws.write_string_with_format(0, 0, &t.title, &bold)?;
    for (c, h) in t.columns.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, h, &bold)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate().take(200) {
            let (r, c) = (r as u32 + 3, c as u16);
            match v {
                Value::Number(n) => {
                    ws.write_number(r, c, n.as_f64().unwrap_or_default())?;
                }
                Value::String(s) => {
                    ws.write_string(r, c, s)?;
                }
                Value::Null => {}
                other => {
                    ws.write_string(r, c, other.to_string())?;
                }
            }
        }
    }
    wb.save_to_buffer()
}

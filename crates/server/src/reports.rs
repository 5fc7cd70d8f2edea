//! Reports of the `monitor` crate from the cases in the store (the same code as
//! `drgdip report`): the monthly feedback to a hospital (月度反馈: indicators
//! against its level and the region, grouping results, points, QC findings,
//! abuse flags with reasons), the quarterly bulletin (季度通报) and the annual
//! disclosure (年度信息公开). HTML or XLSX. The data are the latest version of
//! every case discharged in the report's year and the year before (for the
//! year-on-year change); QC results and approved special cases are the store's.

use std::collections::{HashMap, HashSet};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::Response;
use monitor::indicators::{self, Period, PeriodKind};
use monitor::report::{self, CaseExtras, Report};
use serde::Deserialize;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize)]
pub struct ReportQuery {
    /// `2025-03` (monthly), `2025Q1` (quarterly), `2025` (annual).
    pub period: String,
    pub institution_id: Option<String>,
    /// `html` (default) or `xlsx`.
    pub format: Option<String>,
}

struct Inputs {
    cases: Vec<store::MonitorInput>,
    institutions: Vec<store::Institution>,
    special: HashSet<(String, String)>,
    qc: Vec<(String, String, String)>,
    /// Withheld cases of the month (monthly feedback): case, version, rules, what to fix.
    withheld: Vec<(String, i64, String, String)>,
}

/// Build the monitor's dataset and the report (pure).
fn build(kind: PeriodKind, period: Period, inst: Option<&str>, inp: Inputs) -> Result<Report, ApiError> {
    let insts = inp.institutions.iter().map(|i| monitor::Institution {
        id: i.id.clone(),
        name: i.name.clone(),
        level: i.level.clone(),
        drg_dip: Some(true),
        // The store knows TCM institutions; others are compared as one kind.
        kind: if i.tcm { "中医".to_owned() } else { String::new() },
    });
    let mut b = monitor::DatasetBuilder::new(insts);
    let mut points: Vec<(String, f64)> = Vec::new();
    for m in &inp.cases {
        let Ok(c) = serde_json::from_str::<claims::Claim>(&m.claim_json) else { continue };
        let grouped = m.status == "grouped";
        let special = inp.special.contains(&(c.institution_id.clone(), c.case_id.clone()));
        let drg = grouped.then_some((m.drg.as_str(), m.adrg.as_str(), m.drg_name.as_str()));
        if b.push(&c, drg, Some(m.qc_errors == 0), Some(special)) {
            if let Ok(p) = m.points.parse::<f64>() {
                points.push((c.case_id.clone(), p));
            }
        }
    }
    let data = b.finish();
    if data.cases.is_empty() {
        return Err(ApiError::not_found(format!("no cases in the store for {period}")));
    }
    let params = monitor::detect::Params::default();
    let rw = indicators::calibrate_rw(&data, &weights::Options::default());
    let ind = indicators::compute(&data, &rw);
    let det = monitor::detect::detect(&data, &rw, &params);
    match kind {
        PeriodKind::Month => {
            let id = inst.ok_or_else(|| ApiError::bad_request("institution_id: the monthly feedback is per institution"))?;
            let i = data
                .institutions
                .iter()
                .position(|x| x.id == id)
                .ok_or_else(|| ApiError::not_found(format!("institution {id} has no cases")))? as u32;
            let index: HashMap<&str, u32> = data.case_ids.iter().enumerate().map(|(i, s)| (s, i as u32)).collect();
            let mut extras = CaseExtras::default();
            for (case, p) in &points {
                if let Some(&ix) = index.get(case.as_str()) {
                    *extras.points.entry(ix).or_default() += p;
                }
            }
            for (case, rule, msg) in &inp.qc {
                if let Some(&ix) = index.get(case.as_str()) {
                    extras.qc.entry(ix).or_default().push(format!("{rule} {msg}"));
                }
            }
            let mut r = report::monthly_feedback(&data, &ind, &det, &extras, i, period);
            let rows: Vec<Vec<report::Cell>> = inp
                .withheld
                .iter()
                .map(|(case, v, rules, fix)| {
                    vec![
                        report::Cell::Text(case.clone()),
                        report::Cell::Int(*v),
                        report::Cell::Text(rules.replace(',', "、")),
                        report::Cell::Text(fix.clone()),
                    ]
                })
                .collect();
            r.lines.push(format!(
                "暂缓支付病例 {} 例：结算清单未通过质控（seed 000：结算清单合规是结算的必要条件），更正后以同一病例号重新上传，新版本在下次结算中支付。",
                rows.len()
            ));
            r.tables.push(report::Table {
                title: "暂缓支付病例（质控未通过）".into(),
                headers: vec!["病例号".into(), "版本".into(), "未通过的质控规则".into(), "需更正的内容".into()],
                rows,
                note: "按病例最新版本；更正并重新上传后即从本表移出。".into(),
            });
            Ok(r)
        }
        PeriodKind::Quarter => Ok(report::quarterly_bulletin(&data, &ind, &det, period)),
        PeriodKind::Year => Ok(report::annual_disclosure(&data, &ind, period.year)),
    }
}

/// `GET /api/reports/{kind}`: `monthly` (a hospital: its own), `quarterly` and `annual` (agency).
pub async fn report(
    State(s): State<AppState>,
    a: Auth,
    Path(kind): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let kind = match kind.as_str() {
        "monthly" => PeriodKind::Month,
        "quarterly" => PeriodKind::Quarter,
        "annual" => PeriodKind::Year,
        k => return Err(ApiError::not_found(format!("report {k}: monthly, quarterly or annual"))),
    };
    let period: Period = q.period.parse().map_err(|e: String| ApiError::bad_request(format!("period: {e}")))?;
    if period.kind != kind {
        return Err(ApiError::bad_request(format!("period {}: not a {kind:?}", q.period)));
    }
    let inst = match kind {
        PeriodKind::Month => a.scope(q.institution_id.as_deref())?,
        _ => {
            a.require_agency()?;
            None
        }
    };
    let (from, to) = (format!("{}-01", period.year - 1), format!("{}-12", period.year));
    let cases = s.store.monitor_inputs(&from, &to).await?;
    let institutions = s.store.institutions().await?;
    let special = s.store.approved_special_cases().await?.into_iter().map(|(i, c, _, _)| (i, c)).collect();
    let qc = match (&inst, kind) {
        (Some(i), PeriodKind::Month) => {
            let m = format!("{}-{:02}", period.year, period.n);
            s.store.qc_messages(&m, &m, i).await?
        }
        _ => Vec::new(),
    };
    let withheld = match (&inst, kind) {
        (Some(i), PeriodKind::Month) => {
            let m = format!("{}-{:02}", period.year, period.n);
            let mut out = Vec::new();
            for (case, version, _, rules) in s.store.withheld_cases(&m, &m, i).await? {
                let fix: Vec<String> = qc
                    .iter()
                    .filter(|(c, r, _)| *c == case && s.rules.get(r).is_some_and(|x| x.withhold))
                    .map(|(_, r, m)| format!("{r} {m}"))
                    .collect();
                out.push((case, version, rules, fix.join("；")));
            }
            out
        }
        _ => Vec::new(),
    };
    let inp = Inputs { cases, institutions, special, qc, withheld };
    let inst2 = inst.clone();
    let r = tokio::task::spawn_blocking(move || build(kind, period, inst2.as_deref(), inp))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let xlsx = q.format.as_deref() == Some("xlsx");
    let (media, body) = if xlsx {
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            r.to_xlsx().map_err(|e| ApiError::internal(format!("xlsx: {e}")))?,
        )
    } else {
        ("text/html; charset=utf-8", r.to_html().into_bytes())
    };
    let mut resp = Response::builder().header(header::CONTENT_TYPE, media);
    if xlsx {
        resp = resp.header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"report-{}.xlsx\"", q.period));
    }
    resp.body(Body::from(body)).map_err(|e| ApiError::internal(e.to_string()))
}

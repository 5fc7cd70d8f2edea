//! Settlement runs through the service: the year's cases in the store (latest
//! version of each), priced again with the configuration in force on each
//! discharge day and with the special cases approved so far (特例单议: paid by
//! item, or the reviewer's adjusted points), the budget from last year's cases
//! in the store, and the cycle of the `settle` crate — the same code as
//! `drgdip settle`. A run is started, followed (`running` → `done`/`failed`)
//! and its statements downloaded (CSV, XLSX); a hospital user reads only its
//! own statements.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::Response;
use axum::Json;
use base64::Engine as _;
use claims::{Claim, Fen};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use settle::statement::{self, Table};
use settle::{HistoryRow, HospitalInputs, Insurance, Key, Ledger, Method, Pts, SubCategory};
use store::{Actor, FinishedRun, SettlementDocument, SettlementInput};

use crate::auth::Auth;
use crate::engines::{EngineKey, Engines};
use crate::error::ApiError;
use crate::pipeline::Engine;
use crate::AppState;

/// How an approved special case is paid.
#[derive(Clone, Debug, PartialEq)]
pub enum SpecialPay {
    FeeForService,
    Adjusted(Decimal),
}

/// Everything a run computes from, read from the store.
pub struct RunInput {
    pub year: u16,
    pub params: settle::SettleParams,
    pub cases: Vec<Claim>,
    pub history: Vec<Claim>,
    /// The engine of each case (index into `engines`).
    pub engine_of: Vec<usize>,
    pub engines: Vec<Arc<Engine>>,
    pub institutions: BTreeMap<String, points::Institution>,
    pub special: HashMap<(String, String), SpecialPay>,
}

fn insurance_of(c: &Claim) -> Option<Insurance> {
    match c.insurance_type {
        Some(claims::InsuranceType::Employee) => Some(Insurance::Employee),
        Some(claims::InsuranceType::Resident) => Some(Insurance::Resident),
        _ => None,
    }
}

fn method_of(m: points::PayMethod) -> Method {
    match m {
        points::PayMethod::Drg => Method::Drg,
        points::PayMethod::Dip => Method::Dip,
        points::PayMethod::PerDiem => Method::PerDiem,
        points::PayMethod::FeeForService => Method::FeeForService,
        points::PayMethod::None => Method::None,
    }
}

/// Points of one case as settlement credits them (special cases applied).
pub fn case_points(
    engine: &Engine,
    inst: &points::Institution,
    c: &Claim,
    special: Option<&SpecialPay>,
) -> points::Points {
    let (g, _) = engine.group(c, inst, false);
    let mut p = engine.points(c, inst, &g, special.is_some());
    if let Some(SpecialPay::Adjusted(pts)) = special {
        // The reviewer's adjusted standard replaces the fee-for-service points.
        p.case_points = *pts;
        p.addon_points = Decimal::ZERO;
        p.total = *pts;
    }
    p
}

fn table_json(t: &Table) -> Value {
    json!({
        "title": t.title,
        "columns": t.columns.iter().map(|c| json!({"name": c.0, "label": c.1})).collect::<Vec<_>>(),
        "rows": t.rows.iter().map(|r| r.iter().map(|v| v.text()).collect::<Vec<_>>()).collect::<Vec<_>>(),
    })
}

fn doc_text(name: &str, inst: Option<&str>, media: &str, content: String) -> SettlementDocument {
    SettlementDocument {
        name: name.to_owned(),
        institution_id: inst.map(str::to_owned),
        media_type: media.to_owned(),
        content,
    }
}

const CSV: &str = "text/csv; charset=utf-8";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Compute a run (pure: no IO).
pub fn compute(input: &RunInput) -> Result<FinishedRun, String> {
    let year = i32::from(input.year);
    let params = &input.params;
    let unknown = |id: &str| points::Institution {
        id: id.to_owned(),
        level: String::new(),
        tcm: false,
        alliance_lead: None,
    };
    let credit_to_lead = input
        .engines
        .first()
        .is_some_and(|e| e.params.alliance.credit_to_lead);
    let settled_with = |id: &str| -> String {
        match input.institutions.get(id).and_then(|i| i.alliance_lead.clone()) {
            Some(lead) if credit_to_lead => lead,
            _ => id.to_owned(),
        }
    };
    let class = |id: &str| -> String {
        if params.budget.split_by_class {
            input.institutions.get(id).map(|i| i.level.clone()).unwrap_or_default()
        } else {
            String::new()
        }
    };

    // History: last year's inpatient totals per settled institution and insurance type.
    let mut hist: BTreeMap<(String, Insurance), (Fen, Fen)> = BTreeMap::new();
    for c in &input.history {
        if let Some(ins) = insurance_of(c) {
            let e = hist.entry((settled_with(&c.institution_id), ins)).or_default();
            e.0 = e.0 + c.total_cost.unwrap_or_default();
            e.1 = e.1 + c.fund_paid.unwrap_or_default();
        }
    }
    if hist.is_empty() {
        return Err(format!(
            "no cases discharged in {} in the store: the {} budget is built from last year's totals (seed 002 §9)",
            year - 1,
            year
        ));
    }
    let history: Vec<HistoryRow> = hist
        .into_iter()
        .map(|((inst, ins), (total, fund))| HistoryRow {
            class: input.institutions.get(&inst).map(|i| i.level.clone()).unwrap_or_default(),
            institution_id: inst,
            insurance: ins,
            category: SubCategory::Inpatient,
            total_cost: total,
            fund_paid: fund,
        })
        .collect();

    // Every case's institution must be known: its level gives its coefficient (there
    // is no default), its alliance lead the institution settled.
    let mut missing: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    for c in &input.cases {
        if !input.institutions.contains_key(&c.institution_id) {
            missing.entry(c.institution_id.as_str()).or_insert((0, c.case_id.as_str())).0 += 1;
        }
    }
    if !missing.is_empty() {
        let list: Vec<String> =
            missing.iter().take(10).map(|(id, (n, case))| format!("{id} ({n} cases, e.g. case {case})")).collect();
        return Err(format!(
            "cases of {} institutions that are not registered: {}; register them (POST /api/institutions) before settling",
            missing.len(),
            list.join(", ")
        ));
    }

    // Points of every case.
    let mut ledger = Ledger::new();
    let mut settled = 0i64;
    let mut special_used = 0i64;
    let mut skipped = 0u64;
    let mut special_rows = Vec::new();
    for (c, &e) in input.cases.iter().zip(&input.engine_of) {
        use chrono::Datelike;
        let Some(month) = c.discharged_at.filter(|d| d.year() == year).map(|d| d.month() as u8) else {
            skipped += 1;
            continue;
        };
        let Some(ins) = insurance_of(c) else {
            skipped += 1;
            continue;
        };
        let fallback;
        let inst = match input.institutions.get(&c.institution_id) {
            Some(i) => i,
            None => {
                fallback = unknown(&c.institution_id);
                &fallback
            }
        };
        let sp = input.special.get(&(c.institution_id.clone(), c.case_id.clone()));
        let p = case_points(&input.engines[e], inst, c, sp);
        if sp.is_some() {
            special_used += 1;
            special_rows.push(vec![
                c.institution_id.clone(),
                c.case_id.clone(),
                p.group.clone().unwrap_or_default(),
                match sp {
                    Some(SpecialPay::Adjusted(_)) => "调整支付标准".to_owned(),
                    _ => "按项目付费".to_owned(),
                },
                p.total.to_string(),
            ]);
        }
        let credited = p.credited_to.clone();
        ledger.add_case(&settle::CaseRow {
            institution_id: &credited,
            key: Key::new(ins, SubCategory::Inpatient, &class(&credited)),
            month,
            group: p.group.as_deref().unwrap_or(""),
            method: method_of(p.method),
            points: Pts::from_decimal(p.total).ok_or("points out of range")?,
            total_cost: c.total_cost.unwrap_or_default(),
            fund_paid: c.fund_paid.unwrap_or_default(),
        });
        settled += 1;
    }
    let budget = settle::build_budget(&params.budget, input.year, &history).map_err(|e| e.to_string())?;
    let s = settle::settle(params, &budget, &ledger, &HospitalInputs::default()).map_err(|e| e.to_string())?;

    let rate = params.deposit.rate;
    let pv = statement::point_values_table(&s);
    let summary = statement::summary_table(&budget, &s);
    let hosp = statement::hospitals_table(&s, None);
    let quarters = statement::quarters_table(&s, None);
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let mut docs = vec![
        doc_text("summary.csv", None, CSV, summary.to_csv()),
        doc_text("point-values.csv", None, CSV, pv.to_csv()),
        doc_text("hospitals.csv", None, CSV, hosp.to_csv()),
        doc_text("quarterly.csv", None, CSV, quarters.to_csv()),
        doc_text("monthly.csv", None, CSV, statement::months_table(&s, rate, None).to_csv()),
        doc_text("annual.csv", None, CSV, statement::annual_table(&s, None).to_csv()),
        doc_text("budget.csv", None, CSV, settle::budget::budget_csv(&budget)),
        doc_text("budget-derivation.txt", None, "text/plain; charset=utf-8", budget.derivation.clone()),
    ];
    let xlsx = statement::to_xlsx(
        s.year,
        &[("统筹区汇总", &summary), ("点值", &pv), ("机构年度汇总", &hosp)],
    )
    .map_err(|e| format!("summary.xlsx: {e}"))?;
    docs.push(doc_text("summary.xlsx", None, XLSX, b64(xlsx)));
    for h in &s.hospitals {
        let id = &h.institution_id;
        docs.push(doc_text(&format!("{id}.csv"), Some(id), CSV, statement::hospital_csv(&s, rate, id)));
        let x = statement::hospital_xlsx(&s, rate, id).map_err(|e| format!("{id}.xlsx: {e}"))?;
        docs.push(doc_text(&format!("{id}.xlsx"), Some(id), XLSX, b64(x)));
    }
    let budget_lines: Vec<Value> = budget
        .lines
        .iter()
        .map(|l| json!({"line": l.key.to_string(), "annual": l.annual.to_string()}))
        .collect();
    let mut notes = s.notes.clone();
    if skipped > 0 {
        notes.push(format!("{skipped} cases skipped (discharged outside {year} or of another insurance type)"));
    }
    let summary_json = json!({
        "year": s.year,
        "budget": budget_lines,
        "point_values": table_json(&pv),
        "summary": table_json(&summary),
        "hospitals": table_json(&hosp),
        "quarters": table_json(&quarters),
        "special_cases": {
            "columns": ["institution_id", "case_id", "group", "pay_as", "points"],
            "rows": special_rows,
        },
        "notes": notes,
    });
    Ok(FinishedRun {
        cases: settled,
        special_cases: special_used,
        message: notes.join("; "),
        summary: summary_json,
        documents: docs,
    })
}

fn parse_claims(rows: Vec<SettlementInput>) -> (Vec<Claim>, u64) {
    let mut bad = 0;
    let out = rows
        .into_iter()
        .filter_map(|r| match serde_json::from_str::<Claim>(&r.claim_json) {
            Ok(c) => Some(c),
            Err(_) => {
                bad += 1;
                None
            }
        })
        .collect();
    (out, bad)
}

/// Gather the inputs of a run from the store and compute it.
pub async fn execute(
    store: &store::Store,
    engines: &Engines,
    year: u16,
    params: settle::SettleParams,
) -> Result<FinishedRun, ApiError> {
    let cur = store.settlement_inputs(&format!("{year}-01"), &format!("{year}-12")).await?;
    let prev = store
        .settlement_inputs(&format!("{}-01", year - 1), &format!("{}-12", year - 1))
        .await?;
    let ((cases, bad1), (history, bad2)) = tokio::task::spawn_blocking(move || (parse_claims(cur), parse_claims(prev)))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if bad1 + bad2 > 0 {
        return Err(ApiError::internal(format!("{} stored settlement lists could not be read back", bad1 + bad2)));
    }
    let mut keys: Vec<EngineKey> = Vec::new();
    let mut engine_of = Vec::with_capacity(cases.len());
    let mut key_ix: HashMap<EngineKey, usize> = HashMap::new();
    for c in &cases {
        let day = c
            .discharged_at
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| format!("{year}-12-31"));
        let k = engines.key_for(&day);
        let ix = *key_ix.entry(k).or_insert_with(|| {
            keys.push(k);
            keys.len() - 1
        });
        engine_of.push(ix);
    }
    let mut built = Vec::new();
    for k in &keys {
        built.push(engines.engine(*k).await?);
    }
    if built.is_empty() {
        built.push(engines.engine(engines.key_for(&format!("{year}-12-31"))).await?);
    }
    let mut special = HashMap::new();
    for (inst, case, pay, adjusted) in store.approved_special_cases().await? {
        let how = match (pay.as_str(), adjusted.and_then(|a| a.parse::<Decimal>().ok())) {
            ("adjusted_standard", Some(p)) => SpecialPay::Adjusted(p),
            _ => SpecialPay::FeeForService,
        };
        special.insert((inst, case), how);
    }
    let input = RunInput {
        year,
        params,
        cases,
        history,
        engine_of,
        engines: built,
        institutions: engines.institutions_snapshot(),
        special,
    };
    tokio::task::spawn_blocking(move || compute(&input))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::bad_request)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    year: u16,
    /// Budget and settlement parameters (TOML); default: built-in.
    #[serde(default)]
    params: Option<String>,
}

/// `POST /api/settlement/runs`: start a run in the background; answers with its id.
pub async fn start(State(s): State<AppState>, a: Auth, body: Bytes) -> Result<Json<Value>, ApiError> {
    a.require_admin()?;
    let b: Start = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    if !(2000..=2100).contains(&b.year) {
        return Err(ApiError::bad_request(format!("year {}: 2000–2100", b.year)));
    }
    let params = match &b.params {
        Some(t) => settle::SettleParams::from_toml(t)?,
        None => settle::SettleParams::builtin(),
    };
    let actor: Actor = a.actor();
    let id = s.store.start_settlement_run(&actor, i64::from(b.year)).await?;
    let st = s.clone();
    tokio::spawn(async move { complete(&st.store, &st.engines, &actor, id, b.year, params).await });
    Ok(Json(json!({"id": id, "status": "running"})))
}

/// Compute a started run and record its outcome (`done` with documents, or `failed` with the error).
pub async fn complete(
    store: &store::Store,
    engines: &Engines,
    actor: &Actor,
    id: i64,
    year: u16,
    params: settle::SettleParams,
) -> Result<(), String> {
    let done = match execute(store, engines, year, params).await {
        Ok(run) => store.finish_settlement_run(actor, id, &run).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.message),
    };
    if let Err(e) = &done {
        let _ = store.fail_settlement_run(actor, id, e).await;
    }
    done
}

/// Start and complete a run now (the demo's settlement); returns the run id.
pub async fn run_now(store: &store::Store, actor: &Actor, year: u16) -> Result<i64, ApiError> {
    let engines = Engines::new(store.clone(), None).await?;
    let id = store.start_settlement_run(actor, i64::from(year)).await?;
    complete(store, &engines, actor, id, year, settle::SettleParams::builtin())
        .await
        .map_err(ApiError::internal)?;
    Ok(id)
}

/// `GET /api/settlement/runs`.
pub async fn list(State(s): State<AppState>, _a: Auth) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(s.store.settlement_runs().await?)))
}

/// Keep, of a run's summary, what a hospital user may read: its own rows.
pub(crate) fn own_summary(summary: &mut Value, inst: &str) {
    for key in ["hospitals", "quarters"] {
        if let Some(rows) = summary.get_mut(key).and_then(|t| t.get_mut("rows")).and_then(Value::as_array_mut) {
            rows.retain(|r| r.get(0).and_then(Value::as_str) == Some(inst));
        }
    }
    if let Some(rows) = summary
        .get_mut("special_cases")
        .and_then(|t| t.get_mut("rows"))
        .and_then(Value::as_array_mut)
    {
        rows.retain(|r| r.get(0).and_then(Value::as_str) == Some(inst));
    }
}

/// `GET /api/settlement/runs/{run_id}`: state, summary and documents.
pub async fn get_run(State(s): State<AppState>, a: Auth, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let mut run = s.store.settlement_run(id).await?.ok_or_else(|| ApiError::not_found(format!("settlement run {id}")))?;
    let mut docs = s.store.settlement_documents(id).await?;
    if let Some(inst) = a.institution() {
        docs.retain(|d| d.institution_id.as_deref() == Some(inst));
        if let Some(sum) = run.summary.as_mut() {
            own_summary(sum, inst);
        }
    }
    Ok(Json(json!({"run": run, "documents": docs})))
}

#[derive(Deserialize)]
pub struct LatestQuery {
    year: Option<i64>,
}

/// `GET /api/settlement/latest`: the newest finished run (of a year).
pub async fn latest(State(s): State<AppState>, a: Auth, Query(q): Query<LatestQuery>) -> Result<Json<Value>, ApiError> {
    let Some(mut run) = s.store.latest_settlement(q.year).await? else {
        return Ok(Json(Value::Null));
    };
    if let (Some(inst), Some(sum)) = (a.institution(), run.summary.as_mut()) {
        own_summary(sum, inst);
    }
    Ok(Json(json!(run)))
}

/// `GET /api/settlement/runs/{run_id}/documents/{name}`: a statement (CSV or XLSX).
pub async fn document(
    State(s): State<AppState>,
    a: Auth,
    Path((id, name)): Path<(i64, String)>,
) -> Result<Response, ApiError> {
    let d = s
        .store
        .settlement_document(id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("document {name} of run {id}")))?;
    if let Some(inst) = a.institution() {
        if d.institution_id.as_deref() != Some(inst) {
            // A region document or another hospital's statement.
            return Err(ApiError::not_found(format!("document {name} of run {id}")));
        }
    }
    let body = if d.media_type == XLSX {
        base64::engine::general_purpose::STANDARD
            .decode(d.content.as_bytes())
            .map_err(|e| ApiError::internal(format!("stored {name}: {e}")))?
    } else {
        d.content.into_bytes()
    };
    Response::builder()
        .header(header::CONTENT_TYPE, d.media_type)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
        .body(Body::from(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}

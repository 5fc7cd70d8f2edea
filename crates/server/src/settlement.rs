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
use settle::{HistoryRow, HospitalInputs, Ledger, Method, Pts};
use store::{Actor, FinishedRun, SettlementDocument, SettlementInput};

use crate::auth::Auth;
use crate::engines::{EngineKey, Engines};
use crate::error::ApiError;
use crate::history::Roster;
use crate::pipeline::Engine;
use crate::AppState;

/// How an approved special case is paid.
#[derive(Clone, Debug, PartialEq)]
pub enum SpecialPay {
    FeeForService,
    Adjusted(Decimal),
}

/// A case of the run: the latest version's settlement list and its QC verdict.
#[derive(Clone, Debug)]
pub struct RunCase {
    pub claim: Claim,
    /// The withholding QC rule ids of the version (empty: payable).
    pub withheld: Vec<String>,
}

/// Everything a run computes from, read from the store.
pub struct RunInput {
    pub year: u16,
    pub params: settle::SettleParams,
    pub cases: Vec<RunCase>,
    pub history: Vec<Claim>,
    /// The engine of each case (index into `engines`).
    pub engine_of: Vec<usize>,
    pub engines: Vec<Arc<Engine>>,
    pub institutions: BTreeMap<String, points::Institution>,
    pub special: HashMap<(String, String), SpecialPay>,
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

/// Points of one case as settlement credits them (special cases applied) at the
/// conversion rate of the year, with its withholding QC rules.
pub fn case_points(
    engine: &Engine,
    inst: &points::Institution,
    c: &Claim,
    special: Option<&SpecialPay>,
    conv: &points::Conversion,
    withheld: &[String],
) -> points::Points {
    let (g, _) = engine.group(c, inst, false);
    let mut p = engine.points(c, inst, &g, special.is_some(), conv, withheld);
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

/// Compute a run (pure: no IO). Refused, with the list, when cases or history
/// name unregistered institutions, when the conversion rate cannot be derived, and
/// when cases fall on a line without budget (settle's `NoBudgetLine`).
pub fn compute(input: &RunInput) -> Result<FinishedRun, String> {
    let year = i32::from(input.year);
    let params = &input.params;
    let credit_to_lead = input
        .engines
        .first()
        .is_some_and(|e| e.params.alliance.credit_to_lead);
    let roster = Roster {
        institutions: &input.institutions,
        credit_to_lead,
        split_by_class: params.budget.split_by_class,
    };

    // Every institution the cases name must be registered (no default level).
    let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &input.cases {
        if !input.institutions.contains_key(&c.claim.institution_id) {
            *unknown.entry(c.claim.institution_id.as_str()).or_default() += 1;
        }
    }
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().take(20).map(|(i, n)| format!("{i}（{n} 例）")).collect();
        return Err(format!(
            "{year} 年的病例中有 {} 个机构未登记，其级别与系数未知，结算被拒绝：{}；请先登记这些机构",
            unknown.len(),
            list.join("、")
        ));
    }

    // History: last year's cases priced with each engine of this year (rate, expected points).
    let mut hist_of = Vec::with_capacity(input.engines.len());
    let mut conv_of = Vec::with_capacity(input.engines.len());
    for e in &input.engines {
        let h = crate::history::pass(e, &input.history, &roster, year - 1)?;
        conv_of.push(crate::history::conversion(&e.params, &h).map_err(|m| format!("结算被拒绝：{m}"))?);
        hist_of.push(h);
    }
    let hist = hist_of.first().cloned().unwrap_or_default();
    if hist.totals.is_empty() {
        return Err(format!(
            "no cases discharged in {} in the store: the {} budget is built from last year's totals (seed 002 §9)（库中没有 {} 年出院的职工/居民病例，无法编制 {} 年预算）",
            year - 1,
            year,
            year - 1,
            year
        ));
    }
    let history: Vec<HistoryRow> = hist.rows(|i| roster.class(i).to_owned());

    // Points of every case.
    let mut ledger = Ledger::new();
    ledger.offsite.included = params.offsite.cases == settle::OffsiteRule::Include;
    let mut settled = 0i64;
    let mut special_used = 0i64;
    let (mut other_year, mut other_ins) = (0u64, 0u64);
    let mut special_rows = Vec::new();
    for (rc, &e) in input.cases.iter().zip(&input.engine_of) {
        use chrono::Datelike;
        let c = &rc.claim;
        let Some(month) = c.discharged_at.filter(|d| d.year() == year).map(|d| d.month() as u8) else {
            other_year += 1;
            continue;
        };
        let Some(ins) = crate::history::insurance_of(c) else {
            other_ins += 1;
            continue;
        };
        let inst = &input.institutions[&c.institution_id];
        let sp = input.special.get(&(c.institution_id.clone(), c.case_id.clone()));
        let p = case_points(&input.engines[e], inst, c, sp, &conv_of[e], &rc.withheld);
        let pts = Pts::from_decimal(p.total).ok_or("points out of range")?;
        let credited = p.credited_to.clone();
        let key = roster.key(&credited, ins);
        if c.offsite == Some(true) {
            let t = &mut ledger.offsite;
            t.cases += 1;
            t.points += pts;
            t.total_cost = t.total_cost + c.total_cost.unwrap_or_default();
            t.fund_paid = t.fund_paid + c.fund_paid.unwrap_or_default();
            if !t.included {
                continue;
            }
        }
        if let Some(sp) = sp {
            special_used += i64::from(rc.withheld.is_empty());
            special_rows.push(vec![
                c.institution_id.clone(),
                c.case_id.clone(),
                p.group.clone().unwrap_or_default(),
                match sp {
                    SpecialPay::Adjusted(_) => "调整支付标准".to_owned(),
                    _ => "按项目付费".to_owned(),
                },
                p.total.to_string(),
                if rc.withheld.is_empty() {
                    "支付".to_owned()
                } else {
                    format!("暂缓支付（质控未通过：{}）", rc.withheld.join("、"))
                },
            ]);
        }
        if !rc.withheld.is_empty() {
            ledger.add_withheld(settle::WithheldCase {
                institution_id: credited.clone(),
                key,
                month,
                case_id: c.case_id.clone(),
                group: p.group.clone().unwrap_or_default(),
                method: method_of(p.method),
                points: pts,
                total_cost: c.total_cost.unwrap_or_default(),
                fund_paid: c.fund_paid.unwrap_or_default(),
                rules: rc.withheld.join("; "),
            });
            continue;
        }
        ledger.add_case(&settle::CaseRow {
            institution_id: &credited,
            key,
            month,
            group: p.group.as_deref().unwrap_or(""),
            method: method_of(p.method),
            points: pts,
            total_cost: c.total_cost.unwrap_or_default(),
            fund_paid: c.fund_paid.unwrap_or_default(),
        });
        settled += 1;
    }
    ledger.sort_withheld();
    let budget = settle::build_budget(&params.budget, input.year, &history).map_err(|e| format!("预算无法编制：{e}"))?;
    let s = settle::settle(params, &budget, &ledger, &HospitalInputs::default()).map_err(|e| format!("结算被拒绝：{e}"))?;

    // Conversion and expected point values (what an estimate uses before the year ends).
    let mut derivation = budget.derivation.clone();
    let mut conversions = Vec::new();
    let mut expected_json = Vec::new();
    for (i, (e, conv)) in input.engines.iter().zip(&conv_of).enumerate() {
        let label = format!("参数 {}（params {:?}, weights {:?}）", e.params.version, e.params_id, e.weights_id);
        derivation.push_str(&format!(
            "\n  8. conversion rate (seed 002 §24–§25: fee-for-service, per-diem, capitation and add-on \
             points on the DRG/DIP scale), {label}: {}\n",
            conv.describe()
        ));
        derivation.push_str("  9. expected point value = line budget / the history year's points under this year's parameters:\n");
        let lines = crate::history::expected_lines(&budget, &hist_of[i], conv, &roster);
        for l in &lines {
            derivation.push_str(&format!(
                "     {}: {} / {} = {}\n",
                l.key,
                l.annual,
                l.points,
                l.value.map(|v| v.to_string()).unwrap_or_else(|| "- (no history points)".into())
            ));
            expected_json.push(json!({"engine": label, "line": l.key.to_string(), "budget": l.annual.to_string(),
                "history_points": l.points.to_string(), "expected_point_value": l.value.map(|v| v.to_string()),
                "point_value": s.annual_point_value(&l.key).map(|v| v.to_string())}));
        }
        conversions.push(json!({"engine": label, "yuan_per_point": conv.yuan_per_point.to_string(), "text": conv.describe(),
            "status": if conv.basis.is_some() { "derived" } else { "fixed" }}));
    }

    let rate = params.deposit.rate;
    let pv = statement::point_values_table(&s);
    let summary = statement::summary_table(&budget, &s);
    let hosp = statement::hospitals_table(&s, None);
    let quarters = statement::quarters_table(&s, None);
    let identity = statement::identity_table(&s);
    let withheld = statement::withheld_table(&s, None);
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let mut docs = vec![
        doc_text("summary.csv", None, CSV, summary.to_csv()),
        doc_text("identity.csv", None, CSV, identity.to_csv()),
        doc_text("withheld.csv", None, CSV, withheld.to_csv()),
        doc_text("point-values.csv", None, CSV, pv.to_csv()),
        doc_text("hospitals.csv", None, CSV, hosp.to_csv()),
        doc_text("quarterly.csv", None, CSV, quarters.to_csv()),
        doc_text("monthly.csv", None, CSV, statement::months_table(&s, rate, None).to_csv()),
        doc_text("annual.csv", None, CSV, statement::annual_table(&s, None).to_csv()),
        doc_text("budget.csv", None, CSV, settle::budget::budget_csv(&budget)),
        doc_text("budget-derivation.txt", None, "text/plain; charset=utf-8", derivation),
    ];
    let xlsx = statement::to_xlsx(
        s.year,
        &[
            ("统筹区汇总", &summary),
            ("预算核对", &identity),
            ("点值", &pv),
            ("机构年度汇总", &hosp),
            ("暂缓支付病例", &withheld),
        ],
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
    if other_year + other_ins > 0 {
        notes.push(format!(
            "{} 例出院日期不在 {year} 年、{} 例险种不是职工/居民，未参与本次结算 ({} discharged outside {year}, {} of other insurance types: not settled)",
            other_year, other_ins, other_year, other_ins
        ));
    }
    if !s.withheld.is_empty() {
        let amount: Fen = s.withheld.iter().filter_map(|w| statement::withheld_value(&s, w)).sum();
        notes.push(format!(
            "{} 例因质控未通过暂缓支付（按年度点值约 {amount} 元，见 withheld.csv），更正后重新上传的版本在下次结算中支付",
            s.withheld.len()
        ));
    }
    notes.push(format!(
        "异地就医病例 {} 例（offsite.cases = {}：{}）",
        s.offsite.cases,
        params.offsite.cases.as_str(),
        if s.offsite.included { "在本统筹区结算" } else { "不在本统筹区结算" }
    ));
    for a in &s.accounts {
        notes.push(format!(
            "{} 预算核对：{} = 支付 {} + 收回结余 {} + 扣除保证金 {} + 预留结余 {} + 结转 {}（{}）",
            a.insurance.zh(),
            a.budget,
            a.paid,
            a.retained_surplus,
            a.retained_deposits,
            a.reserves_kept,
            a.carried_over,
            if a.holds() { "OK" } else { "MISMATCH" }
        ));
    }
    let accounts: Vec<Value> = s
        .accounts
        .iter()
        .map(|a| {
            json!({"insurance": a.insurance.zh(), "budget": a.budget.to_string(), "paid": a.paid.to_string(),
                "retained_surplus": a.retained_surplus.to_string(), "retained_deposits": a.retained_deposits.to_string(),
                "reserves_kept": a.reserves_kept.to_string(), "carried_over": a.carried_over.to_string(), "holds": a.holds()})
        })
        .collect();
    let summary_json = json!({
        "year": s.year,
        "params_version": params.version,
        "budget": budget_lines,
        "point_values": table_json(&pv),
        "summary": table_json(&summary),
        "identity": table_json(&identity),
        "accounts": accounts,
        "withheld": table_json(&withheld),
        "withheld_cases": s.withheld.len(),
        "offsite": {"cases": s.offsite.cases, "included": s.offsite.included, "rule": params.offsite.cases.as_str()},
        "conversion": conversions,
        "expected_point_values": expected_json,
        "skipped": {"other_year": other_year, "other_insurance": other_ins},
        "hospitals": table_json(&hosp),
        "quarters": table_json(&quarters),
        "special_cases": {
            "columns": ["institution_id", "case_id", "group", "pay_as", "points", "payment"],
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

/// Read stored settlement lists back (a list that cannot be read is an error, never skipped).
pub fn parse_claims(rows: Vec<SettlementInput>) -> Result<Vec<Claim>, ApiError> {
    Ok(parse_cases(rows)?.into_iter().map(|c| c.claim).collect())
}

fn parse_cases(rows: Vec<SettlementInput>) -> Result<Vec<RunCase>, ApiError> {
    let mut bad = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        match serde_json::from_str::<Claim>(&r.claim_json) {
            Ok(claim) => out.push(RunCase {
                claim,
                withheld: if r.payable {
                    Vec::new()
                } else {
                    let w: Vec<String> = r.withheld.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
                    if w.is_empty() { vec!["QC".to_owned()] } else { w }
                },
            }),
            Err(e) => {
                if bad.len() < 10 {
                    bad.push(format!("{} {} v{}: {e}", r.institution_id, r.case_id, r.version));
                }
            }
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::internal(format!("stored settlement lists could not be read back: {}", bad.join("; "))));
    }
    Ok(out)
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
    let (cases, history) = tokio::task::spawn_blocking(move || (parse_cases(cur), parse_claims(prev)))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let (cases, history) = (cases?, history?);
    let mut keys: Vec<EngineKey> = Vec::new();
    let mut engine_of = Vec::with_capacity(cases.len());
    let mut key_ix: HashMap<EngineKey, usize> = HashMap::new();
    for c in cases.iter().map(|c| &c.claim) {
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
    for key in ["hospitals", "quarters", "withheld"] {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(inst: &str, case: &str, day: &str, total: i64) -> Claim {
        Claim {
            case_id: case.into(),
            institution_id: inst.into(),
            insurance_type: Some(claims::InsuranceType::Employee),
            discharged_at: chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(10, 0, 0)),
            admitted_at: chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(8, 0, 0)),
            los: Some(1),
            main_diagnosis: Some("J18.900".into()),
            total_cost: Some(Fen(total)),
            fund_paid: Some(Fen(total / 2)),
            ..Claim::default()
        }
    }

    fn input(cases: Vec<Claim>, history: Vec<Claim>) -> RunInput {
        let engine = crate::engines::build((None, None, None, None), None, None, None, None).expect("engine");
        let inst = |id: &str| (id.to_owned(), points::Institution { id: id.into(), level: "二级".into(), tcm: false, alliance_lead: None });
        RunInput {
            year: 2025,
            params: settle::SettleParams::builtin(),
            engine_of: vec![0; cases.len()],
            cases: cases.into_iter().map(|claim| RunCase { claim, withheld: Vec::new() }).collect(),
            history,
            engines: vec![Arc::new(engine)],
            institutions: [inst("H1")].into_iter().collect(),
            special: HashMap::new(),
        }
    }

    #[test]
    fn unknown_institutions_refuse_the_run_with_their_list() {
        // Without weights every case is ungroupable and paid by item: the derived rate has
        // no DRG/DIP basis — refused too, but the unknown institutions are named first.
        let i = input(
            vec![claim("H1", "a", "2025-03-01", 100_000), claim("H404", "b", "2025-03-02", 100_000), claim("H404", "c", "2025-03-03", 1)],
            vec![claim("H1", "x", "2024-03-01", 100_000)],
        );
        let Err(e) = compute(&i) else { panic!("accepted") };
        assert!(e.contains("H404（2 例）") && e.contains("未登记"), "{e}");
        let i = input(vec![claim("H1", "a", "2025-03-01", 100_000)], vec![claim("H405", "x", "2024-03-01", 100_000)]);
        let Err(e) = compute(&i) else { panic!("accepted") };
        assert!(e.contains("2024") && e.contains("H405（1 例）"), "{e}");
    }

    #[test]
    fn a_derived_rate_without_group_priced_history_refuses_the_run() {
        let i = input(vec![claim("H1", "a", "2025-03-01", 100_000)], vec![claim("H1", "x", "2024-03-01", 100_000)]);
        let Err(e) = compute(&i) else { panic!("accepted") };
        assert!(e.contains("折算率未知") && e.contains("2024"), "{e}");
    }
}

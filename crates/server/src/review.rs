//! Special cases (特例单议) and disputes (争议与反馈) at the API level.
//!
//! Quota: 5 % of an institution's DRG discharges in the quarter (5 ‰ under
//! DIP), rounded up — the region's quota divided among hospitals in
//! proportion to their discharges. Applications that were not rejected count.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::AppState;

/// Days the agency has to answer a dispute.
pub const ANSWER_DAYS: i64 = 15;

/// The quota of an institution with `discharges` discharges in a quarter under
/// the parameters in force (`special_cases.drg_quota` / `dip_quota`, seed 003
/// 三(一)): rate × discharges, rounded up — the rule `drgdip points/settle
/// --special-cases` applies too.
pub fn quota(params: &points::Params, discharges: i64) -> i64 {
    params.special_case_quota(discharges.max(0) as u64).min(i64::MAX as u64) as i64
}

async fn quota_of(
    s: &AppState,
    institution: &str,
    quarter: &str,
) -> Result<(i64, i64, Decimal, i64), ApiError> {
    let key = s.engines.key_for(&crate::upload::today());
    let engine = s.engines.engine(key).await?;
    let rate = engine.params.special_case_rate();
    let discharges = s.store.discharges_in_quarter(institution, quarter).await?;
    let used = s.store.special_cases_used(institution, quarter).await?;
    Ok((discharges, quota(&engine.params, discharges), rate, used))
}

#[derive(Deserialize)]
pub struct QuotaQ {
    institution_id: Option<String>,
    quarter: String,
}

pub async fn get_quota(
    State(s): State<AppState>,
    a: Auth,
    Query(q): Query<QuotaQ>,
) -> Result<Json<Value>, ApiError> {
    let inst = a
        .scope(q.institution_id.as_deref())?
        .ok_or_else(|| ApiError::bad_request("institution_id: required for agency users"))?;
    let (discharges, quota, rate, used) = quota_of(&s, &inst, &q.quarter).await?;
    Ok(Json(
        json!({"institution_id": inst, "quarter": q.quarter, "discharges": discharges, "rate": rate.to_string(), "quota": quota, "used": used}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Apply {
    institution_id: Option<String>,
    case_id: String,
    reason: String,
    #[serde(default)]
    note: String,
}

pub async fn apply(
    State(s): State<AppState>,
    a: Auth,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let own = a.require_hospital()?.to_owned();
    let b: Apply = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("application body: {e}")))?;
    if let Some(i) = &b.institution_id {
        a.require_access(i)?;
    }
    crate::validate::id("case_id", &b.case_id)?;
    crate::validate::text("note", &b.note, crate::validate::TEXT_MAX, false)?;
    let hist = s.store.case_history(&own, &b.case_id).await?;
    let latest = hist
        .last()
        .ok_or_else(|| ApiError::not_found(format!("case {} of institution {own}", b.case_id)))?;
    let quarter = store::quarter_of(&latest.period)
        .ok_or_else(|| ApiError::bad_request(format!("case {}: no discharge date", b.case_id)))?;
    let warning = qc_warning(latest);
    let (_, quota, _, _) = quota_of(&s, &own, &quarter).await?;
    let sc = s
        .store
        .apply_special_case(&a.actor(), &own, &b.case_id, &b.reason, &b.note, quota)
        .await?;
    let mut j = json!(sc);
    j["qc_warning"] = json!(warning);
    Ok((StatusCode::CREATED, Json(j)))
}

/// The QC warning of a case version that is withheld (None: payable): what the
/// applicant and the reviewer must see.
pub fn qc_warning(v: &store::CaseVersion) -> Option<String> {
    (!v.result.payable).then(|| {
        format!(
            "该病例最新版本（第 {} 版）未通过质控规则 {}，暂缓支付：请先更正结算清单并重新上传（同一病例号）；\
             在此之前审核专家不能批准特例单议，除非说明理由特批（记入审计日志并在通报中列示）",
            v.version,
            v.result.withheld.replace(',', "、")
        )
    })
}

#[derive(Deserialize)]
pub struct ListQ {
    institution_id: Option<String>,
    status: Option<String>,
    quarter: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    a: Auth,
    Query(q): Query<ListQ>,
) -> Result<Json<Value>, ApiError> {
    let inst = a.scope(q.institution_id.as_deref())?;
    Ok(Json(json!(
        s.store
            .special_cases(inst.as_deref(), q.status.as_deref(), q.quarter.as_deref())
            .await?
    )))
}

pub async fn get_one(
    State(s): State<AppState>,
    a: Auth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let sc = s
        .store
        .special_case(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("special case {id}")))?;
    a.require_access(&sc.institution_id)?;
    Ok(Json(json!(sc)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    /// `approve` or `reject`.
    decision: String,
    pay_as: Option<String>,
    /// Points paid when `pay_as` is `adjusted_standard`.
    #[serde(default)]
    adjusted_points: Option<Value>,
    #[serde(default)]
    comment: String,
    /// Approve although the case's latest version is withheld by QC: the reason
    /// (required then, audited, shown in the queue and the bulletin).
    #[serde(default)]
    qc_override: Option<String>,
}

pub async fn review(
    State(s): State<AppState>,
    a: Auth,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    a.require_agency()?;
    let b: Review = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("review body: {e}")))?;
    let approve = match b.decision.as_str() {
        "approve" => true,
        "reject" => false,
        d => {
            return Err(ApiError::bad_request(format!(
                "decision {d:?}: approve or reject"
            )))
        }
    };
    crate::validate::text("comment", &b.comment, crate::validate::TEXT_MAX, false)?;
    if let Some(o) = &b.qc_override {
        crate::validate::text("qc_override", o, crate::validate::TEXT_MAX, false)?;
    }
    if !approve && b.comment.trim().is_empty() {
        return Err(ApiError::bad_request(
            "comment: a rejection gives its reasons",
        ));
    }
    // Accept the points as a JSON number or string.
    let adjusted = b.adjusted_points.as_ref().map(|v| match v {
        Value::String(t) => t.clone(),
        other => other.to_string(),
    });
    let sc = s
        .store
        .review_special_case(
            &a.actor(),
            id,
            approve,
            b.pay_as.as_deref(),
            adjusted.as_deref(),
            &b.comment,
            b.qc_override.as_deref(),
        )
        .await?;
    Ok(Json(json!(sc)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raise {
    institution_id: Option<String>,
    case_id: Option<String>,
    kind: String,
    body: String,
}

pub async fn raise(
    State(s): State<AppState>,
    a: Auth,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let own = a.require_hospital()?.to_owned();
    let b: Raise = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("dispute body: {e}")))?;
    if let Some(i) = &b.institution_id {
        a.require_access(i)?;
    }
    crate::validate::text("body", &b.body, crate::validate::TEXT_MAX, true)?;
    if let Some(c) = &b.case_id {
        crate::validate::id("case_id", c)?;
    }
    let d = s
        .store
        .raise_dispute(
            &a.actor(),
            &own,
            b.case_id.as_deref(),
            &b.kind,
            &b.body,
            ANSWER_DAYS,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(with_overdue(&d))))
}

fn with_overdue(d: &store::Dispute) -> Value {
    let mut j = json!(d);
    j["overdue"] = json!(d.status == "open" && store::now_ms() > d.deadline);
    j
}

#[derive(Deserialize)]
pub struct DisputesQ {
    institution_id: Option<String>,
    status: Option<String>,
}

pub async fn disputes(
    State(s): State<AppState>,
    a: Auth,
    Query(q): Query<DisputesQ>,
) -> Result<Json<Value>, ApiError> {
    let inst = a.scope(q.institution_id.as_deref())?;
    let ds = s
        .store
        .disputes(inst.as_deref(), q.status.as_deref())
        .await?;
    Ok(Json(Value::Array(ds.iter().map(with_overdue).collect())))
}

pub async fn dispute(
    State(s): State<AppState>,
    a: Auth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let d = s
        .store
        .dispute(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("dispute {id}")))?;
    a.require_access(&d.institution_id)?;
    Ok(Json(with_overdue(&d)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    answer: String,
    #[serde(default)]
    close: bool,
}

pub async fn answer(
    State(s): State<AppState>,
    a: Auth,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    a.require_agency()?;
    let b: Answer = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("answer body: {e}")))?;
    crate::validate::text("answer", &b.answer, crate::validate::TEXT_MAX, true)?;
    let d = s
        .store
        .answer_dispute(&a.actor(), id, &b.answer, b.close)
        .await?;
    Ok(Json(with_overdue(&d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rounds_up() {
        let drg = points::Params::builtin();
        let mut dip = points::Params::builtin();
        dip.method = points::Method::Dip;
        assert_eq!(quota(&drg, 100), 5);
        assert_eq!(quota(&drg, 101), 6);
        assert_eq!(quota(&dip, 1000), 5);
        assert_eq!(quota(&dip, 1), 1);
        assert_eq!(quota(&drg, 0), 0);
    }
}

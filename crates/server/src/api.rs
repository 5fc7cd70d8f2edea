//! Routes and handlers.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{CaseQuery, ConfigKind, Institution, NewUser, Role};

use crate::auth::{hash_password, new_token, token_hash, verify_password, Auth};
use crate::error::ApiError;
use crate::upload::{engines_for, prepare, read_body};
use crate::{Access, Api, AppState, RouteDoc};

type R = Result<Json<Value>, ApiError>;

const fn doc(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
) -> RouteDoc {
    RouteDoc {
        method,
        path,
        summary,
        access,
        body: None,
        query: &[],
    }
}

const fn with_body(d: RouteDoc, media: &'static str) -> RouteDoc {
    RouteDoc {
        body: Some(media),
        ..d
    }
}

const fn with_query(d: RouteDoc, q: &'static [&'static str]) -> RouteDoc {
    RouteDoc { query: q, ..d }
}

/// Every route of the service.
pub fn routes() -> Api {
    use Access::*;
    Api::new()
        .add(doc("GET", "/api/health", "Liveness: the service and its database answer", Public), get(health))
        .add(doc("GET", "/api/openapi.json", "This OpenAPI document", Public), get(openapi))
        .add(with_body(doc("POST", "/api/login", "Sign in with username and password; returns a bearer token", Public), "application/json"), post(login))
        .add(doc("POST", "/api/logout", "End the current session", Authenticated), post(logout))
        .add(doc("GET", "/api/me", "The signed-in user", Authenticated), get(me))
        .add(doc("GET", "/api/institutions", "Institutions (a hospital user sees its own)", Authenticated), get(list_institutions))
        .add(with_body(doc("POST", "/api/institutions", "Create or update an institution", Admin), "application/json"), post(put_institution))
        .add(doc("GET", "/api/institutions/{institution_id}", "One institution", Authenticated), get(get_institution))
        .add(
            with_query(doc("GET", "/api/institutions/{institution_id}/cases", "Latest version of each case of an institution", Authenticated), &["period_from", "period_to", "drg", "limit", "offset"]),
            get(institution_cases),
        )
        .add(doc("GET", "/api/institutions/{institution_id}/cases/{case_id}", "Every version of one case with its result and QC findings", Authenticated), get(case_history))
        .add(doc("GET", "/api/users", "User accounts", Admin), get(list_users))
        .add(with_body(doc("POST", "/api/users", "Create a user (role agency_admin, agency_reviewer or hospital_user bound to one institution)", Admin), "application/json"), post(create_user))
        .add(
            with_body(doc("POST", "/api/cases", "Upload one settlement list (JSON object): QC, group, price and store; answers with findings, group, trace, points, payable/withheld (QC gates payment) and the estimate with its derivation; an unregistered institution is refused (422)", Authenticated), "application/json"),
            post(upload_one),
        )
        .add(
            with_query(doc("GET", "/api/cases", "Latest version of each case, by institution and discharge period", Authenticated), &["institution_id", "period_from", "period_to", "drg", "limit", "offset"]),
            get(list_cases),
        )
        .add(
            with_query(with_body(doc("POST", "/api/uploads", "Upload a batch file (CSV, JSONL or XLSX body; name=file name); every readable record is checked, grouped, priced and stored in one transaction, unreadable ones are listed with line, field and rule", Authenticated), "application/octet-stream"), &["name"]),
            post(upload_batch),
        )
        .add(with_query(doc("GET", "/api/uploads", "Uploads, newest first", Authenticated), &["institution_id", "limit"]), get(list_uploads))
        .add(doc("GET", "/api/uploads/{upload_id}", "One upload with its refused records", Authenticated), get(get_upload))
        .add(with_query(doc("GET", "/api/configs", "Parameter sets, schemes and weights tables (without content)", Agency), &["kind"]), get(list_configs))
        .add(
            with_query(with_body(doc("POST", "/api/configs", "Upload a configuration (kind params: TOML; scheme: JSON of the six scheme files; weights: CSV code,rw,mean_cost[,base_level]); checked, stored inactive", Admin), "text/plain"), &["kind", "name"]),
            post(add_config),
        )
        .add(doc("GET", "/api/configs/{config_id}", "One configuration with its content", Agency), get(get_config))
        .add(with_body(doc("POST", "/api/configs/{config_id}/activate", "Activate a configuration from an effective date (YYYY-MM-DD)", Admin), "application/json"), post(activate_config))
        .add(with_query(doc("GET", "/api/engine", "The configuration in force on a day, the conversion rate and the expected point values of its year with their derivation (from the store's cases of the year before)", Authenticated), &["day"]), get(engine_info))
        .add(
            with_query(doc("GET", "/api/special-cases/quota", "Special-case quota of an institution in a quarter (5 % of DRG / 5 ‰ of DIP discharges) and how much is used", Authenticated), &["institution_id", "quarter"]),
            get(crate::review::get_quota),
        )
        .add(
            with_body(doc("POST", "/api/special-cases", "Apply for a special case (特例单议): reason long_stay, high_cost, new_technology or critical_care; within the quarter's quota", Hospital), "application/json"),
            post(crate::review::apply),
        )
        .add(with_query(doc("GET", "/api/special-cases", "Special-case applications (a hospital user sees its own)", Authenticated), &["institution_id", "status", "quarter"]), get(crate::review::list))
        .add(doc("GET", "/api/special-cases/{special_case_id}", "One special-case application", Authenticated), get(crate::review::get_one))
        .add(
            with_body(doc("POST", "/api/special-cases/{special_case_id}/review", "Approve (pay_as fee_for_service or adjusted_standard) or reject with comments; approving a case whose latest version is withheld by QC needs qc_override (the reason, audited)", Agency), "application/json"),
            post(crate::review::review),
        )
        .add(
            with_body(doc("POST", "/api/disputes", "Dispute a case's grouping or payment, or send a suggestion; answer due in 15 days", Hospital), "application/json"),
            post(crate::review::raise),
        )
        .add(with_query(doc("GET", "/api/disputes", "Disputes and suggestions with state and deadline (a hospital user sees its own)", Authenticated), &["institution_id", "status"]), get(crate::review::disputes))
        .add(doc("GET", "/api/disputes/{dispute_id}", "One dispute", Authenticated), get(crate::review::dispute))
        .add(with_body(doc("POST", "/api/disputes/{dispute_id}/answer", "The agency answers (and may close)", Agency), "application/json"), post(crate::review::answer))
        .add(
            with_body(doc("POST", "/api/settlement/runs", "Start a settlement run of a year (body: year, optional params TOML): the year's cases priced with the configuration in force and the approved special cases, budget and conversion rate from last year's cases, cases withheld by QC listed not paid; runs in the background", Admin), "application/json"),
            post(crate::settlement::start),
        )
        .add(doc("GET", "/api/settlement/runs", "Settlement runs, newest first, with their state", Authenticated), get(crate::settlement::list))
        .add(doc("GET", "/api/settlement/runs/{run_id}", "One run: state, summary (a hospital user sees its own rows) and documents", Authenticated), get(crate::settlement::get_run))
        .add(with_query(doc("GET", "/api/settlement/latest", "The newest finished run (of a year)", Authenticated), &["year"]), get(crate::settlement::latest))
        .add(doc("GET", "/api/settlement/runs/{run_id}/documents/{name}", "A statement or region table of a run (CSV or XLSX); a hospital user gets its own statements only", Authenticated), get(crate::settlement::document))
        .add(with_query(doc("GET", "/api/dashboard", "Dashboard of the region (agency) or one institution for a year: cases, 入组率, points, estimated payment, CMI, QC findings, special cases, the latest settlement", Authenticated), &["year", "institution_id"]), get(crate::dashboard::dashboard))
        .add(with_query(doc("GET", "/api/charts/{chart}", "A chart as SVG: monthly.svg (cases and 入组率 per month) or point-values.svg (quarterly point values)", Authenticated), &["year", "institution_id"]), get(crate::dashboard::chart))
        .add(with_query(doc("GET", "/api/special-cases/bulletin", "Half-year special-case bulletin (特例单议通报): applications by reason and results per hospital", Authenticated), &["year", "half"]), get(crate::dashboard::bulletin))
        .add(with_body(doc("POST", "/api/export.xlsx", "A table as an XLSX workbook (body: title, columns, rows)", Authenticated), "application/json"), post(crate::dashboard::export))
        .add(with_query(doc("GET", "/api/reports/{kind}", "A report of the monitor as HTML (format=xlsx: XLSX): monthly feedback to an institution (period 2025-03; a hospital user: its own), quarterly bulletin (2025Q1) or annual disclosure (2025) (agency)", Authenticated), &["period", "institution_id", "format"]), get(crate::reports::report))
        .add(with_query(doc("GET", "/api/audit", "Audit log, newest first", Admin), &["limit"]), get(audit))
}

async fn health(State(s): State<AppState>) -> R {
    let n = s.store.user_count().await?;
    Ok(Json(
        json!({"status": "ok", "database": format!("{:?}", s.store.dialect()).to_lowercase(), "users": n}),
    ))
}

async fn openapi(State(s): State<AppState>) -> Json<Value> {
    Json(crate::openapi::document(&s.docs))
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// Session lifetime: 12 hours.
const SESSION_MS: i64 = 12 * 3600 * 1000;

async fn login(State(s): State<AppState>, body: Bytes) -> R {
    let l: Login = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("login body: {e}")))?;
    let user = s.store.user_by_name(&l.username).await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_default();
    let pw = l.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
        .await
        .unwrap_or(false);
    let user = match (user, ok) {
        (Some(u), true) if u.active => u,
        _ => {
            s.store
                .audit(
                    &store::Actor {
                        user_id: None,
                        username: l.username.clone(),
                    },
                    "session.login_failed",
                    &format!("user:{}", l.username),
                    json!({}),
                )
                .await?;
            return Err(ApiError::unauthorized("wrong username or password"));
        }
    };
    let token = new_token()?;
    s.store
        .create_session(&user, &token_hash(&token), SESSION_MS)
        .await?;
    Ok(Json(
        json!({"token": token, "expires_in_s": SESSION_MS / 1000, "user": user}),
    ))
}

async fn logout(State(s): State<AppState>, a: Auth) -> R {
    s.store.end_session(&a.user, &a.token_hash).await?;
    s.sessions.remove(&a.token_hash);
    Ok(Json(json!({"ok": true})))
}

async fn me(a: Auth) -> R {
    Ok(Json(json!(a.user)))
}

async fn list_institutions(State(s): State<AppState>, a: Auth) -> R {
    let all = s.store.institutions().await?;
    let visible: Vec<Institution> = all.into_iter().filter(|i| a.may_access(&i.id)).collect();
    Ok(Json(json!(visible)))
}

/// An institution as posted: every field named, nothing unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostedInstitution {
    id: String,
    name: String,
    level: String,
    #[serde(default)]
    tcm: bool,
    #[serde(default)]
    alliance_lead: Option<String>,
}

/// Check a posted institution against the stored ones: id and name not empty, a
/// known level, an alliance lead that is stored (or the institution itself: it
/// leads) and is not itself a member of another alliance, and no institution led
/// by this one when it becomes a member; its level must have a coefficient in the
/// parameters in force today.
async fn checked_institution(s: &AppState, body: &[u8]) -> Result<Institution, ApiError> {
    let b: PostedInstitution =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("institution body: {e}")))?;
    let mut p = check::Problems::new();
    let id = b.id.trim().to_owned();
    p.nonempty("id", &b.id);
    p.nonempty("name", &b.name);
    if !points::LEVELS.contains(&b.level.as_str()) {
        p.bad("level", format!("{:?}", b.level), format!("must be one of {}", points::LEVELS.join(", ")));
    }
    let lead = b.alliance_lead.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    let stored = s.store.institutions().await?;
    if let Some(l) = lead.as_deref().filter(|l| *l != id) {
        match stored.iter().find(|i| i.id == l) {
            None => p.bad("alliance_lead", l, "names no institution (create the lead first)"),
            Some(li) => {
                if let Some(up) = li.alliance_lead.as_deref().filter(|u| !u.is_empty() && *u != li.id) {
                    p.bad("alliance_lead", l, format!("{l} is itself a member of the alliance led by {up}"));
                }
            }
        }
        let led: Vec<&str> = stored
            .iter()
            .filter(|i| i.id != id && i.alliance_lead.as_deref() == Some(id.as_str()))
            .map(|i| i.id.as_str())
            .collect();
        if !led.is_empty() {
            p.bad("alliance_lead", l, format!("{id} leads {}: a lead cannot be a member of another alliance", led.join(", ")));
        }
    }
    p.finish("institution")?;
    let inst = Institution { id, name: b.name.trim().to_owned(), level: b.level, tcm: b.tcm, alliance_lead: lead };
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    if let Ok(engine) = s.engines.engine(s.engines.key_for(&today)).await {
        let c = &engine.params.coefficients;
        if !c.by_level.contains_key(&inst.level) && !c.overrides.contains_key(&inst.id) {
            let mut p = check::Problems::new();
            p.bad(
                "level",
                format!("{:?}", inst.level),
                format!("the points parameters in force (version {}) have no coefficient for this level", engine.params.version),
            );
            p.finish("institution")?;
        }
    }
    Ok(inst)
}

async fn put_institution(State(s): State<AppState>, a: Auth, body: Bytes) -> R {
    a.require_admin()?;
    let i = checked_institution(&s, &body).await?;
    s.store.upsert_institution(&a.actor(), &i).await?;
    s.engines.reload().await?;
    Ok(Json(json!(i)))
}

async fn get_institution(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> R {
    a.require_access(&id)?;
    let i = s
        .store
        .institution(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("institution {id}")))?;
    Ok(Json(json!(i)))
}

#[derive(Deserialize, Default)]
struct CasesQ {
    institution_id: Option<String>,
    period_from: Option<String>,
    period_to: Option<String>,
    drg: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn case_query(q: CasesQ, inst: Option<String>) -> CaseQuery {
    CaseQuery {
        institution_id: inst,
        period_from: q.period_from,
        period_to: q.period_to,
        drg: q.drg,
        limit: q.limit.unwrap_or(100),
        offset: q.offset.unwrap_or(0),
    }
}

async fn list_cases(State(s): State<AppState>, a: Auth, Query(q): Query<CasesQ>) -> R {
    let inst = a.scope(q.institution_id.as_deref())?;
    let rows = s.store.cases(&case_query(q, inst)).await?;
    Ok(Json(json!(rows)))
}

async fn institution_cases(
    State(s): State<AppState>,
    a: Auth,
    Path(id): Path<String>,
    Query(q): Query<CasesQ>,
) -> R {
    a.require_access(&id)?;
    let rows = s.store.cases(&case_query(q, Some(id))).await?;
    Ok(Json(json!(rows)))
}

async fn case_history(
    State(s): State<AppState>,
    a: Auth,
    Path((inst, case_id)): Path<(String, String)>,
) -> R {
    a.require_access(&inst)?;
    let versions = s.store.case_history(&inst, &case_id).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!(
            "case {case_id} of institution {inst}"
        )));
    }
    let mut out = Vec::with_capacity(versions.len());
    for v in versions {
        let findings = s.store.findings(Some(v.id), None).await?;
        let points: Value = serde_json::from_str(&v.result.points_json).unwrap_or(Value::Null);
        let estimate: Value = serde_json::from_str(&v.result.estimate_json).unwrap_or(Value::Null);
        let withholding: Vec<&store::StoredFinding> =
            findings.iter().filter(|f| s.rules.get(&f.rule_id).is_some_and(|r| r.withhold)).collect();
        let mut j = json!(v);
        j["withheld_findings"] = json!(withholding);
        j["findings"] = json!(findings);
        j["result"]["points_detail"] = points;
        j["result"]["estimate"] = estimate;
        out.push(j);
    }
    Ok(Json(
        json!({"institution_id": inst, "case_id": case_id, "versions": out}),
    ))
}

async fn list_users(State(s): State<AppState>, a: Auth) -> R {
    a.require_admin()?;
    Ok(Json(json!(s.store.users().await?)))
}

#[derive(Deserialize)]
struct CreateUser {
    username: String,
    password: String,
    role: String,
    institution_id: Option<String>,
    #[serde(default)]
    display_name: String,
}

async fn create_user(State(s): State<AppState>, a: Auth, body: Bytes) -> R {
    a.require_admin()?;
    let c: CreateUser = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("user body: {e}")))?;
    let role = Role::parse(&c.role).ok_or_else(|| {
        ApiError::bad_request(format!(
            "role {:?}: agency_admin, agency_reviewer or hospital_user",
            c.role
        ))
    })?;
    if c.password.chars().count() < 8 {
        return Err(ApiError::bad_request("password: at least 8 characters"));
    }
    let pw = c.password.clone();
    let phc = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let id = s
        .store
        .create_user(
            &a.actor(),
            &NewUser {
                username: c.username.clone(),
                password_hash: phc,
                role,
                institution_id: c.institution_id.clone(),
                display_name: c.display_name,
            },
        )
        .await?;
    Ok(Json(
        json!({"id": id, "username": c.username, "role": role, "institution_id": c.institution_id}),
    ))
}

/// Uploads come from hospitals (their own cases) and the agency administrator; reviewers only read.
fn require_uploader(a: &Auth) -> Result<(), ApiError> {
    if a.user.role == Role::AgencyReviewer {
        return Err(ApiError::forbidden(
            "reviewers do not upload settlement lists",
        ));
    }
    Ok(())
}

/// One settlement list as a JSON object.
async fn upload_one(
    State(s): State<AppState>,
    a: Auth,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_uploader(&a)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("body: not JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "body: one settlement list as a JSON object",
        ));
    }
    if let Some(inst) = v.get("institution_id").and_then(Value::as_str) {
        a.require_access(inst)?;
    }
    let line = v.to_string();
    let read = read_body("case.jsonl", line.as_bytes())?;
    let built = engines_for(&s.engines, &read.items).await?;
    let prep = prepare(
        &a,
        "single",
        "case.json",
        read,
        &s.engines,
        &built,
        &s.rules,
        s.dicts.as_deref(),
    );
    if prep.outcomes.is_empty() {
        let forbidden = prep.rejected.iter().any(|p| p.rule_id == "ACCESS");
        let msg = prep
            .rejected
            .first()
            .map(|p| p.message.clone())
            .unwrap_or_else(|| "record refused".into());
        if forbidden {
            return Err(ApiError::forbidden(msg));
        }
        return Err(ApiError::unprocessable(msg, json!(prep.rejected)));
    }
    let years = crate::upload::years_of(&prep.upload);
    let done = s.committer.commit(prep.upload).await?;
    s.engines.cases_stored(years);
    let mut out = prep
        .outcomes
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("no outcome"))?;
    if let Some(&(id, ver)) = done.cases.first() {
        out.case_version_id = id;
        out.version = ver;
    }
    let mut j = json!(out);
    j["upload_id"] = json!(done.upload_id);
    Ok((StatusCode::CREATED, Json(j)))
}

#[derive(Deserialize)]
struct BatchQ {
    name: Option<String>,
}

async fn upload_batch(
    State(s): State<AppState>,
    a: Auth,
    Query(q): Query<BatchQ>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_uploader(&a)?;
    let name = q.name.unwrap_or_else(|| "upload.csv".into());
    let n2 = name.clone();
    let read = tokio::task::spawn_blocking(move || read_body(&n2, &body))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let built = engines_for(&s.engines, &read.items).await?;
    let (s2, a2, name2) = (s.clone(), a.clone(), name.clone());
    let prep = tokio::task::spawn_blocking(move || {
        prepare(
            &a2,
            "batch",
            &name2,
            read,
            &s2.engines,
            &built,
            &s2.rules,
            s2.dicts.as_deref(),
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let years = crate::upload::years_of(&prep.upload);
    let done = s.committer.commit(prep.upload).await?;
    s.engines.cases_stored(years);
    let cases: Vec<Value> = prep
        .outcomes
        .iter()
        .zip(&done.cases)
        .map(|(o, (id, ver))| {
            json!({"line": o.line, "institution_id": o.institution_id, "case_id": o.case_id, "case_version_id": id, "version": ver,
                   "drg": o.group.drg, "status": o.group.status, "points": o.estimate.points, "points_pending": o.points_pending,
                   "yuan": o.estimate.yuan, "estimate_status": o.estimate.status, "estimate_reason": o.estimate.reason,
                   "payable": o.payable, "withheld": o.withheld, "findings": o.findings})
        })
        .collect();
    let withheld = prep.outcomes.iter().filter(|o| !o.payable).count();
    let no_estimate = prep.outcomes.iter().filter(|o| o.estimate.status == "unavailable").count();
    let plan = json!({
        "missing_columns": prep.plan.missing_columns.iter().map(|(f, r)| json!({"field": f.name(), "rule_id": r})).collect::<Vec<_>>(),
        "skipped_rules": prep.plan.skipped_rules,
        "needs_dictionary": prep.plan.needs_dictionary,
    });
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"upload_id": done.upload_id, "file_name": name, "records": cases.len() + prep.rejected.len(), "accepted": cases.len(),
                    "line_count": prep.count, "withheld": withheld, "estimate_unavailable": no_estimate,
                    "rejected": prep.rejected, "plan": plan, "cases": cases}),
        ),
    ))
}

#[derive(Deserialize)]
struct UploadsQ {
    institution_id: Option<String>,
    limit: Option<i64>,
}

async fn list_uploads(State(s): State<AppState>, a: Auth, Query(q): Query<UploadsQ>) -> R {
    let inst = a.scope(q.institution_id.as_deref())?;
    Ok(Json(json!(
        s.store
            .uploads(inst.as_deref(), q.limit.unwrap_or(100).clamp(1, 10_000))
            .await?
    )))
}

async fn get_upload(State(s): State<AppState>, a: Auth, Path(id): Path<i64>) -> R {
    let u = s
        .store
        .upload(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("upload {id}")))?;
    match &u.institution_id {
        Some(i) => a.require_access(i)?,
        None => a.require_agency()?,
    }
    let rejected = s
        .store
        .findings(None, Some(id))
        .await?
        .into_iter()
        .filter(|f| f.case_version_id.is_none())
        .collect::<Vec<_>>();
    let mut j = json!(u);
    j["rejected_records"] = json!(rejected);
    Ok(Json(j))
}

#[derive(Deserialize)]
struct KindQ {
    kind: Option<String>,
    name: Option<String>,
}

fn parse_kind(k: &str) -> Result<ConfigKind, ApiError> {
    ConfigKind::parse(k).ok_or_else(|| {
        ApiError::bad_request(format!(
            "kind {k:?}: params, scheme, weights or dip_library"
        ))
    })
}

async fn list_configs(State(s): State<AppState>, a: Auth, Query(q): Query<KindQ>) -> R {
    a.require_agency()?;
    let kind = q.kind.as_deref().map(parse_kind).transpose()?;
    Ok(Json(json!(s.store.configs(kind).await?)))
}

async fn add_config(
    State(s): State<AppState>,
    a: Auth,
    Query(q): Query<KindQ>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    a.require_admin()?;
    let kind = parse_kind(q.kind.as_deref().unwrap_or(""))?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|e| ApiError::bad_request(format!("configuration: not UTF-8: {e}")))?;
    let t2 = text.clone();
    tokio::task::spawn_blocking(move || crate::engines::validate(kind, &t2))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    if kind == ConfigKind::Params {
        // Every stored institution must have a coefficient, every override must name one.
        let p = points::Params::from_toml(&text)?;
        p.check_roster(s.engines.institutions_snapshot().values())?;
    }
    let name = q.name.unwrap_or_else(|| kind.as_str().to_owned());
    let id = s.store.add_config(&a.actor(), kind, &name, &text).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "kind": kind, "name": name, "active": false})),
    ))
}

async fn get_config(State(s): State<AppState>, a: Auth, Path(id): Path<i64>) -> R {
    a.require_agency()?;
    Ok(Json(json!(s.store.config(id).await?.ok_or_else(|| {
        ApiError::not_found(format!("config {id}"))
    })?)))
}

#[derive(Deserialize)]
struct Activate {
    effective_from: String,
}

async fn activate_config(
    State(s): State<AppState>,
    a: Auth,
    Path(id): Path<i64>,
    body: Bytes,
) -> R {
    a.require_admin()?;
    let b: Activate = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("activate body: {e}")))?;
    if chrono::NaiveDate::parse_from_str(&b.effective_from, "%Y-%m-%d").is_err() {
        return Err(ApiError::bad_request(format!(
            "effective_from {:?}: a date YYYY-MM-DD",
            b.effective_from
        )));
    }
    s.store
        .activate_config(&a.actor(), id, &b.effective_from)
        .await?;
    s.engines.reload().await?;
    Ok(Json(
        json!({"id": id, "active": true, "effective_from": b.effective_from}),
    ))
}

#[derive(Deserialize)]
struct DayQ {
    day: Option<String>,
}

async fn engine_info(State(s): State<AppState>, _a: Auth, Query(q): Query<DayQ>) -> R {
    let day = q.day.unwrap_or_else(crate::upload::today);
    if chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").is_err() {
        return Err(ApiError::bad_request(format!("day {day:?}: a date YYYY-MM-DD")));
    }
    let key = s.engines.key_for(&day);
    let e = s.engines.engine(key).await?;
    let basis = s.engines.basis(key, crate::upload::pricing_year(&day)).await?;
    let pv = s.engines.point_value_override();
    Ok(Json(json!({
        "day": day, "scheme_id": key.0, "params_id": key.1, "weights_id": key.2, "dip_library_id": key.3,
        "method": if e.dip.is_some() { "dip" } else { "drg" },
        "scheme": e.grouper.scheme().name, "params_version": e.params.version,
        "dip_library_version": e.dip.as_ref().map(|d| d.library().manifest.version.clone()),
        "dip_groups": e.dip.as_ref().map(|d| d.groups().len()),
        "groups_with_weights": e.standards.len(),
        "point_value": pv.map(|v| v.to_string()),
        "point_value_source": if pv.is_some() { "override (drgdip serve --point-value)" } else { "expected (per budget line, see estimate)" },
        "estimate": basis.describe(),
    })))
}

#[derive(Deserialize)]
struct LimitQ {
    limit: Option<i64>,
}

async fn audit(State(s): State<AppState>, a: Auth, Query(q): Query<LimitQ>) -> R {
    a.require_admin()?;
    Ok(Json(json!(
        s.store
            .audit_log(q.limit.unwrap_or(200).clamp(1, 10_000))
            .await?
    )))
}

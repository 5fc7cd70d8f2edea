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
        body_limit: 0,
    }
}

/// A route taking a body of `media`, limited by its kind (`crate::limits`).
const fn with_body(d: RouteDoc, media: &'static str) -> RouteDoc {
    let limit = match media.as_bytes() {
        b"application/octet-stream" => crate::limits::BATCH,
        b"text/plain" => crate::limits::CONFIG,
        _ => crate::limits::JSON,
    };
    RouteDoc {
        body: Some(media),
        body_limit: limit,
        ..d
    }
}

const fn with_limit(d: RouteDoc, limit: usize) -> RouteDoc {
    RouteDoc { body_limit: limit, ..d }
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
        .add(with_limit(with_body(doc("POST", "/api/login", "Sign in with username and password; returns a bearer token (a new session each time; the session of a bearer token sent along ends). Backoff and lockout after repeated failures: 429 with Retry-After", Public), "application/json"), crate::limits::LOGIN), post(login))
        .add(doc("POST", "/api/logout", "End the current session", Authenticated), post(logout))
        .add(doc("GET", "/api/login-locks", "Accounts and client addresses in login backoff or locked", Admin), get(login_locks))
        .add(with_body(doc("POST", "/api/login-locks/unlock", "Unlock an account (username) or a client address (address); audited", Admin), "application/json"), post(login_unlock))
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
            with_query(with_limit(with_body(doc("POST", "/api/uploads", "Upload a batch file (CSV, JSONL or XLSX body; name=file name; progress=a key of the uploader's choice for GET /api/uploads/progress/{key}); read as it arrives, every readable record checked, grouped, priced and written in chunks of one transaction (stored whole or not at all), unreadable ones listed with line, field and rule; the answer lists the first 2,000 cases and refused records and counts them all (CSV and JSON Lines up to 256 MiB in bounded memory; XLSX up to 32 MiB)", Authenticated), "application/octet-stream"), crate::limits::BATCH), &["name", "progress"]),
            post(upload_batch),
        )
        .add(doc("GET", "/api/uploads/progress/{key}", "Where the signed-in user's batch upload with this progress key stands: bytes received, records read and written, stage (kept 10 minutes after it ends)", Authenticated), get(upload_progress))
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
        .add(with_limit(with_body(doc("POST", "/api/export.xlsx", "A table as an XLSX workbook (body: title, columns, rows)", Authenticated), "application/json"), crate::limits::EXPORT), post(crate::dashboard::export))
        .add(with_query(doc("GET", "/api/reports/{kind}", "A report of the monitor as HTML (format=xlsx: XLSX): monthly feedback to an institution (period 2025-03; a hospital user: its own), quarterly bulletin (2025Q1) or annual disclosure (2025) (agency)", Authenticated), &["period", "institution_id", "format"]), get(crate::reports::report))
        .add(with_query(doc("GET", "/api/audit", "Audit log, newest first", Admin), &["limit"]), get(audit))
}

async fn health(State(s): State<AppState>) -> R {
    // Liveness only: the database answers (a cheap query); nothing about the data.
    s.store.upload_count().await?;
    Ok(Json(
        json!({"status": "ok", "database": format!("{:?}", s.store.dialect()).to_lowercase()}),
    ))
}

async fn openapi(State(s): State<AppState>) -> Json<Value> {
    Json(crate::openapi::document(&s.docs))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

/// Session lifetime: 12 hours.
const SESSION_MS: i64 = 12 * 3600 * 1000;

fn refusal(r: crate::guard::Refusal, now: i64) -> ApiError {
    use crate::guard::Refusal::*;
    let secs = |until: i64| ((until - now).max(0) as u64).div_ceil(1000).max(1);
    match r {
        Backoff { retry_after_ms } => {
            let s = (retry_after_ms.max(0) as u64).div_ceil(1000).max(1);
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "login_backoff", format!("too many failed sign-ins for this account: try again in {s} s"))
                .zh(format!("该账户连续登录失败，请 {s} 秒后再试"))
                .retry_after(s)
        }
        AccountLocked { until_ms } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "account_locked",
            format!("the account is locked after repeated failed sign-ins for {} more minutes; an administrator can unlock it", secs(until_ms).div_ceil(60)),
        )
        .zh(format!("该账户因连续登录失败已被锁定，{} 分钟后自动解锁；也可请管理员解锁", secs(until_ms).div_ceil(60)))
        .retry_after(secs(until_ms)),
        AddressLocked { until_ms } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "address_locked",
            format!("too many failed sign-ins from this address: locked for {} more minutes", secs(until_ms).div_ceil(60)),
        )
        .zh(format!("该网络地址登录失败次数过多，{} 分钟内禁止登录", secs(until_ms).div_ceil(60)))
        .retry_after(secs(until_ms)),
    }
}

/// Sign in. The order of the work keeps timing and memory independent of whether the
/// username exists: refuse malformed input and blocked accounts or addresses before
/// any work; wait for a hashing slot (bounded pool); verify against the stored hash or
/// a dummy one; record a failure (backoff, lockout, an audit entry of bounded size).
async fn login(
    State(s): State<AppState>,
    peer: Option<axum::extract::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> R {
    let l: Login = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("login body: {e}")).zh("登录请求须为 {\"username\", \"password\"}").field("body")
    })?;
    crate::validate::username(&l.username)?;
    if l.password.is_empty() || l.password.chars().count() > crate::validate::PASSWORD_MAX {
        return Err(ApiError::invalid_field(
            "password",
            format!("password: 1 to {} characters", crate::validate::PASSWORD_MAX),
            format!("密码长度须为 1–{} 个字符", crate::validate::PASSWORD_MAX),
        ));
    }
    let addr = crate::web::client_address(peer.map(|p| p.0 .0), &headers, s.behind_proxy);
    let now = store::now_ms();
    s.guard.check(&l.username, addr, now).map_err(|r| refusal(r, now))?;
    let user = s.store.user_by_name(&l.username).await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| s.guard.dummy_phc().to_owned());
    let pw = l.password;
    let ok = s.guard.hash(move || verify_password(&pw, &phc)).await?;
    let user = match (user, ok) {
        (Some(u), true) if u.active => u,
        _ => {
            let now = store::now_ms();
            let (acc, adr) = s.guard.failed(&l.username, addr, now);
            let actor = store::Actor { user_id: None, username: l.username.clone() };
            let address = addr.map(|a| a.to_string());
            s.store
                .audit(&actor, "session.login_failed", &format!("user:{}", l.username), json!({"address": address, "failures": acc.failures}))
                .await?;
            if let Some(until) = acc.locked_until_ms {
                s.store
                    .audit(&actor, "session.account_locked", &format!("user:{}", l.username), json!({"address": address, "failures": acc.failures, "until_ms": until}))
                    .await?;
            }
            if let (Some(a), Some(until)) = (&address, adr.and_then(|f| f.locked_until_ms)) {
                s.store
                    .audit(&actor, "session.address_locked", &format!("address:{a}"), json!({"until_ms": until}))
                    .await?;
            }
            return Err(ApiError::unauthorized("wrong username or password").zh("用户名或密码错误"));
        }
    };
    s.guard.succeeded(&l.username);
    // Rotation: a sign-in always makes a new token; a session sent along ends.
    if let Some(old) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let th = token_hash(old.trim());
        if let Some(prev) = s.store.session_user(&th).await? {
            s.store.end_session(&prev, &th).await?;
            s.sessions.remove(&th);
        }
    }
    let token = new_token()?;
    s.store
        .create_session(&user, &token_hash(&token), SESSION_MS)
        .await?;
    Ok(Json(
        json!({"token": token, "expires_in_s": SESSION_MS / 1000, "user": user}),
    ))
}

/// Accounts and client addresses in backoff or locked now (the administrator's view).
async fn login_locks(State(s): State<AppState>, a: Auth) -> R {
    a.require_admin()?;
    let now = store::now_ms();
    let (acc, adr) = s.guard.blocked(now);
    let row = |(k, t): (String, crate::guard::Track)| {
        json!({"key": k, "failures": t.failures, "locked": t.locked, "until_ms": t.not_before_ms, "last_failure_ms": t.last_failure_ms})
    };
    Ok(Json(json!({
        "accounts": acc.into_iter().map(row).collect::<Vec<_>>(),
        "addresses": adr.into_iter().map(row).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Unlock {
    username: Option<String>,
    address: Option<String>,
}

/// An administrator unlocks an account or a client address (audited).
async fn login_unlock(State(s): State<AppState>, a: Auth, body: Bytes) -> R {
    a.require_admin()?;
    let u: Unlock = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("unlock body: {e}")).field("body"))?;
    let (target, cleared) = match (&u.username, &u.address) {
        (Some(n), None) => {
            crate::validate::username(n)?;
            (format!("user:{n}"), s.guard.unlock_account(n))
        }
        (None, Some(ad)) => {
            let ip: std::net::IpAddr = ad.trim().parse().map_err(|_| {
                ApiError::invalid_field("address", format!("address {ad:?}: an IP address"), "address：须为 IP 地址")
            })?;
            (format!("address:{ip}"), s.guard.unlock_address(&ip.to_string()))
        }
        _ => {
            return Err(ApiError::bad_request("give username or address (one of them)")
                .zh("请给出 username 或 address 之一"))
        }
    };
    if !cleared {
        return Err(ApiError::not_found(format!("{target} is not in backoff or locked")).zh(format!("{target} 未被锁定")));
    }
    s.store.audit(&a.actor(), "session.unlock", &target, json!({})).await?;
    Ok(Json(json!({"unlocked": target})))
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

/// Check a posted institution against the stored ones: id an identifier, name a
/// one-line name, a known level, an alliance lead that is stored, is not the
/// institution itself (a lead leaves the field empty) and is not itself a member of another alliance, and no institution led
/// by this one when it becomes a member; its level must have a coefficient in the
/// parameters in force today.
async fn checked_institution(s: &AppState, body: &[u8]) -> Result<Institution, ApiError> {
    let b: PostedInstitution =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("institution body: {e}")))?;
    let mut p = check::Problems::new();
    let id = b.id.trim().to_owned();
    p.nonempty("id", &b.id);
    p.nonempty("name", &b.name);
    if let Some((en, _)) = crate::validate::id_problem(&id).filter(|_| !id.is_empty()) {
        p.bad("id", format!("{id:?}"), en);
    }
    if let Err(e) = crate::validate::name("name", &b.name) {
        if !b.name.trim().is_empty() {
            p.bad("name", format!("{} characters", b.name.chars().count()), e.message);
        }
    }
    if !points::LEVELS.contains(&b.level.as_str()) {
        p.bad("level", format!("{:?}", b.level), format!("must be one of {}", points::LEVELS.join(", ")));
    }
    let lead = b.alliance_lead.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    let stored = s.store.institutions().await?;
    if lead.as_deref() == Some(id.as_str()) {
        p.bad("alliance_lead", &id, format!("{id} names itself: a lead leaves alliance_lead empty and its members name it"));
    }
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

/// A discharge month `YYYY-MM` of a query.
fn month(field: &str, v: &str) -> Result<(), ApiError> {
    let ok = v.len() == 7
        && v.as_bytes()[4] == b'-'
        && v[..4].bytes().all(|b| b.is_ascii_digit())
        && matches!(v[5..].parse::<u32>(), Ok(1..=12));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(field, format!("{field} {v:?}: a month YYYY-MM"), format!("{field}：须为年月 YYYY-MM")))
    }
}

/// A page of a listing: `limit` 1–10,000 (default `default`), `offset` ≥ 0.
pub fn page(limit: Option<i64>, offset: Option<i64>, default: i64) -> Result<(i64, i64), ApiError> {
    let l = limit.unwrap_or(default);
    if !(1..=10_000).contains(&l) {
        return Err(ApiError::invalid_field("limit", format!("limit {l}: 1 to 10000"), "limit：须为 1–10000"));
    }
    let o = offset.unwrap_or(0);
    if o < 0 {
        return Err(ApiError::invalid_field("offset", format!("offset {o}: not negative"), "offset：不能为负数"));
    }
    Ok((l, o))
}

fn case_query(q: CasesQ, inst: Option<String>) -> Result<CaseQuery, ApiError> {
    if let Some(p) = &q.period_from {
        month("period_from", p)?;
    }
    if let Some(p) = &q.period_to {
        month("period_to", p)?;
    }
    if let Some(d) = &q.drg {
        crate::validate::id("drg", d)?;
    }
    if let Some(i) = &inst {
        crate::validate::id("institution_id", i)?;
    }
    let (limit, offset) = page(q.limit, q.offset, 100)?;
    Ok(CaseQuery {
        institution_id: inst,
        period_from: q.period_from,
        period_to: q.period_to,
        drg: q.drg,
        limit,
        offset,
    })
}

async fn list_cases(State(s): State<AppState>, a: Auth, Query(q): Query<CasesQ>) -> R {
    let inst = a.scope(q.institution_id.as_deref())?;
    let rows = s.store.cases(&case_query(q, inst)?).await?;
    Ok(Json(json!(rows)))
}

async fn institution_cases(
    State(s): State<AppState>,
    a: Auth,
    Path(id): Path<String>,
    Query(q): Query<CasesQ>,
) -> R {
    a.require_access(&id)?;
    let rows = s.store.cases(&case_query(q, Some(id))?).await?;
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
#[serde(deny_unknown_fields)]
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
    crate::validate::username(&c.username)?;
    crate::validate::password(&c.password)?;
    if !c.display_name.is_empty() {
        crate::validate::name("display_name", &c.display_name)?;
    }
    if let Some(i) = &c.institution_id {
        crate::validate::id("institution_id", i)?;
    }
    let pw = c.password.clone();
    let phc = s.guard.hash(move || hash_password(&pw)).await??;
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
#[serde(deny_unknown_fields)]
struct BatchQ {
    name: Option<String>,
    progress: Option<String>,
}

async fn upload_batch(
    State(s): State<AppState>,
    a: Auth,
    Query(q): Query<BatchQ>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_uploader(&a)?;
    let name = q.name.unwrap_or_else(|| "upload.csv".into());
    crate::validate::name("name", &name)?;
    if let Some(k) = &q.progress {
        crate::validate::id("progress", k)?;
    }
    let expected = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let v = crate::stream::upload(s, a, name, q.progress, expected, body).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn upload_progress(State(s): State<AppState>, a: Auth, Path(key): Path<String>) -> R {
    crate::validate::id("key", &key)?;
    let p = s
        .progress
        .get(a.user.id, &key)
        .ok_or_else(|| ApiError::not_found(format!("no batch upload with progress key {key} of yours in the last 10 minutes")))?;
    Ok(Json(json!(p)))
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
            .uploads(inst.as_deref(), page(q.limit, None, 100)?.0)
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
    if let Some((n, c)) = text.lines().enumerate().find_map(|(n, l)| l.chars().find(|c| crate::validate::forbidden_char(*c)).map(|c| (n, c))) {
        return Err(ApiError::invalid_field(
            "body",
            format!("configuration line {}: character U+{:04X} is not allowed (control, bidirectional or invisible)", n + 1, c as u32),
            format!("配置第 {} 行含不允许的字符 U+{:04X}", n + 1, c as u32),
        ));
    }
    if let Some(n) = &q.name {
        crate::validate::name("name", n)?;
    }
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
            .audit_log(page(q.limit, None, 200)?.0)
            .await?
    )))
}

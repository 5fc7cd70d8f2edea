//! Rows of the store and what callers hand in.

use serde::Serialize;
use sqlx::any::AnyRow;

use crate::{get, Result, StoreError};

/// A medical institution (定点医疗机构).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Institution {
    pub id: String,
    pub name: String,
    /// 三级 / 二级 / 一级 / 基层.
    pub level: String,
    #[serde(default)]
    pub tcm: bool,
    #[serde(default)]
    pub alliance_lead: Option<String>,
}

impl Institution {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Institution> {
        Ok(Institution {
            id: get(r, "id")?,
            name: get(r, "name")?,
            level: get(r, "level")?,
            tcm: get::<i64>(r, "tcm")? != 0,
            alliance_lead: get(r, "alliance_lead")?,
        })
    }
}

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Agency administrator (医保经办机构管理员): everything.
    AgencyAdmin,
    /// Agency reviewer or expert (审核专家): reads all, reviews special cases, answers disputes.
    AgencyReviewer,
    /// Hospital user (医疗机构用户): its own institution only.
    HospitalUser,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::AgencyAdmin => "agency_admin",
            Role::AgencyReviewer => "agency_reviewer",
            Role::HospitalUser => "hospital_user",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agency_admin" => Some(Role::AgencyAdmin),
            "agency_reviewer" => Some(Role::AgencyReviewer),
            "hospital_user" => Some(Role::HospitalUser),
            _ => None,
        }
    }
}

pub(crate) const USER_COLS: &str =
    "id, username, password_hash, role, institution_id, display_name, active";

/// A user account.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: Role,
    pub institution_id: Option<String>,
    pub display_name: String,
    pub active: bool,
}

impl User {
    pub(crate) fn from_row(r: &AnyRow) -> Result<User> {
        let role: String = get(r, "role")?;
        Ok(User {
            id: get(r, "id")?,
            username: get(r, "username")?,
            password_hash: get(r, "password_hash")?,
            role: Role::parse(&role).ok_or_else(|| StoreError::Invalid(format!("role {role}")))?,
            institution_id: get(r, "institution_id")?,
            display_name: get(r, "display_name")?,
            active: get::<i64>(r, "active")? != 0,
        })
    }
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub role: Role,
    pub institution_id: Option<String>,
    pub display_name: String,
}

/// A QC finding (or a record that could not be read) to store.
#[derive(Clone, Debug, Serialize)]
pub struct NewFinding {
    /// Record line in the uploaded file (1 for a single JSON upload).
    pub line: i64,
    pub case_id: String,
    /// QC rule id, or `READ` for a record that could not be read at all.
    pub rule_id: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    pub field: Option<String>,
    pub value: String,
    pub message: String,
}

pub(crate) const FINDING_COLS: &str =
    "id, case_version_id, upload_id, line, case_id, rule_id, severity, field, value, message";

/// A stored finding.
#[derive(Clone, Debug, Serialize)]
pub struct StoredFinding {
    pub id: i64,
    pub case_version_id: Option<i64>,
    pub upload_id: i64,
    pub line: i64,
    pub case_id: String,
    pub rule_id: String,
    pub severity: String,
    pub field: Option<String>,
    pub value: String,
    pub message: String,
}

impl StoredFinding {
    pub(crate) fn from_row(r: &AnyRow) -> Result<StoredFinding> {
        Ok(StoredFinding {
            id: get(r, "id")?,
            case_version_id: get(r, "case_version_id")?,
            upload_id: get(r, "upload_id")?,
            line: get(r, "line")?,
            case_id: get(r, "case_id")?,
            rule_id: get(r, "rule_id")?,
            severity: get(r, "severity")?,
            field: get(r, "field")?,
            value: get(r, "value")?,
            message: get(r, "message")?,
        })
    }
}

/// Grouping and pricing of one case version.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub mdc: String,
    pub adrg: String,
    pub drg: String,
    pub drg_name: String,
    /// Grouping status (`grouped` or the reason it is not).
    pub status: String,
    /// Payment method (`drg`, `per_diem`, `fee_for_service`, `none`).
    pub method: String,
    /// Pricing rule applied.
    pub rule: String,
    /// Points, four decimals, as text (exact decimal).
    pub points: String,
    /// Estimated payment: points × point value, in fen.
    pub yuan_fen: i64,
    /// The (provisional) point value used, yuan per point, as text.
    pub point_value: String,
    /// The grouper's trace, rendered in Chinese.
    pub trace: String,
    /// The full pricing derivation (`points::Points`) as JSON.
    pub points_json: String,
    /// False while the settlement list breaks a QC rule that withholds payment
    /// (seed 000): grouped and priced, but paid only once a corrected version arrives.
    pub payable: bool,
    /// The withholding QC rule ids, comma-separated ("" when payable).
    pub withheld: String,
    /// The estimated payment with its derivation (status, point value, basis) as
    /// JSON; "" for versions stored before the estimate recorded it.
    pub estimate_json: String,
}

/// One case of an upload.
#[derive(Clone, Debug)]
pub struct NewCase {
    pub institution_id: String,
    pub case_id: String,
    pub line: i64,
    /// Discharge month `YYYY-MM` (`unknown` when the list has no discharge time).
    pub period: String,
    pub discharge_date: Option<String>,
    /// The settlement list as read (`claims::Claim` as JSON).
    pub claim_json: String,
    pub result: CaseResult,
    pub findings: Vec<NewFinding>,
}

/// An upload to commit.
#[derive(Clone, Debug)]
pub struct NewUpload {
    pub actor: crate::Actor,
    /// The institution of a hospital user's upload; None for an agency upload.
    pub institution_id: Option<String>,
    /// `single` or `batch`.
    pub kind: String,
    pub file_name: String,
    /// `json`, `csv`, `jsonl` or `xlsx`.
    pub format: String,
    /// Records read (accepted + rejected).
    pub records: i64,
    pub scheme_id: Option<i64>,
    pub params_id: Option<i64>,
    pub weights_id: Option<i64>,
    pub cases: Vec<NewCase>,
    /// Records that could not be read or were refused, with where and why.
    pub rejected: Vec<NewFinding>,
}

/// What [`crate::Store::commit_uploads`] wrote for one upload.
#[derive(Clone, Debug, Serialize)]
pub struct CommittedUpload {
    pub upload_id: i64,
    /// (case version id, version number) of each case, in order (a streamed batch:
    /// of its first cases only, see [`crate::Store::begin_batch`]).
    pub cases: Vec<(i64, i64)>,
    /// Cases stored.
    pub accepted: i64,
    /// Records refused (stored as findings without a case version).
    pub rejected: i64,
    /// Cases stored as not payable (a withholding QC rule is broken).
    pub withheld: i64,
}

pub(crate) const UPLOAD_COLS: &str =
    "id, user_id, institution_id, kind, file_name, format, records, accepted, rejected, scheme_id, params_id, weights_id, created_at";

/// A stored upload (batch metadata).
#[derive(Clone, Debug, Serialize)]
pub struct Upload {
    pub id: i64,
    pub user_id: Option<i64>,
    pub institution_id: Option<String>,
    pub kind: String,
    pub file_name: String,
    pub format: String,
    pub records: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub scheme_id: Option<i64>,
    pub params_id: Option<i64>,
    pub weights_id: Option<i64>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

impl Upload {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Upload> {
        Ok(Upload {
            id: get(r, "id")?,
            user_id: get(r, "user_id")?,
            institution_id: get(r, "institution_id")?,
            kind: get(r, "kind")?,
            file_name: get(r, "file_name")?,
            format: get(r, "format")?,
            records: get(r, "records")?,
            accepted: get(r, "accepted")?,
            rejected: get(r, "rejected")?,
            scheme_id: get(r, "scheme_id")?,
            params_id: get(r, "params_id")?,
            weights_id: get(r, "weights_id")?,
            created_at: get(r, "created_at")?,
        })
    }
}

pub(crate) const CASE_SELECT: &str = "SELECT v.id, v.institution_id, v.case_id, v.version, v.upload_id, v.line, v.period, v.discharge_date, \
     v.claim_json, v.created_at, r.mdc, r.adrg, r.drg, r.drg_name, r.status, r.method, r.rule, r.points, r.yuan_fen, r.point_value, r.trace, \
     r.points_json, r.payable, r.withheld, r.estimate_json FROM case_versions v JOIN case_results r ON r.case_version_id = v.id";

/// A stored version of a settlement list with its result.
#[derive(Clone, Debug, Serialize)]
pub struct CaseVersion {
    pub id: i64,
    pub institution_id: String,
    pub case_id: String,
    pub version: i64,
    pub upload_id: i64,
    pub line: i64,
    pub period: String,
    pub discharge_date: Option<String>,
    pub claim: serde_json::Value,
    pub created_at: i64,
    pub result: CaseResult,
}

impl CaseVersion {
    pub(crate) fn from_row(r: &AnyRow) -> Result<CaseVersion> {
        let claim: String = get(r, "claim_json")?;
        Ok(CaseVersion {
            id: get(r, "id")?,
            institution_id: get(r, "institution_id")?,
            case_id: get(r, "case_id")?,
            version: get(r, "version")?,
            upload_id: get(r, "upload_id")?,
            line: get(r, "line")?,
            period: get(r, "period")?,
            discharge_date: get(r, "discharge_date")?,
            claim: serde_json::from_str(&claim).unwrap_or(serde_json::Value::Null),
            created_at: get(r, "created_at")?,
            result: CaseResult {
                mdc: get(r, "mdc")?,
                adrg: get(r, "adrg")?,
                drg: get(r, "drg")?,
                drg_name: get(r, "drg_name")?,
                status: get(r, "status")?,
                method: get(r, "method")?,
                rule: get(r, "rule")?,
                points: get(r, "points")?,
                yuan_fen: get(r, "yuan_fen")?,
                point_value: get(r, "point_value")?,
                trace: get(r, "trace")?,
                points_json: get(r, "points_json")?,
                payable: payable_of(r, "payable")?,
                withheld: get::<Option<String>>(r, "withheld")?.unwrap_or_default(),
                estimate_json: get::<Option<String>>(r, "estimate_json")?.unwrap_or_default(),
            },
        })
    }
}

/// The `payable` column: never guessed. NULL means the version was stored before
/// migration 3 and the service has not yet filled it from its findings.
pub(crate) fn payable_of(r: &AnyRow, col: &str) -> Result<bool> {
    match get::<Option<i64>>(r, col)? {
        Some(v) => Ok(v != 0),
        None => Err(StoreError::Invalid(
            "a case version stored before migration 3 has no payable flag yet: start the service once \
             (it fills the flag from the stored QC findings) before reading it"
                .into(),
        )),
    }
}

/// Which cases to list.
#[derive(Clone, Debug, Default)]
pub struct CaseQuery {
    pub institution_id: Option<String>,
    /// First discharge month, `YYYY-MM`.
    pub period_from: Option<String>,
    /// Last discharge month, `YYYY-MM`.
    pub period_to: Option<String>,
    pub drg: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Kinds of configuration the agency uploads and activates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    /// Points parameters (TOML, `points::Params`).
    Params,
    /// DRG scheme (JSON object with the six scheme file texts).
    Scheme,
    /// Weights table (CSV: code, rw, mean_cost[, base_level]).
    Weights,
    /// DIP library.
    DipLibrary,
}

impl ConfigKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKind::Params => "params",
            ConfigKind::Scheme => "scheme",
            ConfigKind::Weights => "weights",
            ConfigKind::DipLibrary => "dip_library",
        }
    }

    pub fn parse(s: &str) -> Option<ConfigKind> {
        match s {
            "params" => Some(ConfigKind::Params),
            "scheme" => Some(ConfigKind::Scheme),
            "weights" => Some(ConfigKind::Weights),
            "dip_library" => Some(ConfigKind::DipLibrary),
            _ => None,
        }
    }
}

pub(crate) const CONFIG_COLS: &str =
    "id, kind, name, effective_from, active, uploaded_by, uploaded_at, activated_by, activated_at";

/// A stored configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub id: i64,
    pub kind: ConfigKind,
    pub name: String,
    pub effective_from: Option<String>,
    pub active: bool,
    pub uploaded_by: Option<i64>,
    pub uploaded_at: i64,
    pub activated_by: Option<i64>,
    pub activated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl Config {
    pub(crate) fn from_row(r: &AnyRow, content: bool) -> Result<Config> {
        let kind: String = get(r, "kind")?;
        Ok(Config {
            id: get(r, "id")?,
            kind: ConfigKind::parse(&kind)
                .ok_or_else(|| StoreError::Invalid(format!("config kind {kind}")))?,
            name: get(r, "name")?,
            effective_from: get(r, "effective_from")?,
            active: get::<i64>(r, "active")? != 0,
            uploaded_by: get(r, "uploaded_by")?,
            uploaded_at: get(r, "uploaded_at")?,
            activated_by: get(r, "activated_by")?,
            activated_at: get(r, "activated_at")?,
            content: if content {
                Some(get(r, "content")?)
            } else {
                None
            },
        })
    }
}

/// An entry of the audit log.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub user_id: Option<i64>,
    pub username: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub(crate) fn from_row(r: &AnyRow) -> Result<AuditEntry> {
        let d: String = get(r, "detail")?;
        Ok(AuditEntry {
            id: get(r, "id")?,
            at: get(r, "at")?,
            user_id: get(r, "user_id")?,
            username: get(r, "username")?,
            action: get(r, "action")?,
            target: get(r, "target")?,
            detail: serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
        })
    }
}

//! Special cases (特例单议) and disputes (争议与反馈).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{get, now_ms, Actor, Result, Store, StoreError};

/// Reasons a hospital may apply for a special case.
pub const SPECIAL_REASONS: [&str; 4] =
    ["long_stay", "high_cost", "new_technology", "critical_care"];

/// A special-case application.
#[derive(Clone, Debug, Serialize)]
pub struct SpecialCase {
    pub id: i64,
    pub institution_id: String,
    pub case_id: String,
    pub case_version_id: i64,
    pub reason: String,
    pub note: String,
    /// `YYYY-Qn` of the case's discharge.
    pub quarter: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// When approved: `fee_for_service` or `adjusted_standard`.
    pub pay_as: Option<String>,
    /// When approved as `adjusted_standard`: the points the case is paid (decimal text).
    pub adjusted_points: Option<String>,
    pub applied_by: i64,
    pub applied_at: i64,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<i64>,
    pub comment: Option<String>,
    /// The reviewer's reason for approving although the latest version was withheld
    /// by QC (an explicit, audited override); None when no override was needed.
    pub qc_override: Option<String>,
    /// The withholding QC rule ids the override was given for.
    pub qc_withheld: Option<String>,
    /// The withholding QC rule ids of the case's latest version now ("" when it is payable).
    pub latest_withheld: String,
}

const SC_COLS: &str = "id, institution_id, case_id, case_version_id, reason, note, quarter, status, pay_as, adjusted_points, applied_by, applied_at, reviewed_by, reviewed_at, comment, qc_override, qc_withheld, \
     (SELECT CASE WHEN r.payable = 0 THEN COALESCE(r.withheld, '') ELSE '' END FROM case_versions v JOIN case_results r ON r.case_version_id = v.id \
      WHERE v.institution_id = special_cases.institution_id AND v.case_id = special_cases.case_id ORDER BY v.version DESC LIMIT 1) AS latest_withheld";

impl SpecialCase {
    fn from_row(r: &AnyRow) -> Result<SpecialCase> {
        Ok(SpecialCase {
            id: get(r, "id")?,
            institution_id: get(r, "institution_id")?,
            case_id: get(r, "case_id")?,
            case_version_id: get(r, "case_version_id")?,
            reason: get(r, "reason")?,
            note: get(r, "note")?,
            quarter: get(r, "quarter")?,
            status: get(r, "status")?,
            pay_as: get(r, "pay_as")?,
            adjusted_points: get(r, "adjusted_points")?,
            applied_by: get(r, "applied_by")?,
            applied_at: get(r, "applied_at")?,
            reviewed_by: get(r, "reviewed_by")?,
            reviewed_at: get(r, "reviewed_at")?,
            comment: get(r, "comment")?,
            qc_override: get(r, "qc_override")?,
            qc_withheld: get(r, "qc_withheld")?,
            latest_withheld: get::<Option<String>>(r, "latest_withheld")?.unwrap_or_default(),
        })
    }
}

/// A dispute or suggestion.
#[derive(Clone, Debug, Serialize)]
pub struct Dispute {
    pub id: i64,
    pub institution_id: String,
    pub case_id: Option<String>,
    /// `grouping`, `payment` or `suggestion`.
    pub kind: String,
    pub body: String,
    /// `open`, `answered` or `closed`.
    pub status: String,
    /// Answer due by (ms since the epoch).
    pub deadline: i64,
    pub raised_by: i64,
    pub raised_at: i64,
    pub answer: Option<String>,
    pub answered_by: Option<i64>,
    pub answered_at: Option<i64>,
}

const D_COLS: &str = "id, institution_id, case_id, kind, body, status, deadline, raised_by, raised_at, answer, answered_by, answered_at";

impl Dispute {
    fn from_row(r: &AnyRow) -> Result<Dispute> {
        Ok(Dispute {
            id: get(r, "id")?,
            institution_id: get(r, "institution_id")?,
            case_id: get(r, "case_id")?,
            kind: get(r, "kind")?,
            body: get(r, "body")?,
            status: get(r, "status")?,
            deadline: get(r, "deadline")?,
            raised_by: get(r, "raised_by")?,
            raised_at: get(r, "raised_at")?,
            answer: get(r, "answer")?,
            answered_by: get(r, "answered_by")?,
            answered_at: get(r, "answered_at")?,
        })
    }
}

/// The months `YYYY-MM` of a quarter `YYYY-Qn`.
pub fn quarter_months(q: &str) -> Option<(String, String)> {
    let (y, n) = q.split_once("-Q")?;
    let y: u32 = y.parse().ok()?;
    let n: u32 = n.parse().ok().filter(|n| (1..=4).contains(n))?;
    Some((
        format!("{y:04}-{:02}", 3 * n - 2),
        format!("{y:04}-{:02}", 3 * n),
    ))
}

/// The quarter `YYYY-Qn` of a period `YYYY-MM`.
pub fn quarter_of(period: &str) -> Option<String> {
    let (y, m) = period.split_once('-')?;
    let m: u32 = m.parse().ok().filter(|m| (1..=12).contains(m))?;
    Some(format!("{y}-Q{}", (m - 1) / 3 + 1))
}

impl Store {
    /// Distinct cases discharged by an institution in a quarter.
    pub async fn discharges_in_quarter(&self, institution: &str, quarter: &str) -> Result<i64> {
        let (from, to) = quarter_months(quarter)
            .ok_or_else(|| StoreError::Invalid(format!("quarter {quarter:?}: YYYY-Qn")))?;
        let n: i64 = sqlx::query("SELECT COUNT(DISTINCT case_id) FROM case_versions WHERE institution_id = $1 AND period >= $2 AND period <= $3")
            .bind(institution)
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n)
    }

    /// Applications of an institution in a quarter that count against its quota (not rejected).
    pub async fn special_cases_used(&self, institution: &str, quarter: &str) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM special_cases WHERE institution_id = $1 AND quarter = $2 AND status <> 'rejected'")
            .bind(institution)
            .bind(quarter)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// Apply for a special case on the latest version of a case, within `quota`
    /// (checked in the write transaction). One open or approved application per case.
    pub async fn apply_special_case(
        &self,
        actor: &Actor,
        institution: &str,
        case_id: &str,
        reason: &str,
        note: &str,
        quota: i64,
    ) -> Result<SpecialCase> {
        if !SPECIAL_REASONS.contains(&reason) {
            return Err(StoreError::Invalid(format!(
                "reason {reason:?}: one of {}",
                SPECIAL_REASONS.join(", ")
            )));
        }
        let hist = self.case_history(institution, case_id).await?;
        let latest = hist.last().ok_or_else(|| {
            StoreError::NotFound(format!("case {case_id} of institution {institution}"))
        })?;
        let quarter = quarter_of(&latest.period).ok_or_else(|| {
            StoreError::Invalid(format!("case {case_id}: no discharge date, no quarter"))
        })?;
        let (_g, mut tx) = self.begin_write().await?;
        let dup: i64 = sqlx::query("SELECT COUNT(*) FROM special_cases WHERE institution_id = $1 AND case_id = $2 AND status <> 'rejected'")
            .bind(institution)
            .bind(case_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if dup > 0 {
            return Err(StoreError::Conflict(format!(
                "case {case_id} already has an open or approved application"
            )));
        }
        let used: i64 = sqlx::query("SELECT COUNT(*) FROM special_cases WHERE institution_id = $1 AND quarter = $2 AND status <> 'rejected'")
            .bind(institution)
            .bind(&quarter)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if used >= quota {
            return Err(StoreError::Conflict(format!(
                "quota of {quarter} used up: {used} of {quota} applications"
            )));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO special_cases (institution_id, case_id, case_version_id, reason, note, quarter, status, applied_by, applied_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8) RETURNING id",
        )
        .bind(institution)
        .bind(case_id)
        .bind(latest.id)
        .bind(reason)
        .bind(note)
        .bind(&quarter)
        .bind(actor.user_id.unwrap_or(0))
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let detail = serde_json::json!({"institution_id": institution, "case_id": case_id, "reason": reason, "quarter": quarter});
        Store::finish(
            tx,
            actor,
            "special_case.apply",
            &format!("special_case:{id}"),
            detail,
        )
        .await?;
        self.special_case(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("special case {id}")))
    }

    pub async fn special_case(&self, id: i64) -> Result<Option<SpecialCase>> {
        let r = sqlx::query(&format!(
            "SELECT {SC_COLS} FROM special_cases WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| SpecialCase::from_row(&r)).transpose()
    }

    /// Applications, newest first, filtered by institution, status and quarter.
    pub async fn special_cases(
        &self,
        institution: Option<&str>,
        status: Option<&str>,
        quarter: Option<&str>,
    ) -> Result<Vec<SpecialCase>> {
        let mut sql = format!("SELECT {SC_COLS} FROM special_cases WHERE 1 = 1");
        let mut binds = Vec::new();
        for (col, v) in [
            ("institution_id", institution),
            ("status", status),
            ("quarter", quarter),
        ] {
            if let Some(v) = v {
                binds.push(v.to_owned());
                sql += &format!(" AND {col} = ${}", binds.len());
            }
        }
        sql += " ORDER BY id DESC";
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(SpecialCase::from_row)
            .collect()
    }

    /// Approve (paid as `pay_as`) or reject a pending application, with comments.
    /// Approving a case whose latest version is withheld by QC (seed 000: a compliant
    /// list is a condition of payment) is refused unless `qc_override` gives the
    /// reviewer's reason; the override is recorded with the rule ids and audited.
    /// The check reads the latest version in the write transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn review_special_case(
        &self,
        actor: &Actor,
        id: i64,
        approve: bool,
        pay_as: Option<&str>,
        adjusted_points: Option<&str>,
        comment: &str,
        qc_override: Option<&str>,
    ) -> Result<SpecialCase> {
        if approve && !matches!(pay_as, Some("fee_for_service") | Some("adjusted_standard")) {
            return Err(StoreError::Invalid(
                "pay_as: fee_for_service or adjusted_standard".into(),
            ));
        }
        let adjusted = match (approve, pay_as) {
            (true, Some("adjusted_standard")) => {
                let p = adjusted_points.map(str::trim).unwrap_or("");
                match p.parse::<rust_decimal::Decimal>() {
                    Ok(d) if d > rust_decimal::Decimal::ZERO && d.scale() <= 4 => Some(d.normalize().to_string()),
                    _ => {
                        return Err(StoreError::Invalid(format!(
                            "adjusted_points: an adjusted standard needs the points to pay, a positive number with at most 4 decimals (got {p:?})"
                        )))
                    }
                }
            }
            _ => None,
        };
        let qc_override = qc_override.map(str::trim).filter(|r| !r.is_empty());
        let (_g, mut tx) = self.begin_write().await?;
        let sc = sqlx::query("SELECT institution_id, case_id FROM special_cases WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("special case {id}")))?;
        let (inst, case_id): (String, String) = (get(&sc, "institution_id")?, get(&sc, "case_id")?);
        let latest = sqlx::query(
            "SELECT v.version, r.payable, r.withheld FROM case_versions v JOIN case_results r ON r.case_version_id = v.id \
             WHERE v.institution_id = $1 AND v.case_id = $2 ORDER BY v.version DESC LIMIT 1",
        )
        .bind(&inst)
        .bind(&case_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("case {case_id} of institution {inst}")))?;
        let version: i64 = get(&latest, "version")?;
        let withheld: Option<String> = if crate::model::payable_of(&latest, "payable")? {
            None
        } else {
            Some(get::<Option<String>>(&latest, "withheld")?.unwrap_or_default())
        };
        let (override_reason, override_rules) = match (approve, &withheld, qc_override) {
            (true, Some(rules), None) => {
                return Err(StoreError::Conflict(format!(
                    "病例 {case_id}（{inst}）的最新版本（第 {version} 版）未通过质控规则 {rules}，暂缓支付：不能批准特例单议。\
                     请医院更正结算清单后重新上传；确需特批时，在审核请求中给出 qc_override（特批理由），该特批将记入审计日志并在通报中列示"
                )))
            }
            (true, Some(rules), Some(r)) => (Some(r), Some(rules.clone())),
            (_, None, Some(_)) => {
                return Err(StoreError::Invalid(format!(
                    "qc_override：病例 {case_id} 的最新版本（第 {version} 版）已通过质控，无需特批"
                )))
            }
            (false, Some(_), Some(_)) => {
                return Err(StoreError::Invalid("qc_override：仅在批准时使用（不通过无需特批）".into()))
            }
            _ => (None, None),
        };
        let n = sqlx::query("UPDATE special_cases SET status = $2, pay_as = $3, reviewed_by = $4, reviewed_at = $5, comment = $6, adjusted_points = $7, qc_override = $8, qc_withheld = $9 WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .bind(if approve { "approved" } else { "rejected" })
            .bind(if approve { pay_as } else { None })
            .bind(actor.user_id)
            .bind(now_ms())
            .bind(comment)
            .bind(adjusted.as_deref())
            .bind(override_reason)
            .bind(override_rules.as_deref())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "special case {id} is not pending (or does not exist)"
            )));
        }
        let detail = serde_json::json!({"decision": if approve { "approved" } else { "rejected" }, "pay_as": pay_as, "adjusted_points": adjusted, "comment": comment,
            "case_version": version, "qc_override": override_reason, "qc_withheld": override_rules});
        Store::finish(
            tx,
            actor,
            "special_case.review",
            &format!("special_case:{id}"),
            detail,
        )
        .await?;
        self.special_case(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("special case {id}")))
    }

    /// Raise a dispute or send a suggestion; the answer is due `answer_days` later.
    pub async fn raise_dispute(
        &self,
        actor: &Actor,
        institution: &str,
        case_id: Option<&str>,
        kind: &str,
        body: &str,
        answer_days: i64,
    ) -> Result<Dispute> {
        if !matches!(kind, "grouping" | "payment" | "suggestion") {
            return Err(StoreError::Invalid(format!(
                "kind {kind:?}: grouping, payment or suggestion"
            )));
        }
        if kind != "suggestion" && case_id.is_none() {
            return Err(StoreError::Invalid(
                "a grouping or payment dispute names a case_id".into(),
            ));
        }
        if let Some(c) = case_id {
            if self.case_history(institution, c).await?.is_empty() {
                return Err(StoreError::NotFound(format!(
                    "case {c} of institution {institution}"
                )));
            }
        }
        let (_g, mut tx) = self.begin_write().await?;
        let now = now_ms();
        let id: i64 = sqlx::query(
            "INSERT INTO disputes (institution_id, case_id, kind, body, status, deadline, raised_by, raised_at) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7) RETURNING id",
        )
        .bind(institution)
        .bind(case_id)
        .bind(kind)
        .bind(body)
        .bind(now + answer_days * 86_400_000)
        .bind(actor.user_id.unwrap_or(0))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let detail =
            serde_json::json!({"institution_id": institution, "case_id": case_id, "kind": kind});
        Store::finish(tx, actor, "dispute.raise", &format!("dispute:{id}"), detail).await?;
        self.dispute(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("dispute {id}")))
    }

    pub async fn dispute(&self, id: i64) -> Result<Option<Dispute>> {
        let r = sqlx::query(&format!("SELECT {D_COLS} FROM disputes WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| Dispute::from_row(&r)).transpose()
    }

    pub async fn disputes(
        &self,
        institution: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<Dispute>> {
        let mut sql = format!("SELECT {D_COLS} FROM disputes WHERE 1 = 1");
        let mut binds = Vec::new();
        for (col, v) in [("institution_id", institution), ("status", status)] {
            if let Some(v) = v {
                binds.push(v.to_owned());
                sql += &format!(" AND {col} = ${}", binds.len());
            }
        }
        sql += " ORDER BY id DESC";
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(Dispute::from_row)
            .collect()
    }

    /// The agency answers (status `answered`, or `closed` when `close`).
    pub async fn answer_dispute(
        &self,
        actor: &Actor,
        id: i64,
        answer: &str,
        close: bool,
    ) -> Result<Dispute> {
        let (_g, mut tx) = self.begin_write().await?;
        let n = sqlx::query("UPDATE disputes SET status = $2, answer = $3, answered_by = $4, answered_at = $5 WHERE id = $1 AND status <> 'closed'")
            .bind(id)
            .bind(if close { "closed" } else { "answered" })
            .bind(answer)
            .bind(actor.user_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            let exists = sqlx::query("SELECT 1 FROM disputes WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            return Err(if exists {
                StoreError::Conflict(format!("dispute {id} is closed"))
            } else {
                StoreError::NotFound(format!("dispute {id}"))
            });
        }
        Store::finish(
            tx,
            actor,
            "dispute.answer",
            &format!("dispute:{id}"),
            serde_json::json!({"close": close}),
        )
        .await?;
        self.dispute(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("dispute {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters() {
        assert_eq!(quarter_of("2025-01").as_deref(), Some("2025-Q1"));
        assert_eq!(quarter_of("2025-12").as_deref(), Some("2025-Q4"));
        assert_eq!(quarter_of("unknown"), None);
        assert_eq!(
            quarter_months("2025-Q2"),
            Some(("2025-04".into(), "2025-06".into()))
        );
        assert_eq!(quarter_months("2025-Q5"), None);
    }
}

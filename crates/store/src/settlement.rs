//! Settlement runs (结算) started through the service, and the documents they
//! produce (statements per hospital, region tables). A run is recorded as
//! `running` when it starts and finished in one transaction with all its
//! documents, so a crash leaves either a complete run or a `running` row that
//! the next start marks `failed` ([`Store::interrupt_running_settlements`]).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::model::payable_of;
use crate::{get, now_ms, Actor, Result, Store, StoreError};

/// A settlement run.
#[derive(Clone, Debug, Serialize)]
pub struct SettlementRun {
    pub id: i64,
    pub year: i64,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub started_by: Option<i64>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// Cases settled.
    pub cases: i64,
    /// Approved special cases paid by item in this run.
    pub special_cases: i64,
    /// Notes of the run, or the error of a failed one.
    pub message: String,
    /// The run's summary (budget lines, point values, hospitals) as JSON.
    pub summary: Option<serde_json::Value>,
}

const RUN_COLS: &str = "id, year, status, started_by, started_at, finished_at, cases, special_cases, message, summary_json";

impl SettlementRun {
    fn from_row(r: &AnyRow) -> Result<SettlementRun> {
        let summary: Option<String> = get(r, "summary_json")?;
        Ok(SettlementRun {
            id: get(r, "id")?,
            year: get(r, "year")?,
            status: get(r, "status")?,
            started_by: get(r, "started_by")?,
            started_at: get(r, "started_at")?,
            finished_at: get(r, "finished_at")?,
            cases: get(r, "cases")?,
            special_cases: get(r, "special_cases")?,
            message: get(r, "message")?,
            summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
        })
    }
}

/// A document of a run: CSV text, or base64 of a binary (XLSX).
#[derive(Clone, Debug, Serialize)]
pub struct SettlementDocument {
    pub name: String,
    /// The hospital a statement belongs to (None: a region document).
    pub institution_id: Option<String>,
    pub media_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content: String,
}

/// The outcome of a run, written in one transaction.
#[derive(Clone, Debug)]
pub struct FinishedRun {
    pub cases: i64,
    pub special_cases: i64,
    pub message: String,
    pub summary: serde_json::Value,
    pub documents: Vec<SettlementDocument>,
}

/// One case as settlement reads it: the latest version's settlement list.
#[derive(Clone, Debug)]
pub struct SettlementInput {
    pub institution_id: String,
    pub case_id: String,
    pub version: i64,
    pub claim_json: String,
    /// False: the version breaks a withholding QC rule (not paid until corrected).
    pub payable: bool,
    /// The withholding rule ids, comma-separated.
    pub withheld: String,
}

/// One case as the monitor reads it: the latest version's settlement list, its
/// grouping and pricing, and how many QC errors it has.
#[derive(Clone, Debug)]
pub struct MonitorInput {
    pub claim_json: String,
    pub drg: String,
    pub adrg: String,
    pub drg_name: String,
    pub status: String,
    pub points: String,
    pub qc_errors: i64,
}

/// One case's result as the dashboards aggregate it (latest version).
#[derive(Clone, Debug)]
pub struct CaseSummary {
    pub institution_id: String,
    pub period: String,
    pub drg: String,
    pub status: String,
    pub method: String,
    pub points: String,
    pub yuan_fen: i64,
    /// The group's relative weight (RW) when the case was grouped and priced by a standard.
    pub weight: Option<String>,
    pub payable: bool,
    /// The estimate's status (`expected`, `override`, `unavailable`; "" when not recorded).
    pub estimate_status: String,
}

/// The newest version of each case (the flag the commit keeps; migration 4).
const LATEST: &str = "v.latest = 1";

impl Store {
    /// Record a run as started.
    pub async fn start_settlement_run(&self, actor: &Actor, year: i64) -> Result<i64> {
        let (_g, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO settlement_runs (year, status, started_by, started_at) VALUES ($1, 'running', $2, $3) RETURNING id",
        )
        .bind(year)
        .bind(actor.user_id)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        Store::finish(
            tx,
            actor,
            "settlement.start",
            &format!("settlement_run:{id}"),
            serde_json::json!({ "year": year }),
        )
        .await?;
        Ok(id)
    }

    /// Finish a running run with its documents (one transaction).
    pub async fn finish_settlement_run(&self, actor: &Actor, id: i64, done: &FinishedRun) -> Result<()> {
        let (_g, mut tx) = self.begin_write().await?;
        let n = sqlx::query("UPDATE settlement_runs SET status = 'done', finished_at = $2, cases = $3, special_cases = $4, message = $5, summary_json = $6 WHERE id = $1 AND status = 'running'")
            .bind(id)
            .bind(now_ms())
            .bind(done.cases)
            .bind(done.special_cases)
            .bind(&done.message)
            .bind(done.summary.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(format!("settlement run {id} is not running")));
        }
        for d in &done.documents {
            sqlx::query("INSERT INTO settlement_documents (run_id, name, institution_id, media_type, content) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(&d.name)
                .bind(d.institution_id.as_deref())
                .bind(&d.media_type)
                .bind(&d.content)
                .execute(&mut *tx)
                .await?;
        }
        Store::finish(
            tx,
            actor,
            "settlement.finish",
            &format!("settlement_run:{id}"),
            serde_json::json!({ "cases": done.cases, "special_cases": done.special_cases, "documents": done.documents.len() }),
        )
        .await
    }

    /// Mark a running run failed with the error.
    pub async fn fail_settlement_run(&self, actor: &Actor, id: i64, error: &str) -> Result<()> {
        let (_g, mut tx) = self.begin_write().await?;
        sqlx::query("UPDATE settlement_runs SET status = 'failed', finished_at = $2, message = $3 WHERE id = $1 AND status = 'running'")
            .bind(id)
            .bind(now_ms())
            .bind(error)
            .execute(&mut *tx)
            .await?;
        Store::finish(
            tx,
            actor,
            "settlement.fail",
            &format!("settlement_run:{id}"),
            serde_json::json!({ "error": error }),
        )
        .await
    }

    /// Runs left `running` by a stopped process are marked failed (called at start).
    pub async fn interrupt_running_settlements(&self) -> Result<u64> {
        let (_g, mut tx) = self.begin_write().await?;
        let n = sqlx::query("UPDATE settlement_runs SET status = 'failed', finished_at = $1, message = 'interrupted: the service stopped during the run' WHERE status = 'running'")
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        Store::finish(
            tx,
            &Actor::system(),
            "settlement.interrupted",
            "settlement_runs",
            serde_json::json!({ "runs": n }),
        )
        .await?;
        Ok(n)
    }

    pub async fn settlement_run(&self, id: i64) -> Result<Option<SettlementRun>> {
        sqlx::query(&format!("SELECT {RUN_COLS} FROM settlement_runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| SettlementRun::from_row(&r))
            .transpose()
    }

    /// Runs, newest first (without summaries).
    pub async fn settlement_runs(&self) -> Result<Vec<SettlementRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM settlement_runs ORDER BY id DESC",
            RUN_COLS.replace("summary_json", "NULL AS summary_json")
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(SettlementRun::from_row).collect()
    }

    /// The newest finished run of a year (or of any year).
    pub async fn latest_settlement(&self, year: Option<i64>) -> Result<Option<SettlementRun>> {
        let row = match year {
            Some(y) => sqlx::query(&format!("SELECT {RUN_COLS} FROM settlement_runs WHERE status = 'done' AND year = $1 ORDER BY id DESC LIMIT 1"))
                .bind(y)
                .fetch_optional(&self.pool)
                .await?,
            None => sqlx::query(&format!("SELECT {RUN_COLS} FROM settlement_runs WHERE status = 'done' ORDER BY id DESC LIMIT 1"))
                .fetch_optional(&self.pool)
                .await?,
        };
        row.map(|r| SettlementRun::from_row(&r)).transpose()
    }

    /// The documents of a run (without content), region documents first.
    pub async fn settlement_documents(&self, run: i64) -> Result<Vec<SettlementDocument>> {
        let rows = sqlx::query("SELECT name, institution_id, media_type FROM settlement_documents WHERE run_id = $1 ORDER BY institution_id IS NOT NULL, institution_id, name")
            .bind(run)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SettlementDocument {
                    name: get(r, "name")?,
                    institution_id: get(r, "institution_id")?,
                    media_type: get(r, "media_type")?,
                    content: String::new(),
                })
            })
            .collect()
    }

    pub async fn settlement_document(&self, run: i64, name: &str) -> Result<Option<SettlementDocument>> {
        let r = sqlx::query("SELECT name, institution_id, media_type, content FROM settlement_documents WHERE run_id = $1 AND name = $2")
            .bind(run)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| {
            Ok(SettlementDocument {
                name: get(&r, "name")?,
                institution_id: get(&r, "institution_id")?,
                media_type: get(&r, "media_type")?,
                content: get(&r, "content")?,
            })
        })
        .transpose()
    }

    /// The latest version of every case discharged in `[from, to]` (months `YYYY-MM`).
    pub async fn settlement_inputs(&self, from: &str, to: &str) -> Result<Vec<SettlementInput>> {
        let rows = sqlx::query(&format!(
            "SELECT v.institution_id, v.case_id, v.version, v.claim_json, r.payable, r.withheld FROM case_versions v JOIN case_results r ON r.case_version_id = v.id \
             WHERE {LATEST} AND v.period >= $1 AND v.period <= $2 ORDER BY v.institution_id, v.case_id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SettlementInput {
                    institution_id: get(r, "institution_id")?,
                    case_id: get(r, "case_id")?,
                    version: get(r, "version")?,
                    claim_json: get(r, "claim_json")?,
                    payable: payable_of(r, "payable")?,
                    withheld: get::<Option<String>>(r, "withheld")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Results of the latest version of every case discharged in `[from, to]`,
    /// optionally of one institution.
    pub async fn case_summaries(&self, from: &str, to: &str, institution: Option<&str>) -> Result<Vec<CaseSummary>> {
        let mut sql = format!(
            "SELECT v.institution_id, v.period, r.drg, r.status, r.method, r.points, r.yuan_fen, r.points_json, r.payable, r.estimate_json FROM case_versions v JOIN case_results r ON r.case_version_id = v.id WHERE {LATEST} AND v.period >= $1 AND v.period <= $2"
        );
        if institution.is_some() {
            sql += " AND v.institution_id = $3";
        }
        let mut q = sqlx::query(&sql).bind(from).bind(to);
        if let Some(i) = institution {
            q = q.bind(i);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(CaseSummary {
                    institution_id: get(r, "institution_id")?,
                    period: get(r, "period")?,
                    drg: get(r, "drg")?,
                    status: get(r, "status")?,
                    method: get(r, "method")?,
                    points: get(r, "points")?,
                    yuan_fen: get(r, "yuan_fen")?,
                    weight: {
                        let pj: String = get(r, "points_json")?;
                        serde_json::from_str::<serde_json::Value>(&pj).ok().and_then(|v| match &v["weight"] {
                            serde_json::Value::String(s) => Some(s.clone()),
                            serde_json::Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        })
                    },
                    payable: payable_of(r, "payable")?,
                    estimate_status: {
                        let e: Option<String> = get(r, "estimate_json")?;
                        e.and_then(|e| serde_json::from_str::<serde_json::Value>(&e).ok())
                            .and_then(|v| v["status"].as_str().map(str::to_owned))
                            .unwrap_or_default()
                    },
                })
            })
            .collect()
    }

    /// Every case (latest version) discharged in `[from, to]` with its result and QC errors.
    pub async fn monitor_inputs(&self, from: &str, to: &str) -> Result<Vec<MonitorInput>> {
        let rows = sqlx::query(&format!(
            "SELECT v.claim_json, r.drg, r.adrg, r.drg_name, r.status, r.points, \
             (SELECT COUNT(*) FROM qc_findings f WHERE f.case_version_id = v.id AND f.severity = 'error') AS qc_errors \
             FROM case_versions v JOIN case_results r ON r.case_version_id = v.id WHERE {LATEST} AND v.period >= $1 AND v.period <= $2 \
             ORDER BY v.institution_id, v.case_id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MonitorInput {
                    claim_json: get(r, "claim_json")?,
                    drg: get(r, "drg")?,
                    adrg: get(r, "adrg")?,
                    drg_name: get(r, "drg_name")?,
                    status: get(r, "status")?,
                    points: get(r, "points")?,
                    qc_errors: get(r, "qc_errors")?,
                })
            })
            .collect()
    }

    /// QC findings (case id, rule id, message) of an institution's latest case
    /// versions discharged in `[from, to]`.
    pub async fn qc_messages(&self, from: &str, to: &str, institution: &str) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT v.case_id, f.rule_id, f.message FROM qc_findings f JOIN case_versions v ON f.case_version_id = v.id \
             WHERE {LATEST} AND v.period >= $1 AND v.period <= $2 AND v.institution_id = $3 ORDER BY f.id"
        ))
        .bind(from)
        .bind(to)
        .bind(institution)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((get(r, "case_id")?, get(r, "rule_id")?, get(r, "message")?)))
            .collect()
    }

    /// The withheld latest versions of an institution discharged in `[from, to]`:
    /// (case id, version, period, withholding rule ids), by case id.
    pub async fn withheld_cases(&self, from: &str, to: &str, institution: &str) -> Result<Vec<(String, i64, String, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT v.case_id, v.version, v.period, r.withheld FROM case_versions v JOIN case_results r ON r.case_version_id = v.id \
             WHERE {LATEST} AND v.period >= $1 AND v.period <= $2 AND v.institution_id = $3 AND r.payable = 0 ORDER BY v.case_id"
        ))
        .bind(from)
        .bind(to)
        .bind(institution)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get(r, "case_id")?,
                    get(r, "version")?,
                    get(r, "period")?,
                    get::<Option<String>>(r, "withheld")?.unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// QC findings of the latest case versions discharged in `[from, to]`:
    /// (institution, severity, count).
    pub async fn qc_counts(&self, from: &str, to: &str, institution: Option<&str>) -> Result<Vec<(String, String, i64)>> {
        let mut sql = format!(
            "SELECT v.institution_id, f.severity, COUNT(*) AS n FROM qc_findings f JOIN case_versions v ON f.case_version_id = v.id WHERE {LATEST} AND v.period >= $1 AND v.period <= $2"
        );
        if institution.is_some() {
            sql += " AND v.institution_id = $3";
        }
        sql += " GROUP BY v.institution_id, f.severity";
        let mut q = sqlx::query(&sql).bind(from).bind(to);
        if let Some(i) = institution {
            q = q.bind(i);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((get(r, "institution_id")?, get(r, "severity")?, get(r, "n")?)))
            .collect()
    }

    /// Special-case applications per (institution, status) for quarters starting with `year`.
    pub async fn special_case_counts(&self, year: &str) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT institution_id, status, COUNT(*) AS n FROM special_cases WHERE quarter >= $1 AND quarter <= $2 GROUP BY institution_id, status")
            .bind(format!("{year}-Q1"))
            .bind(format!("{year}-Q4"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((get(r, "institution_id")?, get(r, "status")?, get(r, "n")?)))
            .collect()
    }

    /// Approved special cases: (institution, case id, pay_as, adjusted points).
    pub async fn approved_special_cases(&self) -> Result<Vec<(String, String, String, Option<String>)>> {
        let rows = sqlx::query("SELECT institution_id, case_id, pay_as, adjusted_points FROM special_cases WHERE status = 'approved' ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let pay: Option<String> = get(r, "pay_as")?;
                Ok((get(r, "institution_id")?, get(r, "case_id")?, pay.unwrap_or_default(), get(r, "adjusted_points")?))
            })
            .collect()
    }
}

//! Totals maintained per institution and discharge month (`case_stats`), so that the
//! dashboard reads a few hundred rows, not every case of a year: each commit takes the
//! replaced latest version's contribution out and puts the new one in, in the
//! transaction of the commit. [`Totals::of_case`] is the one definition of what a case
//! contributes; `Store::rebuild_case_stats` recomputes every row from the cases (after
//! the migration, and checked against the maintained rows by the tests).

use rust_decimal::Decimal;
use sqlx::Row;

use crate::{get, CaseSummary, Dialect, Result, Store};

/// Totals of a set of cases (latest versions). The estimated payment counts payable
/// cases with an estimate only; withheld cases (QC) and cases without an estimate or
/// with pending points are counted apart, never as 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub cases: i64,
    pub grouped: i64,
    /// Sum of the known points.
    pub points: Decimal,
    pub points_pending: i64,
    /// Estimated payment of payable cases with an estimate, fen.
    pub fen: i64,
    /// Of `fen`, by DRG or DIP points.
    pub drg_fen: i64,
    /// Sum of the relative weights of payable, estimated cases that have one.
    pub weight: Decimal,
    pub weighted: i64,
    pub withheld: i64,
    pub withheld_fen: i64,
    pub no_estimate: i64,
    pub override_pv: i64,
    /// QC findings of the latest versions: severity `error`, and the others.
    pub qc_errors: i64,
    pub qc_warnings: i64,
}

impl Totals {
    /// What one case contributes (its latest version's result and finding counts).
    pub fn of_case(c: &CaseSummary, qc_errors: i64, qc_warnings: i64) -> Totals {
        let mut t = Totals { cases: 1, qc_errors, qc_warnings, ..Totals::default() };
        if c.status == "grouped" {
            t.grouped = 1;
        }
        match c.points.parse::<Decimal>() {
            Ok(p) => t.points = p,
            Err(_) => t.points_pending = 1,
        }
        // "" : stored before the estimate recorded its derivation — not counted as known.
        let estimated = matches!(c.estimate_status.as_str(), "expected" | "override");
        if !estimated {
            t.no_estimate = 1;
        }
        t.override_pv = i64::from(c.estimate_status == "override");
        if !c.payable {
            t.withheld = 1;
            if estimated {
                t.withheld_fen = c.yuan_fen;
            }
            return t;
        }
        if !estimated {
            return t;
        }
        t.fen = c.yuan_fen;
        if c.method == "drg" || c.method == "dip" {
            t.drg_fen = c.yuan_fen;
        }
        if let Some(w) = c.weight.as_deref().and_then(|w| w.parse::<Decimal>().ok()) {
            t.weight = w;
            t.weighted = 1;
        }
        t
    }

    /// Add (`sign` 1) or take out (`sign` -1) another total.
    pub fn merge(&mut self, o: &Totals, sign: i64) {
        let d = Decimal::from(sign);
        self.cases += sign * o.cases;
        self.grouped += sign * o.grouped;
        self.points += d * o.points;
        self.points_pending += sign * o.points_pending;
        self.fen += sign * o.fen;
        self.drg_fen += sign * o.drg_fen;
        self.weight += d * o.weight;
        self.weighted += sign * o.weighted;
        self.withheld += sign * o.withheld;
        self.withheld_fen += sign * o.withheld_fen;
        self.no_estimate += sign * o.no_estimate;
        self.override_pv += sign * o.override_pv;
        self.qc_errors += sign * o.qc_errors;
        self.qc_warnings += sign * o.qc_warnings;
    }

    fn from_row(r: &sqlx::any::AnyRow) -> Result<Totals> {
        let dec = |k: &str| -> Result<Decimal> {
            let s: String = get(r, k)?;
            s.parse::<Decimal>()
                .map_err(|e| crate::StoreError::Invalid(format!("case_stats.{k} {s:?}: {e}")))
        };
        Ok(Totals {
            cases: get(r, "cases")?,
            grouped: get(r, "grouped")?,
            points: dec("points")?,
            points_pending: get(r, "points_pending")?,
            fen: get(r, "fen")?,
            drg_fen: get(r, "drg_fen")?,
            weight: dec("weight")?,
            weighted: get(r, "weighted")?,
            withheld: get(r, "withheld")?,
            withheld_fen: get(r, "withheld_fen")?,
            no_estimate: get(r, "no_estimate")?,
            override_pv: get(r, "override_pv")?,
            qc_errors: get(r, "qc_errors")?,
            qc_warnings: get(r, "qc_warnings")?,
        })
    }
}

/// The summary of a case from a result row (columns `status, method, points, yuan_fen,
/// points_json, payable, estimate_json`).
pub(crate) fn summary_of(institution_id: &str, period: &str, r: &crate::model::CaseResult) -> CaseSummary {
    CaseSummary {
        institution_id: institution_id.to_owned(),
        period: period.to_owned(),
        drg: r.drg.clone(),
        status: r.status.clone(),
        method: r.method.clone(),
        points: r.points.clone(),
        yuan_fen: r.yuan_fen,
        weight: weight_of(&r.points_json),
        payable: r.payable,
        estimate_status: estimate_status_of(Some(r.estimate_json.as_str())),
    }
}

/// The relative weight recorded in a pricing derivation.
pub(crate) fn weight_of(points_json: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(points_json).ok().and_then(|v| match &v["weight"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// The status recorded in an estimate's derivation ("" when none).
pub(crate) fn estimate_status_of(e: Option<&str>) -> String {
    e.and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .and_then(|v| v["status"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The institution id of the region's rows (`*` is not a valid institution id).
pub const REGION: &str = "*";

/// The rows a case-month's totals go into: the institution's month, its year
/// (`YYYY`), and the same two for the region ([`REGION`]); the dashboard reads the
/// region's months and the institutions' years, not every institution-month.
pub fn expand(rows: std::collections::BTreeMap<(String, String), Totals>) -> std::collections::BTreeMap<(String, String), Totals> {
    let mut out: std::collections::BTreeMap<(String, String), Totals> = Default::default();
    for ((i, p), t) in rows {
        let year = (p.len() == 7 && p.as_bytes()[4] == b'-').then(|| p[..4].to_owned());
        let mut keys = vec![(i.clone(), p.clone()), (REGION.to_owned(), p.clone())];
        if let Some(y) = year {
            keys.push((i.clone(), y.clone()));
            keys.push((REGION.to_owned(), y));
        }
        for k in keys {
            out.entry(k).or_default().merge(&t, 1);
        }
    }
    out
}

const COLS: &str = "cases, grouped, points, points_pending, fen, drg_fen, weight, weighted, withheld, withheld_fen, no_estimate, override_pv, qc_errors, qc_warnings";

/// The contributions of stored case versions (id, institution, period), in order.
pub(crate) async fn contributions_of(tx: &mut crate::Tx<'static>, versions: &[(i64, String, String)]) -> Result<Vec<Totals>> {
    use std::collections::HashMap;
    let mut out = Vec::with_capacity(versions.len());
    for part in versions.chunks(64) {
        let list = (0..part.len()).map(|k| format!("${}", k + 1)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT case_version_id, drg, status, method, points, yuan_fen, points_json, payable, estimate_json FROM case_results WHERE case_version_id IN ({list})"
        );
        let mut q = sqlx::query(&sql);
        for (id, _, _) in part {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&mut **tx).await?;
        let mut by_id: HashMap<i64, &sqlx::any::AnyRow> = HashMap::new();
        for r in &rows {
            by_id.insert(get(r, "case_version_id")?, r);
        }
        let sql = format!(
            "SELECT case_version_id, severity, COUNT(*) AS n FROM qc_findings WHERE case_version_id IN ({list}) GROUP BY case_version_id, severity"
        );
        let mut q = sqlx::query(&sql);
        for (id, _, _) in part {
            q = q.bind(*id);
        }
        let mut qc: HashMap<i64, (i64, i64)> = HashMap::new();
        for f in q.fetch_all(&mut **tx).await? {
            let (id, sev, n): (i64, String, i64) = (f.try_get(0)?, f.try_get(1)?, f.try_get(2)?);
            let e = qc.entry(id).or_default();
            if sev == "error" {
                e.0 += n;
            } else {
                e.1 += n;
            }
        }
        for (id, inst, period) in part {
            let r = by_id
                .get(id)
                .ok_or_else(|| crate::StoreError::Invalid(format!("case version {id}: no stored result")))?;
            let c = CaseSummary {
                institution_id: inst.clone(),
                period: period.clone(),
                drg: get(r, "drg")?,
                status: get(r, "status")?,
                method: get(r, "method")?,
                points: get(r, "points")?,
                yuan_fen: get(r, "yuan_fen")?,
                weight: weight_of(&get::<String>(r, "points_json")?),
                payable: crate::model::payable_of(r, "payable")?,
                estimate_status: estimate_status_of(get::<Option<String>>(r, "estimate_json")?.as_deref()),
            };
            let (e, w) = qc.get(id).copied().unwrap_or_default();
            out.push(Totals::of_case(&c, e, w));
        }
    }
    Ok(out)
}

/// Apply `delta` to the row of (institution, period), in the transaction.
pub(crate) async fn apply(
    tx: &mut crate::Tx<'static>,
    dialect: Dialect,
    institution: &str,
    period: &str,
    delta: &Totals,
) -> Result<()> {
    let lock = if dialect == Dialect::Postgres { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM case_stats WHERE institution_id = $1 AND period = $2{lock}"
    ))
    .bind(institution)
    .bind(period)
    .fetch_optional(&mut **tx)
    .await?;
    let mut t = match &row {
        Some(r) => Totals::from_row(r)?,
        None => Totals::default(),
    };
    t.merge(delta, 1);
    if row.is_some() {
        sqlx::query(
            "UPDATE case_stats SET cases = $3, grouped = $4, points = $5, points_pending = $6, fen = $7, drg_fen = $8, weight = $9, weighted = $10, \
             withheld = $11, withheld_fen = $12, no_estimate = $13, override_pv = $14, qc_errors = $15, qc_warnings = $16 \
             WHERE institution_id = $1 AND period = $2",
        )
        .bind(institution)
        .bind(period)
        .bind(t.cases)
        .bind(t.grouped)
        .bind(t.points.normalize().to_string())
        .bind(t.points_pending)
        .bind(t.fen)
        .bind(t.drg_fen)
        .bind(t.weight.normalize().to_string())
        .bind(t.weighted)
        .bind(t.withheld)
        .bind(t.withheld_fen)
        .bind(t.no_estimate)
        .bind(t.override_pv)
        .bind(t.qc_errors)
        .bind(t.qc_warnings)
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query(&format!(
            "INSERT INTO case_stats (institution_id, period, {COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(institution)
        .bind(period)
        .bind(t.cases)
        .bind(t.grouped)
        .bind(t.points.normalize().to_string())
        .bind(t.points_pending)
        .bind(t.fen)
        .bind(t.drg_fen)
        .bind(t.weight.normalize().to_string())
        .bind(t.weighted)
        .bind(t.withheld)
        .bind(t.withheld_fen)
        .bind(t.no_estimate)
        .bind(t.override_pv)
        .bind(t.qc_errors)
        .bind(t.qc_warnings)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// The maintained rows whose period lies in `from..=to` (months `YYYY-MM`; a year
    /// row `YYYY` sorts before its months), of one institution (or [`REGION`]) or all:
    /// (institution, period, totals).
    pub async fn case_stats(&self, from: &str, to: &str, institution: Option<&str>) -> Result<Vec<(String, String, Totals)>> {
        let mut sql = format!(
            "SELECT institution_id, period, {COLS} FROM case_stats WHERE period >= $1 AND period <= $2"
        );
        if institution.is_some() {
            sql += " AND institution_id = $3";
        }
        sql += " ORDER BY institution_id, period";
        let mut q = sqlx::query(&sql).bind(from).bind(to);
        if let Some(i) = institution {
            q = q.bind(i);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((get(r, "institution_id")?, get(r, "period")?, Totals::from_row(r)?)))
            .collect()
    }

    /// Every institution's year row of `year` (and the region's): (institution, totals).
    pub async fn year_stats(&self, year: i32) -> Result<Vec<(String, Totals)>> {
        let rows = sqlx::query(&format!("SELECT institution_id, {COLS} FROM case_stats WHERE period = $1 ORDER BY institution_id"))
            .bind(year.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((get(r, "institution_id")?, Totals::from_row(r)?))).collect()
    }

    /// Totals recomputed from the latest versions (what `case_stats` must hold). The
    /// cases are streamed, not held: memory stays with the number of institution-months.
    pub async fn computed_case_stats(&self) -> Result<std::collections::BTreeMap<(String, String), Totals>> {
        use futures_util::TryStreamExt;
        let mut out: std::collections::BTreeMap<(String, String), Totals> = Default::default();
        // QC finding counts of the latest versions, per institution and month.
        for r in sqlx::query(
            "SELECT v.institution_id, v.period, f.severity, COUNT(*) AS n FROM qc_findings f JOIN case_versions v ON v.id = f.case_version_id \
             WHERE v.latest = 1 GROUP BY v.institution_id, v.period, f.severity",
        )
        .fetch_all(self.pool())
        .await?
        {
            let (i, p, sev, n): (String, String, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let t = out.entry((i, p)).or_default();
            if sev == "error" {
                t.qc_errors += n;
            } else {
                t.qc_warnings += n;
            }
        }
        let mut rows = sqlx::query(
            "SELECT v.institution_id, v.period, r.drg, r.status, r.method, r.points, r.yuan_fen, r.points_json, r.payable, r.estimate_json \
             FROM case_versions v JOIN case_results r ON r.case_version_id = v.id WHERE v.latest = 1",
        )
        .fetch(self.pool());
        while let Some(r) = rows.try_next().await? {
            let c = CaseSummary {
                institution_id: get(&r, "institution_id")?,
                period: get(&r, "period")?,
                drg: get(&r, "drg")?,
                status: get(&r, "status")?,
                method: get(&r, "method")?,
                points: get(&r, "points")?,
                yuan_fen: get(&r, "yuan_fen")?,
                weight: weight_of(&get::<String>(&r, "points_json")?),
                payable: crate::model::payable_of(&r, "payable")?,
                estimate_status: estimate_status_of(get::<Option<String>>(&r, "estimate_json")?.as_deref()),
            };
            out.entry((c.institution_id.clone(), c.period.clone()))
                .or_default()
                .merge(&Totals::of_case(&c, 0, 0), 1);
        }
        Ok(expand(out))
    }

    /// Recompute every row of `case_stats` from the latest versions (after the
    /// migration that introduced it, or after stored results changed in place).
    pub async fn rebuild_case_stats(&self) -> Result<usize> {
        let computed = self.computed_case_stats().await?;
        let (_g, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM case_stats").execute(&mut *tx).await?;
        for ((i, p), t) in &computed {
            apply(&mut tx, self.dialect(), i, p, t).await?;
        }
        // (`computed` is already expanded to year and region rows.)
        sqlx::query("DELETE FROM maintenance WHERE task = 'rebuild_case_stats'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(computed.len())
    }

    /// Whether a migration asked for the totals to be rebuilt.
    pub async fn case_stats_need_rebuild(&self) -> Result<bool> {
        Ok(sqlx::query("SELECT task FROM maintenance WHERE task = 'rebuild_case_stats'")
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }
}

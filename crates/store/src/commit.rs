//! Writing uploads: case versions, results and findings in chunks of up to
//! [`CHUNK`] rows, in multi-row statements.
//!
//! SQLite statements use anonymous `?` parameters, PostgreSQL `$n`: the SQLite
//! library finds the name of a numbered parameter by a walk over all of them, so
//! with `$n` a statement's bind cost grows with the square of its parameters
//! (64 rows of 16 columns was the most that paid, and the commit ran at ~8,000
//! versions/s), while anonymous ones are found at once.
//!
//! A batch of any size is written while its body is still arriving, by a
//! [`BatchWriter`]: one transaction from the first record to the last, so the
//! batch is stored whole or not at all, in memory bounded by a chunk.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::any::AnyArguments;
use sqlx::Arguments;

use crate::{stats, CommittedUpload, Dialect, NewCase, NewFinding, NewUpload, Result, StoreError, Tx};

/// Most cases per chunk.
pub const CHUNK: usize = 1000;
/// Rows per multi-row statement (SQLite takes at most 32,766 parameters: 16 columns × 1,000).
const ROWS: usize = 1000;

/// `VALUES` groups of `width` parameters for `rows` rows, in the dialect's style.
fn values(d: Dialect, rows: usize, width: usize) -> String {
    let mut s = String::with_capacity(rows * width * 6);
    let mut n = 0;
    for r in 0..rows {
        s.push_str(if r > 0 { ", (" } else { "(" });
        for c in 0..width {
            if c > 0 {
                s.push_str(", ");
            }
            n += 1;
            match d {
                Dialect::Sqlite => s.push('?'),
                Dialect::Postgres => {
                    s.push('$');
                    s.push_str(&n.to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

/// A list of `n` parameters, for `IN (…)`.
fn list(d: Dialect, n: usize) -> String {
    let v = values(d, 1, n);
    v[1..v.len() - 1].to_owned()
}

/// Whether a statement of `rows` rows is kept prepared by the connection: the full
/// chunk and the small ones (single uploads: one case, a few findings — preparing
/// them each time cut single uploads from ~1,900 to ~530 per second); the large
/// sizes between are prepared each time rather than fill the connection's
/// statement cache with large statements (a 1,000-row insert is a program of
/// ~16,000 parameters).
fn cached(rows: usize) -> bool {
    rows == ROWS || rows <= 16
}

fn arg<'q, T>(a: &mut AnyArguments<'q>, v: T) -> Result<()>
where
    T: 'q + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    a.add(v).map_err(|e| StoreError::Invalid(format!("binding a value: {e}")))
}

/// The end of the run of distinct cases that starts at `i` (at most [`CHUNK`]):
/// a run ends before a case already in it, whose earlier version must be stored first.
pub(crate) fn run_end(cases: &[NewCase], i: usize) -> usize {
    let mut seen = HashSet::new();
    let mut j = i;
    while j < cases.len() && j - i < CHUNK && seen.insert((&cases[j].institution_id, &cases[j].case_id)) {
        j += 1;
    }
    j
}

/// Store one run of distinct cases: versions numbered after each case's latest,
/// the replaced latest versions unflagged and their contributions to the totals
/// taken out, the new ones put in; results and findings. Returns (id, version) in order.
pub(crate) async fn write_cases(
    tx: &mut Tx<'static>,
    d: Dialect,
    upload_id: i64,
    now: i64,
    chunk: &[NewCase],
    deltas: &mut BTreeMap<(String, String), stats::Totals>,
) -> Result<Vec<(i64, i64)>> {
    if chunk.is_empty() {
        return Ok(Vec::new());
    }
    // The latest stored version of each case: one look-up by case id (indexed), the
    // institution matched here. (No `latest = 1` in the condition: a planner would be
    // tempted by the latest indexes, whose `latest = 1` part matches nearly every row.)
    let wanted: HashSet<(&str, &str)> = chunk.iter().map(|c| (c.institution_id.as_str(), c.case_id.as_str())).collect();
    let mut case_ids: Vec<&str> = chunk.iter().map(|c| c.case_id.as_str()).collect();
    case_ids.sort_unstable();
    case_ids.dedup();
    let mut prev: HashMap<(String, String), (i64, i64, String)> = HashMap::new();
    for part in case_ids.chunks(ROWS) {
        let sql = format!(
            "SELECT id, institution_id, case_id, version, period, latest FROM case_versions WHERE case_id IN ({})",
            list(d, part.len())
        );
        let mut a = AnyArguments::default();
        for c in part {
            arg(&mut a, *c)?;
        }
        let rows = sqlx::query_as_with::<_, (i64, String, String, i64, String, i64), _>(&sql, a).persistent(cached(part.len())).fetch_all(&mut **tx).await?;
        for (id, inst, case_id, version, period, latest) in rows {
            if latest == 1 && wanted.contains(&(inst.as_str(), case_id.as_str())) {
                prev.insert((inst, case_id), (id, version, period));
            }
        }
    }
    let key = |c: &NewCase| (c.institution_id.clone(), c.case_id.clone());
    if !prev.is_empty() {
        let old: Vec<(i64, String, String)> = chunk
            .iter()
            .filter_map(|c| prev.get(&key(c)).map(|(id, _, p)| (*id, c.institution_id.clone(), p.clone())))
            .collect();
        let olds = stats::contributions_of(tx, &old).await?;
        for ((_, inst, period), t) in old.iter().zip(&olds) {
            deltas.entry((inst.clone(), period.clone())).or_default().merge(t, -1);
        }
        for part in old.chunks(ROWS) {
            let sql = format!("UPDATE case_versions SET latest = 0 WHERE id IN ({})", list(d, part.len()));
            let mut a = AnyArguments::default();
            for (id, _, _) in part {
                arg(&mut a, *id)?;
            }
            sqlx::query_with(&sql, a).persistent(cached(part.len())).execute(&mut **tx).await?;
        }
    }
    let versions: Vec<i64> = chunk.iter().map(|c| prev.get(&key(c)).map_or(1, |p| p.1 + 1)).collect();
    // Ids by (institution, case): the cases of a chunk are distinct, so the mapping
    // does not rest on the order RETURNING gives them in.
    let mut ids: HashMap<(String, String), i64> = HashMap::with_capacity(chunk.len());
    for (part, vs) in chunk.chunks(ROWS).zip(versions.chunks(ROWS)) {
        let sql = format!(
            "INSERT INTO case_versions (institution_id, case_id, version, upload_id, line, period, discharge_date, claim_json, created_at, latest) VALUES {} RETURNING id, institution_id, case_id",
            values(d, part.len(), 10)
        );
        let mut a = AnyArguments::default();
        for (c, v) in part.iter().zip(vs) {
            arg(&mut a, c.institution_id.as_str())?;
            arg(&mut a, c.case_id.as_str())?;
            arg(&mut a, *v)?;
            arg(&mut a, upload_id)?;
            arg(&mut a, c.line)?;
            arg(&mut a, c.period.as_str())?;
            arg(&mut a, c.discharge_date.as_deref())?;
            arg(&mut a, c.claim_json.as_str())?;
            arg(&mut a, now)?;
            arg(&mut a, 1i64)?;
        }
        for (id, i, c) in sqlx::query_as_with::<_, (i64, String, String), _>(&sql, a).persistent(cached(part.len())).fetch_all(&mut **tx).await? {
            ids.insert((i, c), id);
        }
    }
    if ids.len() != chunk.len() {
        return Err(StoreError::Invalid(format!("{} case versions written, {} returned", chunk.len(), ids.len())));
    }
    let mut done = Vec::with_capacity(chunk.len());
    for (c, v) in chunk.iter().zip(&versions) {
        let id = *ids
            .get(&key(c))
            .ok_or_else(|| StoreError::Invalid(format!("case {} of {}: no id returned", c.case_id, c.institution_id)))?;
        done.push((id, *v));
    }
    for (part, ds) in chunk.chunks(ROWS).zip(done.chunks(ROWS)) {
        let sql = format!(
            "INSERT INTO case_results (case_version_id, mdc, adrg, drg, drg_name, status, method, rule, points, yuan_fen, point_value, trace, points_json, payable, withheld, estimate_json) VALUES {}",
            values(d, part.len(), 16)
        );
        let mut a = AnyArguments::default();
        for (c, (id, _)) in part.iter().zip(ds) {
            let r = &c.result;
            arg(&mut a, *id)?;
            for v in [&r.mdc, &r.adrg, &r.drg, &r.drg_name, &r.status, &r.method, &r.rule, &r.points] {
                arg(&mut a, v.as_str())?;
            }
            arg(&mut a, r.yuan_fen)?;
            for v in [&r.point_value, &r.trace, &r.points_json] {
                arg(&mut a, v.as_str())?;
            }
            arg(&mut a, i64::from(r.payable))?;
            arg(&mut a, r.withheld.as_str())?;
            arg(&mut a, r.estimate_json.as_str())?;
        }
        sqlx::query_with(&sql, a).persistent(cached(part.len())).execute(&mut **tx).await?;
    }
    let findings: Vec<(Option<i64>, &NewFinding)> =
        chunk.iter().zip(&done).flat_map(|(c, (id, _))| c.findings.iter().map(move |f| (Some(*id), f))).collect();
    insert_findings(tx, d, upload_id, &findings).await?;
    for c in chunk {
        let (errors, warnings) = c.findings.iter().fold((0, 0), |(e, w), f| if f.severity == "error" { (e + 1, w) } else { (e, w + 1) });
        let new = stats::Totals::of_case(&stats::summary_of(&c.institution_id, &c.period, &c.result), errors, warnings);
        deltas.entry((c.institution_id.clone(), c.period.clone())).or_default().merge(&new, 1);
    }
    Ok(done)
}

/// Findings (of case versions, or of rejected records when the version is None),
/// in multi-row statements.
pub(crate) async fn insert_findings(tx: &mut Tx<'static>, d: Dialect, upload_id: i64, rows: &[(Option<i64>, &NewFinding)]) -> Result<()> {
    for part in rows.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO qc_findings (case_version_id, upload_id, line, case_id, rule_id, severity, field, value, message) VALUES {}",
            values(d, part.len(), 9)
        );
        let mut a = AnyArguments::default();
        for (cv, f) in part {
            arg(&mut a, *cv)?;
            arg(&mut a, upload_id)?;
            arg(&mut a, f.line)?;
            for v in [&f.case_id, &f.rule_id, &f.severity] {
                arg(&mut a, v.as_str())?;
            }
            arg(&mut a, f.field.as_deref())?;
            arg(&mut a, f.value.as_str())?;
            arg(&mut a, f.message.as_str())?;
        }
        sqlx::query_with(&sql, a).persistent(cached(part.len())).execute(&mut **tx).await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ streamed batches

/// One record of a batch, in file order: a case to store or a record refused.
#[derive(Clone, Debug)]
pub enum Entry {
    Case(NewCase),
    Rejected(NewFinding),
}

/// The writing connection's settings during a batch (SQLite), restored by
/// [`BatchWriter::finish`] to the store's ([`crate::SQLITE_CACHE`],
/// [`crate::SQLITE_MMAP`]); a batch that fails leaves its connection with them
/// (slower reads on that one connection, nothing else).
const BATCH_PRAGMAS: [&str; 2] = ["PRAGMA cache_size=-8192", "PRAGMA mmap_size=0"];

/// A finding only the whole file reveals (a stay after a death recorded later in
/// the file), for a record already written: `line` is the record's line.
#[derive(Clone, Debug)]
pub struct Amendment {
    pub line: i64,
    pub finding: NewFinding,
    /// The finding's rule withholds payment.
    pub withholds: bool,
}

/// A batch being written while its body is still read: one transaction, held
/// (with the store's writer lock) from [`crate::Store::begin_batch`] to
/// [`BatchWriter::finish`]; dropped without `finish`, it rolls back and nothing
/// of the batch is stored.
pub struct BatchWriter {
    _g: tokio::sync::OwnedMutexGuard<()>,
    tx: Tx<'static>,
    dialect: Dialect,
    upload_id: i64,
    now: i64,
    deltas: BTreeMap<(String, String), stats::Totals>,
    cases: Vec<(i64, i64)>,
    /// The line of the last case written (lines increase).
    last_line: i64,
    accepted: i64,
    rejected: i64,
    withheld: i64,
    held: Vec<NewCase>,
    listed: usize,
}

impl crate::Store {
    /// Begin a streamed batch: the upload's row (its counts filled by
    /// [`BatchWriter::finish`]) in a transaction holding the writer lock.
    /// The (id, version) of the first `listed` cases are returned by `finish`; all are counted.
    pub async fn begin_batch(&self, up: &NewUpload, listed: usize) -> Result<BatchWriter> {
        let g = self.write.clone().lock_owned().await;
        let mut tx = self.pool.begin().await?;
        if self.dialect == Dialect::Sqlite {
            // A batch's pages are written once: a small page cache (dirty pages spill to
            // the WAL) and no memory map on the writing connection keep its memory to a
            // few MiB instead of 64 MiB of cache and the map of the store; restored by `finish`.
            for p in BATCH_PRAGMAS {
                sqlx::query(p).execute(&mut *tx).await?;
            }
        }
        let now = crate::now_ms();
        let upload_id = crate::insert_upload(&mut tx, up, 0, 0, now).await?;
        Ok(BatchWriter {
            _g: g,
            tx,
            dialect: self.dialect,
            upload_id,
            now,
            deltas: BTreeMap::new(),
            cases: Vec::new(),
            last_line: 0,
            accepted: 0,
            rejected: 0,
            withheld: 0,
            held: Vec::new(),
            listed,
        })
    }
}

impl BatchWriter {
    pub fn upload_id(&self) -> i64 {
        self.upload_id
    }

    /// Entries written so far (cases and rejected records).
    pub fn written(&self) -> u64 {
        (self.accepted + self.rejected) as u64
    }

    /// Write the next entries (in file order).
    pub async fn write(&mut self, entries: Vec<Entry>) -> Result<()> {
        let mut refused = Vec::new();
        for e in entries {
            match e {
                Entry::Case(c) => self.held.push(c),
                Entry::Rejected(f) => refused.push(f),
            }
        }
        let rows: Vec<(Option<i64>, &NewFinding)> = refused.iter().map(|f| (None, f)).collect();
        insert_findings(&mut self.tx, self.dialect, self.upload_id, &rows).await?;
        self.rejected += refused.len() as i64;
        if self.held.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        let held = std::mem::take(&mut self.held);
        self.withheld += held.iter().filter(|c| !c.result.payable).count() as i64;
        let mut i = 0;
        while i < held.len() {
            let j = run_end(&held, i);
            let done = write_cases(&mut self.tx, self.dialect, self.upload_id, self.now, &held[i..j], &mut self.deltas).await?;
            for c in &held[i..j] {
                if c.line <= self.last_line {
                    return Err(StoreError::Invalid(format!("line {} written after line {}: lines must increase", c.line, self.last_line)));
                }
                self.last_line = c.line;
            }
            self.accepted += done.len() as i64;
            let room = self.listed.saturating_sub(self.cases.len());
            self.cases.extend(done.into_iter().take(room));
            i = j;
        }
        Ok(())
    }

    /// Add the late findings, fill the upload's counts and configuration, update
    /// the maintained totals, audit and commit. `up` is the upload's header as
    /// known at the end (records read, format, configuration ids).
    pub async fn finish(mut self, up: &NewUpload, amendments: &[Amendment]) -> Result<CommittedUpload> {
        self.flush().await?;
        let d = self.dialect;
        for a in amendments {
            // The version this batch wrote on that line (found by the case id's index;
            // none when the record was refused after its QC, e.g. for want of an engine).
            let row: Option<(i64, String, String, i64, Option<String>, String)> = sqlx::query_as(
                "SELECT v.id, v.institution_id, v.period, v.latest, r.withheld, r.points_json FROM case_versions v JOIN case_results r ON r.case_version_id = v.id \
                 WHERE v.case_id = $1 AND v.upload_id = $2 AND v.line = $3",
            )
            .bind(&a.finding.case_id)
            .bind(self.upload_id)
            .bind(a.line)
            .fetch_optional(&mut *self.tx)
            .await?;
            let Some((id, inst, period, latest, withheld, points_json)) = row else { continue };
            let me = [(id, inst.clone(), period.clone())];
            if latest == 1 {
                let old = stats::contributions_of(&mut self.tx, &me).await?;
                self.deltas.entry((inst.clone(), period.clone())).or_default().merge(&old[0], -1);
            }
            insert_findings(&mut self.tx, d, self.upload_id, &[(Some(id), &a.finding)]).await?;
            let mut rules: Vec<String> = withheld.unwrap_or_default().split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect();
            if a.withholds && !rules.contains(&a.finding.rule_id) {
                if rules.is_empty() {
                    self.withheld += 1;
                }
                rules.push(a.finding.rule_id.clone());
                rules.sort();
                let mut pj: serde_json::Value =
                    serde_json::from_str(&points_json).map_err(|e| StoreError::Invalid(format!("case version {id}: stored derivation: {e}")))?;
                if let Some(o) = pj.as_object_mut() {
                    o.insert("payable".into(), serde_json::Value::Bool(false));
                    o.insert("withheld_reason".into(), serde_json::json!(rules));
                }
                sqlx::query("UPDATE case_results SET payable = 0, withheld = $2, points_json = $3 WHERE case_version_id = $1")
                    .bind(id)
                    .bind(rules.join(","))
                    .bind(pj.to_string())
                    .execute(&mut *self.tx)
                    .await?;
            }
            if latest == 1 {
                let new = stats::contributions_of(&mut self.tx, &me).await?;
                self.deltas.entry((inst, period)).or_default().merge(&new[0], 1);
            }
        }
        sqlx::query(
            "UPDATE uploads SET records = $2, accepted = $3, rejected = $4, format = $5, scheme_id = $6, params_id = $7, weights_id = $8 WHERE id = $1",
        )
        .bind(self.upload_id)
        .bind(up.records)
        .bind(self.accepted)
        .bind(self.rejected)
        .bind(&up.format)
        .bind(up.scheme_id)
        .bind(up.params_id)
        .bind(up.weights_id)
        .execute(&mut *self.tx)
        .await?;
        let detail = serde_json::json!({"kind": up.kind, "file_name": up.file_name, "records": up.records, "accepted": self.accepted, "rejected": self.rejected});
        crate::Store::audit_tx(&mut self.tx, &up.actor, "upload.create", &format!("upload:{}", self.upload_id), &detail).await?;
        for ((i, p), t) in &stats::expand(std::mem::take(&mut self.deltas)) {
            stats::apply(&mut self.tx, d, i, p, t).await?;
        }
        if d == Dialect::Sqlite {
            for p in [crate::SQLITE_CACHE, crate::SQLITE_MMAP] {
                sqlx::query(p).execute(&mut *self.tx).await?;
            }
        }
        self.tx.commit().await?;
        Ok(CommittedUpload { upload_id: self.upload_id, cases: self.cases, accepted: self.accepted, rejected: self.rejected, withheld: self.withheld })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CaseResult;

    fn case(i: usize, big: usize) -> NewCase {
        NewCase {
            institution_id: format!("H{}", i % 7),
            case_id: format!("C{i}"),
            line: i as i64 + 2,
            period: "2025-03".into(),
            discharge_date: if i % 2 == 0 { Some("2025-03-04".into()) } else { None },
            claim_json: "x".repeat(big),
            result: CaseResult {
                mdc: "MDCG".into(),
                adrg: "GB1".into(),
                drg: "GB11".into(),
                drg_name: "胃手术".into(),
                status: "grouped".into(),
                method: "drg".into(),
                rule: "normal".into(),
                points: "123.4567".into(),
                yuan_fen: i as i64 * 31,
                point_value: "10.5".into(),
                trace: "分组".into(),
                points_json: "{}".into(),
                payable: i % 3 != 0,
                withheld: "Q1".into(),
                estimate_json: "{}".into(),
            },
            findings: (0..i % 3)
                .map(|k| NewFinding {
                    line: i as i64,
                    case_id: format!("C{i}"),
                    rule_id: format!("R{k}"),
                    severity: "error".into(),
                    field: (k == 1).then(|| "f".into()),
                    value: "v".into(),
                    message: "错".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn runs_end_before_a_repeated_case() {
        let mut v: Vec<NewCase> = (0..5).map(|i| case(i, 1)).collect();
        v[3] = case(1, 1);
        assert_eq!(run_end(&v, 0), 3);
        assert_eq!(run_end(&v, 3), 5);
    }
}

//! Turning an uploaded body into case versions: read, access check, QC, group, price.

use std::collections::HashMap;
use std::sync::Arc;

use claims::import::{Item, LineCount, Reader};
use store::{CaseResult, NewCase, NewFinding, NewUpload};

use crate::auth::Auth;
use crate::engines::{EngineKey, Engines};
use crate::error::ApiError;
use crate::history::YearBasis;
use crate::pipeline::{period_of, problem, Engine, Priced, Problem};

/// The records of a body, with the fields the file provides, its format and
/// its account of lines.
pub struct ReadBody {
    pub items: Vec<Item>,
    pub present: claims::FieldSet,
    pub format: &'static str,
    /// `lines = header + read + rejected + blank` (XLSX: rows; JSON Lines: no header).
    pub count: LineCount,
}

/// Read every record of a body (`name` guides format detection: `.csv`, `.jsonl`, `.xlsx`).
/// A record is one line (XLSX: row); a broken line is a rejected item, located,
/// and reading goes on at the next line.
pub fn read_body(name: &str, body: &[u8]) -> Result<ReadBody, ApiError> {
    let mut reader = Reader::open(name, body, None)
        .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?;
    let items: Vec<Item> = reader.by_ref().collect();
    let count = reader.line_count();
    if !count.balanced() {
        return Err(ApiError::internal(format!(
            "{name}: the account of lines does not balance ({count:?})"
        )));
    }
    Ok(ReadBody {
        items,
        present: reader.header.present,
        format: reader.format.as_str(),
        count,
    })
}

/// A case of the answer: where it was, what it became.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CaseOutcome {
    pub line: u64,
    pub institution_id: String,
    pub case_id: String,
    /// Filled after the commit.
    pub case_version_id: i64,
    pub version: i64,
    pub findings: Vec<Problem>,
    pub group: Group,
    pub trace: String,
    /// The pricing derivation (`points::Points`); rate-dependent figures are null
    /// while `points_pending`.
    pub points: serde_json::Value,
    /// Why the points are not known yet (the conversion rate is unavailable).
    pub points_pending: Option<String>,
    /// False: a withholding QC rule is broken (seed 000) — grouped and priced, not
    /// paid until a corrected version (same case id) is uploaded.
    pub payable: bool,
    /// The withholding findings: what to fix.
    pub withheld: Vec<Problem>,
    pub estimate: Estimate,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Group {
    pub mdc: String,
    pub adrg: String,
    pub drg: String,
    pub drg_name: String,
    pub status: String,
}

pub use crate::history::Estimate;

/// A prepared upload: what to commit and what to answer.
pub struct Prepared {
    pub upload: NewUpload,
    pub outcomes: Vec<CaseOutcome>,
    pub rejected: Vec<Problem>,
    pub plan: qc::FilePlan,
    /// The body's account of lines ([`ReadBody::count`]).
    pub count: LineCount,
}

fn reject(
    line: u64,
    case_id: &str,
    rule: &str,
    field: Option<&str>,
    value: &str,
    message: String,
) -> Problem {
    Problem {
        line,
        case_id: case_id.to_owned(),
        rule_id: rule.to_owned(),
        severity: "error".to_owned(),
        field: field.map(str::to_owned),
        value: value.to_owned(),
        message,
    }
}

pub(crate) fn to_new_finding(p: &Problem) -> NewFinding {
    NewFinding {
        line: p.line as i64,
        case_id: p.case_id.clone(),
        rule_id: p.rule_id.clone(),
        severity: p.severity.clone(),
        field: p.field.clone(),
        value: p.value.clone(),
        message: p.message.clone(),
    }
}

/// The day whose configuration prices a claim: its discharge date, else today.
pub fn pricing_day(c: &claims::Claim, today: &str) -> String {
    period_of(c).1.unwrap_or_else(|| today.to_owned())
}

pub fn today() -> String {
    chrono::Local::now().format("%Y-%m-%d").to_string()
}

/// The year whose rate and expected point values price a claim (of its pricing day).
pub fn pricing_year(day: &str) -> u16 {
    day.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0)
}

/// The engines and year bases (rate, expected point values) the records need.
#[derive(Default)]
pub struct Built {
    pub engines: HashMap<EngineKey, Arc<Engine>>,
    pub bases: HashMap<(EngineKey, u16), Arc<YearBasis>>,
}

/// Build the engines and year bases every readable record needs.
pub async fn engines_for(engines: &Engines, items: &[Item]) -> Result<Built, ApiError> {
    let today = today();
    let mut out = Built { engines: HashMap::new(), bases: HashMap::new() };
    let mut days: Vec<String> = items.iter().flatten().map(|it| pricing_day(&it.claim, &today)).collect();
    if days.is_empty() {
        days.push(today.clone());
    }
    for day in days {
        let k = engines.key_for(&day);
        if let std::collections::hash_map::Entry::Vacant(e) = out.engines.entry(k) {
            e.insert(engines.engine(k).await?);
        }
        let y = pricing_year(&day);
        if let std::collections::hash_map::Entry::Vacant(e) = out.bases.entry((k, y)) {
            e.insert(engines.basis(k, y).await?);
        }
    }
    Ok(out)
}

/// A record priced, waiting for the cross-record findings.
pub struct Done {
    line: u64,
    priced: Priced,
    problems: Vec<Problem>,
    withheld: Vec<String>,
    estimate: Estimate,
}

impl Done {
    /// No estimate of the payment could be made.
    pub fn estimate_unavailable(&self) -> bool {
        self.estimate.status == "unavailable"
    }
}

/// What one record became.
pub enum Step {
    /// Refused (unreadable, no key, not the user's, unknown institution, no engine).
    Rejected(Problem),
    /// Checked, grouped and priced.
    Case(Box<Done>),
}

/// The withholding findings of a case (what to fix), the file-level ones included.
fn withholding(rules: &qc::RuleSet, problems: &[Problem]) -> Vec<Problem> {
    problems.iter().filter(|p| rules.get(&p.rule_id).is_some_and(|r| r.withhold)).cloned().collect()
}

/// The records of one file, one at a time: QC, group and price every record;
/// refuse those a hospital user may not submit and those naming an
/// unregistered institution. A record breaking a withholding QC rule (or from
/// a file lacking a column such a rule requires) is grouped and priced but not
/// payable. The cross-record findings (stays after a recorded death) come at
/// [`Preparer::finish`]. Nothing is stored here.
pub struct Preparer<'a> {
    rules: &'a qc::RuleSet,
    engines: &'a Engines,
    checker: qc::Checker<'a>,
    pub plan: qc::FilePlan,
    file_level: Vec<Problem>,
    file_withheld: Vec<String>,
    institutions: std::collections::BTreeMap<String, points::Institution>,
    own: Option<String>,
    today: String,
    built: Built,
    /// Where engines not in `built` are fetched from (a blocking thread of the
    /// runtime); None: `built` must hold them all.
    runtime: Option<tokio::runtime::Handle>,
    findings: Vec<qc::Finding>,
    pub first_key: Option<EngineKey>,
    /// Discharge years of the cases (for [`Engines::cases_stored`]).
    pub years: std::collections::BTreeSet<u16>,
}

impl<'a> Preparer<'a> {
    pub fn new(
        auth: &Auth,
        present: claims::FieldSet,
        engines: &'a Engines,
        built: Built,
        runtime: Option<tokio::runtime::Handle>,
        rules: &'a qc::RuleSet,
        dicts: Option<&'a codes::Dictionaries>,
    ) -> Preparer<'a> {
        let mut checker = qc::Checker::new(rules, dicts);
        let plan = checker.begin_file(0, present);
        // Withholding rules the whole file breaks (a required column is absent), as `drgdip settle`.
        let mut file_level: Vec<Problem> = plan
            .missing_columns
            .iter()
            .filter(|(_, id)| rules.get(id).is_some_and(|r| r.withhold))
            .map(|(f, id)| Problem {
                line: 0,
                case_id: String::new(),
                rule_id: id.clone(),
                severity: "error".to_owned(),
                field: Some(f.name().to_owned()),
                value: String::new(),
                message: format!("文件缺少必填列 {}（规则 {id}）：本文件的病例均暂缓支付，请补齐该列后重新上传", f.name()),
            })
            .collect();
        file_level.sort_by(|a, b| (&a.rule_id, &a.field).cmp(&(&b.rule_id, &b.field)));
        file_level.dedup_by(|a, b| (&a.rule_id, &a.field) == (&b.rule_id, &b.field));
        let file_withheld: Vec<String> =
            file_level.iter().map(|p| format!("{}({})", p.rule_id, p.field.as_deref().unwrap_or(""))).collect();
        Preparer {
            rules,
            engines,
            checker,
            plan,
            file_level,
            file_withheld,
            institutions: engines.institutions_snapshot(),
            own: if auth.is_agency() { None } else { auth.user.institution_id.clone() },
            today: today(),
            built,
            runtime,
            findings: Vec::new(),
            first_key: None,
            years: Default::default(),
        }
    }

    /// The engine and year basis of a pricing day: from `built`, else fetched.
    fn engine_for(&mut self, key: EngineKey, year: u16) -> Result<(Arc<Engine>, Arc<YearBasis>), String> {
        if let (Some(e), Some(b)) = (self.built.engines.get(&key), self.built.bases.get(&(key, year))) {
            return Ok((e.clone(), b.clone()));
        }
        let Some(rt) = &self.runtime else { return Err("no engine for the configuration in force".into()) };
        let e = match self.built.engines.get(&key) {
            Some(e) => e.clone(),
            None => rt.block_on(self.engines.engine(key)).map_err(|e| e.message)?,
        };
        let b = rt.block_on(self.engines.basis(key, year)).map_err(|e| e.message)?;
        self.built.engines.insert(key, e.clone());
        self.built.bases.insert((key, year), b.clone());
        Ok((e, b))
    }

    /// One record (in file order).
    pub fn step(&mut self, item: &Item) -> Step {
        let rec = match item {
            Ok(r) => r,
            Err(e) => return Step::Rejected(reject(e.line, "", "READ", e.column.as_deref(), "", e.to_string())),
        };
        let c = &rec.claim;
        if c.case_id.trim().is_empty() {
            return Step::Rejected(reject(
                rec.line,
                "",
                "KEY",
                Some("case_id"),
                "",
                format!("line {}: no case_id (结算清单流水号): the record cannot be versioned", rec.line),
            ));
        }
        if c.institution_id.trim().is_empty() {
            return Step::Rejected(reject(
                rec.line,
                &c.case_id,
                "KEY",
                Some("institution_id"),
                "",
                format!("line {}: no institution_id (定点医疗机构代码)", rec.line),
            ));
        }
        // Identifiers are keys of versions and listings: refused when they hold what
        // would make two ids look alike (invisible or bidirectional characters) or are over-long.
        if let Some((field, v, (_, zh))) = [("case_id", &c.case_id), ("institution_id", &c.institution_id)]
            .into_iter()
            .find_map(|(f, v)| crate::validate::id_problem(v).map(|p| (f, v, p)))
        {
            let shown: String = v.chars().take(80).collect();
            return Step::Rejected(reject(rec.line, "", "KEY", Some(field), &shown, format!("第 {} 行：{field} {zh}；该记录不能受理", rec.line)));
        }
        if let Some(own) = &self.own {
            if &c.institution_id != own {
                return Step::Rejected(reject(
                    rec.line,
                    &c.case_id,
                    "ACCESS",
                    Some("institution_id"),
                    &c.institution_id,
                    format!("line {}: institution {} is not yours ({own}); record refused", rec.line, c.institution_id),
                ));
            }
        }
        let Some(inst) = self.institutions.get(&c.institution_id).cloned() else {
            return Step::Rejected(reject(
                rec.line,
                &c.case_id,
                "INSTITUTION",
                Some("institution_id"),
                &c.institution_id,
                format!(
                    "第 {} 行：机构 {} 未登记（institution_id 不在机构表中），其级别与系数未知，不能分组计点；请经办机构先登记该机构，再上传",
                    rec.line, c.institution_id
                ),
            ));
        };
        self.findings.clear();
        self.checker.check(rec, &mut self.findings);
        let rules = self.rules;
        let mut problems: Vec<Problem> = self.findings.iter().map(|f| problem(rules, f)).collect();
        problems.extend(self.file_level.iter().map(|p| Problem { line: rec.line, case_id: c.case_id.clone(), ..p.clone() }));
        let day = pricing_day(c, &self.today);
        let key = self.engines.key_for(&day);
        self.first_key.get_or_insert(key);
        let (engine, basis) = match self.engine_for(key, pricing_year(&day)) {
            Ok(eb) => eb,
            Err(why) => return Step::Rejected(reject(rec.line, &c.case_id, "ENGINE", None, "", format!("line {}: {why}", rec.line))),
        };
        let mut withheld = rules.withheld_by(&self.findings);
        withheld.extend(self.file_withheld.iter().cloned());
        withheld.sort();
        let priced: Priced = engine.price(rec, &inst, &basis.conv, &withheld);
        let estimate = basis.estimate(
            priced.total(),
            priced.pending.as_deref(),
            crate::history::insurance_of(c),
            &priced.points.credited_to,
            &self.institutions,
        );
        if let Some(y) = period_of(c).0.get(..4).and_then(|y| y.parse().ok()) {
            self.years.insert(y);
        }
        Step::Case(Box::new(Done { line: rec.line, priced, problems, withheld, estimate }))
    }

    /// The cross-record findings, once every record has been seen (as problems, by line).
    pub fn finish(self) -> Vec<Problem> {
        let mut late = Vec::new();
        self.checker.finish(&mut late);
        late.iter().map(|f| problem(self.rules, f)).collect()
    }
}

/// A late finding added to a prepared record: withholding when its rule withholds.
fn amend(rules: &qc::RuleSet, d: &mut Done, p: Problem) {
    if rules.get(&p.rule_id).is_some_and(|r| r.withhold) && !d.withheld.contains(&p.rule_id) {
        d.withheld.push(p.rule_id.clone());
        d.withheld.sort();
        d.priced.points.payable = false;
        d.priced.points.withheld_reason = d.withheld.clone();
    }
    d.problems.push(p);
}

/// The case version to store and, when `listed`, the answer's account of a prepared record.
pub fn to_case(rules: &qc::RuleSet, c: &claims::Claim, d: Done, listed: bool) -> (NewCase, Option<CaseOutcome>) {
    let p = d.priced;
    let (period, discharge_date) = period_of(c);
    let points_json = p.points_json();
    let findings = d.problems.iter().map(to_new_finding).collect();
    if !listed {
        let payable = d.withheld.is_empty();
        let result = CaseResult {
            points: p.total().map(|t| t.to_string()).unwrap_or_default(),
            method: p.points.method.as_str().to_owned(),
            rule: p.points.rule.as_str().to_owned(),
            yuan_fen: d.estimate.fen.unwrap_or(0),
            point_value: d.estimate.point_value.clone().unwrap_or_default(),
            points_json: points_json.to_string(),
            payable,
            withheld: d.withheld.join(","),
            estimate_json: serde_json::to_string(&d.estimate).unwrap_or_default(),
            mdc: p.mdc,
            adrg: p.adrg,
            drg: p.drg,
            drg_name: p.drg_name,
            status: p.status,
            trace: p.trace,
        };
        let case = NewCase {
            institution_id: c.institution_id.clone(),
            case_id: c.case_id.clone(),
            line: d.line as i64,
            period,
            discharge_date,
            claim_json: serde_json::to_string(c).unwrap_or_default(),
            result,
            findings,
        };
        return (case, None);
    }
    let e = &d.estimate;
    let result = CaseResult {
        mdc: p.mdc.clone(),
        adrg: p.adrg.clone(),
        drg: p.drg.clone(),
        drg_name: p.drg_name.clone(),
        status: p.status.clone(),
        method: p.points.method.as_str().to_owned(),
        rule: p.points.rule.as_str().to_owned(),
        points: p.total().map(|t| t.to_string()).unwrap_or_default(),
        yuan_fen: e.fen.unwrap_or(0),
        point_value: e.point_value.clone().unwrap_or_default(),
        trace: p.trace.clone(),
        points_json: points_json.to_string(),
        payable: d.withheld.is_empty(),
        withheld: d.withheld.join(","),
        estimate_json: serde_json::to_string(e).unwrap_or_default(),
    };
    let case = NewCase {
        institution_id: c.institution_id.clone(),
        case_id: c.case_id.clone(),
        line: d.line as i64,
        period,
        discharge_date,
        claim_json: serde_json::to_string(c).unwrap_or_default(),
        result,
        findings,
    };
    let outcome = CaseOutcome {
        line: d.line,
        institution_id: c.institution_id.clone(),
        case_id: c.case_id.clone(),
        case_version_id: 0,
        version: 0,
        withheld: withholding(rules, &d.problems),
        payable: d.withheld.is_empty(),
        findings: d.problems,
        group: Group { mdc: p.mdc, adrg: p.adrg, drg: p.drg, drg_name: p.drg_name, status: p.status },
        trace: p.trace,
        points: points_json,
        points_pending: p.pending,
        estimate: d.estimate,
    };
    (case, Some(outcome))
}

/// The store's amendment for a late finding of an already written record.
pub fn to_amendment(rules: &qc::RuleSet, p: &Problem) -> store::Amendment {
    store::Amendment { line: p.line as i64, finding: to_new_finding(p), withholds: rules.get(&p.rule_id).is_some_and(|r| r.withhold) }
}

/// QC, group and price every record of a body held in memory (a single upload,
/// the demo's batches); see [`Preparer`]. Nothing is stored here.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    auth: &Auth,
    kind: &str,
    file_name: &str,
    read: ReadBody,
    engines: &Engines,
    built: &Built,
    rules: &qc::RuleSet,
    dicts: Option<&codes::Dictionaries>,
) -> Prepared {
    let built = Built { engines: built.engines.clone(), bases: built.bases.clone() };
    let mut prep = Preparer::new(auth, read.present, engines, built, None, rules, dicts);
    let mut rejected: Vec<Problem> = Vec::new();
    let mut by_line: HashMap<u64, usize> = HashMap::new();
    let mut done: Vec<(usize, Done)> = Vec::new();
    let records = read.items.len() as i64;
    for (ix, item) in read.items.iter().enumerate() {
        match prep.step(item) {
            Step::Rejected(p) => rejected.push(p),
            Step::Case(d) => {
                by_line.insert(d.line, done.len());
                done.push((ix, *d));
            }
        }
    }
    let first_key = prep.first_key;
    let plan = prep.plan.clone();
    for p in prep.finish() {
        if let Some(&i) = by_line.get(&p.line) {
            amend(rules, &mut done[i].1, p);
        }
    }
    let mut cases: Vec<NewCase> = Vec::with_capacity(done.len());
    let mut outcomes: Vec<CaseOutcome> = Vec::with_capacity(done.len());
    for (ix, d) in done {
        let Ok(rec) = &read.items[ix] else { continue };
        let (c, o) = to_case(rules, &rec.claim, d, true);
        cases.push(c);
        outcomes.extend(o);
    }
    let key = first_key.unwrap_or((None, None, None, None));
    let upload = NewUpload {
        actor: auth.actor(),
        institution_id: if auth.is_agency() { None } else { auth.user.institution_id.clone() },
        kind: kind.to_owned(),
        file_name: file_name.to_owned(),
        format: read.format.to_owned(),
        records,
        scheme_id: key.0,
        params_id: key.1,
        weights_id: key.2,
        cases,
        rejected: rejected.iter().map(to_new_finding).collect(),
    };
    Prepared { upload, outcomes, rejected, plan, count: read.count }
}

/// The discharge years of the cases of an upload (for [`Engines::cases_stored`]).
pub fn years_of(up: &NewUpload) -> Vec<u16> {
    let mut y: Vec<u16> = up.cases.iter().filter_map(|c| c.period.get(..4)?.parse().ok()).collect();
    y.sort_unstable();
    y.dedup();
    y
}

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

fn to_new_finding(p: &Problem) -> NewFinding {
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
struct Done {
    line: u64,
    claim: usize,
    priced: Priced,
    problems: Vec<Problem>,
    withheld: Vec<String>,
    estimate: Estimate,
}

/// The withholding findings of a case (what to fix), the file-level ones included.
fn withholding(rules: &qc::RuleSet, problems: &[Problem]) -> Vec<Problem> {
    problems.iter().filter(|p| rules.get(&p.rule_id).is_some_and(|r| r.withhold)).cloned().collect()
}

/// QC, group and price every record; refuse those a hospital user may not
/// submit and those naming an unregistered institution. A record breaking a
/// withholding QC rule (or from a file lacking a column such a rule requires) is
/// grouped and priced but not payable. Nothing is stored here.
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
    let today = today();
    let mut checker = qc::Checker::new(rules, dicts);
    let plan = checker.begin_file(0, read.present);
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
    let institutions = engines.institutions_snapshot();
    let own = if auth.is_agency() {
        None
    } else {
        auth.user.institution_id.clone()
    };
    let mut rejected: Vec<Problem> = Vec::new();
    let mut by_line: HashMap<u64, usize> = HashMap::new();
    let mut done: Vec<Done> = Vec::new();
    let mut findings = Vec::new();
    let records = read.items.len() as i64;
    let mut first_key: Option<EngineKey> = None;
    for (ix, item) in read.items.iter().enumerate() {
        let rec = match item {
            Ok(r) => r,
            Err(e) => {
                rejected.push(reject(
                    e.line,
                    "",
                    "READ",
                    e.column.as_deref(),
                    "",
                    e.to_string(),
                ));
                continue;
            }
        };
        let c = &rec.claim;
        if c.case_id.trim().is_empty() {
            rejected.push(reject(
                rec.line,
                "",
                "KEY",
                Some("case_id"),
                "",
                format!(
                    "line {}: no case_id (结算清单流水号): the record cannot be versioned",
                    rec.line
                ),
            ));
            continue;
        }
        if c.institution_id.trim().is_empty() {
            rejected.push(reject(
                rec.line,
                &c.case_id,
                "KEY",
                Some("institution_id"),
                "",
                format!("line {}: no institution_id (定点医疗机构代码)", rec.line),
            ));
            continue;
        }
        // Identifiers are keys of versions and listings: refused when they hold what
        // would make two ids look alike (invisible or bidirectional characters) or are over-long.
        if let Some((field, v, (_, zh))) = [("case_id", &c.case_id), ("institution_id", &c.institution_id)]
            .into_iter()
            .find_map(|(f, v)| crate::validate::id_problem(v).map(|p| (f, v, p)))
        {
            let shown: String = v.chars().take(80).collect();
            rejected.push(reject(
                rec.line,
                "",
                "KEY",
                Some(field),
                &shown,
                format!("第 {} 行：{field} {zh}；该记录不能受理", rec.line),
            ));
            continue;
        }
        if let Some(own) = &own {
            if &c.institution_id != own {
                rejected.push(reject(
                    rec.line,
                    &c.case_id,
                    "ACCESS",
                    Some("institution_id"),
                    &c.institution_id,
                    format!(
                        "line {}: institution {} is not yours ({own}); record refused",
                        rec.line, c.institution_id
                    ),
                ));
                continue;
            }
        }
        let Some(inst) = institutions.get(&c.institution_id) else {
            rejected.push(reject(
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
            continue;
        };
        findings.clear();
        checker.check(rec, &mut findings);
        let mut problems: Vec<Problem> = findings.iter().map(|f| problem(rules, f)).collect();
        problems.extend(file_level.iter().map(|p| Problem { line: rec.line, case_id: c.case_id.clone(), ..p.clone() }));
        let day = pricing_day(c, &today);
        let key = engines.key_for(&day);
        first_key.get_or_insert(key);
        let (Some(engine), Some(basis)) = (built.engines.get(&key), built.bases.get(&(key, pricing_year(&day)))) else {
            rejected.push(reject(
                rec.line,
                &c.case_id,
                "ENGINE",
                None,
                "",
                format!(
                    "line {}: no engine for the configuration in force",
                    rec.line
                ),
            ));
            continue;
        };
        let mut withheld = rules.withheld_by(&findings);
        withheld.extend(file_withheld.iter().cloned());
        withheld.sort();
        let priced: Priced = engine.price(rec, inst, &basis.conv, &withheld);
        let estimate = basis.estimate(
            priced.total(),
            priced.pending.as_deref(),
            crate::history::insurance_of(c),
            &priced.points.credited_to,
            &institutions,
        );
        by_line.insert(rec.line, done.len());
        done.push(Done { line: rec.line, claim: ix, priced, problems, withheld, estimate });
    }
    // Cross-record findings (duplicates within the file, stays after a death).
    let mut late = Vec::new();
    checker.finish(&mut late);
    for f in &late {
        if let Some(&i) = by_line.get(&f.line) {
            let p = problem(rules, f);
            let d = &mut done[i];
            if rules.get(&p.rule_id).is_some_and(|r| r.withhold) && !d.withheld.contains(&p.rule_id) {
                d.withheld.push(p.rule_id.clone());
                d.withheld.sort();
                d.priced.points.payable = false;
                d.priced.points.withheld_reason = d.withheld.clone();
            }
            d.problems.push(p);
        }
    }
    let mut cases: Vec<NewCase> = Vec::with_capacity(done.len());
    let mut outcomes: Vec<CaseOutcome> = Vec::with_capacity(done.len());
    for d in done {
        let Ok(rec) = &read.items[d.claim] else { continue };
        let c = &rec.claim;
        let p = d.priced;
        let (period, discharge_date) = period_of(c);
        let points_json = p.points_json();
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
        cases.push(NewCase {
            institution_id: c.institution_id.clone(),
            case_id: c.case_id.clone(),
            line: d.line as i64,
            period,
            discharge_date,
            claim_json: serde_json::to_string(c).unwrap_or_default(),
            result,
            findings: d.problems.iter().map(to_new_finding).collect(),
        });
        outcomes.push(CaseOutcome {
            line: d.line,
            institution_id: c.institution_id.clone(),
            case_id: c.case_id.clone(),
            case_version_id: 0,
            version: 0,
            withheld: withholding(rules, &d.problems),
            payable: d.withheld.is_empty(),
            findings: d.problems,
            group: Group {
                mdc: p.mdc,
                adrg: p.adrg,
                drg: p.drg,
                drg_name: p.drg_name,
                status: p.status,
            },
            trace: p.trace,
            points: points_json,
            points_pending: p.pending,
            estimate: d.estimate,
        });
    }
    let key = first_key.unwrap_or((None, None, None, None));
    let upload = NewUpload {
        actor: auth.actor(),
        institution_id: own,
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
    Prepared {
        upload,
        outcomes,
        rejected,
        plan,
        count: read.count,
    }
}

/// The discharge years of the cases of an upload (for [`Engines::cases_stored`]).
pub fn years_of(up: &NewUpload) -> Vec<u16> {
    let mut y: Vec<u16> = up.cases.iter().filter_map(|c| c.period.get(..4)?.parse().ok()).collect();
    y.sort_unstable();
    y.dedup();
    y
}

//! Turning an uploaded body into case versions: read, access check, QC, group, price.

use std::collections::HashMap;
use std::sync::Arc;

use claims::import::{Item, LineCount, Reader};
use rust_decimal::Decimal;
use store::{CaseResult, NewCase, NewFinding, NewUpload};

use crate::auth::Auth;
use crate::engines::{EngineKey, Engines};
use crate::error::ApiError;
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
    pub points: points::Points,
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

/// Estimated payment: points × (provisional) point value.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Estimate {
    #[serde(with = "rust_decimal::serde::str")]
    pub points: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub point_value: Decimal,
    /// Yuan, two decimals.
    pub yuan: String,
    pub fen: i64,
}

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

/// Build the engines every readable record needs.
pub async fn engines_for(
    engines: &Engines,
    items: &[Item],
) -> Result<HashMap<EngineKey, Arc<Engine>>, ApiError> {
    let today = today();
    let mut out = HashMap::new();
    for it in items.iter().flatten() {
        let k = engines.key_for(&pricing_day(&it.claim, &today));
        if let std::collections::hash_map::Entry::Vacant(e) = out.entry(k) {
            e.insert(engines.engine(k).await?);
        }
    }
    if out.is_empty() {
        let k = engines.key_for(&today);
        out.insert(k, engines.engine(k).await?);
    }
    Ok(out)
}

/// QC, group and price every record; refuse those a hospital user may not
/// submit. Nothing is stored here.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    auth: &Auth,
    kind: &str,
    file_name: &str,
    read: ReadBody,
    engines: &Engines,
    built: &HashMap<EngineKey, Arc<Engine>>,
    rules: &qc::RuleSet,
    dicts: Option<&codes::Dictionaries>,
) -> Prepared {
    let today = today();
    let mut checker = qc::Checker::new(rules, dicts);
    let plan = checker.begin_file(0, read.present);
    let own = if auth.is_agency() {
        None
    } else {
        auth.user.institution_id.clone()
    };
    let mut outcomes: Vec<CaseOutcome> = Vec::new();
    let mut cases: Vec<NewCase> = Vec::new();
    let mut rejected: Vec<Problem> = Vec::new();
    let mut by_line: HashMap<u64, usize> = HashMap::new();
    let mut findings = Vec::new();
    let records = read.items.len() as i64;
    let mut first_key: Option<EngineKey> = None;
    for item in &read.items {
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
        findings.clear();
        checker.check(rec, &mut findings);
        let problems: Vec<Problem> = findings.iter().map(|f| problem(rules, f)).collect();
        let key = engines.key_for(&pricing_day(c, &today));
        first_key.get_or_insert(key);
        let Some(engine) = built.get(&key) else {
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
        let inst = engines.institution(&c.institution_id);
        let p: Priced = engine.price(rec, &inst);
        let (period, discharge_date) = period_of(c);
        let est = Estimate {
            points: p.points.total,
            point_value: p.point_value,
            yuan: Decimal::new(p.estimated.0, 2).to_string(),
            fen: p.estimated.0,
        };
        let result = CaseResult {
            mdc: p.mdc.clone(),
            adrg: p.adrg.clone(),
            drg: p.drg.clone(),
            drg_name: p.drg_name.clone(),
            status: p.status.clone(),
            method: p.points.method.as_str().to_owned(),
            rule: p.points.rule.as_str().to_owned(),
            points: p.points.total.to_string(),
            yuan_fen: p.estimated.0,
            point_value: p.point_value.to_string(),
            trace: p.trace.clone(),
            points_json: serde_json::to_string(&p.points).unwrap_or_default(),
        };
        by_line.insert(rec.line, outcomes.len());
        cases.push(NewCase {
            institution_id: c.institution_id.clone(),
            case_id: c.case_id.clone(),
            line: rec.line as i64,
            period,
            discharge_date,
            claim_json: serde_json::to_string(c).unwrap_or_default(),
            result,
            findings: problems.iter().map(to_new_finding).collect(),
        });
        outcomes.push(CaseOutcome {
            line: rec.line,
            institution_id: c.institution_id.clone(),
            case_id: c.case_id.clone(),
            case_version_id: 0,
            version: 0,
            findings: problems,
            group: Group {
                mdc: p.mdc,
                adrg: p.adrg,
                drg: p.drg,
                drg_name: p.drg_name,
                status: p.status,
            },
            trace: p.trace,
            points: p.points,
            estimate: est,
        });
    }
    // Cross-record findings (duplicates within the file, stays after a death).
    let mut late = Vec::new();
    checker.finish(&mut late);
    for f in &late {
        if let Some(&i) = by_line.get(&f.line) {
            let p = problem(rules, f);
            cases[i].findings.push(to_new_finding(&p));
            outcomes[i].findings.push(p);
        }
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

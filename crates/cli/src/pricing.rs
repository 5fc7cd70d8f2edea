//! One pass over a year's settlement lists as payment sees them, shared by
//! `drgdip points` and `drgdip settle`: every record is checked (QC gates payment,
//! seed 000), grouped and priced; versions of the same (institution, case) are
//! resolved (the later one wins); institutions and special cases the files name
//! but the inputs do not define are errors. The caller keeps what it needs of each
//! case and applies the pass's verdicts at the end ([`PassReport`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use claims::import::Record;
use rayon::prelude::*;

use crate::claims_io::{Batches, Event};
use crate::cmd_budget::Roster;
use crate::cmd_points::Classifier;

/// The QC rules that gate payment and the dictionaries the coding rules read.
pub struct Gate {
    pub rules: qc::RuleSet,
    pub dicts: Option<codes::Dictionaries>,
}

impl Gate {
    /// `--rules FILE` (default: the built-in rules) and `--codes DIR` (optional; without
    /// it the coding-compliance rules cannot run and say so).
    pub fn load(rules: Option<&Path>, codes: Option<&Path>) -> anyhow::Result<Gate> {
        let rules = match rules {
            Some(p) => qc::RuleSet::from_toml(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("{}", p.display()))?,
            None => qc::RuleSet::builtin(),
        };
        let dicts = codes.map(crate::codes_io::load).transpose()?;
        if dicts.is_none() {
            eprintln!(
                "note: no --codes DIR: the coding-compliance QC rules (D001–D006) cannot run, so they withhold nothing"
            );
        }
        Ok(Gate { rules, dicts })
    }
}

/// Approved special cases (特例单议) by case id, as read from `--special-cases`.
#[derive(Default)]
pub struct SpecialCases {
    pub ids: BTreeSet<String>,
    pub file: Option<PathBuf>,
}

/// Everything one pass needs to price a case.
pub struct Pricing<'a> {
    pub classifier: &'a Classifier,
    pub roster: &'a Roster,
    pub params: &'a points::Params,
    pub conv: &'a points::Conversion,
    pub special: &'a SpecialCases,
    pub gate: &'a Gate,
}

/// Where a record was read: file index and line.
pub type Loc = (u32, u64);

/// The verdicts of a pass, applied by the caller to what it kept of each case
/// (cases are numbered 0, 1, … in input order).
pub struct PassReport {
    pub records: u64,
    pub rejected: u64,
    /// Withholding rule ids found only once every record was seen (cross-record
    /// rules such as L024, a stay after the patient's death), by case number.
    pub late_withheld: BTreeMap<u32, Vec<String>>,
    /// Which cases a later version replaced.
    pub versions: claims::Versions,
    /// Location of every case, by case number.
    pub locs: Vec<Loc>,
    /// Special-case ids that matched a case.
    pub special_matched: BTreeSet<String>,
    pub names: Vec<String>,
}

impl PassReport {
    pub fn superseded(&self, case: u32) -> bool {
        self.versions.is_superseded(case)
    }

    /// The number of the case read at `loc`.
    pub fn case_at(&self, loc: Loc) -> Option<u32> {
        self.locs.binary_search(&loc).ok().map(|i| i as u32)
    }

    pub fn describe(&self, loc: Loc) -> String {
        format!("{} line {}", self.names[loc.0 as usize], loc.1)
    }
}

/// The points of a claim with its withholding QC rules.
pub fn price(p: &Pricing<'_>, c: &claims::Claim, withheld: &[String]) -> points::Points {
    let inst = p
        .roster
        .institutions
        .get(&c.institution_id)
        .expect("institutions are checked before pricing");
    let standard = p.classifier.standard(c, inst);
    let input = points::CaseInput {
        case_id: &c.case_id,
        group: standard.as_ref(),
        total_cost: c.total_cost.unwrap_or_default(),
        innovative_drug_cost: c.innovative_drug_cost.unwrap_or_default(),
        los: c.los.unwrap_or(0),
        main_dx: c.main_diagnosis.as_deref().unwrap_or(""),
        special_case: p.special.ids.contains(&c.case_id),
        withheld,
    };
    points::price(p.params, p.conv, inst, &input)
}

/// Read `files` once: QC, group and price every record on all cores, then hand
/// each case to `sink` in input order with its number. Stops with an error naming
/// them when records name institutions the institutions table lacks.
pub fn pass<T: Send>(
    files: &[PathBuf],
    p: &Pricing<'_>,
    map: impl Fn(&Record, points::Points) -> T + Sync,
    mut sink: impl FnMut(u32, &Record, T),
) -> anyhow::Result<PassReport> {
    let rules = &p.gate.rules;
    let mut checker = qc::Checker::new(rules, p.gate.dicts.as_ref());
    let mut batches = Batches::new(files);
    let names: Vec<String> = batches.names().to_vec();
    let mut report = PassReport {
        records: 0,
        rejected: 0,
        late_withheld: BTreeMap::new(),
        versions: claims::Versions::new(),
        locs: Vec::new(),
        special_matched: BTreeSet::new(),
        names: names.clone(),
    };
    let mut unknown: BTreeMap<String, (Loc, u64)> = BTreeMap::new();
    let mut duplicates: Vec<String> = Vec::new();
    let mut rejected_in_file: Vec<u64> = vec![0; files.len()];
    let mut file_errors = Vec::new();
    // Withholding rules a whole file breaks (a required column is absent).
    let mut file_withheld: Vec<String> = Vec::new();
    let mut cross = Vec::new();
    while let Some(ev) = batches.next_event() {
        match ev {
            Event::FileStart { file } => {
                let header = batches.header().expect("a file is open");
                let plan = checker.begin_file(file, header.present);
                file_withheld = plan
                    .missing_columns
                    .iter()
                    .filter(|(_, id)| rules.get(id).is_some_and(|r| r.withhold))
                    .map(|(f, id)| format!("{id}({})", f.name()))
                    .collect();
                file_withheld.sort();
                file_withheld.dedup();
                if !file_withheld.is_empty() {
                    eprintln!(
                        "warning: {}: required columns absent, every case of the file is withheld from payment: {}",
                        names[file as usize],
                        file_withheld.join(", ")
                    );
                }
            }
            Event::FileError { message, .. } => file_errors.push(message),
            Event::FileEnd { file, lines } => {
                crate::claims_io::report_lines(&names[file as usize], &lines, &crate::claims_io::qc_hint(&names[file as usize]));
            }
            Event::Records { file, items } => {
                let ck = &checker;
                let fw = &file_withheld;
                let done: Vec<Option<T>> = items
                    .par_iter()
                    .map(|item| {
                        let rec = item.as_ref().ok()?;
                        if !p.roster.institutions.contains_key(&rec.claim.institution_id) {
                            return None;
                        }
                        let mut f = Vec::new();
                        ck.check_local(rec, &mut f);
                        let mut withheld = rules.withheld_by(&f);
                        withheld.extend(fw.iter().cloned());
                        Some(map(rec, price(p, &rec.claim, &withheld)))
                    })
                    .collect();
                for (item, t) in items.iter().zip(done) {
                    let rec = match item {
                        Ok(rec) => rec,
                        Err(_) => {
                            report.rejected += 1;
                            rejected_in_file[file as usize] += 1;
                            continue;
                        }
                    };
                    let Some(t) = t else {
                        let e = unknown
                            .entry(rec.claim.institution_id.clone())
                            .or_insert(((file, rec.line), 0));
                        e.1 += 1;
                        continue;
                    };
                    cross.clear();
                    checker.observe(rec, &mut cross);
                    let n = report.locs.len() as u32;
                    report.locs.push((file, rec.line));
                    report.records += 1;
                    if let Some(j) = report.versions.push(&rec.claim.institution_id, &rec.claim.case_id) {
                        if duplicates.len() < 10 {
                            duplicates.push(format!(
                                "({}, {}): {} and {}",
                                rec.claim.institution_id,
                                rec.claim.case_id,
                                report.describe(report.locs[j as usize]),
                                report.describe((file, rec.line))
                            ));
                        }
                    }
                    if p.special.ids.contains(&rec.claim.case_id) {
                        report.special_matched.insert(rec.claim.case_id.clone());
                    }
                    sink(n, rec, t);
                }
            }
        }
    }
    if !file_errors.is_empty() {
        anyhow::bail!("{}", file_errors.join("\n"));
    }
    if !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .take(20)
            .map(|(id, (loc, n))| format!("{id} ({n} cases, first at {})", report.describe(*loc)))
            .collect();
        anyhow::bail!(
            "{} institutions named by the settlement lists are not in the institutions table, so their level and \
             coefficient are unknown: {}",
            unknown.len(),
            list.join("; ")
        );
    }
    let mut late = Vec::new();
    checker.finish(&mut late);
    for f in &late {
        let Some(r) = rules.rules.get(f.rule as usize) else { continue };
        if !r.withhold {
            continue;
        }
        if let Some(n) = report.case_at((f.file, f.line)) {
            let v = report.late_withheld.entry(n).or_default();
            if !v.contains(&r.id) {
                v.push(r.id.clone());
                v.sort();
            }
        }
    }
    if report.versions.replaced() > 0 {
        eprintln!(
            "warning: {} cases were given more than once (same institution and case id); the later version is used and the earlier dropped: {}{}",
            report.versions.replaced(),
            duplicates.join("; "),
            if report.versions.replaced() > duplicates.len() as u64 { "; …" } else { "" }
        );
    }
    let unmatched: Vec<&String> = p.special.ids.difference(&report.special_matched).collect();
    if !unmatched.is_empty() {
        let file = p.special.file.as_ref().map(|f| f.display().to_string()).unwrap_or_default();
        anyhow::bail!(
            "{file}: {} special-case ids match no case of the settlement lists: {}",
            unmatched.len(),
            unmatched.iter().take(20).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(report)
}

/// Approved special cases of an institution and quarter beyond the quota the
/// parameters give (`special_cases.drg_quota` / `dip_quota`): an error naming them.
/// `counts`: (institution, quarter) → (discharges, approved special cases).
pub fn check_special_quota(
    params: &points::Params,
    counts: &BTreeMap<(String, u8), (u64, u64)>,
    file: Option<&Path>,
) -> anyhow::Result<()> {
    let over: Vec<String> = counts
        .iter()
        .filter_map(|((inst, q), (discharges, special))| {
            let quota = params.special_case_quota(*discharges);
            (*special > quota).then(|| {
                format!(
                    "{inst} Q{q}: {special} special cases, quota {quota} ({} of {discharges} discharges)",
                    params.special_case_rate().normalize()
                )
            })
        })
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{}: approved special cases above the quota (special_cases in the points parameters, seed 003 三(一)): {}",
        file.map(|f| f.display().to_string()).unwrap_or_default(),
        over.join("; ")
    )
}

pub use settle::HistoryYear;

/// Read last year's settlement lists: totals per settled institution (alliance
/// members credited to their lead, seed 002 §26) and insurance type, and — when
/// `pricing` is given — their points for the conversion rate and the expected
/// point value. The same (institution, case) given twice counts once (the later).
/// Money that converts to points is counted in yuan here (the rate is what this
/// pass derives), so `pricing.conv` is ignored.
pub fn history_pass(files: &[PathBuf], roster: &Roster, pricing: Option<&Pricing<'_>>) -> anyhow::Result<HistoryYear> {
    /// A history case as read and priced on a worker.
    struct Row {
        ins: Option<settle::Insurance>,
        inst: String,
        case: String,
        total: claims::Fen,
        fund: claims::Fen,
        /// (group points, yuan that converts) and its share of the rate basis.
        priced: Option<((i64, i64), points::RateBasis)>,
        loc: Loc,
    }
    /// The same, kept until every version is known (names interned).
    struct Kept {
        ins: Option<settle::Insurance>,
        inst: u32,
        total: claims::Fen,
        fund: claims::Fen,
        priced: Option<((i64, i64), points::RateBasis)>,
        loc: Loc,
    }
    let unit = points::Conversion::fixed(rust_decimal::Decimal::ONE);
    let priced = pricing.map(|p| Pricing { conv: &unit, ..*p });
    let mut kept: Vec<Kept> = Vec::new();
    let mut versions = claims::Versions::new();
    let mut inst_index: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut inst_names: Vec<String> = Vec::new();
    let mut unknown: BTreeMap<String, (Loc, u64)> = BTreeMap::new();
    let mut batches = Batches::new(files);
    while let Some(ev) = batches.next_event() {
        match ev {
            Event::FileStart { .. } => {}
            Event::FileError { message, .. } => anyhow::bail!("{message}"),
            Event::FileEnd { file, lines } => {
                let name = &batches.names()[file as usize];
                crate::claims_io::report_lines(name, &lines, &crate::claims_io::qc_hint(name));
            }
            Event::Records { items, file } => {
                let done: Vec<Option<Row>> = items
                    .par_iter()
                    .map(|item| {
                        let rec = item.as_ref().ok()?;
                        let c = &rec.claim;
                        let known = roster.institutions.contains_key(&c.institution_id);
                        let mut row = Row {
                            ins: crate::cmd_budget::insurance_of(c),
                            inst: c.institution_id.clone(),
                            case: c.case_id.clone(),
                            total: c.total_cost.unwrap_or_default(),
                            fund: c.fund_paid.unwrap_or_default(),
                            priced: None,
                            loc: (file, rec.line),
                        };
                        if let (Some(p), true) = (&priced, known) {
                            let pt = price(p, c, &[]);
                            let mut basis = points::RateBasis::default();
                            basis.add(&pt, c.los.unwrap_or(0));
                            row.priced = Some((settle::history::history_points(&pt), basis));
                        }
                        Some(row)
                    })
                    .collect();
                for r in done.into_iter().flatten() {
                    versions.push(&r.inst, &r.case);
                    let next = inst_names.len() as u32;
                    let inst = *inst_index.entry(r.inst.clone()).or_insert_with(|| {
                        inst_names.push(r.inst.clone());
                        next
                    });
                    kept.push(Kept { ins: r.ins, inst, total: r.total, fund: r.fund, priced: r.priced, loc: r.loc });
                }
            }
        }
    }
    let mut h = HistoryYear { replaced: versions.replaced(), ..HistoryYear::default() };
    for (i, r) in kept.iter().enumerate() {
        if versions.is_superseded(i as u32) {
            continue;
        }
        let inst = &inst_names[r.inst as usize];
        if !roster.institutions.is_empty() && !roster.institutions.contains_key(inst) {
            unknown.entry(inst.clone()).or_insert((r.loc, 0)).1 += 1;
            continue;
        }
        let Some(ins) = r.ins else {
            h.other_insurance += 1;
            continue;
        };
        h.add_priced(roster.settled_with(inst), ins, r.total, r.fund, r.priced.as_ref().map(|(p, b)| (*p, b)));
    }
    if !unknown.is_empty() {
        let names = batches.names();
        let list: Vec<String> = unknown
            .iter()
            .take(20)
            .map(|(i, ((f, l), n))| format!("{i} ({n} cases, first at {} line {l})", names[*f as usize]))
            .collect();
        anyhow::bail!(
            "history: {} institutions named by last year's settlement lists are not in the institutions table: {}",
            unknown.len(),
            list.join("; ")
        );
    }
    if h.replaced > 0 {
        eprintln!("warning: history: {} cases were given more than once; the later version is used", h.replaced);
    }
    if h.other_insurance > 0 {
        eprintln!("note: {} history cases of other insurance types are not part of the 职工/居民 budgets", h.other_insurance);
    }
    Ok(h)
}

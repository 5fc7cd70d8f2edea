//! `drgdip settle`: the year's settlement cycle from settlement lists — points of
//! every case (the `points` crate, as `drgdip points`), the budget from last
//! year's history, monthly prepayments, quarterly pre-settlements, the annual
//! settlement, statements per hospital (CSV and XLSX), the region summary and the
//! simulated payment (seed 002 chapter 5; seed 003 二).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use claims::Fen;
use rust_decimal::Decimal;
use settle::{statement, Cell, HospitalInputs, Insurance, Key, Ledger, Method, Pts, SubCategory};

#[derive(clap::Args)]
pub struct SettleArgs {
    /// Budget and settlement parameters (TOML); default: built-in.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Points parameters (TOML, as `drgdip points --params`); default: built-in.
    #[arg(long)]
    pub points_params: Option<PathBuf>,
    /// Settlement year; cases discharged in other years are skipped.
    #[arg(long)]
    pub year: u16,
    /// Settlement lists of the year.
    #[arg(long, required = true, num_args = 1..)]
    pub cases: Vec<PathBuf>,
    /// DRG scheme directory.
    #[arg(long)]
    pub scheme: PathBuf,
    /// Weights table (`drgdip weights calibrate`).
    #[arg(long)]
    pub weights: PathBuf,
    /// Institutions table (level, TCM flag, alliance lead).
    #[arg(long)]
    pub institutions: Option<PathBuf>,
    /// Approved special cases (特例单议), one case id per line.
    #[arg(long)]
    pub special_cases: Option<PathBuf>,
    /// Last year's totals table (see `drgdip budget --history`).
    #[arg(long)]
    pub history: Vec<PathBuf>,
    /// Last year's settlement lists, for the inpatient history.
    #[arg(long, num_args = 1..)]
    pub history_cases: Vec<PathBuf>,
    /// Assessment scores: CSV institution_id, score (0–100).
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// Fund-type proportions: CSV institution_id, fund_type, share (§34).
    #[arg(long)]
    pub fund_shares: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Check the institution of a row of a per-hospital input table: not empty, in the
/// roster (when institutions are given), and settled itself (not an alliance member
/// whose points are credited to its lead, which is what is settled).
fn settled_institution(
    errors: &mut crate::institutions_io::TableErrors,
    roster: &crate::cmd_budget::Roster,
    line: usize,
    id: &str,
) -> bool {
    if id.is_empty() {
        errors.at(line, "institution_id", "empty");
        return false;
    }
    if !roster.institutions.is_empty() && !roster.institutions.contains_key(id) {
        errors.at(line, "institution_id", format!("{id} is not in the institutions table"));
        return false;
    }
    let lead = roster.settled_with(id);
    if lead != id {
        errors.at(
            line,
            "institution_id",
            format!("{id} is a member of the alliance led by {lead}, which its points are credited to and which is settled: give the row for {lead}"),
        );
        return false;
    }
    true
}

/// Assessment scores (institution_id, score 0–100). Strict, with file, line and
/// column: an institution that is empty, unknown, repeated or not settled itself; a
/// score that is unreadable or outside 0–100.
pub(crate) fn load_scores(path: &Path, roster: &crate::cmd_budget::Roster) -> anyhow::Result<BTreeMap<String, Decimal>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let h = r.headers().with_context(|| format!("{}: header", path.display()))?.clone();
    let col = |n: &str| h.iter().position(|x| x.trim().trim_start_matches('\u{feff}') == n);
    let id = col("institution_id").with_context(|| format!("{}: no institution_id column", path.display()))?;
    let sc = col("score").with_context(|| format!("{}: no score column", path.display()))?;
    let mut errors = crate::institutions_io::TableErrors::new(path);
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                errors.at(line, "", e);
                continue;
            }
        };
        let get = |c: usize| row.get(c).unwrap_or("").trim();
        let inst = get(id);
        if !settled_institution(&mut errors, roster, line, inst) {
            continue;
        }
        if let Some(f) = first.get(inst) {
            errors.at(line, "institution_id", format!("{inst} repeats line {f} (one score per institution)"));
            continue;
        }
        first.insert(inst.to_owned(), line);
        match get(sc).parse::<Decimal>() {
            Ok(v) if (Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&v) => {
                out.insert(inst.to_owned(), v);
            }
            Ok(v) => errors.at(line, "score", format!("{v} of {inst}: must lie in 0–100")),
            Err(e) => errors.at(line, "score", format!("{:?} of {inst}: {e}", get(sc))),
        }
    }
    errors.finish()?;
    Ok(out)
}

/// Fund-type proportions (institution_id, fund_type, share). Strict, with file, line
/// and column: an institution that is empty, unknown or not settled itself; an empty
/// or repeated fund type of an institution; a share that is unreadable or outside
/// [0, 1]; an institution's shares not summing to exactly 1 (they are not rescaled).
pub(crate) fn load_fund_shares(
    path: &Path,
    roster: &crate::cmd_budget::Roster,
) -> anyhow::Result<BTreeMap<String, Vec<(String, Decimal)>>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let h = r.headers().with_context(|| format!("{}: header", path.display()))?.clone();
    let col = |n: &str| h.iter().position(|x| x.trim().trim_start_matches('\u{feff}') == n);
    let need = |n: &str| col(n).with_context(|| format!("{}: no {n} column", path.display()));
    let (id, ft, sh) = (need("institution_id")?, need("fund_type")?, need("share")?);
    let mut errors = crate::institutions_io::TableErrors::new(path);
    let mut first: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut out: BTreeMap<String, Vec<(String, Decimal)>> = BTreeMap::new();
    let mut lines: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                errors.at(line, "", e);
                continue;
            }
        };
        let get = |c: usize| row.get(c).unwrap_or("").trim();
        let inst = get(id);
        if !settled_institution(&mut errors, roster, line, inst) {
            continue;
        }
        let kind = get(ft);
        if kind.is_empty() {
            errors.at(line, "fund_type", format!("empty (of {inst})"));
            continue;
        }
        let k = (inst.to_owned(), kind.to_owned());
        if let Some(f) = first.get(&k) {
            errors.at(line, "fund_type", format!("{kind} of {inst} repeats line {f}"));
            continue;
        }
        first.insert(k, line);
        let share = match get(sh).parse::<Decimal>() {
            Ok(v) if (Decimal::ZERO..=Decimal::ONE).contains(&v) => v,
            Ok(v) => {
                errors.at(line, "share", format!("{v} ({kind} of {inst}): must lie in [0, 1]"));
                continue;
            }
            Err(e) => {
                errors.at(line, "share", format!("{:?} ({kind} of {inst}): {e}", get(sh)));
                continue;
            }
        };
        out.entry(inst.to_owned()).or_default().push((kind.to_owned(), share));
        lines.entry(inst.to_owned()).or_default().push(line);
    }
    for (inst, v) in &out {
        let s: Decimal = v.iter().map(|x| x.1).sum();
        if s != Decimal::ONE {
            let at: Vec<String> = lines[inst].iter().map(ToString::to_string).collect();
            errors.at(
                lines[inst][0],
                "share",
                format!("the shares of {inst} (lines {}) sum to {s}, not 1 (they are not rescaled)", at.join(", ")),
            );
        }
    }
    errors.finish()?;
    Ok(out)
}

/// The fields of a settlement list that grouping, pricing and settlement read
/// (grouping: sex, age, weight, diagnoses, procedures; pricing: cost, excluded
/// drugs, length of stay; settlement: institution, insurance type, discharge, fund).
/// Only these are parsed.
const CASE_FIELDS: &[claims::Field] = {
    use claims::Field::*;
    &[
        CaseId,
        InstitutionId,
        InsuranceType,
        Sex,
        Age,
        AgeDays,
        BirthWeightG,
        DischargedAt,
        Los,
        MainDiagnosis,
        OtherDiagnoses,
        Diagnoses,
        Procedures,
        TotalCost,
        FundPaid,
        InnovativeDrugCost,
    ]
};

/// What one case contributes.
struct Priced {
    /// The case's institution is not in the institutions table (it cannot be priced).
    unknown: bool,
    case_id: String,
    inst: String,
    ins: Option<Insurance>,
    month: Option<u8>,
    group: String,
    method: Method,
    points: Pts,
    total: Fen,
    fund: Fen,
}

fn method_of(m: points::PayMethod) -> Method {
    match m {
        points::PayMethod::Drg => Method::Drg,
        points::PayMethod::Dip => Method::Dip,
        points::PayMethod::PerDiem => Method::PerDiem,
        points::PayMethod::FeeForService => Method::FeeForService,
        points::PayMethod::None => Method::None,
    }
}

/// The name of a points parameter file for messages.
pub(crate) fn points_params_name(p: Option<&Path>) -> String {
    p.map_or("the built-in points parameters".into(), |p| p.display().to_string())
}

/// The error for cases of institutions that are not in the institutions table:
/// institution → (cases, an example case id).
pub(crate) fn unknown_institutions(unknown: &BTreeMap<String, (u64, String)>, table: &Path) -> String {
    let cases: u64 = unknown.values().map(|v| v.0).sum();
    let list: Vec<String> =
        unknown.iter().take(10).map(|(id, (n, case))| format!("{id} ({n} cases, e.g. case {case})")).collect();
    let more = if unknown.len() > 10 { format!(" and {} more", unknown.len() - 10) } else { String::new() };
    format!(
        "{cases} cases of {} {} not in {}: {}{more}; an institution must be in the table to be priced (its level gives its coefficient)",
        unknown.len(),
        if unknown.len() == 1 { "institution" } else { "institutions" },
        table.display(),
        list.join(", ")
    )
}

pub fn run(a: SettleArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let params = crate::cmd_budget::load_params(a.params.as_deref())?;
    let pparams = match &a.points_params {
        Some(p) => points::Params::from_toml(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{}", p.display()))?,
        None => points::Params::builtin(),
    };
    let roster =
        crate::cmd_budget::load_roster(a.institutions.as_deref(), pparams.alliance.credit_to_lead)?;
    anyhow::ensure!(
        !roster.institutions.is_empty(),
        "no --institutions: each institution's coefficient comes from its level in the institutions table (there is no default coefficient); give --institutions FILE"
    );
    pparams
        .check_roster(roster.institutions.values())
        .with_context(|| format!("{} with {}", points_params_name(a.points_params.as_deref()), a.institutions.as_deref().map(|p| p.display().to_string()).unwrap_or_default()))?;
    let scheme = crate::cmd_drg::load_scheme(&a.scheme)?;
    let grouper = drg::Grouper::new(scheme).map_err(|e| anyhow::anyhow!("{e}"))?;
    let standards = crate::cmd_points::load_standards(&a.weights, &grouper)?;
    let classifier = crate::cmd_points::Classifier::Drg { grouper, standards };
    let special = a
        .special_cases
        .as_deref()
        .map(crate::cmd_points::load_special)
        .transpose()?
        .unwrap_or_default();
    let inputs = HospitalInputs {
        scores: a
            .scores
            .as_deref()
            .map(|p| load_scores(p, &roster))
            .transpose()?
            .unwrap_or_default(),
        fund_shares: a
            .fund_shares
            .as_deref()
            .map(|p| load_fund_shares(p, &roster))
            .transpose()?
            .unwrap_or_default(),
    };

    // 1. Last year's history, read on its own thread while this year's cases are
    // priced (each pass has a sequential reader; together they use both cores).
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let history_pass = scope.spawn(|| {
            crate::cmd_budget::gather_history(&a.history, &a.history_cases, &roster)
                .map(|h| (h, t0.elapsed()))
        });

        // 2. Points of every case, aggregated per institution, line and month / group.
        let mut inst_ids: HashMap<String, u32> = HashMap::new();
        let mut inst_names: Vec<String> = Vec::new();
        let mut group_ids: HashMap<String, u32> = HashMap::new();
        let mut group_names: Vec<String> = Vec::new();
        let mut cells: HashMap<(u32, Insurance, u8), Cell> = HashMap::new();
        let mut groups: HashMap<(u32, Insurance, u32), Cell> = HashMap::new();
        let (mut other_year, mut other_ins) = (0u64, 0u64);
        let mut unknown: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let year = i32::from(a.year);
        let intern = |ids: &mut HashMap<String, u32>, names: &mut Vec<String>, s: &str| -> u32 {
            if let Some(i) = ids.get(s) {
                return *i;
            }
            let i = names.len() as u32;
            names.push(s.to_owned());
            ids.insert(s.to_owned(), i);
            i
        };
        let (records, _skipped) = crate::cmd_budget::par_map_fields(
            &a.cases,
            CASE_FIELDS,
            |c| {
                use chrono::Datelike;
                let month = c
                    .discharged_at
                    .filter(|d| d.year() == year)
                    .map(|d| d.month() as u8);
                let (p, known) = crate::cmd_points::price_claim(
                    &classifier,
                    &roster.institutions,
                    &special,
                    &pparams,
                    c,
                );
                let ins = crate::cmd_budget::insurance_of(c);
                Priced {
                    unknown: !known,
                    case_id: if known { String::new() } else { c.case_id.clone() },
                    inst: p.credited_to,
                    ins,
                    month,
                    group: p.group.unwrap_or_default(),
                    method: method_of(p.method),
                    points: Pts::from_decimal(p.total).expect("points have 4 decimals"),
                    total: c.total_cost.unwrap_or_default(),
                    fund: c.fund_paid.unwrap_or_default(),
                }
            },
            |p| {
                if p.unknown {
                    unknown.entry(p.inst.clone()).or_insert((0, p.case_id.clone())).0 += 1;
                    return;
                }
                let (Some(month), Some(ins)) = (p.month, p.ins) else {
                    if p.month.is_none() {
                        other_year += 1;
                    } else {
                        other_ins += 1;
                    }
                    return;
                };
                let i = intern(&mut inst_ids, &mut inst_names, &p.inst);
                let g = intern(&mut group_ids, &mut group_names, &p.group);
                cells
                    .entry((i, ins, month))
                    .or_default()
                    .add(p.method, p.points, p.total, p.fund);
                groups
                    .entry((i, ins, g))
                    .or_default()
                    .add(p.method, p.points, p.total, p.fund);
            },
        )?;
        if !unknown.is_empty() {
            anyhow::bail!("{}", unknown_institutions(&unknown, a.institutions.as_deref().unwrap_or(Path::new(""))));
        }
        let key_of = |inst: &str, ins: Insurance| {
            let class = if params.budget.split_by_class {
                roster.class(inst)
            } else {
                ""
            };
            Key::new(ins, SubCategory::Inpatient, class)
        };
        let mut ledger = Ledger::new();
        for ((i, ins, month), c) in &cells {
            let inst = &inst_names[*i as usize];
            ledger.merge_cell(inst, &key_of(inst, *ins), *month, c);
        }
        for ((i, ins, g), c) in &groups {
            let inst = &inst_names[*i as usize];
            ledger.merge_group(inst, &key_of(inst, *ins), &group_names[*g as usize], c);
        }
        let t_points = t0.elapsed();
        let (history, t_budget) = history_pass
            .join()
            .map_err(|_| anyhow::anyhow!("history thread panicked"))??;
        let budget = settle::build_budget(&params.budget, a.year, &history).with_context(|| {
            format!("budget {} with the parameters {}", a.year, a.params.as_deref().map_or("built in".into(), |p| p.display().to_string()))
        })?;

        // 3. Settle.
        let s = settle::settle(&params, &budget, &ledger, &inputs);
        let sim = settle::simulate::simulate(&ledger, &s);
        let t_settle = t0.elapsed();

        // 4. Statements.
        let out = &a.out;
        let dir = out.join("statements");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        use crate::cmd_budget::write as w;
        w(&out.join("budget.csv"), settle::budget::budget_csv(&budget))?;
        w(&out.join("budget-derivation.txt"), &budget.derivation)?;
        let rate = params.deposit.rate;
        let pv = statement::point_values_table(&s);
        let summary = statement::summary_table(&budget, &s);
        let hosp = statement::hospitals_table(&s, None);
        w(&out.join("point-values.csv"), pv.to_csv())?;
        w(
            &out.join("monthly.csv"),
            statement::months_table(&s, rate, None).to_csv(),
        )?;
        w(
            &out.join("quarterly.csv"),
            statement::quarters_table(&s, None).to_csv(),
        )?;
        w(
            &out.join("annual.csv"),
            statement::annual_table(&s, None).to_csv(),
        )?;
        w(&out.join("hospitals.csv"), hosp.to_csv())?;
        w(&out.join("summary.csv"), summary.to_csv())?;
        w(
            &out.join("simulation.csv"),
            statement::simulation_table(s.year, &sim).to_csv(),
        )?;
        let xlsx = statement::to_xlsx(
            s.year,
            &[
                ("统筹区汇总", &summary),
                ("点值", &pv),
                ("机构年度汇总", &hosp),
            ],
        )
        .map_err(|e| anyhow::anyhow!("summary.xlsx: {e}"))?;
        w(&out.join("summary.xlsx"), xlsx)?;
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(s.hospitals.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("statements [{bar:30}] {pos}/{len} hospitals")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        for h in &s.hospitals {
            let id = &h.institution_id;
            anyhow::ensure!(
                !id.is_empty() && !id.contains(['/', '\\']) && id != "." && id != "..",
                "institution id {id:?} cannot name a file"
            );
            w(
                &dir.join(format!("{id}.csv")),
                statement::hospital_csv(&s, rate, id),
            )?;
            let x = statement::hospital_xlsx(&s, rate, id)
                .map_err(|e| anyhow::anyhow!("{id}.xlsx: {e}"))?;
            w(&dir.join(format!("{id}.xlsx")), x)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        let t_end = t0.elapsed();

        let mut o = std::io::stdout().lock();
        writeln!(
            o,
            "settlement {} (结算)  parameters {}  points parameters {}",
            a.year, params.version, pparams.version
        )?;
        writeln!(
            o,
            "  records read {}  ({} discharged outside {}, {} of other insurance types skipped)",
            records, other_year, a.year, other_ins
        )?;
        writeln!(o, "  hospitals settled {}", s.hospitals.len())?;
        for l in &budget.lines {
            let settled: Fen = s
                .annual
                .iter()
                .filter(|x| x.year.key == l.key)
                .map(|x| x.year.amount)
                .sum();
            let pvy = s
                .point_values
                .iter()
                .find(|p| p.key == l.key && p.period == 0)
                .and_then(|p| p.value);
            writeln!(
                o,
                "  {:<16} budget {:>18}  settled {:>18}  {}  point value {}",
                l.key.to_string(),
                l.annual.to_string(),
                settled.to_string(),
                if settled == l.annual {
                    "OK"
                } else {
                    "UNALLOCATED"
                },
                pvy.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
            )?;
        }
        for n in &s.notes {
            writeln!(o, "  note: {n}")?;
        }
        writeln!(
            o,
            "  time: history {:.1}s and points {:.1}s (side by side), settle {:.1}s, statements {:.1}s, total {:.1}s",
            t_budget.as_secs_f64(),
            t_points.as_secs_f64(),
            (t_settle - t_points.max(t_budget)).as_secs_f64(),
            (t_end - t_settle).as_secs_f64(),
            t_end.as_secs_f64()
        )?;
        writeln!(o, "statements: {}", out.display())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("drgdip-settle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::cmd_synth::run(crate::cmd_synth::SynthArgs {
            hospitals: 8,
            cases: 3000,
            years: vec![2024, 2025],
            seed: 7,
            out: dir.clone(),
            scheme: None,
            codes: None,
            anomaly_rate: 0.04,
        })
        .unwrap();
        dir
    }

    /// What settlement uses of a claim.
    fn used(c: &claims::Claim) -> String {
        let procs: Vec<&str> = c.procedures.iter().map(|p| p.code.as_str()).collect();
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            c.case_id,
            c.institution_id,
            c.insurance_type,
            c.sex,
            c.age,
            c.age_days,
            c.birth_weight_g,
            c.discharged_at,
            c.los,
            c.main_diagnosis,
            c.other_diagnoses,
            procs,
            c.total_cost,
            c.fund_paid,
            c.innovative_drug_cost
        )
    }

    #[test]
    fn parsing_only_the_used_fields_reads_what_a_full_parse_reads() {
        let dir = region("fields");
        let files = vec![dir.join("claims-2025.csv")];
        let mut full = Vec::new();
        crate::claims_io::par_map_records(&files, |r| used(&r.claim), |_, s| full.push(s)).unwrap();
        let mut subset = Vec::new();
        crate::cmd_budget::par_map_fields(&files, CASE_FIELDS, used, |s| subset.push(s))
            .unwrap();
        assert!(full.len() > 1000, "{} records", full.len());
        assert_eq!(full, subset);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn statements_are_byte_identical_between_runs() {
        let dir = region("rerun");
        let scheme = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../synth/data/demo-scheme"
        ));
        let weights = dir.join("weights.csv");
        crate::cmd_weights::run(crate::cmd_weights::WeightsCommand::Calibrate(
            crate::cmd_weights::CalibrateArgs {
                cases: vec![dir.join("claims-2024.csv")],
                scheme: scheme.clone(),
                out: weights.clone(),
                trim: weights::Trim::LogSd { k: 3.0 },
                min_cases: 10,
                adjust: None,
                cmi_out: None,
            },
        ))
        .unwrap();
        let settle_into = |out: &str| {
            let out = dir.join(out);
            run(SettleArgs {
                params: None,
                points_params: None,
                year: 2025,
                cases: vec![dir.join("claims-2025.csv")],
                scheme: scheme.clone(),
                weights: weights.clone(),
                institutions: Some(dir.join("institutions.csv")),
                special_cases: None,
                history: Vec::new(),
                history_cases: vec![dir.join("claims-2024.csv")],
                scores: None,
                fund_shares: None,
                out: out.clone(),
            })
            .unwrap();
            out
        };
        let (a, b) = (settle_into("a"), settle_into("b"));
        let mut files = Vec::new();
        for sub in ["", "statements"] {
            for e in std::fs::read_dir(a.join(sub)).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    files.push(p.strip_prefix(&a).unwrap().to_path_buf());
                }
            }
        }
        files.sort();
        assert!(
            files.iter().any(|f| f.to_string_lossy().ends_with(".xlsx")) && files.len() > 10,
            "{files:?}"
        );
        for f in &files {
            assert!(
                std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
                "{} differs",
                f.display()
            );
        }
        // The region summary reconciles every inpatient line to its budget.
        let summary = std::fs::read_to_string(a.join("summary.csv")).unwrap();
        assert!(
            summary.lines().skip(1).all(|l| l.contains(",OK,")),
            "{summary}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

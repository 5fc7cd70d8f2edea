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
    /// Institutions table (level, TCM flag, alliance lead); every institution the
    /// settlement lists name must be in it.
    #[arg(long)]
    pub institutions: PathBuf,
    /// Code dictionaries for the coding-compliance QC rules (as `drgdip qc --codes`).
    #[arg(long, env = "DRGDIP_CODES")]
    pub codes: Option<PathBuf>,
    /// QC rule file replacing the built-in rules (as `drgdip qc --rules`).
    #[arg(long)]
    pub rules: Option<PathBuf>,
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

/// What one case contributes.
struct Priced {
    /// The institution the points are credited to (alliance lead, seed 002 §26).
    inst: String,
    /// The institution of the list (for the special-case quota).
    own: String,
    ins: Option<Insurance>,
    month: Option<u8>,
    group: String,
    method: Method,
    points: Pts,
    total: Fen,
    fund: Fen,
    offsite: bool,
    special: bool,
    /// Withholding QC rules (empty: payable).
    withheld: Vec<String>,
}

/// A case as kept until the end of the pass (names interned).
struct Kept {
    inst: u32,
    own: u32,
    group: u32,
    ins: Option<Insurance>,
    month: Option<u8>,
    method: Method,
    points: Pts,
    total: Fen,
    fund: Fen,
    offsite: bool,
    special: bool,
    withheld: Vec<String>,
}

/// Institution and group names as small numbers.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(i) = self.ids.get(s) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), i);
        i
    }

    fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
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
    let roster = crate::cmd_budget::load_roster(Some(&a.institutions), pparams.alliance.credit_to_lead)?;
    pparams.check_roster(roster.institutions.values()).with_context(|| {
        format!("{} with {}", points_params_name(a.points_params.as_deref()), a.institutions.display())
    })?;
    let scheme = crate::cmd_drg::load_scheme(&a.scheme)?;
    let grouper = drg::Grouper::new(scheme).map_err(|e| anyhow::anyhow!("{e}"))?;
    let standards = crate::cmd_points::load_standards(&a.weights, &grouper)?;
    let classifier = crate::cmd_points::Classifier::Drg { grouper, standards };
    let special = crate::pricing::SpecialCases {
        ids: a.special_cases.as_deref().map(crate::cmd_points::load_special).transpose()?.unwrap_or_default(),
        file: a.special_cases.clone(),
    };
    let gate = crate::pricing::Gate::load(a.rules.as_deref(), a.codes.as_deref())?;
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

    // 1. Last year: totals for the budget and, priced with this year's weights and
    // coefficients, the conversion rate and the expected points.
    let unit = points::Conversion::fixed(Decimal::ONE);
    let pricing_of = |conv| crate::pricing::Pricing {
        classifier: &classifier,
        roster: &roster,
        params: &pparams,
        conv,
        special: &special,
        gate: &gate,
    };
    let hist_year = if a.history_cases.is_empty() {
        crate::pricing::HistoryYear::default()
    } else {
        crate::pricing::history_pass(&a.history_cases, &roster, Some(&pricing_of(&unit)))?
    };
    let history =
        crate::cmd_budget::gather_history(&a.history, crate::cmd_budget::history_rows(&hist_year, &roster), &roster)?;
    let conv = points::Conversion::resolve(&pparams, (!a.history_cases.is_empty()).then_some(&hist_year.basis))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let budget = settle::build_budget(&params.budget, a.year, &history).with_context(|| {
        format!("budget {} with the parameters {}", a.year, a.params.as_deref().map_or("built in".into(), |p| p.display().to_string()))
    })?;
    let t_budget = t0.elapsed();

    // 2. This year's cases: QC, group, price; versions resolved.
    let year = i32::from(a.year);
    let pricing = pricing_of(&conv);
    let mut cases: Vec<Kept> = Vec::new();
    let mut names = Interner::default();
    let report = crate::pricing::pass(
        &a.cases,
        &pricing,
        |rec, p| {
            use chrono::Datelike;
            let c = &rec.claim;
            let month = c.discharged_at.filter(|d| d.year() == year).map(|d| d.month() as u8);
            Priced {
                inst: p.credited_to.clone(),
                own: c.institution_id.clone(),
                ins: crate::cmd_budget::insurance_of(c),
                month,
                group: p.group.clone().unwrap_or_default(),
                method: method_of(p.method),
                points: Pts::from_decimal(p.total).expect("points have 4 decimals"),
                total: c.total_cost.unwrap_or_default(),
                fund: c.fund_paid.unwrap_or_default(),
                offsite: c.offsite == Some(true),
                special: special.ids.contains(&c.case_id),
                withheld: p.withheld_reason,
            }
        },
        |_, _, p| {
            cases.push(Kept {
                inst: names.id(&p.inst),
                own: names.id(&p.own),
                group: names.id(&p.group),
                ins: p.ins,
                month: p.month,
                method: p.method,
                points: p.points,
                total: p.total,
                fund: p.fund,
                offsite: p.offsite,
                special: p.special,
                withheld: p.withheld,
            })
        },
    )?;
    for (n, extra) in &report.late_withheld {
        let w = &mut cases[*n as usize].withheld;
        w.extend(extra.iter().cloned());
        w.sort();
        w.dedup();
    }

    // Special-case quota per institution and quarter (as the service applies it).
    let mut quota: BTreeMap<(String, u8), (u64, u64)> = BTreeMap::new();
    for (n, c) in cases.iter().enumerate() {
        if report.superseded(n as u32) {
            continue;
        }
        if let Some(q) = c.month.map(|m| (m - 1) / 3 + 1) {
            let e = quota.entry((names.name(c.own).to_owned(), q)).or_default();
            e.0 += 1;
            e.1 += u64::from(c.special);
        }
    }
    crate::pricing::check_special_quota(&pparams, &quota, a.special_cases.as_deref())?;

    let key_of = |inst: &str, ins: Insurance| {
        let class = if params.budget.split_by_class { roster.class(inst) } else { "" };
        Key::new(ins, SubCategory::Inpatient, class)
    };
    let mut ledger = Ledger::new();
    ledger.offsite.included = params.offsite.cases == settle::OffsiteRule::Include;
    let (mut other_year, mut other_ins, mut superseded) = (0u64, 0u64, 0u64);
    let mut cells: HashMap<(u32, Insurance, u8), Cell> = HashMap::new();
    let mut groups: HashMap<(u32, Insurance, u32), Cell> = HashMap::new();
    for (n, c) in cases.iter().enumerate() {
        if report.superseded(n as u32) {
            superseded += 1;
            continue;
        }
        let (Some(month), Some(ins)) = (c.month, c.ins) else {
            if c.month.is_none() {
                other_year += 1;
            } else {
                other_ins += 1;
            }
            continue;
        };
        if c.offsite {
            let t = &mut ledger.offsite;
            t.cases += 1;
            t.points += c.points;
            t.total_cost = t.total_cost + c.total;
            t.fund_paid = t.fund_paid + c.fund;
            if !t.included {
                continue;
            }
        }
        if !c.withheld.is_empty() {
            let (_, case_id) = report.versions.key_of(n as u32).unwrap_or(("", ""));
            ledger.add_withheld(settle::WithheldCase {
                institution_id: names.name(c.inst).to_owned(),
                key: key_of(names.name(c.inst), ins),
                month,
                case_id: case_id.to_owned(),
                group: names.name(c.group).to_owned(),
                method: c.method,
                points: c.points,
                total_cost: c.total,
                fund_paid: c.fund,
                rules: c.withheld.join("; "),
            });
            continue;
        }
        cells.entry((c.inst, ins, month)).or_default().add(c.method, c.points, c.total, c.fund);
        groups.entry((c.inst, ins, c.group)).or_default().add(c.method, c.points, c.total, c.fund);
    }
    for ((inst, ins, month), c) in &cells {
        let inst = names.name(*inst);
        ledger.merge_cell(inst, &key_of(inst, *ins), *month, c);
    }
    for ((inst, ins, g), c) in &groups {
        let inst = names.name(*inst);
        ledger.merge_group(inst, &key_of(inst, *ins), names.name(*g), c);
    }
    ledger.sort_withheld();
    if !ledger.withheld.is_empty() {
        let first: Vec<String> = ledger
            .withheld
            .iter()
            .take(5)
            .map(|w| format!("{}/{} ({})", w.institution_id, w.case_id, w.rules))
            .collect();
        eprintln!(
            "warning: {} cases withheld by QC are not settled (withheld.csv lists them with their amounts; paid once a corrected list arrives): {}{}",
            ledger.withheld.len(),
            first.join(", "),
            if ledger.withheld.len() > 5 { ", …" } else { "" }
        );
    }
    let t_points = t0.elapsed();

    // 3. Settle.
    let s = settle::settle(&params, &budget, &ledger, &inputs)?;
    let sim = settle::simulate::simulate(&ledger, &s);
    let t_settle = t0.elapsed();

    // Conversion and expected point values (what an estimate uses before the year ends).
    let mut derivation = budget.derivation.clone();
    derivation.push_str(&format!(
        "\n  8. conversion rate (seed 002 §24–§25: fee-for-service, per-diem, capitation and add-on \
         points on the DRG/DIP scale): {}\n",
        conv.describe()
    ));
    for l in conv.describe_per_diem() {
        derivation.push_str(&format!("     per-diem standard {l}\n"));
    }
    derivation.push_str("  9. expected point value = line budget / the history year's points under this year's parameters:\n");
    let mut expected = Vec::new();
    for l in budget.lines.iter().filter(|l| !l.key.category.outpatient()) {
        let pts = hist_year.expected_points(&conv, |inst, ins| key_of(inst, ins) == l.key);
        let pv = (pts > Decimal::ZERO).then(|| (Decimal::new(l.annual.0, 2) / pts).round_dp(6));
        derivation.push_str(&format!(
            "     {}: {} / {} = {}\n",
            l.key,
            l.annual,
            pts.round_dp(4),
            pv.map(|v| v.to_string()).unwrap_or_else(|| "- (no history points)".into())
        ));
        expected.push((l.key.clone(), pts, pv));
    }

    // 4. Statements.
    let out = &a.out;
    let dir = out.join("statements");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    use crate::cmd_budget::write as w;
    w(&out.join("budget.csv"), settle::budget::budget_csv(&budget))?;
    w(&out.join("budget-derivation.txt"), &derivation)?;
    let rate = params.deposit.rate;
    let pv = statement::point_values_table(&s);
    let summary = statement::summary_table(&budget, &s);
    let hosp = statement::hospitals_table(&s, None);
    let identity = statement::identity_table(&s);
    let withheld = statement::withheld_table(&s, None);
    w(&out.join("point-values.csv"), pv.to_csv())?;
    w(&out.join("monthly.csv"), statement::months_table(&s, rate, None).to_csv())?;
    w(&out.join("quarterly.csv"), statement::quarters_table(&s, None).to_csv())?;
    w(&out.join("annual.csv"), statement::annual_table(&s, None).to_csv())?;
    w(&out.join("hospitals.csv"), hosp.to_csv())?;
    w(&out.join("summary.csv"), summary.to_csv())?;
    w(&out.join("identity.csv"), identity.to_csv())?;
    w(&out.join("withheld.csv"), withheld.to_csv())?;
    w(&out.join("simulation.csv"), statement::simulation_table(s.year, &sim).to_csv())?;
    let xlsx = statement::to_xlsx(
        s.year,
        &[
            ("统筹区汇总", &summary),
            ("预算核对", &identity),
            ("点值", &pv),
            ("机构年度汇总", &hosp),
            ("暂缓支付病例", &withheld),
        ],
    )
    .map_err(|e| anyhow::anyhow!("summary.xlsx: {e}"))?;
    w(&out.join("summary.xlsx"), xlsx)?;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(s.hospitals.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template("statements [{bar:30}] {pos}/{len} hospitals") {
        bar.set_style(style.progress_chars("=> "));
    }
    for h in &s.hospitals {
        let id = &h.institution_id;
        anyhow::ensure!(
            !id.is_empty() && !id.contains(['/', '\\']) && id != "." && id != "..",
            "institution id {id:?} cannot name a file"
        );
        w(&dir.join(format!("{id}.csv")), statement::hospital_csv(&s, rate, id))?;
        let x = statement::hospital_xlsx(&s, rate, id).map_err(|e| anyhow::anyhow!("{id}.xlsx: {e}"))?;
        w(&dir.join(format!("{id}.xlsx")), x)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let t_end = t0.elapsed();

    let mut o = std::io::stdout().lock();
    writeln!(o, "settlement {} (结算)  parameters {}  points parameters {}", a.year, params.version, pparams.version)?;
    writeln!(
        o,
        "  records read {}, rejected {}; {} earlier versions dropped; {} discharged outside {}; {} of other insurance types",
        report.records, report.rejected, superseded, other_year, a.year, other_ins
    )?;
    writeln!(o, "  conversion rate {}", conv.describe())?;
    for l in conv.describe_per_diem() {
        writeln!(o, "  per-diem standard {l}")?;
    }
    writeln!(o, "  hospitals settled {}", s.hospitals.len())?;
    for l in &budget.lines {
        let settled: Fen = s.annual.iter().filter(|x| x.year.key == l.key).map(|x| x.year.amount).sum();
        let pvy = s.annual_point_value(&l.key);
        let exp = expected.iter().find(|e| e.0 == l.key).and_then(|e| e.2);
        writeln!(
            o,
            "  {:<16} budget {:>18}  settled {:>18}  {}  point value {}  expected {}",
            l.key.to_string(),
            l.annual.to_string(),
            settled.to_string(),
            if settled == l.annual { "OK" } else { "NOT SETTLED BY POINTS" },
            pvy.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            exp.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
        )?;
    }
    for acc in &s.accounts {
        writeln!(
            o,
            "  {} budget identity: {} = paid {} + retained surplus {} + retained deposits {} + reserves kept {} + carried over {}  {}",
            acc.insurance.zh(),
            acc.budget,
            acc.paid,
            acc.retained_surplus,
            acc.retained_deposits,
            acc.reserves_kept,
            acc.carried_over,
            if acc.holds() { "OK" } else { "MISMATCH" }
        )?;
    }
    if !s.withheld.is_empty() {
        let cost: Fen = s.withheld.iter().map(|w| w.total_cost).sum();
        writeln!(o, "  withheld by QC: {} cases, total cost {cost} (withheld.csv; paid once a corrected list arrives)", s.withheld.len())?;
    }
    writeln!(
        o,
        "  off-site cases: {} ({}; offsite.cases = {})",
        s.offsite.cases,
        if s.offsite.included { "settled in this pool" } else { "left out of this pool" },
        params.offsite.cases.as_str()
    )?;
    for n in &s.notes {
        writeln!(o, "  note: {n}")?;
    }
    writeln!(
        o,
        "  time: history and budget {:.1}s, points {:.1}s, settle {:.1}s, statements {:.1}s, total {:.1}s",
        t_budget.as_secs_f64(),
        (t_points - t_budget).as_secs_f64(),
        (t_settle - t_points).as_secs_f64(),
        (t_end - t_settle).as_secs_f64(),
        t_end.as_secs_f64()
    )?;
    writeln!(o, "statements: {}", out.display())?;
    Ok(())
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
                institutions: dir.join("institutions.csv"),
                codes: None,
                rules: None,
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

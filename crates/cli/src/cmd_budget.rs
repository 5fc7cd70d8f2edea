//! `drgdip budget`: the year's budget by insurance type and sub-category, with
//! its derivation (seed 002 chapter 2). Also reads the history tables that
//! `drgdip settle` uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use claims::Fen;
use settle::{HistoryRow, Insurance, SettleParams, SubCategory};

#[derive(clap::Args)]
pub struct BudgetArgs {
    /// Budget and settlement parameters (TOML); default: the built-in ones
    /// (crates/settle/params/default.toml).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Last year's totals: CSV with institution_id, insurance (职工/居民), category
    /// (普通门急诊/门诊慢特病/双通道药品/日间医疗/住院), total_cost, fund_paid, optional class.
    #[arg(long)]
    pub history: Vec<PathBuf>,
    /// Last year's settlement lists: their inpatient totals become 住院 history rows.
    #[arg(long, num_args = 1..)]
    pub history_cases: Vec<PathBuf>,
    /// Institutions table: class (level) of each institution and alliance leads.
    #[arg(long)]
    pub institutions: Option<PathBuf>,
    /// The budget year; default: the parameter file's year.
    #[arg(long)]
    pub year: Option<u16>,
    /// Output directory (budget.csv, budget-derivation.txt, history.csv: the history rows used).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn load_params(path: Option<&Path>) -> anyhow::Result<SettleParams> {
    match path {
        Some(p) => SettleParams::from_toml(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{}", p.display())),
        None => Ok(SettleParams::builtin()),
    }
}

/// Read a history table (columns by name; `class` optional). Strict, every problem
/// named with file, line and column: an empty institution id, or one not in the
/// roster when institutions are given; an unknown insurance type or category;
/// unreadable, sub-fen or negative money; a fund above the total cost; a class that
/// is not the institution's level in the roster (an empty class takes it). Each row
/// comes with its line.
pub fn load_history(path: &Path, roster: &Roster) -> anyhow::Result<Vec<(usize, HistoryRow)>> {
    let name = path.display();
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {name}"))?;
    let h = r.headers().with_context(|| format!("{name}: header"))?.clone();
    let col = |n: &str| h.iter().position(|x| x.trim().trim_start_matches('\u{feff}') == n);
    let need = |n: &str| col(n).with_context(|| format!("{name}: no {n} column"));
    let (inst, ins, cat, total, fund) = (
        need("institution_id")?,
        need("insurance")?,
        need("category")?,
        need("total_cost")?,
        need("fund_paid")?,
    );
    let class = col("class");
    let mut errors = crate::institutions_io::TableErrors::new(path);
    let mut out = Vec::new();
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
        let id = get(inst);
        let mut ok = true;
        if id.is_empty() {
            errors.at(line, "institution_id", "empty");
            ok = false;
        } else if !roster.institutions.is_empty() && !roster.institutions.contains_key(id) {
            errors.at(line, "institution_id", format!("{id} is not in the institutions table"));
            ok = false;
        }
        let insurance = Insurance::parse(get(ins));
        if insurance.is_none() {
            errors.at(line, "insurance", format!("{:?}: must be 职工 or 居民", get(ins)));
        }
        let category = SubCategory::parse(get(cat));
        if category.is_none() {
            let all: Vec<&str> = SubCategory::ALL.iter().map(|c| c.zh()).collect();
            errors.at(line, "category", format!("{:?}: must be one of {}", get(cat), all.join(", ")));
        }
        let mut money = |c: usize, what: &str| match Fen::parse_yuan(get(c)) {
            Ok(f) if f < Fen::ZERO => {
                errors.at(line, what, format!("{f}: must not be negative"));
                None
            }
            Ok(f) => Some(f),
            Err(e) => {
                errors.at(line, what, format!("{:?}: {e}", get(c)));
                None
            }
        };
        let (t, f) = (money(total, "total_cost"), money(fund, "fund_paid"));
        if let (Some(t), Some(f)) = (t, f) {
            if f > t {
                errors.at(line, "fund_paid", format!("{f} is above total_cost {t}: the fund cannot pay more than the cost"));
                ok = false;
            }
        }
        let given = class.map(get).unwrap_or("");
        let known = roster.institutions.get(id).map(|i| i.level.as_str());
        let cls = match known {
            Some(level) if !given.is_empty() && given != level => {
                errors.at(line, "class", format!("{given:?}: {id} has level {level:?} in the institutions table"));
                ok = false;
                given
            }
            Some(level) => level,
            None => given,
        };
        if let (true, Some(insurance), Some(category), Some(total_cost), Some(fund_paid)) = (ok, insurance, category, t, f) {
            out.push((
                line,
                HistoryRow { institution_id: id.to_owned(), class: cls.to_owned(), insurance, category, total_cost, fund_paid },
            ));
        }
    }
    errors.finish()?;
    Ok(out)
}

/// The institution an institution's money is settled with (its alliance lead when
/// the points parameters credit leads, seed 002 §26) and the class used to split
/// budgets (its level).
pub struct Roster {
    pub institutions: BTreeMap<String, points::Institution>,
    pub credit_to_lead: bool,
}

impl Roster {
    pub fn settled_with<'a>(&'a self, id: &'a str) -> &'a str {
        match self
            .institutions
            .get(id)
            .and_then(|i| i.alliance_lead.as_deref())
        {
            Some(lead) if self.credit_to_lead => lead,
            _ => id,
        }
    }

    pub fn class(&self, id: &str) -> &str {
        self.institutions.get(id).map_or("", |i| i.level.as_str())
    }
}

/// The insurance type of a claim, when it is one the budgets are built for.
pub fn insurance_of(c: &claims::Claim) -> Option<Insurance> {
    match c.insurance_type {
        Some(claims::InsuranceType::Employee) => Some(Insurance::Employee),
        Some(claims::InsuranceType::Resident) => Some(Insurance::Resident),
        _ => None,
    }
}

/// Inpatient history rows (住院) from last year's settlement lists, per settled
/// institution (alliance members credited to their lead) and insurance type.
pub fn history_from_cases(files: &[PathBuf], roster: &Roster) -> anyhow::Result<Vec<HistoryRow>> {
    Ok(history_rows(&crate::pricing::history_pass(files, roster, None)?, roster))
}

/// The 住院 history rows of a history year, with each institution's class.
pub fn history_rows(h: &crate::pricing::HistoryYear, roster: &Roster) -> Vec<HistoryRow> {
    h.rows(|inst| roster.class(inst).to_owned())
}

pub fn load_roster(institutions: Option<&Path>, credit_to_lead: bool) -> anyhow::Result<Roster> {
    let institutions = match institutions {
        Some(p) => crate::institutions_io::load(p)?,
        None => BTreeMap::new(),
    };
    Ok(Roster {
        institutions,
        credit_to_lead,
    })
}

/// History-table rows of alliance members credited to their lead (seed 002 §26),
/// as `--history-cases` rows are, with the lead's class.
pub fn credit_history(rows: Vec<HistoryRow>, roster: &Roster) -> Vec<HistoryRow> {
    rows.into_iter()
        .map(|mut r| {
            let lead = roster.settled_with(&r.institution_id).to_owned();
            if lead != r.institution_id {
                if roster.institutions.contains_key(&lead) {
                    r.class = roster.class(&lead).to_owned();
                }
                r.institution_id = lead;
            }
            r
        })
        .collect()
}

/// All history rows the arguments name: the tables' rows (alliance members credited
/// to their lead) and the 住院 rows totalled from last year's settlement lists
/// (`case_rows`, already credited). The same (institution, insurance, category,
/// class) twice in the tables, or a 住院 row of a table for an institution and
/// insurance type whose 住院 totals also come from the settlement lists, would count
/// twice: an error naming both places.
pub fn gather_history(tables: &[PathBuf], case_rows: Vec<HistoryRow>, roster: &Roster) -> anyhow::Result<Vec<HistoryRow>> {
    let mut rows = Vec::new();
    let mut seen: BTreeMap<(String, Insurance, SubCategory, String), String> = BTreeMap::new();
    let mut dups = Vec::new();
    for t in tables {
        let mut table = Vec::new();
        for (line, r) in load_history(t, roster)? {
            let here = format!("{} line {line}", t.display());
            let k = (r.institution_id.clone(), r.insurance, r.category, r.class.clone());
            match seen.get(&k) {
                Some(first) => dups.push(format!(
                    "{here}: {} {}/{} repeats {first} (one row per institution, insurance, category and class)",
                    r.institution_id,
                    r.insurance.zh(),
                    r.category.zh()
                )),
                None => {
                    seen.insert(k, here.clone());
                }
            }
            table.push((here, r));
        }
        for (here, r) in table {
            let r = credit_history(vec![r], roster).remove(0);
            if r.category == SubCategory::Inpatient
                && case_rows.iter().any(|c| c.institution_id == r.institution_id && c.insurance == r.insurance)
            {
                dups.push(format!(
                    "{here}: {} {}/住院 is also totalled from --history-cases (it would count twice)",
                    r.institution_id,
                    r.insurance.zh()
                ));
            }
            rows.push(r);
        }
    }
    rows.extend(case_rows);
    if let Some(first) = dups.first() {
        let more = if dups.len() > 1 { format!(" (and {} more)", dups.len() - 1) } else { String::new() };
        anyhow::bail!("history: {first}{more}");
    }
    anyhow::ensure!(
        !rows.is_empty(),
        "no history: give --history FILE and/or --history-cases FILE"
    );
    Ok(rows)
}

/// History rows as the CSV `--history` reads (so a history built from last year's
/// settlement lists can be reused without reading them again).
pub fn history_csv(rows: &[HistoryRow]) -> String {
    let mut s = String::from("institution_id,class,insurance,category,total_cost,fund_paid\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{}\n",
            settle::statement::csv_field(&r.institution_id),
            settle::statement::csv_field(&r.class),
            r.insurance.zh(),
            r.category.zh(),
            r.total_cost,
            r.fund_paid
        ));
    }
    s
}

pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub fn run(a: BudgetArgs) -> anyhow::Result<()> {
    let params = load_params(a.params.as_deref())?;
    let credit = points::Params::builtin().alliance.credit_to_lead;
    let roster = load_roster(a.institutions.as_deref(), credit)?;
    let case_rows = if a.history_cases.is_empty() { Vec::new() } else { history_from_cases(&a.history_cases, &roster)? };
    let history = gather_history(&a.history, case_rows, &roster)?;
    let year = a.year.unwrap_or(params.year);
    let b = settle::build_budget(&params.budget, year, &history).with_context(|| {
        format!("budget {year} with the parameters {}", a.params.as_deref().map_or("built in".into(), |p| p.display().to_string()))
    })?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    write(&a.out.join("budget.csv"), settle::budget::budget_csv(&b))?;
    write(&a.out.join("budget-derivation.txt"), &b.derivation)?;
    write(&a.out.join("history.csv"), history_csv(&history))?;
    print!("{}", b.derivation);
    println!("budget: {}", a.out.join("budget.csv").display());
    Ok(())
}

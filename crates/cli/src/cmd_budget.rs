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

/// Read a history table (columns by name; `class` optional).
pub fn load_history(path: &Path) -> anyhow::Result<Vec<HistoryRow>> {
    let name = path.display();
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {name}"))?;
    let h = r.headers()?.clone();
    let col = |n: &str| h.iter().position(|x| x.trim() == n);
    let need = |n: &str| col(n).with_context(|| format!("{name}: no {n} column"));
    let (inst, ins, cat, total, fund) = (
        need("institution_id")?,
        need("insurance")?,
        need("category")?,
        need("total_cost")?,
        need("fund_paid")?,
    );
    let class = col("class");
    let mut out = Vec::new();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        let row = row.with_context(|| format!("{name} line {line}"))?;
        let get = |c: usize| row.get(c).unwrap_or("").trim();
        let money = |c: usize, what: &str| {
            Fen::parse_yuan(get(c)).map_err(|e| anyhow::anyhow!("{name} line {line}: {what}: {e}"))
        };
        out.push(HistoryRow {
            institution_id: get(inst).to_owned(),
            class: class.map(|c| get(c).to_owned()).unwrap_or_default(),
            insurance: Insurance::parse(get(ins))
                .with_context(|| format!("{name} line {line}: insurance {:?}", get(ins)))?,
            category: SubCategory::parse(get(cat))
                .with_context(|| format!("{name} line {line}: category {:?}", get(cat)))?,
            total_cost: money(total, "total_cost")?,
            fund_paid: money(fund, "fund_paid")?,
        });
    }
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

/// The 住院 history rows of a history year.
pub fn history_rows(h: &crate::pricing::HistoryYear, roster: &Roster) -> Vec<HistoryRow> {
    h.totals
        .iter()
        .map(|((inst, ins), (total, fund))| HistoryRow {
            class: roster.class(inst).to_owned(),
            institution_id: inst.clone(),
            insurance: *ins,
            category: SubCategory::Inpatient,
            total_cost: *total,
            fund_paid: *fund,
        })
        .collect()
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

/// All history rows the arguments name.
pub fn gather_history(
    tables: &[PathBuf],
    cases: &[PathBuf],
    roster: &Roster,
) -> anyhow::Result<Vec<HistoryRow>> {
    let mut rows = Vec::new();
    for t in tables {
        rows.extend(credit_history(load_history(t)?, roster));
    }
    if !cases.is_empty() {
        rows.extend(history_from_cases(cases, roster)?);
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
    let history = gather_history(&a.history, &a.history_cases, &roster)?;
    let year = a.year.unwrap_or(params.year);
    let b = settle::build_budget(&params.budget, year, &history);
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    write(&a.out.join("budget.csv"), settle::budget::budget_csv(&b))?;
    write(&a.out.join("budget-derivation.txt"), &b.derivation)?;
    write(&a.out.join("history.csv"), history_csv(&history))?;
    print!("{}", b.derivation);
    println!("budget: {}", a.out.join("budget.csv").display());
    Ok(())
}

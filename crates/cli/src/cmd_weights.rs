//! `drgdip weights calibrate`: relative weights (RW) of every DRG from history.

use std::collections::HashMap;
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use rust_decimal::Decimal;
use weights::{calibrate, GroupKey, Options, Trim};

#[derive(clap::Subcommand)]
pub enum WeightsCommand {
    /// Calibrate DRG relative weights (相对权重) from historical settlement lists.
    Calibrate(CalibrateArgs),
}

#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Historical settlement-list files.
    #[arg(long, required = true, num_args = 1..)]
    pub cases: Vec<PathBuf>,
    /// DRG scheme directory.
    #[arg(long)]
    pub scheme: PathBuf,
    /// Output weights table (CSV).
    #[arg(long)]
    pub out: PathBuf,
    /// Outlier trimming: `log-sd:K` (ln cost within mean ± K SD, default K=3) or
    /// `percentile:LOW:HIGH` (e.g. percentile:2.5:97.5) or `none`.
    #[arg(long, default_value = "log-sd:3", value_parser = parse_trim)]
    pub trim: Trim,
    /// Groups with fewer kept cases borrow their ADRG's pooled average.
    #[arg(long, default_value_t = 10)]
    pub min_cases: u64,
    /// Structural adjustment (结构性调整): CSV `code,multiplier` of expert multipliers;
    /// weights are re-normalised so the total weight is unchanged.
    #[arg(long)]
    pub adjust: Option<PathBuf>,
    /// Also write each institution's case-mix index (CMI) to this CSV.
    #[arg(long)]
    pub cmi_out: Option<PathBuf>,
}

pub fn parse_trim(s: &str) -> Result<Trim, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let num = |x: &str| x.parse::<f64>().map_err(|_| format!("not a number: {x}"));
    match parts.as_slice() {
        ["none"] => Ok(Trim::None),
        ["log-sd"] => Ok(Trim::LogSd { k: 3.0 }),
        ["log-sd", k] => Ok(Trim::LogSd { k: num(k)? }),
        ["percentile", lo, hi] => Ok(Trim::Percentile { low: num(lo)?, high: num(hi)? }),
        _ => Err("expected log-sd:K, percentile:LOW:HIGH or none".into()),
    }
}

pub fn run(cmd: WeightsCommand) -> anyhow::Result<()> {
    match cmd {
        WeightsCommand::Calibrate(a) => calibrate_cmd(a),
    }
}

fn calibrate_cmd(a: CalibrateArgs) -> anyhow::Result<()> {
    let scheme = crate::cmd_drg::load_scheme(&a.scheme)?;
    let grouper = drg::Grouper::new(scheme).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Every DRG of the scheme, in scheme order, with its ADRG as parent.
    let mut keys: Vec<GroupKey> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (code, adrg, name) in grouper.scheme().payable_drgs() {
        index.insert(code.to_owned(), keys.len());
        keys.push(GroupKey { code: code.to_owned(), parent: adrg.to_owned() });
        names.push(name.to_owned());
    }
    let mut costs: Vec<Vec<i64>> = vec![Vec::new(); keys.len()];
    let mut per_case: Vec<(String, u32)> = Vec::new(); // (institution, group index) for CMI
    let (mut ungroupable, mut no_cost) = (0u64, 0u64);
    let mut fields = crate::claims_io::GROUPING_FIELDS.to_vec();
    fields.extend([claims::Field::TotalCost, claims::Field::InstitutionId, claims::Field::CaseId]);
    // Each (institution, case) counts once, the later version winning: every record
    // is kept as (group, cost, institution) until all are read.
    let mut versions = claims::Versions::new();
    let mut seen: Vec<(Option<usize>, Option<claims::Fen>, u32)> = Vec::new();
    let mut inst_ids: HashMap<String, u32> = HashMap::new();
    let mut inst_names: Vec<String> = Vec::new();
    let mut shown: Vec<String> = Vec::new();
    let mut first_line: Vec<(u32, u64)> = Vec::new();
    let file_names: Vec<String> = a.cases.iter().map(|p| p.display().to_string()).collect();
    let stats = crate::claims_io::par_map_batches_located(
        crate::claims_io::Batches::new(&a.cases).only(&fields),
        |rec| {
            let g = crate::claims_io::group_claim(&grouper, &rec.claim, &mut Vec::new());
            // Ambiguous cases (歧义病案) are in no DRG.
            g.status.is_grouped().then(|| index.get(grouper.codes_of(&g).drg).copied()).flatten()
        },
        |file, rec, group| {
            let c = &rec.claim;
            if let Some(j) = versions.push(&c.institution_id, &c.case_id) {
                if shown.len() < 10 {
                    let (f, l) = first_line[j as usize];
                    shown.push(format!(
                        "({}, {}): {} line {l} and {} line {}",
                        c.institution_id, c.case_id, file_names[f as usize], file_names[file as usize], rec.line
                    ));
                }
            }
            first_line.push((file, rec.line));
            let next = inst_names.len() as u32;
            let inst = *inst_ids.entry(c.institution_id.clone()).or_insert_with(|| {
                inst_names.push(c.institution_id.clone());
                next
            });
            seen.push((group, c.total_cost, inst));
        },
    )?;
    if versions.replaced() > 0 {
        eprintln!(
            "warning: {} cases were given more than once (same institution and case id); the later version is used and the earlier dropped: {}{}",
            versions.replaced(),
            shown.join("; "),
            if versions.replaced() > shown.len() as u64 { "; …" } else { "" }
        );
    }
    for (n, (group, cost, inst)) in seen.into_iter().enumerate() {
        if versions.is_superseded(n as u32) {
            continue;
        }
        match (group, cost) {
            (Some(i), Some(cost)) if cost.0 > 0 => {
                costs[i].push(cost.0);
                if a.cmi_out.is_some() {
                    per_case.push((inst_names[inst as usize].clone(), i as u32));
                }
            }
            (Some(_), _) => no_cost += 1,
            (None, _) => ungroupable += 1,
        }
    }
    let opts = Options { trim: a.trim, min_cases: a.min_cases, rw_places: 4 };
    let mut cal = calibrate(&keys, costs, &opts);
    if let Some(p) = &a.adjust {
        let mut r = csv::Reader::from_path(p).with_context(|| format!("reading {}", p.display()))?;
        let mut mult = Vec::new();
        for (i, row) in r.records().enumerate() {
            let row = row.with_context(|| format!("{} line {}", p.display(), i + 2))?;
            let code = row.get(0).unwrap_or("").trim().to_owned();
            let m: Decimal = row
                .get(1)
                .unwrap_or("")
                .trim()
                .parse()
                .with_context(|| format!("{} line {}: multiplier", p.display(), i + 2))?;
            if !index.contains_key(&code) {
                anyhow::bail!("{} line {}: {code} is not a DRG of the scheme", p.display(), i + 2);
            }
            mult.push((code, m));
        }
        let f = weights::adjust(&mut cal.groups, &mult, 4);
        eprintln!("structural adjustment: {} multipliers, normalisation factor {f:.6}", mult.len());
    }
    let mut w = csv::Writer::from_path(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    w.write_record(weights::WEIGHTS_HEADER)?;
    for (g, name) in cal.groups.iter().zip(&names) {
        w.write_record([
            g.code.as_str(),
            &g.parent,
            name,
            &g.cases.to_string(),
            &g.kept.to_string(),
            &g.mean.to_string(),
            &format!("{:.4}", g.cv),
            &g.rw.to_string(),
            g.source.as_str(),
        ])?;
    }
    w.flush()?;
    if let Some(p) = &a.cmi_out {
        let mut by_inst: BTreeMap<String, (Decimal, u64)> = BTreeMap::new();
        for (inst, gi) in &per_case {
            let e = by_inst.entry(inst.clone()).or_default();
            e.0 += cal.groups[*gi as usize].rw;
            e.1 += 1;
        }
        let mut w = csv::Writer::from_path(p).with_context(|| format!("writing {}", p.display()))?;
        w.write_record(["institution_id", "cases", "total_weight", "cmi"])?;
        for (inst, (sum, n)) in by_inst {
            let cmi = (sum / Decimal::from(n)).round_dp(4);
            w.write_record([inst, n.to_string(), sum.to_string(), cmi.to_string()])?;
        }
        w.flush()?;
    }
    let with_data = cal.groups.iter().filter(|g| g.kept > 0).count();
    println!("weights calibration (权重测算)");
    println!("  records read              {}", stats.records);
    println!("  ungroupable (未入组)       {ungroupable}");
    println!("  without cost              {no_cost}");
    println!("  cases used / kept         {} / {}", cal.cases, cal.kept);
    println!("  all-case average cost     {} yuan", cal.overall_mean);
    println!("  DRGs with data            {with_data} of {}", cal.groups.len());
    println!("  RIV (变异减低系数)         {:.4}", cal.riv);
    println!("  share of groups CV < 1    {:.2}%", cal.share_cv_below_1 * 100.0);
    println!("weights: {}", a.out.display());
    Ok(())
}

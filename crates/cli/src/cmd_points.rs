//! `drgdip points`: points of every case with their derivation (seed 002 ch. 4).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use points::{GroupStandard, Params};
use rust_decimal::Decimal;

#[derive(clap::Args)]
pub struct PointsArgs {
    /// Parameter file (TOML) for the region and year; default: the built-in demo parameters.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Settlement-list files.
    #[arg(long, required = true, num_args = 1..)]
    pub cases: Vec<PathBuf>,
    /// DRG scheme directory (DRG regions: `method = "drg"` in the parameters).
    #[arg(long, required_unless_present = "library")]
    pub scheme: Option<PathBuf>,
    /// Weights table written by `drgdip weights calibrate` (columns code, rw,
    /// mean_cost; optional base_level 1/0 for 基层病种). DRG regions.
    #[arg(long, required_unless_present = "library")]
    pub weights: Option<PathBuf>,
    /// DIP library directory (`drgdip dip build` / `import`): DIP regions
    /// (`method = "dip"` in the parameters). The group score after the auxiliary
    /// catalogues is the base; deviation cases follow the points parameters.
    #[arg(long, conflicts_with_all = ["scheme", "weights"])]
    pub library: Option<PathBuf>,
    /// Institutions table (institution_id, level, tcm, alliance_lead_id); every
    /// institution the settlement lists name must be in it.
    #[arg(long)]
    pub institutions: PathBuf,
    /// Last year's settlement lists: the conversion rate of fee-for-service,
    /// per-diem and add-on points is derived from them when the parameters say
    /// `fee_for_service.yuan_per_point = "derived"` (the default).
    #[arg(long, num_args = 1..)]
    pub history_cases: Vec<PathBuf>,
    /// Code dictionaries for the coding-compliance QC rules (as `drgdip qc --codes`).
    #[arg(long, env = "DRGDIP_CODES")]
    pub codes: Option<PathBuf>,
    /// QC rule file replacing the built-in rules (as `drgdip qc --rules`).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Approved special cases (特例单议): a file with one case id per line
    /// (or a CSV whose first column is case_id).
    #[arg(long)]
    pub special_cases: Option<PathBuf>,
    /// Output CSV: one row per case with its breakdown.
    #[arg(long)]
    pub out: PathBuf,
}

/// Read a weights table for a DRG scheme: [`points::parse_standards`] (strict, every
/// bad line named), and every group must be a DRG of the scheme (a weight for a group
/// the scheme does not have is a table for another scheme or a typo).
pub(crate) fn load_standards(path: &Path, grouper: &drg::Grouper) -> anyhow::Result<HashMap<String, GroupStandard>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = points::parse_standards_located(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let scheme = grouper.scheme();
    let drgs: BTreeSet<&str> =
        scheme.mdcs.iter().flat_map(|m| &m.adrgs).flat_map(|a| &a.drgs).map(|d| d.code.as_str()).collect();
    let foreign: Vec<String> = rows
        .iter()
        .filter(|(_, g)| !drgs.contains(g.code.as_str()))
        .map(|(line, g)| format!("{} line {line}: group {} is not a DRG of the scheme {}", path.display(), g.code, scheme.name))
        .collect();
    if let Some(first) = foreign.first() {
        let more = if foreign.len() > 1 { format!(" (and {} more)", foreign.len() - 1) } else { String::new() };
        anyhow::bail!("{first}{more}");
    }
    Ok(rows.into_iter().map(|(_, g)| (g.code.clone(), g)).collect())
}

pub(crate) fn load_special(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split(',').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty() && l != "case_id")
        .collect())
}

/// How a claim finds its group standard: a DRG grouper with a weights table, or
/// a DIP library.
#[allow(clippy::large_enum_variant)] // one value per run
pub(crate) enum Classifier {
    Drg { grouper: drg::Grouper, standards: HashMap<String, GroupStandard> },
    Dip { grouper: dip::group::Grouper },
}

impl Classifier {
    /// The group standard of a claim, None when it is ungroupable (or its group has no weight).
    pub(crate) fn standard(&self, c: &claims::Claim, inst: &points::Institution) -> Option<GroupStandard> {
        match self {
            Classifier::Drg { grouper, standards } => {
                let g = crate::claims_io::group_claim(grouper, c, &mut Vec::new());
                // An ambiguous case (歧义病案) has no DRG to pay by, whatever the weights hold.
                if !g.status.is_grouped() {
                    return None;
                }
                standards.get(grouper.codes_of(&g).drg).cloned()
            }
            Classifier::Dip { grouper } => {
                let level = match inst.level.as_str() {
                    "三级" => Some(3),
                    "二级" => Some(2),
                    "一级" => Some(1),
                    _ => None,
                };
                let o = grouper.group(c, level, &mut dip::group::Scratch::default());
                let g = &grouper.groups()[o.group? as usize];
                Some(GroupStandard {
                    code: g.code.clone(),
                    weight: Decimal::new(o.adjusted_score.0, 4),
                    mean_cost: o.expected_cost.or(g.avg_cost)?,
                    base_level: g.base_level,
                })
            }
        }
    }

}

/// Load the DIP library of `dir` with the region's deviation rule left to the
/// points parameters (so it is applied once).
pub(crate) fn dip_classifier(dir: &Path) -> anyhow::Result<Classifier> {
    let lib = crate::cmd_dip::read_library(dir)?;
    let mut gp = lib.manifest.grouping.clone();
    gp.deviation.enabled = false;
    let grouper = dip::group::Grouper::with_params(lib, gp).with_context(|| format!("compiling {}", dir.display()))?;
    Ok(Classifier::Dip { grouper })
}

/// Points with exactly four decimals.
fn pts(d: Decimal) -> String {
    let mut x = d;
    x.rescale(points::POINT_PLACES);
    x.to_string()
}

pub fn run(a: PointsArgs) -> anyhow::Result<()> {
    let params = match &a.params {
        Some(p) => Params::from_toml(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
            .with_context(|| format!("{}", p.display()))?,
        None => Params::builtin(),
    };
    let classifier = match (&a.library, &a.scheme, &a.weights) {
        (Some(dir), _, _) => {
            if params.method != points::Method::Dip {
                anyhow::bail!("--library is for DIP regions: the parameters say method = \"drg\"");
            }
            dip_classifier(dir)?
        }
        (None, Some(scheme), Some(weights)) => {
            if params.method != points::Method::Drg {
                anyhow::bail!("the parameters say method = \"dip\": give --library DIR");
            }
            let grouper = drg::Grouper::new(crate::cmd_drg::load_scheme(scheme)?).map_err(|e| anyhow::anyhow!("{e}"))?;
            let standards = load_standards(weights, &grouper)?;
            Classifier::Drg { grouper, standards }
        }
        _ => anyhow::bail!("give --scheme and --weights (DRG) or --library (DIP)"),
    };
    let roster = crate::cmd_budget::load_roster(Some(&a.institutions), params.alliance.credit_to_lead)?;
    params.check_roster(roster.institutions.values()).with_context(|| {
        format!("{} with {}", crate::cmd_settle::points_params_name(a.params.as_deref()), a.institutions.display())
    })?;
    let special = crate::pricing::SpecialCases {
        ids: a.special_cases.as_deref().map(load_special).transpose()?.unwrap_or_default(),
        file: a.special_cases.clone(),
    };
    let gate = crate::pricing::Gate::load(a.rules.as_deref(), a.codes.as_deref())?;
    let unit = points::Conversion::fixed(Decimal::ONE);
    let pricing_of = |conv| crate::pricing::Pricing {
        classifier: &classifier,
        roster: &roster,
        params: &params,
        conv,
        special: &special,
        gate: &gate,
    };
    let basis = if a.history_cases.is_empty() {
        None
    } else {
        Some(crate::pricing::history_pass(&a.history_cases, &roster, Some(&pricing_of(&unit)))?.basis)
    };
    let conv = points::Conversion::resolve(&params, basis.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pricing = pricing_of(&conv);

    // Rows go to a temporary file first: versions and cross-record QC findings are
    // known only at the end, then the final file is written without the replaced
    // versions and with every withholding rule.
    let tmp = a.out.with_extension("csv.partial");
    let file = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record(POINTS_COLUMNS)?;
    struct Kept {
        method: &'static str,
        rule: &'static str,
        total: Decimal,
        credited: u32,
        payable: bool,
        /// (institution of the list, discharge year, quarter) for the special-case quota.
        quarter: Option<(u32, i32, u8)>,
        special: bool,
    }
    let mut kept: Vec<Kept> = Vec::new();
    let mut credited_ids: Vec<String> = Vec::new();
    let mut credited_index: HashMap<String, u32> = HashMap::new();
    let mut own_index: HashMap<String, u32> = HashMap::new();
    let mut err: Option<anyhow::Error> = None;
    let report = crate::pricing::pass(
        &a.cases,
        &pricing,
        |rec, p| {
            use chrono::Datelike;
            let c = &rec.claim;
            let quarter = c.discharged_at.map(|d| (d.year(), (d.month() as u8 - 1) / 3 + 1));
            let row = points_row(&p, c);
            (p, row, quarter)
        },
        |_, rec, (p, row, quarter)| {
            if err.is_some() {
                return;
            }
            let next = credited_ids.len() as u32;
            let credited = *credited_index.entry(p.credited_to.clone()).or_insert_with(|| {
                credited_ids.push(p.credited_to.clone());
                next
            });
            let n = own_index.len() as u32;
            let own = *own_index.entry(rec.claim.institution_id.clone()).or_insert(n);
            kept.push(Kept {
                method: p.method.as_str(),
                rule: p.rule.as_str(),
                total: p.total,
                credited,
                payable: p.payable,
                quarter: quarter.map(|(y, q)| (own, y, q)),
                special: p.rule == points::Rule::SpecialCase,
            });
            if let Err(e) = w.write_record(&row) {
                err = Some(e.into());
            }
        },
    )?;
    if let Some(e) = err {
        return Err(e);
    }
    w.flush()?;
    drop(w);

    // Special-case quota per institution and quarter, as the service applies it.
    let own_ids: BTreeMap<u32, &String> = own_index.iter().map(|(k, v)| (*v, k)).collect();
    let mut quota: BTreeMap<(String, u8), (u64, u64)> = BTreeMap::new();
    for (n, k) in kept.iter().enumerate() {
        if report.superseded(n as u32) {
            continue;
        }
        if let Some((own, y, q)) = k.quarter {
            let inst = own_ids.get(&own).map(|s| format!("{s} {y}")).unwrap_or_default();
            let e = quota.entry((inst, q)).or_default();
            e.0 += 1;
            e.1 += u64::from(k.special);
        }
    }
    crate::pricing::check_special_quota(&params, &quota, a.special_cases.as_deref())?;

    // The final file: replaced versions left out, late withholding applied.
    finish_rows(&tmp, &a.out, &report)?;
    let _ = std::fs::remove_file(&tmp);

    let mut by_rule: BTreeMap<(&'static str, &'static str), (u64, Decimal)> = BTreeMap::new();
    let mut by_inst: BTreeMap<&str, (u64, Decimal)> = BTreeMap::new();
    let (mut payable, mut withheld, mut withheld_points) = (0u64, 0u64, Decimal::ZERO);
    for (n, k) in kept.iter().enumerate() {
        if report.superseded(n as u32) {
            continue;
        }
        let is_payable = k.payable && !report.late_withheld.contains_key(&(n as u32));
        if !is_payable {
            withheld += 1;
            withheld_points += k.total;
            continue;
        }
        payable += 1;
        let e = by_rule.entry((k.method, k.rule)).or_default();
        e.0 += 1;
        e.1 += k.total;
        let e = by_inst.entry(&credited_ids[k.credited as usize]).or_default();
        e.0 += 1;
        e.1 += k.total;
    }
    if withheld > 0 {
        let mut first = Vec::new();
        for (n, k) in kept.iter().enumerate() {
            let n = n as u32;
            if first.len() == 5 {
                break;
            }
            if report.superseded(n) || (k.payable && !report.late_withheld.contains_key(&n)) {
                continue;
            }
            let (inst, case) = report.versions.key_of(n).unwrap_or(("", ""));
            first.push(format!("{inst}/{case} ({})", report.describe(report.locs[n as usize])));
        }
        eprintln!(
            "warning: {withheld} cases withheld by QC (payable = 0, withheld_reason names the rules; paid once a corrected list arrives): {}{}",
            first.join(", "),
            if withheld > 5 { ", …" } else { "" }
        );
    }
    let total: Decimal = by_rule.values().map(|v| v.1).sum();
    let mut out = std::io::stdout().lock();
    writeln!(out, "points (付费点数)  parameters {}", params.version)?;
    writeln!(out, "  records read   {}  (rejected {}; {} earlier versions dropped)", report.records, report.rejected, report.versions.replaced())?;
    writeln!(out, "  conversion     {}", conv.describe())?;
    for l in conv.describe_per_diem() {
        writeln!(out, "  per-diem       {l}")?;
    }
    writeln!(out, "  payable cases  {payable}")?;
    writeln!(out, "  withheld by QC {withheld} cases, {} points (payable = 0 in the output, withheld_reason names the rules)", pts(withheld_points))?;
    writeln!(out, "  payable points {}", pts(total))?;
    writeln!(out, "  by method and rule (payable cases):")?;
    for ((m, r), (n, p)) in &by_rule {
        writeln!(out, "    {m:<16} {r:<22} {n:>9} cases {:>18} points", pts(*p))?;
    }
    writeln!(out, "  institutions credited: {}", by_inst.len())?;
    writeln!(out, "points: {}", a.out.display())?;
    Ok(())
}

/// Columns of `drgdip points --out`.
pub const POINTS_COLUMNS: [&str; 22] = [
    "case_id", "institution_id", "credited_to", "method", "rule", "group", "weight", "mean_cost", "total_cost",
    "ratio", "threshold", "coefficient", "coefficient_source", "base_points", "case_points", "addon_points",
    "total_points", "per_diem_category", "yuan_per_point", "payable", "withheld_reason", "cite",
];

fn points_row(p: &points::Points, c: &claims::Claim) -> Vec<String> {
    let opt = |d: Option<Decimal>| d.map(|x| x.to_string()).unwrap_or_default();
    vec![
        p.case_id.clone(),
        c.institution_id.clone(),
        p.credited_to.clone(),
        p.method.as_str().to_owned(),
        p.rule.as_str().to_owned(),
        p.group.clone().unwrap_or_default(),
        opt(p.weight),
        p.mean_cost.map(|m| m.to_string()).unwrap_or_default(),
        c.total_cost.unwrap_or_default().to_string(),
        opt(p.ratio),
        opt(p.threshold),
        p.coefficient.to_string(),
        p.coefficient_source.as_str().to_owned(),
        pts(p.base_points),
        pts(p.case_points),
        pts(p.addon_points),
        pts(p.total),
        p.per_diem_category.clone().unwrap_or_default(),
        opt(p.yuan_per_point),
        if p.payable { "1" } else { "0" }.to_owned(),
        p.withheld_reason.join(";"),
        p.rule.cite().to_owned(),
    ]
}

/// Copy the rows of `tmp` to `out`, leaving out replaced versions and adding the
/// withholding rules found after the pass. Row n (after the header) is case n.
fn finish_rows(tmp: &Path, out: &Path, report: &crate::pricing::PassReport) -> anyhow::Result<()> {
    if report.versions.replaced() == 0 && report.late_withheld.is_empty() {
        return std::fs::rename(tmp, out).with_context(|| format!("writing {}", out.display()));
    }
    let mut r = csv::Reader::from_path(tmp).with_context(|| format!("reading {}", tmp.display()))?;
    let file = std::fs::File::create(out).with_context(|| format!("writing {}", out.display()))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record(POINTS_COLUMNS)?;
    let col = |name: &str| POINTS_COLUMNS.iter().position(|c| *c == name).expect("column");
    let (payable, reason) = (col("payable"), col("withheld_reason"));
    for (n, row) in r.records().enumerate() {
        let row = row?;
        let n = n as u32;
        if report.superseded(n) {
            continue;
        }
        match report.late_withheld.get(&n) {
            None => w.write_record(&row)?,
            Some(extra) => {
                let mut cells: Vec<String> = row.iter().map(str::to_owned).collect();
                let mut rules: Vec<String> =
                    cells[reason].split(';').filter(|s| !s.is_empty()).map(str::to_owned).collect();
                rules.extend(extra.iter().cloned());
                rules.sort();
                rules.dedup();
                cells[payable] = "0".into();
                cells[reason] = rules.join(";");
                w.write_record(&cells)?;
            }
        }
    }
    w.flush()?;
    Ok(())
}

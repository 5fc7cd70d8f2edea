//! `drgdip points`: points of every case with their derivation (seed 002 ch. 4).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use points::{CaseInput, GroupStandard, Params};
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
    /// Institutions table (institution_id, level, tcm, alliance_lead_id).
    #[arg(long)]
    pub institutions: Option<PathBuf>,
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
    fn standard(&self, c: &claims::Claim, inst: &points::Institution) -> Option<GroupStandard> {
        match self {
            Classifier::Drg { grouper, standards } => {
                let g = crate::claims_io::group_claim(grouper, c, &mut Vec::new());
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

    /// The fields of a claim grouping reads.
    pub(crate) fn fields(&self) -> Vec<claims::Field> {
        let mut f = crate::claims_io::GROUPING_FIELDS.to_vec();
        f.push(claims::Field::InstitutionId);
        f
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

/// Group a claim and price it: the points of one case as `drgdip points` and
/// `drgdip settle` compute them. The flag says whether the institution is in the
/// table; one that is not has no level and so no coefficient (its DRG/DIP points are
/// withheld, `points::Rule::NoCoefficient`), and the commands refuse such cases.
pub(crate) fn price_claim(
    classifier: &Classifier,
    institutions: &BTreeMap<String, points::Institution>,
    special: &BTreeSet<String>,
    params: &Params,
    c: &claims::Claim,
) -> (points::Points, bool) {
    let fallback;
    let known = institutions.get(&c.institution_id);
    let inst = match known {
        Some(i) => i,
        None => {
            fallback = points::Institution {
                id: c.institution_id.clone(),
                level: String::new(),
                tcm: false,
                alliance_lead: None,
            };
            &fallback
        }
    };
    let standard = classifier.standard(c, inst);
    let input = CaseInput {
        case_id: &c.case_id,
        group: standard.as_ref(),
        total_cost: c.total_cost.unwrap_or_default(),
        innovative_drug_cost: c.innovative_drug_cost.unwrap_or_default(),
        los: c.los.unwrap_or(0),
        main_dx: c.main_diagnosis.as_deref().unwrap_or(""),
        special_case: special.contains(&c.case_id),
    };
    (points::price(params, inst, &input), known.is_some())
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
    let institutions = match &a.institutions {
        Some(p) => crate::institutions_io::load(p)?,
        None => anyhow::bail!(
            "no --institutions: each institution's coefficient comes from its level in the institutions table (there is no default coefficient); give --institutions FILE"
        ),
    };
    params.check_roster(institutions.values()).with_context(|| {
        format!(
            "{} with {}",
            crate::cmd_settle::points_params_name(a.params.as_deref()),
            a.institutions.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
        )
    })?;
    let special = a.special_cases.as_deref().map(load_special).transpose()?.unwrap_or_default();
    let file = std::fs::File::create(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record([
        "case_id", "institution_id", "credited_to", "method", "rule", "group", "weight", "mean_cost", "total_cost",
        "ratio", "threshold", "coefficient", "coefficient_source", "base_points", "case_points", "addon_points",
        "total_points", "per_diem_category", "cite",
    ])?;
    let mut by_rule: BTreeMap<(&'static str, &'static str), (u64, Decimal)> = BTreeMap::new();
    let mut by_inst: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
    let mut unknown_inst: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut err: Option<anyhow::Error> = None;
    let mut fields = classifier.fields();
    fields.extend([
        claims::Field::CaseId,
        claims::Field::TotalCost,
        claims::Field::InnovativeDrugCost,
        claims::Field::Los,
    ]);
    let stats = crate::claims_io::par_map_batches(
        crate::claims_io::Batches::new(&a.cases).only(&fields),
        |rec| {
            let c = &rec.claim;
            let (p, known) = price_claim(&classifier, &institutions, &special, &params, c);
            let input_total = c.total_cost.unwrap_or_default();
            let opt = |d: Option<Decimal>| d.map(|x| x.to_string()).unwrap_or_default();
            let row = [
                p.case_id.clone(),
                c.institution_id.clone(),
                p.credited_to.clone(),
                p.method.as_str().to_owned(),
                p.rule.as_str().to_owned(),
                p.group.clone().unwrap_or_default(),
                opt(p.weight),
                p.mean_cost.map(|m| m.to_string()).unwrap_or_default(),
                input_total.to_string(),
                opt(p.ratio),
                opt(p.threshold),
                p.coefficient.to_string(),
                p.coefficient_source.as_str().to_owned(),
                pts(p.base_points),
                pts(p.case_points),
                pts(p.addon_points),
                pts(p.total),
                p.per_diem_category.clone().unwrap_or_default(),
                p.rule.cite().to_owned(),
            ];
            (p, row, !known)
        },
        |rec, (p, row, unknown)| {
            if err.is_some() {
                return;
            }
            if unknown {
                unknown_inst.entry(rec.claim.institution_id.clone()).or_insert((0, rec.claim.case_id.clone())).0 += 1;
                return;
            }
            let e = by_rule.entry((p.method.as_str(), p.rule.as_str())).or_default();
            e.0 += 1;
            e.1 += p.total;
            let e = by_inst.entry(p.credited_to).or_default();
            e.0 += 1;
            e.1 += p.total;
            if let Err(e) = w.write_record(&row) {
                err = Some(e.into());
            }
        },
    )?;
    if let Some(e) = err {
        return Err(e);
    }
    w.flush()?;
    if !unknown_inst.is_empty() {
        drop(w);
        let _ = std::fs::remove_file(&a.out);
        anyhow::bail!(
            "{}",
            crate::cmd_settle::unknown_institutions(&unknown_inst, a.institutions.as_deref().unwrap_or(Path::new("")))
        );
    }
    let total: Decimal = by_rule.values().map(|v| v.1).sum();
    let mut out = std::io::stdout().lock();
    writeln!(out, "points (付费点数)  parameters {}", params.version)?;
    writeln!(out, "  records read   {}", stats.records)?;
    writeln!(out, "  total points   {}", pts(total))?;
    writeln!(out, "  by method and rule:")?;
    for ((m, r), (n, p)) in &by_rule {
        writeln!(out, "    {m:<16} {r:<22} {n:>9} cases {:>18} points", pts(*p))?;
    }
    writeln!(out, "  institutions credited: {}", by_inst.len())?;
    writeln!(out, "points: {}", a.out.display())?;
    Ok(())
}

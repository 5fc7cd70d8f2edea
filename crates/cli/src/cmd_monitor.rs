//! `drgdip monitor ...`: indicator tables and abuse flags from settlement lists.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use monitor::detect::{self, Params};
use monitor::indicators::{self, change, Dim, Indicators};
use monitor::{Dataset, DatasetBuilder, Institution};

/// Inputs shared by the monitor and report commands.
#[derive(clap::Args, Clone)]
pub struct Inputs {
    /// Settlement-list files (CSV/JSONL/XLSX), e.g. claims-2024.csv claims-2025.csv.
    #[arg(long, num_args = 1.., required = true)]
    pub cases: Vec<PathBuf>,
    /// DRG scheme directory (e.g. crates/synth/data/demo-scheme).
    #[arg(long)]
    pub scheme: PathBuf,
    /// Institutions table (institution_id, name, level, drg_payment, dip_payment).
    #[arg(long)]
    pub institutions: Option<PathBuf>,
    /// Detector parameters (JSON, see crates/monitor/data/params-demo.json); default: built-in defaults.
    #[arg(long)]
    pub params: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum MonitorCommand {
    /// Indicator tables (指标): region, institution, level, department and DRG, per
    /// month, quarter and year, with the same period of the year before.
    Indicators {
        #[command(flatten)]
        inputs: Inputs,
        /// Output directory (indicators.csv, low_risk_groups.csv).
        #[arg(long)]
        out: PathBuf,
    },
    /// Abuse detection (疑点筛查): flags with explanations.
    Detect {
        #[command(flatten)]
        inputs: Inputs,
        /// Output directory (flags.csv, screened.csv).
        #[arg(long)]
        out: PathBuf,
        /// Labelled anomalies (anomalies.csv from `drgdip synth`): print precision and recall.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
}

pub fn run(cmd: MonitorCommand) -> anyhow::Result<()> {
    match cmd {
        MonitorCommand::Indicators { inputs, out } => {
            let t0 = Instant::now();
            let data = load(&inputs)?;
            let t1 = Instant::now();
            let rw = indicators::calibrate_rw(&data, &weights::Options::default());
            let ind = indicators::compute(&data, &rw);
            let t2 = Instant::now();
            std::fs::create_dir_all(&out)?;
            write_indicators(&data, &ind, &out.join("indicators.csv"))?;
            write_low_risk(&data, &rw, &ind, &out.join("low_risk_groups.csv"))?;
            eprintln!(
                "{} cases: read and grouped in {:.1} s, weights and indicators in {:.2} s ({} rows); wrote {}",
                data.cases.len(),
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                ind.rows.len(),
                out.display()
            );
            Ok(())
        }
        MonitorCommand::Detect { inputs, out, labels } => {
            let data = load(&inputs)?;
            let params = load_params(inputs.params.as_deref())?;
            let t1 = Instant::now();
            let rw = indicators::calibrate_rw(&data, &weights::Options::default());
            let det = detect::detect(&data, &rw, &params);
            eprintln!("detectors ran in {:.2} s", t1.elapsed().as_secs_f64());
            for n in &det.notes {
                eprintln!("warning: {n}");
            }
            std::fs::create_dir_all(&out)?;
            write_flags(&data, &det, &out)?;
            let mut counts = std::collections::BTreeMap::new();
            for f in &det.flags {
                *counts.entry(f.pattern.label()).or_insert(0u64) += 1;
            }
            for (p, n) in counts {
                println!("{p}: {n} flags");
            }
            println!("{} institution-years screened in; wrote {}", det.screened.len(), out.display());
            if let Some(l) = labels {
                let text = std::fs::read_to_string(&l).with_context(|| format!("reading {}", l.display()))?;
                let scores = monitor::eval::evaluate(&data, &det, &monitor::eval::parse_labels(&text));
                println!("{:<26} {:<12} {:>7} {:>7} {:>7} {:>9} {:>7}", "detector", "level", "TP", "FP", "FN", "precision", "recall");
                for s in scores {
                    println!(
                        "{:<26} {:<12} {:>7} {:>7} {:>7} {:>9.3} {:>7.3}",
                        s.pattern.label(),
                        format!("{:?}", s.level),
                        s.true_pos,
                        s.false_pos,
                        s.false_neg,
                        s.precision(),
                        s.recall()
                    );
                }
            }
            Ok(())
        }
    }
}

pub fn load_params(path: Option<&Path>) -> anyhow::Result<Params> {
    match path {
        None => Ok(Params::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Params::from_json(&text).with_context(|| format!("parsing {}", p.display()))
        }
    }
}

/// Institutions table: columns by name; `drg_payment` / `dip_payment` (1/0) give the payment method.
fn load_institutions(path: &Path) -> anyhow::Result<Vec<Institution>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let h = r.headers()?.clone();
    let col = |n: &str| h.iter().position(|x| x.trim().trim_start_matches('\u{feff}') == n);
    let id = col("institution_id").with_context(|| format!("{}: no institution_id column", path.display()))?;
    let (name, level, drg, dip) = (col("name"), col("level"), col("drg_payment"), col("dip_payment"));
    let (kind, specialty, tcm) = (col("type"), col("specialty"), col("tcm"));
    let mut out = Vec::new();
    for row in r.records() {
        let row = row?;
        let get = |c: Option<usize>| c.and_then(|c| row.get(c)).map(str::trim).unwrap_or("");
        let yes = |s: &str| matches!(s, "1" | "true" | "是" | "Y");
        let paid = (drg.is_some() || dip.is_some()).then(|| yes(get(drg)) || yes(get(dip)));
        // Kind of institution for peer comparison: `type` (综合/中医/专科) with its
        // `specialty` (专科/精神), else 中医 from the `tcm` flag.
        let kind = match (get(kind), get(specialty)) {
            ("", _) if yes(get(tcm)) => "中医".to_owned(),
            (k, "") => k.to_owned(),
            (k, s) => format!("{k}/{s}"),
        };
        out.push(Institution {
            id: get(Some(id)).to_owned(),
            name: get(name).to_owned(),
            level: get(level).to_owned(),
            drg_dip: paid,
            kind,
        });
    }
    Ok(out)
}

/// The fields the monitor reads from a claim: grouping, the case table
/// (`monitor::DatasetBuilder::push`) and the 14 cost categories.
pub fn monitor_fields() -> Vec<claims::Field> {
    use claims::Field::*;
    let mut f = crate::claims_io::GROUPING_FIELDS.to_vec();
    f.extend([
        CaseId,
        InstitutionId,
        PatientId,
        Department,
        AdmittedAt,
        DischargedAt,
        Los,
        AdmissionRoute,
        DischargeWay,
        TotalCost,
        SelfPay,
        SelfExpense,
        FundPaid,
    ]);
    f.extend(claims::field::COST_CATEGORIES);
    f
}

/// Read (only the fields the monitor uses), group and intern every case. Each
/// (institution, case id) counts once, the later version winning: when the cases
/// read hold a repeated one, they are read again leaving out the replaced records
/// (`Batches::latest_versions`, which reports them with both places).
pub fn load(inputs: &Inputs) -> anyhow::Result<Dataset> {
    let data = load_once(inputs, false)?;
    let mut versions = claims::Versions::new();
    for (i, c) in data.cases.iter().enumerate() {
        versions.push(&data.institutions[c.inst as usize].id, &data.case_ids[i]);
    }
    if versions.replaced() == 0 {
        return Ok(data);
    }
    drop(data);
    load_once(inputs, true)
}

fn load_once(inputs: &Inputs, latest: bool) -> anyhow::Result<Dataset> {
    let scheme = crate::cmd_drg::load_scheme(&inputs.scheme)?;
    let grouper = drg::Grouper::new(scheme).context("compiling the scheme")?;
    let insts = match &inputs.institutions {
        Some(p) => load_institutions(p)?,
        None => Vec::new(),
    };
    let mut b = DatasetBuilder::new(insts);
    let mut batches = crate::claims_io::Batches::new(&inputs.cases).only(&monitor_fields());
    if latest {
        batches = batches.latest_versions()?;
    }
    // Parsing, grouping and the per-claim part of the case table on worker
    // threads; interning in file order here, overlapped with the next blocks.
    // Each file's account of lines and its rejected lines are reported there.
    crate::claims_io::par_fold_batches(
        batches,
        monitor::Prepared::new,
        |p, rec| {
            let g = crate::claims_io::group_claim(&grouper, &rec.claim, &mut Vec::new());
            let codes = grouper.codes_of(&g);
            // Ambiguous cases (歧义病案) are in no DRG: counted with the ungroupable ones.
            let drg = g.status.is_grouped().then_some((codes.drg, codes.adrg, codes.drg_name));
            p.add(&rec.claim, drg, None, None);
        },
        |p| b.append(&p),
    )?;
    if b.skipped.no_discharge > 0 {
        eprintln!("{} records without a discharge date were left out", b.skipped.no_discharge);
    }
    Ok(b.finish())
}

fn f(x: f64, d: usize) -> String {
    if x.is_finite() {
        format!("{x:.d$}")
    } else {
        String::new()
    }
}

fn opt(x: Option<f64>, d: usize) -> String {
    x.map(|v| f(v, d)).unwrap_or_default()
}

fn write_indicators(data: &Dataset, ind: &Indicators, path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record([
        "dimension", "code", "name", "period", "cases", "grouped", "group_in_rate", "drg_count", "total_weight", "cmi",
        "time_index", "cost_index", "avg_los", "avg_cost", "total_cost", "fund", "self_pay_ratio", "out_of_scope_ratio",
        "fund_ratio", "deaths", "transfers", "transfer_rate", "low_risk_cases", "low_risk_deaths", "low_risk_mortality",
        "qc_pass_rate", "special_share", "fund_coverage", "cases_yoy", "cmi_yoy", "avg_los_yoy", "avg_cost_yoy",
        "total_cost_yoy", "fund_yoy",
    ])?;
    for r in &ind.rows {
        let (code, name) = monitor::report::dim_name(data, r.dim);
        let dim = match r.dim {
            Dim::Region => "region",
            Dim::Institution(_) => "institution",
            Dim::Level(_) => "level",
            Dim::Department(..) => "department",
            Dim::Group(_) => "drg",
        };
        let v = &r.v;
        let p = r.prev.as_ref();
        let yoy = |cur: f64, prev: Option<f64>| opt(change(cur, prev), 4);
        w.write_record([
            dim.to_string(),
            code,
            name,
            r.period.to_string(),
            v.cases.to_string(),
            v.grouped.to_string(),
            f(v.group_in_rate, 4),
            v.drg_count.to_string(),
            f(v.total_weight, 4),
            f(v.cmi, 4),
            f(v.time_index, 4),
            f(v.cost_index, 4),
            f(v.avg_los, 2),
            claims::Fen(v.avg_cost).to_string(),
            claims::Fen(v.total_cost).to_string(),
            claims::Fen(v.fund).to_string(),
            f(v.self_pay_ratio, 4),
            f(v.out_of_scope_ratio, 4),
            f(v.fund_ratio, 4),
            v.deaths.to_string(),
            v.transfers.to_string(),
            f(v.transfer_rate, 4),
            v.low_risk_cases.to_string(),
            v.low_risk_deaths.to_string(),
            opt(v.low_risk_mortality, 4),
            opt(v.qc_pass_rate, 4),
            opt(v.special_share, 4),
            opt(v.fund_coverage, 4),
            yoy(v.cases as f64, p.map(|p| p.cases as f64)),
            yoy(v.cmi, p.map(|p| p.cmi)),
            yoy(v.avg_los, p.map(|p| p.avg_los)),
            yoy(v.avg_cost as f64, p.map(|p| p.avg_cost as f64)),
            yoy(v.total_cost as f64, p.map(|p| p.total_cost as f64)),
            yoy(v.fund as f64, p.map(|p| p.fund as f64)),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn write_low_risk(data: &Dataset, rw: &[f64], ind: &Indicators, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record(["drg", "name", "rw", "ln_rw_z", "low_risk"])?;
    for (g, grp) in data.groups.iter().enumerate() {
        w.write_record([
            grp.code.clone(),
            grp.name.clone(),
            f(rw[g], 4),
            f(ind.rw_z[g], 3),
            u8::from(ind.low_risk[g]).to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn write_flags(data: &Dataset, det: &detect::Detection, out: &Path) -> anyhow::Result<()> {
    let path = out.join("flags.csv");
    let mut w = csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record(["pattern", "pattern_zh", "case_id", "institution_id", "year", "score", "reason"])?;
    for fl in &det.flags {
        w.write_record([
            fl.pattern.label().to_string(),
            fl.pattern.zh().to_string(),
            fl.case.map(|c| data.case_ids[c as usize].to_owned()).unwrap_or_default(),
            data.institutions[fl.inst as usize].id.clone(),
            fl.year.to_string(),
            f(fl.score, 3),
            fl.reason.clone(),
        ])?;
    }
    w.flush()?;
    let path = out.join("screened.csv");
    let mut w = csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record(["pattern", "pattern_zh", "institution_id", "year", "observed", "expected", "z", "reason"])?;
    for s in &det.screened {
        w.write_record([
            s.pattern.label().to_string(),
            s.pattern.zh().to_string(),
            data.institutions[s.inst as usize].id.clone(),
            s.year.to_string(),
            s.observed.to_string(),
            f(s.expected, 1),
            f(s.z, 2),
            s.reason.clone(),
        ])?;
    }
    w.flush()?;
    let _ = std::io::stdout().flush();
    Ok(())
}

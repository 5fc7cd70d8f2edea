//! `drgdip report monthly|quarterly|annual`: HTML and XLSX reports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use monitor::detect;
use monitor::indicators::{self, Period, PeriodKind};
use monitor::report::{self, CaseExtras, Report};

use crate::cmd_monitor::{load, load_params, Inputs};

#[derive(clap::Subcommand)]
pub enum ReportCommand {
    /// Monthly feedback to each institution (月度反馈): indicators, grouping results,
    /// points and QC findings when given, flags.
    Monthly {
        #[command(flatten)]
        inputs: Inputs,
        /// The month, e.g. 2025-03.
        #[arg(long)]
        period: String,
        /// Only this institution (default: every institution with cases in the month).
        #[arg(long)]
        institution: Option<String>,
        /// Points per case (the CSV `drgdip points` writes: case_id, total_points).
        #[arg(long)]
        points: Option<PathBuf>,
        /// QC findings per case (the CSV `drgdip qc` writes: case_id, rule, message).
        #[arg(long)]
        qc: Option<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Quarterly bulletin of the data group (季度通报).
    Quarterly {
        #[command(flatten)]
        inputs: Inputs,
        /// The quarter, e.g. 2025Q1.
        #[arg(long)]
        period: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Annual disclosure (年度信息公开).
    Annual {
        #[command(flatten)]
        inputs: Inputs,
        /// The year, e.g. 2025.
        #[arg(long)]
        period: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn write(r: &Report, out: &Path, stem: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let html = out.join(format!("{stem}.html"));
    std::fs::write(&html, r.to_html()).with_context(|| format!("writing {}", html.display()))?;
    let xlsx = out.join(format!("{stem}.xlsx"));
    let bytes = r.to_xlsx().map_err(|e| anyhow::anyhow!("building {}: {e}", xlsx.display()))?;
    std::fs::write(&xlsx, bytes).with_context(|| format!("writing {}", xlsx.display()))?;
    Ok(())
}

fn period_of(s: &str, kind: PeriodKind) -> anyhow::Result<Period> {
    let p: Period = s.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    if p.kind != kind {
        bail!("--period {s}: expected a {kind:?}");
    }
    Ok(p)
}

/// Read a CSV into (case_id → values of the named columns).
fn read_by_case(path: &Path, cols: &[&str]) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let h = r.headers()?.clone();
    let pos = |n: &str| h.iter().position(|x| x.trim().trim_start_matches('\u{feff}') == n);
    let id = pos("case_id").with_context(|| format!("{}: no case_id column", path.display()))?;
    let ix: Vec<Option<usize>> = cols.iter().map(|c| pos(c)).collect();
    let mut out = Vec::new();
    for row in r.records() {
        let row = row?;
        let vals = ix.iter().map(|c| c.and_then(|c| row.get(c)).unwrap_or("").to_owned()).collect();
        out.push((row.get(id).unwrap_or("").to_owned(), vals));
    }
    Ok(out)
}

pub fn run(cmd: ReportCommand) -> anyhow::Result<()> {
    let inputs = match &cmd {
        ReportCommand::Monthly { inputs, .. }
        | ReportCommand::Quarterly { inputs, .. }
        | ReportCommand::Annual { inputs, .. } => inputs.clone(),
    };
    let data = load(&inputs)?;
    let params = load_params(inputs.params.as_deref())?;
    let rw = indicators::calibrate_rw(&data, &weights::Options::default());
    let ind = indicators::compute(&data, &rw);
    let det = detect::detect(&data, &rw, &params);
    for n in &det.notes {
        eprintln!("warning: {n}");
    }
    match cmd {
        ReportCommand::Monthly { period, institution, points, qc, out, .. } => {
            let period = period_of(&period, PeriodKind::Month)?;
            let index: HashMap<&str, u32> =
                data.case_ids.iter().enumerate().map(|(i, s)| (s, i as u32)).collect();
            let mut extras = CaseExtras::default();
            if let Some(p) = points {
                for (id, v) in read_by_case(&p, &["total_points"])? {
                    if let (Some(&i), Ok(x)) = (index.get(id.as_str()), v[0].parse::<f64>()) {
                        *extras.points.entry(i).or_default() += x;
                    }
                }
            }
            if let Some(p) = qc {
                for (id, v) in read_by_case(&p, &["rule", "message"])? {
                    if let Some(&i) = index.get(id.as_str()) {
                        extras.qc.entry(i).or_default().push(format!("{} {}", v[0], v[1]).trim().to_owned());
                    }
                }
            }
            let mut n = 0;
            for (i, x) in data.institutions.iter().enumerate() {
                if institution.as_deref().is_some_and(|id| id != x.id) {
                    continue;
                }
                let i = i as u32;
                if ind.get(indicators::Dim::Institution(i), period).is_none() {
                    continue;
                }
                let r = report::monthly_feedback(&data, &ind, &det, &extras, i, period);
                write(&r, &out, &format!("monthly-{period}-{}", x.id))?;
                n += 1;
            }
            println!("wrote {n} monthly feedback reports (HTML + XLSX) to {}", out.display());
        }
        ReportCommand::Quarterly { period, out, .. } => {
            let period = period_of(&period, PeriodKind::Quarter)?;
            write(&report::quarterly_bulletin(&data, &ind, &det, period), &out, &format!("quarterly-{period}"))?;
            println!("wrote quarterly-{period}.html and .xlsx to {}", out.display());
        }
        ReportCommand::Annual { period, out, .. } => {
            let period = period_of(&period, PeriodKind::Year)?;
            write(&report::annual_disclosure(&data, &ind, period.year), &out, &format!("annual-{period}"))?;
            println!("wrote annual-{period}.html and .xlsx to {}", out.display());
        }
    }
    Ok(())
}

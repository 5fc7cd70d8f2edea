//! `drgdip synth`: write a synthetic pooling region (institutions, settlement
//! lists per year, ground-truth labels of injected abuse patterns).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Number of institutions (定点医疗机构).
    #[arg(long, default_value_t = 50)]
    pub hospitals: usize,
    /// Number of inpatient cases over all years.
    #[arg(long, default_value_t = 100_000)]
    pub cases: u64,
    /// Settlement years, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2024,2025")]
    pub years: Vec<i32>,
    /// Random seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// A DRG scheme directory in the chs-drg-1.1 layout (e.g.
    /// ../shared/reference/chs-drg-1.1); default: the built-in demo scheme.
    #[arg(long)]
    pub scheme: Option<PathBuf>,
    /// Code dictionaries directory (icd10_diagnoses.tsv, icd9cm3_procedures.tsv):
    /// only codes valid there are used. Default with --scheme: `<scheme>/../codes`
    /// when it exists; without --scheme: the built-in demo dictionary.
    #[arg(long)]
    pub codes: Option<PathBuf>,
    /// Share of an abusive institution's cases carrying its injected pattern.
    #[arg(long, default_value_t = 0.04)]
    pub anomaly_rate: f64,
}

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    if args.years.is_empty() {
        bail!("--years needs at least one year");
    }
    if args.hospitals == 0 {
        bail!("--hospitals must be at least 1");
    }
    let started = Instant::now();
    let (scheme, dicts) = match &args.scheme {
        Some(dir) => {
            let scheme = crate::cmd_drg::load_scheme(dir)?;
            let codes_dir = args.codes.clone().or_else(|| {
                let guess = dir.parent().map(|p| p.join("codes"))?;
                guess
                    .join(crate::codes_io::DIAGNOSES)
                    .exists()
                    .then_some(guess)
            });
            let dicts = match codes_dir {
                Some(c) => {
                    eprintln!("codes restricted to the dictionaries in {}", c.display());
                    Some(crate::codes_io::load(&c)?)
                }
                None => None,
            };
            (scheme, dicts)
        }
        None => {
            let dicts = match &args.codes {
                Some(c) => crate::codes_io::load(c)?,
                None => synth::demo::dictionaries().context("built-in demo dictionary")?,
            };
            (
                synth::demo::scheme().context("built-in demo scheme")?,
                Some(dicts),
            )
        }
    };
    let grouper = drg::Grouper::new(scheme).context("compiling the scheme")?;
    let cfg = synth::Config {
        hospitals: args.hospitals,
        cases: args.cases,
        years: args.years.clone(),
        seed: args.seed,
        anomaly_rate: args.anomaly_rate,
        ..synth::Config::default()
    };
    let gen = synth::Generator::new(cfg, &grouper, dicts.as_ref());
    let cat = gen.catalog();
    eprintln!(
        "{} case templates verified in {} of {} ADRGs",
        cat.templates.len(),
        cat.adrgs.len() - cat.unverified.len(),
        cat.adrgs.len()
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let create = |name: &str| -> anyhow::Result<BufWriter<File>> {
        let p = args.out.join(name);
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(&p).with_context(|| format!("creating {}", p.display()))?,
        ))
    };
    let mut inst = create("institutions.csv")?;
    gen.write_institutions(&mut inst)?;
    inst.flush()?;
    let mut anomalies = create("anomalies.csv")?;
    anomalies.write_all(synth::ANOMALIES_HEADER.as_bytes())?;
    let total: u64 = gen.year_cases().iter().sum();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("synth [{bar:30}] {pos}/{len} cases {per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let mut before = 0;
    for (i, year) in args.years.iter().enumerate() {
        let name = format!("claims-{year}.csv");
        let mut out = create(&name)?;
        let b = bar.clone();
        let base = before;
        gen.write_year(i, &mut out, &mut anomalies, &move |n| {
            b.set_position(base + n)
        })
        .with_context(|| format!("writing {name}"))?;
        out.flush()?;
        before += gen.year_cases()[i];
    }
    anomalies.flush()?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} institutions and {} cases ({}) to {} in {:.1} s",
        gen.region().institutions.len(),
        total,
        args.years
            .iter()
            .map(|y| format!("claims-{y}.csv"))
            .collect::<Vec<_>>()
            .join(", "),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

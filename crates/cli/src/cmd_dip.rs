//! `drgdip dip ...`: build a DIP library (病种目录库) from history, import a published
//! one, group cases against it.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use claims::import::Reader;
use claims::Fen;
use dip::aux::{CciTable, Coefficients};
use dip::import::ImportOptions;
use dip::library::{file_names, Library};
use dip::params::{
    parse_name, BuildParams, DeviationParams, DxLevel, KeyProcedures, MatchRule, ProcLevel,
    Reference, Trim,
};
use dip::{Builder, Fixed, Grouper, ProcClassifier, Scratch};

#[derive(clap::Subcommand)]
pub enum DipCommand {
    /// Build a library from historical settlement lists: core groups (核心病种) for
    /// combinations with at least --min-cases cases, comprehensive groups (综合病种)
    /// for the rest, trimmed averages, scores, auxiliary coefficients.
    Build(BuildArgs),
    /// Import a published library (CSV or XLSX; Chinese or English headers).
    Import(ImportArgs),
    /// Group cases: group, score, auxiliary adjustment, deviation (偏差病例), trace.
    Group(GroupArgs),
    /// Write a library as a published-style CSV (Chinese headers), readable by `import`.
    Export {
        /// Library directory.
        #[arg(long)]
        library: PathBuf,
        /// Output CSV.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Settlement-list files (CSV UTF-8/GBK, JSON Lines, XLSX).
    #[arg(long, required = true, num_args = 1..)]
    pub cases: Vec<PathBuf>,
    /// Output library directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Cases a diagnosis+procedure combination needs to be a core group.
    #[arg(long, default_value_t = 15)]
    pub min_cases: u32,
    /// Score of the all-case average (1000; some regions use 100).
    #[arg(long, default_value = "1000")]
    pub base: String,
    /// Main-diagnosis level: subcategory (亚目, K35.8) or category (类目, K35).
    #[arg(long, default_value = "subcategory", value_parser = parse_name::<DxLevel>)]
    pub dx_level: DxLevel,
    /// Procedure key: full (医保版 code) or detail (first five characters, 47.01).
    #[arg(long, default_value = "full", value_parser = parse_name::<ProcLevel>)]
    pub proc_level: ProcLevel,
    /// Procedures forming the key: all, non-diagnostic, surgical-only.
    #[arg(long, default_value = "all", value_parser = parse_name::<KeyProcedures>)]
    pub key_procedures: KeyProcedures,
    /// Outlier trimming: `percentile:2.5:97.5`, `logsd:3` or `none`.
    #[arg(long, default_value = "percentile:2.5:97.5", value_parser = parse_trim)]
    pub trim: Trim,
    /// Reference cost: group-weighted (trimmed basis) or raw-mean.
    #[arg(long, default_value = "group-weighted", value_parser = parse_name::<Reference>)]
    pub reference: Reference,
    /// Institution → hospital level (1/2/3 or 一级/二级/三级) file, two columns
    /// (CSV or TSV, header optional), for per-level averages.
    #[arg(long)]
    pub levels: Option<PathBuf>,
    /// Procedure-class prefix table (proc_classes.tsv) replacing the built-in one.
    #[arg(long)]
    pub proc_classes: Option<PathBuf>,
    /// Surgical procedure list (first column codes, e.g. CHS-DRG surgical_procedures.tsv).
    #[arg(long)]
    pub surgical: Option<PathBuf>,
    /// CCI weight table (prefix, family, weight) replacing the built-in one.
    #[arg(long)]
    pub cci: Option<PathBuf>,
    /// Group codes or diagnoses to flag as 基层病种 (one a line).
    #[arg(long)]
    pub base_level: Option<PathBuf>,
    /// Group codes or diagnoses to flag as 中医优势病种 (one a line).
    #[arg(long)]
    pub tcm: Option<PathBuf>,
    /// Version label written to the manifest.
    #[arg(long, default_value = "")]
    pub version: String,
    /// Cases a level of an auxiliary catalogue needs for an estimated coefficient.
    #[arg(long, default_value_t = 30)]
    pub aux_min_cases: u32,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Published library (CSV or XLSX).
    #[arg(long)]
    pub file: PathBuf,
    /// Output library directory.
    #[arg(long)]
    pub out: PathBuf,
    /// The base score of the published library.
    #[arg(long, default_value = "1000")]
    pub base: String,
    /// The all-case average cost in yuan, if published (used to derive group averages).
    #[arg(long)]
    pub reference_cost: Option<String>,
    #[arg(long, default_value = "subcategory", value_parser = parse_name::<DxLevel>)]
    pub dx_level: DxLevel,
    #[arg(long, default_value = "full", value_parser = parse_name::<ProcLevel>)]
    pub proc_level: ProcLevel,
    #[arg(long, default_value = "all", value_parser = parse_name::<KeyProcedures>)]
    pub key_procedures: KeyProcedures,
    #[arg(long)]
    pub proc_classes: Option<PathBuf>,
    #[arg(long)]
    pub surgical: Option<PathBuf>,
    /// Version label written to the manifest.
    #[arg(long, default_value = "")]
    pub version: String,
}

#[derive(clap::Args)]
pub struct GroupArgs {
    /// Library directory.
    #[arg(long)]
    pub library: PathBuf,
    /// Case file (CSV UTF-8/GBK, JSON Lines, XLSX).
    #[arg(long)]
    pub cases: PathBuf,
    /// Output CSV.
    #[arg(long)]
    pub out: PathBuf,
    /// Institution → hospital level file (as for build).
    #[arg(long)]
    pub levels: Option<PathBuf>,
    /// Override the manifest's match rule: exact-then-highest-score,
    /// exact-then-most-procedures, exact-only.
    #[arg(long, value_parser = parse_name::<MatchRule>)]
    pub match_rule: Option<MatchRule>,
    /// High-cost deviation threshold (cost ratio), overriding the manifest.
    #[arg(long)]
    pub high: Option<String>,
    /// Low-cost deviation threshold (cost ratio), overriding the manifest.
    #[arg(long)]
    pub low: Option<String>,
    /// Do not assess deviation cases.
    #[arg(long)]
    pub no_deviation: bool,
    /// Do not apply auxiliary coefficients.
    #[arg(long)]
    pub no_aux: bool,
}

fn parse_trim(s: &str) -> Result<Trim, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let num = |x: &str| {
        x.trim()
            .parse::<f64>()
            .map_err(|_| format!("not a number: {x:?}"))
    };
    match parts.as_slice() {
        ["none"] => Ok(Trim::None),
        ["percentile"] => Ok(Trim::default()),
        ["percentile", lo, hi] => {
            let (lower, upper) = (num(lo)?, num(hi)?);
            if !(0.0..50.0).contains(&lower) || !(50.0..=100.0).contains(&upper) {
                return Err("percentiles must satisfy 0 ≤ lower < 50 ≤ upper ≤ 100".into());
            }
            Ok(Trim::Percentile { lower, upper })
        }
        ["logsd", k] => Ok(Trim::LogSd { k: num(k)? }),
        _ => Err(format!(
            "unknown trim rule {s:?}: use percentile:LO:HI, logsd:K or none"
        )),
    }
}

fn fixed(s: &str, what: &str) -> anyhow::Result<Fixed> {
    Fixed::parse(s).with_context(|| format!("--{what}"))
}

pub fn run(cmd: DipCommand) -> anyhow::Result<()> {
    match cmd {
        DipCommand::Build(a) => build(a),
        DipCommand::Import(a) => import(a),
        DipCommand::Group(a) => group(a),
        DipCommand::Export { library, out } => {
            let lib = read_library(&library)?;
            std::fs::write(&out, dip::import::to_published_csv(&lib))
                .with_context(|| format!("writing {}", out.display()))?;
            println!("{} groups written to {}", lib.groups.len(), out.display());
            Ok(())
        }
    }
}

fn read(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

/// Institution id → hospital level 1..=3. Two columns (id, level), or a CSV/TSV with a
/// header naming `institution_id` and `level` (e.g. `drgdip synth`'s institutions.csv).
fn load_levels(p: &Path) -> anyhow::Result<HashMap<String, u8>> {
    let text = read(p)?;
    let mut lines = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}'))
        .enumerate()
        .peekable();
    let split =
        |l: &str| -> Vec<String> { l.split(['\t', ',']).map(|c| c.trim().to_owned()).collect() };
    let (mut id_col, mut lv_col) = (0, 1);
    if let Some((_, first)) = lines.peek() {
        let h = split(first);
        let find = |names: &[&str]| h.iter().position(|c| names.contains(&c.as_str()));
        if let (Some(i), Some(l)) = (
            find(&["institution_id", "机构编码", "定点医疗机构编码"]),
            find(&["level", "医院等级", "级别"]),
        ) {
            (id_col, lv_col) = (i, l);
            lines.next();
        }
    }
    let mut m = HashMap::new();
    let mut unknown = 0;
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cols = split(line);
        let (id, lv) = (
            cols.get(id_col).map(String::as_str).unwrap_or(""),
            cols.get(lv_col).map(String::as_str).unwrap_or(""),
        );
        let level = match lv {
            "1" | "一级" | "基层" | "一级及以下" | "level1" => 1,
            "2" | "二级" | "level2" => 2,
            "3" | "三级" | "level3" => 3,
            _ if i == 0 => continue, // header
            other => {
                unknown += 1;
                if unknown <= 5 {
                    eprintln!("{} line {}: unknown hospital level {other:?}: institution treated as level unknown", p.display(), i + 1);
                }
                continue;
            }
        };
        m.insert(id.to_owned(), level);
    }
    Ok(m)
}

fn classifier(
    proc_classes: Option<&Path>,
    surgical: Option<&Path>,
) -> anyhow::Result<ProcClassifier> {
    let mut c = match proc_classes {
        Some(p) => {
            ProcClassifier::parse_tsv(&read(p)?).with_context(|| format!("{}", p.display()))?
        }
        None => ProcClassifier::builtin(),
    };
    if let Some(p) = surgical {
        let text = read(p)?;
        let codes: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split(['\t', ',']).next())
            .map(|c| c.trim().trim_start_matches('\u{feff}'))
            .filter(|c| codes::looks_like_procedure(c))
            .collect();
        if codes.is_empty() {
            bail!("{}: no procedure codes in the first column", p.display());
        }
        c = c.with_surgical_list(codes);
    }
    Ok(c)
}

fn open_cases(p: &Path) -> anyhow::Result<Reader<'static>> {
    let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("cases.csv");
    let r = Reader::open(name, std::io::BufReader::with_capacity(1 << 20, f), None)
        .with_context(|| format!("reading {}", p.display()))?;
    Ok(r)
}

fn write_library(lib: &Library, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in lib.to_files() {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

pub(crate) fn read_library(dir: &Path) -> anyhow::Result<Library> {
    if !dir.join(file_names::MANIFEST).is_file() {
        bail!(
            "{}: not a DIP library directory (no {})",
            dir.display(),
            file_names::MANIFEST
        );
    }
    Library::from_files(|n| std::fs::read_to_string(dir.join(n)).ok())
        .with_context(|| format!("loading library {}", dir.display()))
}

fn build(a: BuildArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut params = BuildParams {
        min_cases: a.min_cases,
        dx_level: a.dx_level,
        proc_level: a.proc_level,
        key_procedures: a.key_procedures,
        trim: a.trim,
        base: fixed(&a.base, "base")?,
        reference: a.reference,
        ..BuildParams::default()
    };
    params.aux.min_cases = a.aux_min_cases;
    if params.base <= Fixed::ZERO {
        bail!("--base must be positive");
    }
    let levels = a.levels.as_deref().map(load_levels).transpose()?;
    let cci = match &a.cci {
        Some(p) => CciTable::parse_tsv(&read(p)?).map_err(anyhow::Error::msg)?,
        None => CciTable::builtin(),
    };
    let mut b = Builder::new(
        params,
        classifier(a.proc_classes.as_deref(), a.surgical.as_deref())?,
        cci,
    );
    // Files are parsed on their own threads (parsing dominates); one builder on this
    // thread takes batches of records in the order they arrive. The library does not
    // depend on that order.
    // Each (institution, case) counts once, the later version winning (reported).
    let skip = crate::claims_io::Batches::new(&a.cases).latest_versions()?.superseded();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<claims::Claim>>(16);
    let unreadable = std::sync::atomic::AtomicU64::new(0);
    let parsed: anyhow::Result<()> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (file, path) in a.cases.iter().enumerate() {
            let tx = tx.clone();
            let unreadable = &unreadable;
            let skip = skip.clone();
            handles.push(s.spawn(move || -> anyhow::Result<()> {
                let mut rdr = open_cases(path)?;
                let mut lines = crate::claims_io::FileLines::new(rdr.format);
                if !rdr.header.unknown.is_empty() {
                    eprintln!(
                        "{}: columns not used: {}",
                        path.display(),
                        rdr.header.unknown.join(", ")
                    );
                }
                let mut batch = Vec::with_capacity(4096);
                for item in rdr.by_ref() {
                    lines.take(&item);
                    match item {
                        Ok(rec) if skip.as_ref().is_some_and(|sk| sk.contains(file as u32, rec.line)) => {}
                        Ok(rec) => {
                            batch.push(rec.claim);
                            if batch.len() == 4096
                                && tx
                                    .send(std::mem::replace(&mut batch, Vec::with_capacity(4096)))
                                    .is_err()
                            {
                                return Ok(());
                            }
                        }
                        Err(_) => {
                            unreadable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
                lines.count = rdr.line_count();
                let name = path.display().to_string();
                crate::claims_io::report_lines(&name, &lines, &crate::claims_io::qc_hint(&name));
                let _ = tx.send(batch);
                Ok(())
            }));
        }
        drop(tx);
        for batch in rx {
            for claim in &batch {
                let level = levels
                    .as_ref()
                    .and_then(|m| m.get(&claim.institution_id).copied());
                let _ = b.add(claim, level);
            }
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a reader thread panicked"))??;
        }
        Ok(())
    });
    parsed?;
    let unreadable = unreadable.into_inner();
    let read_secs = started.elapsed().as_secs_f64();
    let version = if a.version.is_empty() {
        "build".to_owned()
    } else {
        a.version.clone()
    };
    let Some((mut lib, report)) = b.finish(&version) else {
        bail!("no usable case (each needs a main diagnosis and a positive total cost)");
    };
    let flag_list = |p: &Path| -> anyhow::Result<Vec<String>> {
        Ok(read(p)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    };
    if let Some(p) = &a.base_level {
        let n = lib.flag_base_level(flag_list(p)?.iter().map(String::as_str));
        eprintln!("基层病种: {n} groups flagged");
    }
    if let Some(p) = &a.tcm {
        let n = lib.flag_tcm(flag_list(p)?.iter().map(String::as_str));
        eprintln!("中医优势病种: {n} groups flagged");
    }
    write_library(&lib, &a.out)?;
    let rp = a.out.join("build_report.json");
    std::fs::write(&rp, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", rp.display()))?;
    println!(
        "cases read {} (unreadable rows {unreadable}), used {}, skipped: no main diagnosis {}, no cost {}",
        report.cases_read, report.cases_used, report.skipped_main_diagnosis, report.skipped_cost
    );
    println!(
        "core groups (核心病种) {}, comprehensive groups (综合病种) {}; core share {:.2} % of cases",
        report.core_groups,
        report.comprehensive_groups,
        report.core_share * 100.0
    );
    let shares: Vec<String> = report
        .threshold_shares
        .iter()
        .map(|(t, s)| format!("≥{t}: {:.1} %", s * 100.0))
        .collect();
    println!("core share by threshold (临界值): {}", shares.join(", "));
    println!(
        "trimmed {} cases; within-group CV: core {:.4}, comprehensive {:.4}, all {:.4}",
        report.trimmed, report.cv_core, report.cv_comprehensive, report.cv_all
    );
    println!(
        "reference cost {} yuan; weighted mean score {} (base {})",
        Fen(report.reference_cost),
        report.weighted_mean_score,
        lib.manifest.base
    );
    println!(
        "library written to {} in {:.1} s (reading and accumulating {:.1} s)",
        a.out.display(),
        started.elapsed().as_secs_f64(),
        read_secs
    );
    Ok(())
}

fn import(a: ImportArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let reference_cost = a
        .reference_cost
        .as_deref()
        .map(|s| Fen::parse_yuan(s).map_err(|e| anyhow::anyhow!("--reference-cost: {e}")))
        .transpose()?;
    let opts = ImportOptions {
        version: a.version.clone(),
        base: fixed(&a.base, "base")?,
        reference_cost,
        dx_level: a.dx_level,
        proc_level: a.proc_level,
        key_procedures: a.key_procedures,
        classifier: classifier(a.proc_classes.as_deref(), a.surgical.as_deref())?,
        coefficients: Coefficients::default(),
        ..ImportOptions::default()
    };
    let name = a
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("library.csv");
    let (lib, report) = dip::import::import(name, &bytes, opts)
        .with_context(|| format!("importing {}", a.file.display()))?;
    if !report.unknown_columns.is_empty() {
        eprintln!(
            "unknown columns (ignored): {}",
            report.unknown_columns.join(", ")
        );
    }
    for (line, why) in report.rejected.iter().take(20) {
        eprintln!("{} line {line}: {why}", a.file.display());
    }
    if report.rejected.len() > 20 {
        eprintln!("... {} rows rejected in all", report.rejected.len());
    }
    // Check it compiles before writing.
    Grouper::new(lib.clone()).context("the imported library is inconsistent")?;
    write_library(&lib, &a.out)?;
    println!(
        "{} rows: {} core, {} comprehensive, {} rejected; library written to {}",
        report.rows,
        report.core,
        report.comprehensive,
        report.rejected.len(),
        a.out.display()
    );
    Ok(())
}

fn group(a: GroupArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let lib = read_library(&a.library)?;
    let mut params = lib.manifest.grouping.clone();
    if let Some(r) = a.match_rule {
        params.match_rule = r;
    }
    let deviation = DeviationParams {
        enabled: params.deviation.enabled && !a.no_deviation,
        high: a
            .high
            .as_deref()
            .map(|s| fixed(s, "high"))
            .transpose()?
            .unwrap_or(params.deviation.high),
        low: a
            .low
            .as_deref()
            .map(|s| fixed(s, "low"))
            .transpose()?
            .unwrap_or(params.deviation.low),
        ..params.deviation
    };
    if deviation.low > deviation.high {
        bail!("--low must not exceed --high");
    }
    params.deviation = deviation;
    params.apply_aux &= !a.no_aux;
    let grouper = Grouper::with_params(lib, params).context("compiling the library")?;
    let levels = a.levels.as_deref().map(load_levels).transpose()?;
    let mut rdr = open_cases(&a.cases)?;
    let mut lines = crate::claims_io::FileLines::new(rdr.format);
    let out = File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, out));
    w.write_record([
        "case_id",
        "group",
        "kind",
        "match",
        "class",
        "group_score",
        "severity",
        "tumour",
        "age",
        "cci",
        "aux_coefficient",
        "adjusted_score",
        "expected_cost",
        "cost_ratio",
        "deviation",
        "score",
        "trace",
    ])?;
    let mut scratch = Scratch::default();
    let (mut n, mut grouped, mut core, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut total = Fixed::ZERO;
    let level_str = |l: u8| {
        if l == dip::aux::NA {
            String::new()
        } else {
            l.to_string()
        }
    };
    for item in rdr.by_ref() {
        lines.take(&item);
        let rec = match item {
            Ok(r) => r,
            Err(_) => {
                errors += 1;
                continue;
            }
        };
        n += 1;
        let level = levels
            .as_ref()
            .and_then(|m| m.get(&rec.claim.institution_id).copied());
        let o = grouper.group(&rec.claim, level, &mut scratch);
        let (kind, how) = match o.how {
            dip::Match::Exact => ("core", "exact".to_owned()),
            dip::Match::Subset { matched, of } => ("core", format!("subset {matched}/{of}")),
            dip::Match::Comprehensive => ("comprehensive", "comprehensive".to_owned()),
            dip::Match::NoMainDiagnosis => ("", "no_main_diagnosis".to_owned()),
            dip::Match::NoComprehensiveGroup => ("", "no_comprehensive_group".to_owned()),
        };
        if o.group.is_some() {
            grouped += 1;
            total = Fixed(total.0 + o.score.0);
        }
        if kind == "core" {
            core += 1;
        }
        let opt = |v: Option<String>| v.unwrap_or_default();
        w.write_record([
            rec.claim.case_id.as_str(),
            grouper.code(&o),
            kind,
            how.as_str(),
            o.class.key(),
            &o.group_score.to_string(),
            &level_str(o.levels.severity),
            &level_str(o.levels.tumour),
            &level_str(o.levels.age),
            &o.levels.cci.to_string(),
            &o.aux_coefficient.to_string(),
            &o.adjusted_score.to_string(),
            &opt(o.expected_cost.map(|f| f.to_string())),
            &opt(o.cost_ratio.map(|f| f.to_string())),
            o.deviation.key(),
            &o.score.to_string(),
            &grouper.trace(&o),
        ])?;
    }
    w.flush()?;
    lines.count = rdr.line_count();
    let name = a.cases.display().to_string();
    crate::claims_io::report_lines(&name, &lines, &crate::claims_io::qc_hint(&name));
    let pct = |x: u64| {
        if n == 0 {
            0.0
        } else {
            x as f64 * 100.0 / n as f64
        }
    };
    println!(
        "{n} cases: grouped {grouped} ({:.2} %), core {core} ({:.2} %), ungrouped {}; unreadable rows {errors}; total score {total}; {:.1} s",
        pct(grouped),
        pct(core),
        n - grouped,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

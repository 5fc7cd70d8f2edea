//! `drgdip drg ...` subcommands: group settlement lists under one or more schemes,
//! explain one case, compare schemes, import the official table layout.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use std::io::BufReader;

use anyhow::{bail, Context};
use drg::scheme::file_names;
use drg::{Grouper, Lang, Scheme, SchemeFiles};

/// Output language of `explain`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LangArg {
    /// Chinese.
    Zh,
    /// English.
    En,
}

#[derive(clap::Subcommand)]
pub enum DrgCommand {
    /// Group every case of settlement-list files (CSV UTF-8/GBK, JSON Lines or XLSX,
    /// English or Chinese headers; also the grouping-case layout case_id, sex, age,
    /// age_days, weight_g, los, discharge_way, dept, icu_hours, diagnoses, procedures)
    /// under one or more schemes.
    Group {
        /// Scheme directory (scheme.json, cc.tsv, mcc.tsv, main_dx_exclusion.tsv,
        /// surgical_procedures.tsv, drg_names.tsv); repeat to group under several
        /// schemes in one pass (one column set per scheme, named by its directory).
        #[arg(long, required = true, num_args = 1..)]
        scheme: Vec<PathBuf>,
        /// Input files.
        #[arg(long, required = true, num_args = 1..)]
        cases: Vec<PathBuf>,
        /// Output CSV: case_id[,institution_id],mdc,adrg,drg,status,drg_name,reason (and
        /// `unmapped` with --map-codes); with several schemes each column is prefixed
        /// by the scheme's name (`chs-drg-1.1.drg`).
        #[arg(long)]
        out: PathBuf,
        /// Map national clinical-edition codes (国家临床版) to insurance-edition codes
        /// (医保版) before grouping with the maps in this codes directory
        /// (diagnosis_clinical_to_insurance.tsv, procedure_clinical_to_insurance.tsv).
        /// Codes the maps do not know are kept and listed in an `unmapped` column.
        #[arg(long)]
        map_codes: Option<PathBuf>,
    },
    /// Explain step by step how one case is grouped (under each scheme given).
    Explain {
        /// Scheme directory; repeat to explain under several schemes.
        #[arg(long, required = true, num_args = 1..)]
        scheme: Vec<PathBuf>,
        /// The case to explain.
        #[arg(long)]
        case_id: String,
        /// The institution of the case, when case ids repeat across institutions.
        #[arg(long)]
        institution: Option<String>,
        /// Files holding the case (any settlement-list format).
        #[arg(long, required = true, num_args = 1..)]
        cases: Vec<PathBuf>,
        /// Language of the explanation.
        #[arg(long, value_enum, default_value = "zh")]
        lang: LangArg,
    },
    /// Compare two schemes: groups added/removed/renamed, codes moved between ADRGs,
    /// CC/MCC changes; with --cases, the cases that move, groups split and merged, and
    /// with --weights-from/--weights-to the weight (RW) impact.
    Diff {
        /// Old scheme directory.
        #[arg(long)]
        from: PathBuf,
        /// New scheme directory.
        #[arg(long)]
        to: PathBuf,
        /// Files of cases to regroup under both schemes.
        #[arg(long, num_args = 1..)]
        cases: Vec<PathBuf>,
        /// Weights table of the old scheme (`drgdip weights calibrate`).
        #[arg(long, requires = "cases")]
        weights_from: Option<PathBuf>,
        /// Weights table of the new scheme.
        #[arg(long, requires = "cases")]
        weights_to: Option<PathBuf>,
        /// Items listed per section.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Import a scheme from the published table layout (*_grouper_rule.xlsx) into a
    /// scheme directory; untranslatable rule expressions are reported by name.
    ImportXlsx {
        /// The workbook.
        #[arg(long)]
        xlsx: PathBuf,
        /// Output scheme directory (created).
        #[arg(long)]
        out: PathBuf,
        /// Scheme name written into scheme.json (default: the workbook's file name).
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(cmd: DrgCommand) -> anyhow::Result<()> {
    match cmd {
        DrgCommand::Group { scheme, cases, out, map_codes } => group(&scheme, &cases, &out, map_codes.as_deref()),
        DrgCommand::Explain { scheme, case_id, institution, cases, lang } => {
            explain(&scheme, &case_id, institution.as_deref(), &cases, lang)
        }
        DrgCommand::Diff { from, to, cases, weights_from, weights_to, limit } => {
            diff(&from, &to, &cases, weights_from.as_deref(), weights_to.as_deref(), limit)
        }
        DrgCommand::ImportXlsx { xlsx, out, name } => import_xlsx(&xlsx, &out, name),
    }
}

/// Reads a scheme directory.
pub fn load_scheme(dir: &Path) -> anyhow::Result<Scheme> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    };
    let scheme_json = read(file_names::SCHEME_JSON)?;
    let cc = read(file_names::CC_TSV)?;
    let mcc = read(file_names::MCC_TSV)?;
    let excl = read(file_names::MAIN_DX_EXCLUSION_TSV)?;
    let surg = read(file_names::SURGICAL_PROCEDURES_TSV)?;
    let names = read(file_names::DRG_NAMES_TSV)?;
    let scheme = Scheme::from_files(SchemeFiles {
        scheme_json: &scheme_json,
        cc_tsv: &cc,
        mcc_tsv: &mcc,
        main_dx_exclusion_tsv: &excl,
        surgical_procedures_tsv: &surg,
        drg_names_tsv: &names,
    })
    .with_context(|| format!("loading scheme {}", dir.display()))?;
    let notes = scheme.lint();
    if !notes.is_empty() {
        eprintln!(
            "warning: scheme {}: {} DRG entries can never be reached (an unconditional DRG comes first in their ADRG); first: {}",
            dir.display(),
            notes.len(),
            notes.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        );
    }
    Ok(scheme)
}

/// The fields `drg` commands read from a settlement list.
fn drg_fields() -> Vec<claims::Field> {
    let mut f = crate::claims_io::GROUPING_FIELDS.to_vec();
    f.extend([claims::Field::CaseId, claims::Field::InstitutionId]);
    f
}

/// The schemes of the arguments, compiled, each with the name its columns carry
/// (the directory's name; made unique).
fn load_groupers(dirs: &[PathBuf]) -> anyhow::Result<Vec<(String, Grouper)>> {
    let mut out: Vec<(String, Grouper)> = Vec::new();
    for d in dirs {
        let base = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| d.display().to_string());
        let mut name = base.clone();
        let mut k = 2;
        while out.iter().any(|(n, _)| *n == name) {
            name = format!("{base}#{k}");
            k += 1;
        }
        let g = Grouper::new(load_scheme(d)?).with_context(|| format!("compiling scheme {}", d.display()))?;
        out.push((name, g));
    }
    Ok(out)
}

/// Whether the first readable file of `cases` has an institution_id column.
fn has_institution_column(cases: &[PathBuf]) -> bool {
    cases.iter().find_map(|p| {
        let f = File::open(p).ok()?;
        let mut r = claims::import::Reader::open(&p.display().to_string(), BufReader::new(f), None).ok()?;
        // JSON Lines learn their fields from the records: look at the first one.
        if r.format == claims::import::Format::Jsonl {
            let _ = r.next();
        }
        Some(r.header.present.contains(claims::Field::InstitutionId))
    }) == Some(true)
}

/// The grouping field of a claim whose cell could not be read, if any.
fn malformed_field(rec: &claims::import::Record) -> Option<claims::Field> {
    rec.issues.iter().map(|i| i.field).find(|f| crate::claims_io::GROUPING_FIELDS.contains(f))
}

/// The clinical → insurance maps of a codes directory.
fn load_maps(dir: &Path) -> anyhow::Result<(codes::CodeMap, codes::CodeMap)> {
    let read = |name: &str| -> anyhow::Result<codes::CodeMap> {
        let p = dir.join(name);
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        codes::CodeMap::parse_tsv(&text).with_context(|| format!("{}", p.display()))
    };
    Ok((read(crate::codes_io::DX_MAP)?, read(crate::codes_io::PROC_MAP)?))
}

/// What a worker made of a block of records for `drg group`.
struct Grouped {
    rows: csv::Writer<Vec<u8>>,
    cases: u64,
    /// Grouped cases per scheme.
    grouped: Vec<u64>,
    /// Ambiguous cases (歧义病案) per scheme.
    ambiguous: Vec<u64>,
    malformed: u64,
    unmapped: u64,
    scratch: drg::Scratch,
}

fn group(scheme_dirs: &[PathBuf], cases: &[PathBuf], out: &Path, map_codes: Option<&Path>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let groupers = load_groupers(scheme_dirs)?;
    let maps = map_codes.map(load_maps).transpose()?;
    let with_inst = has_institution_column(cases);
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut wtr = BufWriter::with_capacity(1 << 20, file);
    {
        let mut header: Vec<String> = vec!["case_id".into()];
        if with_inst {
            header.push("institution_id".into());
        }
        let cols = ["mdc", "adrg", "drg", "status", "drg_name", "reason"];
        for (name, _) in &groupers {
            for c in cols {
                header.push(if groupers.len() == 1 { c.to_owned() } else { format!("{name}.{c}") });
            }
        }
        if maps.is_some() {
            header.push("unmapped".into());
        }
        let mut h = csv::Writer::from_writer(Vec::new());
        h.write_record(&header)?;
        wtr.write_all(&h.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    }
    let n_schemes = groupers.len();
    let (mut total, mut grouped, mut malformed, mut unmapped) = (0u64, vec![0u64; n_schemes], 0u64, 0u64);
    let mut ambiguous = vec![0u64; n_schemes];
    let mut write_err: Option<std::io::Error> = None;
    let batches = crate::claims_io::Batches::new(cases).only(&drg_fields());
    crate::claims_io::par_fold_batches(
        batches,
        || Grouped {
            rows: csv::Writer::from_writer(Vec::new()),
            cases: 0,
            grouped: vec![0; n_schemes],
            ambiguous: vec![0; n_schemes],
            malformed: 0,
            unmapped: 0,
            scratch: drg::Scratch::default(),
        },
        |acc, rec| {
            let c = &rec.claim;
            acc.cases += 1;
            // Writing to a Vec cannot fail: the results are ignored.
            let w = &mut acc.rows;
            let _ = w.write_field(&c.case_id);
            if with_inst {
                let _ = w.write_field(&c.institution_id);
            }
            let bad = malformed_field(rec);
            acc.malformed += u64::from(bad.is_some());
            // Codes in normal form are borrowed, not copied.
            let dx: Vec<std::borrow::Cow<'_, str>> = c.diagnoses().map(codes::normalize).collect();
            let procs: Vec<std::borrow::Cow<'_, str>> = c.procedures.iter().map(|p| codes::normalize(&p.code)).collect();
            let dx: Vec<&str> = dx.iter().map(|d| d.as_ref()).collect();
            let procs: Vec<&str> = procs.iter().map(|p| p.as_ref()).collect();
            let case = server::pipeline::drg_case(c, &dx, &procs);
            let mut unmapped_text = String::new();
            for (i, (_, grouper)) in groupers.iter().enumerate() {
                if let Some(f) = bad {
                    for v in ["0000", "00", "0000", "无法入组", ""] {
                        let _ = w.write_field(v);
                    }
                    let _ = w.write_field(format!("malformed_{}", f.name()));
                    continue;
                }
                let g = match &maps {
                    None => grouper.group(&case),
                    Some((dm, pm)) => {
                        let dfn = |x: &str| dm.map(x).mapped();
                        let pfn = |x: &str| pm.map(x).mapped();
                        let mapping = drg::CodeMapping { dx: Some(&dfn), procs: Some(&pfn) };
                        let g = grouper.group_mapped(&case, &mapping, &mut acc.scratch);
                        if i == 0 {
                            let lists = [(&dx, acc.scratch.unmapped_dx()), (&procs, acc.scratch.unmapped_procs())];
                            for (list, idx) in lists {
                                for &k in idx {
                                    if !unmapped_text.is_empty() {
                                        unmapped_text.push('|');
                                    }
                                    unmapped_text.push_str(list.get(k as usize).copied().unwrap_or(""));
                                }
                            }
                        }
                        g
                    }
                };
                let gc = grouper.codes_of(&g);
                acc.grouped[i] += u64::from(g.status.is_grouped());
                acc.ambiguous[i] += u64::from(g.status == drg::Status::Ambiguous);
                for v in [gc.mdc, gc.adrg, gc.drg, g.status.label(), gc.drg_name, g.status.reason().map_or("", |r| r.code())] {
                    let _ = w.write_field(v);
                }
            }
            if maps.is_some() {
                acc.unmapped += u64::from(!unmapped_text.is_empty());
                let _ = w.write_field(&unmapped_text);
            }
            let _ = w.write_record(None::<&[u8]>);
        },
        |acc| {
            total += acc.cases;
            malformed += acc.malformed;
            unmapped += acc.unmapped;
            for (g, a) in grouped.iter_mut().zip(&acc.grouped) {
                *g += a;
            }
            for (g, a) in ambiguous.iter_mut().zip(&acc.ambiguous) {
                *g += a;
            }
            if write_err.is_none() {
                if let Ok(bytes) = acc.rows.into_inner() {
                    if let Err(e) = wtr.write_all(&bytes) {
                        write_err = Some(e);
                    }
                }
            }
        },
    )?;
    if let Some(e) = write_err {
        return Err(e).with_context(|| format!("writing {}", out.display()));
    }
    wtr.flush().with_context(|| format!("writing {}", out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    if maps.is_some() {
        eprintln!("{unmapped} cases have codes the clinical→insurance maps do not know (column `unmapped`)");
    }
    if malformed > 0 {
        eprintln!("warning: {malformed} cases have a grouping field that could not be read (reason malformed_<field>): not grouped");
    }
    for (((name, _), g), q) in groupers.iter().zip(&grouped).zip(&ambiguous) {
        eprintln!("{name}: {total} cases, {g} grouped, {q} ambiguous (歧义病案), {} not grouped", total - g - q);
    }
    eprintln!("{total} cases in {secs:.2} s ({:.0} cases/s) -> {}", total as f64 / secs.max(1e-9), out.display());
    Ok(())
}

/// The case `case_id` (of `institution`, when given) as the files hold it: the
/// later version when it is given more than once (said, with every place).
fn find_case(cases: &[PathBuf], case_id: &str, institution: Option<&str>) -> anyhow::Result<claims::Claim> {
    let names: Vec<String> = cases.iter().map(|p| p.display().to_string()).collect();
    let mut found: Vec<(String, u64, claims::Claim)> = Vec::new();
    crate::claims_io::par_map_batches_located(
        crate::claims_io::Batches::new(cases),
        |rec| rec.claim.case_id.trim() == case_id && institution.is_none_or(|i| rec.claim.institution_id.trim() == i),
        |file, rec, hit| {
            if hit {
                found.push((names[file as usize].clone(), rec.line, rec.claim.clone()));
            }
        },
    )?;
    let Some((_, _, last)) = found.last().cloned() else {
        bail!(
            "case `{case_id}`{} not found in {}",
            institution.map(|i| format!(" of {i}")).unwrap_or_default(),
            names.join(", ")
        );
    };
    if found.len() > 1 {
        let places: Vec<String> = found.iter().map(|(f, l, c)| format!("{f} line {l} ({})", c.institution_id)).collect();
        let insts: std::collections::BTreeSet<&str> = found.iter().map(|(_, _, c)| c.institution_id.as_str()).collect();
        if insts.len() > 1 && institution.is_none() {
            bail!(
                "case `{case_id}` is a case of {} institutions ({}): say which with --institution",
                insts.len(),
                places.join(", ")
            );
        }
        eprintln!("warning: case `{case_id}` is given {} times ({}): the later version is explained", found.len(), places.join(", "));
    }
    Ok(last)
}

fn explain(scheme_dirs: &[PathBuf], case_id: &str, institution: Option<&str>, cases: &[PathBuf], lang: LangArg) -> anyhow::Result<()> {
    let groupers = load_groupers(scheme_dirs)?;
    let c = find_case(cases, case_id, institution)?;
    let lang = match lang {
        LangArg::Zh => Lang::Zh,
        LangArg::En => Lang::En,
    };
    let codes = server::pipeline::CaseCodes::of(&c);
    let dx: Vec<&str> = codes.dx.iter().map(String::as_str).collect();
    let procs: Vec<&str> = codes.procs.iter().map(String::as_str).collect();
    let case = server::pipeline::drg_case(&c, &dx, &procs);
    let show = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    let (sex, age, age_days, weight_g) = (
        show(case.sex.map(|s| s.to_string())),
        show(case.age.map(|v| v.to_string())),
        show(case.age_days.map(|v| v.to_string())),
        show(case.weight_g.map(|v| v.to_string())),
    );
    let (los, way, dept, icu) = (
        show(case.los.map(|v| v.to_string())),
        show(case.discharge_way.map(str::to_owned)),
        show(case.dept.map(str::to_owned)),
        show(case.icu_hours.map(|v| v.to_string())),
    );
    let (dx_s, procs_s) = (dx.join("|"), procs.join("|"));
    let mut text = match lang {
        Lang::Zh => format!(
            "病例 {case_id}（机构 {}）：性别 {sex}，年龄 {age} 岁，年龄 {age_days} 天，出生体重 {weight_g} 克，住院 {los} 天，离院方式 {way}，出院科别 {dept}，重症监护 {icu} 小时\n诊断：{dx_s}\n手术操作：{procs_s}\n",
            c.institution_id
        ),
        Lang::En => format!(
            "case {case_id} (institution {}): sex {sex}, age {age} y, age {age_days} d, birth weight {weight_g} g, stay {los} d, discharge way {way}, department {dept}, ICU {icu} h\ndiagnoses: {dx_s}\nprocedures: {procs_s}\n",
            c.institution_id
        ),
    };
    for (name, grouper) in &groupers {
        let trace = drg::explain_with(grouper.scheme(), &case, grouper.limits());
        text.push_str(&match lang {
            Lang::Zh => format!("\n== 方案 {name} ==\n"),
            Lang::En => format!("\n== scheme {name} ==\n"),
        });
        text.push_str(&trace.render(lang));
    }
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// What a worker made of a block of records for `drg diff`.
#[derive(Default)]
struct Moves {
    /// (DRG under the old scheme, DRG under the new) → cases.
    pairs: std::collections::HashMap<(u32, u32), u64>,
    cases: u64,
}

/// What a case's grouping is counted by: the DRG's index in the grouper's DRG list,
/// `AMBIGUOUS | ADRG index` for an ambiguous case, [`UNGROUPED`] when ungroupable.
fn drg_index(g: &drg::Grouping) -> u32 {
    match (g.status, g.drg, g.adrg) {
        (drg::Status::Ambiguous, _, Some(a)) => AMBIGUOUS | u32::from(a),
        (_, Some(d), _) => u32::from(d),
        _ => UNGROUPED,
    }
}

/// Marks an ADRG index as an ambiguous entry in [`drg_index`] (indices are `u16`).
const AMBIGUOUS: u32 = 1 << 16;
/// [`drg_index`] of an ungroupable case.
const UNGROUPED: u32 = u32::MAX;

fn diff(
    from: &Path,
    to: &Path,
    cases: &[PathBuf],
    weights_from: Option<&Path>,
    weights_to: Option<&Path>,
    limit: usize,
) -> anyhow::Result<()> {
    let (a, b) = (load_scheme(from)?, load_scheme(to)?);
    let report = drg::diff::diff(&a, &b);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{} -> {}", a.name, b.name)?;
    stdout.write_all(report.render(limit).as_bytes())?;
    if cases.is_empty() {
        return Ok(());
    }
    let (ga, gb) = (Grouper::new(a)?, Grouper::new(b)?);
    let mut moves = Moves::default();
    crate::claims_io::par_fold_batches(
        crate::claims_io::Batches::new(cases).only(&drg_fields()),
        Moves::default,
        |m, rec| {
            let c = &rec.claim;
            let codes = server::pipeline::CaseCodes::of(c);
            let dx: Vec<&str> = codes.dx.iter().map(String::as_str).collect();
            let procs: Vec<&str> = codes.procs.iter().map(String::as_str).collect();
            let case = server::pipeline::drg_case(c, &dx, &procs);
            let (x, y) = (drg_index(&ga.group(&case)), drg_index(&gb.group(&case)));
            *m.pairs.entry((x, y)).or_default() += 1;
            m.cases += 1;
        },
        |m| {
            moves.cases += m.cases;
            for (k, v) in m.pairs {
                *moves.pairs.entry(k).or_default() += v;
            }
        },
    )?;
    let code = |g: &Grouper, i: u32| -> String {
        if i == UNGROUPED {
            "0000".to_owned()
        } else {
            let grouping = if i & AMBIGUOUS != 0 {
                drg::Grouping { mdc: None, adrg: Some((i & !AMBIGUOUS) as u16), drg: None, status: drg::Status::Ambiguous, retry_proc: None }
            } else {
                drg::Grouping { mdc: None, adrg: None, drg: Some(i as u16), status: drg::Status::Grouped, retry_proc: None }
            };
            g.codes_of(&grouping).drg.to_owned()
        }
    };
    let n = moves.cases;
    let mut pairs: Vec<((String, String), u64)> =
        moves.pairs.iter().map(|(&(x, y), &k)| ((code(&ga, x), code(&gb, y)), k)).collect();
    pairs.sort_by(|p, q| q.1.cmp(&p.1).then_with(|| p.0.cmp(&q.0)));
    let changed: u64 = pairs.iter().filter(|((x, y), _)| x != y).map(|p| p.1).sum();
    let became_ungroupable: u64 = pairs.iter().filter(|((x, y), _)| x != "0000" && y == "0000").map(|p| p.1).sum();
    let became_grouped: u64 = pairs.iter().filter(|((x, y), _)| x == "0000" && y != "0000").map(|p| p.1).sum();
    writeln!(stdout, "\ncases regrouped: {n}")?;
    writeln!(stdout, "  changing DRG: {changed} ({:.2} %)", 100.0 * changed as f64 / n.max(1) as f64)?;
    writeln!(stdout, "  grouped before, ungroupable after: {became_ungroupable}; ungroupable before, grouped after: {became_grouped}")?;
    writeln!(stdout, "  moves (old DRG -> new DRG: cases):")?;
    let moving: Vec<&((String, String), u64)> = pairs.iter().filter(|((x, y), _)| x != y).collect();
    for ((x, y), k) in moving.iter().take(limit) {
        writeln!(stdout, "    {x} -> {y}: {k}")?;
    }
    if moving.len() > limit {
        writeln!(stdout, "    … {} more transitions", moving.len() - limit)?;
    }
    // Splits: an old DRG whose cases go to several new DRGs; merges: the reverse.
    let mut split: std::collections::BTreeMap<&str, Vec<(&str, u64)>> = Default::default();
    let mut merged: std::collections::BTreeMap<&str, Vec<(&str, u64)>> = Default::default();
    for ((x, y), k) in &pairs {
        if x != "0000" && y != "0000" {
            split.entry(x.as_str()).or_default().push((y.as_str(), *k));
            merged.entry(y.as_str()).or_default().push((x.as_str(), *k));
        }
    }
    let show_spread = |out: &mut dyn Write, title: &str, m: &std::collections::BTreeMap<&str, Vec<(&str, u64)>>| -> std::io::Result<()> {
        let many: Vec<(&&str, &Vec<(&str, u64)>)> = m.iter().filter(|(_, v)| v.len() > 1).collect();
        writeln!(out, "  {title}: {}", many.len())?;
        for (g, v) in many.iter().take(limit) {
            let total: u64 = v.iter().map(|x| x.1).sum();
            let mut v = (*v).clone();
            v.sort_by(|p, q| q.1.cmp(&p.1).then(p.0.cmp(q.0)));
            let parts: Vec<String> = v.iter().map(|(c, k)| format!("{c} {:.1} %", 100.0 * *k as f64 / total as f64)).collect();
            writeln!(out, "    {g} ({total} cases): {}", parts.join(", "))?;
        }
        Ok(())
    };
    show_spread(&mut stdout, "old DRGs split over several new DRGs", &split)?;
    show_spread(&mut stdout, "new DRGs gathering several old DRGs", &merged)?;
    if let (Some(wf), Some(wt)) = (weights_from, weights_to) {
        let (sa, sb) = (crate::cmd_points::load_standards(wf, &ga)?, crate::cmd_points::load_standards(wt, &gb)?);
        let rw = |s: &std::collections::HashMap<String, points::GroupStandard>, code: &str| s.get(code).map(|g| g.weight);
        let (mut before, mut after, mut no_weight) = (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO, (0u64, 0u64));
        let mut impact: Vec<(String, String, u64, rust_decimal::Decimal)> = Vec::new();
        for ((x, y), k) in &pairs {
            let kd = rust_decimal::Decimal::from(*k);
            let (rx, ry) = (rw(&sa, x), rw(&sb, y));
            match rx {
                Some(r) => before += r * kd,
                None => no_weight.0 += k,
            }
            match ry {
                Some(r) => after += r * kd,
                None => no_weight.1 += k,
            }
            if x != y {
                let d = ry.unwrap_or_default() * kd - rx.unwrap_or_default() * kd;
                impact.push((x.clone(), y.clone(), *k, d));
            }
        }
        impact.sort_by(|p, q| q.3.abs().cmp(&p.3.abs()).then_with(|| (&p.0, &p.1).cmp(&(&q.0, &q.1))));
        let nd = rust_decimal::Decimal::from(n.max(1));
        writeln!(stdout, "\nweight impact (Σ RW of the cases):")?;
        writeln!(
            stdout,
            "  before {} (CMI {}), after {} (CMI {}), change {} ({:.2} %)",
            before.round_dp(4),
            (before / nd).round_dp(4),
            after.round_dp(4),
            (after / nd).round_dp(4),
            (after - before).round_dp(4),
            if before.is_zero() { 0.0 } else { rust_decimal::prelude::ToPrimitive::to_f64(&((after - before) / before * rust_decimal::Decimal::ONE_HUNDRED)).unwrap_or(0.0) }
        )?;
        writeln!(stdout, "  cases without a weight: {} under the old scheme, {} under the new", no_weight.0, no_weight.1)?;
        writeln!(stdout, "  largest changes by transition (old -> new: cases, Σ RW change):")?;
        for (x, y, k, d) in impact.iter().take(limit) {
            writeln!(stdout, "    {x} -> {y}: {k}, {}", d.round_dp(4))?;
        }
    }
    Ok(())
}

fn import_xlsx(xlsx: &Path, out: &Path, name: Option<String>) -> anyhow::Result<()> {
    let bytes = std::fs::read(xlsx).with_context(|| format!("reading {}", xlsx.display()))?;
    let wb = drg::import::workbook_from_xlsx(&bytes)
        .with_context(|| format!("reading {}", xlsx.display()))?;
    let name = name.unwrap_or_else(|| {
        xlsx.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let imported = drg::import::import_workbook(&wb, &name)
        .with_context(|| format!("importing {}", xlsx.display()))?;
    // Check that what is written loads back before writing it.
    let text = imported.scheme.to_files();
    Scheme::from_files(text.as_files()).context("the imported scheme does not load back")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (file, content) in text.named() {
        let p = out.join(file);
        std::fs::write(&p, content).with_context(|| format!("writing {}", p.display()))?;
    }
    let (mdcs, adrgs, drgs) = imported.scheme.counts();
    eprintln!(
        "{}: {mdcs} MDCs, {adrgs} ADRGs, {drgs} DRGs -> {}",
        xlsx.display(),
        out.display()
    );
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    if !imported.untranslatable.is_empty() {
        eprintln!(
            "{} rule expressions could not be translated (imported as `false`, the node never matches):",
            imported.untranslatable.len()
        );
        for u in &imported.untranslatable {
            eprintln!("  {}: `{}`: {}", u.node, u.expr, u.why);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Option<PathBuf> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!("skipped: ../shared/reference not found");
            None
        }
    }

    #[test]
    fn group_command_reproduces_expected_csv() {
        let Some(r) = reference() else { return };
        let out = std::env::temp_dir().join(format!("drgdip-drg-test-{}.csv", std::process::id()));
        group(&[r.join("chs-drg-1.1")], &[r.join("drg-cases/cases.csv")], &out, None).expect("group runs");
        let got = std::fs::read_to_string(&out).expect("output");
        let _ = std::fs::remove_file(&out);
        let expected = std::fs::read_to_string(r.join("drg-cases/expected.csv")).expect("expected");
        let first5 = |l: &str| l.splitn(6, ',').take(5).collect::<Vec<_>>().join(",");
        let got: Vec<String> = got.lines().map(first5).collect();
        let want: Vec<&str> = expected.lines().collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w);
        }
    }

    #[test]
    fn group_command_tolerates_extra_and_reordered_columns_and_bad_fields() {
        let Some(r) = reference() else { return };
        let dir = std::env::temp_dir();
        let input = dir.join(format!("drgdip-drg-in-{}.csv", std::process::id()));
        let out = dir.join(format!("drgdip-drg-out-{}.csv", std::process::id()));
        std::fs::write(
            &input,
            "extra,procedures,diagnoses,age,sex,case_id\n\
             x,,I63.900,50,1,A\n\
             y,,I63.900,fifty,1,B\n\
             z,,,50,1,C\n",
        )
        .expect("write input");
        group(&[r.join("chs-drg-1.1")], &[input.clone()], &out, None).expect("group runs");
        let got = std::fs::read_to_string(&out).expect("output");
        let _ = (std::fs::remove_file(&input), std::fs::remove_file(&out));
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[0], "case_id,mdc,adrg,drg,status,drg_name,reason");
        assert!(lines[1].starts_with("A,MDCB,"), "{}", lines[1]);
        assert_eq!(lines[2], "B,0000,00,0000,无法入组,,malformed_age");
        assert_eq!(lines[3], "C,0000,00,0000,无法入组,,no_diagnosis");
    }
}

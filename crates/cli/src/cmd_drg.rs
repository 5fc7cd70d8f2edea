//! `drgdip drg ...` subcommands: group a case file, explain one case.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use std::io::BufReader;
use std::ops::ControlFlow;

use anyhow::{bail, Context};
use claims::import::{Cells, LineReader, LineSplitter, PhysicalLine, RecordError, RecordErrorKind, SplitError};
use drg::scheme::file_names;
use drg::{CaseIds, CodeId, Grouper, Lang, Scheme, SchemeFiles, UNKNOWN_CODE};

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
    /// Group every case of a CSV file (columns looked up by header name:
    /// case_id, sex, age, age_days, weight_g, diagnoses, procedures; lists joined by `|`).
    Group {
        /// Scheme directory (scheme.json, cc.tsv, mcc.tsv, main_dx_exclusion.tsv,
        /// surgical_procedures.tsv, drg_names.tsv).
        #[arg(long)]
        scheme: PathBuf,
        /// Input cases CSV.
        #[arg(long)]
        cases: PathBuf,
        /// Output CSV: case_id,mdc,adrg,drg,status,drg_name,reason (and `unmapped`
        /// with --map-codes).
        #[arg(long)]
        out: PathBuf,
        /// Map national clinical-edition codes (国家临床版) to insurance-edition codes
        /// (医保版) before grouping with the maps in this codes directory
        /// (diagnosis_clinical_to_insurance.tsv, procedure_clinical_to_insurance.tsv).
        /// Codes the maps do not know are kept and listed in an `unmapped` column.
        #[arg(long)]
        map_codes: Option<PathBuf>,
    },
    /// Explain step by step how one case is grouped.
    Explain {
        /// Scheme directory.
        #[arg(long)]
        scheme: PathBuf,
        /// The case to explain.
        #[arg(long)]
        case_id: String,
        /// Cases CSV holding the case.
        #[arg(long)]
        cases: PathBuf,
        /// Language of the explanation.
        #[arg(long, value_enum, default_value = "zh")]
        lang: LangArg,
    },
    /// Compare two schemes: groups added/removed/renamed, codes moved between ADRGs,
    /// CC/MCC changes; with --cases, how many cases change group.
    Diff {
        /// Old scheme directory.
        #[arg(long)]
        from: PathBuf,
        /// New scheme directory.
        #[arg(long)]
        to: PathBuf,
        /// Cases CSV to regroup under both schemes.
        #[arg(long)]
        cases: Option<PathBuf>,
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
        DrgCommand::Explain {
            scheme,
            case_id,
            cases,
            lang,
        } => explain(&scheme, &case_id, &cases, lang),
        DrgCommand::Diff {
            from,
            to,
            cases,
            limit,
        } => diff(&from, &to, cases.as_deref(), limit),
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
    Scheme::from_files(SchemeFiles {
        scheme_json: &scheme_json,
        cc_tsv: &cc,
        mcc_tsv: &mcc,
        main_dx_exclusion_tsv: &excl,
        surgical_procedures_tsv: &surg,
        drg_names_tsv: &names,
    })
    .with_context(|| format!("loading scheme {}", dir.display()))
}

/// Column positions of a cases file.
#[derive(Clone, Copy)]
struct Columns {
    case_id: usize,
    sex: Option<usize>,
    age: Option<usize>,
    age_days: Option<usize>,
    weight_g: Option<usize>,
    diagnoses: usize,
    procedures: usize,
}

impl Columns {
    fn from_header(header: &[String], path: &Path) -> anyhow::Result<Columns> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let need = |name: &str| {
            find(name)
                .with_context(|| format!("{}: no column `{name}` in the header", path.display()))
        };
        Ok(Columns {
            case_id: need("case_id")?,
            sex: find("sex"),
            age: find("age"),
            age_days: find("age_days"),
            weight_g: find("weight_g"),
            diagnoses: need("diagnoses")?,
            procedures: need("procedures")?,
        })
    }

    /// The columns grouping reads.
    fn used(&self) -> impl Iterator<Item = usize> {
        [Some(self.case_id), self.sex, self.age, self.age_days, self.weight_g, Some(self.diagnoses), Some(self.procedures)]
            .into_iter()
            .flatten()
    }
}

/// A grouping-case CSV, read line by line with the settlement-list line
/// splitter ([`LineSplitter`]): a record is one physical line; a broken line
/// (a quote not closed on its line, too many or too few cells, a read column
/// that is not UTF-8) is rejected alone and located, and reading goes on.
/// Every line is accounted for ([`crate::claims_io::FileLines`]).
struct CaseFile {
    name: String,
    lines: LineReader<BufReader<File>>,
    header: Vec<String>,
    cols: Columns,
    acct: crate::claims_io::FileLines,
    bar: indicatif::ProgressBar,
}

impl CaseFile {
    fn open(path: &Path) -> anyhow::Result<CaseFile> {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("opening {name}"))?;
        let len = file.metadata().map_or(0, |m| m.len());
        let mut lines = LineReader::new(BufReader::with_capacity(1 << 20, file));
        let mut acct = crate::claims_io::FileLines::new(claims::import::Format::Csv);
        let mut split = LineSplitter::default();
        let header = loop {
            let Some((n, line)) = lines.next_line().with_context(|| format!("{name}: reading the header"))? else {
                bail!("{name}: empty file: no header line");
            };
            acct.count.lines += 1;
            let PhysicalLine::Text(bytes) = line else { bail!("{name}: line {n}: the header line is too long") };
            let bytes = if n == 1 { bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes) } else { bytes };
            if bytes.iter().all(u8::is_ascii_whitespace) {
                acct.count.blank += 1;
                continue;
            }
            let cells = split.split(bytes).map_err(|e| anyhow::anyhow!("{name}: line {n}: the header: {e}"))?;
            let names: Option<Vec<String>> = cells.iter().map(|c| std::str::from_utf8(c).ok().map(str::to_owned)).collect();
            break names.with_context(|| format!("{name}: line {n}: the header is not UTF-8 text"))?;
        };
        acct.count.header = 1;
        let cols = Columns::from_header(&header, path)?;
        Ok(CaseFile { name, lines, header, cols, acct, bar: progress_bar(len) })
    }

    /// Hand each readable case (its line number and cells) to `f` until `f`
    /// says stop; blank lines are counted, broken lines rejected and counted.
    fn each(&mut self, mut f: impl FnMut(u64, &Cells<'_>) -> anyhow::Result<ControlFlow<()>>) -> anyhow::Result<()> {
        let mut split = LineSplitter::default();
        let width = self.header.len();
        loop {
            if self.acct.count.lines.is_multiple_of(65_536) {
                self.bar.set_position(self.lines.bytes());
            }
            let next = self.lines.next_line();
            let acct = &mut self.acct;
            let reject = |acct: &mut crate::claims_io::FileLines, line, column, kind| {
                acct.take(&Err(RecordError { line, column, kind }));
            };
            let Some((n, line)) = next.with_context(|| format!("{}: reading after line {}", self.name, acct.count.lines))? else {
                break;
            };
            acct.count.lines += 1;
            let bytes = match line {
                PhysicalLine::Text(b) => b,
                PhysicalLine::TooLong { bytes } => {
                    reject(acct, n, None, RecordErrorKind::LineTooLong { bytes });
                    continue;
                }
            };
            if bytes.iter().all(u8::is_ascii_whitespace) {
                acct.count.blank += 1;
                continue;
            }
            let cells = match split.split(bytes) {
                Ok(c) => c,
                Err(e) => {
                    let (column, kind) = match e {
                        SplitError::UnterminatedQuote { cell } => (cell, RecordErrorKind::UnterminatedQuote { cell }),
                        SplitError::TextAfterQuote { cell } => (cell, RecordErrorKind::TextAfterQuote { cell }),
                    };
                    reject(acct, n, self.header.get(column - 1).cloned(), kind);
                    continue;
                }
            };
            if cells.len() != width {
                reject(acct, n, None, RecordErrorKind::FieldCount { found: cells.len(), expected: width });
                continue;
            }
            if let Some(c) = self.cols.used().find(|&c| cells.get(c).is_some_and(|v| std::str::from_utf8(v).is_err())) {
                reject(acct, n, self.header.get(c).cloned(), RecordErrorKind::Encoding);
                continue;
            }
            acct.count.read += 1;
            if f(n, &cells)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Print the file's account of lines (loudly when lines were rejected).
    fn report(&self) {
        self.bar.finish_and_clear();
        crate::claims_io::report_lines(&self.name, &self.acct, &crate::claims_io::qc_hint(&self.name));
    }
}

/// A number field: `Ok(None)` when empty or the column is missing, `Err(())` when malformed.
fn number<T: std::str::FromStr>(
    rec: &Cells<'_>,
    col: Option<usize>,
) -> Result<Option<T>, ()> {
    let Some(raw) = col.and_then(|c| rec.get(c)) else {
        return Ok(None);
    };
    let raw = raw.trim_ascii();
    if raw.is_empty() {
        return Ok(None);
    }
    let s = std::str::from_utf8(raw).map_err(|_| ())?;
    s.parse().map(Some).map_err(|_| ())
}

/// Interns the `|`-separated codes of a field into `out`.
fn intern_field(grouper: &Grouper, field: &[u8], out: &mut Vec<CodeId>) {
    out.clear();
    for code in field.split(|&b| b == b'|') {
        let code = code.trim_ascii();
        if code.is_empty() {
            continue;
        }
        let id = std::str::from_utf8(code)
            .ok()
            .and_then(|c| grouper.code_id(c))
            .unwrap_or(UNKNOWN_CODE);
        out.push(id);
    }
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || len < 16 << 20 {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
    ) {
        pb.set_style(style);
    }
    pb
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

fn split_codes(field: &[u8]) -> Vec<&str> {
    std::str::from_utf8(field).unwrap_or("").split('|').map(str::trim).filter(|c| !c.is_empty()).collect()
}

fn group(scheme_dir: &Path, cases: &Path, out: &Path, map_codes: Option<&Path>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let grouper = Grouper::new(load_scheme(scheme_dir)?)?;
    let maps = map_codes.map(load_maps).transpose()?;
    let dx_fn = maps.as_ref().map(|(d, _)| move |c: &str| d.map(c).mapped());
    let px_fn = maps.as_ref().map(|(_, p)| move |c: &str| p.map(c).mapped());
    let mapping = drg::CodeMapping {
        dx: dx_fn.as_ref().map(|f| f as drg::MapFn<'_>),
        procs: px_fn.as_ref().map(|f| f as drg::MapFn<'_>),
    };
    let mut scratch = drg::Scratch::default();
    let (mut unmapped_cases, mut unmapped_text) = (0u64, String::new());
    let mut cf = CaseFile::open(cases)?;
    let cols = cf.cols;
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut wtr = csv::WriterBuilder::new().from_writer(BufWriter::with_capacity(1 << 20, file));
    let mut header = vec!["case_id", "mdc", "adrg", "drg", "status", "drg_name", "reason"];
    if maps.is_some() {
        header.push("unmapped");
    }
    wtr.write_record(&header)?;

    let (mut dx, mut procs) = (Vec::new(), Vec::new());
    let (mut n, mut grouped, mut malformed) = (0u64, 0u64, 0u64);
    cf.each(|_, rec| {
        n += 1;
        let id = rec.get(cols.case_id).unwrap_or_default();
        let fields = (
            number::<u8>(rec, cols.sex),
            number::<u32>(rec, cols.age),
            number::<u32>(rec, cols.age_days),
            number::<u32>(rec, cols.weight_g),
        );
        let (Ok(sex), Ok(age), Ok(age_days), Ok(weight_g)) = fields else {
            malformed += 1;
            let bad = match fields {
                (Err(()), ..) => "malformed_sex",
                (_, Err(()), ..) => "malformed_age",
                (_, _, Err(()), _) => "malformed_age_days",
                _ => "malformed_weight_g",
            };
            let mut row: Vec<&[u8]> = vec![id, b"0000", b"00", b"0000", "无法入组".as_bytes(), b"", bad.as_bytes()];
            if maps.is_some() {
                row.push(b"");
            }
            wtr.write_record(&row)?;
            return Ok(ControlFlow::Continue(()));
        };
        if maps.is_some() {
            let dx_codes = split_codes(rec.get(cols.diagnoses).unwrap_or_default());
            let proc_codes = split_codes(rec.get(cols.procedures).unwrap_or_default());
            let case = drg::Case { sex, age, age_days, weight_g, dx: &dx_codes, procs: &proc_codes, ..Default::default() };
            let g = grouper.group_mapped(&case, &mapping, &mut scratch);
            unmapped_text.clear();
            let lists = [(&dx_codes, scratch.unmapped_dx()), (&proc_codes, scratch.unmapped_procs())];
            for (codes, idx) in lists {
                for &i in idx {
                    if !unmapped_text.is_empty() {
                        unmapped_text.push('|');
                    }
                    unmapped_text.push_str(codes.get(i as usize).copied().unwrap_or(""));
                }
            }
            unmapped_cases += u64::from(!unmapped_text.is_empty());
            let c = grouper.codes_of(&g);
            grouped += u64::from(g.status.reason().is_none());
            wtr.write_record([
                id,
                c.mdc.as_bytes(),
                c.adrg.as_bytes(),
                c.drg.as_bytes(),
                g.status.label().as_bytes(),
                c.drg_name.as_bytes(),
                g.status.reason().map_or("", |r| r.code()).as_bytes(),
                unmapped_text.as_bytes(),
            ])?;
            return Ok(ControlFlow::Continue(()));
        }
        intern_field(
            &grouper,
            rec.get(cols.diagnoses).unwrap_or_default(),
            &mut dx,
        );
        intern_field(
            &grouper,
            rec.get(cols.procedures).unwrap_or_default(),
            &mut procs,
        );
        let g = grouper.group_ids(&CaseIds {
            sex,
            age,
            age_days,
            weight_g,
            dx: &dx,
            procs: &procs,
            ..Default::default()
        });
        let c = grouper.codes_of(&g);
        let reason = g.status.reason().map_or("", |r| r.code());
        grouped += u64::from(g.status.reason().is_none());
        wtr.write_record([
            id,
            c.mdc.as_bytes(),
            c.adrg.as_bytes(),
            c.drg.as_bytes(),
            g.status.label().as_bytes(),
            c.drg_name.as_bytes(),
            reason.as_bytes(),
        ])?;
        Ok(ControlFlow::Continue(()))
    })?;
    wtr.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    cf.report();
    let secs = started.elapsed().as_secs_f64();
    if maps.is_some() {
        eprintln!("{unmapped_cases} cases have codes the clinical→insurance maps do not know (column `unmapped`)");
    }
    eprintln!(
        "{n} cases: {grouped} grouped, {} ungroupable ({malformed} with malformed fields) in {secs:.2} s ({:.0} cases/s) -> {}",
        n - grouped,
        n as f64 / secs.max(1e-9),
        out.display()
    );
    Ok(())
}

fn explain(scheme_dir: &Path, case_id: &str, cases: &Path, lang: LangArg) -> anyhow::Result<()> {
    let grouper = Grouper::new(load_scheme(scheme_dir)?)?;
    let mut cf = CaseFile::open(cases)?;
    let cols = cf.cols;
    // The whole file is read: its account of lines is complete, and a case id
    // given twice is said.
    let mut found: Vec<u64> = Vec::new();
    let mut explained: Option<String> = None;
    cf.each(|line, rec| {
        if rec.get(cols.case_id).map(<[u8]>::trim_ascii) != Some(case_id.as_bytes()) {
            return Ok(ControlFlow::Continue(()));
        }
        found.push(line);
        if explained.is_some() {
            return Ok(ControlFlow::Continue(()));
        }
        let num = |col, name: &str| {
            number::<u32>(rec, col)
                .map_err(|()| anyhow::anyhow!("case {case_id}: malformed `{name}`"))
        };
        let sex = number::<u8>(rec, cols.sex)
            .map_err(|()| anyhow::anyhow!("case {case_id}: malformed `sex`"))?;
        let (age, age_days, weight_g) = (
            num(cols.age, "age")?,
            num(cols.age_days, "age_days")?,
            num(cols.weight_g, "weight_g")?,
        );
        let text =
            |col: usize| String::from_utf8_lossy(rec.get(col).unwrap_or_default()).into_owned();
        let (dx_s, procs_s) = (text(cols.diagnoses), text(cols.procedures));
        let dx: Vec<&str> = dx_s.split('|').collect();
        let procs: Vec<&str> = procs_s.split('|').collect();
        let case = drg::Case {
            sex,
            age,
            age_days,
            weight_g,
            dx: &dx,
            procs: &procs,
            ..Default::default()
        };
        let trace = drg::explain_with(grouper.scheme(), &case, grouper.limits());
        let lang = match lang {
            LangArg::Zh => Lang::Zh,
            LangArg::En => Lang::En,
        };
        let show = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        let (sex, age, age_days, weight_g) = (
            show(sex.map(u32::from)),
            show(age),
            show(age_days),
            show(weight_g),
        );
        let head = match lang {
            Lang::Zh => format!(
                "病例 {case_id}：性别 {sex}，年龄 {age} 岁，年龄 {age_days} 天，出生体重 {weight_g} 克\n诊断：{dx_s}\n手术操作：{procs_s}\n\n"
            ),
            Lang::En => format!(
                "case {case_id}: sex {sex}, age {age} y, age {age_days} d, birth weight {weight_g} g\ndiagnoses: {dx_s}\nprocedures: {procs_s}\n\n"
            ),
        };
        explained = Some(head + &trace.render(lang));
        Ok(ControlFlow::Continue(()))
    })?;
    cf.report();
    let Some(text) = explained else { bail!("case `{case_id}` not found in {}", cases.display()) };
    if found.len() > 1 {
        let lines: Vec<String> = found.iter().map(u64::to_string).collect();
        eprintln!(
            "warning: {}: case `{case_id}` is on {} lines ({}): the first is explained",
            cases.display(),
            found.len(),
            lines.join(", ")
        );
    }
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn diff(from: &Path, to: &Path, cases: Option<&Path>, limit: usize) -> anyhow::Result<()> {
    let (a, b) = (load_scheme(from)?, load_scheme(to)?);
    let report = drg::diff::diff(&a, &b);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{} -> {}", a.name, b.name)?;
    stdout.write_all(report.render(limit).as_bytes())?;
    let Some(cases) = cases else { return Ok(()) };
    let (ga, gb) = (Grouper::new(a)?, Grouper::new(b)?);
    let mut cf = CaseFile::open(cases)?;
    let cols = cf.cols;
    let (mut da, mut pa, mut db, mut pb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut n, mut changed) = (0u64, 0u64);
    let mut moves: std::collections::HashMap<(String, String), u64> = Default::default();
    cf.each(|_, rec| {
        n += 1;
        let num = |c| number::<u32>(rec, c).ok().flatten();
        let (sex, age, age_days, weight_g) = (
            number::<u8>(rec, cols.sex).ok().flatten(),
            num(cols.age),
            num(cols.age_days),
            num(cols.weight_g),
        );
        let dx = rec.get(cols.diagnoses).unwrap_or_default();
        let procs = rec.get(cols.procedures).unwrap_or_default();
        intern_field(&ga, dx, &mut da);
        intern_field(&ga, procs, &mut pa);
        intern_field(&gb, dx, &mut db);
        intern_field(&gb, procs, &mut pb);
        let case = |dx, procs| CaseIds {
            sex,
            age,
            age_days,
            weight_g,
            dx,
            procs,
            ..Default::default()
        };
        let x = ga.codes_of(&ga.group_ids(&case(&da, &pa))).drg;
        let y = gb.codes_of(&gb.group_ids(&case(&db, &pb))).drg;
        if x != y {
            changed += 1;
            *moves.entry((x.to_string(), y.to_string())).or_default() += 1;
        }
        Ok(ControlFlow::Continue(()))
    })?;
    cf.report();
    let mut moves: Vec<_> = moves.into_iter().collect();
    moves.sort_by(|p, q| q.1.cmp(&p.1).then_with(|| p.0.cmp(&q.0)));
    writeln!(
        stdout,
        "cases: {n}, changing DRG: {changed} ({:.1}%)",
        100.0 * changed as f64 / n.max(1) as f64
    )?;
    for ((x, y), k) in moves.iter().take(limit) {
        writeln!(stdout, "  {x} -> {y}: {k}")?;
    }
    if moves.len() > limit {
        writeln!(stdout, "  … {} more transitions", moves.len() - limit)?;
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
        group(&r.join("chs-drg-1.1"), &r.join("drg-cases/cases.csv"), &out, None).expect("group runs");
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
        group(&r.join("chs-drg-1.1"), &input, &out, None).expect("group runs");
        let got = std::fs::read_to_string(&out).expect("output");
        let _ = (std::fs::remove_file(&input), std::fs::remove_file(&out));
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[0], "case_id,mdc,adrg,drg,status,drg_name,reason");
        assert!(lines[1].starts_with("A,MDCB,"), "{}", lines[1]);
        assert_eq!(lines[2], "B,0000,00,0000,无法入组,,malformed_age");
        assert_eq!(lines[3], "C,0000,00,0000,无法入组,,no_diagnosis");
    }
}

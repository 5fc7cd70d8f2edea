//! `drgdip qc FILE...`: check settlement lists as an agency's QC desk does.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use claims::import::{Encoding, Reader};
use qc::{Checker, Finding, QualityReport, RuleSet, ScoreWeights, Severity};
use rayon::prelude::*;

#[derive(clap::Args)]
pub struct QcArgs {
    /// Settlement-list files (结算清单): CSV (UTF-8 or GBK), JSON Lines or XLSX.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Directory with the code dictionaries (编码字典): icd10_diagnoses.tsv,
    /// icd9cm3_procedures.tsv and optional clinical→insurance maps. Without it
    /// the coding-compliance rules are skipped.
    #[arg(long, env = "DRGDIP_CODES")]
    pub codes: Option<PathBuf>,
    /// A QC rule file (质控规则, TOML) replacing the built-in rules.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Directory for the reports (findings, per-institution quality).
    #[arg(long, default_value = "qc-out")]
    pub out: PathBuf,
    /// Findings file format.
    #[arg(long, value_enum, default_value_t = FindingsFormat::Csv)]
    pub format: FindingsFormat,
    /// Force the CSV text encoding instead of detecting it.
    #[arg(long, value_enum)]
    pub encoding: Option<EncodingArg>,
    /// Message language of the findings file's `message` column.
    #[arg(long, value_enum, default_value_t = crate::Lang::Zh)]
    pub lang: crate::Lang,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FindingsFormat {
    Csv,
    Jsonl,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EncodingArg {
    Utf8,
    Gbk,
}

/// Totals of one run, for the summary and for tests.
#[derive(Default, Debug)]
pub struct QcTotals {
    pub records: u64,
    pub rejected: u64,
    pub errors: u64,
    pub warnings: u64,
    /// Each file read and its account of lines.
    pub files: Vec<(String, crate::claims_io::FileLines)>,
}

pub fn run(args: QcArgs) -> anyhow::Result<()> {
    let rules = match &args.rules {
        Some(p) => RuleSet::from_toml(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
            .with_context(|| format!("{}", p.display()))?,
        None => RuleSet::builtin(),
    };
    let dicts = args.codes.as_deref().map(crate::codes_io::load).transpose()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let ext = match args.format {
        FindingsFormat::Csv => "csv",
        FindingsFormat::Jsonl => "jsonl",
    };
    let findings_path = args.out.join(format!("qc-findings.{ext}"));
    let mut sink = FindingSink::new(&findings_path, args.format, args.lang)?;
    if args.encoding.is_some() {
        // A forced encoding needs the sequential reader: rare, small files.
        eprintln!("note: --encoding given: reading sequentially");
    }
    let forced = args.encoding.map(|e| match e {
        EncodingArg::Utf8 => Encoding::Utf8,
        EncodingArg::Gbk => Encoding::Gbk,
    });

    let mut checker = Checker::new(&rules, dicts.as_ref());
    let mut report = QualityReport::default();
    let mut totals = QcTotals::default();
    let mut failed: Vec<bool> = Vec::new();
    let mut record_index: Vec<(u32, u64)> = Vec::new();
    let mut out = Vec::new();
    let names: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
    if dicts.is_none() {
        eprintln!("note: no --codes DIR given: coding-compliance rules (D001–D006) are skipped");
    }
    let mut present = claims::FieldSet::default();
    let see_all = format!("every one is listed in {}", findings_path.display());
    // Files that could not be read at all: the others are checked, then the command fails.
    let mut unreadable: Vec<String> = Vec::new();
    let mut state = RunState { rules: &rules, report: &mut report, totals: &mut totals, failed: &mut failed, record_index: &mut record_index };
    match forced {
        Some(enc) => {
            for (fi, path) in args.files.iter().enumerate() {
                let fi = fi as u32;
                let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
                let mut reader = match Reader::open(&names[fi as usize], file, Some(enc)) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{}: {e}", names[fi as usize]);
                        sink.file_error(&names[fi as usize], &e.to_string())?;
                        unreadable.push(format!("{}: {e}", names[fi as usize]));
                        continue;
                    }
                };
                let plan = checker.begin_file(fi, reader.header.present);
                print_plan(&names[fi as usize], &reader.header, &plan);
                present = reader.header.present;
                let mut lines = crate::claims_io::FileLines::new(reader.format);
                for item in reader.by_ref() {
                    lines.take(&item);
                    let local = item.as_ref().ok().map(|rec| {
                        let mut f = Vec::new();
                        checker.check_local(rec, &mut f);
                        (f, qc::required_cells(&rules, present, &rec.claim))
                    });
                    state.take(fi, &item, local, &mut checker, &mut sink, &names, &mut out)?;
                }
                lines.count = reader.line_count();
                crate::claims_io::report_lines(&names[fi as usize], &lines, &see_all);
                state.totals.files.push((names[fi as usize].clone(), lines));
            }
        }
        None => {
            let mut batches = crate::claims_io::Batches::new(&args.files);
            while let Some(ev) = batches.next_event() {
                match ev {
                    crate::claims_io::Event::FileStart { file } => {
                        let header = batches.header().expect("a file is open");
                        let plan = checker.begin_file(file, header.present);
                        print_plan(&names[file as usize], header, &plan);
                        present = header.present;
                    }
                    crate::claims_io::Event::FileEnd { file, lines } => {
                        crate::claims_io::report_lines(&names[file as usize], &lines, &see_all);
                        state.totals.files.push((names[file as usize].clone(), lines));
                    }
                    crate::claims_io::Event::FileError { file, message } => {
                        eprintln!("{message}");
                        sink.file_error(&names[file as usize], &message)?;
                        unreadable.push(message);
                    }
                    crate::claims_io::Event::Records { file, items } => {
                        let ck = &checker;
                        let local: Vec<_> = items
                            .par_iter()
                            .map(|item| {
                                item.as_ref().ok().map(|rec| {
                                    let mut f = Vec::new();
                                    ck.check_local(rec, &mut f);
                                    (f, qc::required_cells(&rules, present, &rec.claim))
                                })
                            })
                            .collect();
                        for (item, local) in items.iter().zip(local) {
                            state.take(file, item, local, &mut checker, &mut sink, &names, &mut out)?;
                        }
                    }
                }
            }
        }
    }
    out.clear();
    checker.finish(&mut out);
    if !out.is_empty() {
        let index: std::collections::HashMap<(u32, u64), usize> =
            record_index.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        for f in &out {
            let i = index.get(&(f.file, f.line)).copied();
            let already = i.is_some_and(|i| failed[i]);
            report.add_late_finding(f, &rules, already);
            if let Some(i) = i {
                failed[i] = true;
            }
        }
        count(&rules, &out, &mut totals);
        sink.findings(&names, &rules, &out)?;
    }
    sink.finish()?;
    let inst_path = args.out.join("qc-institutions.csv");
    write_institutions(&inst_path, &report, &rules)?;
    print_summary(&totals, &report, &rules, &findings_path, &inst_path);
    if !unreadable.is_empty() {
        anyhow::bail!(
            "{} of {} files could not be read at all (the others were checked; each is a FILE finding in {}): {}",
            unreadable.len(),
            args.files.len(),
            findings_path.display(),
            unreadable.join("; ")
        );
    }
    Ok(())
}

/// The sequential part of a QC run: cross-record rules, counts, report, output.
struct RunState<'a> {
    rules: &'a RuleSet,
    report: &'a mut QualityReport,
    totals: &'a mut QcTotals,
    failed: &'a mut Vec<bool>,
    record_index: &'a mut Vec<(u32, u64)>,
}

impl RunState<'_> {
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        file: u32,
        item: &claims::import::Item,
        local: Option<(Vec<Finding>, (u32, u32))>,
        checker: &mut Checker<'_>,
        sink: &mut FindingSink,
        names: &[String],
        out: &mut Vec<Finding>,
    ) -> anyhow::Result<()> {
        match (item, local) {
            (Ok(rec), Some((found, (req, filled)))) => {
                *out = found;
                checker.observe(rec, out);
                self.report.add_record(&rec.claim.institution_id, req, filled, out, self.rules);
                let has_error = out.iter().any(|f| self.rules.rules[f.rule as usize].severity == Severity::Error);
                self.failed.push(has_error);
                self.record_index.push((file, rec.line));
                self.totals.records += 1;
                count(self.rules, out, self.totals);
                sink.findings(names, self.rules, out)?;
            }
            (Err(e), _) => {
                self.totals.rejected += 1;
                sink.rejected(&names[file as usize], e)?;
            }
            (Ok(_), None) => unreachable!("local results exist for every record"),
        }
        Ok(())
    }
}

fn count(rules: &RuleSet, out: &[Finding], t: &mut QcTotals) {
    for f in out {
        match rules.rules[f.rule as usize].severity {
            Severity::Error => t.errors += 1,
            Severity::Warning => t.warnings += 1,
        }
    }
}

fn print_plan(name: &str, h: &claims::import::Header, plan: &qc::FilePlan) {
    if !plan.missing_columns.is_empty() {
        let cols: Vec<String> =
            plan.missing_columns.iter().map(|(f, rule)| format!("{} ({}, {rule})", f.name(), f.zh())).collect();
        eprintln!("{name}: required columns absent (缺少必填列), checked once for the file: {}", cols.join(", "));
    }
    if !plan.skipped_rules.is_empty() {
        eprintln!("{name}: {} rules need columns this file lacks and were not run: {}", plan.skipped_rules.len(), plan.skipped_rules.join(" "));
    }
    if !h.unknown.is_empty() {
        eprintln!("{name}: columns ignored (未识别的列): {}", h.unknown.join(", "));
    }
    if !h.duplicates.is_empty() {
        eprintln!("{name}: duplicate columns ignored (重复的列): {}", h.duplicates.join(", "));
    }
}

fn print_summary(t: &QcTotals, report: &QualityReport, rules: &RuleSet, findings: &Path, inst: &Path) {
    let total = report.total();
    let w = ScoreWeights::default();
    let n = claims::import::thousands;
    println!("QC summary (质控汇总)  rules {} ({} rules)", rules.version, rules.rules.len());
    for (name, lines) in &t.files {
        println!("  lines (行)                     {name}: {}", lines.count.render(lines.format));
    }
    println!("  records read (读入清单)        {}", n(t.records));
    println!("  records rejected (无法读取)    {}", n(t.rejected));
    println!("  errors (错误)                  {}", n(t.errors));
    println!("  warnings (警告)                {}", n(t.warnings));
    println!("  completeness (完整率)          {:.2}%", total.completeness() * 100.0);
    println!(
        "  pass rate (通过率)             {:.2}% of the {} records read ({} rejected lines not checked)",
        total.pass_rate() * 100.0,
        n(t.records),
        n(t.rejected)
    );
    println!("  data-quality score (质量评分)  {:.1}", total.score(w));
    let mut top: Vec<(&String, &u64)> = total.by_rule.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if !top.is_empty() {
        println!("  most frequent rules (高频问题):");
        for (id, n) in top.iter().take(10) {
            let rule = rules.get(id).map(|r| r.zh.split('：').next().unwrap_or(&r.zh).to_owned()).unwrap_or_default();
            println!("    {id:<8} {n:>9}  {rule}");
        }
    }
    println!("  institutions (机构)            {}", report.institutions.len());
    println!("findings:     {}", findings.display());
    println!("institutions: {}", inst.display());
}

fn write_institutions(path: &Path, report: &QualityReport, rules: &RuleSet) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record([
        "institution_id",
        "records",
        "records_with_errors",
        "completeness_rate",
        "pass_rate",
        "error_findings",
        "warning_findings",
        "score",
        "top_rules",
    ])?;
    let weights = ScoreWeights::default();
    for (id, q) in &report.institutions {
        let mut top: Vec<(&String, &u64)> = q.by_rule.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = top
            .iter()
            .take(5)
            .filter(|(r, _)| rules.get(r).is_some())
            .map(|(r, n)| format!("{r}:{n} ({:.2}%)", q.error_rate(r) * 100.0))
            .collect();
        w.write_record([
            id.as_str(),
            &q.records.to_string(),
            &q.records_with_errors.to_string(),
            &format!("{:.4}", q.completeness()),
            &format!("{:.4}", q.pass_rate()),
            &q.errors.to_string(),
            &q.warnings.to_string(),
            &format!("{:.1}", q.score(weights)),
            &top.join("; "),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Writes findings as CSV or JSON Lines.
struct FindingSink {
    out: BufWriter<File>,
    format: FindingsFormat,
    lang: crate::Lang,
}

const FINDING_COLUMNS: [&str; 12] = [
    "file", "line", "case_id", "institution_id", "rule_id", "severity", "family", "field", "field_zh", "value", "message", "detail",
];

impl FindingSink {
    fn new(path: &Path, format: FindingsFormat, lang: crate::Lang) -> anyhow::Result<FindingSink> {
        let f = File::create(path).with_context(|| format!("writing {}", path.display()))?;
        let mut s = FindingSink { out: BufWriter::with_capacity(1 << 20, f), format, lang };
        if let FindingsFormat::Csv = format {
            s.row(&FINDING_COLUMNS.map(String::from))?;
        }
        Ok(s)
    }

    fn row(&mut self, cells: &[String; 12]) -> anyhow::Result<()> {
        match self.format {
            FindingsFormat::Csv => {
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        self.out.write_all(b",")?;
                    }
                    if c.contains([',', '"', '\n', '\r']) {
                        write!(self.out, "\"{}\"", c.replace('"', "\"\""))?;
                    } else {
                        self.out.write_all(c.as_bytes())?;
                    }
                }
                self.out.write_all(b"\n")?;
            }
            FindingsFormat::Jsonl => {
                let obj: serde_json::Map<String, serde_json::Value> = FINDING_COLUMNS
                    .iter()
                    .zip(cells)
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
                    .collect();
                serde_json::to_writer(&mut self.out, &obj)?;
                self.out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn findings(&mut self, names: &[String], rules: &RuleSet, out: &[Finding]) -> anyhow::Result<()> {
        for f in out {
            let rule = &rules.rules[f.rule as usize];
            let zh = matches!(self.lang, crate::Lang::Zh);
            self.row(&[
                names[f.file as usize].clone(),
                f.line.to_string(),
                f.case_id.clone(),
                f.institution_id.clone(),
                rule.id.clone(),
                rule.severity.as_str().into(),
                rule.family.as_str().into(),
                f.field.map(|x| x.name()).unwrap_or("").into(),
                f.field.map(|x| x.zh()).unwrap_or("").into(),
                f.value.clone(),
                rule.message(zh, &f.value, &f.detail),
                f.detail.clone(),
            ])?;
        }
        Ok(())
    }

    fn rejected(&mut self, file: &str, e: &claims::import::RecordError) -> anyhow::Result<()> {
        self.row(&[
            file.into(),
            e.line.to_string(),
            String::new(),
            String::new(),
            "IMPORT".into(),
            "error".into(),
            "format".into(),
            e.column.clone().unwrap_or_default(),
            String::new(),
            String::new(),
            format!("记录无法读取 (record rejected): {e}"),
            String::new(),
        ])
    }

    fn file_error(&mut self, file: &str, e: &str) -> anyhow::Result<()> {
        let mut cells: [String; 12] = Default::default();
        cells[0] = file.into();
        cells[4] = "FILE".into();
        cells[5] = "error".into();
        cells[6] = "format".into();
        cells[10] = format!("文件无法读取 (file unreadable): {e}");
        self.row(&cells)
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}


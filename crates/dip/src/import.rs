//! Importing a published library (病种目录库) from CSV or XLSX, and exporting one.
//!
//! Columns are found by header name, English or Chinese (see [`COLUMNS`]); columns
//! that name nothing known are reported, not fatal. Required: diagnosis and score.
//!
//! A row is **comprehensive** (综合病种) when a kind column says so (`综合`,
//! `comprehensive`), or, without one, when its procedure cell names a procedure class
//! other than conservative (`诊断性操作`, `治疗性操作`, `相关手术`), or when its diagnosis
//! has only a category (`K35`) while the library keys core groups by subcategory.
//! Otherwise it is **core**; a procedure cell that is empty or says `保守治疗` means the
//! conservative core group. Procedure lists are split on `+ | , ; / 、` and spaces.
//!
//! Published libraries rarely carry average costs. When a row has none and a
//! reference cost is given, the average is `score × reference / base` (rounded half
//! up to the fen), which is what the score formula implies; otherwise deviation
//! cases cannot be assessed for that group.

use std::io::Read;

use claims::Fen;

use crate::aux::{AuxParams, CciTable, Coefficients};
use crate::build::{dx_key, proc_key};
use crate::classify::{ProcClass, ProcClassifier};
use crate::library::{parse_flag, Group, GroupKind, Library, Manifest, FORMAT};
use crate::params::{DxLevel, GroupParams, KeyProcedures, ProcLevel};
use crate::score::{div_round, Fixed};

/// A column of a published library and the header names it is known by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Code,
    Kind,
    Diagnosis,
    Procedures,
    Score,
    BaseLevel,
    Tcm,
    AvgCost,
    Cases,
    Name,
}

/// Header names per column (compared after trimming, case-insensitively for ASCII).
pub const COLUMNS: &[(Column, &[&str])] = &[
    (
        Column::Code,
        &[
            "code",
            "group_code",
            "病种编码",
            "病种代码",
            "DIP编码",
            "病种组合编码",
            "编码",
        ],
    ),
    (Column::Kind, &["kind", "病种类型", "类型", "病种类别"]),
    (
        Column::Diagnosis,
        &[
            "dx",
            "diagnosis",
            "diagnosis_code",
            "主要诊断编码",
            "主要诊断代码",
            "主诊断编码",
            "诊断编码",
            "疾病诊断编码",
        ],
    ),
    (
        Column::Procedures,
        &[
            "procedures",
            "procedure_codes",
            "手术操作编码",
            "手术操作代码",
            "手术及操作编码",
            "操作编码",
            "治疗方式编码",
            "治疗方式",
        ],
    ),
    (Column::Score, &["score", "分值", "病种分值", "基准分值"]),
    (
        Column::BaseLevel,
        &["base_level", "基层病种", "是否基层病种"],
    ),
    (Column::Tcm, &["tcm", "中医优势病种", "是否中医优势病种"]),
    (
        Column::AvgCost,
        &[
            "avg_cost",
            "次均费用",
            "平均费用",
            "例均费用",
            "病种次均费用",
        ],
    ),
    (Column::Cases, &["cases", "病例数", "例数"]),
    (Column::Name, &["name", "病种名称", "名称"]),
];

fn column_of(header: &str) -> Option<Column> {
    let h = header.trim().trim_start_matches('\u{feff}');
    COLUMNS
        .iter()
        .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(h)))
        .map(|(c, _)| *c)
}

/// How to interpret a published library.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub version: String,
    pub base: Fixed,
    /// The all-case average cost the scores are relative to, when known.
    pub reference_cost: Option<Fen>,
    pub dx_level: DxLevel,
    pub proc_level: ProcLevel,
    pub key_procedures: KeyProcedures,
    pub grouping: GroupParams,
    pub aux: AuxParams,
    pub classifier: ProcClassifier,
    pub cci: CciTable,
    pub coefficients: Coefficients,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            version: String::new(),
            base: Fixed::from_int(1000),
            reference_cost: None,
            dx_level: DxLevel::default(),
            proc_level: ProcLevel::default(),
            key_procedures: KeyProcedures::default(),
            grouping: GroupParams::default(),
            aux: AuxParams::default(),
            classifier: ProcClassifier::builtin(),
            cci: CciTable::builtin(),
            coefficients: Coefficients::default(),
        }
    }
}

/// What an import found besides the groups.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub core: usize,
    pub comprehensive: usize,
    /// Header cells naming no known column.
    pub unknown_columns: Vec<String>,
    /// Rows left out, with their line (1-based, header = 1) and why.
    pub rejected: Vec<(usize, String)>,
}

/// Why a published library could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("empty file")]
    Empty,
    #[error("no `{0}` column (known names: {1})")]
    MissingColumn(&'static str, String),
    #[error("reading the file: {0}")]
    Read(String),
}

/// Reads a published library; `name` selects XLSX (`.xlsx`/`.xlsm`) or CSV (UTF-8 or GBK).
pub fn import(
    name: &str,
    bytes: &[u8],
    opts: ImportOptions,
) -> Result<(Library, ImportReport), ImportError> {
    let lower = name.to_ascii_lowercase();
    let rows =
        if lower.ends_with(".xlsx") || lower.ends_with(".xlsm") || bytes.starts_with(b"PK\x03\x04")
        {
            xlsx_rows(bytes)?
        } else {
            csv_rows(bytes)?
        };
    import_rows(name, rows, opts)
}

fn csv_rows(bytes: &[u8]) -> Result<Vec<Vec<String>>, ImportError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => encoding_gbk(bytes),
    };
    let first = text.lines().next().unwrap_or("");
    let delim = if first.contains('\t') { b'\t' } else { b',' };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for r in rdr.records() {
        let r = r.map_err(|e| ImportError::Read(e.to_string()))?;
        out.push(r.iter().map(str::to_owned).collect());
    }
    Ok(out)
}

fn encoding_gbk(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    // Published libraries saved by Windows tools are often GBK.
    encoding_rs::GBK.decode_without_bom_handling(bytes).0
}

fn xlsx_rows(bytes: &[u8]) -> Result<Vec<Vec<String>>, ImportError> {
    use calamine::{Data, Reader as _, Xlsx};
    let mut wb: Xlsx<_> =
        Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| ImportError::Read(e.to_string()))?;
    let sheet = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or(ImportError::Empty)?;
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| ImportError::Read(e.to_string()))?;
    Ok(range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    Data::String(s) => s.clone(),
                    Data::Int(i) => i.to_string(),
                    Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                        format!("{}", *f as i64)
                    }
                    Data::Float(f) => f.to_string(),
                    Data::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect())
}

/// Imports already-split rows (first row = header).
pub fn import_rows(
    name: &str,
    rows: Vec<Vec<String>>,
    opts: ImportOptions,
) -> Result<(Library, ImportReport), ImportError> {
    let mut it = rows.into_iter();
    let header = it.next().ok_or(ImportError::Empty)?;
    let mut report = ImportReport::default();
    let mut cols: Vec<Option<Column>> = Vec::with_capacity(header.len());
    for h in &header {
        let c = column_of(h).filter(|c| !cols.contains(&Some(*c)));
        if c.is_none() && !h.trim().is_empty() {
            report.unknown_columns.push(h.trim().to_owned());
        }
        cols.push(c);
    }
    let pos = |c: Column| cols.iter().position(|x| *x == Some(c));
    let names = |c: Column| {
        COLUMNS
            .iter()
            .find(|x| x.0 == c)
            .map(|x| x.1.join("/"))
            .unwrap_or_default()
    };
    let dx_col = pos(Column::Diagnosis)
        .ok_or_else(|| ImportError::MissingColumn("diagnosis", names(Column::Diagnosis)))?;
    let score_col = pos(Column::Score)
        .ok_or_else(|| ImportError::MissingColumn("score", names(Column::Score)))?;
    let [code_col, kind_col, proc_col, base_col, tcm_col, avg_col, cases_col, name_col] = [
        Column::Code,
        Column::Kind,
        Column::Procedures,
        Column::BaseLevel,
        Column::Tcm,
        Column::AvgCost,
        Column::Cases,
        Column::Name,
    ]
    .map(pos);
    let mut groups: Vec<Group> = Vec::new();
    let mut seen = rustc_hash::FxHashSet::default();
    for (i, row) in it.enumerate() {
        let line = i + 2;
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        report.rows += 1;
        let cell = |c: Option<usize>| c.and_then(|c| row.get(c)).map(|s| s.trim()).unwrap_or("");
        match import_row(
            &cell,
            dx_col,
            score_col,
            [
                code_col, kind_col, proc_col, base_col, tcm_col, avg_col, cases_col, name_col,
            ],
            &opts,
        ) {
            Ok(g) => {
                let key = (
                    g.kind,
                    g.dx.clone(),
                    g.procedures.clone(),
                    if g.kind == GroupKind::Core {
                        ProcClass::Conservative
                    } else {
                        g.class
                    },
                );
                if !seen.insert(key) {
                    report.rejected.push((
                        line,
                        format!(
                            "group {} repeats the diagnosis and procedures of an earlier row",
                            g.code
                        ),
                    ));
                    continue;
                }
                if groups.iter().any(|x| x.code == g.code) {
                    report
                        .rejected
                        .push((line, format!("duplicate code {}", g.code)));
                    continue;
                }
                match g.kind {
                    GroupKind::Core => report.core += 1,
                    GroupKind::Comprehensive => report.comprehensive += 1,
                }
                groups.push(g);
            }
            Err(reason) => report.rejected.push((line, reason)),
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        version: opts.version.clone(),
        source: format!("import:{name}"),
        base: opts.base,
        reference_cost_fen: opts.reference_cost.map(|f| f.0),
        total_cases: 0,
        dx_level: opts.dx_level,
        proc_level: opts.proc_level,
        key_procedures: opts.key_procedures,
        grouping: opts.grouping,
        aux: opts.aux,
        build: None,
    };
    let lib = Library {
        manifest,
        groups,
        classifier: opts.classifier,
        cci: opts.cci,
        coefficients: opts.coefficients,
    };
    Ok((lib, report))
}

fn import_row<'r>(
    cell: &dyn Fn(Option<usize>) -> &'r str,
    dx_col: usize,
    score_col: usize,
    [code_col, kind_col, proc_col, base_col, tcm_col, avg_col, cases_col, name_col]: [Option<usize>;
        8],
    opts: &ImportOptions,
) -> Result<Group, String> {
    let dx_raw = cell(Some(dx_col));
    let dx_norm = codes::normalize(dx_raw);
    if dx_norm.is_empty() {
        return Err("empty diagnosis".into());
    }
    let score = Fixed::parse(cell(Some(score_col))).map_err(|e| format!("score: {e}"))?;
    if score <= Fixed::ZERO {
        return Err(format!("score must be positive, got {score}"));
    }
    let proc_cell = cell(proc_col);
    let class_word = ProcClass::parse(proc_cell);
    let kind_cell = cell(kind_col);
    let has_sub = codes::subcategory(&dx_norm).is_some();
    let kind = if kind_cell.contains('综') || kind_cell.eq_ignore_ascii_case("comprehensive") {
        GroupKind::Comprehensive
    } else if kind_cell.contains('核') || kind_cell.eq_ignore_ascii_case("core") {
        GroupKind::Core
    } else if matches!(class_word, Some(c) if c != ProcClass::Conservative)
        || (!has_sub && opts.dx_level == DxLevel::Subcategory)
    {
        GroupKind::Comprehensive
    } else {
        GroupKind::Core
    };
    let (dx, procedures, class) = match kind {
        GroupKind::Comprehensive => {
            let cat = codes::category(&dx_norm)
                .ok_or_else(|| format!("diagnosis {dx_raw:?} has no category"))?;
            (
                cat.to_owned(),
                Vec::new(),
                class_word.unwrap_or(ProcClass::Conservative),
            )
        }
        GroupKind::Core => {
            let dx = dx_key(&dx_norm, opts.dx_level)
                .ok_or_else(|| format!("diagnosis {dx_raw:?} is not code-shaped"))?;
            let mut procs: Vec<String> = Vec::new();
            if class_word.is_none() {
                for p in proc_cell
                    .split(['+', '|', ',', ';', '/', '、', ' ', '，', '；'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    let norm = codes::normalize(p);
                    if !codes::looks_like_procedure(&norm) {
                        return Err(format!("procedure {p:?} is not code-shaped"));
                    }
                    let key = proc_key(&norm, opts.proc_level);
                    if opts.key_procedures.keeps(opts.classifier.classify(key)) {
                        procs.push(key.to_owned());
                    }
                }
            }
            procs.sort();
            procs.dedup();
            let class = procs
                .iter()
                .map(|p| opts.classifier.classify(p))
                .max()
                .unwrap_or(ProcClass::Conservative);
            (dx.to_owned(), procs, class)
        }
    };
    let flag = |c: Option<usize>, what: &str| {
        parse_flag(cell(c)).ok_or_else(|| format!("{what}: not a yes/no value: {:?}", cell(c)))
    };
    let avg_cost = match cell(avg_col) {
        "" => opts
            .reference_cost
            .map(|r| Fen(div_round(score.0 as i128 * r.0 as i128, opts.base.0 as i128) as i64)),
        s => Some(Fen::parse_yuan(s).map_err(|e| format!("average cost: {e}"))?),
    };
    let cases = match cell(cases_col) {
        "" => 0,
        s => s
            .trim_end_matches(".0")
            .parse()
            .map_err(|_| format!("case count {s:?}"))?,
    };
    let code = match cell(code_col) {
        "" => Group::make_code(kind, &dx, &procedures, class),
        c => c.to_owned(),
    };
    Ok(Group {
        code,
        kind,
        dx,
        procedures,
        class,
        cases,
        avg_cost,
        avg_by_level: [None; 3],
        score,
        cv: None,
        base_level: flag(base_col, "base-level flag")?,
        tcm: flag(tcm_col, "TCM flag")?,
        name: cell(name_col).to_owned(),
    })
}

/// The library as a published-style CSV (Chinese headers): 病种编码, 病种类型,
/// 主要诊断编码, 手术操作编码, 分值, 次均费用, 病例数, 基层病种, 中医优势病种, 病种名称.
pub fn to_published_csv(lib: &Library) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "病种编码",
        "病种类型",
        "主要诊断编码",
        "手术操作编码",
        "分值",
        "次均费用",
        "病例数",
        "基层病种",
        "中医优势病种",
        "病种名称",
    ]);
    for g in &lib.groups {
        let procs = match g.kind {
            GroupKind::Core if g.procedures.is_empty() => ProcClass::Conservative.zh().to_owned(),
            GroupKind::Core => g.procedures.join("+"),
            GroupKind::Comprehensive => g.class.zh().to_owned(),
        };
        let kind = if g.kind == GroupKind::Core {
            "核心病种"
        } else {
            "综合病种"
        };
        let _ = w.write_record([
            g.code.as_str(),
            kind,
            g.dx.as_str(),
            procs.as_str(),
            &g.score.to_string(),
            &g.avg_cost.map(|f| f.to_string()).unwrap_or_default(),
            &g.cases.to_string(),
            if g.base_level { "是" } else { "否" },
            if g.tcm { "是" } else { "否" },
            g.name.as_str(),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Reads everything from `r` (helper for callers holding a reader).
pub fn read_all(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn chinese_headers_kinds_and_unknown_columns() {
        let src = "病种编码,主要诊断编码,手术操作编码,分值,基层病种,备注\n\
                   A1,K35.8,47.0100,800.5,是,x\n\
                   A2,K35.8,,300,否,\n\
                   A3,K35,相关手术,900,0,\n\
                   A4,K35.8,47.0100+54.1100,1200,,\n\
                   A5,J18.9,保守治疗,400,1,\n\
                   A6,K80.2,51.2300,abc,,\n";
        let (lib, rep) = import_rows("lib.csv", rows(src), ImportOptions::default()).unwrap();
        assert_eq!(rep.unknown_columns, ["备注"]);
        assert_eq!(rep.rejected.len(), 1);
        assert_eq!(rep.rejected[0].0, 7);
        let by = |c: &str| lib.groups.iter().find(|g| g.code == c).unwrap();
        assert_eq!(by("A1").kind, GroupKind::Core);
        assert_eq!(by("A1").procedures, ["47.0100"]);
        assert!(by("A1").base_level);
        assert_eq!(by("A1").score, Fixed(8_005_000));
        assert!(by("A2").procedures.is_empty());
        assert_eq!(by("A3").kind, GroupKind::Comprehensive);
        assert_eq!(by("A3").class, ProcClass::Surgical);
        assert_eq!(by("A4").procedures, ["47.0100", "54.1100"]);
        assert_eq!(by("A5").kind, GroupKind::Core);
        assert!(by("A5").procedures.is_empty());
        assert!(by("A5").base_level);
    }

    #[test]
    fn gbk_and_tab_separated_files() {
        let text = "病种编码\t主要诊断编码\t手术操作编码\t分值\nG1\tK35.8\t47.0100\t800\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert!(std::str::from_utf8(&gbk).is_err());
        let (lib, rep) = import("lib.csv", &gbk, ImportOptions::default()).unwrap();
        assert!(
            rep.unknown_columns.is_empty() && rep.rejected.is_empty(),
            "{rep:?}"
        );
        assert_eq!(lib.groups[0].code, "G1");
        assert_eq!(lib.groups[0].procedures, ["47.0100"]);
    }

    #[test]
    fn missing_score_column_is_fatal() {
        let e = import_rows(
            "x.csv",
            rows("主要诊断编码,手术操作编码\nK35.8,47.01\n"),
            ImportOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, ImportError::MissingColumn("score", _)));
    }

    #[test]
    fn average_from_reference_cost() {
        let opts = ImportOptions {
            reference_cost: Some(Fen(1_000_000)),
            ..ImportOptions::default()
        };
        let (lib, _) = import_rows("x.csv", rows("dx,score\nK35.8,1500\n"), opts).unwrap();
        assert_eq!(lib.groups[0].avg_cost, Some(Fen(1_500_000)));
    }
}

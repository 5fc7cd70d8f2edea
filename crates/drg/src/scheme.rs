//! The grouping scheme as data: model, loader and located errors.
//!
//! The on-disk format is described in `shared/reference/README.md` (directory
//! `chs-drg-1.1/`). Loading is pure: the caller hands over the text of each file.

use std::collections::BTreeMap;
use std::fmt;

use rustc_hash::FxHashMap;
use serde_json::Value;

/// Name of the built-in list that means "operating-room procedures" (`surgical_procedures.tsv`).
pub const SS_VALID: &str = "SS_VALID";

/// File names of a scheme directory, in the order of [`SchemeFiles`] fields.
pub mod file_names {
    /// `scheme.json`
    pub const SCHEME_JSON: &str = "scheme.json";
    /// `cc.tsv`
    pub const CC_TSV: &str = "cc.tsv";
    /// `mcc.tsv`
    pub const MCC_TSV: &str = "mcc.tsv";
    /// `main_dx_exclusion.tsv`
    pub const MAIN_DX_EXCLUSION_TSV: &str = "main_dx_exclusion.tsv";
    /// `surgical_procedures.tsv`
    pub const SURGICAL_PROCEDURES_TSV: &str = "surgical_procedures.tsv";
    /// `drg_names.tsv`
    pub const DRG_NAMES_TSV: &str = "drg_names.tsv";
}

/// The text of every file of a scheme directory.
#[derive(Debug, Clone, Copy)]
pub struct SchemeFiles<'a> {
    /// `scheme.json`
    pub scheme_json: &'a str,
    /// `cc.tsv`
    pub cc_tsv: &'a str,
    /// `mcc.tsv`
    pub mcc_tsv: &'a str,
    /// `main_dx_exclusion.tsv`
    pub main_dx_exclusion_tsv: &'a str,
    /// `surgical_procedures.tsv`
    pub surgical_procedures_tsv: &'a str,
    /// `drg_names.tsv`
    pub drg_names_tsv: &'a str,
}

/// Where in which file a scheme error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of a text file.
    Line(usize),
    /// A 1-based line and column (JSON syntax errors).
    LineColumn(usize, usize),
    /// A path inside the JSON document, e.g. `mdcs[3].adrgs[12].drgs[2].when.and[1]`.
    JsonPath(String),
    /// The whole file.
    File,
}

/// A scheme that could not be loaded: which file, where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{location}: {what}")]
pub struct SchemeError {
    /// The file name, e.g. `cc.tsv`.
    pub file: &'static str,
    /// Where in the file.
    pub location: Location,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(l) => write!(f, ":{l}"),
            Location::LineColumn(l, c) => write!(f, ":{l}:{c}"),
            Location::JsonPath(p) => write!(f, " at {p}"),
            Location::File => Ok(()),
        }
    }
}

/// A field of a case that conditions can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `sex`: 1 male, 2 female.
    Sex,
    /// `age` in years.
    Age,
    /// `age_days`: age in days (infants).
    AgeDays,
    /// `weight_g`: newborn birth weight in grams.
    WeightG,
    /// `dx`: all diagnoses (list).
    Dx,
    /// `main_dx`: the first diagnosis.
    MainDx,
    /// `procs`: all procedures (list).
    Procs,
    /// `main_proc`: the first procedure.
    MainProc,
    /// `secondary_dx`: the diagnoses after the first (list).
    SecondaryDx,
    /// `secondary_procs`: the procedures after the first (list).
    SecondaryProcs,
    /// `los`: length of stay in days (实际住院天数).
    Los,
    /// `icu_hours`: hours in intensive care (重症监护合计时长).
    IcuHours,
    /// `discharge_way`: 离院方式 code as text.
    DischargeWay,
    /// `dept`: discharge department (出院科别) code as text.
    Dept,
}

/// What kind of value a [`Field`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An optional number.
    Number,
    /// An optional code (text).
    Code,
    /// A list of codes.
    CodeList,
}

impl Field {
    /// All fields.
    pub const ALL: [Field; 14] = [
        Field::Sex,
        Field::Age,
        Field::AgeDays,
        Field::WeightG,
        Field::Dx,
        Field::MainDx,
        Field::Procs,
        Field::MainProc,
        Field::SecondaryDx,
        Field::SecondaryProcs,
        Field::Los,
        Field::IcuHours,
        Field::DischargeWay,
        Field::Dept,
    ];

    /// The field's name in `scheme.json`.
    pub fn name(self) -> &'static str {
        match self {
            Field::Sex => "sex",
            Field::Age => "age",
            Field::AgeDays => "age_days",
            Field::WeightG => "weight_g",
            Field::Dx => "dx",
            Field::MainDx => "main_dx",
            Field::Procs => "procs",
            Field::MainProc => "main_proc",
            Field::SecondaryDx => "secondary_dx",
            Field::SecondaryProcs => "secondary_procs",
            Field::Los => "los",
            Field::IcuHours => "icu_hours",
            Field::DischargeWay => "discharge_way",
            Field::Dept => "dept",
        }
    }

    /// Parses a field name of `scheme.json`.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The kind of value the field holds.
    pub fn kind(self) -> FieldKind {
        match self {
            Field::Sex
            | Field::Age
            | Field::AgeDays
            | Field::WeightG
            | Field::Los
            | Field::IcuHours => FieldKind::Number,
            Field::MainDx | Field::MainProc | Field::DischargeWay | Field::Dept => FieldKind::Code,
            Field::Dx | Field::Procs | Field::SecondaryDx | Field::SecondaryProcs => {
                FieldKind::CodeList
            }
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `le`
    Le,
    /// `lt`
    Lt,
    /// `ge`
    Ge,
    /// `gt`
    Gt,
    /// `eq`
    Eq,
    /// `ne`
    Ne,
}

impl CmpOp {
    /// The operator's name in `scheme.json`.
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Le => "le",
            CmpOp::Lt => "lt",
            CmpOp::Ge => "ge",
            CmpOp::Gt => "gt",
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
        }
    }

    /// The operator as a symbol (`<=`, `<`, ...).
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Le => "<=",
            CmpOp::Lt => "<",
            CmpOp::Ge => ">=",
            CmpOp::Gt => ">",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }

    fn from_name(name: &str) -> Option<CmpOp> {
        [
            CmpOp::Le,
            CmpOp::Lt,
            CmpOp::Ge,
            CmpOp::Gt,
            CmpOp::Eq,
            CmpOp::Ne,
        ]
        .into_iter()
        .find(|op| op.name() == name)
    }

    /// Applies the operator to a field value and the scheme's number.
    pub fn apply_f64(self, lhs: f64, rhs: f64) -> bool {
        match self {
            CmpOp::Le => lhs <= rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
        }
    }

    /// Applies the operator.
    pub fn apply(self, lhs: i64, rhs: i64) -> bool {
        match self {
            CmpOp::Le => lhs <= rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
        }
    }
}

/// A condition (`when`) of an MDC or ADRG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// `true` / `false`.
    Const(bool),
    /// `{"and": [..]}`
    And(Vec<Cond>),
    /// `{"or": [..]}`
    Or(Vec<Cond>),
    /// `{"not": e}`
    Not(Box<Cond>),
    /// `{"present": field}`
    Present(Field),
    /// `{"in": [field, list]}` (a code field).
    In(Field, String),
    /// `{"intersects": [field, list]}` (a code-list field).
    Intersects(Field, String),
    /// `{"le"|"lt"|...: [field, number]}` (a number field); false when the field is absent.
    Cmp(CmpOp, Field, i64),
    /// `{"proc_tag": t}`
    ProcTag(String),
    /// `{"distinct_trauma_sites_ge": n}`
    DistinctTraumaSitesGe(u32),
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(f: &mut fmt::Formatter<'_>, items: &[Cond], sep: &str) -> fmt::Result {
            f.write_str("(")?;
            for (i, c) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{c}")?;
            }
            f.write_str(")")
        }
        match self {
            Cond::Const(b) => write!(f, "{b}"),
            Cond::And(items) => join(f, items, " and "),
            Cond::Or(items) => join(f, items, " or "),
            Cond::Not(c) => write!(f, "not {c}"),
            Cond::Present(field) => write!(f, "present({})", field.name()),
            Cond::In(field, list) => write!(f, "{} in {list}", field.name()),
            Cond::Intersects(field, list) => write!(f, "{} intersects {list}", field.name()),
            Cond::Cmp(op, field, n) => write!(f, "{} {} {n}", field.name(), op.symbol()),
            Cond::ProcTag(t) => write!(f, "proc_tag({t})"),
            Cond::DistinctTraumaSitesGe(n) => write!(f, "distinct_trauma_sites >= {n}"),
        }
    }
}

/// How a DRG inside an ADRG is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrgRule {
    /// Some secondary diagnosis is a non-excluded MCC.
    Mcc,
    /// Some secondary diagnosis is a non-excluded MCC or CC.
    MccOrCc,
    /// Some secondary diagnosis is a non-excluded CC (MCC codes do not count; E6).
    Cc,
    /// Always.
    Always,
    /// Never (E6): the entry only documents a group.
    Never,
}

impl DrgRule {
    /// All rules.
    pub const ALL: [DrgRule; 5] = [
        DrgRule::Mcc,
        DrgRule::MccOrCc,
        DrgRule::Cc,
        DrgRule::Always,
        DrgRule::Never,
    ];

    /// The rule's name in `scheme.json`.
    pub fn name(self) -> &'static str {
        match self {
            DrgRule::Mcc => "mcc",
            DrgRule::MccOrCc => "mcc_or_cc",
            DrgRule::Cc => "cc",
            DrgRule::Always => "always",
            DrgRule::Never => "never",
        }
    }

    /// Parses a rule name.
    pub fn from_name(name: &str) -> Option<DrgRule> {
        DrgRule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether the rule holds given whether some MCC / some CC (non-MCC) counts.
    #[inline]
    pub fn holds(self, mcc: bool, cc: bool) -> bool {
        match self {
            DrgRule::Mcc => mcc,
            DrgRule::MccOrCc => mcc || cc,
            DrgRule::Cc => cc,
            DrgRule::Always => true,
            DrgRule::Never => false,
        }
    }
}

/// Named code lists of a node; each list is sorted and free of duplicates.
pub type Lists = BTreeMap<String, Vec<Box<str>>>;

/// A major diagnostic category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdc {
    /// Code, e.g. `MDCA`.
    pub code: String,
    /// Entry condition.
    pub when: Cond,
    /// Named code lists used by `when`.
    pub lists: Lists,
    /// ADRGs in evaluation order.
    pub adrgs: Vec<Adrg>,
    /// Diagnosis code → body-site name (only MDCZ in CHS-DRG 1.1).
    pub trauma_sites: BTreeMap<Box<str>, String>,
}

/// An adjacent DRG (核心疾病诊断相关组).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adrg {
    /// Code, e.g. `AA1`.
    pub code: String,
    /// Entry condition.
    pub when: Cond,
    /// Named code lists used by `when`.
    pub lists: Lists,
    /// Procedure code → tag, used by `proc_tag` conditions.
    pub proc_tags: BTreeMap<Box<str>, String>,
    /// DRGs in evaluation order (empty for an ambiguous entry).
    pub drgs: Vec<Drg>,
    /// `ambiguous` (E3): an ambiguous entry (歧义病案, ADRG `QY`); when `when` holds,
    /// grouping ends with this entry's code as the DRG.
    pub ambiguous: bool,
    /// `no_drg_falls_through` (E4): when none of the DRGs holds, the walk goes on with the
    /// next ADRG instead of taking the ADRG's own code as the DRG (E0).
    pub no_drg_falls_through: bool,
}

impl Adrg {
    /// Whether the ADRG ends grouping with its own code as the DRG when none of its DRGs
    /// holds (E0): not ambiguous, no E4 flag, and its last DRG is not an unconditional `always`.
    pub fn needs_fallback(&self) -> bool {
        !self.ambiguous
            && !self.no_drg_falls_through
            && !self
                .drgs
                .last()
                .is_some_and(|d| d.rule == DrgRule::Always && d.when == Cond::Const(true))
    }
}

/// A DRG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drg {
    /// Code, e.g. `AA19`.
    pub code: String,
    /// Name as given in `scheme.json`.
    pub name: String,
    /// Selection rule.
    pub rule: DrgRule,
    /// Extra condition (E2): the DRG holds when its rule holds and this holds.
    pub when: Cond,
    /// Named code lists used by `when`.
    pub lists: Lists,
}

/// A complete grouping scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    /// Scheme name.
    pub name: String,
    /// MDCs in evaluation order.
    pub mdcs: Vec<Mdc>,
    /// CC secondary diagnosis → exclusion table id.
    pub cc: FxHashMap<Box<str>, Box<str>>,
    /// MCC secondary diagnosis → exclusion table id.
    pub mcc: FxHashMap<Box<str>, Box<str>>,
    /// Main diagnosis → exclusion table id.
    pub main_dx_exclusion: FxHashMap<Box<str>, Box<str>>,
    /// Operating-room procedures (`SS_VALID`), sorted, no duplicates.
    pub surgical_procedures: Vec<Box<str>>,
    /// DRG code → Chinese name.
    pub drg_names: FxHashMap<Box<str>, String>,
    /// `retry_ungroupable_with_each_secondary_proc` (E5): a case that ends ungroupable with
    /// two or more procedures is grouped again with each later procedure alone.
    pub retry_with_each_secondary_proc: bool,
}

impl Scheme {
    /// Parses and validates a scheme from the text of its files.
    pub fn from_files(files: SchemeFiles<'_>) -> Result<Scheme, SchemeError> {
        use file_names::*;
        let cc = parse_code_table(CC_TSV, files.cc_tsv, &["code", "exclusion_table"])?;
        let mcc = parse_code_table(MCC_TSV, files.mcc_tsv, &["code", "exclusion_table"])?;
        let main_dx_exclusion = parse_code_table(
            MAIN_DX_EXCLUSION_TSV,
            files.main_dx_exclusion_tsv,
            &["main_dx", "exclusion_table"],
        )?;
        let mut surgical_procedures: Vec<Box<str>> = Vec::new();
        for row in tsv_rows(
            SURGICAL_PROCEDURES_TSV,
            files.surgical_procedures_tsv,
            &["code", "name"],
        )? {
            let (_, cols) = row?;
            // The same code may appear with several names; it is one procedure.
            surgical_procedures.push(cols[0].into());
        }
        surgical_procedures.sort_unstable();
        surgical_procedures.dedup();
        let mut drg_names = FxHashMap::default();
        for row in tsv_rows(DRG_NAMES_TSV, files.drg_names_tsv, &["drg", "name"])? {
            let (line, cols) = row?;
            if drg_names
                .insert(cols[0].into(), cols[1].to_string())
                .is_some()
            {
                return Err(SchemeError {
                    file: DRG_NAMES_TSV,
                    location: Location::Line(line),
                    what: format!("duplicate DRG `{}`", cols[0]),
                });
            }
        }
        let (name, mdcs, retry_with_each_secondary_proc) = parse_scheme_json(files.scheme_json)?;
        Ok(Scheme {
            name,
            mdcs,
            retry_with_each_secondary_proc,
            cc,
            mcc,
            main_dx_exclusion,
            surgical_procedures,
            drg_names,
        })
    }

    /// The DRG's name: from `drg_names.tsv`, else from `scheme.json`.
    pub fn drg_name<'a>(&'a self, drg: &'a Drg) -> &'a str {
        self.drg_names
            .get(drg.code.as_str())
            .map(String::as_str)
            .unwrap_or(&drg.name)
    }

    /// Every DRG a case can be grouped into and paid by, once each in scheme order:
    /// (DRG code, ADRG code, name). The E0 fallbacks (an ADRG's own code) are included;
    /// ambiguous entries (歧义病案) are not, they are no DRG to pay by.
    pub fn payable_drgs(&self) -> Vec<(&str, &str, &str)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for a in self.mdcs.iter().flat_map(|m| &m.adrgs) {
            for d in &a.drgs {
                if seen.insert(d.code.as_str()) {
                    out.push((d.code.as_str(), a.code.as_str(), self.drg_name(d)));
                }
            }
            if a.needs_fallback() && seen.insert(a.code.as_str()) {
                let name = self.drg_names.get(a.code.as_str()).map_or("", String::as_str);
                out.push((a.code.as_str(), a.code.as_str(), name));
            }
        }
        out
    }

    /// Entries that load but can never take effect: a DRG after an unconditional `always`
    /// DRG of its ADRG. The reference schemes keep them (their reference groupers behave
    /// so); every tool that loads a scheme reports them as warnings.
    pub fn lint(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, m) in self.mdcs.iter().enumerate() {
            for (j, a) in m.adrgs.iter().enumerate() {
                let first_always = a
                    .drgs
                    .iter()
                    .position(|d| d.rule == DrgRule::Always && d.when == Cond::Const(true));
                if let Some(k0) = first_always {
                    for (k, d) in a.drgs.iter().enumerate().skip(k0 + 1) {
                        out.push(format!(
                            "mdcs[{i}].adrgs[{j}].drgs[{k}] ({} › {} › {}): never reached, {} before it always holds",
                            m.code, a.code, d.code, a.drgs[k0].code
                        ));
                    }
                }
            }
        }
        out
    }

    /// Number of ADRGs and DRGs.
    pub fn counts(&self) -> (usize, usize, usize) {
        let adrgs = self.mdcs.iter().map(|m| m.adrgs.len()).sum();
        let drgs = self
            .mdcs
            .iter()
            .flat_map(|m| &m.adrgs)
            .map(|a| a.drgs.len())
            .sum();
        // Ambiguous entries (QY) count as ADRGs here; they have no DRGs.
        (self.mdcs.len(), adrgs, drgs)
    }
}

type Row<'a> = Result<(usize, Vec<&'a str>), SchemeError>;

/// Rows of a TSV file after checking its header; yields (1-based line, columns).
fn tsv_rows<'a>(
    file: &'static str,
    text: &'a str,
    header: &'static [&'static str],
) -> Result<impl Iterator<Item = Row<'a>> + 'a, SchemeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let first = lines.next().map(|(_, l)| l.trim_end_matches('\r'));
    let got: Vec<&str> = first.unwrap_or("").split('\t').map(str::trim).collect();
    if got.len() < header.len() || got[..header.len()] != *header {
        return Err(SchemeError {
            file,
            location: Location::Line(1),
            what: format!(
                "expected header `{}`, found `{}`",
                header.join("\\t"),
                first.unwrap_or("")
            ),
        });
    }
    Ok(lines.filter_map(move |(i, line)| {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            return None;
        }
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        if cols.len() < header.len() {
            return Some(Err(SchemeError {
                file,
                location: Location::Line(i + 1),
                what: format!("expected {} columns, found {}", header.len(), cols.len()),
            }));
        }
        if cols[0].is_empty() {
            return Some(Err(SchemeError {
                file,
                location: Location::Line(i + 1),
                what: format!("empty `{}`", header[0]),
            }));
        }
        Some(Ok((i + 1, cols)))
    }))
}

/// A two-column `code → exclusion table id` file; duplicate codes are errors.
fn parse_code_table(
    file: &'static str,
    text: &str,
    header: &'static [&'static str],
) -> Result<FxHashMap<Box<str>, Box<str>>, SchemeError> {
    let mut map = FxHashMap::default();
    for row in tsv_rows(file, text, header)? {
        let (line, cols) = row?;
        if cols[1].is_empty() {
            return Err(SchemeError {
                file,
                location: Location::Line(line),
                what: format!("empty `{}` for `{}`", header[1], cols[0]),
            });
        }
        if map.insert(cols[0].into(), cols[1].into()).is_some() {
            return Err(SchemeError {
                file,
                location: Location::Line(line),
                what: format!("duplicate code `{}`", cols[0]),
            });
        }
    }
    Ok(map)
}

/// Where the parser is: the JSON path of the value (e.g. `mdcs[3].adrgs[12].drgs[2].when`)
/// and the codes of the nodes around it (e.g. `MDCC › CB1 › CB13`), for messages.
struct JsonCtx {
    path: String,
    codes: String,
}

impl JsonCtx {
    fn root() -> JsonCtx {
        JsonCtx {
            path: String::new(),
            codes: String::new(),
        }
    }

    fn err(&self, what: impl fmt::Display) -> SchemeError {
        let what = if self.codes.is_empty() {
            what.to_string()
        } else {
            format!("{what} (in {})", self.codes)
        };
        SchemeError {
            file: file_names::SCHEME_JSON,
            location: Location::JsonPath(if self.path.is_empty() {
                "(document)".into()
            } else {
                self.path.clone()
            }),
            what,
        }
    }

    /// A key of an object.
    fn key(&self, key: &str) -> JsonCtx {
        JsonCtx {
            path: if self.path.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.path)
            },
            codes: self.codes.clone(),
        }
    }

    /// An element of an array.
    fn index(&self, i: usize) -> JsonCtx {
        JsonCtx {
            path: format!("{}[{i}]", self.path),
            codes: self.codes.clone(),
        }
    }

    /// The same place, inside the node with this code.
    fn node(&self, code: &str) -> JsonCtx {
        JsonCtx {
            path: self.path.clone(),
            codes: if self.codes.is_empty() {
                code.to_string()
            } else {
                format!("{} › {code}", self.codes)
            },
        }
    }
}

/// Keys the grouper knows, per kind of object.
const ROOT_KEYS: &[&str] = &["name", "mdcs", "retry_ungroupable_with_each_secondary_proc"];
const MDC_KEYS: &[&str] = &["code", "when", "lists", "trauma_sites", "adrgs"];
const ADRG_KEYS: &[&str] = &[
    "code",
    "when",
    "lists",
    "proc_tags",
    "drgs",
    "ambiguous",
    "no_drg_falls_through",
];
const DRG_KEYS: &[&str] = &["code", "name", "rule", "when", "lists"];

/// Refuses any key not in `known`, naming its path.
fn check_keys(
    obj: &serde_json::Map<String, Value>,
    known: &[&str],
    what: &str,
    ctx: &JsonCtx,
) -> Result<(), SchemeError> {
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            return Err(ctx.key(k).err(format!(
                "unknown key `{k}` in {what} (known: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

fn get_flag(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    ctx: &JsonCtx,
) -> Result<bool, SchemeError> {
    match obj.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ctx.key(key).err("a flag must be true or false")),
    }
}

fn parse_scheme_json(text: &str) -> Result<(String, Vec<Mdc>, bool), SchemeError> {
    let root: Value = serde_json::from_str(text).map_err(|e| SchemeError {
        file: file_names::SCHEME_JSON,
        location: Location::LineColumn(e.line(), e.column()),
        what: e.to_string(),
    })?;
    let ctx = JsonCtx::root();
    let obj = root
        .as_object()
        .ok_or_else(|| ctx.err("the document must be an object"))?;
    check_keys(obj, ROOT_KEYS, "the scheme", &ctx)?;
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        None => String::new(),
        Some(_) => return Err(ctx.key("name").err("must be a string")),
    };
    let retry = get_flag(obj, "retry_ungroupable_with_each_secondary_proc", &ctx)?;
    let mdcs_ctx = ctx.key("mdcs");
    let mdcs_v = obj
        .get("mdcs")
        .and_then(Value::as_array)
        .ok_or_else(|| mdcs_ctx.err("missing array `mdcs`"))?;
    if mdcs_v.is_empty() {
        return Err(mdcs_ctx.err("a scheme needs at least one MDC"));
    }
    // Codes need not be unique (CHS-DRG 2.0 checks MDCM, PQY and MQY at two points): the
    // walk is by position and a result names the code of the entry that matched.
    let mdcs = mdcs_v
        .iter()
        .enumerate()
        .map(|(i, m)| parse_mdc(m, &mdcs_ctx.index(i)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name, mdcs, retry))
}

fn get_str<'v>(
    obj: &'v serde_json::Map<String, Value>,
    key: &str,
    ctx: &JsonCtx,
) -> Result<&'v str, SchemeError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
        Some(_) => Err(ctx.key(key).err("must be a non-empty string")),
        None => Err(ctx.err(format!("missing `{key}`"))),
    }
}

fn parse_lists(v: Option<&Value>, ctx: &JsonCtx) -> Result<Lists, SchemeError> {
    let mut lists = Lists::new();
    let Some(v) = v else { return Ok(lists) };
    let obj = v
        .as_object()
        .ok_or_else(|| ctx.err("`lists` must be an object"))?;
    for (name, codes) in obj {
        let lctx = ctx.key(name);
        if name == SS_VALID {
            return Err(lctx.err("`SS_VALID` is reserved for surgical_procedures.tsv"));
        }
        let arr = codes
            .as_array()
            .ok_or_else(|| lctx.err("a list must be an array of codes"))?;
        let mut out: Vec<Box<str>> = Vec::with_capacity(arr.len());
        for (k, c) in arr.iter().enumerate() {
            let s = c
                .as_str()
                .ok_or_else(|| lctx.index(k).err("a code must be a string"))?;
            out.push(s.trim().into());
        }
        out.sort_unstable();
        out.dedup();
        lists.insert(name.clone(), out);
    }
    Ok(lists)
}

fn parse_str_map(
    v: Option<&Value>,
    ctx: &JsonCtx,
) -> Result<BTreeMap<Box<str>, String>, SchemeError> {
    let mut map = BTreeMap::new();
    let Some(v) = v else { return Ok(map) };
    let obj = v.as_object().ok_or_else(|| ctx.err("must be an object"))?;
    for (k, val) in obj {
        let s = match val {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(ctx.key(k).err("must be a string")),
        };
        map.insert(k.trim().into(), s);
    }
    Ok(map)
}

fn parse_mdc(v: &Value, ctx: &JsonCtx) -> Result<Mdc, SchemeError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ctx.err("an MDC must be an object"))?;
    check_keys(obj, MDC_KEYS, "an MDC", ctx)?;
    let code = get_str(obj, "code", ctx)?.to_string();
    let ctx = ctx.node(&code);
    let lists = parse_lists(obj.get("lists"), &ctx.key("lists"))?;
    let trauma_sites = parse_str_map(obj.get("trauma_sites"), &ctx.key("trauma_sites"))?;
    let scope = Scope {
        lists: &lists,
        proc_tags: None,
        trauma_sites: !trauma_sites.is_empty(),
    };
    let when = parse_cond(
        obj.get("when").ok_or_else(|| ctx.err("missing `when`"))?,
        &ctx.key("when"),
        &scope,
    )?;
    let actx = ctx.key("adrgs");
    let adrgs_v = obj
        .get("adrgs")
        .and_then(Value::as_array)
        .ok_or_else(|| actx.err("missing array `adrgs`"))?;
    let adrgs = adrgs_v
        .iter()
        .enumerate()
        .map(|(i, a)| parse_adrg(a, &actx.index(i), !trauma_sites.is_empty()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Mdc {
        code,
        when,
        lists,
        adrgs,
        trauma_sites,
    })
}

fn parse_adrg(v: &Value, ctx: &JsonCtx, trauma_sites: bool) -> Result<Adrg, SchemeError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ctx.err("an ADRG must be an object"))?;
    check_keys(obj, ADRG_KEYS, "an ADRG", ctx)?;
    let code = get_str(obj, "code", ctx)?.to_string();
    let ctx = ctx.node(&code);
    let lists = parse_lists(obj.get("lists"), &ctx.key("lists"))?;
    let proc_tags = parse_str_map(obj.get("proc_tags"), &ctx.key("proc_tags"))?;
    let ambiguous = get_flag(obj, "ambiguous", &ctx)?;
    let no_drg_falls_through = get_flag(obj, "no_drg_falls_through", &ctx)?;
    let scope = Scope {
        lists: &lists,
        proc_tags: Some(&proc_tags),
        trauma_sites,
    };
    let when = parse_cond(
        obj.get("when").ok_or_else(|| ctx.err("missing `when`"))?,
        &ctx.key("when"),
        &scope,
    )?;
    let dctx = ctx.key("drgs");
    let drgs_v = obj
        .get("drgs")
        .and_then(Value::as_array)
        .ok_or_else(|| dctx.err("missing array `drgs`"))?;
    if ambiguous && !drgs_v.is_empty() {
        return Err(dctx.err("an ambiguous entry (`ambiguous: true`) has no DRGs"));
    }
    if ambiguous && no_drg_falls_through {
        return Err(ctx
            .key("no_drg_falls_through")
            .err("an ambiguous entry has no DRGs to fall through"));
    }
    let mut drgs = Vec::with_capacity(drgs_v.len());
    for (i, d) in drgs_v.iter().enumerate() {
        let dc = dctx.index(i);
        let o = d
            .as_object()
            .ok_or_else(|| dc.err("a DRG must be an object"))?;
        check_keys(o, DRG_KEYS, "a DRG", &dc)?;
        let code = get_str(o, "code", &dc)?.to_string();
        let dc = dc.node(&code);
        let name = match o.get("name") {
            Some(Value::String(s)) => s.clone(),
            None => String::new(),
            Some(_) => return Err(dc.key("name").err("must be a string")),
        };
        let rule_s = get_str(o, "rule", &dc)?;
        let rule = DrgRule::from_name(rule_s).ok_or_else(|| {
            dc.key("rule").err(format!(
                "unknown rule `{rule_s}` (known: {})",
                DrgRule::ALL.map(DrgRule::name).join(", ")
            ))
        })?;
        let dlists = parse_lists(o.get("lists"), &dc.key("lists"))?;
        // A DRG's conditions see its own lists (then SS_VALID) and the ADRG's proc tags.
        let dscope = Scope {
            lists: &dlists,
            proc_tags: Some(&proc_tags),
            trauma_sites,
        };
        let dwhen = match o.get("when") {
            Some(w) => parse_cond(w, &dc.key("when"), &dscope)?,
            None => Cond::Const(true),
        };
        drgs.push(Drg {
            code,
            name,
            rule,
            when: dwhen,
            lists: dlists,
        });
    }
    Ok(Adrg {
        code,
        when,
        lists,
        proc_tags,
        drgs,
        ambiguous,
        no_drg_falls_through,
    })
}

struct Scope<'a> {
    lists: &'a Lists,
    proc_tags: Option<&'a BTreeMap<Box<str>, String>>,
    /// Whether the enclosing MDC has `trauma_sites`.
    trauma_sites: bool,
}

fn parse_field(v: &Value, ctx: &JsonCtx, want: &[FieldKind]) -> Result<Field, SchemeError> {
    let name = v
        .as_str()
        .ok_or_else(|| ctx.err("a field name must be a string"))?;
    let field = Field::from_name(name).ok_or_else(|| {
        ctx.err(format!(
            "unknown field `{name}` (known: {})",
            Field::ALL.map(Field::name).join(", ")
        ))
    })?;
    if !want.contains(&field.kind()) {
        let kind = match field.kind() {
            FieldKind::Number => "a number",
            FieldKind::Code => "a code",
            FieldKind::CodeList => "a list of codes",
        };
        return Err(ctx.err(format!("field `{name}` ({kind}) cannot be used here")));
    }
    Ok(field)
}

fn parse_list_ref(v: &Value, ctx: &JsonCtx, scope: &Scope<'_>) -> Result<String, SchemeError> {
    let name = v
        .as_str()
        .ok_or_else(|| ctx.err("a list name must be a string"))?;
    if name != SS_VALID && !scope.lists.contains_key(name) {
        return Err(ctx.err(format!(
            "unknown list `{name}` (not in this node's `lists`, nor SS_VALID)"
        )));
    }
    Ok(name.to_string())
}

fn parse_cond(v: &Value, ctx: &JsonCtx, scope: &Scope<'_>) -> Result<Cond, SchemeError> {
    let obj = match v {
        Value::Bool(b) => return Ok(Cond::Const(*b)),
        Value::Object(o) if o.len() == 1 => o,
        _ => return Err(ctx.err("a condition must be true, false or an object with one key")),
    };
    let Some((op, arg)) = obj.iter().next() else {
        return Err(ctx.err("empty condition"));
    };
    let ctx = ctx.key(op);
    let pair = |arg: &Value| -> Result<(Value, Value), SchemeError> {
        match arg.as_array().map(Vec::as_slice) {
            Some([a, b]) => Ok((a.clone(), b.clone())),
            _ => Err(ctx.err("expected a two-element array")),
        }
    };
    Ok(match op.as_str() {
        "and" | "or" => {
            let arr = arg
                .as_array()
                .ok_or_else(|| ctx.err("expected an array of conditions"))?;
            let items = arr
                .iter()
                .enumerate()
                .map(|(i, c)| parse_cond(c, &ctx.index(i), scope))
                .collect::<Result<Vec<_>, _>>()?;
            if op == "and" {
                Cond::And(items)
            } else {
                Cond::Or(items)
            }
        }
        "not" => Cond::Not(Box::new(parse_cond(arg, &ctx, scope)?)),
        "present" => Cond::Present(parse_field(
            arg,
            &ctx,
            &[FieldKind::Number, FieldKind::Code, FieldKind::CodeList],
        )?),
        "in" => {
            let (f, l) = pair(arg)?;
            Cond::In(
                parse_field(&f, &ctx.index(0), &[FieldKind::Code])?,
                parse_list_ref(&l, &ctx.index(1), scope)?,
            )
        }
        "intersects" => {
            let (f, l) = pair(arg)?;
            Cond::Intersects(
                parse_field(&f, &ctx.index(0), &[FieldKind::CodeList])?,
                parse_list_ref(&l, &ctx.index(1), scope)?,
            )
        }
        "proc_tag" => {
            let tag = match arg {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(ctx.err("a tag must be a string")),
            };
            let known = scope
                .proc_tags
                .is_some_and(|tags| tags.values().any(|t| *t == tag));
            if !known {
                return Err(ctx.err(format!(
                    "tag `{tag}` is not used by this ADRG's `proc_tags`"
                )));
            }
            Cond::ProcTag(tag)
        }
        "distinct_trauma_sites_ge" => {
            if !scope.trauma_sites {
                return Err(ctx.err("this MDC has no `trauma_sites`"));
            }
            let n = arg
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ctx.err("expected a non-negative integer"))?;
            Cond::DistinctTraumaSitesGe(n)
        }
        other => {
            let cmp = CmpOp::from_name(other).ok_or_else(|| {
                ctx.err(format!(
                    "unknown operator `{other}` (known: true, false, and, or, not, present, in, intersects, le, lt, ge, gt, eq, ne, proc_tag, distinct_trauma_sites_ge)"
                ))
            })?;
            let (f, n) = pair(arg)?;
            let field = parse_field(&f, &ctx.index(0), &[FieldKind::Number])?;
            let n = n
                .as_i64()
                .ok_or_else(|| ctx.index(1).err("expected an integer to compare with"))?;
            Cond::Cmp(cmp, field, n)
        }
    })
}

/// The text of every file of a scheme, as written by [`Scheme::to_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeText {
    /// `scheme.json`
    pub scheme_json: String,
    /// `cc.tsv`
    pub cc_tsv: String,
    /// `mcc.tsv`
    pub mcc_tsv: String,
    /// `main_dx_exclusion.tsv`
    pub main_dx_exclusion_tsv: String,
    /// `surgical_procedures.tsv`
    pub surgical_procedures_tsv: String,
    /// `drg_names.tsv`
    pub drg_names_tsv: String,
}

impl SchemeText {
    /// The texts as [`SchemeFiles`] (to load them back).
    pub fn as_files(&self) -> SchemeFiles<'_> {
        SchemeFiles {
            scheme_json: &self.scheme_json,
            cc_tsv: &self.cc_tsv,
            mcc_tsv: &self.mcc_tsv,
            main_dx_exclusion_tsv: &self.main_dx_exclusion_tsv,
            surgical_procedures_tsv: &self.surgical_procedures_tsv,
            drg_names_tsv: &self.drg_names_tsv,
        }
    }

    /// `(file name, text)` pairs.
    pub fn named(&self) -> [(&'static str, &str); 6] {
        use file_names::*;
        [
            (SCHEME_JSON, &self.scheme_json),
            (CC_TSV, &self.cc_tsv),
            (MCC_TSV, &self.mcc_tsv),
            (MAIN_DX_EXCLUSION_TSV, &self.main_dx_exclusion_tsv),
            (SURGICAL_PROCEDURES_TSV, &self.surgical_procedures_tsv),
            (DRG_NAMES_TSV, &self.drg_names_tsv),
        ]
    }
}

impl Cond {
    /// The condition in `scheme.json` form.
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        match self {
            Cond::Const(b) => Value::Bool(*b),
            Cond::And(items) => json!({"and": items.iter().map(Cond::to_json).collect::<Vec<_>>()}),
            Cond::Or(items) => json!({"or": items.iter().map(Cond::to_json).collect::<Vec<_>>()}),
            Cond::Not(c) => json!({"not": c.to_json()}),
            Cond::Present(f) => json!({"present": f.name()}),
            Cond::In(f, l) => json!({"in": [f.name(), l]}),
            Cond::Intersects(f, l) => json!({"intersects": [f.name(), l]}),
            Cond::Cmp(op, f, n) => json!({op.name(): [f.name(), n]}),
            Cond::ProcTag(t) => json!({"proc_tag": t}),
            Cond::DistinctTraumaSitesGe(n) => json!({"distinct_trauma_sites_ge": n}),
        }
    }
}

fn tsv_table<'a>(header: &str, rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut rows: Vec<(&str, &str)> = rows.into_iter().collect();
    rows.sort_unstable();
    let mut out = format!("{header}\n");
    for (a, b) in rows {
        out.push_str(a);
        out.push('\t');
        out.push_str(b);
        out.push('\n');
    }
    out
}

impl Scheme {
    /// Writes the scheme in the directory format read by [`Scheme::from_files`]
    /// (deterministic: tables sorted by code).
    pub fn to_files(&self) -> SchemeText {
        use serde_json::{json, Map};
        let lists = |l: &Lists| -> Value {
            Value::Object(
                l.iter()
                    .map(|(k, v)| (k.clone(), json!(v.iter().map(|c| &**c).collect::<Vec<_>>())))
                    .collect::<Map<_, _>>(),
            )
        };
        let str_map = |m: &BTreeMap<Box<str>, String>| -> Value {
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                    .collect(),
            )
        };
        let mdcs: Vec<Value> = self
            .mdcs
            .iter()
            .map(|m| {
                let adrgs: Vec<Value> = m
                    .adrgs
                    .iter()
                    .map(|a| {
                        let mut o = Map::new();
                        o.insert("code".into(), json!(a.code));
                        o.insert("when".into(), a.when.to_json());
                        o.insert("lists".into(), lists(&a.lists));
                        if !a.proc_tags.is_empty() {
                            o.insert("proc_tags".into(), str_map(&a.proc_tags));
                        }
                        if a.ambiguous {
                            o.insert("ambiguous".into(), Value::Bool(true));
                        }
                        if a.no_drg_falls_through {
                            o.insert("no_drg_falls_through".into(), Value::Bool(true));
                        }
                        let drgs: Vec<Value> = a
                            .drgs
                            .iter()
                            .map(|d| {
                                let mut o = Map::new();
                                o.insert("code".into(), json!(d.code));
                                o.insert("name".into(), json!(d.name));
                                o.insert("rule".into(), json!(d.rule.name()));
                                if d.when != Cond::Const(true) {
                                    o.insert("when".into(), d.when.to_json());
                                }
                                if !d.lists.is_empty() {
                                    o.insert("lists".into(), lists(&d.lists));
                                }
                                Value::Object(o)
                            })
                            .collect();
                        o.insert("drgs".into(), Value::Array(drgs));
                        Value::Object(o)
                    })
                    .collect();
                let mut o = Map::new();
                o.insert("code".into(), json!(m.code));
                o.insert("when".into(), m.when.to_json());
                o.insert("lists".into(), lists(&m.lists));
                if !m.trauma_sites.is_empty() {
                    o.insert("trauma_sites".into(), str_map(&m.trauma_sites));
                }
                o.insert("adrgs".into(), Value::Array(adrgs));
                Value::Object(o)
            })
            .collect();
        let mut doc = Map::new();
        doc.insert("name".into(), json!(self.name));
        if self.retry_with_each_secondary_proc {
            doc.insert(
                "retry_ungroupable_with_each_secondary_proc".into(),
                Value::Bool(true),
            );
        }
        doc.insert("mdcs".into(), Value::Array(mdcs));
        let doc = Value::Object(doc);
        fn pairs(m: &FxHashMap<Box<str>, Box<str>>) -> impl Iterator<Item = (&str, &str)> {
            m.iter().map(|(a, b)| (&**a, &**b))
        }
        SchemeText {
            scheme_json: serde_json::to_string_pretty(&doc).unwrap_or_default(),
            cc_tsv: tsv_table("code\texclusion_table", pairs(&self.cc)),
            mcc_tsv: tsv_table("code\texclusion_table", pairs(&self.mcc)),
            main_dx_exclusion_tsv: tsv_table(
                "main_dx\texclusion_table",
                pairs(&self.main_dx_exclusion),
            ),
            surgical_procedures_tsv: tsv_table(
                "code\tname",
                self.surgical_procedures.iter().map(|c| (&**c, "")),
            ),
            drg_names_tsv: tsv_table(
                "drg\tname",
                self.drg_names.iter().map(|(a, b)| (&**a, b.as_str())),
            ),
        }
    }
}

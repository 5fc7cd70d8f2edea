//! The DIP library (病种目录库): groups with scores, the procedure-class table, the
//! CCI table and the auxiliary coefficients, and how it is written to and read from
//! a directory of small text files.
//!
//! # Files
//!
//! | file | content |
//! | --- | --- |
//! | `manifest.json` | format, version, base, reference cost, keying and grouping parameters, build parameters |
//! | `groups.tsv` | one row a group: `code kind dx procedures class cases avg_cost avg_level1 avg_level2 avg_level3 score cv base_level tcm name` |
//! | `proc_classes.tsv` | procedure-class prefix table |
//! | `surgical_procedures.tsv` | surgical list (only when the classifier has one) |
//! | `cci_weights.tsv` | CCI-style severity table |
//! | `aux.tsv` | auxiliary coefficients per catalogue and level |
//!
//! Money is written in yuan with two decimals, scores and coefficients with four.

use std::fmt::Write as _;

use claims::Fen;

use crate::aux::{AuxParams, CciTable, Coefficients};
use crate::classify::{ProcClass, ProcClassifier};
use crate::params::{BuildParams, DxLevel, GroupParams, KeyProcedures, ProcLevel};
use crate::score::Fixed;

/// Version of the file layout written by [`Library::to_files`].
pub const FORMAT: u32 = 1;

pub mod file_names {
    pub const MANIFEST: &str = "manifest.json";
    pub const GROUPS: &str = "groups.tsv";
    pub const PROC_CLASSES: &str = "proc_classes.tsv";
    pub const SURGICAL: &str = "surgical_procedures.tsv";
    pub const CCI: &str = "cci_weights.tsv";
    pub const AUX: &str = "aux.tsv";
}

/// Library-wide facts and parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// A label for this version of the library (e.g. `2026-01`).
    pub version: String,
    /// Where it came from: `build` or `import:<file name>`.
    pub source: String,
    /// Score of a group whose average equals the reference cost.
    pub base: Fixed,
    /// The all-case average cost (fen) scores are relative to, when known.
    pub reference_cost_fen: Option<i64>,
    /// Cases the library was built from (0 for an imported library).
    pub total_cases: u64,
    pub dx_level: DxLevel,
    pub proc_level: ProcLevel,
    pub key_procedures: KeyProcedures,
    pub grouping: GroupParams,
    pub aux: AuxParams,
    /// The parameters of `build`, for a built library.
    pub build: Option<BuildParams>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: FORMAT,
            version: String::new(),
            source: String::new(),
            base: Fixed::from_int(1000),
            reference_cost_fen: None,
            total_cases: 0,
            dx_level: DxLevel::default(),
            proc_level: ProcLevel::default(),
            key_procedures: KeyProcedures::default(),
            grouping: GroupParams::default(),
            aux: AuxParams::default(),
            build: None,
        }
    }
}

/// Core (核心病种) or comprehensive (综合病种).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    Core,
    Comprehensive,
}

impl GroupKind {
    pub fn key(self) -> &'static str {
        match self {
            GroupKind::Core => "core",
            GroupKind::Comprehensive => "comprehensive",
        }
    }
}

/// One group of the library.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    pub code: String,
    pub kind: GroupKind,
    /// Core: the main diagnosis at the library's level (`K35.8`); comprehensive: the
    /// category (`K35`).
    pub dx: String,
    /// Core: the key procedures, normalised, sorted, distinct (empty: 保守治疗).
    /// Comprehensive: empty.
    pub procedures: Vec<String>,
    /// Comprehensive: the group's class; core: the highest class of its procedures.
    pub class: ProcClass,
    /// Build cases in the group (before trimming); 0 when imported without counts.
    pub cases: u64,
    /// Trimmed average total cost, when known.
    pub avg_cost: Option<Fen>,
    /// Trimmed average at hospital levels 1, 2, 3 (一级, 二级, 三级), when known.
    pub avg_by_level: [Option<Fen>; 3],
    pub score: Fixed,
    /// Coefficient of variation of the kept build costs.
    pub cv: Option<Fixed>,
    /// 基层病种: paid the same at every hospital level.
    pub base_level: bool,
    /// 中医优势病种.
    pub tcm: bool,
    pub name: String,
}

impl Group {
    /// The code a built group gets: `K35.8/47.0100+54.1100`, `K35.8/conservative`,
    /// `K35/*surgical`.
    pub fn make_code(kind: GroupKind, dx: &str, procedures: &[String], class: ProcClass) -> String {
        match kind {
            GroupKind::Core if procedures.is_empty() => format!("{dx}/conservative"),
            GroupKind::Core => format!("{dx}/{}", procedures.join("+")),
            GroupKind::Comprehensive => format!("{dx}/*{}", class.key()),
        }
    }
}

/// A complete library.
#[derive(Clone, Debug)]
pub struct Library {
    pub manifest: Manifest,
    pub groups: Vec<Group>,
    pub classifier: ProcClassifier,
    pub cci: CciTable,
    pub coefficients: Coefficients,
}

/// Why a library could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("missing file {0}")]
    Missing(&'static str),
    #[error("{file}: {reason}")]
    Bad { file: &'static str, reason: String },
    #[error("{file} line {line}: {reason}")]
    Line {
        file: &'static str,
        line: usize,
        reason: String,
    },
    #[error("unsupported library format {0} (this program reads format {FORMAT})")]
    Format(u32),
}

const GROUP_COLUMNS: [&str; 15] = [
    "code",
    "kind",
    "dx",
    "procedures",
    "class",
    "cases",
    "avg_cost",
    "avg_level1",
    "avg_level2",
    "avg_level3",
    "score",
    "cv",
    "base_level",
    "tcm",
    "name",
];

fn opt_fen(v: Option<Fen>) -> String {
    v.map(|f| f.to_string()).unwrap_or_default()
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// Reads a yes/no cell: `1/0`, `是/否`, `Y/N`, `true/false`; empty is no.
pub fn parse_flag(s: &str) -> Option<bool> {
    match s.trim() {
        "" | "0" | "否" | "N" | "n" | "no" | "false" | "FALSE" | "False" => Some(false),
        "1" | "是" | "Y" | "y" | "yes" | "true" | "TRUE" | "True" | "√" => Some(true),
        _ => None,
    }
}

impl Library {
    /// The files of the library, as (name, content).
    pub fn to_files(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let manifest = serde_json::to_string_pretty(&self.manifest).expect("manifest serialises");
        out.push((file_names::MANIFEST, manifest + "\n"));
        let mut g = GROUP_COLUMNS.join("\t");
        g.push('\n');
        for x in &self.groups {
            let _ = writeln!(
                g,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                x.code,
                x.kind.key(),
                x.dx,
                x.procedures.join("+"),
                x.class.key(),
                x.cases,
                opt_fen(x.avg_cost),
                opt_fen(x.avg_by_level[0]),
                opt_fen(x.avg_by_level[1]),
                opt_fen(x.avg_by_level[2]),
                x.score,
                x.cv.map(|c| c.to_string()).unwrap_or_default(),
                flag(x.base_level),
                flag(x.tcm),
                x.name.replace(['\t', '\n', '\r'], " "),
            );
        }
        out.push((file_names::GROUPS, g));
        out.push((file_names::PROC_CLASSES, self.classifier.to_tsv()));
        if self.classifier.has_surgical_list() {
            let mut s = String::from("code\n");
            for c in self.classifier.surgical_list() {
                s.push_str(c);
                s.push('\n');
            }
            out.push((file_names::SURGICAL, s));
        }
        out.push((file_names::CCI, self.cci.to_tsv()));
        out.push((file_names::AUX, self.coefficients.to_tsv()));
        out
    }

    /// Reads a library from its files; `get(name)` returns a file's text or `None`
    /// when absent. `proc_classes.tsv`, `cci_weights.tsv` and `aux.tsv` fall back to the
    /// built-in tables and coefficients of 1 when absent.
    pub fn from_files(get: impl Fn(&str) -> Option<String>) -> Result<Library, LibraryError> {
        use file_names::*;
        let manifest_text = get(MANIFEST).ok_or(LibraryError::Missing(MANIFEST))?;
        let manifest: Manifest =
            serde_json::from_str(&manifest_text).map_err(|e| LibraryError::Bad {
                file: MANIFEST,
                reason: e.to_string(),
            })?;
        if manifest.format != FORMAT {
            return Err(LibraryError::Format(manifest.format));
        }
        let groups = parse_groups(&get(GROUPS).ok_or(LibraryError::Missing(GROUPS))?)?;
        let mut classifier = match get(PROC_CLASSES) {
            Some(t) => ProcClassifier::parse_tsv(&t).map_err(|e| LibraryError::Line {
                file: PROC_CLASSES,
                line: e.line,
                reason: e.reason,
            })?,
            None => ProcClassifier::builtin(),
        };
        if let Some(t) = get(SURGICAL) {
            classifier = classifier.with_surgical_list(
                t.lines()
                    .skip(1)
                    .filter_map(|l| l.split('\t').next())
                    .map(str::trim)
                    .filter(|c| !c.is_empty()),
            );
        }
        let cci = match get(CCI) {
            Some(t) => {
                CciTable::parse_tsv(&t).map_err(|reason| LibraryError::Bad { file: CCI, reason })?
            }
            None => CciTable::builtin(),
        };
        let coefficients = match get(AUX) {
            Some(t) => Coefficients::parse_tsv(&t)
                .map_err(|reason| LibraryError::Bad { file: AUX, reason })?,
            None => Coefficients::default(),
        };
        Ok(Library {
            manifest,
            groups,
            classifier,
            cci,
            coefficients,
        })
    }

    /// Sets the 基层病种 flag on every group whose code or diagnosis is listed;
    /// returns how many groups were flagged.
    pub fn flag_base_level<'a>(&mut self, codes: impl IntoIterator<Item = &'a str>) -> usize {
        let set: rustc_hash::FxHashSet<&str> = codes.into_iter().map(str::trim).collect();
        let mut n = 0;
        for g in &mut self.groups {
            if set.contains(g.code.as_str()) || set.contains(g.dx.as_str()) {
                g.base_level = true;
                n += 1;
            }
        }
        n
    }

    /// Sets the 中医优势病种 flag likewise.
    pub fn flag_tcm<'a>(&mut self, codes: impl IntoIterator<Item = &'a str>) -> usize {
        let set: rustc_hash::FxHashSet<&str> = codes.into_iter().map(str::trim).collect();
        let mut n = 0;
        for g in &mut self.groups {
            if set.contains(g.code.as_str()) || set.contains(g.dx.as_str()) {
                g.tcm = true;
                n += 1;
            }
        }
        n
    }

    /// The volume-weighted mean score over the groups (`Σ cases × score / Σ cases`).
    pub fn weighted_mean_score(&self) -> Option<Fixed> {
        let n: i128 = self.groups.iter().map(|g| g.cases as i128).sum();
        if n == 0 {
            return None;
        }
        let s: i128 = self
            .groups
            .iter()
            .map(|g| g.cases as i128 * g.score.0 as i128)
            .sum();
        Some(Fixed(crate::score::div_round(s, n) as i64))
    }
}

fn parse_groups(text: &str) -> Result<Vec<Group>, LibraryError> {
    let file = file_names::GROUPS;
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, h)| {
            h.trim_start_matches('\u{feff}')
                .trim_end_matches('\r')
                .split('\t')
                .collect()
        })
        .unwrap_or_default();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let idx: Vec<Option<usize>> = GROUP_COLUMNS.iter().map(|c| col(c)).collect();
    for required in ["code", "kind", "dx", "score"] {
        if col(required).is_none() {
            return Err(LibraryError::Bad {
                file,
                reason: format!("no column `{required}`"),
            });
        }
    }
    let mut groups = Vec::new();
    for (i, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let get = |k: usize| {
            idx[k]
                .and_then(|i| cells.get(i))
                .map(|s| s.trim())
                .unwrap_or("")
        };
        let bad = |reason: String| LibraryError::Line {
            file,
            line: i + 1,
            reason,
        };
        let fen = |k: usize| -> Result<Option<Fen>, LibraryError> {
            let s = get(k);
            if s.is_empty() {
                return Ok(None);
            }
            Fen::parse_yuan(s)
                .map(Some)
                .map_err(|e| bad(format!("{}: {e}", GROUP_COLUMNS[k])))
        };
        let kind = match get(1) {
            "core" => GroupKind::Core,
            "comprehensive" => GroupKind::Comprehensive,
            other => return Err(bad(format!("unknown kind {other:?}"))),
        };
        let procedures: Vec<String> = get(3)
            .split('+')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let class = match get(4) {
            "" => ProcClass::Conservative,
            s => ProcClass::parse(s).ok_or_else(|| bad(format!("unknown class {s:?}")))?,
        };
        let cases = match get(5) {
            "" => 0,
            s => s
                .parse()
                .map_err(|_| bad(format!("bad case count {s:?}")))?,
        };
        let score = Fixed::parse(get(10)).map_err(|e| bad(e.to_string()))?;
        let cv = match get(11) {
            "" => None,
            s => Some(Fixed::parse(s).map_err(|e| bad(e.to_string()))?),
        };
        groups.push(Group {
            code: get(0).to_owned(),
            kind,
            dx: get(2).to_owned(),
            procedures,
            class,
            cases,
            avg_cost: fen(6)?,
            avg_by_level: [fen(7)?, fen(8)?, fen(9)?],
            score,
            cv,
            base_level: parse_flag(get(12)).ok_or_else(|| bad("bad base_level flag".into()))?,
            tcm: parse_flag(get(13)).ok_or_else(|| bad("bad tcm flag".into()))?,
            name: get(14).to_owned(),
        });
    }
    Ok(groups)
}

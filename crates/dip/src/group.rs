//! Grouping cases against a library, with auxiliary and deviation adjustments.
//!
//! For one case:
//! 1. The main diagnosis is normalised and keyed at the library's level; the key
//!    procedures are normalised, keyed, filtered and sorted into interned ids
//!    (a [`Scratch`] buffer is reused, so the hot path does not allocate for
//!    canonically spelled codes).
//! 2. Core match by [`MatchRule`]: the core group whose procedure set equals the
//!    case's; otherwise (rules permitting) a core group of the same diagnosis whose
//!    procedures are all present in the case, the highest-scoring one (or the one
//!    matching most procedures). The conservative group (no procedures) matches only
//!    a case without key procedures.
//! 3. Otherwise the comprehensive group of the diagnosis category and the case's
//!    procedure class (the highest class among all its procedures); when the library
//!    has none, the case is ungrouped (未入组).
//! 4. Auxiliary levels and the product of their coefficients (when enabled).
//! 5. Deviation: the expected cost is the group's average (at the case's hospital level
//!    when known, the library has it and the group is not a 基层病种) × the auxiliary
//!    coefficient; ratio = cost / expected. Above `high`: score + (ratio − high) ×
//!    score; below `low`: ratio × score; otherwise the (adjusted) score.

use std::fmt::Write as _;

use claims::Fen;
use rustc_hash::FxHashMap;

use crate::aux::{Catalogue, Levels, NA};
use crate::build::{aux_levels, dx_key, proc_key};
use crate::case::CaseSource;
use crate::classify::ProcClass;
use crate::library::{Group, GroupKind, Library};
use crate::params::{GroupParams, MatchRule};
use crate::score::Fixed;

const NONE: u32 = u32::MAX;

struct Core {
    procs: Box<[u32]>,
    group: u32,
}

/// A library compiled for grouping.
pub struct Grouper {
    lib: Library,
    params: GroupParams,
    dx_ids: FxHashMap<Box<str>, u32>,
    proc_ids: FxHashMap<Box<str>, u32>,
    proc_class: Vec<ProcClass>,
    /// Per diagnosis id: core groups, best first (score descending, then code).
    cores: Vec<Vec<Core>>,
    /// Category → group per class.
    comp: FxHashMap<Box<str>, [u32; 4]>,
}

/// Reusable buffers for [`Grouper::group`].
#[derive(Default)]
pub struct Scratch {
    ids: Vec<u32>,
}

/// How a case found its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// Core group with exactly the case's key procedures.
    Exact,
    /// Core group whose `matched` procedures are all among the case's `of` key procedures.
    Subset { matched: u16, of: u16 },
    /// Comprehensive group of the case's class.
    Comprehensive,
    /// No main diagnosis (or not code-shaped).
    NoMainDiagnosis,
    /// No comprehensive group for the category and class.
    NoComprehensiveGroup,
}

/// Whether the case is a deviation case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deviation {
    Normal,
    /// 高倍率病例.
    High,
    /// 低倍率病例.
    Low,
    /// Not assessed: deviation disabled, no cost, or no group average.
    NotAssessed,
}

impl Deviation {
    pub fn key(self) -> &'static str {
        match self {
            Deviation::Normal => "normal",
            Deviation::High => "high",
            Deviation::Low => "low",
            Deviation::NotAssessed => "not_assessed",
        }
    }
}

/// The result of grouping one case. Plain data; [`Grouper::trace`] renders it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Index into [`Grouper::groups`].
    pub group: Option<u32>,
    pub how: Match,
    /// The case's procedure class.
    pub class: ProcClass,
    /// Key procedures the case has not in the library's vocabulary.
    pub unknown_procedures: u16,
    pub levels: Levels,
    /// The group's score.
    pub group_score: Fixed,
    pub aux_coefficient: Fixed,
    /// Group score × auxiliary coefficient.
    pub adjusted_score: Fixed,
    pub expected_cost: Option<Fen>,
    /// Whether `expected_cost` came from the hospital level's average.
    pub level_average: bool,
    pub cost_ratio: Option<Fixed>,
    pub deviation: Deviation,
    /// The case's final score.
    pub score: Fixed,
}

/// Why a library cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("group {0}: duplicate code")]
    DuplicateCode(String),
    #[error("groups {0} and {1} have the same diagnosis and procedures")]
    DuplicateKey(String, String),
    #[error("group {0}: score must be positive")]
    Score(String),
}

impl Grouper {
    /// Compiles a library with the grouping parameters of its manifest.
    pub fn new(lib: Library) -> Result<Grouper, CompileError> {
        let params = lib.manifest.grouping.clone();
        Grouper::with_params(lib, params)
    }

    /// Compiles a library with explicit grouping parameters.
    pub fn with_params(lib: Library, params: GroupParams) -> Result<Grouper, CompileError> {
        let mut g = Grouper {
            params,
            dx_ids: FxHashMap::default(),
            proc_ids: FxHashMap::default(),
            proc_class: Vec::new(),
            cores: Vec::new(),
            comp: FxHashMap::default(),
            lib,
        };
        let mut codes_seen = rustc_hash::FxHashSet::default();
        let mut keys_seen: FxHashMap<(u32, Box<[u32]>), u32> = FxHashMap::default();
        for (i, grp) in g.lib.groups.iter().enumerate() {
            if !codes_seen.insert(grp.code.as_str()) {
                return Err(CompileError::DuplicateCode(grp.code.clone()));
            }
            if grp.score <= Fixed::ZERO {
                return Err(CompileError::Score(grp.code.clone()));
            }
            match grp.kind {
                GroupKind::Core => {
                    // Library files hold codes in key form already (normalised, then cut
                    // to the key level); normalising again would upper-case a trailing
                    // placeholder `x` (`A33.x`).
                    let dx = grp.dx.trim();
                    let dx_id = match g.dx_ids.get(dx) {
                        Some(&id) => id,
                        None => {
                            let id = g.cores.len() as u32;
                            g.dx_ids.insert(dx.into(), id);
                            g.cores.push(Vec::new());
                            id
                        }
                    };
                    let mut ids: Vec<u32> = grp
                        .procedures
                        .iter()
                        .map(|p| {
                            let key = p.trim();
                            match g.proc_ids.get(key) {
                                Some(&id) => id,
                                None => {
                                    let id = g.proc_class.len() as u32;
                                    g.proc_ids.insert(key.into(), id);
                                    g.proc_class.push(g.lib.classifier.classify(key));
                                    id
                                }
                            }
                        })
                        .collect();
                    ids.sort_unstable();
                    ids.dedup();
                    let procs: Box<[u32]> = ids.into();
                    if let Some(&other) = keys_seen.get(&(dx_id, procs.clone())) {
                        return Err(CompileError::DuplicateKey(
                            g.lib.groups[other as usize].code.clone(),
                            grp.code.clone(),
                        ));
                    }
                    keys_seen.insert((dx_id, procs.clone()), i as u32);
                    g.cores[dx_id as usize].push(Core {
                        procs,
                        group: i as u32,
                    });
                }
                GroupKind::Comprehensive => {
                    let cat = grp.dx.trim();
                    let cat = codes::category(cat).unwrap_or(cat).to_owned();
                    let slot = g.comp.entry(cat.into()).or_insert([NONE; 4]);
                    if slot[grp.class as usize] != NONE {
                        return Err(CompileError::DuplicateKey(
                            g.lib.groups[slot[grp.class as usize] as usize].code.clone(),
                            grp.code.clone(),
                        ));
                    }
                    slot[grp.class as usize] = i as u32;
                }
            }
        }
        let groups = &g.lib.groups;
        for list in &mut g.cores {
            list.sort_by(|a, b| {
                let (ga, gb) = (&groups[a.group as usize], &groups[b.group as usize]);
                gb.score.cmp(&ga.score).then_with(|| ga.code.cmp(&gb.code))
            });
        }
        Ok(g)
    }

    pub fn library(&self) -> &Library {
        &self.lib
    }

    pub fn groups(&self) -> &[Group] {
        &self.lib.groups
    }

    pub fn params(&self) -> &GroupParams {
        &self.params
    }

    /// Groups one case. `hospital_level` is 1, 2 or 3 when known.
    pub fn group(
        &self,
        case: &dyn CaseSource,
        hospital_level: Option<u8>,
        scratch: &mut Scratch,
    ) -> Outcome {
        let m = &self.lib.manifest;
        let mut out = Outcome {
            group: None,
            how: Match::NoMainDiagnosis,
            class: ProcClass::Conservative,
            unknown_procedures: 0,
            levels: Levels {
                severity: NA,
                tumour: NA,
                age: NA,
                cci: 0,
            },
            group_score: Fixed::ZERO,
            aux_coefficient: Fixed::ONE,
            adjusted_score: Fixed::ZERO,
            expected_cost: None,
            level_average: false,
            cost_ratio: None,
            deviation: Deviation::NotAssessed,
            score: Fixed::ZERO,
        };
        let main = codes::normalize(case.main_diagnosis().unwrap_or(""));
        let Some(dx) = dx_key(&main, m.dx_level) else {
            return out;
        };
        // Key procedures.
        let ids = &mut scratch.ids;
        ids.clear();
        let mut unknown = 0u16;
        let mut class = ProcClass::Conservative;
        case.procedures(&mut |p| {
            let norm = codes::normalize(p);
            let key = proc_key(&norm, m.proc_level);
            let (id, c) = match self.proc_ids.get(key) {
                Some(&id) => (id, self.proc_class[id as usize]),
                None => (NONE, self.lib.classifier.classify(key)),
            };
            class = class.max(c);
            if m.key_procedures.keeps(c) {
                if id == NONE {
                    unknown = unknown.saturating_add(1);
                } else {
                    ids.push(id);
                }
            }
        });
        ids.sort_unstable();
        ids.dedup();
        out.class = class;
        out.unknown_procedures = unknown;
        // Core match.
        if let Some(&dx_id) = self.dx_ids.get(dx) {
            let cands = &self.cores[dx_id as usize];
            let n_case = ids.len() + unknown as usize;
            if unknown == 0 {
                if let Some(c) = cands.iter().find(|c| *c.procs == ids[..]) {
                    out.group = Some(c.group);
                    out.how = Match::Exact;
                }
            }
            if out.group.is_none() && self.params.match_rule != MatchRule::ExactOnly {
                let mut best: Option<&Core> = None;
                for c in cands
                    .iter()
                    .filter(|c| !c.procs.is_empty() && is_subset(&c.procs, ids))
                {
                    match self.params.match_rule {
                        MatchRule::ExactThenHighestScore => {
                            best = Some(c);
                            break;
                        }
                        _ => {
                            if best.is_none_or(|b| c.procs.len() > b.procs.len()) {
                                best = Some(c);
                            }
                        }
                    }
                }
                if let Some(c) = best {
                    out.group = Some(c.group);
                    out.how = Match::Subset {
                        matched: c.procs.len() as u16,
                        of: n_case.min(u16::MAX as usize) as u16,
                    };
                }
            }
        }
        if out.group.is_none() {
            let cat = codes::category(dx).unwrap_or(dx);
            match self
                .comp
                .get(cat)
                .map(|s| s[class as usize])
                .filter(|&g| g != NONE)
            {
                Some(g) => {
                    out.group = Some(g);
                    out.how = Match::Comprehensive;
                }
                None => {
                    out.how = Match::NoComprehensiveGroup;
                    return out;
                }
            }
        }
        let grp = &self.lib.groups[out.group.unwrap_or(0) as usize];
        out.group_score = grp.score;
        // Auxiliary catalogues.
        out.levels = aux_levels(case, &main, &m.aux, &self.lib.cci);
        if self.params.apply_aux {
            for c in Catalogue::ALL {
                out.aux_coefficient = out
                    .aux_coefficient
                    .mul_round(self.lib.coefficients.get(c, out.levels.get(c)));
            }
        }
        out.adjusted_score = grp.score.mul_round(out.aux_coefficient);
        out.score = out.adjusted_score;
        // Deviation.
        let dev = &self.params.deviation;
        let level_avg = hospital_level
            .filter(|l| dev.same_level && !grp.base_level && (1..=3).contains(l))
            .and_then(|l| grp.avg_by_level[l as usize - 1]);
        out.level_average = level_avg.is_some();
        let avg = level_avg.or(grp.avg_cost);
        if let (true, Some(avg), Some(cost)) = (dev.enabled, avg, case.total_cost()) {
            if avg.0 > 0 {
                let expected = crate::score::div_round(
                    avg.0 as i128 * out.aux_coefficient.0 as i128,
                    crate::score::SCALE as i128,
                );
                out.expected_cost = Some(Fen(expected as i64));
                if expected > 0 {
                    let ratio = Fixed::ratio(cost.0 as i128, expected);
                    out.cost_ratio = Some(ratio);
                    if ratio > dev.high {
                        out.deviation = Deviation::High;
                        out.score = Fixed(
                            out.adjusted_score.0
                                + out.adjusted_score.mul_round(Fixed(ratio.0 - dev.high.0)).0,
                        );
                    } else if ratio < dev.low {
                        out.deviation = Deviation::Low;
                        out.score = out.adjusted_score.mul_round(ratio);
                    } else {
                        out.deviation = Deviation::Normal;
                    }
                }
            }
        }
        out
    }

    /// The group's code, or empty when ungrouped.
    pub fn code(&self, o: &Outcome) -> &str {
        o.group
            .map(|g| self.lib.groups[g as usize].code.as_str())
            .unwrap_or("")
    }

    /// A one-line explanation of an outcome (allocates; not for the hot path).
    pub fn trace(&self, o: &Outcome) -> String {
        let mut s = String::new();
        let m = &self.lib.manifest;
        match o.how {
            Match::NoMainDiagnosis => return "no usable main diagnosis: ungrouped (未入组)".into(),
            Match::NoComprehensiveGroup => {
                return format!(
                "no core group matched; no comprehensive group for class {}: ungrouped (未入组)",
                o.class.zh()
            )
            }
            Match::Exact => s.push_str("core (核心病种), exact procedure set"),
            Match::Subset { matched, of } => {
                let _ = write!(
                    s,
                    "core (核心病种), {matched} of {of} key procedures by {:?}",
                    self.params.match_rule
                );
            }
            Match::Comprehensive => {
                let _ = write!(
                    s,
                    "no core group matched; comprehensive (综合病种) by class {}",
                    o.class.zh()
                );
            }
        }
        if o.unknown_procedures > 0 {
            let _ = write!(
                s,
                "; {} procedure(s) not in the library",
                o.unknown_procedures
            );
        }
        let _ = write!(s, "; group score {}", o.group_score);
        if o.aux_coefficient != Fixed::ONE {
            let _ = write!(s, "; aux ×{} (", o.aux_coefficient);
            let mut first = true;
            for c in Catalogue::ALL {
                let l = o.levels.get(c);
                let k = self.lib.coefficients.get(c, l);
                if k != Fixed::ONE {
                    let _ = write!(
                        s,
                        "{}{} level {l} ×{k}",
                        if first { "" } else { ", " },
                        c.zh()
                    );
                    first = false;
                }
            }
            s.push(')');
        }
        match (o.deviation, o.cost_ratio, o.expected_cost) {
            (Deviation::NotAssessed, _, _) => s.push_str("; deviation not assessed"),
            (d, Some(r), Some(e)) => {
                let basis = if o.level_average {
                    "hospital-level average"
                } else {
                    "average"
                };
                let _ = write!(s, "; cost ratio {r} to {basis}×aux {e}: {}", d.key());
                if d == Deviation::High {
                    let _ = write!(
                        s,
                        " (score + (ratio − {}) × score)",
                        self.params.deviation.high
                    );
                } else if d == Deviation::Low {
                    s.push_str(" (ratio × score)");
                }
            }
            _ => {}
        }
        let _ = write!(s, "; score {} (base {})", o.score, m.base);
        s
    }
}

/// Whether every element of sorted `small` is in sorted `big`.
fn is_subset(small: &[u32], big: &[u32]) -> bool {
    if small.len() > big.len() {
        return false;
    }
    let mut j = 0;
    for &x in small {
        while j < big.len() && big[j] < x {
            j += 1;
        }
        if j == big.len() || big[j] != x {
            return false;
        }
        j += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset() {
        assert!(is_subset(&[], &[1]));
        assert!(is_subset(&[1, 3], &[1, 2, 3]));
        assert!(!is_subset(&[1, 4], &[1, 2, 3]));
        assert!(!is_subset(&[1, 2, 3, 4], &[1, 2, 3]));
    }
}

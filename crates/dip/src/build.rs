//! Building a library from historical cases (streaming, one pass over the input).
//!
//! 1. Each case is keyed by its main diagnosis (at [`DxLevel`]) and the sorted set of
//!    its key procedures (at [`ProcLevel`], filtered by [`KeyProcedures`]); keys are
//!    interned to integers. A case keeps one packed `u64`: its cost, hospital level,
//!    auxiliary levels and procedure class.
//! 2. Combinations with at least `min_cases` cases become core groups; the rest are
//!    pooled into comprehensive groups by diagnosis category and procedure class.
//! 3. Each group's costs are trimmed ([`Trim`]) and averaged (rounded to the fen,
//!    half up); per-hospital-level averages likewise when a level has at least
//!    `min_level_cases` kept cases.
//! 4. Scores: `avg_g / M × base`, rounded half up to 0.0001 (at least 0.0001), with
//!    `M` the reference cost ([`Reference`]).
//! 5. Auxiliary coefficients are estimated from the kept cases (see [`crate::aux`]).

use claims::Fen;
use rustc_hash::FxHashMap;

use crate::aux::{CciSum, CciTable, Coefficients, Levels};
use crate::case::CaseSource;
use crate::classify::{ProcClass, ProcClassifier};
use crate::library::{Group, GroupKind, Library, Manifest, FORMAT};
use crate::params::{BuildParams, DxLevel, GroupParams, ProcLevel, Reference, Trim};
use crate::score::{div_round, Fixed};

const COST_BITS: u32 = 47;
const COST_MASK: u64 = (1 << COST_BITS) - 1;
const HOSP_SHIFT: u32 = 47;
const SEV_SHIFT: u32 = 49;
const TUM_SHIFT: u32 = 53;
const AGE_SHIFT: u32 = 57;
const CLASS_SHIFT: u32 = 61;

/// The diagnosis key of a normalised main diagnosis.
pub(crate) fn dx_key(code: &str, level: DxLevel) -> Option<&str> {
    match level {
        DxLevel::Subcategory => codes::subcategory(code).or_else(|| codes::category(code)),
        DxLevel::Category => codes::category(code),
    }
}

/// The key form of a normalised procedure code.
pub(crate) fn proc_key(code: &str, level: ProcLevel) -> &str {
    match level {
        ProcLevel::Full => code,
        ProcLevel::Detail => code.get(..5).unwrap_or(code),
    }
}

/// The auxiliary levels of a case (shared by build and grouping).
pub(crate) fn aux_levels(
    case: &dyn CaseSource,
    main: &str,
    params: &crate::aux::AuxParams,
    cci: &CciTable,
) -> Levels {
    use crate::aux::starts_with_any;
    let t = &params.tumour;
    let neoplasm = t.enabled && starts_with_any(main, &t.neoplasm_prefixes);
    let mut sum = CciSum::default();
    let mut metastasis = false;
    let mut therapy = neoplasm && starts_with_any(main, &t.therapy_diagnosis_prefixes);
    case.other_diagnoses(&mut |d| {
        let d = codes::normalize(d);
        if params.severity.enabled {
            sum.add(cci, &d);
        }
        if neoplasm {
            metastasis |= starts_with_any(&d, &t.metastasis_prefixes);
            therapy |= starts_with_any(&d, &t.therapy_diagnosis_prefixes);
        }
    });
    if neoplasm && !therapy {
        case.procedures(&mut |p| {
            therapy |= starts_with_any(&codes::normalize(p), &t.therapy_procedure_prefixes);
        });
    }
    let cci_total = sum.total();
    Levels {
        severity: params.severity.level(cci_total),
        tumour: t.level(neoplasm, metastasis, therapy),
        age: params.age.level(case.age_years(), case.age_days()),
        cci: cci_total.min(255) as u8,
    }
}

/// Why a case was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// No main diagnosis, or not code-shaped.
    MainDiagnosis,
    /// No total cost, or not positive, or absurdly large.
    Cost,
}

/// Summary of a build.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BuildReport {
    pub cases_read: u64,
    pub cases_used: u64,
    pub skipped_main_diagnosis: u64,
    pub skipped_cost: u64,
    pub core_groups: usize,
    pub comprehensive_groups: usize,
    pub core_cases: u64,
    /// Share of used cases in core groups.
    pub core_share: f64,
    /// Cases dropped from averages by trimming.
    pub trimmed: u64,
    /// Case-weighted mean within-group coefficient of variation (kept costs).
    pub cv_core: f64,
    pub cv_comprehensive: f64,
    pub cv_all: f64,
    /// The reference cost `M` in fen.
    pub reference_cost: i64,
    /// Case-weighted mean score over the build cases.
    pub weighted_mean_score: Fixed,
    /// For candidate thresholds, the share of cases that would be in core groups
    /// (the specification asks regions to pick a threshold leaving most cases in
    /// core groups).
    pub threshold_shares: Vec<(u32, f64)>,
}

/// Thresholds [`BuildReport::threshold_shares`] reports on.
pub const CANDIDATE_THRESHOLDS: [u32; 9] = [1, 5, 10, 15, 20, 30, 50, 100, 200];

struct Acc {
    dx: u32,
    set: u32,
    costs: Vec<u64>,
}

/// Streams cases into per-key accumulators; [`Builder::finish`] makes the library.
pub struct Builder {
    params: BuildParams,
    classifier: ProcClassifier,
    cci: CciTable,
    dx_ids: FxHashMap<Box<str>, u32>,
    dx_names: Vec<Box<str>>,
    proc_ids: FxHashMap<Box<str>, u32>,
    proc_names: Vec<Box<str>>,
    proc_class: Vec<ProcClass>,
    set_ids: FxHashMap<Box<[u32]>, u32>,
    sets: Vec<Box<[u32]>>,
    keys: FxHashMap<u64, u32>,
    accs: Vec<Acc>,
    scratch: Vec<u32>,
    report: BuildReport,
    raw_sum: i128,
}

impl Builder {
    pub fn new(params: BuildParams, classifier: ProcClassifier, cci: CciTable) -> Builder {
        Builder {
            params,
            classifier,
            cci,
            dx_ids: FxHashMap::default(),
            dx_names: Vec::new(),
            proc_ids: FxHashMap::default(),
            proc_names: Vec::new(),
            proc_class: Vec::new(),
            set_ids: FxHashMap::default(),
            sets: Vec::new(),
            keys: FxHashMap::default(),
            accs: Vec::new(),
            scratch: Vec::with_capacity(32),
            report: BuildReport::default(),
            raw_sum: 0,
        }
    }

    pub fn params(&self) -> &BuildParams {
        &self.params
    }

    /// Adds one case; `hospital_level` is 1, 2 or 3 when known.
    pub fn add(&mut self, case: &dyn CaseSource, hospital_level: Option<u8>) -> Result<(), Skip> {
        self.report.cases_read += 1;
        let main_raw = case.main_diagnosis().unwrap_or("");
        let main = codes::normalize(main_raw);
        let Some(dx) = dx_key(&main, self.params.dx_level) else {
            self.report.skipped_main_diagnosis += 1;
            return Err(Skip::MainDiagnosis);
        };
        let cost = match case.total_cost() {
            Some(Fen(c)) if c > 0 && (c as u64) <= COST_MASK => c as u64,
            _ => {
                self.report.skipped_cost += 1;
                return Err(Skip::Cost);
            }
        };
        let dx_id = match self.dx_ids.get(dx) {
            Some(&id) => id,
            None => {
                let id = self.dx_names.len() as u32;
                self.dx_names.push(dx.into());
                self.dx_ids.insert(dx.into(), id);
                id
            }
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut class = ProcClass::Conservative;
        let (level, keep) = (self.params.proc_level, self.params.key_procedures);
        case.procedures(&mut |p| {
            let norm = codes::normalize(p);
            let key = proc_key(&norm, level);
            let id = match self.proc_ids.get(key) {
                Some(&id) => id,
                None => {
                    let id = self.proc_names.len() as u32;
                    self.proc_names.push(key.into());
                    self.proc_ids.insert(key.into(), id);
                    self.proc_class.push(self.classifier.classify(key));
                    id
                }
            };
            let c = self.proc_class[id as usize];
            class = class.max(c);
            if keep.keeps(c) {
                scratch.push(id);
            }
        });
        scratch.sort_unstable();
        scratch.dedup();
        let set_id = match self.set_ids.get(scratch.as_slice()) {
            Some(&id) => id,
            None => {
                let id = self.sets.len() as u32;
                let b: Box<[u32]> = scratch.as_slice().into();
                self.sets.push(b.clone());
                self.set_ids.insert(b, id);
                id
            }
        };
        self.scratch = scratch;
        let lv = aux_levels(case, &main, &self.params.aux, &self.cci);
        let hosp = u64::from(hospital_level.filter(|l| (1..=3).contains(l)).unwrap_or(0));
        let packed = cost
            | hosp << HOSP_SHIFT
            | u64::from(lv.severity & 15) << SEV_SHIFT
            | u64::from(lv.tumour & 15) << TUM_SHIFT
            | u64::from(lv.age & 15) << AGE_SHIFT
            | (class as u64) << CLASS_SHIFT;
        let key = u64::from(dx_id) << 32 | u64::from(set_id);
        let idx = *self.keys.entry(key).or_insert_with(|| {
            self.accs.push(Acc {
                dx: dx_id,
                set: set_id,
                costs: Vec::new(),
            });
            (self.accs.len() - 1) as u32
        });
        self.accs[idx as usize].costs.push(packed);
        self.report.cases_used += 1;
        self.raw_sum += cost as i128;
        Ok(())
    }

    /// Makes the library. `version` labels it. Returns `None` when no case was usable.
    pub fn finish(self, version: &str) -> Option<(Library, BuildReport)> {
        let mut report = self.report;
        if report.cases_used == 0 {
            return None;
        }
        let p = &self.params;
        report.threshold_shares = CANDIDATE_THRESHOLDS
            .iter()
            .map(|&t| {
                let n: usize = self
                    .accs
                    .iter()
                    .map(|a| a.costs.len())
                    .filter(|&n| n >= t as usize)
                    .sum();
                (t, n as f64 / report.cases_used as f64)
            })
            .collect();
        // 1. Core groups and the pool of comprehensive ones.
        struct Pending {
            kind: GroupKind,
            dx: String,
            procedures: Vec<String>,
            class: ProcClass,
            costs: Vec<u64>,
        }
        let mut pending: Vec<Pending> = Vec::new();
        let mut comp: FxHashMap<(String, ProcClass), Vec<u64>> = FxHashMap::default();
        for acc in self.accs {
            let dx = &self.dx_names[acc.dx as usize];
            if acc.costs.len() as u64 >= u64::from(p.min_cases) {
                let ids = &self.sets[acc.set as usize];
                let mut procedures: Vec<String> = ids
                    .iter()
                    .map(|&i| self.proc_names[i as usize].to_string())
                    .collect();
                procedures.sort();
                let class = ids
                    .iter()
                    .map(|&i| self.proc_class[i as usize])
                    .max()
                    .unwrap_or(ProcClass::Conservative);
                pending.push(Pending {
                    kind: GroupKind::Core,
                    dx: dx.to_string(),
                    procedures,
                    class,
                    costs: acc.costs,
                });
            } else {
                let cat = codes::category(dx).unwrap_or(dx).to_owned();
                for v in acc.costs {
                    let class = ProcClass::from_bits(v >> CLASS_SHIFT);
                    comp.entry((cat.clone(), class)).or_default().push(v);
                }
            }
        }
        for ((cat, class), costs) in comp {
            pending.push(Pending {
                kind: GroupKind::Comprehensive,
                dx: cat,
                procedures: Vec::new(),
                class,
                costs,
            });
        }
        // A fixed order, so floating-point report figures do not depend on input order.
        pending.sort_by(|a, b| {
            (
                a.kind == GroupKind::Comprehensive,
                &a.dx,
                &a.procedures,
                a.class,
            )
                .cmp(&(
                    b.kind == GroupKind::Comprehensive,
                    &b.dx,
                    &b.procedures,
                    b.class,
                ))
        });
        // 2. Trim and average.
        struct Stats {
            avg: i64,
            by_level: [Option<Fen>; 3],
            cv: Option<f64>,
            n: u64,
        }
        let mut stats: Vec<Stats> = Vec::with_capacity(pending.len());
        let mut aux_cost = [[0i128; 4]; 3];
        let mut aux_exp = [[0i128; 4]; 3];
        let mut aux_n = [[0u64; 4]; 3];
        for g in &mut pending {
            // Total order (cost, then the packed levels) so the kept cases do not depend on input order.
            g.costs.sort_unstable_by_key(|v| (v & COST_MASK, *v));
            let kept = trim(&g.costs, p.trim);
            report.trimmed += (g.costs.len() - kept.len()) as u64;
            let sum: i128 = kept.iter().map(|v| (v & COST_MASK) as i128).sum();
            let avg = div_round(sum, kept.len() as i128) as i64;
            let mut lsum = [0i128; 3];
            let mut ln = [0i64; 3];
            for v in kept {
                let h = ((v >> HOSP_SHIFT) & 3) as usize;
                if h > 0 {
                    lsum[h - 1] += (v & COST_MASK) as i128;
                    ln[h - 1] += 1;
                }
                let c = (v & COST_MASK) as i128;
                for (k, shift) in [SEV_SHIFT, TUM_SHIFT, AGE_SHIFT].into_iter().enumerate() {
                    let l = ((v >> shift) & 15) as usize;
                    if l < 4 {
                        aux_cost[k][l] += c;
                        aux_exp[k][l] += avg as i128;
                        aux_n[k][l] += 1;
                    }
                }
            }
            let by_level = std::array::from_fn(|i| {
                (ln[i] >= i64::from(p.min_level_cases.max(1)))
                    .then(|| Fen(div_round(lsum[i], ln[i] as i128) as i64))
            });
            let cv = (kept.len() >= 2).then(|| {
                let mean = sum as f64 / kept.len() as f64;
                let var = kept
                    .iter()
                    .map(|v| ((v & COST_MASK) as f64 - mean).powi(2))
                    .sum::<f64>()
                    / (kept.len() - 1) as f64;
                var.sqrt() / mean
            });
            stats.push(Stats {
                avg,
                by_level,
                cv,
                n: g.costs.len() as u64,
            });
        }
        // 3. Reference cost and scores.
        let n_all: i128 = stats.iter().map(|s| s.n as i128).sum();
        let weighted: i128 = stats.iter().map(|s| s.n as i128 * s.avg as i128).sum();
        let (ref_num, ref_den) = match p.reference {
            Reference::GroupWeighted => (weighted, n_all),
            Reference::RawMean => (self.raw_sum, n_all),
        };
        report.reference_cost = div_round(ref_num, ref_den) as i64;
        let mut coefficients = Coefficients::default();
        let enough = |k: usize, l: usize| {
            aux_n[k][l] >= u64::from(p.aux.min_cases.max(1))
                && aux_exp[k][l] > 0
                && aux_cost[k][l] > 0
        };
        for k in 0..3 {
            coefficients.cases[k] = aux_n[k];
            if !enough(k, 0) {
                continue;
            }
            // Level 0 is the reference: coefficient_L = (ΣC_L / ΣE_L) / (ΣC_0 / ΣE_0).
            for l in 1..4 {
                if enough(k, l) {
                    let mut c = Fixed::ratio(
                        aux_cost[k][l] * aux_exp[k][0],
                        aux_exp[k][l] * aux_cost[k][0],
                    );
                    if p.aux.floor_at_one && c < Fixed::ONE {
                        c = Fixed::ONE;
                    }
                    coefficients.values[k][l] = c;
                }
            }
        }
        let mut groups = Vec::with_capacity(pending.len());
        let (mut cv_w, mut cv_n) = ([0f64; 2], [0f64; 2]);
        for (g, s) in pending.into_iter().zip(&stats) {
            // A score is never below 0.0001 (a positive cost never scores zero).
            let score = Fixed(
                (div_round(s.avg as i128 * p.base.0 as i128 * ref_den, ref_num) as i64).max(1),
            );
            let k = (g.kind == GroupKind::Comprehensive) as usize;
            if let Some(cv) = s.cv {
                cv_w[k] += cv * s.n as f64;
                cv_n[k] += s.n as f64;
            }
            if g.kind == GroupKind::Core {
                report.core_groups += 1;
                report.core_cases += s.n;
            } else {
                report.comprehensive_groups += 1;
            }
            groups.push(Group {
                code: Group::make_code(g.kind, &g.dx, &g.procedures, g.class),
                kind: g.kind,
                dx: g.dx,
                procedures: g.procedures,
                class: g.class,
                cases: s.n,
                avg_cost: Some(Fen(s.avg)),
                avg_by_level: s.by_level,
                score,
                cv: s.cv.map(Fixed::from_f64),
                base_level: false,
                tcm: false,
                name: String::new(),
            });
        }
        groups.sort_by(|a, b| a.code.cmp(&b.code));
        let ratio = |w: f64, n: f64| if n > 0.0 { w / n } else { 0.0 };
        report.cv_core = ratio(cv_w[0], cv_n[0]);
        report.cv_comprehensive = ratio(cv_w[1], cv_n[1]);
        report.cv_all = ratio(cv_w[0] + cv_w[1], cv_n[0] + cv_n[1]);
        report.core_share = report.core_cases as f64 / report.cases_used as f64;
        let manifest = Manifest {
            format: FORMAT,
            version: version.to_owned(),
            source: "build".into(),
            base: p.base,
            reference_cost_fen: Some(report.reference_cost),
            total_cases: report.cases_used,
            dx_level: p.dx_level,
            proc_level: p.proc_level,
            key_procedures: p.key_procedures,
            grouping: GroupParams::default(),
            aux: p.aux.clone(),
            build: Some(p.clone()),
        };
        let library = Library {
            manifest,
            groups,
            classifier: self.classifier,
            cci: self.cci,
            coefficients,
        };
        report.weighted_mean_score = library.weighted_mean_score().unwrap_or_default();
        Some((library, report))
    }
}

/// The kept part of a group's costs (sorted by cost) under a trimming rule.
fn trim(sorted: &[u64], rule: Trim) -> &[u64] {
    let n = sorted.len();
    match rule {
        Trim::None => sorted,
        Trim::Percentile { lower, upper } => {
            let lo = ((n as f64) * lower.clamp(0.0, 100.0) / 100.0).floor() as usize;
            let hi = ((n as f64) * (100.0 - upper.clamp(0.0, 100.0)) / 100.0).floor() as usize;
            if lo + hi >= n {
                sorted
            } else {
                &sorted[lo..n - hi]
            }
        }
        Trim::LogSd { k } => {
            if n < 3 {
                return sorted;
            }
            let logs = || sorted.iter().map(|v| ((v & COST_MASK) as f64).ln());
            let mean = logs().sum::<f64>() / n as f64;
            let sd = (logs().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
            if sd == 0.0 {
                return sorted;
            }
            let lo = sorted.partition_point(|v| ((v & COST_MASK) as f64).ln() < mean - k * sd);
            let hi = sorted.partition_point(|v| ((v & COST_MASK) as f64).ln() <= mean + k * sd);
            if lo >= hi {
                sorted
            } else {
                &sorted[lo..hi]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_rules() {
        let v: Vec<u64> = (1..=40).collect();
        assert_eq!(trim(&v, Trim::None).len(), 40);
        // 2.5 % of 40 = 1 from each end.
        assert_eq!(trim(&v, Trim::default()), &v[1..39]);
        // 15 cases: floor(0.375) = 0, nothing dropped.
        assert_eq!(trim(&v[..15], Trim::default()).len(), 15);
        let mut w: Vec<u64> = vec![1000; 50];
        w.push(1_000_000);
        w.sort();
        w[0] = 990;
        w[1] = 1010;
        w.sort();
        let kept = trim(&w, Trim::LogSd { k: 3.0 });
        assert_eq!(kept.len(), 50);
        assert!(kept.iter().all(|&c| c < 2000));
    }

    #[test]
    fn keys() {
        assert_eq!(dx_key("K35.800x001", DxLevel::Subcategory), Some("K35.8"));
        assert_eq!(dx_key("K35.800x001", DxLevel::Category), Some("K35"));
        assert_eq!(dx_key("G01*", DxLevel::Subcategory), Some("G01"));
        assert_eq!(dx_key("??", DxLevel::Subcategory), None);
        assert_eq!(proc_key("47.0100x001", ProcLevel::Detail), "47.01");
        assert_eq!(proc_key("47.0100x001", ProcLevel::Full), "47.0100x001");
    }
}

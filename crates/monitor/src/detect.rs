//! Abuse detectors (违规行为筛查, seed 002 §47, seed 004): split admissions,
//! upcoding, low-indication admissions, reduced services and patient shirking.
//!
//! Every detector returns [`Flag`]s that say why a case or an institution was
//! flagged, with the figures behind it. Thresholds are data ([`Params`],
//! loadable from JSON). Institution-level screening uses indirect
//! standardisation against peers of the same level and kind (综合, 中医, 专科/…; a
//! class smaller than [`MIN_CLASS_SIZE`] is compared with its level): for a case
//! property P, O = the institution's cases with P, E = Σ over its cases of the peer
//! rate of P in the same (class, year, DRG or ADRG); an institution is screened in
//! when z = (O − E) / √E and O / E pass the thresholds. Case flags are then
//! raised on its cases with P, as review leads for the agency, not verdicts.

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{Case, Dataset, Severity, NO_GROUP};

/// A detected pattern. Labels match those of `synth`'s `anomalies.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Pattern {
    SplitAdmission,
    Upcoding,
    LowIndication,
    ReducedServices,
    PatientShirking,
}

impl Pattern {
    pub const ALL: [Pattern; 5] = [
        Pattern::SplitAdmission,
        Pattern::Upcoding,
        Pattern::LowIndication,
        Pattern::ReducedServices,
        Pattern::PatientShirking,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Pattern::SplitAdmission => "split_admission",
            Pattern::Upcoding => "upcoding",
            Pattern::LowIndication => "low_indication_admission",
            Pattern::ReducedServices => "reduced_services",
            Pattern::PatientShirking => "patient_shirking",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Pattern::SplitAdmission => "分解住院",
            Pattern::Upcoding => "高套分组",
            Pattern::LowIndication => "低标准入院",
            Pattern::ReducedServices => "减少必要服务",
            Pattern::PatientShirking => "推诿患者",
        }
    }

    pub fn from_label(s: &str) -> Option<Pattern> {
        Pattern::ALL.into_iter().find(|p| p.label() == s)
    }

    /// Whether the pattern is judged per institution (not per case).
    pub fn institution_level(self) -> bool {
        self == Pattern::PatientShirking
    }
}

/// Split admissions (分解住院).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitParams {
    /// Largest gap in days between a discharge and the next admission.
    pub max_gap_days: i32,
    /// Only readmissions to the same institution.
    pub same_institution: bool,
    /// Main-diagnosis prefixes of planned, repeated stays (chemotherapy, radiotherapy…) not flagged.
    pub planned_dx_prefixes: Vec<String>,
}

impl Default for SplitParams {
    fn default() -> Self {
        SplitParams {
            max_gap_days: 15,
            same_institution: true,
            planned_dx_prefixes: vec!["Z51".into()],
        }
    }
}

/// Institution screening thresholds.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Screen {
    /// Least z = (O − E) / √E.
    pub min_z: f64,
    /// Least O / E.
    pub min_ratio: f64,
    /// Least cases with the property.
    pub min_cases: u64,
}

impl Default for Screen {
    fn default() -> Self {
        Screen {
            min_z: 4.0,
            min_ratio: 1.5,
            min_cases: 5,
        }
    }
}

/// Upcoding (高套分组).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpcodingParams {
    /// Least z_share: (O − E) / √E of the cases in the CC/MCC splits (of ADRGs that split).
    pub min_share_z: f64,
    /// Largest z_cost: z of the mean ln(cost / group norm) of the institution's CC/MCC
    /// cases (negative: the upper splits cost less than their norm).
    pub max_cost_z: f64,
    /// Least combined evidence (z_share − z_cost) / √2 (Stouffer).
    pub min_combined_z: f64,
    /// Least cases in the CC/MCC splits.
    pub min_cases: u64,
    /// Effect sizes, so that large institutions are not flagged for trivial
    /// differences: least O / E of the CC/MCC share…
    pub min_share_ratio: f64,
    /// …and largest geometric-mean cost ratio of the CC/MCC cases to their norms.
    pub max_cost_ratio: f64,
    /// A CC/MCC case is flagged when its cost is at most this multiple of what
    /// the lowest-severity DRG of its ADRG costs at the institution (its own
    /// median with at least 5 cases, else the region's norm at its cost level)…
    pub case_cost_ratio: f64,
    /// …and it carries a secondary diagnosis the institution uses far more than
    /// its peers (same level, year and ADRG; cases of ADRGs that split): least
    /// O / E of the code…
    pub code_min_ratio: f64,
    /// …least z = (O − E) / √E…
    pub code_min_z: f64,
    /// …and least cases with the code (over all years of the input)…
    pub code_min_cases: u64,
    /// …at this false-alarm probability for the whole region (divided among the
    /// institution × code pairs tested)…
    pub code_alpha: f64,
    /// …and the upper-split cases carrying the code cost less than their norm: largest
    /// z of their mean ln(cost / norm) (against the region's own mean).
    pub code_max_cost_z: f64,
    /// Peer rates of a code in an ADRG are shrunk towards the code's rate over all
    /// ADRGs of the level with this many pseudo-cases (empirical Bayes), so that a
    /// code no peer happened to use in a small stratum is not "expected 0 times".
    pub code_prior_cases: f64,
}

impl Default for UpcodingParams {
    fn default() -> Self {
        UpcodingParams {
            min_share_z: 0.5,
            max_cost_z: -1.0,
            min_combined_z: 4.0,
            min_cases: 20,
            min_share_ratio: 1.05,
            max_cost_ratio: 0.9,
            case_cost_ratio: 2.0,
            code_min_ratio: 2.0,
            code_min_z: 3.0,
            code_min_cases: 6,
            code_alpha: 0.01,
            code_max_cost_z: -2.0,
            code_prior_cases: 50.0,
        }
    }
}

/// Low-indication admissions (低标准入院).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LowIndicationParams {
    pub screen: Screen,
    /// Longest stay, days.
    pub max_los: u32,
    /// A stay qualifies when its cost / group norm is at most this (adjusted to
    /// the institution's cost level)…
    pub max_cost_ratio: f64,
    /// …or its length of stay / group norm at most this.
    pub max_los_ratio: f64,
    /// ADRGs of conditions the region considers treatable in outpatient care
    /// (门诊可治疗病种); empty: every medical ADRG.
    pub outpatient_adrgs: Vec<String>,
    /// With a list: the institution's O/E inside the list must be at least this
    /// multiple of its O/E for the same kind of stay outside the list.
    pub specificity: f64,
    /// A stay of the kind is mostly examinations: its share of 诊查、检查、化验
    /// fees is at least this multiple of the DRG's median share (not applied
    /// when the cost categories are not given).
    pub min_exam_ratio: f64,
    /// …and at least this many of the institution's own robust standard deviations
    /// above its usual examination share (see `Norms::exam_z`).
    pub min_exam_z: f64,
}

/// A short, cheap, medical stay without CC/MCC, discharged home, whose cost is
/// mostly examinations: the case property behind low-indication admissions
/// (before the outpatient list).
fn short_stay(data: &Dataset, norms: &Norms, p: &LowIndicationParams, c: &Case) -> bool {
    let g = &data.groups[c.drg as usize];
    medical_adrg(&data.adrgs[g.adrg as usize])
        && !g.severity.upper()
        && c.los <= p.max_los
        && (c.way == 1 || c.way == 0)
        && (norms.cost_ratio(c) <= p.max_cost_ratio || norms.los_ratio(c) <= p.max_los_ratio)
        && norms.exam_ratio(c).is_none_or(|r| r >= p.min_exam_ratio)
        && norms.exam_z(c).is_none_or(|z| z >= p.min_exam_z)
}

/// CHS-DRG ADRG codes: second letter A–J operating-room procedures, K–Q other
/// procedures, R–Z medical. Non-surgical = K–Z.
pub fn medical_adrg(adrg: &str) -> bool {
    adrg.as_bytes()
        .get(1)
        .is_some_and(|b| (b'K'..=b'Z').contains(b))
}

impl Default for LowIndicationParams {
    fn default() -> Self {
        LowIndicationParams {
            screen: Screen::default(),
            max_los: 3,
            max_cost_ratio: 0.6,
            max_los_ratio: 0.7,
            outpatient_adrgs: Vec::new(),
            specificity: 1.5,
            min_exam_ratio: 1.2,
            min_exam_z: 2.0,
        }
    }
}

/// Reduced services (减少必要服务).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReducedParams {
    pub screen: Screen,
    /// Largest cost / group norm (adjusted to the institution's cost level).
    pub max_cost_ratio: f64,
    /// Largest length of stay / group norm (adjusted likewise).
    pub max_los_ratio: f64,
    /// Necessary care left out: the share of drugs, examinations and tests,
    /// treatment and materials in the cost is at most this multiple of the DRG's
    /// median share (what remains is mostly bed, nursing and the operation; not
    /// applied when the cost categories are not given).
    pub max_care_ratio: f64,
    /// How far the case is from what its own hospital usually does, in that
    /// hospital's robust standard deviations (its stays' spread around its own level
    /// and mix; see `Norms::cost_z`): the combined deviation care_z + (cost_z +
    /// los_z) / 2 must be at most this. Care carries most weight because what is left
    /// out is care; a short, cheap stay with its usual care is not reduced service.
    pub max_combined_z: f64,
}

impl Default for ReducedParams {
    fn default() -> Self {
        ReducedParams {
            screen: Screen::default(),
            max_cost_ratio: 0.8,
            max_los_ratio: 0.9,
            max_care_ratio: 0.95,
            max_combined_z: -4.0,
        }
    }
}

/// The combined deviation of a case from its hospital's usual care, cost and stay:
/// care_z + (cost_z + los_z) / 2 (without cost categories, the care term is the mean
/// of the other two, so a file without them is judged on cost and stay alone).
pub fn reduced_z(norms: &Norms, c: &Case) -> f64 {
    let cl = (norms.cost_z(c) + norms.los_z(c)) / 2.0;
    norms.care_z(c).unwrap_or(cl) + cl
}

/// Patient shirking (推诿患者), institution level, year on year.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShirkingParams {
    /// High-weight cases: RW at or above this percentile of the region's grouped cases.
    pub high_weight_percentile: f64,
    /// Largest (share of high-weight cases this year / last year) relative to the region's.
    pub max_share_ratio: f64,
    /// Largest z of the share change (two-proportion test).
    pub max_share_z: f64,
    /// Least z of the rise in the transfer-out rate…
    pub min_transfer_z: f64,
    /// …and least combined evidence (−z_share + z_transfer) / √2 (Stouffer): a small
    /// hospital whose high-weight share halves sends few patients on, and its rise in
    /// transfers is significant only together with the fall.
    pub min_combined_z: f64,
    /// Least grouped cases in each of the two years.
    pub min_cases: u64,
}

impl Default for ShirkingParams {
    fn default() -> Self {
        ShirkingParams {
            high_weight_percentile: 75.0,
            max_share_ratio: 0.9,
            max_share_z: -3.0,
            min_transfer_z: 1.0,
            min_combined_z: 4.5,
            min_cases: 200,
        }
    }
}

/// All detector parameters.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub split: SplitParams,
    pub upcoding: UpcodingParams,
    pub low_indication: LowIndicationParams,
    pub reduced: ReducedParams,
    pub shirking: ShirkingParams,
}

/// A detector parameter file that cannot be used: every problem with its key path
/// and reason (see [`check::Invalid`]).
pub type ParamsError = check::Invalid;

impl Params {
    /// Parse and check detector parameters (JSON). A key left out takes its documented
    /// default (docs/MONITORING.md); an unknown key, a value of the wrong type or out of
    /// its range is refused with its key path and the reason, every problem listed.
    pub fn from_json(s: &str) -> Result<Params, ParamsError> {
        let de = &mut serde_json::Deserializer::from_str(s);
        let p: Params = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.to_string();
            let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
            let msg = match msg.strip_prefix("unknown field `").and_then(|r| r.split_once("`, expected")) {
                Some((_, expected)) => format!("unknown key; expected{expected}"),
                None => msg.to_owned(),
            };
            let mut pr = check::Problem::new(if path == "." { "(file)".to_owned() } else { path }, None, msg);
            pr.line = Some(inner.line());
            check::Invalid { what: "detector parameters", problems: vec![pr] }
        })?;
        p.validate()?;
        Ok(p)
    }

    /// Check the ranges (as [`Params::from_json`] does after parsing).
    pub fn validate(&self) -> Result<(), ParamsError> {
        use check::{dec, Interval};
        let mut p = check::Problems::new();
        let z_pos = Interval::closed(dec("0"), dec("50"));
        let z_neg = Interval::closed(dec("-50"), dec("0"));
        let at_most_1 = Interval::open_closed(dec("0"), dec("1"));
        let excess = Interval::closed(dec("1"), dec("1000"));
        let multiple = Interval::open_closed(dec("0"), dec("100"));
        let cases = |p: &mut check::Problems, key: &str, v: u64| {
            if v < 1 {
                p.bad(key, v, "must be at least 1 (cases)");
            }
        };
        let screen = |p: &mut check::Problems, name: &str, s: &Screen| {
            p.range_f64(format!("{name}.screen.min_z"), s.min_z, z_pos, "a z score");
            p.range_f64(format!("{name}.screen.min_ratio"), s.min_ratio, excess, "observed / expected");
            cases(p, &format!("{name}.screen.min_cases"), s.min_cases);
        };

        let sp = &self.split;
        p.int_range("split.max_gap_days", sp.max_gap_days, 1, 365, "days");
        for (i, pre) in sp.planned_dx_prefixes.iter().enumerate() {
            p.nonempty(format!("split.planned_dx_prefixes[{i}]"), pre);
        }

        let u = &self.upcoding;
        p.range_f64("upcoding.min_share_z", u.min_share_z, z_pos, "a z score");
        p.range_f64("upcoding.max_cost_z", u.max_cost_z, z_neg, "a z score of cheaper cases");
        p.range_f64("upcoding.min_combined_z", u.min_combined_z, z_pos, "a z score");
        cases(&mut p, "upcoding.min_cases", u.min_cases);
        p.range_f64("upcoding.min_share_ratio", u.min_share_ratio, excess, "observed / expected");
        p.range_f64("upcoding.max_cost_ratio", u.max_cost_ratio, at_most_1, "a cost ratio");
        p.range_f64("upcoding.case_cost_ratio", u.case_cost_ratio, multiple, "a cost multiple");
        p.range_f64("upcoding.code_min_ratio", u.code_min_ratio, excess, "observed / expected");
        p.range_f64("upcoding.code_min_z", u.code_min_z, z_pos, "a z score");
        cases(&mut p, "upcoding.code_min_cases", u.code_min_cases);
        p.range_f64("upcoding.code_alpha", u.code_alpha, Interval::open(dec("0"), dec("0.5")), "a probability");
        p.range_f64("upcoding.code_max_cost_z", u.code_max_cost_z, z_neg, "a z score of cheaper cases");
        p.range_f64("upcoding.code_prior_cases", u.code_prior_cases, Interval::closed(dec("0"), dec("100000")), "pseudo-cases");

        let l = &self.low_indication;
        screen(&mut p, "low_indication", &l.screen);
        p.int_range("low_indication.max_los", l.max_los, 1, 365, "days");
        p.range_f64("low_indication.max_cost_ratio", l.max_cost_ratio, at_most_1, "a cost ratio");
        p.range_f64("low_indication.max_los_ratio", l.max_los_ratio, at_most_1, "a length-of-stay ratio");
        for (i, a) in l.outpatient_adrgs.iter().enumerate() {
            p.nonempty(format!("low_indication.outpatient_adrgs[{i}]"), a);
        }
        check::unique(&mut p, l.outpatient_adrgs.iter().map(String::as_str), |i| format!("low_indication.outpatient_adrgs[{i}]"));
        p.range_f64("low_indication.specificity", l.specificity, excess, "a ratio of O/E");
        p.range_f64("low_indication.min_exam_ratio", l.min_exam_ratio, multiple, "a multiple of the median share");
        p.range_f64("low_indication.min_exam_z", l.min_exam_z, z_pos, "a z score of more examinations");

        let r = &self.reduced;
        screen(&mut p, "reduced", &r.screen);
        p.range_f64("reduced.max_cost_ratio", r.max_cost_ratio, at_most_1, "a cost ratio");
        p.range_f64("reduced.max_los_ratio", r.max_los_ratio, at_most_1, "a length-of-stay ratio");
        p.range_f64("reduced.max_care_ratio", r.max_care_ratio, at_most_1, "a multiple of the median share");
        p.range_f64("reduced.max_combined_z", r.max_combined_z, z_neg, "a z score of less care, cost and stay");

        let sh = &self.shirking;
        p.range_f64("shirking.high_weight_percentile", sh.high_weight_percentile, Interval::open(dec("0"), dec("100")), "a percentile");
        p.range_f64("shirking.max_share_ratio", sh.max_share_ratio, at_most_1, "a ratio of shares");
        p.range_f64("shirking.max_share_z", sh.max_share_z, z_neg, "a z score of a fall");
        p.range_f64("shirking.min_transfer_z", sh.min_transfer_z, z_pos, "a z score");
        p.range_f64("shirking.min_combined_z", sh.min_combined_z, z_pos, "a z score");
        cases(&mut p, "shirking.min_cases", sh.min_cases);
        p.finish("detector parameters")
    }
}

/// One flag: a case (or an institution, for shirking) and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Flag {
    pub pattern: Pattern,
    /// Index into [`Dataset::cases`]; `None` for an institution-level flag.
    pub case: Option<u32>,
    pub inst: u32,
    pub year: i32,
    /// Strength of the evidence (larger is stronger; detector-specific).
    pub score: f64,
    /// Why, in Chinese, with the figures.
    pub reason: String,
}

/// An institution screened in, with its statistics.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Screened {
    pub pattern: Pattern,
    pub inst: u32,
    pub year: i32,
    pub observed: u64,
    pub expected: f64,
    pub z: f64,
    pub reason: String,
}

/// What the detectors found.
#[derive(Clone, Debug, Default)]
pub struct Detection {
    pub flags: Vec<Flag>,
    pub screened: Vec<Screened>,
    /// What a detector could not do on this input, in words (e.g. patient shirking
    /// with one year of cases, or years that are not adjacent). Printed as warnings.
    pub notes: Vec<String>,
}

/// Region norms per (year, DRG) and cost/LOS levels per (institution, year).
pub struct Norms {
    y0: i32,
    ng: usize,
    ni: usize,
    /// Median cost and LOS per (year, DRG).
    cost: Vec<f64>,
    los: Vec<f64>,
    /// Median of cost / norm and LOS / norm per (institution, year).
    inst_cost: Vec<f64>,
    inst_los: Vec<f64>,
    /// Median share (per mille) of examinations and of care per (year, DRG).
    exam: Vec<f64>,
    care: Vec<f64>,
    /// Median of exam share / norm and care share / norm per (institution, year): the
    /// institution's own cost mix (a TCM hospital's is not a general hospital's), so
    /// that a case is compared with its own hospital's mix, not the region's.
    inst_exam: Vec<f64>,
    inst_care: Vec<f64>,
    /// The institution's own spread of ln(cost / norm), ln(LOS / norm), ln(exam share /
    /// norm) and ln(care share / norm) per (institution, year): 1.4826 × the median
    /// absolute deviation (a robust standard deviation). Hospitals differ in how
    /// variable their stays are, not only in their level; a case is judged against
    /// its own hospital's spread (see [`Norms::cost_z`]).
    sd_cost: Vec<f64>,
    sd_los: Vec<f64>,
    sd_exam: Vec<f64>,
    sd_care: Vec<f64>,
    /// Per DRG: an operating-room group (its mix is judged against the hospital's
    /// surgical stays; the exam and care vectors have three slots per institution-year:
    /// medical, surgical, both).
    surgical: Vec<bool>,
}

/// Robust centre and spread of logarithms: (median, 1.4826 × MAD), the spread at
/// least `floor` (NaN centre without values).
fn log_centre_spread(v: &mut [f64], floor: f64) -> (f64, f64) {
    for x in v.iter_mut() {
        *x = x.ln();
    }
    let m = median(v);
    for x in v.iter_mut() {
        *x = (*x - m).abs();
    }
    let mad = median(v);
    (m, if mad.is_finite() { (1.4826 * mad).max(floor) } else { f64::NAN })
}

/// The odds of a share given per mille (share : rest), kept finite at 0 and 1000 ‰
/// by half a per mille on each side.
fn odds(pm: f64) -> f64 {
    let pm = pm.clamp(0.5, 999.5);
    pm / (1000.0 - pm)
}

/// The share (per mille) of given odds.
fn share_of_odds(o: f64) -> f64 {
    if o.is_finite() {
        1000.0 * o / (1.0 + o)
    } else {
        f64::NAN
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    let (_, x, _) = v.select_nth_unstable_by(m, f64::total_cmp);
    *x
}

impl Norms {
    pub fn new(data: &Dataset, years: &[i32]) -> Norms {
        let y0 = years.first().copied().unwrap_or(0);
        let ny = years.last().map_or(0, |y| (y - y0 + 1) as usize);
        let ng = data.groups.len();
        let ni = data.institutions.len();
        let mut cost_v: Vec<Vec<f64>> = vec![Vec::new(); ny * ng];
        let mut los_v: Vec<Vec<f64>> = vec![Vec::new(); ny * ng];
        let mut exam_v: Vec<Vec<f64>> = vec![Vec::new(); ny * ng];
        let mut care_v: Vec<Vec<f64>> = vec![Vec::new(); ny * ng];
        for c in data.cases.iter().filter(|c| c.drg != NO_GROUP) {
            let k = (c.year() - y0) as usize * ng + c.drg as usize;
            cost_v[k].push(c.total as f64);
            los_v[k].push(f64::from(c.los));
            if c.total > 0 {
                exam_v[k].push(f64::from(c.exam_pm));
                care_v[k].push(f64::from(c.care_pm));
            }
        }
        let cost: Vec<f64> = cost_v.par_iter_mut().map(|v| median(v)).collect();
        let los: Vec<f64> = los_v.par_iter_mut().map(|v| median(v)).collect();
        let exam: Vec<f64> = exam_v.par_iter_mut().map(|v| median(v)).collect();
        let care: Vec<f64> = care_v.par_iter_mut().map(|v| median(v)).collect();
        drop((cost_v, los_v, exam_v, care_v));
        let mut ic: Vec<Vec<f64>> = vec![Vec::new(); ni * ny];
        let mut il: Vec<Vec<f64>> = vec![Vec::new(); ni * ny];
        for c in data.cases.iter().filter(|c| c.drg != NO_GROUP) {
            let yk = (c.year() - y0) as usize;
            let k = yk * ng + c.drg as usize;
            let i = c.inst as usize * ny + yk;
            // Positive ratios only (their logarithms are taken).
            if cost[k] > 0.0 && c.total > 0 {
                ic[i].push(c.total as f64 / cost[k]);
            }
            if los[k] > 0.0 && c.los > 0 {
                il[i].push(f64::from(c.los) / los[k]);
            }
        }
        // Cost mixes per (institution, year, operating-room or medical group): a
        // hospital that charges much for operations has a different mix in its
        // surgical stays than in its medical ones. Slot 2 pools both (the fallback of a
        // slot with fewer than 20 stays).
        let surgical: Vec<bool> = data
            .groups
            .iter()
            .map(|g| !medical_adrg(&data.adrgs[g.adrg as usize]))
            .collect();
        let mut ie: Vec<Vec<f64>> = vec![Vec::new(); ni * ny * 3];
        let mut ica: Vec<Vec<f64>> = vec![Vec::new(); ni * ny * 3];
        for c in data.cases.iter().filter(|c| c.drg != NO_GROUP && c.total > 0) {
            let yk = (c.year() - y0) as usize;
            let k = yk * ng + c.drg as usize;
            let base = (c.inst as usize * ny + yk) * 3;
            // Shares are compared as odds (share : rest): a stay whose care is cut to a
            // third still has most of its cost in care when care is most of a stay's
            // cost, and its share moves little while its odds fall threefold.
            let r = |pm: u16, m: f64| odds(f64::from(pm)) / odds(m);
            let slot = base + usize::from(surgical[c.drg as usize]);
            if exam[k] > 0.0 && c.exam_pm > 0 && c.exam_pm < 1000 {
                ie[slot].push(r(c.exam_pm, exam[k]));
                ie[base + 2].push(r(c.exam_pm, exam[k]));
            }
            if care[k] > 0.0 && c.care_pm > 0 && c.care_pm < 1000 {
                ica[slot].push(r(c.care_pm, care[k]));
                ica[base + 2].push(r(c.care_pm, care[k]));
            }
        }
        let few: Vec<bool> = ica.iter().map(|v| v.len() < 20).collect();
        // Centre (as a ratio; 1 without cases) and spread (NaN without cases).
        let split = |v: &mut Vec<Vec<f64>>, floor: f64| -> (Vec<f64>, Vec<f64>) {
            v.par_iter_mut()
                .map(|v| {
                    let (m, sd) = log_centre_spread(v, floor);
                    (if m.is_finite() { m.exp() } else { 1.0 }, sd)
                })
                .unzip()
        };
        // Floors: a hospital whose stays barely vary is not made infinitely strict
        // (length of stay is whole days; shares are per mille).
        let (inst_cost, sd_cost) = split(&mut ic, 0.05);
        let (inst_los, sd_los) = split(&mut il, 0.1);
        let (mut inst_exam, mut sd_exam) = split(&mut ie, 0.05);
        let (mut inst_care, mut sd_care) = split(&mut ica, 0.05);
        for (j, &f) in few.iter().enumerate() {
            if f && j % 3 != 2 {
                let pooled = j - j % 3 + 2;
                inst_exam[j] = inst_exam[pooled];
                sd_exam[j] = sd_exam[pooled];
                inst_care[j] = inst_care[pooled];
                sd_care[j] = sd_care[pooled];
            }
        }
        Norms {
            y0,
            ng,
            ni,
            cost,
            los,
            inst_cost,
            inst_los,
            exam,
            care,
            inst_exam,
            inst_care,
            sd_cost,
            sd_los,
            sd_exam,
            sd_care,
            surgical,
        }
    }

    /// How far a case's cost is from what its hospital would charge for its DRG, in
    /// its hospital's own robust standard deviations: ln(cost_ratio) / spread.
    /// Negative is cheaper. NaN when it cannot be said.
    pub fn cost_z(&self, c: &Case) -> f64 {
        self.cost_ratio(c).ln() / self.inst_mix(&self.sd_cost, c)
    }
    /// Likewise for the length of stay.
    pub fn los_z(&self, c: &Case) -> f64 {
        self.los_ratio(c).ln() / self.inst_mix(&self.sd_los, c)
    }
    /// Likewise for the examination share, on the odds scale (positive: more
    /// examinations than usual).
    pub fn exam_z(&self, c: &Case) -> Option<f64> {
        let m = self.exam_norm(c);
        (c.total > 0 && m > 0.0).then(|| {
            (odds(f64::from(c.exam_pm)) / odds(m)).ln() / self.mix_of(&self.sd_exam, c)
        })
    }
    /// Likewise for the care share (negative: less care than usual).
    pub fn care_z(&self, c: &Case) -> Option<f64> {
        let m = self.care_norm(c);
        (c.total > 0 && m > 0.0).then(|| {
            (odds(f64::from(c.care_pm)) / odds(m)).ln() / self.mix_of(&self.sd_care, c)
        })
    }

    fn ny(&self) -> usize {
        self.inst_cost.len() / self.ni.max(1)
    }

    /// Region median cost of a DRG in a year.
    pub fn cost(&self, year: i32, drg: u32) -> f64 {
        self.cost[(year - self.y0) as usize * self.ng + drg as usize]
    }
    pub fn los(&self, year: i32, drg: u32) -> f64 {
        self.los[(year - self.y0) as usize * self.ng + drg as usize]
    }
    /// An institution's cost level: median of its cases' cost / region norm.
    pub fn inst_cost(&self, inst: u32, year: i32) -> f64 {
        self.inst_cost[inst as usize * self.ny() + (year - self.y0) as usize]
    }
    pub fn inst_los(&self, inst: u32, year: i32) -> f64 {
        self.inst_los[inst as usize * self.ny() + (year - self.y0) as usize]
    }
    /// Cost / expected cost (region norm × the institution's cost level).
    pub fn cost_ratio(&self, c: &Case) -> f64 {
        let y = c.year();
        c.total as f64 / (self.cost(y, c.drg) * self.inst_cost(c.inst, y))
    }
    pub fn los_ratio(&self, c: &Case) -> f64 {
        let y = c.year();
        f64::from(c.los) / (self.los(y, c.drg) * self.inst_los(c.inst, y))
    }
    /// Median share of examinations (诊查、检查、化验) in the cost of a DRG's
    /// cases in a year, per mille (NaN without cases).
    pub fn exam_share(&self, year: i32, drg: u32) -> f64 {
        self.exam[(year - self.y0) as usize * self.ng + drg as usize]
    }
    /// Median share of care (drugs, examinations and tests, treatment,
    /// materials) likewise.
    pub fn care_share(&self, year: i32, drg: u32) -> f64 {
        self.care[(year - self.y0) as usize * self.ng + drg as usize]
    }
    /// A case's examination share / its DRG's median; `None` when the cost
    /// categories are not given (no total, or a zero median).
    pub fn exam_ratio(&self, c: &Case) -> Option<f64> {
        let m = self.exam_norm(c);
        (c.total > 0 && m > 0.0).then(|| f64::from(c.exam_pm) / m)
    }
    /// A case's care share / its DRG's median, likewise (both at the institution's own mix).
    pub fn care_ratio(&self, c: &Case) -> Option<f64> {
        let m = self.care_norm(c);
        (c.total > 0 && m > 0.0).then(|| f64::from(c.care_pm) / m)
    }
    /// The examination share a case is compared with: its DRG's median in the year at
    /// its institution's own cost mix (per mille; the odds of the median times the
    /// institution's median odds ratio).
    pub fn exam_norm(&self, c: &Case) -> f64 {
        share_of_odds(odds(self.exam_share(c.year(), c.drg)) * self.mix_of(&self.inst_exam, c))
    }
    /// The care share a case is compared with, likewise.
    pub fn care_norm(&self, c: &Case) -> f64 {
        share_of_odds(odds(self.care_share(c.year(), c.drg)) * self.mix_of(&self.inst_care, c))
    }
    fn inst_mix(&self, v: &[f64], c: &Case) -> f64 {
        v[c.inst as usize * self.ny() + (c.year() - self.y0) as usize]
    }
    /// An exam or care vector's value for a case's institution, year and kind of group.
    fn mix_of(&self, v: &[f64], c: &Case) -> f64 {
        let base = (c.inst as usize * self.ny() + (c.year() - self.y0) as usize) * 3;
        v[base + usize::from(self.surgical.get(c.drg as usize).copied().unwrap_or(false))]
    }
}

/// Run every detector. `rw[g]` is the relative weight of DRG `g` (for shirking).
pub fn detect(data: &Dataset, rw: &[f64], p: &Params) -> Detection {
    let years = data.years();
    let norms = Norms::new(data, &years);
    let mut out = Detection::default();
    split_admissions(data, &p.split, &mut out);
    upcoding(data, &norms, &p.upcoding, &mut out);
    low_indication(data, &norms, &p.low_indication, &mut out);
    reduced_services(data, &norms, &p.reduced, &p.low_indication, &mut out);
    shirking(data, rw, &years, &p.shirking, &mut out);
    out
}

fn fmt_date(days: i32) -> String {
    crate::model::date(days).format("%Y-%m-%d").to_string()
}

/// Same patient readmitted within `max_gap_days` for a related condition
/// (same ADRG or same main-diagnosis category). Both stays are flagged.
pub fn split_admissions(data: &Dataset, p: &SplitParams, out: &mut Detection) {
    let mut order: Vec<u32> = (0..data.cases.len() as u32).collect();
    order.par_sort_unstable_by_key(|&i| {
        let c = &data.cases[i as usize];
        (c.patient, c.admitted, c.discharged, i)
    });
    let planned = |c: &Case| {
        let dx = &data.diagnoses[c.main_dx as usize];
        p.planned_dx_prefixes
            .iter()
            .any(|x| dx.starts_with(x.as_str()))
    };
    let adrg = |c: &Case| (c.drg != NO_GROUP).then(|| data.groups[c.drg as usize].adrg);
    let mut flagged = vec![false; data.cases.len()];
    for w in order.windows(2) {
        let (ia, ib) = (w[0] as usize, w[1] as usize);
        let (a, b) = (&data.cases[ia], &data.cases[ib]);
        if a.patient != b.patient || data.patients[a.patient as usize].is_empty() {
            continue;
        }
        let gap = b.admitted - a.discharged;
        if gap < 0 || gap > p.max_gap_days {
            continue;
        }
        if p.same_institution && a.inst != b.inst {
            continue;
        }
        if a.died() || a.transferred() || planned(a) || planned(b) {
            continue;
        }
        let same_adrg = adrg(a).is_some() && adrg(a) == adrg(b);
        let same_cat = a.dx_cat == b.dx_cat && !data.dx_categories[a.dx_cat as usize].is_empty();
        if !(same_adrg || same_cat) {
            continue;
        }
        let why = if same_adrg {
            format!("同一ADRG {}", data.adrgs[adrg(a).unwrap_or(0) as usize])
        } else {
            format!("同一主诊断类目 {}", data.dx_categories[a.dx_cat as usize])
        };
        let text = format!(
            "患者 {} 于 {} 出院（病例 {}），{} 天后于 {} 再次入院（病例 {}），{}，间隔不超过 {} 天",
            &data.patients[a.patient as usize],
            fmt_date(a.discharged),
            &data.case_ids[ia],
            gap,
            fmt_date(b.admitted),
            &data.case_ids[ib],
            why,
            p.max_gap_days
        );
        for (i, c) in [(ia, a), (ib, b)] {
            if !flagged[i] {
                flagged[i] = true;
                out.flags.push(Flag {
                    pattern: Pattern::SplitAdmission,
                    case: Some(i as u32),
                    inst: c.inst,
                    year: c.year(),
                    score: f64::from(p.max_gap_days - gap + 1),
                    reason: text.clone(),
                });
            }
        }
    }
}

/// Who an institution is compared with in [`screen`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peers {
    /// The institutions of its level and kind (综合, 中医, 专科/…) when that class has
    /// at least [`MIN_CLASS_SIZE`] institutions, else all of its level: for properties
    /// whose natural rate depends on the level (the share of CC/MCC cases).
    Level,
    /// Every other institution of the region: for properties measured against the
    /// institution's own cost level, mix and spread ([`Norms::cost_z`] …), whose
    /// natural rate does not depend on the level or kind.
    Region,
}

/// Indirect standardisation: institutions whose count of cases with property
/// `has` exceeds what their peers in the same year and stratum would give. Peer rates
/// leave the institution itself out (so a large institution does not set its own
/// norm); a stratum without other peers contributes its own rate.
///
/// The evidence `z` is the smaller of two, so that neither a small nor a large
/// institution is flagged for what is only noise:
/// - the exact Poisson tail P(X ≥ O | E) as a normal deviate (a small hospital with
///   3 cases where 0.4 are expected is not "z = 4");
/// - the random-effects funnel (Spiegelhalter 2005): institutions differ by more than
///   chance even without abuse, by a between-institution variance τ² of O/E estimated
///   from the institution-years that do not stand out (10 % winsorised at each end,
///   so that abusers do not set it): z = (O/E − 1) / √(1/E + τ²). A large hospital 1.3 × its peers is
///   ordinary variation, not a 10σ outlier.
///
/// Returns (institution, year) → (observed, expected, z).
fn screen(
    data: &Dataset,
    peers: Peers,
    eligible: impl Fn(&Case) -> Option<u32> + Sync,
    has: impl Fn(&Case) -> bool + Sync,
) -> FxHashMap<(u32, i32), (u64, f64, f64)> {
    let class_of = data.peer_class_of_institutions();
    let level_of = data.level_of_institutions();
    let mut class_size: FxHashMap<u32, usize> = FxHashMap::default();
    for &c in &class_of {
        *class_size.entry(c).or_default() += 1;
    }
    // The group an institution's peers are counted in.
    let group_of: Vec<u32> = (0..data.institutions.len())
        .map(|i| match peers {
            Peers::Region => 0,
            Peers::Level if class_size[&class_of[i]] >= MIN_CLASS_SIZE => class_of[i],
            Peers::Level => u32::MAX - level_of[i],
        })
        .collect();
    // Counts per (institution, year, stratum) and per (peer group, year, stratum).
    let mut own: FxHashMap<(u32, i32, u32), (u64, u64)> = FxHashMap::default();
    let mut by_group: FxHashMap<(u32, i32, u32), (u64, u64)> = FxHashMap::default();
    for c in &data.cases {
        if let Some(s) = eligible(c) {
            let h = u64::from(has(c));
            for e in [
                own.entry((c.inst, c.year(), s)).or_default(),
                by_group.entry((group_of[c.inst as usize], c.year(), s)).or_default(),
            ] {
                e.0 += 1;
                e.1 += h;
            }
        }
    }
    // Expected counts with the institution-years in `out` left out of every peer
    // rate (and each institution always left out of its own).
    let expect = |out: &FxHashSet<(u32, i32)>| -> FxHashMap<(u32, i32), (u64, f64)> {
        let mut removed: FxHashMap<(u32, i32, u32), (u64, u64)> = FxHashMap::default();
        for (&(inst, year, s), &(n, k)) in &own {
            if out.contains(&(inst, year)) {
                let e = removed.entry((group_of[inst as usize], year, s)).or_default();
                e.0 += n;
                e.1 += k;
            }
        }
        let mut per: FxHashMap<(u32, i32), (u64, f64)> = FxHashMap::default();
        for (&(inst, year, s), &(n, k)) in &own {
            let g = (group_of[inst as usize], year, s);
            let (pn, pk) = by_group[&g];
            let (rn, rk) = removed.get(&g).copied().unwrap_or_default();
            let (rn, rk) = if out.contains(&(inst, year)) { (rn, rk) } else { (rn + n, rk + k) };
            let (on, ok) = (pn - rn, pk - rk);
            let rate = if on > 0 {
                ok as f64 / on as f64
            } else {
                k as f64 / n as f64
            };
            let e = per.entry((inst, year)).or_default();
            e.0 += k;
            e.1 += n as f64 * rate;
        }
        per
    };
    // Two passes: institution-years that stand out in the first by the exact test
    // alone (z ≥ 3 and 1.5 × their expectation) are left out of the peer rates of the
    // second, so that one abuser does not raise the norm another is measured against
    // (two abusers of a level must not hide each other), and out of the estimate of
    // the between-institution variance, so that abusers do not pass for variation.
    let first = expect(&FxHashSet::default());
    let outliers: FxHashSet<(u32, i32)> = first
        .iter()
        .filter(|(_, &(o, e))| funnel_z(o, e, 0.0) >= 3.0 && o as f64 >= 1.5 * e)
        .map(|(&k, _)| k)
        .collect();
    let second = if outliers.is_empty() { first } else { expect(&outliers) };
    let tau2 = between_variance(
        second.iter().filter(|(k, _)| !outliers.contains(k)).map(|(_, v)| *v),
    );
    second
        .into_iter()
        .map(|(k, (o, e))| (k, (o, e, funnel_z(o, e, tau2))))
        .collect()
}

/// The between-institution variance τ² of O/E (additive random effects, Spiegelhalter
/// 2005, §3.3): from the institution-years with E ≥ 1 (at least 5 of them), Poisson
/// z-scores winsorised at 10 % each end give the overdispersion φ = mean(z²); τ² =
/// (nφ − (n − 1)) / (Σw − Σw² / Σw) with w = E, and 0 when φ shows no overdispersion.
fn between_variance(v: impl Iterator<Item = (u64, f64)>) -> f64 {
    let pts: Vec<(f64, f64)> = v
        .filter(|&(_, e)| e >= 1.0)
        .map(|(o, e)| ((o as f64 - e) / e.sqrt(), e))
        .collect();
    let n = pts.len();
    // Too few institution-years to tell variation from chance.
    if n < 5 {
        return 0.0;
    }
    let mut zs: Vec<f64> = pts.iter().map(|p| p.0).collect();
    zs.sort_unstable_by(f64::total_cmp);
    let (lo, hi) = (zs[n / 10], zs[n - 1 - n / 10]);
    let phi = zs.iter().map(|z| z.clamp(lo, hi).powi(2)).sum::<f64>() / n as f64;
    let nf = n as f64;
    if nf * phi <= nf - 1.0 {
        return 0.0;
    }
    let sw: f64 = pts.iter().map(|p| p.1).sum();
    let sw2: f64 = pts.iter().map(|p| p.1 * p.1).sum();
    ((nf * phi - (nf - 1.0)) / (sw - sw2 / sw)).max(0.0)
}

/// The evidence that O exceeds E: the smaller of the exact Poisson tail as a normal
/// deviate and the random-effects z (see [`screen`]). 0 when O ≤ E.
fn funnel_z(o: u64, e: f64, tau2: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, DiscreteCDF, Normal, Poisson};
    if (o as f64) <= e {
        return if e > 0.0 { (o as f64 - e) / e.sqrt() } else { 0.0 };
    }
    if e <= 0.0 {
        return f64::INFINITY;
    }
    // P(X ≥ O) = P(X > O − 1).
    let tail = Poisson::new(e).map_or(0.0, |d| d.sf(o - 1));
    let std = Normal::standard();
    let z_exact = if tail <= 0.0 { 40.0 } else { -std.inverse_cdf(tail.min(0.5)) };
    let z_re = (o as f64 / e - 1.0) / (1.0 / e + tau2).sqrt();
    z_exact.min(z_re)
}

fn passes(s: &Screen, (o, e, z): (u64, f64, f64)) -> bool {
    o >= s.min_cases && z >= s.min_z && (e == 0.0 || o as f64 / e >= s.min_ratio)
}

fn inst_name(data: &Dataset, i: u32) -> String {
    let inst = &data.institutions[i as usize];
    if inst.name.is_empty() {
        inst.id.clone()
    } else {
        format!("{}（{}）", inst.name, inst.id)
    }
}

/// Upcoding: institutions with more cases in CC/MCC splits than peers (same level,
/// year and ADRG) whose CC/MCC cases cost less than their norm; then their CC/MCC
/// cases that cost no more than the ADRG's lowest-severity norm.
pub fn upcoding(data: &Dataset, norms: &Norms, p: &UpcodingParams, out: &mut Detection) {
    let splits = data.adrg_splits();
    // Lowest-severity DRG of each ADRG (per year, the one with the lowest norm among non-upper).
    let mut base: Vec<Option<u32>> = vec![None; data.adrgs.len()];
    for (g, grp) in data.groups.iter().enumerate() {
        if !grp.severity.upper() {
            base[grp.adrg as usize].get_or_insert(g as u32);
        }
    }
    let eligible = |c: &Case| {
        (c.drg != NO_GROUP && splits[data.groups[c.drg as usize].adrg as usize])
            .then(|| data.groups[c.drg as usize].adrg)
    };
    let upper = |c: &Case| data.groups[c.drg as usize].severity.upper();
    let scr = screen(data, Peers::Level, eligible, upper);
    // Cost of upper-split cases against their own norm: mean ln ratio and its z.
    let mut cost_gap: FxHashMap<(u32, i32), (f64, f64, u64)> = FxHashMap::default();
    for c in data
        .cases
        .iter()
        .filter(|c| eligible(c).is_some() && upper(c))
    {
        let r = norms.cost_ratio(c);
        if r.is_finite() && r > 0.0 {
            let e = cost_gap.entry((c.inst, c.year())).or_default();
            e.0 += r.ln();
            e.1 += r.ln().powi(2);
            e.2 += 1;
        }
    }
    // The region's own mean ln ratio of upper-split cases: a DRG that mixes CC and MCC
    // cases is skewed, so its cases' mean ln(cost / median) is not 0 (about −0.03 in
    // every hospital); an institution is compared with that, not with 0.
    let centre = {
        let (mut sum, mut n) = (0.0, 0u64);
        for v in cost_gap.values() {
            sum += v.0;
            n += v.2;
        }
        if n > 0 { sum / n as f64 } else { 0.0 }
    };
    // Mean ln ratio against the centre, and its z, from (Σ ln r, Σ ln² r, n).
    let stats = |(sum, sq, n): (f64, f64, u64)| {
        let nf = n as f64;
        let raw = sum / nf;
        let mean = raw - centre;
        let sd = ((sq / nf - raw * raw).max(0.0) * nf / (nf - 1.0).max(1.0))
            .sqrt()
            .max(1e-9);
        (mean, mean / (sd / nf.sqrt()))
    };
    // Secondary diagnoses an institution-year uses far more than peers, whose
    // upper-split cases cost less than their DRG norm: codes that move cases
    // up a split without the complication's cost.
    let cand = overused_codes(data, eligible, &scr, p);
    // The cost of the upper-split cases carrying a code, over all years (a coder's
    // habit is the institution's, not one year's).
    let mut code_cost: FxHashMap<(u32, u32), (f64, f64, u64)> = FxHashMap::default();
    if !cand.is_empty() {
        for c in data.cases.iter().filter(|c| eligible(c).is_some() && upper(c)) {
            let r = norms.cost_ratio(c);
            if !(r.is_finite() && r > 0.0) {
                continue;
            }
            for &d in data.secondaries(c) {
                if cand.contains_key(&(c.inst, c.year(), d)) {
                    let e = code_cost.entry((c.inst, d)).or_default();
                    e.0 += r.ln();
                    e.1 += r.ln().powi(2);
                    e.2 += 1;
                }
            }
        }
    }
    // (institution, year, code) → (O, E, z, geometric-mean cost ratio, its z).
    let mut suspect: FxHashMap<(u32, i32, u32), (u64, f64, f64, f64, f64)> = FxHashMap::default();
    let mut by_inst: FxHashMap<(u32, i32), Vec<u32>> = FxHashMap::default();
    for (&k, &(o, e, z)) in &cand {
        let Some(&cs) = code_cost.get(&(k.0, k.2)) else { continue };
        if cs.2 < 2 {
            continue;
        }
        let (mean, cz) = stats(cs);
        if cz <= p.code_max_cost_z && mean.exp() <= p.max_cost_ratio {
            suspect.insert(k, (o, e, z, mean.exp(), cz));
            by_inst.entry((k.0, k.1)).or_default().push(k.2);
        }
    }
    let mut hit: FxHashMap<(u32, i32), f64> = FxHashMap::default();
    let mut keys: Vec<_> = scr.keys().copied().collect();
    keys.sort_unstable();
    for k in keys {
        let s = scr[&k];
        // By the share of CC/MCC cases and their cost…
        let mut share_text = None;
        let mut share_cz = 0.0;
        if s.0 >= p.min_cases && s.2 >= p.min_share_z {
            if let Some(&cg) = cost_gap.get(&k) {
                let (mean, cz) = stats(cg);
                let combined = (s.2 - cz) / std::f64::consts::SQRT_2;
                if cz <= p.max_cost_z
                    && combined >= p.min_combined_z
                    && (s.0 as f64) >= p.min_share_ratio * s.1
                    && mean.exp() <= p.max_cost_ratio
                {
                    share_cz = cz;
                    share_text = Some(format!(
                        "伴CC/MCC病例 {} 例，按同级别同ADRG病例构成期望 {:.0} 例（{}，z={:.1}）；\
                         伴CC/MCC病例费用为本组标准的 {:.0}%（z={:.1}），并发症未带来相应费用；综合 z={:.1}",
                        s.0,
                        s.1,
                        times(s.0, s.1),
                        s.2,
                        mean.exp() * 100.0,
                        cz,
                        combined
                    ));
                }
            }
        }
        // …or by the codes that put them there.
        let mut codes: Vec<u32> = by_inst.get(&k).cloned().unwrap_or_default();
        codes.sort_unstable_by_key(|d| data.diagnoses[*d as usize].as_str());
        if share_text.is_none() && codes.is_empty() {
            continue;
        }
        let code_text: Vec<String> = codes
            .iter()
            .map(|&d| {
                let (o, e, z, gm, cz) = suspect[&(k.0, k.1, d)];
                format!(
                    "次要诊断 {} 出现 {} 例，按同级机构同ADRG比例期望 {:.1} 例（{}；各年合计 z={:.1}），\
                     伴此诊断的高严重度组病例费用为本组标准的 {:.0}%（各年合计 z={:.1}）",
                    data.diagnoses[d as usize],
                    o,
                    e,
                    times(o, e),
                    z,
                    gm * 100.0,
                    cz
                )
            })
            .collect();
        let min_code_cz = codes
            .iter()
            .map(|&d| suspect[&(k.0, k.1, d)].4)
            .fold(0.0f64, f64::min);
        hit.insert(k, share_cz.min(min_code_cz));
        let mut parts: Vec<String> = share_text.into_iter().collect();
        parts.extend(code_text);
        out.screened.push(Screened {
            pattern: Pattern::Upcoding,
            inst: k.0,
            year: k.1,
            observed: s.0,
            expected: s.1,
            z: s.2,
            reason: format!("{} {} 年：{}", inst_name(data, k.0), k.1, parts.join("；")),
        });
    }
    // Median cost of each screened institution-year's cases in lowest-severity
    // DRGs (at least 5 cases).
    let mut own_v: FxHashMap<(u32, i32, u32), Vec<f64>> = FxHashMap::default();
    for c in data.cases.iter() {
        if hit.contains_key(&(c.inst, c.year())) && eligible(c).is_some() && !upper(c) {
            let a = data.groups[c.drg as usize].adrg as usize;
            if base[a] == Some(c.drg) {
                own_v.entry((c.inst, c.year(), c.drg)).or_default().push(c.total as f64);
            }
        }
    }
    let own_base: FxHashMap<(u32, i32, u32), f64> = own_v
        .into_iter()
        .filter(|(_, v)| v.len() >= 5)
        .map(|(k, mut v)| (k, median(&mut v)))
        .collect();
    for (i, c) in data.cases.iter().enumerate() {
        let Some(&cz) = hit.get(&(c.inst, c.year())) else {
            continue;
        };
        if eligible(c).is_none() || !upper(c) {
            continue;
        }
        let grp = &data.groups[c.drg as usize];
        let Some(b) = base[grp.adrg as usize] else {
            continue;
        };
        let y = c.year();
        // The secondary diagnosis behind the split that this institution overuses.
        let Some(code) = data
            .secondaries(c)
            .iter()
            .filter_map(|d| suspect.get(&(c.inst, y, *d)).map(|s| (*d, (s.0, s.1, s.2))))
            .max_by(|a, b| a.1 .2.total_cmp(&b.1 .2))
        else {
            continue;
        };
        // What an uncomplicated stay of the ADRG costs here: the institution's own
        // median in the lowest-severity DRG, else the region's norm at its cost level.
        let expect_base = own_base
            .get(&(c.inst, y, b))
            .copied()
            .unwrap_or_else(|| norms.cost(y, b) * norms.inst_cost(c.inst, y));
        let r = c.total as f64 / expect_base;
        if r.partial_cmp(&p.case_cost_ratio).is_none_or(|o| o == std::cmp::Ordering::Greater) {
            continue;
        }
        let (d, (o, e, z)) = code;
        out.flags.push(Flag {
            pattern: Pattern::Upcoding,
            case: Some(i as u32),
            inst: c.inst,
            year: y,
            score: -cz / r.max(0.01),
            reason: format!(
                "入组 {}（{}），次要诊断 {} 在本院可分组病例中出现 {} 例，按同级机构同ADRG比例期望 {:.1} 例（{}，z={:.1}）；\
                 费用 {:.2} 元为不伴并发症组 {} 本院费用 {:.2} 元的 {:.0}%，为本组标准的 {:.0}%，未见并发症带来的费用；\
                 所在机构伴CC/MCC比例显著高于同级同组（见机构筛查）",
                grp.code,
                if grp.severity == Severity::Mcc {
                    "伴严重并发症"
                } else {
                    "伴一般并发症"
                },
                data.diagnoses[d as usize],
                o,
                e,
                times(o, e),
                z,
                c.total as f64 / 100.0,
                data.groups[b as usize].code,
                expect_base / 100.0,
                r * 100.0,
                norms.cost_ratio(c) * 100.0
            ),
        });
    }
}

/// Secondary diagnoses an institution codes far more often than peers of its level:
/// over cases of ADRGs that split by severity, O = its cases with the code, E = Σ over
/// its ADRGs of cases × the code's rate among the other institutions of the level in
/// the same year and ADRG. The evidence is pooled over the years of the input (a
/// coder's habit persists) and judged by the exact Poisson tail P(X ≥ O | E), at a
/// false-alarm probability `code_alpha` for the whole region: divided by the number of
/// institution × code pairs tested (Bonferroni), so that among thousands of codes the
/// one that is common by chance is not taken for a habit.
/// Returns (institution, year, diagnosis) → (O, E of that year, pooled z) for the
/// codes passing.
fn overused_codes(
    data: &Dataset,
    eligible: impl Fn(&Case) -> Option<u32>,
    share: &FxHashMap<(u32, i32), (u64, f64, f64)>,
    p: &UpcodingParams,
) -> FxHashMap<(u32, i32, u32), (u64, f64, f64)> {
    use statrs::distribution::{ContinuousCDF, DiscreteCDF, Normal, Poisson};
    let mut out = FxHashMap::default();
    // Peers: the same level (code habits are compared across kinds).
    let level_of = data.level_of_institutions();
    // (level, year, adrg) → cases; (level, year, adrg, dx) → cases with dx.
    let mut peer_n: FxHashMap<(u32, i32, u32), u64> = FxHashMap::default();
    let mut peer_k: FxHashMap<(u32, i32, u32, u32), u64> = FxHashMap::default();
    let mut own_n: FxHashMap<(u32, i32, u32), u64> = FxHashMap::default();
    let mut own_k: FxHashMap<(u32, i32, u32, u32), u64> = FxHashMap::default();
    let mut seen: Vec<u32> = Vec::new();
    for c in &data.cases {
        let Some(a) = eligible(c) else { continue };
        let (l, y) = (level_of[c.inst as usize], c.year());
        *peer_n.entry((l, y, a)).or_default() += 1;
        *own_n.entry((c.inst, y, a)).or_default() += 1;
        seen.clear();
        for &d in data.secondaries(c) {
            if seen.contains(&d) {
                continue;
            }
            seen.push(d);
            *peer_k.entry((l, y, a, d)).or_default() += 1;
            *own_k.entry((c.inst, y, a, d)).or_default() += 1;
        }
    }
    // The code's rate over all ADRGs of the level and year (the prior of each stratum).
    let mut level_n: FxHashMap<(u32, i32), u64> = FxHashMap::default();
    let mut level_k: FxHashMap<(u32, i32, u32), u64> = FxHashMap::default();
    for (&(l, y, _), &n) in &peer_n {
        *level_n.entry((l, y)).or_default() += n;
    }
    for (&(l, y, _, d), &k) in &peer_k {
        *level_k.entry((l, y, d)).or_default() += k;
    }
    // Per institution-year: its strata and the codes it uses.
    let mut strata: FxHashMap<(u32, i32), Vec<(u32, u64)>> = FxHashMap::default();
    for (&(i, y, a), &n) in &own_n {
        strata.entry((i, y)).or_default().push((a, n));
    }
    let mut observed: FxHashMap<(u32, i32, u32), u64> = FxHashMap::default();
    for (&(i, y, _, d), &k) in &own_k {
        *observed.entry((i, y, d)).or_default() += k;
    }
    // Per (institution, year, code): O and E; pooled per (institution, code).
    let mut per_year: FxHashMap<(u32, i32, u32), (u64, f64)> = FxHashMap::default();
    let mut pooled: FxHashMap<(u32, u32), (u64, f64)> = FxHashMap::default();
    let mut keys: Vec<(u32, i32, u32)> = observed.keys().copied().collect();
    keys.sort_unstable();
    for &(i, y, d) in &keys {
        let o = observed[&(i, y, d)];
        let l = level_of[i as usize];
        // The prior: the code's rate among the other institutions of the level, all ADRGs.
        let own_all: u64 = strata[&(i, y)].iter().map(|&(_, n)| n).sum();
        let ln = level_n[&(l, y)] - own_all;
        let lk = level_k.get(&(l, y, d)).copied().unwrap_or(0) - o.min(level_k.get(&(l, y, d)).copied().unwrap_or(0));
        let prior = if ln > 0 { lk as f64 / ln as f64 } else { 0.0 };
        let a0 = p.code_prior_cases;
        let mut e = 0.0;
        for &(a, n) in &strata[&(i, y)] {
            let pn = peer_n[&(l, y, a)] - n;
            let own = own_k.get(&(i, y, a, d)).copied().unwrap_or(0);
            let pk = peer_k.get(&(l, y, a, d)).copied().unwrap_or(0) - own;
            e += if pn > 0 || a0 > 0.0 {
                n as f64 * (pk as f64 + a0 * prior) / (pn as f64 + a0)
            } else {
                own as f64
            };
        }
        per_year.insert((i, y, d), (o, e));
    }
    // A hospital with more complicated cases (or more thorough coders) has more of
    // every complication code: each code's expectation is raised by the institution's
    // O/E of cases in CC/MCC splits (`share`, never lowered), so that only codes used
    // out of proportion to its own share of complications stand out.
    for &(i, y, d) in &keys {
        let (o, e) = per_year[&(i, y, d)];
        let f = share.get(&(i, y)).map_or(1.0, |&(so, se, _)| {
            if se > 0.0 { (so as f64 / se).max(1.0) } else { 1.0 }
        });
        let e = e * f;
        per_year.insert((i, y, d), (o, e));
        let t = pooled.entry((i, d)).or_default();
        t.0 += o;
        t.1 += e;
    }
    let tested = pooled.values().filter(|v| v.0 >= p.code_min_cases).count().max(1);
    let std = Normal::standard();
    // The deviate the tail must reach: the larger of code_min_z and the Bonferroni one.
    let need = p.code_min_z.max(-std.inverse_cdf(p.code_alpha / tested as f64));
    let mut pass: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    for (&(i, d), &(o, e)) in &pooled {
        if o < p.code_min_cases {
            continue;
        }
        // A code no peer uses counts as expected half a time in the institution's cases.
        let e = e.max(0.5);
        if (o as f64) < p.code_min_ratio * e {
            continue;
        }
        let tail = Poisson::new(e).map_or(0.0, |pd| pd.sf(o - 1));
        let z = if tail <= 0.0 { 40.0 } else { -std.inverse_cdf(tail.min(0.5)) };
        if z >= need {
            pass.insert((i, d), z);
        }
    }
    for (&(i, y, d), &(o, e)) in &per_year {
        if let Some(&z) = pass.get(&(i, d)) {
            out.insert((i, y, d), (o, e, z));
        }
    }
    out
}

/// Low-indication admissions: short, cheap, non-surgical stays without CC/MCC
/// for conditions treatable in outpatient care, in institutions that have far
/// more of them than peers.
pub fn low_indication(data: &Dataset, norms: &Norms, p: &LowIndicationParams, out: &mut Detection) {
    let listed: Vec<bool> = data
        .adrgs
        .iter()
        .map(|a| p.outpatient_adrgs.is_empty() || p.outpatient_adrgs.iter().any(|x| x == a))
        .collect();
    let eligible = |c: &Case| (c.drg != NO_GROUP).then_some(c.drg);
    let short = |c: &Case| short_stay(data, norms, p, c);
    let has = |c: &Case| short(c) && listed[data.groups[c.drg as usize].adrg as usize];
    let scr = screen(data, Peers::Region, eligible, has);
    // With a list: the excess must be specific to the listed conditions (short,
    // cheap stays everywhere point to reduced services instead).
    let outside = if p.outpatient_adrgs.is_empty() {
        FxHashMap::default()
    } else {
        screen(data, Peers::Region, eligible, |c: &Case| {
            short(c) && !listed[data.groups[c.drg as usize].adrg as usize]
        })
    };
    let specific: FxHashMap<(u32, i32), (u64, f64, f64)> = scr
        .iter()
        .filter(|(k, v)| {
            // Observed / expected with one pseudo-case on each side: a single
            // off-list stay where peers have none is a ratio of 2, not 10⁹.
            let shrunk = |o: u64, e: f64| (o as f64 + 1.0) / (e.max(0.0) + 1.0);
            let r_in = shrunk(v.0, v.1);
            let r_out = outside.get(k).map_or(1.0, |o| shrunk(o.0, o.1));
            r_in >= p.specificity * r_out.max(1.0)
        })
        .map(|(k, v)| (*k, *v))
        .collect();
    let hit = screened(
        data,
        &specific,
        &p.screen,
        Pattern::LowIndication,
        "低标准入院特征病例",
        out,
    );
    for (i, c) in data.cases.iter().enumerate() {
        if c.drg == NO_GROUP || !hit.contains_key(&(c.inst, c.year())) || !has(c) {
            continue;
        }
        let g = &data.groups[c.drg as usize];
        let r = norms.cost_ratio(c);
        out.flags.push(Flag {
            pattern: Pattern::LowIndication,
            case: Some(i as u32),
            inst: c.inst,
            year: c.year(),
            score: 1.0 / r.max(0.01),
            reason: format!(
                "{}（{}）为可门诊治疗病种，住院 {} 天、无手术操作、无并发症，费用 {:.2} 元为本组标准的 {:.0}%，\
                 其中诊查、检查、化验费占 {:.0}%（本组中位按本院费用结构调整为 {:.0}%），以检查为主；\
                 所在机构此类病例显著多于同级机构（见机构筛查）",
                g.code,
                g.name,
                c.los,
                c.total as f64 / 100.0,
                r * 100.0,
                f64::from(c.exam_pm) / 10.0,
                norms.exam_norm(c) / 10.0
            ),
        });
    }
}

/// Record screened institutions; returns them with their z.
fn screened(
    data: &Dataset,
    scr: &FxHashMap<(u32, i32), (u64, f64, f64)>,
    s: &Screen,
    pattern: Pattern,
    what: &str,
    out: &mut Detection,
) -> FxHashMap<(u32, i32), f64> {
    let mut keys: Vec<_> = scr.keys().copied().collect();
    keys.sort_unstable();
    let mut hit = FxHashMap::default();
    for k in keys {
        let v = scr[&k];
        if !passes(s, v) {
            continue;
        }
        hit.insert(k, v.2);
        out.screened.push(Screened {
            pattern,
            inst: k.0,
            year: k.1,
            observed: v.0,
            expected: v.1,
            z: v.2,
            reason: format!(
                "{} {} 年{} {} 例，按同级别机构同病组比例期望 {:.1} 例（{}，z={:.1}）",
                inst_name(data, k.0),
                k.1,
                what,
                v.0,
                v.1,
                times(v.0, v.1),
                v.2
            ),
        });
    }
    hit
}

/// Reduced services: cost and length of stay both far below the group norm
/// (adjusted to the institution's levels), not a death, in institutions with
/// far more such cases than peers.
pub fn reduced_services(
    data: &Dataset,
    norms: &Norms,
    p: &ReducedParams,
    low: &LowIndicationParams,
    out: &mut Detection,
) {
    let listed: Vec<bool> = data
        .adrgs
        .iter()
        .map(|a| low.outpatient_adrgs.iter().any(|x| x == a))
        .collect();
    let eligible = |c: &Case| (c.drg != NO_GROUP).then_some(c.drg);
    // Stays of the low-indication kind (listed condition, short, cheap) are left to that detector.
    let has = |c: &Case| {
        !c.died()
            && norms.cost_ratio(c) <= p.max_cost_ratio
            && norms.los_ratio(c) <= p.max_los_ratio
            && norms.care_ratio(c).is_none_or(|r| r <= p.max_care_ratio)
            && reduced_z(norms, c) <= p.max_combined_z
            && !(listed[data.groups[c.drg as usize].adrg as usize]
                && short_stay(data, norms, low, c))
    };
    let scr = screen(data, Peers::Region, eligible, has);
    let hit = screened(
        data,
        &scr,
        &p.screen,
        Pattern::ReducedServices,
        "费用与住院日均远低于病组标准的病例",
        out,
    );
    for (i, c) in data.cases.iter().enumerate() {
        if c.drg == NO_GROUP || !hit.contains_key(&(c.inst, c.year())) || !has(c) {
            continue;
        }
        let g = &data.groups[c.drg as usize];
        let (rc, rl) = (norms.cost_ratio(c), norms.los_ratio(c));
        let way = match c.way {
            2 => "医嘱转院",
            3 => "转社区/乡镇卫生院",
            4 => "非医嘱离院",
            _ => "医嘱离院",
        };
        out.flags.push(Flag {
            pattern: Pattern::ReducedServices,
            case: Some(i as u32),
            inst: c.inst,
            year: c.year(),
            score: 1.0 / (rc * rl).max(1e-4).sqrt(),
            reason: format!(
                "{}（{}）费用 {:.2} 元为本组标准（按本院费用水平调整）的 {:.0}%，住院 {} 天为标准的 {:.0}%，{}；\
                 药品、检查化验、治疗、耗材费用仅占 {:.0}%（本组中位按本院费用结构调整为 {:.0}%），必要诊疗明显不足；\
                 与本院同类病例相比综合偏离 z={:.1}（诊疗费用占比 z={}，费用 z={:.1}，住院日 z={:.1}）；\
                 所在机构此类病例显著多于同类机构（见机构筛查）",
                g.code,
                g.name,
                c.total as f64 / 100.0,
                rc * 100.0,
                c.los,
                rl * 100.0,
                way,
                f64::from(c.care_pm) / 10.0,
                norms.care_norm(c) / 10.0,
                reduced_z(norms, c),
                norms.care_z(c).map_or_else(|| "无费用明细".to_owned(), |z| format!("{z:.1}")),
                norms.cost_z(c),
                norms.los_z(c)
            ),
        });
    }
}

/// Patient shirking: the share of high-weight cases falls year on year (against
/// the region's change) and the transfer-out rate rises, both significantly.
pub fn shirking(
    data: &Dataset,
    rw: &[f64],
    years: &[i32],
    p: &ShirkingParams,
    out: &mut Detection,
) {
    if years.len() < 2 {
        out.notes.push(format!(
            "推诿患者：只有 {} 年的病例，需要相邻两年才能比较，未检测 (patient shirking needs two adjacent years of cases)",
            years.iter().map(i32::to_string).collect::<Vec<_>>().join("、")
        ));
        return;
    }
    for w in years.windows(2) {
        if w[1] != w[0] + 1 {
            out.notes.push(format!(
                "推诿患者：{} 年与 {} 年不相邻（缺 {} 年），这两年之间不比较 (years {} and {} are not adjacent: not compared)",
                w[0],
                w[1],
                (w[0] + 1..w[1]).map(|y| y.to_string()).collect::<Vec<_>>().join("、"),
                w[0],
                w[1]
            ));
        }
    }
    // High-weight threshold: percentile of case RWs over the first year.
    let mut ws: Vec<f64> = data
        .cases
        .iter()
        .filter(|c| c.drg != NO_GROUP && c.year() == years[0])
        .map(|c| rw.get(c.drg as usize).copied().unwrap_or(0.0))
        .collect();
    if ws.is_empty() {
        return;
    }
    ws.sort_unstable_by(f64::total_cmp);
    let k = ((p.high_weight_percentile / 100.0 * ws.len() as f64).ceil() as usize)
        .clamp(1, ws.len())
        - 1;
    let high = ws[k];
    // Per (institution, year): grouped patients, high-weight patients, cases,
    // transfers. The share is over patients (each patient's first grouped stay of the
    // year at the institution): a patient in treatment cycles is one patient, not six
    // high-weight stays, so one such patient more or less does not move the share by
    // more than chance allows.
    let mut st: FxHashMap<(u32, i32), [u64; 4]> = FxHashMap::default();
    let mut region: FxHashMap<i32, [u64; 4]> = FxHashMap::default();
    let mut seen: FxHashSet<(u32, i32, u32)> = FxHashSet::default();
    for c in &data.cases {
        let y = c.year();
        let first = c.drg != NO_GROUP
            && (data.patients[c.patient as usize].is_empty() || seen.insert((c.inst, y, c.patient)));
        let is_high = first && rw.get(c.drg as usize).copied().unwrap_or(0.0) >= high;
        for e in [
            st.entry((c.inst, y)).or_default(),
            region.entry(y).or_default(),
        ] {
            e[0] += u64::from(first);
            e[1] += u64::from(is_high);
            e[2] += 1;
            e[3] += u64::from(c.transferred());
        }
    }
    let prop_z = |k1: u64, n1: u64, k0: u64, n0: u64| {
        let (p1, p0) = (k1 as f64 / n1 as f64, k0 as f64 / n0 as f64);
        let pp = (k1 + k0) as f64 / (n1 + n0) as f64;
        let se = (pp * (1.0 - pp) * (1.0 / n1 as f64 + 1.0 / n0 as f64)).sqrt();
        if se > 0.0 {
            (p1 - p0) / se
        } else {
            0.0
        }
    };
    for w in years.windows(2).filter(|w| w[1] == w[0] + 1) {
        let (y0, y1) = (w[0], w[1]);
        let (r0, r1) = (
            region.get(&y0).copied().unwrap_or_default(),
            region.get(&y1).copied().unwrap_or_default(),
        );
        if r0[0] == 0 || r1[0] == 0 {
            continue;
        }
        let region_ratio = (r1[1] as f64 / r1[0] as f64) / (r0[1] as f64 / r0[0] as f64);
        for inst in 0..data.institutions.len() as u32 {
            let (Some(a), Some(b)) = (st.get(&(inst, y0)), st.get(&(inst, y1))) else {
                continue;
            };
            if a[0] < p.min_cases || b[0] < p.min_cases || a[1] == 0 {
                continue;
            }
            let (s0, s1) = (a[1] as f64 / a[0] as f64, b[1] as f64 / b[0] as f64);
            // The region's change without the institution itself (a large hospital
            // that shirks drags the region's share down with its own).
            let rest = |r: &[u64; 4], x: &[u64; 4], i: usize| r[i].saturating_sub(x[i]) as f64;
            let region_ratio = if rest(&r0, a, 0) > 0.0 && rest(&r1, b, 0) > 0.0 && rest(&r0, a, 1) > 0.0 {
                (rest(&r1, b, 1) / rest(&r1, b, 0)) / (rest(&r0, a, 1) / rest(&r0, a, 0))
            } else {
                region_ratio
            };
            let ratio = s1 / s0 / region_ratio;
            let share_z = prop_z(b[1], b[0], a[1], a[0]);
            let tz = prop_z(b[3], b[2], a[3], a[2]);
            let combined = (tz - share_z) / std::f64::consts::SQRT_2;
            if ratio <= p.max_share_ratio
                && share_z <= p.max_share_z
                && tz >= p.min_transfer_z
                && combined >= p.min_combined_z
            {
                out.flags.push(Flag {
                    pattern: Pattern::PatientShirking,
                    case: None,
                    inst,
                    year: y1,
                    score: -share_z + tz,
                    reason: format!(
                        "{}：高权重病例（RW≥{:.2}）占比由 {} 年 {:.1}% 降至 {} 年 {:.1}%（为全区同期变化的 {:.2} 倍，z={:.1}），\
                         转院率由 {:.2}% 升至 {:.2}%（z={:.1}），综合 z={:.1}",
                        inst_name(data, inst),
                        high,
                        y0,
                        s0 * 100.0,
                        y1,
                        s1 * 100.0,
                        ratio,
                        share_z,
                        a[3] as f64 / a[2] as f64 * 100.0,
                        b[3] as f64 / b[2] as f64 * 100.0,
                        tz,
                        combined
                    ),
                });
            }
        }
    }
}

/// Least institutions of one level and kind for them to be each other's peers; a
/// smaller class is compared with its whole level.
pub const MIN_CLASS_SIZE: usize = 2;

/// Observed against expected for a reason text: "3.2 倍", or, when peers have (almost)
/// none, that in words instead of an enormous ratio.
fn times(observed: u64, expected: f64) -> String {
    if expected < 0.05 {
        format!("同级机构几乎没有此类病例，本院 {observed} 例")
    } else {
        format!("{:.1} 倍", observed as f64 / expected)
    }
}

/// Parameters for the built-in demo scheme (`data/params-demo.json`): the
/// defaults plus the demo region's list of conditions treatable in outpatient care.
pub fn demo_params() -> Params {
    Params::from_json(include_str!("../data/params-demo.json")).expect("params-demo.json is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_detector_parameters_are_refused_with_the_key() {
        let demo = include_str!("../data/params-demo.json");
        assert!(Params::default().validate().is_ok());
        for (from, to, want) in [
            ("\"max_gap_days\": 15", "\"max_gap_days\": 0", "split.max_gap_days = 0: must lie in 1–365"),
            ("\"max_gap_days\": 15", "\"max_gap_dayz\": 15", "split.max_gap_dayz (line 2): unknown key; expected one of `max_gap_days`"),
            ("\"min_z\": 4.0", "\"min_zz\": 4.0", "low_indication.screen.min_zz (line 6): unknown key"),
            ("\"min_z\": 4.0", "\"min_z\": -4.0", "low_indication.screen.min_z = -4: must lie in [0, 50]"),
            ("\"min_cases\": 20", "\"min_cases\": 0", "upcoding.min_cases = 0: must be at least 1"),
            ("\"min_cases\": 20", "\"min_cases\": -3", "upcoding.min_cases (line 3): invalid value"),
            ("\"max_cost_z\": -1.0", "\"max_cost_z\": 1.0", "upcoding.max_cost_z = 1: must lie in [-50, 0]"),
            ("\"max_cost_ratio\": 0.9", "\"max_cost_ratio\": 1.95", "upcoding.max_cost_ratio = 1.95: must lie in (0, 1]"),
            ("\"max_care_ratio\": 0.95", "\"max_care_ratio\": 0", "reduced.max_care_ratio = 0: must lie in (0, 1]"),
            ("\"max_combined_z\": -4.0", "\"max_combined_z\": 4.0", "reduced.max_combined_z = 4: must lie in [-50, 0]"),
            ("\"code_alpha\": 0.01", "\"code_alpha\": 0.7", "upcoding.code_alpha = 0.7: must lie in (0, 0.5)"),
            ("\"high_weight_percentile\": 75.0", "\"high_weight_percentile\": 100.0", "shirking.high_weight_percentile = 100: must lie in (0, 100)"),
            ("\"min_share_ratio\": 1.05", "\"min_share_ratio\": 0.5", "upcoding.min_share_ratio = 0.5: must lie in [1, 1000]"),
            ("\"FV2\", \"KS1\"", "\"FV2\", \"FV2\"", "low_indication.outpatient_adrgs[1] = \"FV2\": repeats"),
            ("\"planned_dx_prefixes\": [\"Z51\"]", "\"planned_dx_prefixes\": [\"\"]", "split.planned_dx_prefixes[0] = \"\": must not be empty"),
            ("\"shirking\": {", "\"shirkin\": {", "shirkin (line 11): unknown key"),
        ] {
            assert!(demo.contains(from), "{from}");
            let e = Params::from_json(&demo.replacen(from, to, 1)).expect_err(to).to_string();
            assert!(e.contains(want), "{to}: wanted {want:?} in\n{e}");
        }
    }

    #[test]
    fn a_ratio_over_an_empty_expectation_is_said_in_words() {
        assert_eq!(times(7, 2.0), "3.5 倍");
        assert_eq!(times(1, 0.0), "同级机构几乎没有此类病例，本院 1 例");
        assert_eq!(times(292, 1e-12), "同级机构几乎没有此类病例，本院 292 例");
        assert!(!times(3, 0.04).contains("倍"));
    }

    #[test]
    fn demo_params_parse_and_defaults_round_trip() {
        let p = demo_params();
        assert_eq!(p.low_indication.outpatient_adrgs.len(), 10);
        let d = Params::default();
        let back = Params::from_json(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
        // The demo file is the defaults plus the region's outpatient list.
        let mut q = p.clone();
        q.low_indication.outpatient_adrgs.clear();
        assert_eq!(q, d);
        assert!(medical_adrg("FV2") && medical_adrg("KS1") && !medical_adrg("BB2"));
    }
}

//! Case generation: demographics, stays, costs, payments, injected patterns,
//! and the settlement-list CSV lines.

use std::io::{self, Write};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use claims::{Field, Sex, FIELDS};
use codes::Dictionaries;
use drg::Grouper;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::catalog::{Catalog, StayKind, Template};
use crate::clinical::CodeRules;
use crate::region::{Kind, Level, Region, Specialty};
use crate::write;
use crate::Config;

/// An injected abuse pattern (ground truth in `anomalies.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// 分解住院: discharge and readmission within 15 days for the same condition.
    SplitAdmission,
    /// 高套编码: MCC/CC secondary diagnoses without the matching cost.
    Upcoding,
    /// 低标准入院: very short, cheap stays for outpatient-type conditions.
    LowIndication,
    /// 服务不足: costs far below the group's norm with early discharge.
    ReducedServices,
    /// 推诿患者: fewer high-weight cases and more transfers out (second year on).
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

    /// Label written to `anomalies.csv`.
    pub fn label(self) -> &'static str {
        match self {
            Pattern::SplitAdmission => "split_admission",
            Pattern::Upcoding => "upcoding",
            Pattern::LowIndication => "low_indication_admission",
            Pattern::ReducedServices => "reduced_services",
            Pattern::PatientShirking => "patient_shirking",
        }
    }
}

/// Header of `anomalies.csv`.
pub const ANOMALIES_HEADER: &str = "case_id,institution_id,year,pattern,detail\n";

/// Offsite patients' insurance regions (synthetic codes).
const OFFSITE_REGIONS: &[&str] = &["990200", "990300", "990400", "990500"];

/// The regional base cost of one relative-weight unit, fen (year one).
const BASE_FEN: f64 = 1_200_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    None,
    Cc,
    Mcc,
}

/// How a stay's cost splits into the 14 categories.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mix {
    Usual,
    /// A work-up admission: mostly examinations, inspections and laboratory tests
    /// (the usual mix blended with a work-up's, this much of the latter, 0–1).
    Examinations(f64),
    /// Reduced services: drugs, tests, treatment and materials at this fraction.
    Thin(f64),
}

struct Profile {
    /// Cumulative template weights.
    cum: Vec<f64>,
}

impl Profile {
    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.cum.last().unwrap_or(&0.0);
        let x = rng.random::<f64>() * total;
        self.cum
            .partition_point(|c| *c <= x)
            .min(self.cum.len() - 1)
    }
}

struct HospPlan {
    patterns: Vec<Pattern>,
    /// An upcoding institution's repertoire of documentation-only secondary
    /// diagnoses (indices into the catalogue's MCC and CC pools): coders who
    /// upcode reuse the few codes that reliably move a case up a severity split
    /// (two MCCs, one CC for main diagnoses that exclude both MCCs).
    upcode_mcc: Vec<usize>,
    upcode_cc: Vec<usize>,
    shirker: bool,
    profile: usize,
    shirk_profile: usize,
    /// Share of this institution's cases that carry one of its patterns (the
    /// configured rate × 0.5–1.5: abusers differ in how much they abuse).
    rate: f64,
    /// How strongly it abuses, 0 (mildly) to 1 (blatantly): how far costs, stays
    /// and cost mixes move from the usual.
    intensity: f64,
    /// Coding habits: how thoroughly its coders record complications (multiplies the
    /// chance of a CC or MCC), and the chance that an MCC case also gets a CC coded.
    coding: f64,
    cc_with_mcc: f64,
    /// Its cost mix: a factor per fee category (charging habits, pharmacy, lab).
    mix: [f64; 14],
}

/// A configured generator. Build once, then write the files.
pub struct Generator {
    cfg: Config,
    region: Region,
    catalog: Catalog,
    rules: CodeRules,
    profiles: Vec<Profile>,
    plans: Vec<HospPlan>,
    hosp_cum: Vec<f64>,
    year_cases: Vec<u64>,
    low_indication: Profile,
    /// Relative weight above which a case counts as high-weight (shirking).
    high_rw: f64,
    /// Per ADRG: how common complications are in it (multiplies the chance of CC/MCC).
    adrg_severity: Vec<f64>,
    /// Templates of planned treatment in cycles (chemotherapy, radiotherapy: Z51).
    planned: Vec<usize>,
    /// How often each MCC and CC code is coded in the region: a few complications
    /// (pneumonia, heart failure, electrolyte disorders…) are common and most are
    /// rare, as in real coding (Zipf-like weights over a seeded order; cumulative).
    mcc_use: Profile,
    cc_use: Profile,
}

/// A patient coming back: the template of the new stay, the previous stay, the days
/// between its discharge and the new admission, and the admission route if not drawn.
struct Visit<'p, 'a> {
    template: usize,
    prev: &'p Rec<'a>,
    gap: i64,
    route: Option<u8>,
}

/// One record being built (codes borrow from the catalog).
struct Rec<'a> {
    case_ix: u64,
    /// Index of its template in the catalogue.
    template: usize,
    hosp: usize,
    employee: bool,
    patient: (i32, u64),
    sex: Sex,
    birth: NaiveDate,
    age: u32,
    age_days: Option<u32>,
    birth_weight: Option<u32>,
    admitted: NaiveDateTime,
    discharged: NaiveDateTime,
    los: u32,
    route: u8,
    way: u8,
    department: &'a str,
    dx: Vec<&'a str>,
    procs: Vec<(&'a str, NaiveDate)>,
    vent: u32,
    coma: Option<u32>,
    total: i64,
    costs: [i64; 14],
    fund: i64,
    self_pay: i64,
    self_expense: i64,
    account: i64,
    cash: i64,
    offsite: Option<&'static str>,
    innovative: i64,
}

fn mix(a: u64, b: u64) -> u64 {
    let mut h = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 31;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 29;
    h
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

impl Generator {
    /// Prepare a generator: institutions, verified case templates (from `grouper`'s
    /// scheme, codes restricted to `dicts` when given) and the injected patterns' plan.
    pub fn new(cfg: Config, grouper: &Grouper, dicts: Option<&Dictionaries>) -> Generator {
        let rules = CodeRules::builtin();
        let catalog = Catalog::build(grouper, dicts, &rules, cfg.seed);
        let region = Region::generate(
            cfg.hospitals.max(1),
            cfg.seed,
            &cfg.region_id,
            &cfg.region_name,
        );
        let mut rng = ChaCha8Rng::seed_from_u64(mix(cfg.seed, 0x706c_616e));

        // High-weight threshold: the 75th percentile of template relative weights.
        let mut rws: Vec<f64> = catalog
            .templates
            .iter()
            .map(|t| catalog.adrgs[t.adrg].rw)
            .collect();
        rws.sort_by(f64::total_cmp);
        let high_rw = rws.get(rws.len() * 3 / 4).copied().unwrap_or(f64::INFINITY);

        // Template distributions per (level, kind, shirking).
        let mut keys: Vec<(Level, Kind, bool)> = Vec::new();
        let mut profiles = Vec::new();
        let mut profile_of = |key: (Level, Kind, bool), profiles: &mut Vec<Profile>| -> usize {
            if let Some(i) = keys.iter().position(|k| *k == key) {
                return i;
            }
            keys.push(key);
            profiles.push(build_profile(&catalog, key, high_rw));
            keys.len() - 1
        };
        let n = region.institutions.len();
        let mut plans: Vec<HospPlan> = region
            .institutions
            .iter()
            .map(|h| {
                let mut mix = [1.0; 14];
                for m in mix.iter_mut() {
                    *m = (0.25 * normal(&mut rng)).exp();
                }
                HospPlan {
                    patterns: Vec::new(),
                    upcode_mcc: Vec::new(),
                    upcode_cc: Vec::new(),
                    shirker: false,
                    profile: profile_of((h.level, h.kind, false), &mut profiles),
                    shirk_profile: profile_of((h.level, h.kind, true), &mut profiles),
                    rate: cfg.anomaly_rate * rng.random_range(0.5..1.5),
                    intensity: rng.random::<f64>(),
                    coding: (0.3 * normal(&mut rng)).exp(),
                    cc_with_mcc: rng.random_range(0.2..0.8),
                    mix,
                }
            })
            .collect();
        // Abusive institutions: a shuffled choice, patterns dealt round-robin so each occurs.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        // Hospitals before grassroots institutions (a pattern needs cases to show).
        order.sort_by_key(|&h| region.institutions[h].level == Level::Grassroots);
        let case_patterns = [
            Pattern::SplitAdmission,
            Pattern::Upcoding,
            Pattern::LowIndication,
            Pattern::ReducedServices,
        ];
        let n_abusive = ((n as f64 * cfg.abusive_share).ceil() as usize)
            .max(n.min(4))
            .min(n);
        // Every pattern at two institutions at least (two abusers of one level must
        // not hide each other), more in larger regions: patterns dealt in turn, each to
        // the next institution that does not have it yet.
        let slots = n_abusive.max(2 * case_patterns.len());
        let mut next = 0;
        for k in 0..slots {
            let p = case_patterns[k % case_patterns.len()];
            for _ in 0..n_abusive {
                let h = order[next % n_abusive.max(1)];
                next += 1;
                if !plans[h].patterns.contains(&p) {
                    plans[h].patterns.push(p);
                    break;
                }
            }
        }
        // Shirking needs a second year: a secondary or tertiary general hospital. With
        // `anomaly_rate = 0` nothing is injected, shirking included.
        if cfg.years.len() > 1 && cfg.anomaly_rate > 0.0 {
            let n_shirk = (n / 60).max(1);
            let mut cands: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&h| {
                    region.institutions[h].level <= Level::Secondary
                        && region.institutions[h].kind == Kind::General
                })
                .collect();
            cands.sort_by_key(|&h| !plans[h].patterns.is_empty());
            for &h in cands.iter().take(n_shirk) {
                plans[h].shirker = true;
            }
        }
        // Upcoding repertoires: two MCC codes and one CC code valid for either sex.
        let unisex = |pool: &[(Box<str>, Box<str>)]| -> Vec<usize> {
            (0..pool.len())
                .filter(|&i| rules.dx_sex(&pool[i].0).is_none())
                .collect()
        };
        let (mcc_ok, cc_ok) = (
            unisex(&catalog.secondaries.mcc),
            unisex(&catalog.secondaries.cc),
        );
        let pick = |n: usize, ok: &[usize], rng: &mut ChaCha8Rng| -> Vec<usize> {
            let mut v = Vec::new();
            while v.len() < n.min(ok.len()) {
                let i = ok[rng.random_range(0..ok.len())];
                if !v.contains(&i) {
                    v.push(i);
                }
            }
            v
        };
        for plan in plans.iter_mut() {
            if plan.patterns.contains(&Pattern::Upcoding) {
                let (n_mcc, n_cc) = (rng.random_range(2..=5), rng.random_range(1..=2));
                plan.upcode_mcc = pick(n_mcc, &mcc_ok, &mut rng);
                plan.upcode_cc = pick(n_cc, &cc_ok, &mut rng);
            }
        }
        let mut acc = 0.0;
        let hosp_cum = region
            .institutions
            .iter()
            .map(|h| {
                acc += h.volume;
                acc
            })
            .collect();
        // Cases per year, growing 3 % a year, summing exactly to the total.
        let ny = cfg.years.len().max(1);
        let w: Vec<f64> = (0..ny).map(|i| 1.03f64.powi(i as i32)).collect();
        let ws: f64 = w.iter().sum();
        let mut year_cases: Vec<u64> = w
            .iter()
            .map(|x| (cfg.cases as f64 * x / ws).floor() as u64)
            .collect();
        let assigned: u64 = year_cases.iter().sum();
        if let Some(last) = year_cases.last_mut() {
            *last += cfg.cases - assigned;
        }
        let mut acc = 0.0;
        let mut low = Vec::new();
        for t in &catalog.templates {
            let a = &catalog.adrgs[t.adrg];
            if a.outpatient_type && !a.surgical && t.demography.newborn.is_none() {
                acc += t.popularity;
            }
            low.push(acc);
        }
        let adrg_severity = catalog
            .adrgs
            .iter()
            .map(|a| (0.4 * crate::catalog::normal_hash(&a.code, cfg.seed, 11)).exp())
            .collect();
        let planned = (0..catalog.templates.len())
            .filter(|&i| {
                let t = &catalog.templates[i];
                t.demography.newborn.is_none()
                    && catalog.adrgs[t.adrg].kind == StayKind::Acute
                    && t.dx.first().is_some_and(|d| PLANNED_TREATMENT_DX.iter().any(|p| d.starts_with(p)))
            })
            .collect();
        let usage = |n: usize, salt: u64| -> Profile {
            let mut order: Vec<usize> = (0..n).collect();
            let mut r = ChaCha8Rng::seed_from_u64(mix(cfg.seed, salt));
            for i in (1..n).rev() {
                order.swap(i, r.random_range(0..=i));
            }
            let mut w = vec![0.0; n];
            for (rank, &i) in order.iter().enumerate() {
                w[i] = 1.0 / (rank as f64 + 1.0).powf(0.9);
            }
            let mut acc = 0.0;
            Profile { cum: w.iter().map(|x| { acc += x; acc }).collect() }
        };
        let mcc_use = usage(catalog.secondaries.mcc.len(), 0x6d63_63);
        let cc_use = usage(catalog.secondaries.cc.len(), 0x6363);
        Generator {
            cfg,
            region,
            catalog,
            rules,
            profiles,
            plans,
            hosp_cum,
            year_cases,
            low_indication: Profile { cum: low },
            high_rw,
            adrg_severity,
            planned,
            mcc_use,
            cc_use,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Cases written for each year, in the order of [`Config::years`].
    pub fn year_cases(&self) -> &[u64] {
        &self.year_cases
    }

    /// Patterns injected by each institution (index as in [`Region::institutions`]),
    /// and whether it shirks patients from the second year.
    pub fn plan(&self, hosp: usize) -> (&[Pattern], bool) {
        (&self.plans[hosp].patterns, self.plans[hosp].shirker)
    }

    /// Write `institutions.csv`.
    pub fn write_institutions(&self, w: &mut impl Write) -> io::Result<()> {
        self.region.write_csv(w)
    }

    /// The settlement-list CSV header (canonical English column names).
    pub fn claims_header() -> String {
        let names: Vec<&str> = FIELDS
            .iter()
            .filter(|f| f.field != Field::Diagnoses)
            .map(|f| f.name)
            .collect();
        names.join(",") + "\n"
    }

    /// Write the settlement lists of year number `year_ix` (index into [`Config::years`])
    /// to `claims`, header included, and that year's labels to `anomalies` (no header:
    /// write [`ANOMALIES_HEADER`] once first). `progress` is told the number of cases
    /// written so far in this year.
    pub fn write_year(
        &self,
        year_ix: usize,
        claims: &mut impl Write,
        anomalies: &mut impl Write,
        progress: &(dyn Fn(u64) + Sync),
    ) -> io::Result<()> {
        claims.write_all(Self::claims_header().as_bytes())?;
        let total = self.year_cases[year_ix];
        let chunk = self.cfg.chunk.max(1) as u64;
        let n_chunks = total.div_ceil(chunk);
        let batch = (rayon::current_num_threads() as u64 * 4).max(4);
        let make = |first: u64| -> Vec<(Vec<u8>, Vec<u8>)> {
            let last = (first + batch).min(n_chunks);
            (first..last)
                .into_par_iter()
                .map(|c| {
                    let start = c * chunk;
                    let len = chunk.min(total - start);
                    self.chunk(year_ix, c, start, len)
                })
                .collect()
        };
        // The next batch is generated while this one is written.
        let mut first = 0;
        let mut pending = (n_chunks > 0).then(|| make(0));
        while let Some(parts) = pending.take() {
            let next = first + batch;
            pending = std::thread::scope(|s| -> io::Result<Option<Vec<(Vec<u8>, Vec<u8>)>>> {
                let handle = (next < n_chunks).then(|| s.spawn(|| make(next)));
                for (c, a) in &parts {
                    claims.write_all(c)?;
                    anomalies.write_all(a)?;
                }
                progress((next * chunk).min(total));
                Ok(handle.map(|h| h.join().expect("generator thread")))
            })?;
            first = next;
        }
        Ok(())
    }

    /// Generate the cases `start..start+len` of a year.
    fn chunk(&self, year_ix: usize, chunk_ix: u64, start: u64, len: u64) -> (Vec<u8>, Vec<u8>) {
        let mut rng =
            ChaCha8Rng::seed_from_u64(mix(mix(self.cfg.seed, year_ix as u64 + 1), chunk_ix));
        let mut out = Vec::with_capacity(len as usize * 460);
        let mut labels = Vec::new();
        let year = self.cfg.years[year_ix];
        let mut i = 0;
        while i < len {
            let idx = start + i;
            let hosp = self.pick_hospital(&mut rng);
            let plan = &self.plans[hosp];
            let mut pattern = None;
            if !plan.patterns.is_empty() && rng.random_bool(plan.rate.min(1.0)) {
                pattern = Some(plan.patterns[rng.random_range(0..plan.patterns.len())]);
            }
            let pair = if pattern == Some(Pattern::SplitAdmission) && i + 1 < len {
                self.split_pair(&mut rng, year_ix, idx, hosp)
            } else {
                None
            };
            if let Some((a, b)) = pair {
                self.line(&mut out, &a, year);
                self.line(&mut out, &b, year);
                let (ia, ib) = (self.case_id(year, a.case_ix), self.case_id(year, b.case_ix));
                label(
                    &mut labels,
                    &ia,
                    &self.region.institutions[hosp].id,
                    year,
                    Pattern::SplitAdmission,
                    &format!("readmitted as {ib}"),
                );
                label(
                    &mut labels,
                    &ib,
                    &self.region.institutions[hosp].id,
                    year,
                    Pattern::SplitAdmission,
                    &format!("readmission of {ia}"),
                );
                i += 2;
                continue;
            }
            let pattern = if pattern == Some(Pattern::SplitAdmission) {
                None
            } else {
                pattern
            };
            let (rec, applied) = self.case(&mut rng, year_ix, idx, hosp, pattern, None);
            self.line(&mut out, &rec, year);
            // Patients come back: chronic readmissions, another condition, care at
            // another hospital, treatment cycles. None of these is a split by policy.
            if applied.is_none() {
                let mut prev = rec;
                let mut k = 1;
                while i + k < len {
                    let Some(next) = self.return_visit(&mut rng, year_ix, idx + k as u64, &prev)
                    else {
                        break;
                    };
                    self.line(&mut out, &next, year);
                    prev = next;
                    k += 1;
                }
                i += k;
                continue;
            }
            if let Some((p, detail)) = applied {
                let id = self.case_id(year, idx);
                label(
                    &mut labels,
                    &id,
                    &self.region.institutions[hosp].id,
                    year,
                    p,
                    &detail,
                );
            }
            i += 1;
        }
        (out, labels)
    }

    fn pick_hospital(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.hosp_cum.last().unwrap_or(&1.0);
        let x = rng.random::<f64>() * total;
        self.hosp_cum
            .partition_point(|c| *c <= x)
            .min(self.hosp_cum.len() - 1)
    }

    fn case_id(&self, year: i32, idx: u64) -> String {
        format!("C{year}{idx:09}")
    }

    /// One case; returns the pattern actually applied with a detail text.
    fn case(
        &self,
        rng: &mut ChaCha8Rng,
        year_ix: usize,
        idx: u64,
        hosp: usize,
        pattern: Option<Pattern>,
        visit: Option<Visit<'_, '_>>,
    ) -> (Rec<'_>, Option<(Pattern, String)>) {
        let plan = &self.plans[hosp];
        let shirking = plan.shirker && year_ix > 0;
        let profile = &self.profiles[if shirking {
            plan.shirk_profile
        } else {
            plan.profile
        }];
        let mut applied: Option<(Pattern, String)> = None;
        // Template.
        let t_ix = match pattern {
            Some(Pattern::LowIndication)
                if self.low_indication.cum.last().is_some_and(|x| *x > 0.0) =>
            {
                self.low_indication.sample(rng)
            }
            Some(Pattern::Upcoding) => {
                let mut pick = profile.sample(rng);
                for _ in 0..30 {
                    let a = &self.catalog.adrgs[self.catalog.templates[pick].adrg];
                    if (a.splits_mcc || a.splits_cc)
                        && self.catalog.templates[pick].demography.newborn.is_none()
                    {
                        break;
                    }
                    pick = profile.sample(rng);
                }
                pick
            }
            _ => visit.as_ref().map_or_else(|| profile.sample(rng), |v| v.template),
        };
        let t = &self.catalog.templates[t_ix];
        let a = &self.catalog.adrgs[t.adrg];
        let h = &self.region.institutions[hosp];
        let mut rec = self.base_record(rng, year_ix, idx, hosp, t);
        rec.template = t_ix;
        if let Some(v) = &visit {
            // The same patient, back.
            rec.patient = v.prev.patient;
            rec.sex = v.prev.sex;
            rec.birth = v.prev.birth;
            rec.age = v.prev.age;
            rec.employee = v.prev.employee;
            rec.offsite = v.prev.offsite;
            if let Some(r) = v.route {
                rec.route = r;
            }
        }

        // Severity and secondary diagnoses.
        let old = rec.age >= 65;
        let level_f = match h.level {
            Level::Tertiary => 1.3,
            Level::Secondary => 1.0,
            Level::Primary => 0.7,
            Level::Grassroots => 0.5,
        };
        let (p_mcc, p_cc) = if t.demography.newborn.is_some() {
            (0.0, 0.3)
        } else {
            // Complications are commoner in some groups, in older patients and at
            // higher levels, and some hospitals' coders record them more thoroughly.
            let f = level_f
                * if old { 1.6 } else { 1.0 }
                * self.adrg_severity[t.adrg]
                * plan.coding;
            ((0.09 * f).min(0.45), (0.2 * f).min(0.5))
        };
        let u: f64 = rng.random();
        let mut sev = if u < p_mcc {
            Severity::Mcc
        } else if u < p_mcc + p_cc {
            Severity::Cc
        } else {
            Severity::None
        };
        let low_ind = matches!(pattern, Some(Pattern::LowIndication)) && a.outpatient_type;
        let upcode = matches!(pattern, Some(Pattern::Upcoding))
            && (a.splits_mcc || a.splits_cc)
            && t.demography.newborn.is_none();
        if low_ind || upcode {
            sev = Severity::None;
        }
        // `sev` is the patient's true severity; an upcoded case keeps it and only
        // its coding changes.
        sev = self.add_secondaries(rng, &mut rec, t, sev);
        if upcode {
            if let Some((code, coded)) = self.add_upcode(rng, &mut rec, t, hosp) {
                // Not always the MCC alone: a CC may be coded beside it, as with a
                // genuine complication.
                if coded == Severity::Mcc && rng.random_bool(plan.cc_with_mcc * 0.7) {
                    let cc = &self.catalog.secondaries.cc;
                    if !cc.is_empty() {
                        let (c, table) = &cc[rng.random_range(0..cc.len())];
                        if !rec.dx.contains(&&**c)
                            && self.rules.dx_sex(c).is_none_or(|x| x == rec.sex)
                            && !self.catalog.excluded(t.dx[0].as_ref(), table)
                        {
                            rec.dx.push(c);
                        }
                    }
                }
                applied = Some((
                    Pattern::Upcoding,
                    format!(
                        "{} secondary {} coded without the clinical severity (cost and stay of an uncomplicated case)",
                        if coded == Severity::Mcc { "MCC" } else { "CC" },
                        code
                    ),
                ));
            }
        }
        let mut mix = Mix::Usual;

        // Length of stay and cost follow the true severity.
        let (mut los, mut cost) = self.stay(rng, year_ix, hosp, t, sev);
        let mut way = self.discharge_way(rng, &rec, t, sev);
        if low_ind {
            los = rng.random_range(1..=3);
            // A fraction of what treating the condition in hospital costs here.
            cost = self.group_cost(year_ix, hosp, t)
                * rng.random_range(0.2..0.45)
                * (0.15 * normal(rng)).exp();
            // Admitted from the clinic for a work-up: mostly examinations, sent home.
            // How much of the stay is examinations varies by hospital and case (some
            // such stays look like any other in their cost mix).
            let s = plan.intensity;
            mix = Mix::Examinations(rng.random_range(0.35 + 0.35 * s..1.0));
            rec.route = 2;
            way = 1;
            applied = Some((
                Pattern::LowIndication,
                format!("{}-day stay for {}, mostly examinations", los, a.code),
            ));
        } else if pattern == Some(Pattern::ReducedServices) && a.kind == StayKind::Acute {
            // A blatant abuser cuts more than a mild one.
            let mild = 1.0 - plan.intensity;
            let f = rng.random_range(0.2..0.4) + 0.1 * mild;
            cost *= f;
            los = ((los as f64) * (rng.random_range(0.25..0.5) + 0.1 * mild))
                .round()
                .max(1.0) as u32;
            // Drugs, tests and materials left out (how much varies by hospital and
            // case); the stay ends early, often by a transfer or a discharge the
            // patient did not ask for.
            mix = Mix::Thin(((0.2 + 0.15 * mild) * (0.25 * normal(rng)).exp()).min(1.0));
            way = match rng.random_range(0..100) {
                0..=34 => 2,
                35..=49 => 3,
                50..=69 => 4,
                _ => 1,
            };
            applied = Some((
                Pattern::ReducedServices,
                format!(
                    "cost {:.0} % of the group norm, discharge way {}",
                    f * 100.0,
                    way
                ),
            ));
        }
        // A shirking hospital sends high-weight patients on after the admission work-up
        // (a returning patient is not: return visits carry no pattern).
        if shirking && visit.is_none() && a.rw >= self.high_rw && way == 1 && rng.random_bool(0.3) {
            way = 2;
            los = ((los as f64) * 0.5).round().max(1.0) as u32;
            cost *= 0.6;
            mix = Mix::Examinations(rng.random_range(0.3..0.7));
            applied = Some((
                Pattern::PatientShirking,
                format!("high-weight {} transferred out", a.code),
            ));
        }
        rec.way = way;
        if way == 5 || sev == Severity::Mcc {
            rec.route = if rng.random_bool(0.6) { 1 } else { rec.route };
        }
        let discharge = visit.as_ref().map(|v| {
            v.prev.discharged.date() + Duration::days(v.gap + i64::from(los))
        });
        self.set_dates(rng, &mut rec, t, year_ix, los, discharge, true);
        if visit.is_some() {
            rec.age = rec.admitted.date().years_since(rec.birth).unwrap_or(rec.age);
        }
        if sev == Severity::Mcc && rng.random_bool(0.1) {
            let stay_h = (rec.discharged - rec.admitted).num_hours().clamp(1, 480);
            rec.vent = rng.random_range(1..=stay_h) as u32;
        }
        self.set_money(rng, &mut rec, t, cost.max(20_000.0) as i64, mix);
        (rec, applied)
    }

    /// Whether the patient of `prev` comes back within the year, and the stay if so:
    /// a chronic readmission (same condition, after more than 15 days, mostly at the
    /// same hospital), another condition (any time, often the same hospital), the same
    /// condition at another hospital within 15 days (referred on), or the next cycle
    /// of planned treatment (chemo- or radiotherapy, every 2–4 weeks). None is a split
    /// admission by policy, so none is labelled.
    fn return_visit<'s>(
        &'s self,
        rng: &mut ChaCha8Rng,
        year_ix: usize,
        idx: u64,
        prev: &Rec<'s>,
    ) -> Option<Rec<'s>> {
        if prev.way == 5 || prev.age_days.is_some() || prev.template == usize::MAX {
            return None;
        }
        let pt = &self.catalog.templates[prev.template];
        let pa = &self.catalog.adrgs[pt.adrg];
        let in_cycles = pt.dx.first().is_some_and(|d| PLANNED_TREATMENT_DX.iter().any(|p| d.starts_with(p)));
        // Cycles go on; cancer patients start them; others come back less often,
        // the old more than the young.
        let p_back = if in_cycles {
            0.75
        } else if pa.cancer && !self.planned.is_empty() {
            0.3
        } else if prev.age >= 65 {
            0.14
        } else {
            0.07
        };
        if !rng.random_bool(p_back) {
            return None;
        }
        let fits = |i: usize| {
            let t = &self.catalog.templates[i];
            t.demography.newborn.is_none()
                && (t.demography.age.0..=t.demography.age.1).contains(&prev.age)
                && t.demography.sex.is_none_or(|s| s == prev.sex)
        };
        let other_hospital = |rng: &mut ChaCha8Rng| {
            for _ in 0..10 {
                let h = self.pick_hospital(rng);
                if h != prev.hosp {
                    return Some(h);
                }
            }
            None
        };
        let dx_cat = |i: usize| -> &str {
            let d = &self.catalog.templates[i].dx[0];
            &d[..d.len().min(3)]
        };
        let (template, hosp, gap, route) = if (in_cycles || pa.cancer) && !self.planned.is_empty() {
            let t = self.planned[rng.random_range(0..self.planned.len())];
            (fits(t).then_some(t)?, prev.hosp, rng.random_range(14..=28), Some(2))
        } else {
            match rng.random_range(0..100) {
                0..=49 => (prev.template, if rng.random_bool(0.85) { prev.hosp } else { other_hospital(rng)? }, rng.random_range(16..=180), None),
                50..=74 => {
                    let profile = &self.profiles[self.plans[prev.hosp].profile];
                    let mut pick = None;
                    for _ in 0..20 {
                        let t = profile.sample(rng);
                        let ta = self.catalog.templates[t].adrg;
                        if fits(t) && ta != pt.adrg && dx_cat(t) != dx_cat(prev.template) {
                            pick = Some(t);
                            break;
                        }
                    }
                    let hosp = if rng.random_bool(0.7) { prev.hosp } else { other_hospital(rng)? };
                    (pick?, hosp, rng.random_range(1..=90), None)
                }
                _ => (prev.template, other_hospital(rng)?, rng.random_range(1..=14), Some(3)),
            }
        };
        let visit = Visit { template, prev, gap, route };
        let (rec, _) = self.case(rng, year_ix, idx, hosp, None, Some(visit));
        (rec.discharged.year() == self.cfg.years[year_ix] && rec.admitted > prev.discharged).then_some(rec)
    }

    /// A split admission: one stay cut in two, same patient and main diagnosis,
    /// readmitted 1–14 days after the first discharge.
    fn split_pair(
        &self,
        rng: &mut ChaCha8Rng,
        year_ix: usize,
        idx: u64,
        hosp: usize,
    ) -> Option<(Rec<'_>, Rec<'_>)> {
        let plan = &self.plans[hosp];
        // A split is an acute stay cut in two. Planned treatment in cycles (chemo- or
        // radiotherapy, Z51) is not a split by policy, so it is never labelled one.
        let splittable = |t: &crate::catalog::Template| {
            self.catalog.adrgs[t.adrg].kind == StayKind::Acute
                && t.demography.newborn.is_none()
                && !t.dx.first().is_some_and(|d| PLANNED_TREATMENT_DX.iter().any(|p| d.starts_with(p)))
        };
        let mut t_ix = self.profiles[plan.profile].sample(rng);
        for _ in 0..20 {
            if splittable(&self.catalog.templates[t_ix]) {
                break;
            }
            t_ix = self.profiles[plan.profile].sample(rng);
        }
        let t = &self.catalog.templates[t_ix];
        if !splittable(t) {
            return None;
        }
        let mut a = self.base_record(rng, year_ix, idx, hosp, t);
        let sev = self.add_secondaries(rng, &mut a, t, Severity::None);
        let (los, cost) = self.stay(rng, year_ix, hosp, t, sev);
        let los1 = ((los as f64) * 0.6).round().clamp(1.0, 60.0) as u32;
        let los2 = ((los as f64) * 0.5).round().clamp(1.0, 60.0) as u32;
        a.way = 1;
        // First discharge early enough that the readmission ends within the year.
        let year = self.cfg.years[year_ix];
        let jan1 = NaiveDate::from_ymd_opt(year, 1, 1).expect("year");
        let span = 365 - 20 - i64::from(los1) - i64::from(los2);
        let d1 = jan1 + Duration::days(i64::from(los1) + rng.random_range(0..span.max(1)));
        self.set_dates(rng, &mut a, t, year_ix, los1, Some(d1), true);
        self.set_money(rng, &mut a, t, (cost * 0.6) as i64, Mix::Usual);
        let mut b = Rec {
            case_ix: idx + 1,
            dx: a.dx[..1].to_vec(),
            procs: Vec::new(),
            vent: 0,
            coma: None,
            ..self.base_record(rng, year_ix, idx + 1, hosp, t)
        };
        // Same patient.
        b.patient = a.patient;
        b.sex = a.sex;
        b.birth = a.birth;
        b.employee = a.employee;
        b.offsite = a.offsite;
        b.route = 2;
        b.way = 1;
        let gap = rng.random_range(1..=14);
        let d2 = a.discharged.date() + Duration::days(gap + i64::from(los2));
        self.set_dates(rng, &mut b, t, year_ix, los2, Some(d2), false);
        b.age = b.admitted.date().years_since(b.birth).unwrap_or(a.age);
        b.age_days = None;
        b.birth_weight = None;
        self.set_money(rng, &mut b, t, (cost * 0.5) as i64, Mix::Usual);
        Some((a, b))
    }

    fn level_cost(&self, level: Level) -> f64 {
        match level {
            Level::Tertiary => 1.25,
            Level::Secondary => 0.9,
            Level::Primary => 0.62,
            Level::Grassroots => 0.45,
        }
    }

    /// Demographics, insurance, department; dates and money come later.
    fn base_record<'s>(
        &'s self,
        rng: &mut ChaCha8Rng,
        year_ix: usize,
        idx: u64,
        hosp: usize,
        t: &'s Template,
    ) -> Rec<'s> {
        let h = &self.region.institutions[hosp];
        let a = &self.catalog.adrgs[t.adrg];
        let year = self.cfg.years[year_ix];
        let sex = t.demography.sex.unwrap_or(if rng.random_bool(0.5) {
            Sex::Male
        } else {
            Sex::Female
        });
        let (age, age_days, birth_weight) = match t.demography.newborn {
            Some(((d0, d1), (w0, w1))) => {
                let w = (3300.0 + 450.0 * normal(rng))
                    .round()
                    .clamp(w0 as f64, w1 as f64) as u32;
                (0, Some(rng.random_range(d0..=d1)), Some(w))
            }
            None => {
                let (lo, hi) = t.demography.age;
                let mut age = None;
                for _ in 0..8 {
                    let u: f64 = rng.random();
                    let x = if u < 0.08 {
                        rng.random_range(1..18)
                    } else if u < 0.28 {
                        rng.random_range(18..45)
                    } else if u < 0.6 {
                        rng.random_range(45..65)
                    } else {
                        rng.random_range(65..93)
                    };
                    if (lo..=hi).contains(&x) {
                        age = Some(x);
                        break;
                    }
                }
                (age.unwrap_or_else(|| rng.random_range(lo..=hi)), None, None)
            }
        };
        let employee_p = match h.level {
            Level::Tertiary => 0.5,
            Level::Secondary => 0.4,
            Level::Primary => 0.25,
            Level::Grassroots => 0.2,
        };
        let employee = age_days.is_none() && age >= 18 && rng.random_bool(employee_p);
        let offsite_p = if h.level == Level::Tertiary {
            0.06
        } else {
            0.02
        };
        let offsite = rng
            .random_bool(offsite_p)
            .then(|| OFFSITE_REGIONS[rng.random_range(0..OFFSITE_REGIONS.len())]);
        let route = match rng.random_range(0..100) {
            0..=24 => 1,
            25..=94 => 2,
            95..=98 => 3,
            _ => 9,
        };
        let placeholder = NaiveDate::from_ymd_opt(year, 1, 1)
            .expect("year")
            .and_hms_opt(0, 0, 0)
            .expect("time");
        Rec {
            case_ix: idx,
            template: usize::MAX,
            hosp,
            employee,
            patient: (year, idx),
            sex,
            birth: placeholder.date(),
            age,
            age_days,
            birth_weight,
            admitted: placeholder,
            discharged: placeholder,
            los: 1,
            route,
            way: 1,
            department: a.department,
            dx: t.dx.iter().map(|d| &**d).collect(),
            procs: Vec::new(),
            vent: 0,
            coma: None,
            total: 0,
            costs: [0; 14],
            fund: 0,
            self_pay: 0,
            self_expense: 0,
            account: 0,
            cash: 0,
            offsite,
            innovative: 0,
        }
    }

    /// Add secondary diagnoses for the wanted severity; returns the severity reached
    /// (an MCC/CC excluded for the main diagnosis is not used).
    fn add_secondaries<'s>(
        &'s self,
        rng: &mut ChaCha8Rng,
        rec: &mut Rec<'s>,
        t: &'s Template,
        want: Severity,
    ) -> Severity {
        let s = &self.catalog.secondaries;
        let main = t.dx[0].as_ref();
        let fits = |rec: &Rec<'_>, c: &str| {
            !rec.dx.contains(&c) && self.rules.dx_sex(c).is_none_or(|x| x == rec.sex)
        };
        let mut reached = Severity::None;
        let try_add = |rec: &mut Rec<'s>,
                       pool: &'s [(Box<str>, Box<str>)],
                       usage: Option<&Profile>,
                       rng: &mut ChaCha8Rng|
         -> bool {
                if pool.is_empty() {
                    return false;
                }
                for _ in 0..8 {
                    let k = match usage {
                        Some(u) => u.sample(rng),
                        None => rng.random_range(0..pool.len()),
                    };
                    let (c, table) = &pool[k];
                    if fits(rec, c) && !self.catalog.excluded(main, table) {
                        rec.dx.push(c);
                        return true;
                    }
                }
                false
            };
        if t.demography.newborn.is_some() {
            if want > Severity::None && try_add(rec, &s.newborn_cc, None, rng) {
                reached = Severity::Cc;
            }
            return reached;
        }
        // Plain comorbidities first, more with age.
        let n_plain = if rec.age >= 45 {
            rng.random_range(0..=3)
        } else {
            rng.random_range(0..=1)
        };
        for _ in 0..n_plain {
            if s.plain.is_empty() {
                break;
            }
            let c = &*s.plain[rng.random_range(0..s.plain.len())];
            if fits(rec, c) {
                rec.dx.push(c);
            }
        }
        if want == Severity::Mcc && try_add(rec, &s.mcc, Some(&self.mcc_use), rng) {
            reached = Severity::Mcc;
        }
        // An MCC case has a CC coded as well only as often as its hospital's coders
        // record one (MCC-only cases are common).
        let with_cc = want == Severity::Cc
            || (want == Severity::Mcc && rng.random_bool(self.plans[rec.hosp].cc_with_mcc));
        if with_cc && try_add(rec, &s.cc, Some(&self.cc_use), rng) && reached == Severity::None {
            reached = Severity::Cc;
        }
        reached
    }

    /// Upcoding: add one of the institution's repertoire codes that moves the case
    /// into the ADRG's upper split, when one is allowed with this main diagnosis.
    /// Returns the code and its class.
    fn add_upcode<'s>(
        &'s self,
        rng: &mut ChaCha8Rng,
        rec: &mut Rec<'s>,
        t: &'s Template,
        hosp: usize,
    ) -> Option<(&'s str, Severity)> {
        let plan = &self.plans[hosp];
        let s = &self.catalog.secondaries;
        let main = t.dx[0].as_ref();
        // An MCC moves the case up in every splitting ADRG (to the MCC split or
        // to the "with MCC or CC" split); a CC only when no MCC is allowed.
        let mut tries: Vec<(&'s (Box<str>, Box<str>), Severity)> = plan
            .upcode_mcc
            .iter()
            .map(|&i| (&s.mcc[i], Severity::Mcc))
            .collect();
        if tries.len() > 1 {
            let j = rng.random_range(0..tries.len());
            tries.swap(0, j);
        }
        tries.extend(plan.upcode_cc.iter().map(|&i| (&s.cc[i], Severity::Cc)));
        for ((code, table), sev) in tries {
            if !rec.dx.contains(&&**code) && !self.catalog.excluded(main, table) {
                rec.dx.push(code);
                return Some((code, sev));
            }
        }
        None
    }

    /// The expected cost of an uncomplicated stay of a template's ADRG at an
    /// institution in a year (fen, before noise).
    fn group_cost(&self, year_ix: usize, hosp: usize, t: &Template) -> f64 {
        let h = &self.region.institutions[hosp];
        let a = &self.catalog.adrgs[t.adrg];
        let growth = 1.045f64.powi(year_ix as i32);
        let level =
            self.level_cost(h.level) * h.cost_factor * if h.kind == Kind::Tcm { 0.95 } else { 1.0 };
        BASE_FEN * a.rw * level * growth
    }

    /// Length of stay and cost (fen, before the split into categories).
    fn stay(
        &self,
        rng: &mut ChaCha8Rng,
        year_ix: usize,
        hosp: usize,
        t: &Template,
        sev: Severity,
    ) -> (u32, f64) {
        let h = &self.region.institutions[hosp];
        let a = &self.catalog.adrgs[t.adrg];
        let growth = 1.045f64.powi(year_ix as i32);
        let level =
            self.level_cost(h.level) * h.cost_factor * if h.kind == Kind::Tcm { 0.95 } else { 1.0 };
        let z = normal(rng);
        let z2 = normal(rng);
        match a.kind {
            StayKind::Acute => {
                let (sev_cost, sev_los) = match sev {
                    Severity::Mcc if a.splits_mcc => (1.75, 1.5),
                    Severity::Mcc | Severity::Cc if a.splits_cc || a.splits_mcc => (1.3, 1.2),
                    Severity::None => (1.0, 1.0),
                    _ => (1.1, 1.1),
                };
                let sigma = if a.surgical { 0.35 } else { 0.42 };
                let mut cost = BASE_FEN
                    * a.rw
                    * sev_cost
                    * level
                    * growth
                    * (sigma * z - sigma * sigma / 2.0).exp();
                let level_los = match h.level {
                    Level::Tertiary | Level::Secondary => 1.0,
                    Level::Primary => 0.9,
                    Level::Grassroots => 0.85,
                };
                let mut los = a.los * sev_los * level_los * (0.6 * sigma * z + 0.2 * z2).exp();
                // A few extreme-cost cases (special cases for case-by-case review).
                if rng.random_bool(0.0015) {
                    cost *= rng.random_range(5.0..15.0);
                    los *= rng.random_range(2.0..4.0);
                }
                // Innovative / 双通道 drugs are added in set_money.
                (los.round().clamp(1.0, 180.0) as u32, cost)
            }
            kind => {
                let per_diem = match kind {
                    StayKind::Mental => 32_000.0,
                    StayKind::Rehab => 65_000.0,
                    _ => 52_000.0,
                };
                let los = (a.los * (0.45 * z).exp()).round().clamp(7.0, 300.0);
                let cost = los * per_diem * level.sqrt() * growth * (0.15 * z2).exp();
                (los as u32, cost)
            }
        }
    }

    fn discharge_way(
        &self,
        rng: &mut ChaCha8Rng,
        rec: &Rec<'_>,
        t: &Template,
        sev: Severity,
    ) -> u8 {
        let a = &self.catalog.adrgs[t.adrg];
        let mut p_death = match sev {
            Severity::None => 0.002,
            Severity::Cc => 0.008,
            Severity::Mcc => 0.04,
        };
        if rec.age >= 80 {
            p_death *= 2.0;
        }
        if a.mdc == "MDCO"
            || a.kind == StayKind::Mental
            || a.kind == StayKind::Rehab
            || a.outpatient_type
        {
            p_death = 0.0002;
        }
        if a.kind == StayKind::Hospice {
            p_death = 0.15;
        }
        let u: f64 = rng.random();
        let mut acc = p_death;
        if u < acc {
            return 5;
        }
        for (p, way) in [
            (0.012, 2),
            (
                if a.kind == StayKind::Acute {
                    0.01
                } else {
                    0.05
                },
                3,
            ),
            (0.01, 4),
            (0.003, 9),
        ] {
            acc += p;
            if u < acc {
                return way;
            }
        }
        1
    }

    /// Admission and discharge, birth date and age, procedures (with dates within the
    /// stay, when `with_procs`) and coma duration.
    #[allow(clippy::too_many_arguments)]
    fn set_dates<'s>(
        &self,
        rng: &mut ChaCha8Rng,
        rec: &mut Rec<'s>,
        t: &'s Template,
        year_ix: usize,
        los: u32,
        discharge: Option<NaiveDate>,
        with_procs: bool,
    ) {
        let year = self.cfg.years[year_ix];
        let jan1 = NaiveDate::from_ymd_opt(year, 1, 1).expect("year");
        let days_in_year =
            (NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("year") - jan1).num_days();
        let d_date =
            discharge.unwrap_or_else(|| jan1 + Duration::days(rng.random_range(0..days_in_year)));
        let same_day = los == 1 && rng.random_bool(0.3);
        let a_date = if same_day {
            d_date
        } else {
            d_date - Duration::days(i64::from(los))
        };
        let (ah, dh) = if same_day {
            (rng.random_range(0..10), rng.random_range(12..20))
        } else if rec.route == 1 {
            (rng.random_range(0..24), rng.random_range(8..18))
        } else {
            (rng.random_range(7..18), rng.random_range(8..18))
        };
        let at = |d: NaiveDate, h: u32, rng: &mut ChaCha8Rng| {
            d.and_hms_opt(h, rng.random_range(0..60), rng.random_range(0..60))
                .expect("valid time")
        };
        rec.admitted = at(a_date, ah, rng);
        rec.discharged = at(d_date, dh, rng);
        rec.los = los;
        // Birth date consistent with the age at admission.
        match rec.age_days {
            Some(days) => {
                rec.birth = a_date - Duration::days(i64::from(days));
                rec.age = 0;
            }
            None if rec.patient.1 == rec.case_ix => {
                let y = a_date.year() - rec.age as i32;
                let anchor =
                    NaiveDate::from_ymd_opt(y, a_date.month(), a_date.day().min(28)).expect("date");
                rec.birth = anchor - Duration::days(rng.random_range(0..364));
                rec.age = a_date.years_since(rec.birth).unwrap_or(rec.age);
            }
            None => {}
        }
        rec.procs.clear();
        if with_procs && !t.procs.is_empty() {
            let stay_days = (d_date - a_date).num_days();
            let day = a_date + Duration::days(rng.random_range(0..=stay_days.min(2)));
            rec.procs.extend(t.procs.iter().map(|p| (&**p, day)));
        }
        rec.coma = rec
            .dx
            .iter()
            .any(|d| self.rules.allows_coma(d))
            .then(|| rng.random_range(10..600));
    }

    /// Cost categories (largest-remainder split of integer fen), innovative drugs,
    /// fund and patient shares.
    fn set_money(
        &self,
        rng: &mut ChaCha8Rng,
        rec: &mut Rec<'_>,
        t: &Template,
        cost: i64,
        mix: Mix,
    ) {
        let h = &self.region.institutions[rec.hosp];
        let a = &self.catalog.adrgs[t.adrg];
        // Innovative / 双通道 drugs on some cancer stays (more in tertiary hospitals).
        let p_innovative = match (a.cancer && a.kind == StayKind::Acute, h.level) {
            (false, _) => 0.0,
            (true, Level::Tertiary) => 0.15,
            (true, _) => 0.06,
        };
        let innovative = if p_innovative > 0.0 && rng.random_bool(p_innovative) {
            (2_500_000.0 * (0.6 * normal(rng)).exp()) as i64
        } else {
            0
        };
        let cost = cost.max(1);
        //            bed  exam insp lab  treat surg nurs mat  west herb pat  gen  reg  other
        let mut w: [f64; 14] = match a.kind {
            StayKind::Acute if !rec.procs.is_empty() && a.surgical => [
                4.0, 1.0, 8.0, 10.0, 10.0, 14.0, 3.0, 20.0, 22.0, 0.3, 2.0, 0.5, 0.02, 5.0,
            ],
            StayKind::Acute => [
                8.0, 2.0, 12.0, 15.0, 14.0, 0.0, 5.0, 6.0, 30.0, 0.5, 4.0, 1.0, 0.05, 3.0,
            ],
            _ => [
                25.0, 2.0, 4.0, 6.0, 20.0, 0.0, 15.0, 2.0, 18.0, 1.0, 4.0, 1.0, 0.02, 2.0,
            ],
        };
        if rec.procs.is_empty() {
            w[5] = 0.0;
        }
        if h.kind == Kind::Tcm {
            w[9] += 8.0;
            w[10] += 6.0;
        } else if rng.random_bool(0.8) {
            w[9] = 0.0;
        }
        if rng.random_bool(0.7) {
            w[12] = 0.0;
        }
        match mix {
            Mix::Usual => {}
            //     bed  exam  insp  lab   treat surg nurs mat  west herb pat  gen  reg   other
            Mix::Examinations(b) => {
                let work_up = [
                    6.0, 12.0, 28.0, 30.0, 4.0, 0.0, 3.0, 2.0, 8.0, 0.3, 2.0, 1.0, 0.05, 2.0,
                ];
                let (sw, su): (f64, f64) = (work_up.iter().sum(), w.iter().sum());
                for i in 0..14 {
                    w[i] = (1.0 - b) * w[i] / su + b * work_up[i] / sw;
                }
            }
            // Necessary drugs, tests, treatment and materials cut; bed, nursing,
            // general services and the operation itself remain (TCM hospitals too).
            Mix::Thin(f) => {
                for i in [1, 2, 3, 4, 7, 8, 9, 10, 13] {
                    w[i] *= f;
                }
            }
        }
        // The hospital's own charging habits, then the case's.
        let plan = &self.plans[rec.hosp];
        for (x, m) in w.iter_mut().zip(plan.mix) {
            *x *= m * (0.35 * normal(rng)).exp();
        }
        let sum: f64 = w.iter().sum();
        let mut parts = [0i64; 14];
        let mut rema = [(0.0f64, 0usize); 14];
        let mut given = 0;
        for i in 0..14 {
            let exact = cost as f64 * w[i] / sum;
            parts[i] = exact.floor() as i64;
            given += parts[i];
            rema[i] = (exact - exact.floor(), i);
        }
        rema.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        let mut left = cost - given;
        let mut k = 0;
        while left > 0 {
            let i = rema[k % 14].1;
            if w[i] > 0.0 {
                parts[i] += 1;
                left -= 1;
            }
            k += 1;
        }
        parts[8] += innovative;
        let total = cost + innovative;
        rec.costs = parts;
        rec.total = total;
        rec.innovative = innovative;
        // Payments: out-of-catalogue share, deductible, reimbursement ratio by insurance and level.
        let self_expense = (total as f64 * rng.random_range(0.02..0.12)).round() as i64;
        let eligible = total - self_expense;
        let li = h.level as usize;
        let deductible = [120_000i64, 80_000, 50_000, 30_000][li];
        let mut ratio = if rec.employee {
            [0.85, 0.88, 0.90, 0.92][li]
        } else {
            [0.60, 0.70, 0.80, 0.85][li]
        };
        if rec.offsite.is_some() {
            ratio -= 0.1;
        }
        let cap = if rec.employee { 60_000_000 } else { 40_000_000 };
        let fund = (((eligible - deductible).max(0) as f64 * ratio).round() as i64).min(cap);
        let self_pay = eligible - fund;
        let share = self_pay + self_expense;
        let account = if rec.employee && rng.random_bool(0.6) {
            share.min(rng.random_range(0..300_000))
        } else {
            0
        };
        rec.fund = fund;
        rec.self_pay = self_pay;
        rec.self_expense = self_expense;
        rec.account = account;
        rec.cash = share - account;
    }

    /// Write one settlement-list line (columns as [`Generator::claims_header`]).
    fn line(&self, out: &mut Vec<u8>, rec: &Rec<'_>, year: i32) {
        let h = &self.region.institutions[rec.hosp];
        let mut first = true;
        for info in FIELDS {
            if info.field == Field::Diagnoses {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            match info.field {
                Field::CaseId => {
                    out.push(b'C');
                    write::int(out, year);
                    pad9(out, rec.case_ix);
                }
                Field::InstitutionId => out.extend_from_slice(h.id.as_bytes()),
                Field::RegionId => {
                    out.extend_from_slice(rec.offsite.unwrap_or(&self.cfg.region_id).as_bytes())
                }
                Field::InsuranceType => {
                    out.extend_from_slice(if rec.employee { "职工" } else { "居民" }.as_bytes())
                }
                Field::PatientId => {
                    out.push(b'P');
                    write::int(out, rec.patient.0);
                    pad9(out, rec.patient.1);
                }
                Field::Sex => out.push(if rec.sex == Sex::Male { b'1' } else { b'2' }),
                Field::BirthDate => write::date(out, rec.birth),
                Field::Age => write::int(out, rec.age),
                Field::AgeDays => {
                    if let Some(d) = rec.age_days {
                        write::int(out, d)
                    }
                }
                Field::BirthWeightG => {
                    if let Some(w) = rec.birth_weight {
                        write::int(out, w)
                    }
                }
                Field::AdmissionWeightG => {}
                Field::AdmittedAt => write::datetime(out, rec.admitted),
                Field::DischargedAt => write::datetime(out, rec.discharged),
                Field::Los => write::int(out, rec.los),
                Field::AdmissionRoute => write::int(out, rec.route),
                Field::DischargeWay => write::int(out, rec.way),
                Field::Department => out.extend_from_slice(rec.department.as_bytes()),
                Field::MainDiagnosis => out.extend_from_slice(rec.dx[0].as_bytes()),
                Field::OtherDiagnoses => join(out, rec.dx[1..].iter().map(|d| d.as_bytes())),
                Field::Diagnoses => {}
                Field::Procedures => join(out, rec.procs.iter().map(|p| p.0.as_bytes())),
                Field::ProcedureDates => {
                    for (i, p) in rec.procs.iter().enumerate() {
                        if i > 0 {
                            out.push(b'|');
                        }
                        write::date(out, p.1);
                    }
                }
                Field::VentHours => write::int(out, rec.vent),
                // No ICU stays are generated: the column is left empty.
                Field::IcuHours => {}
                Field::ComaMinutes => {
                    if let Some(c) = rec.coma {
                        write::int(out, c)
                    }
                }
                Field::TotalCost => write::fen(out, rec.total),
                Field::BedFee => write::fen(out, rec.costs[0]),
                Field::ExamFee => write::fen(out, rec.costs[1]),
                Field::InspectionFee => write::fen(out, rec.costs[2]),
                Field::LabFee => write::fen(out, rec.costs[3]),
                Field::TreatmentFee => write::fen(out, rec.costs[4]),
                Field::SurgeryFee => write::fen(out, rec.costs[5]),
                Field::NursingFee => write::fen(out, rec.costs[6]),
                Field::MaterialFee => write::fen(out, rec.costs[7]),
                Field::WesternDrugFee => write::fen(out, rec.costs[8]),
                Field::HerbalFee => write::fen(out, rec.costs[9]),
                Field::PatentMedicineFee => write::fen(out, rec.costs[10]),
                Field::GeneralServiceFee => write::fen(out, rec.costs[11]),
                Field::RegistrationFee => write::fen(out, rec.costs[12]),
                Field::OtherFee => write::fen(out, rec.costs[13]),
                Field::FundPaid => write::fen(out, rec.fund),
                Field::SelfPay => write::fen(out, rec.self_pay),
                Field::SelfExpense => write::fen(out, rec.self_expense),
                Field::PersonalAccount => write::fen(out, rec.account),
                Field::Cash => write::fen(out, rec.cash),
                Field::Offsite => out.push(if rec.offsite.is_some() { b'1' } else { b'0' }),
                Field::InnovativeDrugCost => write::fen(out, rec.innovative),
            }
        }
        out.push(b'\n');
    }
}

fn pad9(out: &mut Vec<u8>, v: u64) {
    let mut b = itoa::Buffer::new();
    let s = b.format(v);
    for _ in s.len()..9 {
        out.push(b'0');
    }
    out.extend_from_slice(s.as_bytes());
}

fn join<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a [u8]>) {
    for (i, x) in items.enumerate() {
        if i > 0 {
            out.push(b'|');
        }
        out.extend_from_slice(x);
    }
}

/// Main diagnoses of planned treatment in cycles (化疗、放疗, Z51): readmissions for them
/// are policy, never labelled split admissions (seed 002 §47; the detectors exempt them too).
pub const PLANNED_TREATMENT_DX: &[&str] = &["Z51"];

fn label(out: &mut Vec<u8>, case_id: &str, inst: &str, year: i32, p: Pattern, detail: &str) {
    out.extend_from_slice(case_id.as_bytes());
    out.push(b',');
    out.extend_from_slice(inst.as_bytes());
    out.push(b',');
    write::int(out, year);
    out.push(b',');
    out.extend_from_slice(p.label().as_bytes());
    out.push(b',');
    out.extend_from_slice(detail.replace(',', ";").as_bytes());
    out.push(b'\n');
}

/// Template weights for one kind of institution.
fn build_profile(
    catalog: &Catalog,
    (level, kind, shirking): (Level, Kind, bool),
    high_rw: f64,
) -> Profile {
    let mut acc = 0.0;
    let cum = catalog
        .templates
        .iter()
        .map(|t| {
            let a = &catalog.adrgs[t.adrg];
            let mut w = t.popularity;
            w *= match level {
                Level::Tertiary => a.rw.powf(0.6),
                Level::Secondary => {
                    if a.surgical {
                        0.9
                    } else {
                        1.0
                    }
                }
                Level::Primary => a.rw.powf(-0.8) * if a.surgical { 0.3 } else { 1.0 },
                Level::Grassroots => a.rw.powf(-1.3) * if a.surgical { 0.08 } else { 1.0 },
            };
            if level >= Level::Primary && (a.mdc == "MDCA" || a.mdc == "MDCP") {
                w *= 0.02;
            }
            let mdc = a.mdc.trim_start_matches("MDC");
            let in_field = match kind {
                Kind::Specialty(Specialty::Maternity) => matches!(mdc, "O" | "P" | "N"),
                Kind::Specialty(Specialty::Mental) => {
                    matches!(mdc, "T" | "U") || a.code.starts_with("XR1")
                }
                Kind::Specialty(Specialty::Oncology) => a.cancer || mdc == "R",
                Kind::Specialty(Specialty::Orthopaedic) => mdc == "I" || a.code.starts_with("XR2"),
                Kind::General | Kind::Tcm => true,
            };
            if !in_field {
                w *= 0.002;
            }
            if a.kind == StayKind::Mental && !matches!(kind, Kind::Specialty(Specialty::Mental)) {
                w *= 0.2;
            }
            if a.kind == StayKind::Rehab && kind == Kind::Tcm {
                w *= 2.0;
            }
            if shirking && a.rw >= high_rw {
                w *= 0.35;
            }
            acc += w;
            acc
        })
        .collect();
    Profile { cum }
}

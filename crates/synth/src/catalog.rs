//! Case templates drawn from a grouping scheme and verified with its grouper.
//!
//! For every ADRG the scheme's conditions (MDC `when` and ADRG `when`) are read
//! as requirements: `in main_dx list` gives the main diagnosis, `in main_proc
//! list` the main procedure, `intersects` adds a code, comparisons bound age,
//! age in days and birth weight, `proc_tag` adds a tagged procedure, and
//! `distinct_trauma_sites_ge` adds injuries at distinct body sites. Candidate
//! cases built that way are grouped; only those that land in a real DRG (at the
//! youngest and oldest age, lightest and heaviest weight the template will use)
//! are kept. A template remembers where it actually grouped.

use claims::Sex;
use codes::Dictionaries;
use drg::scheme::DrgRule;
use drg::scheme::{CmpOp, Cond, Field as SField, Lists, Scheme, SS_VALID};
use drg::{Case, Grouper, Status};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::clinical::CodeRules;

/// What kind of stay a template describes; drives length of stay and costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StayKind {
    /// An ordinary acute stay.
    Acute,
    /// Long-stay care paid per diem: mental illness.
    Mental,
    /// Long-stay care paid per diem: rehabilitation.
    Rehab,
    /// Long-stay care paid per diem: after-care / hospice.
    Hospice,
}

/// Patients a template fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demography {
    /// The sex the codes require, if any.
    pub sex: Option<Sex>,
    /// Age range in years (inclusive).
    pub age: (u32, u32),
    /// Newborn: age in days range and birth weight range (inclusive).
    pub newborn: Option<((u32, u32), (u32, u32))>,
}

/// A verified case template: codes that group into a real DRG.
#[derive(Clone, Debug)]
pub struct Template {
    /// Index of the ADRG in [`Catalog::adrgs`].
    pub adrg: usize,
    /// Diagnoses, main first (fixed part; the generator adds secondaries).
    pub dx: Vec<Box<str>>,
    /// Procedures, main first.
    pub procs: Vec<Box<str>>,
    pub demography: Demography,
    /// Relative popularity within the region.
    pub popularity: f64,
}

/// An ADRG as the generator sees it.
#[derive(Clone, Debug)]
pub struct AdrgInfo {
    pub code: String,
    pub mdc: String,
    /// Name of its first DRG.
    pub name: String,
    /// Whether its DRGs split on MCC / CC.
    pub splits_mcc: bool,
    pub splits_cc: bool,
    /// Relative cost weight of the base DRG (about 1 for an average stay).
    pub rw: f64,
    /// Mean length of stay of the base DRG, days.
    pub los: f64,
    pub surgical: bool,
    pub kind: StayKind,
    /// A condition usually treated in outpatient care (candidate for low-indication admissions).
    pub outpatient_type: bool,
    /// Cancer (main diagnosis C00–D09 or chemo / radiotherapy Z51.0–Z51.2).
    pub cancer: bool,
    /// Discharge department (出院科别).
    pub department: &'static str,
}

/// Secondary diagnoses by severity, filtered for use on records.
#[derive(Clone, Debug, Default)]
pub struct Secondaries {
    /// MCC codes with their exclusion table.
    pub mcc: Vec<(Box<str>, Box<str>)>,
    /// CC codes with their exclusion table.
    pub cc: Vec<(Box<str>, Box<str>)>,
    /// Common comorbidities that are neither CC nor MCC.
    pub plain: Vec<Box<str>>,
    /// Perinatal CC codes, for newborns only.
    pub newborn_cc: Vec<(Box<str>, Box<str>)>,
}

/// Templates for a whole scheme.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub adrgs: Vec<AdrgInfo>,
    pub templates: Vec<Template>,
    pub secondaries: Secondaries,
    /// Main diagnosis → exclusion table (for CC/MCC exclusion checks).
    pub main_dx_exclusion: rustc_hash::FxHashMap<Box<str>, Box<str>>,
    /// ADRGs of the scheme for which no template could be verified.
    pub unverified: Vec<String>,
}

/// Common comorbidities used as plain secondary diagnoses (when the dictionary has them).
pub const COMMON_COMORBIDITIES: &[&str] = &[
    "I10.x00", "E11.900", "E78.500", "I25.103", "K21.900", "K76.000", "E03.900", "D64.900",
    "K29.500", "K59.000", "H25.900", "M81.900", "J44.900", "N18.900", "E87.600", "I50.900",
    "I48.900", "E66.900", "G47.000", "M17.900", "K80.200", "N20.000", "E79.000", "I67.200",
];

/// ADRGs (CHS-DRG codes) of conditions usually treated as outpatients.
const OUTPATIENT_TYPE: &[&str] = &[
    "FV2", "KS1", "GW1", "DT1", "EX2", "IU2", "BV3", "ET2", "DT2", "GZ1",
];

#[derive(Default)]
struct Req<'s> {
    main_dx: Vec<&'s [Box<str>]>,
    extra_dx: Vec<&'s [Box<str>]>,
    main_proc: Vec<&'s [Box<str>]>,
    extra_proc: Vec<&'s [Box<str>]>,
    proc_tags: Vec<&'s str>,
    needs_procs: bool,
    trauma: u32,
    age: (i64, i64),
    age_days: (i64, i64),
    weight: (i64, i64),
    sex: Option<i64>,
    age_days_present: bool,
    weight_present: bool,
}

fn bound(r: &mut (i64, i64), op: CmpOp, n: i64) {
    match op {
        CmpOp::Le => r.1 = r.1.min(n),
        CmpOp::Lt => r.1 = r.1.min(n - 1),
        CmpOp::Ge => r.0 = r.0.max(n),
        CmpOp::Gt => r.0 = r.0.max(n + 1),
        CmpOp::Eq => {
            r.0 = r.0.max(n);
            r.1 = r.1.min(n)
        }
        CmpOp::Ne => {}
    }
}

fn collect<'s>(
    cond: &'s Cond,
    lists: &'s Lists,
    scheme: &'s Scheme,
    req: &mut Req<'s>,
    rng: &mut ChaCha8Rng,
) {
    let list = |name: &str| -> &'s [Box<str>] {
        if name == SS_VALID {
            &scheme.surgical_procedures
        } else {
            lists.get(name).map(Vec::as_slice).unwrap_or(&[])
        }
    };
    match cond {
        Cond::Const(_) | Cond::Not(_) => {}
        Cond::And(items) => items
            .iter()
            .for_each(|c| collect(c, lists, scheme, req, rng)),
        Cond::Or(items) => {
            if !items.is_empty() {
                let i = rng.random_range(0..items.len());
                collect(&items[i], lists, scheme, req, rng);
            }
        }
        Cond::Present(f) => match f {
            SField::Procs | SField::MainProc => req.needs_procs = true,
            SField::AgeDays => req.age_days_present = true,
            SField::WeightG => req.weight_present = true,
            _ => {}
        },
        Cond::In(SField::MainDx, l) => req.main_dx.push(list(l)),
        Cond::In(SField::MainProc, l) => req.main_proc.push(list(l)),
        Cond::Intersects(SField::Dx, l) => req.extra_dx.push(list(l)),
        Cond::Intersects(SField::Procs, l) => req.extra_proc.push(list(l)),
        Cond::In(..) | Cond::Intersects(..) => {}
        Cond::Cmp(op, f, n) => match f {
            SField::Age => bound(&mut req.age, *op, *n),
            SField::AgeDays => {
                req.age_days_present = true;
                bound(&mut req.age_days, *op, *n)
            }
            SField::WeightG => {
                req.weight_present = true;
                bound(&mut req.weight, *op, *n)
            }
            SField::Sex if *op == CmpOp::Eq => req.sex = Some(*n),
            _ => {}
        },
        Cond::ProcTag(t) => req.proc_tags.push(t),
        Cond::DistinctTraumaSitesGe(n) => req.trauma = req.trauma.max(*n),
    }
}

/// Pick a code in every list of `lists` (drawn from the smallest) that passes `ok`.
fn pick_in_all<'s>(
    lists: &[&'s [Box<str>]],
    rng: &mut ChaCha8Rng,
    ok: impl Fn(&str) -> bool,
) -> Option<&'s str> {
    let smallest = lists.iter().min_by_key(|l| l.len())?;
    if smallest.is_empty() {
        return None;
    }
    for _ in 0..60 {
        let c = &smallest[rng.random_range(0..smallest.len())];
        if lists.iter().all(|l| l.binary_search(c).is_ok()) && ok(c) {
            return Some(c);
        }
    }
    None
}

fn bigrams(s: &str) -> Vec<(char, char)> {
    let cs: Vec<char> = s.chars().collect();
    cs.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Department of an MDC (medical, surgical).
fn department(mdc: &str, surgical: bool) -> &'static str {
    let (med, sur) = match mdc.trim_start_matches("MDC") {
        "A" => ("重症医学科", "器官移植科"),
        "B" => ("神经内科", "神经外科"),
        "C" => ("眼科", "眼科"),
        "D" => ("耳鼻咽喉科", "耳鼻咽喉科"),
        "E" => ("呼吸内科", "胸外科"),
        "F" => ("心血管内科", "心脏大血管外科"),
        "G" => ("消化内科", "普通外科"),
        "H" => ("消化内科", "肝胆外科"),
        "I" => ("风湿免疫科", "骨科"),
        "J" => ("皮肤科", "乳腺外科"),
        "K" => ("内分泌科", "普通外科"),
        "L" => ("肾内科", "泌尿外科"),
        "M" => ("泌尿外科", "泌尿外科"),
        "N" => ("妇科", "妇科"),
        "O" => ("产科", "产科"),
        "P" => ("新生儿科", "新生儿科"),
        "Q" => ("血液内科", "普通外科"),
        "R" => ("肿瘤科", "肿瘤外科"),
        "S" => ("感染科", "普通外科"),
        "T" => ("精神科", "精神科"),
        "U" => ("精神科", "精神科"),
        "V" => ("急诊医学科", "创伤外科"),
        "W" => ("烧伤科", "烧伤科"),
        "X" => ("康复医学科", "康复医学科"),
        "Y" => ("感染科", "感染科"),
        "Z" => ("创伤外科", "创伤外科"),
        _ => ("内科", "外科"),
    };
    if surgical {
        sur
    } else {
        med
    }
}

/// A deterministic pseudo-random number in [0, 1) from a string and a seed.
fn unit_hash(s: &str, seed: u64, salt: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal number from a string and a seed (Box–Muller on two hashes).
pub(crate) fn normal_hash(s: &str, seed: u64, salt: u64) -> f64 {
    let u1 = unit_hash(s, seed, salt).max(1e-12);
    let u2 = unit_hash(s, seed, salt ^ 0x5555);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Catalog {
    /// Derive and verify templates for every ADRG of the grouper's scheme.
    /// `dicts`, when given, restricts codes to those valid in the dictionaries.
    pub fn build(
        grouper: &Grouper,
        dicts: Option<&Dictionaries>,
        rules: &CodeRules,
        seed: u64,
    ) -> Catalog {
        let scheme = grouper.scheme();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xca7a_1095);
        let dx_ok = |c: &str| dicts.is_none_or(|d| d.diagnoses.is_valid(c));
        let px_ok = |c: &str| dicts.is_none_or(|d| d.procedures.is_valid(c));
        // Fallback main diagnoses for ADRGs that only test procedures (pre-MDC).
        let mut fallback: Vec<&Box<str>> = scheme
            .mdcs
            .iter()
            .flat_map(|m| m.lists.values().flatten())
            .collect();
        fallback.sort();
        fallback.dedup();
        let fallback: Vec<Box<str>> = fallback.into_iter().cloned().collect();

        let mut adrgs = Vec::new();
        let mut templates = Vec::new();
        let mut unverified = Vec::new();
        for mdc in &scheme.mdcs {
            for adrg in &mdc.adrgs {
                let surgical_hint = adrg.when.to_string().contains("main_proc");
                let info_index = adrgs.len();
                let mut found: Vec<Template> = Vec::new();
                for _attempt in 0..40 {
                    if found.len() >= 4 {
                        break;
                    }
                    let mut req = Req {
                        age: (0, 150),
                        age_days: (0, 365),
                        weight: (100, 10_000),
                        ..Req::default()
                    };
                    collect(&mdc.when, &mdc.lists, scheme, &mut req, &mut rng);
                    collect(&adrg.when, &adrg.lists, scheme, &mut req, &mut rng);
                    let Some(t) = self::candidate(
                        &req, adrg, &fallback, rules, &dx_ok, &px_ok, dicts, &mut rng,
                    ) else {
                        continue;
                    };
                    let Some((t, at)) = verify(grouper, t) else {
                        continue;
                    };
                    if at != adrg.code {
                        // Grouped elsewhere (an earlier ADRG caught it): still a valid template of that ADRG,
                        // but this loop collects templates of `adrg` only.
                        continue;
                    }
                    if found.iter().any(|f| f.dx == t.dx && f.procs == t.procs) {
                        continue;
                    }
                    found.push(Template {
                        adrg: info_index,
                        ..t
                    });
                }
                let name = adrg
                    .drgs
                    .first()
                    .map(|d| scheme.drg_name(d).to_owned())
                    .unwrap_or_default();
                let code = adrg.code.clone();
                let surgical = surgical_hint;
                let kind = if code.starts_with('T') && !surgical || code.starts_with('U') {
                    StayKind::Mental
                } else if code.starts_with("XR") {
                    StayKind::Rehab
                } else if code.starts_with("XT1") {
                    StayKind::Hospice
                } else {
                    StayKind::Acute
                };
                let cancer = found.iter().any(|t| {
                    let m = &*t.dx[0];
                    m.starts_with('C')
                        || m.starts_with("D0")
                        || m.starts_with("Z51.0")
                        || m.starts_with("Z51.1")
                });
                // Cost weight: log-normal around a level set by the kind of care.
                let mut rw =
                    if surgical { 1.6 } else { 0.75 } * (0.45 * normal_hash(&code, seed, 1)).exp();
                if mdc.code == "MDCA" {
                    rw *= 8.0;
                }
                for (word, f) in [
                    ("移植", 2.0),
                    ("大手术", 1.5),
                    ("开颅", 1.6),
                    ("置换", 1.6),
                    ("介入", 1.3),
                    ("呼吸机", 2.0),
                    ("内镜", 0.6),
                    ("小手术", 0.5),
                ] {
                    if name.contains(word) {
                        rw *= f;
                    }
                }
                if cancer {
                    rw *= 1.3;
                }
                let los = match kind {
                    StayKind::Mental => 45.0,
                    StayKind::Rehab => 28.0,
                    StayKind::Hospice => 22.0,
                    StayKind::Acute if mdc.code == "MDCO" => 4.5,
                    StayKind::Acute if mdc.code == "MDCP" => 7.0,
                    StayKind::Acute => {
                        (if surgical { 6.0 } else { 6.5 })
                            * rw.powf(0.35)
                            * (0.15 * normal_hash(&code, seed, 2)).exp()
                    }
                };
                let info = AdrgInfo {
                    splits_mcc: adrg.drgs.iter().any(|d| d.rule == DrgRule::Mcc),
                    splits_cc: adrg.drgs.iter().any(|d| d.rule == DrgRule::MccOrCc),
                    rw,
                    los,
                    surgical,
                    kind,
                    outpatient_type: OUTPATIENT_TYPE.contains(&code.as_str()),
                    cancer,
                    department: department(&mdc.code, surgical),
                    mdc: mdc.code.clone(),
                    name,
                    code,
                };
                if found.is_empty() {
                    unverified.push(info.code.clone());
                }
                // Popularity: medical stays are commoner than operations; the pre-MDC rare.
                let mut pop = (1.0 * normal_hash(&info.code, seed, 3)).exp()
                    * if surgical { 0.6 } else { 1.0 };
                if mdc.code == "MDCA" {
                    pop *= 0.02;
                }
                if mdc.code == "MDCO" {
                    pop *= 2.0;
                }
                if info.outpatient_type {
                    pop *= 1.5;
                }
                let n = found.len() as f64;
                for (i, mut t) in found.into_iter().enumerate() {
                    // Within an ADRG the first template is the commonest.
                    t.popularity = pop / n * (1.0 / (1.0 + i as f64)) * 2.0;
                    templates.push(t);
                }
                adrgs.push(info);
            }
        }
        let secondaries = secondaries(scheme, dicts, rules);
        Catalog {
            adrgs,
            templates,
            secondaries,
            main_dx_exclusion: scheme.main_dx_exclusion.clone(),
            unverified,
        }
    }

    /// Whether `secondary` (with exclusion table `table`) is excluded as CC/MCC for `main`.
    pub fn excluded(&self, main: &str, table: &str) -> bool {
        self.main_dx_exclusion
            .get(main)
            .is_some_and(|t| &**t == table)
    }
}

#[allow(clippy::too_many_arguments)]
fn candidate(
    req: &Req<'_>,
    adrg: &drg::scheme::Adrg,
    fallback: &[Box<str>],
    rules: &CodeRules,
    dx_ok: &dyn Fn(&str) -> bool,
    px_ok: &dyn Fn(&str) -> bool,
    dicts: Option<&Dictionaries>,
    rng: &mut ChaCha8Rng,
) -> Option<Template> {
    let mut sex: Option<Sex> = match req.sex {
        Some(1) => Some(Sex::Male),
        Some(2) => Some(Sex::Female),
        Some(_) => return None,
        None => None,
    };
    let newborn = req.age.1 == 0 || req.age_days_present || req.weight_present;
    let sex_fits = |s: Option<Sex>, want: Option<Sex>| want.is_none() || s.is_none() || s == want;
    let age_fits = |code: &str| {
        let (lo, hi) = rules.dx_ages(code);
        if newborn {
            lo == 0
        } else {
            hi >= 1 && lo <= 100
        }
    };
    // Procedures first: they may fix the sex.
    let mut procs: Vec<Box<str>> = Vec::new();
    let proc_ok = |c: &str, sex: Option<Sex>| px_ok(c) && sex_fits(rules.proc_sex(c), sex);
    if !req.main_proc.is_empty() {
        let p = pick_in_all(&req.main_proc, rng, |c| proc_ok(c, sex))?;
        sex = sex.or(rules.proc_sex(p));
        procs.push(p.into());
    }
    for l in &req.extra_proc {
        if l.iter().any(|c| procs.iter().any(|p| **p == **c)) {
            continue;
        }
        let p = pick_in_all(&[l], rng, |c| proc_ok(c, sex))?;
        sex = sex.or(rules.proc_sex(p));
        procs.push(p.into());
    }
    for tag in &req.proc_tags {
        let tagged: Vec<&str> = adrg
            .proc_tags
            .iter()
            .filter(|(c, t)| t.as_str() == *tag && proc_ok(c, sex))
            .map(|(c, _)| &**c)
            .collect();
        if tagged.is_empty() {
            return None;
        }
        let p = tagged[rng.random_range(0..tagged.len())];
        if !procs.iter().any(|x| &**x == p) {
            sex = sex.or(rules.proc_sex(p));
            procs.push(p.into());
        }
    }
    if req.needs_procs && procs.is_empty() {
        return None;
    }
    // Main diagnosis.
    let main_ok = |c: &str, sex: Option<Sex>| {
        dx_ok(c) && rules.main_ok(c) && sex_fits(rules.dx_sex(c), sex) && age_fits(c)
    };
    let main: Box<str> = if req.main_dx.is_empty() {
        let mut m = None;
        for _ in 0..60 {
            let c = &fallback[rng.random_range(0..fallback.len())];
            if main_ok(c, sex) {
                m = Some(c.clone());
                break;
            }
        }
        m?
    } else if !procs.is_empty() && req.main_dx.iter().all(|l| l.len() > 8) {
        // Surgical: among random candidates, the diagnosis whose name best fits the procedure's.
        let words = bigrams(
            dicts
                .and_then(|d| d.procedures.name(&procs[0]))
                .unwrap_or(""),
        );
        let mut best: Option<(&str, usize)> = None;
        for _ in 0..40 {
            if let Some(c) = pick_in_all(&req.main_dx, rng, |c| main_ok(c, sex)) {
                let score = bigrams(dicts.and_then(|d| d.diagnoses.name(c)).unwrap_or(""))
                    .iter()
                    .filter(|b| words.contains(b))
                    .count();
                if best.is_none_or(|(_, s)| score > s) {
                    best = Some((c, score));
                }
            }
        }
        best?.0.into()
    } else {
        pick_in_all(&req.main_dx, rng, |c| main_ok(c, sex))?.into()
    };
    sex = sex.or(rules.dx_sex(&main));
    let mut dx = vec![main];
    for l in &req.extra_dx {
        if l.iter().any(|c| dx.iter().any(|d| **d == **c)) {
            continue;
        }
        let d = pick_in_all(&[l], rng, |c| {
            dx_ok(c) && !codes::is_asterisk(c) && sex_fits(rules.dx_sex(c), sex) && age_fits(c)
        })?;
        sex = sex.or(rules.dx_sex(d));
        dx.push(d.into());
    }
    if req.trauma > 0 {
        return None; // multiple trauma: left to the scheme's own injuries below
    }
    // Ages.
    let mut lo = 0u32;
    let mut hi = 150u32;
    for d in &dx {
        let (a, b) = rules.dx_ages(d);
        lo = lo.max(a);
        hi = hi.min(b);
    }
    lo = lo.max(req.age.0.clamp(0, 150) as u32);
    hi = hi.min(req.age.1.clamp(0, 150) as u32);
    let demography = if newborn {
        if lo > 0 {
            return None;
        }
        let days = (
            req.age_days.0.max(0) as u32,
            req.age_days.1.clamp(0, 28) as u32,
        );
        let w = (req.weight.0.max(700) as u32, req.weight.1.min(4800) as u32);
        if days.0 > days.1 || w.0 > w.1 {
            return None;
        }
        Demography {
            sex,
            age: (0, 0),
            newborn: Some((days, w)),
        }
    } else {
        // Obstetric codes: women of childbearing age.
        let (lo, hi) = if hi <= 60 && lo >= 10 {
            (18.max(lo), 45.min(hi))
        } else {
            (lo.max(1), hi.min(95))
        };
        if lo > hi {
            return None;
        }
        Demography {
            sex,
            age: (lo, hi),
            newborn: None,
        }
    };
    Some(Template {
        adrg: 0,
        dx,
        procs,
        demography,
        popularity: 0.0,
    })
}

/// Group the template at the corners of its demography; the ADRG code when they all
/// group (into the same ADRG), with the template's sex fixed where the scheme needs one.
fn verify(grouper: &Grouper, t: Template) -> Option<(Template, String)> {
    let dx: Vec<&str> = t.dx.iter().map(|d| &**d).collect();
    let procs: Vec<&str> = t.procs.iter().map(|p| &**p).collect();
    let sexes: &[u8] = match t.demography.sex {
        Some(s) => &[s as u8][..],
        None => &[1, 2],
    };
    let mut corners: Vec<(Option<u32>, Option<u32>, Option<u32>)> = Vec::new();
    match t.demography.newborn {
        Some(((d0, d1), (w0, w1))) => {
            for d in [d0, d1] {
                for w in [w0, w1] {
                    corners.push((Some(0), Some(d), Some(w)));
                }
            }
        }
        None => {
            let (a0, a1) = t.demography.age;
            corners.push((Some(a0), None, None));
            corners.push((Some(a1), None, None));
        }
    }
    let mut adrg: Option<String> = None;
    for &sex in sexes {
        for &(age, age_days, weight_g) in &corners {
            let g = grouper.group(&Case {
                sex: Some(sex),
                age,
                age_days,
                weight_g,
                dx: &dx,
                procs: &procs,
                ..Case::default()
            });
            if g.status != Status::Grouped {
                return None;
            }
            let code = grouper.codes_of(&g).adrg;
            match &adrg {
                None => adrg = Some(code.to_owned()),
                Some(a) if a != code => return None,
                _ => {}
            }
        }
    }
    adrg.map(|a| (t, a))
}

fn secondaries(scheme: &Scheme, dicts: Option<&Dictionaries>, rules: &CodeRules) -> Secondaries {
    let dx_ok = |c: &str| dicts.is_none_or(|d| d.diagnoses.is_valid(c));
    // Injuries and perinatal codes would move cases to other MDCs or need newborns.
    let usable = |c: &str| {
        dx_ok(c)
            && rules.plain_secondary_ok(c)
            && !c.starts_with(['S', 'T'])
            && !c.starts_with("B2")
            && !c.starts_with('Z')
    };
    let sorted = |m: &rustc_hash::FxHashMap<Box<str>, Box<str>>, keep: &dyn Fn(&str) -> bool| {
        let mut v: Vec<(Box<str>, Box<str>)> = m
            .iter()
            .filter(|(c, _)| keep(c))
            .map(|(c, t)| (c.clone(), t.clone()))
            .collect();
        v.sort();
        v
    };
    let mcc = sorted(&scheme.mcc, &usable);
    let cc = sorted(&scheme.cc, &usable);
    let newborn_cc = sorted(&scheme.cc, &|c: &str| {
        dx_ok(c) && c.starts_with('P') && !c.contains('*') && rules.dx_sex(c).is_none()
    });
    let plain = COMMON_COMORBIDITIES
        .iter()
        .filter(|c| dx_ok(c) && !scheme.cc.contains_key(**c) && !scheme.mcc.contains_key(**c))
        .map(|c| Box::<str>::from(*c))
        .collect();
    Secondaries {
        mcc,
        cc,
        plain,
        newborn_cc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_catalog_covers_most_adrgs() {
        let grouper = Grouper::new(crate::demo::scheme().unwrap()).unwrap();
        let d = crate::demo::dictionaries().unwrap();
        let c = Catalog::build(&grouper, Some(&d), &CodeRules::builtin(), 7);
        assert!(c.unverified.len() <= 3, "unverified: {:?}", c.unverified);
        assert!(c.templates.len() >= 60, "{} templates", c.templates.len());
        assert!(
            !c.secondaries.mcc.is_empty()
                && !c.secondaries.cc.is_empty()
                && !c.secondaries.plain.is_empty()
        );
        assert!(c.adrgs.iter().any(|a| a.kind == StayKind::Mental));
        assert!(c.adrgs.iter().any(|a| a.outpatient_type));
        assert!(c.adrgs.iter().any(|a| a.cancer));
    }
}

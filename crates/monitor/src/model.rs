//! The compact case table the monitor works on, and how it is built from
//! settlement lists ([`claims::Claim`]) and their DRG groupings.

use chrono::{Datelike, NaiveDate};
use claims::{Claim, DischargeWay};
use rustc_hash::FxHashMap;

/// Sentinel for "not grouped" in [`Case::drg`].
pub const NO_GROUP: u32 = u32::MAX;

/// Severity of a DRG, read from the last digit of its code (CHS-DRG):
/// 1 with MCC, 3 with CC, 5 without, anything else (9) not split by severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Severity {
    /// Ends in 5: without CC/MCC.
    None,
    /// Ends in 9 (or anything else): not split by severity.
    Unsplit,
    /// Ends in 3: with CC.
    Cc,
    /// Ends in 1: with MCC.
    Mcc,
}

impl Severity {
    pub fn of_code(drg: &str) -> Severity {
        match drg.as_bytes().last() {
            Some(b'1') => Severity::Mcc,
            Some(b'3') => Severity::Cc,
            Some(b'5') => Severity::None,
            _ => Severity::Unsplit,
        }
    }

    /// With CC or MCC (the upper splits).
    pub fn upper(self) -> bool {
        matches!(self, Severity::Cc | Severity::Mcc)
    }
}

/// One DRG seen in the data.
#[derive(Clone, Debug)]
pub struct Group {
    pub code: String,
    pub name: String,
    /// Index into [`Dataset::adrgs`].
    pub adrg: u32,
    pub severity: Severity,
}

/// One designated institution.
#[derive(Clone, Debug, Default)]
pub struct Institution {
    pub id: String,
    pub name: String,
    /// 三级 / 二级 / 一级 / 基层, as given.
    pub level: String,
    /// Paid by DRG or DIP (`None`: not given). Needed for institution and fund coverage.
    pub drg_dip: Option<bool>,
    /// The kind of institution peers are compared within, e.g. `综合`, `中医`, `专科/精神`
    /// (empty: not given). Detectors compare an institution with peers of the same level
    /// *and* kind: a TCM or psychiatric hospital's case mix is not a general hospital's.
    pub kind: String,
}

/// One inpatient case, interned. Dates are days from the common era
/// ([`NaiveDate::num_days_from_ce`]); money is fen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Case {
    /// Index into [`Dataset::institutions`].
    pub inst: u32,
    /// Index into [`Dataset::departments`].
    pub dept: u32,
    /// Index into [`Dataset::patients`].
    pub patient: u32,
    /// Index into [`Dataset::groups`], or [`NO_GROUP`].
    pub drg: u32,
    /// Index into [`Dataset::diagnoses`] (main diagnosis as given, trimmed).
    pub main_dx: u32,
    /// Index into [`Dataset::dx_categories`]: the first three characters of the main diagnosis.
    pub dx_cat: u32,
    pub admitted: i32,
    pub discharged: i32,
    /// Length of stay in days (reported, else from the dates; at least 1).
    pub los: u32,
    pub total: i64,
    /// 个人自付: the patient's share of in-catalogue cost.
    pub self_pay: i64,
    /// 个人自费: out-of-catalogue (out-of-scope) cost.
    pub self_expense: i64,
    /// 统筹基金支付.
    pub fund: i64,
    /// 离院方式 code (1 ordered, 2 transfer, 3 community, 4 against advice, 5 death, 9 other; 0 unknown).
    pub way: u8,
    /// 入院途径 code (1 emergency, 2 outpatient, 3 transfer in, 9 other; 0 unknown).
    pub route: u8,
    /// Number of procedures listed.
    pub procedures: u8,
    /// Number of secondary diagnoses, at [`Case::sec`] in [`Dataset::secondary`].
    pub n_sec: u8,
    /// Share of examinations (诊查费 + 检查费 + 化验费) in the total cost, per mille.
    pub exam_pm: u16,
    /// Share of care (诊查、检查、化验、治疗、卫生材料、西药、中草药、中成药费)
    /// in the total cost, per mille.
    pub care_pm: u16,
    /// Start of this case's secondary diagnoses in [`Dataset::secondary`].
    pub sec: u32,
    /// Passed settlement-list QC (`None`: not given).
    pub qc_pass: Option<bool>,
    /// A special case (特例单议) (`None`: not given).
    pub special: Option<bool>,
}

impl Case {
    pub fn grouped(&self) -> bool {
        self.drg != NO_GROUP
    }
    pub fn died(&self) -> bool {
        self.way == DischargeWay::Death as u8
    }
    pub fn transferred(&self) -> bool {
        self.way == DischargeWay::Transfer as u8
    }
    /// Discharge year.
    pub fn year(&self) -> i32 {
        date(self.discharged).year()
    }
    /// Discharge month, 1–12.
    pub fn month(&self) -> u32 {
        date(self.discharged).month()
    }
}

/// A date from days of the common era.
pub fn date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days).unwrap_or(NaiveDate::MIN)
}

/// The cases of a region and the names behind their indices.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub cases: Vec<Case>,
    /// Case ids, parallel to [`Dataset::cases`].
    pub case_ids: Strings,
    pub institutions: Vec<Institution>,
    pub departments: Vec<String>,
    pub patients: Strings,
    pub groups: Vec<Group>,
    pub adrgs: Vec<String>,
    pub diagnoses: Vec<String>,
    pub dx_categories: Vec<String>,
    /// Secondary diagnoses of all cases (indices into [`Dataset::diagnoses`],
    /// codes as given, trimmed), each case's at `sec..sec + n_sec`.
    pub secondary: Vec<u32>,
    /// Sums of the 14 national cost categories per (institution, discharge year, month), fen.
    pub items: FxHashMap<(u32, i32, u32), [i64; 14]>,
}

impl Dataset {
    /// A case's secondary diagnoses (indices into [`Dataset::diagnoses`]).
    pub fn secondaries(&self, c: &Case) -> &[u32] {
        let s = c.sec as usize;
        self.secondary.get(s..s + c.n_sec as usize).unwrap_or(&[])
    }

    /// Distinct discharge years, ascending.
    pub fn years(&self) -> Vec<i32> {
        let mut y: Vec<i32> = self.cases.iter().map(Case::year).collect();
        y.sort_unstable();
        y.dedup();
        y
    }

    /// Distinct institution levels, in the order 三级, 二级, 一级, 基层, then others by name.
    pub fn levels(&self) -> Vec<String> {
        let mut l: Vec<String> = self.institutions.iter().map(|i| i.level.clone()).collect();
        l.sort_by_key(|s| (level_rank(s), s.clone()));
        l.dedup();
        l
    }

    /// Index of each institution's level in [`Dataset::levels`].
    pub fn level_of_institutions(&self) -> Vec<u32> {
        let levels = self.levels();
        self.institutions
            .iter()
            .map(|i| levels.iter().position(|l| *l == i.level).unwrap_or(0) as u32)
            .collect()
    }

    /// Index of each institution's peer class: (level, kind), numbered in order of
    /// [`Dataset::levels`] then kind. Detectors compare like with like within it.
    pub fn peer_class_of_institutions(&self) -> Vec<u32> {
        let mut classes: Vec<(u8, &str, &str)> = self
            .institutions
            .iter()
            .map(|i| (level_rank(&i.level), i.level.as_str(), i.kind.as_str()))
            .collect();
        classes.sort_unstable();
        classes.dedup();
        self.institutions
            .iter()
            .map(|i| {
                let k = (level_rank(&i.level), i.level.as_str(), i.kind.as_str());
                classes.binary_search(&k).unwrap_or(0) as u32
            })
            .collect()
    }

    /// Whether an ADRG's DRGs split by severity (some DRG seen ends in 1 or 3).
    pub fn adrg_splits(&self) -> Vec<bool> {
        let mut s = vec![false; self.adrgs.len()];
        for g in &self.groups {
            if g.severity.upper() {
                s[g.adrg as usize] = true;
            }
        }
        s
    }
}

/// Sort rank of a level name.
pub fn level_rank(level: &str) -> u8 {
    match level {
        "三级" => 0,
        "二级" => 1,
        "一级" => 2,
        "基层" => 3,
        _ => 4,
    }
}

/// Many short strings in one buffer (case and patient ids of millions of
/// cases: no allocation per string).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Strings {
    text: String,
    /// End of each string in `text`.
    ends: Vec<u32>,
}

impl Strings {
    /// Append a string; returns its index.
    pub fn push(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
        (self.ends.len() - 1) as u32
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..end])
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| &self[i])
    }
}

impl std::ops::Index<usize> for Strings {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        self.get(i).expect("string index in range")
    }
}

impl<S: AsRef<str>> FromIterator<S> for Strings {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Strings {
        let mut out = Strings::default();
        for s in iter {
            out.push(s.as_ref());
        }
        out
    }
}

/// The hash interners key strings by ([`Prepared`] computes it on any thread).
fn hash_str(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// Interns many distinct strings (patient ids) into [`Strings`]: keyed by a
/// 64-bit hash ([`hash_str`]), checked against the stored text; a hash shared
/// by two different strings goes to an overflow map.
#[derive(Default)]
struct BigInterner {
    map: FxHashMap<u64, u32>,
    overflow: FxHashMap<String, u32>,
}

impl BigInterner {
    fn get(&mut self, h: u64, key: &str, names: &mut Strings) -> u32 {
        match self.map.get(&h) {
            None => {
                let i = names.push(key);
                self.map.insert(h, i);
                i
            }
            Some(&i) if &names[i as usize] == key => i,
            Some(_) => {
                if let Some(&i) = self.overflow.get(key) {
                    return i;
                }
                let i = names.push(key);
                self.overflow.insert(key.to_owned(), i);
                i
            }
        }
    }
}

/// Interns strings by their [`hash_str`], checked against the text; indices
/// count the distinct keys of this interner.
#[derive(Default)]
struct Interner {
    map: FxHashMap<u64, u32>,
    keys: Vec<String>,
    overflow: FxHashMap<String, u32>,
}

impl Interner {
    /// The index of `key` (hash `h`), appending it to `names` when new (indices
    /// count the keys of this interner, so `names` must only grow through it).
    fn get(&mut self, h: u64, key: &str, names: &mut Vec<String>) -> u32 {
        let slot = match self.map.get(&h) {
            None => None,
            Some(&i) if self.keys[i as usize] == key => return i,
            Some(_) => match self.overflow.get(key) {
                Some(&i) => return i,
                None => Some(()),
            },
        };
        let i = self.keys.len() as u32;
        self.keys.push(key.to_owned());
        names.push(key.to_owned());
        match slot {
            None => self.map.insert(h, i),
            Some(()) => self.overflow.insert(key.to_owned(), i),
        };
        i
    }

    fn get_str(&mut self, key: &str, names: &mut Vec<String>) -> u32 {
        self.get(hash_str(key), key, names)
    }
}

/// A string in [`Prepared::text`] with its [`hash_str`].
#[derive(Clone, Copy, Debug, Default)]
struct Key {
    start: u32,
    end: u32,
    hash: u64,
}

/// One claim of a [`Prepared`] batch.
#[derive(Clone, Debug)]
struct Row {
    case_id: Key,
    inst: Key,
    dept: Key,
    patient: Key,
    main_dx: Key,
    dx_cat: Key,
    /// DRG code, ADRG code and DRG name; `None`: not grouped.
    drg: Option<[Key; 3]>,
    /// This claim's secondary diagnoses in [`Prepared::secondary`].
    sec: std::ops::Range<u32>,
    /// The case with its indices still to be interned.
    case: Case,
    year: i32,
    month: u32,
    costs: [i64; 14],
}

/// Claims reduced to what the case table keeps, with the hashes of their
/// codes and ids: the per-claim work of [`DatasetBuilder::push`] that needs no
/// shared state, so that it can be done on any thread while
/// [`DatasetBuilder::append`] interns earlier batches in order.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    text: String,
    rows: Vec<Row>,
    secondary: Vec<Key>,
    /// Claims not taken.
    pub skipped: Skipped,
}

impl Prepared {
    pub fn new() -> Prepared {
        Prepared::default()
    }

    /// Claims taken.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
        self.secondary.clear();
        self.skipped = Skipped::default();
    }

    fn key(&mut self, s: &str) -> Key {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        Key { start, end: self.text.len() as u32, hash: hash_str(s) }
    }

    fn str(&self, k: Key) -> &str {
        &self.text[k.start as usize..k.end as usize]
    }

    /// Add one claim, as [`DatasetBuilder::push`] takes it: with its DRG
    /// (`None` when not grouped: codes `0000`), its QC result and whether it
    /// is a special case, when known. False when the claim is not taken.
    pub fn add(&mut self, c: &Claim, drg: Option<(&str, &str, &str)>, qc_pass: Option<bool>, special: Option<bool>) -> bool {
        let Some(dis) = c.discharged_at else {
            self.skipped.no_discharge += 1;
            return false;
        };
        let discharged = dis.date().num_days_from_ce();
        let admitted = c
            .admitted_at
            .map(|a| a.date().num_days_from_ce())
            .unwrap_or(discharged);
        let case_id = self.key(&c.case_id);
        let inst = self.key(&c.institution_id);
        let dept = self.key(&c.department);
        let patient = self.key(&c.patient_id);
        let main = c.main_diagnosis.as_deref().unwrap_or("").trim();
        let main_dx = self.key(main);
        let cat_len = main.char_indices().nth(3).map_or(main.len(), |(i, _)| i);
        let dx_cat = Key { start: main_dx.start, end: main_dx.start + cat_len as u32, hash: hash_str(&main[..cat_len]) };
        let drg = match drg {
            Some((code, adrg, name)) if code != drg::UNGROUPABLE_DRG && !code.is_empty() => {
                Some([self.key(code), self.key(adrg), self.key(name)])
            }
            _ => None,
        };
        let los = c
            .los
            .map(i64::from)
            .or_else(|| c.los_from_dates())
            .unwrap_or(1)
            .clamp(1, u32::MAX as i64) as u32;
        let sec_start = self.secondary.len() as u32;
        for o in c.other_diagnoses.iter().take(255) {
            let k = self.key(o.trim());
            self.secondary.push(k);
        }
        let n_sec = (self.secondary.len() as u32 - sec_start) as u8;
        let total = c.total_cost.map_or(0, |f| f.0);
        let fee = |ix: &[usize]| ix.iter().map(|&i| c.costs[i].map_or(0, |f| f.0)).sum::<i64>();
        let pm = |part: i64| {
            if total > 0 {
                (part.max(0) as f64 * 1000.0 / total as f64).round().min(1000.0) as u16
            } else {
                0
            }
        };
        let case = Case {
            inst: 0,
            dept: 0,
            patient: 0,
            drg: NO_GROUP,
            main_dx: 0,
            dx_cat: 0,
            admitted,
            discharged,
            los,
            total,
            self_pay: c.self_pay.map_or(0, |f| f.0),
            self_expense: c.self_expense.map_or(0, |f| f.0),
            fund: c.fund_paid.map_or(0, |f| f.0),
            way: c.discharge_way.map_or(0, |w| w as u8),
            route: c.admission_route.map_or(0, |r| r as u8),
            procedures: c.procedures.len().min(255) as u8,
            n_sec,
            exam_pm: pm(fee(&[1, 2, 3])),
            care_pm: pm(fee(&[1, 2, 3, 4, 7, 8, 9, 10])),
            sec: 0,
            qc_pass,
            special,
        };
        let mut costs = [0i64; 14];
        for (s, v) in costs.iter_mut().zip(c.costs.iter()) {
            *s = v.map_or(0, |f| f.0);
        }
        self.rows.push(Row {
            case_id,
            inst,
            dept,
            patient,
            main_dx,
            dx_cat,
            drg,
            sec: sec_start..self.secondary.len() as u32,
            case,
            year: dis.date().year(),
            month: dis.date().month(),
            costs,
        });
        true
    }
}

/// What the builder did not take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// No discharge date: cannot be placed in a period.
    pub no_discharge: u64,
}

/// Builds a [`Dataset`] one claim at a time.
#[derive(Default)]
pub struct DatasetBuilder {
    data: Dataset,
    inst: Interner,
    dept: Interner,
    patient: BigInterner,
    group: Interner,
    adrg: Interner,
    dx: Interner,
    dx_cat: Interner,
    pub skipped: Skipped,
    /// Reused by [`DatasetBuilder::push`].
    scratch: Prepared,
}

impl DatasetBuilder {
    /// Start with the institutions table (others met in claims are added with an empty level).
    pub fn new(institutions: impl IntoIterator<Item = Institution>) -> DatasetBuilder {
        let mut b = DatasetBuilder::default();
        for i in institutions {
            let mut names = Vec::new();
            b.inst.get_str(&i.id, &mut names);
            b.data.institutions.push(i);
        }
        b
    }

    /// Add one claim with its DRG (`None` when not grouped: codes `0000`), its
    /// QC result and whether it is a special case, when known.
    pub fn push(
        &mut self,
        c: &Claim,
        drg: Option<(&str, &str, &str)>,
        qc_pass: Option<bool>,
        special: Option<bool>,
    ) -> bool {
        let mut p = std::mem::take(&mut self.scratch);
        p.clear();
        let taken = p.add(c, drg, qc_pass, special);
        self.append(&p);
        self.scratch = p;
        taken
    }

    /// Intern and add a batch of claims prepared by [`Prepared::add`] (possibly
    /// on another thread); the same as [`DatasetBuilder::push`] of each claim.
    pub fn append(&mut self, p: &Prepared) {
        self.skipped.no_discharge += p.skipped.no_discharge;
        let d = &mut self.data;
        d.cases.reserve(p.rows.len());
        for r in &p.rows {
            let n_inst = d.institutions.len();
            let mut names: Vec<String> = Vec::new();
            let inst_id = p.str(r.inst);
            let inst = self.inst.get(r.inst.hash, inst_id, &mut names);
            if inst as usize == n_inst {
                d.institutions.push(Institution { id: inst_id.to_owned(), ..Default::default() });
            }
            let dept = self.dept.get(r.dept.hash, p.str(r.dept), &mut d.departments);
            let patient = self.patient.get(r.patient.hash, p.str(r.patient), &mut d.patients);
            let main_dx = self.dx.get(r.main_dx.hash, p.str(r.main_dx), &mut d.diagnoses);
            let dx_cat = self.dx_cat.get(r.dx_cat.hash, p.str(r.dx_cat), &mut d.dx_categories);
            let drg = match r.drg {
                Some([code, adrg, name]) => {
                    let n = d.groups.len() as u32;
                    let mut tmp = Vec::new();
                    let g = self.group.get(code.hash, p.str(code), &mut tmp);
                    if g == n {
                        let a = self.adrg.get(adrg.hash, p.str(adrg), &mut d.adrgs);
                        let code = p.str(code);
                        d.groups.push(Group {
                            code: code.to_owned(),
                            name: p.str(name).to_owned(),
                            adrg: a,
                            severity: Severity::of_code(code),
                        });
                    }
                    g
                }
                None => NO_GROUP,
            };
            let sec = d.secondary.len() as u32;
            for k in &p.secondary[r.sec.start as usize..r.sec.end as usize] {
                let i = self.dx.get(k.hash, p.str(*k), &mut d.diagnoses);
                d.secondary.push(i);
            }
            let case = Case { inst, dept, patient, drg, main_dx, dx_cat, sec, ..r.case };
            let items = d.items.entry((inst, r.year, r.month)).or_insert([0; 14]);
            for (s, v) in items.iter_mut().zip(r.costs.iter()) {
                *s += v;
            }
            d.cases.push(case);
            d.case_ids.push(p.str(r.case_id));
        }
    }

    /// Add a case that is already interned (tests, other front ends).
    pub fn push_case(&mut self, case_id: &str, case: Case) {
        self.data.cases.push(case);
        self.data.case_ids.push(case_id);
    }

    /// Mutable access to the tables (for front ends that intern themselves).
    pub fn data_mut(&mut self) -> &mut Dataset {
        &mut self.data
    }

    pub fn finish(self) -> Dataset {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_from_code() {
        assert_eq!(Severity::of_code("BR21"), Severity::Mcc);
        assert_eq!(Severity::of_code("BR23"), Severity::Cc);
        assert_eq!(Severity::of_code("BR25"), Severity::None);
        assert_eq!(Severity::of_code("FV29"), Severity::Unsplit);
        assert!(Severity::Cc.upper() && !Severity::Unsplit.upper());
    }

    #[test]
    fn peer_classes_are_level_and_kind() {
        let inst = |id: &str, level: &str, kind: &str| Institution {
            id: id.into(),
            level: level.into(),
            kind: kind.into(),
            ..Default::default()
        };
        let b = DatasetBuilder::new([
            inst("A", "三级", "综合"),
            inst("B", "三级", "中医"),
            inst("C", "三级", "综合"),
            inst("D", "二级", "专科/精神"),
            inst("E", "二级", "综合"),
        ]);
        let d = b.finish();
        let c = d.peer_class_of_institutions();
        assert_eq!(c[0], c[2], "two tertiary general hospitals are peers");
        assert_ne!(c[0], c[1], "a TCM hospital is not a general hospital's peer");
        assert_ne!(c[3], c[4], "a psychiatric hospital is not a general hospital's peer");
        let l = d.level_of_institutions();
        assert_eq!((l[0], l[1]), (l[2], l[2]), "levels ignore kind");
    }

    #[test]
    fn builder_interns_and_sums_items() {
        let mut b = DatasetBuilder::new([Institution {
            id: "H1".into(),
            level: "三级".into(),
            ..Default::default()
        }]);
        let mut c = Claim {
            case_id: "C1".into(),
            institution_id: "H1".into(),
            patient_id: "P1".into(),
            ..Default::default()
        };
        c.main_diagnosis = Some("K35.800".into());
        c.discharged_at = claims::model::parse_datetime("2025-03-04 10:00");
        c.admitted_at = claims::model::parse_datetime("2025-03-01 10:00");
        c.total_cost = Some(claims::Fen(1000));
        c.costs[0] = Some(claims::Fen(600));
        c.costs[1] = Some(claims::Fen(400));
        assert!(b.push(&c, Some(("GB25", "GB2", "x")), None, None));
        c.case_id = "C2".into();
        c.institution_id = "H2".into();
        assert!(b.push(&c, None, Some(true), None));
        let d = b.finish();
        assert_eq!(d.institutions.len(), 2);
        assert_eq!(d.cases[0].los, 3);
        assert_eq!(d.cases[0].drg, 0);
        assert_eq!(d.cases[1].drg, NO_GROUP);
        assert_eq!(d.dx_categories, vec!["K35"]);
        assert_eq!(d.items[&(0, 2025, 3)][0], 600);
        assert_eq!(d.groups[0].severity, Severity::None);
    }
}

//! The QC engine: runs a [`RuleSet`] over records as they stream in.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use claims::import::Record;
use claims::{Claim, DischargeWay, Field, FieldSet, Fen, IssueKind, Sex, COST_CATEGORIES};
use codes::{CodeKind, Dictionaries, MapResult};
use rustc_hash::FxHashMap;

use crate::rules::{CellIssue, Check, CodeList, Cond, DictTarget, Rule, RuleSet, SexName};

/// One problem found on one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Index of the input file in the run (0 for the first).
    pub file: u32,
    pub line: u64,
    pub case_id: String,
    pub institution_id: String,
    /// Index of the rule in the rule set.
    pub rule: u16,
    pub field: Option<Field>,
    pub value: String,
    pub detail: String,
}

impl Finding {
    fn new(file: u32, rec: &Record, rule: u16, field: Option<Field>, value: &str, detail: String) -> Finding {
        Finding {
            file,
            line: rec.line,
            case_id: rec.claim.case_id.clone(),
            institution_id: rec.claim.institution_id.clone(),
            rule,
            field,
            value: value.to_owned(),
            detail,
        }
    }
}

/// What a file's columns mean for the rules: reported once per file.
#[derive(Clone, Debug, Default)]
pub struct FilePlan {
    /// Required fields whose column the file lacks, with the rule that requires them.
    pub missing_columns: Vec<(Field, String)>,
    /// Rules that cannot run on this file (a field they read is absent).
    pub skipped_rules: Vec<String>,
    /// Rules that cannot run because no code dictionary is loaded.
    pub needs_dictionary: Vec<String>,
}

/// Runs rules over a stream of records. Cross-record rules (duplicate case
/// ids, stays after a death) report at [`Checker::finish`].
pub struct Checker<'a> {
    rules: &'a RuleSet,
    dicts: Option<&'a Dictionaries>,
    active: Vec<u16>,
    cell_rules: [Option<u16>; 5],
    non_negative: Option<u16>,
    stay_after_death: Option<u16>,
    duplicate_case_id: Option<u16>,
    file: u32,
    seen_case_ids: FxHashMap<u64, (u32, u64)>,
    deaths: FxHashMap<u64, chrono::NaiveDateTime>,
    stays: Vec<Stay>,
    /// Arena for the case and institution ids of remembered stays.
    case_ids: String,
}

struct Stay {
    patient: u64,
    admitted: chrono::NaiveDateTime,
    file: u32,
    line: u64,
    case_id: (u32, u32),
    institution: (u32, u32),
}

fn key(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl<'a> Checker<'a> {
    pub fn new(rules: &'a RuleSet, dicts: Option<&'a Dictionaries>) -> Checker<'a> {
        Checker {
            rules,
            dicts,
            active: Vec::new(),
            cell_rules: [None; 5],
            non_negative: None,
            stay_after_death: None,
            duplicate_case_id: None,
            file: 0,
            seen_case_ids: FxHashMap::default(),
            deaths: FxHashMap::default(),
            stays: Vec::new(),
            case_ids: String::new(),
        }
    }

    pub fn rules(&self) -> &RuleSet {
        self.rules
    }

    /// Start a file that provides the fields in `present`. Returns what the
    /// file's columns mean for the rules.
    pub fn begin_file(&mut self, file: u32, present: FieldSet) -> FilePlan {
        self.file = file;
        self.active.clear();
        self.cell_rules = [None; 5];
        self.non_negative = None;
        self.stay_after_death = None;
        self.duplicate_case_id = None;
        let mut plan = FilePlan::default();
        for (i, rule) in self.rules.rules.iter().enumerate() {
            let i = i as u16;
            if let Check::Required { .. } = rule.check {
                let f = rule.target.expect("required rules have a target");
                if !present.contains(f) {
                    plan.missing_columns.push((f, rule.id.clone()));
                    continue;
                }
            }
            if !rule.fields.iter().all(|f| present.contains(*f)) {
                plan.skipped_rules.push(rule.id.clone());
                continue;
            }
            if matches!(rule.check, Check::InDictionary { .. } | Check::ClinicalCode { .. }) && self.dicts.is_none() {
                plan.needs_dictionary.push(rule.id.clone());
                continue;
            }
            match rule.check {
                Check::Cell { issue } => self.cell_rules[issue as usize] = Some(i),
                Check::NonNegative => self.non_negative = Some(i),
                Check::StayAfterDeath => self.stay_after_death = Some(i),
                Check::DuplicateCaseId => self.duplicate_case_id = Some(i),
                _ => self.active.push(i),
            }
        }
        plan
    }

    /// Check one record, appending its findings to `out`: the record's own
    /// rules ([`Checker::check_local`]) and then the cross-record ones ([`Checker::observe`]).
    pub fn check(&mut self, rec: &Record, out: &mut Vec<Finding>) {
        self.check_local(rec, out);
        self.observe(rec, out);
    }

    /// The rules that look at one record alone. Takes `&self`: records can be
    /// checked on several threads at once.
    pub fn check_local(&self, rec: &Record, out: &mut Vec<Finding>) {
        let c = &rec.claim;
        let file = self.file;
        let mut emit = |rule, field, value: &str, detail| out.push(Finding::new(file, rec, rule, field, value, detail));
        for issue in &rec.issues {
            let (kind, detail) = match &issue.kind {
                IssueKind::Date => (CellIssue::Date, String::new()),
                IssueKind::Integer => (CellIssue::Integer, String::new()),
                IssueKind::Money(e) => (CellIssue::Money, e.to_string()),
                IssueKind::Value { allowed } => (CellIssue::Value, (*allowed).to_owned()),
                IssueKind::ListLength { procedures, dates } => {
                    (CellIssue::ListLength, format!("{procedures} procedures, {dates} dates"))
                }
            };
            if let Some(r) = self.cell_rules[kind as usize] {
                emit(r, Some(issue.field), &issue.value, detail);
            }
        }
        if let Some(r) = self.non_negative {
            for_each_amount(c, |f, v| {
                if v.0 < 0 {
                    emit(r, Some(f), &v.to_string(), String::new());
                }
            });
        }
        for &r in &self.active {
            run_rule(&self.rules.rules[r as usize], r, c, self.dicts, &mut emit);
        }
    }

    /// The cross-record rules (duplicate case ids, stays after a death): call
    /// for every record in file order after [`Checker::check_local`].
    pub fn observe(&mut self, rec: &Record, out: &mut Vec<Finding>) {
        let c = &rec.claim;
        let file = self.file;
        let mut emit = |rule, field, value: &str, detail| out.push(Finding::new(file, rec, rule, field, value, detail));
        if let Some(r) = self.duplicate_case_id {
            if !c.case_id.is_empty() {
                let k = key(&c.case_id);
                match self.seen_case_ids.get(&k) {
                    Some(&(f, l)) => {
                        let at = if f == self.file { l.to_string() } else { format!("{l} (file {})", f + 1) };
                        emit(r, Some(Field::CaseId), &c.case_id, at);
                    }
                    None => {
                        self.seen_case_ids.insert(k, (self.file, rec.line));
                    }
                }
            }
        }
        if self.stay_after_death.is_some() && !c.patient_id.is_empty() {
            let patient = key(&c.patient_id);
            if let (Some(DischargeWay::Death), Some(d)) = (c.discharge_way, c.discharged_at) {
                let e = self.deaths.entry(patient).or_insert(d);
                *e = (*e).min(d);
            }
            if let Some(a) = c.admitted_at {
                let start = self.case_ids.len() as u32;
                self.case_ids.push_str(&c.case_id);
                let mid = self.case_ids.len() as u32;
                self.case_ids.push_str(&c.institution_id);
                let end = self.case_ids.len() as u32;
                self.stays.push(Stay {
                    patient,
                    admitted: a,
                    file: self.file,
                    line: rec.line,
                    case_id: (start, mid),
                    institution: (mid, end),
                });
            }
        }
    }

    /// Report the cross-record findings (stays after a recorded death).
    pub fn finish(self, out: &mut Vec<Finding>) {
        let Some(rule) = self.stay_after_death else { return };
        for s in &self.stays {
            if let Some(&death) = self.deaths.get(&s.patient) {
                if s.admitted >= death {
                    out.push(Finding {
                        file: s.file,
                        line: s.line,
                        case_id: self.case_ids[s.case_id.0 as usize..s.case_id.1 as usize].to_owned(),
                        institution_id: self.case_ids[s.institution.0 as usize..s.institution.1 as usize].to_owned(),
                        rule,
                        field: Some(Field::AdmittedAt),
                        value: s.admitted.format("%Y-%m-%d %H:%M").to_string(),
                        detail: death.format("%Y-%m-%d %H:%M").to_string(),
                    });
                }
            }
        }
    }
}

fn for_each_amount(c: &Claim, mut f: impl FnMut(Field, Fen)) {
    let singles = [
        (Field::TotalCost, c.total_cost),
        (Field::FundPaid, c.fund_paid),
        (Field::SelfPay, c.self_pay),
        (Field::SelfExpense, c.self_expense),
        (Field::PersonalAccount, c.personal_account),
        (Field::Cash, c.cash),
        (Field::InnovativeDrugCost, c.innovative_drug_cost),
    ];
    for (field, v) in singles.into_iter().chain(COST_CATEGORIES.iter().copied().zip(c.costs)) {
        if let Some(v) = v {
            f(field, v);
        }
    }
}

fn cond_holds(c: &Claim, cond: Cond) -> bool {
    match cond {
        Cond::AgeYearsLt(n) => c.age.is_some_and(|a| a < n),
        Cond::AgeDaysLe(n) => c.age_days.is_some_and(|d| d <= n),
    }
}

fn int_of(c: &Claim, f: Field) -> Option<u32> {
    match f {
        Field::Age => c.age,
        Field::AgeDays => c.age_days,
        Field::BirthWeightG => c.birth_weight_g,
        Field::AdmissionWeightG => c.admission_weight_g,
        Field::Los => c.los,
        Field::VentHours => c.vent_hours,
        Field::ComaMinutes => c.coma_minutes,
        _ => None,
    }
}

fn money_of(c: &Claim, f: Field) -> Option<Fen> {
    match f {
        Field::TotalCost => c.total_cost,
        Field::FundPaid => c.fund_paid,
        Field::SelfPay => c.self_pay,
        Field::SelfExpense => c.self_expense,
        Field::PersonalAccount => c.personal_account,
        Field::Cash => c.cash,
        Field::InnovativeDrugCost => c.innovative_drug_cost,
        other => c.cost(other),
    }
}

/// Two-digit category of a procedure code (`33` of `33.6x00`).
fn proc_category(code: &str) -> Option<u8> {
    let b = code.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_digit() && b[1].is_ascii_digit() && (b.len() == 2 || b[2] == b'.') {
        Some((b[0] - b'0') * 10 + (b[1] - b'0'))
    } else {
        None
    }
}

fn in_ranges(rule: &Rule, code: &str) -> bool {
    let code = codes::parts(code).primary;
    rule.ranges.iter().any(|r| r.contains(code))
}

fn fen_detail(parts: &[(&str, Fen)], total: Fen) -> String {
    let sum: Fen = parts.iter().map(|p| p.1).sum();
    format!("{sum} ≠ {total} (差 {})", sum - total)
}

fn run_rule(
    rule: &Rule,
    r: u16,
    c: &Claim,
    dicts: Option<&Dictionaries>,
    emit: &mut impl FnMut(u16, Option<Field>, &str, String),
) {
    fn norm(s: &str) -> Cow<'_, str> {
        codes::normalize(s)
    }
    match &rule.check {
        Check::Required { .. } => {
            let f = rule.target.expect("target");
            if !c.has(f) {
                emit(r, Some(f), "", String::new());
            }
        }
        Check::RequiredIf { when, .. } => {
            let f = rule.target.expect("target");
            if cond_holds(c, *when) && !c.has(f) {
                emit(r, Some(f), "", String::new());
            }
        }
        Check::PresentOnlyIf { when, .. } => {
            let f = rule.target.expect("target");
            if c.has(f) && c.age.is_some() && !cond_holds(c, *when) {
                emit(r, Some(f), "", String::new());
            }
        }
        Check::ProcedureDatesPresent => {
            for p in c.procedures.iter().filter(|p| p.date.is_none()) {
                emit(r, Some(Field::ProcedureDates), &p.code, String::new());
            }
        }
        Check::Cell { .. } | Check::NonNegative | Check::StayAfterDeath | Check::DuplicateCaseId => {}
        Check::CodeSyntax { of } => match of {
            CodeList::Diagnoses => {
                for (i, d) in c.diagnoses().enumerate() {
                    if !codes::looks_like_diagnosis(&norm(d)) {
                        emit(r, Some(if i == 0 { Field::MainDiagnosis } else { Field::OtherDiagnoses }), d, String::new());
                    }
                }
            }
            CodeList::Procedures => {
                for p in &c.procedures {
                    if !codes::looks_like_procedure(&norm(&p.code)) {
                        emit(r, Some(Field::Procedures), &p.code, String::new());
                    }
                }
            }
        },
        Check::CodeNotNormal => {
            let dx = c.diagnoses().enumerate().map(|(i, d)| (if i == 0 { Field::MainDiagnosis } else { Field::OtherDiagnoses }, d));
            let px = c.procedures.iter().map(|p| (Field::Procedures, p.code.as_str()));
            for (f, code) in dx.chain(px) {
                if let Cow::Owned(n) = norm(code) {
                    if n != code {
                        emit(r, Some(f), code, n);
                    }
                }
            }
        }
        Check::DischargeAfterAdmission => {
            if let (Some(a), Some(d)) = (c.admitted_at, c.discharged_at) {
                if d < a {
                    emit(r, Some(Field::DischargedAt), &d.to_string(), String::new());
                }
            }
        }
        Check::LosMatchesDates { tolerance_days } => {
            if let (Some(los), Some(days)) = (c.los, c.los_from_dates()) {
                if days >= 0 && (i64::from(los) - days).unsigned_abs() > u64::from(*tolerance_days) {
                    emit(r, Some(Field::Los), &los.to_string(), format!("填报 {los} 天，按日期为 {days} 天 (reported {los}, dates give {days})"));
                }
            }
        }
        Check::AgeMatchesBirthDate => {
            if let (Some(b), Some(a), Some(age)) = (c.birth_date, c.admitted_at, c.age) {
                if let Some(years) = a.date().years_since(b) {
                    if years != age {
                        emit(r, Some(Field::Age), &age.to_string(), format!("按出生日期为 {years} 岁 (birth date gives {years})"));
                    }
                }
            }
        }
        Check::AgeDaysOnlyInfant => {
            if let (Some(age), Some(_)) = (c.age, c.age_days) {
                if age >= 1 {
                    emit(r, Some(Field::AgeDays), "", age.to_string());
                }
            }
        }
        Check::IntRange { min, max, .. } => {
            let f = rule.target.expect("target");
            if let Some(v) = int_of(c, f) {
                if v < *min || v > *max {
                    emit(r, Some(f), &v.to_string(), String::new());
                }
            }
        }
        Check::SexSpecificDx { sex, .. } => {
            let allowed = match sex {
                SexName::Female => Sex::Female,
                SexName::Male => Sex::Male,
            };
            if c.sex.is_some_and(|s| s != allowed) {
                for (i, d) in c.diagnoses().enumerate() {
                    if in_ranges(rule, &norm(d)) {
                        emit(r, Some(if i == 0 { Field::MainDiagnosis } else { Field::OtherDiagnoses }), d, String::new());
                    }
                }
            }
        }
        Check::SexSpecificProc { sex, .. } => {
            let allowed = match sex {
                SexName::Female => Sex::Female,
                SexName::Male => Sex::Male,
            };
            if c.sex.is_some_and(|s| s != allowed) {
                for p in &c.procedures {
                    if let Some(cat) = proc_category(&norm(&p.code)) {
                        if rule.proc_ranges.iter().any(|(a, b)| (*a..=*b).contains(&cat)) {
                            emit(r, Some(Field::Procedures), &p.code, String::new());
                        }
                    }
                }
            }
        }
        Check::AgeSpecificDx { min_age, max_age, .. } => {
            if let Some(age) = c.age {
                if age < *min_age || age > *max_age {
                    for (i, d) in c.diagnoses().enumerate() {
                        if in_ranges(rule, &norm(d)) {
                            emit(r, Some(if i == 0 { Field::MainDiagnosis } else { Field::OtherDiagnoses }), d, String::new());
                        }
                    }
                }
            }
        }
        Check::NotMainDx { .. } => {
            if let Some(m) = &c.main_diagnosis {
                if in_ranges(rule, &norm(m)) {
                    emit(r, Some(Field::MainDiagnosis), m, String::new());
                }
            }
        }
        Check::AsteriskMainDx => {
            if let Some(m) = &c.main_diagnosis {
                if codes::is_asterisk(&norm(m)) {
                    emit(r, Some(Field::MainDiagnosis), m, String::new());
                }
            }
        }
        Check::SymptomMainDx { .. } => {
            if let Some(m) = &c.main_diagnosis {
                if in_ranges(rule, &norm(m)) && c.other_diagnoses.iter().any(|d| !in_ranges(rule, &norm(d))) {
                    emit(r, Some(Field::MainDiagnosis), m, String::new());
                }
            }
        }
        Check::DuplicateDiagnosis => {
            let all: Vec<Cow<'_, str>> = c.diagnoses().map(norm).collect();
            for (i, d) in all.iter().enumerate() {
                if all[..i].contains(d) {
                    emit(r, Some(Field::OtherDiagnoses), d, String::new());
                }
            }
        }
        Check::DuplicateProcedure => {
            // The same procedure on the same date (or both undated) twice.
            let all: Vec<Cow<'_, str>> = c.procedures.iter().map(|p| norm(&p.code)).collect();
            for (i, p) in all.iter().enumerate() {
                if (0..i).any(|j| all[j] == *p && c.procedures[j].date == c.procedures[i].date) {
                    emit(r, Some(Field::Procedures), p, String::new());
                }
            }
        }
        Check::ProcedureDateWithinStay => {
            if let (Some(a), Some(d)) = (c.admitted_at, c.discharged_at) {
                for p in &c.procedures {
                    if let Some(pd) = p.date {
                        if pd < a.date() || pd > d.date() {
                            emit(r, Some(Field::ProcedureDates), &p.code, format!("{pd}"));
                        }
                    }
                }
            }
        }
        Check::VentHoursWithinStay => {
            if let (Some(a), Some(d), Some(h)) = (c.admitted_at, c.discharged_at, c.vent_hours) {
                let stay_h = ((d - a).num_minutes().max(0) + 59) / 60;
                if i64::from(h) > stay_h.max(24) {
                    emit(r, Some(Field::VentHours), &h.to_string(), format!("{stay_h} 小时 (hours)"));
                }
            }
        }
        Check::BirthBeforeAdmission => {
            if let (Some(b), Some(a)) = (c.birth_date, c.admitted_at) {
                if b > a.date() {
                    emit(r, Some(Field::BirthDate), &b.to_string(), String::new());
                }
            }
        }
        Check::PresentRequiresDx { .. } => {
            let f = rule.target.expect("target");
            if c.has(f) && !c.diagnoses().any(|d| in_ranges(rule, &norm(d))) {
                emit(r, Some(f), "", String::new());
            }
        }
        Check::InDictionary { of } => {
            let Some(dicts) = dicts else { return };
            let (kind, field) = match of {
                DictTarget::MainDiagnosis | DictTarget::OtherDiagnoses => (CodeKind::Diagnosis, Field::MainDiagnosis),
                DictTarget::Procedures => (CodeKind::Procedure, Field::Procedures),
            };
            let dict = dicts.get(kind);
            let map = dicts.map_for(kind);
            let mut test = |code: &str, f: Field| {
                if !dict.is_valid(code) && map.is_none_or(|m| m.map(code) == MapResult::Unknown) {
                    emit(r, Some(f), code, String::new());
                }
            };
            match of {
                DictTarget::MainDiagnosis => {
                    if let Some(m) = &c.main_diagnosis {
                        test(m, field)
                    }
                }
                DictTarget::OtherDiagnoses => c.other_diagnoses.iter().for_each(|d| test(d, Field::OtherDiagnoses)),
                DictTarget::Procedures => c.procedures.iter().for_each(|p| test(&p.code, field)),
            }
        }
        Check::ClinicalCode { of } => {
            let Some(dicts) = dicts else { return };
            let kind = match of {
                CodeList::Diagnoses => CodeKind::Diagnosis,
                CodeList::Procedures => CodeKind::Procedure,
            };
            let (dict, Some(map)) = (dicts.get(kind), dicts.map_for(kind)) else { return };
            let mut test = |code: &str, f: Field| {
                if dict.is_valid(code) {
                    return;
                }
                match map.map(code) {
                    MapResult::Mapped(to) => emit(r, Some(f), code, to.to_owned()),
                    MapResult::NoMapping => emit(r, Some(f), code, "无对应医保版编码 (no insurance-edition code)".into()),
                    MapResult::Unknown => {}
                }
            };
            match of {
                CodeList::Diagnoses => {
                    for (i, d) in c.diagnoses().enumerate() {
                        test(d, if i == 0 { Field::MainDiagnosis } else { Field::OtherDiagnoses });
                    }
                }
                CodeList::Procedures => c.procedures.iter().for_each(|p| test(&p.code, Field::Procedures)),
            }
        }
        Check::CostsSumToTotal => {
            if let Some(total) = c.total_cost {
                let parts: Vec<(&str, Fen)> =
                    COST_CATEGORIES.iter().zip(c.costs).map(|(f, v)| (f.name(), v.unwrap_or(Fen::ZERO))).collect();
                if parts.iter().map(|p| p.1).sum::<Fen>() != total {
                    emit(r, Some(Field::TotalCost), &total.to_string(), fen_detail(&parts, total));
                }
            }
        }
        Check::PaymentsSumToTotal => {
            if let (Some(total), Some(fund)) = (c.total_cost, c.fund_paid) {
                let parts = [
                    ("fund", fund),
                    ("self_pay", c.self_pay.unwrap_or_default()),
                    ("self_expense", c.self_expense.unwrap_or_default()),
                ];
                if parts.iter().map(|p| p.1).sum::<Fen>() != total {
                    emit(r, Some(Field::FundPaid), &fund.to_string(), fen_detail(&parts, total));
                }
            }
        }
        Check::SourcesSumToShare => {
            if c.personal_account.is_some() || c.cash.is_some() {
                let share = c.self_pay.unwrap_or_default() + c.self_expense.unwrap_or_default();
                let parts = [("account", c.personal_account.unwrap_or_default()), ("cash", c.cash.unwrap_or_default())];
                if parts.iter().map(|p| p.1).sum::<Fen>() != share {
                    emit(r, Some(Field::Cash), &c.cash.unwrap_or_default().to_string(), fen_detail(&parts, share));
                }
            }
        }
        Check::TotalPositive => {
            if c.total_cost.is_some_and(|t| t.0 == 0) {
                emit(r, Some(Field::TotalCost), "0.00", String::new());
            }
        }
        Check::NotAboveTotal { .. } => {
            let f = rule.target.expect("target");
            if let (Some(total), Some(v)) = (c.total_cost, money_of(c, f)) {
                if v > total {
                    emit(r, Some(f), &v.to_string(), format!("{v} > {total}"));
                }
            }
        }
        Check::SurgeryFeeNeedsProcedure => {
            if c.cost(Field::SurgeryFee).is_some_and(|f| f.0 > 0) && c.procedures.is_empty() {
                emit(r, Some(Field::SurgeryFee), "", String::new());
            }
        }
    }
}

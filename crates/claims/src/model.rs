//! The settlement-list record (医保结算清单, inpatient part) and how one is
//! built from text cells.

use chrono::{NaiveDate, NaiveDateTime};

use crate::field::{Field, COST_CATEGORIES};
use crate::money::{Fen, MoneyError};

/// 性别.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Sex {
    Male = 1,
    Female = 2,
}

/// 险种类型: employees' (职工, code 310) or residents' (居民, code 390) basic medical insurance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum InsuranceType {
    Employee,
    Resident,
    /// Another national insurance-type code, kept as given.
    Other(String),
}

/// 离院方式.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DischargeWay {
    /// 1 医嘱离院
    Ordered = 1,
    /// 2 医嘱转院
    Transfer = 2,
    /// 3 医嘱转社区卫生服务机构/乡镇卫生院
    TransferCommunity = 3,
    /// 4 非医嘱离院
    AgainstAdvice = 4,
    /// 5 死亡
    Death = 5,
    /// 9 其他
    Other = 9,
}

/// 入院途径.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AdmissionRoute {
    /// 1 急诊
    Emergency = 1,
    /// 2 门诊
    Outpatient = 2,
    /// 3 其他医疗机构转入
    Transfer = 3,
    /// 9 其他
    Other = 9,
}

/// One procedure (手术及操作) as listed; the first of a record is the main procedure.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Procedure {
    /// The code as given (trimmed); normalisation is the code dictionary's job.
    pub code: String,
    pub date: Option<NaiveDate>,
}

/// One inpatient settlement list. Codes are kept exactly as submitted
/// (trimmed): nothing a hospital sent is lost; checks and grouping normalise.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    pub case_id: String,
    pub institution_id: String,
    pub region_id: String,
    pub insurance_type: Option<InsuranceType>,
    pub patient_id: String,
    pub sex: Option<Sex>,
    pub birth_date: Option<NaiveDate>,
    /// Age in whole years.
    pub age: Option<u32>,
    /// Age in days, for patients under one year.
    pub age_days: Option<u32>,
    pub birth_weight_g: Option<u32>,
    pub admission_weight_g: Option<u32>,
    pub admitted_at: Option<NaiveDateTime>,
    pub discharged_at: Option<NaiveDateTime>,
    /// Length of stay as reported (实际住院天数).
    pub los: Option<u32>,
    pub admission_route: Option<AdmissionRoute>,
    pub discharge_way: Option<DischargeWay>,
    pub department: String,
    pub main_diagnosis: Option<String>,
    /// Other diagnoses, in the order given.
    pub other_diagnoses: Vec<String>,
    /// Procedures, in the order given; the first is the main procedure.
    pub procedures: Vec<Procedure>,
    pub vent_hours: Option<u32>,
    /// Hours in intensive care (重症监护合计时长), whole hours.
    pub icu_hours: Option<u32>,
    pub coma_minutes: Option<u32>,
    pub total_cost: Option<Fen>,
    /// The 14 national cost categories in the order of [`COST_CATEGORIES`].
    pub costs: [Option<Fen>; 14],
    pub fund_paid: Option<Fen>,
    pub self_pay: Option<Fen>,
    pub self_expense: Option<Fen>,
    pub personal_account: Option<Fen>,
    pub cash: Option<Fen>,
    pub offsite: Option<bool>,
    pub innovative_drug_cost: Option<Fen>,
}

impl Claim {
    /// Length of stay derived from the dates (calendar days; a same-day stay counts 1,
    /// as the national filling rules do).
    pub fn los_from_dates(&self) -> Option<i64> {
        let (a, d) = (self.admitted_at?, self.discharged_at?);
        let days = (d.date() - a.date()).num_days();
        Some(if days == 0 { 1 } else { days })
    }

    /// All diagnoses, main first.
    pub fn diagnoses(&self) -> impl Iterator<Item = &str> {
        self.main_diagnosis.iter().map(String::as_str).chain(self.other_diagnoses.iter().map(String::as_str))
    }

    pub fn cost(&self, category: Field) -> Option<Fen> {
        COST_CATEGORIES.iter().position(|c| *c == category).and_then(|i| self.costs[i])
    }

    /// Whether a field holds a value (for completeness checks).
    pub fn has(&self, f: Field) -> bool {
        use Field::*;
        match f {
            CaseId => !self.case_id.is_empty(),
            InstitutionId => !self.institution_id.is_empty(),
            RegionId => !self.region_id.is_empty(),
            InsuranceType => self.insurance_type.is_some(),
            PatientId => !self.patient_id.is_empty(),
            Sex => self.sex.is_some(),
            BirthDate => self.birth_date.is_some(),
            Age => self.age.is_some(),
            AgeDays => self.age_days.is_some(),
            BirthWeightG => self.birth_weight_g.is_some(),
            AdmissionWeightG => self.admission_weight_g.is_some(),
            AdmittedAt => self.admitted_at.is_some(),
            DischargedAt => self.discharged_at.is_some(),
            Los => self.los.is_some(),
            AdmissionRoute => self.admission_route.is_some(),
            DischargeWay => self.discharge_way.is_some(),
            Department => !self.department.is_empty(),
            MainDiagnosis | Diagnoses => self.main_diagnosis.is_some(),
            OtherDiagnoses => !self.other_diagnoses.is_empty(),
            Procedures => !self.procedures.is_empty(),
            ProcedureDates => self.procedures.iter().any(|p| p.date.is_some()),
            VentHours => self.vent_hours.is_some(),
            IcuHours => self.icu_hours.is_some(),
            ComaMinutes => self.coma_minutes.is_some(),
            TotalCost => self.total_cost.is_some(),
            FundPaid => self.fund_paid.is_some(),
            SelfPay => self.self_pay.is_some(),
            SelfExpense => self.self_expense.is_some(),
            PersonalAccount => self.personal_account.is_some(),
            Cash => self.cash.is_some(),
            Offsite => self.offsite.is_some(),
            InnovativeDrugCost => self.innovative_drug_cost.is_some(),
            c => self.cost(c).is_some(),
        }
    }
}

/// What was wrong with one cell. The record is still built; the field is left empty.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldIssue {
    pub field: Field,
    /// The offending text, cut to 64 characters.
    pub value: String,
    pub kind: IssueKind,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum IssueKind {
    /// Not a date / date-time in a recognised layout.
    Date,
    /// Not a non-negative whole number in range.
    Integer,
    /// Not an amount in yuan with at most two decimals.
    Money(#[serde(skip)] MoneyError),
    /// Not one of the codes the national standard allows for this field.
    Value { allowed: &'static str },
    /// Procedure dates do not line up with procedures.
    ListLength { procedures: usize, dates: usize },
}

impl serde::Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Split a list cell: items separated by `|`, `,`, `;` or their full-width forms.
pub fn split_list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(['|', ',', ';', '，', '；', '｜']).map(str::trim).filter(|s| !s.is_empty())
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Builds a [`Claim`] from (field, cell) pairs, collecting cell-level issues.
#[derive(Default)]
pub struct ClaimBuilder {
    claim: Claim,
    issues: Vec<FieldIssue>,
    proc_dates: Vec<Option<NaiveDate>>,
    proc_dates_given: bool,
}

impl ClaimBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn issue(&mut self, field: Field, value: &str, kind: IssueKind) {
        self.issues.push(FieldIssue { field, value: clip(value), kind });
    }

    fn int(&mut self, f: Field, v: &str) -> Option<u32> {
        let t = v.trim();
        // Accept "12" and "12.0" (spreadsheets write whole numbers as floats).
        let t = t.strip_suffix(".0").unwrap_or(t);
        match t.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.issue(f, v, IssueKind::Integer);
                None
            }
        }
    }

    fn money(&mut self, f: Field, v: &str) -> Option<Fen> {
        match Fen::parse_yuan(v) {
            Ok(x) => Some(x),
            Err(e) => {
                self.issue(f, v, IssueKind::Money(e));
                None
            }
        }
    }

    /// Set one field from its cell text. Empty cells leave the field empty.
    pub fn set(&mut self, f: Field, raw: &str) {
        let v = raw.trim();
        if v.is_empty() {
            return;
        }
        use Field::*;
        let c = &mut self.claim;
        match f {
            CaseId => c.case_id = v.to_owned(),
            InstitutionId => c.institution_id = v.to_owned(),
            RegionId => c.region_id = v.to_owned(),
            PatientId => c.patient_id = v.to_owned(),
            Department => c.department = v.to_owned(),
            InsuranceType => {
                c.insurance_type = Some(match v {
                    "职工" | "310" | "职工基本医疗保险" | "employee" | "Employee" => self::InsuranceType::Employee,
                    "居民" | "390" | "城乡居民基本医疗保险" | "resident" | "Resident" => self::InsuranceType::Resident,
                    other => self::InsuranceType::Other(other.to_owned()),
                })
            }
            Sex => match v {
                "1" | "男" | "M" | "m" => c.sex = Some(self::Sex::Male),
                "2" | "女" | "F" | "f" => c.sex = Some(self::Sex::Female),
                _ => self.issue(f, v, IssueKind::Value { allowed: "1 男, 2 女" }),
            },
            BirthDate => match parse_date(v) {
                Some(d) => c.birth_date = Some(d),
                None => self.issue(f, v, IssueKind::Date),
            },
            AdmittedAt | DischargedAt => match parse_datetime(v) {
                Some(t) if f == AdmittedAt => c.admitted_at = Some(t),
                Some(t) => c.discharged_at = Some(t),
                None => self.issue(f, v, IssueKind::Date),
            },
            Age => self.claim.age = self.int(f, v),
            AgeDays => self.claim.age_days = self.int(f, v),
            BirthWeightG => self.claim.birth_weight_g = self.int(f, v),
            AdmissionWeightG => self.claim.admission_weight_g = self.int(f, v),
            Los => self.claim.los = self.int(f, v),
            VentHours => self.claim.vent_hours = self.int(f, v),
            IcuHours => self.claim.icu_hours = self.int(f, v),
            ComaMinutes => self.claim.coma_minutes = self.int(f, v),
            AdmissionRoute => match v {
                "1" => c.admission_route = Some(self::AdmissionRoute::Emergency),
                "2" => c.admission_route = Some(self::AdmissionRoute::Outpatient),
                "3" => c.admission_route = Some(self::AdmissionRoute::Transfer),
                "9" => c.admission_route = Some(self::AdmissionRoute::Other),
                _ => self.issue(f, v, IssueKind::Value { allowed: "1 急诊, 2 门诊, 3 其他医疗机构转入, 9 其他" }),
            },
            DischargeWay => {
                let w = match v {
                    "1" => Some(self::DischargeWay::Ordered),
                    "2" => Some(self::DischargeWay::Transfer),
                    "3" => Some(self::DischargeWay::TransferCommunity),
                    "4" => Some(self::DischargeWay::AgainstAdvice),
                    "5" => Some(self::DischargeWay::Death),
                    "9" => Some(self::DischargeWay::Other),
                    _ => None,
                };
                match w {
                    Some(w) => c.discharge_way = Some(w),
                    None => self.issue(
                        f,
                        v,
                        IssueKind::Value { allowed: "1 医嘱离院, 2 医嘱转院, 3 医嘱转社区/乡镇卫生院, 4 非医嘱离院, 5 死亡, 9 其他" },
                    ),
                }
            }
            MainDiagnosis => c.main_diagnosis = Some(v.to_owned()),
            OtherDiagnoses => c.other_diagnoses = split_list(v).map(str::to_owned).collect(),
            Diagnoses => {
                let mut it = split_list(v);
                c.main_diagnosis = it.next().map(str::to_owned);
                c.other_diagnoses = it.map(str::to_owned).collect();
            }
            Procedures => {
                c.procedures = split_list(v).map(|code| Procedure { code: code.to_owned(), date: None }).collect()
            }
            ProcedureDates => {
                self.proc_dates_given = true;
                let items: Vec<&str> = split_list(v).collect();
                for item in items {
                    let d = parse_date(item.get(..10).unwrap_or(item));
                    if d.is_none() {
                        self.issue(f, item, IssueKind::Date);
                    }
                    self.proc_dates.push(d);
                }
            }
            TotalCost => self.claim.total_cost = self.money(f, v),
            FundPaid => self.claim.fund_paid = self.money(f, v),
            SelfPay => self.claim.self_pay = self.money(f, v),
            SelfExpense => self.claim.self_expense = self.money(f, v),
            PersonalAccount => self.claim.personal_account = self.money(f, v),
            Cash => self.claim.cash = self.money(f, v),
            InnovativeDrugCost => self.claim.innovative_drug_cost = self.money(f, v),
            Offsite => match v {
                "1" | "是" | "Y" | "y" | "true" | "TRUE" | "True" => c.offsite = Some(true),
                "0" | "否" | "N" | "n" | "false" | "FALSE" | "False" => c.offsite = Some(false),
                _ => self.issue(f, v, IssueKind::Value { allowed: "1 是, 0 否" }),
            },
            cat => {
                if let Some(i) = COST_CATEGORIES.iter().position(|x| *x == cat) {
                    self.claim.costs[i] = self.money(f, v);
                }
            }
        }
    }

    /// Finish the record.
    pub fn finish(mut self) -> (Claim, Vec<FieldIssue>) {
        if self.proc_dates_given {
            let (np, nd) = (self.claim.procedures.len(), self.proc_dates.len());
            if np != nd {
                self.issues.push(FieldIssue {
                    field: Field::ProcedureDates,
                    value: String::new(),
                    kind: IssueKind::ListLength { procedures: np, dates: nd },
                });
            }
            for (p, d) in self.claim.procedures.iter_mut().zip(self.proc_dates) {
                p.date = d;
            }
        }
        (self.claim, self.issues)
    }
}

/// A short run of ASCII digits (at most 9, so it always fits) as a number.
fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0')))
}

/// Parse a date: `2025-01-31`, `2025/1/31`, `2025.01.31` or `20250131`.
/// A time part after it is ignored.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let date_part = s.split([' ', 'T']).next()?;
    let b = date_part.as_bytes();
    let (y, m, d) = if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        (num(&b[..4])?, num(&b[4..6])?, num(&b[6..])?)
    } else {
        let mut parts = date_part.split(['-', '/', '.']);
        let y = num(parts.next()?.as_bytes())?;
        let m = num(parts.next()?.as_bytes())?;
        let d = num(parts.next()?.as_bytes())?;
        if parts.next().is_some() {
            return None;
        }
        (y, m, d)
    };
    if !(1900..=2200).contains(&y) {
        return None;
    }
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

/// Parse a date-time: a date as [`parse_date`] optionally followed by
/// ` HH:MM[:SS]` (or `T`); a bare date means midnight.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let date = parse_date(s)?;
    let rest = s.find([' ', 'T']).map(|i| s[i + 1..].trim()).unwrap_or("");
    if rest.is_empty() {
        return date.and_hms_opt(0, 0, 0);
    }
    let mut parts = rest.split(':');
    let h = num(parts.next()?.as_bytes())?;
    let mi = num(parts.next()?.as_bytes())?;
    let sec = match parts.next() {
        Some(p) => num(p.split('.').next()?.as_bytes())?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    date.and_hms_opt(h, mi, sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd);
        let table = [
            ("2025-01-31", d(2025, 1, 31)),
            ("2025/1/3", d(2025, 1, 3)),
            ("2025.01.03", d(2025, 1, 3)),
            ("20250103", d(2025, 1, 3)),
            ("2025-01-03 08:30:00", d(2025, 1, 3)),
            ("2025-02-30", None),
            ("2025-13-01", None),
            ("1800-01-01", None),
            ("yesterday", None),
            ("2025-01", None),
            // Found by fuzzing: long digit runs used to overflow.
            ("2025-01-99999999999", None),
            ("99999999999-01-01", None),
            ("", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_date(s), want, "{s}");
        }
    }

    #[test]
    fn datetimes() {
        let t = |s: &str| parse_datetime(s).map(|x| x.format("%Y-%m-%d %H:%M:%S").to_string());
        assert_eq!(t("2025-01-03 08:30").as_deref(), Some("2025-01-03 08:30:00"));
        assert_eq!(t("2025-01-03T08:30:15").as_deref(), Some("2025-01-03 08:30:15"));
        assert_eq!(t("2025-01-03").as_deref(), Some("2025-01-03 00:00:00"));
        assert_eq!(t("2025-01-03 25:00"), None);
        assert_eq!(t("2025-01-03 8"), None);
    }

    #[test]
    fn builder_collects_issues_and_keeps_going() {
        let mut b = ClaimBuilder::new();
        b.set(Field::CaseId, " C1 ");
        b.set(Field::Sex, "3");
        b.set(Field::Age, "abc");
        b.set(Field::TotalCost, "100.005");
        b.set(Field::Diagnoses, "K35.800|K65.000,  ;I10.x00");
        b.set(Field::Procedures, "47.0100|54.1100");
        b.set(Field::ProcedureDates, "2025-01-02");
        let (c, issues) = b.finish();
        assert_eq!(c.case_id, "C1");
        assert_eq!(c.main_diagnosis.as_deref(), Some("K35.800"));
        assert_eq!(c.other_diagnoses, vec!["K65.000", "I10.x00"]);
        assert_eq!(c.procedures[0].date, NaiveDate::from_ymd_opt(2025, 1, 2));
        let kinds: Vec<(Field, &IssueKind)> = issues.iter().map(|i| (i.field, &i.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (Field::Sex, &IssueKind::Value { allowed: "1 男, 2 女" }),
                (Field::Age, &IssueKind::Integer),
                (Field::TotalCost, &IssueKind::Money(MoneyError::SubFen)),
                (Field::ProcedureDates, &IssueKind::ListLength { procedures: 2, dates: 1 }),
            ]
        );
    }

    #[test]
    fn los_same_day_is_one() {
        let mut c = Claim {
            admitted_at: parse_datetime("2025-01-03 08:00"),
            discharged_at: parse_datetime("2025-01-03 18:00"),
            ..Claim::default()
        };
        assert_eq!(c.los_from_dates(), Some(1));
        c.discharged_at = parse_datetime("2025-01-10 07:00");
        assert_eq!(c.los_from_dates(), Some(7));
    }
}

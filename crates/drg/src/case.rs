//! Cases, input limits and grouping status.

use crate::grouper::CodeId;
use crate::scheme::Field;

/// A case as code strings (a borrowed view; nothing is copied).
///
/// Codes are trimmed; empty codes are ignored. The first diagnosis is the main diagnosis,
/// the first procedure the main procedure.
#[derive(Debug, Clone, Copy, Default)]
pub struct Case<'a> {
    /// 1 male, 2 female.
    pub sex: Option<u8>,
    /// Age in years.
    pub age: Option<u32>,
    /// Age in days (infants).
    pub age_days: Option<u32>,
    /// Newborn birth weight in grams.
    pub weight_g: Option<u32>,
    /// Diagnoses, main first.
    pub dx: &'a [&'a str],
    /// Procedures, main first.
    pub procs: &'a [&'a str],
    /// Length of stay in days (实际住院天数).
    pub los: Option<u32>,
    /// Discharge way (离院方式) code as text: `1`–`5`, `9`.
    pub discharge_way: Option<&'a str>,
    /// Discharge department (出院科别) code as text.
    pub dept: Option<&'a str>,
    /// Hours in intensive care (重症监护合计时长).
    pub icu_hours: Option<f64>,
}

/// A case whose codes are already interned with [`crate::Grouper::code_id`]
/// (unknown codes as [`crate::UNKNOWN_CODE`]; no empty codes).
#[derive(Debug, Clone, Copy, Default)]
pub struct CaseIds<'a> {
    /// 1 male, 2 female.
    pub sex: Option<u8>,
    /// Age in years.
    pub age: Option<u32>,
    /// Age in days (infants).
    pub age_days: Option<u32>,
    /// Newborn birth weight in grams.
    pub weight_g: Option<u32>,
    /// Diagnosis ids, main first.
    pub dx: &'a [CodeId],
    /// Procedure ids, main first.
    pub procs: &'a [CodeId],
    /// Length of stay in days.
    pub los: Option<u32>,
    /// Discharge way code as text.
    pub discharge_way: Option<&'a str>,
    /// Discharge department code as text.
    pub dept: Option<&'a str>,
    /// Hours in intensive care.
    pub icu_hours: Option<f64>,
}

impl<'a> Case<'a> {
    /// The same case with interned codes.
    pub fn with_ids<'b>(&self, dx: &'b [CodeId], procs: &'b [CodeId]) -> CaseIds<'b>
    where
        'a: 'b,
    {
        CaseIds {
            sex: self.sex,
            age: self.age,
            age_days: self.age_days,
            weight_g: self.weight_g,
            dx,
            procs,
            los: self.los,
            discharge_way: self.discharge_way,
            dept: self.dept,
            icu_hours: self.icu_hours,
        }
    }
}

impl CaseIds<'_> {
    /// The value of a number field (`None` when absent or not a number field).
    #[inline]
    pub fn number(&self, f: Field) -> Option<f64> {
        number(f, self.sex, self.age, self.age_days, self.weight_g, self.los, self.icu_hours)
    }

    /// The value of a text field (`None` when absent or empty).
    #[inline]
    pub fn text(&self, f: Field) -> Option<&str> {
        text(f, self.discharge_way, self.dept)
    }
}

impl Case<'_> {
    /// The value of a number field (`None` when absent or not a number field).
    #[inline]
    pub fn number(&self, f: Field) -> Option<f64> {
        number(f, self.sex, self.age, self.age_days, self.weight_g, self.los, self.icu_hours)
    }

    /// The value of a text field (`None` when absent or empty).
    #[inline]
    pub fn text(&self, f: Field) -> Option<&str> {
        text(f, self.discharge_way, self.dept)
    }
}

#[inline]
fn number(
    f: Field,
    sex: Option<u8>,
    age: Option<u32>,
    age_days: Option<u32>,
    weight_g: Option<u32>,
    los: Option<u32>,
    icu_hours: Option<f64>,
) -> Option<f64> {
    match f {
        Field::Sex => sex.map(f64::from),
        Field::Age => age.map(f64::from),
        Field::AgeDays => age_days.map(f64::from),
        Field::WeightG => weight_g.map(f64::from),
        Field::Los => los.map(f64::from),
        // A value that is not a number (NaN) is treated as absent.
        Field::IcuHours => icu_hours.filter(|h| !h.is_nan()),
        _ => None,
    }
}

#[inline]
fn text<'t>(f: Field, discharge_way: Option<&'t str>, dept: Option<&'t str>) -> Option<&'t str> {
    let v = match f {
        Field::DischargeWay => discharge_way,
        Field::Dept => dept,
        _ => None,
    };
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// Plausibility limits: a case outside them is not grouped (DRG `0000`) with a [`Reason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted age in years.
    pub max_age: u32,
    /// Largest accepted age in days.
    pub max_age_days: u32,
    /// Largest accepted birth weight in grams.
    pub max_weight_g: u32,
    /// Largest accepted number of diagnoses.
    pub max_dx: usize,
    /// Largest accepted number of procedures.
    pub max_procs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_age: 150,
            max_age_days: 366,
            max_weight_g: 10_000,
            max_dx: 100,
            max_procs: 100,
        }
    }
}

/// Why a case could not be grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The case has no diagnosis.
    NoDiagnosis,
    /// Age above [`Limits::max_age`].
    AgeOutOfRange,
    /// Age in days above [`Limits::max_age_days`].
    AgeDaysOutOfRange,
    /// Birth weight zero or above [`Limits::max_weight_g`].
    WeightOutOfRange,
    /// More diagnoses than [`Limits::max_dx`].
    TooManyDiagnoses,
    /// More procedures than [`Limits::max_procs`].
    TooManyProcedures,
    /// No MDC matched and the main diagnosis is not known to the scheme.
    UnknownMainDiagnosis,
    /// No MDC matched.
    NoMdc,
    /// Some MDC matched, but none of their ADRGs (an ADRG whose DRGs all fail falls
    /// through only with `no_drg_falls_through`; otherwise it yields its own code, E0).
    NoAdrg,
}

impl Reason {
    /// All reasons.
    pub const ALL: [Reason; 9] = [
        Reason::NoDiagnosis,
        Reason::AgeOutOfRange,
        Reason::AgeDaysOutOfRange,
        Reason::WeightOutOfRange,
        Reason::TooManyDiagnoses,
        Reason::TooManyProcedures,
        Reason::UnknownMainDiagnosis,
        Reason::NoMdc,
        Reason::NoAdrg,
    ];

    /// A short machine-readable name.
    pub fn code(self) -> &'static str {
        match self {
            Reason::NoDiagnosis => "no_diagnosis",
            Reason::AgeOutOfRange => "age_out_of_range",
            Reason::AgeDaysOutOfRange => "age_days_out_of_range",
            Reason::WeightOutOfRange => "weight_out_of_range",
            Reason::TooManyDiagnoses => "too_many_diagnoses",
            Reason::TooManyProcedures => "too_many_procedures",
            Reason::UnknownMainDiagnosis => "unknown_main_diagnosis",
            Reason::NoMdc => "no_mdc",
            Reason::NoAdrg => "no_adrg",
        }
    }

    /// English description.
    pub fn en(self) -> &'static str {
        match self {
            Reason::NoDiagnosis => "the case has no diagnosis",
            Reason::AgeOutOfRange => "age in years is out of range",
            Reason::AgeDaysOutOfRange => "age in days is out of range",
            Reason::WeightOutOfRange => "birth weight is out of range",
            Reason::TooManyDiagnoses => "too many diagnoses",
            Reason::TooManyProcedures => "too many procedures",
            Reason::UnknownMainDiagnosis => "the main diagnosis is not known to the scheme",
            Reason::NoMdc => "no MDC matched",
            Reason::NoAdrg => "an MDC matched but none of its ADRGs",
        }
    }

    /// Chinese description.
    pub fn zh(self) -> &'static str {
        match self {
            Reason::NoDiagnosis => "病例无诊断",
            Reason::AgeOutOfRange => "年龄(岁)超出合理范围",
            Reason::AgeDaysOutOfRange => "年龄(天)超出合理范围",
            Reason::WeightOutOfRange => "新生儿出生体重超出合理范围",
            Reason::TooManyDiagnoses => "诊断数量过多",
            Reason::TooManyProcedures => "手术操作数量过多",
            Reason::UnknownMainDiagnosis => "主要诊断不在分组方案中",
            Reason::NoMdc => "未进入任何MDC",
            Reason::NoAdrg => "进入MDC但未进入任何ADRG",
        }
    }
}

/// Outcome of grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Grouped into a DRG (分组成功).
    Grouped,
    /// An ambiguous case (歧义病案, E3): an ambiguous entry of an MDC held; ADRG `QY`, DRG
    /// the entry's code (e.g. `BQY`). Not a DRG to pay by: it goes to review.
    Ambiguous,
    /// Not grouped: DRG `0000` (无法入组).
    Ungroupable(Reason),
}

impl Status {
    /// The status as written by the reference grouper: `分组成功`, `歧义病案` or `无法入组`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Grouped => "分组成功",
            Status::Ambiguous => "歧义病案",
            Status::Ungroupable(_) => "无法入组",
        }
    }

    /// Whether the case is in a DRG that can be paid by (not ambiguous, not ungroupable).
    pub fn is_grouped(self) -> bool {
        self == Status::Grouped
    }

    /// The reason, when ungroupable.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Status::Grouped | Status::Ambiguous => None,
            Status::Ungroupable(r) => Some(r),
        }
    }

    /// A short machine-readable name: `grouped`, `ambiguous` or the reason's code.
    pub fn code(self) -> &'static str {
        match self {
            Status::Grouped => "grouped",
            Status::Ambiguous => "ambiguous",
            Status::Ungroupable(r) => r.code(),
        }
    }

    /// Chinese description.
    pub fn zh(self) -> &'static str {
        match self {
            Status::Grouped => "分组成功",
            Status::Ambiguous => "歧义病案：病例特征与所入MDC不符（如主要手术与主要诊断无关、性别与诊断不符），需人工审核",
            Status::Ungroupable(r) => r.zh(),
        }
    }
}

/// Number of non-empty codes.
pub(crate) fn count_codes(codes: &[&str]) -> usize {
    codes.iter().filter(|c| !c.trim().is_empty()).count()
}

/// Checks a case against the limits (before any matching).
pub(crate) fn validate(
    limits: &Limits,
    age: Option<u32>,
    age_days: Option<u32>,
    weight_g: Option<u32>,
    n_dx: usize,
    n_procs: usize,
) -> Option<Reason> {
    if n_dx == 0 {
        Some(Reason::NoDiagnosis)
    } else if n_dx > limits.max_dx {
        Some(Reason::TooManyDiagnoses)
    } else if n_procs > limits.max_procs {
        Some(Reason::TooManyProcedures)
    } else if age.is_some_and(|a| a > limits.max_age) {
        Some(Reason::AgeOutOfRange)
    } else if age_days.is_some_and(|d| d > limits.max_age_days) {
        Some(Reason::AgeDaysOutOfRange)
    } else if weight_g.is_some_and(|w| w == 0 || w > limits.max_weight_g) {
        Some(Reason::WeightOutOfRange)
    } else {
        None
    }
}

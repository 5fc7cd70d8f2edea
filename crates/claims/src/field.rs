//! The fields of a settlement list (医保结算清单) and their column names.
//!
//! One table maps each field to its English snake_case column name, its
//! Chinese name and the aliases hospital systems use, so an importer can read
//! either header style and every finding can name the field in both languages.

/// A field of a settlement-list record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Field {
    CaseId,
    InstitutionId,
    RegionId,
    InsuranceType,
    PatientId,
    Sex,
    BirthDate,
    Age,
    AgeDays,
    BirthWeightG,
    AdmissionWeightG,
    AdmittedAt,
    DischargedAt,
    Los,
    AdmissionRoute,
    DischargeWay,
    Department,
    MainDiagnosis,
    OtherDiagnoses,
    /// All diagnoses in one list, the first being the main diagnosis
    /// (the layout of `drg-cases/cases.csv`).
    Diagnoses,
    Procedures,
    ProcedureDates,
    VentHours,
    IcuHours,
    ComaMinutes,
    TotalCost,
    BedFee,
    ExamFee,
    InspectionFee,
    LabFee,
    TreatmentFee,
    SurgeryFee,
    NursingFee,
    MaterialFee,
    WesternDrugFee,
    HerbalFee,
    PatentMedicineFee,
    GeneralServiceFee,
    RegistrationFee,
    OtherFee,
    FundPaid,
    SelfPay,
    SelfExpense,
    PersonalAccount,
    Cash,
    Offsite,
    InnovativeDrugCost,
}

/// Static description of a field.
pub struct FieldInfo {
    pub field: Field,
    /// Canonical column name (English snake_case).
    pub name: &'static str,
    /// Chinese name as on the national settlement list.
    pub zh: &'static str,
    /// Other header spellings accepted on import.
    pub aliases: &'static [&'static str],
}

macro_rules! fields {
    ($( $f:ident, $name:literal, $zh:literal, [$($alias:literal),*] );* $(;)?) => {
        /// Every field with its names, in canonical column order.
        pub const FIELDS: &[FieldInfo] = &[
            $( FieldInfo { field: Field::$f, name: $name, zh: $zh, aliases: &[$($alias),*] } ),*
        ];
    };
}

fields! {
    CaseId, "case_id", "清单流水号", ["病案号", "住院号", "结算清单号", "就诊id", "mdtrt_id"];
    InstitutionId, "institution_id", "定点医药机构编码", ["医疗机构编码", "机构编码", "fixmedins_code"];
    RegionId, "region_id", "医保区划", ["统筹区", "统筹区编码", "参保地医保区划"];
    InsuranceType, "insurance_type", "险种类型", ["医保类型", "insutype"];
    PatientId, "patient_id", "个人编码", ["参保人编码", "psn_no"];
    Sex, "sex", "性别", ["gend"];
    BirthDate, "birth_date", "出生日期", ["brdy"];
    Age, "age", "年龄", ["年龄(岁)"];
    AgeDays, "age_days", "年龄(天)", ["(年龄不足1周岁)年龄(天)"];
    BirthWeightG, "birth_weight_g", "新生儿出生体重(克)", ["weight_g", "新生儿出生体重"];
    AdmissionWeightG, "admission_weight_g", "新生儿入院体重(克)", ["新生儿入院体重"];
    AdmittedAt, "admitted_at", "入院时间", ["admission_time", "入院日期"];
    DischargedAt, "discharged_at", "出院时间", ["discharge_time", "出院日期"];
    Los, "los", "实际住院天数", ["住院天数"];
    AdmissionRoute, "admission_route", "入院途径", [];
    DischargeWay, "discharge_way", "离院方式", [];
    Department, "department", "出院科别", ["科室", "出院科室", "dept", "dscg_caty"];
    MainDiagnosis, "main_diagnosis", "主要诊断编码", ["主诊断编码", "main_dx"];
    OtherDiagnoses, "other_diagnoses", "其他诊断编码", ["other_dx"];
    Diagnoses, "diagnoses", "诊断编码", ["dx"];
    Procedures, "procedures", "手术及操作编码", ["procs", "手术操作编码"];
    ProcedureDates, "procedure_dates", "手术及操作日期", ["手术操作日期"];
    VentHours, "vent_hours", "呼吸机使用时间(小时)", ["呼吸机使用时间"];
    IcuHours, "icu_hours", "重症监护合计时长(小时)", ["重症监护时长", "ICU时长"];
    ComaMinutes, "coma_minutes", "颅脑损伤患者昏迷时间(分钟)", ["昏迷时间"];
    TotalCost, "total_cost", "医疗费用总额", ["住院总费用", "总费用", "medfee_sumamt"];
    BedFee, "bed_fee", "床位费", [];
    ExamFee, "exam_fee", "诊查费", [];
    InspectionFee, "inspection_fee", "检查费", [];
    LabFee, "lab_fee", "化验费", [];
    TreatmentFee, "treatment_fee", "治疗费", [];
    SurgeryFee, "surgery_fee", "手术费", [];
    NursingFee, "nursing_fee", "护理费", [];
    MaterialFee, "material_fee", "卫生材料费", [];
    WesternDrugFee, "western_drug_fee", "西药费", [];
    HerbalFee, "herbal_fee", "中药饮片费", [];
    PatentMedicineFee, "patent_medicine_fee", "中成药费", [];
    GeneralServiceFee, "general_service_fee", "一般诊疗费", [];
    RegistrationFee, "registration_fee", "挂号费", [];
    OtherFee, "other_fee", "其他费", ["其他费用"];
    FundPaid, "fund_paid", "基金支付", ["医保基金支付", "基金支付总额", "fund_pay_sumamt"];
    SelfPay, "self_pay", "个人自付", ["自付"];
    SelfExpense, "self_expense", "个人自费", ["自费"];
    PersonalAccount, "personal_account", "个人账户支付", ["个人账户"];
    Cash, "cash", "个人现金支付", ["现金支付", "现金"];
    Offsite, "offsite", "异地就医标志", ["异地就医", "异地"];
    InnovativeDrugCost, "innovative_drug_cost", "创新药及双通道药品费用", ["双通道药品费用", "创新药费用"];
}

/// The 14 national cost categories, in settlement-list order.
pub const COST_CATEGORIES: [Field; 14] = [
    Field::BedFee,
    Field::ExamFee,
    Field::InspectionFee,
    Field::LabFee,
    Field::TreatmentFee,
    Field::SurgeryFee,
    Field::NursingFee,
    Field::MaterialFee,
    Field::WesternDrugFee,
    Field::HerbalFee,
    Field::PatentMedicineFee,
    Field::GeneralServiceFee,
    Field::RegistrationFee,
    Field::OtherFee,
];

impl Field {
    pub const COUNT: usize = FIELDS.len();

    pub fn info(self) -> &'static FieldInfo {
        &FIELDS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn zh(self) -> &'static str {
        self.info().zh
    }

    pub fn all() -> impl Iterator<Item = Field> {
        FIELDS.iter().map(|i| i.field)
    }

    /// Find a field by a header cell: canonical name, Chinese name or alias.
    /// ASCII case, whitespace, a UTF-8 BOM and full-width brackets do not matter.
    /// Allocation-free: JSON Lines input calls this for every key of every record.
    pub fn from_header(h: &str) -> Option<Field> {
        let h = h.trim_start_matches('\u{feff}');
        FIELDS.iter().find_map(|i| {
            let hit = same_header(i.name, h) || same_header(i.zh, h) || i.aliases.iter().any(|a| same_header(a, h));
            hit.then_some(i.field)
        })
    }
}

/// Header equality ignoring ASCII case, whitespace and full-width brackets.
fn same_header(a: &str, b: &str) -> bool {
    let norm = |c: char| match c {
        '（' => '(',
        '）' => ')',
        c => c.to_ascii_lowercase(),
    };
    let mut x = a.chars().filter(|c| !c.is_whitespace()).map(norm);
    let mut y = b.chars().filter(|c| !c.is_whitespace()).map(norm);
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p == q => {}
            _ => return false,
        }
    }
}

/// A set of fields, e.g. the columns a file provides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(u64);

impl FieldSet {
    pub const ALL: FieldSet = FieldSet(if Field::COUNT == 64 { u64::MAX } else { (1u64 << Field::COUNT) - 1 });

    pub fn insert(&mut self, f: Field) {
        self.0 |= 1 << f as u8;
    }
    pub fn contains(self, f: Field) -> bool {
        self.0 & (1 << f as u8) != 0
    }
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::all().filter(move |f| self.contains(*f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order() {
        for (i, info) in FIELDS.iter().enumerate() {
            assert_eq!(info.field as usize, i, "{}", info.name);
        }
        const { assert!(Field::COUNT <= 64) };
    }

    #[test]
    fn header_lookup() {
        let table = [
            ("case_id", Some(Field::CaseId)),
            ("\u{feff}Case_ID", Some(Field::CaseId)),
            ("病案号", Some(Field::CaseId)),
            ("weight_g", Some(Field::BirthWeightG)),
            ("新生儿出生体重（克）", Some(Field::BirthWeightG)),
            ("新生儿出生体重(克)", Some(Field::BirthWeightG)),
            ("（年龄不足1周岁）年龄（天）", Some(Field::AgeDays)),
            ("离院方式", Some(Field::DischargeWay)),
            ("diagnoses", Some(Field::Diagnoses)),
            ("住院总费用", Some(Field::TotalCost)),
            ("favourite_colour", None),
        ];
        for (h, want) in table {
            assert_eq!(Field::from_header(h), want, "{h}");
        }
    }

    #[test]
    fn names_are_unique() {
        let mut seen: Vec<&str> = Vec::new();
        for i in FIELDS {
            for n in std::iter::once(&i.name).chain(std::iter::once(&i.zh)).chain(i.aliases.iter()) {
                assert!(seen.iter().all(|s: &&str| !same_header(s, n)), "duplicate header name {n}");
                seen.push(*n);
            }
        }
    }
}

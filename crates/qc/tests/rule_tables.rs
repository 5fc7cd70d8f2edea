//! Data-driven rule tests: one table per rule family of
//! (what changes on a clean record, the rule ids expected).

use claims::import::Record;
use claims::{ClaimBuilder, Field, FieldSet};
use codes::{CodeKind, CodeMap, Dictionaries, Dictionary};
use qc::{Checker, RuleSet};

/// A clean record: passes every rule.
const BASE: &[(&str, &str)] = &[
    ("case_id", "C1"),
    ("institution_id", "H001"),
    ("region_id", "220100"),
    ("insurance_type", "职工"),
    ("patient_id", "P1"),
    ("sex", "1"),
    ("birth_date", "1970-05-01"),
    ("age", "54"),
    ("admitted_at", "2025-01-10 08:00:00"),
    ("discharged_at", "2025-01-17 10:00:00"),
    ("los", "7"),
    ("admission_route", "2"),
    ("discharge_way", "1"),
    ("department", "普外科"),
    ("main_diagnosis", "K35.800"),
    ("other_diagnoses", "I10.x00"),
    ("procedures", "47.0100"),
    ("procedure_dates", "2025-01-10"),
    ("total_cost", "10000.00"),
    ("bed_fee", "500"),
    ("exam_fee", "100"),
    ("inspection_fee", "1000"),
    ("lab_fee", "800"),
    ("treatment_fee", "1200"),
    ("surgery_fee", "2000"),
    ("nursing_fee", "400"),
    ("material_fee", "1500"),
    ("western_drug_fee", "2000"),
    ("herbal_fee", "0"),
    ("patent_medicine_fee", "200"),
    ("general_service_fee", "100"),
    ("registration_fee", "0"),
    ("other_fee", "200"),
    ("fund_paid", "7000"),
    ("self_pay", "2000"),
    ("self_expense", "1000"),
    ("personal_account", "1000"),
    ("cash", "2000"),
    ("offsite", "0"),
    ("innovative_drug_cost", "0"),
    ("vent_hours", "0"),
    ("age_days", ""),
    ("birth_weight_g", ""),
    ("admission_weight_g", ""),
    ("coma_minutes", ""),
];

const DX: &str = "code\tname\nK35.800\t急性阑尾炎\nI10.x00\t高血压\nO80.000\t单胎顺产\nN40.x00\t前列腺增生\nV89.200\t交通事故\nR50.900\t发热\nJ18.900\t肺炎\nP07.300\t早产儿\nZ37.000\t单胎活产\nA01.000x005+J17.0*\t伤寒肺炎\nJ17.0*\t细菌性疾病引起的肺炎\nS06.000\t脑震荡\nN70.000\t输卵管炎\n";
const PX: &str = "code\tname\n47.0100\t腹腔镜下阑尾切除术\n60.2100\t经尿道前列腺切除术\n68.4100\t腹腔镜子宫切除术\n74.1x00\t剖宫产\n";
const DX_MAP: &str = "clinical_code\tinsurance_code\nK35.801\tK35.800\nK35.899\t\n";
const PX_MAP: &str = "clinical_code\tinsurance_code\n47.0101\t47.0100\n";

fn dicts() -> Dictionaries {
    Dictionaries {
        diagnoses: Dictionary::parse_tsv(CodeKind::Diagnosis, "test", DX).unwrap(),
        procedures: Dictionary::parse_tsv(CodeKind::Procedure, "test", PX).unwrap(),
        dx_map: Some(CodeMap::parse_tsv(DX_MAP).unwrap()),
        proc_map: Some(CodeMap::parse_tsv(PX_MAP).unwrap()),
    }
}

/// Build the base record with `changes` applied (an empty value clears a field),
/// run every rule, and return the sorted rule ids found.
fn findings(changes: &[(&str, &str)]) -> Vec<String> {
    let rules = RuleSet::builtin();
    let d = dicts();
    let mut present = FieldSet::default();
    let mut b = ClaimBuilder::new();
    for (name, value) in BASE {
        let value = changes.iter().find(|(n, _)| n == name).map(|(_, v)| *v).unwrap_or(value);
        let f = Field::from_header(name).unwrap();
        present.insert(f);
        b.set(f, value);
    }
    for (name, value) in changes {
        if !BASE.iter().any(|(n, _)| n == name) {
            let f = Field::from_header(name).unwrap();
            present.insert(f);
            b.set(f, value);
        }
    }
    let (claim, issues) = b.finish();
    let mut checker = Checker::new(&rules, Some(&d));
    let plan = checker.begin_file(0, present);
    assert!(plan.missing_columns.is_empty() && plan.skipped_rules.is_empty(), "{plan:?}");
    let mut out = Vec::new();
    checker.check(&Record { line: 2, claim, issues }, &mut out);
    checker.finish(&mut out);
    let mut ids: Vec<String> = out.iter().map(|f| rules.rules[f.rule as usize].id.clone()).collect();
    ids.sort();
    ids
}

/// (case name, field changes, expected rule ids)
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

fn run_table(table: &[Case<'_>]) {
    let mut failures = Vec::new();
    for (name, changes, want) in table {
        let got = findings(changes);
        if got != *want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn clean_record_passes() {
    assert_eq!(findings(&[]), Vec::<String>::new());
}

#[test]
fn completeness() {
    run_table(&[
        ("no case id", &[("case_id", "")], &["C001"]),
        ("no institution", &[("institution_id", "")], &["C002"]),
        ("no patient", &[("patient_id", "")], &["C003"]),
        ("no insurance type", &[("insurance_type", "")], &["C004"]),
        ("no sex", &[("sex", "")], &["C005"]),
        ("no age", &[("age", "")], &["C006"]),
        ("no admission time", &[("admitted_at", "")], &["C007"]),
        ("no discharge time", &[("discharged_at", "")], &["C008"]),
        ("no discharge way", &[("discharge_way", "")], &["C009"]),
        ("no main diagnosis", &[("main_diagnosis", "")], &["C010"]),
        ("no total cost", &[("total_cost", "")], &["C011"]),
        ("no fund payment", &[("fund_paid", "")], &["C012"]),
        ("no department", &[("department", "")], &["C013"]),
        ("no admission route", &[("admission_route", "")], &["C014"]),
        ("no birth date", &[("birth_date", "")], &["C015"]),
        (
            "infant without age in days",
            &[("age", "0"), ("birth_date", "2024-10-01"), ("main_diagnosis", "J18.900"), ("birth_weight_g", "3100")],
            &["C016"],
        ),
        (
            "newborn without birth weight",
            &[("age", "0"), ("age_days", "5"), ("birth_date", "2025-01-05"), ("main_diagnosis", "J18.900")],
            &["C017"],
        ),
        ("procedure without date", &[("procedure_dates", "")], &["C018"]),
        ("no region", &[("region_id", "")], &["C019"]),
    ]);
}

#[test]
fn format() {
    run_table(&[
        ("bad date", &[("discharged_at", "2025-02-30")], &["C008", "F001"]),
        ("bad integer", &[("los", "seven")], &["F002"]),
        ("sub-fen money", &[("other_fee", "200.001")], &["F003", "M001"]),
        ("sex out of code set", &[("sex", "3")], &["C005", "F004"]),
        ("discharge way out of code set", &[("discharge_way", "7")], &["C009", "F004"]),
        ("more dates than procedures", &[("procedure_dates", "2025-01-10|2025-01-11")], &["F005"]),
        ("diagnosis syntax", &[("other_diagnoses", "HYPERTENSION")], &["D002", "F006"]),
        ("procedure syntax", &[("procedures", "LAP-APPY")], &["D003", "F007"]),
        ("full-width code", &[("main_diagnosis", "Ｋ35.800")], &["F008"]),
        ("lower-case code", &[("main_diagnosis", "k35.800")], &["F008"]),
    ]);
}

#[test]
fn logic() {
    run_table(&[
        (
            "discharge before admission",
            &[("discharged_at", "2025-01-09 10:00:00"), ("los", "1"), ("procedure_dates", "2025-01-09")],
            &["L001", "L021"],
        ),
        ("los does not match", &[("los", "9")], &["L002"]),
        ("age does not match birth date", &[("age", "50")], &["L003"]),
        ("age days for an adult", &[("age_days", "30")], &["L004"]),
        (
            "age days out of range",
            &[("age", "0"), ("birth_date", "2024-01-01"), ("age_days", "400"), ("main_diagnosis", "J18.900")],
            &["L003", "L005"],
        ),
        ("age out of range", &[("age", "200"), ("birth_date", "")], &["C015", "L006"]),
        (
            "birth weight out of range",
            &[("age", "0"), ("age_days", "3"), ("birth_date", "2025-01-07"), ("birth_weight_g", "50"), ("main_diagnosis", "P07.300")],
            &["L007"],
        ),
        (
            "admission weight out of range",
            &[("age", "0"), ("age_days", "3"), ("birth_date", "2025-01-07"), ("birth_weight_g", "3000"), ("admission_weight_g", "25000"), ("main_diagnosis", "P07.300")],
            &["L008"],
        ),
        ("birth weight for an adult", &[("birth_weight_g", "3000")], &["L009"]),
        ("female diagnosis for a man", &[("main_diagnosis", "O80.000")], &["L010"]),
        ("female diagnosis for a man (other)", &[("other_diagnoses", "N70.000")], &["L010"]),
        ("male diagnosis for a woman", &[("sex", "2"), ("main_diagnosis", "N40.x00")], &["L011"]),
        ("female procedure for a man", &[("procedures", "68.4100"), ("main_diagnosis", "N70.000"), ("sex", "1")], &["L010", "L012"]),
        ("male procedure for a woman", &[("sex", "2"), ("procedures", "60.2100")], &["L013"]),
        ("perinatal code for an adult", &[("other_diagnoses", "P07.300")], &["L014"]),
        ("pregnancy code at 70", &[("sex", "2"), ("age", "70"), ("birth_date", "1954-05-01"), ("main_diagnosis", "O80.000")], &["L015"]),
        ("external cause as main", &[("main_diagnosis", "V89.200")], &["L016"]),
        ("asterisk code as main", &[("main_diagnosis", "J17.0*")], &["L017"]),
        ("dagger-asterisk pair as main is fine", &[("main_diagnosis", "A01.000x005+J17.0*")], &[]),
        ("delivery outcome as main", &[("sex", "2"), ("main_diagnosis", "Z37.000")], &["L018"]),
        ("symptom as main with a definite diagnosis", &[("main_diagnosis", "R50.900"), ("other_diagnoses", "J18.900")], &["L019"]),
        ("symptom as main alone is fine", &[("main_diagnosis", "R50.900"), ("other_diagnoses", "")], &[]),
        ("diagnosis twice", &[("other_diagnoses", "I10.x00|K35.800")], &["L020"]),
        ("procedure date outside stay", &[("procedure_dates", "2025-01-20")], &["L021"]),
        ("ventilator hours beyond stay", &[("vent_hours", "500")], &["L022"]),
        ("born after admission", &[("birth_date", "2025-02-01"), ("age", "")], &["C006", "L023"]),
        ("length of stay zero", &[("los", "0"), ("discharged_at", "2025-01-10 10:00:00")], &["L002", "L026"]),
        ("coma without brain injury", &[("coma_minutes", "30")], &["L027"]),
        ("coma with brain injury", &[("coma_minutes", "30"), ("other_diagnoses", "S06.000")], &[]),
    ]);
}

#[test]
fn coding() {
    run_table(&[
        ("main diagnosis not in dictionary", &[("main_diagnosis", "K35.999")], &["D001"]),
        ("other diagnosis not in dictionary", &[("other_diagnoses", "I10.x99")], &["D002"]),
        ("procedure not in dictionary", &[("procedures", "47.0999")], &["D003"]),
        ("clinical-edition diagnosis", &[("main_diagnosis", "K35.801")], &["D004"]),
        ("clinical-edition diagnosis without mapping", &[("main_diagnosis", "K35.899")], &["D004"]),
        ("clinical-edition procedure", &[("procedures", "47.0101")], &["D005"]),
        ("procedure twice on one day", &[("procedures", "47.0100|47.0100"), ("procedure_dates", "2025-01-10|2025-01-10")], &["D006"]),
        ("procedure twice on two days is fine", &[("procedures", "47.0100|47.0100"), ("procedure_dates", "2025-01-10|2025-01-11")], &[]),
    ]);
}

#[test]
fn money() {
    run_table(&[
        ("categories off by one fen", &[("other_fee", "200.01")], &["M001"]),
        ("payments do not add up", &[("fund_paid", "7000.50")], &["M002"]),
        ("sources do not add up", &[("cash", "1999.99")], &["M003"]),
        ("negative amount", &[("other_fee", "-200"), ("bed_fee", "900")], &["M004"]),
        (
            "zero total",
            &[
                ("total_cost", "0"), ("bed_fee", "0"), ("exam_fee", "0"), ("inspection_fee", "0"), ("lab_fee", "0"),
                ("treatment_fee", "0"), ("surgery_fee", "0"), ("nursing_fee", "0"), ("material_fee", "0"),
                ("western_drug_fee", "0"), ("patent_medicine_fee", "0"), ("general_service_fee", "0"), ("other_fee", "0"),
                ("fund_paid", "0"), ("self_pay", "0"), ("self_expense", "0"), ("personal_account", "0"), ("cash", "0"),
            ],
            &["M005"],
        ),
        ("fund above total", &[("fund_paid", "12000"), ("self_pay", "-1000"), ("self_expense", "-1000"), ("personal_account", "-2000"), ("cash", "0")], &["M004", "M004", "M004", "M006"]),
        ("innovative drug above total", &[("innovative_drug_cost", "10000.01")], &["M007"]),
        ("surgery fee without procedure", &[("procedures", ""), ("procedure_dates", "")], &["M008"]),
    ]);
}

#[test]
fn cross_record_rules() {
    use claims::import::Reader;
    let rules = RuleSet::builtin();
    let csv = "case_id,patient_id,admitted_at,discharged_at,discharge_way,diagnoses\n\
               A,P1,2025-01-01,2025-01-05 10:00,5,I10.x00\n\
               B,P1,2025-01-07,2025-01-09,1,I10.x00\n\
               A,P2,2025-01-01,2025-01-02,1,I10.x00\n\
               C,P2,2025-01-03,2025-01-04,1,I10.x00\n";
    let mut reader = Reader::open("x.csv", csv.as_bytes(), None).unwrap();
    let mut checker = Checker::new(&rules, None);
    let plan = checker.begin_file(0, reader.header.present);
    assert!(plan.needs_dictionary.contains(&"D001".to_string()), "{plan:?}");
    let mut out = Vec::new();
    for item in reader.by_ref() {
        checker.check(&item.unwrap(), &mut out);
    }
    checker.finish(&mut out);
    let got: Vec<(String, u64, String)> =
        out.iter().map(|f| (rules.rules[f.rule as usize].id.clone(), f.line, f.detail.clone())).collect();
    assert!(got.contains(&("L024".into(), 3, "2025-01-05 10:00".into())), "{got:?}");
    assert!(got.contains(&("L025".into(), 4, "2".into())), "{got:?}");
    assert_eq!(got.iter().filter(|g| g.0 == "L024" || g.0 == "L025").count(), 2, "{got:?}");
}

//! Checks against the public reference dictionaries in `../shared/reference/codes`.
//! Skipped (with a message) when that directory is absent.

use std::path::{Path, PathBuf};

use codes::{
    category, is_normal, looks_like_diagnosis, looks_like_procedure, normalize, CodeKind, CodeMap,
    Dictionaries, Dictionary, MapResult,
};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/codes"
);

fn read(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn load() -> Option<(Dictionaries, PathBuf)> {
    let dir = PathBuf::from(DIR);
    if !dir.is_dir() {
        eprintln!("skipped: ../shared/reference not found");
        return None;
    }
    let diagnoses = Dictionary::parse_tsv(
        CodeKind::Diagnosis,
        "医保版2.0",
        &read(&dir, "icd10_diagnoses.tsv"),
    )
    .expect("diagnoses parse");
    let procedures = Dictionary::from_reader(
        CodeKind::Procedure,
        "医保版2.0",
        std::fs::File::open(dir.join("icd9cm3_procedures.tsv")).expect("open procedures"),
    )
    .expect("procedures parse");
    let dx_map = CodeMap::parse_tsv(&read(&dir, "diagnosis_clinical_to_insurance.tsv"))
        .expect("dx map parse");
    let proc_map = CodeMap::parse_tsv(&read(&dir, "procedure_clinical_to_insurance.tsv"))
        .expect("proc map parse");
    Some((
        Dictionaries {
            diagnoses,
            procedures,
            dx_map: Some(dx_map),
            proc_map: Some(proc_map),
        },
        dir,
    ))
}

/// The raw first column of a TSV file, header skipped.
fn raw_codes(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().skip(1).filter_map(|l| l.split_once('\t'))
}

#[test]
fn row_counts() {
    let Some((d, dir)) = load() else { return };
    // The reference README gives 33,303 / 13,685 / 35,590 / 13,653 rows: that is
    // `wc -l` minus the header, but none of the files ends with a newline, so each has
    // one data row more (e.g. the last diagnosis row is `Z99.900`).
    assert_eq!(d.diagnoses.len(), 33_304);
    assert_eq!(d.procedures.len(), 13_686);
    assert_eq!(d.dx_map.as_ref().map(CodeMap::len), Some(35_591));
    assert_eq!(d.proc_map.as_ref().map(CodeMap::len), Some(13_654));
    for (file, n) in [
        ("icd10_diagnoses.tsv", d.diagnoses.len()),
        ("icd9cm3_procedures.tsv", d.procedures.len()),
        (
            "diagnosis_clinical_to_insurance.tsv",
            d.dx_map.as_ref().map_or(0, CodeMap::len),
        ),
        (
            "procedure_clinical_to_insurance.tsv",
            d.proc_map.as_ref().map_or(0, CodeMap::len),
        ),
    ] {
        assert_eq!(read(&dir, file).lines().count() - 1, n, "{file}");
    }
    assert!(d.diagnoses.is_valid("Z99.900"), "last row of the file");
    assert_eq!(d.diagnoses.version(), "医保版2.0");
    assert_eq!(d.get(CodeKind::Procedure).kind(), CodeKind::Procedure);
}

#[test]
fn every_dictionary_code_is_canonical_valid_and_well_formed() {
    let Some((d, dir)) = load() else { return };
    for (file, dict, looks_like) in [
        (
            "icd10_diagnoses.tsv",
            &d.diagnoses,
            looks_like_diagnosis as fn(&str) -> bool,
        ),
        (
            "icd9cm3_procedures.tsv",
            &d.procedures,
            looks_like_procedure as fn(&str) -> bool,
        ),
    ] {
        let text = read(&dir, file);
        let mut n = 0;
        for (code, name) in raw_codes(&text) {
            n += 1;
            assert!(is_normal(code), "{file}: {code} not normal");
            assert_eq!(normalize(code), code, "{file}");
            assert!(dict.is_valid(code), "{file}: {code} not valid");
            assert_eq!(dict.name(code), Some(name), "{file}: {code}");
            assert!(looks_like(code), "{file}: {code} has an unexpected shape");
            assert!(category(code).is_some(), "{file}: {code} has no category");
            // Spelling variants find the same entry.
            let upper = code.to_ascii_uppercase();
            assert_eq!(dict.lookup(&upper), dict.lookup(code), "{file}: {upper}");
            let lower = code.to_ascii_lowercase();
            assert_eq!(dict.lookup(&lower), dict.lookup(code), "{file}: {lower}");
        }
        assert_eq!(n, dict.len(), "{file}");
        // Diagnoses never look like procedures and vice versa.
        for e in dict.iter() {
            let other = if dict.kind() == CodeKind::Diagnosis {
                looks_like_procedure
            } else {
                looks_like_diagnosis
            };
            assert!(
                !other(e.code),
                "{file}: {} looks like the other kind",
                e.code
            );
        }
    }
}

#[test]
fn mapping_codes_are_canonical() {
    let Some((_, dir)) = load() else { return };
    for file in [
        "diagnosis_clinical_to_insurance.tsv",
        "procedure_clinical_to_insurance.tsv",
    ] {
        let text = read(&dir, file);
        for (from, to) in raw_codes(&text) {
            assert_eq!(normalize(from), from, "{file}");
            assert_eq!(normalize(to), to.trim(), "{file}");
        }
    }
}

#[test]
fn names() {
    let Some((d, _)) = load() else { return };
    assert_eq!(d.diagnoses.name("K35.800"), Some("急性阑尾炎，其他未特指"));
    assert_eq!(d.diagnoses.name("A01.000x005+J17.0*"), Some("伤寒并发肺炎"));
    assert_eq!(
        d.diagnoses.name("ａ01.000X005 ＋ j17.0＊"),
        Some("伤寒并发肺炎")
    );
    assert_eq!(d.diagnoses.name("A33.x00"), Some("新生儿破伤风"));
    assert_eq!(
        d.procedures.name("00.5500x008"),
        Some("经皮降主动脉药物洗脱支架置入术")
    );
    assert_eq!(d.procedures.name("33.6X00"), Some("心脏-肺联合移植术"));
    assert_eq!(d.procedures.name("17.912a0"), Some("电针治疗"));
    assert_eq!(d.procedures.name("86.700x0013"), Some("游离皮瓣移植术"));
    assert!(!d.diagnoses.is_valid("K35.8"));
    assert!(!d.diagnoses.is_valid("00.5500x008"));
    let id = d.diagnoses.lookup("K35.800").expect("K35.800");
    assert_eq!(d.diagnoses.code_of(id), Some("K35.800"));
}

#[test]
fn mapping() {
    let Some((d, _)) = load() else { return };
    let dx = d.dx_map.as_ref().expect("dx map");
    let pr = d.proc_map.as_ref().expect("proc map");
    assert_eq!(dx.map("A00.000"), MapResult::Mapped("A00.000"));
    assert_eq!(dx.map("A01.000x002"), MapResult::Mapped("A01.003"));
    assert_eq!(
        dx.map("a01.000X003 + G01*"),
        MapResult::Mapped("A01.002+G01*")
    );
    assert_eq!(dx.map("C22.101M81600/3"), MapResult::Mapped("C22.101"));
    // The right side of this row has a stray leading space in the file.
    assert_eq!(
        dx.map("B06.801+J17.1*"),
        MapResult::Mapped("B06.801+J17.1*")
    );
    assert_eq!(dx.map("K99.999x999"), MapResult::Unknown);
    assert_eq!(pr.map("37.8300x002"), MapResult::Mapped("00.5000x004"));
    assert_eq!(pr.map("99.9999x999"), MapResult::Unknown);
    // The reference maps have no empty right sides (checked with awk); NoMapping is
    // covered by the unit tests. Every mapped target is a valid 医保版 code.
    for (map, dict) in [(dx, &d.diagnoses), (pr, &d.procedures)] {
        for (from, to) in map.iter() {
            let to = to.unwrap_or_else(|| panic!("{from}: unexpected empty right side"));
            assert!(dict.is_valid(to), "{from} -> {to} not in dictionary");
        }
    }
    assert_eq!(
        d.map_for(CodeKind::Diagnosis).map(CodeMap::len),
        Some(35_591)
    );
    assert_eq!(
        pr.map("99.9211"),
        MapResult::Mapped("17.93400"),
        "last row of the file"
    );
}

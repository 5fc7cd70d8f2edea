//! Arbitrary bytes through the settlement-list readers (CSV, GBK CSV, JSON
//! Lines) and the QC engine: must never panic.
#![no_main]

use claims::import::{Encoding, Reader};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static RULES: OnceLock<qc::RuleSet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let rules = RULES.get_or_init(qc::RuleSet::builtin);
    for (name, enc) in [("f.csv", None), ("f.csv", Some(Encoding::Gbk)), ("f.jsonl", None)] {
        // A header the readers know, so the body bytes reach the record parser.
        let mut input = if name.ends_with(".csv") {
            b"case_id,patient_id,sex,age,age_days,birth_date,admitted_at,discharged_at,los,discharge_way,diagnoses,procedures,procedure_dates,total_cost,bed_fee,fund_paid\n".to_vec()
        } else {
            Vec::new()
        };
        input.extend_from_slice(data);
        let Ok(mut reader) = Reader::open(name, &input[..], enc) else { continue };
        let mut checker = qc::Checker::new(rules, None);
        checker.begin_file(0, reader.header.present);
        let mut out = Vec::new();
        for item in reader.by_ref() {
            if let Ok(rec) = item {
                checker.check(&rec, &mut out);
            }
        }
        checker.finish(&mut out);
    }
    // And the bytes as a whole file, header included.
    if let Ok(reader) = Reader::open("g.csv", data, None) {
        for _ in reader {}
    }
});

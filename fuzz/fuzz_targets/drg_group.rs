//! Arbitrary bytes as a grouping case file (the columns of drg-cases/cases.csv)
//! through the settlement-list reader and the DRG grouper with the demo scheme:
//! never a panic, and the trace always agrees with the fast path.
#![no_main]

use std::sync::OnceLock;

use claims::import::Reader;
use libfuzzer_sys::fuzz_target;

static GROUPER: OnceLock<drg::Grouper> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let grouper = GROUPER.get_or_init(|| drg::Grouper::new(synth::demo::scheme().expect("demo scheme")).expect("compiles"));
    let mut input = b"case_id,sex,age,age_days,weight_g,los,discharge_way,diagnoses,procedures\n".to_vec();
    input.extend_from_slice(data);
    let Ok(reader) = Reader::open("cases.csv", &input[..], None) else { return };
    for item in reader {
        let Ok(rec) = item else { continue };
        let c = &rec.claim;
        let dx: Vec<String> = c.diagnoses().map(|d| codes::normalize(d).into_owned()).collect();
        let procs: Vec<String> = c.procedures.iter().map(|p| codes::normalize(&p.code).into_owned()).collect();
        let dx: Vec<&str> = dx.iter().map(String::as_str).collect();
        let procs: Vec<&str> = procs.iter().map(String::as_str).collect();
        let case = drg::Case {
            sex: c.sex.map(|s| s as u8),
            age: c.age,
            age_days: c.age_days,
            weight_g: c.birth_weight_g,
            dx: &dx,
            procs: &procs,
            ..Default::default()
        };
        let fast = grouper.group(&case);
        let trace = drg::explain(grouper.scheme(), &case);
        let codes = grouper.codes_of(&fast);
        assert_eq!((trace.mdc.as_str(), trace.adrg.as_str(), trace.drg.as_str()), (codes.mdc, codes.adrg, codes.drg));
        let _ = trace.render(drg::Lang::Zh);
    }
});

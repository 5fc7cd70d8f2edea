//! Arbitrary bytes as `scheme.json` (with small fixed tables): loading never panics, a
//! refusal names a file and a place, and a scheme it accepts compiles, groups cases
//! built from the same bytes without panicking, and the trace agrees with the fast path.
//!
//! Seed the corpus with real schemes for depth, e.g.
//! `mkdir -p fuzz/corpus/scheme_load && cp crates/synth/data/demo-scheme/scheme.json fuzz/corpus/scheme_load/demo.json`.
#![no_main]

use libfuzzer_sys::fuzz_target;

const CC: &str = "code\texclusion_table\nK91.826\t104\nE87.100\t3\n";
const MCC: &str = "code\texclusion_table\nJ96.000\t7\n";
const EXCL: &str = "main_dx\texclusion_table\nI63.900\t7\n";
const SURG: &str = "code\tname\n36.0600\t冠状动脉支架置入\n";
const NAMES: &str = "drg\tname\nBR11\t脑缺血\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = drg::Scheme::from_files(drg::SchemeFiles {
        scheme_json: text,
        cc_tsv: CC,
        mcc_tsv: MCC,
        main_dx_exclusion_tsv: EXCL,
        surgical_procedures_tsv: SURG,
        drg_names_tsv: NAMES,
    });
    let scheme = match loaded {
        Ok(s) => s,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    // What it accepts, it writes back in a form it accepts again.
    let again = drg::Scheme::from_files(scheme.to_files().as_files()).expect("written scheme loads");
    assert_eq!(again.mdcs, scheme.mdcs);
    let _ = scheme.lint();
    let Ok(grouper) = drg::Grouper::new(scheme) else { return };
    // Cases: fixed codes plus every code-looking string of the scheme text itself.
    let mut pool: Vec<&str> = vec!["I63.900", "J96.000", "K91.826", "36.0600", "E87.100", "", " "];
    pool.extend(text.split('"').filter(|s| !s.is_empty() && s.len() < 24).take(64));
    let discharge = ["1", "5", "", "9"];
    for (i, w) in data.chunks(6).take(32).enumerate() {
        let pick = |k: usize| pool[w.get(k).copied().unwrap_or(0) as usize % pool.len()];
        let dx = [pick(0), pick(1), pick(2)];
        let procs = [pick(3), pick(4), pick(5)];
        let nd = 1 + i % 3;
        let np = i % 4;
        let case = drg::Case {
            sex: Some(1 + (i % 2) as u8),
            age: Some((i * 7 % 100) as u32),
            age_days: (i % 5 == 0).then_some(20),
            weight_g: (i % 7 == 0).then_some(2500),
            dx: &dx[..nd],
            procs: &procs[..np.min(3)],
            los: (i % 3 != 0).then_some((i % 40) as u32),
            discharge_way: Some(discharge[i % 4]),
            dept: Some(pick(1)),
            icu_hours: (i % 2 == 0).then_some(i as f64 * 3.5),
        };
        let fast = grouper.group(&case);
        let trace = drg::explain(grouper.scheme(), &case);
        let codes = grouper.codes_of(&fast);
        assert_eq!((trace.mdc.as_str(), trace.adrg.as_str(), trace.drg.as_str()), (codes.mdc, codes.adrg, codes.drg));
        assert_eq!(trace.status, fast.status);
        let _ = trace.render(drg::Lang::Zh);
        let _ = trace.render(drg::Lang::En);
    }
});

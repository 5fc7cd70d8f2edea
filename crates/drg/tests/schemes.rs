//! Acceptance (issue 14): every scheme under `../shared/reference/schemes/` loads, and
//! the grouper reproduces its reference grouper on all its cases (mdc, adrg, drg and
//! status); `explain` agrees with the fast path on every case.

mod common;

use drg::{explain, Grouper, Lang, Scratch};

#[test]
fn every_reference_scheme_groups_its_cases_exactly() {
    let Some(reference) = common::reference_dir() else {
        return;
    };
    let dirs = common::scheme_dirs(&reference);
    if dirs.is_empty() {
        eprintln!("skipped: no scheme under {}", reference.join("schemes").display());
        return;
    }
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let scheme = match common::load_scheme_dir(dir) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: refused: {e}"));
                continue;
            }
        };
        let grouper = Grouper::new(scheme).expect("compiles");
        let cases = common::load_cases_dir(&dir.join("cases"));
        assert_eq!(cases.len(), 5000, "{name}");
        let mut scratch = Scratch::default();
        let mut mismatches = Vec::new();
        let mut trace_disagrees = Vec::new();
        let mut statuses = std::collections::BTreeMap::<&str, usize>::new();
        for c in &cases {
            let g = c.with_case(|case| grouper.group(case));
            let g2 = c.with_case(|case| grouper.group_with(case, &mut scratch));
            assert_eq!(g, g2, "{name}: group and group_with differ on {}", c.id);
            let codes = grouper.codes_of(&g);
            *statuses.entry(g.status.label()).or_default() += 1;
            let got = [codes.mdc, codes.adrg, codes.drg, g.status.label()];
            if got != c.expected.each_ref().map(String::as_str) {
                mismatches.push(format!("{}: got {got:?}, expected {:?}", c.id, c.expected));
            }
            let trace = c.with_case(|case| explain(grouper.scheme(), case));
            let t = [trace.mdc.as_str(), trace.adrg.as_str(), trace.drg.as_str(), trace.drg_name.as_str()];
            if t != [codes.mdc, codes.adrg, codes.drg, codes.drg_name]
                || trace.status != g.status
                || trace.retry_proc.as_ref().map(|r| r.0 as u16) != g.retry_proc
            {
                trace_disagrees.push(format!("{}: trace {t:?} {:?}, fast {codes:?} {:?}", c.id, trace.status, g.status));
            }
        }
        eprintln!(
            "{name}: {} of {} cases agree with expected.csv; {statuses:?}",
            cases.len() - mismatches.len(),
            cases.len()
        );
        if !mismatches.is_empty() {
            failures.push(format!(
                "{name}: {} of {} cases differ:\n  {}",
                mismatches.len(),
                cases.len(),
                mismatches[..mismatches.len().min(10)].join("\n  ")
            ));
        }
        if !trace_disagrees.is_empty() {
            failures.push(format!(
                "{name}: the trace disagrees with the fast path on {} cases:\n  {}",
                trace_disagrees.len(),
                trace_disagrees[..trace_disagrees.len().min(10)].join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each construct beyond CHS-DRG 1.1 is explained in both languages: a case that meets it
/// is found among the reference cases and its trace names it.
#[test]
fn the_trace_explains_every_new_construct() {
    let Some(reference) = common::reference_dir() else {
        return;
    };
    let dirs = common::scheme_dirs(&reference);
    // (scheme, what the Chinese trace says, what the English trace says)
    // (Discharge way: changzhou-2022's 32 DRGs on it all follow an unconditional DRG and
    // cannot be reached; `tests/extensions.rs` covers it, and `Scheme::lint` reports them.)
    let wanted: [(&str, &str, &str); 4] = [
        ("chs-drg-2.0", "歧义病案", "ambiguous"),
        ("zhejiang-2022", "重新分组", "retry"),
        ("zhejiang-2022", "本组附加条件不满足", "the DRG's own condition fails"),
        ("foshan-2022", "重症监护时长(小时)", "icu_hours"),
    ];
    for (scheme_name, zh, en) in wanted {
        let Some(dir) = dirs.iter().find(|d| d.ends_with(scheme_name)) else {
            eprintln!("skipped: scheme {scheme_name} not present");
            continue;
        };
        let grouper = Grouper::new(common::load_scheme_dir(dir).expect("loads")).expect("compiles");
        let cases = common::load_cases_dir(&dir.join("cases"));
        let found = cases.iter().find_map(|c| {
            let t = c.with_case(|case| explain(grouper.scheme(), case));
            let (z, e) = (t.render(Lang::Zh), t.render(Lang::En));
            (z.contains(zh) && e.contains(en)).then_some((c.id.clone(), z))
        });
        let (id, text) = found.unwrap_or_else(|| panic!("{scheme_name}: no case whose trace says `{zh}` / `{en}`"));
        eprintln!("{scheme_name} {id}: trace says `{zh}`");
        assert!(text.contains("结果："), "{text}");
    }
}


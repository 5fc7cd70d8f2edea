//! Acceptance: the grouper reproduces the reference grouper on all 5,000 reference cases,
//! and `explain` agrees with the fast path.

mod common;

use drg::{explain, Grouper, Scratch};

#[test]
fn reference_cases_match_expected() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let grouper = Grouper::new(common::load_scheme(&dir)).expect("compiles");
    let cases = common::load_cases(&dir);
    assert_eq!(cases.len(), 5000);
    let mut scratch = Scratch::default();
    let mut mismatches = Vec::new();
    for c in &cases {
        let g = c.with_case(|case| grouper.group(case));
        let g2 = c.with_case(|case| grouper.group_with(case, &mut scratch));
        assert_eq!(g, g2, "group and group_with differ on {}", c.id);
        let codes = grouper.codes_of(&g);
        let got = [codes.mdc, codes.adrg, codes.drg, g.status.label()];
        if got != c.expected.each_ref().map(String::as_str) {
            mismatches.push(format!("{}: got {got:?}, expected {:?}", c.id, c.expected));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches[..mismatches.len().min(30)].join("\n")
    );
}

#[test]
fn explain_agrees_with_fast_path() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let grouper = Grouper::new(common::load_scheme(&dir)).expect("compiles");
    let cases = common::load_cases(&dir);
    for c in &cases {
        let (g, trace) = c.with_case(|case| (grouper.group(case), explain(grouper.scheme(), case)));
        let codes = grouper.codes_of(&g);
        assert_eq!(
            (
                trace.mdc.as_str(),
                trace.adrg.as_str(),
                trace.drg.as_str(),
                trace.drg_name.as_str()
            ),
            (codes.mdc, codes.adrg, codes.drg, codes.drg_name),
            "{}",
            c.id
        );
        assert_eq!(trace.status, g.status, "{}", c.id);
    }
}

#[test]
fn scheme_round_trips_through_its_file_format() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let scheme = common::load_scheme(&dir);
    let text = scheme.to_files();
    let again = drg::Scheme::from_files(text.as_files()).expect("written scheme loads");
    // drg_names.tsv wins over scheme.json names on load, so compare through the grouper.
    assert_eq!(again.mdcs.len(), scheme.mdcs.len());
    assert_eq!(again.cc, scheme.cc);
    assert_eq!(again.mcc, scheme.mcc);
    assert_eq!(again.main_dx_exclusion, scheme.main_dx_exclusion);
    assert_eq!(again.surgical_procedures, scheme.surgical_procedures);
    assert_eq!(again.drg_names, scheme.drg_names);
    assert_eq!(again.mdcs, scheme.mdcs);
    assert!(drg::diff::diff(&scheme, &again).is_empty());
}

#[test]
fn official_tables_import() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let path = dir.join("official-tables/chs-drg-local-1.x-grouper_rule.xlsx");
    let bytes = std::fs::read(&path).expect("xlsx");
    let wb = drg::import::workbook_from_xlsx(&bytes).expect("reads");
    let imported = drg::import::import_workbook(&wb, "local 1.x").expect("imports");
    let (mdcs, adrgs, drgs) = imported.scheme.counts();
    // README: 398 ADRGs (ADRG信息 counts the `0000` placeholder) and 639 DRGs.
    assert_eq!((mdcs, adrgs + 1, drgs), (26, 398, 639));
    // The written files load back and compile.
    let text = imported.scheme.to_files();
    let again = drg::Scheme::from_files(text.as_files()).expect("imported scheme loads");
    assert_eq!(again.mdcs, imported.scheme.mdcs);
    let grouper = Grouper::new(again).expect("compiles");
    // Untranslatable rules are reported by node.
    let nodes: Vec<&str> = imported
        .untranslatable
        .iter()
        .map(|u| u.node.as_str())
        .collect();
    for n in ["MDC MDCZ", "MDC MDCP"] {
        assert!(nodes.contains(&n), "{nodes:?}");
    }
    // QY ADRGs (与主要诊断无关的手术) have no rule in the layout: they are read as
    // "some operating-room procedure", reported, and not as "always" (which would
    // swallow every medical case of their MDC).
    assert!(imported.warnings.iter().any(|w| w.starts_with("ADRG EQY") && w.contains("SS_VALID")), "{:?}", imported.warnings);
    // Most reference cases group under the imported scheme too.
    let cases = common::load_cases(&dir);
    let grouped = cases
        .iter()
        .filter(|c| c.with_case(|case| grouper.group(case)).status == drg::Status::Grouped)
        .count();
    eprintln!(
        "imported scheme: {grouped} of {} reference cases grouped; untranslatable: {nodes:?}",
        cases.len()
    );
    assert!(grouped > cases.len() / 2, "{grouped}");
}

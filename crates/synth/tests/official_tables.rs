//! The scheme imported from the official table layout (`official-tables/*.xlsx`)
//! groups cases built from its own tables: for every ADRG the catalogue derives
//! cases from the ADRG's diagnosis and procedure lists (as imported from
//! ADRG诊断表 / ADRG手术表) and keeps those the imported scheme groups back into
//! that ADRG.

use std::path::PathBuf;

use drg::Grouper;
use synth::{Catalog, CodeRules};

#[test]
fn imported_official_scheme_groups_cases_from_its_own_tables() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference"));
    let path = dir.join("official-tables/chs-drg-local-1.x-grouper_rule.xlsx");
    if !path.exists() {
        eprintln!("skipped: ../shared/reference not found");
        return;
    }
    let wb = drg::import::workbook_from_xlsx(&std::fs::read(&path).unwrap()).unwrap();
    let imported = drg::import::import_workbook(&wb, "local 1.x").unwrap();
    let untranslatable: Vec<String> = imported.untranslatable.iter().map(|u| u.node.clone()).collect();
    let grouper = Grouper::new(imported.scheme).unwrap();
    let catalog = Catalog::build(&grouper, None, &CodeRules::builtin(), 7);
    let total = catalog.adrgs.len();
    let verified = total - catalog.unverified.len();
    eprintln!(
        "imported scheme: cases built from the tables of {verified} of {total} ADRGs group back into their ADRG; \
         {} templates; unverified: {:?}; untranslatable rules: {untranslatable:?}",
        catalog.templates.len(),
        catalog.unverified
    );
    // Every kept template really groups into its ADRG under the imported scheme.
    for t in &catalog.templates {
        let dx: Vec<&str> = t.dx.iter().map(|c| &**c).collect();
        let procs: Vec<&str> = t.procs.iter().map(|c| &**c).collect();
        let d = &t.demography;
        let (age_days, weight_g) = match d.newborn {
            Some(((days, _), (weight, _))) => (Some(days), Some(weight)),
            None => (None, None),
        };
        let case = drg::Case {
            sex: Some(match d.sex {
                Some(claims::Sex::Female) => 2,
                _ => 1,
            }),
            age: Some(d.age.0),
            age_days,
            weight_g,
            dx: &dx,
            procs: &procs,
            ..Default::default()
        };
        let g = grouper.group(&case);
        assert_eq!(grouper.codes_of(&g).adrg, catalog.adrgs[t.adrg].code, "{dx:?} {procs:?}");
    }
    // 335 of 397 today. Not reached: MDCP and MDCZ (rules the layout cannot express,
    // reported as untranslatable), every xQY (they need an operating-room procedure and
    // the layout has no operating-room list), VC1 (rule `0`), YR2 (behind YC1), and
    // the medical ADRGs of MDCS/T/W/X (open: see the issue 4 note). This bound keeps
    // what works from regressing.
    assert!(verified >= 330, "{verified} of {total}");
}

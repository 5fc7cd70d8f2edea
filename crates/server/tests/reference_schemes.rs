//! Issue 14: with the reference data, the service's default configuration is CHS-DRG 1.1
//! before 2025-01-01 and CHS-DRG 2.0 from that day (stored and activated as the system,
//! audited); a case is grouped by the version in force on its discharge date. A store
//! that has its own scheme configuration is left alone.

mod common;

use std::path::PathBuf;

use common::databases;

fn reference_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    if d.join("schemes/chs-drg-2.0/scheme.json").is_file() {
        Some(d)
    } else {
        println!("skipped: ../shared/reference/schemes/chs-drg-2.0 not found");
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chs_drg_2_0_is_in_force_from_2025_by_discharge_date() {
    let Some(dir) = reference_dir() else { return };
    let schemes = server::reference::read(&dir).expect("reference schemes load");
    assert_eq!(schemes.len(), 2);
    for db in databases().await {
        println!("-- {}", db.name);
        let seeded = server::reference::seed(&db.store, &schemes).await.expect("seed");
        let ids: Vec<(String, i64, String)> = seeded.clone();
        assert_eq!(
            ids.iter().map(|(n, _, e)| (n.as_str(), e.as_str())).collect::<Vec<_>>(),
            vec![("CHS-DRG 1.1", "2000-01-01"), ("CHS-DRG 2.0", "2025-01-01")]
        );
        // Seeding again changes nothing: the store now has scheme configurations.
        assert!(server::reference::seed(&db.store, &schemes).await.expect("seed").is_empty());
        let audit = db.store.audit_log(50).await.expect("audit");
        for (_, id, _) in &ids {
            for action in ["config.upload", "config.activate"] {
                assert!(
                    audit.iter().any(|a| a.action == action && a.target == format!("config:{id}")),
                    "{action} of config {id} not audited"
                );
            }
        }
        let engines = server::engines::Engines::new(db.store.clone(), None).await.expect("engines");
        let (v11, v20) = (ids[0].1, ids[1].1);
        for (day, want) in [("2024-12-31", v11), ("2025-01-01", v20), ("2026-06-30", v20), ("2019-03-01", v11)] {
            let key = engines.key_for(day);
            assert_eq!(key.0, Some(want), "{day}");
            let e = engines.engine(key).await.expect("engine");
            let name = &e.grouper.scheme().name;
            assert!(name.contains(if want == v20 { "2.0" } else { "1.1" }), "{day}: {name}");
        }
        // Cases of both years, grouped through the service's engines, agree with each
        // version grouped directly.
        let g20 = schemes[1].grouper().expect("2.0");
        let g11 = schemes[0].grouper().expect("1.1");
        let (_, years) = server::demo::synthetic_with(&g20, None, 3, 2_000, 5).expect("synthetic");
        let mut differ = 0;
        let mut n = 0;
        for (y, text) in years.iter().enumerate() {
            let reader = claims::import::Reader::open("c.csv", text.as_bytes(), None).expect("reader");
            for rec in reader.flatten() {
                let c = &rec.claim;
                let day = c.discharged_at.map(|d| d.date().format("%Y-%m-%d").to_string()).expect("discharge date");
                let e = engines.engine(engines.key_for(&day)).await.expect("engine");
                let inst = points::Institution { id: c.institution_id.clone(), level: "三级".into(), tcm: false, alliance_lead: None };
                let (got, _) = e.group(c, &inst, false);
                let codes = server::pipeline::CaseCodes::of(c);
                let dx: Vec<&str> = codes.dx.iter().map(String::as_str).collect();
                let procs: Vec<&str> = codes.procs.iter().map(String::as_str).collect();
                let case = server::pipeline::drg_case(c, &dx, &procs);
                let direct = if y == 0 { &g11 } else { &g20 };
                let want = direct.codes_of(&direct.group(&case));
                assert_eq!((got.mdc.as_str(), got.adrg.as_str(), got.drg.as_str()), (want.mdc, want.adrg, want.drg), "{} ({day})", c.case_id);
                let other = if y == 0 { &g20 } else { &g11 };
                differ += usize::from(other.codes_of(&other.group(&case)).drg != want.drg);
                n += 1;
            }
        }
        println!("{n} cases grouped by the version in force; {differ} would group differently under the other version");
        assert!(n > 1_000 && differ > 0, "{n} {differ}");
        db.cleanup().await;
    }
}

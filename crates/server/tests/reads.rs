//! Reads from indexes and maintained totals: the totals the commit keeps per
//! institution and month equal the totals recomputed from the latest versions, after
//! uploads, re-uploads that replace versions (also into another month), QC-failing
//! versions and their corrections; the dashboard shows them; listings show latest versions only.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintained_totals_equal_the_recomputed_ones() {
    for db in databases().await {
        let f = start(db.store.clone()).await;
        // Two batches of A, one of B, then re-uploads of A's first cases: some unchanged,
        // some moved to another discharge month, some breaking a withholding QC rule.
        for (inst, skip, n) in [(A, 0, 120), (A, 120, 80), (B, 0, 150)] {
            let r = f.req("POST", "/api/uploads?name=a.csv", Some("admin")).body(f.csv(inst, skip, n)).send().await.expect("upload");
            assert_eq!(r.status(), 201);
        }
        let header: Vec<&str> = f.header.split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("column {name}"));
        let (dis, main_dx) = (col("discharged_at"), col("main_diagnosis"));
        let mut csv = f.header.clone() + "\n";
        for (k, row) in f.rows[A].iter().take(60).enumerate() {
            let mut cells: Vec<String> = row.split(',').map(str::to_owned).collect();
            match k % 3 {
                0 => {}
                1 => {
                    // another discharge month of the same year
                    let d = cells[dis].clone();
                    if d.len() >= 7 {
                        let m: u32 = d[5..7].parse().unwrap_or(1);
                        let nm = if m == 12 { 1 } else { m + 1 };
                        cells[dis] = format!("{}{nm:02}{}", &d[..5], &d[7..]);
                    }
                }
                _ => cells[main_dx] = String::new(), // a withholding QC rule
            }
            csv += &cells.join(",");
            csv.push('\n');
        }
        let r = f.req("POST", "/api/uploads?name=again.csv", Some("admin")).body(csv).send().await.expect("upload");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("json");
        assert!(body["withheld"].as_i64().unwrap_or(0) > 0, "{}", body["withheld"]);
        // The same case twice in one batch: versions 1 and 2, the second is the latest.
        let row = &f.rows[B][300];
        let twice = format!("{}\n{row}\n{row}\n", f.header);
        let r = f.req("POST", "/api/uploads?name=twice.csv", Some("admin")).body(twice).send().await.expect("upload");
        let body: Value = r.json().await.expect("json");
        let versions: Vec<i64> = body["cases"].as_array().expect("cases").iter().filter_map(|c| c["version"].as_i64()).collect();
        assert_eq!(versions, vec![1, 2], "{}", db.name);
        // Single uploads too.
        for n in 200..210 {
            let c = f.json_case(A, n);
            let r = f.req("POST", "/api/cases", Some("hosp_a")).json(&c).send().await.expect("case");
            assert_eq!(r.status(), 201);
        }
        let maintained: std::collections::BTreeMap<(String, String), store::stats::Totals> = db
            .store
            .case_stats("0000-00", "9999-99", None)
            .await
            .expect("stats")
            .into_iter()
            .filter(|(_, _, t)| t.cases != 0 || *t != store::stats::Totals::default())
            .map(|(i, p, t)| ((i, p), t))
            .collect();
        let computed = db.store.computed_case_stats().await.expect("computed");
        let nonzero: std::collections::BTreeMap<_, _> = maintained.into_iter().filter(|(_, t)| *t != store::stats::Totals::default()).collect();
        assert_eq!(nonzero, computed, "{}: maintained totals differ from the recomputed ones", db.name);
        // Institution-month rows (the year and region rows repeat them).
        let months = |i: &str, p: &str| i != store::stats::REGION && p.len() == 7;
        let cases: i64 = computed.iter().filter(|((i, p), _)| months(i, p)).map(|(_, t)| t.cases).sum();
        assert_eq!(cases, 120 + 80 + 150 + 10 + 1, "{}", db.name);
        assert!(computed.iter().filter(|((i, p), _)| months(i, p)).map(|(_, t)| t.withheld).sum::<i64>() >= 20, "{}", db.name);
        let region: i64 = computed.iter().filter(|((i, p), _)| i == store::stats::REGION && p.len() == 4).map(|(_, t)| t.cases).sum();
        assert_eq!(region, cases, "{}: the region's year rows hold every case", db.name);
        // The rebuild gives the same rows.
        db.store.rebuild_case_stats().await.expect("rebuild");
        let rebuilt: std::collections::BTreeMap<_, _> =
            db.store.case_stats("0000-00", "9999-99", None).await.expect("stats").into_iter().map(|(i, p, t)| ((i, p), t)).collect();
        assert_eq!(rebuilt, computed, "{}", db.name);
        // Listings: latest versions only, newest first.
        let all: Value = f.req("GET", &format!("/api/cases?institution_id={A}&limit=10000"), Some("admin")).send().await.expect("list").json().await.expect("json");
        let rows = all.as_array().expect("rows");
        let a_cases: i64 = computed.iter().filter(|((i, p), _)| i == A && p.len() == 7).map(|(_, t)| t.cases).sum();
        assert_eq!(rows.len() as i64, a_cases, "{}", db.name);
        let mut ids = std::collections::BTreeSet::new();
        assert!(rows.iter().all(|r| ids.insert(r["case_id"].as_str().unwrap_or("").to_owned())), "one row per case");
        // The dashboard's totals are the maintained ones.
        let year = computed.keys().filter(|(i, p)| months(i, p)).filter_map(|(_, p)| p.get(..4)).max().expect("a year").to_owned();
        let d: Value = f.req("GET", &format!("/api/dashboard?year={year}"), Some("admin")).send().await.expect("dash").json().await.expect("json");
        let want: i64 = computed.iter().filter(|((i, p), _)| months(i, p) && p.starts_with(&year)).map(|(_, t)| t.cases).sum();
        assert_eq!(d["totals"]["cases"], json!(want), "{}: {}", db.name, d["totals"]);
        let listed: i64 = d["institutions"].as_array().expect("institutions").iter().filter_map(|i| i["cases"].as_i64()).sum();
        assert_eq!(listed, want, "{}: the institutions' rows add up to the region", db.name);
        let by_month: i64 = d["months"].as_array().expect("months").iter().filter_map(|m| m["cases"].as_i64()).sum();
        assert_eq!(by_month, want, "{}: the months add up to the year", db.name);
        let one: Value = f.req("GET", &format!("/api/dashboard?year={year}&institution_id={A}"), Some("admin")).send().await.expect("dash").json().await.expect("json");
        let want_a: i64 = computed.iter().filter(|((i, p), _)| i == A && p.len() == 7 && p.starts_with(&year)).map(|(_, t)| t.cases).sum();
        assert_eq!(one["totals"]["cases"], json!(want_a), "{}: {}", db.name, one["totals"]);
        db.cleanup().await;
    }
}

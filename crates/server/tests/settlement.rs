//! Settlement runs through the API: approved special cases (特例单议) flow into
//! the next run, a hospital reads only its own statements, and the same store
//! settles to byte-identical statements.

mod common;

use common::{databases, start, Fixture, A, B};
use serde_json::{json, Value};

async fn get(f: &Fixture, who: &str, path: &str) -> (u16, String) {
    let r = f.req("GET", path, Some(who)).send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.text().await.expect("text"))
}

/// Apply for a special case of A's `n`-th case as hosp_a and review it as the reviewer.
async fn apply_and_approve(f: &Fixture, n: usize, review: Value) -> String {
    let case_id = f.json_case(A, n)["case_id"].as_str().expect("case id").to_owned();
    let r = f
        .req("POST", "/api/special-cases", Some("hosp_a"))
        .json(&json!({"case_id": case_id, "reason": "high_cost", "note": "ECMO 与多学科会诊"}))
        .send()
        .await
        .expect("apply");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let sc: Value = r.json().await.expect("json");
    let id = sc["id"].as_i64().expect("id");
    let r = f
        .req("POST", &format!("/api/special-cases/{id}/review"), Some("reviewer"))
        .json(&review)
        .send()
        .await
        .expect("review");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    case_id
}

fn special_rows(run: &Value) -> Vec<Vec<String>> {
    run["run"]["summary"]["special_cases"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_str().expect("text").to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_special_cases_flow_into_the_next_settlement() {
    for db in databases().await {
        println!("-- {}", db.name);
        let f = start(db.store.clone()).await;
        let first = f.settled_run().await;
        assert_eq!(first["run"]["status"], "done", "{first}");
        assert_eq!(first["run"]["special_cases"], 0);
        let settled = first["run"]["cases"].as_i64().expect("cases");
        assert!(settled > 100, "{settled} cases settled");

        // The last rows of A are 2025 cases.
        let n = f.rows[A].len();
        let ffs = apply_and_approve(&f, n - 1, json!({"decision": "approve", "pay_as": "fee_for_service", "comment": "同意按项目付费"})).await;
        let adj = apply_and_approve(
            &f,
            n - 2,
            json!({"decision": "approve", "pay_as": "adjusted_standard", "adjusted_points": "123.5", "comment": "按调整后标准"}),
        )
        .await;
        // An adjusted standard needs its points.
        let case3 = f.json_case(A, n - 3)["case_id"].as_str().expect("id").to_owned();
        let sc: Value = f
            .req("POST", "/api/special-cases", Some("hosp_a"))
            .json(&json!({"case_id": case3, "reason": "long_stay", "note": "x"}))
            .send()
            .await
            .expect("apply")
            .json()
            .await
            .expect("json");
        let r = f
            .req("POST", &format!("/api/special-cases/{}/review", sc["id"]), Some("reviewer"))
            .json(&json!({"decision": "approve", "pay_as": "adjusted_standard"}))
            .send()
            .await
            .expect("review");
        assert_eq!(r.status(), 400, "adjusted_standard without adjusted_points");

        let second = f.run_settlement(2025).await;
        assert_eq!(second["run"]["status"], "done", "{second}");
        assert_eq!(second["run"]["special_cases"], 2, "{}", second["run"]);
        assert_eq!(second["run"]["cases"].as_i64(), Some(settled));
        let rows = special_rows(&second);
        let by_case = |c: &str| rows.iter().find(|r| r[1] == c).cloned().expect("special row");
        let f_row = by_case(&ffs);
        assert_eq!((f_row[0].as_str(), f_row[3].as_str()), (A, "按项目付费"));
        let a_row = by_case(&adj);
        assert_eq!(a_row[3], "调整支付标准");
        assert_eq!(a_row[4].parse::<f64>().ok(), Some(123.5), "{a_row:?}");
        // A's statement changed; B's did not.
        let r1 = first["run"]["id"].as_i64().expect("id");
        let r2 = second["run"]["id"].as_i64().expect("id");
        let doc = |r: i64, name: String| format!("/api/settlement/runs/{r}/documents/{name}");
        assert_ne!(get(&f, "admin", &doc(r1, format!("{A}.csv"))).await, get(&f, "admin", &doc(r2, format!("{A}.csv"))).await);

        // A hospital sees its own statements and rows only.
        let (s, body) = get(&f, "hosp_a", &format!("/api/settlement/runs/{r2}")).await;
        assert_eq!(s, 200);
        let v: Value = serde_json::from_str(&body).expect("json");
        let docs = v["documents"].as_array().expect("docs");
        assert!(!docs.is_empty() && docs.iter().all(|d| d["institution_id"] == A), "{docs:?}");
        for r in v["run"]["summary"]["hospitals"]["rows"].as_array().expect("rows") {
            assert_eq!(r[0], A);
        }
        assert_eq!(get(&f, "hosp_a", &doc(r2, format!("{B}.csv"))).await.0, 404);
        assert_eq!(get(&f, "hosp_b", &doc(r2, format!("{A}.xlsx"))).await.0, 404);
        let (s, _) = get(&f, "hosp_b", &format!("/api/settlement/runs/{r2}")).await;
        assert_eq!(s, 200);
        let vb: Value = serde_json::from_str(&get(&f, "hosp_b", &format!("/api/settlement/runs/{r2}")).await.1).expect("json");
        assert!(special_rows(&vb).is_empty(), "B sees none of A's special cases");

        // Same store, same inputs: byte-identical statements.
        let third = f.run_settlement(2025).await;
        let r3 = third["run"]["id"].as_i64().expect("id");
        for name in ["summary.csv".to_owned(), "point-values.csv".to_owned(), format!("{A}.csv"), format!("{B}.csv")] {
            assert_eq!(get(&f, "admin", &doc(r2, name.clone())).await, get(&f, "admin", &doc(r3, name.clone())).await, "{name}");
        }
        // The budget reconciles: every point-value row is allocated to the fen.
        let (_, pv) = get(&f, "admin", &doc(r2, "point-values.csv".into())).await;
        assert!(pv.lines().skip(1).all(|l| l.ends_with(",OK")), "{pv}");

        // A year without last year's cases fails with a reason.
        let failed = f.run_settlement(2024).await;
        assert_eq!(failed["run"]["status"], "failed");
        assert!(failed["run"]["message"].as_str().is_some_and(|m| m.contains("2023")), "{failed}");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_bulletin_and_pages_show_the_settled_year() {
    let dbs = databases().await;
    let db = &dbs[0];
    let f = start(db.store.clone()).await;
    let run = f.settled_run().await;
    assert_eq!(run["run"]["status"], "done");
    let n = f.rows[A].len();
    apply_and_approve(&f, n - 1, json!({"decision": "approve", "pay_as": "fee_for_service", "comment": "同意"})).await;
    // Region dashboard: every 2025 case of A and B, months add up, CMI present.
    let (s, body) = get(&f, "admin", "/api/dashboard?year=2025").await;
    assert_eq!(s, 200);
    let d: Value = serde_json::from_str(&body).expect("json");
    let total = d["totals"]["cases"].as_i64().expect("cases");
    let withheld = run["run"]["summary"]["withheld_cases"].as_i64().expect("withheld");
    assert_eq!(total, run["run"]["cases"].as_i64().expect("settled") + withheld, "dashboard counts what was settled and what was withheld");
    assert_eq!(d["totals"]["withheld_cases"].as_i64(), Some(withheld), "the dashboard counts the withheld cases");
    let by_month: i64 = d["months"].as_array().expect("months").iter().map(|m| m["cases"].as_i64().unwrap_or(0)).sum();
    assert_eq!(by_month, total);
    assert_eq!(d["months"].as_array().map(Vec::len), Some(12));
    let insts: i64 = d["institutions"].as_array().expect("insts").iter().map(|i| i["cases"].as_i64().unwrap_or(0)).sum();
    assert_eq!(insts, total);
    assert!(d["totals"]["cmi"].as_str().is_some_and(|c| c.parse::<f64>().unwrap_or(0.0) > 0.0), "{}", d["totals"]);
    assert!(d["settlement"]["run_id"].is_i64());
    // A hospital sees its own institution only.
    let (_, body) = get(&f, "hosp_a", "/api/dashboard?year=2025").await;
    let da: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(da["institution_id"], A);
    assert!(da["institutions"].as_array().expect("insts").iter().all(|i| i["institution_id"] == A));
    assert!(da["totals"]["cases"].as_i64() < Some(total));
    // Findings by rule add up to the institution's error and warning counts.
    let by_rule: i64 = da["qc_rules"].as_array().expect("qc_rules").iter().map(|r| r["count"].as_i64().unwrap_or(0)).sum();
    assert_eq!(by_rule, da["totals"]["qc_errors"].as_i64().unwrap_or(0) + da["totals"]["qc_warnings"].as_i64().unwrap_or(0));
    // Charts are SVG with twelve bars.
    let (s, svg) = get(&f, "hosp_a", "/api/charts/monthly.svg?year=2025").await;
    assert_eq!(s, 200);
    assert!(svg.starts_with("<svg") && svg.matches("class=\"bar\"").count() == 12, "{svg}");
    let (_, pv) = get(&f, "admin", "/api/charts/point-values.svg?year=2025").await;
    assert!(pv.contains("<circle"), "point values of the settled quarters are drawn");
    // Half-year bulletin: the approved application counts for A.
    let q = f.json_case(A, n - 1)["discharged_at"].as_str().map(|d| d[5..7].parse::<u32>().unwrap_or(1)).unwrap_or(1);
    let half = if q <= 6 { 1 } else { 2 };
    let (_, body) = get(&f, "reviewer", &format!("/api/special-cases/bulletin?year=2025&half={half}")).await;
    let b: Value = serde_json::from_str(&body).expect("json");
    let row = b["rows"].as_array().expect("rows").iter().find(|r| r[0] == A).cloned().expect("A's row");
    assert_eq!((row[1].as_i64(), row[2].as_i64(), row[5].as_i64()), (Some(1), Some(1), Some(1)), "{row}");
    // Reports of the monitor from the store: HTML and XLSX.
    let (s, html) = get(&f, "hosp_a", "/api/reports/monthly?period=2025-03").await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("<html") && html.contains(A), "monthly feedback names the institution");
    let r = f.req("GET", "/api/reports/quarterly?period=2025Q1&format=xlsx", Some("reviewer")).send().await.expect("xlsx");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.expect("bytes").starts_with(b"PK"), "an XLSX (zip) workbook");
    let (s, html) = get(&f, "admin", "/api/reports/annual?period=2025").await;
    assert_eq!(s, 200);
    assert!(html.contains(B));
    // The pages are served by the binary (no external resource referenced).
    for (path, needle) in [("/ui/", "支付方式改革管理平台"), ("/ui/app.js", "特例单议"), ("/ui/app.css", "font-family")] {
        let r = f.client.get(format!("{}{path}", f.base)).send().await.expect("page");
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.expect("text");
        assert!(text.contains(needle), "{path}");
        assert!(!text.contains("http://") && !text.contains("https://"), "{path} references an outside resource");
    }
    db.cleanup().await;
}

//! A DIP region in the service: a library and parameters with `method = "dip"`
//! uploaded and activated; uploads are grouped by the library and priced by
//! scores; the year settles.

mod common;

use common::{databases, start, A};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dip_region_groups_by_the_library_and_settles() {
    let dbs = databases().await;
    let db = &dbs[0];
    let f = start(db.store.clone()).await;

    // A library built from the region's 2024 cases (every institution of the seed).
    let mut text = f.header.clone() + "\n";
    for rows in f.rows.values() {
        for r in rows.iter().filter(|r| r.contains(",2024-")) {
            text += r;
            text.push('\n');
        }
    }
    let mut b = dip::Builder::new(
        dip::BuildParams { min_cases: 5, ..dip::BuildParams::default() },
        dip::ProcClassifier::builtin(),
        dip::aux::CciTable::builtin(),
    );
    let reader = claims::import::Reader::open("2024.csv", text.as_bytes(), None).expect("csv");
    let mut n = 0;
    for rec in reader.flatten() {
        if b.add(&rec.claim, None).is_ok() {
            n += 1;
        }
    }
    assert!(n > 300, "{n} build cases");
    let (lib, _) = b.finish("test-2024").expect("library");
    let groups = lib.groups.len();
    assert!(groups > 5, "{groups} groups");

    let post_cfg = |kind: &'static str, body: String| {
        let f = &f;
        async move {
            let r = f
                .req("POST", &format!("/api/configs?kind={kind}&name={kind}"), Some("admin"))
                .body(body)
                .send()
                .await
                .expect("cfg");
            assert_eq!(r.status(), 201, "{kind}: {}", r.text().await.unwrap_or_default());
            let id = r.json::<Value>().await.expect("json")["id"].as_i64().expect("id");
            let r = f
                .req("POST", &format!("/api/configs/{id}/activate"), Some("admin"))
                .json(&json!({"effective_from": "2000-01-01"}))
                .send()
                .await
                .expect("activate");
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
            id
        }
    };
    // A broken library is refused when uploaded.
    let r = f
        .req("POST", "/api/configs?kind=dip_library&name=bad", Some("admin"))
        .body("{\"manifest.json\": \"{}\"}")
        .send()
        .await
        .expect("bad");
    assert_eq!(r.status(), 400);
    let lib_id = post_cfg("dip_library", server::pipeline::library_config(&lib)).await;
    let params = points::DEFAULT_PARAMS.replace("method = \"drg\"", "method = \"dip\"");
    assert_ne!(params, points::DEFAULT_PARAMS);
    post_cfg("params", params).await;

    let e: Value = f.req("GET", "/api/engine?day=2025-06-30", Some("admin")).send().await.expect("engine").json().await.expect("json");
    assert_eq!(e["method"], "dip", "{e}");
    assert_eq!(e["dip_library_id"].as_i64(), Some(lib_id));
    assert_eq!(e["dip_groups"].as_u64(), Some(groups as u64));

    // An upload is grouped by the library and paid by DIP points.
    let mut dip_paid = 0;
    let idx: Vec<usize> = (0..f.rows[A].len()).filter(|i| f.rows[A][*i].contains(",2025-")).take(40).collect();
    for i in &idx {
        let r = f.req("POST", "/api/cases", Some("hosp_a")).json(&f.json_case(A, *i)).send().await.expect("upload");
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        assert!(v["trace"].as_str().is_some_and(|t| t.starts_with("DIP 病种库 test-2024")), "{}", v["trace"]);
        if v["points"]["method"] == "dip" {
            dip_paid += 1;
            let code = v["group"]["drg"].as_str().expect("code");
            assert!(lib.groups.iter().any(|g| g.code == code), "{code} is a library group");
        }
    }
    assert!(dip_paid * 10 >= idx.len() * 7, "{dip_paid} of {} paid by DIP", idx.len());

    // The year settles with DIP points.
    let run = f.settled_run().await;
    assert_eq!(run["run"]["status"], "done", "{run}");
    let (s, pv) = {
        let r = f
            .req("GET", &format!("/api/settlement/runs/{}/documents/point-values.csv", run["run"]["id"]), Some("admin"))
            .send()
            .await
            .expect("pv");
        (r.status().as_u16(), r.text().await.expect("text"))
    };
    assert_eq!(s, 200);
    assert!(pv.lines().skip(1).all(|l| l.ends_with(",OK")), "{pv}");
    db.cleanup().await;
}

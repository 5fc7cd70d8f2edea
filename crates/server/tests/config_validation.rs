//! Configurations posted to the service are checked as the CLI checks files (issue
//! 13): points parameters, settlement parameters of a run and institutions with an
//! unknown key, a value out of range or a dangling reference are refused with 422
//! `invalid_configuration`, one detail per problem naming the key and the reason;
//! nothing is stored. A budget that cannot be built (an adjustment for a line the
//! history does not have) fails the run with the line named, and so do cases of an
//! institution that is not registered.

mod common;

use common::{databases, start, Fixture, A};
use serde_json::{json, Value};

/// The built-in parameters with `from` replaced by `to`.
fn edit(src: &str, from: &str, to: &str) -> String {
    assert!(src.contains(from), "{from}");
    src.replacen(from, to, 1)
}

enum Body {
    Text(String),
    Json(Value),
}

struct Bad {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: Body,
    status: u16,
    /// (key of a detail, text of its reason); key None: only the message is checked.
    key: Option<&'static str>,
    reason: &'static str,
}

/// The demo scheme as a scheme configuration, with `edit` applied to its scheme.json.
fn scheme_upload(edit: impl FnOnce(&mut Value)) -> Value {
    let f = synth::demo::SCHEME_FILES;
    let mut doc: Value = serde_json::from_str(f.scheme_json).expect("demo scheme.json");
    edit(&mut doc);
    json!({
        "scheme_json": doc.to_string(),
        "cc_tsv": f.cc_tsv,
        "mcc_tsv": f.mcc_tsv,
        "main_dx_exclusion_tsv": f.main_dx_exclusion_tsv,
        "surgical_procedures_tsv": f.surgical_procedures_tsv,
        "drg_names_tsv": f.drg_names_tsv,
    })
}

fn bad_configurations() -> Vec<Bad> {
    let pp = points::DEFAULT_PARAMS;
    let sp = settle::DEFAULT_PARAMS;
    vec![
        Bad {
            name: "scheme: unknown field in a DRG condition (issue 14)",
            method: "POST",
            path: "/api/configs?kind=scheme&name=bad",
            body: Body::Text(scheme_upload(|d| d["mdcs"][2]["adrgs"][0]["drgs"][0]["when"] = json!({"gt": ["icu_hourz", 24]})).to_string()),
            status: 422,
            key: Some("scheme_json.mdcs[2].adrgs[0].drgs[0].when.gt[0]"),
            reason: "unknown field `icu_hourz`",
        },
        Bad {
            name: "scheme: misspelt ADRG flag",
            method: "POST",
            path: "/api/configs?kind=scheme&name=bad",
            body: Body::Text(scheme_upload(|d| d["mdcs"][1]["adrgs"][0]["no_drg_fall_through"] = json!(true)).to_string()),
            status: 422,
            key: Some("scheme_json.mdcs[1].adrgs[0].no_drg_fall_through"),
            reason: "unknown key `no_drg_fall_through`",
        },
        Bad {
            name: "scheme: unknown rule",
            method: "POST",
            path: "/api/configs?kind=scheme&name=bad",
            body: Body::Text(scheme_upload(|d| d["mdcs"][2]["adrgs"][0]["drgs"][0]["rule"] = json!("mcc_and_cc")).to_string()),
            status: 422,
            key: Some("scheme_json.mdcs[2].adrgs[0].drgs[0].rule"),
            reason: "unknown rule `mcc_and_cc`",
        },
        Bad {
            name: "scheme: a misspelt file of the configuration",
            method: "POST",
            path: "/api/configs?kind=scheme&name=bad",
            body: Body::Text({
                let mut v = scheme_upload(|_| {});
                let t = v["cc_tsv"].take();
                v.as_object_mut().unwrap().remove("cc_tsv");
                v["cc_tvs"] = t;
                v.to_string()
            }),
            status: 422,
            key: Some("(document)"),
            reason: "unknown field `cc_tvs`",
        },
        Bad {
            name: "points parameters: coefficient 0",
            method: "POST",
            path: "/api/configs?kind=params&name=bad",
            body: Body::Text(edit(pp, "\"二级\" = \"0.85\"", "\"二级\" = \"0\"")),
            status: 422,
            key: Some("coefficients.by_level.二级"),
            reason: "must lie in (0, 3]",
        },
        Bad {
            name: "points parameters: unknown key in a nested table",
            method: "POST",
            path: "/api/configs?kind=params&name=bad",
            body: Body::Text(edit(pp, "drg_low = \"0.4\"", "drg_low = \"0.4\"\ndrg_lo = \"0.3\"")),
            status: 422,
            key: Some("outliers.drg_lo"),
            reason: "unknown key",
        },
        Bad {
            name: "points parameters: a level of the stored institutions without a coefficient",
            method: "POST",
            path: "/api/configs?kind=params&name=bad",
            body: Body::Text(edit(pp, "by_level = { \"三级\" = \"1.00\", \"二级\" = \"0.85\", \"一级\" = \"0.75\", \"基层\" = \"0.80\" }", "by_level = { \"基层\" = \"0.80\" }")),
            status: 422,
            key: None,
            reason: "which has no coefficient (there is no default)",
        },
        Bad {
            name: "points parameters: an override for an institution that does not exist",
            method: "POST",
            path: "/api/configs?kind=params&name=bad",
            body: Body::Text(edit(pp, "overrides = {}", "overrides = { \"H9999\" = \"1.1\" }")),
            status: 422,
            key: Some("coefficients.overrides.H9999"),
            reason: "names no institution",
        },
        Bad {
            name: "settlement run: cost_growth = -1.5",
            method: "POST",
            path: "/api/settlement/runs",
            body: Body::Json(json!({"year": 2025, "params": edit(sp, "cost_growth = \"0.020\"", "cost_growth = \"-1.5\"")})),
            status: 422,
            key: Some("budget.employee.cost_growth"),
            reason: "must be above -1 (the growth factor 1+r must be positive)",
        },
        Bad {
            name: "settlement run: negative reserve and fund-type shares not summing to 1 (both reported)",
            method: "POST",
            path: "/api/settlement/runs",
            body: Body::Json(json!({"year": 2025, "params": edit(&edit(sp, "offsite = \"0.030\"", "offsite = \"-0.030\""), "[\"医疗救助\", \"0.03\"]", "[\"医疗救助\", \"0.04\"]")})),
            status: 422,
            key: Some("fund_types.default"),
            reason: "must sum to exactly 1",
        },
        Bad {
            name: "settlement run: unknown key",
            method: "POST",
            path: "/api/settlement/runs",
            body: Body::Json(json!({"year": 2025, "params": edit(sp, "price_index = \"0.010\"", "price_idx = \"0.010\"")})),
            status: 422,
            key: Some("budget.employee.price_idx"),
            reason: "unknown key",
        },
        Bad {
            name: "institution: unknown level",
            method: "POST",
            path: "/api/institutions",
            body: Body::Json(json!({"id": "H0100", "name": "新医院", "level": "三甲"})),
            status: 422,
            key: Some("level"),
            reason: "must be one of 三级, 二级, 一级, 基层",
        },
        Bad {
            name: "institution: alliance lead that does not exist",
            method: "POST",
            path: "/api/institutions",
            body: Body::Json(json!({"id": "H0100", "name": "新医院", "level": "一级", "alliance_lead": "H9999"})),
            status: 422,
            key: Some("alliance_lead"),
            reason: "names no institution",
        },
        Bad {
            name: "institution: empty name",
            method: "POST",
            path: "/api/institutions",
            body: Body::Json(json!({"id": "H0100", "name": " ", "level": "一级"})),
            status: 422,
            key: Some("name"),
            reason: "must not be empty",
        },
        Bad {
            name: "institution: unknown field",
            method: "POST",
            path: "/api/institutions",
            body: Body::Json(json!({"id": "H0100", "name": "新医院", "level": "一级", "levle": "二级"})),
            status: 400,
            key: None,
            reason: "unknown field `levle`",
        },
    ]
}

async fn send(f: &Fixture, b: &Bad) -> (u16, Value) {
    let r = f.req(b.method, b.path, Some("admin"));
    let r = match &b.body {
        Body::Text(t) => r.body(t.clone()),
        Body::Json(v) => r.json(v),
    };
    let r = r.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configurations_are_refused_with_the_key_and_the_reason() {
    for db in databases().await {
        println!("-- {}", db.name);
        let f = start(db.store.clone()).await;
        let configs_before = f.req("GET", "/api/configs", Some("admin")).send().await.expect("configs").text().await.expect("text");
        let insts_before = f.req("GET", "/api/institutions", Some("admin")).send().await.expect("insts").text().await.expect("text");
        let mut failures = Vec::new();
        for b in bad_configurations() {
            let (status, body) = send(&f, &b).await;
            let err = &body["error"];
            let message = err["message"].as_str().unwrap_or("");
            let ok_status = status == b.status;
            let ok_detail = match b.key {
                Some(k) => err["details"].as_array().is_some_and(|d| {
                    d.iter().any(|p| p["key"] == k && p["reason"].as_str().is_some_and(|r| r.contains(b.reason)))
                }) && err["code"] == "invalid_configuration",
                None => message.contains(b.reason),
            };
            if !ok_status || !ok_detail {
                failures.push(format!("{}: status {status} (wanted {}), body {body}", b.name, b.status));
            }
        }
        // Nothing was stored.
        let configs_after = f.req("GET", "/api/configs", Some("admin")).send().await.expect("configs").text().await.expect("text");
        let insts_after = f.req("GET", "/api/institutions", Some("admin")).send().await.expect("insts").text().await.expect("text");
        assert_eq!(configs_before, configs_after, "a refused configuration was stored");
        assert_eq!(insts_before, insts_after, "a refused institution was stored");
        assert!(failures.is_empty(), "{}", failures.join("\n"));

        // Good ones still pass: the built-in parameters, a member of an existing lead.
        let r = f.req("POST", "/api/configs?kind=params&name=ok", Some("admin")).body(points::DEFAULT_PARAMS).send().await.expect("send");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let r = f
            .req("POST", "/api/institutions", Some("admin"))
            .json(&json!({"id": "H0100", "name": "新卫生院", "level": "基层", "alliance_lead": A}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        // A member cannot lead: an institution naming H0100 as its lead is refused.
        let r = f
            .req("POST", "/api/institutions", Some("admin"))
            .json(&json!({"id": "H0101", "name": "村卫生室", "level": "基层", "alliance_lead": "H0100"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.expect("json");
        assert!(body["error"]["message"].as_str().unwrap_or("").contains("H0100 is itself a member of the alliance led by H0001"), "{body}");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_that_cannot_be_settled_fail_naming_the_line_or_the_institution() {
    for db in databases().await {
        println!("-- {}", db.name);
        let f = start(db.store.clone()).await;
        // Last year's cases of A only: inpatient lines, no day care.
        let r = f.req("POST", "/api/uploads?name=a.csv", Some("admin")).body(f.csv(A, 0, usize::MAX)).send().await.expect("upload");
        assert_eq!(r.status(), 201);
        let params = format!(
            "{}\n[[budget.adjustments]]\ninsurance = \"职工\"\ncategory = \"日间医疗\"\namount = \"500000.00\"\nfrom_quarter = 3\nreason = \"新开日间病房\"\n",
            settle::DEFAULT_PARAMS
        );
        let started: Value = f
            .req("POST", "/api/settlement/runs", Some("admin"))
            .json(&json!({"year": 2025, "params": params}))
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        let id = started["id"].as_i64().unwrap_or_else(|| panic!("{started}"));
        let mut run = Value::Null;
        for _ in 0..600 {
            run = f.req("GET", &format!("/api/settlement/runs/{id}"), Some("admin")).send().await.expect("get").json().await.expect("json");
            if run["run"]["status"] != "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(run["run"]["status"], "failed", "{run}");
        let text = run.to_string();
        assert!(text.contains("budget.adjustments[0]") && text.contains("there is no budget line 职工/日间医疗"), "{text}");

        // A case of an institution that is not registered has no coefficient: the
        // upload refuses that record with the institution named (it was priced with
        // coefficient 1), and nothing of it reaches a run.
        let col = f.header.split(',').position(|h| h == "institution_id").expect("column");
        let row = f.rows[A].last().expect("a 2025 case");
        let mut cells: Vec<&str> = row.split(',').collect();
        cells[col] = "H0999";
        let r = f
            .req("POST", "/api/uploads?name=x.csv", Some("admin"))
            .body(format!("{}\n{}\n", f.header, cells.join(",")))
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 201);
        let answer: Value = r.json().await.expect("json");
        assert_eq!(answer["accepted"], 0, "{answer}");
        let refused = answer["rejected"].to_string();
        assert!(refused.contains("H0999") && refused.contains("INSTITUTION"), "{answer}");
        db.cleanup().await;
    }
}

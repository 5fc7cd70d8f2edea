//! The HTTP API on SQLite and PostgreSQL: OpenAPI coverage, the access matrix
//! (route × role × own/other institution), uploads, versions and the audit log.

mod common;

use std::collections::BTreeSet;

use common::{databases, start, Fixture, A, B};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_and_every_route_is_served() {
    let dbs = databases().await;
    let db = &dbs[0];
    let f = start(db.store.clone()).await;
    let doc: Value = f
        .req("GET", "/api/openapi.json", None)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = server::api::routes().docs;
    assert!(routes.len() >= 20);
    let mut documented = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        documented += ops.as_object().expect("ops").len();
        assert!(path.starts_with("/api/"), "{path}");
    }
    assert_eq!(
        documented,
        routes.len(),
        "the document has exactly the registered routes"
    );
    for r in &routes {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from the OpenAPI document",
            r.method,
            r.path
        );
        // Served: without a token a protected route answers 401 (never 404/405).
        let path = r
            .path
            .replace("{institution_id}", A)
            .replace("{case_id}", "C1")
            .replace("{upload_id}", "1")
            .replace("{config_id}", "1")
            .replace("{run_id}", "1")
            .replace("{name}", "summary.csv")
            .replace("{chart}", "monthly.svg")
            .replace("{kind}", "monthly");
        let status = f
            .req(r.method, &path, None)
            .send()
            .await
            .expect("send")
            .status()
            .as_u16();
        if r.access == server::Access::Public {
            assert!(
                status != 404 && status != 405 && status != 401,
                "{} {path}: {status}",
                r.method
            );
        } else {
            assert_eq!(status, 401, "{} {path} without a token", r.method);
            assert!(op["security"].is_array(), "{} {}", r.method, r.path);
        }
    }
    db.cleanup().await;
}

/// One row of the access matrix.
struct Case {
    method: &'static str,
    path: String,
    body: Option<Value>,
    raw: Option<String>,
    /// (user, expected status)
    expect: Vec<(&'static str, u16)>,
    /// The documented route this row covers.
    route: &'static str,
}

fn row(
    method: &'static str,
    route: &'static str,
    path: String,
    expect: &[(&'static str, u16)],
) -> Case {
    Case {
        method,
        path,
        body: None,
        raw: None,
        expect: expect.to_vec(),
        route,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_matrix_on_both_databases() {
    for db in databases().await {
        println!("-- {}", db.name);
        let f = start(db.store.clone()).await;
        // Data of both institutions: a case and an upload each.
        let up_a = upload_one(&f, "hosp_a", A, 0).await;
        let up_b = upload_one(&f, "hosp_b", B, 0).await;
        let case_a = up_a["case_id"].as_str().expect("id").to_owned();
        let case_b = up_b["case_id"].as_str().expect("id").to_owned();
        let (upload_a, upload_b) = (
            up_a["upload_id"].as_i64().expect("id"),
            up_b["upload_id"].as_i64().expect("id"),
        );
        let cfg: Value = f
            .req("POST", "/api/configs?kind=weights&name=t", Some("admin"))
            .body("code,rw,mean_cost\nBR21,1.5,15000\n")
            .send()
            .await
            .expect("cfg")
            .json()
            .await
            .expect("json");
        let cfg_id = cfg["id"].as_i64().expect("cfg id");

        let all_ok = |s: u16| vec![("admin", s), ("reviewer", s), ("hosp_a", s)];
        let admin_only = |s: u16| vec![("admin", s), ("reviewer", 403), ("hosp_a", 403)];
        let agency_only = |s: u16| vec![("admin", s), ("reviewer", s), ("hosp_a", 403)];
        let mut m: Vec<Case> = vec![
            row("GET", "/api/me", "/api/me".into(), &all_ok(200)),
            row(
                "GET",
                "/api/institutions",
                "/api/institutions".into(),
                &all_ok(200),
            ),
            row(
                "GET",
                "/api/institutions/{institution_id}",
                format!("/api/institutions/{A}"),
                &all_ok(200),
            ),
            row(
                "GET",
                "/api/institutions/{institution_id}",
                format!("/api/institutions/{B}"),
                &agency_only(200),
            ),
            row(
                "GET",
                "/api/institutions/{institution_id}/cases",
                format!("/api/institutions/{A}/cases"),
                &all_ok(200),
            ),
            row(
                "GET",
                "/api/institutions/{institution_id}/cases",
                format!("/api/institutions/{B}/cases"),
                &agency_only(200),
            ),
            row(
                "GET",
                "/api/institutions/{institution_id}/cases/{case_id}",
                format!("/api/institutions/{A}/cases/{case_a}"),
                &all_ok(200),
            ),
            row(
                "GET",
                "/api/institutions/{institution_id}/cases/{case_id}",
                format!("/api/institutions/{B}/cases/{case_b}"),
                &agency_only(200),
            ),
            row("GET", "/api/cases", "/api/cases".into(), &all_ok(200)),
            row(
                "GET",
                "/api/cases",
                format!("/api/cases?institution_id={A}"),
                &all_ok(200),
            ),
            row(
                "GET",
                "/api/cases",
                format!("/api/cases?institution_id={B}"),
                &agency_only(200),
            ),
            row("GET", "/api/uploads", "/api/uploads".into(), &all_ok(200)),
            row(
                "GET",
                "/api/uploads",
                format!("/api/uploads?institution_id={B}"),
                &agency_only(200),
            ),
            row(
                "GET",
                "/api/uploads/{upload_id}",
                format!("/api/uploads/{upload_a}"),
                &all_ok(200),
            ),
            row(
                "GET",
                "/api/uploads/{upload_id}",
                format!("/api/uploads/{upload_b}"),
                &agency_only(200),
            ),
            // Progress is the uploader's own: no one has an upload under this key.
            row("GET", "/api/uploads/progress/{key}", "/api/uploads/progress/nokey".into(), &all_ok(404)),
            row("GET", "/api/users", "/api/users".into(), &admin_only(200)),
            row(
                "GET",
                "/api/configs",
                "/api/configs".into(),
                &agency_only(200),
            ),
            row(
                "GET",
                "/api/configs/{config_id}",
                format!("/api/configs/{cfg_id}"),
                &agency_only(200),
            ),
            row("GET", "/api/engine", "/api/engine".into(), &all_ok(200)),
            row("GET", "/api/audit", "/api/audit".into(), &admin_only(200)),
            row("GET", "/api/login-locks", "/api/login-locks".into(), &admin_only(200)),
        ];
        // Special cases and disputes: one of B's each, made by B.
        let hist: Value = f
            .req(
                "GET",
                &format!("/api/institutions/{A}/cases/{case_a}"),
                Some("hosp_a"),
            )
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        let quarter_a = store::quarter_of(hist["versions"][0]["period"].as_str().expect("period"))
            .expect("quarter");
        let sc_b: Value = f
            .req("POST", "/api/special-cases", Some("hosp_b"))
            .json(&json!({"case_id": case_b, "reason": "high_cost", "note": "ECMO"}))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        let sc_b = sc_b["id"].as_i64().expect("special case id");
        let d_b: Value = f
            .req("POST", "/api/disputes", Some("hosp_b"))
            .json(&json!({"case_id": case_b, "kind": "grouping", "body": "主要诊断选择有误"}))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        let d_b = d_b["id"].as_i64().expect("dispute id");
        m.push(row(
            "GET",
            "/api/special-cases/quota",
            format!("/api/special-cases/quota?quarter={quarter_a}"),
            &[("hosp_a", 200), ("admin", 400)],
        ));
        m.push(row(
            "GET",
            "/api/special-cases/quota",
            format!("/api/special-cases/quota?quarter={quarter_a}&institution_id={A}"),
            &all_ok(200),
        ));
        m.push(row(
            "GET",
            "/api/special-cases/quota",
            format!("/api/special-cases/quota?quarter={quarter_a}&institution_id={B}"),
            &agency_only(200),
        ));
        m.push(Case {
            body: Some(json!({"case_id": case_a, "reason": "long_stay", "note": "住院 90 天"})),
            ..row(
                "POST",
                "/api/special-cases",
                "/api/special-cases".into(),
                &[("admin", 403), ("reviewer", 403), ("hosp_a", 201)],
            )
        });
        m.push(Case {
            body: Some(json!({"institution_id": B, "case_id": case_b, "reason": "long_stay"})),
            ..row(
                "POST",
                "/api/special-cases",
                "/api/special-cases".into(),
                &[("hosp_a", 403)],
            )
        });
        m.push(row(
            "GET",
            "/api/special-cases",
            "/api/special-cases".into(),
            &all_ok(200),
        ));
        m.push(row(
            "GET",
            "/api/special-cases",
            format!("/api/special-cases?institution_id={B}"),
            &agency_only(200),
        ));
        m.push(row(
            "GET",
            "/api/special-cases/{special_case_id}",
            format!("/api/special-cases/{sc_b}"),
            &agency_only(200),
        ));
        m.push(Case {
            body: Some(
                json!({"decision": "approve", "pay_as": "fee_for_service", "comment": "同意"}),
            ),
            ..row(
                "POST",
                "/api/special-cases/{special_case_id}/review",
                format!("/api/special-cases/{sc_b}/review"),
                &[("hosp_a", 403), ("reviewer", 200), ("admin", 409)],
            )
        });
        m.push(Case {
            body: Some(json!({"case_id": case_a, "kind": "payment", "body": "点数偏低"})),
            ..row(
                "POST",
                "/api/disputes",
                "/api/disputes".into(),
                &[("admin", 403), ("reviewer", 403), ("hosp_a", 201)],
            )
        });
        m.push(Case {
            body: Some(
                json!({"institution_id": B, "case_id": case_b, "kind": "payment", "body": "x"}),
            ),
            ..row(
                "POST",
                "/api/disputes",
                "/api/disputes".into(),
                &[("hosp_a", 403)],
            )
        });
        m.push(row(
            "GET",
            "/api/disputes",
            "/api/disputes".into(),
            &all_ok(200),
        ));
        m.push(row(
            "GET",
            "/api/disputes",
            format!("/api/disputes?institution_id={B}"),
            &agency_only(200),
        ));
        m.push(row(
            "GET",
            "/api/disputes/{dispute_id}",
            format!("/api/disputes/{d_b}"),
            &agency_only(200),
        ));
        m.push(Case {
            body: Some(json!({"answer": "已复核，维持原分组"})),
            ..row(
                "POST",
                "/api/disputes/{dispute_id}/answer",
                format!("/api/disputes/{d_b}/answer"),
                &[("hosp_a", 403), ("reviewer", 200), ("admin", 200)],
            )
        });
        // Changes.
        let inst = json!({"id": "H0003", "name": "新医院", "level": "二级"});
        m.push(Case {
            body: Some(inst),
            ..row(
                "POST",
                "/api/institutions",
                "/api/institutions".into(),
                &admin_only(200),
            )
        });
        let mut n = 0;
        let user = move |n: &mut i32| {
            *n += 1;
            json!({"username": format!("new{n}"), "password": "long-password", "role": "agency_reviewer"})
        };
        for who in ["admin", "reviewer", "hosp_a"] {
            // Unlocking an account that is not locked: 404 for the administrator.
            let expect = if who == "admin" { 404 } else { 403 };
            m.push(Case {
                body: Some(json!({"username": "nobody"})),
                ..row("POST", "/api/login-locks/unlock", "/api/login-locks/unlock".into(), &[(who, expect)])
            });
        }
        for who in ["admin", "reviewer", "hosp_a"] {
            let expect = if who == "admin" { 200 } else { 403 };
            m.push(Case {
                body: Some(user(&mut n)),
                ..row("POST", "/api/users", "/api/users".into(), &[(who, expect)])
            });
        }
        m.push(Case {
            raw: Some("code,rw,mean_cost\nBR21,1.1,9000\n".into()),
            ..row(
                "POST",
                "/api/configs",
                "/api/configs?kind=weights".into(),
                &admin_only(201),
            )
        });
        m.push(Case {
            body: Some(json!({"effective_from": "2099-01-01"})),
            ..row(
                "POST",
                "/api/configs/{config_id}/activate",
                format!("/api/configs/{cfg_id}/activate"),
                &admin_only(200),
            )
        });
        // Uploads: own institution yes, another's never; reviewers do not upload.
        m.push(Case {
            body: Some(f.json_case(A, 1)),
            ..row(
                "POST",
                "/api/cases",
                "/api/cases".into(),
                &[("admin", 201), ("reviewer", 403), ("hosp_a", 201)],
            )
        });
        m.push(Case {
            body: Some(f.json_case(B, 1)),
            ..row(
                "POST",
                "/api/cases",
                "/api/cases".into(),
                &[("hosp_a", 403), ("admin", 201)],
            )
        });
        m.push(Case {
            raw: Some(f.csv(A, 2, 2)),
            ..row(
                "POST",
                "/api/uploads",
                "/api/uploads?name=a.csv".into(),
                &[("admin", 201), ("reviewer", 403), ("hosp_a", 201)],
            )
        });
        m.push(Case {
            raw: Some(f.csv(B, 2, 2)),
            ..row(
                "POST",
                "/api/uploads",
                "/api/uploads?name=b.csv".into(),
                &[("hosp_a", 201)],
            )
        });
        // Settlement: a finished 2025 run over A's and B's cases.
        let run = f.settled_run().await;
        assert_eq!(run["run"]["status"], "done", "{}: {run}", db.name);
        let run_id = run["run"]["id"].as_i64().expect("run id");
        m.push(Case {
            body: Some(json!({"year": 2025})),
            ..row("POST", "/api/settlement/runs", "/api/settlement/runs".into(), &[("admin", 200), ("reviewer", 403), ("hosp_a", 403)])
        });
        m.push(row("GET", "/api/settlement/runs", "/api/settlement/runs".into(), &all_ok(200)));
        m.push(row("GET", "/api/settlement/runs/{run_id}", format!("/api/settlement/runs/{run_id}"), &all_ok(200)));
        m.push(row("GET", "/api/settlement/latest", "/api/settlement/latest?year=2025".into(), &all_ok(200)));
        let docs = "/api/settlement/runs/{run_id}/documents/{name}";
        m.push(row("GET", docs, format!("/api/settlement/runs/{run_id}/documents/summary.csv"), &[("admin", 200), ("reviewer", 200), ("hosp_a", 404)]));
        m.push(row("GET", docs, format!("/api/settlement/runs/{run_id}/documents/{A}.xlsx"), &[("admin", 200), ("hosp_a", 200)]));
        m.push(row("GET", docs, format!("/api/settlement/runs/{run_id}/documents/{B}.csv"), &[("reviewer", 200), ("hosp_a", 404)]));
        // Pages' data: dashboard, charts, bulletin, export.
        m.push(row("GET", "/api/dashboard", "/api/dashboard?year=2025".into(), &all_ok(200)));
        m.push(row("GET", "/api/dashboard", format!("/api/dashboard?year=2025&institution_id={B}"), &[("reviewer", 200), ("hosp_a", 403)]));
        m.push(row("GET", "/api/charts/{chart}", "/api/charts/monthly.svg?year=2025".into(), &all_ok(200)));
        m.push(row("GET", "/api/charts/{chart}", "/api/charts/point-values.svg?year=2025".into(), &all_ok(200)));
        m.push(row("GET", "/api/charts/{chart}", format!("/api/charts/monthly.svg?institution_id={B}"), &[("admin", 200), ("hosp_a", 403)]));
        m.push(row("GET", "/api/charts/{chart}", "/api/charts/nope.svg".into(), &[("admin", 404)]));
        m.push(row("GET", "/api/special-cases/bulletin", "/api/special-cases/bulletin?year=2025&half=1".into(), &all_ok(200)));
        m.push(row("GET", "/api/special-cases/bulletin", "/api/special-cases/bulletin?year=2025&half=3".into(), &[("admin", 400)]));
        m.push(Case {
            body: Some(json!({"title": "t", "columns": ["a", "b"], "rows": [["x", 1]]})),
            ..row("POST", "/api/export.xlsx", "/api/export.xlsx".into(), &all_ok(200))
        });
        let rep = "/api/reports/{kind}";
        m.push(row("GET", rep, "/api/reports/monthly?period=2025-03".into(), &[("hosp_a", 200), ("admin", 400)]));
        m.push(row("GET", rep, format!("/api/reports/monthly?period=2025-03&institution_id={A}"), &[("admin", 200), ("reviewer", 200), ("hosp_a", 200)]));
        m.push(row("GET", rep, format!("/api/reports/monthly?period=2025-03&institution_id={B}"), &[("hosp_a", 403)]));
        m.push(row("GET", rep, "/api/reports/quarterly?period=2025Q1".into(), &agency_only(200)));
        m.push(row("GET", rep, "/api/reports/annual?period=2025&format=xlsx".into(), &agency_only(200)));
        m.push(row("GET", rep, "/api/reports/annual?period=2025-03".into(), &[("admin", 400)]));
        m.push(row("POST", "/api/logout", "/api/logout".into(), &[]));

        for c in &m {
            for (who, want) in &c.expect {
                let mut r = f.req(c.method, &c.path, Some(who));
                if let Some(b) = &c.body {
                    r = r.json(b);
                }
                if let Some(b) = &c.raw {
                    r = r.body(b.clone());
                }
                let resp = r.send().await.expect("send");
                let got = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                assert_eq!(
                    got, *want,
                    "{}: {} {} as {who}: {body}",
                    db.name, c.method, c.path
                );
                // What a hospital user gets back is its own institution's only.
                if *who == "hosp_a" && got == 200 && c.method == "GET" {
                    let s = body.to_string();
                    assert!(
                        !s.contains(&format!("\"institution_id\":\"{B}\""))
                            && !s.contains(&format!("\"id\":\"{B}\"")),
                        "{}: {} leaks {B}: {s}",
                        db.name,
                        c.path
                    );
                }
                if c.path == "/api/uploads?name=b.csv" {
                    assert_eq!(
                        body["accepted"], 0,
                        "another institution's records are refused"
                    );
                    assert!(body["rejected"]
                        .as_array()
                        .expect("rejected")
                        .iter()
                        .all(|p| p["rule_id"] == "ACCESS" && p["field"] == "institution_id"));
                }
            }
        }
        // Every documented protected route is in the matrix (logout tested below).
        let covered: BTreeSet<(&str, &str)> = m.iter().map(|c| (c.method, c.route)).collect();
        for r in server::api::routes().docs {
            if r.access != server::Access::Public {
                assert!(
                    covered.contains(&(r.method, r.path)),
                    "{} {} has no access test",
                    r.method,
                    r.path
                );
            }
        }
        // Logout ends the session.
        assert_eq!(
            f.req("POST", "/api/logout", Some("hosp_b"))
                .send()
                .await
                .expect("send")
                .status(),
            200
        );
        assert_eq!(
            f.req("GET", "/api/me", Some("hosp_b"))
                .send()
                .await
                .expect("send")
                .status(),
            401
        );
        // Wrong passwords are refused and audited.
        let r = f
            .req("POST", "/api/login", None)
            .json(&json!({"username": "admin", "password": "nope"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401);
        let audit: Value = f
            .req("GET", "/api/audit?limit=1000", Some("admin"))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        let actions: Vec<&str> = audit
            .as_array()
            .expect("audit")
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for a in [
            "session.login",
            "session.logout",
            "session.login_failed",
            "upload.create",
            "user.create",
            "institution.create",
            "config.upload",
            "config.activate",
        ] {
            assert!(actions.contains(&a), "{}: audit has no {a}", db.name);
        }
        db.cleanup().await;
    }
}

async fn upload_one(f: &Fixture, who: &str, inst: &str, n: usize) -> Value {
    let r = f
        .req("POST", "/api/cases", Some(who))
        .json(&f.json_case(inst, n))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_group_price_version_and_locate_errors() {
    for db in databases().await {
        println!("-- {}", db.name);
        let f = start(db.store.clone()).await;
        let one = upload_one(&f, "hosp_a", A, 3).await;
        assert_eq!(one["version"], 1);
        assert_eq!(one["institution_id"], A);
        assert!(one["group"]["drg"].as_str().is_some_and(|d| d.len() == 4));
        assert!(one["trace"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(one["points"]["total"].is_string() || one["points"]["total"].is_number());
        // A 2024 case and no 2023 cases in the store: no budget, no expected point
        // value — the estimate says so instead of using a made-up rate.
        assert_eq!(one["estimate"]["status"], "unavailable", "{}", one["estimate"]);
        assert!(one["estimate"]["yuan"].is_null());
        assert!(one["estimate"]["reason"].as_str().is_some_and(|r| r.contains("2023")), "{}", one["estimate"]);
        assert!(one["findings"].is_array());
        // Re-submitted: version 2, history keeps version 1.
        let again = upload_one(&f, "hosp_a", A, 3).await;
        assert_eq!(again["version"], 2, "{}", db.name);
        let case_id = one["case_id"].as_str().expect("id");
        let hist: Value = f
            .req(
                "GET",
                &format!("/api/institutions/{A}/cases/{case_id}"),
                Some("hosp_a"),
            )
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(hist["versions"].as_array().expect("v").len(), 2);
        assert_eq!(hist["versions"][0]["result"]["drg"], one["group"]["drg"]);

        // Bad input: not JSON, not an object, no case id.
        assert_eq!(
            f.req("POST", "/api/cases", Some("hosp_a"))
                .body("{oops")
                .send()
                .await
                .expect("s")
                .status(),
            400
        );
        assert_eq!(
            f.req("POST", "/api/cases", Some("hosp_a"))
                .json(&json!([1]))
                .send()
                .await
                .expect("s")
                .status(),
            400
        );
        let r = f
            .req("POST", "/api/cases", Some("hosp_a"))
            .json(&json!({"institution_id": A, "los": "3"}))
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.expect("j");
        assert_eq!(e["error"]["details"][0]["field"], "case_id");

        // A batch with a broken line and a foreign record: located errors, the rest stored.
        let mut csv = f.csv(A, 4, 5);
        csv += "broken,line\n";
        csv += &f.rows[B][0];
        csv.push('\n');
        let r = f
            .req("POST", "/api/uploads?name=batch.csv", Some("hosp_a"))
            .body(csv)
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 201);
        let b: Value = r.json().await.expect("j");
        assert_eq!(b["accepted"], 5, "{}: {b}", db.name);
        let rej = b["rejected"].as_array().expect("rejected");
        assert_eq!(rej.len(), 2);
        assert_eq!(
            (rej[0]["line"].as_u64(), rej[0]["rule_id"].as_str()),
            (Some(7), Some("READ"))
        );
        assert_eq!(
            (
                rej[1]["line"].as_u64(),
                rej[1]["rule_id"].as_str(),
                rej[1]["field"].as_str()
            ),
            (Some(8), Some("ACCESS"), Some("institution_id"))
        );
        // Every line accounted for: the foreign record is read, then refused.
        assert_eq!(
            b["line_count"],
            json!({"lines": 8, "header": 1, "read": 6, "rejected": 1, "blank": 0}),
            "{b}"
        );

        // An unterminated quote rejects its line only (issue 13): the records
        // after it are read, and the answer says where and why.
        let mut csv = f.csv(A, 20, 2);
        csv += &f.rows[A][22].replacen(',', ",\"", 1);
        csv += "\n\n";
        for r in f.rows[A].iter().skip(23).take(3) {
            csv += r;
            csv.push('\n');
        }
        let q: Value = f
            .req("POST", "/api/uploads?name=quote.csv", Some("hosp_a"))
            .body(csv)
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(q["accepted"], 5, "{q}");
        assert_eq!(
            q["line_count"],
            json!({"lines": 8, "header": 1, "read": 5, "rejected": 1, "blank": 1}),
            "{q}"
        );
        let rej = q["rejected"].as_array().expect("rejected");
        assert_eq!(rej.len(), 1, "{q}");
        assert_eq!(
            (rej[0]["line"].as_u64(), rej[0]["rule_id"].as_str(), rej[0]["field"].as_str()),
            (Some(4), Some("READ"), Some("institution_id"))
        );
        let msg = rej[0]["message"].as_str().unwrap_or("");
        assert!(msg.starts_with("line 4: unterminated quote in column institution_id (cell 2)"), "{msg}");
        let up: Value = f
            .req(
                "GET",
                &format!("/api/uploads/{}", b["upload_id"]),
                Some("hosp_a"),
            )
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(up["rejected_records"].as_array().expect("r").len(), 2);
        assert_eq!(up["accepted"], 5);

        // JSONL batch, and the queries by institution and period.
        let jl: String = (10..13)
            .map(|n| f.json_case(A, n).to_string() + "\n")
            .collect();
        let r: Value = f
            .req("POST", "/api/uploads?name=b.jsonl", Some("hosp_a"))
            .body(jl)
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(r["accepted"], 3);
        let cases: Value = f
            .req(
                "GET",
                &format!("/api/institutions/{A}/cases?limit=1000"),
                Some("hosp_a"),
            )
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(
            cases.as_array().expect("a").len(),
            1 + 5 + 5 + 3,
            "latest versions only"
        );
        let p = cases[0]["period"].as_str().expect("period").to_owned();
        let in_p: Value = f
            .req(
                "GET",
                &format!("/api/cases?period_from={p}&period_to={p}&limit=1000"),
                Some("hosp_a"),
            )
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert!(in_p
            .as_array()
            .expect("a")
            .iter()
            .all(|c| c["period"] == p.as_str()));
        assert!(!in_p.as_array().expect("a").is_empty());

        // Configurations: a bad one is refused with its line; a good one is used from its effective date.
        let r = f
            .req("POST", "/api/configs?kind=weights", Some("admin"))
            .body("code,rw,mean_cost\nBR21,x,1\n")
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 400);
        assert!(r.text().await.expect("t").contains("line 2"));
        let r = f
            .req("POST", "/api/configs?kind=params", Some("admin"))
            .body("not toml [")
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["error"]["code"], "invalid_configuration", "{e}");
        assert_eq!(e["error"]["details"][0]["line"], 1, "{e}");
        let mut params = points::DEFAULT_PARAMS.to_owned();
        params = params.replacen("version = ", "version = \"test-2099\" # ", 1);
        let r: Value = f
            .req("POST", "/api/configs?kind=params&name=p", Some("admin"))
            .body(params)
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        let id = r["id"].as_i64().expect("id");
        let r = f
            .req(
                "POST",
                &format!("/api/configs/{id}/activate"),
                Some("admin"),
            )
            .json(&json!({"effective_from": "2099-01-01"}))
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 200);
        let e: Value = f
            .req("GET", "/api/engine?day=2099-06-01", Some("hosp_a"))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(e["params_id"], id);
        assert_eq!(e["params_version"], "test-2099");
        let e: Value = f
            .req("GET", "/api/engine?day=2025-06-01", Some("hosp_a"))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(e["params_id"], Value::Null);
        let r = f
            .req(
                "POST",
                &format!("/api/configs/{id}/activate"),
                Some("admin"),
            )
            .json(&json!({"effective_from": "someday"}))
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 400);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_case_quota_review_and_disputes() {
    for db in databases().await {
        println!("-- {}", db.name);
        let f = start(db.store.clone()).await;
        // 45 cases of A in one batch.
        let r: Value = f
            .req("POST", "/api/uploads?name=a.csv", Some("hosp_a"))
            .body(f.csv(A, 0, 45))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(r["accepted"], 45);
        let cases: Value = f
            .req(
                "GET",
                &format!("/api/institutions/{A}/cases?limit=1000"),
                Some("hosp_a"),
            )
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        // The quarter with the most cases.
        let mut by_q: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for c in cases.as_array().expect("a") {
            if let Some(q) = store::quarter_of(c["period"].as_str().unwrap_or("")) {
                by_q.entry(q)
                    .or_default()
                    .push(c["case_id"].as_str().expect("id").to_owned());
            }
        }
        let (quarter, ids) = by_q
            .into_iter()
            .max_by_key(|(_, v)| v.len())
            .expect("a quarter");
        let q: Value = f
            .req(
                "GET",
                &format!("/api/special-cases/quota?quarter={quarter}"),
                Some("hosp_a"),
            )
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        let quota = q["quota"].as_i64().expect("quota");
        assert_eq!(q["discharges"].as_u64(), Some(ids.len() as u64));
        assert_eq!(quota, (ids.len() as i64 * 5 + 99) / 100, "5 % rounded up");
        assert_eq!(q["rate"], "0.05");
        // Apply until the quota is used up.
        let mut apps = Vec::new();
        for id in ids.iter().take(quota as usize) {
            let r = f
                .req("POST", "/api/special-cases", Some("hosp_a"))
                .json(&json!({"case_id": id, "reason": "high_cost"}))
                .send()
                .await
                .expect("s");
            assert_eq!(r.status(), 201);
            apps.push(
                r.json::<Value>().await.expect("j")["id"]
                    .as_i64()
                    .expect("id"),
            );
        }
        let next = &ids[quota as usize];
        let r = f
            .req("POST", "/api/special-cases", Some("hosp_a"))
            .json(&json!({"case_id": next, "reason": "high_cost"}))
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 409, "quota used up");
        // Bad input.
        let r = f
            .req("POST", "/api/special-cases", Some("hosp_a"))
            .json(&json!({"case_id": next, "reason": "because"}))
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 400);
        let r = f
            .req("POST", "/api/special-cases", Some("hosp_a"))
            .json(&json!({"case_id": "NOPE", "reason": "high_cost"}))
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 404);
        // Review: approval needs a payment method, rejection needs reasons; a rejection frees the slot.
        let url = |id: i64| format!("/api/special-cases/{id}/review");
        assert_eq!(
            f.req("POST", &url(apps[0]), Some("reviewer"))
                .json(&json!({"decision": "approve"}))
                .send()
                .await
                .expect("s")
                .status(),
            400
        );
        assert_eq!(
            f.req("POST", &url(apps[0]), Some("reviewer"))
                .json(&json!({"decision": "reject"}))
                .send()
                .await
                .expect("s")
                .status(),
            400
        );
        let r: Value = f
            .req("POST", &url(apps[0]), Some("reviewer"))
            .json(&json!({"decision": "reject", "comment": "费用未达高倍率"}))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(
            (r["status"].as_str(), r["comment"].as_str()),
            (Some("rejected"), Some("费用未达高倍率"))
        );
        assert_eq!(
            f.req("POST", &url(apps[0]), Some("admin"))
                .json(&json!({"decision": "approve", "pay_as": "fee_for_service"}))
                .send()
                .await
                .expect("s")
                .status(),
            409
        );
        let r = f
            .req("POST", "/api/special-cases", Some("hosp_a"))
            .json(&json!({"case_id": next, "reason": "new_technology"}))
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 201, "the rejected application no longer counts");
        let ok: Value = f
            .req(
                "POST",
                &url(r.json::<Value>().await.expect("j")["id"]
                    .as_i64()
                    .expect("id")),
                Some("reviewer"),
            )
            .json(&json!({"decision": "approve", "pay_as": "adjusted_standard", "adjusted_points": 88.25}))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(
            (ok["status"].as_str(), ok["pay_as"].as_str(), ok["adjusted_points"].as_str()),
            (Some("approved"), Some("adjusted_standard"), Some("88.25"))
        );
        let approved: Value = f
            .req("GET", "/api/special-cases?status=approved", Some("hosp_a"))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(approved.as_array().expect("a").len(), 1);

        // Disputes: a grouping dispute names a case; the deadline is 15 days; answered, then closed.
        let r = f
            .req("POST", "/api/disputes", Some("hosp_a"))
            .json(&json!({"kind": "grouping", "body": "x"}))
            .send()
            .await
            .expect("s");
        assert_eq!(r.status(), 400);
        let s: Value = f
            .req("POST", "/api/disputes", Some("hosp_a"))
            .json(&json!({"kind": "suggestion", "body": "建议细化 BR2 分组"}))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(
            (s["status"].as_str(), s["overdue"].as_bool()),
            (Some("open"), Some(false))
        );
        assert_eq!(
            s["deadline"].as_i64().expect("deadline") - s["raised_at"].as_i64().expect("raised"),
            15 * 86_400_000
        );
        let id = s["id"].as_i64().expect("id");
        let a: Value = f
            .req(
                "POST",
                &format!("/api/disputes/{id}/answer"),
                Some("reviewer"),
            )
            .json(&json!({"answer": "已收到"}))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(a["status"], "answered");
        let a: Value = f
            .req("POST", &format!("/api/disputes/{id}/answer"), Some("admin"))
            .json(&json!({"answer": "下年度方案采纳", "close": true}))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert_eq!(a["status"], "closed");
        assert_eq!(
            f.req("POST", &format!("/api/disputes/{id}/answer"), Some("admin"))
                .json(&json!({"answer": "again"}))
                .send()
                .await
                .expect("s")
                .status(),
            409
        );
        let open: Value = f
            .req("GET", "/api/disputes?status=open", Some("hosp_a"))
            .send()
            .await
            .expect("s")
            .json()
            .await
            .expect("j");
        assert!(open.as_array().expect("a").is_empty());
        db.cleanup().await;
    }
}

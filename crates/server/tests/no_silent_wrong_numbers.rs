//! "No silent wrong numbers" (issue 13) over the HTTP API, on SQLite and
//! PostgreSQL: one row per bad input, each ending in a located error (status,
//! line, field, value, rule) or a documented warning (the answer says what is
//! wrong and which figure it concerns), never a silently changed figure.
//!
//! Then the withheld-case flow end to end: a case with an M001 error is withheld,
//! shown with its reason, not paid in a run; its corrected version (same case id)
//! is paid in the next run, and exactly its points enter the line.

mod common;

use std::future::Future;
use std::pin::Pin;

use common::{databases, start, unique, Fixture, A, B};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// The state every row starts from: the 2024 cases of A and B in the store (the
/// history year of 2025: the conversion rate and the budget derive from it).
struct Ctx {
    f: Fixture,
    /// A 2025 settlement list of A that passes QC and is grouped (as a JSON object).
    clean: Value,
}

type Out<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

struct Row {
    name: &'static str,
    run: for<'a> fn(&'a Ctx) -> Out<'a>,
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

async fn post_case(f: &Fixture, who: &str, case: &Value) -> (u16, Value) {
    let r = f.req("POST", "/api/cases", Some(who)).json(case).send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn get_json(f: &Fixture, who: &str, path: &str) -> (u16, Value) {
    let r = f.req("GET", path, Some(who)).send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn get_text(f: &Fixture, who: &str, path: &str) -> (u16, String) {
    let r = f.req("GET", path, Some(who)).send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.text().await.unwrap_or_default())
}

/// `case` with `k = v` set (strings, as a CSV cell).
fn with(case: &Value, kv: &[(&str, &str)]) -> Value {
    let mut c = case.clone();
    for (k, v) in kv {
        c[*k] = json!(v);
    }
    c
}

/// `case` under a fresh case id.
fn renamed(case: &Value, prefix: &str) -> Value {
    with(case, &[("case_id", &unique(prefix))])
}

/// Every date of `case` moved from year `from` to year `to` (same weekday
/// irrelevant; use years of the same leap status).
fn moved(case: &Value, from: i32, to: i32) -> Value {
    let mut c = case.clone();
    if let Some(m) = c.as_object_mut() {
        for (k, v) in m.iter_mut() {
            if k.ends_with("_at") || k.contains("date") {
                if let Some(s) = v.as_str() {
                    *v = json!(s.replace(&format!("{from}-"), &format!("{to}-")));
                }
            }
        }
    }
    c
}

fn rule_ids(withheld: &Value) -> Vec<String> {
    withheld
        .as_array()
        .map(|a| a.iter().filter_map(|w| w["rule_id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A withheld answer: 201, grouped and priced, payable false, the rule among the
/// withholding findings with a message (what to fix), the rule on the case page too.
async fn expect_withheld(c: &Ctx, case: &Value, rule: &str, field: Option<&str>) -> Result<Value, String> {
    let (s, v) = post_case(&c.f, "hosp_a", case).await;
    ensure(s == 201, || format!("status {s}: {v}"))?;
    ensure(v["payable"] == false, || format!("payable: {}", v["payable"]))?;
    let w = v["withheld"].as_array().cloned().unwrap_or_default();
    let hit = w.iter().find(|x| x["rule_id"] == rule);
    ensure(hit.is_some(), || format!("{rule} not among the withholding findings {:?}", rule_ids(&v["withheld"])))?;
    let hit = hit.cloned().unwrap_or_default();
    ensure(hit["message"].as_str().is_some_and(|m| !m.is_empty()), || format!("{rule} without a message: {hit}"))?;
    if let Some(fl) = field {
        ensure(w.iter().any(|x| x["rule_id"] == rule && x["field"] == fl), || format!("{rule} not located on {fl}: {w:?}"))?;
    }
    ensure(v["points"]["payable"] == false, || format!("points.payable: {}", v["points"]))?;
    ensure(
        v["points"]["withheld_reason"].as_array().is_some_and(|a| a.iter().any(|r| r == rule)),
        || format!("points.withheld_reason: {}", v["points"]["withheld_reason"]),
    )?;
    // Stored with the version and shown on the case page.
    let (s, h) = get_json(&c.f, "hosp_a", &format!("/api/institutions/{A}/cases/{}", v["case_id"].as_str().unwrap_or(""))).await;
    ensure(s == 200, || format!("case page {s}"))?;
    let last = h["versions"].as_array().and_then(|a| a.last()).cloned().unwrap_or_default();
    ensure(last["result"]["payable"] == false, || format!("stored payable: {}", last["result"]))?;
    ensure(last["result"]["withheld"].as_str().is_some_and(|w| w.split(',').any(|r| r == rule)), || {
        format!("stored withheld: {}", last["result"]["withheld"])
    })?;
    ensure(last["withheld_findings"].as_array().is_some_and(|a| a.iter().any(|f| f["rule_id"] == rule)), || {
        format!("case page findings: {}", last["withheld_findings"])
    })?;
    Ok(v)
}

fn b<'a>(f: impl Future<Output = Result<(), String>> + Send + 'a) -> Out<'a> {
    Box::pin(f)
}

const ROWS: &[Row] = &[
    Row {
        name: "M001: fee categories sum to the bill, the list claims 999,999.99 — withheld, not priced as payable",
        run: |c| {
            b(async move {
                let bad = with(&renamed(&c.clean, "m001"), &[("total_cost", "999999.99")]);
                let v = expect_withheld(c, &bad, "M001", None).await?;
                ensure(rule_ids(&v["withheld"]).contains(&"M002".to_owned()), || format!("M002 too: {:?}", rule_ids(&v["withheld"])))?;
                // Points and the estimate are shown (what it would get), flagged as not payable.
                ensure(v["points"]["total"].is_string(), || format!("points shown: {}", v["points"]))?;
                ensure(v["estimate"]["status"] == "expected", || format!("estimate: {}", v["estimate"]))
            })
        },
    },
    Row {
        name: "discharge before admission — L001 withholds",
        run: |c| {
            b(async move {
                let (adm, dis) = (c.clean["admitted_at"].as_str().unwrap_or(""), c.clean["discharged_at"].as_str().unwrap_or(""));
                let bad = with(&renamed(&c.clean, "l001"), &[("admitted_at", dis), ("discharged_at", adm)]);
                expect_withheld(c, &bad, "L001", None).await.map(|_| ())
            })
        },
    },
    Row {
        name: "fund paid above total cost — M006 withholds",
        run: |c| {
            b(async move {
                let total: Decimal = c.clean["total_cost"].as_str().unwrap_or("0").parse().unwrap_or_default();
                let fund = (total + Decimal::ONE_HUNDRED).to_string();
                let bad = with(&renamed(&c.clean, "m006"), &[("fund_paid", &fund)]);
                expect_withheld(c, &bad, "M006", None).await.map(|_| ())
            })
        },
    },
    Row {
        name: "non-numeric total cost — F003 on total_cost withholds (never 0 points paid)",
        run: |c| {
            b(async move {
                let bad = with(&renamed(&c.clean, "f003a"), &[("total_cost", "abc")]);
                let v = expect_withheld(c, &bad, "F003", Some("total_cost")).await?;
                let w = v["withheld"].as_array().cloned().unwrap_or_default();
                ensure(w.iter().any(|x| x["rule_id"] == "F003" && x["value"] == "abc"), || format!("the value is named: {w:?}"))
            })
        },
    },
    Row {
        name: "sub-fen cost (12.345) — F003 on bed_fee withholds",
        run: |c| {
            b(async move {
                let bad = with(&renamed(&c.clean, "f003b"), &[("bed_fee", "12.345")]);
                expect_withheld(c, &bad, "F003", Some("bed_fee")).await.map(|_| ())
            })
        },
    },
    Row {
        name: "unknown institution (agency upload) — located 422, nothing stored, never coefficient 1",
        run: |c| {
            b(async move {
                let bad = with(&renamed(&c.clean, "inst"), &[("institution_id", "H9999")]);
                let (s, v) = post_case(&c.f, "admin", &bad).await;
                ensure(s == 422, || format!("status {s}: {v}"))?;
                let d = &v["error"]["details"][0];
                ensure(
                    d["rule_id"] == "INSTITUTION" && d["field"] == "institution_id" && d["value"] == "H9999" && d["line"] == 1,
                    || format!("located: {d}"),
                )?;
                ensure(v["error"]["message"].as_str().is_some_and(|m| m.contains("H9999") && m.contains("未登记")), || format!("{v}"))?;
                let (_, list) = get_json(&c.f, "admin", "/api/cases?institution_id=H9999").await;
                ensure(list.as_array().is_some_and(|a| a.is_empty()), || format!("stored: {list}"))
            })
        },
    },
    Row {
        name: "unknown institution in a batch — that record refused with line and field, the others stored",
        run: |c| {
            b(async move {
                let csv = c.f.csv(A, c.f.rows[A].len() - 3, 3);
                let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
                lines[2] = lines[2].replace(A, "H9998");
                let r = c.f.req("POST", "/api/uploads?name=b.csv", Some("admin")).body(lines.join("\n") + "\n").send().await.expect("send");
                let s = r.status().as_u16();
                let v: Value = r.json().await.unwrap_or_default();
                ensure(s == 201, || format!("status {s}: {v}"))?;
                ensure(v["accepted"] == 2 && v["records"] == 3, || format!("accepted/records: {v}"))?;
                let rej = &v["rejected"][0];
                ensure(
                    rej["rule_id"] == "INSTITUTION" && rej["field"] == "institution_id" && rej["value"] == "H9998" && rej["line"] == 3,
                    || format!("located: {rej}"),
                )
            })
        },
    },
    Row {
        name: "special case for a withheld case: approval refused without an override; the override is audited and shown",
        run: |c| {
            b(async move {
                let bad = with(&renamed(&c.clean, "sc"), &[("total_cost", "999999.99")]);
                let v = expect_withheld(c, &bad, "M001", None).await?;
                let case_id = v["case_id"].as_str().unwrap_or("").to_owned();
                let r = c
                    .f
                    .req("POST", "/api/special-cases", Some("hosp_a"))
                    .json(&json!({"case_id": case_id, "reason": "high_cost", "note": "费用高"}))
                    .send()
                    .await
                    .expect("apply");
                ensure(r.status() == 201, || format!("apply {}", r.status()))?;
                let sc: Value = r.json().await.unwrap_or_default();
                ensure(sc["qc_warning"].as_str().is_some_and(|w| w.contains("M001") && w.contains("暂缓支付")), || format!("the applicant sees the QC warning: {sc}"))?;
                let id = sc["id"].as_i64().unwrap_or(0);
                let review = |body: Value| c.f.req("POST", &format!("/api/special-cases/{id}/review"), Some("reviewer")).json(&body).send();
                let r = review(json!({"decision": "approve", "pay_as": "fee_for_service", "comment": "同意"})).await.expect("review");
                let s = r.status().as_u16();
                let e: Value = r.json().await.unwrap_or_default();
                ensure(s == 409, || format!("approval without override: {s} {e}"))?;
                ensure(e["error"]["message"].as_str().is_some_and(|m| m.contains("M001") && m.contains("qc_override")), || format!("{e}"))?;
                let (_, q) = get_json(&c.f, "reviewer", "/api/special-cases?status=pending").await;
                let row = q.as_array().and_then(|a| a.iter().find(|x| x["id"] == id).cloned()).unwrap_or_default();
                ensure(row["latest_withheld"].as_str().is_some_and(|w| w.contains("M001")), || format!("the queue shows the QC state: {row}"))?;
                let r = review(json!({"decision": "approve", "pay_as": "fee_for_service", "comment": "同意", "qc_override": "危重抢救，费用明细另行补正"}))
                    .await
                    .expect("review");
                ensure(r.status() == 200, || format!("approval with override: {}", r.status()))?;
                let ok: Value = r.json().await.unwrap_or_default();
                ensure(ok["qc_override"] == "危重抢救，费用明细另行补正" && ok["qc_withheld"].as_str().is_some_and(|w| w.contains("M001")), || format!("{ok}"))?;
                let (_, audit) = get_json(&c.f, "admin", "/api/audit?limit=50").await;
                let hit = audit.as_array().and_then(|a| {
                    a.iter().find(|e| e["action"] == "special_case.review" && e["target"] == format!("special_case:{id}")).cloned()
                });
                ensure(hit.as_ref().is_some_and(|e| e["detail"]["qc_override"] == "危重抢救，费用明细另行补正"), || format!("audited: {hit:?}"))?;
                let quarter = ok["quarter"].as_str().unwrap_or("2025-Q1");
                let half = if quarter.ends_with("Q1") || quarter.ends_with("Q2") { 1 } else { 2 };
                let (_, bl) = get_json(&c.f, "reviewer", &format!("/api/special-cases/bulletin?year=2025&half={half}")).await;
                ensure(bl["qc_overrides"].as_array().is_some_and(|a| a.iter().any(|o| o["id"] == id)), || format!("bulletin: {}", bl["qc_overrides"]))?;
                let col = bl["columns"].as_array().and_then(|c| c.iter().position(|x| x["name"] == "qc_override")).unwrap_or(0);
                let arow = bl["rows"].as_array().and_then(|r| r.iter().find(|r| r[0] == A).cloned()).unwrap_or_default();
                ensure(col > 0 && arow[col].as_i64() >= Some(1), || format!("bulletin column: {arow}"))
            })
        },
    },
    Row {
        name: "a settlement run with cases of an insurance type without history fails with the line named",
        run: |c| {
            b(async move {
                // History 2028: employee cases only (2024 lists moved to 2028, same leap status);
                // 2029: one resident case (a 2025 list moved to 2029).
                let f = &c.f;
                let mut hist = 0;
                for n in 0..f.rows[A].len() {
                    let base = f.json_case(A, n);
                    if base["insurance_type"] != "职工" || !base["discharged_at"].as_str().is_some_and(|d| d.starts_with("2024")) {
                        continue;
                    }
                    let (s, v) = post_case(f, "admin", &renamed(&moved(&base, 2024, 2028), "h28")).await;
                    ensure(s == 201, || format!("history upload {s}: {v}"))?;
                    hist += 1;
                    if hist == 3 {
                        break;
                    }
                }
                let mut paid = false;
                for n in (0..f.rows[A].len()).rev() {
                    let base = f.json_case(A, n);
                    if base["insurance_type"] != "居民" || !base["discharged_at"].as_str().is_some_and(|d| d.starts_with("2025")) {
                        continue;
                    }
                    let (s, v) = post_case(f, "admin", &renamed(&moved(&base, 2025, 2029), "y29")).await;
                    ensure(s == 201, || format!("upload {s}: {v}"))?;
                    // Its estimate says why there is none (no 居民 line in 2029's budget).
                    if v["payable"] == true {
                        ensure(v["estimate"]["status"] == "unavailable", || format!("estimate: {}", v["estimate"]))?;
                        ensure(v["estimate"]["reason"].as_str().is_some_and(|r| r.contains("居民")), || format!("{}", v["estimate"]))?;
                        paid = true;
                        break;
                    }
                }
                ensure(hist == 3 && paid, || format!("fixture: {hist} history cases, a payable resident case: {paid}"))?;
                let run = f.run_settlement(2029).await;
                ensure(run["run"]["status"] == "failed", || format!("run: {}", run["run"]))?;
                let m = run["run"]["message"].as_str().unwrap_or("");
                ensure(m.contains("居民/住院") && m.contains("no budget line"), || format!("message: {m}"))
            })
        },
    },
    Row {
        name: "derived rate with no history year — fee-for-service points pending, no estimate, the run refused",
        run: |c| {
            b(async move {
                let f = &c.f;
                // A 2024 list moved to 2032 (no 2031 cases in the store), its main diagnosis not a code: ungroupable, paid by item.
                let base = f.json_case(A, 0);
                let ffs = with(&renamed(&moved(&base, 2024, 2032), "r32"), &[("main_diagnosis", "NOTACODE")]);
                let (s, v) = post_case(f, "hosp_a", &ffs).await;
                ensure(s == 201, || format!("status {s}: {v}"))?;
                ensure(matches!(v["points"]["method"].as_str(), Some("fee_for_service" | "per_diem")), || format!("method {}", v["points"]["method"]))?;
                ensure(v["points"]["total"].is_null() && v["points"]["case_points"].is_null(), || format!("points shown as known: {}", v["points"]))?;
                let pending = v["points_pending"].as_str().unwrap_or("");
                ensure(pending.contains("derived") && pending.contains("2031"), || format!("points_pending: {pending}"))?;
                ensure(v["estimate"]["status"] == "unavailable" && v["estimate"]["yuan"].is_null(), || format!("estimate: {}", v["estimate"]))?;
                // A DRG case of that year: points known, the estimate unavailable with the reason.
                let drg = renamed(&moved(&base, 2024, 2032), "d32");
                let (_, v) = post_case(f, "hosp_a", &drg).await;
                ensure(v["estimate"]["status"] == "unavailable", || format!("estimate: {}", v["estimate"]))?;
                ensure(v["estimate"]["reason"].as_str().is_some_and(|r| r.contains("2031")), || format!("{}", v["estimate"]))?;
                let (s, e) = get_json(f, "hosp_a", "/api/engine?day=2032-06-30").await;
                ensure(s == 200 && e["estimate"]["conversion"]["status"] == "unavailable", || format!("engine: {e}"))?;
                let run = f.run_settlement(2032).await;
                ensure(run["run"]["status"] == "failed", || format!("run: {}", run["run"]))?;
                ensure(run["run"]["message"].as_str().is_some_and(|m| m.contains("2031")), || format!("{}", run["run"]))
            })
        },
    },
    Row {
        name: "the rate of 2025 is derived from the 2024 cases in the store and shown with its numbers",
        run: |c| {
            b(async move {
                let (s, e) = get_json(&c.f, "reviewer", "/api/engine?day=2025-06-30").await;
                ensure(s == 200, || format!("{s}"))?;
                let conv = &e["estimate"]["conversion"];
                ensure(conv["status"] == "derived", || format!("{conv}"))?;
                let rate: Decimal = conv["yuan_per_point"].as_str().unwrap_or("0").parse().unwrap_or_default();
                let cost: Decimal = conv["history_cost"].as_str().unwrap_or("0").parse().unwrap_or_default();
                let pts: Decimal = conv["history_points"].as_str().unwrap_or("1").parse().unwrap_or(Decimal::ONE);
                ensure(rate > Decimal::ZERO && (cost / pts).round_dp(6) == rate, || format!("rate {rate} ≠ {cost} / {pts}"))?;
                ensure(rate != Decimal::ONE_HUNDRED, || "the old fixed 100 yuan per point".into())?;
                let lines = e["estimate"]["expected_point_values"].as_array().cloned().unwrap_or_default();
                ensure(!lines.is_empty() && lines.iter().all(|l| l["expected_point_value"].is_string()), || format!("{lines:?}"))?;
                ensure(e["point_value"].is_null(), || format!("no override: {}", e["point_value"]))?;
                // An upload's estimate uses its line's expected point value.
                let (_, v) = post_case(&c.f, "hosp_a", &renamed(&c.clean, "est")).await;
                let line = v["estimate"]["line"].as_str().unwrap_or("");
                let l = lines.iter().find(|l| l["line"] == line);
                ensure(l.is_some_and(|l| l["expected_point_value"] == v["estimate"]["point_value"]), || format!("{} vs {lines:?}", v["estimate"]))
            })
        },
    },
    Row {
        name: "bad settlement parameters in a run request — refused with the key, no run started",
        run: |c| {
            b(async move {
                let before = get_json(&c.f, "admin", "/api/settlement/runs").await.1.as_array().map_or(0, Vec::len);
                let bad_rate = settle::DEFAULT_PARAMS.replace("rate = \"0.05\"", "rate = \"1.5\"");
                ensure(bad_rate != settle::DEFAULT_PARAMS, || "the deposit rate line moved".into())?;
                let cases = [
                    (bad_rate, "deposit.rate"),
                    (settle::DEFAULT_PARAMS.replace("[deposit]", "[deposit]\nnonsense_key = 1"), "nonsense_key"),
                ];
                for (toml, key) in cases {
                    let r = c.f.req("POST", "/api/settlement/runs", Some("admin")).json(&json!({"year": 2025, "params": toml})).send().await.expect("send");
                    let s = r.status().as_u16();
                    let e: Value = r.json().await.unwrap_or_default();
                    ensure(s == 422, || format!("{key}: status {s} {e}"))?;
                    ensure(e["error"]["message"].as_str().is_some_and(|m| m.contains(key)), || format!("{key} not named: {e}"))?;
                }
                let after = get_json(&c.f, "admin", "/api/settlement/runs").await.1.as_array().map_or(0, Vec::len);
                ensure(after == before, || format!("runs {before} → {after}"))
            })
        },
    },
    Row {
        name: "a hospital uploads another institution's list — 403, nothing stored",
        run: |c| {
            b(async move {
                let (s, v) = post_case(&c.f, "hosp_a", &with(&renamed(&c.clean, "acc"), &[("institution_id", B)])).await;
                ensure(s == 403, || format!("status {s}: {v}"))
            })
        },
    },
    Row {
        name: "the same case twice in one batch — two versions, the later wins, L025 reported on it",
        run: |c| {
            b(async move {
                let csv = c.f.csv(A, c.f.rows[A].len() - 4, 1);
                let row = csv.lines().nth(1).unwrap_or("").to_owned();
                let body = format!("{csv}{row}\n");
                let r = c.f.req("POST", "/api/uploads?name=dup.csv", Some("hosp_a")).body(body).send().await.expect("send");
                let v: Value = r.json().await.unwrap_or_default();
                let cs = v["cases"].as_array().cloned().unwrap_or_default();
                ensure(cs.len() == 2, || format!("{v}"))?;
                let (v1, v2) = (cs[0]["version"].as_i64().unwrap_or(0), cs[1]["version"].as_i64().unwrap_or(0));
                ensure(v2 == v1 + 1, || format!("versions {v1}, {v2}"))?;
                ensure(cs[1]["findings"].as_array().is_some_and(|f| f.iter().any(|x| x["rule_id"] == "L025")), || format!("{}", cs[1]["findings"]))?;
                let id = cs[0]["case_id"].as_str().unwrap_or("");
                let (_, list) = get_json(&c.f, "hosp_a", &format!("/api/cases?institution_id={A}&limit=10000")).await;
                let n = list.as_array().map_or(0, |a| a.iter().filter(|x| x["case_id"] == id).count());
                ensure(n == 1, || format!("{id} listed {n} times"))
            })
        },
    },
    Row {
        name: "GET /api/engine with a day that is not a date — 400",
        run: |c| {
            b(async move {
                let (s, v) = get_json(&c.f, "reviewer", "/api/engine?day=2025-13-45").await;
                ensure(s == 400, || format!("{s} {v}"))
            })
        },
    },
];

async fn upload_all(f: &Fixture, who: &str, inst: &str, keep: impl Fn(&str) -> bool) -> Vec<Value> {
    let mut csv = f.header.clone() + "\n";
    for r in f.rows[inst].iter().filter(|r| keep(r)) {
        csv += r;
        csv.push('\n');
    }
    let r = f.req("POST", "/api/uploads?name=all.csv", Some(who)).body(csv).send().await.expect("upload");
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    v["cases"].as_array().cloned().unwrap_or_default()
}

/// Discharged in `year` (the CSV row's discharge date column).
fn discharged_in(f: &Fixture, row: &str, year: &str) -> bool {
    let col = f.header.split(',').position(|h| h == "discharged_at").expect("discharged_at column");
    row.split(',').nth(col).is_some_and(|d| d.starts_with(year))
}

/// A 2025 list of A that is payable and grouped (found by uploading candidates).
async fn clean_case(f: &Fixture) -> Value {
    for n in (0..f.rows[A].len()).rev() {
        let c = f.json_case(A, n);
        if !c["discharged_at"].as_str().is_some_and(|d| d.starts_with("2025")) {
            continue;
        }
        let (s, v) = post_case(f, "hosp_a", &c).await;
        assert_eq!(s, 201, "{v}");
        if v["payable"] == true && v["group"]["status"] == "grouped" && v["points"]["method"] == "drg" {
            return c;
        }
    }
    panic!("no clean 2025 case of A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_silent_wrong_numbers_over_the_api() {
    assert!(ROWS.len() >= 10);
    for db in databases().await {
        println!("-- {}", db.name);
        let f = start(db.store.clone()).await;
        for inst in [A, B] {
            upload_all(&f, "admin", inst, |r| discharged_in(&f, r, "2024")).await;
        }
        let clean = clean_case(&f).await;
        let c = Ctx { f, clean };
        let mut failures = Vec::new();
        for (i, row) in ROWS.iter().enumerate() {
            if let Err(e) = (row.run)(&c).await {
                failures.push(format!("{}: row {i} ({}): {e}", db.name, row.name));
            }
        }
        eprintln!("{}: {} rows, {} failed", db.name, ROWS.len(), failures.len());
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        db.cleanup().await;
    }
}

/// The annual points of a line in a run's point-value table.
fn line_points(run: &Value, insurance: &str) -> Decimal {
    let rows = run["run"]["summary"]["point_values"]["rows"].as_array().cloned().unwrap_or_default();
    let r = rows.iter().find(|r| r[0] == "2025" && r[1] == insurance).unwrap_or_else(|| panic!("no 2025 {insurance} row: {rows:?}"));
    r[5].as_str().unwrap_or("").parse().expect("points")
}

fn withheld_rows(run: &Value) -> Vec<Vec<String>> {
    run["run"]["summary"]["withheld"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| r.as_array().cloned().unwrap_or_default().iter().map(|v| v.as_str().unwrap_or("").to_owned()).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withheld_case_is_shown_not_paid_and_paid_once_corrected() {
    for db in databases().await {
        println!("-- {}", db.name);
        let f = start(db.store.clone()).await;
        let mut latest: std::collections::BTreeMap<String, bool> = Default::default();
        for inst in [A, B] {
            upload_all(&f, "admin", inst, |r| discharged_in(&f, r, "2024")).await;
        }
        for inst in [A, B] {
            for c in upload_all(&f, "admin", inst, |r| discharged_in(&f, r, "2025")).await {
                latest.insert(format!("{}/{}", c["institution_id"].as_str().unwrap_or(""), c["case_id"].as_str().unwrap_or("")), c["payable"] == true);
            }
        }
        // A payable DRG case of A, then its broken version (M001: categories ≠ the 999,999.99 claim).
        let original = clean_case(&f).await;
        let case_id = original["case_id"].as_str().expect("id").to_owned();
        let bad = with(&original, &[("total_cost", "999999.99")]);
        let (s, v) = post_case(&f, "hosp_a", &bad).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["payable"], false, "{v}");
        assert!(rule_ids(&v["withheld"]).contains(&"M001".to_owned()), "{}", v["withheld"]);
        latest.insert(format!("{A}/{case_id}"), false);
        let insurance = v["estimate"]["line"].as_str().and_then(|l| l.split('/').next()).expect("line").to_owned();
        // The monthly feedback lists it with the rule and what to fix.
        let month = &original["discharged_at"].as_str().expect("date")[..7];
        let (s, html) = get_text(&f, "hosp_a", &format!("/api/reports/monthly?period={month}")).await;
        assert_eq!(s, 200, "{html}");
        let at = html.find("暂缓支付病例").expect("a withheld section");
        assert!(html[at..].contains(&case_id) && html[at..].contains("M001"), "the feedback names the case and the rule");

        let run1 = f.run_settlement(2025).await;
        assert_eq!(run1["run"]["status"], "done", "{}", run1["run"]);
        let payable = latest.values().filter(|p| **p).count() as i64;
        let withheld = latest.len() as i64 - payable;
        assert_eq!(run1["run"]["cases"].as_i64(), Some(payable), "only payable latest versions are settled");
        assert_eq!(run1["run"]["summary"]["withheld_cases"].as_i64(), Some(withheld));
        let rows = withheld_rows(&run1);
        let row = rows.iter().find(|r| r[1] == case_id).unwrap_or_else(|| panic!("{case_id} not listed as withheld: {rows:?}"));
        assert_eq!(row[0], A);
        assert!(row[12].contains("M001"), "{row:?}");
        assert_eq!(row[10], "999999.99", "its claimed cost is shown, not paid: {row:?}");
        assert!(!row[9].is_empty(), "the amount it would get is stated: {row:?}");
        // Documents: the budget identity and the withheld list.
        let id1 = run1["run"]["id"].as_i64().expect("id");
        let names: Vec<String> = run1["documents"].as_array().expect("docs").iter().map(|d| d["name"].as_str().unwrap_or("").to_owned()).collect();
        for n in ["identity.csv", "withheld.csv", "summary.xlsx"] {
            assert!(names.contains(&n.to_owned()), "{n}: {names:?}");
        }
        let (_, identity) = get_text(&f, "admin", &format!("/api/settlement/runs/{id1}/documents/identity.csv")).await;
        let checks: Vec<&str> = identity.lines().filter(|l| l.contains(",check,")).collect();
        assert!(!checks.is_empty() && checks.iter().all(|l| l.contains("OK")), "{identity}");
        let (_, wcsv) = get_text(&f, "admin", &format!("/api/settlement/runs/{id1}/documents/withheld.csv")).await;
        assert!(wcsv.contains(&case_id), "{wcsv}");
        assert!(run1["run"]["summary"]["identity"]["rows"].as_array().is_some_and(|r| !r.is_empty()));

        // The corrected version (same case id) is payable and paid in the next run.
        let (s, fixed) = post_case(&f, "hosp_a", &original).await;
        assert_eq!(s, 201);
        assert_eq!(fixed["payable"], true, "{fixed}");
        let pts: Decimal = fixed["points"]["total"].as_str().expect("points").parse().expect("points");
        let run2 = f.run_settlement(2025).await;
        assert_eq!(run2["run"]["status"], "done", "{}", run2["run"]);
        assert_eq!(run2["run"]["cases"].as_i64(), Some(payable + 1));
        assert_eq!(run2["run"]["summary"]["withheld_cases"].as_i64(), Some(withheld - 1));
        assert!(!withheld_rows(&run2).iter().any(|r| r[1] == case_id), "no longer withheld");
        assert_eq!(
            line_points(&run2, &insurance) - line_points(&run1, &insurance),
            pts,
            "exactly the corrected case's points enter its line"
        );
        db.cleanup().await;
    }
}

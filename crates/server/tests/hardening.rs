//! The service under attack and misuse: malformed input on every route never gives a
//! 5xx and always the one JSON error contract; login backoff, lockout and unlock as
//! docs/API.md says; unknown and known usernames cost the same time; security headers;
//! identifiers and texts validated.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use server::guard::LoginPolicy;

/// Assert the error contract on a response already known to be an error.
async fn assert_contract(r: reqwest::Response, what: &str) -> (u16, Value) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.unwrap_or_default();
    assert!(status < 500, "{what}: {status} {}", text.chars().take(300).collect::<String>());
    if status >= 400 {
        assert!(ct.starts_with("application/json"), "{what}: {status} answered {ct:?}: {text:.200}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text:.200}"));
        for k in ["code", "message", "message_zh"] {
            assert!(v["error"][k].as_str().is_some_and(|s| !s.is_empty()), "{what}: error.{k} missing: {v}");
        }
        return (status, v);
    }
    (status, Value::Null)
}

const BAD_SEGMENTS: &[&str] = &[
    "abc",
    "-1",
    "0",
    "99999999999",
    "99999999999999999999999",
    "%00",
    "%E2%80%AE1",
    "1%20OR%201%3D1",
    "..%2F..%2Fetc",
];

const BAD_VALUES: &[&str] = &["not-a-value", "-5", "0", "99999999999999999999", "%00", "%E2%80%8B", "2025-13", "1e9"];

fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("broken JSON", b"{\"a\":".to_vec()),
        ("null", b"null".to_vec()),
        ("array", b"[1,2,3]".to_vec()),
        ("unknown key", br#"{"zzz": 1}"#.to_vec()),
        ("wrong types", br#"{"username": 1, "password": [], "year": "x", "id": {}, "decision": 5, "title": 1, "rows": "x", "effective_from": 3}"#.to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, 0x00, 0x80, 0x81]),
        ("NUL text", "{\"body\": \"a\\u0000b\", \"kind\": \"suggestion\", \"answer\": \"x\\u0000\", \"comment\": \"\\u202e\", \"id\": \"H\\u0000\", \"name\": \"n\", \"level\": \"三级\"}".as_bytes().to_vec()),
        ("long strings", format!("{{\"case_id\": \"{0}\", \"reason\": \"long_stay\", \"body\": \"{0}\", \"kind\": \"payment\", \"id\": \"{0}\", \"name\": \"{0}\", \"level\": \"三级\", \"username\": \"{0}\", \"password\": \"{0}\", \"role\": \"agency_admin\"}}", "x".repeat(10_000)).into_bytes()),
        ("CSV garbage", b"a,b,\"c\n\"\"\"\n,,,,\n".to_vec()),
    ]
}

/// A request over a raw connection: the head announces `len` body bytes, `body` is
/// written after it (write errors ignored: a server may answer and close before
/// reading a refused body), and the answer is read to its end: (status, content type, JSON).
async fn raw(f: &Fixture, method: &str, path: &str, who: Option<&str>, body: &[u8], len: usize) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = f.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = who.map(|u| format!("Authorization: Bearer {}\r\n", f.tokens[u])).unwrap_or_default();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).await.expect("write");
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer"))
        .ok();
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let ct = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    // A chunked answer: take the JSON between the first '{' and the last '}'.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if b > a => serde_json::from_str(&body[a..=b]).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, ct, json)
}

/// A head announcing `len` bytes and none of them: the answer as (status, JSON).
async fn over_limit(f: &Fixture, method: &str, path: &str, who: Option<&str>, len: usize) -> (u16, Value) {
    let (st, _, v) = raw(f, method, path, who, b"", len).await;
    (st, v)
}

/// A malformed body over a raw connection; asserts the contract.
async fn bad_body(f: &Fixture, method: &str, path: &str, who: Option<&str>, body: &[u8], what: &str) -> u16 {
    let (st, ct, v) = raw(f, method, path, who, body, body.len()).await;
    assert!((200..500).contains(&st), "{what}: {st} {v}");
    if st >= 400 {
        assert!(ct.starts_with("application/json"), "{what}: {st} answered {ct:?}");
        for k in ["code", "message", "message_zh"] {
            assert!(v["error"][k].as_str().is_some_and(|s| !s.is_empty()), "{what}: error.{k} missing: {v}");
        }
    }
    st
}

/// Fill a route's path with `seg` for every parameter.
fn fill(path: &str, seg: &str) -> String {
    path.split('/')
        .map(|p| if p.starts_with('{') { seg } else { p })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_on_every_route_is_a_json_4xx() {
    for db in databases().await {
        let f = start(db.store.clone()).await;
        let doc: Value = f.req("GET", "/api/openapi.json", None).send().await.expect("doc").json().await.expect("json");
        let paths = doc["paths"].as_object().expect("paths").clone();
        let mut sent = 0usize;
        let mut by_status: std::collections::BTreeMap<u16, usize> = Default::default();
        for (path, ops) in &paths {
            for (method, op) in ops.as_object().expect("ops") {
                let method = method.to_uppercase();
                if path == "/api/logout" {
                    continue; // would end the fixture's sessions; covered below with its own token
                }
                let query: Vec<String> = op["parameters"]
                    .as_array()
                    .map(|a| a.iter().filter(|p| p["in"] == "query").filter_map(|p| p["name"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let has_body = op.get("requestBody").is_some();
                let limit = op["x-body-limit"].as_u64().unwrap_or(0) as usize;
                for who in [Some("admin"), Some("hosp_a"), None] {
                    let mut urls: Vec<String> = BAD_SEGMENTS.iter().map(|s| fill(path, s)).collect();
                    if !path.contains('{') {
                        urls.truncate(1);
                    }
                    let base = fill(path, "1");
                    for q in &query {
                        for v in BAD_VALUES {
                            urls.push(format!("{base}?{q}={v}"));
                        }
                        urls.push(format!("{base}?{q}={}", "x".repeat(5000)));
                        urls.push(format!("{base}?{q}"));
                    }
                    urls.push(format!("{base}?%zz=1&&=&{}", "y=".repeat(100)));
                    for u in &urls {
                        let mut rq = f.req(&method, u, who);
                        if has_body {
                            rq = rq.body(b"{}".to_vec());
                        }
                        let r = rq.send().await.expect("send");
                        let st = assert_contract(r, &format!("{method} {u} as {who:?} ({})", db.name)).await.0;
                        *by_status.entry(st).or_default() += 1;
                        sent += 1;
                    }
                    if has_body {
                        // Over the limit: the head announces limit + 1 bytes; the answer
                        // comes before any of them is read (the connection then closes).
                        let (st, v) = over_limit(&f, &method, &fill(path, "1"), who, limit + 1).await;
                        assert!(st < 500, "{method} {path} over the limit: {st} {v}");
                        if who.is_some() {
                            assert_eq!((st, v["error"]["code"].as_str()), (413, Some("payload_too_large")), "{method} {path} as {who:?}: {v}");
                            assert!(v["error"]["message_zh"].as_str().is_some(), "{v}");
                        }
                        *by_status.entry(st).or_default() += 1;
                        sent += 1;
                        for (name, b) in bad_bodies() {
                            let what = format!("{method} {path} body {name} as {who:?} ({})", db.name);
                            let st = bad_body(&f, &method, &fill(path, "1"), who, &b, &what).await;
                            *by_status.entry(st).or_default() += 1;
                            sent += 1;
                        }
                    }
                }
            }
        }
        // Unknown routes and methods.
        for (m, u) in [("GET", "/api/nope"), ("DELETE", "/api/cases"), ("PUT", "/api/login"), ("GET", "/ui/missing.js")] {
            let r = f.req(m, u, Some("admin")).send().await.expect("send");
            let (st, _) = assert_contract(r, &format!("{m} {u}")).await;
            assert!(st == 404 || st == 405, "{m} {u}: {st}");
            sent += 1;
        }
        println!("{}: {sent} malformed requests over {} paths, statuses {by_status:?}", db.name, paths.len());
        assert!(sent > 1000, "{sent}");
        assert!(!by_status.keys().any(|s| *s >= 500));
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_ids_are_404_and_bad_inputs_are_named() {
    for db in databases().await {
        let f = start(db.store.clone()).await;
        let cases: [(&str, &str, Option<&str>, Value, u16, Option<&str>); 12] = [
            ("POST", "/api/disputes/999999/answer", Some("admin"), json!({"answer": "已核实"}), 404, None),
            ("POST", "/api/special-cases/999999/review", Some("admin"), json!({"decision": "reject", "comment": "x"}), 404, None),
            ("GET", "/api/uploads/999999", Some("admin"), Value::Null, 404, None),
            ("GET", "/api/configs/999999", Some("admin"), Value::Null, 404, None),
            ("GET", "/api/engine?day=not-a-date", Some("admin"), Value::Null, 400, None),
            ("GET", "/api/cases?limit=abc", Some("admin"), Value::Null, 400, Some("limit")),
            ("GET", "/api/cases?period_from=2025-13", Some("admin"), Value::Null, 400, Some("period_from")),
            ("POST", "/api/users", Some("admin"), json!({"username": "", "password": "password-1", "role": "agency_reviewer"}), 400, Some("username")),
            ("POST", "/api/institutions", Some("admin"), json!({"id": "H0100", "name": "新医院", "level": "一级", "alliance_lead": "H0100"}), 422, None),
            ("POST", "/api/disputes", Some("hosp_a"), json!({"kind": "suggestion", "body": "建议".repeat(2_001)}), 400, Some("body")),
            ("POST", "/api/disputes", Some("hosp_a"), json!({"kind": "suggestion", "body": "建议\u{202E}调整"}), 400, Some("body")),
            ("POST", "/api/export.xlsx", Some("admin"), json!({"title": "t", "columns": ["a"], "rows": [["x".repeat(40_000)]]}), 400, Some("rows[0][0]")),
        ];
        for (m, u, who, body, want, field) in cases {
            let mut rq = f.req(m, u, who);
            if !body.is_null() {
                rq = rq.json(&body);
            }
            let r = rq.send().await.expect("send");
            let (st, v) = assert_contract(r, &format!("{m} {u}")).await;
            assert_eq!(st, want, "{m} {u} ({}): {v}", db.name);
            if let Some(fl) = field {
                assert_eq!(v["error"]["field"], fl, "{m} {u}: {v}");
            }
        }
        // Case ids with NUL, a right-to-left override, a zero-width space or 10,000 characters: refused, located.
        let mut c = f.json_case(A, 0);
        for bad in ["C1\u{0}", "C1\u{202E}", "C\u{200B}1", &"9".repeat(10_000)] {
            c["case_id"] = json!(bad);
            let r = f.req("POST", "/api/cases", Some("hosp_a")).json(&c).send().await.expect("send");
            let (st, v) = assert_contract(r, "case id").await;
            assert_eq!(st, 422, "{v}");
            assert_eq!(v["error"]["details"][0]["field"], "case_id", "{v}");
        }
        // NUL and invisible characters in any other field of a case, one case and a batch: never a 5xx.
        let good = f.json_case(A, 1);
        let keys: Vec<String> = good.as_object().expect("object").keys().cloned().collect();
        for k in &keys {
            for bad in ["x\u{0}y", "\u{202E}x", "\u{FEFF}"] {
                let mut c = good.clone();
                c[k] = json!(format!("{}{bad}", c[k].as_str().unwrap_or("")));
                let r = f.req("POST", "/api/cases", Some("hosp_a")).json(&c).send().await.expect("send");
                assert_contract(r, &format!("case field {k} with {bad:?} ({})", db.name)).await;
            }
        }
        let r = f.req("POST", "/api/configs?kind=params&name=p", Some("admin")).body("version = \"x\u{0}\"\n").send().await.expect("send");
        let (st, v) = assert_contract(r, "configuration with NUL").await;
        assert_eq!((st, v["error"]["field"].as_str()), (400, Some("body")), "{v}");
        let mut csv = f.csv(A, 2, 3);
        csv = csv.replacen(",", ",\u{0}", 5);
        let r = f.req("POST", "/api/uploads?name=nul.csv", Some("hosp_a")).body(csv).send().await.expect("send");
        let (st, _) = assert_contract(r, "batch with NUL").await;
        assert!(st < 500);
        let body = f.req("GET", "/api/health", None).send().await.expect("health").json::<Value>().await.expect("json");
        assert_eq!(body["status"], "ok");
        assert!(body.get("users").is_none(), "health tells no counts: {body}");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_pages_and_api() {
    let db = databases().await.remove(0);
    let f = start(db.store.clone()).await;
    for u in ["/ui/", "/ui/app.js", "/api/health", "/api/nope"] {
        let r = f.req("GET", u, None).send().await.expect("send");
        let h = r.headers();
        let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{u}: {csp}");
        assert_eq!(h.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"), "{u}");
        assert_eq!(h.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"), "{u}");
        assert_eq!(h.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"), "{u}");
        assert!(h.get("strict-transport-security").is_none(), "{u}: no HSTS without --behind-proxy");
    }
    let page = f.req("GET", "/ui/", None).send().await.expect("page").text().await.expect("text");
    assert!(!page.contains("<script>") && !page.contains(" onclick="), "the page has no inline script");
    db.cleanup().await;
}

fn quick_policy() -> LoginPolicy {
    LoginPolicy {
        free_failures: 3,
        backoff_base_ms: 200,
        backoff_max_ms: 400,
        lock_after: 6,
        lock_ms: 60_000,
        address_lock_after: 1_000,
        ..LoginPolicy::default()
    }
}

async fn login(f: &Fixture, user: &str, pw: &str) -> (u16, Value, Option<String>) {
    let r = f.req("POST", "/api/login", None).json(&json!({"username": user, "password": pw})).send().await.expect("login");
    let st = r.status().as_u16();
    let ra = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (st, r.json().await.unwrap_or(Value::Null), ra)
}

/// The sequence of answers to wrong passwords until the account locks: the same for
/// a known and an unknown account.
async fn fail_until_locked(f: &Fixture, user: &str) -> Vec<String> {
    let mut seq = Vec::new();
    for _ in 0..30 {
        let (st, v, ra) = login(f, user, "wrong-password").await;
        let code = v["error"]["code"].as_str().unwrap_or("").to_owned();
        seq.push(format!("{st} {code} {}", ra.is_some()));
        match (st, code.as_str()) {
            (429, "account_locked") => return seq,
            (429, "login_backoff") => tokio::time::sleep(Duration::from_millis(450)).await,
            (401, _) => {}
            _ => panic!("{user}: {st} {v}"),
        }
    }
    seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_backoff_lockout_and_unlock() {
    let db = databases().await.remove(0);
    let f = start_with(db.store.clone(), server::Options { login: quick_policy(), ..Default::default() }).await;
    let known = fail_until_locked(&f, "hosp_a").await;
    let unknown = fail_until_locked(&f, "nobody_here").await;
    println!("known: {known:?}\nunknown: {unknown:?}");
    assert_eq!(known, unknown, "a known and an unknown account answer alike");
    let want = [
        "401 unauthorized false", "401 unauthorized false", "401 unauthorized false",
        "401 unauthorized false", "429 login_backoff true", "401 unauthorized false",
        "429 login_backoff true", "401 unauthorized false", "429 account_locked true",
    ];
    assert_eq!(known, want, "3 free failures, backoff from the 4th, locked at the 6th");
    // Locked: even the right password is refused, without checking it.
    let (st, v, _) = login(&f, "hosp_a", "password-1").await;
    assert_eq!((st, v["error"]["code"].as_str()), (429, Some("account_locked")), "{v}");
    assert!(v["error"]["message_zh"].as_str().is_some_and(|m| m.contains("锁定")), "{v}");
    // The administrator sees and unlocks it (audited); a hospital user cannot.
    let locks: Value = f.req("GET", "/api/login-locks", Some("admin")).send().await.expect("locks").json().await.expect("json");
    assert!(locks["accounts"].as_array().is_some_and(|a| a.iter().any(|x| x["key"] == "hosp_a" && x["locked"] == true)), "{locks}");
    let r = f.req("POST", "/api/login-locks/unlock", Some("hosp_b")).json(&json!({"username": "hosp_a"})).send().await.expect("send");
    assert_eq!(r.status(), 403);
    let r = f.req("POST", "/api/login-locks/unlock", Some("admin")).json(&json!({"username": "hosp_a"})).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let (st, v, _) = login(&f, "hosp_a", "password-1").await;
    assert_eq!(st, 200, "{v}");
    let audit: Value = f.req("GET", "/api/audit?limit=200", Some("admin")).send().await.expect("audit").json().await.expect("json");
    let actions: Vec<&str> = audit.as_array().expect("rows").iter().filter_map(|r| r["action"].as_str()).collect();
    for a in ["session.login_failed", "session.account_locked", "session.unlock"] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
    // Audit entries are bounded: an over-long username is refused before anything is written.
    let (st, v, _) = login(&f, &"u".repeat(2_000), "x").await;
    assert_eq!((st, v["error"]["field"].as_str()), (400, Some("username")), "{v}");
    let (st, v) = over_limit(&f, "POST", "/api/login", None, 5 << 20).await;
    assert_eq!((st, v["error"]["code"].as_str()), (413, Some("payload_too_large")), "{v}");
    let audit2: Value = f.req("GET", "/api/audit?limit=10000", Some("admin")).send().await.expect("audit").json().await.expect("json");
    assert!(audit2.to_string().len() < 200_000, "audit holds no megabyte username");
    // Rotation: signing in with a token ends its session.
    let old = f.tokens["hosp_b"].clone();
    let r = f.client.post(format!("{}/api/login", f.base)).bearer_auth(&old).json(&json!({"username": "hosp_b", "password": "password-1"})).send().await.expect("login");
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(5_100)).await; // past the session cache
    let r = f.client.get(format!("{}/api/me", f.base)).bearer_auth(&old).send().await.expect("me");
    assert_eq!(r.status(), 401, "the old token ended");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_address_is_locked_after_many_failures() {
    let db = databases().await.remove(0);
    let policy = LoginPolicy { address_lock_after: 8, ..quick_policy() };
    let f = start_with(db.store.clone(), server::Options { login: policy, ..Default::default() }).await;
    for i in 0..8 {
        let (st, v, _) = login(&f, &format!("spray{i}"), "wrong-password").await;
        assert_eq!(st, 401, "{v}");
    }
    let (st, v, ra) = login(&f, "admin", "password-1").await;
    assert_eq!((st, v["error"]["code"].as_str()), (429, Some("address_locked")), "{v}");
    assert!(ra.is_some());
    let r = f.req("POST", "/api/login-locks/unlock", Some("admin")).json(&json!({"address": "127.0.0.1"})).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let (st, _, _) = login(&f, "admin", "password-1").await;
    assert_eq!(st, 200);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_known_usernames_take_the_same_time() {
    let db = databases().await.remove(0);
    let policy = LoginPolicy { free_failures: 10_000, lock_after: 10_000, address_lock_after: 100_000, ..LoginPolicy::default() };
    let f = start_with(db.store.clone(), server::Options { login: policy, ..Default::default() }).await;
    // Pairs, in alternating order, so that load on the machine (other tests, builds)
    // falls on both alike; the median of the paired differences is compared.
    let (mut known, mut unknown, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..44 {
        let mut pair = [0.0f64; 2];
        let order: [(usize, &str); 2] = if i % 2 == 0 { [(0, "hosp_a"), (1, "nobody")] } else { [(1, "nobody"), (0, "hosp_a")] };
        for (slot, user) in order {
            let t = Instant::now();
            let (st, _, _) = login(&f, user, "wrong-password").await;
            pair[slot] = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(st, 401);
        }
        if i >= 4 {
            known.push(pair[0]);
            unknown.push(pair[1]);
            diff.push(pair[0] - pair[1]);
        }
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (k, u, d) = (med(&mut known), med(&mut unknown), med(&mut diff));
    println!("median wrong-password login: known {k:.2} ms, unknown {u:.2} ms, paired difference {d:.2} ms");
    assert!(d.abs() <= (0.15 * k.max(u)).max(3.0), "known {k:.2} ms vs unknown {u:.2} ms: paired difference {d:.2} ms");
    db.cleanup().await;
}

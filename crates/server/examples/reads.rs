//! Read load at a province's scale: the case list and the dashboard over a store of
//! millions of case versions, at a fixed request rate (open loop: requests are sent on
//! schedule whether or not earlier ones have answered, so a slow server shows as
//! latency, not as a lower rate).
//!
//! Seeds the store once (`--versions`, default 5,000,000, over `--institutions`
//! institutions, default 600 — several regions' worth; one version in ten replaces an
//! earlier one of the same case; uploads of 1,000 cases of one institution), from the demo region's stored cases as templates,
//! through `Store::commit_uploads` (the service's own commit: versions, latest flags,
//! maintained totals). `--data DIR` keeps a SQLite store between runs; `--pg URL
//! --schema NAME` a PostgreSQL one. Then serves it in this process and measures.
//!
//! ```text
//! cargo run --release -p drgdip-server --example reads -- --data /tmp/reads5m
//! cargo run --release -p drgdip-server --example reads -- --pg postgres://postgres@127.0.0.1:5432/test --schema reads5m
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Args {
    versions: u64,
    institutions: u64,
    data: Option<std::path::PathBuf>,
    pg: Option<String>,
    schema: String,
    seconds: u64,
    case_rate: u64,
    dashboard_rate: u64,
}

fn args() -> Args {
    let mut a = Args {
        versions: 5_000_000,
        institutions: 600,
        data: None,
        pg: None,
        schema: "reads".into(),
        seconds: 20,
        case_rate: 200,
        dashboard_rate: 50,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = v.get(i + 1).cloned().unwrap_or_default();
        let num = |d: u64| next.parse::<u64>().unwrap_or_else(|_| panic!("{}: a number, got {next:?}", v[i])).max(1).min(d.max(1) * 1000);
        match v[i].as_str() {
            "--versions" => a.versions = num(a.versions),
            "--institutions" => a.institutions = num(a.institutions),
            "--data" => a.data = Some(next.into()),
            "--pg" => a.pg = Some(next),
            "--schema" => a.schema = next,
            "--seconds" => a.seconds = num(60).min(600),
            "--case-rate" => a.case_rate = num(1000),
            "--dashboard-rate" => a.dashboard_rate = num(1000),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

/// Seed `want` versions (what is stored already counts).
async fn seed(store: &store::Store, a: &Args) {
    let have: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM case_versions").fetch_one(store.pool()).await.expect("count");
    if have as u64 >= a.versions {
        eprintln!("store holds {have} case versions: no seeding");
        return;
    }
    if store.user_count().await.expect("users") == 0 {
        let t = Instant::now();
        server::demo::bootstrap(store, 40, 40_000, Some(Arc::new(synth::demo::dictionaries().expect("dicts"))), None).await.expect("demo");
        eprintln!("demo bootstrap: {:.1} s", t.elapsed().as_secs_f64());
    }
    let templates = store.cases(&store::CaseQuery { limit: 5_000, ..Default::default() }).await.expect("templates");
    assert!(!templates.is_empty());
    let mut findings: Vec<Vec<store::NewFinding>> = Vec::new();
    for t in templates.iter().take(200) {
        let f = store.findings(Some(t.id), None).await.expect("findings");
        findings.push(
            f.into_iter()
                .map(|f| store::NewFinding { line: 1, case_id: f.case_id, rule_id: f.rule_id, severity: f.severity, field: f.field, value: f.value, message: f.message })
                .collect(),
        );
    }
    let sys = store::Actor::system();
    let levels = ["三级", "二级", "一级", "基层"];
    for k in 0..a.institutions {
        store
            .upsert_institution(&sys, &store::Institution { id: format!("P{k:04}"), name: format!("第{k}医院"), level: levels[(k % 4) as usize].into(), tcm: false, alliance_lead: None })
            .await
            .expect("institution");
    }
    let start = Instant::now();
    let mut n = have.max(0) as u64;
    // Uploads of 1,000 cases of one institution each (as hospitals send them); one
    // version in ten replaces the same institution's case of 1,000 × institutions earlier.
    let chunk = 1_000u64;
    let span = chunk * a.institutions;
    while n < a.versions {
        let mut cases = Vec::with_capacity(chunk as usize);
        let block = n / chunk;
        let inst = format!("P{:04}", block % a.institutions);
        for j in n..(n + chunk).min(a.versions) {
            let t = &templates[(j as usize) % templates.len()];
            let case_no = if j % 10 == 9 && j >= span { j - span } else { j };
            let month = 1 + (case_no % 12);
            let period = format!("2025-{month:02}");
            cases.push(store::NewCase {
                institution_id: inst.clone(),
                case_id: format!("S{case_no:010}"),
                line: (j - n + 1) as i64,
                period: period.clone(),
                discharge_date: Some(format!("{period}-15")),
                claim_json: t.claim.to_string(),
                result: t.result.clone(),
                findings: findings[(j as usize) % findings.len()].clone(),
            });
        }
        let up = store::NewUpload {
            actor: sys.clone(),
            institution_id: Some(inst),
            kind: "batch".into(),
            file_name: format!("seed-{n}.csv"),
            format: "csv".into(),
            records: cases.len() as i64,
            scheme_id: None,
            params_id: None,
            weights_id: None,
            cases,
            rejected: Vec::new(),
        };
        n += up.cases.len() as u64;
        store.commit_uploads(&[up]).await.expect("commit");
        if n % 250_000 < chunk {
            let s = start.elapsed().as_secs_f64();
            eprintln!("seeded {n} versions ({:.0} versions/s)", (n - have as u64) as f64 / s);
        }
    }
    eprintln!("seeding: {:.0} s", start.elapsed().as_secs_f64());
}

/// Requests at `rate` per second for `seconds`, cycling through `paths`; (p50, p99, max ms, errors, sent).
async fn fixed_rate(client: &reqwest::Client, base: &str, token: &str, paths: &[String], rate: u64, seconds: u64) -> (f64, f64, f64, u64, u64) {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let errors = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    let mut i = 0usize;
    while Instant::now() < end {
        tick.tick().await;
        let scheduled = Instant::now();
        let (c, url, tok, errs) = (client.clone(), format!("{base}{}", paths[i % paths.len()]), token.to_owned(), errors.clone());
        i += 1;
        tasks.push(tokio::spawn(async move {
            let r = c.get(url).bearer_auth(tok).send().await;
            let ok = match r {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            if !ok {
                errs.fetch_add(1, Ordering::Relaxed);
            }
            scheduled.elapsed().as_secs_f64() * 1e3
        }));
    }
    let mut lat = Vec::with_capacity(tasks.len());
    for t in tasks {
        lat.push(t.await.unwrap_or(f64::INFINITY));
    }
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    (q(0.5), q(0.99), *lat.last().unwrap_or(&0.0), errors.load(Ordering::Relaxed), lat.len() as u64)
}

fn main() {
    let a = args();
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let (store, backend) = match &a.pg {
            Some(url) => (store::Store::open(url, Some(&a.schema)).await.expect("postgres"), format!("PostgreSQL (schema {})", a.schema)),
            None => {
                let dir = a.data.clone().unwrap_or_else(|| tmp.path().to_owned());
                std::fs::create_dir_all(&dir).expect("data dir");
                (store::Store::open_dir(&dir).await.expect("sqlite"), format!("SQLite ({})", dir.display()))
            }
        };
        seed(&store, &a).await;
        let versions: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM case_versions").fetch_one(store.pool()).await.expect("count");
        let latest: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM case_versions WHERE latest = 1").fetch_one(store.pool()).await.expect("count");
        let t = Instant::now();
        let app = server::app(store, server::Options { dicts: Some(Arc::new(synth::demo::dictionaries().expect("dicts"))), ..Default::default() }).await.expect("app");
        eprintln!("service start: {:.1} s", t.elapsed().as_secs_f64());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await });
        let base = format!("http://{addr}");
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");
        let mut tokens = Vec::new();
        for (u, p) in [("admin", "demo-admin"), ("hospital1", "demo-hospital")] {
            let r: Value = client.post(format!("{base}/api/login")).json(&json!({"username": u, "password": p})).send().await.expect("login").json().await.expect("json");
            tokens.push(r["token"].as_str().expect("token").to_owned());
        }
        println!("{backend}: {versions} case versions, {latest} cases (latest versions), {} institutions", a.institutions + 40);
        let case_paths: Vec<String> = (0..60u64)
            .map(|k| match k % 6 {
                5 => format!("/api/cases?period_from=2025-{:02}&period_to=2025-{:02}&limit=50", 1 + k % 12, 1 + k % 12),
                0 => "/api/cases?limit=50".to_owned(),
                1 => format!("/api/cases?institution_id=P{:04}&limit=50", k * 7 % a.institutions),
                2 => format!("/api/cases?institution_id=P{:04}&period_from=2025-03&period_to=2025-03&limit=50", k * 11 % a.institutions),
                3 => format!("/api/cases?limit=50&offset={}", (k % 10) * 50),
                _ => format!("/api/institutions/P{:04}/cases?limit=50", k * 13 % a.institutions),
            })
            .collect();
        let dash_paths: Vec<String> = (0..20u64)
            .map(|k| if k % 2 == 0 { "/api/dashboard?year=2025".to_owned() } else { format!("/api/dashboard?year=2025&institution_id=P{:04}", k * 17 % a.institutions) })
            .collect();
        // Warm-up.
        fixed_rate(&client, &base, &tokens[0], &case_paths, 50, 2).await;
        fixed_rate(&client, &base, &tokens[0], &dash_paths, 10, 2).await;
        for (what, paths, rate) in [("case list (agency)", &case_paths, a.case_rate), ("dashboard (agency)", &dash_paths, a.dashboard_rate)] {
            let (p50, p99, max, errors, sent) = fixed_rate(&client, &base, &tokens[0], paths, rate, a.seconds).await;
            println!("{what}: {rate} req/s for {} s: {sent} requests, p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms, {errors} errors", a.seconds);
        }
        let own = vec!["/api/cases?limit=50".to_owned(), "/api/dashboard?year=2025".to_owned()];
        let (p50, p99, max, errors, sent) = fixed_rate(&client, &base, &tokens[1], &own, a.case_rate, a.seconds).await;
        println!("hospital user, own cases and dashboard alternately: {} req/s: {sent} requests, p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms, {errors} errors", a.case_rate);
    });
}

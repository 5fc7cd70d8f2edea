//! Load test on loopback: single-case upload-and-group (`POST /api/cases`).
//!
//! Starts the service in this process (its own runtime, on 127.0.0.1:0) over a
//! fresh SQLite store in a temporary directory (or PostgreSQL with
//! `--pg URL`), bootstraps the demo region, then runs `--concurrency` clients
//! for `--seconds` or `--max` requests, whichever comes first, and prints
//! throughput and latency percentiles. Bounded: it always stops by itself.
//!
//! ```text
//! cargo run --release -p drgdip-server --example load -- --seconds 20 --concurrency 16
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Args {
    seconds: u64,
    concurrency: usize,
    max: usize,
    pg: Option<String>,
    server_threads: usize,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 20,
        concurrency: 16,
        max: 200_000,
        pg: None,
        server_threads: 2,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--seconds" => a.seconds = next.parse().unwrap_or(a.seconds).min(600),
            "--concurrency" => a.concurrency = next.parse().unwrap_or(a.concurrency).clamp(1, 1024),
            "--max" => a.max = next.parse().unwrap_or(a.max),
            "--pg" => a.pg = Some(next),
            "--server-threads" => a.server_threads = next.parse().unwrap_or(2).max(1),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.server_threads)
        .enable_all()
        .build()
        .expect("runtime");
    let (addr, sample, backend) = server_rt.block_on(async {
        let (store, backend) = match &a.pg {
            Some(url) => {
                let schema = format!("load_{}", std::process::id());
                (
                    store::Store::open(url, Some(&schema))
                        .await
                        .expect("postgres"),
                    format!("PostgreSQL (schema {schema})"),
                )
            }
            None => (
                store::Store::open_dir(dir.path()).await.expect("sqlite"),
                "SQLite (WAL, synchronous=FULL)".to_owned(),
            ),
        };
        let t = Instant::now();
        let demo = server::demo::bootstrap(&store, 40, 40_000, Some(Arc::new(synth::demo::dictionaries().expect("dicts"))), None)
            .await
            .expect("demo");
        eprintln!("demo bootstrap: {:.1} s", t.elapsed().as_secs_f64());
        let dicts = Some(Arc::new(synth::demo::dictionaries().expect("dicts")));
        let app = server::app(
            store,
            server::Options {
                dicts,
                ..Default::default()
            },
        )
        .await
        .expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await });
        (addr, demo.sample_csv, backend)
    });
    // Settlement lists as JSON objects, from the demo sample (institution H0001).
    let mut lines = sample.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_owned)
        .collect();
    let cases: Vec<Value> = lines
        .map(|l| {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(l.as_bytes());
            let rec = r.records().next().expect("row").expect("csv");
            let mut m = serde_json::Map::new();
            for (k, v) in header.iter().zip(rec.iter()) {
                if !v.is_empty() {
                    m.insert(k.clone(), Value::String(v.to_owned()));
                }
            }
            Value::Object(m)
        })
        .collect();
    assert!(!cases.is_empty());

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    client_rt.block_on(async move {
        let base = format!("http://{addr}");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(a.concurrency)
            .build()
            .expect("client");
        let login: Value = client
            .post(format!("{base}/api/login"))
            .json(&json!({"username": "hospital1", "password": "demo-hospital"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let token = login["token"].as_str().expect("token").to_owned();
        let cases = Arc::new(cases);
        let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // Warm-up: engines compiled, connections open.
        for c in cases.iter().take(5) {
            let r = client
                .post(format!("{base}/api/cases"))
                .bearer_auth(&token)
                .json(c)
                .send()
                .await
                .expect("warm-up");
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        }
        let start = Instant::now();
        let deadline = start + Duration::from_secs(a.seconds);
        let mut tasks = Vec::new();
        for w in 0..a.concurrency {
            let (client, base, token, cases, sent) = (
                client.clone(),
                base.clone(),
                token.clone(),
                cases.clone(),
                sent.clone(),
            );
            let max = a.max;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut n = 0usize;
                while Instant::now() < deadline
                    && sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < max
                {
                    let mut c = cases[(w + n) % cases.len()].clone();
                    c["case_id"] = Value::String(format!("L{w}_{n}"));
                    n += 1;
                    let body = serde_json::to_vec(&c).expect("json");
                    let t = Instant::now();
                    let r = client
                        .post(format!("{base}/api/cases"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    let ok = match r {
                        Ok(resp) => resp.status().as_u16() == 201 && resp.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            }));
        }
        let mut lat = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.expect("task");
            lat.extend(l);
            errors += e;
        }
        let secs = start.elapsed().as_secs_f64();
        lat.sort();
        let pct = |p: f64| {
            lat.get(
                ((lat.len() as f64 * p).ceil() as usize)
                    .saturating_sub(1)
                    .min(lat.len().saturating_sub(1)),
            )
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_default();
        println!("backend        {backend}");
        println!(
            "machine        {} cores ({cpu})",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        );
        println!(
            "clients        {} concurrent, {} server worker threads",
            a.concurrency, a.server_threads
        );
        println!(
            "requests       {} ok, {errors} errors in {secs:.2} s",
            lat.len()
        );
        println!("throughput     {:.0} requests/s", lat.len() as f64 / secs);
        println!(
            "latency ms     p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            pct(0.50),
            pct(0.90),
            pct(0.99),
            pct(1.0)
        );
    });
    if let Some(url) = &a.pg {
        // The schema of this run is dropped: nothing is left in the shared database.
        server_rt.block_on(async {
            if let Ok(pool) = sqlx::AnyPool::connect(url).await {
                let _ = sqlx::query(&format!("DROP SCHEMA load_{} CASCADE", std::process::id()))
                    .execute(&pool)
                    .await;
            }
        });
    }
    drop(server_rt);
}

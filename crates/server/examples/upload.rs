//! A large batch upload, streamed: throughput and the service's peak memory.
//!
//! Bootstraps the demo region into a fresh store (SQLite in a temporary
//! directory, or PostgreSQL with `--pg URL --schema NAME`), writes a CSV file of
//! `--mb` MiB of the region's settlement lists (2025 cases, repeated under new
//! case ids), starts the service as a child process (this program with
//! `--serve`), signs in as the demo administrator and sends the file in one
//! `POST /api/uploads` over loopback while polling the upload's progress and the
//! child's resident memory (`/proc/PID/status`). Prints rows/s and the peak RSS
//! (`VmHWM`) of the service. Bounded: it stops by itself.
//!
//! ```text
//! cargo run --release -p drgdip-server --example upload -- --mb 256
//! cargo run --release -p drgdip-server --example upload -- --mb 256 --pg postgres://postgres@127.0.0.1:5432/test --schema upload256
//! ```

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Args {
    mb: u64,
    pg: Option<String>,
    schema: String,
    serve: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args { mb: 256, pg: None, schema: "upload_bench".into(), serve: None };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--mb" => a.mb = next.parse().expect("--mb N"),
            "--pg" => a.pg = Some(next),
            "--schema" => a.schema = next,
            "--serve" => a.serve = Some(next.into()),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

async fn open(a: &Args, dir: &Path) -> store::Store {
    match &a.pg {
        Some(url) => store::Store::open(url, Some(&a.schema)).await.expect("postgres"),
        None => store::Store::open_dir(dir).await.expect("sqlite"),
    }
}

/// The child: serve the store of `dir` on 127.0.0.1, the port written to `dir/port`.
fn serve(a: &Args, dir: &Path) {
    server::bound_allocator_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let store = open(a, dir).await;
        let dicts = Some(Arc::new(synth::demo::dictionaries().expect("dicts")));
        let app = server::app(store, server::Options { dicts, ..Default::default() }).await.expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::fs::write(dir.join("port.tmp"), port.to_string()).expect("port");
        std::fs::rename(dir.join("port.tmp"), dir.join("port")).expect("port");
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.expect("serve");
    });
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A CSV file of at least `mb` MiB: the header and the region's 2025 rows, repeated
/// with case ids made unique. Returns (path, rows).
fn write_file(dir: &Path, mb: u64) -> (PathBuf, u64) {
    let (_, years) = server::demo::synthetic(40, 40_000, 1).expect("synthetic");
    let text = &years[1];
    let mut lines = text.lines();
    let header = lines.next().expect("header").to_owned();
    let case_col = header.split(',').position(|h| h == "case_id").expect("case_id column");
    let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(str::to_owned).collect()).collect();
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "the synthetic rows have no quoted commas");
    let path = dir.join("big.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
    writeln!(w, "{header}").expect("write");
    let (mut bytes, mut n) = (header.len() as u64 + 1, 0u64);
    let want = mb << 20;
    'outer: for rep in 0.. {
        for r in &rows {
            let mut r = r.clone();
            r[case_col] = format!("{}R{rep}", r[case_col]);
            let line = r.join(",");
            bytes += line.len() as u64 + 1;
            if bytes > want {
                break 'outer;
            }
            writeln!(w, "{line}").expect("write");
            n += 1;
        }
    }
    w.flush().expect("flush");
    (path, n)
}

fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).expect("send");
    s.write_all(body).expect("send");
    response(s)
}

fn response(s: std::net::TcpStream) -> (u16, Value) {
    let mut r = std::io::BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let mut len = None;
    loop {
        line.clear();
        r.read_line(&mut line).expect("header");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body).expect("body");
        }
        None => {
            r.read_to_end(&mut body).expect("body");
        }
    }
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn main() {
    let a = args();
    if let Some(dir) = &a.serve {
        serve(&a, dir);
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let t = Instant::now();
    rt.block_on(async {
        let s = open(&a, &dir).await;
        server::demo::bootstrap(&s, 40, 40_000, Some(Arc::new(synth::demo::dictionaries().expect("dicts"))), None).await.expect("demo");
        s.close().await;
    });
    eprintln!("demo bootstrap: {:.1} s", t.elapsed().as_secs_f64());
    let (file, rows) = write_file(&dir, a.mb);
    let size = std::fs::metadata(&file).expect("size").len();
    eprintln!("file: {} bytes, {rows} rows", size);

    let mut cmd = std::process::Command::new(std::env::current_exe().expect("exe"));
    cmd.arg("--serve").arg(&dir);
    if let Some(pg) = &a.pg {
        cmd.args(["--pg", pg, "--schema", &a.schema]);
    }
    let mut child = cmd.spawn().expect("spawn the service");
    let pid = child.id();
    let t = Instant::now();
    while !dir.join("port").exists() {
        assert!(t.elapsed() < Duration::from_secs(120), "the service did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let port: u16 = std::fs::read_to_string(dir.join("port")).expect("port").trim().parse().expect("port");
    let (st, login) = http(port, "POST", "/api/login", None, json!({"username": "admin", "password": "demo-admin"}).to_string().as_bytes());
    assert_eq!(st, 200, "login: {login}");
    let token = login["token"].as_str().expect("token").to_owned();
    let base_rss = status_kb(pid, "VmRSS:");
    eprintln!("service RSS before the upload: {} MiB (peak so far {} MiB)", base_rss >> 10, status_kb(pid, "VmHWM:") >> 10);

    // The peak from here on is the upload's: clear the high-water mark (Linux: "5" > clear_refs).
    let cleared = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    // Progress and memory, sampled while the upload runs.
    let done = Arc::new(AtomicBool::new(false));
    let (d2, tok2) = (done.clone(), token.clone());
    let sampler = std::thread::spawn(move || {
        let (mut max_rss, mut max_anon, mut max_file, mut last) = (0u64, 0u64, 0u64, Instant::now());
        while !d2.load(Ordering::SeqCst) {
            max_rss = max_rss.max(status_kb(pid, "VmRSS:"));
            max_anon = max_anon.max(status_kb(pid, "RssAnon:"));
            max_file = max_file.max(status_kb(pid, "RssFile:"));
            if last.elapsed() >= Duration::from_secs(5) {
                last = Instant::now();
                let (_, p) = http(port, "GET", "/api/uploads/progress/bench", Some(&tok2), b"");
                eprintln!(
                    "  progress: {} {} / {} bytes, {} read, {} written; RSS {} MiB (anonymous {} MiB, file {} MiB)",
                    p["stage"],
                    p["bytes_received"],
                    p["bytes_expected"],
                    p["records_read"],
                    p["records_written"],
                    status_kb(pid, "VmRSS:") >> 10,
                    status_kb(pid, "RssAnon:") >> 10,
                    status_kb(pid, "RssFile:") >> 10
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (max_rss, max_anon, max_file)
    });
    let t = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST /api/uploads?name=big.csv&progress=bench HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut f = std::fs::File::open(&file).expect("open");
    std::io::copy(&mut f, &mut s).expect("send the file");
    let (st, v) = response(s);
    let secs = t.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let (sampled, anon, filed) = sampler.join().expect("sampler");
    let peak = status_kb(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(st, 201, "upload: {}", v.to_string().chars().take(2000).collect::<String>());
    let accepted = v["accepted"].as_u64().unwrap_or(0);
    println!(
        "{} ({}): {size} bytes, {rows} rows: {accepted} accepted, {} refused, {} withheld in {secs:.1} s = {:.0} rows/s, {:.1} MiB/s",
        if a.pg.is_some() { "PostgreSQL" } else { "SQLite" },
        v["line_count"],
        v["rejected_total"],
        v["withheld"],
        rows as f64 / secs,
        size as f64 / secs / 1048576.0
    );
    println!(
        "service memory: RSS {} MiB before, sampled max {} MiB during (anonymous {} MiB, file-backed {} MiB), peak (VmHWM, {}) {} MiB",
        base_rss >> 10,
        sampled >> 10,
        anon >> 10,
        filed >> 10,
        if cleared { "since the upload began" } else { "the whole life of the process" },
        peak >> 10
    );
    assert_eq!(accepted + v["rejected_total"].as_u64().unwrap_or(0), rows, "every row accounted for");
}

//! A streamed batch upload's memory does not follow the file: a service (a child
//! process: this test binary again, in the ignored `child_server` test) takes an
//! 8 MiB CSV file, a fresh one a 32 MiB file; the peak resident set of each
//! upload (`VmHWM` after clearing it) is read from `/proc`, and the difference per
//! extra record is bounded. Held whole, a record cost ~12 KiB at the peak (a 30
//! MB file once peaked at 1.18 GB); streamed, what grows is the cross-record QC
//! state and the line → version map (~130 bytes a record). Linux only (skipped
//! elsewhere).

mod common;

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const DATA_ENV: &str = "DRGDIP_UPLOAD_MEMORY_DATA";

/// The service of the child process.
#[test]
#[ignore = "child process of streamed_upload_memory_does_not_follow_the_file"]
fn child_server() {
    let Ok(dir) = std::env::var(DATA_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    server::bound_allocator_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let store = store::Store::open_dir(&dir).await.expect("store");
        let app = server::app(store, server::Options::default()).await.expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::fs::write(dir.join("port.tmp"), addr.port().to_string()).expect("port");
        std::fs::rename(dir.join("port.tmp"), dir.join("port")).expect("port");
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.expect("serve");
    });
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn post(port: u16, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(900))).expect("timeout");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).expect("head");
    s.write_all(body).expect("body");
    let mut r = std::io::BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).expect("status");
    let status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let mut len = 0;
    loop {
        line.clear();
        r.read_line(&mut line).expect("header");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut b = vec![0; len];
    r.read_exact(&mut b).expect("body");
    (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_upload_memory_does_not_follow_the_file() {
    if !std::path::Path::new("/proc/self/clear_refs").exists() {
        println!("skipped: no /proc/PID/clear_refs (not Linux)");
        return;
    }
    // Each size in a service of its own (a fresh process, no memory kept from an
    // upload before) over a store of its own, seeded alike: the history a service
    // derives its rates from is the same for both.
    let mut peaks = Vec::new();
    for (tag, mib) in [("M8_", 8usize), ("M32_", 32)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (header, rows) = {
            let s = store::Store::open_dir(dir.path()).await.expect("store");
            let seeded = common::seed(&s).await;
            s.close().await;
            seeded
        };
        let case_col = header.split(',').position(|h| h == "case_id").expect("case_id column");
        let a_rows = &rows[common::A];
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["child_server", "--exact", "--ignored", "--nocapture"])
            .env(DATA_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn child");
        let pid = child.id();
        let t0 = Instant::now();
        while !dir.path().join("port").exists() {
            assert!(t0.elapsed() < Duration::from_secs(120), "child did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let port: u16 = std::fs::read_to_string(dir.path().join("port")).expect("port").trim().parse().expect("port");
        let (st, login) = post(port, "/api/login", None, json!({"username": "hosp_a", "password": "password-1"}).to_string().as_bytes());
        assert_eq!(st, 200, "{login}");
        let token = login["token"].as_str().expect("token").to_owned();
        let mut csv = header.clone() + "\n";
        let mut n = 0usize;
        while csv.len() < mib << 20 {
            let mut cells: Vec<&str> = a_rows[n % a_rows.len()].split(',').collect();
            let id = format!("{tag}{n}");
            cells[case_col] = &id;
            csv += &cells.join(",");
            csv.push('\n');
            n += 1;
        }
        assert!(std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok(), "clear the high-water mark");
        let before = status_kb(pid, "VmRSS:");
        let t = Instant::now();
        let (st, v) = tokio::task::spawn_blocking(move || post(port, "/api/uploads?name=m.csv", Some(&token), csv.as_bytes())).await.expect("join");
        let peak = status_kb(pid, "VmHWM:");
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(st, 201, "{}", v.to_string().chars().take(500).collect::<String>());
        assert_eq!(v["accepted"].as_u64(), Some(n as u64));
        println!("{mib} MiB, {n} rows in {:.1} s: RSS {} MiB before, peak {} MiB", t.elapsed().as_secs_f64(), before >> 10, peak >> 10);
        peaks.push((n, peak));
    }
    let ((n8, p8), (n32, p32)) = (peaks[0], peaks[1]);
    // Held whole, a record costs ~12 KiB at the peak (a 30 MB, 100,000-row file once
    // peaked at 1.18 GB); streamed, what grows is the cross-record QC state and the
    // line → version map (~130 bytes a record, a little more in a debug build).
    let per_record = (p32.saturating_sub(p8) << 10) / (n32 - n8) as u64;
    println!("{} more records: +{} MiB at the peak, {per_record} bytes a record", n32 - n8, p32.saturating_sub(p8) >> 10);
    assert!(per_record <= 1024, "{per_record} bytes more at the peak per record: memory follows the file");
    // The absolute peak includes SQLite's page cache and its memory map of the store;
    // the bound of issue 16 (300 MB for a 256 MB file) is not met yet
    // (docs/PERFORMANCE.md): this catches a gross regression only.
    assert!(p32 >> 10 <= 400, "a 32 MiB upload took the service to {} MiB", p32 >> 10);
}

//! Streamed batch uploads (`POST /api/uploads`): a body of any length is read as
//! it arrives (also without a Content-Length, chunked), written in chunks of one
//! transaction, and stored whole or not at all; a finding only the whole file
//! reveals (a stay after a death recorded further down) reaches a case written
//! chunks earlier, and the maintained totals follow it; the uploader sees the
//! progress; a body that breaks off stores nothing; limits answer as JSON.

mod common;

use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Send `head` then `body` on a fresh connection (optionally only the first
/// `send` bytes of it, then close), and read the answer (None when the server closed first).
fn raw(base: &str, head: &str, body: &[u8], send: usize) -> Option<(u16, Value)> {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).expect("timeout");
    s.write_all(head.as_bytes()).expect("head");
    s.write_all(&body[..send.min(body.len())]).ok()?;
    if send < body.len() {
        let _ = s.shutdown(std::net::Shutdown::Both);
        return None;
    }
    let mut r = std::io::BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut len = None;
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let l = line.to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    let mut out = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).ok()?;
            let n = usize::from_str_radix(line.trim(), 16).ok()?;
            let mut b = vec![0; n + 2];
            r.read_exact(&mut b).ok()?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&b[..n]);
        }
    } else if let Some(n) = len {
        out.resize(n, 0);
        r.read_exact(&mut out).ok()?;
    } else {
        r.read_to_end(&mut out).ok()?;
    }
    Some((status, serde_json::from_slice(&out).unwrap_or(Value::Null)))
}

/// The body in chunked transfer encoding (pieces of 7,000 bytes).
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(7000) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// `n` settlement lists of A (its rows repeated under new case ids `{tag}{k}`),
/// the first of them admitted after a death recorded on line `death_line` (a stay
/// after death, L024, withholding), with the same patient.
fn file(f: &Fixture, tag: &str, n: usize, death_line: usize) -> (String, Vec<String>) {
    let header: Vec<&str> = f.header.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("column {name}"));
    let (case, patient, adm, dis, way) = (col("case_id"), col("patient_id"), col("admitted_at"), col("discharged_at"), col("discharge_way"));
    let rows = &f.rows[A];
    let mut csv = f.header.clone() + "\n";
    let mut ids = Vec::new();
    for k in 0..n {
        let mut cells: Vec<String> = rows[k % rows.len()].split(',').map(str::to_owned).collect();
        cells[case] = format!("{tag}{k}");
        let line = k + 2;
        if line == 2 {
            cells[patient] = format!("{tag}P");
            cells[adm] = "2025-03-01 08:00:00".into();
            cells[dis] = "2025-03-06 08:00:00".into();
        } else if line == death_line {
            cells[patient] = format!("{tag}P");
            cells[adm] = "2025-01-02 08:00:00".into();
            cells[dis] = "2025-01-05 08:00:00".into();
            cells[way] = "5".into();
        }
        ids.push(cells[case].clone());
        csv += &cells.join(",");
        csv.push('\n');
    }
    (csv, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_batch_is_stored_whole_with_its_late_findings() {
    for db in databases().await {
        let f = start(db.store.clone()).await;
        let token = f.tokens["hosp_a"].clone();
        // 2,600 records: three chunks; the death is recorded in the third.
        let (csv, ids) = file(&f, "S", 2600, 2400);
        let body = chunked(csv.as_bytes());
        let head = format!(
            "POST /api/uploads?name=s.csv&progress=s1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let base = f.base.clone();
        let (st, v) = tokio::task::spawn_blocking(move || raw(&base, &head, &body, usize::MAX)).await.expect("join").expect("answer");
        assert_eq!(st, 201, "{}: {v}", db.name);
        assert_eq!(v["accepted"], 2600, "{}: {v}", db.name);
        assert_eq!(v["rejected_total"], 0);
        assert_eq!(v["line_count"]["lines"], 2601);
        // The first 2,000 cases are listed, all are counted.
        assert_eq!(v["cases"].as_array().map(Vec::len), Some(2000));
        assert_eq!(v["cases_listed"], 2000);
        // The listed first case carries the late finding.
        let first = &v["cases"][0];
        assert_eq!(first["case_id"], ids[0].as_str());
        assert_eq!(first["payable"], false, "{}: {first}", db.name);
        assert!(first["withheld"].as_array().expect("withheld").iter().any(|w| w["rule_id"] == "L024"), "{first}");
        assert!(v["withheld"].as_i64().expect("withheld count") >= 1);
        // And so does the stored version, written two chunks before the death was read.
        let r: Value = f.req("GET", &format!("/api/institutions/{A}/cases/{}", ids[0]), Some("hosp_a")).send().await.expect("case").json().await.expect("json");
        let latest = r["versions"].as_array().and_then(|v| v.last()).cloned().unwrap_or(r.clone());
        let text = latest.to_string();
        assert!(text.contains("L024"), "{}: stored version lacks L024: {}", db.name, &text[..text.len().min(800)]);
        assert_eq!(latest["result"]["payable"], false, "{}: {}", db.name, &text[..text.len().min(800)]);
        // Maintained totals equal the recomputed ones after the amendment.
        let kept: std::collections::BTreeMap<(String, String), store::stats::Totals> =
            db.store.case_stats("0000-00", "9999-99", None).await.expect("stats").into_iter().map(|(i, p, t)| ((i, p), t)).collect();
        let computed = db.store.computed_case_stats().await.expect("computed");
        for (k, t) in &computed {
            assert_eq!(kept.get(k), Some(t), "{}: totals of {k:?}", db.name);
        }
        // Progress: the uploader sees it done; another user does not see it.
        let p: Value = f.req("GET", "/api/uploads/progress/s1", Some("hosp_a")).send().await.expect("progress").json().await.expect("json");
        assert_eq!(p["stage"], "done", "{p}");
        assert_eq!(p["upload_id"], v["upload_id"]);
        assert_eq!(p["records_read"], 2600);
        assert_eq!(p["records_written"], 2600);
        let other = f.req("GET", "/api/uploads/progress/s1", Some("hosp_b")).send().await.expect("progress");
        assert_eq!(other.status(), 404);
        let bad = f.req("GET", "/api/uploads/progress/a%00b", Some("hosp_a")).send().await.expect("progress");
        assert_eq!(bad.status(), 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_breaks_off_stores_nothing() {
    for db in databases().await {
        let f = start(db.store.clone()).await;
        let token = f.tokens["hosp_a"].clone();
        let before = db.store.upload_count().await.expect("count");
        let (csv, ids) = file(&f, "X", 3000, 0);
        let head = format!(
            "POST /api/uploads?name=x.csv&progress=x1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            csv.len()
        );
        // Two thirds of the body (past the first chunks), then the connection closes.
        let base = f.base.clone();
        let cut = csv.len() * 2 / 3;
        let body = csv.clone().into_bytes();
        let got = tokio::task::spawn_blocking(move || raw(&base, &head, &body, cut)).await.expect("join");
        assert!(got.is_none());
        let t = Instant::now();
        let p = loop {
            let p: Value = f.req("GET", "/api/uploads/progress/x1", Some("hosp_a")).send().await.expect("progress").json().await.expect("json");
            if p["stage"] == "failed" || t.elapsed() > Duration::from_secs(60) {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(p["stage"], "failed", "{}: {p}", db.name);
        assert!(p["records_read"].as_u64().unwrap_or(0) >= 1000, "the reader had got well into the file: {p}");
        assert_eq!(db.store.upload_count().await.expect("count"), before, "{}: no upload row", db.name);
        for id in [&ids[0], &ids[1500]] {
            let r = f.req("GET", &format!("/api/institutions/{A}/cases/{id}"), Some("hosp_a")).send().await.expect("case");
            assert_eq!(r.status(), 404, "{}: case {id} of the broken batch is stored", db.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_limits_answer_as_json() {
    let db = databases().await.remove(0);
    let f = start(db.store.clone()).await;
    let token = f.tokens["hosp_a"].clone();
    for (name, len, field) in [("big.csv", (256u64 << 20) + 1, "csv"), ("big.xlsx", 40u64 << 20, "xlsx")] {
        let head = format!(
            "POST /api/uploads?name={name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        );
        let base = f.base.clone();
        let (st, v) = tokio::task::spawn_blocking(move || raw(&base, &head, b"", 0)).await.expect("join").expect("answer");
        assert_eq!(st, 413, "{field}: {v}");
        assert_eq!(v["error"]["code"], "payload_too_large", "{field}: {v}");
        assert!(v["error"]["message_zh"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    // A body longer than the limit without announcing it (chunked) is cut off at the limit.
    let head = format!(
        "POST /api/uploads?name=big.xlsx HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let body = chunked(&vec![b'x'; (32 << 20) + 10]);
    let base = f.base.clone();
    let (st, v) = tokio::task::spawn_blocking(move || raw(&base, &head, &body, usize::MAX)).await.expect("join").expect("answer");
    assert_eq!(st, 413, "{v}");
    assert_eq!(v["error"]["code"], "payload_too_large");
}

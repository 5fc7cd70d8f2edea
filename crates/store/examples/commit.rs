//! Commit throughput of the store: `--uploads` uploads of `--cases` cases each
//! (sizes like the service's: a 1.2 KB settlement list, a 0.6 KB trace, a 0.9 KB
//! derivation, two findings), into a fresh SQLite store (or `--pg URL --schema S`),
//! one transaction per upload as the service's batch commit; prints versions/s.
//!
//! ```text
//! cargo run --release -p drgdip-store --example commit -- --uploads 100 --cases 5000
//! ```

use std::time::Instant;

use store::{Actor, CaseResult, NewCase, NewFinding, NewUpload, Store};

fn case(i: u64, inst: &str) -> NewCase {
    let f = |k: u64| NewFinding {
        line: i as i64 + 2,
        case_id: format!("C{i:09}"),
        rule_id: format!("Q{k:03}"),
        severity: if k == 0 { "error".into() } else { "warning".into() },
        field: Some("main_diagnosis".into()),
        value: "K35.800".into(),
        message: "主要诊断编码不在医保版疾病分类代码中，请核对".into(),
    };
    NewCase {
        institution_id: inst.into(),
        case_id: format!("C{i:09}"),
        line: i as i64 + 2,
        period: format!("2025-{:02}", i % 12 + 1),
        discharge_date: Some(format!("2025-{:02}-15", i % 12 + 1)),
        claim_json: format!("{{\"case_id\":\"C{i:09}\",\"x\":\"{}\"}}", "病".repeat(400)),
        result: CaseResult {
            mdc: "MDCG".into(),
            adrg: "GB1".into(),
            drg: "GB11".into(),
            drg_name: "胃、食管、十二指肠大手术，伴严重并发症或合并症".into(),
            status: "grouped".into(),
            method: "drg".into(),
            rule: "normal".into(),
            points: format!("{}.{:04}", 100 + i % 900, i % 10_000),
            yuan_fen: (i % 1_000_000) as i64,
            point_value: "10.2345".into(),
            trace: "分".repeat(200),
            points_json: format!("{{\"x\":\"{}\"}}", "p".repeat(900)),
            payable: i % 10 != 0,
            withheld: if i % 10 == 0 { "Q001".into() } else { String::new() },
            estimate_json: format!("{{\"e\":\"{}\"}}", "e".repeat(300)),
        },
        findings: (0..(i % 3)).map(f).collect(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let (mut uploads, mut cases, mut pg, mut schema) = (100u64, 5000u64, None, "commitbench".to_owned());
    let mut i = 0;
    while i < v.len() {
        let next = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--uploads" => uploads = next.parse().expect("--uploads N"),
            "--cases" => cases = next.parse().expect("--cases N"),
            "--pg" => pg = Some(next),
            "--schema" => schema = next,
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let s = match &pg {
        Some(url) => Store::open(url, Some(&schema)).await.expect("pg"),
        None => Store::open_dir(dir.path()).await.expect("sqlite"),
    };
    let t = Instant::now();
    let mut n = 0u64;
    for u in 0..uploads {
        let inst = format!("H{:03}", u % 50);
        let up = NewUpload {
            actor: Actor::system(),
            institution_id: None,
            kind: "batch".into(),
            file_name: "b.csv".into(),
            format: "csv".into(),
            records: cases as i64,
            scheme_id: None,
            params_id: None,
            weights_id: None,
            cases: (0..cases).map(|k| case(n + k, &inst)).collect(),
            rejected: Vec::new(),
        };
        let t1 = Instant::now();
        s.commit_uploads(std::slice::from_ref(&up)).await.expect("commit");
        n += cases;
        if u % 10 == 9 || u + 1 == uploads {
            eprintln!("{n} versions, last upload {:.0} versions/s", cases as f64 / t1.elapsed().as_secs_f64());
        }
    }
    println!("{n} versions in {:.1} s: {:.0} versions/s", t.elapsed().as_secs_f64(), n as f64 / t.elapsed().as_secs_f64());
}

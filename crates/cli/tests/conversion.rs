//! Every payment method on one scale (issue 13, seed 002 §24–§25): in the demo
//! region (`drgdip demo`'s: 40 institutions, 100,000 cases over 2024–2025, seed 1),
//! fee-for-service and per-diem cases are paid within ±5 % of the payment-to-cost
//! ratio of the region as a whole (and of their insurance type's cases), and the
//! year's estimate at the expected point
//! values is within 5 % of the settled total; the budget identity holds there. `DRGDIP_SEEDS=1,2,3` sweeps other
//! regions (printing each figure); the default is the demo region alone.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn drgdip(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().iter().map(str::to_owned).collect();
    (h, r.records().map(|x| x.unwrap().iter().map(str::to_owned).collect()).collect())
}

fn col(h: &[String], n: &str) -> usize {
    h.iter().position(|c| c == n).unwrap_or_else(|| panic!("no column {n}"))
}

struct Figures {
    /// (method, insurance type or "all", payment/cost of its cases ÷ payment/cost of
    /// the region (or of the insurance type's cases) − 1, cases)
    by_method: Vec<(String, String, f64, u64)>,
    /// Σ points × expected point value ÷ Σ settled − 1.
    estimate: f64,
}

fn region(seed: u64) -> Figures {
    let dir = std::env::temp_dir().join(format!("drgdip-conversion-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = |p: &str| dir.join(p).display().to_string();
    let seed_s = seed.to_string();
    drgdip(&["synth", "--hospitals", "40", "--cases", "100000", "--years", "2024,2025", "--seed", &seed_s, "--out", &d("r")]);
    let scheme = concat!(env!("CARGO_MANIFEST_DIR"), "/../synth/data/demo-scheme");
    let (y24, y25, inst) = (d("r/claims-2024.csv"), d("r/claims-2025.csv"), d("r/institutions.csv"));
    drgdip(&["weights", "calibrate", "--cases", &y24, "--scheme", scheme, "--out", &d("w.csv")]);
    drgdip(&["points", "--cases", &y25, "--history-cases", &y24, "--scheme", scheme, "--weights", &d("w.csv"), "--institutions", &inst, "--out", &d("points.csv")]);
    let out = drgdip(&[
        "settle", "--year", "2025", "--cases", &y25, "--history-cases", &y24, "--scheme", scheme, "--weights", &d("w.csv"),
        "--institutions", &inst, "--out", &d("settle"),
    ]);
    // The budget identity holds for both insurance types (the command fails if not; the
    // summary says so too).
    for ins in ["职工", "居民"] {
        let l = out.lines().find(|l| l.trim_start().starts_with(&format!("{ins} budget identity"))).unwrap_or_else(|| panic!("no identity line for {ins}:\n{out}"));
        assert!(l.trim_end().ends_with("OK"), "{l}");
    }
    // Annual point value and expected point value of each insurance type's 住院 line.
    let (h, rows) = table(&dir.join("settle/point-values.csv"));
    let pv: HashMap<String, f64> = rows
        .iter()
        .filter(|r| r[col(&h, "period")] == "2025" && r[col(&h, "category")] == "住院")
        .map(|r| (r[col(&h, "insurance")].clone(), r[col(&h, "point_value")].parse().unwrap()))
        .collect();
    let mut expected: HashMap<String, f64> = HashMap::new();
    for l in out.lines() {
        for ins in ["职工", "居民"] {
            if l.trim_start().starts_with(&format!("{ins}/住院")) {
                let v = l.rsplit("expected ").next().unwrap().trim();
                expected.insert(ins.to_owned(), v.parse().unwrap_or_else(|_| panic!("no expected point value: {l}")));
            }
        }
    }
    let (ch, claims) = table(Path::new(&y25));
    let ins_of: HashMap<&str, &str> =
        claims.iter().map(|r| (r[col(&ch, "case_id")].as_str(), r[col(&ch, "insurance_type")].as_str())).collect();
    let (ph, pts) = table(&dir.join("points.csv"));
    let (mut by, mut pay, mut est) = (HashMap::<(String, String), (f64, f64, u64)>::new(), 0.0, 0.0);
    for r in pts.iter().filter(|r| r[col(&ph, "payable")] == "1") {
        let ins = ins_of[r[0].as_str()];
        let p: f64 = r[col(&ph, "total_points")].parse().unwrap();
        let c: f64 = r[col(&ph, "total_cost")].parse().unwrap();
        let m = r[col(&ph, "method")].clone();
        for k in [(m.clone(), "all".to_owned()), (m, ins.to_owned()), ("*".into(), "all".into()), ("*".into(), ins.to_owned())] {
            let e = by.entry(k).or_default();
            e.0 += p * pv[ins];
            e.1 += c;
            e.2 += 1;
        }
        pay += p * pv[ins];
        est += p * expected[ins];
    }
    let ratio = |k: &(String, String)| by[k].0 / by[k].1;
    let mut by_method: Vec<(String, String, f64, u64)> = by
        .keys()
        .filter(|k| k.0 != "*")
        .map(|k| (k.0.clone(), k.1.clone(), ratio(k) / ratio(&("*".into(), k.1.clone())) - 1.0, by[k].2))
        .collect();
    by_method.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let _ = std::fs::remove_dir_all(&dir);
    Figures { by_method, estimate: est / pay - 1.0 }
}

#[test]
fn fee_for_service_and_per_diem_are_paid_on_the_region_scale() {
    let seeds: Vec<u64> = std::env::var("DRGDIP_SEEDS")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![1]);
    let mut failures = Vec::new();
    for seed in seeds {
        let f = region(seed);
        for (m, ins, dev, n) in &f.by_method {
            let of = if ins == "all" { "the region's".to_owned() } else { format!("{ins}'s") };
            eprintln!("seed {seed}: {m:<16} {ins:<4} {n:>6} cases, payment/cost {:+.2} % of {of}", dev * 100.0);
            if (m == "fee_for_service" || m == "per_diem") && dev.abs() > 0.05 {
                failures.push(format!("seed {seed}: {m} {ins} {:+.2} %", dev * 100.0));
            }
        }
        eprintln!("seed {seed}: estimate at the expected point values {:+.2} % of the settled total", f.estimate * 100.0);
        if f.estimate.abs() > 0.05 {
            failures.push(format!("seed {seed}: estimate {:+.2} %", f.estimate * 100.0));
        }
        for m in ["fee_for_service", "per_diem"] {
            if !f.by_method.iter().any(|x| x.0 == m && x.1 == "all") {
                failures.push(format!("seed {seed}: no {m} case to check"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

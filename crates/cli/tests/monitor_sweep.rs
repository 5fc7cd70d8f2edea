//! Issue 15: the abuse detectors judged as a user would judge them, on many regions.
//!
//! For every seed × size × scheme, `drgdip synth` writes a region with its labels and
//! `drgdip monitor detect --labels` prints precision and recall; this harness reads that
//! printed table (nothing inside the binary is called). The same sizes and schemes are
//! run once more with `--anomaly-rate 0` (a clean region) and the flags the detector
//! wrote (`flags.csv`, `screened.csv`) are counted as false alarms.
//!
//! The default suite runs the small size. The whole sweep (3 sizes, up to 1,000,000
//! cases) runs with
//! `cargo test --release -p drgdip-cli --test monitor_sweep -- --ignored --nocapture`;
//! `DRGDIP_SWEEP_SEEDS=1-20` (a range or a comma list) chooses the seeds and
//! `DRGDIP_SWEEP_SIZES=small,medium,large` the sizes. Its last full output is in
//! docs/MONITORING.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The bar of issue 15, at each detector's own level.
const MIN_PRECISION: f64 = 0.8;
const MIN_RECALL: f64 = 0.9;
/// Clean regions: flags per 1,000 cases, and no institution-level flag.
const MAX_CLEAN_FLAGS_PER_1000: f64 = 0.2;

const DETECTORS: [(&str, &str); 5] = [
    ("split_admission", "Case"),
    ("upcoding", "Case"),
    ("low_indication_admission", "Case"),
    ("reduced_services", "Case"),
    ("patient_shirking", "Institution"),
];

#[derive(Clone, Copy)]
struct Size {
    name: &'static str,
    hospitals: u32,
    cases: u32,
}

const SIZES: [Size; 3] = [
    Size { name: "small", hospitals: 30, cases: 100_000 },
    Size { name: "medium", hospitals: 80, cases: 300_000 },
    Size { name: "large", hospitals: 200, cases: 1_000_000 },
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn drgdip(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "drgdip failed:\n{err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The schemes of the sweep: the demo scheme, and CHS-DRG 1.1 when the reference data is there.
fn schemes() -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![("demo", root().join("crates/synth/data/demo-scheme"))];
    let chs = root().join("../shared/reference/chs-drg-1.1");
    if chs.join("scheme.json").exists() {
        v.push(("chs-drg-1.1", chs));
    } else {
        println!("skipped: chs-drg-1.1 (../shared/reference/chs-drg-1.1 absent); demo scheme only");
    }
    v
}

/// (detector, level) → (TP, FP, FN, precision, recall) from the printed table.
fn scores(out: &str) -> Vec<(String, String, u64, u64, u64, f64, f64)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 7 || !(f[1] == "Case" || f[1] == "Institution") {
                return None;
            }
            Some((
                f[0].to_owned(),
                f[1].to_owned(),
                f[2].parse().ok()?,
                f[3].parse().ok()?,
                f[4].parse().ok()?,
                f[5].parse().ok()?,
                f[6].parse().ok()?,
            ))
        })
        .collect()
}

fn synth(dir: &Path, scheme: &Path, size: Size, seed: u64, rate: &str) {
    let _ = std::fs::remove_dir_all(dir);
    let (h, n, s) = (size.hospitals.to_string(), size.cases.to_string(), seed.to_string());
    drgdip(&[
        &"synth", &"--hospitals", &h, &"--cases", &n, &"--years", &"2024,2025", &"--seed", &s,
        &"--anomaly-rate", &rate, &"--scheme", &scheme, &"--out", &dir,
    ]);
}

fn detect(dir: &Path, scheme: &Path, labels: bool) -> String {
    let (c24, c25, inst, det) = (
        dir.join("claims-2024.csv"),
        dir.join("claims-2025.csv"),
        dir.join("institutions.csv"),
        dir.join("det"),
    );
    let params = root().join("crates/monitor/data/params-demo.json");
    let lab = dir.join("anomalies.csv");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"monitor", &"detect", &"--cases", &c24, &c25, &"--scheme", &scheme,
        &"--institutions", &inst, &"--params", &params, &"--out", &det,
    ];
    if labels {
        args.push(&"--labels");
        args.push(&lab);
    }
    drgdip(&args)
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |s| s.lines().count().saturating_sub(1))
}

#[derive(Default)]
struct Outcome {
    table: Vec<String>,
    failures: Vec<String>,
    /// (detector, worst precision, worst recall)
    worst: Vec<(String, f64, f64)>,
    worst_clean: f64,
    clean_institution_flags: usize,
    /// Per detector: TP, FP, FN summed over the regions.
    pooled: Vec<(u64, u64, u64)>,
    clean_case_flags: usize,
    clean_cases: u64,
}

fn seeds_from_env(default: &[u64]) -> Vec<u64> {
    let Ok(v) = std::env::var("DRGDIP_SWEEP_SEEDS") else { return default.to_vec() };
    if let Some((a, b)) = v.split_once('-') {
        let (a, b): (u64, u64) = (a.trim().parse().unwrap(), b.trim().parse().unwrap());
        return (a..=b).collect();
    }
    v.split(',').map(|s| s.trim().parse().unwrap()).collect()
}

fn sizes_from_env(default: &[&str]) -> Vec<Size> {
    let names: Vec<String> = std::env::var("DRGDIP_SWEEP_SIZES")
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_else(|_| default.iter().map(|s| (*s).to_owned()).collect());
    names
        .iter()
        .map(|n| *SIZES.iter().find(|s| s.name == n).unwrap_or_else(|| panic!("unknown size {n}")))
        .collect()
}

fn sweep(seeds: &[u64], sizes: &[Size]) -> Outcome {
    let mut o = Outcome::default();
    for (d, _) in DETECTORS {
        o.worst.push((d.to_owned(), 1.0, 1.0));
        o.pooled.push((0, 0, 0));
    }
    o.table.push(format!(
        "{:<12} {:<7} {:>4} {:>6} {:>8}  {}",
        "scheme", "size", "seed", "insts", "cases",
        DETECTORS.iter().map(|(d, _)| format!("{:>13}", short(d))).collect::<Vec<_>>().join(" ")
            + "   clean: flags/1000 screened shirking"
    ));
    let tmp = std::env::temp_dir().join(format!("drgdip-sweep-{}", std::process::id()));
    for (sname, scheme) in schemes() {
        for &size in sizes {
            for &seed in seeds {
                let t = Instant::now();
                synth(&tmp, &scheme, size, seed, "0.04");
                let out = detect(&tmp, &scheme, true);
                let s = scores(&out);
                let mut cells = Vec::new();
                for (k, (d, level)) in DETECTORS.iter().enumerate() {
                    let row = s.iter().find(|r| r.0 == *d && r.1 == *level);
                    let (p, r) = row.map_or((f64::NAN, f64::NAN), |r| (r.5, r.6));
                    let labelled = row.map_or(0, |r| r.2 + r.4);
                    if let Some(r) = row {
                        let t = &mut o.pooled[k];
                        t.0 += r.2;
                        t.1 += r.3;
                        t.2 += r.4;
                    }
                    cells.push(format!("{:>6.3}/{:<6.3}", p, r));
                    let bad = labelled == 0 || !(p >= MIN_PRECISION && r >= MIN_RECALL);
                    if bad {
                        o.failures.push(format!(
                            "{sname} {} seed {seed}: {d} precision {p:.3} recall {r:.3} ({} labelled)",
                            size.name, labelled
                        ));
                    }
                    let w = &mut o.worst[k];
                    if p.is_finite() {
                        w.1 = w.1.min(p);
                    }
                    if r.is_finite() {
                        w.2 = w.2.min(r);
                    }
                }
                // The same region without abuse.
                synth(&tmp, &scheme, size, seed, "0");
                assert_eq!(lines(&tmp.join("anomalies.csv")), 0, "a clean region has no labels");
                detect(&tmp, &scheme, false);
                let flags = std::fs::read_to_string(tmp.join("det/flags.csv")).unwrap_or_default();
                let case_flags = flags.lines().skip(1).filter(|l| !l.starts_with("patient_shirking,")).count();
                let shirk = flags.lines().skip(1).filter(|l| l.starts_with("patient_shirking,")).count();
                let screened = lines(&tmp.join("det/screened.csv"));
                let per_1000 = case_flags as f64 * 1000.0 / f64::from(size.cases);
                o.worst_clean = o.worst_clean.max(per_1000);
                o.clean_case_flags += case_flags;
                o.clean_cases += u64::from(size.cases);
                o.clean_institution_flags += screened + shirk;
                if per_1000 > MAX_CLEAN_FLAGS_PER_1000 || screened + shirk > 0 {
                    o.failures.push(format!(
                        "{sname} {} seed {seed} clean: {per_1000:.3} flags per 1000 cases, {screened} institution-years screened in, {shirk} shirking flags",
                        size.name
                    ));
                }
                let line = format!(
                    "{:<12} {:<7} {:>4} {:>6} {:>8}  {}   {:>6.3} {:>3} {:>3}   ({:.1} s)",
                    sname, size.name, seed, size.hospitals, size.cases, cells.join(" "),
                    per_1000, screened, shirk, t.elapsed().as_secs_f64()
                );
                println!("{line}");
                o.table.push(line);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    o
}

fn short(d: &str) -> &str {
    match d {
        "split_admission" => "split P/R",
        "upcoding" => "upcode P/R",
        "low_indication_admission" => "low-ind P/R",
        "reduced_services" => "reduced P/R",
        _ => "shirk P/R",
    }
}

fn pooled(tp: u64, fp: u64, fn_: u64) -> (f64, f64) {
    let p = if tp + fp > 0 { tp as f64 / (tp + fp) as f64 } else { 1.0 };
    let r = if tp + fn_ > 0 { tp as f64 / (tp + fn_) as f64 } else { 1.0 };
    (p, r)
}

fn report(o: &Outcome) {
    println!("\n{}", o.table.join("\n"));
    println!("\nworst case over the sweep (precision / recall at the detector's level):");
    for (d, p, r) in &o.worst {
        println!("  {d:<26} {p:.3} / {r:.3}");
    }
    println!(
        "  clean regions: at most {:.3} flags per 1000 cases; {} institution-level flags",
        o.worst_clean, o.clean_institution_flags
    );
    println!("pooled over the regions (precision / recall):");
    for ((d, _), (tp, fp, fn_)) in DETECTORS.iter().zip(&o.pooled) {
        let (p, r) = pooled(*tp, *fp, *fn_);
        println!("  {d:<26} {p:.3} / {r:.3}  (TP {tp}, FP {fp}, FN {fn_})");
    }
    println!("\n{} of the bar's checks failed:", o.failures.len());
    for f in &o.failures {
        println!("  {f}");
    }
}

/// The whole sweep: 20 seeds × 3 sizes × 2 schemes (run with --release --ignored).
#[test]
#[ignore = "the full sweep (up to 1,000,000 cases a region); run with --release --ignored"]
fn full_sweep_meets_the_bar() {
    let seeds = seeds_from_env(&(1..=20).collect::<Vec<_>>());
    let sizes = sizes_from_env(&["small", "medium", "large"]);
    let o = sweep(&seeds, &sizes);
    report(&o);
    assert!(o.failures.is_empty(), "{} checks failed (see above)", o.failures.len());
}

/// The default suite's part of the sweep: the small size (30 institutions, 100,000
/// cases) over five seeds and both schemes. It does not assert issue 15's bar, which
/// small regions do not meet yet (docs/MONITORING.md gives the full sweep and where the
/// detectors fall short). It asserts what holds today, so that a change that breaks a
/// detector fails here: split admissions meet the bar in every region, every pattern is
/// injected, clean regions carry no label; pooled over the regions every detector keeps
/// precision ≥ 0.8 and recall ≥ 0.3, and clean regions stay under 0.2 case flags per
/// 1,000 cases.
#[test]
fn small_regions_sweep() {
    let seeds = seeds_from_env(&[1, 2, 3, 4, 5]);
    let sizes = sizes_from_env(&["small"]);
    let o = sweep(&seeds, &sizes);
    report(&o);
    // Split admissions meet the bar everywhere, and every detector has labels to find.
    let broken: Vec<&String> = o
        .failures
        .iter()
        .filter(|f| f.contains("split_admission") || f.contains("(0 labelled)"))
        .collect();
    assert!(broken.is_empty(), "{broken:?}");
    for ((d, _), (tp, fp, fn_)) in DETECTORS.iter().zip(&o.pooled) {
        let (p, r) = pooled(*tp, *fp, *fn_);
        assert!(p >= 0.8 && r >= 0.3, "{d}: pooled precision {p:.3}, recall {r:.3}");
    }
    let per_1000 = o.clean_case_flags as f64 * 1000.0 / o.clean_cases as f64;
    assert!(per_1000 <= MAX_CLEAN_FLAGS_PER_1000, "clean regions: {per_1000:.3} case flags per 1000 cases");
}

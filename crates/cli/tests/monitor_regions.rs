//! Issue 15, scored as a user would: `drgdip synth` writes a region and its labels,
//! `drgdip monitor detect --labels` prints precision and recall, and this test reads
//! that table. Reduced services compares a case with its own hospital's cost mix, so a
//! second region (seed 3: case precision 0.687 before) meets the bar too. Seed 11 and
//! the full sweep do not yet: issue 15 stays open.

use std::path::{Path, PathBuf};
use std::process::Command;

fn drgdip(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(args).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "{err}");
    (out, err)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (detector, level) → (precision, recall) from the printed table.
fn scores(out: &str) -> Vec<(String, String, f64, f64)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 7 || !(f[1] == "Case" || f[1] == "Institution") {
                return None;
            }
            Some((f[0].to_owned(), f[1].to_owned(), f[5].parse().ok()?, f[6].parse().ok()?))
        })
        .collect()
}

fn region(dir: &Path, seed: u64, rate: &str) {
    let _ = std::fs::remove_dir_all(dir);
    let s = seed.to_string();
    drgdip(&[&"synth", &"--hospitals", &"50", &"--cases", &"200000", &"--years", &"2024", &"--years", &"2025", &"--seed", &s, &"--anomaly-rate", &rate, &"--out", &dir]);
}

#[test]
fn reduced_services_meets_the_bar_on_two_regions() {
    for seed in [3u64, 7] {
        let dir = std::env::temp_dir().join(format!("drgdip-monitor-regions-{}-{seed}", std::process::id()));
        region(&dir, seed, "0.04");
        let (out, _) = drgdip(&[
            &"monitor", &"detect",
            &"--cases", &dir.join("claims-2024.csv"), &dir.join("claims-2025.csv"),
            &"--scheme", &root().join("crates/synth/data/demo-scheme"),
            &"--institutions", &dir.join("institutions.csv"),
            &"--params", &root().join("crates/monitor/data/params-demo.json"),
            &"--labels", &dir.join("anomalies.csv"),
            &"--out", &dir.join("det"),
        ]);
        println!("seed {seed}:\n{out}");
        let s = scores(&out);
        let (_, _, p, r) = s
            .iter()
            .find(|(d, l, _, _)| d == "reduced_services" && l == "Case")
            .unwrap_or_else(|| panic!("no reduced_services row:\n{out}"));
        assert!(*p >= 0.8 && *r >= 0.9, "seed {seed}: reduced services precision {p} recall {r}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_clean_region_writes_no_labels() {
    let dir = std::env::temp_dir().join(format!("drgdip-monitor-clean-{}", std::process::id()));
    region(&dir, 5, "0");
    let labels = std::fs::read_to_string(dir.join("anomalies.csv")).unwrap();
    assert_eq!(labels.lines().count(), 1, "only the header:\n{}", &labels[..labels.len().min(500)]);
    let _ = std::fs::remove_dir_all(&dir);
}

//! `drgdip points` end to end, DRG and DIP regions, on a small synthetic region.

use std::path::Path;
use std::process::Command;

fn drgdip(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records().map(|x| x.unwrap().iter().map(str::to_owned).collect()).collect()
}

#[test]
fn drg_and_dip_regions_price_every_case() {
    let dir = std::env::temp_dir().join(format!("drgdip-points-cli-{}", std::process::id()));
    let d = |p: &str| dir.join(p).display().to_string();
    std::fs::create_dir_all(&dir).unwrap();
    drgdip(&["synth", "--hospitals", "12", "--cases", "6000", "--years", "2024,2025", "--seed", "5", "--out", &d("region")]);
    let scheme = concat!(env!("CARGO_MANIFEST_DIR"), "/../synth/data/demo-scheme");
    let y2024 = d("region/claims-2024.csv");
    let y2025 = d("region/claims-2025.csv");
    let inst = d("region/institutions.csv");
    let n2025 = rows(Path::new(&y2025)).len();

    // DRG region (built-in parameters).
    drgdip(&["weights", "calibrate", "--cases", &y2024, "--scheme", scheme, "--out", &d("w.csv")]);
    drgdip(&["points", "--cases", &y2025, "--scheme", scheme, "--weights", &d("w.csv"), "--institutions", &inst, "--history-cases", &y2024, "--out", &d("p-drg.csv")]);
    let drg = rows(&dir.join("p-drg.csv"));
    assert_eq!(drg.len(), n2025);
    assert!(drg.iter().filter(|r| r[3] == "drg").count() * 10 > n2025 * 9, "most cases are DRG-paid");

    // DIP region: a library from 2024, parameters saying method = "dip".
    drgdip(&["dip", "build", "--cases", &y2024, "--min-cases", "15", "--out", &d("lib")]);
    let params = points::DEFAULT_PARAMS.replace("method = \"drg\"", "method = \"dip\"");
    std::fs::write(dir.join("dip.toml"), params).unwrap();
    drgdip(&["points", "--params", &d("dip.toml"), "--cases", &y2025, "--library", &d("lib"), "--institutions", &inst, "--history-cases", &y2024, "--out", &d("p-dip.csv")]);
    let dip = rows(&dir.join("p-dip.csv"));
    assert_eq!(dip.len(), n2025);
    let dip_paid: Vec<&Vec<String>> = dip.iter().filter(|r| r[3] == "dip").collect();
    assert!(dip_paid.len() * 10 > n2025 * 9, "most cases are DIP-paid");
    // Normal DIP cases: points = score × coefficient.
    for r in dip_paid.iter().filter(|r| r[4] == "normal") {
        let score: rust_decimal::Decimal = r[6].parse().unwrap();
        let coef: rust_decimal::Decimal = r[11].parse().unwrap();
        let total: rust_decimal::Decimal = r[14].parse().unwrap(); // case points (before the drug add-on)
        assert_eq!((score * coef).round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero), total, "{r:?}");
    }
    // A DRG parameter file with a DIP library is refused with a clear message.
    let o = Command::new(env!("CARGO_BIN_EXE_drgdip"))
        .args(["points", "--cases", &y2025, "--library", &d("lib"), "--institutions", &inst, "--out", &d("x.csv")])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--library is for DIP regions"));
    let _ = std::fs::remove_dir_all(&dir);
}
